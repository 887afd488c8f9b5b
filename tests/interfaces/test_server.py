"""The Jupyter server extension, on a real Jupyter server (pytest-jupyter), against the loopback LLM server."""

import asyncio
import json

import pytest
import tornado

pytest.importorskip("pytest_jupyter")


@pytest.fixture
def jp_server_config(jp_root_dir):
    (jp_root_dir / "pyproject.toml").write_text("[project]\nname = 'served'\n")
    (jp_root_dir / "lib.py").write_text("def served_function(x):\n    return x * 2\n")
    return {"ServerApp": {"jpserver_extensions": {"aiex_kernel.interfaces.server": True}}}


@pytest.fixture
def models(monkeypatch, llm_server):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-server")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
    return llm_server


async def get_json(jp_fetch, *path, **kw):
    response = await jp_fetch("aiex", "api", *path, **kw)
    return json.loads(response.body)


async def test_rest_endpoints(jp_fetch, models):
    data = await get_json(jp_fetch, "models")
    assert data["default"]["model"] == "openai:gpt-4o-mini"
    assert {p["provider"] for p in data["providers"]} >= {"openai", "local"}
    created = await jp_fetch("aiex", "api", "sessions", method="POST", body=json.dumps({"name": "served"}))
    assert created.code == 201
    models.reply_text = "It doubles its argument."
    answer = await get_json(jp_fetch, "messages", method="POST", body=json.dumps(
        {"session": "served", "prompt": "what does served_function do?", "context": {"budget": 300}}))
    assert answer["text"] == "It doubles its argument." and answer["session"] == "served"
    assert answer["sources"][0]["name"] == "served_function"
    listed = await get_json(jp_fetch, "sessions")
    assert [s["name"] for s in listed["sessions"]] == ["served"]
    session = await get_json(jp_fetch, "sessions", "served")
    assert [t["prompt"] for t in session["turns"]] == ["what does served_function do?"]
    context = await get_json(jp_fetch, "context", params={"q": "served_function", "budget": "200"})
    assert "def served_function" in context["text"] and context["tokens"] <= 200
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await jp_fetch("aiex", "api", "sessions", "nobody")
    assert info.value.code == 404
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await jp_fetch("aiex", "api", "messages", method="POST", body=json.dumps({"prompt": "x", "max_tokens": 0}))
    assert info.value.code == 400


async def test_authentication_and_xsrf(jp_fetch, jp_base_url, jp_http_port, http_server_client, models):
    url = f"http://127.0.0.1:{jp_http_port}{jp_base_url}aiex/api/models"
    client = tornado.httpclient.AsyncHTTPClient()
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await client.fetch(url)  # no token
    assert info.value.code == 403
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        # a cookie-authenticated POST without the XSRF token is refused, as for every Jupyter endpoint
        await client.fetch(url.replace("models", "sessions"), method="POST", body="{}",
                           headers={"Cookie": "username-127-0-0-1=nope"})
    assert info.value.code == 403
    response = await jp_fetch("aiex", "api", "models", headers={"Origin": "http://evil.example"})
    assert response.headers.get("Access-Control-Allow-Origin") != "*"  # no wildcard CORS


async def test_streaming_over_the_websocket_and_cancel(jp_ws_fetch, models):
    models.reply_text = " ".join(f"w{i}" for i in range(120))
    models.chunk_delay = 0.01
    ws = await jp_ws_fetch("aiex", "api", "chat")
    ws.write_message(json.dumps({"action": "chat", "ref": "r1", "session": "ws", "prompt": "hello",
                                 "context": {"enabled": False}}))
    kinds = []
    while True:
        message = json.loads(await ws.read_message())
        assert message["ref"] == "r1"
        kinds.append(message["event"])
        if message["event"] in ("Answered", "Failed"):
            break
    assert kinds[0] in ("Noted", "TurnStarted") and kinds.count("Delta") >= 5 and kinds[-1] == "Answered"

    models.chunk_delay = 0.05
    ws.write_message(json.dumps({"action": "chat", "ref": "r2", "session": "ws", "prompt": "a long one",
                                 "context": {"enabled": False}}))
    deltas = 0
    while deltas < 3:
        message = json.loads(await ws.read_message())
        deltas += message.get("event") == "Delta"
    ws.write_message(json.dumps({"action": "cancel", "ref": "r2"}))
    while True:
        message = json.loads(await ws.read_message())
        if message.get("event") in ("Cancelled", "Answered"):
            break
    assert message["event"] == "Cancelled"
    for _ in range(50):
        if models.in_flight == 0:
            break
        await asyncio.sleep(0.05)
    assert models.in_flight == 0  # the model call itself was stopped

    follower = await jp_ws_fetch("aiex", "api", "chat")  # another tab: the session from the log, then live
    follower.write_message(json.dumps({"action": "follow", "ref": "f", "session": "ws", "after": 0}))
    seen = []
    while "Cancelled" not in seen:
        seen.append(json.loads(await follower.read_message())["event"])
    assert seen.count("TurnStarted") == 2 and "Answered" in seen
    ws.close()
    follower.close()


