"""Ollama's native chat API through the official ``ollama`` client (imported on first use).

Ollama's default context window is small and it silently drops what does not fit,
so every request sets ``num_ctx`` from the prompt's estimated size plus the answer
budget (rounded up to a power of two, at least 4096).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Sequence

from ...core.llm import AiexRequest, AiexResponse, code_blocks
from ...core.tokens import estimate_tokens
from ...errors import BadProviderResponse, ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited
from .base import SDKProvider, import_sdk

__all__ = ["OllamaProvider", "context_window"]

DEFAULT_HOST = "http://127.0.0.1:11434"
MIN_CTX = 4096
MAX_CTX = 131072


def context_window(request: AiexRequest) -> int:
    """``num_ctx`` large enough for the prompt and the answer."""
    prompt = (request.system or "") + "".join(m.content for m in request.messages)
    # 4 chars/token under-counts some text by up to a quarter: leave that margin.
    needed = estimate_tokens(prompt) * 5 // 4 + request.max_tokens + 64
    size = MIN_CTX
    while size < needed and size < MAX_CTX:
        size *= 2
    return size


class OllamaProvider(SDKProvider):
    name = "ollama"
    display_name = "Ollama"
    has_embeddings = True
    host_env = "OLLAMA_HOST"

    def __init__(self, *, host: str | None = None, timeout: float = 300.0) -> None:
        self.base_url = host or os.environ.get(self.host_env) or DEFAULT_HOST
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"OllamaProvider(host={self.base_url!r})"

    def _make_client(self):
        return import_sdk("ollama").AsyncClient(host=self.base_url, timeout=self.timeout)

    def _options(self, request: AiexRequest) -> dict:
        options = {"num_ctx": context_window(request), "num_predict": request.max_tokens}
        if request.temperature is not None:
            options["temperature"] = request.temperature
        if request.stop:
            options["stop"] = list(request.stop)
        return options

    async def _stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        if not request.model:
            raise ProviderError("Name an Ollama model, e.g. `ollama:llama3.2`; `aiex list models` shows them.")
        messages = request.chat_messages()
        started = time.perf_counter()
        first = None
        parts: list[str] = []
        last = None
        async with self._errors():
            stream = await self.client().chat(
                model=request.model, messages=messages, stream=True, options=self._options(request),
                format=dict(request.json_schema) if request.json_schema is not None else None,
            )
            async for part in stream:
                last = part
                text = part.message.content if part.message else None
                if text:
                    if first is None:
                        first = time.perf_counter() - started
                    parts.append(text)
                    yield text
        if last is None or not last.done:
            raise BadProviderResponse(f"Ollama at {self.base_url} ended its stream before it was done.")
        text = "".join(parts)
        yield AiexResponse(
            text=text, model=last.model or request.model, provider=self.name, finish_reason=last.done_reason,
            input_tokens=last.prompt_eval_count, output_tokens=last.eval_count,
            latency_s=time.perf_counter() - started, ttft_s=first, cost_usd=0.0, code_blocks=code_blocks(text),
        )

    async def models(self) -> list[str]:
        async with self._errors():
            listing = await self.client().list()
        return [m.model for m in listing.models]

    async def context_window(self, model: str) -> int | None:
        """The model's trained context length, from ``/api/show``."""
        async with self._errors():
            shown = await self.client().show(model)
        info = shown.modelinfo or {}
        lengths = [v for k, v in info.items() if k.endswith(".context_length") and isinstance(v, int)]
        return lengths[0] if lengths else None

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        if not model:
            raise ProviderError("Name an Ollama embedding model, e.g. `nomic-embed-text`.")
        async with self._errors():
            result = await self.client().embed(model=model, input=list(texts))
        return [list(v) for v in result.embeddings]

    def _errors(self):
        return _OllamaErrors(self)


class _OllamaErrors:
    def __init__(self, provider: OllamaProvider) -> None:
        self.p = provider

    async def __aenter__(self):
        return self

    async def __aexit__(self, exc_type, exc, tb):
        if exc is None or isinstance(exc, ProviderError):
            return False
        import httpx
        import ollama

        where = self.p.base_url
        if isinstance(exc, httpx.TimeoutException):
            raise ProviderTimeout(f"Ollama at {where} did not answer within {self.p.timeout:g} s.") from None
        if isinstance(exc, (ConnectionError, httpx.ConnectError)):
            raise ProviderUnavailable(
                f"Cannot reach Ollama at {where}; start it with `ollama serve` (OLLAMA_HOST sets the address)."
            ) from None
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404:
                raise ProviderError(f"Ollama at {where}: {exc.error}; `ollama pull` the model first.") from None
            if exc.status_code == 429:
                raise RateLimited(f"Ollama at {where} is rate limiting (429): {exc.error}; wait, or lower "
                                  "[concurrency] ollama in config.toml.") from None
            raise ProviderError(f"Ollama at {where} answered {exc.status_code}: {exc.error}") from None
        if isinstance(exc, (ValueError, KeyError, httpx.DecodingError)):
            raise BadProviderResponse(f"Ollama at {where} sent a reply aiex cannot read: {exc}") from None
        return False
