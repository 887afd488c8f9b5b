"""Preloaded into every worker process of a local cluster aiex starts (Dask's ``preload``).

A local cluster's worker processes are children of the process that started it,
and share its process group. In a Jupyter kernel that is fatal: "Interrupt
kernel" sends SIGINT to the kernel's whole process group, which would kill every
worker and leave the next job waiting for workers that are gone. So each worker
leaves the group (its own session) and ignores SIGINT; it still exits when its
parent does (distributed watches the parent's pipe), and ``aiex`` stops it with
the cluster.
"""

from __future__ import annotations

import os
import signal


def _detach() -> None:
    try:
        os.setsid()
    except OSError:  # already a session leader
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload hook
    _detach()
