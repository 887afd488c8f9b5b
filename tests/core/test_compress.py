"""Fitting ranked pieces of code into a token budget, and rendering them grouped by file."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from aiex_kernel.core.compress import Fitted, Piece, fit, render


def char_count(s: str) -> int:
    return len(s) // 3 + (1 if s else 0)


def word_count(s: str) -> int:
    return len(s.split())


COUNTERS = {"chars": char_count, "words": word_count}

PATHS = ["a.py", "b.py", "b/c.py", "src/z.rs"]
LEVELS3 = ("full", "signature", "outline")

piece_strategy = st.builds(
    Piece,
    path=st.sampled_from(PATHS),
    level=st.sampled_from(LEVELS3),
    line=st.integers(0, 60),
    text=st.text(alphabet="ab \n", max_size=400),
)
pieces_strategy = st.lists(piece_strategy, max_size=30)
budget_strategy = st.integers(0, 3000)


def check_fit(pieces: list[Piece], budget: int, count, estimate=None) -> Fitted:
    f = fit(pieces, budget, count, estimate=estimate)
    k = len(f.pieces)
    assert f.tokens <= budget
    assert f.tokens == count(f.text)
    assert f.pieces == pieces[:k]  # a prefix, in order
    assert f.text == render(f.pieces)
    assert f.candidates == len(pieces)
    return f


def assert_maximal(f: Fitted, pieces: list[Piece], budget: int, count) -> None:
    k = len(f.pieces)
    if k < len(pieces):
        assert count(render(pieces[: k + 1])) > budget, "the next piece would still have fitted"


# ---------------------------------------------------------------------------- fit: properties


@settings(max_examples=120, deadline=None)
@given(pieces_strategy, budget_strategy, st.sampled_from(sorted(COUNTERS)))
def test_fit_never_exceeds_budget_and_is_maximal(pieces, budget, counter):
    count = COUNTERS[counter]
    f = check_fit(pieces, budget, count)
    assert_maximal(f, pieces, budget, count)


@settings(max_examples=120, deadline=None)
@given(pieces_strategy, budget_strategy, st.sampled_from(sorted(COUNTERS)))
def test_fit_with_estimate_never_exceeds_budget(pieces, budget, counter):
    count = COUNTERS[counter]
    check_fit(pieces, budget, count, estimate=count)


# 30 empty pieces of one file render as "### a.py" and 29 newlines: 13 tokens by char_count, 2 by
# word_count, so all of them fit a budget of 20.
_EMPTY_PIECES = [Piece("a.py", "full", i, "") for i in range(30)]


@settings(max_examples=120, deadline=None)
@given(pieces_strategy, budget_strategy, st.sampled_from(sorted(COUNTERS)))
@example(_EMPTY_PIECES, 20, "chars")
@example(_EMPTY_PIECES, 20, "words")
def test_fit_with_estimate_is_maximal(pieces, budget, counter):
    """The estimate only narrows the search: a too-cautious one (the flat 4 per piece overestimates
    many small pieces, as in the examples) must not drop pieces that fit."""
    count = COUNTERS[counter]
    f = check_fit(pieces, budget, count, estimate=count)
    assert_maximal(f, pieces, budget, count)


def test_fit_takes_all_small_pieces_with_and_without_estimate():
    # the estimated sum (4 per empty piece) passes 2 * 20 + 64 at piece 27, yet all 30 fit
    for count in COUNTERS.values():
        assert count(render(_EMPTY_PIECES)) <= 20
        assert len(check_fit(_EMPTY_PIECES, 20, count).pieces) == 30
        assert len(check_fit(_EMPTY_PIECES, 20, count, estimate=count).pieces) == 30


@settings(max_examples=100, deadline=None)
@given(pieces_strategy, budget_strategy, st.integers(0, 1000))
def test_fit_with_any_estimate_is_the_same_as_without(pieces, budget, scale):
    """However wrong the estimate (0, or far too high), the result is the longest fitting prefix."""
    a = fit(pieces, budget, char_count)
    b = fit(pieces, budget, char_count, estimate=lambda s: scale * len(s))
    assert (a.text, a.tokens, a.pieces) == (b.text, b.tokens, b.pieces)


# ---------------------------------------------------------------------------- fit: examples


@pytest.mark.parametrize("estimate", [None, char_count])
def test_fit_zero_budget_or_no_pieces_is_empty(estimate):
    pieces = [Piece("a.py", "full", 1, "def f(): pass")]
    for f in (fit(pieces, 0, char_count, estimate=estimate), fit(pieces, -5, char_count, estimate=estimate),
              fit([], 100, char_count, estimate=estimate)):
        assert f.text == "" and f.tokens == 0 and f.pieces == [] and f.files == []
    assert fit(pieces, 0, char_count).candidates == 1
    assert fit([], 100, char_count).candidates == 0


def test_fit_takes_the_longest_fitting_prefix():
    pieces = [Piece("b.py", "full", 10, "one two three"),
              Piece("a.py", "signature", 5, "four five"),
              Piece("b.py", "outline", 0, "six seven eight nine"),
              Piece("c.py", "full", 1, "ten")]
    # "### a.py\nfour five\n\n### b.py\none two three" = 9 words (each "###" is one)
    f = fit(pieces, 9, word_count)
    assert f.pieces == pieces[:2]
    assert f.text == "### a.py\nfour five\n\n### b.py\none two three"
    assert f.tokens == 9
    assert f.files == ["a.py", "b.py"]
    assert f.counts() == {"full": 1, "signature": 1, "outline": 0, "summary": 0}
    assert len(fit(pieces, 8, word_count).pieces) == 1  # "### b.py\none two three": 5 words
    assert len(fit(pieces, 4, word_count).pieces) == 0
    # one word short of the third piece (13 words): still two
    assert len(fit(pieces, 12, word_count).pieces) == 2
    assert len(fit(pieces, 13, word_count).pieces) == 3
    assert len(fit(pieces, 15, word_count).pieces) == 3  # c.py adds "### c.py ten": 16
    assert len(fit(pieces, 16, word_count).pieces) == 4
    assert len(fit(pieces, 1000, word_count).pieces) == 4


def test_fit_first_piece_too_big_gives_nothing():
    pieces = [Piece("a.py", "full", 1, "x " * 100), Piece("a.py", "full", 2, "y")]
    f = fit(pieces, 10, word_count)
    assert f.pieces == [] and f.text == "" and f.tokens == 0


def test_fit_stops_at_first_piece_that_does_not_fit():
    # a later small piece that would fit on its own is not taken: the result is a prefix
    pieces = [Piece("a.py", "full", 1, "a"), Piece("a.py", "full", 2, "b " * 50), Piece("a.py", "full", 3, "c")]
    f = fit(pieces, 10, word_count)
    assert f.pieces == pieces[:1]


# ---------------------------------------------------------------------------- render


def test_render_groups_by_file_in_path_order_and_line_order():
    pieces = [Piece("b.py", "full", 30, "B30"),
              Piece("a.py", "signature", 20, "A20"),
              Piece("b.py", "signature", 5, "B5"),
              Piece("a.py", "full", 3, "A3"),
              Piece("b.py", "full", 12, "B12")]
    assert render(pieces) == "### a.py\nA3\nA20\n\n### b.py\nB5\nB12\nB30"


def test_render_puts_file_level_pieces_after_chunks():
    # outlines and summaries (line 0) come after the file's full and signature pieces
    pieces = [Piece("a.py", "outline", 0, "outline: a"),
              Piece("a.py", "full", 7, "A7"),
              Piece("a.py", "summary", 0, "summary: a"),
              Piece("a.py", "signature", 2, "A2")]
    assert render(pieces) == "### a.py\nA2\nA7\noutline: a\nsummary: a"


def test_render_same_line_full_before_signature():
    pieces = [Piece("a.py", "signature", 4, "sig"), Piece("a.py", "full", 4, "full")]
    assert render(pieces) == "### a.py\nfull\nsig"


def test_render_empty():
    assert render([]) == ""


def _unique_keys(pieces: list[Piece]) -> list[Piece]:
    seen, out = set(), []
    for p in pieces:
        if (p.path, p.line, p.level) not in seen:
            seen.add((p.path, p.line, p.level))
            out.append(p)
    return out


@settings(max_examples=120, deadline=None)
@given(pieces_strategy, st.randoms(use_true_random=False))
def test_render_is_deterministic_under_shuffle(pieces, rnd):
    shuffled = list(pieces)
    rnd.shuffle(shuffled)
    assert render(shuffled) == render(pieces)


@settings(max_examples=120, deadline=None)
@given(st.lists(st.builds(Piece, path=st.sampled_from(PATHS), level=st.sampled_from(LEVELS3),
                          line=st.integers(0, 60), text=st.just("")), max_size=30).map(_unique_keys))
def test_render_structure(pieces):
    """Each file once, as a '### path' block, files sorted, each block with one line per piece."""
    pieces = [Piece(p.path, p.level, p.line, f"{p.level}@{p.line}") for p in pieces]
    text = render(pieces)
    if not pieces:
        assert text == ""
        return
    blocks = text.split("\n\n")
    paths = [b.split("\n", 1)[0].removeprefix("### ") for b in blocks]
    assert paths == sorted({p.path for p in pieces})
    rank = {"full": 0, "signature": 1, "outline": 2}
    for block, path in zip(blocks, paths):
        lines = block.split("\n")[1:]
        mine = [p for p in pieces if p.path == path]
        assert sorted(lines) == sorted(p.text for p in mine)
        keys = [(rank[lv] >= 2, int(ln), rank[lv]) for lv, ln in (s.split("@") for s in lines)]
        assert keys == sorted(keys)


def test_render_is_deterministic_under_shuffle_with_ties():
    # same file, line and level (a one-line class and its method): ordered by text, not input order
    pieces = [Piece("a.py", "signature", 3, "def f"), Piece("a.py", "signature", 3, "class A")]
    assert render(pieces) == render(list(reversed(pieces))) == "### a.py\nclass A\ndef f"


def test_render_shuffle_many_times():
    rnd = random.Random(7)
    pieces = [Piece(rnd.choice(PATHS), lv, ln, f"{lv}{ln}") for ln in range(20) for lv in LEVELS3]
    pieces = _unique_keys(pieces)
    want = render(pieces)
    for _ in range(20):
        rnd.shuffle(pieces)
        assert render(pieces) == want
