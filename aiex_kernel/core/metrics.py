"""aiex's numbers for Prometheus: a fold over the event log (pure; the HTTP side is runtime/metrics.py).

:class:`Metrics` folds events as they come (``fold`` may be called again with the
events appended since): model requests and errors, tokens in and out, cost,
latency and time-to-first-token histograms per provider and model, index builds
with the files they indexed and the files they reused unchanged (the index's cache
hits), edits applied and undone, and votes. Counters only grow, so a scrape after a
restart of the metrics server reads the same totals from the same log.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import ClassVar

from .events import Answered, Cancelled, EditApplied, EditUndone, Event, Failed, IndexBuilt, TurnStarted, Voted

__all__ = ["LATENCY_BUCKETS", "Histogram", "Metrics"]

#: seconds: the upper bounds of the latency and build-time buckets (Prometheus adds +Inf)
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0)


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))  #: per bucket, +Inf last
    total: float = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(LATENCY_BUCKETS, value)] += 1
        self.total += value

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, count)`` as Prometheus wants them, ``+Inf`` last."""
        out, running = [], 0
        for bound, n in zip([*map(str, LATENCY_BUCKETS), "+Inf"], self.counts):
            running += n
            out.append((bound, running))
        return out


@dataclass
class Metrics:
    #: the kinds of event the fold reads (the collector asks the log for these only)
    KINDS: ClassVar[tuple[str, ...]] = tuple(c.KIND for c in (TurnStarted, Answered, Failed, Cancelled, IndexBuilt,
                                                               EditApplied, EditUndone, Voted))

    requests: Counter = field(default_factory=Counter)  #: (provider, model, outcome ok|error)
    errors: Counter = field(default_factory=Counter)  #: (provider, error class)
    tokens: Counter = field(default_factory=Counter)  #: (provider, model, direction input|output)
    cost_usd: Counter = field(default_factory=Counter)  #: (provider, model) -> dollars
    latency: dict = field(default_factory=dict)  #: (provider, model) -> Histogram
    ttft: dict = field(default_factory=dict)
    index_builds: Counter = field(default_factory=Counter)  #: where ("in-process" or "cluster")
    index_files: Counter = field(default_factory=Counter)  #: "indexed" | "reused"
    index_seconds: Histogram = field(default_factory=Histogram)
    edits: Counter = field(default_factory=Counter)  #: "applied" | "undone"
    votes: int = 0
    position: int = 0  #: the id of the last event folded
    _models: dict = field(default_factory=dict)  #: turn -> provider:model, for the turns not finished yet

    def fold(self, events: Iterable[tuple[int, Event]]) -> None:
        for position, event in events:
            self.position = max(self.position, position)
            if isinstance(event, TurnStarted):
                self._models[event.turn] = event.model
            elif isinstance(event, Answered):
                model_id = self._models.pop(event.turn, f"{event.provider}:{event.model}")
                key = _split(model_id)
                self.requests[(*key, "ok")] += 1
                self.tokens[(*key, "input")] += event.input_tokens or 0
                self.tokens[(*key, "output")] += event.output_tokens or 0
                self.cost_usd[key] += event.cost_usd or 0.0
                if event.latency_s is not None:
                    self.latency.setdefault(key, Histogram()).observe(event.latency_s)
                if event.ttft_s is not None:
                    self.ttft.setdefault(key, Histogram()).observe(event.ttft_s)
            elif isinstance(event, Failed):
                key = _split(self._models.pop(event.turn, f"{event.provider or 'unknown'}:"))
                self.requests[(*key, "error")] += 1
                self.errors[(key[0], event.error)] += 1
            elif isinstance(event, Cancelled):
                self._models.pop(event.turn, None)  # a stopped turn: no request counted, nothing left waiting
            elif isinstance(event, IndexBuilt):
                self.index_builds["in-process" if event.where == "in-process" else "cluster"] += 1
                self.index_files["indexed"] += event.indexed
                self.index_files["reused"] += event.reused
                self.index_seconds.observe(event.seconds)
            elif isinstance(event, EditApplied):
                self.edits["applied"] += 1
            elif isinstance(event, EditUndone):
                self.edits["undone"] += 1
            elif isinstance(event, Voted):
                self.votes += 1
        if len(self._models) > 10000:  # turns that never finished (a killed process): forget the oldest
            for turn in list(self._models)[:5000]:
                del self._models[turn]


def _split(model_id: str) -> tuple[str, str]:
    provider, _, model = model_id.partition(":")
    return provider or "unknown", model
