"""Build the context index of a project, incrementally.

A file whose size and modification time match the manifest is not read; one that
differs is read and hashed, and re-indexed only if its content changed. Changed
and new files go into a new segment (chunking and term counting run as cluster
tasks for large jobs, and there each task writes its batch as a segment of its
own, :mod:`.parts`: the client merges only the manifest; in this process, batches are
written out as segments of about ``SEGMENT_CHUNKS`` chunks as they arrive); deleted
files drop out of the manifest. When loose segments pile up (small ones, or mostly
dead ones: :mod:`aiex_kernel.core.merge_policy`) they are merged, a group of at most
``SEGMENT_CHUNKS`` live chunks at a time (on the workers when they wrote this build's
segments), without re-chunking anything, so no step of a build holds the whole index
in memory.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...core import merge_policy
from ...core.gc_pause import paused_gc, resumed_gc
from ...core.batching import batch_count, plan_batches
from ...core.indexing import IndexedBatch, content_hash, index_batch
from ...core.merge_policy import SegmentStat, merge_groups
from ...errors import IndexBusy, IndexNotWritable, SchemaMismatch
from ..file_batches import read_batch, run_file_batches, tiny_job, use_cluster
from ..file_watch import project_scan
from ..sandbox import Sandbox
from ..scan_cache import ScanCache, scan_cache_path
from .parts import merge_batches, written_by
from .stream import ScanStream
from .store import IndexStore

__all__ = ["BuildReport", "build_index", "index_location"]


def index_location(root: Path, settings) -> str:
    """The index of the project at ``root``: the ``index_path`` setting, else ``<root>/.aiex/index``."""
    configured = getattr(settings, "index_path", None)
    if configured:
        return str(configured)
    return str(Path(root) / ".aiex" / "index")


@dataclass
class BuildReport:
    root: str
    location: str
    files: int = 0
    chunks: int = 0
    added: int = 0
    changed: int = 0
    deleted: int = 0
    unchanged: int = 0
    skipped: Counter = field(default_factory=Counter)
    segments: int = 0
    compacted: bool = False
    rebuilt: str | None = None  #: why the whole index was rebuilt, if it was
    where: str = "in-process"
    #: who wrote the new segments: "client" (this process), or "workers" (one per batch, files read there too
    #: when ``paths``): see .parts
    written_by: str = "client"
    seconds: float = 0.0
    #: batches of new files submitted to the workers while the scan was still walking (:mod:`.stream`)
    streamed: int = 0
    #: whether the scan came from the file watcher's changes instead of statting every file (:mod:`..file_watch`)
    watched: bool = False

    @property
    def workers_wrote(self) -> bool:
        """Whether the workers wrote this build's segments (so they can write merged ones too)."""
        return self.written_by.startswith("workers")

    @property
    def up_to_date(self) -> bool:
        return not (self.added or self.changed or self.deleted)

    def to_dict(self) -> dict:
        from dataclasses import asdict

        d = asdict(self)
        d["skipped"] = dict(self.skipped)
        d["up_to_date"] = self.up_to_date
        return d


class _BuildLock:
    """One build at a time per local index (a pid file; a dead owner's lock is taken over)."""

    def __init__(self, store: IndexStore) -> None:
        self.path = Path(store.path) / "build.lock" if store.local else None

    def __enter__(self):
        if self.path is None:
            return self
        import psutil

        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self._owner()
                if owner and psutil.pid_exists(owner):
                    raise IndexBusy(f"Another aiex build of this index is running (pid {owner}); wait for it, "
                                    f"or remove {self.path} if it is not.") from None
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return self
        raise IndexBusy(f"Cannot lock {self.path}; remove it if no build is running.")

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or 0)
        except (OSError, ValueError):
            return None

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)


def scope_test(scopes: Sequence[str]):
    """A test: is a path under one of ``scopes`` (paths relative to the root)?"""
    roots = {s.strip("/") for s in scopes}
    if roots & {".", ""}:
        return lambda path: True

    def inside(path: str) -> bool:
        while True:
            if path in roots:
                return True
            cut = path.rfind("/")
            if cut < 0:
                return False
            path = path[:cut]

    return inside


