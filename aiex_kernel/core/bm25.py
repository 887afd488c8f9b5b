"""BM25 over term postings (numpy): which chunks match a question's terms, and how well."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["bm25"]


def bm25(query: Sequence[int], post_chunk: np.ndarray, post_term: np.ndarray, post_count: np.ndarray,
         lengths: np.ndarray, live: np.ndarray | None = None, k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    """Okapi BM25 score of every chunk for the query's term hashes (0 where nothing matches).

    ``live`` masks chunks that count (dead ones score 0 and do not count in the
    statistics).
    """
    n_chunks = len(lengths)
    scores = np.zeros(n_chunks, dtype=np.float64)
    if not len(query) or not n_chunks:
        return scores
    if live is None:
        live = np.ones(n_chunks, dtype=bool)
    n_live = int(live.sum())
    if n_live == 0:
        return scores
    avg_len = float(lengths[live].mean()) or 1.0
    q = np.asarray(list(query), dtype=np.uint32)
    hit = np.isin(post_term, q)
    chunks, terms, counts = post_chunk[hit], post_term[hit], post_count[hit].astype(np.float64)
    keep = live[chunks]
    chunks, terms, counts = chunks[keep], terms[keep], counts[keep]
    if not len(chunks):
        return scores
    uniq, inverse = np.unique(terms, return_inverse=True)
    df = np.bincount(inverse).astype(np.float64)
    idf = np.log1p((n_live - df + 0.5) / (df + 0.5))
    norm = k1 * (1 - b + b * lengths[chunks] / avg_len)
    np.add.at(scores, chunks, idf[inverse] * counts * (k1 + 1) / (counts + norm))
    return scores
