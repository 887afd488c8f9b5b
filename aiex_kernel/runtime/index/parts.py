"""Index builds that scale: workers write their own segments; the client only merges the manifest.

A cold build of a large repository used to funnel everything through the client: it
read every file, shipped the bytes to the workers, got every chunk and posting array
back, merged them and wrote one segment, serially. Now each batch is one task that
indexes its files **and writes them as a segment of its own** into the index store;
the task returns only what the manifest needs (:class:`PartWritten`: the segment id,
and each file's path, hash and size). So the client's memory holds file names and
hashes, never chunks or arrays, whatever the size of the repository.

How a task gets its files, and whether it may write (:func:`part_mode`):

* ``"paths"``: every worker runs on this machine (a local or shared cluster), so a
  worker reads the files itself, through its own :class:`~aiex_kernel.runtime.sandbox.Sandbox`
  with the same rules (root, secrets, size limit); the client sends paths only;
* ``"bytes"``: workers elsewhere, an index store they can reach (an fsspec URL such as
  ``s3://``): the client reads and sends the bytes, the workers write;
* ``None``: workers elsewhere and a local index path they cannot see, or embeddings
  to compute (the client calls the embedding model): the batches come back to the
  client and are written by it, as before.

A task that dies with its worker is run again by Dask and rewrites the same segment
id; segments that no manifest names (a killed build's) are deleted by the next build.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field

__all__ = ["PartWritten", "index_part", "part_mode"]


@dataclass
class PartWritten:
    segment: str
    files: list[dict] = field(default_factory=list)  #: {"path", "hash", "size"} in the segment's order
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
    return PartWritten(segment, [{"path": f["path"], "hash": f["hash"], "size": f["size"]} for f in batch.files],
                       skipped, len(batch.lines))


def _this_host() -> set[str]:
    names = {"127.0.0.1", "localhost", "::1", socket.gethostname()}
    try:
        names.update(socket.gethostbyname_ex(socket.gethostname())[2])
    except OSError:
        pass
    return names


def part_mode(client, store, settings) -> str | None:
    """``"paths"``, ``"bytes"`` or None (see the module docstring)."""
    if settings.embedding_model:
        return None
    workers = client.scheduler_info(n_workers=-1)["workers"].values()
    hosts = {w.get("host") or "" for w in workers}
    if hosts and hosts <= _this_host():
        return "paths"
    return None if store.local else "bytes"
