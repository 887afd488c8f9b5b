"""`aiex start|show|stop cluster` end to end, with real background processes."""

import json

import pytest


@pytest.mark.timeout(240)
def test_shared_cluster_lifecycle(cli, tmp_path):
    proj = tmp_path / "proj"
    (proj / ".git").mkdir(parents=True)
    (proj / "m.py").write_text("def f():\n    return 1\n")

    shown = json.loads(cli("show", "cluster", "--json").stdout)
    assert shown["running"] is False and "aiex start cluster" in shown["message"]
    assert cli("stop", "cluster").returncode == 1

    started = cli("start", "cluster", "--workers", "1", "--json")
    assert started.returncode == 0, started.stderr
    state = json.loads(started.stdout)
    try:
        assert state["address"].startswith("tcp://127.0.0.1:")
        again = cli("start", "cluster", "--workers", "1")
        assert again.returncode == 1 and "already running" in again.stderr

        shown = json.loads(cli("show", "cluster", "--json").stdout)
        assert shown["running"] is True and shown["kind"] == "shared"
        assert shown["address"] == state["address"] and shown["workers"] == 1 and shown["pid"] == state["pid"]
        assert shown["version_warnings"] == []

        # a small job attaches to the shared cluster instead of running in-process
        report = json.loads(cli("analyze", "code", "--path", str(proj), "--json").stdout)
        assert report["where"] == state["address"] and report["totals"]["files"] == 1

        # its scheduler and worker run Dask's housekeeping at aiex's intervals (cluster_options.HOUSEKEEPING)
        from distributed import Client

        with Client(state["address"], timeout=30) as client:
            tick = client.run_on_scheduler(
                lambda dask_scheduler: dask_scheduler.periodic_callbacks["tick"].callback_time)
            ticks = client.run(lambda dask_worker: dask_worker.periodic_callbacks["tick"].callback_time)
        assert tick == 1000 and list(ticks.values()) == [1000]
    finally:
        stopped = cli("stop", "cluster", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(cli("show", "cluster", "--json").stdout)["running"] is False
