"""The pure parts of comparisons: the circuit breaker, task categories, quality checks, selection, ratings."""

import math
import random

import pytest

from aiex_kernel.core.breaker import breaker_state
from aiex_kernel.core.categories import categorize
from aiex_kernel.core.quality import CodeCheck, agreement, assess, parses
from aiex_kernel.core.ratings import bradley_terry, leaderboard, pairwise
from aiex_kernel.core.selection import MIN_VOTES, pick


def test_the_breaker_opens_after_failures_in_a_row_and_half_opens_after_the_cooldown():
    ok, bad = True, False
    assert breaker_state([], 100.0).state == "closed"
    assert breaker_state([(1, bad), (2, bad), (3, ok), (4, bad)], 5, threshold=3, cooldown=30).state == "closed"
    opened = breaker_state([(1, ok), (2, bad), (3, bad), (4, bad)], 10, threshold=3, cooldown=30)
    assert opened.state == "open" and opened.failures == 3 and opened.retry_in == 24 and not opened.allows
    assert breaker_state([(2, bad), (3, bad), (4, bad)], 40, threshold=3, cooldown=30).state == "half-open"
    assert breaker_state([(2, bad), (3, bad), (4, bad), (41, ok)], 42, threshold=3, cooldown=30).state == "closed"


def test_categories_by_keyword_rules():
    assert categorize("Write unit tests for parse()") == "test"
    assert categorize("Why does this raise a KeyError?") == "fix"
    assert categorize("Refactor this loop to be idiomatic") == "refactor"
    assert categorize("What is a closure?") == "explain"
    assert categorize("Write a function that reverses a list") == "generate"
    assert categorize("hello there") == "other"


def test_quality_checks():
    assert parses("def f(:\n  pass", "python") is False and parses("def f():\n    return 1", "py") is True
    assert parses("fn main() {}", "rust") is True and parses("x", "cobol") is None
    assert agreement(["the cat sat on mat", "the cat sat", "dogs bark loudly"])[2] == 0.0
    slots = [
        {"letter": "a", "model": "m1", "status": "answered", "text": "```python\ndef f(:\n```", "latency_s": 1.0,
         "cost_usd": 0.01},
        {"letter": "b", "model": "m2", "status": "answered", "text": "Use `f`:\n```python\ndef f():\n    return 1\n```",
         "latency_s": 2.0, "cost_usd": 0.002},
        {"letter": "c", "model": "m3", "status": "failed", "text": "", "latency_s": None, "cost_usd": None},
    ]
    a, b, c = assess(slots, [None, CodeCheck(True, True, "ok"), None])
    assert not a.passing and a.unparsed == ("python",) and a.code_blocks == 1
    assert b.passing and b.code_ran is True and not c.passing and not c.answered
    assert not assess(slots, [None, CodeCheck(True, False, "boom"), None])[1].passing


def test_selection_strategies_say_why():
    slots = [{"letter": x, "model": m, "status": "answered", "text": t, "latency_s": lat, "cost_usd": cost}
             for x, m, t, lat, cost in [("a", "fast", "alpha beta gamma", 0.5, 0.03),
                                        ("b", "cheap", "alpha beta gamma delta", 1.5, 0.001),
                                        ("c", "odd", "completely different words here", 1.0, None)]]
    items = assess(slots)
    assert pick(items, "fastest-passing")[0].letter == "a"
    best, how, why = pick(items, "cheapest-passing")
    assert best.letter == "b" and "$0.00100" in why
    assert pick(items, "consensus")[0].letter in ("a", "b") and pick(items, "consensus")[0].letter != "c"
    assert pick(items, "judge", wins={"a": 1, "b": 3, "c": 0})[0].letter == "b"
    best, how, why = pick(items, "preferred", ratings={"odd": 1200, "fast": 900}, votes=MIN_VOTES)
    assert best.letter == "c" and how == "preferred"
    _, how, why = pick(items, "preferred", ratings={"odd": 1200}, votes=3)
    assert how == "consensus" and "only 3 votes" in why
    with pytest.raises(ValueError):
        pick(assess([{**slots[0], "status": "failed"}]), "consensus")


def test_bradley_terry_matches_a_hand_computed_example():
    # A beats B three times in four: the maximum-likelihood odds are 3:1, 400 * log10(3) = 190.85 points apart
    ratings = bradley_terry([("A", "B", 1.0)] * 3 + [("A", "B", 0.0)], prior=0)
    assert ratings["A"] - ratings["B"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert ratings["A"] + ratings["B"] == pytest.approx(2000, abs=1e-6)  # geometric mean fixed at 1
    assert pairwise([(("x", "y", "z"), "tie")]) == [("x", "y", 0.5), ("x", "z", 0.5), ("y", "z", 0.5)]
    assert pairwise([(("x", "y"), "bad")]) == []
    assert pairwise([(("x", "y", "z"), "c")]) == [("z", "x", 1.0), ("z", "y", 1.0)]


def test_the_fit_recovers_known_strengths_from_simulated_votes():
    rng = random.Random(7)
    strengths = {"m1": 8.0, "m2": 3.0, "m3": 1.0, "m4": 0.3}
    votes = []
    for _ in range(400):
        models = rng.sample(list(strengths), 2)
        p = strengths[models[0]] / (strengths[models[0]] + strengths[models[1]])
        votes.append((tuple(models), "a" if rng.random() < p else "b"))
    votes += [(("m1", "m2"), "bad")] * 5
    board = leaderboard(votes, samples=100)
    assert [r.model for r in board] == ["m1", "m2", "m3", "m4"]
    for r in board:
        assert r.low <= r.rating <= r.high
    assert leaderboard([]) == []
