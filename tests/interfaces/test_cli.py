"""The real `aiex` command, run as a subprocess."""

import json
from pathlib import Path

import pytest

from aiex_kernel.core.chunking import CHUNK_FIELDS


@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "deep").mkdir()
    (root / "top.py").write_text("def top():\n    return 1\n")
    (root / "pkg" / "core.py").write_text(
        '"""Core."""\nimport os\n\n\nclass Engine:\n    """Runs things."""\n\n'
        "    @staticmethod\n    def run(x):\n        if x:\n            return os.sep\n        return None\n"
    )
    (root / "pkg" / "deep" / "bad.py").write_text("def bad(:\n  pass\n")
    (root / "pkg" / "app.ts").write_text("export function greet(n: string): string {\n  return n;\n}\n")
    (root / ".env").write_text("TOKEN=x\n")
    (root / "notes.txt").write_text("hello\n")
    (tmp_path / "outside.py").write_text("def secret(): pass\n")
    return root


def one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("aiex: error: ")
    return lines[0]


def test_version(cli):
    proc = cli("version", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) == {"aiex", "python", "dask", "distributed", "tree_sitter", "grammars"}
    assert data["grammars"]["python"] and data["grammars"]["elixir"]
    assert "aiex 0.1.0" in cli("version").stdout


def test_help(cli):
    top = cli("--help")
    assert top.returncode == 0
    for verb in ("analyze", "chunk", "start", "show", "stop", "help", "version"):
        assert verb in top.stdout
    sub = cli("help", "analyze", "code")
    assert sub.returncode == 0 and "--depth" in sub.stdout and "--json" in sub.stdout
    assert cli("help", "nope").returncode == 2


def test_analyze_code_json(cli, repo):
    proc = cli("analyze", "code", "--path", str(repo), "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["root"] == str(repo.resolve())
    assert report["totals"]["files"] == 4
    assert report["languages"]["python"]["files"] == 3
    assert report["languages"]["typescript"]["files"] == 1
    assert report["kinds"]["method"] == 1 and report["kinds"]["class"] == 1
    assert report["syntax_errors"] == ["pkg/deep/bad.py"]
    assert report["skipped"]["secret"] == 1 and report["skipped"]["unsupported"] == 1
    run = next(f for f in report["most_complex"] if f["qualname"] == "Engine.run")
    assert run["complexity"] == 2 and run["start_line"] == 8
    assert report["where"] == "in-process"


def test_analyze_depth(cli, repo):
    proc = cli("analyze", "code", "--path", str(repo), "--depth", "0", "--json")
    assert json.loads(proc.stdout)["totals"]["files"] == 1  # only top.py
    proc = cli("analyze", "code", "--path", str(repo), "--depth", "1", "--json")
    assert json.loads(proc.stdout)["totals"]["files"] == 3


def test_analyze_human(cli, repo):
    proc = cli("analyze", "code", "--path", str(repo))
    assert proc.returncode == 0, proc.stderr
    for text in ("Languages", "python", "Most complex functions", "Engine.run", "pkg/deep/bad.py", "secret"):
        assert text in proc.stdout


def test_chunk_jsonl_has_exactly_the_fields(cli, repo):
    proc = cli("chunk", str(repo / "pkg" / "core.py"), "--jsonl")
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    assert all(tuple(r) == CHUNK_FIELDS for r in rows)
    by_name = {r["qualname"]: r for r in rows}
    assert set(by_name) == {"pkg.core", "Engine", "Engine.run"}
    run = by_name["Engine.run"]
    assert (run["kind"], run["start_line"], run["end_line"], run["path"]) == ("method", 8, 12, "pkg/core.py")
    assert run["signature"].startswith("@staticmethod") and by_name["Engine"]["docstring"] == "Runs things."


def test_chunk_human_and_json(cli, repo):
    human = cli("chunk", str(repo / "top.py"), str(repo / "pkg" / "app.ts"))
    assert "top.py:1-2  function  top" in human.stdout
    assert "4 chunks in 2 files" in human.stdout
    doc = json.loads(cli("chunk", str(repo / "top.py"), "--json").stdout)
    assert doc["files"] == 1 and [c["qualname"] for c in doc["chunks"]] == ["top", "top"]


def test_usage_errors_exit_2_with_one_line(cli, repo):
    proc = cli("analyze", "code", "--depth", "deep")
    assert proc.returncode == 2
    assert "--depth" in one_error_line(proc)
    proc = cli("frobnicate")
    assert proc.returncode == 2 and "frobnicate" in one_error_line(proc)
    proc = cli("analyze")
    assert proc.returncode == 2 and "needs a noun" in one_error_line(proc)
    proc = cli("chunk", str(repo / "top.py"), "--json", "--jsonl")
    assert proc.returncode == 2


def test_sandbox_refusals_exit_1(cli, repo):
    proc = cli("chunk", str(repo.parent / "outside.py"), "--root", str(repo))
    assert proc.returncode == 1
    assert "outside" in one_error_line(proc)
    proc = cli("chunk", str(repo / "missing.py"))
    assert proc.returncode == 1 and "missing.py" in one_error_line(proc)
    proc = cli("analyze", "code", "--path", str(repo), "--root", str(repo / "nope"))
    assert proc.returncode == 1 and "not a directory" in one_error_line(proc)


def test_bad_config_exit_1(cli, repo, isolated_env):
    cfg = isolated_env / "config" / "config.toml"
    cfg.parent.mkdir(parents=True, exist_ok=True)
    cfg.write_text("workers = 'lots'\n")
    proc = cli("analyze", "code", "--path", str(repo))
    assert proc.returncode == 1 and "workers" in one_error_line(proc)


def test_unknown_argument_points_at_the_commands_help(cli):
    proc = cli("build", "context", "-q", "x")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "aiex: error: unrecognized arguments: -q x (see `aiex build context --help`)"
