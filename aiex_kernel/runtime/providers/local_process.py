"""The parent side of the embedded model's process (see :mod:`.local_worker` for the protocol).

One :class:`ModelProcess` per configuration and per Python process, started on
first use and reused. A plain ``subprocess`` (Dask worker processes are daemonic
and cannot start ``multiprocessing`` children, but can start these), in a new
session so that a kernel interrupt sent to the kernel's process group does not
reach it. A reader thread routes each line the child writes to the request it
belongs to; when the child dies, every waiting request gets a ``died`` message
with what killed it, and the next call starts a fresh process.
"""

from __future__ import annotations

import atexit
import itertools
import json
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import ProviderError, ProviderTimeout

__all__ = ["ModelProcess", "ProcessConfig", "describe_exit", "model_process", "running_process", "stop_all"]

#: lines of the child's stderr kept for error messages
STDERR_LINES = 40
PORTABLE_REBUILD = ('CMAKE_ARGS="-DGGML_NATIVE=OFF" python3 -m pip install --force-reinstall --no-deps '
                    '--no-cache-dir llama-cpp-python')


@dataclass(frozen=True)
class ProcessConfig:
    model: str
    n_ctx: int
    threads: int = 1
    threads_batch: int = 1
    memory_mb: int = 0
    start_timeout: float = 120.0


Sink = Callable[[dict], None]


class ModelProcess:
    """One running child process serving the embedded model."""

    def __init__(self, config: ProcessConfig) -> None:
        self.config = config
        self._ids = itertools.count(1)
        self._sinks: dict[int, Sink] = {}
        self._lock = threading.Lock()
        self._stderr: deque[str] = deque(maxlen=STDERR_LINES)
        self._ready = threading.Event()
        self.info: dict = {}  #: the child's hello and ready messages merged
        self.fatal: str | None = None
        self.returncode: int | None = None
        self.killed_for: str | None = None  #: why the parent stopped it (a hang), if it did
        cmd = [sys.executable, "-P", "-m", "aiex_kernel.runtime.providers.local_worker", "--model", config.model,
               "--n-ctx", str(config.n_ctx), "--threads", str(config.threads),
               "--threads-batch", str(config.threads_batch), "--memory-mb", str(config.memory_mb)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True, env=env, cwd=str(Path(config.model).parent))
        except OSError as exc:
            raise ProviderError(f"The embedded model's process could not start: {exc}.") from None
        threading.Thread(target=self._read_stdout, name="aiex-local-out", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="aiex-local-err", daemon=True).start()

    # -- lifecycle --------------------------------------------------------------------------------

    @property
    def alive(self) -> bool:
        return self.returncode is None and self.proc.poll() is None

    def wait_ready(self) -> None:
        """Block until the model is loaded; ``ProviderError`` if the child died or failed to load it."""
        if not self._ready.wait(self.config.start_timeout):
            self.kill(f"it did not load the model within {self.config.start_timeout:g} s")
            raise ProviderTimeout(f"The embedded model did not load within {self.config.start_timeout:g} s; "
                                  "its process was stopped. Try again, or run `aiex doctor`.")
        if self.fatal is not None:
            raise ProviderError(f"The embedded model's process failed: {self.fatal}. {self.stderr_hint()}")
        if not self.alive or "n_ctx" not in self.info:
            raise ProviderError(self.death_message())

    def kill(self, reason: str) -> None:
        """Stop the child and everything it started (its whole session)."""
        self.killed_for = self.killed_for or reason
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        """Let the child go: closing its stdin makes it exit; kill it if it does not."""
        try:
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill("closed")

    # -- requests ---------------------------------------------------------------------------------

    def submit(self, messages: list[dict], options: dict, sink: Sink) -> int:
        """Queue a generation; ``sink`` receives each message about it (from the reader thread)."""
        rid = next(self._ids)
        with self._lock:
            if not self.alive:
                raise ProviderError(self.death_message())
            self._sinks[rid] = sink
        self._send({"op": "generate", "id": rid, "messages": messages, "options": options})
        return rid

    def count(self, texts: list[str]) -> list[int]:
        """Token counts of ``texts`` with the model's own tokenizer (answered beside a running generation)."""
        done = threading.Event()
        box: dict = {}

        def sink(message: dict) -> None:
            box.update(message)
            done.set()

        rid = next(self._ids)
        with self._lock:
            if not self.alive:
                raise ProviderError(self.death_message())
            self._sinks[rid] = sink
        self._send({"op": "count", "id": rid, "texts": texts})
        if not done.wait(self.config.start_timeout):
            with self._lock:
                self._sinks.pop(rid, None)
            raise ProviderTimeout("The embedded model's process did not count tokens in time.")
        if box.get("op") != "counted":
            raise ProviderError(self.death_message())
        return box["counts"]

    def cancel(self, rid: int) -> None:
        with self._lock:
            self._sinks.pop(rid, None)
        self._send({"op": "cancel", "id": rid})

    def _send(self, message: dict) -> None:
        try:
            self.proc.stdin.write((json.dumps(message) + "\n").encode())
            self.proc.stdin.flush()
        except (OSError, ValueError):  # the child is gone: the reader thread reports how
            pass

    # -- the reader threads -----------------------------------------------------------------------

    def _read_stdout(self) -> None:
        for raw in self.proc.stdout:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            op = message.get("op")
            if op in ("hello", "ready"):
                self.info.update({k: v for k, v in message.items() if k != "op"})
                if op == "ready":
                    self._ready.set()
                continue
            if op == "fatal":
                self.fatal = message.get("error", "unknown error")
                self._ready.set()
                continue
            with self._lock:
                sink = self._sinks.get(message.get("id"))
                if op in ("done", "error", "counted"):
                    self._sinks.pop(message.get("id"), None)
            if sink is not None:
                sink(message)
        self.returncode = self.proc.wait()
        self._ready.set()
        with self._lock:
            sinks, self._sinks = list(self._sinks.values()), {}
        for sink in sinks:
            sink({"op": "died"})

    def _read_stderr(self) -> None:
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr.append(line)

    # -- what went wrong --------------------------------------------------------------------------

    def stderr_hint(self) -> str:
        tail = [line.strip() for line in self._stderr if line.strip()]
        return f"Its last words: {tail[-1][:300]}" if tail else ""

    def death_message(self) -> str:
        if self.proc.poll() is None and self.returncode is None:
            return "The embedded model's process is not ready."
        return describe_exit(self.proc.returncode, killed_for=self.killed_for,
                             memory_mb=self.config.memory_mb, stderr=self.stderr_hint())


