"""The Anthropic provider through the real anthropic SDK, over HTTP to the loopback server."""

import asyncio

import pytest

from aiex_kernel.core.llm import AiexRequest, AiexResponse
from aiex_kernel.errors import ProviderError, ProviderNotConfigured, RateLimited

pytest.importorskip("anthropic", reason="the anthropic SDK is a dependency of aiex; install the project")

from aiex_kernel.runtime.providers.anthropic_api import AnthropicProvider  # noqa: E402


def provider(server, **kw):
    kw.setdefault("max_retries", 0)
    return AnthropicProvider(api_key="sk-ant-test", base_url=server.url, **kw)


def test_stream(llm_server):
    items = []

    async def go():
        async for item in provider(llm_server).stream(
                AiexRequest.ask("hi", model="claude-sonnet-4-0", system="terse", stop=("X",))):
            items.append(item)

    asyncio.run(go())
    *deltas, final = items
    assert isinstance(final, AiexResponse) and final.text == "".join(deltas) == llm_server.reply_text
    assert final.provider == "anthropic" and final.model == "claude-sonnet-4-0"
    assert final.finish_reason == "end_turn" and final.input_tokens and final.output_tokens
    assert final.cost_usd > 0
    body = llm_server.requests[-1]["body"]
    assert body["system"] == "terse" and body["stop_sequences"] == ["X"] and body["stream"] is True
    # anthropic 2.x sends the key as a bearer token
    assert llm_server.requests[-1]["headers"]["authorization"] == "Bearer sk-ant-test"


def test_errors(llm_server, monkeypatch):
    llm_server.fail_next(status=429, retry_after=0, times=3)
    with pytest.raises(RateLimited):
        provider(llm_server).complete_sync(AiexRequest.ask("q"))
    llm_server.fail_next(status=500)
    with pytest.raises(ProviderError, match="500"):
        provider(llm_server).complete_sync(AiexRequest.ask("q"))
    with pytest.raises(ProviderNotConfigured, match="ANTHROPIC_API_KEY"):
        AnthropicProvider().complete_sync(AiexRequest.ask("q"))
