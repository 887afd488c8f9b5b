"""Scans that ask the operating system what changed, in processes that live long enough to watch.

A scan stats every file of the project to learn which changed: about 0.25-0.35 s on a
repository of 30,000 files even when the directory listings come from the scan cache.
A kernel, a notebook with ``%aiex``, or ``aiex serve mcp`` lives for hours and
rebuilds the index before each question, so there it pays to be told instead:
:func:`project_scan` keeps, per project, a watcher (``watchfiles``: inotify, FSEvents
or ReadDirectoryChangesW) started before the first full scan, and the next scans
re-list only the directories with changes in them.

Correctness first. A scan that trusts the watcher must give what a full scan would:

* **a barrier**: before taking the changes, a new marker file under ``<root>/.aiex``
  (one name per barrier, so a late event of an older one never stands for it) is
  created and the watcher's thread is waited for until it has seen that, so every
  change made before the build is in hand (the OS reports them in order);
* every watch or none: a watcher that cannot add the watch of some directory (the
  inotify watch limit, a directory removed meanwhile, one it may not read) stops, and
  scans stay full; a scan interrupted halfway (Ctrl-C in a kernel) is never a base;
* only what can be redone locally: a changed file re-lists its directory (with the
  same sandbox rules: ignore files above it, secrets, sizes), a new or changed
  directory is scanned whole, a removed one drops every file under it;
* a full scan instead whenever that is not enough: an ignore file changed, the tree
  has symbolic links inside the root (a path may stand for another), more than
  ``MAX_CHANGES`` events (of any path but the index's own) piled up, the barrier was
  not seen within ``BARRIER_S``, the watcher stopped, or the last full scan is
  ``FULL_SCAN_S`` old. ``--rebuild``
  always scans. A project on a network or FUSE filesystem, whose changes made on
  other machines the OS never reports, is never watched (nor with ``watch_files``
  off).

A watcher starts in the background: the first build waits for it at most
``START_WAIT_S`` (a small tree's watcher is up in tens of milliseconds), then scans in
full without it. Only a full scan that began after the watcher was up is a base to
scan from changes, so on a very large tree the next build scans in full once more
and the ones after ask the watcher. A watcher not up within ``START_S``, or one that
stopped, leaves the scans full; a new one is tried after ``FULL_SCAN_S``. What the
OS drops without a word (an inotify queue overflow, which watchfiles does not pass
on, or a watch limit hit on a directory made later) is caught only as a burst of
events or by the ``FULL_SCAN_S`` full scan.

Processes opt in with :func:`enable` (the IPython extension and the MCP server do);
one-shot CLI commands never start a watcher. The skip counts of a watched scan are
those of the last full scan.
"""

from __future__ import annotations

import glob
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the sandbox is imported when a scan runs: enable() stays cheap
    from .sandbox import Sandbox, Scan

__all__ = ["enable", "project_scan", "stop_all", "TreeWatch"]

#: changes held before the watcher gives up on them (a checkout of a whole branch): then a full scan
MAX_CHANGES = 10_000
#: seconds a scan waits for the watcher to confirm it is up to date
BARRIER_S = 5.0
#: seconds a new watcher may take to start watching (a very large tree), else scans stay full
START_S = 10.0
#: seconds a build waits for a new watcher before it scans in full without it (the watcher starts on meanwhile)
START_WAIT_S = 0.5
#: directories re-listed at most in one scan from changes, else a full scan
MAX_DIRECTORIES = 64
#: seconds after which a scan is a full one again anyway (belt and braces: nothing the OS failed to say lasts)
FULL_SCAN_S = 600.0
#: filesystems whose changes made on other machines the OS never reports (and FUSE, which may not)
REMOTE_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "afs", "9p", "ceph", "glusterfs", "lustre",
                                "gpfs", "beegfs", "davfs", "sshfs"})
#: watchers kept at once in one process (the oldest is stopped)
MAX_WATCHES = 4

_enabled = False
_watches: dict[tuple, TreeWatch] = {}
_lock = threading.Lock()


def enable(on: bool = True) -> None:
    """Let this process watch the projects it indexes (a long-lived process: a kernel, a server)."""
    global _enabled
    _enabled = on
    if not on:
        stop_all()


def stop_all() -> None:
    with _lock:
        watches = list(_watches.values())
        _watches.clear()
    for watch in watches:
        watch.stop()