def describe_exit(returncode: int | None, *, killed_for: str | None = None, memory_mb: int = 0,
                  stderr: str = "") -> str:
    """A sentence for the user: how the model's process ended, and what to do about it."""
    what = "The embedded model's process"
    if killed_for:
        text = f"{what} was stopped by aiex: {killed_for}."
    elif returncode is not None and returncode < 0:
        sig = -returncode
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = f"signal {sig}"
        if sig == signal.SIGILL:
            text = (f"{what} died of SIGILL (illegal instruction): the installed llama-cpp-python was built for "
                    f"another CPU and uses instructions this one lacks. Rebuild it portably: {PORTABLE_REBUILD} "
                    "(`aiex doctor` checks the build).")
        elif sig == signal.SIGKILL:
            limit = f" (its memory limit is {memory_mb:,} MiB, the local_memory_mb setting)" if memory_mb else ""
            text = (f"{what} was killed (SIGKILL): most likely the system ran out of memory and the OOM killer "
                    f"took it{limit}, or someone killed it.")
        elif sig in (signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT):
            text = (f"{what} crashed in native code ({name}); a request too large for its memory can do this "
                    f"(local_memory_mb is {memory_mb:,} MiB)." if memory_mb else
                    f"{what} crashed in native code ({name}).")
        else:
            text = f"{what} was ended by {name}."
    else:
        text = f"{what} exited with code {returncode}."
    text += " Your session is unharmed; the next request starts a fresh model process."
    return f"{text} {stderr}".strip()


_processes: dict[ProcessConfig, ModelProcess] = {}
_processes_lock = threading.Lock()


def model_process(config: ProcessConfig) -> ModelProcess:
    """The running process for ``config``, started (and waited for) if there is none or it died."""
    with _processes_lock:
        proc = _processes.get(config)
        if proc is None or not proc.alive:
            proc = ModelProcess(config)
            _processes[config] = proc
    proc.wait_ready()
    return proc


def running_process(config: ProcessConfig) -> ModelProcess | None:
    """The live process for ``config``, if there is one (never starts one)."""
    proc = _processes.get(config)
    return proc if proc is not None and proc.alive else None


def stop_all() -> None:
    with _processes_lock:
        procs = list(_processes.values())
        _processes.clear()
    for proc in procs:
        proc.close()


atexit.register(stop_all)
