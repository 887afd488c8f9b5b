"""Index builds that scale: workers write their own segments; the client only merges the manifest.

A cold build of a large repository used to funnel everything through the client: it
read every file, shipped the bytes to the workers, got every chunk and posting array
back, merged them and wrote one segment, serially. Now each batch is one task that
indexes its files **and writes them as a segment of its own** into the index store;
the task returns only what the manifest needs (:class:`PartWritten`: the segment id,
and each file's path, hash and size). So the client's memory holds file names and
hashes, never chunks or arrays, whatever the size of the repository.

How a task gets its files, and whether it may write (:func:`part_mode`):

* ``"paths"``: every worker sees this machine's project root and index directory (a
  local or shared cluster: same host name, device and inode), so a worker reads the
  files itself, through its own :class:`~aiex_kernel.runtime.sandbox.Sandbox`
  with the same rules (root, secrets, size limit); the client sends paths only;
* ``"bytes"``: workers elsewhere, an index store they can reach (an fsspec URL such as
  ``s3://``): the client reads and sends the bytes, the workers write;
* ``None``: workers elsewhere and a local index path they cannot see, or embeddings
  to compute (the client calls the embedding model): the batches come back to the
  client and are written by it, as before.

In the third case, and in a build in this process, the batches are not merged into
one either: a :class:`SegmentWriter` writes them out as segments of about
``SEGMENT_CHUNKS`` chunks as they arrive, so the client holds one segment's worth.

Merging segments (:mod:`aiex_kernel.core.merge_policy` says which) is a task too,
:func:`merge_part`: it reads a group's live files and writes them as one segment, on a
worker when the workers could write this build's segments, else here, one group at a
time.

A task that dies with its worker is run again by Dask and writes a segment under a new
id; segments that no manifest names (a killed build's) are deleted by the next build.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...core.indexing import IndexedBatch
from .store import ARRAY_NAMES

__all__ = ["PartWritten", "SegmentWriter", "index_part", "merge_batches", "merge_part", "part_mode", "written_by"]


@dataclass
class PartWritten:
    segment: str
    files: list[dict] = field(default_factory=list)  #: {"path", "hash", "size", "n_chunks"} in the segment's order
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (path, reason), read on the worker
    chunks: int = 0


def index_part(items, location: str, segment: str, sandbox_spec: dict | None = None) -> PartWritten:
    """On a worker: index ``items`` (``(path, bytes)``, or paths to read through a sandbox built from
    ``sandbox_spec``) and write them as segment ``segment`` of the store at ``location``."""
    from ...core.indexing import index_batch
    from .store import IndexStore

    skipped: list[tuple[str, str]] = []
    if sandbox_spec is not None:
        from ..file_batches import read_batch
        from ..sandbox import Sandbox

        sandbox = Sandbox(sandbox_spec["root"], allow_secrets=sandbox_spec["allow_secrets"],
                          max_file_bytes=sandbox_spec["max_file_bytes"])
        preread = dict(i for i in items if isinstance(i, tuple))
        names = [i for i in items if not isinstance(i, tuple)]
        items = list(preread.items()) + read_batch(sandbox, names, skipped)
    batch = index_batch(list(items))
    IndexStore(location).write_segment(segment, batch.files, batch.lines, batch.arrays)
    return _written(segment, batch, skipped)


def _written(segment: str, batch, skipped=()) -> PartWritten:
    return PartWritten(segment, [{"path": f["path"], "hash": f["hash"], "size": f["size"], "n_chunks": f["n_chunks"]}
                                 for f in batch.files], list(skipped), len(batch.lines))


def merge_batches(batches: Sequence[IndexedBatch]) -> IndexedBatch:
    """One batch from several: file and chunk numbers shifted into one sequence."""
    out = IndexedBatch()
    parts: dict[str, list[np.ndarray]] = {name: [] for name in ARRAY_NAMES}
    n_files = n_chunks = 0
    for b in batches:
        out.files.extend(b.files)
        out.lines.extend(b.lines)
        for name in ARRAY_NAMES:
            a = b.arrays[name]
            if name == "chunk_file":
                a = a + n_files
            elif name == "post_chunk":
                a = a + n_chunks
            parts[name].append(a)
        n_files += len(b.files)
        n_chunks += len(b.lines)
    out.arrays = {name: (np.concatenate(v) if v else np.zeros(0, dtype=np.int32)) for name, v in parts.items()}
    return out


def merge_part(location: str, group: list[str], files: dict[str, list]) -> PartWritten:
    """The live files of the segments in ``group`` (``files``: their manifest entries) rewritten as one new
    segment of the store at ``location``; nothing is re-chunked."""
    from .store import IndexStore
    from .view import load_segments

    store = IndexStore(location)
    view = load_segments(store, group, files)
    batch = view.as_batch(store)
    segment = store.new_segment_id()
    store.write_segment(segment, batch.files, batch.lines, batch.arrays,
                        view.embedding_model if "embeddings" in batch.arrays else None)
    return _written(segment, batch)


class SegmentWriter:
    """Indexed batches written out as segments of about ``target`` chunks as they arrive (this process)."""

    def __init__(self, store, target: int) -> None:
        self.store = store
        self.target = max(1, target)
        self.parts: list[PartWritten] = []
        self._pending: list = []
        self._chunks = 0

    def add(self, batch) -> None:
        """One batch (an ``IndexedBatch``); a segment is written once ``target`` chunks are waiting."""
        if not batch.files:
            return
        self._pending.append(batch)
        self._chunks += len(batch.lines)
        if self._chunks >= self.target:
            self.flush()

    def flush(self) -> None:
        if not self._pending:
            return
        batch = merge_batches(sorted(self._pending, key=lambda b: b.files[0]["path"]))
        segment = self.store.new_segment_id()
        self.store.write_segment(segment, batch.files, batch.lines, batch.arrays)
        self.parts.append(_written(segment, batch))
        self._pending, self._chunks = [], 0


def _identity(*paths: str) -> tuple:
    """What a process sees at ``paths``: (device, inode) of each, or None where it sees nothing."""
    out = []
    for path in paths:
        try:
            st = os.stat(path)
            out.append((st.st_dev, st.st_ino))
        except OSError:
            out.append(None)
    return (socket.gethostname(), *out)


def written_by(mode: str) -> str:
    """A build report's ``written_by`` for segments the workers wrote in ``mode`` (see :func:`part_mode`)."""
    return "workers (they read the files)" if mode == "paths" else "workers"


def part_mode(client, store, settings, root: str) -> str | None:
    """``"paths"``, ``"bytes"`` or None (see the module docstring). Workers count as on this machine when they
    see the same project root and index directory (same host, device and inode) as this process."""
    if settings.embedding_model:
        return None
    if store.local:
        os.makedirs(store.path, exist_ok=True)
        probe = (root, store.path)
        mine = _identity(*probe)
        try:
            theirs = client.run(_identity, *probe)
        except Exception:  # noqa: BLE001 - a worker that cannot answer: send bytes and merge here, as before
            return None
        return "paths" if theirs and all(v == mine for v in theirs.values()) else None
    return "bytes"