class TreeWatch:
    """The changes under ``root`` reported by the OS, from a thread of this process."""

    def __init__(self, root: Path) -> None:
        self.root = str(root)
        self.marker = os.path.join(self.root, ".aiex", f".watch-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        self._pending: set[str] = set()
        self._overflow = False
        self._events = 0  #: events since the last take, of every path but the index's own
        self._seen = 0  #: the last barrier number the thread saw
        self._sent = 0
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: str | None = None
        self.dead = False
        #: the files of the last scan (relative path -> FileEntry), and what it skipped
        self.files: dict = {}
        self.skipped = None
        self.skipped_paths: list = []
        self.scanned_at = 0.0  #: when the last full scan was remembered (time.monotonic())
        self.started_at = 0.0  #: when the watcher was started (time.monotonic())
        self.ready_at: float | None = None  #: when it was first seen to report changes
        #: whether the last full scan began after the watcher was up: only then can changes update it
        self.trusted = False

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, timeout: float | None = None, wait: float | None = None) -> bool:
        """Start watching; True once the watcher has shown it reports changes (the first barrier seen).

        ``timeout`` (default ``START_S``): how long it may take, else it is stopped. ``wait``: seconds to wait
        for it here (default: all of ``timeout``); past them a thread of its own goes on waiting.
        """
        timeout = START_S if timeout is None else timeout
        self.started_at = time.monotonic()
        try:
            os.makedirs(os.path.dirname(self.marker), exist_ok=True)
        except OSError as exc:
            self.error = f"cannot write {self.marker}: {exc.strerror or exc}"
            self.dead = True
            return False
        self._thread = threading.Thread(target=self._run, name=f"aiex-watch {self.root}", daemon=True)
        self._thread.start()
        deadline = self.started_at + timeout
        if self._until_ready(min(deadline, self.started_at + (timeout if wait is None else wait))):
            return True
        if wait is not None and wait < timeout and not self.dead:
            threading.Thread(target=self._until_ready, args=(deadline, timeout), name=f"aiex-watch-start {self.root}",
                             daemon=True).start()
        else:
            self._give_up(timeout)
        return False

    def _until_ready(self, deadline: float, give_up_after: float | None = None) -> bool:
        while time.monotonic() < deadline and not self.dead and not self._stop.is_set():
            if self.barrier(0.05):
                self.ready_at = time.monotonic()
                return True
        if give_up_after is not None:
            self._give_up(give_up_after)
        return False

    def _give_up(self, timeout: float) -> None:
        if not self._stop.is_set():
            self.error = self.error or f"the watcher was not up within {timeout:g} s"
            self.stop()

    def stop(self, wait: bool = True) -> None:
        """Stop watching; ``wait``: for the thread to end (it may still be adding the watches of a large tree,
        so a build does not wait)."""
        self._stop.set()
        self.dead = True
        with self._cond:
            self._cond.notify_all()
        if wait and self._thread is not None:
            self._thread.join(timeout=2)
        for path in glob.glob(glob.escape(self.marker) + ".*"):
            try:
                os.unlink(path)
            except OSError:
                pass

    def _run(self) -> None:
        try:
            import logging

            import watchfiles

            from .sandbox import NEVER_ENTERED

            def never_entered(rel: str) -> bool:  # the index's own writes, git's: not changes
                return any(p in NEVER_ENTERED for p in rel.split(os.sep))

            logging.getLogger("watchfiles").setLevel(logging.WARNING)  # not "N changes detected" in a kernel's log
            barrier_prefix = self.marker + "."
            own = os.path.join(self.root, ".aiex") + os.sep
            # ignore_permission_denied=False: watchfiles would otherwise ignore *every* error of adding the watches
            # (the inotify watch limit, a directory removed meanwhile) and watch part of the tree; an error ends
            # this watcher instead, and scans stay full
            for changes in watchfiles.watch(self.root, watch_filter=None, debounce=50, step=5, rust_timeout=0,
                                            stop_event=self._stop, raise_interrupt=False, force_polling=False,
                                            ignore_permission_denied=False):
                seen = None
                with self._cond:
                    # every event but the index's own writes (git's too: a checkout is a flood like any other)
                    self._events += sum(1 for _, path in changes if not path.startswith(own))
                    if self._events > MAX_CHANGES and not self._overflow:
                        self._overflow = True
                        self._pending.clear()
                    for change, path in changes:
                        if path.startswith(barrier_prefix):
                            number = path[len(barrier_prefix):]
                            if number.isdigit() and change != watchfiles.Change.deleted:
                                seen = max(seen or 0, int(number))
                        elif not self._overflow and not never_entered(path[len(self.root):]):
                            self._pending.add(path)
                    if seen is not None and seen > self._seen:
                        self._seen = seen
                    self._cond.notify_all()
        except Exception as exc:  # noqa: BLE001 - no inotify, too many watches, ...: scans stay full
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            with self._cond:
                self.dead = True
                self._cond.notify_all()

    # -- changes -----------------------------------------------------------------------------------

    def barrier(self, timeout: float = BARRIER_S) -> bool:
        """Create a new marker file and wait until the thread has seen it: every change before is then pending.

        Each barrier has a file of its own (``<marker>.<n>``), so the event of an older one that arrives late
        can never stand for a newer one."""
        if self._stop.is_set():
            return False
        with self._cond:
            self._sent += 1
            number = self._sent
        path = f"{self.marker}.{number}"
        try:
            try:
                open(path, "x").close()
            except FileNotFoundError:  # .aiex was removed: made again
                os.makedirs(os.path.dirname(path), exist_ok=True)
                open(path, "x").close()
        except OSError as exc:
            self.error = f"cannot write {path}: {exc.strerror or exc}"
            self.stop(wait=False)  # never trusted again; a new watcher is tried later
            return False
        try:
            with self._cond:
                return self._cond.wait_for(lambda: self._seen >= number or self.dead, timeout) and not self.dead
        finally:
            try:
                os.unlink(path)  # its removal is reported too, and ignored
            except OSError:
                pass

    def discard(self) -> None:
        """Forget what is pending (a full scan is about to see it anyway)."""
        with self._cond:
            self._overflow, self._pending, self._events = False, set(), 0

    def take(self) -> set[str] | None:
        """The paths (relative to the root) changed since the last take, or None when they cannot be trusted."""
        if self.dead or not self.barrier():
            return None
        with self._cond:
            overflow, pending = self._overflow, self._pending
            self._overflow, self._pending, self._events = False, set(), 0
        if overflow:
            return None
        prefix = self.root.rstrip(os.sep) + os.sep
        return {p[len(prefix):].replace(os.sep, "/") for p in pending if p.startswith(prefix)}

    def remember(self, scan: Scan, started: float) -> None:
        """Keep the full ``scan`` that began at ``started`` (time.monotonic()) to update from changes."""
        self.trusted = self.ready_at is not None and self.ready_at <= started and not self.dead
        self.scanned_at = time.monotonic()
        self.files = {f.relpath: f for f in scan.files}
        self.skipped = scan.skipped
        self.skipped_paths = scan.skipped_paths

    def as_scan(self) -> Scan:
        from .sandbox import Scan

        return Scan(files=[self.files[p] for p in sorted(self.files)], skipped=self.skipped.copy(),
                    skipped_paths=list(self.skipped_paths))