async def test_mentions_fix_and_file_completion(jp_fetch, jp_root_dir, models):
    (jp_root_dir / "pkg").mkdir()
    (jp_root_dir / "pkg" / "helpers.py").write_text("def helper_one():\n    return 1\n")
    files = await get_json(jp_fetch, "context", "files", params={"q": "help"})
    assert files["files"] == ["pkg/helpers.py"] and files["total"] >= 2
    assert (await get_json(jp_fetch, "context", "files", params={"q": "py"}))["files"][:1] == ["lib.py"]
    models.reply_text = "helper_one returns 1."
    answer = await get_json(jp_fetch, "messages", method="POST", body=json.dumps(
        {"session": "mention", "prompt": "what does @pkg/helpers.py do?",
         "context": {"budget": 400, "mentions": ["pkg/helpers.py", "nope.py"]}}))
    sent = models.last["body"]["messages"][-1]["content"]
    assert "def helper_one" in sent and "pkg/helpers.py" in answer["context"]["files"]
    assert any("@nope.py is not in the project's index" in n for n in answer["notes"])
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await jp_fetch("aiex", "api", "messages", method="POST",
                       body=json.dumps({"prompt": "x", "context": {"mentions": ["../etc/passwd"]}}))
    assert info.value.code == 400 and b"inside the project" in info.value.response.body
    models.reply_text = "Divide by something else than zero."
    fixed = await get_json(jp_fetch, "messages", method="POST", body=json.dumps(
        {"session": "mention", "command": "fix", "context": {"enabled": False},
         "error_text": "Traceback (most recent call last):\nZeroDivisionError: division by zero",
         "error_source": "1 / 0"}))
    sent = models.last["body"]["messages"][-1]["content"]
    assert fixed["text"].startswith("Divide") and "ZeroDivisionError" in sent and "1 / 0" in sent
    with pytest.raises(tornado.httpclient.HTTPClientError) as info:
        await jp_fetch("aiex", "api", "messages", method="POST", body=json.dumps({"command": "fix"}))
    assert info.value.code == 400 and b"error_text" in info.value.response.body


async def test_a_dropped_socket_loses_no_message_and_rest_cancels_a_socket_turn(jp_fetch, jp_ws_fetch, models):
    models.reply_text = " ".join(f"w{i}" for i in range(60))
    models.chunk_delay = 0.01
    ws = await jp_ws_fetch("aiex", "api", "chat")
    ws.write_message(json.dumps({"action": "chat", "ref": "r1", "session": "drop", "prompt": "keep going",
                                 "context": {"enabled": False}}))
    while json.loads(await ws.read_message()).get("event") != "Delta":
        pass
    ws.close()  # the tab lost its connection mid-stream
    again = await jp_ws_fetch("aiex", "api", "chat")  # it reconnects and resumes from the log
    again.write_message(json.dumps({"action": "follow", "ref": "f", "session": "drop", "after": 0}))
    while True:
        message = json.loads(await again.read_message())
        if message["event"] == "Answered":
            break
    assert message["text"] == models.reply_text and message["id"] > 0
    models.chunk_delay = 0.05
    again.write_message(json.dumps({"action": "chat", "ref": "r2", "session": "drop", "prompt": "long",
                                    "context": {"enabled": False}}))
    while True:
        message = json.loads(await again.read_message())
        if message.get("ref") == "r2" and message["event"] == "TurnStarted":
            break
    cancelled = await get_json(jp_fetch, "turns", message["turn"], "cancel", method="POST", body="{}")
    assert cancelled["cancelled"]
    while True:
        message = json.loads(await again.read_message())
        if message.get("ref") == "r2" and message["event"] in ("Cancelled", "Answered"):
            break
    assert message["event"] == "Cancelled"
    again.close()
