"""Search terms of identifiers, own byte ranges of nested spans, and per-chunk term postings."""

from __future__ import annotations

import re
import zlib
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aiex_kernel.core.terms import (
    STOP,
    chunk_postings,
    own_ranges,
    query_terms,
    term_hash,
    terms_of,
)

# ---------------------------------------------------------------------------- terms_of / query_terms


def test_terms_of_camel_case():
    assert terms_of("parseConfigFile") == ["parseconfigfile", "parse", "config", "file"]


def test_terms_of_snake_case():
    assert terms_of("parse_config") == ["parse_config", "parse", "config"]


def test_terms_of_acronym_followed_by_word():
    assert terms_of("HTTPServer") == ["httpserver", "http", "server"]


def test_terms_of_upper_snake_and_digits():
    # digit-only parts are dropped, the whole name keeps its digits
    assert terms_of("MAX_RETRIES_3") == ["max_retries_3", "max", "retries"]
    assert terms_of("utf8Decode") == ["utf8decode", "utf", "decode"]


def test_terms_of_strips_surrounding_underscores_and_dedups():
    # the whole name and its only part are the same term: given once
    assert terms_of("__init__") == ["init"]
    assert terms_of("config") == ["config"]
    assert terms_of("Config") == ["config"]


@pytest.mark.parametrize("word", ["self", "def", "return", "class", "None", "True", "this", "the", "x", "i", "_",
                                  "__", "42", "_1"])
def test_terms_of_stop_words_one_letter_and_digits_give_nothing(word):
    assert terms_of(word) == []


def test_terms_of_drops_keyword_parts_but_keeps_the_rest():
    # "get" is no stop word, "self" is one: it goes, the whole name stays
    assert terms_of("self_test") == ["self_test", "test"]
    assert terms_of("isReady") == ["isready", "ready"]  # "is" is a stop word
    assert terms_of("x_pos") == ["x_pos", "pos"]  # one-letter part dropped
    assert terms_of("a1") == ["a1"]  # two characters: kept whole; its parts "a" and "1" are not


@given(st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True))
def test_terms_of_invariants(identifier):
    out = terms_of(identifier)
    assert len(out) == len(set(out))
    for t in out:
        assert t == t.lower()
        assert len(t) > 1
        assert t not in STOP
        assert not t.isdigit()
    whole = identifier.lower().strip("_")
    if len(whole) > 1 and whole not in STOP and not whole.isdigit():
        assert out[0] == whole
    # every part is a piece of the lowercased identifier
    for t in out:
        assert t in identifier.lower()


def test_query_terms_keeps_order_drops_stop_words():
    assert query_terms("How does parse_config work?") == ["parse_config", "parse", "config", "work"]


def test_query_terms_no_duplicates():
    assert query_terms("parse config, then parse_config and parseConfig") == [
        "parse", "config", "parse_config", "parseconfig"]
    assert query_terms("What is it? Why would you?") == []
    assert query_terms("") == []


# ---------------------------------------------------------------------------- own_ranges


def test_own_ranges_example():
    spans = [(0, 100), (10, 40), (20, 30), (50, 60)]
    assert own_ranges(spans) == [[(0, 10), (40, 50), (60, 100)], [(10, 20), (30, 40)], [(20, 30)], [(50, 60)]]


def test_own_ranges_order_of_input_does_not_matter():
    spans = [(50, 60), (20, 30), (0, 100), (10, 40)]
    assert own_ranges(spans) == [[(50, 60)], [(20, 30)], [(0, 10), (40, 50), (60, 100)], [(10, 20), (30, 40)]]


def test_own_ranges_fully_covered_parent_owns_nothing():
    assert own_ranges([(0, 10), (0, 5), (5, 10)]) == [[], [(0, 5)], [(5, 10)]]
    assert own_ranges([]) == []


def _tree(draw, lo: int, hi: int, depth: int) -> list[tuple[int, int]]:
    """Non-overlapping child spans inside [lo, hi) (none equal to it), each with its own children."""
    if depth == 0 or hi - lo < 1:
        return []
    k = draw(st.integers(0, 3))
    points = sorted(draw(st.lists(st.integers(lo, hi), min_size=2 * k, max_size=2 * k)))
    out = []
    for s, e in zip(points[::2], points[1::2]):
        if s < e and (s, e) != (lo, hi):
            out.append((s, e))
            out.extend(_tree(draw, s, e, depth - 1))
    return out


@st.composite
def nested_spans(draw):
    n = draw(st.integers(1, 200))
    spans = _tree(draw, 0, n, 4)
    # a root may span everything
    if draw(st.booleans()):
        spans.append((0, n))
    spans = draw(st.permutations(spans))
    return n, list(spans)


@settings(max_examples=300)
@given(nested_spans())
def test_own_ranges_every_byte_owned_by_its_innermost_span(case):
    n, spans = case
    owned = own_ranges(spans)
    assert len(owned) == len(spans)
    owner_of = {}
    for i, ranges in enumerate(owned):
        s, e = spans[i]
        for a, b in ranges:
            assert s <= a < b <= e  # non-empty and inside its own span
            for byte in range(a, b):
                assert byte not in owner_of, f"byte {byte} owned twice"
                owner_of[byte] = i
        assert ranges == sorted(ranges)
    for byte in range(n):
        containing = [i for i, (s, e) in enumerate(spans) if s <= byte < e]
        if not containing:
            assert byte not in owner_of
            continue
        innermost = min(containing, key=lambda i: spans[i][1] - spans[i][0])
        assert owner_of.get(byte) == innermost


