import pytest

from aiex_kernel.core.llm import AiexRequest, AiexResponse, CodeBlock, Message, code_blocks, cost_usd
from aiex_kernel.core.model_ids import ModelId, parse_model_id
from aiex_kernel.errors import UsageError

PROVIDERS = {"openai", "anthropic", "ollama", "lmstudio", "local"}


@pytest.mark.parametrize("text,expected", [
    ("ollama:llama3.2:3b", ModelId("ollama", "llama3.2:3b")),
    ("openai/gpt-4o", ModelId("openai", "gpt-4o")),
    ("anthropic:claude-sonnet-4-0", ModelId("anthropic", "claude-sonnet-4-0")),
    ("meta-llama/Llama-3.2-1B", ModelId(None, "meta-llama/Llama-3.2-1B")),
    ("gpt-4o", ModelId(None, "gpt-4o")),
    ("local", ModelId("local", "")),
    ("lmstudio:qwen/qwen3-8b", ModelId("lmstudio", "qwen/qwen3-8b")),
])
def test_parse_model_id(text, expected):
    assert parse_model_id(text, PROVIDERS) == expected


def test_aliases_resolve_first_and_loops_are_errors():
    aliases = {"fast": "small", "small": "ollama:llama3.2:1b"}
    assert parse_model_id("fast", PROVIDERS, aliases) == ModelId("ollama", "llama3.2:1b")
    assert str(parse_model_id("fast", PROVIDERS, aliases)) == "ollama:llama3.2:1b"
    with pytest.raises(UsageError, match="a -> b -> a"):
        parse_model_id("a", PROVIDERS, {"a": "b", "b": "a"})
    with pytest.raises(UsageError, match="no model"):
        parse_model_id("ollama:", PROVIDERS)


def test_code_blocks():
    text = "Here:\n```python\nx = 1\n```\nand\n~~~~ js title\nf()\n~~~~\n```\nplain\n```\n```py\nunclosed\n"
    assert code_blocks(text) == [CodeBlock("python", "x = 1\n"), CodeBlock("js", "f()\n"), CodeBlock("", "plain\n")]
    assert code_blocks("````md\n```python\ninner\n```\n````\n") == [CodeBlock("md", "```python\ninner\n```\n")]


def test_cost():
    assert cost_usd("openai", "gpt-4o", 1_000_000, 1_000_000) == 12.5
    assert cost_usd("openai", "gpt-4o-2024-08-06", 1000, 0) == 0.0025  # longest prefix
    assert cost_usd("openai", "gpt-4o-mini", 1000, 1000) == 0.00075  # not priced as gpt-4o
    assert cost_usd("openai", "mystery-model", 10, 10) is None
    assert cost_usd("openai", "gpt-4o", None, 10) is None
    assert cost_usd("ollama", "llama3.2", 10, 10) == 0.0
    assert cost_usd("openai", "mine", 1_000_000, 0, prices={"mine": (1.0, 2.0)}) == 1.0


def test_request_and_response():
    req = AiexRequest.ask("hi", model="gpt-4o", max_tokens=5)
    assert req.messages == (Message("user", "hi"),) and req.max_tokens == 5
    resp = AiexResponse(text="ok", model="m", provider="p")
    assert str(resp) == "ok" and resp.to_dict()["provider"] == "p"
