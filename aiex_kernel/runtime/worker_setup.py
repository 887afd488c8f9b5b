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

A worker forked from the server of :mod:`.worker_fork` has the server's environment
with the nanny's ``env`` over it; the variables the starting process removed since
the server started are named in ``AIEX_WORKER_UNSET`` (a JSON list) and removed here.
"""

from __future__ import annotations

import json
import logging
import os
import signal

HEARTBEAT_LOST = "Failed to communicate with scheduler during heartbeat"
#: the variables a forked worker drops (set by :func:`.worker_fork.changed_environ`)
UNSET_VARIABLE = "AIEX_WORKER_UNSET"


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


def _unset_removed() -> None:
    for name in json.loads(os.environ.pop(UNSET_VARIABLE, "[]")):
        os.environ.pop(name, None)


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload hook
    _unset_removed()
    _detach()
    _quiet_heartbeat()
