"""Which chunks matter for a question: BM25 over terms, a bonus for defining a named symbol,
plus any per-file prior (the symbol-graph rank) and per-chunk similarity (embeddings).

A definition named by an identifier-looking word of the question (``snake_case``,
``CamelCase``, ``dotted.name``, a backticked word, ``name()``) earns the whole
definition bonus; one named by a plain English word ("stop", "command", "set")
earns a fifth of it, so ordinary words do not pull in every ``set`` method. The
members of a named container (the methods of a class the question names) earn half
of its bonus. Test code, and examples, docs and benchmarks, are weighted down (a
quarter) unless the question is about tests, and a file's own top-level code
(imports, constants) by half.

Besides its own words, a question is searched for their other forms, guessed
("hashing" -> ``hash``, "options" -> ``option``), for the special methods their words
mean ("representation" -> ``__repr__``, "equality" -> ``__eq__``), for the name a package is imported by
when they give the one it is installed by ("pyyaml" -> ``yaml``), and for two adjacent words read as
one identifier ("env vars" -> ``envvars``, ``env_vars``), and for the parts of a word run together that the
code writes apart ("loglevel" -> ``log``, ``level``, when both are terms of the index), each at a lower weight.
BM25 normalises length mildly (``b`` = 0.3): the functions a question is about are
often long ones, and a long body should not lose to a one-line helper that shares a word.

Then pseudo-relevance feedback: the terms that most set the best few chunks apart
(their share of each chunk, weighted by its score, times their idf), other than the
question's own, are searched too at a lower weight, so code that shares the best
matches' vocabulary but none of the question's words ("backoff delay" -> the
``jitter_spread`` its best match calls) still ranks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

from .bm25 import bm25
from .chunking import CLASS_KINDS
from .indexing import KINDS
from .terms import (QUESTION_STOP, STOP, flag_names, import_name, query_terms, special_methods, term_hash,
                    word_forms)

__all__ = ["QueryTerms", "is_test_path", "mentioned_files", "rank_chunks", "term_df"]

#: weight of "this chunk defines a symbol the question names", relative to the best BM25 score
DEFINITION_BONUS = 1.0
#: weight of the file prior (graph rank, normalised to [0, 1]), relative to the best BM25 score
FILE_PRIOR_WEIGHT = 0.3
#: weight of embedding similarity (cosine, [0, 1]), relative to the best BM25 score
EMBEDDING_WEIGHT = 0.5
#: the definition bonus of a name the question gives as a plain English word, as a share of the whole bonus
PLAIN_WORD_SHARE = 0.15
#: what a chunk of test code scores, as a share, unless the question is about tests
TEST_WEIGHT = 0.25
#: what a file's own top-level code (imports, constants, statements) scores, as a share
MODULE_WEIGHT = 0.5
#: BM25 weight of another form of a question's word ("hashing" -> "hash"), relative to the word itself
FORM_WEIGHT = 0.6
#: BM25 parameters: term-frequency saturation and length normalisation
BM25_K1 = 1.2
BM25_B = 0.3
#: the definition bonus a member of a named container (a method of a named class) earns, as a share of its
#: container's
MEMBER_SHARE = 0.5
#: whether a question's word run together ("loglevel") is also searched as the code's parts (log, level), as
#: another form of it
SPLIT_WORDS = True
#: BM25 weight of two adjacent words read as one identifier ("env vars" -> envvars, env_vars)
PAIR_WEIGHT = 0.5
#: pseudo-relevance feedback: the best FEEDBACK_CHUNKS chunks' FEEDBACK_TERMS most telling terms are searched
#: too, at FEEDBACK_WEIGHT of the best score (0 turns it off)
FEEDBACK_WEIGHT = 0.3
FEEDBACK_CHUNKS = 5
FEEDBACK_TERMS = 20
#: what a chunk of a file the question names ("in chatdemo.py", "http1connection: ...") earns when it matches a
#: word of the question, relative to the best BM25 score: the file is where to look, not all that is there
MENTION_WEIGHT = 0.3

_CONTRACTION = re.compile(r"(?<=[A-Za-z])['\u2019](?:t|s|re|ve|ll|d|m)\b", re.IGNORECASE)
_TESTS_ASKED = re.compile(r"\b(tests?|testing|pytest|unittest|fixtures?|conftest|assert\w*|xfail|parametri[sz]\w*)\b",
                          re.IGNORECASE)
_TEST_PATH = re.compile(r"(^|/)(tests?|testing|testsuite|examples?|docs?|benchmarks?)(/|$)|"
                        r"(^|/)(test_[^/]*|[^/]*_tests?\.[a-z]+|tests?\.py|conftest\.py)$")
_IDENTIFIER = re.compile(r"`[^`]+`|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+|[A-Za-z0-9]*_[A-Za-z0-9_]+|"
                         r"[a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Z][a-z0-9]+[A-Z][A-Za-z0-9]*|[A-Za-z_][A-Za-z0-9_]*(?=\()")


_FILE_NAME = re.compile(r"(?<![\w/.-])([\w-]+(?:[./][\w-]+)*\.[A-Za-z][A-Za-z0-9]{0,4})(?![\w/])")
#: a file name of a question that more files than this end with names none of them ("__init__.py")
MENTION_MAX_FILES = 3


#: the kinds of change a subject may start with ("fix: ..."), not modules
_CHANGE_TYPES = frozenset(QUESTION_STOP | set("feat feature bugfix hotfix docs doc chore refactor test tests style "
                                              "perf ci build revert deps security breaking".split()))
#: a commit subject's leading module ("http1connection: ...", "cptools.SessionAuth: ...")
_MODULE_PREFIX = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\s*:\s")


def mentioned_files(text: str, paths: Iterable[str]) -> list[int]:
    """The files a question names: by their name or path ("in chatdemo.py", "tornado/gen.py"), or as the
    module a commit subject starts with ("http1connection: ...", "cptools.SessionAuth: ..." -> cptools.py).
    The indices of ``paths`` that match, for a name at most MENTION_MAX_FILES paths match."""
    names = {m.lower() for m in _FILE_NAME.findall(text)}
    prefix = _MODULE_PREFIX.match(text)
    modules = []  # the dotted prefix's module paths, longest first: a/b/c, a/b, a
    if prefix and prefix.group(1).lower() not in _CHANGE_TYPES:
        parts = prefix.group(1).lower().split(".")
        modules = ["/".join(parts[:k]) for k in range(len(parts), 0, -1)]
    if not names and not modules:
        return []
    found: dict[str, list[int]] = {n: [] for n in [*names, *modules]}
    for i, path in enumerate(paths):
        low = path.lower()
        base = low.rsplit("/", 1)[-1]
        for n in names:
            if (base == n or low.endswith("/" + n) or low == n) if "/" in n else base == n:
                found[n].append(i)
        if modules:
            stem = ("/" + low).rsplit(".", 1)[0]
            stem = stem[: -len("/__init__")] if stem.endswith("/__init__") else stem
            for m in modules:
                if stem.endswith("/" + m):
                    found[m].append(i)
    chosen = {i for n in names if len(found[n]) <= MENTION_MAX_FILES for i in found[n]}
    for m in modules:  # the longest module prefix that names a few files
        if 0 < len(found[m]) <= MENTION_MAX_FILES:
            chosen.update(found[m])
            break
    return sorted(chosen)


def is_test_path(path: str) -> bool:
    """Whether ``path`` holds tests (a tests/ folder, test_*.py, *_test.py, conftest.py) or other code that is
    not the project's own (examples/, docs/, benchmarks/)."""
    return bool(_TEST_PATH.search(path))


