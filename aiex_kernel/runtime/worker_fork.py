"""Worker processes forked from one warm server instead of spawned fresh (Linux).

A spawned Dask worker is a new interpreter: before its first task it imports
distributed, numpy, zarr and aiex's chunker (about 0.45 s of CPU on the machines
here), and a cold ``aiex build context`` waits for that after importing
distributed itself. On Linux aiex's local clusters (its own, and the shared one of
``aiex start cluster``) start their workers through multiprocessing's
*forkserver*: one server process does those imports once, and warms the chunker on
a two-line file (:mod:`.worker_warmup`); each worker is a fork of it, ready at once,
its pages shared. A build with no index yet starts the server as it begins
(:func:`prestart`), so the imports run on another core while this process imports
and scans: a cold ``aiex build context`` of the standard library took 4.07 s
against 4.29 s with spawned workers here (medians of four alternating runs). A
nanny that restarts a dead worker forks it too.

The server is started with the environment Dask gives spawned workers before they
start (``distributed.nanny.pre-spawn-environ``: one BLAS thread, the malloc trim
threshold, a fixed ``PYTHONHASHSEED``), a variable already set in this process
winning as it does for Dask. Variables this process sets or changes after the
server started reach the workers through the nanny, and those it removes are
removed there (:func:`changed_environ`). A ``pre-spawn-environ`` configured to
other values than the server started with means spawned workers for that cluster
(they must be set before a process starts), as does the setting ``worker_start =
"spawn"``; a server that cannot start means spawned workers too, and a cluster
that fails to start through the server is started again with spawned workers.
"""

from __future__ import annotations

import json
import os
import sys
import threading

__all__ = ["FORKSERVER_ENV", "changed_environ", "cluster_config", "prestart", "usable"]

#: what Dask sets in a spawned worker's environment before it starts (its ``pre-spawn-environ`` defaults);
#: the server gets them at its start, a value this process already has winning
FORKSERVER_ENV = {"MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                  "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "6640"}
#: imported by the server before it forks anything (a module that cannot be imported is skipped)
PRELOAD = ["aiex_kernel.runtime.worker_warmup"]

_lock = threading.Lock()
#: the environment the server started with (None: not started by this process), and what it got beyond
#: this process's (from FORKSERVER_ENV)
_server_env: dict[str, str] | None = None
_server_added: frozenset[str] = frozenset()


def usable(settings=None) -> bool:
    """Whether this process's local clusters fork their workers from the server: Linux, and the
    ``worker_start`` setting not ``"spawn"``."""
    if not sys.platform.startswith("linux"):
        return False
    return getattr(settings, "worker_start", "forkserver") != "spawn"


def prestart(settings=None) -> bool:
    """Start the server now (idempotent; returns whether it runs), so its imports overlap this process's work.

    Costs this process a few milliseconds: the server is a new process (``multiprocessing.forkserver``)."""
    global _server_env, _server_added
    if not usable(settings):
        return False
    with _lock:
        if _server_env is not None:
            return True
        import multiprocessing
        from multiprocessing import forkserver

        multiprocessing.get_context("forkserver").set_forkserver_preload(PRELOAD)
        added = {k: v for k, v in FORKSERVER_ENV.items() if k not in os.environ}
        os.environ.update(added)  # the server inherits this process's environment at its start
        try:
            forkserver.ensure_running()
            _server_env, _server_added = dict(os.environ), frozenset(added)
        except OSError:  # no process or socket to be had: the workers are spawned, as Dask does
            return False
        finally:
            for key in added:
                os.environ.pop(key, None)
        return True


def cluster_config(settings=None) -> dict:
    """The Dask configuration under which a local cluster forks its workers from the server (started here if
    it is not yet): empty when the workers are to be spawned (not Linux, ``worker_start = "spawn"``, or a
    ``pre-spawn-environ`` the server did not start with)."""
    if not usable(settings) or not prestart(settings):
        return {}
    import dask.config

    wanted = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    server = _server_env or {}
    for key, value in wanted.items():
        if value is not None and server.get(key) != os.environ.get(key, str(value)):
            return {}  # the server cannot give its workers this: they must be spawned
    import distributed.utils

    # distributed would otherwise import every optional package it knows (pandas, ...) in this process to
    # preload a server it does not start: ours already runs, with its own preload
    distributed.utils._forkserver_preload_set = True
    return {"distributed.worker.multiprocessing-method": "forkserver"}


def changed_environ() -> dict[str, str]:
    """What the nanny sets in each forked worker: the variables this process set or changed since the server
    started (a spawned worker would inherit them), and those it removed, by name (:mod:`.worker_setup` drops
    them). Empty when no server runs."""
    if _server_env is None:
        return {}
    out = {k: v for k, v in os.environ.items() if _server_env.get(k) != v}
    removed = sorted(k for k in _server_env if k not in os.environ and k not in _server_added)
    if removed:
        from .worker_setup import UNSET_VARIABLE

        out[UNSET_VARIABLE] = json.dumps(removed)
    return out
