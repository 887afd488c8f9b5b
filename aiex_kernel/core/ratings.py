"""Ratings of models from the user's votes: Bradley-Terry, with bootstrap confidence intervals.

A vote on a comparison of N answers says one slot was better than each of the
others (N-1 wins), or that all were as good (a tie counts half a win to each side
of every pair), or that all were bad (stored, left out of the fit).
:func:`bradley_terry` fits strengths by the MM algorithm (Hunter, 2004); a small
prior (one virtual tie of every model against a reference of strength 1) keeps a
model that never won finite. Ratings are on an Elo-like scale:
``1000 + 400 * log10(strength)``, so 400 points apart means 10:1 odds.
:func:`leaderboard` adds bootstrap intervals (votes resampled with replacement).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["Rating", "bradley_terry", "leaderboard", "pairwise"]

BASE, SCALE = 1000.0, 400.0


@dataclass(frozen=True)
class Rating:
    model: str
    rating: float
    low: float  #: 2.5th percentile of the bootstrap
    high: float  #: 97.5th percentile
    votes: int  #: votes the model took part in
    wins: float  #: wins in the fit (ties count half)


def pairwise(votes: Iterable[tuple[Sequence[str], str]]) -> list[tuple[str, str, float]]:
    """``(model a, model b, a's score 1 | 0.5 | 0)`` games from votes ``(slot models, choice)``."""
    games = []
    for models, choice in votes:
        if choice == "bad" or len(models) < 2:
            continue
        if choice == "tie":
            games += [(models[i], models[j], 0.5) for i in range(len(models)) for j in range(i + 1, len(models))]
            continue
        index = ord(choice) - ord("a")
        if not 0 <= index < len(models):
            continue
        games += [(models[index], other, 1.0) for k, other in enumerate(models) if k != index]
    return games


def bradley_terry(games: Sequence[tuple[str, str, float]], *, prior: float = 1.0, iterations: int = 500,
                  tolerance: float = 1e-9) -> dict[str, float]:
    """Model -> rating from ``games`` (``(a, b, a's score)``); ``prior``: virtual ties with a reference."""
    models = sorted({m for a, b, _ in games for m in (a, b)})
    if not models:
        return {}
    index = {m: i for i, m in enumerate(models)}
    n = len(models)
    wins = [prior * 0.5] * n
    pairs: dict[tuple[int, int], float] = {}
    for a, b, score in games:
        i, j = index[a], index[b]
        wins[i] += score
        wins[j] += 1.0 - score
        key = (min(i, j), max(i, j))
        pairs[key] = pairs.get(key, 0.0) + 1.0
    strength = [1.0] * n
    for _ in range(iterations):
        new = []
        for i in range(n):
            denominator = prior / (strength[i] + 1.0)  # the games with the reference (strength 1)
            for (a, b), count in pairs.items():
                if i in (a, b):
                    other = b if i == a else a
                    denominator += count / (strength[i] + strength[other])
            new.append(wins[i] / denominator if denominator > 0 else strength[i])
        if prior == 0:  # without the reference the scale is free: fix the geometric mean at 1
            mean = math.exp(sum(math.log(max(s, 1e-300)) for s in new) / n)
            new = [s / mean for s in new]
        change = max(abs(x - y) for x, y in zip(new, strength))
        strength = new
        if change < tolerance:
            break
    return {m: BASE + SCALE * math.log10(max(strength[index[m]], 1e-300)) for m in models}


def leaderboard(votes: Sequence[tuple[Sequence[str], str]], *, samples: int = 200, seed: int = 0,
                prior: float = 1.0) -> list[Rating]:
    """Every model in ``votes``, best first, with its 95% bootstrap interval (deterministic for a seed)."""
    counted = [(tuple(m), c) for m, c in votes if c != "bad"]
    fitted = bradley_terry(pairwise(counted), prior=prior)
    if not fitted:
        return []
    rng = random.Random(seed)
    draws: dict[str, list[float]] = {m: [] for m in fitted}
    for _ in range(samples):
        sample = [counted[rng.randrange(len(counted))] for _ in counted]
        fit = bradley_terry(pairwise(sample), prior=prior, iterations=200, tolerance=1e-6)
        for m in fitted:
            draws[m].append(fit.get(m, BASE))
    appeared: dict[str, int] = {}
    won: dict[str, float] = {}
    for a, b, score in pairwise(counted):
        won[a] = won.get(a, 0.0) + score
        won[b] = won.get(b, 0.0) + 1.0 - score
    for models, _ in counted:
        for m in set(models):
            appeared[m] = appeared.get(m, 0) + 1
    out = []
    for m, rating in fitted.items():
        values = sorted(draws[m])
        low = values[int(0.025 * (len(values) - 1))]
        high = values[int(math.ceil(0.975 * (len(values) - 1)))]
        out.append(Rating(m, round(rating, 1), round(low, 1), round(high, 1), appeared.get(m, 0),
                          round(won.get(m, 0.0), 1)))
    return sorted(out, key=lambda r: (-r.rating, r.model))
