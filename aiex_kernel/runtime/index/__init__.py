"""The project context index (boundary layer): build it, load it, ask it for context.

``project_context`` is what ``aiex ask`` and the notebook use: bring the index up to
date (incremental, cheap when nothing changed), load it (cached while unchanged)
and assemble the context for a question within a token budget.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["open_sandbox", "project_context", "project_view", "cached_view", "refuse_unmarked_first_build"]

_VIEWS: dict[str, tuple[float, object]] = {}


def open_sandbox(root, settings):
    from ..sandbox import Sandbox

    return Sandbox(root, allow_secrets=settings.allow_secrets, max_file_bytes=settings.max_file_bytes)


def cached_view(store):
    """The loaded index at ``store``, reloaded only when its manifest changed (from the view an earlier
    process kept for this version when there is one: ``view_cache``)."""
    from .view import load_segments
    from .view_cache import load_view, save_view

    manifest = store.read_manifest()
    if manifest is None:
        return None
    stamp = manifest.get("written_at", 0.0)
    hit = _VIEWS.get(store.location)
    if hit is not None and hit[0] == stamp:
        return hit[1]
    view = load_view(store, manifest)
    if view is None:
        view = load_segments(store, manifest["segments"], manifest["files"], manifest)
        save_view(view)
    _VIEWS[store.location] = (stamp, view)
    return view


def refuse_unmarked_first_build(root, settings, build: bool) -> None:
    """A command may update an index, but does not index a directory that is not a project unasked."""
    from ...config import ROOT_MARKERS

    if not build or any((root / m).exists() for m in ROOT_MARKERS):
        return
    from ...errors import IndexMissing
    from .build import index_location
    from .store import IndexStore

    if IndexStore(index_location(root, settings)).read_manifest(check_schema=False) is None:
        raise IndexMissing(f"{root} has no index yet and is not a project (no .git, pyproject.toml or .aiex): "
                        f"index it on purpose with `aiex build context --path {root}`.")


def project_view(sandbox, settings, *, build: bool = True, progress: bool = False, notes: list | None = None):
    """The project's index, brought up to date first (a busy or read-only index is used as it is)."""
    from ...errors import IndexBusy, IndexMissing, IndexNotWritable
    from .build import build_index, index_location
    from .store import IndexStore

    store = IndexStore(index_location(sandbox.root, settings))
    if build:
        try:
            build_index(sandbox, settings=settings, store=store, progress=progress)
        except (IndexBusy, IndexNotWritable) as exc:  # the index as it is will do
            if store.read_manifest(check_schema=False) is None:
                raise
            if notes is not None:
                notes.append(f"the index was not updated ({exc}); using it as it is")
    view = cached_view(store)
    if view is None:
        raise IndexMissing(f"No context index at {store.location}; run `aiex build context --path {sandbox.root}`.")
    return view


def project_context(root: Path, settings, query: str, budget: int, *, provider: str | None, model: str | None,
                    progress: bool = False, build: bool = True, focus: str = "", pinned=()):
    """The context for ``query`` from the project at ``root`` (a ContextResult), building the index first.
    ``pinned`` files (paths relative to the root) come first, in full as far as the budget allows."""
    from ..tokenizers import token_counter
    from .context import assemble_context

    sandbox = open_sandbox(root, settings)
    notes: list[str] = []
    view = project_view(sandbox, settings, build=build, progress=progress, notes=notes)
    result = assemble_context(view, sandbox, query, budget, token_counter(provider, model, settings), focus=focus,
                              similarity=query_similarity(view, settings, query), summaries=file_summaries(view),
                              redact_secrets=settings.redact_secrets, pinned=pinned)
    result.notes[:0] = notes
    return result


def query_similarity(view, settings, query: str):
    """Cosine similarity of every chunk to the question, when the index has embeddings of the configured model."""
    if not query.strip() or "embeddings" not in view.arrays or view.embedding_model != settings.embedding_model:
        return None
    from .enrich import embed_texts, embedding_provider

    provider, model = embedding_provider(settings)
    q = embed_texts(provider, model, [query])[0]
    return view.arrays["embeddings"] @ q


def file_summaries(view) -> dict[str, str] | None:
    """Path -> summary for the live files summarised by `aiex build context --summarize`; the project
    overview under the key ``""``."""
    from .enrich import load_summaries

    cache = load_summaries(view.store)
    if not cache["files"] and not cache.get("project"):
        return None
    out = {f["path"]: cache["files"][f["hash"]] for f in view.files if f["hash"] in cache["files"]}
    if cache.get("project"):
        out[""] = cache["project"]["text"]
    return out
