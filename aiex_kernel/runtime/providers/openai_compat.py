"""OpenAI and every OpenAI-compatible server (LM Studio, endpoints declared in config).

Uses the official ``openai`` SDK (imported on first use). Retries with backoff
that honour ``retry-after`` are the SDK's own (``max_retries``); its errors are
mapped into the aiex error tree with what to do about them.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Sequence

from ...core.llm import AiexRequest, AiexResponse, code_blocks, cost_usd
from ...errors import ProviderNotConfigured
from .base import SDKProvider, import_sdk
from .sdk_errors import SDKErrors

__all__ = ["OpenAIProvider", "LMStudioProvider", "OpenAICompatibleProvider"]


class OpenAIProvider(SDKProvider):
    name = "openai"
    display_name = "OpenAI"
    has_embeddings = True
    key_env: str | None = "OPENAI_API_KEY"
    base_url_env = "OPENAI_BASE_URL"
    default_base_url: str | None = None  # the SDK's own
    default_model = "gpt-4o-mini"

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, timeout: float = 60.0,
                 max_retries: int = 2) -> None:
        self._api_key = api_key
        from_env = os.environ.get(self.base_url_env) if self.base_url_env else None
        self.base_url = base_url or from_env or self.default_base_url
        self.timeout = timeout
        self.max_retries = max_retries

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _key(self) -> str:
        key = self._api_key or (os.environ.get(self.key_env) if self.key_env else None)
        if key:
            return key
        if self.key_env is None:
            return "not-needed"  # local OpenAI-compatible servers ignore the key
        raise ProviderNotConfigured(f"{self.display_name} needs an API key: set {self.key_env}.")

    def _make_client(self):
        openai = import_sdk("openai")
        return openai.AsyncOpenAI(api_key=self._key(), base_url=self.base_url, timeout=self.timeout,
                                  max_retries=self.max_retries)

    def _params(self, request: AiexRequest) -> dict:
        messages = request.chat_messages()
        params = {"model": request.model or self.default_model, "messages": messages,
                  "max_tokens": request.max_tokens}
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop"] = list(request.stop)
        if request.json_schema is not None:
            params["response_format"] = {"type": "json_schema",
                                         "json_schema": {"name": "answer", "schema": dict(request.json_schema)}}
        return params

    async def _stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        params = self._params(request)
        first = None
        parts: list[str] = []
        finish = model = None
        usage = None
        with self._errors():
            client = self.client()
            started = time.perf_counter()
            stream = await client.chat.completions.create(
                **params, stream=True, stream_options={"include_usage": True})
            async for chunk in stream:
                model = chunk.model or model
                if chunk.usage is not None:
                    usage = chunk.usage
                for choice in chunk.choices:
                    if choice.finish_reason:
                        finish = choice.finish_reason
                    delta = choice.delta.content if choice.delta else None
                    if delta:
                        if first is None:
                            first = time.perf_counter() - started
                        parts.append(delta)
                        yield delta
        yield self._response("".join(parts), model or params["model"], finish, usage, started, first)

    async def _complete_once(self, request: AiexRequest) -> AiexResponse:
        params = self._params(request)
        with self._errors():
            client = self.client()
            started = time.perf_counter()
            result = await client.chat.completions.create(**params)
        choice = result.choices[0] if result.choices else None
        text = (choice.message.content if choice and choice.message else None) or ""
        return self._response(text, result.model or params["model"], choice.finish_reason if choice else None,
                              result.usage, started, None)

    def _response(self, text: str, model: str, finish, usage, started: float, ttft) -> AiexResponse:
        tin = getattr(usage, "prompt_tokens", None)
        tout = getattr(usage, "completion_tokens", None)
        return AiexResponse(
            text=text, model=model, provider=self.name, finish_reason=finish, input_tokens=tin,
            output_tokens=tout, latency_s=time.perf_counter() - started, ttft_s=ttft,
            cost_usd=cost_usd(self.name, model, tin, tout, self.prices), code_blocks=code_blocks(text),
        )

    async def models(self) -> list[str]:
        with self._errors():
            page = await self.client().models.list()
        return sorted(m.id for m in page.data)

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        with self._errors():
            result = await self.client().embeddings.create(model=model or "text-embedding-3-small",
                                                           input=list(texts))
        return [item.embedding for item in result.data]

    def _errors(self):
        import openai

        return SDKErrors(self, openai, key_env=self.key_env, address_env=self.base_url_env)


class LMStudioProvider(OpenAIProvider):
    """LM Studio's OpenAI-compatible server (no key needed)."""

    name = "lmstudio"
    display_name = "LM Studio"
    has_embeddings = False
    key_env = None
    base_url_env = "LMSTUDIO_BASE_URL"
    default_base_url = "http://127.0.0.1:1234/v1"
    default_model = ""

    async def context_window(self, model: str) -> int | None:
        """The loaded (else the maximum) context length, from LM Studio's own REST API."""
        from urllib.parse import quote

        root = (self.base_url or self.default_base_url).rstrip("/").removesuffix("/v1")
        with self._errors():
            row = await self.client().get(f"{root}/api/v0/models/{quote(model, safe='')}", cast_to=object)
        if not isinstance(row, dict):
            return None
        value = row.get("loaded_context_length") or row.get("max_context_length")
        return value if isinstance(value, int) and value > 0 else None


class OpenAICompatibleProvider(OpenAIProvider):
    """An OpenAI-compatible endpoint declared in config.toml::

        [endpoints.together]
        base_url = "https://api.together.xyz/v1"
        key_env = "TOGETHER_API_KEY"      # omit for servers that need no key
        default_model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"
    """

    has_embeddings = True
    base_url_env = None

    def __init__(self, name: str, *, base_url: str, key_env: str | None = None, default_model: str = "",
                 timeout: float = 60.0, max_retries: int = 2) -> None:
        super().__init__(base_url=base_url, timeout=timeout, max_retries=max_retries)
        self.name = name
        self.display_name = f"endpoint {name!r}"
        self.key_env = key_env
        self.default_model = default_model
