"""Choosing a model (named, alias, default order) and listing what each provider offers."""

import asyncio

import pytest
from llm_server import closed_url

from aiex_kernel.config import load_settings
from aiex_kernel.errors import ConfigError, ProviderError, UsageError
from aiex_kernel.runtime.providers.selection import choose_model, provider_statuses




@pytest.fixture
def no_servers(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", closed_url())
    monkeypatch.setenv("LMSTUDIO_BASE_URL", closed_url() + "/v1")


def choose(text=None, **flags):
    return asyncio.run(choose_model(text, load_settings(**flags)))


def test_named_models_split_once_and_resolve_aliases():
    c = choose("ollama:llama3.2:3b")
    assert (c.spec.name, c.model, c.reason) == ("ollama", "llama3.2:3b", "named")
    c = choose("fast", aliases={"fast": "anthropic/claude-3-5-haiku-latest"})
    assert c.id == "anthropic:claude-3-5-haiku-latest"


def test_bare_cloud_model_names_find_their_provider():
    assert choose("gpt-4o").spec.name == "openai"
    assert choose("claude-sonnet-4-0").spec.name == "anthropic"
    with pytest.raises(UsageError, match="names no provider.*ollama:mystery"):
        choose("mystery")


def test_provider_alone_takes_its_default_model():
    assert choose("openai").id == "openai:gpt-4o-mini"


def test_ollama_alone_takes_the_servers_first_chat_model(llm_server, monkeypatch):
    llm_server.models = ["nomic-embed-text", "qwen2.5-coder:7b"]
    monkeypatch.setenv("OLLAMA_HOST", llm_server.url)
    c = choose("ollama")
    assert c.id == "ollama:qwen2.5-coder:7b" and "first model" in c.reason


def test_default_order_cloud_keys_first(monkeypatch, no_servers):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    c = choose()
    assert c.spec.name == "anthropic" and c.reason == "ANTHROPIC_API_KEY is set"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert choose().id == "openai:gpt-4o-mini"


def test_default_model_setting_wins(monkeypatch, isolated_env):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    (isolated_env / "config").mkdir()
    (isolated_env / "config" / "config.toml").write_text('default_model = "ollama:llama3.2"\n')
    c = choose()
    assert c.id == "ollama:llama3.2" and "default_model" in c.reason


def test_endpoint_with_its_key_set_comes_after_cloud_keys(monkeypatch, no_servers):
    endpoints = {"together": {"base_url": "http://127.0.0.1:9/v1", "key_env": "TOGETHER_KEY",
                              "default_model": "llama-70b"}}
    monkeypatch.setenv("TOGETHER_KEY", "tk-test")
    c = choose(endpoints=endpoints)
    assert c.id == "together:llama-70b" and "TOGETHER_KEY" in c.reason


def test_running_ollama_comes_before_lmstudio_and_local(llm_server, monkeypatch):
    llm_server.models = ["llama3.2:3b"]
    monkeypatch.setenv("OLLAMA_HOST", llm_server.url)
    monkeypatch.setenv("LMSTUDIO_BASE_URL", llm_server.url + "/v1")
    c = choose()
    assert c.id == "ollama:llama3.2:3b" and llm_server.url in c.reason


def test_lmstudio_when_ollama_is_down(llm_server, monkeypatch):
    llm_server.models = ["qwen2.5-7b-instruct"]
    monkeypatch.setenv("OLLAMA_HOST", closed_url())
    monkeypatch.setenv("LMSTUDIO_BASE_URL", llm_server.url + "/v1")
    assert choose().id == "lmstudio:qwen2.5-7b-instruct"


def test_local_model_last(no_servers):
    pytest.importorskip("llama_cpp")
    c = choose()
    assert c.id == "local:smollm2-135m-instruct" and "no cloud key" in c.reason


def test_endpoint_names_may_not_shadow_providers():
    with pytest.raises(ConfigError, match="built-in providers"):
        load_settings(endpoints={"openai": {"base_url": "http://127.0.0.1:9/v1"}})


def test_ollama_alone_with_ollama_down_says_so(no_servers):
    with pytest.raises(ProviderError, match="Cannot reach Ollama"):
        choose("ollama")


def test_statuses(llm_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", llm_server.url)
    monkeypatch.setenv("LMSTUDIO_BASE_URL", closed_url() + "/v1")
    monkeypatch.setenv("TOGETHER_KEY", "tk-test")
    settings = load_settings(endpoints={"together": {"base_url": llm_server.url + "/v1", "key_env": "TOGETHER_KEY"}})
    rows = {r.provider: r for r in asyncio.run(provider_statuses(settings))}
    assert list(rows) == ["openai", "anthropic", "ollama", "lmstudio", "local", "together"]
    assert rows["openai"].status == "not configured" and "OPENAI_API_KEY" in rows["openai"].detail
    assert rows["ollama"].status == "ok" and "llama3.2:3b" in rows["ollama"].models
    assert rows["lmstudio"].status == "unreachable" and "LMSTUDIO_BASE_URL" in rows["lmstudio"].detail
    assert rows["together"].status == "ok" and "gpt-4o" in rows["together"].models
    auth = [r["headers"].get("authorization") for r in llm_server.requests if r["path"] == "/v1/models"]
    assert auth == ["Bearer tk-test"]


def test_endpoint_call_with_price_override(llm_server, monkeypatch):
    from aiex_kernel.core.llm import AiexRequest

    monkeypatch.setenv("MY_ENDPOINT_KEY", "ek-test")
    settings = load_settings(
        endpoints={"mine": {"base_url": llm_server.url + "/v1", "key_env": "MY_ENDPOINT_KEY",
                            "default_model": "house-model"}},
        prices={"house-model": [1000000.0, 2000000.0]})  # $1 per input token, $2 per output token
    c = asyncio.run(choose_model("mine", settings))
    assert c.id == "mine:house-model"
    resp = c.spec.build().complete_sync(AiexRequest.ask("one two three", model=c.model))
    assert resp.provider == "mine" and llm_server.last["headers"]["authorization"] == "Bearer ek-test"
    assert resp.cost_usd == resp.input_tokens * 1 + resp.output_tokens * 2


def test_endpoint_without_its_key_says_which_variable(monkeypatch):
    from aiex_kernel.core.llm import AiexRequest
    from aiex_kernel.errors import ProviderNotConfigured

    settings = load_settings(endpoints={"mine": {"base_url": "http://127.0.0.1:9/v1", "key_env": "MY_KEY"}})
    c = asyncio.run(choose_model("mine:m", settings))
    with pytest.raises(ProviderNotConfigured, match="endpoint 'mine' needs an API key: set MY_KEY"):
        c.spec.build().complete_sync(AiexRequest.ask("hi", model=c.model))


def test_an_unknown_provider_is_named_not_guessed(no_servers):
    settings = load_settings()
    with pytest.raises(UsageError) as info:
        asyncio.run(choose_model("nosuchprovider:model", settings))
    message = str(info.value)
    assert "Unknown provider 'nosuchprovider'" in message and "ollama:nosuchprovider" not in message
