"""Local workers forked from one warm server (aiex_kernel.runtime.worker_fork), in fresh processes: the
server is one per process, so each scenario runs in a Python of its own."""

import json
import subprocess
import sys
import textwrap

import dask
import pytest

from aiex_kernel.runtime import worker_fork

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the forkserver is used on Linux only")

PROBE = """
import json, os, sys

def probe():
    return {"ppid": os.getppid(), "zarr": "zarr" in sys.modules, "late": os.environ.get("AIEX_PROBE_LATE"),
            "gone": "AIEX_PROBE_GONE" in os.environ, "omp": os.environ.get("OMP_NUM_THREADS"),
            "seed": os.environ.get("PYTHONHASHSEED"), "unset": os.environ.get("AIEX_WORKER_UNSET")}

def workers(settings):
    from aiex_kernel.runtime.cluster import Runtime
    rt = Runtime(settings)
    try:
        return list(rt.client.run(probe).values())
    finally:
        rt.close()
"""


def _run(tmp_path, body: str) -> dict:
    script = tmp_path / "scenario.py"
    script.write_text(PROBE + "\nif __name__ == '__main__':\n" + textwrap.indent(textwrap.dedent(body), "    "))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1]) | {"stderr": out.stderr}


def test_local_workers_are_forked_warm_and_get_the_environment_this_process_has_now(tmp_path):
    got = _run(tmp_path, """
        from aiex_kernel.config import load_settings
        from aiex_kernel.runtime import worker_fork
        os.environ["AIEX_PROBE_GONE"] = "1"
        os.environ.pop("OMP_NUM_THREADS", None)
        assert worker_fork.prestart(load_settings())
        del os.environ["AIEX_PROBE_GONE"]  # after the server started: its workers must not have it either
        os.environ["AIEX_PROBE_LATE"] = "yes"
        forked = workers(load_settings(workers=2))
        spawned = workers(load_settings(workers=1, worker_start="spawn"))
        print(json.dumps({"me": os.getpid(), "forked": forked, "spawned": spawned}))
    """)
    forked, spawned = got["forked"], got["spawned"]
    assert len(forked) == 2
    for w in forked:
        assert w["ppid"] != got["me"]  # a child of the server, not of this process
        assert w["zarr"]  # imported by the server: no worker imports it again
        assert w["late"] == "yes" and not w["gone"] and w["unset"] is None
        assert w["omp"] == "1" and w["seed"] == "6640"  # what Dask gives a spawned worker before it starts
    assert forked[0]["ppid"] == forked[1]["ppid"]
    (w,) = spawned
    assert w["ppid"] == got["me"] and not w["zarr"] and w["late"] == "yes" and w["omp"] == "1"


def test_a_cold_build_starts_the_server_as_it_begins_and_no_other_build_does(tmp_path):
    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    (project / "m.py").write_text("def f(x):\n    return x\n")
    scenario = """
        from multiprocessing import forkserver
        from aiex_kernel.config import load_settings
        from aiex_kernel.runtime.index import open_sandbox
        from aiex_kernel.runtime.index.build import build_index
        settings = load_settings()
        report = build_index(open_sandbox({root!r}, settings), settings=settings, cluster={cluster!r}, progress=False)
        print(json.dumps({{"server": forkserver._forkserver._forkserver_pid is not None, "where": report.where}}))
    """
    cold = _run(tmp_path, scenario.format(root=str(project), cluster="auto"))
    assert cold["server"] and cold["where"] == "in-process"  # a small build stays here; its server was ready
    again = _run(tmp_path, scenario.format(root=str(project), cluster="auto"))  # the index is there now
    assert not again["server"]
    (project / ".aiex").rename(tmp_path / "old-index")
    never = _run(tmp_path, scenario.format(root=str(project), cluster="never"))
    assert not never["server"] and never["where"] == "in-process"


def test_a_server_that_cannot_fork_workers_gives_spawned_ones(tmp_path):
    (tmp_path / "dies_at_import.py").write_text("import os\nos._exit(3)\n")
    got = _run(tmp_path, """
        sys.path.insert(0, os.getcwd())
        from aiex_kernel.config import load_settings
        from aiex_kernel.runtime import worker_fork
        worker_fork.PRELOAD = ["dies_at_import"]  # the server exits before it serves anything
        print(json.dumps({"me": os.getpid(), "workers": workers(load_settings(workers=1))}))
    """)
    (w,) = got["workers"]
    assert w["ppid"] == got["me"]
    assert "Could not fork the local workers from their server" in got["stderr"]
    assert "Failed to start process" not in got["stderr"]  # said once, by the warning: no nanny tracebacks


def test_a_pre_spawn_environment_the_server_did_not_start_with_means_spawned_workers(monkeypatch):
    assert worker_fork.cluster_config() == {"distributed.worker.multiprocessing-method": "forkserver"}
    monkeypatch.delenv("AIEX_PROBE_PRESPAWN", raising=False)  # a variable set here would win over the config
    with dask.config.set({"distributed.nanny.pre-spawn-environ": {"AIEX_PROBE_PRESPAWN": 4}}):
        assert worker_fork.cluster_config() == {}  # it must be there before a process starts: not in the server
    from aiex_kernel.config import load_settings

    assert worker_fork.cluster_config(load_settings(worker_start="spawn")) == {}
