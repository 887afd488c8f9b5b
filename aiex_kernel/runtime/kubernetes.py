"""aiex on Kubernetes, through the Dask Kubernetes operator (``pip install 'aiex[k8s]'``).

:func:`cluster_manifests` writes the two resources the operator runs: a
``DaskCluster`` (scheduler and workers from the aiex worker image, the workers
advertising aiex's ``cpu`` and ``io`` resources, API keys only through a Kubernetes
Secret named with ``--secret``, never in the manifest) and a ``DaskAutoscaler``
(between ``--workers`` and ``--max-workers``). Every manifest is checked against the
operator's own CRD schemas, which the dask-kubernetes wheel ships with its Helm
chart (:func:`validate_manifests`), before it is printed or applied.

:func:`deploy` applies them with ``KubeCluster`` (kubeconfig or in-cluster
credentials) and returns the scheduler's address; :func:`tear_down` deletes the
cluster. No Kubernetes cluster is reachable from aiex's own test machines: the tests
validate the manifests, and the docs say so.
"""

from __future__ import annotations

import functools
import importlib.resources
from dataclasses import dataclass

from .._version import __version__
from ..errors import ClusterError, UsageError
from .deployment import DEFAULT_IO

__all__ = ["DEFAULT_IMAGE", "K8sOptions", "cluster_manifests", "crd_schemas", "deploy", "tear_down", "to_yaml",
           "validate_manifests"]

DEFAULT_IMAGE = f"aiex-worker:{__version__}"
_GROUP = "kubernetes.dask.org"


@dataclass(frozen=True)
class K8sOptions:
    name: str = "aiex"
    namespace: str = "default"
    image: str = DEFAULT_IMAGE
    workers: int = 2
    max_workers: int | None = None  #: the autoscaler's maximum (default: 4 x workers)
    nthreads: int = 1
    worker_cpu: str = "1"
    worker_memory: str = "4Gi"
    io: int = DEFAULT_IO
    secret: str | None = None  #: a Secret whose keys become the pods' environment (OPENAI_API_KEY, ...)


def _operator():
    try:
        from dask_kubernetes.operator import make_cluster_spec
    except ImportError:
        raise UsageError("Kubernetes needs the dask-kubernetes operator client: pip install 'aiex[k8s]'.") from None
    return make_cluster_spec


