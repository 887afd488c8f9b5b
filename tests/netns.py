"""Two "hosts" in network namespaces this test makes itself (``unshare -rnm``: a user, network and mount
namespace of its own, so no other network is touched): host A at 10.99.0.1 and host B at 10.99.0.2, joined by
a veth pair. Run as a script inside the namespace by tests/runtime/test_two_hosts.py; it prints one JSON
document of what it saw.

Scenario: the scheduler and one worker on B, another worker on A, the aiex client on A. The client lists the
cluster (two hosts) and builds an index on it; then the link between A and B is cut (a network partition):
the next build must go on in this process within ``connect_timeout``, said once; then the link comes back
and the build after that runs on the cluster again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

A, B = "10.99.0.1", "10.99.0.2"


def sh(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True)


def setup() -> None:
    os.makedirs("/run/netns", exist_ok=True)
    sh("mount", "-t", "tmpfs", "none", "/run/netns")
    sh("ip", "netns", "add", "hostb")
    sh("ip", "link", "add", "veth0", "type", "veth", "peer", "name", "veth1")
    sh("ip", "link", "set", "veth1", "netns", "hostb")
    sh("ip", "addr", "add", f"{A}/24", "dev", "veth0")
    sh("ip", "link", "set", "veth0", "up")
    sh("ip", "link", "set", "lo", "up")
    sh("ip", "netns", "exec", "hostb", "ip", "addr", "add", f"{B}/24", "dev", "veth1")
    sh("ip", "netns", "exec", "hostb", "ip", "link", "set", "veth1", "up")
    sh("ip", "netns", "exec", "hostb", "ip", "link", "set", "lo", "up")


def aiex(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiex_kernel.interfaces.cli", *args]


def main() -> int:
    setup()
    base = Path(tempfile.mkdtemp(prefix="aiex-netns-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "DASK_"))}
    env.update(AIEX_DATA_DIR=str(base / "data"))
    on_b = ["ip", "netns", "exec", "hostb"]
    procs = []
    out: dict = {}
    try:
        file = base / "scheduler.json"
        procs.append(subprocess.Popen([*on_b, *aiex("start", "scheduler", "--host", B, "--port", "0",
                                                    "--scheduler-file", str(file))],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 60
        while not file.exists() or not file.read_text().strip():
            if time.monotonic() > deadline:
                raise TimeoutError("the scheduler on host B did not start")
            time.sleep(0.2)
        address = json.loads(file.read_text())["address"]
        procs.append(subprocess.Popen([*on_b, *aiex("start", "worker", "--scheduler", address, "--name", "b",
                                                    "--listen-host", B)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        procs.append(subprocess.Popen(aiex("start", "worker", "--scheduler", address, "--name", "a",
                                           "--listen-host", A),
                                      env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        from distributed import Client

        with Client(address, timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
        shown = subprocess.run(aiex("show", "cluster", "--scheduler", address, "--json"), env=env,
                               capture_output=True, text=True, timeout=120)
        out["show"] = json.loads(shown.stdout) if shown.returncode == 0 else {"error": shown.stderr}

        from aiex_kernel.config import load_settings
        from aiex_kernel.runtime import cluster as cluster_module
        from aiex_kernel.runtime.cluster import ClusterDegradedWarning, Runtime
        from aiex_kernel.runtime.index import open_sandbox
        from aiex_kernel.runtime.index.build import build_index

        cluster_module.RETRY_S = 1.0
        project = base / "proj"
        project.mkdir()
        (project / "pyproject.toml").write_text("[project]\nname = 'p'\n")
        for i in range(20):
            (project / f"m{i}.py").write_text(f"def f{i}(x):\n    return x + {i}\n")
        os.environ["AIEX_DATA_DIR"] = env["AIEX_DATA_DIR"]
        settings = load_settings(project, scheduler=address, connect_timeout=3)
        runtime = Runtime(settings)

        def build(i: int) -> dict:
            (project / f"m{i}.py").write_text(f"def g{i}(x):\n    return x * {i}  # {time.time()}\n")
            started = time.monotonic()
            report = build_index(open_sandbox(project, settings), settings=settings, progress=False,
                                 cluster="always", runtime=runtime)
            return {"where": report.where, "seconds": time.monotonic() - started}

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            out["before"] = build(0)
            sh("ip", "link", "set", "veth0", "down")  # the partition
            out["cut"] = [build(1), build(2)]
            sh("ip", "link", "set", "veth0", "up")
            out["after"] = None
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                time.sleep(1.2)
                result = build(3)
                if result["where"] == address:
                    out["after"] = result
                    break
        out["warnings"] = [str(w.message) for w in caught if issubclass(w.category, ClusterDegradedWarning)]
        out["address"] = address
        out["connect_timeout"] = settings.connect_timeout
        runtime.close()
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        shutil.rmtree(base, ignore_errors=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
