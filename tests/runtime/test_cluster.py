import socket
import time

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
