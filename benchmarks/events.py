"""The event log's costs, in one run.

1. Append throughput: one writer appending events one transaction each (SQLite WAL,
   ``synchronous=NORMAL``, every event redacted first), events per second
   (goal: at least 5,000/s).
2. Resume: a fresh service folding a 10,000-event session from the log (what
   ``%aiex resume session NAME`` does after a kernel restart), milliseconds
   (goal: under 300 ms).
3. A turn's own cost: the service answering from the loopback server against the
   same call through the SDK directly (the service adds the log and the fold).

Prints the figures and writes ``benchmarks/results/events.json``.

Usage: ``python benchmarks/events.py [--events 10000] [--repeat 5]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def session_events(n: int, session: str = "bench"):
    """A realistic session: turns of a prompt, context, coalesced deltas and an answer."""
    from aiex_kernel.core import events as ev

    out = [ev.SessionStarted(session, time.time(), origin="bench")]
    turn = 0
    while len(out) < n:
        t = f"t{turn}"
        now = time.time()
        out.append(ev.TurnStarted(session, now, turn=t, command="chat", prompt=f"question {turn} about the code",
                                  model="openai:gpt-4o-mini", memory=True))
        out.append(ev.ContextChosen(session, now, turn=t, root="/p", tokens=900, budget=1000, tokenizer="o200k_base",
                                    files=("a.py", "b.py"), sources=tuple({"path": "a.py", "start_line": i,
                                                                           "end_line": i + 9, "level": "full",
                                                                           "name": f"f{i}"} for i in range(5))))
        for i in range(6):
            out.append(ev.Delta(session, now, turn=t, text=f"part {i} of the answer, a few words long. "))
        out.append(ev.Answered(session, now, turn=t, text="the answer " * 40, model="gpt-4o-mini", provider="openai",
                               input_tokens=1000, output_tokens=120, cost_usd=0.0002, latency_s=0.8, ttft_s=0.2))
        turn += 1
    return out[:n]


def append_rate(n: int) -> dict:
    from aiex_kernel.runtime.events import EventLog

    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "events.sqlite")
        events = session_events(n)
        log.append(events[0])
        started = time.perf_counter()
        for event in events[1:]:
            log.append(event)
        seconds = time.perf_counter() - started
        size = (Path(tmp) / "events.sqlite").stat().st_size + sum(
            p.stat().st_size for p in Path(tmp).glob("events.sqlite-*"))
        log.close()
    return {"events": n - 1, "seconds": seconds, "events_per_s": (n - 1) / seconds, "bytes_on_disk": size}


def resume_time(n: int, repeat: int) -> dict:
    from aiex_kernel.config import load_settings
    from aiex_kernel.runtime.events import EventLog
    from aiex_kernel.runtime.service import AssistantService

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["AIEX_DATA_DIR"] = tmp
        log = EventLog(Path(tmp) / "events.sqlite")
        for event in session_events(n):
            log.append(event)
        log.close()
        times, turns = [], 0
        for _ in range(repeat):
            service = AssistantService(lambda: load_settings(), origin="kernel")
            started = time.perf_counter()
            state = service.resume_session("bench")
            memory = state.memory(5)
            times.append(time.perf_counter() - started)
            turns = len(state.turns)
            assert len(memory) == 10
            service.close()
    return {"events": n, "turns": turns, "resume_ms_median": statistics.median(times) * 1000,
            "resume_ms_max": max(times) * 1000}


def turn_overhead(repeat: int) -> dict:
    import openai

    from aiex_kernel.config import load_settings
    from aiex_kernel.core.requests import ContextOptions, TurnRequest
    from aiex_kernel.runtime.service import AssistantService
    from fanout import start_server

    proc, url = start_server(0.0)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(AIEX_DATA_DIR=tmp, OPENAI_API_KEY="sk-bench", OPENAI_BASE_URL=url + "/v1")
        try:
            client = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench")
            service = AssistantService(lambda: load_settings(), origin="kernel")
            request = TurnRequest(command="chat", prompt="hello", model="openai:gpt-4o-mini", memory=False,
                                  context=ContextOptions(enabled=False))
            direct, via = [], []
            for i in range(repeat + 1):
                started = time.perf_counter()
                stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, max_tokens=1024,
                                                        messages=[{"role": "user", "content": "hello"}])
                for _ in stream:
                    pass
                direct.append(time.perf_counter() - started)
                started = time.perf_counter()
                for _ in service.turn_sync(request):
                    pass
                via.append(time.perf_counter() - started)
            service.close()
        finally:
            proc.stdin.close()
            proc.wait(timeout=10)
    d, v = statistics.median(direct[1:]), statistics.median(via[1:])
    return {"direct_ms": d * 1000, "service_ms": v * 1000, "overhead_ms": (v - d) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    results = {"append": append_rate(args.events), "resume": resume_time(args.events, args.repeat),
               "turn": turn_overhead(max(10, args.repeat * 4))}
    a, r, t = results["append"], results["resume"], results["turn"]
    print(f"append: {a['events']:,} events in {a['seconds']:.2f} s = {a['events_per_s']:,.0f} events/s "
          f"(goal >= 5,000/s); {a['bytes_on_disk'] / a['events']:.0f} bytes per event on disk")
    print(f"resume: a {r['events']:,}-event session ({r['turns']:,} turns) in {r['resume_ms_median']:.0f} ms median, "
          f"{r['resume_ms_max']:.0f} ms max (goal < 300 ms)")
    print(f"a turn through the service: {t['service_ms']:.1f} ms against {t['direct_ms']:.1f} ms through the SDK "
          f"directly: {t['overhead_ms']:+.1f} ms (the event log, the fold, the redaction)")
    target = HERE / "results"
    target.mkdir(exist_ok=True)
    (target / "events.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
