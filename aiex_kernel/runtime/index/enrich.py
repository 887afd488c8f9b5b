"""What models add to the index: chunk embeddings and file summaries.

* **Embeddings** (``embedding_model`` setting, e.g. ``ollama:nomic-embed-text`` or
  ``openai:text-embedding-3-small``): each new chunk's text is embedded at build
  time (batched, concurrent) and stored with its segment; the question is embedded
  at query time and cosine similarity joins the ranking.
* **Summaries** (``aiex build context --summarize``): a map-reduce over the
  project: every file is summarised by a model (the calls fan out as tasks on the
  cluster), then the file summaries are reduced to a project overview. Both are
  cached by content hash in ``summaries.json`` next to the index, so only changed
  files are summarised again. The context uses them when even outlines do not fit.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

import numpy as np

from ...core.chunking import CHUNK_FIELDS
from ...core.llm import AiexRequest
from ...errors import AiexError, SandboxError, UsageError

__all__ = ["EMBED_BATCH", "embed_texts", "embedding_provider", "load_summaries", "summarize_files"]

EMBED_BATCH = 64
EMBED_CONCURRENCY = 8
#: characters of a chunk that are embedded (long bodies are cut)
EMBED_CHARS = 2000
#: characters of a file sent to be summarised
SUMMARY_CHARS = 12000
_START, _END = CHUNK_FIELDS.index("start_byte"), CHUNK_FIELDS.index("end_byte")


def embedding_provider(settings):
    """(provider, model) for the ``embedding_model`` setting, or ``(None, None)`` when it is not set."""
    from ...core.model_ids import parse_model_id
    from ..providers.registry import provider_specs

    if not settings.embedding_model:
        return None, None
    specs = provider_specs(settings)
    mid = parse_model_id(settings.embedding_model, specs, settings.aliases)
    if mid.provider is None or not mid.model:
        raise UsageError(f"embedding_model {settings.embedding_model!r}: write PROVIDER:MODEL, e.g. "
                         "ollama:nomic-embed-text or openai:text-embedding-3-small.")
    provider = specs[mid.provider].build()
    if not provider.has_embeddings:
        raise UsageError(f"{provider.display_name} has no embeddings API; use openai, ollama or an endpoint.")
    return provider, mid.model


def embed_texts(provider, model: str, texts: Sequence[str]) -> np.ndarray:
    """Unit-length embeddings of ``texts`` (float32, one row each), in concurrent batches."""
    from ..aio import run_sync

    async def run() -> list[list[float]]:
        gate = asyncio.Semaphore(EMBED_CONCURRENCY)

        async def batch(part: Sequence[str]) -> list[list[float]]:
            async with gate:
                return await provider.embed(list(part), model=model)

        try:
            parts = await asyncio.gather(*(batch(texts[i:i + EMBED_BATCH]) for i in range(0, len(texts), EMBED_BATCH)))
        finally:
            await provider.aclose()
        return [v for part in parts for v in part]

    if not texts:
        return np.zeros((0, 0), dtype=np.float32)
    vectors = np.asarray(run_sync(run), dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)


def chunk_texts(records: list[list], files: list[dict], sources: dict[str, bytes], chunk_file: np.ndarray) -> list[str]:
    """The (cut) source text of each chunk, for embedding."""
    out = []
    for record, f in zip(records, chunk_file.tolist()):
        data = sources[files[f]["path"]]
        out.append(data[record[_START]:record[_END]][:EMBED_CHARS * 2].decode("utf-8", "replace")[:EMBED_CHARS])
    return out


# -- summaries ----------------------------------------------------------------------------------

def load_summaries(store) -> dict:
    """``{"files": {content hash: summary}, "project": {"key": ..., "text": ...}}`` (empty if none yet)."""
    try:
        with store.fs.open(store.path_of("summaries.json"), "rb") as fh:
            return json.load(fh)
    except (FileNotFoundError, ValueError):
        return {"files": {}, "project": None}


def _save_summaries(store, data: dict) -> None:
    import uuid

    tmp = store.path_of(f".summaries-{uuid.uuid4().hex}.tmp")
    with store.fs.open(tmp, "wb") as fh:
        fh.write(json.dumps(data).encode())
    store.fs.mv(tmp, store.path_of("summaries.json"))


def summarize_files(view, sandbox, settings, choice, *, runtime=None, cluster: bool = True,
                    progress: bool = False) -> dict:
    """Summarise every live file not summarised yet (map, on the cluster), then the project (reduce)."""
    import hashlib

    from ..progress import status
    from ..providers.fanout import Call, complete_many

    store = view.store
    cache = load_summaries(store)
    missing = [f for f in view.files if f["hash"] not in cache["files"]]
    calls, hashes = [], []
    for f in missing:
        try:
            text = sandbox.read_text(f["path"])[0][:SUMMARY_CHARS]
        except (OSError, SandboxError):
            continue
        prompt = (f"Summarise the source file `{f['path']}` in at most two sentences: what it is for and its "
                  f"main definitions. Reply with the summary only.\n\n```{f['language']}\n{text}\n```")
        calls.append(Call(choice.spec, AiexRequest.ask(prompt, model=choice.model, max_tokens=120, temperature=0)))
        hashes.append(f["hash"])
    if calls:
        with status(f"Summarising {len(calls)} files with {choice.id}…", enabled=progress):
            answers = complete_many(calls, settings=settings, cluster=cluster, runtime=runtime,
                                    return_exceptions=True)
        failed = [a for a in answers if isinstance(a, AiexError)]
        for h, a in zip(hashes, answers):
            if not isinstance(a, AiexError):
                cache["files"][h] = " ".join(a.text.split())
        if failed and len(failed) == len(answers):
            raise failed[0]
    # reduce: one overview from the file summaries (redone only when they changed)
    lines = [f"{f['path']}: {cache['files'][f['hash']]}" for f in view.files if f["hash"] in cache["files"]]
    key = hashlib.blake2b("\n".join(lines).encode(), digest_size=16).hexdigest()
    if lines and (cache.get("project") or {}).get("key") != key:
        prompt = ("Here are one-line summaries of the files of a software project. Write a short overview "
                  "(at most five sentences) of what the project does and how it is organised.\n\n"
                  + "\n".join(lines)[:SUMMARY_CHARS * 2])
        overview = complete_many([Call(choice.spec, AiexRequest.ask(prompt, model=choice.model, max_tokens=300,
                                                                    temperature=0))],
                                 settings=settings, cluster=False)[0]
        cache["project"] = {"key": key, "text": " ".join(overview.text.split())}
    live = {f["hash"] for f in view.files}
    cache["files"] = {h: s for h, s in cache["files"].items() if h in live}
    _save_summaries(store, cache)
    return cache
