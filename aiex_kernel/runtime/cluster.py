"""The Dask runtime: one per process, started lazily on first use and reused.

Where the cluster comes from, first match wins:

1. an explicit scheduler address: ``--scheduler``, ``AIEX_SCHEDULER`` or
   ``scheduler`` in config.toml (``tcp://host:8786``);
2. the shared local cluster started by ``aiex start cluster`` (its address is
   recorded in the data directory), so every aiex process and kernel on the
   machine attaches to it instead of starting its own;
3. a new ``LocalCluster`` in this process, one single-threaded worker process per
   core, listening on 127.0.0.1 only, with the dashboard off unless asked for.

A local cluster's worker processes leave the starting process's process group
and ignore SIGINT (:mod:`.worker_setup`), so interrupting a Jupyter kernel stops
aiex's job, never the workers. Before each job, :meth:`Runtime.ensure_workers`
checks that workers are there: a local cluster whose workers are gone is
replaced, a remote one without workers is an error instead of a job that waits
forever. The runtime is closed at interpreter exit.

Degraded mode: when a remote or shared scheduler stops answering mid-session (it
died, or the network between is cut), :meth:`Runtime.usable_client` says so once
(a :class:`ClusterDegradedWarning`) and returns None, and the callers run their work
in this process (chunking, indexing, context, model calls). Every ``RETRY_S``
seconds the next job tries to reattach, within ``connect_timeout``; when the
scheduler answers again that is said too, and work goes back to the cluster. No
check waits longer than ``connect_timeout``.
"""

from __future__ import annotations

import atexit
import logging
import threading
import warnings
from dataclasses import dataclass
from typing import Any

from ..errors import SchedulerUnreachable, VersionMismatch
from .cluster_options import housekeeping, local_cluster_options
from .versions import EXTRA_PACKAGES, version_problems

__all__ = ["Runtime", "ClusterDegradedWarning", "ClusterVersionWarning", "get_runtime", "reset_runtime",
           "runtime_if_started"]

#: seconds a job waits for workers (a nanny restarting one) before a local cluster is replaced
WORKER_WAIT = 5.0
#: seconds between two attempts to reach a scheduler that stopped answering (degraded mode)
RETRY_S = 5.0


class ClusterVersionWarning(UserWarning):
    """Client, scheduler and workers run different package versions."""


class ClusterDegradedWarning(UserWarning):
    """The scheduler stopped answering (aiex works in this process meanwhile), or answers again."""


@dataclass
class ClusterInfo:
    kind: str  # "remote", "shared" or "local"
    address: str
    workers: int
    threads: int
    memory_bytes: int
    dashboard: str | None
    #: per worker: address, host, name, threads, memory limit, resources, Python and aiex/distributed versions
    members: list[dict] | None = None

    @property
    def hosts(self) -> list[str]:
        return sorted({m["host"] for m in self.members or []})

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "hosts": self.hosts}


