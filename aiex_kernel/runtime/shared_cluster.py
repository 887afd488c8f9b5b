"""The shared local cluster: ``aiex start|show|stop cluster``.

``aiex start cluster`` launches a background process (``python -m
aiex_kernel.runtime.shared_cluster``) that runs a Dask scheduler and worker
processes on 127.0.0.1 over tcp, and records its address in
``<data dir>/cluster.json``. Every aiex process and kernel on the machine then
attaches to it (see :mod:`aiex_kernel.runtime.cluster`). The process removes the
file when it stops.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ..errors import ClusterError, ClusterNotRunning

__all__ = ["STATE_FILE", "shared_address", "read_state", "start_shared", "stop_shared"]

STATE_FILE = "cluster.json"
LOG_FILE = "cluster.log"
#: the shared clusters this process started (their Popen handles, kept until the process ends)
_DETACHED: list = []


def _state_path(data_dir: Path) -> Path:
    return Path(data_dir) / STATE_FILE


def _pid_alive(pid: int) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        # A recycled pid belongs to some other program: only ours counts.
        return proc.status() != psutil.STATUS_ZOMBIE and any(
            "aiex_kernel.runtime.shared_cluster" in part for part in proc.cmdline()
        )
    except psutil.Error:
        return False


def read_state(data_dir: Path) -> dict | None:
    """The recorded shared cluster, or ``None``; a stale record is removed."""
    path = _state_path(data_dir)
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return None
    if not isinstance(state, dict) or not _pid_alive(int(state.get("pid", -1))):
        path.unlink(missing_ok=True)
        return None
    return state


def shared_address(data_dir: Path) -> str | None:
    state = read_state(data_dir)
    return state["address"] if state else None


def shared_tls(data_dir: Path):
    """The certificate files of the shared cluster when it speaks TLS (``TLSFiles``), else None."""
    state = read_state(data_dir)
    tls = state.get("tls") if state else None
    if not tls:
        return None
    from .deployment import TLSFiles

    return TLSFiles(tls["ca"], tls["cert"], tls["key"])


def start_shared(data_dir: Path, *, workers: int, threads_per_worker: int = 1, dashboard: bool = False,
                 timeout: float = 60.0, tls: bool = False, tls_files=None, worker_start: str = "forkserver") -> dict:
    """Start the shared cluster in the background and wait until it is up."""
    data_dir = Path(data_dir)
    existing = read_state(data_dir)
    if existing:
        raise ClusterError(
            f"A shared aiex cluster is already running at {existing['address']} (pid {existing['pid']}); "
            "`aiex stop cluster` stops it."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "aiex_kernel.runtime.shared_cluster", "--data-dir", str(data_dir),
           "--workers", str(workers), "--threads-per-worker", str(threads_per_worker),
           "--worker-start", worker_start]
    if dashboard:
        cmd.append("--dashboard")
    if tls or tls_files is not None:
        if tls_files is None:
            from .tls import TLS_DIR, make_certificates

            tls_files = make_certificates(data_dir / TLS_DIR)
        cmd += tls_files.argv()
    log = (data_dir / LOG_FILE).open("ab")
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                            close_fds=True)
    _DETACHED.append(proc)  # it outlives this handle on purpose: kept, so no "still running" ResourceWarning
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(data_dir)
        if state and state.get("pid") == proc.pid:
            return state
        if proc.poll() is not None:
            raise ClusterError(
                f"The shared cluster exited at start (code {proc.returncode}); see {data_dir / LOG_FILE}."
            )
        time.sleep(0.1)
    proc.terminate()
    raise ClusterError(f"The shared cluster did not start within {timeout:g} s; see {data_dir / LOG_FILE}.")


def stop_shared(data_dir: Path, *, timeout: float = 30.0) -> dict:
    """Stop the shared cluster; returns the state it had."""
    state = read_state(data_dir)
    if not state:
        raise ClusterNotRunning("No shared aiex cluster is running on this machine; `aiex start cluster` starts one.")
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _pid_alive(pid):
        time.sleep(0.1)
    if _pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    _state_path(data_dir).unlink(missing_ok=True)
    return state


def _serve(args: argparse.Namespace) -> int:
    """Run the cluster until SIGTERM/SIGINT (the background process's body)."""
    import asyncio

    from distributed import LocalCluster

    from .._version import __version__
    from .cluster_options import housekeeping, local_cluster_options

    data_dir = Path(args.data_dir)
    stop = asyncio.Event()
    extra: dict = {}
    tls = None
    if args.tls_ca_file:
        from .deployment import TLSFiles
        from .tls import security_for

        tls = TLSFiles(args.tls_ca_file, args.tls_cert, args.tls_key)
        extra = {"security": security_for(tls), "protocol": "tls://"}

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        async with LocalCluster(
            n_workers=args.workers,
            threads_per_worker=args.threads_per_worker,
            processes=True,
            scheduler_port=0,
            silence_logs=logging.WARNING,
            **local_cluster_options(dashboard=args.dashboard),
            **extra,
            asynchronous=True,
        ) as cluster:
            state = {
                "address": cluster.scheduler_address,
                "pid": os.getpid(),
                "workers": args.workers,
                "threads_per_worker": args.threads_per_worker,
                "dashboard": cluster.dashboard_link if args.dashboard else None,
                "started": time.time(),
                "aiex": __version__,
                "tls": {"ca": tls.ca, "cert": tls.cert, "key": tls.key} if tls else None,
            }
            tmp = _state_path(data_dir).with_suffix(".tmp")
            tmp.write_text(json.dumps(state), encoding="utf-8")
            tmp.replace(_state_path(data_dir))
            try:
                await stop.wait()
            finally:
                current = read_state(data_dir)
                if current and current.get("pid") == os.getpid():
                    _state_path(data_dir).unlink(missing_ok=True)

    with housekeeping(args):  # this process is the cluster's: its scheduler and nannies, for as long as it runs
        asyncio.run(main())
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiex_kernel.runtime.shared_cluster")
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--threads-per-worker", type=int, default=1)
    parser.add_argument("--dashboard", action="store_true")
    parser.add_argument("--worker-start", choices=("forkserver", "spawn"), default="forkserver")
    parser.add_argument("--tls-ca-file")
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    return _serve(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
