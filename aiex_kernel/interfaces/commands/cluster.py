"""``aiex start|show|stop cluster``: the shared local Dask cluster."""

from __future__ import annotations

from .registry import REGISTRY, Result, arg


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
    ],
)
def start_cluster(args, ctx) -> Result:
    """Start a Dask scheduler and workers as background processes on 127.0.0.1 (tcp) and
    record the address in the data directory; aiex processes and kernels on this
    machine attach to it instead of starting their own. `aiex stop cluster` stops it."""
    import os

    from ...errors import UsageError
    from ...runtime.shared_cluster import start_shared

    settings = _settings(args)
    workers = settings.workers or os.cpu_count() or 1
    threads = args.threads_per_worker or settings.threads_per_worker
    if workers < 1 or threads < 1:
        raise UsageError("--workers and --threads-per-worker must be at least 1.")
    state = start_shared(settings.data_dir, workers=workers, threads_per_worker=threads,
                         dashboard=bool(settings.dashboard))
    text = f"Started a shared aiex cluster at {state['address']} ({workers} workers x {threads} threads, pid {state['pid']})."
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
    local cluster, or none yet (a local one is then started on demand)."""
    import os

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


@REGISTRY.command("stop", "cluster", help="stop the shared local Dask cluster")
def stop_cluster(args, ctx) -> Result:
    """Stop the shared cluster that `aiex start cluster` started."""
    from ...runtime.shared_cluster import stop_shared

    state = stop_shared(_settings(args).data_dir)
    return Result({"stopped": True, **state}, human=f"Stopped the shared aiex cluster at {state['address']}.")
