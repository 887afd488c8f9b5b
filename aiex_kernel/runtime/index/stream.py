"""New files sent to the workers while the scan still walks the tree.

A cold build used to scan the whole project before the first batch left the client, so
on a large tree the workers idled through the walk (a few seconds on a corpus ten
times the standard library). :class:`ScanStream` is handed every file the scan finds
(``Sandbox.scan(on_file=...)``); a file the manifest does not know is new, and once a
batch of about ``STREAM_BYTES`` of them has gathered, it is submitted as a task that
indexes it and writes its segment on the worker (:mod:`.parts`), while the scan goes
on. What is left when the scan ends (and the changed files, which are read and
hashed first) is cut into balanced batches as before, two per worker thread when
batches went out during the scan (``TAIL_PER_THREAD``), so the last tasks are small
and no worker waits long on another.

Streaming starts only where a cluster build would happen anyway: a cluster that is
up (or ``--cluster always``), or new files past the ``inline_bytes`` setting, and
workers that can write the index themselves (:func:`.parts.part_mode`). Otherwise
(no cluster, embeddings to compute, workers elsewhere with a local index) nothing is
submitted during the scan and the build goes as before.
"""

from __future__ import annotations

from ...core.batching import batch_count, plan_batches
from ..file_batches import ClusterBatches, tiny_job, use_cluster

__all__ = ["STREAM_BYTES", "ScanStream"]

#: bytes of new files in one batch submitted during the scan (the planner's own batch size)
STREAM_BYTES = 2 * 1024 * 1024
#: files in one such batch at least (each task costs the scheduler ~2 ms)
STREAM_MIN_FILES = 10
#: batches per worker thread for what the scan leaves once batches went out during it: the workers have a
#: queue already, so the rest only evens out where they finish, and each task costs its fixed part (a
#: segment written, a round trip): two a thread rather than the planner's eight took 1.5-2.6% off a cold
#: 2-worker build of the standard library (10 tail batches -> 4; medians of 13 builds on fresh clusters)
TAIL_PER_THREAD = 2


class ScanStream:
    """Submit batches of new files as the scan finds them; :meth:`finish` adds the rest and gathers it all."""

    def __init__(self, sandbox, store, settings, *, cluster: str, runtime, task) -> None:
        self.sandbox, self.store, self.settings, self.runtime = sandbox, store, settings, runtime
        self.cluster, self.task = cluster, task
        self.known: dict = {}  #: the manifest's files (set before the scan): the others are new
        self.enabled = cluster != "never" and not settings.embedding_model
        self._up = self.enabled and use_cluster(cluster, 0, settings)  # a cluster is there, or asked for
        self.pending: list[str] = []
        self.pending_bytes = 0
        self.new_bytes = 0
        self.submitted: set[str] = set()
        self.batches: ClusterBatches | None = None
        self.mode: str | None = None
        self.during_scan = 0  #: batches submitted before the scan ended

    @property
    def started(self) -> bool:
        return self.batches is not None

    def found(self, entry) -> None:
        """One file of the scan (called by the sandbox as it is found)."""
        if not self.enabled or entry.relpath in self.known:
            return
        self.pending.append(entry.relpath)
        self.pending_bytes += entry.size
        self.new_bytes += entry.size
        if self.batches is None:
            big = self.cluster == "auto" and self.new_bytes >= self.settings.inline_bytes
            if not (self._up or big) or tiny_job(self.cluster, self.new_bytes, self.settings):
                return
            if not self._start():
                self.enabled = False
                self.pending.clear()
                return
        if self.pending_bytes >= STREAM_BYTES and len(self.pending) >= STREAM_MIN_FILES:
            self._submit(self.pending)
            self.during_scan += 1
            self.pending, self.pending_bytes = [], 0

    def prepare_cold(self) -> None:
        """A build with no index yet is likely to end on a local cluster: the server its workers fork from
        starts now, so its imports run while this process scans (:mod:`..worker_fork`; nothing when the build
        stays here or goes to a scheduler that is set or shared)."""
        if self.enabled:  # (never with --cluster never)
            from ..cluster import prestart_local_workers

            prestart_local_workers(self.settings, self.runtime)

    def _start(self) -> bool:
        from .parts import part_mode

        runtime = self.runtime
        if runtime is None:
            from ..cluster import get_runtime

            runtime = self.runtime = get_runtime(self.settings)
        client = runtime.usable_client()  # None: degraded (the build runs here after the scan)
        if client is None:
            return False
        self.mode = part_mode(client, self.store, self.settings, str(self.sandbox.root))
        if self.mode is None:  # the workers cannot write this index: the batches come back, after the scan
            return False
        spec = {"root": str(self.sandbox.root), "allow_secrets": list(self.sandbox.allow_secrets),
                "max_file_bytes": self.sandbox.max_file_bytes} if self.mode == "paths" else None
        self.batches = ClusterBatches(client, self.sandbox, self.task, self.store.location, spec,
                                      send_paths=self.mode == "paths")
        return True

    def _submit(self, names: list[str]) -> None:
        self.batches.submit(names)
        self.submitted.update(names)

    def finish(self, rest: dict[str, int], preread: dict[str, bytes], *, progress: bool) -> tuple[list, list]:
        """Submit ``rest`` (path -> size: what the scan left, and the changed files) in balanced batches, then
        gather every batch under one progress bar: (the segments the workers wrote, the files they or this
        process could not read, with why)."""
        from ..progress import progress_bar

        batches = self.batches
        batches.preread = preread
        sizes = sorted(rest.items())
        slots = max(1, sum(batches.client.nthreads().values()))
        tail = {"per_thread": TAIL_PER_THREAD} if self.during_scan else {}  # else the rest is the whole job
        for names in plan_batches(sizes, batch_count(len(sizes), sum(s for _, s in sizes), slots, **tail)):
            self._submit(names)
        parts: list = []
        with progress_bar(len(self.submitted), "Indexing", enabled=progress) as bar:
            batches.gather(parts.append, bar)
        return parts, list(batches.run.skipped) + [s for part in parts for s in part.skipped]

    def cancel(self) -> None:
        if self.batches is not None:
            self.batches.cancel()
