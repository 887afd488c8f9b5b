"""Comparisons, in one run.

1. Fan-out: 8 prompts x 8 models (names of one OpenAI-compatible loopback server in
   its own process, 200 ms latency each), per-provider limit 32, all prompts at once
   through the service: wall time against the ideal
   ceil(requests / allowed concurrency) x latency (goal: at most 1.25x).
2. Widget traffic: 4 columns streaming into the comparison widget at once: display
   updates per column per 50 ms (goal: at most one).
3. First tokens: with 4 columns, when each column's first token reaches the widget,
   against the slowest first token of 4 bare SDK streams started at once
   (goal: within 50 ms).

Prints the figures and writes ``benchmarks/results/compare.json``.

Usage: ``python benchmarks/compare.py``
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from fanout import start_server  # noqa: E402 - the loopback server in its own process

MODELS = [f"openai:gpt-4o-mini-{i}" for i in range(8)]


def fan_out(url: str, latency: float, prompts: int = 8, limit: int = 32, cluster: str = "never") -> dict:
    from aiex_kernel.config import load_settings
    from aiex_kernel.core.requests import CompareRequest, ContextOptions
    from aiex_kernel.runtime.service import AssistantService

    os.environ["AIEX_CONCURRENCY"] = json.dumps({"openai": limit})
    service = AssistantService(lambda: load_settings(), origin="bench")

    async def all_at_once():
        async def one(i):
            request = CompareRequest(prompt=f"prompt {i}", models=tuple(MODELS), context=ContextOptions(enabled=False),
                                     max_tokens=64, cluster=cluster)
            return [e async for e in service.compare(request)]

        return await asyncio.gather(*(one(i) for i in range(prompts)))

    service.run(all_at_once())  # warm up: clients, pools
    started = time.perf_counter()
    results = service.run(all_at_once())
    wall = time.perf_counter() - started
    answered = sum(1 for events in results for e in events if type(e).__name__ == "Answered")
    service.close()
    requests = prompts * len(MODELS)
    ideal = math.ceil(requests / limit) * latency
    return {"where": cluster, "requests": requests, "answered": answered, "limit": limit, "wall_s": wall,
            "ideal_s": ideal, "ratio": wall / ideal}


def bare_sdk(url: str, latency: float, prompts: int = 8, limit: int = 32) -> dict:
    """The same 64 streaming requests through the openai SDK alone, 32 at a time: what the SDK itself costs."""
    import openai

    async def run():
        client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-bench")
        gate = asyncio.Semaphore(limit)

        async def one(prompt, model):
            async with gate:
                stream = await client.chat.completions.create(model=model, stream=True, max_tokens=64,
                                                              messages=[{"role": "user", "content": prompt}])
                async for _ in stream:
                    pass

        jobs = [one(f"prompt {i}", m.split(":", 1)[1]) for i in range(prompts) for m in MODELS]
        await asyncio.gather(*jobs)  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(one(f"prompt {i}", m.split(":", 1)[1]) for i in range(prompts) for m in MODELS))
        wall = time.perf_counter() - started
        await client.close()
        return wall

    wall = asyncio.run(run())
    ideal = math.ceil(prompts * len(MODELS) / limit) * latency
    return {"wall_s": wall, "ideal_s": ideal, "ratio": wall / ideal}


def widget_traffic(url: str) -> dict:
    """4 columns streaming into the widget at once: updates per column per 50 ms, and first tokens."""
    import openai

    from aiex_kernel.config import load_settings
    from aiex_kernel.core import events as ev
    from aiex_kernel.core.requests import CompareRequest, ContextOptions
    from aiex_kernel.interfaces.turns import CompareOutcome, follow_compare
    from aiex_kernel.interfaces.widgets.compare import INTERVAL, CompareWidget
    from aiex_kernel.runtime.service import AssistantService

    service = AssistantService(lambda: load_settings(), origin="bench")
    models = MODELS[:4]
    CompareWidget(["a", "b"], ["x", "y"])  # ipywidgets imported and warm, as in a notebook that shows one
    request = CompareRequest(prompt="stream", models=tuple(models), context=ContextOptions(enabled=False),
                             max_tokens=400, cluster="never")
    list(service.compare_sync(request))  # warm up
    outcome = CompareOutcome()
    widget = CompareWidget([chr(ord("a") + i) for i in range(len(models))], list(models))  # shown first, as in a cell
    first_seen: dict[int, float] = {}
    started = time.perf_counter()

    def changed(i):
        first_seen.setdefault(i, time.perf_counter() - started)
        slot = outcome.slots[i]
        if slot.answer is not None:
            widget.finish(i, text=slot.text)
        else:
            widget.update(i, slot.text)

    for event in service.compare_sync(request):
        if isinstance(event, ev.CompareStarted):
            follow_compare([event], outcome=outcome)
            widget.set_models([s.model for s in outcome.slots])
            continue
        follow_compare([event], on_change=changed, outcome=outcome)
    streamed = time.perf_counter() - started
    service.close()
    budget = streamed / INTERVAL  # the most updates one column may send in that time (one per 50 ms)

    client = openai.AsyncOpenAI(base_url=url + "/v1", api_key="sk-bench")

    async def bare():
        t0 = time.perf_counter()

        async def first(model):
            stream = await client.chat.completions.create(model=model, stream=True, max_tokens=400,
                                                          messages=[{"role": "user", "content": "stream"}])
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    await stream.close()
                    return time.perf_counter() - t0
            return time.perf_counter() - t0

        return await asyncio.gather(*(first(m.split(":", 1)[1]) for m in models))

    asyncio.run(bare())  # warm up
    bare_firsts = asyncio.run(bare())
    return {"columns": len(models), "stream_s": streamed, "updates_per_column": widget.messages,
            "allowed_per_column": budget, "first_token_widget_s": max(first_seen.values()),
            "first_token_bare_sdk_s": max(bare_firsts),
            "first_token_gap_ms": (max(first_seen.values()) - max(bare_firsts)) * 1000}


def main() -> None:
    latency = 0.2
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AIEX_DATA_DIR"] = tmp
        proc, url = start_server(latency, models=[m.split(":", 1)[1] for m in MODELS])
        os.environ.update(OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=url + "/v1")
        try:
            bare = bare_sdk(url, latency)
            fan = fan_out(url, latency)
            from distributed import LocalCluster

            from aiex_kernel.config import load_settings
            from aiex_kernel.runtime.cluster import Runtime, set_runtime

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                              scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}) as cluster:
                runtime = Runtime(load_settings(), cluster=cluster)
                set_runtime(runtime)
                fan_cluster = fan_out(url, latency, cluster="always")
                set_runtime(None)
                runtime.close()
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
        os.environ["AIEX_DATA_DIR"] = str(Path(tmp) / "widget")  # a log of its own: the fan-out's is large
        proc, url = start_server(0.0, models=[m.split(":", 1)[1] for m in MODELS], chunk_delay=0.005,
                                 reply=" ".join(f"word{i}" for i in range(300)))
        os.environ["OPENAI_BASE_URL"] = url + "/v1"
        try:
            traffic = widget_traffic(url)
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
    print(f"bare openai SDK, the same 64 streams 32 at a time: {bare['wall_s']:.3f} s = {bare['ratio']:.2f}x the ideal")
    for f in (fan, fan_cluster):
        where = "in this process" if f["where"] == "never" else "on a 2-worker cluster"
        print(f"fan-out {where}: {f['requests']} requests ({f['answered']} answered) in {f['wall_s']:.3f} s against "
              f"the ideal {f['ideal_s']:.3f} s = {f['ratio']:.2f}x (goal <= 1.25x)")
    worst = max(traffic["updates_per_column"])
    print(f"widget: {traffic['columns']} columns streamed for {traffic['stream_s']:.2f} s; at most {worst} updates "
          f"per column, {traffic['allowed_per_column']:.0f} allowed at one per 50 ms")
    print(f"first tokens: the last column's at {traffic['first_token_widget_s'] * 1000:.1f} ms, the slowest bare SDK "
          f"stream's at {traffic['first_token_bare_sdk_s'] * 1000:.1f} ms: {traffic['first_token_gap_ms']:+.1f} ms "
          "(goal within 50 ms)")
    target = HERE / "results"
    target.mkdir(exist_ok=True)
    (target / "compare.json").write_text(json.dumps({"bare_sdk": bare, "fan_out": fan, "fan_out_cluster": fan_cluster,
                                                    "widget": traffic}, indent=2))


if __name__ == "__main__":
    main()
