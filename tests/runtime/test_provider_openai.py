"""The OpenAI-compatible provider through the real openai SDK, over HTTP to the loopback server."""

import asyncio

import pytest

from aiex_kernel.core.llm import AiexRequest, AiexResponse
from aiex_kernel.errors import (
    BadProviderResponse,
    ProviderError,
    ProviderNotConfigured,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from aiex_kernel.runtime.providers.openai_compat import LMStudioProvider, OpenAIProvider


def provider(server, **kw):
    kw.setdefault("max_retries", 0)
    return OpenAIProvider(api_key="sk-test-not-real", base_url=server.url + "/v1", **kw)


def test_stream_yields_deltas_then_response(llm_server):
    llm_server.reply_text = "Use this:\n```python\nprint('hi')\n```\n"
    items = []

    async def go():
        async for item in provider(llm_server).stream(AiexRequest.ask("hello", model="gpt-4o", system="be brief")):
            items.append(item)

    asyncio.run(go())
    *deltas, final = items
    assert len(deltas) > 1 and all(isinstance(d, str) for d in deltas)
    assert isinstance(final, AiexResponse)
    assert final.text == "".join(deltas) == llm_server.reply_text
    assert final.provider == "openai" and final.model == "gpt-4o"
    assert final.input_tokens and final.output_tokens
    assert final.cost_usd is not None and final.cost_usd > 0
    assert final.code_blocks[0].code == "print('hi')\n"
    assert final.ttft_s is not None and final.latency_s >= final.ttft_s
    sent = llm_server.requests[-1]
    assert sent["body"]["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent["body"]["stream_options"] == {"include_usage": True}
    assert sent["headers"]["authorization"] == "Bearer sk-test-not-real"


def test_complete_sync_and_options(llm_server):
    req = AiexRequest.ask("q", model="gpt-4o-mini", max_tokens=7, temperature=0.0, stop=("END",))
    resp = provider(llm_server).complete_sync(req)
    assert resp.text == llm_server.reply_text
    body = llm_server.requests[-1]["body"]
    assert (body["max_tokens"], body["temperature"], body["stop"]) == (7, 0.0, ["END"])


def test_complete_sync_inside_a_running_loop(llm_server):
    async def inside():
        return provider(llm_server).complete_sync(AiexRequest.ask("q"))

    assert asyncio.run(inside()).text == llm_server.reply_text


def test_retry_after_429_then_success(llm_server):
    llm_server.fail_next(status=429, retry_after=0, times=1)
    resp = provider(llm_server, max_retries=1).complete_sync(AiexRequest.ask("q"))
    assert resp.text == llm_server.reply_text
    assert len(llm_server.requests) == 2


def test_errors_say_what_to_do(llm_server, monkeypatch):
    llm_server.fail_next(status=429, retry_after=0, times=5)
    with pytest.raises(RateLimited, match="429"):
        provider(llm_server).complete_sync(AiexRequest.ask("q"))
    llm_server.fail_next(status=500)
    with pytest.raises(ProviderError, match="500"):
        provider(llm_server).complete_sync(AiexRequest.ask("q"))
    llm_server.fail_next(slow=3.0)
    with pytest.raises(ProviderTimeout, match="did not answer within 0.5 s"):
        provider(llm_server, timeout=0.5).complete_sync(AiexRequest.ask("q"))
    llm_server.fail_next(malformed=True)
    with pytest.raises((BadProviderResponse, ProviderError)):
        provider(llm_server).complete_sync(AiexRequest.ask("q"))
    with pytest.raises(ProviderNotConfigured, match="OPENAI_API_KEY"):
        OpenAIProvider().complete_sync(AiexRequest.ask("q"))


def test_unreachable_server_names_the_address(monkeypatch):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("LMSTUDIO_BASE_URL", f"http://127.0.0.1:{port}/v1")
    lms = LMStudioProvider(max_retries=0)
    with pytest.raises(ProviderUnavailable, match=f"127.0.0.1:{port}.*LMSTUDIO_BASE_URL"):
        lms.complete_sync(AiexRequest.ask("q", model="qwen"))


def test_embeddings(llm_server):
    vectors = asyncio.run(provider(llm_server).embed(["a", "b"]))
    assert len(vectors) == 2 and len(vectors[0]) > 0 and vectors[0] != vectors[1]


def test_key_never_in_repr():
    assert "sk-" not in repr(OpenAIProvider(api_key="sk-secret"))