def project_scan(sandbox: Sandbox, paths: Sequence[str], full_scan: Callable[[], Scan], *,
                 fresh: bool = False, allowed: bool = True) -> tuple[Scan, bool]:
    """``(scan, watched)``: the scan of ``paths`` under ``sandbox``, from the project's watcher when this process
    watches (:func:`enable`, and ``allowed``: the ``watch_files`` setting) and the watcher can be trusted; else
    ``full_scan()`` (and a watcher started first, for next time)."""
    if not (_enabled and allowed) or list(paths) not in ([], ["."]) or not _notifies(sandbox.root):
        return full_scan(), False
    key = (str(sandbox.root), tuple(sandbox.allow_secrets), sandbox.max_file_bytes)
    with _lock:
        watch = _watches.get(key)
    trusted = watch is not None and watch.trusted
    if watch is not None:
        # untrusted until this scan is done: one interrupted halfway (KeyboardInterrupt in a kernel) has taken
        # or discarded the changes without applying them
        watch.trusted = False
    if trusted and not fresh and watch.skipped is not None and time.monotonic() - watch.scanned_at < FULL_SCAN_S:
        changed = watch.take()
        if changed is not None:
            scan = _apply(sandbox, watch, changed)
            if scan is not None:
                watch.trusted = True
                return scan, True
    if watch is None or (watch.dead and time.monotonic() - watch.started_at >= FULL_SCAN_S):
        watch = _start(key, sandbox.root)
    elif not watch.dead:
        watch.discard()  # what is pending now, the full scan below sees anyway
    started = time.monotonic()
    scan = full_scan()
    if not watch.dead:
        if scan.linked:  # a path may stand for another: this tree is not scanned from changes (for a while)
            watch.stop(wait=False)
        else:
            watch.remember(scan, started)
    return scan, False


