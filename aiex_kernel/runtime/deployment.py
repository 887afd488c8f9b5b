"""Real deployments: the stock ``dask scheduler`` and ``dask worker`` processes, started the aiex way.

``aiex start scheduler`` and ``aiex start worker --scheduler ADDRESS`` *become*
those processes (``os.execv``), with aiex's defaults:

* the scheduler listens on ``--host`` (127.0.0.1 unless given: another host must
  be named on purpose, and is told to use ``--tls`` for it); its dashboard is off
  unless ``--dashboard`` (and then at ``--dashboard-address``, default ``:8787``);
  with the dashboard off its HTTP server is bound to a random loopback port, so
  nothing is served on 8787;
* a worker advertises **resources** (Dask's abstract resources): ``cpu`` (its threads,
  for parsing and indexing) and ``io`` (concurrent model calls), ``--resources
  "cpu=4 io=16"`` to say otherwise, ``--resources "io=32"`` for a worker that only
  calls models. aiex asks for ``cpu`` for parsing tasks and places its model-call
  actors on workers with ``io``, whenever some worker of the cluster advertises them
  (:func:`resource_kwargs`, :func:`io_workers`); a cluster whose workers advertise
  none runs every task anywhere, as before;
* with TLS, each gets the certificates (``--tls-ca-file``, ``--tls-cert``,
  ``--tls-key``). They run in the foreground, so Ctrl-C stops them (unlike the
  workers of a local cluster inside a kernel, :mod:`.worker_setup`).

:func:`scheduler_argv` and :func:`worker_argv` are pure (the argv), so ``--dry-run``
prints exactly what would run.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass

__all__ = ["DEFAULT_IO", "SchedulerOptions", "TLSFiles", "WorkerOptions", "io_workers", "parse_resources",
           "resource_kwargs", "scheduler_argv", "worker_argv"]

#: model calls one worker runs at once by default (they wait on the network, not the CPU)
DEFAULT_IO = 16
_RESOURCE = re.compile(r"^([A-Za-z_][\w-]*)=(\d+(?:\.\d+)?)$")


@dataclass(frozen=True)
class TLSFiles:
    ca: str
    cert: str
    key: str

    def argv(self) -> list[str]:
        return ["--tls-ca-file", self.ca, "--tls-cert", self.cert, "--tls-key", self.key]


@dataclass(frozen=True)
class SchedulerOptions:
    host: str = "127.0.0.1"
    port: int = 8786
    dashboard: bool = False
    dashboard_address: str = ":8787"
    scheduler_file: str | None = None
    tls: TLSFiles | None = None


@dataclass(frozen=True)
class WorkerOptions:
    scheduler: str | None = None  #: tcp://host:8786 (or tls://)
    scheduler_file: str | None = None
    nthreads: int = 1
    nworkers: int = 1
    memory_limit: str = "auto"
    resources: str | None = None  #: "cpu=2 io=16" (default: cpu = nthreads, io = DEFAULT_IO)
    name: str | None = None
    host: str | None = None  #: the address to listen on (default: the one that reaches the scheduler)
    tls: TLSFiles | None = None


def parse_resources(text: str) -> dict[str, float]:
    """``"cpu=2 io=16"`` (spaces or commas between) as a dict; ``ValueError`` naming a bad item."""
    out: dict[str, float] = {}
    for item in re.split(r"[\s,]+", text.strip()):
        if not item:
            continue
        m = _RESOURCE.match(item)
        if m is None:
            raise ValueError(f"{item!r} is not NAME=NUMBER (as in --resources 'cpu=2 io=16')")
        value = float(m.group(2))
        out[m.group(1)] = int(value) if value.is_integer() else value
    return out


def _python() -> list[str]:
    return [sys.executable]


def scheduler_argv(o: SchedulerOptions) -> list[str]:
    """The stock scheduler's command line for ``o``."""
    protocol = "tls" if o.tls else "tcp"
    argv = [*_python(), "-m", "distributed.cli.dask_scheduler", "--host", o.host, "--port", str(o.port),
            "--protocol", protocol]
    if o.dashboard:
        argv += ["--dashboard", "--dashboard-address", o.dashboard_address]
    else:
        argv += ["--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
    if o.scheduler_file:
        argv += ["--scheduler-file", o.scheduler_file]
    if o.tls:
        argv += o.tls.argv()
    return argv


def worker_argv(o: WorkerOptions) -> list[str]:
    """The stock worker's command line for ``o`` (resources: ``cpu`` = threads and ``io`` by default)."""
    resources = parse_resources(o.resources) if o.resources else {"cpu": o.nthreads, "io": DEFAULT_IO}
    argv = [*_python(), "-m", "distributed.cli.dask_worker"]
    if o.scheduler:
        argv.append(o.scheduler)
    argv += ["--nthreads", str(o.nthreads), "--nworkers", str(o.nworkers), "--memory-limit", o.memory_limit,
             "--resources", " ".join(f"{k}={v}" for k, v in resources.items()), "--no-dashboard"]
    if o.scheduler_file:
        argv += ["--scheduler-file", o.scheduler_file]
    if o.name:
        argv += ["--name", o.name]
    if o.host:
        argv += ["--host", o.host]
    if o.tls:
        argv += o.tls.argv()
    return argv


def exec_argv(argv: list[str]) -> None:
    """Become the process ``argv`` describes (its output is the terminal's; Ctrl-C stops it)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)


# -- what aiex asks of a cluster's workers ----------------------------------------------------------------


def _workers(client) -> dict:
    return client.scheduler_info(n_workers=-1)["workers"]


def resource_kwargs(client, kind: str) -> dict:
    """``{"resources": {kind: 1}}`` for ``client.submit`` when some worker advertises ``kind``, else ``{}`` (a
    task that asks for a resource no worker has would wait forever)."""
    if any(kind in (w.get("resources") or {}) for w in _workers(client).values()):
        return {"resources": {kind: 1}}
    return {}


def io_workers(client) -> list[str]:
    """The workers that take model calls: those advertising ``io`` (every worker when none does)."""
    workers = _workers(client)
    marked = sorted(a for a, w in workers.items() if "io" in (w.get("resources") or {}))
    return marked or sorted(workers)
