"""Usage statistics and session exports, folded from events."""

import json
import time

import pytest

from aiex_kernel.core import events as ev
from aiex_kernel.core.export import export_session
from aiex_kernel.core.sessions import fold
from aiex_kernel.core.stats import parse_since, percentile, turn_records, usage_stats

DAY = 86400.0


def turns():
    out = []
    t0 = 1_780_000_000.0
    for i, (model, latency, ok) in enumerate([("openai:gpt-4o", 1.0, True), ("openai:gpt-4o", 3.0, True),
                                              ("ollama:llama3.2", 0.5, True), ("openai:gpt-4o", None, False)]):
        at = t0 + i * DAY
        out.append(ev.TurnStarted("s", at, turn=f"t{i}", command="ask", prompt=f"q{i}", model=model))
        if ok:
            out.append(ev.Answered("s", at + 1, turn=f"t{i}", text="a", input_tokens=10, output_tokens=5,
                                   cost_usd=0.01 if model.startswith("openai") else 0.0, latency_s=latency,
                                   ttft_s=latency / 2))
        else:
            out.append(ev.Failed("s", at + 1, turn=f"t{i}", error="ProviderError", message="x"))
    out.append(ev.TurnStarted("s", t0 + 9 * DAY, turn="pending", prompt="no answer yet", model="openai:gpt-4o"))
    return list(enumerate(out, 1))


def test_percentiles_are_nearest_rank():
    assert percentile([], 50) is None
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0 and percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert percentile([5.0], 95) == 5.0


def test_stats_by_model_provider_and_day():
    records = turn_records(turns())
    assert len(records) == 4  # the pending turn is not counted
    by_model = {r.key: r for r in usage_stats(records, "model")}
    gpt = by_model["openai:gpt-4o"]
    assert (gpt.requests, gpt.errors, gpt.input_tokens, gpt.output_tokens) == (3, 1, 20, 10)
    assert gpt.cost_usd == pytest.approx(0.02) and gpt.latency_p50 == 1.0 and gpt.latency_p95 == 3.0
    assert gpt.ttft_p50 == 0.5
    assert [r.key for r in usage_stats(records, "model")] == ["openai:gpt-4o", "ollama:llama3.2"]
    assert {r.key: r.requests for r in usage_stats(records, "provider")} == {"openai": 3, "ollama": 1}
    days = usage_stats(records, "day")
    assert len(days) == 4 and [d.key for d in days] == sorted(d.key for d in days)
    with pytest.raises(ValueError):
        usage_stats(records, "week")


def test_since():
    now = time.time()
    assert parse_since("7d", now) == now - 7 * DAY and parse_since("12h", now) == now - 12 * 3600
    assert parse_since("2026-11-01", now) == time.mktime(time.strptime("2026-11-01", "%Y-%m-%d"))
    with pytest.raises(ValueError, match="7d"):
        parse_since("last week", now)


def test_exports():
    nbformat = pytest.importorskip("nbformat")
    events = [(1, ev.SessionStarted("s", 1.0, origin="cli")),
              (2, ev.TurnStarted("s", 2.0, turn="t1", command="chat", prompt="what is {x}?", model="local:m",
                                 memory=True)),
              (3, ev.ContextChosen("s", 2.1, turn="t1", sources=({"path": "a.py", "start_line": 1, "end_line": 2,
                                                                   "level": "full", "name": "f"},))),
              (4, ev.Answered("s", 3.0, turn="t1", text="**x** is 1")),
              (5, ev.TurnStarted("s", 4.0, turn="t2", command="ask", prompt="stop me", model="local:m")),
              (6, ev.Cancelled("s", 5.0, turn="t2", partial="I was"))]
    state = fold(events, name="s")
    md = export_session(state, "md")
    assert "# Session s" in md and "what is {x}?" in md and "**x** is 1" in md and "`a.py:1-2` f" in md
    assert "I was\n\n*(stopped)*" in md
    nb = nbformat.reads(export_session(state, "ipynb"), as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code[0].source == "%%aiex local:m\nwhat is {x}?" and code[0].outputs[0]["data"]["text/markdown"] == "**x** is 1"
    data = json.loads(export_session(state, "json"))
    assert [e["kind"] for e in data["events"]] == ["SessionStarted", "TurnStarted", "ContextChosen", "Answered",
                                                   "TurnStarted", "Cancelled"]
