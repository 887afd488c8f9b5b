"""Embeddings and summaries in the index, against the loopback server (Ollama embeddings, OpenAI chat)."""

import textwrap

import numpy as np
import pytest

from aiex_kernel.config import load_settings
from aiex_kernel.runtime.index import cached_view, file_summaries, open_sandbox, project_context, query_similarity
from aiex_kernel.runtime.index.build import build_index
from aiex_kernel.runtime.index.enrich import EMBED_CHARS, load_summaries, summarize_files
from aiex_kernel.runtime.index.store import IndexStore

SOURCES = {
    "pyproject.toml": "",
    "app/units.py": '''
        def meters_to_feet(m):
            return m * 3.28084


        def feet_to_meters(f):
            return f / 3.28084
        ''',
    "app/report.py": '''
        from app.units import meters_to_feet


        def describe(height):
            return f"{meters_to_feet(height):.1f} ft"
        ''',
}


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "units"
    for rel, text in SOURCES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def embed_inputs(server):
    return [x for r in server.requests if r["path"] == "/api/embed" for x in r["body"]["input"]]


def test_embeddings_are_built_incrementally_and_rank(project, llm_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", llm_server.url)
    settings = load_settings(project, embedding_model="ollama:nomic-embed-text")
    sandbox = open_sandbox(project, settings)
    build_index(sandbox, settings=settings, progress=False, cluster="never")
    view = cached_view(IndexStore(str(project / ".aiex/index")))
    assert view.embedding_model == "ollama:nomic-embed-text"
    assert view.arrays["embeddings"].shape == (view.n_chunks, 16)
    assert np.allclose(np.linalg.norm(view.arrays["embeddings"], axis=1), 1.0, atol=1e-5)
    assert len(embed_inputs(llm_server)) == view.n_chunks

    # the question embedded at query time: identical text has similarity 1 with its chunk
    chunks = view.chunks(range(view.n_chunks))
    target = next(i for i, c in chunks.items() if c.name == "feet_to_meters")
    text = (project / "app/units.py").read_bytes()[chunks[target].start_byte:chunks[target].end_byte].decode()
    similarity = query_similarity(view, settings, text[:EMBED_CHARS])
    assert int(np.argmax(similarity)) == target and similarity[target] == pytest.approx(1.0, abs=1e-5)

    # one file edited: only its chunks are embedded again
    llm_server.reset()
    (project / "app/report.py").write_text("def describe(height):\n    return str(height)\n")
    build_index(sandbox, settings=settings, progress=False, cluster="never")
    assert len(embed_inputs(llm_server)) == 2  # the module chunk and describe()

    # a different model rebuilds, and says why
    other = load_settings(project, embedding_model="ollama:mxbai-embed-large")
    report = build_index(sandbox, settings=other, progress=False, cluster="never")
    assert report.rebuilt and "embedding model changed" in report.rebuilt


def test_summaries_map_reduce_cached_by_content(project, llm_server, monkeypatch, runtime):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-summaries")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    settings = load_settings(project, max_retries=0)
    sandbox = open_sandbox(project, settings)
    build_index(sandbox, settings=settings, progress=False, cluster="never")
    store = IndexStore(str(project / ".aiex/index"))
    from aiex_kernel.runtime.aio import run_sync
    from aiex_kernel.runtime.providers.selection import choose_model

    choice = run_sync(lambda: choose_model("openai:gpt-4o-mini", settings))
    llm_server.reply_text = "Converts lengths between units."
    cache = summarize_files(cached_view(store), sandbox, settings, choice, runtime=runtime, cluster=True)
    chats = [r for r in llm_server.requests if r["path"] == "/v1/chat/completions"]
    assert len(chats) == 3  # two files (map, as cluster tasks) and the overview (reduce)
    assert set(cache["files"].values()) == {"Converts lengths between units."}
    assert cache["project"]["text"] == "Converts lengths between units."
    assert any("app/units.py" in r["body"]["messages"][-1]["content"] for r in chats)

    llm_server.reset()
    summarize_files(cached_view(store), sandbox, settings, choice, runtime=runtime, cluster=True)
    assert llm_server.requests == []  # nothing changed: all cached

    (project / "app/report.py").write_text("def describe(height):\n    return str(height)\n")
    build_index(sandbox, settings=settings, progress=False, cluster="never")
    summarize_files(cached_view(store), sandbox, settings, choice, runtime=runtime, cluster=True)
    chats = [r for r in llm_server.requests if r["path"] == "/v1/chat/completions"]
    assert len(chats) == 2  # the changed file, and a new overview
    assert len(load_summaries(store)["files"]) == 2  # the old version's summary was dropped

    summaries = file_summaries(cached_view(store))
    assert set(summaries) == {"", "app/units.py", "app/report.py"}
    result = project_context(project, settings, "", 400, provider="openai", model="gpt-4o-mini", build=False)
    assert "summary: Converts lengths between units." in result.text
    assert result.levels["summary"] >= 1 and result.tokens <= 400


def test_summary_prompts_hold_the_file_text_cut_to_the_limit(project, llm_server, monkeypatch):
    """The prompt holds the file's text (not a tuple's repr), at most SUMMARY_CHARS of it."""
    from aiex_kernel.runtime.index.enrich import SUMMARY_CHARS

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-summaries")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    (project / "app" / "big.py").write_text("X = 1\n" + "# filler line\n" * 2000)
    settings = load_settings(project, max_retries=0)
    sandbox = open_sandbox(project, settings)
    build_index(sandbox, settings=settings, progress=False, cluster="never")
    from aiex_kernel.runtime.aio import run_sync
    from aiex_kernel.runtime.providers.selection import choose_model

    choice = run_sync(lambda: choose_model("openai:gpt-4o-mini", settings))
    summarize_files(cached_view(IndexStore(str(project / ".aiex/index"))), sandbox, settings, choice, cluster=False)
    prompts = {r["body"]["messages"][-1]["content"] for r in llm_server.requests if r["path"] == "/v1/chat/completions"}
    units = next(p for p in prompts if "`app/units.py`" in p)
    assert "def meters_to_feet(m):\n    return m * 3.28084" in units and "', False)" not in units
    big = next(p for p in prompts if "`app/big.py`" in p)
    text = "X = 1\n" + "# filler line\n" * 2000
    assert f"```python\n{text[:SUMMARY_CHARS]}\n```" in big and len(big) < SUMMARY_CHARS + 400


def test_only_a_busy_or_read_only_index_is_used_as_it_is(project, monkeypatch):
    """A bad embedding_model is an error, not 'the index was not updated'."""
    from aiex_kernel.errors import UsageError

    settings = load_settings(project)
    build_index(open_sandbox(project, settings), settings=settings, progress=False, cluster="never")
    bad = load_settings(project, embedding_model="anthropic:claude-sonnet-4-0")
    with pytest.raises(UsageError, match="no embeddings API"):
        project_context(project, bad, "feet", 200, provider=None, model=None)
    (project / ".aiex" / "index" / "build.lock").write_text(str(__import__("os").getpid()))
    result = project_context(project, settings, "feet", 200, provider=None, model=None)
    assert result.text and "the index was not updated (Another aiex build" in result.notes[0]
