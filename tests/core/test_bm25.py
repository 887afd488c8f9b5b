"""Okapi BM25 over term postings built by ``chunk_postings``."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiex_kernel.core.bm25 import bm25
from aiex_kernel.core.terms import chunk_postings, query_terms, term_hash


def score(texts: list[str], query: str, live=None) -> np.ndarray:
    p = chunk_postings([t.encode() for t in texts])
    hashes = [term_hash(t) for t in query_terms(query)]
    return bm25(hashes, p.chunk, p.term, p.count, p.length, live)


def test_rare_term_outranks_common_term():
    texts = ["alpha zeta", "common beta", "common gamma", "common delta", "common omega"]
    s = score(texts, "alpha common")
    assert s[0] > 0 and all(s[i] > 0 for i in range(1, 5))
    assert s[0] > max(s[1:])
    # the four "common" documents are alike: same score
    assert np.allclose(s[1:], s[1])


def test_document_without_query_terms_scores_zero():
    s = score(["alpha beta", "gamma delta", "alpha"], "alpha")
    assert s[1] == 0.0
    assert s[0] > 0 and s[2] > 0


def test_more_occurrences_score_higher_with_diminishing_returns():
    length = 8
    texts = [" ".join(["target"] * k + ["filler"] * (length - k)) for k in range(1, length + 1)]
    texts.append("other words only here and there too more")  # keeps "target" rare enough
    s = score(texts, "target")[:length]
    gains = np.diff(s)
    assert np.all(gains > 0)  # more is better...
    assert np.all(np.diff(gains) < 0)  # ...but each extra occurrence adds less
    # saturation: never above idf * (k1 + 1)
    n, df = len(texts), length
    idf = math.log1p((n - df + 0.5) / (df + 0.5))
    assert s.max() < idf * 2.2


def test_longer_documents_score_lower_for_equal_counts():
    texts = ["target " + " ".join(["filler"] * m) for m in (0, 1, 3, 7, 15)]
    texts.append("unrelated")
    s = score(texts, "target")[:5]
    assert np.all(np.diff(s) < 0)


def test_empty_query_scores_all_zero():
    p = chunk_postings([b"alpha beta", b"gamma"])
    s = bm25([], p.chunk, p.term, p.count, p.length)
    assert s.shape == (2,) and s.dtype == np.float64
    assert not s.any()


def test_unknown_terms_score_all_zero():
    s = score(["alpha beta", "gamma"], "nothing matches")
    assert s.tolist() == [0.0, 0.0]


def test_no_chunks():
    p = chunk_postings([])
    assert bm25([term_hash("alpha")], p.chunk, p.term, p.count, p.length).shape == (0,)


def test_repeated_query_hash_counts_once():
    p = chunk_postings([b"alpha beta", b"beta gamma", b"gamma"])
    h = term_hash("alpha")
    once = bm25([h], p.chunk, p.term, p.count, p.length)
    twice = bm25([h, h], p.chunk, p.term, p.count, p.length)
    assert np.array_equal(once, twice)


def test_hand_computed_score():
    texts = ["alpha alpha beta", "beta gamma", "alpha delta epsilon zeta", "gamma"]
    s = score(texts, "alpha beta")
    k1, b = 1.2, 0.75
    lengths = [3, 2, 4, 1]
    n, avg = 4, sum(lengths) / 4

    def idf(df):
        return math.log1p((n - df + 0.5) / (df + 0.5))

    def part(tf, df, length):
        return idf(df) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))

    want0 = part(2, 2, 3) + part(1, 2, 3)  # alpha x2, beta x1
    want1 = part(1, 2, 2)  # beta
    want2 = part(1, 2, 4)  # alpha
    assert s[0] == pytest.approx(want0, rel=1e-12)
    assert s[1] == pytest.approx(want1, rel=1e-12)
    assert s[2] == pytest.approx(want2, rel=1e-12)
    assert s[3] == 0.0


def test_custom_k1_and_b():
    p = chunk_postings([b"alpha beta beta", b"beta"])
    h = [term_hash("alpha")]
    s = bm25(h, p.chunk, p.term, p.count, p.length, k1=2.0, b=0.0)
    idf = math.log1p((2 - 1 + 0.5) / (1 + 0.5))
    assert s[0] == pytest.approx(idf * 1 * 3.0 / (1 + 2.0), rel=1e-12)  # b=0: no length normalisation
    assert s[1] == 0.0


def test_live_mask_zeroes_dead_chunks_and_excludes_them_from_statistics():
    texts = ["alpha beta", "alpha alpha alpha gamma gamma gamma gamma", "beta", "alpha", "delta epsilon"]
    live = np.array([True, False, True, False, True])
    s = score(texts, "alpha beta", live)
    assert s[1] == 0.0 and s[3] == 0.0
    # exactly the scores of a collection holding only the live chunks
    alone = score([t for t, keep in zip(texts, live) if keep], "alpha beta")
    assert np.allclose(s[live], alone, rtol=1e-12, atol=0)
    # and not the scores the dead chunks would have given
    assert not np.allclose(score(texts, "alpha beta")[live], alone)


def test_all_dead_scores_zero():
    p = chunk_postings([b"alpha", b"alpha beta"])
    s = bm25([term_hash("alpha")], p.chunk, p.term, p.count, p.length, np.zeros(2, dtype=bool))
    assert s.tolist() == [0.0, 0.0]


_WORDS = ["alpha", "beta", "gamma", "delta", "parse_config", "HTTPServer", "self", "x", "+", "\n"]


@settings(max_examples=100)
@given(st.lists(st.lists(st.sampled_from(_WORDS), max_size=12).map(" ".join), min_size=1, max_size=8),
       st.lists(st.sampled_from(["alpha", "beta", "config", "server", "nothing"]), max_size=3),
       st.data())
def test_live_mask_equals_dropping_dead_chunks(texts, query, data):
    live = np.array(data.draw(st.lists(st.booleans(), min_size=len(texts), max_size=len(texts))))
    q = " ".join(query)
    s = score(texts, q, live)
    assert np.all(s[~live] == 0.0)
    assert np.all(s >= 0.0)
    kept = [t for t, keep in zip(texts, live) if keep]
    if kept:
        assert np.allclose(s[live], score(kept, q), rtol=1e-12, atol=1e-15)
