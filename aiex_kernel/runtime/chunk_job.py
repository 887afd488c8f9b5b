"""Chunk a project on the Dask cluster (or in this process for small jobs).

Files are packed into batches of roughly equal bytes and each batch is one task
(``runtime/file_batches.py``: workers receive bytes, never paths).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.batching import batch_count, plan_batches
from ..core.chunking import FileChunks, chunk_batch
from .file_batches import CLUSTER_MODES, run_file_batches, use_cluster
from .sandbox import Sandbox

__all__ = ["CLUSTER_MODES", "ChunkRun", "chunk_project"]


@dataclass
class ChunkRun:
    """What chunking a set of paths produced."""

    root: str
    files: list[FileChunks]
    skipped: Counter = field(default_factory=Counter)
    skipped_paths: list[tuple[str, str]] = field(default_factory=list)
    where: str = "in-process"
    batches: int = 0
    seconds: float = 0.0

    @property
    def chunks(self):
        return [c for f in self.files for c in f.chunks]


def chunk_project(
    sandbox: Sandbox,
    paths: Sequence[str] = (".",),
    *,
    settings,
    depth: int | None = None,
    complexity: bool = False,
    cluster: str = "auto",
    progress: bool = True,
    runtime=None,
) -> ChunkRun:
    """Scan ``paths`` under the sandbox's root and chunk every source file found."""
    started = time.perf_counter()
    scan = sandbox.scan(list(paths), depth=depth)
    run = ChunkRun(root=str(sandbox.root), files=[], skipped=Counter(scan.skipped),
                   skipped_paths=list(scan.skipped_paths))
    sizes = [(f.relpath, f.size) for f in scan.files]
    if not sizes:
        run.seconds = time.perf_counter() - started
        return run
    on_cluster = use_cluster(cluster, scan.total_bytes, settings)
    if on_cluster:
        if runtime is None:
            from .cluster import get_runtime

            runtime = get_runtime(settings)
        slots = runtime.nthreads()
    else:
        slots = 1
    batches = plan_batches(sizes, batch_count(len(sizes), scan.total_bytes, slots))
    result = run_file_batches(sandbox, batches, chunk_batch, complexity, on_cluster=on_cluster, settings=settings,
                              progress=progress, description="Chunking", runtime=runtime)
    for batch in result.results:
        run.files.extend(batch)
    for path, reason in result.skipped:
        run.skipped[reason] += 1
        run.skipped_paths.append((path, reason))
    run.where = result.where
    run.batches = len(batches)
    run.files.sort(key=lambda f: f.path)
    run.seconds = time.perf_counter() - started
    return run
