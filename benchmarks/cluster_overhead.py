"""What Dask's worker profiler costs an aiex task, in one run.

Two one-worker local clusters with aiex's own options (:func:`local_cluster_options`,
dashboard off), one of them with the workers' statistical profiler switched back on
(Dask's default, which aiex turns off when no dashboard can show it). Both run the
same task, indexing the first ``--files`` files of the standard library
(``index_batch``: parse, chunk, count terms), in alternating rounds (each going first in every other one), on the same
CPU core (the cores of a shared machine can differ by 20%), so load on the machine
falls on both alike. Reports the medians of each (seconds of the worker's
CPU, and of wall time), the median of the rounds' ratios, and in how many rounds the
profiler was the slower.

Usage: ``python benchmarks/cluster_overhead.py [--rounds 10] [--files 300]``
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
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


def main() -> None:
    import dask.config
    from distributed import Client, LocalCluster

    from aiex_kernel.runtime.cluster_options import local_cluster_options

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--files", type=int, default=300)
    args = ap.parse_args()
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
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cluster_overhead.json").write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
