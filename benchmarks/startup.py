"""How fast the everyday commands start, as fresh processes, in one run.

For ``aiex show context``, ``aiex ask --dry-run`` and ``aiex build context`` on a
copy of this repository (its tracked files, indexed once beforehand, so every run
finds the index warm), ``--runs`` fresh processes each (medians printed):

* **start-up**: from the moment the process is launched to the moment the settings
  are loaded (interpreter start, imports, argument parsing, the settings: before any
  work of the command). Goal: under 300 ms.
* **to the index**: to the first file opened under ``<root>/.aiex/`` (start-up plus
  choosing the model, which may probe local servers, plus importing the index code).
* **total**: the whole process, to its exit.

Both marks come from a wrapper that runs the CLI module the way ``python -m`` does,
with an audit hook (the first ``open`` under ``.aiex/``) and a wrapper around
``aiex_kernel.config.load_settings`` (its first return); nothing is instrumented in
the package. Then one ``python -X importtime`` run of each command lists its top 10
top-level modules by cumulative import time.

Models: ``--model`` (default ``openai:gpt-4o``, counted offline with o200k_base, no
call is made) is what the comparison with aider uses; ``--model default`` lets aiex
choose (on a machine without keys or local servers: the embedded model, whose
tokenizer lives in its own process, about 1 s to start).

Writes ``benchmarks/results/startup.json``.

Usage: ``python benchmarks/startup.py [--runs 5] [--model openai:gpt-4o] [--repo DIR] [--code DIR]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
QUESTION = "where is the context budget fitted"
GOAL_MS = 300

#: runs the CLI as `python -m aiex_kernel.interfaces.cli` would, and reports when the settings were first
#: loaded and when a file under .aiex/ was first opened, as seconds since the epoch (to the fd it is given)
WRAPPER = r'''
import os, sys, time
_marks = {}
def _mark(name):
    if name not in _marks:
        _marks[name] = time.time()
def _hook(event, args):
    if event == "open" and "index" not in _marks and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if (os.sep + ".aiex" + os.sep) in path and not path.endswith("config.toml"):
            _mark("index")
sys.addaudithook(_hook)
import aiex_kernel.config as _config
_load = _config.load_settings
def _load_settings(*a, **k):
    value = _load(*a, **k)
    _mark("settings")
    return value
_config.load_settings = _load_settings
import atexit, json
if os.environ.get("AIEX_BENCH_MARKS_FD"):
    atexit.register(lambda: os.write(int(os.environ["AIEX_BENCH_MARKS_FD"]), json.dumps(_marks).encode()))
import runpy
sys.argv = ["aiex", *sys.argv[1:]]
runpy.run_module("aiex_kernel.interfaces.cli", run_name="__main__", alter_sys=True)
'''


def commands(model: str | None) -> dict[str, list[str]]:
    m = ["--model", model] if model else []
    return {
        "show context": ["show", "context", "-q", QUESTION, *m],
        "ask --dry-run": ["ask", "--dry-run", *m, QUESTION],
        "build context": ["build", "context"],
    }


def environment(tmp: Path, code: Path) -> dict[str, str]:
    # bytecode is written (a user's installed aiex has it), so no run compiles aiex's modules again
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIEX_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(AIEX_DATA_DIR=str(tmp / "data"), AIEX_CONFIG_DIR=str(tmp / "config"), PYTHONPATH=str(code),
               AIEX_PROGRESS="false")
    return env


def one_run(wrapper: Path, argv: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    read, write = os.pipe()
    started = time.time()
    proc = subprocess.Popen([sys.executable, str(wrapper), *argv], cwd=cwd, env={**env, "AIEX_BENCH_MARKS_FD": str(write)},
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    os.close(write)
    _, err = proc.communicate()
    ended = time.time()
    with os.fdopen(read, "rb") as fh:
        marks = json.loads(fh.read() or b"{}")
    if proc.returncode != 0:
        raise SystemExit(f"`aiex {' '.join(argv)}` failed ({proc.returncode}): {err.decode()[-2000:]}")
    return {"total_ms": (ended - started) * 1000,
            **{f"{k}_ms": (v - started) * 1000 for k, v in marks.items()}}


def import_top(wrapper: Path, argv: list[str], cwd: Path, env: dict[str, str], n: int = 10) -> list[tuple[str, float]]:
    proc = subprocess.run([sys.executable, "-X", "importtime", str(wrapper), *argv],
                          cwd=cwd, env=env, capture_output=True, text=True)
    top = []
    for line in proc.stderr.splitlines():
        if not line.startswith("import time:") or "|" not in line:
            continue
        _, cumulative, name = line.split("|", 2)
        if cumulative.strip().isdigit() and not name[1:].startswith(" "):  # top level: one space after the bar
            top.append((name.strip(), int(cumulative) / 1000))
    return sorted(top, key=lambda t: -t[1])[:n]


def bare_python(env: dict[str, str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], env=env, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def copy_repository(src: Path, dst: Path) -> Path:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=src, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        rel = os.fsdecode(name)
        source = src / rel
        if source.is_file() and not source.is_symlink():
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(source.read_bytes())
    (dst / ".git").mkdir(exist_ok=True)  # a project marker; nothing reads it
    return dst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per command (medians)")
    parser.add_argument("--model", default="openai:gpt-4o", help="the model named (`default`: let aiex choose)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the repository to copy and index (default: this one)")
    parser.add_argument("--code", type=Path, default=REPO,
                        help="the folder holding the aiex_kernel to run (default: this checkout; e.g. an older "
                             "commit's `git archive` for a before/after)")
    args = parser.parse_args()
    model = None if args.model == "default" else args.model

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        repo = copy_repository(args.repo.resolve(), tmp / "repo")
        env = environment(tmp, args.code.resolve())
        wrapper = tmp / "aiex_marks.py"
        wrapper.write_text(WRAPPER)
        # the wrapper, not `-m`: with `-m` the copy's own aiex_kernel (the current directory) would shadow --code
        built = subprocess.run([sys.executable, str(wrapper), "build", "context", "--no-progress"],
                               cwd=repo, env=env, capture_output=True, text=True)
        if built.returncode != 0:
            raise SystemExit(f"the first `aiex build context` failed: {built.stderr[-2000:]}")
        results: dict = {"repo": str(args.repo.resolve()), "code": str(args.code.resolve()), "model": args.model,
                         "runs": args.runs,
                         "python_c_pass_ms": bare_python(env, args.runs), "commands": {}}
        print(f"{args.repo.resolve()} ({sum(1 for _ in repo.rglob('*') if _.is_file()):,} files), model "
              f"{args.model}; medians of {args.runs} fresh processes; `python -c pass` "
              f"{results['python_c_pass_ms']:.0f} ms")
        for name, argv in commands(model).items():
            runs = [one_run(wrapper, argv, repo, env) for _ in range(args.runs)]
            row = {key: statistics.median(r[key] for r in runs) for key in runs[0] if all(key in r for r in runs)}
            row["runs"] = runs
            row["import_top10_ms"] = import_top(wrapper, argv, repo, env)
            results["commands"][name] = row
            print(f"aiex {name}: start-up {row.get('settings_ms', float('nan')):.0f} ms (goal < {GOAL_MS} ms), "
                  f"to the index {row.get('index_ms', float('nan')):.0f} ms, total {row['total_ms']:.0f} ms")
            print("  import time, top 10 cumulative: " + ", ".join(f"{m} {t:.0f}" for m, t in row["import_top10_ms"]))
    target = HERE / "results"
    target.mkdir(exist_ok=True)
    (target / "startup.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
