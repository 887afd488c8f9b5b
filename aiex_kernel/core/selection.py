"""Picking one answer of a comparison (``--select``), from its assessments: pure, and it says why."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .quality import Assessment

__all__ = ["MIN_VOTES", "pick"]

#: votes in a category below which ``preferred`` falls back to ``consensus``
MIN_VOTES = 20


def _pool(items: Sequence[Assessment]) -> tuple[list[Assessment], str]:
    passing = [a for a in items if a.passing]
    if passing:
        return passing, ""
    answered = [a for a in items if a.answered]
    return answered, " (none passed the checks, so among those that answered)"


def pick(items: Sequence[Assessment], how: str, *, ratings: Mapping[str, float] | None = None, votes: int = 0,
         wins: Mapping[str, float] | None = None) -> tuple[Assessment, str, str]:
    """(the picked answer, the strategy actually used, why). ``ratings`` (model -> rating) and ``votes``
    serve ``preferred``; ``wins`` (letter -> judged wins) serves ``judge``. ValueError if none answered."""
    pool, caveat = _pool(items)
    if not pool:
        raise ValueError("no model answered, so there is nothing to select")
    if how == "preferred":
        known = {a.letter: ratings[a.model] for a in pool if ratings and a.model in ratings}
        if votes < MIN_VOTES or not known:
            best, _, why = pick(items, "consensus")
            return best, "consensus", (f"only {votes} votes in this kind of task (preferred needs {MIN_VOTES}); "
                                       f"{why}")
        best = max(pool, key=lambda a: (known.get(a.letter, float("-inf")), -pool.index(a)))
        return best, how, f"your votes rate {best.model} highest here ({known[best.letter]:.0f}){caveat}"
    if how == "judge":
        scores = {a.letter: (wins or {}).get(a.letter, 0.0) for a in pool}
        best = max(pool, key=lambda a: (scores[a.letter], a.agreement))
        total = 2 * (len(items) - 1)
        return best, how, f"the judge preferred it in {scores[best.letter]:g} of {total} comparisons{caveat}"
    if how == "fastest-passing":
        timed = [a for a in pool if a.latency_s is not None] or pool
        best = min(timed, key=lambda a: a.latency_s if a.latency_s is not None else float("inf"))
        return best, how, f"the fastest that passed ({best.latency_s or 0:.2f} s){caveat}"
    if how == "cheapest-passing":
        best = min(pool, key=lambda a: (a.cost_usd if a.cost_usd is not None else float("inf"),
                                        a.latency_s if a.latency_s is not None else float("inf")))
        cost = "cost unknown" if best.cost_usd is None else f"${best.cost_usd:.5f}"
        return best, how, f"the cheapest that passed ({cost}){caveat}"
    if how == "consensus":
        best = max(pool, key=lambda a: (a.agreement, -pool.index(a)))
        return best, how, f"it agrees most with the others ({best.agreement:.0%} shared words){caveat}"
    raise ValueError(f"unknown selection {how!r}")