def build_index(sandbox: Sandbox, *, settings, paths: Sequence[str] = (".",), cluster: str = "auto",
                progress: bool = True, runtime=None, rebuild: bool = False,
                store: IndexStore | None = None) -> BuildReport:
    """Bring the index of ``sandbox.root`` up to date with the files under ``paths``."""
    started = time.perf_counter()
    store = store or IndexStore(index_location(sandbox.root, settings))
    report = BuildReport(root=str(sandbox.root), location=store.location)
    scope_paths = list(paths)
    for p in scope_paths:  # before anything is written: a typo must not leave an index behind
        if not sandbox.resolve(p).exists():
            from ...errors import PathNotFound

            raise PathNotFound(f"{p} does not exist under the project root {sandbox.root}.")
    # the manifest and the scan are tens of thousands of entries: collector passes over them cost a warm
    # rebuild of a 30,000-file project 10-15%, so there are none until they are freed (collection resumes
    # while the build waits on workers or a provider)
    with paused_gc():
        # new files go to the workers while the scan still walks (:mod:`.stream`)
        stream = ScanStream(sandbox, store, settings, cluster=cluster, runtime=runtime, task=_part_task)
        try:
            with _BuildLock(store):
                _build(store, sandbox, settings, scope_paths, cluster, progress, runtime, rebuild, report, stream)
        except OSError as exc:
            raise IndexNotWritable(f"Cannot write the index at {store.location}: {exc.strerror or exc}. Check "
                                   "the `index_path` setting and the permissions there.") from None
        finally:
            stream.cancel()  # an error or Ctrl-C: no batch is left running (after a normal end, none is)
            del stream  # it holds the old manifest's files: freed here, before the collector is back
    report.seconds = time.perf_counter() - started
    _record_build(settings, report)
    return report


def _record_build(settings, report: BuildReport) -> None:
    """An ``IndexBuilt`` event in the log (best effort: a build never fails for its record)."""
    from ...core.events import IndexBuilt
    from ...errors import EventLogError
    from ..events import event_log

    try:
        event_log(settings.data_dir).append(IndexBuilt(
            "", time.time(), root=report.root, indexed=report.added + report.changed, reused=report.unchanged,
            deleted=report.deleted, where=report.where, seconds=round(report.seconds, 4)))
    except EventLogError:
        pass


