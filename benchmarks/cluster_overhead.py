"""What Dask's worker profiler and its housekeeping cost aiex, in one run.

Two one-worker local clusters with aiex's own options (:func:`local_cluster_options`,
dashboard off), one of them with the workers' statistical profiler switched back on
(Dask's default, which aiex turns off when no dashboard can show it). Both run the
same task, indexing the first ``--files`` files of the standard library
(``index_batch``: parse, chunk, count terms), in alternating rounds (each going first in every other one), on the same
CPU core (the cores of a shared machine can differ by 20%), so load on the machine
falls on both alike. Reports the medians of each (seconds of the worker's
CPU, and of wall time), the median of the rounds' ratios, and in how many rounds the
profiler was the slower.

Then Dask's housekeeping (event-loop ticks 50 times a second, memory checks 10 times,
system samples twice: :data:`~aiex_kernel.runtime.cluster_options.HOUSEKEEPING` slows
them down): a 2-worker cluster started in a child process of its own, idle for
``--idle`` seconds, with aiex's intervals and with Dask's, in alternating rounds. Reports
the CPU that the starting process (scheduler, nannies, client) and the workers spent
meanwhile, as a share of one core: what a build's tasks lose to it.

Usage: ``python benchmarks/cluster_overhead.py [--rounds 10] [--files 300] [--idle 10]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


def _task(items, core: int):
    import os

    from aiex_kernel.core.indexing import index_batch

    os.sched_setaffinity(0, {core})  # both workers on the same core in turn: cores of a shared machine differ
    started = time.process_time()
    index_batch(items)
    return time.process_time() - started


def _stdlib_files(n: int) -> list[tuple[str, bytes]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = sorted(p for p in root.rglob("*.py") if "site-packages" not in p.parts and "dist-packages" not in p.parts)
    return [(str(p.relative_to(root)), p.read_bytes()) for p in paths[:n]]


def _cpu_s() -> float:
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def idle_child(kind: str, seconds: float) -> dict:
    """A 2-worker cluster with aiex's housekeeping (``kind`` "aiex") or Dask's ("dask"), idle for ``seconds``:
    the CPU seconds its starting process and its workers spent meanwhile."""
    import contextlib

    from distributed import Client, LocalCluster

    from aiex_kernel.runtime.cluster_options import housekeeping, local_cluster_options

    options = local_cluster_options(dashboard=False)
    if kind == "dask":  # the same options, Dask's own intervals
        import dask.config

        defaults = dask.config.merge(dask.config.config, {"distributed": {"worker": {"profile": {"enabled": False}}}})
        options["config"] = defaults
    with housekeeping() if kind == "aiex" else contextlib.nullcontext():
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
                               **options)
    client = Client(cluster, set_as_default=False)
    try:
        time.sleep(2)  # start-up settled
        here, there = time.process_time(), client.run(_cpu_s)
        time.sleep(seconds)
        here, after = time.process_time() - here, client.run(_cpu_s)
        return {"starting_process_s": here, "workers_s": sum(after[w] - there[w] for w in after)}
    finally:
        client.close()
        cluster.close()


def housekeeping_rounds(rounds: int, seconds: float) -> dict:
    runs: dict[str, list[dict]] = {"aiex": [], "dask": []}
    for i in range(rounds):
        for kind in ("aiex", "dask") if i % 2 == 0 else ("dask", "aiex"):
            out = subprocess.run([sys.executable, __file__, "--idle-child", kind, "--idle", str(seconds)],
                                 capture_output=True, text=True, check=True)
            runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    result = {"idle_s": seconds, "rounds": rounds}
    for kind, r in runs.items():
        result[kind] = {key: statistics.median(x[key] for x in r) / seconds for key in r[0]}
    return result


def main() -> None:
    import dask.config
    from distributed import Client, LocalCluster

    from aiex_kernel.runtime.cluster_options import local_cluster_options

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--files", type=int, default=300)
    ap.add_argument("--idle", type=float, default=10.0, help="seconds an idle cluster is watched (housekeeping)")
    ap.add_argument("--idle-rounds", type=int, default=3)
    ap.add_argument("--idle-child", choices=("aiex", "dask"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.idle_child:
        print(json.dumps(idle_child(args.idle_child, args.idle)))
        return
    items = _stdlib_files(args.files)
    core = min(os.sched_getaffinity(0))
    clients = {}
    for name, profile in (("profiler off (aiex)", False), ("profiler on (Dask's default)", True)):
        options = local_cluster_options(dashboard=False)
        if profile:
            options["config"] = dask.config.merge(options["config"],
                                                  {"distributed": {"worker": {"profile": {"enabled": True}}}})
        cluster = LocalCluster(n_workers=1, threads_per_worker=1, processes=True, silence_logs=logging.ERROR,
                               **options)
        clients[name] = (cluster, Client(cluster, set_as_default=False))
    try:
        for _, client in clients.values():
            client.submit(_task, items[:10], core, pure=False).result()  # imports and grammars loaded once
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        names = list(clients)
        for i in range(args.rounds):
            for name in names if i % 2 == 0 else names[::-1]:  # which goes first changes each round
                client = clients[name][1]
                started = time.perf_counter()
                cpu = client.submit(_task, items, core, pure=False).result()
                runs[name].append((time.perf_counter() - started, cpu))
    finally:
        for cluster, client in clients.values():
            client.close()
            cluster.close()
    out = {"files": len(items), "bytes": sum(len(d) for _, d in items), "rounds": args.rounds}
    for name, r in runs.items():
        out[name] = {"wall_s": statistics.median(w for w, _ in r), "cpu_s": statistics.median(c for _, c in r)}
    off, on = out["profiler off (aiex)"], out["profiler on (Dask's default)"]
    # each round's pair taken together (the machine drifts between rounds), then the median of those ratios
    pairs = list(zip(runs["profiler off (aiex)"], runs["profiler on (Dask's default)"]))
    out["cpu_ratio_on_over_off"] = statistics.median(b[1] / a[1] for a, b in pairs)
    out["wall_ratio_on_over_off"] = statistics.median(b[0] / a[0] for a, b in pairs)
    out["rounds_the_profiler_was_slower"] = sum(b[1] > a[1] for a, b in pairs)
    print(f"{len(items)} files ({out['bytes'] / 1e6:.1f} MB), {args.rounds} alternating rounds, medians:")
    for name in runs:
        print(f"  {name}: {out[name]['cpu_s']:.3f} s CPU, {out[name]['wall_s']:.3f} s wall")
    print(f"  the profiler costs {100 * (out['cpu_ratio_on_over_off'] - 1):+.1f}% CPU, "
          f"{100 * (out['wall_ratio_on_over_off'] - 1):+.1f}% wall (medians of the rounds' ratios); it was the "
          f"slower in {out['rounds_the_profiler_was_slower']} of {args.rounds} rounds")
    out["housekeeping"] = hk = housekeeping_rounds(args.idle_rounds, args.idle)
    print(f"an idle 2-worker cluster, {args.idle:g} s, medians of {args.idle_rounds} rounds, share of one core:")
    for kind, label in (("aiex", "aiex's housekeeping"), ("dask", "Dask's defaults")):
        print(f"  {label}: starting process {100 * hk[kind]['starting_process_s']:.1f}%, "
              f"workers {100 * hk[kind]['workers_s']:.1f}% (both together)")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster_overhead.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