# ---------------------------------------------------------------------------- chunk_postings

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def reference_postings(texts: list[bytes]) -> tuple[dict[tuple[int, int], int], list[int]]:
    """(chunk, term hash) -> count and terms per chunk, the plain way."""
    counts: dict[tuple[int, int], int] = {}
    lengths = []
    for i, text in enumerate(texts):
        c = Counter()
        for word in _WORD.findall(text.decode("latin-1")):
            c.update(term_hash(t) for t in terms_of(word))
        for h, n in c.items():
            counts[(i, h)] = n
        lengths.append(sum(c.values()))
    return counts, lengths


def assert_matches_reference(texts: list[bytes]) -> None:
    p = chunk_postings(texts)
    assert p.chunk.dtype == np.int32 and p.count.dtype == np.int32 and p.length.dtype == np.int32
    assert p.term.dtype == np.uint32
    assert len(p.chunk) == len(p.term) == len(p.count)
    got = {}
    for c, t, n in zip(p.chunk.tolist(), p.term.tolist(), p.count.tolist()):
        assert (c, t) not in got, "a (chunk, term) pair given twice"
        got[(c, t)] = n
    want, lengths = reference_postings(texts)
    assert got == want
    assert p.length.tolist() == lengths


def test_term_hash_is_crc32():
    assert term_hash("parse") == zlib.crc32(b"parse")
    assert term_hash("parse") != term_hash("config")


def test_chunk_postings_small_example():
    texts = [b"def parse_config(path):\n    return parse(path)\n",
             b"class HTTPServer:\n    server = HTTPServer()\n",
             b"x = 1 + 2"]
    p = chunk_postings(texts)
    got = {(c, t): n for c, t, n in zip(p.chunk.tolist(), p.term.tolist(), p.count.tolist())}
    h = term_hash
    # parse: from parse_config and parse; path twice; parse_config once; config once
    assert got == {(0, h("parse_config")): 1, (0, h("parse")): 2, (0, h("config")): 1, (0, h("path")): 2,
                   (1, h("httpserver")): 2, (1, h("http")): 2, (1, h("server")): 3}
    assert p.length.tolist() == [6, 7, 0]
    assert_matches_reference(texts)


def test_chunk_postings_empty_input():
    p = chunk_postings([])
    assert len(p.chunk) == len(p.term) == len(p.count) == 0
    assert len(p.length) == 0


def test_chunk_postings_no_identifiers():
    p = chunk_postings([b"", b"1 + 2 == 3;", b"  \n\t()"])
    assert len(p.chunk) == len(p.term) == len(p.count) == 0
    assert p.length.tolist() == [0, 0, 0]


def test_chunk_postings_only_stop_words():
    p = chunk_postings([b"self.x = None", b"if a: return b"])
    assert len(p.chunk) == 0
    assert p.length.tolist() == [0, 0]


def test_chunk_postings_mixed_empty_and_full_chunks():
    texts = [b"", b"return self", b"loadData(load_data)", b"", b"x y z", b"loadData"]
    assert_matches_reference(texts)
    p = chunk_postings(texts)
    assert set(p.chunk.tolist()) == {2, 5}
    assert p.length.tolist()[0] == p.length.tolist()[1] == p.length.tolist()[3] == 0


_TOKENS = ["parse_config", "parseConfig", "parse", "config", "HTTPServer", "http", "self", "def", "return",
           "x", "i", "_", "__init__", "x1", "42", "3abc", "getValue", "get_value", "value", "MAX_SIZE",
           "Foo", "foo", "fooBar", " ", "  ", "\n", "(", ")", ".", ",", "=", ":", "+", "\"", "#", "é"]


@settings(max_examples=300)
@given(st.lists(st.lists(st.sampled_from(_TOKENS), max_size=30).map("".join).map(lambda s: s.encode()),
                max_size=8))
def test_chunk_postings_matches_reference(texts):
    assert_matches_reference(texts)


def test_chunk_postings_stay_right_when_the_vocabulary_fills_up(monkeypatch):
    """Identifiers are numbered once per process; a vocabulary past its limit is emptied, never wrong."""
    from aiex_kernel.core import terms

    vocabulary = terms._Vocabulary(limit=6)
    monkeypatch.setattr(terms, "_VOCABULARY", vocabulary)
    batches = [[b"parse_config(path)", b"HTTPServer"], [b"loadData load_data", b"parse path"],
               [b"a_b c_d e_f g_h"], [b"parse_config again_and_again"]]
    for n, texts in enumerate(batches):
        assert_matches_reference(texts)
        assert len(vocabulary.ids) <= 6
        if n == 2:  # six identifiers known, four more: emptied first
            assert set(vocabulary.ids) == {b"a_b", b"c_d", b"e_f", b"g_h"}


def test_chunk_postings_from_several_threads_at_once():
    """A worker may count batches in several threads; the shared vocabulary never mixes their numbers."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [[f"name_{i}_{j} shared_{j % 7} Other{i}Name".encode() for j in range(300)] for i in range(8)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(assert_matches_reference, batches))