class Runtime:
    """A Dask client and, for a local cluster, the cluster it owns."""

    def __init__(self, settings, *, cluster=None):
        self.settings = settings
        self._cluster = cluster  # an existing cluster object (tests) or one we start
        self._owns_cluster = False
        self._client = None
        self.kind: str | None = None
        self._lock = threading.Lock()
        self._degraded_at: float | None = None  #: when the scheduler last failed to answer (None: it answers)
        self._address_seen: str | None = None

    # -- lifecycle -------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._client is not None

    @property
    def client(self):
        """The ``distributed.Client``, connecting or starting a cluster on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _connect(self):
        from distributed import Client

        if self._cluster is not None:
            self.kind = "local"
            client = Client(self._cluster, set_as_default=False)
        else:
            address, self.kind = cluster_address(self.settings)
            if address is None:
                self._cluster = self._start_local()
                self._owns_cluster = True
                client = Client(self._cluster, set_as_default=False)
            else:
                client = _connect_client(address, self.settings.connect_timeout, self.kind, self._security(address))
        try:
            self._check_versions(client)
        except BaseException:
            client.close()
            raise
        self._address_seen = client.scheduler.address
        return client

    def _security(self, address: str):
        """The ``Security`` for a tls:// scheduler: the shared cluster's certificates, or the tls_* settings."""
        if not address.startswith("tls://"):
            return None
        from ..errors import ConfigError
        from .deployment import TLSFiles
        from .shared_cluster import shared_tls
        from .tls import security_for

        s = self.settings
        files = shared_tls(s.data_dir) if self.kind == "shared" else None
        if files is None:
            if not (s.tls_ca_file and s.tls_cert and s.tls_key):
                raise ConfigError(f"{address} speaks TLS: set tls_ca_file, tls_cert and tls_key (config.toml, or "
                                  "AIEX_TLS_CA_FILE, AIEX_TLS_CERT, AIEX_TLS_KEY) to the cluster's certificate files.")
            files = TLSFiles(s.tls_ca_file, s.tls_cert, s.tls_key)
        return security_for(files)

    def _start_local(self):
        import os

        from distributed import LocalCluster

        from .worker_fork import cluster_config

        workers = self.settings.workers or os.cpu_count() or 1

        def start(fork: bool):
            with housekeeping(self.settings, fork=fork):
                return LocalCluster(
                    n_workers=workers,
                    threads_per_worker=self.settings.threads_per_worker,
                    processes=True,
                    silence_logs=logging.ERROR,
                    **local_cluster_options(dashboard=bool(self.settings.dashboard)),
                )

        if not cluster_config(self.settings):  # the workers are to be spawned
            return start(fork=False)
        held = _HeldBack()  # the nannies' tracebacks of a failed fork: this warning says it once
        nanny = logging.getLogger("distributed.nanny")
        nanny.addFilter(held)
        try:
            cluster = start(fork=True)
        except Exception as exc:  # noqa: BLE001 - the server could not fork them: spawn them, as Dask does
            logging.getLogger(__name__).warning("Could not fork the local workers from their server (%s: %s); "
                                                "spawning them instead.", type(exc).__name__, exc)
            return start(fork=False)
        finally:
            nanny.removeFilter(held)
        for record in held.records:  # it started: what the nannies said still shows
            nanny.handle(record)
        return cluster

    @property
    def degraded(self) -> bool:
        return self._degraded_at is not None

    def usable_client(self, timeout: float = WORKER_WAIT):
        """The client with workers, or None while a remote or shared scheduler does not answer (degraded
        mode: the caller runs its work in this process). A local cluster is never degraded; a scheduler never
        reached at all is an error, as before (``SchedulerUnreachable``)."""
        import time

        if self._owns_cluster or self._cluster is not None:
            return self.ensure_workers(timeout)
        if self._degraded_at is not None and time.monotonic() - self._degraded_at < RETRY_S:
            return None
        was_degraded = self._degraded_at is not None
        try:
            client = self.client  # connects (the first time, or to reattach) within connect_timeout
            self._probe(client)
        except Exception as exc:  # noqa: BLE001 - died, or the network to it is cut
            if not was_degraded and self._address_seen is None:
                raise
            self._drop_client()
            self._degraded_at = time.monotonic()
            if not was_degraded:
                warnings.warn(f"The Dask scheduler at {self._address_seen} stopped answering ({type(exc).__name__});"
                              " aiex runs its work in this process meanwhile, and reattaches when it is back (tried "
                              f"every {RETRY_S:g} s).", ClusterDegradedWarning, stacklevel=2)
            return None
        if was_degraded:
            self._degraded_at = None
            warnings.warn(f"The Dask scheduler at {client.scheduler.address} answers again; aiex's work goes back "
                          "to the cluster.", ClusterDegradedWarning, stacklevel=2)
        return self.ensure_workers(timeout)

    def _probe(self, client) -> None:
        """One round trip to the scheduler, within ``connect_timeout`` (raises when it does not answer)."""
        if client.status not in ("running", "newly-created"):
            raise ConnectionError(f"the client is {client.status}")
        client.sync(client.scheduler.identity, callback_timeout=self.settings.connect_timeout)
        self._address_seen = client.scheduler.address

    def _drop_client(self) -> None:
        """Forget a client whose scheduler is gone (closed in the background: that can take a while)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            threading.Thread(target=lambda: _close_quietly(client), name="aiex-close-client", daemon=True).start()

    def ensure_workers(self, timeout: float = WORKER_WAIT):
        """The client, with at least one worker: a local cluster that lost its workers is replaced,
        a remote or shared one without workers is a ``ClusterError`` (never a job that waits forever)."""
        import time

        from ..errors import ClusterError

        client = self.client
        deadline = time.monotonic() + timeout
        while True:
            try:
                if client.nthreads():
                    return client
            except (OSError, TimeoutError):  # the scheduler itself is gone
                pass
            if time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        if self._owns_cluster:
            self.close()
            return self.client  # a fresh local cluster
        raise ClusterError(
            f"The Dask cluster at {client.scheduler.address} has no workers (they died or were stopped); "
            "start workers there, restart the cluster (`aiex stop cluster`, `aiex start cluster`), or run "
            "with --cluster never.")

    def _check_versions(self, client) -> None:
        versions = client.get_versions(check=False, packages=EXTRA_PACKAGES)
        fatal, problems = version_problems(versions)
        if fatal:
            raise VersionMismatch(
                f"The Dask cluster at {client.scheduler.address} cannot run aiex tasks: " + "; ".join(fatal)
            )
        if problems:
            warnings.warn(
                f"package versions differ on the Dask cluster at {client.scheduler.address} ("
                + "; ".join(problems)
                + "). Install the same versions on the client, scheduler and workers.",
                ClusterVersionWarning,
                stacklevel=3,
            )

    def info(self) -> ClusterInfo:
        client = self.client
        scheduler = client.scheduler_info(n_workers=-1)
        workers = scheduler["workers"]
        try:
            versions = client.get_versions(check=False, packages=EXTRA_PACKAGES).get("workers", {})
        except Exception:  # noqa: BLE001 - a worker that cannot say its versions is still listed
            versions = {}
        members = []
        for address, w in sorted(workers.items()):
            v = versions.get(address) or {}
            packages = v.get("packages", {}) if isinstance(v, dict) else {}
            members.append({"address": address, "host": w.get("host") or address.split("://")[-1].rsplit(":", 1)[0],
                            "name": str(w.get("name", "")), "threads": w.get("nthreads", 0),
                            "memory_bytes": w.get("memory_limit", 0) or 0, "resources": dict(w.get("resources") or {}),
                            "python": packages.get("python"), "aiex": packages.get("aiex"),
                            "distributed": packages.get("distributed")})
        if self.kind == "local":
            has_dashboard = self.settings.dashboard
        else:
            has_dashboard = "dashboard" in (scheduler.get("services") or {})
        return ClusterInfo(
            kind=self.kind or "local",
            address=client.scheduler.address,
            workers=len(workers),
            threads=sum(w.get("nthreads", 0) for w in workers.values()),
            memory_bytes=sum(w.get("memory_limit", 0) or 0 for w in workers.values()),
            dashboard=client.dashboard_link if has_dashboard else None,
            members=members,
        )

    def nthreads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
            if client is not None:
                client.close()
            if self._owns_cluster and self._cluster is not None:
                self._cluster.close()
                self._cluster = None
                self._owns_cluster = False


class _QuietClients(logging.Filter):
    """Drops distributed.client's tracebacks about a scheduler that is gone while aiex knows it (degraded mode
    says it once, in one line)."""

    closing = 0

    def filter(self, record: logging.LogRecord) -> bool:
        return not (self.closing and record.levelno <= logging.ERROR)


_QUIET = _QuietClients()


def _close_quietly(client) -> None:
    logger = logging.getLogger("distributed.client")
    if _QUIET not in logger.filters:
        logger.addFilter(_QUIET)
    _QUIET.closing += 1
    try:
        client.close(timeout=2)
    except Exception:  # noqa: BLE001 - the scheduler is gone; nothing to close cleanly
        pass
    finally:
        _QUIET.closing -= 1


def _connect_client(address: str, timeout: float, kind: str, security=None):
    from distributed import Client

    try:
        return Client(address, timeout=timeout, set_as_default=False, security=security)
    except (OSError, TimeoutError) as exc:
        if kind == "shared":
            hint = "The shared aiex cluster seems to have died; run `aiex stop cluster` then `aiex start cluster`."
        else:
            hint = (
                "Check that `dask scheduler` is running there, that the host and port are right and reachable "
                "from this machine, or unset AIEX_SCHEDULER / --scheduler to use a local cluster."
            )
        raise SchedulerUnreachable(
            f"Could not reach the Dask scheduler at {address} within {timeout:g} s ({type(exc).__name__}). {hint}"
        ) from None


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def get_runtime(settings=None) -> Runtime:
    """The process's runtime, created on first call (the cluster starts on first use)."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            if settings is None:
                from ..config import load_settings

                settings = load_settings()
            _runtime = Runtime(settings)
        return _runtime


