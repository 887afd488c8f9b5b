"""Scans from the file watcher's changes, for real (inotify here): always what a full scan gives."""

import os
import shutil
import time

import pytest
from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
from trees import write

from aiex_kernel.config import load_settings
from aiex_kernel.runtime import file_watch
from aiex_kernel.runtime.index import open_sandbox
from aiex_kernel.runtime.index.build import build_index
from aiex_kernel.runtime.index.store import IndexStore
from aiex_kernel.runtime.index.view import load_index

pytest.importorskip("watchfiles")


def project(root):
    write(root, ".git/HEAD", "ref: refs/heads/main\n")
    write(root, "pkg/__init__.py", "")
    write(root, "pkg/core.py", "def core():\n    return 1\n")
    write(root, "pkg/util/text.py", "def shout(s):\n    return s.upper()\n")
    write(root, "web/app.js", "function start() { return 1; }\n")
    write(root, ".gitignore", "build/\n")
    write(root, "build/out.py", "generated = 1\n")
    return root


class Builds:
    def __init__(self, root):
        self.root = root
        self.settings = load_settings(root)
        self.sandbox = open_sandbox(root, self.settings)

    def __call__(self):
        report = build_index(self.sandbox, settings=self.settings, progress=False, cluster="never")
        full = [(f.relpath, f.size, f.mtime_ns) for f in self.sandbox.scan(["."]).files]
        indexed = sorted(f["path"] for f in load_index(IndexStore(str(self.root / ".aiex/index"))).files)
        assert indexed == [p for p, _, _ in full]  # the index holds what a full scan finds, no more, no less
        return report


@pytest.fixture
def watching(tmp_path_factory):
    probe = file_watch.TreeWatch(tmp_path_factory.mktemp("probe"))
    started = probe.start(timeout=5)
    probe.stop()
    if not started:
        pytest.skip(f"this machine gives no file notifications ({probe.error or 'the watcher never reported'})")
    file_watch.enable()
    yield
    file_watch.enable(False)


def test_changes_of_every_kind_are_scanned_from_the_watcher(tmp_path, watching):
    build = Builds(project(tmp_path / "proj"))
    root = build.root
    assert build().watched is False  # the first scan is a full one, with the watcher started before it
    steps = [
        ("nothing", lambda: None, dict(up_to_date=True)),
        ("an edit", lambda: write(root, "pkg/core.py", "def core():\n    return 2\n"), dict(changed=1)),
        ("a new file", lambda: write(root, "pkg/new.py", "def new():\n    pass\n"), dict(added=1)),
        ("a new tree", lambda: (write(root, "lib/a/b.py", "def b():\n    pass\n"),
                                write(root, "lib/a/c/d.py", "def d():\n    pass\n")), dict(added=2)),
        ("a removed tree", lambda: shutil.rmtree(root / "lib"), dict(deleted=2)),
        ("a rename", lambda: os.replace(root / "pkg/util/text.py", root / "pkg/util/words.py"),
         dict(added=1, deleted=1)),
        ("an ignored file", lambda: write(root, "build/more.py", "x = 1\n"), dict(up_to_date=True)),
        ("a secret", lambda: write(root, "pkg/.env", "API_KEY=sk-123\n"), dict(up_to_date=True)),
        ("too large", lambda: write(root, "pkg/huge.py", "x = 1\n" * 400_000), dict(up_to_date=True)),
        ("a removed file", lambda: (root / "web/app.js").unlink(), dict(deleted=1)),
    ]
    for what, change, expected in steps:
        change()  # and the build at once: the watcher's barrier, not a sleep, makes sure it is seen
        report = build()
        assert report.watched, what
        for key, value in expected.items():
            assert getattr(report, key) == value, (what, key, report.to_dict())


def test_an_ignore_file_a_link_or_too_many_changes_mean_a_full_scan(tmp_path, watching, monkeypatch):
    build = Builds(project(tmp_path / "proj"))
    root = build.root
    build()
    write(root, ".gitignore", "build/\nweb/\n")
    report = build()
    assert not report.watched and report.deleted == 1  # web/app.js is ignored now
    assert build().watched
    monkeypatch.setattr(file_watch, "MAX_CHANGES", 5)
    for i in range(8):  # in a directory already watched: files made in a new one before its watch is added
        write(root, f"pkg/m{i}.py", f"v = {i}\n")  # give no events of their own (the new tree is walked instead)
    report = build()
    assert not report.watched and report.added == 8
    assert build().watched
    os.symlink(root / "pkg", root / "alias")  # a path may stand for another now: never scanned from changes
    assert not build().watched and not build().watched
    (watch,) = file_watch._watches.values()  # kept, stopped: not started again at every build
    watch._thread.join(timeout=5)  # the build did not wait for its thread to end
    assert watch.dead and not watch._thread.is_alive()
    assert not list((root / ".aiex").glob(".watch-*"))  # no barrier's marker left behind


