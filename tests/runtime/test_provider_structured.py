"""Structured output through the real SDKs: native schema modes, and parse-validate-retry."""

import json

import pytest

from aiex_kernel.core.llm import AiexRequest
from aiex_kernel.errors import BadProviderResponse, UsageError
from aiex_kernel.runtime.providers.anthropic_api import AnthropicProvider
from aiex_kernel.runtime.providers.ollama_api import OllamaProvider
from aiex_kernel.runtime.providers.openai_compat import OpenAIProvider

SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}


def openai(server):
    return OpenAIProvider(api_key="sk-test", base_url=server.url + "/v1", max_retries=0)


def test_openai_uses_its_json_schema_mode(llm_server):
    llm_server.reply_json = {"answer": 7}
    resp = openai(llm_server).complete_sync(AiexRequest.ask("n?", model="gpt-4o", json_schema=SCHEMA))
    assert resp.data == {"answer": 7}
    fmt = llm_server.last["body"]["response_format"]
    assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == SCHEMA
    assert len(llm_server.requests) == 1


def test_invalid_answer_is_sent_back_and_retried(llm_server):
    llm_server.queue_replies('{"answer": "seven"}', "not json at all")
    llm_server.reply_json = {"answer": 7}
    resp = openai(llm_server).complete_sync(AiexRequest.ask("n?", model="gpt-4o", json_schema=SCHEMA))
    assert resp.data == {"answer": 7}
    assert len(llm_server.requests) == 3
    third = llm_server.requests[2]["body"]["messages"]
    assert third[1] == {"role": "assistant", "content": '{"answer": "seven"}'}
    assert "'seven' is not of type 'integer'" in third[2]["content"]
    # usage is charged for every attempt
    assert resp.input_tokens == sum(
        sum(len(m["content"].split()) for m in r["body"]["messages"]) for r in llm_server.requests)


def test_gives_up_after_the_retries_with_the_last_problem(llm_server):
    llm_server.reply_json = {"answer": "never an int"}
    with pytest.raises(BadProviderResponse, match=r"in 3 tries: .*not of type 'integer'"):
        openai(llm_server).complete_sync(AiexRequest.ask("n?", model="gpt-4o", json_schema=SCHEMA))
    assert len(llm_server.requests) == 3


def test_a_broken_schema_is_a_usage_error_before_any_request(llm_server):
    with pytest.raises(UsageError, match="schema itself is invalid"):
        openai(llm_server).complete_sync(AiexRequest.ask("n?", json_schema={"type": 12}))
    assert llm_server.requests == []


def test_anthropic_gets_the_schema_in_its_system_prompt(llm_server):
    llm_server.reply_text = 'Here:\n```json\n{"answer": 3}\n```'
    provider = AnthropicProvider(api_key="sk-ant-test", base_url=llm_server.url, max_retries=0)
    resp = provider.complete_sync(AiexRequest.ask("n?", system="Be exact.", json_schema=SCHEMA))
    assert resp.data == {"answer": 3}
    system = llm_server.last["body"]["system"]
    assert system.startswith("Be exact.") and json.dumps(SCHEMA, indent=1) in system


def test_ollama_passes_the_schema_as_format(llm_server):
    llm_server.reply_json = {"answer": 5}
    resp = OllamaProvider(host=llm_server.url).complete_sync(
        AiexRequest.ask("n?", model="llama3.2:3b", json_schema=SCHEMA))
    assert resp.data == {"answer": 5}
    assert llm_server.last["body"]["format"] == SCHEMA
