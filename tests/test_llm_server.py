"""The loopback LLM server (tests/llm_server.py), driven by the real SDKs over real HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

import openai
import pytest


def oai(server, **kw) -> openai.OpenAI:
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.url + "/v1", api_key="test", **kw)


def ask(**kw) -> dict:
    return {"model": "gpt-4o", "messages": [{"role": "user", "content": "say hello please"}], **kw}


def post(server, path: str, body: dict, timeout: float = 5):
    request = urllib.request.Request(server.url + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
    return urllib.request.urlopen(request, timeout=timeout)


# -- OpenAI ---------------------------------------------------------------------------------------


def test_openai_json(llm_server):
    r = oai(llm_server).chat.completions.create(**ask())
    assert r.choices[0].message.content == llm_server.reply_text and "```python" in llm_server.reply_text
    assert r.choices[0].finish_reason == "stop" and r.model == "gpt-4o"
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (3, len(llm_server.reply_text.split()))
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    sent = llm_server.requests[-1]
    assert (sent["method"], sent["path"]) == ("POST", "/v1/chat/completions")
    assert sent["headers"]["authorization"] == "Bearer test" and sent["body"]["model"] == "gpt-4o"


def test_openai_max_tokens_cuts_with_length(llm_server):
    llm_server.reply_text = "one two three four five"
    r = oai(llm_server).chat.completions.create(**ask(max_tokens=2))
    assert r.choices[0].message.content == "one two" and r.choices[0].finish_reason == "length"
    assert r.usage.completion_tokens == 2


def test_openai_stream_with_usage(llm_server):
    chunks = list(oai(llm_server).chat.completions.create(**ask(stream=True, stream_options={"include_usage": True})))
    assert chunks[0].choices[0].delta.role == "assistant"
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 1 and "".join(pieces) == llm_server.reply_text
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == len(llm_server.reply_text.split())
    # without include_usage, no usage chunk
    plain = list(oai(llm_server).chat.completions.create(**ask(stream=True)))
    assert all(c.choices and c.usage is None for c in plain)


def test_openai_models_json_mode_and_embeddings(llm_server):
    client = oai(llm_server)
    assert [m.id for m in client.models.list()] == llm_server.models
    r = client.chat.completions.create(**ask(response_format={"type": "json_object"}))
    assert json.loads(r.choices[0].message.content) == llm_server.reply_json == {"answer": 42}
    # the SDK asks for base64 unless told otherwise, and decodes it
    e = client.embeddings.create(model="text-embedding-3-small", input=["a", "b", "a"])
    assert llm_server.requests[-1]["body"]["encoding_format"] == "base64"
    vectors = [d.embedding for d in e.data]
    assert len(vectors[0]) == 16 and vectors[0] == pytest.approx(vectors[2]) and vectors[0] != vectors[1]
    floats = client.embeddings.create(model="m", input="a", encoding_format="float").data[0].embedding
    assert floats == pytest.approx(vectors[0], abs=1e-6)


# -- Anthropic ------------------------------------------------------------------------------------


def claude(server):
    anthropic = pytest.importorskip("anthropic", reason="the anthropic SDK is not installed")
    return anthropic, anthropic.Anthropic(base_url=server.url, api_key="test", max_retries=0)


def test_anthropic_create_and_stream(llm_server):
    anthropic, client = claude(llm_server)
    kw = {"model": "claude-sonnet-4-0", "max_tokens": 100, "messages": [{"role": "user", "content": "hi there"}]}
    m = client.messages.create(**kw)
    assert m.content[0].text == llm_server.reply_text and m.stop_reason == "end_turn"
    assert (m.usage.input_tokens, m.usage.output_tokens) == (2, len(llm_server.reply_text.split()))
    assert llm_server.requests[-1]["headers"]["anthropic-version"]
    with client.messages.stream(**kw) as stream:
        pieces = list(stream.text_stream)
        final = stream.get_final_message()
    assert len(pieces) > 1 and "".join(pieces) == final.content[0].text == llm_server.reply_text
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == m.usage.output_tokens
    short = client.messages.create(**{**kw, "max_tokens": 1})
    assert short.stop_reason == "max_tokens" and short.usage.output_tokens == 1
    assert [x.id for x in client.models.list()] == llm_server.models


def test_anthropic_errors(llm_server):
    anthropic, client = claude(llm_server)
    kw = {"model": "claude-sonnet-4-0", "max_tokens": 100, "messages": [{"role": "user", "content": "hi"}]}
    llm_server.fail_next(status=429, retry_after=7)
    with pytest.raises(anthropic.RateLimitError) as err:
        client.messages.create(**kw)
    assert err.value.response.headers["retry-after"] == "7"
    assert err.value.body["error"]["type"] == "rate_limit_error"
    llm_server.fail_next(malformed=True)
    with pytest.raises((anthropic.APIError, ValueError)):  # anthropic 2.x lets json.JSONDecodeError through
        with client.messages.stream(**kw) as stream:
            list(stream.text_stream)


# -- Ollama ---------------------------------------------------------------------------------------


def test_ollama_chat_ndjson_and_json(llm_server):
    body = {"model": "llama3.2:3b", "messages": [{"role": "user", "content": "hi"}]}
    with post(llm_server, "/api/chat", body) as r:
        assert r.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in r.read().decode().splitlines()]
    *parts, final = lines
    assert len(parts) > 1 and not any(p["done"] for p in parts)
    assert "".join(p["message"]["content"] for p in parts) == llm_server.reply_text
    assert final["done"] and final["done_reason"] == "stop" and final["eval_count"] > 0
    with post(llm_server, "/api/chat", {**body, "stream": False, "options": {"num_predict": 1}}) as r:
        one = json.load(r)
    assert one["message"]["content"] == llm_server.reply_text.split()[0] and one["done_reason"] == "length"


def test_ollama_tags_embed_and_errors(llm_server):
    with urllib.request.urlopen(llm_server.url + "/api/tags", timeout=5) as r:
        assert [m["model"] for m in json.load(r)["models"]][0] == "gpt-4o:latest"
    with post(llm_server, "/api/embed", {"model": "nomic-embed-text", "input": ["a", "b"]}) as r:
        a, b = json.load(r)["embeddings"]
    assert len(a) == 16 and a != b
    llm_server.fail_next(status=500, message="boom")
    with pytest.raises(urllib.error.HTTPError) as err:
        post(llm_server, "/api/chat", {"model": "m", "messages": []})
    assert err.value.code == 500 and json.load(err.value) == {"error": "boom"}


def test_ollama_client(llm_server):
    ollama = pytest.importorskip("ollama", reason="the ollama client is not installed")
    client = ollama.Client(host=llm_server.url)
    parts = list(client.chat(model="llama3.2:3b", messages=[{"role": "user", "content": "hi"}], stream=True))
    assert "".join(p.message.content for p in parts) == llm_server.reply_text and parts[-1].done
    assert client.embed(model="nomic-embed-text", input="a").embeddings[0] == pytest.approx(
        client.embed(model="nomic-embed-text", input=["a"]).embeddings[0])
    assert len(client.list().models) == len(llm_server.models)


# -- failure injection and latency (through the openai SDK) ---------------------------------------


def test_429_retry_after_is_honoured(llm_server):
    llm_server.fail_next(status=429, retry_after=1)
    start = time.monotonic()
    r = oai(llm_server, max_retries=1).chat.completions.create(**ask())
    assert time.monotonic() - start >= 1.0  # the SDK waited as told (its own backoff would be <= 0.5 s)
    assert r.choices[0].message.content == llm_server.reply_text
    assert len(llm_server.requests) == 2 and llm_server.requests[1]["headers"]["x-stainless-retry-count"] == "1"


def test_errors_timeouts_and_malformed(llm_server):
    client = oai(llm_server)
    llm_server.fail_next(status=429, retry_after=0, times=3)
    with pytest.raises(openai.RateLimitError) as err:
        client.chat.completions.create(**ask())
    assert err.value.response.headers["retry-after"] == "0" and err.value.code == "rate_limit_exceeded"
    assert llm_server.pending_failures == 2
    llm_server.fail_next(status=500)  # replaces the 429s still pending
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(**ask())
    llm_server.fail_next(slow=3.0)
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        oai(llm_server, timeout=0.3).chat.completions.create(**ask())
    assert time.monotonic() - start < 2.5
    llm_server.fail_next(malformed=True)
    with pytest.raises((openai.APIError, ValueError)):
        client.chat.completions.create(**ask())
    llm_server.fail_next(malformed=True)
    with pytest.raises((openai.APIError, ValueError)):
        list(client.chat.completions.create(**ask(stream=True)))
    assert client.chat.completions.create(**ask()).choices[0].message.content == llm_server.reply_text


def test_latency(llm_server):
    llm_server.latency = 0.2
    start = time.monotonic()
    oai(llm_server).models.list()
    assert time.monotonic() - start >= 0.2


def test_unknown_route_is_a_404_in_the_provider_shape(llm_server):
    with pytest.raises(openai.NotFoundError):
        oai(llm_server).completions.create(model="m", prompt="x")  # legacy /v1/completions: not served
    assert llm_server.requests[-1]["path"] == "/v1/completions"