def cluster_manifests(o: K8sOptions) -> list[dict]:
    """The ``DaskCluster`` and ``DaskAutoscaler`` resources for ``o``."""
    if o.workers < 0 or (o.max_workers is not None and o.max_workers < max(1, o.workers)):
        raise UsageError("--max-workers must be at least --workers (and 1).")
    import re

    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", o.name):
        raise UsageError(f"{o.name!r} is not a Kubernetes name: lower-case letters, digits and '-', up to 63.")
    spec = _operator()(o.name, image=o.image, n_workers=o.workers, env={"AIEX_CLUSTER": o.name})
    resources = {"requests": {"cpu": o.worker_cpu, "memory": o.worker_memory},
                 "limits": {"cpu": o.worker_cpu, "memory": o.worker_memory}}
    worker = spec["spec"]["worker"]["spec"]["containers"][0]
    scheduler = spec["spec"]["scheduler"]["spec"]["containers"][0]
    for container, stock in ((worker, "worker"), (scheduler, "scheduler")):  # the `dask` command of the image
        if container["args"] and container["args"][0] == f"dask-{stock}":
            container["args"] = ["dask", stock, *container["args"][1:]]
    worker["args"] += ["--nthreads", str(o.nthreads), "--memory-limit", "0",
                       "--resources", f"cpu={o.nthreads} io={o.io}"]
    worker["resources"] = resources
    scheduler["resources"] = {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
    for container in (worker, scheduler):
        if o.secret:
            container["envFrom"] = [{"secretRef": {"name": o.secret}}]
    spec["metadata"]["namespace"] = o.namespace
    spec["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "aiex", "app.kubernetes.io/version": __version__}
    autoscaler = {"apiVersion": f"{_GROUP}/v1", "kind": "DaskAutoscaler",
                  "metadata": {"name": o.name, "namespace": o.namespace,
                               "labels": {"app.kubernetes.io/managed-by": "aiex"}},
                  "spec": {"cluster": o.name, "minimum": max(1, o.workers),
                           "maximum": o.max_workers if o.max_workers is not None else max(1, o.workers) * 4}}
    docs = [spec, autoscaler]
    validate_manifests(docs)
    return docs


#: the CRD file of each kind aiex writes
_CRD_FILES = {"DaskCluster": "daskcluster.yaml", "DaskAutoscaler": "daskautoscaler.yaml"}


@functools.lru_cache(maxsize=None)
def crd_schemas() -> dict[str, dict]:
    """kind -> the openAPIV3Schema of the operator's CRDs aiex writes, from the Helm chart in the
    dask-kubernetes wheel (parsed once per process)."""
    import yaml

    _operator()
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    folder = importlib.resources.files("dask_kubernetes") / "operator" / "deployment" / "helm" / \
        "dask-kubernetes-operator" / "crds"
    out = {}
    for kind, name in _CRD_FILES.items():
        crd = yaml.load((folder / name).read_text(), Loader=loader)  # noqa: S506 - a safe loader
        version = next(v for v in crd["spec"]["versions"] if v.get("served", True))
        out[crd["spec"]["names"]["kind"]] = version["schema"]["openAPIV3Schema"]
    return out


def _json_schema(node):
    """An OpenAPI v3 schema as JSON Schema: ``x-kubernetes-int-or-string`` and ``nullable`` spelled out."""
    if isinstance(node, list):
        return [_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _json_schema(v) for k, v in node.items() if not k.startswith("x-kubernetes-") and k != "nullable"}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


@functools.lru_cache(maxsize=None)
def _validator(kind: str):
    import jsonschema

    return jsonschema.Draft7Validator(_json_schema(crd_schemas()[kind]))


def validate_manifests(docs: list[dict]) -> None:
    """Each resource against its CRD's schema (``ClusterError`` naming the first problem)."""
    schemas = crd_schemas()
    for doc in docs:
        schema = schemas.get(doc.get("kind"))
        if schema is None:
            raise ClusterError(f"No CRD for {doc.get('kind')!r} in the dask-kubernetes operator.")
        errors = sorted(_validator(doc["kind"]).iter_errors(doc), key=lambda e: [str(p) for p in e.path])
        if errors:
            first = errors[0]
            where = "/".join(str(p) for p in first.absolute_path) or "(the resource)"
            raise ClusterError(f"The {doc['kind']} manifest does not match the operator's schema at {where}: "
                               f"{first.message}")


def to_yaml(docs: list[dict]) -> str:
    import yaml

    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)


def _kube_error(exc: Exception, what: str) -> ClusterError:
    return ClusterError(f"Cannot {what}: {type(exc).__name__}: {exc}. Check that kubectl works here (a kubeconfig, "
                        "or running inside the cluster) and that the Dask operator is installed "
                        "(helm install dask-kubernetes-operator; see docs/scaling.md).")


def deploy(o: K8sOptions) -> tuple[str, str | None]:
    """Apply the manifests with ``KubeCluster`` and wait for the scheduler; (its address, dashboard link)."""
    docs = cluster_manifests(o)
    try:
        from dask_kubernetes.operator import KubeCluster

        cluster = KubeCluster(custom_cluster_spec=docs[0], namespace=o.namespace, shutdown_on_close=False,
                              quiet=True)
        cluster.adapt(minimum=docs[1]["spec"]["minimum"], maximum=docs[1]["spec"]["maximum"])
    except Exception as exc:  # noqa: BLE001 - kubernetes clients raise many kinds
        raise _kube_error(exc, f"deploy the DaskCluster {o.name} in namespace {o.namespace}") from None
    return cluster.scheduler_address, getattr(cluster, "dashboard_link", None)


def tear_down(name: str, namespace: str = "default") -> None:
    try:
        from dask_kubernetes.operator import KubeCluster

        KubeCluster.from_name(name, namespace=namespace, quiet=True).close()
    except Exception as exc:  # noqa: BLE001
        raise _kube_error(exc, f"delete the DaskCluster {name} in namespace {namespace}") from None
