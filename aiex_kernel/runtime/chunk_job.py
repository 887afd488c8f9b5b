"""Chunk a project on the Dask cluster.

The client scans and reads files through the sandbox, packs them into batches of
roughly equal bytes and submits one task per batch carrying the files' bytes, so
workers need no access to the user's disk (a remote cluster works). Results are
collected as they complete, with a progress bar. A worker that dies mid-run is
replaced and its batch rescheduled by Dask.

Small jobs run in this process when no cluster is up yet: starting worker
processes costs more than chunking a few files (``inline_bytes`` setting).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..core.batching import batch_count, plan_batches
from ..core.chunking import FileChunks, chunk_batch
from ..errors import ClusterError, FileTooLarge, PathNotFound, PathOutsideRoot, SandboxError, SecretFileRefused, UsageError
from .progress import progress_bar, status
from .sandbox import Sandbox, is_binary

__all__ = ["ChunkRun", "chunk_project", "CLUSTER_MODES"]

CLUSTER_MODES = ("auto", "always", "never")

_SKIP_REASONS = {
    FileTooLarge: "too large",
    SecretFileRefused: "secret",
    PathOutsideRoot: "outside root",
    PathNotFound: "unreadable",
}


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


def _use_cluster(mode: str, total_bytes: int, settings) -> bool:
    if mode not in CLUSTER_MODES:
        raise UsageError(f"--cluster must be one of {', '.join(CLUSTER_MODES)}, not {mode!r}.")
    if mode != "auto":
        return mode == "always"
    from .cluster import runtime_if_started
    from .shared_cluster import shared_address

    return bool(
        runtime_if_started()
        or settings.scheduler
        or shared_address(settings.data_dir)
        or total_bytes >= settings.inline_bytes
    )


def _read_batch(sandbox: Sandbox, names: list[str], run: ChunkRun) -> list[tuple[str, bytes]]:
    items = []
    for name in names:
        try:
            data = sandbox.read_bytes(name)
        except SandboxError as exc:
            reason = next((r for cls, r in _SKIP_REASONS.items() if isinstance(exc, cls)), "unreadable")
            run.skipped[reason] += 1
            run.skipped_paths.append((name, reason))
            continue
        except OSError:
            run.skipped["unreadable"] += 1
            run.skipped_paths.append((name, "unreadable"))
            continue
        if is_binary(data):
            run.skipped["binary"] += 1
            run.skipped_paths.append((name, "binary"))
            continue
        items.append((name, data))
    return items


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

    if _use_cluster(cluster, scan.total_bytes, settings):
        if runtime is None:
            from .cluster import get_runtime

            runtime = get_runtime(settings)
        if not runtime.started:
            with status("Connecting to the Dask cluster…", enabled=progress):
                runtime.client
        client = runtime.client
        batches = plan_batches(sizes, batch_count(len(sizes), scan.total_bytes, runtime.nthreads()))
        run.where = client.scheduler.address
        run.files = _on_cluster(client, sandbox, batches, run, complexity, progress)
    else:
        batches = plan_batches(sizes, batch_count(len(sizes), scan.total_bytes, 1))
        with progress_bar(len(sizes), "Chunking", enabled=progress) as bar:
            for names in batches:
                run.files.extend(chunk_batch(_read_batch(sandbox, names, run), complexity))
                bar.advance(len(names))
    run.batches = len(batches)
    run.files.sort(key=lambda f: f.path)
    run.seconds = time.perf_counter() - started
    return run


def _on_cluster(client, sandbox: Sandbox, batches: list[list[str]], run: ChunkRun, complexity: bool,
                progress: bool) -> list[FileChunks]:
    from distributed import KilledWorker, as_completed

    token = uuid.uuid4().hex[:12]
    total = sum(len(b) for b in batches)
    files: list[FileChunks] = []
    futures = []
    sizes = {}
    with progress_bar(total, "Chunking", enabled=progress) as bar:
        # Read and submit batch by batch: workers start while the client still reads.
        for i, names in enumerate(batches):
            items = _read_batch(sandbox, names, run)
            bar.advance(len(names) - len(items))
            if not items:
                continue
            fut = client.submit(chunk_batch, items, complexity, key=f"aiex-chunk-{token}-{i}", pure=False)
            sizes[fut.key] = len(items)
            futures.append(fut)
        try:
            for fut in as_completed(futures, loop=client.loop):
                try:
                    files.extend(fut.result())
                except KilledWorker as exc:
                    raise ClusterError(
                        f"Dask workers kept dying while chunking a batch ({exc}); check the workers' memory "
                        "limits and logs, or run with --cluster never."
                    ) from None
                bar.advance(sizes[fut.key])
                fut.release()
        finally:
            for fut in futures:
                fut.cancel()
    return files
