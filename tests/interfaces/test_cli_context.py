"""`aiex build context`, `aiex show context` and context in `aiex ask` / the magics, as a user runs them."""

import json
import textwrap

import pytest

from aiex_kernel.runtime.index.store import SCHEMA_VERSION


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    (root / "pkg" / "geometry.py").write_text(textwrap.dedent('''
        def circle_area(radius):
            """Area of a circle."""
            return 3.14159 * radius * radius


        def square_area(side):
            return side * side
        ''').lstrip())
    (root / "pkg" / "settings.py").write_text(
        'def token():\n    return "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"\n')
    (root / "pkg" / "notes.py").write_text("def private_notes():\n    return 'do not share'\n")
    (root / ".aiexignore").write_text("pkg/notes.py\n")
    return root


def test_build_show_and_stats(cli, project):
    r = cli("build", "context", "--json", cwd=project)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["added"] == 2 and report["files"] == 2  # notes.py is .aiexignored
    again = cli("build", "context", cwd=project)
    assert "is up to date" in again.stdout
    stats = json.loads(cli("show", "context", "--stats", "--json", cwd=project).stdout)
    assert stats["files"] == 2 and stats["languages"] == {"python": 2} and stats["schema"] == SCHEMA_VERSION
    shown = cli("show", "context", "-q", "how is the circle_area computed", "--budget", "200", "--json",
                cwd=project)
    data = json.loads(shown.stdout)
    assert data["tokens"] <= 200 and "def circle_area(radius):" in data["text"]
    assert "private_notes" not in data["text"]
    human = cli("show", "context", "-q", "circle_area", "--budget", "200", cwd=project).stdout
    assert "### pkg/geometry.py" in human and "/ 200 tokens" in human


def test_show_context_without_an_index_says_what_to_do(cli, project):
    r = cli("show", "context", "--stats", cwd=project)
    assert r.returncode == 1 and "aiex build context" in r.stderr


