"""Options every local Dask cluster aiex starts shares (its own, and the shared one of `aiex start cluster`)."""

from __future__ import annotations

__all__ = ["local_cluster_options"]


def local_cluster_options(*, dashboard: bool) -> dict:
    """``LocalCluster`` options shared by every local cluster aiex starts (worker processes).

    Loopback only. Dask's scheduler serves HTTP even with the dashboard off, on port
    8787 unless told otherwise (a second kernel then warns "Port 8787 is already in
    use"): without the dashboard it gets a random loopback port.

    Without the dashboard, the workers' statistical profiler is off too: it samples the
    running task's stack every 10 ms for the dashboard's Profile page only, and costs
    about 5% of every task's CPU (``benchmarks/cluster_overhead.py`` measures it). The
    nanny hands this ``config`` to its worker process in place of its own (so it is
    the whole configuration, with that one value changed).
    """
    import dask.config

    options: dict = {
        "host": "127.0.0.1",
        "dashboard_address": "127.0.0.1:0" if dashboard else None,
        "scheduler_kwargs": {} if dashboard else {"dashboard_address": "127.0.0.1:0"},
        "preload": ["aiex_kernel.runtime.worker_setup"],
    }
    if not dashboard:
        options["config"] = dask.config.merge(dask.config.config,
                                              {"distributed": {"worker": {"profile": {"enabled": False}}}})
    return options
