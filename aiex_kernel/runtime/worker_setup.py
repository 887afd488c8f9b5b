"""Preloaded into every worker process of a local cluster aiex starts (Dask's ``preload``).

A local cluster's worker processes are children of the process that started it,
and share its process group. In a Jupyter kernel that is fatal: "Interrupt
kernel" sends SIGINT to the kernel's whole process group, which would kill every
worker and leave the next job waiting for workers that are gone. So each worker
leaves the group (its own session) and ignores SIGINT; it still exits when its
parent does (distributed watches the parent's pipe), and ``aiex`` stops it with
the cluster.

Closing a local cluster stops its scheduler while a worker's heartbeat can be
on the way: the worker then logs "Failed to communicate with scheduler during
heartbeat" with a traceback, which a user sees after an ``aiex build context``
that went well. The scheduler of a local cluster lives in the parent process, so
it is gone only when the parent closes it (or exits, and the worker with it):
that one message is dropped; every other error of the worker still shows.
"""

from __future__ import annotations

import logging
import os
import signal

HEARTBEAT_LOST = "Failed to communicate with scheduler during heartbeat"


def _detach() -> None:
    try:
        os.setsid()
    except OSError:  # already a session leader
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class _SchedulerClosing(logging.Filter):
    """Drops the heartbeat's traceback about a scheduler that is closing (see the module's docstring)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(HEARTBEAT_LOST)


def _quiet_heartbeat() -> None:
    logger = logging.getLogger("distributed.worker")
    if not any(isinstance(f, _SchedulerClosing) for f in logger.filters):
        logger.addFilter(_SchedulerClosing())


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload hook
    _detach()
    _quiet_heartbeat()
