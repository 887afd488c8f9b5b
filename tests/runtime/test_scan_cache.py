"""The scan cache on real trees in tmp dirs: a cached scan returns exactly what an uncached one does, after
every kind of change, and reuses what did not change.

A directory is recorded only once its mtime is older than the racy window (see aiex_kernel.runtime.scan_cache),
so the trees here are aged with ``os.utime`` (each directory to a time of its own, well in the past) before the
scans that should reuse them, as they would be by the time a person edits them again.
"""

from __future__ import annotations

import itertools
import os
import pickle
import shutil
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiex_kernel.runtime.sandbox import MAX_SKIPPED_PATHS, Sandbox
from aiex_kernel.runtime.scan_cache import FORMAT, ScanCache, scan_cache_path
from trees import write  # tests/trees.py, loaded by conftest

_AGES = itertools.count()



def age(*paths: Path) -> None:
    """Each directory (and ignore file) given, or every one under a directory given, set to a distinct time an
    hour or more ago."""
    for top in paths:
        if not top.exists():
            continue
        todo = [top] if top.is_file() else [top, *(p for p in top.rglob("*") if not p.is_symlink() and (
            p.is_dir() or p.name in (".gitignore", ".aiexignore")))]
        for p in todo:
            t = time.time_ns() - 3600 * 10**9 - next(_AGES) * 1_000_000_007
            os.utime(p, ns=(t, t), follow_symlinks=False)


def snapshot(scan) -> tuple:
    return ([(f.relpath, f.size, f.language, f.mtime_ns) for f in scan.files], list(scan.skipped.items()),
            list(scan.skipped_paths))


def same(root: Path, cache: ScanCache, paths=(".",), depth=None, **kw) -> tuple:
    """The cached scan (with ``cache``) and a fresh sandbox's uncached one agree; returns the snapshot."""
    cached = Sandbox(root, **kw).scan(list(paths), depth=depth, cache=cache)
    plain = Sandbox(root, **kw).scan(list(paths), depth=depth)
    assert snapshot(cached) == snapshot(plain)
    return snapshot(cached)


@pytest.fixture
def tree(tmp_path) -> Path:
    root = tmp_path / "project"
    write(root, "pkg/__init__.py", "")
    write(root, "pkg/core.py", "def f():\n    return 1\n")
    write(root, "pkg/util.c", "int f(void) { return 1; }\n")
    write(root, "pkg/notes.txt", "plain text\n")
    write(root, "pkg/big.py", "x = 1\n" * 100)
    write(root, "pkg/sub/deep.py")
    write(root, "pkg/sub/.env", "TOKEN=1\n")
    write(root, "pkg/sub/id_rsa", "key\n")
    write(root, "pkg/.env.example", "TOKEN=\n")
    write(root, "build/out.py")
    write(root, "logs/app.py")
    write(root, "logs/keep.py")
    write(root, ".gitignore", "build/\n*.log\nlogs/*\n!logs/keep.py\n")
    write(root, "web/.aiexignore", "vendor/\n")
    write(root, "web/app.js", "function f() { return 1; }\n")
    write(root, "web/vendor/lib.js", "function g() {}\n")
    write(root, ".git/config.py", "x = 1\n")
    write(root, ".aiex/index/x.py")
    write(root, "docs/.gitignore", "/draft.py\n")
    write(root, "docs/draft.py")
    write(root, "docs/final.py")
    write(root, "docs/nested/draft.py")
    age(root)
    return root


KW = {"max_file_bytes": 300}


def test_a_warm_scan_replays_every_directory_and_equals_the_uncached_one(tree):
    cache = ScanCache()
    first = same(tree, cache, **KW)
    assert cache.listed > 0 and cache.reused == 0 and cache.dirty
    again = same(tree, cache, **KW)
    assert again == first
    assert cache.listed == 0 and cache.reused == len(cache.records) > 5
    names = [f for f, *_ in first[0]]
    assert "pkg/core.py" in names and "logs/keep.py" in names and "docs/nested/draft.py" in names
    assert not {"build/out.py", "logs/app.py", "web/vendor/lib.js", "docs/draft.py", ".git/config.py"} & set(names)
    assert ("pkg/sub/.env", "secret") in first[2] and ("pkg/big.py", "too large") in first[2]


