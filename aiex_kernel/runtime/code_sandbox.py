"""Running an answer's Python code, and its doctests, where it can do no harm.

A temporary directory, a fresh interpreter in isolated mode with an empty
environment (no keys), CPU-time and address-space limits, a wall-clock timeout,
and no network: the process runs in a network namespace of its own
(``unshare -rn``). Where no network namespace can be made, the code is not run and
the check says why. On a cluster it runs as a task on a worker.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from ..core.llm import code_blocks
from ..core.quality import CodeCheck

__all__ = ["run_python"]

#: seconds of wall time, seconds of CPU, MiB of address space
TIMEOUT_S, CPU_S, MEMORY_MB = 10.0, 8, 1024
_RUNNER = """
import doctest, importlib.util, resource, sys
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))
resource.setrlimit(resource.RLIMIT_AS, ({mem}, {mem}))
spec = importlib.util.spec_from_file_location("answer", "answer.py")
module = importlib.util.module_from_spec(spec)
sys.modules["answer"] = module
spec.loader.exec_module(module)
failed, tried = doctest.testmod(module, verbose=False)
print(f"doctests: {{tried - failed}} of {{tried}} passed")
sys.exit(1 if failed else 0)
"""


def _isolation() -> list[str] | None:
    """The command prefix that cuts a process off the network, or None where there is none."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return None
    try:
        probe = subprocess.run([unshare, "-rn", "true"], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [unshare, "-rn"] if probe.returncode == 0 else None


def run_python(answer: str, *, timeout: float = TIMEOUT_S) -> CodeCheck:
    """Run the Python blocks of ``answer`` (joined) and their doctests; what came of it."""
    code = "\n\n".join(b.code for b in code_blocks(answer) if b.language in ("python", "py", "python3", ""))
    if not code.strip():
        return CodeCheck(False, False, "no Python code to run")
    isolation = _isolation()
    if isolation is None:
        return CodeCheck(False, False, "not run: no network namespace can be made here (unshare -rn)")
    runner = _RUNNER.format(cpu=CPU_S, mem=MEMORY_MB * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="aiex-run-") as tmp:
        Path(tmp, "answer.py").write_text(code, encoding="utf-8")
        try:
            done = subprocess.run([*isolation, sys.executable, "-I", "-c", runner], cwd=tmp, capture_output=True,
                                  text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin", "HOME": tmp},
                                  start_new_session=True)
        except subprocess.TimeoutExpired:
            return CodeCheck(True, False, f"timed out after {timeout:g} s")
    tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
    detail = " / ".join(line.strip() for line in tail)[:300]
    return CodeCheck(True, done.returncode == 0, detail or f"exit code {done.returncode}")
