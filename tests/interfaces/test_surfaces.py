"""The surfaces are one registry: the same options give the same request on the CLI, in %aiex and in /ask;
and the session commands, as a user types them."""

import json
import shlex
from dataclasses import replace

import pytest

import aiex_kernel
from aiex_kernel.core import events as ev
from aiex_kernel.interfaces.cli import main
from aiex_kernel.runtime.service import AssistantService

CASES = [
    (["-m", "openai:gpt-4o", "--context-budget", "300", "--session", "s1"], "what's up with {braces}?"),
    (["--no-context", "-f", "json", "--max-tokens", "50", "--temperature", "0.5"], "give me JSON"),
    (["--model", "ollama:llama3.2:3b", "--system", "be brief", "--dry-run"], 'a "quoted" prompt'),
    (["--context", "pkg", "--no-stream", "-f", "text"], "plain text please"),
]


@pytest.fixture
def recorded(monkeypatch):
    """Every request a surface hands to the service (answered with a plan: nothing is sent)."""
    requests = []

    def turn_sync(self, request):
        requests.append(request)
        return iter([ev.Planned("s", 0.0, turn="t", plan={"recorded": True}, text="recorded")])

    monkeypatch.setattr(AssistantService, "turn_sync", turn_sync)
    return requests


@pytest.fixture
def project(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "m.py").write_text("def f():\n    return 1\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def shell(project):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    aiex_kernel.load_ipython_extension(sh)
    yield sh
    aiex_kernel.unload_ipython_extension(sh)


def _comparable(request):
    return replace(request, context=replace(request.context, focus=""))


@pytest.mark.parametrize("options, prompt", CASES)
def test_the_same_options_make_the_same_request_everywhere(options, prompt, recorded, shell, capsys):
    assert main(["ask", *options, prompt]) == 0
    typed = " ".join(shlex.quote(o) for o in options)
    for cell in (f"%aiex ask {typed} {prompt}", f"/ask {typed} {prompt}"):
        result = shell.run_cell(cell, store_history=True)
        assert result.error_in_exec is None, (cell, result.error_in_exec)
    cli, magic, slash = (_comparable(r) for r in recorded)
    assert cli == magic == slash
    assert cli.prompt == prompt and cli.command == "ask"


def test_chat_from_the_cell_magic_and_the_slash_cell_too(recorded, shell):
    shell.run_cell("%%aiex openai:gpt-4o --context-budget 200\nmulti\nline {not_a_name}", store_history=True)
    shell.run_cell("/chat -m openai:gpt-4o --context-budget 200 multi\nline {not_a_name}", store_history=True)
    assert main(["chat", "-m", "openai:gpt-4o", "--context-budget", "200", "multi\nline {not_a_name}"]) == 0
    cell, slash, cli = (_comparable(r) for r in recorded)
    assert cell == slash == cli and cell.command == "chat" and cell.prompt == "multi\nline {not_a_name}"


def cli_json(*args, capsys) -> dict:
    capsys.readouterr()
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_session_commands_on_the_command_line(llm_server, monkeypatch, project, capsys):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-sessions")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    assert cli_json("start", "session", "work", capsys=capsys)["name"] == "work"
    assert main(["start", "session", "work"]) == 2  # exists already
    llm_server.queue_replies("It returns one.", "Still one.")
    cli_json("chat", "--session", "work", "--context-budget", "100", "what does f return?", capsys=capsys)
    cli_json("pin", "file", "pkg/m.py", "--session", "work", capsys=capsys)
    answer = cli_json("chat", "--session", "work", "and now?", capsys=capsys)
    assert answer["session"] == "work" and answer["sources"][0]["path"] == "pkg/m.py"
    assert [m["role"] for m in llm_server.last["body"]["messages"]] == ["system", "user", "assistant", "user"]
    listed = cli_json("list", "sessions", capsys=capsys)
    assert [s["name"] for s in listed["sessions"]] == ["work"]
    assert cli_json("list", "session", "--query", "Still one", capsys=capsys)["sessions"][0]["name"] == "work"
    assert cli_json("list", "sessions", "-q", "never said", capsys=capsys)["sessions"] == []
    shown = cli_json("show", "session", "work", capsys=capsys)
    assert [t["prompt"] for t in shown["turns"]] == ["what does f return?", "and now?"]
    assert shown["pinned"] == ["pkg/m.py"]
    md = cli_json("export", "session", "work", "--to", "md", capsys=capsys)["text"]
    assert "what does f return?" in md and "Still one." in md
    cli_json("save", "checkpoint", "cp", "--session", "work", capsys=capsys)
    assert [c["name"] for c in cli_json("list", "checkpoints", "--session", "work", capsys=capsys)["checkpoints"]] == ["cp"]
    cli_json("unpin", "file", "pkg/m.py", "--session", "work", capsys=capsys)
    cli_json("reset", "--session", "work", capsys=capsys)
    stats = cli_json("show", "stats", "--by", "provider", capsys=capsys)
    assert stats["rows"][0]["key"] == "openai" and stats["rows"][0]["requests"] == 2
    assert main(["delete", "session", "work"]) == 2  # needs --yes
    assert cli_json("delete", "session", "work", "--yes", capsys=capsys)["deleted_events"] > 5
    assert main(["show", "session", "work"]) == 1
    assert "No session named 'work'" in capsys.readouterr().err


def test_explain_and_fix_on_the_command_line(llm_server, monkeypatch, project, capsys, cli):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-explain")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")

    def sent(*args) -> str:
        return cli_json(*args, "--dry-run", capsys=capsys)["messages"][-1]["content"]

    by_name = sent("explain", "f")
    assert "Explain `f` from my project (pkg/m.py:1-2)" in by_name and "def f():\n    return 1" in by_name
    assert "Explain `pkg/m.py:2`" in sent("explain", "pkg/m.py:2") and "return 1" in sent("explain", "pkg/m.py:2")
    live = sent("explain", "json.dumps", "--import")
    assert "Signature: (obj, *," in live and "Serialize" in live
    assert main(["explain", "no_such_function"]) == 2
    assert "No definition named 'no_such_function'" in capsys.readouterr().err
    crash = project / "crash.txt"
    crash.write_text(f'Traceback (most recent call last):\n  File "{project}/pkg/m.py", line 2, in f\n'
                     "    return 1\nZeroDivisionError: division by zero\n")
    prompt = sent("fix", str(crash))
    assert "ZeroDivisionError: division by zero" in prompt and "def f():" in prompt and "my program" in prompt
    piped = cli("fix", "-", "--dry-run", "--json", cwd=project, input=crash.read_text(),
                env={"OPENAI_API_KEY": "sk-test-explain", "OPENAI_BASE_URL": llm_server.url + "/v1"})
    assert piped.returncode == 0, piped.stderr
    assert "ZeroDivisionError" in json.loads(piped.stdout)["messages"][-1]["content"]
    assert main(["fix"]) == 2 and "Give the traceback" in capsys.readouterr().err
    assert llm_server.requests == []
