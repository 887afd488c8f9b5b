"""A real multi-process Dask deployment for tests: `aiex start scheduler` and `aiex start worker` processes
(which become the stock `dask scheduler` / `dask worker`), on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def aiex(*args: str) -> list[str]:
    return [sys.executable, "-m", "aiex_kernel.interfaces.cli", *args]


def wait_for_file(path: Path, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists() or not path.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} never appeared")
        time.sleep(0.2)
    return json.loads(path.read_text())


class Deployment:
    """``with Deployment(base, workers=[("parser", "cpu=1"), ...], env={...}) as d:`` ``d.address``."""

    def __init__(self, base: Path, workers, env: dict | None = None, scheduler_args=(), worker_args=()) -> None:
        self.base, self.workers = Path(base), list(workers)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "DASK_"))}
        self.env.update(AIEX_DATA_DIR=str(self.base / "data"), AIEX_CONFIG_DIR=str(self.base / "config"),
                        **(env or {}))
        self.scheduler_args, self.worker_args = list(scheduler_args), list(worker_args)
        self.procs: list[subprocess.Popen] = []
        self.address = ""

    def _start(self, argv, log: str) -> subprocess.Popen:
        proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=open(self.base / log, "w"))
        self.procs.append(proc)
        return proc

    def __enter__(self) -> Deployment:
        self.base.mkdir(parents=True, exist_ok=True)
        file = self.base / "scheduler.json"
        self._start(aiex("start", "scheduler", "--port", "0", "--scheduler-file", str(file), *self.scheduler_args),
                    "scheduler.log")
        try:
            self.address = wait_for_file(file)["address"]
            for name, resources in self.workers:
                self._start(aiex("start", "worker", "--scheduler", self.address, "--name", name, "--resources",
                                 resources, *self.worker_args), f"{name}.log")
            with self.client() as client:
                client.wait_for_workers(len(self.workers), timeout=60)
        except BaseException:
            self.__exit__()
            raise
        return self

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=30, set_as_default=False)

    def __exit__(self, *exc) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # foreground processes: Ctrl-C stops them
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