_FILESYSTEMS: dict[str, bool] = {}


def _notifies(root: Path) -> bool:
    """Whether the filesystem holding ``root`` reports every change (not a network or FUSE one)."""
    key = str(root)
    if key not in _FILESYSTEMS:
        try:
            import psutil

            mounts = sorted(psutil.disk_partitions(all=True), key=lambda m: len(m.mountpoint), reverse=True)
            mount = next((m for m in mounts if key == m.mountpoint or key.startswith(m.mountpoint.rstrip(os.sep) + os.sep)),
                         None)
            fstype = (mount.fstype if mount is not None else "").lower()
            _FILESYSTEMS[key] = not (fstype in REMOTE_FILESYSTEMS or fstype.startswith(("fuse", "nfs")))
        except Exception:  # noqa: BLE001 - cannot tell: scan in full, which is always right
            _FILESYSTEMS[key] = False
    return _FILESYSTEMS[key]


def _start(key: tuple, root: Path) -> TreeWatch:
    """A new watcher for ``key``, kept even when it failed (so it is not tried again at every build)."""
    watch = TreeWatch(root)
    watch.start(wait=START_WAIT_S)
    with _lock:
        old = _watches.pop(key, None)
        _watches[key] = watch
        extra = list(_watches)[:-MAX_WATCHES] if len(_watches) > MAX_WATCHES else []
        stopped = [_watches.pop(k) for k in extra]
    for w in [old, *stopped]:
        if w is not None:
            w.stop(wait=False)
    return watch


def _apply(sandbox: Sandbox, watch: TreeWatch, changed: set[str]) -> Scan | None:
    """The last scan updated with ``changed``, as a full scan would give it; None when only a full scan can."""
    from .sandbox import IGNORE_FILES

    files = watch.files
    lists: set[str] = set()  # directories whose own files are listed again
    trees: set[str] = set()  # directories scanned whole (new, or changed themselves)
    for rel in changed:
        parts = rel.split("/")
        if not rel:
            continue
        if parts[-1] in IGNORE_FILES:
            return None
        full = os.path.join(sandbox.root, rel)
        if os.path.islink(full):
            return None
        if os.path.isdir(full):
            trees.add(rel)
        elif rel not in files and not os.path.exists(full) and _under(files, rel):
            trees.add(rel)  # a removed directory
        else:
            lists.add(parts and "/".join(parts[:-1]) or ".")
    if len(lists) + len(trees) > MAX_DIRECTORIES:
        return None  # changes all over the tree: a full scan (with its cache) costs about the same
    updated = dict(files)
    for rel in sorted(trees):
        for path in [p for p in updated if p.startswith(rel + "/")]:
            del updated[path]
        if os.path.isdir(os.path.join(sandbox.root, rel)) and sandbox.entered(rel):
            found = sandbox.scan([rel])
            if found.linked:
                return None
            updated.update((f.relpath, f) for f in found.files)
    for rel in sorted(lists):
        if any(rel == t or rel.startswith(t + "/") for t in trees):
            continue  # scanned whole already
        prefix = "" if rel == "." else rel + "/"
        for path in [p for p in updated if p.startswith(prefix) and "/" not in p[len(prefix):]]:
            del updated[path]
        if os.path.isdir(os.path.join(sandbox.root, rel)) and sandbox.entered(rel):
            found = sandbox.scan([rel], depth=0)
            if found.linked:
                return None
            updated.update((f.relpath, f) for f in found.files)
    watch.files = updated
    return watch.as_scan()


def _under(files: dict, rel: str) -> bool:
    prefix = rel + "/"
    return any(p.startswith(prefix) for p in files)
