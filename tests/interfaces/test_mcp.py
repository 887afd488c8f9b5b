"""aiex as an MCP server, driven by the official `mcp` SDK's own client: over stdio (the server a client
starts), over streamable HTTP (token and Origin checks) and inside a real kernel (explain_object looks
names up without running code). The tools are registry commands, so the same commands are run too."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

mcp = pytest.importorskip("mcp")
anyio = pytest.importorskip("anyio")

from aiex_kernel.interfaces.introspect import named_object  # noqa: E402

SECRET = "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"


def _aiex() -> list[str]:
    script = Path(sys.executable).with_name("aiex")
    return [str(script)] if script.exists() else [sys.executable, "-m", "aiex_kernel.interfaces.cli"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, llm_server_module):
    """A small project, indexed, and a session with one answered turn (asked of the wire-level server)."""
    home = tmp_path_factory.mktemp("mcp-home")
    root = home / "proj"
    (root / "geo").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'geo'\n")
    (root / "geo" / "shapes.py").write_text(textwrap.dedent('''\
        import math


        def circle_area(radius):
            """The area of a circle."""
            return math.pi * radius ** 2


        class Square:
            def __init__(self, side):
                self.side = side

            def area(self):
                return self.side ** 2
        '''))
    (root / "geo" / "keys.py").write_text(f'def token():\n    return "{SECRET}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    env.update({"AIEX_DATA_DIR": str(home / "data"), "AIEX_CONFIG_DIR": str(home / "config"),
                "JUPYTER_CONFIG_DIR": str(home / "jupyter"), "IPYTHONDIR": str(home / "ipython"),
                "OPENAI_API_KEY": "sk-test-mcp", "OPENAI_BASE_URL": llm_server_module.url + "/v1",
                "AIEX_MAX_RETRIES": "0"})
    run = lambda *a, **kw: subprocess.run([*_aiex(), *a], cwd=root, env=env, capture_output=True, text=True,  # noqa: E731
                                          timeout=180, **kw)
    r = run("build", "context")
    assert r.returncode == 0, r.stderr
    llm_server_module.queue_replies("circle_area multiplies pi by the radius squared.")
    r = run("ask", "--session", "geometry", "how is the area of a circle computed?")
    assert r.returncode == 0, r.stderr
    return {"root": root, "env": env, "run": run, "home": home}


def test_the_lookup_commands(setup):
    run = setup["run"]
    r = run("show", "definition", "Square.area")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("Square.area: python method at geo/shapes.py:13-14")
    assert "return self.side ** 2" in r.stdout
    r = run("show", "definition", "geo/shapes.py:6")
    assert "def circle_area(radius):" in r.stdout and "geo/shapes.py:4-6" in r.stdout
    r = run("show", "definition", "no_such_thing")
    assert r.returncode == 2 and "No definition named 'no_such_thing'" in r.stderr and "Traceback" not in r.stderr
    r = run("show", "outline", "--json")
    data = json.loads(r.stdout)
    files = {f["path"]: f for f in data["files"]}
    assert [d["qualname"] for d in files["geo/shapes.py"]["definitions"]] == \
        ["circle_area", "Square", "Square.__init__", "Square.area"]
    assert files["geo/shapes.py"]["definitions"][3]["depth"] == 1 and data["left_out"] == 0
    # the line limit cuts at a file boundary and says what is left
    r = run("show", "outline", "--max-lines", "2")
    assert r.stdout.splitlines()[0] == "geo/keys.py (python, 1 definition)"
    assert "1 more files not listed" in r.stdout and "geo/shapes.py" not in r.stdout
    r = run("show", "outline", "--path", str(setup["root"].parent))  # not a project: not indexed unasked
    assert r.returncode != 0 and "is not a project" in r.stderr
    r = run("show", "outline", "--root", str(setup["root"]), "--path", str(setup["root"].parent))
    assert r.returncode == 2 and "outside the project" in r.stderr


def test_named_object_never_runs_code(tmp_path):
    marker = tmp_path / "ran"

    class Trap:
        @property
        def boom(self):
            marker.write_text("the property ran")
            return 1

        def __getattr__(self, name):
            marker.write_text("__getattr__ ran")
            raise AttributeError(name)

    namespace = {"trap": Trap(), "rows": [1, 2]}
    assert isinstance(named_object(namespace, "trap.boom"), property)
    assert named_object(namespace, "rows.append") == list.append  # a builtin method descriptor
    bound = named_object({"t": Trap()}, "t.__getattr__")
    assert bound.__self__.__class__ is Trap and bound.__func__ is Trap.__getattr__
    assert named_object(namespace, "len") is len
    from aiex_kernel.errors import UsageError

    for bad, says in [("trap.missing", "no attribute 'missing'"), ("__import__('os').system('x')", "not a name"),
                      ("rows[0]", "not a name"), ("nothing", "No variable named 'nothing'")]:
        with pytest.raises(UsageError, match=re.escape(says)):
            named_object(namespace, bad)
    assert not marker.exists()


async def _call(client, tool, **arguments):
    result = await client.call_tool(tool, arguments)
    return result.is_error, "\n".join(c.text for c in result.content)


def test_stdio_server_through_the_sdk_client(setup):
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=_aiex()[0], args=[*_aiex()[1:], "serve", "mcp"], env=setup["env"],
                                   cwd=str(setup["root"]))
    out = {}

    async def main():
        async with Client(params, read_timeout_seconds=120) as client:
            out["tools"] = [t.name for t in (await client.list_tools()).tools]
            out["search"] = await _call(client, "search_code", question="how is circle_area computed?", budget=300)
            out["definition"] = await _call(client, "get_definition", symbol="token")
            out["missing"] = await _call(client, "get_definition", symbol="no_such_thing")
            out["outline"] = await _call(client, "project_outline", path="geo")
            out["history"] = await _call(client, "session_history", session="geometry")
            out["latest"] = await _call(client, "session_history")
            out["sessions"] = await _call(client, "list_sessions", query="circle")

    anyio.run(main)
    assert out["tools"] == ["search_code", "get_definition", "project_outline", "session_history", "list_sessions"]
    error, text = out["search"]
    assert not error and "def circle_area(radius):" in text
    used, budget = map(lambda s: int(s.replace(",", "")), re.search(r"── ([\d,]+) / ([\d,]+) tokens", text).groups())
    assert budget == 300 and used <= 300
    error, text = out["definition"]
    assert not error and "geo/keys.py:1-2" in text and SECRET not in text and "[REDACTED:github-token]" in text
    error, text = out["missing"]
    assert error and "No definition named 'no_such_thing'" in text
    assert not out["outline"][0] and "L4" in out["outline"][1] and "def circle_area(radius):" in out["outline"][1]
    error, text = out["history"]
    assert not error and "Q: how is the area of a circle computed?" in text
    assert "A: circle_area multiplies pi by the radius squared." in text
    assert out["latest"][1] == text  # the most recently active session by default
    assert "geometry" in out["sessions"][1]


@asynccontextmanager
async def _over_http(url, token):
    """The SDK's client over streamable HTTP, with the bearer token."""
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        async with Client(streamable_http_client(url, http_client=http)) as client:
            yield client


