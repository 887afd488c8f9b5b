"""Two hosts simulated with network namespaces the test makes itself (tests/netns.py): a cluster across them,
and a real network partition between the client and the scheduler (degraded mode, then reattached)."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

DRIVER = Path(__file__).resolve().parents[1] / "netns.py"


def _namespaces_work() -> str | None:
    if not shutil.which("unshare") or not shutil.which("ip"):
        return "unshare or ip (iproute2) is not installed"
    probe = subprocess.run(["unshare", "-rnm", "ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1"],
                           capture_output=True, text=True)
    return None if probe.returncode == 0 else f"network namespaces cannot be made here: {probe.stderr.strip()}"


def test_a_cluster_across_two_hosts_survives_a_partition():
    why = _namespaces_work()
    if why:
        pytest.skip(why)
    done = subprocess.run(["unshare", "-rnm", sys.executable, str(DRIVER)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["show"]["hosts"] == ["10.99.0.1", "10.99.0.2"], seen["show"]
    assert {m["name"] for m in seen["show"]["members"]} == {"a", "b"}
    assert seen["before"]["where"] == seen["address"]
    assert [c["where"] for c in seen["cut"]] == ["in-process", "in-process"]
    assert all(c["seconds"] < seen["connect_timeout"] + 10 for c in seen["cut"]), seen["cut"]
    assert seen["after"] is not None and seen["after"]["where"] == seen["address"]
    stopped = [w for w in seen["warnings"] if "stopped answering" in w]
    assert len(stopped) == 1 and any("answers again" in w for w in seen["warnings"]), seen["warnings"]
