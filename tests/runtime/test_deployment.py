"""A real deployment from the stock processes: `aiex start scheduler` and `aiex start worker` become `dask
scheduler` and `dask worker`; aiex places parsing on the workers that advertise cpu and model calls on those
that advertise io. Then chaos: a worker SIGKILLed mid-index loses no chunk, one SIGKILLed mid-fan-out leaves
every call answered or errored, never hanging."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from deployment import Deployment, aiex

from aiex_kernel.config import load_settings
from aiex_kernel.core.requests import CompareRequest, ContextOptions

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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, llm_server_module):
    """`aiex start scheduler` + a cpu worker, an io worker and one with both, as separate processes (the
    workers' model calls go to the loopback LLM server)."""
    url = llm_server_module.url
    env = {"OPENAI_API_KEY": "sk-test-deploy", "OPENAI_BASE_URL": url + "/v1", "OLLAMA_HOST": url,
           "ANTHROPIC_API_KEY": "sk-ant-test-deploy", "ANTHROPIC_BASE_URL": url, "AIEX_MAX_RETRIES": "0"}
    workers = [("parser", "cpu=1"), ("caller", "io=4"), ("both", "cpu=1 io=16")]
    with Deployment(tmp_path_factory.mktemp("deploy"), workers, env=env) as d:
        yield d


@pytest.fixture
def deployment(cluster):
    return {"address": cluster.address, "env": cluster.env}


def test_show_cluster_lists_hosts_workers_resources_and_versions(deployment):
    out = subprocess.run(aiex("show", "cluster", "--scheduler", deployment["address"], "--json"),
                         env=deployment["env"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert info["kind"] == "remote" and info["workers"] == 3 and info["hosts"] == ["127.0.0.1"]
    members = {m["name"]: m for m in info["members"]}
    assert members["parser"]["resources"] == {"cpu": 1} and members["caller"]["resources"] == {"io": 4}
    assert members["both"]["resources"] == {"cpu": 1, "io": 16}
    assert members["parser"]["distributed"] and members["parser"]["python"]
    text = subprocess.run(aiex("show", "cluster", "--scheduler", deployment["address"]), env=deployment["env"],
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
    built = subprocess.run(aiex("build", "context", "--path", str(project), "--scheduler", deployment["address"],
                                 "--cluster", "always", "--no-progress", "--json"),
                           env=deployment["env"], capture_output=True, text=True, timeout=180)
    assert built.returncode == 0, built.stderr
    with Client(deployment["address"], timeout=30) as client:
        names = {a: w["name"] for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}
        ran = client.run(lambda dask_worker: sum(1 for entry in dask_worker.state.log
                                                 if str(entry[0]).startswith("aiex-")))
        by_name = {names[a]: n for a, n in ran.items()}
        assert by_name["parser"] + by_name["both"] > 0 and by_name["caller"] == 0, by_name
        assert resource_kwargs(client, "cpu") == {"resources": {"cpu": 1}}
        assert sorted(names[a] for a in io_workers(client)) == ["both", "caller"]


# -- chaos: workers SIGKILLed (their nannies start new ones) ------------------------------------------------


def _kill_one(client, when) -> str:
    """SIGKILL the worker process that ``when(client)`` names, once it names one."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        victim = when(client)
        if victim:
            pid = client.run(os.getpid, workers=[victim])[victim]
            os.kill(pid, signal.SIGKILL)
            return victim
        time.sleep(0.02)
    raise TimeoutError("nothing to kill: the work never started")


def _project(root, n_files=240):
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'big'\n")
    body = "".join(f"\n\ndef f{j}(x, y):\n    '''Function {j}.'''\n    total = x + y * {j}\n"
                   f"    for i in range(y):\n        total += i\n    return total\n" for j in range(60))
    for i in range(n_files):
        (root / f"mod{i:03d}.py").write_text(f'"""Module {i}."""\nimport os\n{body}')
    return root


def test_chaos_a_worker_killed_mid_index_loses_no_chunk(cluster, tmp_path, monkeypatch):
    from aiex_kernel.runtime.cluster import Runtime
    from aiex_kernel.runtime.index import open_sandbox
    from aiex_kernel.runtime.index.build import build_index
    from aiex_kernel.runtime.index.view import load_index
    from aiex_kernel.runtime.index.store import IndexStore

    monkeypatch.setenv("AIEX_DATA_DIR", str(tmp_path / "data"))
    big = _project(tmp_path / "big")
    settings = load_settings(big, scheduler=cluster.address)
    runtime = Runtime(settings)
    result = {}

    def build():
        result["report"] = build_index(open_sandbox(big, settings), settings=settings, progress=False,
                                       cluster="always", runtime=runtime)

    thread = threading.Thread(target=build)
    with cluster.client() as client:
        thread.start()

        def busy(c):
            processing = {w: ts for w, ts in c.processing().items() if any("aiex-" in str(t) for t in ts)}
            return next(iter(sorted(processing)), None)

        _kill_one(client, busy)
        thread.join(timeout=300)
    runtime.close()
    assert not thread.is_alive() and "report" in result
    report = result["report"]
    assert report.written_by.startswith("workers") and report.added == 240
    copy = _project(tmp_path / "copy")
    local = load_settings(copy)
    build_index(open_sandbox(copy, local), settings=local, progress=False, cluster="never")
    a, b = load_index(IndexStore(str(big / ".aiex" / "index"))), load_index(IndexStore(str(copy / ".aiex" / "index")))
    assert a.n_chunks == b.n_chunks == 240 * 61  # each file: its module chunk and its 60 functions
    assert sorted(f["path"] for f in a.files) == sorted(f["path"] for f in b.files)


def test_chaos_a_worker_killed_mid_fan_out_leaves_every_call_answered_or_errored(cluster, tmp_path, monkeypatch,
                                                                          llm_server_module):
    from aiex_kernel.runtime.cluster import Runtime, set_runtime
    from aiex_kernel.runtime.service import AssistantService

    for k, v in cluster.env.items():
        if k.startswith(("OPENAI", "OLLAMA", "ANTHROPIC")):
            monkeypatch.setenv(k, v)
    monkeypatch.setenv("AIEX_SCHEDULER", cluster.address)
    monkeypatch.setenv("AIEX_DATA_DIR", str(tmp_path / "data"))
    llm_server_module.reset()
    llm_server_module.latency = 2.0
    runtime = Runtime(load_settings())
    old = set_runtime(runtime)
    service = AssistantService(lambda: load_settings(), origin="cli")
    models = ("openai:gpt-4o", "openai:gpt-4o-mini", "ollama:llama3.2:3b", "anthropic:claude-sonnet-4-0")
    events = []
    try:
        def compare():
            events.extend(service.compare_sync(CompareRequest(prompt="what is a dict?", models=models, cluster="always",
                                                              context=ContextOptions(enabled=False))))

        thread = threading.Thread(target=compare)
        thread.start()
        with cluster.client() as client:
            deadline = time.monotonic() + 60
            while llm_server_module.in_flight < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
            assert llm_server_module.in_flight >= 2
            from aiex_kernel.runtime.deployment import io_workers

            victim = io_workers(client)[0]
            os.kill(client.run(os.getpid, workers=[victim])[victim], signal.SIGKILL)
        thread.join(timeout=120)
        assert not thread.is_alive()
    finally:
        llm_server_module.latency = 0.0
        service.close()
        set_runtime(old)
        runtime.close()
    turns = {e.turn for e in events if e.KIND == "TurnStarted"}
    ended = {e.turn: e.KIND for e in events if e.KIND in ("Answered", "Failed")}
    assert len(turns) == len(models) and set(ended) == turns, ended
    failed = [e for e in events if e.KIND == "Failed"]
    assert all("ClusterError" == e.error for e in failed), [(e.error, e.message) for e in failed]
