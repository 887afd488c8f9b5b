"""The everyday commands load only what their work needs (issue 16, "fast commands").

Each command runs in a fresh interpreter (as `aiex` does), against a small project
whose index is built first; the test reads which modules that process imported.
How long they take is measured in benchmarks/startup.py, not here.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from llm_server import closed_url

REPO = Path(__file__).resolve().parents[2]

#: never needed to show a context, dry-run a question or update an index
NEVER = ("openai", "anthropic", "ollama", "httpx", "dask", "distributed", "pydantic", "pydantic_settings",
         "llama_cpp", "rich", "IPython")
#: bpe-openai's Python package builds every encoding's rank table at import (about 2 s); its Rust tables suffice
NOT_THE_BPE_PACKAGE = ("bpe_openai",)
#: the index's arrays: only when an index is read
ARRAYS = ("numpy", "zarr", "scipy")

RUN = """
import json, runpy, sys
sys.argv = ["aiex", *sys.argv[1:]]
code = 0
try:
    runpy.run_module("aiex_kernel.interfaces.cli", run_name="__main__")
except SystemExit as exc:
    code = exc.code
sys.stderr.write("\\nMODULES " + json.dumps(sorted(m for m in sys.modules if "." not in m)) + "\\n")
sys.exit(code)
"""


def loaded(project: Path, *argv: str) -> tuple[set[str], str]:
    """The top-level modules a fresh `aiex ARGV` imported in ``project``, and its output."""
    out = subprocess.run([sys.executable, "-c", RUN, *argv], cwd=project, capture_output=True, text=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert out.returncode == 0, out.stderr
    line = [ln for ln in out.stderr.splitlines() if ln.startswith("MODULES ")][-1]
    return set(json.loads(line.removeprefix("MODULES "))), out.stdout


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    (root / "pkg" / "budget.py").write_text(
        "def fit_budget(pieces, budget):\n    \"\"\"Keep pieces while they fit.\"\"\"\n"
        "    return [p for p in pieces if len(p) <= budget]\n\n\nclass Packer:\n    def pack(self, items):\n"
        "        return fit_budget(items, 10)\n")
    (root / "pkg" / "other.py").write_text("import os\n\n\ndef home():\n    return os.path.expanduser('~')\n")
    monkeypatch.setenv("OLLAMA_HOST", closed_url())
    monkeypatch.setenv("LMSTUDIO_BASE_URL", closed_url() + "/v1")
    modules, text = loaded(root, "build", "context", "--no-progress")
    assert "Indexed" in text
    return root


def test_help_of_the_context_commands_loads_nothing_heavy(project):
    for argv in (["show", "context", "--help"], ["build", "context", "--help"], ["ask", "--help"]):
        modules, text = loaded(project, *argv)
        assert "usage:" in text
        assert not modules & {*NEVER, *NOT_THE_BPE_PACKAGE, *ARRAYS, "asyncio", "tree_sitter", "fsspec"}, argv


def test_show_context_with_a_warm_index_loads_no_sdk_cluster_or_tokenizer_package(project):
    modules, text = loaded(project, "show", "context", "-q", "where is the budget fitted", "--model", "openai:gpt-4o")
    assert "fit_budget" in text and "o200k_base" in text
    assert not modules & {*NEVER, *NOT_THE_BPE_PACKAGE, "tree_sitter"}  # nothing changed: nothing is parsed
    assert "scipy" not in modules  # the file graph's PageRank is numpy's
    assert modules >= {"numpy", "zarr"}  # the arrays were read


def test_ask_dry_run_calls_no_provider_and_loads_no_sdk(project):
    modules, text = loaded(project, "ask", "--dry-run", "--model", "openai:gpt-4o", "where is the budget fitted")
    assert "fit_budget" in text
    assert not modules & {*NEVER, *NOT_THE_BPE_PACKAGE, "tree_sitter"}


def test_build_context_when_up_to_date_reads_no_arrays(project):
    modules, text = loaded(project, "build", "context", "--no-progress")
    assert "up to date" in text
    assert not modules & {*NEVER, *NOT_THE_BPE_PACKAGE, "zarr", "scipy", "tree_sitter"}


def test_choosing_the_default_model_with_no_server_listening_imports_no_sdk(project):
    """Ollama and LM Studio are probed (their ports are closed here): a refused connection needs no SDK."""
    modules, text = loaded(project, "show", "context", "-q", "budget", "--json")
    assert json.loads(text)["tokens"] > 0
    assert not modules & {"openai", "ollama", "httpx", "anthropic", "dask", "distributed", "pydantic"}
