"""The Ollama provider through the official ollama client, over HTTP to the loopback server."""

import asyncio
import socket

import pytest

from aiex_kernel.core.llm import AiexRequest, AiexResponse
from aiex_kernel.errors import ProviderError, ProviderUnavailable

pytest.importorskip("ollama", reason="the ollama client is a dependency of aiex; install the project")

from aiex_kernel.runtime.providers.ollama_api import OllamaProvider, context_window  # noqa: E402


def test_stream_sets_num_ctx(llm_server):
    items = []
    prompt = "explain " * 6000  # ~12k tokens: over Ollama's small default window

    async def go():
        async for item in OllamaProvider(host=llm_server.url).stream(
                AiexRequest.ask(prompt, model="llama3.2:3b", max_tokens=50, temperature=0.1)):
            items.append(item)

    asyncio.run(go())
    *deltas, final = items
    assert isinstance(final, AiexResponse) and final.text == "".join(deltas) == llm_server.reply_text
    assert final.provider == "ollama" and final.model == "llama3.2:3b" and final.cost_usd == 0.0
    assert final.input_tokens and final.output_tokens and final.finish_reason
    request = llm_server.requests[-1]
    assert request["path"] == "/api/chat"
    options = request["body"]["options"]
    assert options["num_ctx"] == 16384 >= context_window(AiexRequest.ask(prompt, max_tokens=50))
    assert options["num_predict"] == 50 and options["temperature"] == 0.1


def test_models_and_embed(llm_server):
    p = OllamaProvider(host=llm_server.url)
    assert len(asyncio.run(p.models())) >= 1
    vectors = asyncio.run(p.embed(["a", "b"], model="nomic-embed-text"))
    assert len(vectors) == 2 and vectors[0] != vectors[1]


def test_errors(llm_server):
    with pytest.raises(ProviderError, match="Name an Ollama model"):
        OllamaProvider(host=llm_server.url).complete_sync(AiexRequest.ask("q"))
    llm_server.fail_next(status=500)
    with pytest.raises(ProviderError, match="500"):
        OllamaProvider(host=llm_server.url).complete_sync(AiexRequest.ask("q", model="m"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ProviderUnavailable, match=f"127.0.0.1:{port}.*ollama serve"):
        OllamaProvider(host=f"http://127.0.0.1:{port}").complete_sync(AiexRequest.ask("q", model="m"))
