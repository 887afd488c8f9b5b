"""Every notebook in notebooks/ runs top to bottom with the aiex kernel (nbclient), against the loopback server."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 4


@pytest.fixture(scope="module")
def aiex_kernel_path(tmp_path_factory):
    import subprocess
    import sys

    prefix = tmp_path_factory.mktemp("kernel-prefix")
    subprocess.run([sys.executable, "-m", "aiex_kernel.interfaces.cli", "install", "kernel", "--prefix", str(prefix)],
                   check=True, capture_output=True)
    return prefix / "share" / "jupyter"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs(path, aiex_kernel_path, llm_server, monkeypatch, tmp_path):
    monkeypatch.setenv("JUPYTER_PATH", str(aiex_kernel_path))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-notebooks")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata.kernelspec.name == "aiex"
    # run where the notebook is copied, as a user would (a notebook may build files next to itself)
    client = nbclient.NotebookClient(nb, timeout=180, kernel_name="aiex",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.output_type == "error"]
    tagged = [c for c in nb.cells if "raises-exception" in c.get("metadata", {}).get("tags", [])]
    assert len(errors) == len(tagged), [e.get("evalue") for e in errors]
    assert any(o.output_type == "execute_result" for o in outputs)
    chats = [r for r in llm_server.requests if r["path"] == "/v1/chat/completions"]
    assert chats or "local" in path.stem, "the notebook asked no model"
