"""The context engine on real corpora nobody here wrote, in one run.

For each corpus (default: the interpreter's standard library without its
site-packages, and the installed ``distributed`` package), copied to a temporary
directory first (the warm rebuild edits a file):

* cold build, one process (``--cluster never``) and on a 2-worker local cluster;
* warm rebuild after nothing changed, and after one file's content changed;
* assembling a 4,096-token context (o200k_base) for a few questions: with the
  index loaded in memory (a notebook session), and from a fresh process's point of
  view (manifest + arrays loaded from disk each time).

The peer: aider's repo map (``aider --show-repo-map``, gpt-4o's tokenizer, 4,096
tokens), run as a process side by side on the standard library when aider is
installed (``--aider``, default ``/tmp/aider-venv/bin/aider``): cold (no tags cache)
and cached, with ``LITELLM_LOCAL_MODEL_COST_MAP=True``, its analytics and update
checks off and its model-price cache pre-filled from litellm's bundled copy (so it
fetches nothing). Against it, whole ``aiex`` processes: a cold ``build context`` and
a warm ``show context --model openai:gpt-4o`` (the index checked for changes, then
the context). Goals: warm show context at least 20x faster than aider's cached run,
cold build at least 6x faster than its cold run. Without aider, the figures measured
here earlier stand in: 26.0 s cold and 12.4 s with its tags cache.
Prints ratios and writes ``benchmarks/results/context.json``.

Usage: ``python benchmarks/context.py [--repeat 3] [--corpus DIR ...] [--aider PATH]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

AIDER_COLD_S = 26.0
AIDER_CACHED_S = 12.4
QUESTIONS = [
    "how does json.loads decode a string with JSONDecoder",
    "what does functools.lru_cache do and how is the cache keyed",
    "asyncio event loop run_until_complete",
    "where are worker memory limits enforced and workers paused",
    "how does the scheduler decide which worker runs a task",
]


def copy_corpus(src: Path, dst: Path) -> Path:
    skip = shutil.ignore_patterns("site-packages", "dist-packages", "__pycache__", "*.pyc")
    shutil.copytree(src, dst, ignore=skip, symlinks=True)
    return dst


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def bench_corpus(name: str, src: Path, repeat: int, workers: int, tmp: Path) -> dict:
    from distributed import LocalCluster

    from aiex_kernel.config import load_settings
    from aiex_kernel.runtime.cluster import Runtime
    from aiex_kernel.runtime.index import open_sandbox
    from aiex_kernel.runtime.index.build import build_index
    from aiex_kernel.runtime.index.context import assemble_context
    from aiex_kernel.runtime.index.store import IndexStore
    from aiex_kernel.runtime.index.view import load_index
    from aiex_kernel.runtime.tokenizers import token_counter

    root = copy_corpus(src, tmp / name)
    settings = load_settings(root, max_file_bytes=64 * 1024 * 1024)
    sandbox = open_sandbox(root, settings)
    out: dict = {"corpus": str(src)}

    def cold(mode: str, runtime=None, index: str = "idx"):
        store = IndexStore(str(tmp / f"{name}-{index}"))
        store.wipe()
        return build_index(sandbox, settings=settings, store=store, cluster=mode, progress=False, runtime=runtime)

    # one process
    times, report = [], None
    for _ in range(repeat):
        t, report = timed(lambda: cold("never"))
        times.append(t)
    out.update(files=report.files, chunks=report.chunks, cold_one_process_s=min(times))
    # a 2-worker local cluster (started once, outside the timing, as a shared cluster would be)
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                      host="127.0.0.1") as cluster:
        runtime = Runtime(settings, cluster=cluster)
        cold("always", runtime, index="warmup")  # workers import aiex and the grammars once
        times = [timed(lambda: cold("always", runtime))[0] for _ in range(repeat)]
        runtime.close()
    out["cold_cluster_s"] = min(times)
    out["cluster_speedup"] = out["cold_one_process_s"] / out["cold_cluster_s"]

    store = IndexStore(str(tmp / f"{name}-idx"))
    build_index(sandbox, settings=settings, store=store, cluster="never", progress=False)
    out["warm_nothing_changed_s"] = min(
        timed(lambda: build_index(sandbox, settings=settings, store=store, progress=False))[0] for _ in range(repeat))
    # a file of median size, outside the tests
    sources = sorted((p for p in root.rglob("*.py") if "test" not in p.parts[-2]), key=lambda p: p.stat().st_size)
    target = sources[len(sources) // 2]
    warm = []
    for i in range(repeat):
        with target.open("a") as fh:
            fh.write(f"\n# edited {i}\n")
        t, rep = timed(lambda: build_index(sandbox, settings=settings, store=store, progress=False))
        assert rep.changed == 1, rep
        warm.append(t)
    out["warm_one_file_changed_s"] = min(warm)
    out["warm_changed_file"] = str(target.relative_to(root))

    counter = token_counter("openai", "gpt-4o")
    counter.count("warm up")
    view = load_index(store)
    view.graph()  # computed once per index version, then cached next to the index
    in_memory, from_disk = [], []
    for q in QUESTIONS:
        t, result = timed(lambda: assemble_context(view, sandbox, q, 4096, counter))
        assert result.tokens <= 4096
        in_memory.append(t)
        t, _ = timed(lambda: assemble_context(load_index(store), sandbox, q, 4096, counter))
        from_disk.append(t)
    out["query_in_memory_ms"] = statistics.median(in_memory) * 1000
    out["query_with_load_ms"] = statistics.median(from_disk) * 1000
    out["index_mib"] = store.size_bytes() / 1048576
    return out


REPO = Path(__file__).resolve().parent.parent
AIDER = Path("/tmp/aider-venv/bin/aider")
AIDER_ARGS = ["--show-repo-map", "--model", "gpt-4o", "--map-tokens", "4096", "--no-check-update",
              "--analytics-disable", "--no-show-model-warnings", "--no-gitignore", "--no-pretty", "--no-fancy-input"]


def _process_s(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    out = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, argv))} failed ({out.returncode}): {out.stderr[-2000:]}")
    return seconds


def bench_against_aider(aider: Path, src: Path, repeat: int, tmp: Path) -> dict:
    """aider's repo map and aiex's commands as whole processes, side by side, on copies of ``src``."""
    mine = copy_corpus(src, tmp / "vs-aider-aiex")
    (mine / ".git").mkdir()  # a project marker: `show context` updates the index of a project only
    # bytecode is written, as for an installed aiex (aider's venv has its own from pip)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIEX_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(AIEX_DATA_DIR=str(tmp / "aiex-data"), AIEX_CONFIG_DIR=str(tmp / "aiex-config"),
               PYTHONPATH=str(REPO), AIEX_PROGRESS="false")
    # run from tmp, not from the corpus: `-m` puts the current directory first on sys.path, and a copy of the
    # standard library there would be imported instead of the real one
    cli = [sys.executable, "-m", "aiex_kernel.interfaces.cli"]
    cold = []
    for _ in range(repeat):
        shutil.rmtree(mine / ".aiex", ignore_errors=True)
        cold.append(_process_s([*cli, "build", "context", "--no-progress", "--root", str(mine)], tmp, env))
    warm = [_process_s([*cli, "show", "context", "-q", q, "--model", "openai:gpt-4o", "--root", str(mine)], tmp, env)
            for q in QUESTIONS for _ in range(max(1, repeat // 2))]

    theirs = copy_corpus(src, tmp / "vs-aider-aider")
    git = ["git", "-c", "user.email=bench@example.com", "-c", "user.name=bench"]
    for step in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "corpus"]):
        subprocess.run([*git, *step], cwd=theirs, check=True, capture_output=True)
    home = tmp / "aider-home"
    caches = home / ".aider" / "caches"
    caches.mkdir(parents=True)
    bundled = next(Path(aider).resolve().parent.parent.glob(
        "lib/python3*/site-packages/litellm/model_prices_and_context_window_backup.json"), None)
    if bundled is not None:
        shutil.copy(bundled, caches / "model_prices_and_context_window.json")
    aider_env = {**{k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))
                    and k != "PYTHONDONTWRITEBYTECODE"},
                 "HOME": str(home), "LITELLM_LOCAL_MODEL_COST_MAP": "True", "AIDER_ANALYTICS_DISABLE": "true",
                 "AIDER_CHECK_UPDATE": "false", "OPENAI_API_KEY": "sk-not-used"}
    aider_cold, aider_cached = [], []
    for _ in range(repeat):
        shutil.rmtree(theirs / ".aider.tags.cache.v4", ignore_errors=True)
        aider_cold.append(_process_s([str(aider), *AIDER_ARGS], theirs, aider_env))
        aider_cached.append(_process_s([str(aider), *AIDER_ARGS], theirs, aider_env))
    out = {"aiex_cold_build_process_s": statistics.median(cold), "aiex_warm_show_context_process_s":
           statistics.median(warm), "aider_cold_s": statistics.median(aider_cold),
           "aider_cached_s": statistics.median(aider_cached)}
    out["warm_show_vs_aider_cached"] = out["aider_cached_s"] / out["aiex_warm_show_context_process_s"]
    out["cold_build_vs_aider_cold"] = out["aider_cold_s"] / out["aiex_cold_build_process_s"]
    return out


def main() -> None:
    import distributed

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", action="append", help="directories to index (default: stdlib, distributed)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best or median kept)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--aider", type=Path, default=AIDER, help="aider's executable, run side by side if present")
    parser.add_argument("--only-aider", action="store_true", help="only the side-by-side run against aider")
    args = parser.parse_args()
    corpora = [Path(c) for c in args.corpus] if args.corpus else [
        Path(sysconfig.get_paths()["stdlib"]), Path(distributed.__file__).parent]

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for src in corpora:
            name = src.name if src.name != "python3.11" else "stdlib"
            r = {} if args.only_aider else bench_corpus(name, src.resolve(), args.repeat, args.workers, Path(tmp))
            results[name] = r
            if name == "stdlib" and args.aider.exists():
                r["vs_aider"] = vs = bench_against_aider(args.aider, src.resolve(), args.repeat, Path(tmp))
                print(f"stdlib, whole processes side by side with aider ({args.aider}):\n"
                      f"  warm `aiex show context` {vs['aiex_warm_show_context_process_s']:.2f} s vs aider's cached "
                      f"repo map {vs['aider_cached_s']:.2f} s: {vs['warm_show_vs_aider_cached']:.1f}x (goal >= 20x)\n"
                      f"  cold `aiex build context` {vs['aiex_cold_build_process_s']:.2f} s vs aider's cold run "
                      f"{vs['aider_cold_s']:.2f} s: {vs['cold_build_vs_aider_cold']:.1f}x (goal >= 6x)")
            if not r or set(r) == {"vs_aider"}:
                continue
            print(f"{name}: {r['files']:,} files, {r['chunks']:,} chunks, index {r['index_mib']:.1f} MiB")
            print(f"  cold build: one process {r['cold_one_process_s']:.2f} s, {args.workers}-worker cluster "
                  f"{r['cold_cluster_s']:.2f} s ({r['cluster_speedup']:.2f}x; goal >= 1.6x)")
            print(f"  warm rebuild: nothing changed {r['warm_nothing_changed_s'] * 1000:.0f} ms, one file changed "
                  f"{r['warm_one_file_changed_s'] * 1000:.0f} ms = "
                  f"{100 * r['warm_one_file_changed_s'] / r['cold_cluster_s']:.1f}% of the cold build (goal < 5%)")
            print(f"  4,096-token context: {r['query_in_memory_ms']:.0f} ms with the index in memory, "
                  f"{r['query_with_load_ms']:.0f} ms loading it too (goal < 200 ms)")
            if name == "stdlib":
                print(f"  against aider's repo map (stdlib): cold {AIDER_COLD_S / r['cold_cluster_s']:.1f}x faster "
                      f"(goal >= 5x), warm {AIDER_CACHED_S / r['warm_one_file_changed_s']:.0f}x faster than its "
                      f"cached run (goal >= 20x)")
    target = Path(__file__).resolve().parent / "results"
    target.mkdir(exist_ok=True)
    (target / ("context-vs-aider.json" if args.only_aider else "context.json")).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
