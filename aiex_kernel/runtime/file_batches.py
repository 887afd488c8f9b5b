"""Run a task over batches of a project's files, on the Dask cluster or in this process.

The client reads files through the sandbox and submits each batch with its bytes,
so workers need no access to the user's disk (a remote cluster works). Results are
collected as they complete, under a progress bar. A worker that dies mid-run is
replaced and its batch rescheduled by Dask. Small jobs run in this process when no
cluster is up yet: starting worker processes costs more than a few files
(``inline_bytes`` setting).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import (
    ClusterError,
    FileTooLarge,
    PathNotFound,
    PathOutsideRoot,
    SandboxError,
    SecretFileRefused,
    UsageError,
)
from ..core.gc_pause import resumed_gc
from .progress import progress_bar, status
from .sandbox import Sandbox, is_binary

__all__ = ["CLUSTER_MODES", "LOCAL_JOB_BYTES", "BatchRun", "ClusterBatches", "read_batch", "read_items",
           "run_file_batches", "tiny_job", "use_cluster"]

CLUSTER_MODES = ("auto", "always", "never")
#: an index job under this many bytes runs in the calling process under ``--cluster auto`` even when a cluster is
#: up: its round trip to a worker (about 65 ms a one-file rebuild of the scale corpus, 340 against 275 ms)
#: costs more than indexing it here (128 KiB of Python in about 28 ms)
LOCAL_JOB_BYTES = 128 * 1024

_SKIP_REASONS = {
    FileTooLarge: "too large",
    SecretFileRefused: "secret",
    PathOutsideRoot: "outside root",
    PathNotFound: "unreadable",
}


@dataclass
class BatchRun:
    """The results of every batch (in completion order), the files skipped on reading, and where it ran."""

    results: list[Any] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  #: (path, reason)
    where: str = "in-process"


def tiny_job(mode: str, total_bytes: int, settings) -> bool:
    """Whether an index job of ``total_bytes`` stays in this process under ``--cluster mode`` even with a cluster
    up: under ``LOCAL_JOB_BYTES``, and under ``inline_bytes`` (set lower, it sends smaller jobs out too)."""
    return mode == "auto" and total_bytes < min(LOCAL_JOB_BYTES, settings.inline_bytes)


def use_cluster(mode: str, total_bytes: int, settings) -> bool:
    """Whether a job of ``total_bytes`` runs on the cluster under ``--cluster mode``."""
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


def read_batch(sandbox: Sandbox, names: Sequence[str], skipped: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """``(path, bytes)`` of each readable text file; the others appended to ``skipped`` with a reason."""
    items = []
    for name in names:
        try:
            data = sandbox.read_bytes(name)
        except SandboxError as exc:
            skipped.append((name, next((r for cls, r in _SKIP_REASONS.items() if isinstance(exc, cls)), "unreadable")))
            continue
        except OSError:
            skipped.append((name, "unreadable"))
            continue
        if is_binary(data):
            skipped.append((name, "binary"))
            continue
        items.append((name, data))
    return items


def run_file_batches(sandbox: Sandbox, batches: Sequence[Sequence[str]], task: Callable[..., Any], *args: Any,
                     on_cluster: bool, settings, progress: bool, description: str, runtime=None,
                     preread: dict[str, bytes] | None = None, send_paths: bool = False,
                     collect: Callable[[Any], None] | None = None) -> BatchRun:
    """``task(items, *args)`` for each batch of paths; ``preread`` holds bytes already read (the others are
    read as their batch is submitted, so workers start while the client still reads). With ``send_paths``
    (workers on this machine that read the files themselves) a batch is its paths, plus ``(path, bytes)``
    for those in ``preread``. ``collect``: called with each result as it arrives, instead of keeping them
    all in ``results`` (so a caller that writes them out holds one at a time)."""
    run = BatchRun()
    keep = collect if collect is not None else run.results.append
    total = sum(len(b) for b in batches)
    client = None
    if on_cluster:
        if runtime is None:
            from .cluster import get_runtime

            runtime = get_runtime(settings)
        if not runtime.started and not runtime.degraded:
            with status("Connecting to the Dask cluster…", enabled=progress):
                _ = runtime.client
        client = runtime.usable_client()  # None: the scheduler stopped answering, so this process does the work
        on_cluster = client is not None
        if send_paths and not on_cluster:
            send_paths = False

    if not on_cluster:
        with progress_bar(total, description, enabled=progress) as bar:
            for names in batches:
                keep(task(read_items(sandbox, names, preread, False, run.skipped), *args))
                bar.advance(len(names))
        return run

    submitter = ClusterBatches(client, sandbox, task, *args, preread=preread, send_paths=send_paths, run=run)
    with progress_bar(total, description, enabled=progress) as bar:
        try:
            # read and submit batch by batch: workers start while the client still reads
            for names in batches:
                submitter.submit(names)
            submitter.gather(keep, bar)
        finally:
            submitter.cancel()
    _record_job(settings, description, run.where, total, submitter.seconds)
    return run


def read_items(sandbox: Sandbox, names: Sequence[str], preread: dict[str, bytes] | None, send_paths: bool,
               skipped: list[tuple[str, str]]) -> list:
    """What a batch's task gets: ``(path, bytes)`` of each readable file (``preread`` ones as they are), or,
    with ``send_paths`` (workers that read the files themselves), the paths, and ``(path, bytes)`` for those in
    ``preread``."""
    known = preread or {}
    if send_paths:
        return [(n, known[n]) if n in known else n for n in names]
    if not known:
        return read_batch(sandbox, names, skipped)
    return [(n, known[n]) for n in names if n in known] + read_batch(sandbox, [n for n in names if n not in known],
                                                                    skipped)


class ClusterBatches:
    """Batches submitted to the cluster one at a time, while the caller still reads or finds files, then
    gathered as they complete (``gather``); ``cancel`` drops whatever is left (an error, Ctrl-C)."""

    def __init__(self, client, sandbox: Sandbox, task: Callable[..., Any], *args: Any,
                 preread: dict[str, bytes] | None = None, send_paths: bool = False, run: BatchRun | None = None) -> None:
        import time

        from .deployment import resource_kwargs

        self.client, self.sandbox, self.task, self.args = client, sandbox, task, args
        self.preread, self.send_paths = preread, send_paths
        self.run = run if run is not None else BatchRun()
        self.run.where = client.scheduler.address
        self.futures: list = []
        self.sizes: dict[str, int] = {}
        self.files = 0  #: files submitted (read, or sent as paths)
        self.unreadable = 0  #: files dropped while reading them here
        self._token = uuid.uuid4().hex[:12]
        self._name = getattr(task, "__name__", "task").replace("_", "-")
        self._placement = resource_kwargs(client, "cpu")  # parsing goes to the workers that advertise cpu, if any
        self._started = time.time()

    @property
    def seconds(self) -> float:
        import time

        return time.time() - self._started

    def submit(self, names: Sequence[str]) -> None:
        items = read_items(self.sandbox, names, self.preread, self.send_paths, self.run.skipped)
        self.unreadable += len(names) - len(items)
        if not items:
            return
        fut = self.client.submit(self.task, items, *self.args, key=f"aiex-{self._name}-{self._token}-{len(self.futures)}",
                                 pure=False, **self._placement)
        self.sizes[fut.key] = len(items)
        self.files += len(items)
        self.futures.append(fut)

    def gather(self, keep: Callable[[Any], None], bar) -> None:
        """Each result to ``keep`` as it completes, ``bar`` advanced by its files."""
        from distributed import KilledWorker, as_completed

        bar.advance(self.unreadable)
        with resumed_gc():  # a build's bookkeeping pauses collection (``paused_gc``); not while it waits here
            for fut in as_completed(self.futures, loop=self.client.loop):
                try:
                    keep(fut.result())
                except KilledWorker as exc:
                    raise ClusterError(
                        f"Dask workers kept dying on a batch ({exc}); check the workers' memory limits and logs, "
                        "or run with --cluster never."
                    ) from None
                bar.advance(self.sizes[fut.key])
                fut.release()

    def cancel(self) -> None:
        for fut in self.futures:
            fut.cancel()


def _record_job(settings, description: str, where: str, items: int, seconds: float) -> None:
    """A ``ClusterJob`` event in the log (best effort: a job never fails for its record)."""
    import time

    from ..core.events import ClusterJob
    from ..errors import EventLogError
    from .events import event_log

    try:
        event_log(settings.data_dir).append(ClusterJob("", time.time(), job=description, where=where, items=items,
                                                       seconds=round(seconds, 3)))
    except EventLogError:
        pass
