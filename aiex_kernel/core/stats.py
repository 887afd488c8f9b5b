"""Usage statistics: a fold over the event log's turns, grouped by model, provider or day."""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from .events import Answered, Event, Failed, TurnStarted

__all__ = ["GROUPINGS", "StatsRow", "TurnRecord", "percentile", "turn_records", "usage_stats", "parse_since"]

GROUPINGS = ("model", "provider", "day")


@dataclass(frozen=True)
class TurnRecord:
    """One finished turn, as the stats see it."""

    session: str
    model: str  #: provider:model
    at: float
    ok: bool
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None

    @property
    def provider(self) -> str:
        return self.model.split(":", 1)[0]

    @property
    def day(self) -> str:
        return time.strftime("%Y-%m-%d", time.localtime(self.at))


@dataclass
class StatsRow:
    key: str
    requests: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    latency_p50: float | None = None
    latency_p95: float | None = None
    ttft_p50: float | None = None
    ttft_p95: float | None = None
    _latencies: list[float] = field(default_factory=list, repr=False)
    _ttfts: list[float] = field(default_factory=list, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


def turn_records(events: Iterable[tuple[int, Event]]) -> list[TurnRecord]:
    """Every turn that answered or failed, from the events of any sessions (log order)."""
    started: dict[tuple[str, str], TurnStarted] = {}
    out = []
    for _, event in events:
        if isinstance(event, TurnStarted):
            started[(event.session, event.turn)] = event
        elif isinstance(event, (Answered, Failed)):
            first = started.pop((event.session, event.turn), None)
            if first is None:
                continue
            if isinstance(event, Answered):
                out.append(TurnRecord(event.session, first.model, first.at, True, event.input_tokens,
                                      event.output_tokens, event.cost_usd, event.latency_s, event.ttft_s))
            else:
                out.append(TurnRecord(event.session, first.model, first.at, False))
    return out


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank ``q`` percentile (0-100) of ``values``; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def usage_stats(records: Iterable[TurnRecord], by: str = "model") -> list[StatsRow]:
    """One row per ``by`` value (model, provider or day), most requests first (days in order)."""
    if by not in GROUPINGS:
        raise ValueError(f"by must be one of {GROUPINGS}, not {by!r}")
    rows: dict[str, StatsRow] = {}
    for r in records:
        key = getattr(r, by)
        row = rows.setdefault(key, StatsRow(key))
        row.requests += 1
        if not r.ok:
            row.errors += 1
            continue
        row.input_tokens += r.input_tokens or 0
        row.output_tokens += r.output_tokens or 0
        row.cost_usd += r.cost_usd or 0.0
        if r.latency_s is not None:
            row._latencies.append(r.latency_s)
        if r.ttft_s is not None:
            row._ttfts.append(r.ttft_s)
    for row in rows.values():
        row.latency_p50, row.latency_p95 = percentile(row._latencies, 50), percentile(row._latencies, 95)
        row.ttft_p50, row.ttft_p95 = percentile(row._ttfts, 50), percentile(row._ttfts, 95)
        row.cost_usd = round(row.cost_usd, 8)
    ordered = sorted(rows.values(), key=(lambda r: r.key) if by == "day" else (lambda r: (-r.requests, r.key)))
    return ordered


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def parse_since(text: str, now: float) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` (before ``now``) or a date ``2026-11-01``, as a Unix time."""
    text = text.strip().lower()
    if text[:-1].isdigit() and text[-1:] in _UNITS:
        return now - int(text[:-1]) * _UNITS[text[-1]]
    try:
        return time.mktime(time.strptime(text, "%Y-%m-%d"))
    except ValueError:
        raise ValueError(f"--since takes a duration like 7d, 12h, 30m, 2w or a date like 2026-11-01, not {text!r}") \
            from None
