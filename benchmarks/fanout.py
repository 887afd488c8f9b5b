"""Model calls fanned out on the cluster against a bare async HTTP client, in one run.

A loopback server (tests/llm_server.py, in its own process) answers OpenAI chat
completions after a fixed latency (200 ms). Measured, each the median of
``--repeat`` rounds after one warm-up round:

* 64 requests through aiex on a 2-worker local cluster (``complete_many``);
* the same 64 through bare async clients with ``asyncio.gather``: aiohttp (when
  installed), httpx2 and the openai SDK itself;
* time to first token, aiex's provider stream against the bare openai SDK stream,
  sequential requests, so the difference is aiex's overhead;
* the embedded model from a cold process, llama-cpp-python in the process against
  aiex's isolated model process: tokens/s (goal: within 10%) and the time to the
  first answer (goal: at most 0.5 s more), and the caller's peak memory.

Prints ratios and writes ``benchmarks/results/fanout.json``.

Usage: ``pip install -e ".[bench]" && python benchmarks/fanout.py [--requests 64] [--latency 0.2] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVER = f"""
import json, sys, time
sys.path.insert(0, {str(HERE.parent / "tests")!r})
from llm_server import LLMServer
options = json.loads(sys.argv[2])
server = LLMServer(reply_text=options.get("reply", "a short answer of some eight words here."),
                   latency=float(sys.argv[1]), **({{"models": options["models"]}} if "models" in options else {{}}))
server.chunk_delay = options.get("chunk_delay", 0.0)
server.start()
print(server.url, flush=True)
sys.stdin.read()  # until the parent closes our stdin
"""
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "q"}], "max_tokens": 64}


def start_server(latency: float, *, models: list[str] | None = None, chunk_delay: float = 0.0,
                 reply: str | None = None) -> tuple[subprocess.Popen, str]:
    """The loopback server in its own process (``models``: the model names it lists)."""
    options = {k: v for k, v in (("models", models), ("chunk_delay", chunk_delay), ("reply", reply)) if v}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(latency), json.dumps(options)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def median_time(fn, repeat: int) -> float:
    fn()  # warm-up: imports, connection pools
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def bare_httpx(url: str, n: int) -> None:
    import httpx2

    async with httpx2.AsyncClient(timeout=30, limits=httpx2.Limits(max_connections=1000)) as client:
        await asyncio.gather(*(client.post(url + "/v1/chat/completions", json=BODY,
                                           headers={"Authorization": "Bearer sk-bench"}) for _ in range(n)))


async def bare_aiohttp(url: str, n: int) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as session:
        async def one():
            async with session.post(url + "/v1/chat/completions", json=BODY,
                                    headers={"Authorization": "Bearer sk-bench"}) as r:
                await r.read()

        await asyncio.gather(*(one() for _ in range(n)))


async def bare_sdk(url: str, n: int) -> None:
    import openai

    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=url + "/v1")
    await asyncio.gather(*(client.chat.completions.create(**BODY) for _ in range(n)))
    await client.close()


async def ttft_pair(url: str, n: int) -> tuple[list[float], list[float]]:
    """First-token times of the bare SDK stream and of aiex's provider stream, interleaved."""
    import openai

    from aiex_kernel.core.llm import AiexRequest
    from aiex_kernel.runtime.providers.openai_compat import OpenAIProvider

    client = openai.AsyncOpenAI(api_key="sk-bench", base_url=url + "/v1")
    provider = OpenAIProvider(api_key="sk-bench", base_url=url + "/v1")
    request = AiexRequest.ask("q", model="gpt-4o-mini", max_tokens=64)
    sdk, aiex = [], []
    for _ in range(n + 1):  # the first pair warms up
        started = time.perf_counter()
        stream = await client.chat.completions.create(**BODY, stream=True, stream_options={"include_usage": True})
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                sdk.append(time.perf_counter() - started)
                break
        await stream.close()
        async for item in provider.stream(request):
            if isinstance(item, str):
                pass
            else:
                aiex.append(item.ttft_s)
    return sdk[1:], aiex[1:]