def test_a_watcher_slow_to_start_never_holds_a_build_up(tmp_path, watching, monkeypatch):
    monkeypatch.setattr(file_watch, "START_WAIT_S", 0.0)  # as on a very large tree: the build does not wait
    build = Builds(project(tmp_path / "proj"))
    root = build.root
    assert not build().watched
    (watch,) = file_watch._watches.values()
    deadline = time.monotonic() + 5
    while watch.ready_at is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert watch.ready_at is not None  # up now, from a thread of its own
    # the first scan began before the watcher was up, so a change made meanwhile may be unknown to it: one
    # more full scan, then the watcher
    write(root, "pkg/core.py", "def core():\n    return 3\n")
    report = build()
    assert not report.watched and report.changed == 1
    write(root, "pkg/new.py", "x = 1\n")
    report = build()
    assert report.watched and report.added == 1

    monkeypatch.setattr(file_watch, "START_S", 0.0)  # never up in time: stopped, and scans stay full
    slow = Builds(project(tmp_path / "slow"))
    assert not slow().watched
    (stopped,) = [w for k, w in file_watch._watches.items() if k[0] == str(slow.root)]
    assert stopped.dead and "not up within" in stopped.error
    assert not slow().watched and file_watch._watches[next(k for k in file_watch._watches
                                                              if k[0] == str(slow.root))] is stopped


def test_the_setting_a_network_filesystem_or_an_old_scan_mean_a_full_scan(tmp_path, watching, monkeypatch):
    from collections import namedtuple

    import psutil

    build = Builds(project(tmp_path / "proj"))
    build()
    assert build().watched
    monkeypatch.setattr(file_watch, "FULL_SCAN_S", 0.0)  # the last full scan is too old: scanned again
    assert not build().watched
    monkeypatch.setattr(file_watch, "FULL_SCAN_S", 600.0)
    assert build().watched

    off = Builds(project(tmp_path / "off"))
    off.settings = load_settings(off.root, watch_files=False)
    off()
    assert not off().watched and str(off.root) not in {k[0] for k in file_watch._watches}

    mount = namedtuple("sdiskpart", "device mountpoint fstype opts")
    remote = project(tmp_path / "remote")
    monkeypatch.setattr(psutil, "disk_partitions", lambda all=False: [mount("/", "/", "ext4", ""),
                                                                      mount("srv:/x", str(remote), "nfs4", "")])
    on_nfs = Builds(remote)
    on_nfs()
    assert not on_nfs().watched  # changes made on another machine would never be reported


def test_one_shot_processes_never_watch(tmp_path):
    build = Builds(project(tmp_path / "proj"))
    build()
    assert not build().watched and not file_watch._watches


names = st.sampled_from(["a.py", "b.js", "c.txt", "d.py"])
dirs = st.sampled_from(["", "pkg/", "pkg/util/", "build/", "new/", "new/deep/"])
operations = st.lists(st.tuples(st.sampled_from(["write", "delete", "rmtree", "mkdir"]), dirs, names),
                      min_size=1, max_size=12)


@hsettings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rounds=st.lists(operations, min_size=1, max_size=3))
def test_any_sequence_of_changes_scans_like_a_full_scan(tmp_path_factory, watching, rounds):
    build = Builds(project(tmp_path_factory.mktemp("random") / "proj"))
    root = build.root
    build()
    for ops in rounds:
        for op, folder, name in ops:
            path = root / folder / name
            if op == "write":
                write(root, folder + name, f"value = {len(ops)}\n")
            elif op == "delete" and path.is_file():
                path.unlink()
            elif op == "rmtree" and folder and (root / folder).is_dir():
                shutil.rmtree(root / folder)
            elif op == "mkdir":
                (root / folder).mkdir(parents=True, exist_ok=True)
        build()  # Builds compares the index with a full scan every time


def test_a_scan_interrupted_halfway_is_never_a_base(tmp_path, watching, monkeypatch):
    build = Builds(project(tmp_path / "proj"))
    root = build.root
    build()
    assert build().watched
    write(root, "pkg/core.py", "def core():\n    return 5\n")
    apply = file_watch._apply

    def interrupted(*args, **kwargs):  # Ctrl-C in a kernel once the watcher's changes were taken
        raise KeyboardInterrupt

    monkeypatch.setattr(file_watch, "_apply", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build()
    monkeypatch.setattr(file_watch, "_apply", apply)
    report = build()  # the changes taken were never applied: a full scan finds the edit
    assert not report.watched and report.changed == 1
    assert build().watched
