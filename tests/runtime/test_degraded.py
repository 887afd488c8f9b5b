"""Degraded mode on a real deployment: the scheduler is SIGKILLed mid-session, aiex says so once and works in
this process, never waiting longer than connect_timeout; a new scheduler on the same address is reattached."""

import socket
import subprocess
import time
import warnings

import pytest
from deployment import Deployment, aiex

from aiex_kernel.config import load_settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_scheduler_dies_work_goes_on_here_and_comes_back(tmp_path, monkeypatch):
    from aiex_kernel.runtime import cluster as cluster_module
    from aiex_kernel.runtime.cluster import ClusterDegradedWarning, Runtime
    from aiex_kernel.runtime.index import open_sandbox
    from aiex_kernel.runtime.index.build import build_index

    monkeypatch.setattr(cluster_module, "RETRY_S", 1.0)
    port = _free_port()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    for i in range(12):
        (project / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    with Deployment(tmp_path / "d", [("w0", "cpu=1 io=4")], scheduler_args=["--port", str(port)]) as d:
        settings = load_settings(project, scheduler=d.address, connect_timeout=2)
        runtime = Runtime(settings)

        def build():
            return build_index(open_sandbox(project, settings), settings=settings, progress=False, cluster="always",
                               runtime=runtime)

        try:
            assert build().where == d.address
            d.procs[0].kill()  # the scheduler
            d.procs[0].wait()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                for i in range(2):
                    (project / f"m{i}.py").write_text(f"def g{i}(x):\n    return x * {i}\n")
                    started = time.monotonic()
                    report = build()
                    assert report.where == "in-process" and report.changed == 1
                    assert time.monotonic() - started < settings.connect_timeout + 5
            said = [str(w.message) for w in caught if issubclass(w.category, ClusterDegradedWarning)]
            assert len(said) == 1 and "stopped answering" in said[0] and d.address in said[0]
            # a new scheduler (and worker) on the same address: reattached at the next job
            d.procs.append(subprocess.Popen(aiex("start", "scheduler", "--port", str(port)), env=d.env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            d.procs.append(subprocess.Popen(aiex("start", "worker", "--scheduler", d.address), env=d.env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 60
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                while True:
                    (project / "m5.py").write_text(f"def h(x):\n    return {time.monotonic()}\n")
                    report = build()
                    if report.where == d.address or time.monotonic() > deadline:
                        break
                    time.sleep(0.5)
            assert report.where == d.address
            assert any("answers again" in str(w.message) for w in caught)
        finally:
            runtime.close()
