"""``aiex start|show|stop cluster`` (the shared local Dask cluster), ``aiex start scheduler|worker`` (a real
deployment across hosts, from the stock Dask processes)."""

from __future__ import annotations

import os

from .options import LOOPBACK
from .registry import REGISTRY, Result, arg


def _tls_files(args):
    """The certificates given with --tls-ca-file/--tls-cert/--tls-key (all three, or none)."""
    from ...errors import UsageError
    from ...runtime.deployment import TLSFiles

    given = [getattr(args, k, None) for k in ("tls_ca_file", "tls_cert", "tls_key")]
    if not any(given):
        return None
    if not all(given):
        raise UsageError("TLS needs all three of --tls-ca-file, --tls-cert and --tls-key.")
    for path in given:
        if not os.path.isfile(path):
            raise UsageError(f"{path}: no such certificate or key file.")
    return TLSFiles(*given)


_TLS_ARGS = [
    arg("--tls-ca-file", metavar="PEM", help="the CA certificate(s) that sign the cluster's certificates (TLS)"),
    arg("--tls-cert", metavar="PEM", help="this process's certificate (TLS)"),
    arg("--tls-key", metavar="PEM", help="this process's private key (TLS)"),
]


def _settings(args):
    from ...config import load_settings

    return load_settings(None, scheduler=getattr(args, "scheduler", None),
                         dashboard=getattr(args, "dashboard", None), workers=getattr(args, "workers", None))


@REGISTRY.command(
    "start", "cluster",
    help="start a shared local Dask cluster that every aiex process on this machine uses",
    args=[
        arg("--workers", type=int, metavar="N", help="worker processes (default: one per core)"),
        arg("--threads-per-worker", type=int, metavar="N", help="threads per worker (default 1)"),
        arg("--dashboard", action="store_true", default=None, help="serve the Dask dashboard on 127.0.0.1"),
        arg("--tls", action="store_true",
            help="speak TLS with encryption required: a temporary certificate (kept in the data directory) unless "
                 "--tls-ca-file/--tls-cert/--tls-key name one; clients without it are refused"),
        *_TLS_ARGS,
    ],
)
def start_cluster(args, ctx) -> Result:
    """Start a Dask scheduler and workers as background processes on 127.0.0.1 (tcp) and
    record the address in the data directory; aiex processes and kernels on this
    machine attach to it instead of starting their own. `aiex stop cluster` stops it."""
    from ...errors import UsageError
    from ...runtime.shared_cluster import start_shared

    settings = _settings(args)
    workers = settings.workers or os.cpu_count() or 1
    threads = args.threads_per_worker or settings.threads_per_worker
    if workers < 1 or threads < 1:
        raise UsageError("--workers and --threads-per-worker must be at least 1.")
    files = _tls_files(args)
    state = start_shared(settings.data_dir, workers=workers, threads_per_worker=threads,
                         dashboard=bool(settings.dashboard), tls=args.tls, tls_files=files,
                         worker_start=settings.worker_start)
    text = f"Started a shared aiex cluster at {state['address']} ({workers} workers x {threads} threads, pid {state['pid']})."
    if state.get("tls"):
        text += f"\nTLS: clients need {state['tls']['ca']}, {state['tls']['cert']} and {state['tls']['key']}."
    if state.get("dashboard"):
        text += f"\nDashboard: {state['dashboard']}"
    return Result(state, human=text)


@REGISTRY.command(
    "show", "cluster",
    help="the Dask cluster aiex would use: address, workers, threads, memory, versions",
    args=[arg("--scheduler", metavar="ADDRESS", help="look at the scheduler at ADDRESS (env AIEX_SCHEDULER)")],
)
def show_cluster(args, ctx) -> Result:
    """Show the cluster this process would use: an explicit scheduler, the shared
    local cluster, or none yet (a local one is then started on demand): its hosts, and
    each worker's threads, memory, resources and versions; the dashboard link when on."""
    from ...runtime.cluster import Runtime
    from ...runtime.shared_cluster import read_state
    from ...runtime.versions import EXTRA_PACKAGES, version_problems
    from ..render import cluster_text

    settings = _settings(args)
    state = None if settings.scheduler else read_state(settings.data_dir)
    if not settings.scheduler and not state:
        workers = settings.workers or os.cpu_count() or 1
        info = {"running": False, "message": (
            "No shared cluster is running and no scheduler is configured. aiex starts a local cluster "
            f"of {workers} workers on demand for large jobs; `aiex start cluster` starts a shared one "
            "that every aiex process on this machine uses.")}
        return Result(info, human=cluster_text(info))
    runtime = Runtime(settings)
    try:
        info = {"running": True, **runtime.info().to_dict()}
        info["pid"] = state["pid"] if state else None
        if state and state.get("dashboard"):
            info["dashboard"] = state["dashboard"]
        info["version_warnings"] = version_problems(
            runtime.client.get_versions(check=False, packages=EXTRA_PACKAGES))[1]
    finally:
        runtime.close()
    return Result(info, human=cluster_text(info))


