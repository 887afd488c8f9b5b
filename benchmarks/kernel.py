"""The notebook front door's costs, in one run.

1. Kernel start to the first ``execute_reply`` (``1 + 1``): the aiex kernel against
   the plain ``python3`` ipykernel, alternating, ``--starts`` times each (goal: at
   most 1.2x).
2. ``%%aiex --no-context`` against a direct openai SDK call to the same loopback
   server (in its own process, no latency), on a bare IPython shell: the median
   per-cell overhead (goal: under 30 ms), streaming and not; and a cell with this
   repository's project context, for what the context adds.

Prints the figures and writes ``benchmarks/results/kernel.json``.

Usage: ``python benchmarks/kernel.py [--starts 5] [--cells 30]``
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
sys.path.insert(0, str(HERE))
from fanout import start_server  # noqa: E402 - the loopback server in its own process


def kernel_start(name: str, kernel_dirs: list[str]) -> float:
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    ksm = KernelSpecManager(kernel_dirs=kernel_dirs)
    km = KernelManager(kernel_name=name, kernel_spec_manager=ksm)
    started = time.perf_counter()
    km.start_kernel()
    kc = km.client()
    kc.start_channels()
    try:
        msg_id = kc.execute("1 + 1")
        while True:
            reply = kc.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == msg_id:
                break
        return time.perf_counter() - started
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def cell_overhead(url: str, cells: int) -> dict:
    import openai
    from IPython.core.interactiveshell import InteractiveShell

    import aiex_kernel

    os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=url + "/v1")
    shell = InteractiveShell.instance()
    aiex_kernel.load_ipython_extension(shell)
    client = openai.OpenAI(api_key="sk-bench", base_url=url + "/v1")
    prompt = "What is a closure?"
    messages = [{"role": "user", "content": prompt}]

    def sdk(stream: bool) -> None:
        if stream:
            for _ in client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True,
                                                    stream_options={"include_usage": True}):
                pass
        else:
            client.chat.completions.create(model="gpt-4o-mini", messages=messages)

    def magic(stream: bool, context: bool = False) -> None:
        flags = "openai:gpt-4o-mini" + ("" if stream else " --no-stream") + ("" if context else " --no-context")
        shell.run_cell_magic("aiex", flags, prompt)
        shell.run_line_magic("aiex", "reset")

    def median(fn) -> float:
        for _ in range(3):
            fn()
        times = []
        for _ in range(cells):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return statistics.median(times)

    import contextlib
    import io

    out = {}
    with contextlib.redirect_stdout(io.StringIO()):
        for stream in (True, False):
            key = "stream" if stream else "no_stream"
            out[f"sdk_{key}_ms"] = median(lambda: sdk(stream)) * 1000
            out[f"magic_{key}_ms"] = median(lambda: magic(stream)) * 1000
            out[f"overhead_{key}_ms"] = out[f"magic_{key}_ms"] - out[f"sdk_{key}_ms"]
        # with this repository's context (index up to date, 4,096 tokens): what a cell in a project costs more
        out["magic_stream_with_context_ms"] = median(lambda: magic(True, context=True)) * 1000
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=5)
    parser.add_argument("--cells", type=int, default=30)
    args = parser.parse_args()

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "aiex_kernel.interfaces.cli", "install", "kernel", "--prefix", tmp],
                       check=True, capture_output=True)
        kernels = str(Path(tmp) / "share" / "jupyter" / "kernels")
        from jupyter_client.kernelspec import KernelSpecManager

        python3 = KernelSpecManager().get_kernel_spec("python3").resource_dir
        dirs = [kernels, str(Path(python3).parent)]
        times: dict[str, list[float]] = {"aiex": [], "python3": []}
        kernel_start("aiex", dirs)  # warm the disk cache for both
        kernel_start("python3", dirs)
        for _ in range(args.starts):
            for name in ("python3", "aiex"):
                times[name].append(kernel_start(name, dirs))
    for name, values in times.items():
        results[f"start_{name}_s"] = statistics.median(values)
    results["start_ratio"] = results["start_aiex_s"] / results["start_python3_s"]
    print(f"kernel start to first execute_reply (median of {args.starts}): python3 "
          f"{results['start_python3_s']:.2f} s, aiex {results['start_aiex_s']:.2f} s = "
          f"{results['start_ratio']:.2f}x (goal <= 1.2x)")

    proc, url = start_server(0.0)
    try:
        results.update(cell_overhead(url, args.cells))
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)
    for key in ("stream", "no_stream"):
        print(f"%%aiex {key.replace('_', '-')} --no-context: {results[f'magic_{key}_ms']:.1f} ms per cell, direct SDK "
              f"{results[f'sdk_{key}_ms']:.1f} ms: overhead {results[f'overhead_{key}_ms']:.1f} ms (goal < 30 ms)")
    print(f"%%aiex with this repository's context (4,096 tokens, index up to date): "
          f"{results['magic_stream_with_context_ms']:.1f} ms per cell")

    target = HERE / "results"
    target.mkdir(exist_ok=True)
    (target / "kernel.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