#: the embedded model measured from a cold process: llama-cpp-python in the process (the baseline), and
#: aiex's isolated model process; both count streamed deltas the same way
LOCAL_COMMON = """
import json, resource, sys, time
t0 = time.perf_counter()
PROMPT = "Write a Python function that reverses a string, and explain it."
"""
LOCAL_IN_PROCESS = LOCAL_COMMON + """
from llama_cpp import Llama
from aiex_kernel.runtime.providers.local_model import N_CTX, REPEAT_PENALTY, model_path
llm = Llama(model_path=str(model_path()), n_ctx=N_CTX, n_threads=1, n_threads_batch=1, verbose=False)
def gen(prompt, n):
    started, first, deltas = time.perf_counter(), None, 0
    for chunk in llm.create_chat_completion(messages=[{"role": "user", "content": prompt}], max_tokens=n,
                                            temperature=0.0, repeat_penalty=REPEAT_PENALTY, stream=True):
        if chunk["choices"][0].get("delta", {}).get("content"):
            deltas += 1
            first = first or time.perf_counter() - started
    return first, time.perf_counter() - started, deltas
"""
LOCAL_ISOLATED = LOCAL_COMMON + """
import asyncio
from aiex_kernel.core.llm import AiexRequest
from aiex_kernel.runtime.providers.local_model import LocalProvider
provider = LocalProvider()
def gen(prompt, n):
    async def run():
        started, first, deltas = time.perf_counter(), None, 0
        async for item in provider.stream(AiexRequest.ask(prompt, max_tokens=n, temperature=0.0)):
            if isinstance(item, str):
                deltas += 1
                first = first or time.perf_counter() - started
        return first, time.perf_counter() - started, deltas
    return asyncio.run(run())
"""
LOCAL_MEASURE = """
gen("Hi", 8)
first_answer = time.perf_counter() - t0
first, total, deltas = gen(PROMPT, 128)
print(json.dumps({"first_answer_s": first_answer, "tokens_per_s": (deltas - 1) / (total - first), "deltas": deltas,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def measure_local(repeat: int) -> dict:
    """Medians over ``repeat`` cold starts of each way of running the embedded model."""
    out: dict = {}
    for name, script in (("in_process", LOCAL_IN_PROCESS), ("isolated", LOCAL_ISOLATED)):
        runs = []
        for _ in range(repeat):
            done = subprocess.run([sys.executable, "-c", script + LOCAL_MEASURE], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(done.stderr.strip().splitlines()[-1:])
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        out[name] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    out["tokens_per_s_ratio"] = out["isolated"]["tokens_per_s"] / out["in_process"]["tokens_per_s"]
    out["first_answer_delay_s"] = out["isolated"]["first_answer_s"] - out["in_process"]["first_answer_s"]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-local", action="store_true", help="skip the embedded model")
    args = parser.parse_args()

    proc, url = start_server(args.latency)
    os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=url + "/v1")  # inherited by the workers
    results: dict = {"requests": args.requests, "latency_s": args.latency, "workers": args.workers}
    try:
        from distributed import LocalCluster

        from aiex_kernel.config import load_settings
        from aiex_kernel.core.llm import AiexRequest
        from aiex_kernel.runtime.cluster import Runtime
        from aiex_kernel.runtime.providers.fanout import Call, complete_many
        from aiex_kernel.runtime.providers.registry import provider_specs

        settings = load_settings()
        spec = provider_specs(settings)["openai"]
        calls = [Call(spec, AiexRequest.ask(f"question {i}", model="gpt-4o-mini", max_tokens=64))
                 for i in range(args.requests)]
        n = args.requests
        bare = {"httpx2": lambda: asyncio.run(bare_httpx(url, n)),
                "openai_sdk": lambda: asyncio.run(bare_sdk(url, n))}
        try:
            import aiohttp  # noqa: F401

            bare = {"aiohttp": lambda: asyncio.run(bare_aiohttp(url, n)), **bare}
        except ImportError:
            pass
        for name, fn in bare.items():
            results[f"bare_{name}_s"] = median_time(fn, args.repeat)

        with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                          dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
            runtime = Runtime(settings, cluster=cluster)
            results["aiex_cluster_s"] = median_time(
                lambda: complete_many(calls, settings=settings, runtime=runtime), args.repeat)
            runtime.close()
        results["aiex_in_process_s"] = median_time(
            lambda: complete_many(calls, settings=settings, cluster=False), args.repeat)

        sdk, aiex = asyncio.run(ttft_pair(url, 20))
        results["ttft_sdk_s"] = statistics.median(sdk)
        results["ttft_aiex_s"] = statistics.median(aiex)
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)

    base = results.get("bare_aiohttp_s", results["bare_httpx2_s"])
    print(f"{n} requests, {args.latency * 1000:.0f} ms latency each (medians of {args.repeat}):")
    for key in [k for k in results if k.endswith("_s") and (k.startswith("bare_") or k.startswith("aiex_"))]:
        ratio = f" = {results[key] / args.latency:.2f}x the latency" if args.latency > 0 else ""
        print(f"  {key[:-2]:<18} {results[key]:.3f} s{ratio}")
    results["aiex_over_bare_client"] = results["aiex_cluster_s"] / base
    results["aiex_over_bare_httpx2"] = results["aiex_cluster_s"] / results["bare_httpx2_s"]
    results["aiex_over_bare_sdk"] = results["aiex_cluster_s"] / results["bare_openai_sdk_s"]
    results["ttft_overhead_ms"] = (results["ttft_aiex_s"] - results["ttft_sdk_s"]) * 1000
    print(f"  aiex on the cluster / bare {'aiohttp' if 'bare_aiohttp_s' in results else 'httpx2'}: "
          f"{results['aiex_over_bare_client']:.2f}x (goal <= 1.25x); / bare httpx2: "
          f"{results['aiex_over_bare_httpx2']:.2f}x; / bare openai SDK: {results['aiex_over_bare_sdk']:.2f}x")
    print(f"  time to first token: SDK {results['ttft_sdk_s'] * 1000:.1f} ms, aiex {results['ttft_aiex_s'] * 1000:.1f} ms"
          f", overhead {results['ttft_overhead_ms']:.1f} ms (goal < 20 ms)")

    if not args.no_local:
        try:
            lm = results["local_model"] = measure_local(3)
        except RuntimeError as exc:
            print("embedded model not measured:", exc)
        else:
            inp, iso = lm["in_process"], lm["isolated"]
            print(f"embedded model (medians of 3 cold starts): in-process {inp['tokens_per_s']:.1f} tokens/s, "
                  f"first answer {inp['first_answer_s']:.2f} s; isolated process {iso['tokens_per_s']:.1f} tokens/s, "
                  f"first answer {iso['first_answer_s']:.2f} s")
            print(f"  isolated / in-process tokens/s: {lm['tokens_per_s_ratio']:.2f}x (goal >= 0.90x); first answer "
                  f"{lm['first_answer_delay_s'] * 1000:+.0f} ms (goal <= +500 ms); peak RSS of the caller "
                  f"{inp['peak_rss_mib']:.0f} MiB in-process, {iso['peak_rss_mib']:.0f} MiB isolated")

    target = HERE / "results"
    target.mkdir(exist_ok=True)
    (target / "fanout.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