def _build(store: IndexStore, sandbox: Sandbox, settings, paths, cluster, progress, runtime, rebuild,
           report: BuildReport, stream: ScanStream) -> None:
    manifest = None
    if rebuild:
        report.rebuilt = "asked (--rebuild)"
    else:
        try:
            manifest = store.read_manifest()
        except SchemaMismatch as exc:
            report.rebuilt = f"{exc} Rebuilding it."
        if manifest is not None and manifest.get("embedding_model") != settings.embedding_model:
            report.rebuilt = (f"the embedding model changed ({manifest.get('embedding_model') or 'none'} -> "
                              f"{settings.embedding_model or 'none'}); rebuilding the index.")
            manifest = None
    old_files: dict[str, list] = dict(manifest["files"]) if manifest else {}
    old_segments: list[str] = list(manifest["segments"]) if manifest else []
    #: the build that wrote each segment: a cluster build writes one segment per batch, and counts once
    generations: dict[str, int] = {s: (manifest.get("generations") or {}).get(s, i + 1)
                                   for i, s in enumerate(old_segments)} if manifest else {}
    generation = max(generations.values(), default=0) + 1
    #: chunks per file of each segment, in its files' order (kept in the manifest: no files.json read per build)
    chunk_counts: dict[str, list[int]] = dict(manifest.get("segment_chunks") or {}) if manifest else {}

    scopes = [sandbox.relpath(p) if os.path.isabs(str(p)) else str(p) for p in paths]
    scan_cache = None
    stream.known = old_files  # what the scan finds beyond these is new: it may go to the workers at once
    if not old_files:
        stream.prepare_cold()

    def full_scan():
        nonlocal scan_cache
        scan_cache = _scan_cache(store, fresh=rebuild)
        return sandbox.scan(list(paths), cache=scan_cache, on_file=stream.found)

    # a long-lived process asks its watcher which directories changed (:mod:`..file_watch`)
    scan, report.watched = project_scan(sandbox, paths, full_scan, fresh=rebuild, allowed=settings.watch_files)
    report.skipped.update(scan.skipped)
    seen = {f.relpath for f in scan.files}
    in_scope = scope_test(scopes)
    files = {p: e for p, e in old_files.items() if p in seen or not in_scope(p)}
    report.deleted = len(old_files) - len(files)

    to_index: dict[str, int] = {}  # path -> size, for every file to (re)index
    preread: dict[str, bytes] = {}  # the changed files' bytes, read to compare hashes
    mtimes: dict[str, int] = {}
    skipped: list[tuple[str, str]] = []
    for entry in scan.files:
        old = files.get(entry.relpath)
        if old is None:  # new: read later, batch by batch, while workers already work
            to_index[entry.relpath] = entry.size
            mtimes[entry.relpath] = entry.mtime_ns
            continue
        if old[3] == entry.size and old[4] == entry.mtime_ns:
            report.unchanged += 1
            continue
        items = read_batch(sandbox, [entry.relpath], skipped)
        if not items:
            files.pop(entry.relpath, None)
            continue
        data = items[0][1]
        if old[2] == content_hash(data):
            files[entry.relpath] = [old[0], old[1], old[2], len(data), entry.mtime_ns]  # touched only
            report.unchanged += 1
            continue
        preread[entry.relpath] = data
        to_index[entry.relpath] = len(data)
        mtimes[entry.relpath] = entry.mtime_ns
        report.changed += 1

    segments = list(old_segments)  # those left without a live file are dropped below
    batch = None
    if stream.started or to_index:
        if stream.started:  # batches went to the workers during the scan: the rest joins them
            parts, unreadable = stream.finish({p: n for p, n in to_index.items() if p not in stream.submitted},
                                              preread, progress=progress)
            report.where, report.streamed = stream.batches.run.where, stream.during_scan
            report.written_by = written_by(stream.mode)
        else:
            batch, parts, unreadable = _index_files(sandbox, to_index, preread, settings=settings, cluster=cluster,
                                                    progress=progress, runtime=runtime, report=report, store=store)
        for path, reason in unreadable:
            skipped.append((path, reason))
            files.pop(path, None)
        if parts is not None:  # the workers wrote their segments; only the manifest is merged here
            _add_parts(parts, files, segments, chunk_counts, mtimes)
            report.added = sum(1 for p in parts for f in p.files if f["path"] not in preread)
        else:
            report.added = sum(1 for f in batch.files if f["path"] not in preread)
    if batch is not None and batch.files:
        if settings.embedding_model:
            with resumed_gc():  # the embedding provider's calls
                _embed(batch, sandbox, preread, settings, progress)
        new_segment = store.new_segment_id()
        for i, f in enumerate(batch.files):
            files[f["path"]] = [new_segment, i, f["hash"], f["size"], mtimes[f["path"]]]
        store.write_segment(new_segment, batch.files, batch.lines, batch.arrays, settings.embedding_model)
        segments.append(new_segment)
        chunk_counts[new_segment] = [f["n_chunks"] for f in batch.files]

    for _, reason in skipped:
        report.skipped[reason] += 1
    live_segments = {e[0] for e in files.values()}
    segments = [s for s in segments if s in live_segments]  # those whose files were all re-indexed just now
    generations = {s: generations.get(s, generation) for s in segments}
    counted = bool(manifest) and set(segments) <= set(manifest.get("segment_chunks") or ())
    chunk_counts = _segment_file_chunks(store, segments, chunk_counts)
    stats = _segment_stats(chunk_counts, files, generations)
    live = sum(s.live for s in stats)  # merging keeps exactly the live chunks
    # the module's limits read now, not bound at import (a test lowers them)
    groups = merge_groups(stats, target=merge_policy.SEGMENT_CHUNKS, max_loose=merge_policy.MAX_LOOSE)
    if groups:
        segments, files, generations = _compact(store, segments, files, generations, groups, chunk_counts,
                                                settings=settings, report=report, runtime=runtime, progress=progress)
        report.compacted = True

    changed = bool(report.added or report.changed or report.deleted or report.rebuilt or report.compacted
                   or files != old_files or manifest is None or not counted)
    if changed:
        store.write_manifest({"root": str(sandbox.root), "segments": segments, "files": files,
                              "generations": generations, "built_at": time.time(),
                              "segment_chunks": {seg: chunk_counts[seg] for seg in segments},
                              "embedding_model": settings.embedding_model})
    # under the lock, whatever no manifest names is a leftover (of a killed build, say)
    store.delete_unreferenced(set(segments))
    report.files = len(files)
    report.segments = len(segments)
    report.chunks = live
    if scan_cache is not None:  # after the manifest: a build that failed leaves the previous cache
        with contextlib.suppress(OSError):  # a cache, never a reason for a build to fail
            scan_cache.save(scan_cache_path(store.path))


