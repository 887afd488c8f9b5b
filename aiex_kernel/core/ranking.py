"""Which chunks matter for a question: BM25 over terms, a bonus for defining a named symbol,
plus any per-file prior (the symbol-graph rank) and per-chunk similarity (embeddings)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .bm25 import bm25
from .terms import STOP, query_terms, term_hash

__all__ = ["QueryTerms", "rank_chunks"]

#: weight of "this chunk defines a symbol the question names", relative to the best BM25 score
DEFINITION_BONUS = 1.0
#: weight of the file prior (graph rank, normalised to [0, 1]), relative to the best BM25 score
FILE_PRIOR_WEIGHT = 0.3
#: weight of embedding similarity (cosine, [0, 1]), relative to the best BM25 score
EMBEDDING_WEIGHT = 0.5


class QueryTerms:
    """A question's search terms (hashed) and the identifiers it names."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.terms = query_terms(text)
        self.hashes = [term_hash(t) for t in self.terms]
        words = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text)
        # identifiers that look like code (snake_case, camelCase, dotted parts) or any word of 3+ letters
        self.names = list(dict.fromkeys(w.lower().strip("_") for w in words
                                        if len(w.strip("_")) > 2 and w.lower() not in STOP))
        self.name_hashes = [term_hash(n) for n in self.names]


def rank_chunks(arrays: dict[str, np.ndarray], query: QueryTerms, *, file_prior: np.ndarray | None = None,
                similarity: np.ndarray | None = None, live: np.ndarray | None = None,
                exclude_kinds: Sequence[int] = ()) -> np.ndarray:
    """A relevance score per chunk (higher is better; 0 means unrelated)."""
    scores = bm25(query.hashes, arrays["post_chunk"], arrays["post_term"], arrays["post_count"],
                  arrays["chunk_len"], live)
    scale = float(scores.max()) if len(scores) and scores.max() > 0 else 1.0
    if query.name_hashes and len(scores):
        defines = np.isin(arrays["chunk_name"], np.asarray(query.name_hashes, dtype=np.uint32))
        scores = scores + defines * DEFINITION_BONUS * scale
    if file_prior is not None and len(scores):
        prior = file_prior / (file_prior.max() or 1.0)
        scores = scores + FILE_PRIOR_WEIGHT * scale * prior[arrays["chunk_file"]]
    if similarity is not None and len(scores):
        scores = scores + EMBEDDING_WEIGHT * scale * np.clip(similarity, 0, 1)
    if exclude_kinds:
        scores = np.where(np.isin(arrays["chunk_kind"], list(exclude_kinds)), 0.0, scores)
    return scores