def _start_http(setup, token):
    proc = subprocess.Popen([*_aiex(), "serve", "mcp", "--http", "--port", "0"], cwd=setup["root"],
                            env={**setup["env"], "AIEX_MCP_TOKEN": token}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"at (http://127\.0\.0\.1:(\d+)/mcp)", line)
    assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
    return proc, match.group(1), int(match.group(2))


def test_http_server_needs_the_token_and_a_local_origin(setup):
    import httpx2

    token = "t0ken-for-the-mcp-test-0123456789"
    proc, url, port = _start_http(setup, token)
    try:
        hello = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
                 "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                            "clientInfo": {"name": "t", "version": "0"}}}
        head = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        with httpx2.Client(timeout=30) as raw:
            assert raw.post(url, json=hello, headers=head).status_code == 401
            wrong = raw.post(url, json=hello, headers={**head, "Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 401
            auth = {**head, "Authorization": f"Bearer {token}"}
            assert raw.post(url, json=hello, headers={**auth, "Origin": "http://evil.example"}).status_code == 403
            assert raw.post(url, json=hello, headers={**auth, "Host": "evil.example"}).status_code == 421
            same_origin = raw.post(url, json=hello, headers={**auth, "Origin": f"http://127.0.0.1:{port}"})
            assert same_origin.status_code == 200

        out = {}

        async def main():
            async with _over_http(url, token) as client:
                out["tools"] = [t.name for t in (await client.list_tools()).tools]
                out["definition"] = await _call(client, "get_definition", symbol="circle_area")

        anyio.run(main)
        assert "explain_object" not in out["tools"] and "search_code" in out["tools"]
        assert not out["definition"][0] and "return math.pi * radius ** 2" in out["definition"][1]
        taken = subprocess.run([*_aiex(), "serve", "mcp", "--http", "--port", str(port)], cwd=setup["root"],
                               env=setup["env"], capture_output=True, text=True, timeout=60)
        assert taken.returncode == 1 and f"Cannot listen on 127.0.0.1:{port}" in taken.stderr
        assert "Traceback" not in taken.stderr
        remote = subprocess.run([*_aiex(), "serve", "mcp", "--http", "--host", "0.0.0.0"], cwd=setup["root"],
                                env=setup["env"], capture_output=True, text=True, timeout=60)
        assert remote.returncode == 2 and "only on a loopback address" in remote.stderr
        short = subprocess.run([*_aiex(), "serve", "mcp", "--http"], cwd=setup["root"],
                               env={**setup["env"], "AIEX_MCP_TOKEN": "short"}, capture_output=True, text=True,
                               timeout=60)
        assert short.returncode == 2 and "AIEX_MCP_TOKEN: the MCP token must be at least 16" in short.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, proc.stderr.read()


def test_inside_a_kernel_explain_object_reads_the_live_namespace(setup, tmp_path):
    pytest.importorskip("jupyter_client")
    import httpx2
    from kernel_client import execute, start_kernel

    home = setup["home"]
    r = subprocess.run([*_aiex(), "install", "kernel", "--prefix", str(home / "prefix")], env=setup["env"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    marker = tmp_path / "ran"
    km, kc = start_kernel(home / "prefix", setup["env"], setup["root"])
    try:
        code = textwrap.dedent(f'''\
            import collections
            counts = collections.Counter("abracadabra")
            class Trap:
                @property
                def boom(self):
                    open({str(marker)!r}, "w").write("ran")
            trap = Trap()
            ''')
        assert execute(kc, code)[0]["status"] == "ok"
        reply, msgs = execute(kc, "%aiex serve mcp")
        assert reply["status"] == "ok", reply
        shown = " ".join(str(m["content"].get("data", {}).get("text/plain", "")) + m["content"].get("text", "")
                         for m in msgs)
        url = re.search(r"(http://127\.0\.0\.1:\d+/mcp)", shown).group(1)
        token = re.search(r"token: (\S+)", shown).group(1)
        out = {}

        async def main():
            async with _over_http(url, token) as client:
                out["tools"] = [t.name for t in (await client.list_tools()).tools]
                out["counts"] = await _call(client, "explain_object", name="counts.most_common")
                out["trap"] = await _call(client, "explain_object", name="trap.boom")
                out["code"] = await _call(client, "explain_object", name="__import__('os').getcwd()")
                out["definition"] = await _call(client, "get_definition", symbol="Square")

        anyio.run(main)
        assert "explain_object" in out["tools"]
        error, text = out["counts"]
        assert not error and text.startswith("counts.most_common: method") and "List the n most common elements" in text
        assert not out["trap"][0] and "property" in out["trap"][1]
        assert out["code"][0] and "not a name" in out["code"][1]
        assert not out["definition"][0] and "class Square:" in out["definition"][1]
        assert not marker.exists()  # the property never ran
        reply, msgs = execute(kc, "%aiex serve mcp --stop")
        assert reply["status"] == "ok" and any("Stopped the MCP server" in str(m["content"]) for m in msgs)
        with httpx2.Client(timeout=5) as raw:
            with pytest.raises(httpx2.TransportError):
                raw.post(url, json={}, headers={"Authorization": f"Bearer {token}"})
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