def _add_parts(parts, files: dict, segments: list, chunk_counts: dict, mtimes: dict) -> None:
    """The segments the workers wrote, into the manifest's files, segments and chunk counts."""
    for part in sorted(parts, key=lambda p: p.files[0]["path"] if p.files else ""):
        if not part.files:
            continue
        for i, f in enumerate(part.files):
            files[f["path"]] = [part.segment, i, f["hash"], f["size"], mtimes[f["path"]]]
        segments.append(part.segment)
        chunk_counts[part.segment] = [f["n_chunks"] for f in part.files]


def _scan_cache(store: IndexStore, *, fresh: bool) -> ScanCache | None:
    """The scan cache kept next to a local index (:mod:`..scan_cache`); an empty one with ``fresh``; None for a
    remote index."""
    if not store.local:
        return None
    return ScanCache() if fresh else ScanCache.load(scan_cache_path(store.path))


def _index_files(sandbox: Sandbox, to_index: dict[str, int], preread: dict[str, bytes], *, settings,
                 cluster: str, progress: bool, runtime, report: BuildReport, store: IndexStore):
    """Index the files (on the cluster when the job is large, or a cluster is up and the job is not tiny:
    ``LOCAL_JOB_BYTES``): (one merged batch, None) in this process or when the workers cannot write the store,
    else (None, the segments the workers wrote (:mod:`.parts`)); and the files that could not be read."""
    sizes = sorted(to_index.items())
    total = sum(s for _, s in sizes)
    # a cluster that is up takes every job but a tiny one (a file or two changed): that goes faster here
    on_cluster = use_cluster(cluster, total, settings) and not tiny_job(cluster, total, settings)
    slots, mode = 1, None
    if on_cluster:
        if runtime is None:
            from ..cluster import get_runtime

            runtime = get_runtime(settings)
        client = runtime.usable_client()  # None: the scheduler stopped answering (degraded: index here)
        if client is None:
            on_cluster = False
        else:
            from .parts import part_mode

            slots = max(1, sum(client.nthreads().values()))
            mode = part_mode(client, store, settings, str(sandbox.root))
    batches = plan_batches(sizes, batch_count(len(sizes), total, slots))
    if mode is not None:
        spec = {"root": str(sandbox.root), "allow_secrets": list(sandbox.allow_secrets),
                "max_file_bytes": sandbox.max_file_bytes} if mode == "paths" else None
        run = run_file_batches(sandbox, batches, _part_task, store.location, spec, on_cluster=on_cluster,
                               settings=settings, progress=progress, description="Indexing", runtime=runtime,
                               preread=preread, send_paths=mode == "paths")
        report.where = run.where
        report.written_by = written_by(mode)
        unreadable = list(run.skipped) + [s for part in run.results for s in part.skipped]
        return None, run.results, unreadable
    if not settings.embedding_model:  # written as the batches arrive: memory holds one segment's worth
        from .parts import SegmentWriter

        writer = SegmentWriter(store, merge_policy.SEGMENT_CHUNKS)
        run = run_file_batches(sandbox, batches, index_batch, on_cluster=on_cluster, settings=settings,
                               progress=progress, description="Indexing", runtime=runtime, preread=preread,
                               collect=writer.add)
        writer.flush()
        report.where = run.where
        return None, writer.parts, run.skipped
    # the embedding model is called from here, for the whole batch
    run = run_file_batches(sandbox, batches, index_batch, on_cluster=on_cluster, settings=settings,
                           progress=progress, description="Indexing", runtime=runtime, preread=preread)
    report.where = run.where
    merged = merge_batches(sorted(run.results, key=lambda b: b.files[0]["path"] if b.files else ""))
    return merged, None, run.skipped


def _part_task(items, location, spec):
    """A batch on a worker: indexed and written as a segment of its own (a new id each time it runs)."""
    from .parts import index_part
    from .store import IndexStore

    return index_part(items, location, IndexStore.new_segment_id(), spec)