@REGISTRY.command("stop", "cluster", help="stop the shared local Dask cluster (or, with --kubernetes NAME, that one)",
                  args=[arg("--kubernetes", metavar="NAME", help="delete the DaskCluster NAME that `aiex deploy "
                                                                  "cluster --kubernetes` made"),
                        arg("--namespace", default="default", help="its Kubernetes namespace (default: default)")])
def stop_cluster(args, ctx) -> Result:
    """Stop the shared cluster that `aiex start cluster` started, or delete a Kubernetes one."""
    from ...runtime.shared_cluster import stop_shared

    if args.kubernetes:
        from ...runtime.kubernetes import tear_down

        tear_down(args.kubernetes, args.namespace)
        return Result({"stopped": True, "name": args.kubernetes, "namespace": args.namespace},
                      human=f"Deleted the DaskCluster {args.kubernetes} in namespace {args.namespace}.")

    state = stop_shared(_settings(args).data_dir)
    return Result({"stopped": True, **state}, human=f"Stopped the shared aiex cluster at {state['address']}.")


def _launch(argv, args, what: str) -> Result:
    import shlex

    from ...runtime.deployment import exec_argv

    line = shlex.join(argv)
    if args.dry_run:
        return Result({"argv": argv}, human=line)
    exec_argv(argv)  # becomes the stock Dask process; never returns
    return Result({"argv": argv}, human=f"{what}: {line}")  # pragma: no cover


@REGISTRY.command(
    "start", "scheduler", surfaces=("cli",),
    help="run a Dask scheduler here (the stock `dask scheduler`) for workers on other hosts to join",
    args=[
        arg("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; another host's workers "
                                                "need this machine's address or 0.0.0.0, with --tls)"),
        arg("--port", type=int, default=8786, help="port (default 8786; 0: any free port)"),
        arg("--dashboard", action="store_true", help="serve the Dask dashboard (at --dashboard-address)"),
        arg("--dashboard-address", default=":8787", metavar="ADDR", help="where the dashboard listens (:8787)"),
        arg("--scheduler-file", metavar="FILE", help="write the scheduler's address to FILE (for workers to read)"),
        *_TLS_ARGS,
        arg("--dry-run", action="store_true", help="print the command that would run, and run nothing"),
    ],
)
def start_scheduler(args, ctx) -> Result:
    """Become the stock Dask scheduler (`python -m distributed.cli.dask_scheduler`) with aiex's defaults:
    loopback unless --host, no dashboard (and nothing on port 8787) unless --dashboard, TLS with the three
    --tls-* files (or make them with `aiex start cluster --tls`). Workers join with `aiex start worker
    --scheduler tcp://HOST:PORT` (tls:// with TLS); aiex processes use it with --scheduler or AIEX_SCHEDULER.
    It runs in the foreground until stopped (Ctrl-C)."""
    from ...errors import UsageError
    from ...runtime.deployment import SchedulerOptions, scheduler_argv

    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535.")
    tls = _tls_files(args)
    if args.host not in LOOPBACK and tls is None:
        ctx.note(f"the scheduler listens on {args.host} without TLS: anyone who can reach it can run code on the "
                 "workers; add --tls-ca-file/--tls-cert/--tls-key (see docs/scaling.md)")
    argv = scheduler_argv(SchedulerOptions(args.host, args.port, args.dashboard, args.dashboard_address,
                                           args.scheduler_file, tls))
    return _launch(argv, args, "scheduler")