def test_the_cache_survives_a_round_trip_on_disk(tree, tmp_path):
    path = str(tmp_path / "scan-cache.pickle")
    cache = ScanCache.load(path)
    first = same(tree, cache, **KW)
    assert cache.save(path)
    loaded = ScanCache.load(path)
    assert same(tree, loaded, **KW) == first
    assert loaded.listed == 0 and not loaded.dirty
    assert not loaded.save(path)  # nothing changed: not written again
    assert scan_cache_path(str(tmp_path)) == path


def edit_in_place_same_size(root: Path) -> None:
    p = root / "pkg/core.py"
    st_ = p.stat()
    p.write_text(p.read_text().replace("1", "2"))
    os.utime(p, ns=(st_.st_atime_ns, st_.st_mtime_ns + 1_000_000_000))


def replace_file_by_directory(root: Path) -> None:
    (root / "pkg/core.py").unlink()
    write(root, "pkg/core.py/inner.py")


CHANGES = {
    "add a file": lambda r: write(r, "pkg/new.py"),
    "add a secret": lambda r: write(r, "pkg/.env.local", "A=1\n"),
    "add an ignored file": lambda r: write(r, "logs/more.py"),
    "remove a file": lambda r: (r / "pkg/core.py").unlink(),
    "rename a file": lambda r: (r / "pkg/core.py").rename(r / "pkg/renamed.py"),
    "rename to an unsupported name": lambda r: (r / "pkg/core.py").rename(r / "pkg/core.txt"),
    "modify in place, same size": edit_in_place_same_size,
    "grow past the size limit": lambda r: write(r, "pkg/core.py", "y = 2\n" * 100),
    "add a directory": lambda r: write(r, "pkg/sub/deeper/mod.py"),
    "remove a directory": lambda r: shutil.rmtree(r / "pkg/sub"),
    "rename a directory": lambda r: (r / "pkg/sub").rename(r / "pkg/other"),
    "replace a file by a directory": replace_file_by_directory,
    "edit .gitignore in place, same size": lambda r: write(r, ".gitignore", "build/\n*.log\nlogs/*\n!logs/app.py\n"),
    "edit a nested .gitignore": lambda r: write(r, "docs/.gitignore", "final.py\n"),
    "empty .gitignore": lambda r: write(r, ".gitignore", ""),
    "remove .gitignore": lambda r: (r / ".gitignore").unlink(),
    "add a .gitignore in a subdirectory": lambda r: write(r, "pkg/sub/.gitignore", "deep.py\n"),
    "add an .aiexignore at the root": lambda r: write(r, ".aiexignore", "pkg/util.c\n"),
    "edit .aiexignore": lambda r: write(r, "web/.aiexignore", "app.js\n"),
    "add a symlink to a file": lambda r: (r / "pkg/link.py").symlink_to(r / "docs/final.py"),
    "add a symlink to a directory": lambda r: (r / "pkg/linked").symlink_to(r / "web"),
    "add a symlink outside": lambda r: (r / "pkg/out.py").symlink_to(r.parent / "elsewhere.py"),
    "unignore a directory": lambda r: write(r, ".gitignore", "*.log\n"),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
@pytest.mark.parametrize("aged", [False, True], ids=["just changed", "aged after"])
def test_every_kind_of_change_is_seen(tree, change, aged):
    write(tree.parent, "elsewhere.py")
    cache = ScanCache()
    before = same(tree, cache, **KW)
    same(tree, cache, **KW)
    CHANGES[change](tree)
    if aged:  # the changed directories old too (their ctime moves, so their records are not reused)
        age(tree)
    after = same(tree, cache, **KW)
    assert after != before
    assert same(tree, cache, **KW) == after  # and the scan after that


def test_a_changed_ignore_file_lists_again_only_what_lies_under_it(tree):
    cache = ScanCache()
    same(tree, cache, **KW)
    write(tree, "docs/.gitignore", "/final.py\n")
    age(tree / "docs/.gitignore")
    same(tree, cache, **KW)
    assert cache.listed == 2  # docs and docs/nested, under the edited file; the rest replayed
    assert cache.reused == len(cache.records) - 2


def test_a_directory_changed_within_the_racy_window_is_not_recorded(tree):
    cache = ScanCache()
    write(tree, "pkg/fresh.py")  # pkg's mtime: now
    same(tree, cache, **KW)
    assert "pkg" not in cache.records and "." in cache.records
    # an edit in the same clock tick as that listing would not move pkg's mtime: pkg is listed every time
    write(tree, "pkg/fresher.py")
    os.utime(tree / "pkg", ns=(tree.joinpath("pkg").stat().st_atime_ns, tree.joinpath("pkg").stat().st_mtime_ns))
    assert "pkg/fresher.py" in [f for f, *_ in same(tree, cache, **KW)[0]]
    assert "pkg" not in cache.records
    # a freshly written ignore file is not trusted either: what lies under it is listed next time
    write(tree, "web/.aiexignore", "vendor/\n")
    same(tree, cache, **KW)
    assert cache.ignore_files["web/.aiexignore"] is None
    same(tree, cache, **KW)
    assert "web" in cache.records  # (web itself is old: its record is kept, but not trusted while its rules are not)
    assert cache.listed == 2  # web, and pkg (still within its window)


def test_another_sandbox_setting_is_a_full_scan(tree):
    cache = ScanCache()
    same(tree, cache, **KW)
    same(tree, cache, max_file_bytes=10_000)
    assert cache.reused == 0
    same(tree, cache, max_file_bytes=10_000, allow_secrets=[".env"])
    assert cache.reused == 0
    assert same(tree, cache, max_file_bytes=10_000, allow_secrets=[".env"])
    assert cache.listed == 0


def test_scoped_scans_and_depth(tree):
    cache = ScanCache()
    same(tree, cache, **KW)
    whole = dict(cache.records)
    assert same(tree, cache, ["pkg"], **KW)
    assert cache.listed == 0 and cache.records.keys() == whole.keys()  # a scoped scan keeps the others' records
    assert same(tree, cache, ["docs/nested", "logs", "web/vendor"], **KW)  # ignored, named explicitly
    assert same(tree, cache, ["pkg/core.py", "pkg"], depth=0, **KW)
    assert same(tree, cache, ["."], depth=1, **KW)
    write(tree, "pkg/sub/added.py")
    assert same(tree, cache, ["pkg"], **KW)
    assert same(tree, cache, **KW)
    assert cache.listed == 1  # pkg/sub: new since its record and within the racy window


def test_skipped_paths_keep_their_order_and_cap(tmp_path):
    root = tmp_path / "p"
    for d in range(3):
        for i in range(MAX_SKIPPED_PATHS // 2):
            write(root, f"d{d}/s{i:04}.pem", "k")
    write(root, "d1/big.py", "x" * 50)
    age(root)
    cache = ScanCache()
    first = same(root, cache, max_file_bytes=10)
    assert len(first[2]) == MAX_SKIPPED_PATHS
    assert same(root, cache, max_file_bytes=10) == first and cache.listed == 0


def test_unreadable_directories_are_counted_alike(tree):
    if os.geteuid() == 0:
        pytest.skip("root can read any directory")
    cache = ScanCache()
    same(tree, cache, **KW)
    (tree / "pkg/sub").chmod(0)
    try:
        assert ("pkg/sub", "unreadable") in same(tree, cache, **KW)[2]
        assert ("pkg/sub", "unreadable") in same(tree, cache, **KW)[2]
    finally:
        (tree / "pkg/sub").chmod(0o755)


@pytest.mark.parametrize("content", [b"", b"garbage", b"\x80\x05N.", pickle.dumps((FORMAT, (), (), {}, {}))[:-3],
                                     pickle.dumps(("another format", (), (), {}, {})),
                                     pickle.dumps((FORMAT, (), (), {}, {"pkg": (1, 2)}))])
def test_a_corrupt_cache_is_a_full_scan(tree, tmp_path, content):
    path = tmp_path / "scan-cache.pickle"
    path.write_bytes(content)
    cache = ScanCache.load(str(path))
    same(tree, cache, **KW)
    assert cache.reused == 0


def test_a_planted_cache_runs_no_code(tree, tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "scan-cache.pickle"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path.write_bytes(pickle.dumps((FORMAT, (), (), {}, {"x": Evil()})))
    cache = ScanCache.load(str(path))
    assert not marker.exists() and cache.records == {}
    same(tree, cache, **KW)


def test_a_missing_cache_file_is_an_empty_cache(tmp_path):
    cache = ScanCache.load(str(tmp_path / "none" / "scan-cache.pickle"))
    assert cache.records == {} and cache.loaded_from is None


# -- random sequences of changes ------------------------------------------------

DIRS = ["a", "a/b", "c", "c/d", "a/b/e"]
FILES = ["m.py", "n.c", "o.txt", ".env", "p.py"]
IGNORES = ["", "*.c\n", "b/\n", "/m.py\n", "*.py\n!p.py\n", "e\n", "d/*\n!d/p.py\n"]

operation = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(DIRS), st.sampled_from(FILES), st.integers(0, 3)),
    st.tuples(st.just("remove"), st.sampled_from(DIRS), st.sampled_from(FILES), st.just(0)),
    st.tuples(st.just("rmdir"), st.sampled_from(DIRS), st.just(""), st.just(0)),
    st.tuples(st.just("rename"), st.sampled_from(DIRS), st.sampled_from(FILES), st.sampled_from(range(len(FILES)))),
    st.tuples(st.just("ignore"), st.sampled_from([".", *DIRS]), st.sampled_from([".gitignore", ".aiexignore"]),
              st.sampled_from(range(len(IGNORES)))),
    st.tuples(st.just("link"), st.sampled_from(DIRS), st.sampled_from(["l.py", "ld"]), st.sampled_from(range(len(DIRS)))),
    st.tuples(st.just("age"), st.just(""), st.just(""), st.just(0)),
)


def apply(root: Path, op) -> None:
    kind, d, name, n = op
    where = root / d
    if kind == "write":
        write(root, f"{d}/{name}", "x = 1\n" * (1 + n * 20))
    elif kind == "remove" and (where / name).is_file():
        (where / name).unlink()
    elif kind == "rmdir" and where.is_dir() and not where.is_symlink():
        shutil.rmtree(where)
    elif kind == "rename" and (where / name).is_file():
        (where / name).rename(where / FILES[n])
    elif kind == "ignore":
        write(root, f"{d}/{name}", IGNORES[n])
    elif kind == "link" and where.is_dir():
        link = where / name
        if link.is_symlink():
            link.unlink()
        elif not link.exists():
            target = root / DIRS[n] / ("m.py" if name == "l.py" else "")
            link.symlink_to(target)
    elif kind == "age":
        age(root)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=12))