def _segment_file_chunks(store: IndexStore, segments: list[str], known: dict[str, list[int]]) -> dict[str, list[int]]:
    """Chunks per file of each segment: as the manifest knows them, else from the segment's files.json (an
    index written before the manifest kept them)."""
    import json

    out = {}
    for seg in segments:
        if seg in known:
            out[seg] = known[seg]
            continue
        with store.fs.open(store.path_of("segments", seg, "files.json"), "rb") as fh:
            out[seg] = [f["n_chunks"] for f in json.load(fh)]
    return out


def _segment_stats(counts: dict[str, list[int]], files: dict[str, list],
                   generations: dict[str, int]) -> list[SegmentStat]:
    """Live and total chunks of each segment in ``counts``."""
    live = dict.fromkeys(counts, 0)
    for e in files.values():
        if e[0] in counts:
            live[e[0]] += counts[e[0]][e[1]]
    return [SegmentStat(seg, live[seg], sum(c), generations.get(seg, 0)) for seg, c in counts.items()]


def _embed(batch: IndexedBatch, sandbox: Sandbox, preread: dict[str, bytes], settings, progress: bool) -> None:
    """Add the embeddings of the batch's chunks (``embedding_model`` setting)."""
    from ..progress import status
    from .enrich import chunk_texts, embed_texts, embedding_provider

    provider, model = embedding_provider(settings)
    sources = {f["path"]: preread.get(f["path"]) or sandbox.read_bytes(f["path"]) for f in batch.files}
    texts = chunk_texts(batch.records(), batch.files, sources, batch.arrays["chunk_file"])
    with status(f"Embedding {len(texts):,} chunks with {settings.embedding_model}…", enabled=progress):
        batch.arrays["embeddings"] = embed_texts(provider, model, texts)


def _compact(store: IndexStore, segments: list[str], files: dict[str, list], generations: dict[str, int],
             groups: list[list[str]], chunk_counts: dict[str, list[int]], *, settings, report: BuildReport, runtime,
             progress: bool):
    """Each group of segments rewritten as one (no re-chunking): on the workers when they wrote this build's
    segments (the groups at once), else here, one group at a time. Returns (segments, files, generations);
    ``chunk_counts`` gets the new segments'."""
    from .parts import merge_part

    group_of = {seg: i for i, group in enumerate(groups) for seg in group}
    subsets: list[dict[str, list]] = [{} for _ in groups]
    for path, entry in files.items():
        if entry[0] in group_of:
            subsets[group_of[entry[0]]][path] = entry
    parts = None
    if report.workers_wrote:
        parts = _merge_on_cluster(store, groups, subsets, settings, runtime)
    if parts is None:
        from ..progress import progress_bar

        parts = []
        with progress_bar(sum(len(s) for s in subsets), "Merging index segments", enabled=progress) as bar:
            for group, subset in zip(groups, subsets):
                parts.append(merge_part(store.location, group, subset))
                bar.advance(len(subset))
    merged = {s for group in groups for s in group}
    out_segments = [s for s in segments if s not in merged]
    out_generations = {s: generations[s] for s in out_segments}
    files = dict(files)
    for group, part in zip(groups, parts):
        for i, f in enumerate(part.files):
            files[f["path"]] = [part.segment, i, f["hash"], f["size"], files[f["path"]][4]]
        out_segments.append(part.segment)
        out_generations[part.segment] = max(generations[s] for s in group)
        chunk_counts[part.segment] = [f["n_chunks"] for f in part.files]
    return out_segments, files, out_generations


def _merge_on_cluster(store: IndexStore, groups, subsets, settings, runtime):
    """The merges as cluster tasks (None: no usable cluster; they run here then)."""
    from ...errors import ClusterError
    from ..cluster import get_runtime
    from ..deployment import resource_kwargs
    from .parts import merge_part

    client = (runtime or get_runtime(settings)).usable_client()
    if client is None:
        return None
    from distributed import KilledWorker

    futures = [client.submit(merge_part, store.location, group, subset, pure=False, **resource_kwargs(client, "cpu"))
               for group, subset in zip(groups, subsets)]
    try:
        with resumed_gc():
            return client.gather(futures)
    except KilledWorker as exc:
        raise ClusterError(f"Dask workers kept dying while merging index segments ({exc}); check their memory "
                           "limits, or run with --cluster never.") from None
    finally:
        for fut in futures:
            fut.release()