class QueryTerms:
    """A question's search terms (hashed) and the identifiers it names."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.terms = query_terms(text)
        self.hashes = [term_hash(t) for t in self.terms]
        known = set(self.terms)
        #: other forms of the question's words ("hashing" -> "hash"), searched with FORM_WEIGHT
        forms = (f for t in self.terms for f in (*word_forms(t), *special_methods(t), *import_name(t)))
        self.forms = [f for f in dict.fromkeys(forms) if f not in known]
        self.form_hashes = [term_hash(t) for t in self.forms]
        # "doesn't", "it's": the contraction is no word of its own (no pair "linkedt" from "linked doesn't")
        prose = _CONTRACTION.sub("", text)
        words = [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", prose) if w.lower() not in QUESTION_STOP]
        # identifiers that look like code (snake_case, camelCase, dotted parts) or any word of 3+ letters
        singles = [w.lower().strip("_") for w in words if len(w.strip("_")) > 2 and w.lower() not in STOP]
        code = {w.lower().strip("_") for m in _IDENTIFIER.findall(text)
                for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", m)}
        # a command-line option names the identifier it sets: "--reload" reload, "--log-config" log_config
        flags = [f for f in flag_names(text) if f not in STOP]
        code.update(flags)
        singles += [f for f in flags if f not in singles]
        # two plain words in a row may name one thing: "local manager" -> LocalManager, local_manager
        plain = [w.lower() for w in words]
        pairs = [f"{a}{sep}{b}" for a, b in zip(plain, plain[1:]) if a not in STOP and b not in STOP
                 for sep in ("", "_")]
        weight = {n: 1.0 if n in code or n not in singles else PLAIN_WORD_SHARE for n in [*singles, *pairs]}
        for n in list(weight):  # "options" also names Option, at the weight of the word it comes from
            for f in word_forms(n) if "_" not in n else ():
                weight.setdefault(f, weight[n])
        for n in list(weight):  # "representation" names __repr__, as a plain word
            for f in special_methods(n):
                weight.setdefault(f, PLAIN_WORD_SHARE)
        self.names = list(weight)
        self.name_hashes = [term_hash(n) for n in self.names]
        #: per name: 1 for an identifier-looking word or a pair of words, PLAIN_WORD_SHARE for one plain word
        self.name_weights = [weight[n] for n in self.names]
        self.about_tests = bool(_TESTS_ASKED.search(text))
        pair_terms = [n for n in pairs if n not in known]
        pair_terms += [f for n in pair_terms if "_" not in n for f in word_forms(n)]
        self.pair_hashes = [term_hash(t) for t in dict.fromkeys(pair_terms) if t not in known]


def rank_chunks(arrays: dict[str, np.ndarray], query: QueryTerms, *, file_prior: np.ndarray | None = None,
                similarity: np.ndarray | None = None, live: np.ndarray | None = None,
                exclude_kinds: Sequence[int] = (), test_files: np.ndarray | None = None,
                term_df: tuple[np.ndarray, np.ndarray] | None = None, mentioned: Sequence[int] = ()) -> np.ndarray:
    """A relevance score per chunk (higher is better; 0 means unrelated). ``test_files``: per file, whether
    it holds tests; ``term_df``: the index's terms (sorted) and how many chunks hold each (``term_df``), which
    saves the feedback step a pass over the postings; ``mentioned``: the files the question names
    (:func:`mentioned_files`)."""
    post = arrays["post_chunk"], arrays["post_term"], arrays["post_count"], arrays["chunk_len"]
    forms = query.form_hashes
    if term_df is not None and SPLIT_WORDS:  # "loglevel" -> log, level: another form of the word
        forms = list(dict.fromkeys([*forms, *(h for h in _split_hashes(query, term_df) if h not in query.hashes)]))
    if forms or query.pair_hashes:  # one pass over all postings, then three small ones
        hit = np.isin(arrays["post_term"], np.asarray([*query.hashes, *forms, *query.pair_hashes],
                                                      dtype=np.uint32))
        post = arrays["post_chunk"][hit], arrays["post_term"][hit], arrays["post_count"][hit], arrays["chunk_len"]
    scores = bm25(query.hashes, *post, live, k1=BM25_K1, b=BM25_B)
    if forms and FORM_WEIGHT:
        scores = scores + FORM_WEIGHT * bm25(forms, *post, live, k1=BM25_K1, b=BM25_B)
    if query.pair_hashes and PAIR_WEIGHT:
        scores = scores + PAIR_WEIGHT * bm25(query.pair_hashes, *post, live, k1=BM25_K1, b=BM25_B)
    scale = float(scores.max()) if len(scores) and scores.max() > 0 else 1.0
    if query.name_hashes and len(scores):
        names = np.asarray(query.name_hashes, dtype=np.uint32)
        weights = np.asarray(query.name_weights, dtype=np.float64)
        order = np.argsort(names, kind="stable")
        names, weights = names[order], weights[order]
        at = np.clip(np.searchsorted(names, arrays["chunk_name"]), 0, len(names) - 1)
        defines = np.where(names[at] == arrays["chunk_name"], weights[at], 0.0)
        if MEMBER_SHARE:
            defines = np.maximum(defines, MEMBER_SHARE * _container_bonus(arrays, defines))
        scores = scores + defines * DEFINITION_BONUS * scale
    if MENTION_WEIGHT and len(mentioned) and len(scores):
        named = np.isin(arrays["chunk_file"], np.asarray(mentioned)) & (scores > 0)
        scores = scores + np.where(named, MENTION_WEIGHT * scale, 0.0)
    if file_prior is not None and len(scores):
        prior = file_prior / (file_prior.max() or 1.0)
        scores = scores + FILE_PRIOR_WEIGHT * scale * prior[arrays["chunk_file"]]
    if similarity is not None and len(scores):
        scores = scores + EMBEDDING_WEIGHT * scale * np.clip(similarity, 0, 1)
    factor = np.ones(len(scores))
    if test_files is not None and len(scores) and not query.about_tests:
        factor = np.where(test_files[arrays["chunk_file"]], TEST_WEIGHT, factor)
    if len(scores):
        factor = np.where(arrays["chunk_kind"] == _MODULE, factor * MODULE_WEIGHT, factor)
    if FEEDBACK_WEIGHT and len(scores) and scores.max() > 0:
        extra = _feedback(arrays, scores * factor, query, live, term_df)
        if extra.max() > 0:
            scores = scores + FEEDBACK_WEIGHT * scale * extra / extra.max()
    scores = scores * factor
    if exclude_kinds:
        scores = np.where(np.isin(arrays["chunk_kind"], list(exclude_kinds)), 0.0, scores)
    return scores


def _split_hashes(query: QueryTerms, table: tuple[np.ndarray, np.ndarray]) -> list[int]:
    """Words of the question run together that the code writes apart ("loglevel" -> ``log``, ``level``): every
    split into two parts of 3+ letters that both occur in the index (``table``, its sorted terms)."""
    known = table[0]
    if not len(known):
        return []

    def indexed(word: str) -> bool:
        h = term_hash(word)
        at = int(np.searchsorted(known, h))
        return at < len(known) and int(known[at]) == h

    out: list[int] = []
    for t in query.terms:
        if len(t) < 6 or not t.isalpha():
            continue
        for i in range(3, len(t) - 2):
            a, b = t[:i], t[i:]
            if a not in STOP and b not in STOP and indexed(a) and indexed(b):
                out += [term_hash(a), term_hash(b)]
    return list(dict.fromkeys(out))


def term_df(arrays: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The index's term hashes (sorted) and the number of chunks holding each (a term is counted once per
    chunk in the postings)."""
    return np.unique(arrays["post_term"], return_counts=True)


