"""The provider interface.

A provider answers an :class:`~aiex_kernel.core.llm.AiexRequest`:

* ``stream(request)``: an async iterator of text deltas (``str``) that ends with
  the final :class:`~aiex_kernel.core.llm.AiexResponse`;
* ``complete(request)``: the final response (by default, the stream drained);
* ``embed(texts)``: vectors, where the provider has an embeddings API.

``complete_sync`` is the wrapper for callers that are not async.

Structured output: a request with ``json_schema`` is answered in the provider's
JSON-schema mode where it has one (each provider's ``stream`` asks for it, or puts
the schema in the system prompt); ``complete`` then parses and validates the
answer, sends a failed one back with what was wrong (``structured_retries``
times), and sets ``AiexResponse.data`` to the validated value.
"""

from __future__ import annotations

import asyncio
import inspect
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import ClassVar

from ...core.llm import AiexRequest, AiexResponse
from ...core.structured import StructuredError, check_schema, parse_structured, retry_request
from ..aio import run_sync
from ...errors import BadProviderResponse, ProviderError, ProviderNotConfigured, UsageError

__all__ = ["Provider", "SDKProvider", "import_sdk"]


class Provider(ABC):
    #: id used in ``provider:model``
    name: ClassVar[str]
    #: human name for messages and listings
    display_name: ClassVar[str]
    #: whether ``embed`` works
    has_embeddings: ClassVar[bool] = False
    #: extra tries when a structured answer does not validate
    structured_retries: ClassVar[int] = 2
    #: per-model price overrides (``[prices]`` in config.toml)
    prices: Mapping[str, tuple[float, float]] | None = None

    #: redact secrets from every request before it is sent (``redact_secrets`` setting)
    redact: bool = True
    #: the longest answer the provider gives whatever is asked (None: as asked)
    max_answer_tokens: ClassVar[int | None] = None

    def stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        """Text deltas as they arrive, then the final response."""
        return self._stream(self.prepare(request))

    @abstractmethod
    def _stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        """The provider's streaming call, for a prepared request."""

    def prepare(self, request: AiexRequest) -> AiexRequest:
        """The request as it will be sent: secrets redacted (unless ``redact`` is off)."""
        return self.prepared(request)[0]

    def prepared(self, request: AiexRequest) -> tuple[AiexRequest, dict[str, int]]:
        """The request as it will be sent, and the secrets found in it by kind. Every request any provider
        sends passes here: the one place secrets are taken out of what leaves the machine."""
        if not self.redact or request.redacted:
            return request, {}
        from dataclasses import replace

        from ...core.redact import redact_request

        clean, found = redact_request(request)
        return replace(clean, redacted=True), found

    async def complete(self, request: AiexRequest) -> AiexResponse:
        request = self.prepare(request)
        if request.json_schema is None:
            return await self._complete_once(request)
        try:
            check_schema(request.json_schema)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        ask, spent = request, []
        for _ in range(self.structured_retries + 1):
            response = await self._complete_once(ask)
            spent.append(response)
            try:
                response.data = parse_structured(response.text, request.json_schema)
            except StructuredError as exc:
                problem = str(exc)
                ask = retry_request(ask, response.text, problem)
                continue
            return _with_usage_of(response, spent)
        raise BadProviderResponse(
            f"{self.display_name} did not answer with JSON matching the schema in {len(spent)} tries: {problem}.")

    async def _complete_once(self, request: AiexRequest) -> AiexResponse:
        """One call; providers with a cheaper non-streaming call override this."""
        return await self._drain(request)

    async def _drain(self, request: AiexRequest, on_delta: Callable[[str], object] | None = None) -> AiexResponse:
        """The stream consumed (each delta handed to ``on_delta``), its final response returned."""
        final = None
        async for item in self._stream(request):
            if isinstance(item, AiexResponse):
                final = item
            elif on_delta is not None:
                on_delta(item)
        if final is None:
            raise BadProviderResponse(f"{self.display_name} ended its stream without a final response.")
        return final

    async def models(self) -> list[str]:
        """The model ids the provider offers (asked of the server where it has a list endpoint)."""
        raise ProviderError(f"{self.display_name} cannot list its models.")

    async def context_window(self, model: str) -> int | None:
        """The model's context window in tokens, where the server says (None: it does not)."""
        return None

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        raise ProviderError(f"{self.display_name} has no embeddings API in aiex; use openai or ollama.")

    def complete_sync(self, request: AiexRequest, on_delta: Callable[[str], object] | None = None) -> AiexResponse:
        """``complete`` for synchronous callers, also from inside a running event loop (Jupyter).

        With ``on_delta``, the answer is streamed and each text delta handed to it as
        it arrives (structured requests are not streamed: they are validated whole).
        """

        async def once() -> AiexResponse:
            try:
                if on_delta is None or request.json_schema is not None:
                    return await self.complete(request)
                return await self._drain(self.prepare(request), on_delta)
            finally:
                await self.aclose()

        return run_sync(once, name=f"aiex-{self.name}")

    async def aclose(self) -> None:
        """Release what the provider holds for the running event loop (connection pools)."""


def _with_usage_of(response: AiexResponse, attempts: list[AiexResponse]) -> AiexResponse:
    """``response`` charged with the tokens, time and cost of every attempt."""
    if len(attempts) == 1:
        return response

    def total(field: str):
        values = [getattr(a, field) for a in attempts]
        return None if any(v is None for v in values) else sum(values)

    for field in ("input_tokens", "output_tokens", "latency_s", "cost_usd"):
        setattr(response, field, total(field))
    return response


def import_sdk(module: str, package: str | None = None):
    """Import a provider's client library, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ProviderNotConfigured(
            f"The {package or module} package is not installed: `pip install {package or module}`.") from None


class SDKProvider(Provider):
    """A provider over an async SDK client, kept per event loop.

    An async client's connection pool belongs to the loop it was made in, and sync
    callers (``complete_sync``) run a new loop per call.
    """

    _client = None
    _client_loop = None

    @abstractmethod
    def _make_client(self):
        """A new SDK client for the running loop."""

    async def aclose(self) -> None:
        client, loop = self._client, self._client_loop
        if client is not None and loop is asyncio.get_running_loop():
            self._client = self._client_loop = None
            closing = client.close()
            if inspect.isawaitable(closing):
                await closing

    def client(self):
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self._make_client()
            self._client_loop = loop
        return self._client
