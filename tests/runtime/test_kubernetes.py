"""Kubernetes through the Dask operator: the manifests aiex writes, checked against the operator's own CRD
schemas (shipped in the dask-kubernetes wheel). No Kubernetes cluster is reachable here."""

import copy
import os
import subprocess
import sys

import pytest

pytest.importorskip("dask_kubernetes")
yaml = pytest.importorskip("yaml")

from aiex_kernel.errors import ClusterError, UsageError  # noqa: E402
from aiex_kernel.runtime.kubernetes import K8sOptions, cluster_manifests, validate_manifests  # noqa: E402


def test_the_manifests_match_the_operators_schemas_and_carry_no_keys(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak-1234567890")
    cluster, autoscaler = cluster_manifests(K8sOptions(name="team", workers=3, max_workers=10, nthreads=2,
                                                       secret="aiex-keys"))
    assert cluster["kind"] == "DaskCluster" and autoscaler["kind"] == "DaskAutoscaler"
    worker = cluster["spec"]["worker"]["spec"]["containers"][0]
    assert worker["args"][:2] == ["dask", "worker"] and cluster["spec"]["worker"]["replicas"] == 3
    assert worker["args"][worker["args"].index("--resources") + 1] == "cpu=2 io=16"
    assert worker["envFrom"] == [{"secretRef": {"name": "aiex-keys"}}]
    assert worker["image"].startswith("aiex-worker:")
    assert autoscaler["spec"] == {"cluster": "team", "minimum": 3, "maximum": 10}
    assert "sk-must-not-leak" not in yaml.safe_dump_all([cluster, autoscaler])


def test_a_manifest_that_breaks_the_schema_is_refused():
    cluster, autoscaler = cluster_manifests(K8sOptions())
    broken = copy.deepcopy(cluster)
    broken["spec"]["worker"]["replicas"] = "two"
    with pytest.raises(ClusterError, match="spec/worker/replicas"):
        validate_manifests([broken])
    bad_scaler = copy.deepcopy(autoscaler)
    del bad_scaler["spec"]["cluster"]
    with pytest.raises(ClusterError, match="DaskAutoscaler"):
        validate_manifests([bad_scaler])
    with pytest.raises(UsageError, match="not a Kubernetes name"):
        cluster_manifests(K8sOptions(name="My_Cluster"))
    with pytest.raises(UsageError, match="--max-workers"):
        cluster_manifests(K8sOptions(workers=4, max_workers=2))


def test_the_cli_prints_yaml_and_says_clearly_when_no_cluster_is_reachable(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "KUBE"))}
    env.update(HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "no-kubeconfig"), AIEX_DATA_DIR=str(tmp_path / "d"))

    def aiex(*args):
        return subprocess.run([sys.executable, "-m", "aiex_kernel.interfaces.cli", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    dry = aiex("deploy", "cluster", "--kubernetes", "--dry-run", "--workers", "1", "--image", "registry/aiex:1")
    assert dry.returncode == 0, dry.stderr
    docs = list(yaml.safe_load_all(dry.stdout))
    validate_manifests(docs)
    assert [d["kind"] for d in docs] == ["DaskCluster", "DaskAutoscaler"]
    assert docs[0]["spec"]["scheduler"]["spec"]["containers"][0]["image"] == "registry/aiex:1"
    real = aiex("deploy", "cluster", "--kubernetes", "--name", "x")
    assert real.returncode == 1 and "Cannot deploy the DaskCluster x" in real.stderr and "Traceback" not in real.stderr
    gone = aiex("stop", "cluster", "--kubernetes", "x")
    assert gone.returncode == 1 and "Cannot delete the DaskCluster x" in gone.stderr
    assert aiex("deploy", "cluster").returncode == 2