def test_random_changes_cached_equals_uncached(tmp_path_factory, ops):
    root = tmp_path_factory.mktemp("random")
    for d in DIRS:
        write(root, f"{d}/m.py")
    write(root, "c/d/p.py")
    write(root, ".gitignore", "*.log\n")
    age(root)
    cache = ScanCache()
    same(root, cache, max_file_bytes=100)
    for op in ops:
        apply(root, op)
        same(root, cache, max_file_bytes=100)
    if (root / "a").exists():
        same(root, cache, ["a"], max_file_bytes=100)
    same(root, cache, max_file_bytes=100)


# -- through build_index --------------------------------------------------------


def test_build_index_keeps_the_cache_next_to_the_index(tree):
    from aiex_kernel.config import load_settings
    from aiex_kernel.runtime.index import open_sandbox
    from aiex_kernel.runtime.index.build import build_index

    settings = load_settings(tree)

    def build(**kw):
        return build_index(open_sandbox(tree, settings), settings=settings, cluster="never", progress=False, **kw)

    first = build()
    path = tree / ".aiex/index/scan-cache.pickle"
    assert path.is_file() and ScanCache.load(str(path)).records
    written = path.stat().st_mtime_ns
    again = build()
    assert again.up_to_date and again.skipped == first.skipped and again.files == first.files
    assert path.stat().st_mtime_ns == written  # nothing changed: not rewritten
    write(tree, "pkg/added.py", "def added():\n    return 2\n")
    assert build().added == 1
    path.write_bytes(b"corrupt")
    assert build().up_to_date
    assert ScanCache.load(str(path)).records  # replaced by a good one
    assert build(rebuild=True).added == first.added + 1


def test_a_file_name_that_is_not_utf8_is_skipped_by_name_cached_or_not(tmp_path):
    root = tmp_path / "project"
    write(root, "pkg/ok.py", "def ok():\n    return 1\n")
    os.mkdir(os.fsencode(root / "pkg") + b"/latin\xe9")
    with open(os.fsencode(root / "pkg") + b"/caf\xe9.py", "wb") as fh:  # a Latin-1 name
        fh.write(b"def brew():\n    return 1\n")
    with open(os.fsencode(root / "pkg") + b"/latin\xe9/inner.py", "wb") as fh:
        fh.write(b"def inner():\n    return 1\n")
    cache = ScanCache()
    for _ in range(2):  # the second scan replays the first one's records
        files, skipped, paths = same(root, cache)
        assert [f[0] for f in files] == ["pkg/ok.py"]
        assert skipped == [("undecodable name", 2)]
        assert sorted(paths) == [("pkg/caf\ufffd.py", "undecodable name"), ("pkg/latin\ufffd/inner.py", "undecodable name")]
