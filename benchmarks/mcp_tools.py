"""aiex's MCP server as an agent sees it, in one run.

Starts ``aiex serve mcp --root ROOT`` over stdio with the official ``mcp`` SDK's client
(as Claude Code or any MCP client would), then calls each read-only tool ``--repeat``
times: the time to connect (process start, imports, the handshake), each tool's first
call (the index is brought up to date and loaded, the tokenizer started) and the
median of the later ones.

Prints the figures and writes ``benchmarks/results/mcp_tools.json``.

Usage: ``python benchmarks/mcp_tools.py [--root DIR] [--repeat 4]`` (default root: this repository)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CALLS = [
    ("search_code", {"question": "where is the context fitted into the token budget", "budget": 2048}),
    ("get_definition", {"symbol": "fit"}),
    ("project_outline", {"path": "aiex_kernel/core"}),
]


async def measure(root: Path, repeat: int) -> dict:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "aiex_kernel.interfaces.cli", "serve", "mcp", "--root", str(root)],
                                   env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    out: dict = {"root": str(root), "repeat": repeat, "tools": {}}
    started = time.perf_counter()
    async with Client(params, read_timeout_seconds=600) as client:
        out["connect_s"] = time.perf_counter() - started
        for tool, arguments in CALLS:
            times, error = [], False
            for _ in range(repeat):
                t = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                times.append(time.perf_counter() - t)
                error = error or result.is_error
            out["tools"][tool] = {"first_ms": times[0] * 1000, "warm_median_ms": statistics.median(times[1:]) * 1000
                                  if len(times) > 1 else None, "error": error}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=HERE.parent, help="the project served (default: this repository)")
    parser.add_argument("--repeat", type=int, default=4, help="calls per tool (default 4)")
    args = parser.parse_args()
    import anyio

    result = anyio.run(measure, args.root.resolve(), max(1, args.repeat))
    print(f"MCP over stdio on {result['root']}: connect {result['connect_s']:.2f} s")
    for tool, r in result["tools"].items():
        warm = f"{r['warm_median_ms']:.0f} ms" if r["warm_median_ms"] is not None else "-"
        print(f"  {tool:<16} first {r['first_ms']:7.0f} ms   later (median) {warm}" + ("   ERROR" if r["error"] else ""))
    out = HERE / "results" / "mcp_tools.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
