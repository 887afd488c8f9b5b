"""The provider interface.

A provider answers an :class:`~aiex_kernel.core.llm.AiexRequest`:

* ``stream(request)``: an async iterator of text deltas (``str``) that ends with
  the final :class:`~aiex_kernel.core.llm.AiexResponse`;
* ``complete(request)``: the final response (by default, the stream drained);
* ``embed(texts)``: vectors, where the provider has an embeddings API.

``complete_sync`` is the wrapper for callers that are not async.
"""

from __future__ import annotations

import asyncio
import threading
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Sequence
from typing import ClassVar

from ...core.llm import AiexRequest, AiexResponse
from ...errors import BadProviderResponse, ProviderError, ProviderNotConfigured

__all__ = ["Provider", "SDKProvider", "import_sdk"]


class Provider(ABC):
    #: id used in ``provider:model``
    name: ClassVar[str]
    #: human name for messages and listings
    display_name: ClassVar[str]
    #: whether ``embed`` works
    has_embeddings: ClassVar[bool] = False

    @abstractmethod
    def stream(self, request: AiexRequest) -> AsyncIterator[str | AiexResponse]:
        """Text deltas as they arrive, then the final response."""

    async def complete(self, request: AiexRequest) -> AiexResponse:
        final = None
        async for item in self.stream(request):
            if isinstance(item, AiexResponse):
                final = item
        if final is None:
            raise BadProviderResponse(f"{self.display_name} ended its stream without a final response.")
        return final

    async def embed(self, texts: Sequence[str], model: str | None = None) -> list[list[float]]:
        raise ProviderError(f"{self.display_name} has no embeddings API in aiex; use openai or ollama.")

    def complete_sync(self, request: AiexRequest) -> AiexResponse:
        """``complete`` for synchronous callers, also from inside a running event loop (Jupyter)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.complete(request))
        box: dict = {}

        def run() -> None:
            try:
                box["value"] = asyncio.run(self.complete(request))
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                box["error"] = exc

        thread = threading.Thread(target=run, name=f"aiex-{self.name}")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["value"]


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

    def client(self):
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = self._make_client()
            self._client_loop = loop
        return self._client