def test_ask_dry_run_shows_context_and_redacts(cli, project, llm_server):
    env = {"OPENAI_API_KEY": "sk-test-context", "OPENAI_BASE_URL": llm_server.url + "/v1"}
    r = cli("ask", "--dry-run", "what does token() return?", "--json", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    content = plan["messages"][-1]["content"]
    assert "def token():" in content and content.endswith("what does token() return?")
    assert "ghp_abcdefghijklmnopqrstuvwxyz" in (project / "pkg" / "settings.py").read_text()
    assert "ghp_" not in content and "[REDACTED:github-token]" in content
    assert plan["redacted"] == {"github-token": 1}
    assert plan["context"]["tokens"] <= 4096 and plan["context"]["tokenizer"] == "o200k_base"
    assert llm_server.requests == []  # nothing was sent
    assert "context: " in r.stderr and "redacted before sending: 1 github-token" in r.stderr


def test_ask_sends_context_and_says_how_much(cli, project, llm_server):
    env = {"OPENAI_API_KEY": "sk-test-context", "OPENAI_BASE_URL": llm_server.url + "/v1"}
    r = cli("ask", "how is circle_area computed?", "--context-budget", "300", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    sent = llm_server.last["body"]["messages"][-1]["content"]
    assert "def circle_area(radius):" in sent
    assert any(line.startswith("aiex: context: ") and "tokens" in line for line in r.stderr.splitlines())
    r = cli("ask", "--no-context", "hello", cwd=project, env=env)
    assert llm_server.last["body"]["messages"][-1]["content"] == "hello"
    other = project.parent / "elsewhere"
    other.mkdir()
    r = cli("ask", "--context", str(project / "pkg"), "circle_area?", cwd=other, env=env)
    assert "def circle_area" in llm_server.last["body"]["messages"][-1]["content"]
    r = cli("ask", "--context", str(other / "nope"), "x", cwd=other, env=env)
    assert r.returncode == 2 and "no such file or directory" in r.stderr


def test_magics_use_context_and_dry_run(project, llm_server, monkeypatch, capsys):
    from IPython.core.interactiveshell import InteractiveShell

    import aiex_kernel

    monkeypatch.chdir(project)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-magics-context")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    sh = InteractiveShell.instance()
    aiex_kernel.load_ipython_extension(sh)
    try:
        sh.run_cell("from pkg.geometry import square_area", store_history=True)
        r = sh.run_cell("%%aiex --dry-run --context-budget 300\nwhat is the area of a square?", store_history=True)
        assert r.error_in_exec is None
        plan = r.result
        assert "def square_area(side):" in plan["messages"][-1]["content"]
        assert llm_server.requests == []
        r = sh.run_cell("%aiex ask --context-budget 300 how big is a circle_area?", store_history=True)
        assert r.error_in_exec is None
        assert "def circle_area" in llm_server.last["body"]["messages"][-1]["content"]
        assert r.result.sources[0]["path"] == "pkg/geometry.py"  # the answer ends with its sources
        shown = r.result._repr_mimebundle_()["text/markdown"]
        assert shown.startswith(llm_server.reply_text) and "**Sources**" in shown
        assert "- `pkg/geometry.py:1-3` circle_area" in shown
        assert "aiex: context: " in capsys.readouterr().out
        sh.run_cell("%aiex ask --no-context plain question", store_history=True)
        assert llm_server.last["body"]["messages"][-1]["content"] == "plain question"
    finally:
        aiex_kernel.unload_ipython_extension(sh)


def test_show_context_does_not_index_a_non_project_unasked(cli, tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "a.py").write_text("def f():\n    return 1\n")
    r = cli("show", "context", "-q", "f", cwd=loose)
    assert r.returncode == 1 and "not a project" in r.stderr and "aiex build context --path" in r.stderr
    assert not (loose / ".aiex").exists()
    assert cli("build", "context", "--path", str(loose), cwd=loose).returncode == 0
    r = cli("show", "context", "-q", "f", "--budget", "60", cwd=loose)
    assert r.returncode == 0 and "def f():" in r.stdout


def test_answers_end_with_their_sources(cli, project, llm_server):
    env = {"OPENAI_API_KEY": "sk-test-context", "OPENAI_BASE_URL": llm_server.url + "/v1"}
    r = cli("ask", "how is circle_area computed?", "--context-budget", "300", cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    answer, _, sources = r.stdout.partition("Sources (most relevant first):")
    assert answer.strip() and "pkg/geometry.py:1-3  circle_area" in sources.splitlines()[1]
    data = json.loads(cli("ask", "how is circle_area computed?", "--context-budget", "300", "--json",
                          cwd=project, env=env).stdout)
    first = data["sources"][0]
    assert (first["path"], first["start_line"], first["name"], first["level"]) == (
        "pkg/geometry.py", 1, "circle_area", "full")
    no_context = json.loads(cli("ask", "--no-context", "hi", "--json", cwd=project, env=env).stdout)
    assert no_context["sources"] == []


def test_the_context_budget_follows_the_models_window(cli, project, llm_server):
    """Ollama says the model takes 1,500 tokens (/api/show): the 4,096-token default is cut to fit."""
    llm_server.context_length = 1500
    env = {"OLLAMA_HOST": llm_server.url}
    r = cli("ask", "-m", "ollama:llama3.2:3b", "--max-tokens", "500", "--dry-run", "--json", "circle_area?",
            cwd=project, env=env)
    assert r.returncode == 0, r.stderr
    plan = json.loads(r.stdout)
    assert plan["window"] == {"tokens": 1500, "source": "Ollama"}
    assert 0 < plan["context"]["budget"] <= 1500 - 500 and plan["context"]["tokens"] <= plan["context"]["budget"]
    assert "context budget cut from 4,096" in r.stderr
    lmstudio = cli("ask", "-m", "lmstudio:gpt-4o", "--dry-run", "--json", "circle_area?", cwd=project,
                   env={"LMSTUDIO_BASE_URL": llm_server.url + "/v1"})
    assert json.loads(lmstudio.stdout)["window"]["tokens"] == 1500
    unknown = cli("ask", "-m", "ollama:unknown-model", "--dry-run", "--json", "circle_area?", cwd=project, env=env)
    assert json.loads(unknown.stdout)["window"] == {"tokens": 8192, "source": "assumed: the model's window is unknown"}
    assert "context window is unknown; assuming 8,192" in unknown.stderr