@REGISTRY.command(
    "start", "worker", surfaces=("cli",),
    help="run Dask workers here (the stock `dask worker`) that join a scheduler, with resources for aiex",
    args=[
        arg("--scheduler", metavar="ADDRESS", help="the scheduler, tcp://host:8786 (tls://... with TLS)"),
        arg("--scheduler-file", metavar="FILE", help="read the scheduler's address from FILE"),
        arg("--nthreads", type=int, default=1, metavar="N", help="threads per worker process (default 1)"),
        arg("--nworkers", type=int, default=1, metavar="N", help="worker processes (default 1)"),
        arg("--memory-limit", default="auto", metavar="BYTES", help="per worker process (default auto)"),
        arg("--resources", metavar="'cpu=N io=M'",
            help="what this worker offers aiex: cpu (parsing, indexing) and io (model calls at once); default "
                 "cpu=THREADS io=16; 'io=32' for a worker that only calls models"),
        arg("--name", help="the worker's name"),
        arg("--listen-host", dest="listen_host", metavar="HOST",
            help="address the worker listens on (default: the one that reaches the scheduler)"),
        *_TLS_ARGS,
        arg("--dry-run", action="store_true", help="print the command that would run, and run nothing"),
    ],
)
def start_worker(args, ctx) -> Result:
    """Become the stock Dask worker (`python -m distributed.cli.dask_worker`) joining --scheduler, with the
    resources aiex places work by: parsing and indexing ask for `cpu`, model calls go to workers with `io`
    (when any worker of the cluster advertises them). It runs in the foreground until stopped (Ctrl-C)."""
    from ...errors import UsageError
    from ...runtime.deployment import WorkerOptions, parse_resources, worker_argv

    address = args.scheduler or os.environ.get("AIEX_SCHEDULER")
    if not address and not args.scheduler_file:
        raise UsageError("Name the scheduler: `aiex start worker --scheduler tcp://HOST:8786` (or --scheduler-file).")
    if args.nthreads < 1 or args.nworkers < 1:
        raise UsageError("--nthreads and --nworkers must be at least 1.")
    if args.resources:
        try:
            parse_resources(args.resources)
        except ValueError as exc:
            raise UsageError(f"--resources: {exc}.") from None
    tls = _tls_files(args)
    if address and address.startswith("tls://") and tls is None:
        raise UsageError(f"{address} is a TLS scheduler: give --tls-ca-file, --tls-cert and --tls-key.")
    argv = worker_argv(WorkerOptions(address, args.scheduler_file, args.nthreads, args.nworkers, args.memory_limit,
                                     args.resources, args.name, args.listen_host, tls))
    return _launch(argv, args, "worker")


@REGISTRY.command(
    "deploy", "cluster", surfaces=("cli",),
    help="run aiex's Dask cluster on Kubernetes through the Dask operator (--dry-run: print the YAML)",
    args=[
        arg("--kubernetes", action="store_true", help="deploy on Kubernetes (the only target so far; required)"),
        arg("--name", default="aiex", help="the DaskCluster's name (default aiex)"),
        arg("--namespace", default="default", help="Kubernetes namespace (default: default)"),
        arg("--image", help="the worker image, built from docker/Dockerfile (default aiex-worker:VERSION)"),
        arg("--workers", type=int, default=2, metavar="N", help="workers to start with, the autoscaler's minimum"),
        arg("--max-workers", type=int, metavar="N", help="the autoscaler's maximum (default 4 x --workers)"),
        arg("--nthreads", type=int, default=1, metavar="N", help="threads per worker (default 1)"),
        arg("--worker-cpu", default="1", metavar="CPU", help="CPU per worker pod (default 1)"),
        arg("--worker-memory", default="4Gi", metavar="MEM", help="memory per worker pod (default 4Gi)"),
        arg("--secret", metavar="NAME", help="a Kubernetes Secret whose keys become the pods' environment (API "
                                             "keys: they never go into the manifest)"),
        arg("--dry-run", action="store_true", help="print the DaskCluster and DaskAutoscaler YAML, apply nothing"),
    ],
)
def deploy_cluster(args, ctx) -> Result:
    """Write the DaskCluster (scheduler and workers from the aiex worker image; workers advertising aiex's
    cpu and io resources) and a DaskAutoscaler, check them against the operator's CRD schemas, and apply
    them with KubeCluster (your kubeconfig), then print the scheduler's address for --scheduler /
    AIEX_SCHEDULER. `aiex stop cluster --kubernetes NAME` deletes it. See docs/scaling.md."""
    from ...errors import UsageError
    from ...runtime.kubernetes import DEFAULT_IMAGE, K8sOptions, cluster_manifests, deploy, to_yaml

    if not args.kubernetes:
        raise UsageError("Say where: `aiex deploy cluster --kubernetes` (the only target so far).")
    if args.workers < 0 or args.nthreads < 1:
        raise UsageError("--workers must be 0 or more and --nthreads at least 1.")
    options = K8sOptions(args.name, args.namespace, args.image or DEFAULT_IMAGE, args.workers, args.max_workers,
                         args.nthreads, args.worker_cpu, args.worker_memory, secret=args.secret)
    if args.dry_run:
        docs = cluster_manifests(options)
        return Result({"manifests": docs}, human=to_yaml(docs).rstrip())
    address, dashboard = deploy(options)
    text = f"Deployed the DaskCluster {args.name} in namespace {args.namespace}: scheduler at {address}."
    text += f"\nUse it with --scheduler {address} (or AIEX_SCHEDULER)."
    if dashboard:
        text += f"\nDashboard: {dashboard}"
    return Result({"name": args.name, "namespace": args.namespace, "scheduler": address, "dashboard": dashboard},
                  human=text)
