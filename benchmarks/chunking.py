"""Chunking throughput on a real corpus nobody here wrote: the interpreter's stdlib.

Prints, measured in one run:

* raw tree-sitter parse throughput (MB/s, one process, files already in memory);
* aiex chunking in one process: the core chunker on the same bytes, and the whole
  job (scan + sandboxed reads + chunking) with ``--cluster never``;
* aiex chunking on a 2-worker local cluster (process workers, started beforehand),
  the whole job;

and the ratios the foundation issue sets goals for (one-process chunking >= 0.7x
raw parse; 2-worker cluster >= 1.6x one process), plus peak memory. Results are
also written to ``benchmarks/results/chunking.json``.

Usage: ``python benchmarks/chunking.py [--corpus DIR] [--repeat N]``
"""

from __future__ import annotations

import argparse
import gc
import json
import resource
import sysconfig
import time
from pathlib import Path


def _best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=sysconfig.get_paths()["stdlib"], help="directory to chunk")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()

    from distributed import LocalCluster

    from aiex_kernel.config import load_settings
    from aiex_kernel.core.batching import batch_count, plan_batches
    from aiex_kernel.core.chunking import chunk_batch
    from aiex_kernel.core.languages import get_parser
    from aiex_kernel.runtime.chunk_job import chunk_project
    from aiex_kernel.runtime.cluster import Runtime
    from aiex_kernel.runtime.sandbox import Sandbox

    root = Path(args.corpus).resolve()
    # The standard library, not the third-party packages installed inside it.
    paths = sorted(str(p) for p in root.iterdir() if p.name not in ("site-packages", "dist-packages"))
    settings = load_settings(root, max_file_bytes=64 * 1024 * 1024)
    sandbox = Sandbox(root, max_file_bytes=settings.max_file_bytes)
    # Workers first, so their peak memory is their own and not inherited from this process.
    cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                           host="127.0.0.1")
    scan = sandbox.scan(paths)
    files = [(f.relpath, sandbox.read_bytes(f.relpath)) for f in scan.files if f.language == "python"]
    total = sum(len(b) for _, b in files)
    mb = total / 1e6
    print(f"corpus: {root}: {len(files)} Python files, {mb:.1f} MB (skipped: {dict(scan.skipped)})")

    # The whole job first, so its peak memory is measured before anything else grows.
    t_job1 = _best(lambda: chunk_project(sandbox, paths, settings=settings, cluster="never", progress=False),
                   args.repeat)
    rss_one = _peak_rss_mib()

    parser_ = get_parser("python")

    def parse_all() -> None:
        for _, b in files:
            parser_.parse(b)  # each tree is dropped at once: parse cost only

    t_parse = _best(parse_all, args.repeat)
    t_core = _best(lambda: chunk_batch(files), args.repeat)
    n_chunks = sum(len(f.chunks) for f in chunk_batch(files))

    with cluster:
        runtime = Runtime(settings, cluster=cluster)
        client = runtime.client
        client.run(lambda: __import__("aiex_kernel.core.chunking"))  # warm imports on workers
        chunk_project(sandbox, paths, settings=settings, cluster="always", progress=False, runtime=runtime)
        t_cluster = _best(lambda: chunk_project(sandbox, paths, settings=settings, cluster="always",
                                                progress=False, runtime=runtime), args.repeat)
        run = chunk_project(sandbox, paths, settings=settings, cluster="always", progress=False, runtime=runtime)
        # The chunking alone, batches already in memory on both sides: what the
        # cluster adds over one process without the client's serial scan and reads.
        by_name = dict(files)
        plan = plan_batches([(n, len(b)) for n, b in files], batch_count(len(files), total, 2))
        batches = [[(n, by_name[n]) for n in names] for names in plan]
        t_core_batches = _best(lambda: [chunk_batch(b) for b in batches], args.repeat)
        t_core_cluster = _best(lambda: client.gather([client.submit(chunk_batch, b, pure=False) for b in batches]),
                               args.repeat)
        worker_rss = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
        runtime.close()

    results = {
        "corpus": str(root),
        "files": len(files),
        "megabytes": round(mb, 2),
        "chunks": n_chunks,
        "parse_mb_s": round(mb / t_parse, 2),
        "core_chunk_mb_s": round(mb / t_core, 2),
        "job_one_process_mb_s": round(mb / t_job1, 2),
        "job_cluster_mb_s": round(mb / t_cluster, 2),
        "ratio_core_vs_parse": round(t_parse / t_core, 3),
        "ratio_job_one_process_vs_parse": round(t_parse / t_job1, 3),
        "ratio_cluster_vs_one_process": round(t_job1 / t_cluster, 3),
        "ratio_core_cluster_vs_one_process": round(t_core_batches / t_core_cluster, 3),
        "cluster_batches": run.batches,
        "peak_rss_client_mib": round(_peak_rss_mib(), 1),
        "peak_rss_one_process_mib": round(rss_one, 1),
        "peak_rss_workers_mib": {k: round(v, 1) for k, v in worker_rss.items()},
        "workers": args.workers,
    }
    print(f"raw tree-sitter parse, one process:      {results['parse_mb_s']:6.2f} MB/s")
    print(f"aiex core chunking, one process:         {results['core_chunk_mb_s']:6.2f} MB/s"
          f"  = {results['ratio_core_vs_parse']:.2f}x parse (goal >= 0.7x)")
    print(f"aiex chunk job (scan+read), one process: {results['job_one_process_mb_s']:6.2f} MB/s"
          f"  = {results['ratio_job_one_process_vs_parse']:.2f}x parse")
    print(f"aiex chunk job on {args.workers}-worker cluster:     {results['job_cluster_mb_s']:6.2f} MB/s"
          f"  = {results['ratio_cluster_vs_one_process']:.2f}x one process (goal >= 1.6x), "
          f"{run.batches} batches")
    print(f"chunking alone (batches in memory), {args.workers}-worker cluster vs one process: "
          f"{results['ratio_core_cluster_vs_one_process']:.2f}x")
    print(f"peak RSS: one-process job {rss_one:.0f} MiB (31 MB corpus held in memory too), client at the end "
          f"{results['peak_rss_client_mib']} MiB, workers "
          + ", ".join(f"{v:.0f}" for v in results["peak_rss_workers_mib"].values()) + " MiB")
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "chunking.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
