import socket
import time

import dask
import pytest

from aiex_kernel.config import load_settings
from aiex_kernel.errors import SchedulerUnreachable, VersionMismatch
from aiex_kernel.runtime import cluster as cluster_mod
from aiex_kernel.runtime.cluster import ClusterVersionWarning, Runtime
from aiex_kernel.runtime.versions import version_problems


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_scheduler_is_a_clear_error():
    address = f"tcp://127.0.0.1:{_closed_port()}"
    rt = Runtime(load_settings(scheduler=address, connect_timeout=1))
    started = time.monotonic()
    with pytest.raises(SchedulerUnreachable) as info:
        rt.client
    assert time.monotonic() - started < 30
    message = str(info.value)
    assert address in message and "AIEX_SCHEDULER" in message and "dask scheduler" in message


def test_runtime_is_lazy_and_reused(monkeypatch):
    monkeypatch.setattr(cluster_mod, "_runtime", None)
    rt = cluster_mod.get_runtime()
    assert not rt.started  # nothing started until first use
    assert cluster_mod.get_runtime() is rt
    assert cluster_mod.runtime_if_started() is None


def test_runtime_on_in_process_cluster(runtime):
    assert runtime.client.submit(sum, [1, 2, 3]).result() == 6
    info = runtime.info()
    assert info.workers == 2 and info.threads == 2
    assert info.dashboard is None
    assert runtime.nthreads() == 2
    assert cluster_mod.runtime_if_started() is runtime


def test_connects_to_scheduler_by_address(dask_cluster):
    rt = Runtime(load_settings(scheduler=dask_cluster.scheduler_address))
    try:
        assert rt.client.submit(len, "abc").result() == 3
        assert rt.kind == "remote"
        assert rt.info().address == dask_cluster.scheduler_address
    finally:
        rt.close()


def _versions(worker_pkgs: dict) -> dict:
    base = {"python": "3.11.7.final.0", "dask": "2026.8.0", "distributed": "2026.8.0", "msgpack": "1.2.4",
            "cloudpickle": "3.1.2", "toolz": "1.2.0", "aiex": "0.1.0", "tree_sitter": "0.26.1"}
    return {
        "client": {"packages": base},
        "scheduler": {"packages": {**base, "aiex": None}},
        "workers": {"tcp://127.0.0.1:1": {"packages": {**base, **worker_pkgs}}},
    }


def test_version_problems():
    assert version_problems(_versions({})) == ([], [])  # scheduler without aiex is fine
    fatal, warnings = version_problems(_versions({"dask": "2024.1.0", "python": "3.11.9.final.0"}))
    assert fatal == []
    assert warnings == ["dask: client has 2026.8.0, worker tcp://127.0.0.1:1 has 2024.1.0"]
    fatal, _ = version_problems(_versions({"aiex": None}))
    assert "does not have aiex installed" in fatal[0]


def test_version_mismatch_warns_and_missing_aiex_raises(dask_cluster, monkeypatch):
    rt = Runtime(load_settings(), cluster=dask_cluster)
    client = rt.client
    real = client.get_versions

    def fake(**kw):
        v = real(**kw)
        for w in v["workers"].values():
            w["packages"]["dask"] = "1.0.0"
        return v

    monkeypatch.setattr(client, "get_versions", fake)
    with pytest.warns(ClusterVersionWarning, match="dask: client has"):
        rt._check_versions(client)

    def no_aiex(**kw):
        v = real(**kw)
        for w in v["workers"].values():
            w["packages"]["aiex"] = None
        return v

    monkeypatch.setattr(client, "get_versions", no_aiex)
    with pytest.raises(VersionMismatch, match="install aiex"):
        rt._check_versions(client)
    rt.close()


def _worker_errors_logged() -> list[str]:
    """In a worker: what distributed.worker lets through of the heartbeat's error about a scheduler that
    closed (the race of closing a local cluster: a traceback after a job that went well) and of another error."""
    import logging

    from distributed.comm.core import CommClosedError

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("distributed.worker")
    logger.addHandler(handler)
    try:
        try:
            raise CommClosedError("in <TCP (closed) ConnectionPool.heartbeat_worker>: Stream is closed")
        except CommClosedError:
            logger.exception("Failed to communicate with scheduler during heartbeat.")
        logger.error("a real problem")
    finally:
        logger.removeHandler(handler)
    return seen


def test_own_local_cluster_survives_interrupts_and_is_replaced_when_its_workers_die():
    """The local cluster aiex starts (worker processes): no HTTP server on 8787 (no 'Port 8787 is already
    in use' warning in a second kernel), workers outside our process group and deaf to SIGINT (a kernel
    interrupt), and a cluster whose workers are gone is replaced before the next job instead of hanging.
    Without the dashboard nothing can show the workers' statistical profile, so they do not take one; Dask's
    housekeeping (event-loop ticks, memory checks, system samples) runs at aiex's slower intervals in the
    workers, the nannies and the scheduler alike, and the configuration of this process is left as it was."""
    import os
    import signal
    import warnings

    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        busy.bind(("0.0.0.0", 8787))
        busy.listen()
    except OSError:
        pass  # something already holds 8787: just as good
    rt = Runtime(load_settings(workers=1))
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client = rt.ensure_workers()
        assert not [w for w in caught if "8787" in str(w.message)]
        (pid,) = client.run(os.getpid).values()
        (profiling,) = client.run(lambda dask_worker: sorted(dask_worker.periodic_callbacks)).values()
        assert "heartbeat" in profiling and "profile" not in profiling and "profile-cycle" not in profiling

        def intervals(server) -> dict:
            return {name: server.periodic_callbacks[name].callback_time for name in ("tick", "monitor")}

        slow = {"tick": 1000, "monitor": 2000}
        assert client.run(lambda dask_worker: intervals(dask_worker)) == {a: slow for a in client.run(os.getpid)}
        assert client.run_on_scheduler(lambda dask_scheduler: intervals(dask_scheduler)) == slow
        (nanny,) = rt._cluster.workers.values()
        assert nanny.memory_manager.memory_monitor_interval == 0.5
        assert dask.config.get("distributed.admin.tick.interval") == "20ms"  # the kernel's own: Dask's default
        assert os.getsid(pid) != os.getsid(0) and os.getpgid(pid) != os.getpgid(0)
        with open(f"/proc/{pid}/status") as fh:
            ignored = int(next(line for line in fh if line.startswith("SigIgn:")).split()[1], 16)
        assert ignored & (1 << (signal.SIGINT - 1))
        assert client.run(_worker_errors_logged) == {a: ["a real problem"] for a in client.run(os.getpid)}
        os.kill(pid, signal.SIGINT)  # what "Interrupt kernel" sends to the whole group
        time.sleep(0.5)
        assert client.submit(sum, [1, 2], pure=False).result(timeout=30) == 3
        rt._cluster.scale(0)  # every worker gone
        deadline = time.monotonic() + 30
        while client.nthreads() and time.monotonic() < deadline:
            time.sleep(0.1)
        fresh = rt.ensure_workers(timeout=1)
        assert fresh.submit(sum, [2, 3], pure=False).result(timeout=30) == 5
    finally:
        rt.close()
        busy.close()
