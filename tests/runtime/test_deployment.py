"""A real deployment from the stock processes: `aiex start scheduler` and `aiex start worker` become `dask
scheduler` and `dask worker`; aiex places parsing on the workers that advertise cpu and model calls on those
that advertise io."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aiex_kernel.runtime.deployment import (
    SchedulerOptions,
    WorkerOptions,
    parse_resources,
    scheduler_argv,
    worker_argv,
)


def test_the_command_lines_are_the_stock_processes_with_aiex_defaults():
    argv = scheduler_argv(SchedulerOptions())
    assert argv[1:3] == ["-m", "distributed.cli.dask_scheduler"]
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and "--no-dashboard" in argv
    assert argv[argv.index("--dashboard-address") + 1] == "127.0.0.1:0"  # nothing on 8787
    on = scheduler_argv(SchedulerOptions(host="0.0.0.0", dashboard=True))
    assert "--dashboard" in on and on[on.index("--dashboard-address") + 1] == ":8787"
    w = worker_argv(WorkerOptions("tcp://10.0.0.1:8786", nthreads=4))
    assert w[1:4] == ["-m", "distributed.cli.dask_worker", "tcp://10.0.0.1:8786"]
    assert w[w.index("--resources") + 1] == "cpu=4 io=16"
    only_calls = worker_argv(WorkerOptions("tcp://h:1", resources="io=32"))
    assert only_calls[only_calls.index("--resources") + 1] == "io=32"
    assert parse_resources("cpu=2, io=16 gpu=0.5") == {"cpu": 2, "io": 16, "gpu": 0.5}
    with pytest.raises(ValueError, match="NAME=NUMBER"):
        parse_resources("cpu")


def _aiex(*args):
    return [sys.executable, "-m", "aiex_kernel.interfaces.cli", *args]


def _wait_for(path, timeout=60):
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.2)
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def deployment(tmp_path_factory):
    """`aiex start scheduler` + a cpu worker + an io worker, as separate processes."""
    base = tmp_path_factory.mktemp("deploy")
    file = base / "scheduler.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "DASK_"))}
    env.update(AIEX_DATA_DIR=str(base / "data"), AIEX_CONFIG_DIR=str(base / "config"))
    procs = [subprocess.Popen(_aiex("start", "scheduler", "--port", "0", "--scheduler-file", str(file)),
                              env=env, stdout=subprocess.DEVNULL, stderr=open(base / "scheduler.log", "w"))]
    try:
        address = _wait_for(file)["address"]
        for name, resources in (("parser", "cpu=1"), ("caller", "io=4")):
            procs.append(subprocess.Popen(
                _aiex("start", "worker", "--scheduler", address, "--name", name, "--resources", resources),
                env=env, stdout=subprocess.DEVNULL, stderr=open(base / f"{name}.log", "w")))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        yield {"address": address, "env": env, "base": base}
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)  # foreground processes: Ctrl-C stops them
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_show_cluster_lists_hosts_workers_resources_and_versions(deployment):
    out = subprocess.run(_aiex("show", "cluster", "--scheduler", deployment["address"], "--json"),
                         env=deployment["env"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["kind"] == "remote" and info["workers"] == 2 and info["hosts"] == ["127.0.0.1"]
    members = {m["name"]: m for m in info["members"]}
    assert members["parser"]["resources"] == {"cpu": 1} and members["caller"]["resources"] == {"io": 4}
    assert members["parser"]["distributed"] and members["parser"]["python"]
    text = subprocess.run(_aiex("show", "cluster", "--scheduler", deployment["address"]), env=deployment["env"],
                          capture_output=True, text=True, timeout=120).stdout
    assert "cpu=1" in text and "io=4" in text and "hosts: 127.0.0.1" in text


def test_parsing_lands_on_cpu_workers_and_model_calls_on_io_workers(deployment, tmp_path):
    from distributed import Client

    from aiex_kernel.runtime.deployment import io_workers, resource_kwargs

    project = tmp_path / "proj"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
    for i in range(30):
        (project / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
    built = subprocess.run(_aiex("build", "context", "--path", str(project), "--scheduler", deployment["address"],
                                 "--cluster", "always", "--no-progress", "--json"),
                           env=deployment["env"], capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr
    with Client(deployment["address"], timeout=30) as client:
        names = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        ran = client.run(lambda dask_worker: sum(1 for entry in dask_worker.state.log
                                                 if str(entry[0]).startswith("aiex-")))
        by_name = {names[a]: n for a, n in ran.items()}
        assert by_name["parser"] > 0 and by_name["caller"] == 0, by_name
        assert resource_kwargs(client, "cpu") == {"resources": {"cpu": 1}}
        assert [names[a] for a in io_workers(client)] == ["caller"]
