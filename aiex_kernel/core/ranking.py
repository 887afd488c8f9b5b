"""Which chunks matter for a question: BM25 over terms, a bonus for defining a named symbol,
plus any per-file prior (the symbol-graph rank) and per-chunk similarity (embeddings).

A definition named by an identifier-looking word of the question (``snake_case``,
``CamelCase``, ``dotted.name``, a backticked word, ``name()``) earns the whole
definition bonus; one named by a plain English word ("stop", "command", "set")
earns a fifth of it, so ordinary words do not pull in every ``set`` method. Test
code is weighted down (a quarter) unless the question is about tests, and a file's
own top-level code (imports, constants) by half.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .bm25 import bm25
from .terms import QUESTION_STOP, STOP, query_terms, term_hash

__all__ = ["QueryTerms", "is_test_path", "rank_chunks"]

#: weight of "this chunk defines a symbol the question names", relative to the best BM25 score
DEFINITION_BONUS = 1.0
#: weight of the file prior (graph rank, normalised to [0, 1]), relative to the best BM25 score
FILE_PRIOR_WEIGHT = 0.3
#: weight of embedding similarity (cosine, [0, 1]), relative to the best BM25 score
EMBEDDING_WEIGHT = 0.5
#: the definition bonus of a name the question gives as a plain English word, as a share of the whole bonus
PLAIN_WORD_SHARE = 0.2
#: what a chunk of test code scores, as a share, unless the question is about tests
TEST_WEIGHT = 0.25
#: what a file's own top-level code (imports, constants, statements) scores, as a share
MODULE_WEIGHT = 0.5
_TESTS_ASKED = re.compile(r"\b(tests?|testing|pytest|unittest|fixtures?|conftest|assert\w*|xfail|parametri[sz]\w*)\b",
                          re.IGNORECASE)
_TEST_PATH = re.compile(r"(^|/)(tests?|testing|testsuite)(/|$)|(^|/)(test_[^/]*|[^/]*_tests?\.[a-z]+|tests?\.py|"
                        r"conftest\.py)$")
_IDENTIFIER = re.compile(r"`[^`]+`|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|[A-Za-z0-9]*_[A-Za-z0-9_]+|"
                         r"[a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Za-z_][A-Za-z0-9_]*(?=\()")


def is_test_path(path: str) -> bool:
    """Whether ``path`` holds tests (a tests/ folder, test_*.py, *_test.py, conftest.py)."""
    return bool(_TEST_PATH.search(path))


class QueryTerms:
    """A question's search terms (hashed) and the identifiers it names."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.terms = query_terms(text)
        self.hashes = [term_hash(t) for t in self.terms]
        words = [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text) if w.lower() not in QUESTION_STOP]
        # identifiers that look like code (snake_case, camelCase, dotted parts) or any word of 3+ letters
        singles = [w.lower().strip("_") for w in words if len(w.strip("_")) > 2 and w.lower() not in STOP]
        code = {w.lower().strip("_") for m in _IDENTIFIER.findall(text)
                for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", m)}
        # two plain words in a row may name one thing: "local manager" -> LocalManager, local_manager
        plain = [w.lower() for w in words]
        pairs = [f"{a}{sep}{b}" for a, b in zip(plain, plain[1:]) if a not in STOP and b not in STOP
                 for sep in ("", "_")]
        self.names = list(dict.fromkeys([*singles, *pairs]))
        self.name_hashes = [term_hash(n) for n in self.names]
        #: per name: 1 for an identifier-looking word or a pair of words, PLAIN_WORD_SHARE for one plain word
        self.name_weights = [1.0 if n in code or n not in singles else PLAIN_WORD_SHARE for n in self.names]
        self.about_tests = bool(_TESTS_ASKED.search(text))


def rank_chunks(arrays: dict[str, np.ndarray], query: QueryTerms, *, file_prior: np.ndarray | None = None,
                similarity: np.ndarray | None = None, live: np.ndarray | None = None,
                exclude_kinds: Sequence[int] = (), test_files: np.ndarray | None = None) -> np.ndarray:
    """A relevance score per chunk (higher is better; 0 means unrelated). ``test_files``: per file, whether
    it holds tests."""
    scores = bm25(query.hashes, arrays["post_chunk"], arrays["post_term"], arrays["post_count"],
                  arrays["chunk_len"], live)
    scale = float(scores.max()) if len(scores) and scores.max() > 0 else 1.0
    if query.name_hashes and len(scores):
        names = np.asarray(query.name_hashes, dtype=np.uint32)
        weights = np.asarray(query.name_weights, dtype=np.float64)
        order = np.argsort(names, kind="stable")
        names, weights = names[order], weights[order]
        at = np.clip(np.searchsorted(names, arrays["chunk_name"]), 0, len(names) - 1)
        defines = np.where(names[at] == arrays["chunk_name"], weights[at], 0.0)
        scores = scores + defines * DEFINITION_BONUS * scale
    if file_prior is not None and len(scores):
        prior = file_prior / (file_prior.max() or 1.0)
        scores = scores + FILE_PRIOR_WEIGHT * scale * prior[arrays["chunk_file"]]
    if similarity is not None and len(scores):
        scores = scores + EMBEDDING_WEIGHT * scale * np.clip(similarity, 0, 1)
    if test_files is not None and len(scores) and not query.about_tests:
        scores = np.where(test_files[arrays["chunk_file"]], scores * TEST_WEIGHT, scores)
    if len(scores):
        scores = np.where(arrays["chunk_kind"] == 0, scores * MODULE_WEIGHT, scores)  # KINDS[0] == "module"
    if exclude_kinds:
        scores = np.where(np.isin(arrays["chunk_kind"], list(exclude_kinds)), 0.0, scores)
    return scores
