"""The distributed chunk job on real clusters (in-process, and multi-process with a killed worker)."""

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from aiex_kernel.config import load_settings
from aiex_kernel.core.chunking import chunk_source
from aiex_kernel.runtime.chunk_job import chunk_project
from aiex_kernel.runtime.sandbox import Sandbox


def make_repo(root: Path) -> Path:
    (root / ".git").mkdir(parents=True)
    files = {
        ".gitignore": "build/\n*.log\n",
        "app/__init__.py": "",
        "app/core.py": "import os\n\nclass Engine:\n    def run(self):\n        return os.getcwd()\n",
        "app/util.py": "def helper(x):\n    return x * 2\n",
        "app/broken.py": "def oops(:\n    pass\n",
        "web/main.js": "function hello(name) {\n  return `hi ${name}`;\n}\n",
        "build/gen.py": "def generated(): pass\n",
        "debug.log": "not code\n",
        "README.md": "# readme\n",
        ".env": "OPENAI_API_KEY=sk-secret\n",
    }
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    (root / "app" / "latin.py").write_bytes(b"# caf\xe9\ndef f():\n    return 1\n")
    (root / "app" / "blob.py").write_bytes(b"\x00\x01binary\x00")
    (root / "app" / "huge.py").write_text("x = 1\n" * 50_000)
    return root


def settings_for(root, **kw):
    return load_settings(root, max_file_bytes=100_000, **kw)


def test_in_process_run_reads_through_the_sandbox(tmp_path):
    root = make_repo(tmp_path / "repo")
    sandbox = Sandbox(root, max_file_bytes=100_000)
    run = chunk_project(sandbox, ["."], settings=settings_for(root), cluster="never", progress=False)
    assert run.where == "in-process"
    assert [f.path for f in run.files] == [
        "app/__init__.py", "app/broken.py", "app/core.py", "app/latin.py", "app/util.py", "web/main.js",
    ]
    assert run.skipped["binary"] == 1
    assert run.skipped["too large"] == 1
    assert run.skipped["secret"] == 1
    assert ("app/blob.py", "binary") in run.skipped_paths
    latin = next(f for f in run.files if f.path == "app/latin.py")
    assert latin.decode_errors and [c.qualname for c in latin.chunks] == ["app.latin", "f"]
    broken = next(f for f in run.files if f.path == "app/broken.py")
    assert broken.has_error and any(c.has_error for c in broken.chunks)
    names = {c.qualname for c in run.chunks}
    assert {"Engine", "Engine.run", "helper", "hello"} <= names
    assert "generated" not in names  # build/ is gitignored


def test_cluster_run_matches_in_process(tmp_path, runtime):
    root = make_repo(tmp_path / "repo")
    sandbox = Sandbox(root, max_file_bytes=100_000)
    local = chunk_project(sandbox, ["."], settings=settings_for(root), cluster="never", progress=False)
    remote = chunk_project(sandbox, ["."], settings=settings_for(root), cluster="always", progress=False,
                           runtime=runtime)
    assert remote.where == runtime.client.scheduler.address
    assert [c.to_dict() for c in remote.chunks] == [c.to_dict() for c in local.chunks]
    assert remote.skipped == local.skipped
    from aiex_kernel.runtime.events import event_log

    jobs = [e for _, e in event_log(settings_for(root).data_dir).events(kinds=["ClusterJob"])]
    assert jobs and jobs[-1].where == remote.where and jobs[-1].items > 0  # the cluster job is in the event log


def test_auto_mode(tmp_path, runtime):
    root = make_repo(tmp_path / "repo")
    sandbox = Sandbox(root, max_file_bytes=100_000)
    # the fixture's runtime is started: auto uses it even for a small job
    runtime.client
    run = chunk_project(sandbox, ["app"], settings=settings_for(root), cluster="auto", progress=False)
    assert run.where == runtime.client.scheduler.address
    assert all(f.path.startswith("app/") for f in run.files)


def test_auto_mode_small_job_stays_in_process(tmp_path, monkeypatch):
    from aiex_kernel.runtime import cluster as cluster_mod

    monkeypatch.setattr(cluster_mod, "_runtime", None)
    root = make_repo(tmp_path / "repo")
    run = chunk_project(Sandbox(root, max_file_bytes=100_000), ["."], settings=settings_for(root),
                        cluster="auto", progress=False)
    assert run.where == "in-process"
    assert cluster_mod.runtime_if_started() is None


def _big_corpus(root: Path, n_files: int = 60) -> Path:
    (root / ".git").mkdir(parents=True)
    body = "".join(
        f"class C{i}:\n    def m{i}(self, x):\n        if x > {i}:\n            return x\n        return {i}\n\n"
        for i in range(1500)
    )
    for k in range(n_files):
        (root / f"mod{k:03d}.py").write_text(f"# file {k}\n" + body)
    return root


@pytest.mark.timeout(240)
def test_killed_worker_still_yields_every_chunk(tmp_path):
    """Multi-process cluster: SIGKILL a worker while it chunks; Dask reschedules its batch."""
    from distributed import LocalCluster

    from aiex_kernel.runtime.cluster import Runtime

    root = _big_corpus(tmp_path / "big")
    sandbox = Sandbox(root, max_file_bytes=10_000_000)
    settings = load_settings(root, max_file_bytes=10_000_000)
    expected = sum(len(chunk_source(p.read_bytes(), p.name).chunks) for p in sorted(root.glob("*.py")))

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, host="127.0.0.1") as cluster:
        runtime = Runtime(settings, cluster=cluster)
        client = runtime.client
        pids_before = client.run(os.getpid)
        result = {}

        def job():
            result["run"] = chunk_project(sandbox, ["."], settings=settings, cluster="always", progress=False,
                                          runtime=runtime)

        thread = threading.Thread(target=job)
        thread.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            busy = [addr for addr, keys in client.processing().items()
                    if any(str(k).startswith("aiex-chunk-") for k in keys)]
            if busy:
                victim = busy[0]
            else:
                time.sleep(0.005)
        assert victim is not None, "no chunk task was ever seen running"
        os.kill(pids_before[victim], signal.SIGKILL)
        thread.join(180)
        assert not thread.is_alive()
        run = result["run"]
        assert len(run.files) == 60
        assert len(run.chunks) == expected
        # the killed worker was replaced by its nanny
        deadline = time.monotonic() + 30
        while len(client.scheduler_info()["workers"]) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert pids_before[victim] not in client.run(os.getpid).values()
        runtime.close()
