"""Options every local Dask cluster aiex starts shares (its own, and the shared one of `aiex start cluster`)."""

from __future__ import annotations

import contextlib

__all__ = ["HOUSEKEEPING", "housekeeping", "local_cluster_options"]

#: Dask's periodic housekeeping, slowed down. Its defaults wake every scheduler, nanny and
#: worker 50 times a second to time the event loop (``tick``), 10 times to check a
#: worker's memory and twice to sample CPU, memory and network (``system-monitor``):
#: about a tenth of a core for an idle two-worker cluster, taken from the tasks during a
#: build. Here: the loop timed every second (a loop blocked past ``tick.limit`` is still
#: reported), memory checked every half second (the spill, pause and terminate
#: thresholds still hold), the system sampled every two seconds (the memory that
#: `aiex show cluster` lists is at most that old). ``benchmarks/cluster_overhead.py``
#: measures the difference.
HOUSEKEEPING: dict = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "500ms",
}


def local_cluster_options(*, dashboard: bool) -> dict:
    """``LocalCluster`` options shared by every local cluster aiex starts (worker processes).

    Loopback only. Dask's scheduler serves HTTP even with the dashboard off, on port
    8787 unless told otherwise (a second kernel then warns "Port 8787 is already in
    use"): without the dashboard it gets a random loopback port.

    The workers get Dask's configuration with :data:`HOUSEKEEPING` (the nanny hands
    this ``config`` to its worker process in place of its own, so it is the whole
    configuration). Without the dashboard, the workers' statistical profiler is off
    too: it samples the running task's stack every 10 ms for the dashboard's Profile
    page only, and costs about 5% of every task's CPU (``benchmarks/cluster_overhead.py``
    measures it). The scheduler and the nannies run in the starting process: start the
    cluster inside :func:`housekeeping` for them. Workers forked from the server of
    :mod:`.worker_fork` get what this process's environment changed since it started (``env``).
    """
    import copy

    import dask.config

    from .worker_fork import changed_environ

    changed = dict(HOUSEKEEPING) if dashboard else {**HOUSEKEEPING, "distributed.worker.profile.enabled": False}
    with dask.config.set(changed):
        config = copy.deepcopy(dask.config.config)
    return {
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0" if dashboard else None,
        "scheduler_kwargs": {} if dashboard else {"dashboard_address": "127.0.0.1:0"},
        "preload": ["aiex_kernel.runtime.worker_setup"],
        "config": config,
        "env": changed_environ(),
    }


@contextlib.contextmanager
def housekeeping(settings=None, *, fork: bool = True):
    """:data:`HOUSEKEEPING` for the scheduler and nannies a ``LocalCluster`` creates in this process (Dask
    reads these intervals when it creates them: on a synchronous cluster's construction, an asynchronous
    one's start); with ``fork``, the nannies fork their workers from :mod:`.worker_fork`'s server where it
    can serve them."""
    import dask.config

    from .worker_fork import cluster_config

    with dask.config.set({**HOUSEKEEPING, **(cluster_config(settings) if fork else {})}):
        yield