def _feedback(arrays: dict[str, np.ndarray], scores: np.ndarray, query: QueryTerms, live: np.ndarray | None,
              table: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """BM25 of the terms that most set the best-scoring chunks apart, other than the question's own.

    A term's weight is its share of each top chunk's length, weighted by that chunk's score relative to the
    best, summed over the top chunks, times its idf (relevance-model feedback, RM3-style). ``table``: the
    index's ``term_df``, when kept.
    """
    top = np.argsort(-scores, kind="stable")[:FEEDBACK_CHUNKS]
    top = top[scores[top] > 0]
    post_chunk, post_term, post_count = arrays["post_chunk"], arrays["post_term"], arrays["post_count"]
    is_top = np.zeros(len(scores), dtype=bool)
    is_top[top] = True
    mine = np.flatnonzero(is_top[post_chunk])
    chunks, terms = post_chunk[mine], post_term[mine]
    share = post_count[mine] / np.maximum(arrays["chunk_len"][chunks], 1) * scores[chunks] / scores[top[0]]
    known = np.asarray([*query.hashes, *query.form_hashes, *query.pair_hashes], dtype=np.uint32)
    keep = ~np.isin(terms, known)
    terms, share = terms[keep], share[keep]
    if not len(terms):
        return np.zeros(len(scores))
    uniq, inverse = np.unique(terms, return_inverse=True)
    df = _frequencies(arrays, uniq, table)
    n = len(arrays["chunk_len"])
    weight = np.bincount(inverse, weights=share, minlength=len(uniq)) * np.log1p((n - df + 0.5) / (df + 0.5))
    chosen = uniq[np.argsort(-weight, kind="stable")[:FEEDBACK_TERMS]]
    return bm25(chosen.tolist(), post_chunk, post_term, post_count, arrays["chunk_len"], live, k1=BM25_K1, b=BM25_B)


def _frequencies(arrays: dict[str, np.ndarray], terms: np.ndarray,
                 table: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """How many chunks hold each of ``terms`` (sorted, all in the index): from ``table`` when it is this
    index's, else counted (a table of another index version lacks some of them)."""
    if table is None or not len(table[0]):
        table = term_df(arrays)
    known, counts = table
    at = np.minimum(np.searchsorted(known, terms), len(known) - 1)
    if not np.array_equal(known[at], terms):
        known, counts = term_df(arrays)
        at = np.searchsorted(known, terms)
    return counts[at]


_MODULE = KINDS.index("module")
#: the kind codes of chunks that hold members (class, struct, impl, interface, trait, enum, object)
CONTAINER_KINDS = tuple(sorted(KINDS.index(k) for k in CLASS_KINDS))


def _container_bonus(arrays: dict[str, np.ndarray], defines: np.ndarray) -> np.ndarray:
    """Per chunk, the largest definition bonus of a container it lies in (0 outside named containers)."""
    out = np.zeros(len(defines))
    named = np.flatnonzero((defines > 0) & np.isin(arrays["chunk_kind"], CONTAINER_KINDS))
    if not len(named):
        return out
    named = named[np.argsort(-defines[named], kind="stable")][:64]
    files = arrays["chunk_file"]
    near = np.flatnonzero(np.isin(files, files[named]))  # the chunks of the files holding a named container
    starts, ends = arrays["chunk_start_line"][near], arrays["chunk_end_line"][near]
    for c in named:
        inside = (files[near] == files[c]) & (starts > arrays["chunk_start_line"][c]) & (
            ends <= arrays["chunk_end_line"][c])
        out[near[inside]] = np.maximum(out[near[inside]], defines[c])
    return out
