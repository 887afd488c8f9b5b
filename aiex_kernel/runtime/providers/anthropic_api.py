"""Anthropic's Messages API through the official ``anthropic`` SDK (imported on first use)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

from ...core.llm import AiexRequest, AiexResponse, code_blocks, cost_usd
from ...core.structured import schema_instruction
from ...errors import ProviderNotConfigured
from .base import SDKProvider, import_sdk
from .sdk_errors import SDKErrors

__all__ = ["AnthropicProvider"]


class AnthropicProvider(SDKProvider):
    name = "anthropic"
    display_name = "Anthropic"
    key_env = "ANTHROPIC_API_KEY"
    base_url_env = "ANTHROPIC_BASE_URL"
    default_model = "claude-3-5-haiku-latest"
    # Structured output: the schema goes into the system prompt; Provider.complete validates and retries.

    def __init__(self, *, api_key: str | None = None, base_url: str | None = None, timeout: float = 60.0,
                 max_retries: int = 2) -> None:
        self._api_key = api_key
        self.base_url = base_url or os.environ.get(self.base_url_env)
        self.timeout = timeout
        self.max_retries = max_retries

    def __repr__(self) -> str:  # never show the key
        return f"AnthropicProvider(base_url={self.base_url!r})"

    def _make_client(self):
        key = self._api_key or os.environ.get(self.key_env)
        if not key:
            raise ProviderNotConfigured(f"Anthropic needs an API key: set {self.key_env}.")
        anthropic = import_sdk("anthropic")
        return anthropic.AsyncAnthropic(api_key=key, base_url=self.base_url, timeout=self.timeout,
                                        max_retries=self.max_retries)

    def _params(self, request: AiexRequest) -> dict:
        params = {
            "model": request.model or self.default_model,
            "max_tokens": request.max_tokens,
            "messages": request.chat_messages(with_system=False),
        }
        system = request.system
        if request.json_schema is not None:  # no schema mode: ask in the system prompt, validated after
            system = "\n\n".join(filter(None, [system, schema_instruction(request.json_schema)]))
        if system:
            params["system"] = system
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if request.stop:
            params["stop_sequences"] = list(request.stop)
        return params

    async def models(self) -> list[str]:
        import anthropic

        with SDKErrors(self, anthropic, key_env=self.key_env, address_env=self.base_url_env):
            page = await self.client().models.list()
        return sorted(m.id for m in page.data)

    async def _stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        import anthropic

        params = self._params(request)
        started = time.perf_counter()
        first = None
        parts: list[str] = []
        with SDKErrors(self, anthropic, key_env=self.key_env, address_env=self.base_url_env):
            async with self.client().messages.stream(**params) as stream:
                async for text in stream.text_stream:
                    if first is None:
                        first = time.perf_counter() - started
                    parts.append(text)
                    yield text
                final = await stream.get_final_message()
        yield self._response("".join(parts), final, started, first)

    async def _complete_once(self, request: AiexRequest) -> AiexResponse:
        import anthropic

        started = time.perf_counter()
        with SDKErrors(self, anthropic, key_env=self.key_env, address_env=self.base_url_env):
            final = await self.client().messages.create(**self._params(request))
        text = "".join(block.text for block in final.content if getattr(block, "type", None) == "text")
        return self._response(text, final, started, None)

    def _response(self, text: str, final, started: float, ttft: float | None) -> AiexResponse:
        tin, tout = final.usage.input_tokens, final.usage.output_tokens
        return AiexResponse(
            text=text, model=final.model, provider=self.name, finish_reason=final.stop_reason,
            input_tokens=tin, output_tokens=tout, latency_s=time.perf_counter() - started, ttft_s=ttft,
            cost_usd=cost_usd(self.name, final.model, tin, tout, self.prices), code_blocks=code_blocks(text),
        )