def cluster_address(settings) -> tuple[str | None, str]:
    """Where the cluster of ``settings`` is: (the scheduler set, "remote"), (the shared one, "shared"), or
    (None, "local"): one to start in this process."""
    if settings.scheduler:
        return settings.scheduler, "remote"
    from .shared_cluster import shared_address

    shared = shared_address(settings.data_dir)
    if shared:
        return shared, "shared"
    return None, "local"


class _HeldBack(logging.Filter):
    """Keeps the records of a logger back (a cluster's start that may be retried) for its caller to replay."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.records.append(record)
        return False


def prestart_local_workers(settings, runtime: Runtime | None = None) -> None:
    """When a job would start a local cluster (``runtime``, else the process's, has none; no scheduler is set
    or shared), start the server its workers fork from now, so its imports overlap the caller's work
    (:mod:`.worker_fork`). Creates no runtime."""
    rt = runtime or _runtime
    if rt is not None and (rt.started or rt._cluster is not None):
        return
    from .worker_fork import prestart, usable

    if usable(settings) and cluster_address(settings)[0] is None:
        prestart(settings)


def runtime_if_started() -> Runtime | None:
    """The process's runtime if it is connected, else ``None`` (never starts one)."""
    rt = _runtime
    return rt if rt is not None and rt.started else None


def set_runtime(runtime: Runtime | None) -> Runtime | None:
    """Install ``runtime`` as the process's runtime (tests, embedding); returns the old one."""
    global _runtime
    with _runtime_lock:
        old, _runtime = _runtime, runtime
        return old


def reset_runtime() -> None:
    """Close and forget the process's runtime."""
    old = set_runtime(None)
    if old is not None:
        old.close()


atexit.register(reset_runtime)
