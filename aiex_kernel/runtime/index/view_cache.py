"""What a loaded index costs to compute, kept next to it per index version: the live view and the file graph.

Loading the index from its segments means opening every segment's zarr arrays and
renumbering the live chunks and postings; a fresh ``aiex show context`` process spends
most of its time there (and importing zarr). So the first process that loads a version
writes the result as one plain ``.npz`` (no compression; numpy reads it back in one
pass), with each term's document frequency (for the ranking's feedback step) and a
small JSON sidecar, under ``<index>/views/<stamp>.npz``, and later processes read that
instead. The file graph and its PageRank go the same way, under
``<index>/graph/<stamp>.npz``.

Each file is written to a temporary name and renamed, so a reader sees a whole file
or none; a file of another version is removed when a new one is written, and one
that does not match its manifest (another aiex wrote it, or it is damaged) is ignored
and rewritten. The view cache is kept for local indexes only (it doubles the arrays'
disk use, which a remote store would pay in uploads); the graph for every store.
"""

from __future__ import annotations

import io
import os
import uuid
import zipfile

import numpy as np
import orjson

__all__ = ["load_view", "save_view", "load_graph", "save_graph", "stamp_of"]

#: bump when what a view file holds changes
VIEW_FORMAT = 1


def stamp_of(manifest: dict) -> str:
    """The version of the index a manifest describes, as a file name."""
    return str(manifest.get("written_at", "none")).replace(".", "_")


def _write_atomically(store, folder: str, name: str, data: bytes) -> None:
    """``data`` as ``<folder>/<name>``, after removing the folder's other files (older versions)."""
    fs = store.fs
    base = store.path_of(folder)
    if fs.exists(base):
        for entry in fs.ls(base, detail=False):
            if entry.rstrip("/").rsplit("/", 1)[-1] != name:
                fs.rm(entry, recursive=True)
    fs.makedirs(base, exist_ok=True)
    final = store.path_of(folder, name)
    if store.local:
        tmp = store.path_of(folder, f".{uuid.uuid4().hex}.tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
        os.replace(tmp, final)
    else:
        with fs.open(final, "wb") as fh:
            fh.write(data)


def _npz(arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, __meta__=np.frombuffer(orjson.dumps(meta), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def _read_npz(store, path: str) -> tuple[dict, dict[str, np.ndarray]] | None:
    try:
        with store.fs.open(path, "rb") as fh:
            data = fh.read()
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
        meta = orjson.loads(arrays.pop("__meta__").tobytes())
    except (FileNotFoundError, OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # absent, half-removed by another process, or damaged: computed again
    return meta, arrays


# -- the view -------------------------------------------------------------------------------------

def save_view(view) -> None:
    """Keep ``view`` (just loaded from its segments) for the next process; best effort."""
    if not view.store.local or "written_at" not in view.manifest:
        return
    arrays = {f"a_{name}": values for name, values in view.arrays.items()}
    arrays["chunk_segment"] = view.chunk_segment
    arrays["chunk_local"] = view.chunk_local
    for i, seg in enumerate(view.segments):
        arrays[f"offsets_{i}"] = seg.record_offset
    arrays["df_terms"], arrays["df_counts"] = view.term_df()  # the feedback step's document frequencies
    meta = {"format": VIEW_FORMAT, "stamp": stamp_of(view.manifest), "files": view.files,
            "segments": [seg.id for seg in view.segments], "embedding_model": view.embedding_model}
    try:
        _write_atomically(view.store, "views", f"{stamp_of(view.manifest)}.npz", _npz(arrays, meta))
    except OSError:
        pass  # a read-only index still works: the next process loads the segments again


def load_view(store, manifest: dict):
    """The view of ``manifest``'s version kept by an earlier process, or ``None``."""
    from .store import Segment
    from .view import IndexView

    if not store.local or "written_at" not in manifest:
        return None
    read = _read_npz(store, store.path_of("views", f"{stamp_of(manifest)}.npz"))
    if read is None:
        return None
    meta, arrays = read
    if (meta.get("format") != VIEW_FORMAT or meta.get("stamp") != stamp_of(manifest)
            or meta.get("segments") != list(manifest["segments"]) or len(meta["files"]) > len(manifest["files"])):
        return None
    segments = [Segment(seg_id, [], {}, arrays[f"offsets_{i}"]) for i, seg_id in enumerate(meta["segments"])]
    return IndexView(store=store, manifest=manifest, files=meta["files"],
                     arrays={name[2:]: values for name, values in arrays.items() if name.startswith("a_")},
                     chunk_segment=arrays["chunk_segment"], chunk_local=arrays["chunk_local"], segments=segments,
                     embedding_model=meta.get("embedding_model"),
                     # absent from a view an older aiex kept: computed on first use then
                     _term_df=(arrays["df_terms"], arrays["df_counts"]) if "df_counts" in arrays else None)


# -- the file graph -------------------------------------------------------------------------------

def save_graph(store, manifest: dict, graph, rank: np.ndarray) -> None:
    arrays = {"src": graph.src, "dst": graph.dst, "weight": graph.weight, "pagerank": rank}
    try:
        _write_atomically(store, "graph", f"{stamp_of(manifest)}.npz",
                          _npz(arrays, {"stamp": stamp_of(manifest), "n": graph.n}))
    except OSError:
        pass  # a read-only index still works, it just recomputes


def load_graph(store, manifest: dict, n_files: int):
    """``(graph, global PageRank)`` of ``manifest``'s version, or ``None``."""
    from ...core.graph import FileGraph

    read = _read_npz(store, store.path_of("graph", f"{stamp_of(manifest)}.npz"))
    if read is None:
        return None
    meta, a = read
    src, dst = a["src"], a["dst"]
    if meta.get("n") != n_files or len(a["pagerank"]) != n_files or (len(src) and max(src.max(), dst.max()) >= n_files):
        return None
    graph = FileGraph(n_files, src, dst, a["weight"])
    return (graph if graph.is_canonical() else graph.canonical()), a["pagerank"]
