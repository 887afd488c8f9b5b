"""Search terms of code: identifiers and their parts, hashed, counted per chunk.

``parse_config`` and ``parseConfig`` both give the terms ``parseconfig``-style
whole identifier (``parse_config`` / ``parseconfig``), ``parse`` and ``config``;
language keywords and one-letter names give none. Terms are stored as 32-bit
hashes (CRC-32 of the lowercased term): no vocabulary to keep in sync across
incremental builds, at the price of rare collisions (about 5 expected among
200,000 distinct terms), which only blur a BM25 score.

Each chunk is counted on its *own* text: its span minus the spans of the chunks
nested in it (a class's own text excludes its methods; a file's ``module`` chunk
is what lies outside its definitions), so every byte is counted once.
"""

from __future__ import annotations

import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["QUESTION_STOP", "SPECIAL_METHODS", "STOP", "Postings", "chunk_postings", "flag_names", "import_name",
           "name_hash", "own_ranges", "query_terms", "special_methods", "term_hash", "terms_of", "word_forms"]

IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_QUERY_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

#: keywords of the supported languages and English glue words: no signal
STOP = frozenset("""
a an and any are as assert async await be break by case catch class const continue def default del do
elif else end enum except export extends false final finally fn for from func function go if impl import
in interface is it let match mod module mut new nil none not null of or pass private protected pub public
raise return self static struct super switch the then this throw throws to true try type use var void
when where while with yield what how does do why which who can should would could i you we me my our
""".split())


#: words of questions (bug reports, commit subjects) that say something is wrong, not where: never search terms
QUESTION_STOP = frozenset("""
bug bugs buggy fix fixed fixes fixing issue issues problem problems broken wrong incorrect incorrectly
correctly properly sometimes again anymore some more now also there here that these those it's don't doesn't
isn't aren't won't can't ok okay please thanks
improve improved improves improvement correct corrected avoid avoids ensure make makes made cause causes caused
causing prevent prevents trigger triggers triggered think around within without under before after
about into onto than via during until instead when being been was were has have had its their them they very
just only still even already using don doesn didn isn aren wasn won shouldn couldn wouldn
""".split())


def term_hash(term: str) -> int:
    # surrogatepass: a name made from a non-UTF-8 file name (``caf\udce9``) hashes instead of raising
    return zlib.crc32(term.encode("utf-8", "surrogatepass"))


def name_hash(name: str) -> int:
    """The hash a definition named ``name`` is indexed under (``chunk_name``): its name lowercased, without
    leading or trailing underscores, so ``_cancel`` is found as ``cancel``."""
    return term_hash(name.lower().strip("_"))


def terms_of(identifier: str) -> list[str]:
    """The search terms of one identifier: the whole name lowercased, and its parts."""
    whole = identifier.lower().strip("_")
    if whole in STOP and whole != identifier.lower():  # __import__, __class__, _type: a name, not the keyword
        whole = identifier.lower()
    parts = [p.lower() for p in _PARTS.findall(identifier)]
    out = [t for t in dict.fromkeys([whole, *parts]) if len(t) > 1 and t not in STOP and not t.isdigit()]
    return out


_VOWELS = frozenset("aeiou")


def word_forms(word: str) -> list[str]:
    """Other forms of an English word a name would use: the singular of a plural, the base of an ``-ing`` or
    ``-ed`` form ("options" -> "option", "hashing" -> "hash", "handling" -> "handle", "pickles" -> "pickle").

    Guesses, not a dictionary: a form no code uses matches nothing and costs nothing. Never the word itself,
    nothing under three letters, no stop word.
    """
    w = word.lower()
    out: list[str] = []
    if len(w) > 4 and w.endswith("ies"):
        out.append(w[:-3] + "y")
    elif len(w) > 4 and w.endswith(("sses", "shes", "ches", "xes", "zes")):
        out.append(w[:-2])
    if len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")):
        out.append(w[:-1])
    for suffix in ("ing", "ed"):
        stem = w[: -len(suffix)]
        if w.endswith(suffix) and len(stem) >= 4 - (suffix == "ed") and any(c in _VOWELS for c in stem):
            out.append(stem)
            if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in _VOWELS and stem[-1] not in "lsz":
                out.append(stem[:-1])  # "running" -> "run"
            elif stem[-1] not in _VOWELS and stem[-1] not in "wxy":
                out.append(stem + "e")  # "handling" -> "handle"
    return [f for f in dict.fromkeys(out) if f != w and len(f) > 2 and f not in STOP]


def _special(words: str, *names: str) -> dict[str, tuple[str, ...]]:
    return dict.fromkeys(words.split(), names)


#: the English a bug report uses for what Python's special methods do ("table representation" is
#: ``__repr__``, "equality" ``__eq__``), word -> the special methods' names as indexed (no underscores)
SPECIAL_METHODS: dict[str, tuple[str, ...]] = {
    **_special("representation representations", "repr"),
    **_special("equality equal equals inequality", "eq", "ne"),
    **_special("comparison comparisons comparing ordering", "eq", "lt"),
    **_special("hashable unhashable", "hash"),
    **_special("length", "len"),
    **_special("iteration iterating iterable iterator", "iter", "next"),
    **_special("pickling pickle pickled unpickling unpickle picklable pickleable", "reduce", "reduce_ex",
               "getstate", "setstate"),
    **_special("copying copied copyable", "copy", "deepcopy"),
    **_special("membership containment", "contains"),
    **_special("truthiness truthy falsy falsey", "bool"),
    **_special("subscript subscripting subscription indexing", "getitem"),
    **_special("initialization initialisation instantiation instantiating constructor", "init", "new"),
    **_special("destructor finalizer finaliser", "del"),
    **_special("callable", "call"),
}


#: packages installed by another name than the one code imports them by: a question says "pyyaml", the
#: code ``import yaml`` (the installed name lowercased, or its first word -> the import name)
IMPORT_NAMES: dict[str, str] = {
    "pyyaml": "yaml", "pyjwt": "jwt", "pyopenssl": "openssl", "pillow": "pil", "beautifulsoup4": "bs4",
    "pyserial": "serial", "pycryptodome": "crypto", "pycrypto": "crypto", "opencv": "cv2", "scikit": "sklearn",
    "pywin32": "win32api", "pyzmq": "zmq", "pygobject": "gi", "attrs": "attr", "dnspython": "dns",
    "mysqlclient": "mysqldb", "pyusb": "usb", "pyxdg": "xdg", "pynacl": "nacl",
}


def import_name(word: str) -> tuple[str, ...]:
    """The name code imports a package by, when a question gives the name it is installed by ("pyyaml" ->
    ``yaml``)."""
    name = IMPORT_NAMES.get(word.lower())
    return (name,) if name else ()


def special_methods(word: str) -> tuple[str, ...]:
    """The special methods an English word of a question may mean ("representation" -> ``repr``)."""
    return SPECIAL_METHODS.get(word.lower(), ())


_FLAG = re.compile(r"(?<![\w-])--([A-Za-z][A-Za-z0-9]*(?:[-_][A-Za-z0-9]+)*)")


def flag_names(text: str) -> list[str]:
    """The command-line options a question names, as the identifiers code gives them: ``--log-config`` ->
    ``log_config`` (click and argparse turn dashes into underscores), ``--reload`` -> ``reload``."""
    return list(dict.fromkeys(m.lower().replace("-", "_") for m in _FLAG.findall(text)))


def query_terms(text: str) -> list[str]:
    """The search terms of a question, in order, without repeats; a command-line option (``--log-config``)
    also as its identifier (``log_config``)."""
    out: list[str] = []
    for word in _QUERY_WORD.findall(text):
        if word.lower() in QUESTION_STOP:
            continue
        out.extend(terms_of(word))
    for flag in flag_names(text):
        out.extend(terms_of(flag))
    return list(dict.fromkeys(out))


def own_ranges(spans: Sequence[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """For each ``(start, end)`` span, the byte ranges that are its own (not in a nested span)."""
    n = len(spans)
    owned: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    order = sorted(range(n), key=lambda i: (spans[i][0], -spans[i][1]))
    stack: list[int] = []
    pos = 0
    for i in order:
        start, end = spans[i]
        while stack and spans[stack[-1]][1] <= start:
            top = stack.pop()
            if pos < spans[top][1]:
                owned[top].append((pos, spans[top][1]))
            pos = max(pos, spans[top][1])
        if stack and pos < start:
            owned[stack[-1]].append((pos, start))
        pos = max(pos, start)
        stack.append(i)
    while stack:
        top = stack.pop()
        if pos < spans[top][1]:
            owned[top].append((pos, spans[top][1]))
        pos = max(pos, spans[top][1])
    return owned


@dataclass
class Postings:
    """Term counts of a batch of chunks: ``(chunk, term, count)`` triples and each chunk's length."""

    chunk: np.ndarray  #: int32, index of the chunk in the batch
    term: np.ndarray  #: uint32 term hash
    count: np.ndarray  #: int32
    length: np.ndarray  #: int32, terms per chunk (BM25 document length)


class _Numbering(dict):
    """identifier -> id; an identifier looked up for the first time gets the next id and is noted in ``new``
    (``__missing__``), so numbering a batch is one pass of C lookups with a Python call per new name only."""

    def __init__(self) -> None:
        super().__init__()
        self.new: list[bytes] = []

    def __missing__(self, word: bytes) -> int:
        self[word] = number = len(self)
        self.new.append(word)
        return number


class _Vocabulary:
    """Every identifier a process has counted, numbered, with the hashes of its terms as a ragged table.

    Kept across batches (a worker counts many, and the same names recur in each), so an identifier is split
    and hashed once per process, not once per batch; emptied when it passes ``limit`` identifiers, so its
    memory stays bounded (about 100 bytes an identifier).
    """

    def __init__(self, limit: int = 300_000):
        self.limit = limit
        self.lock = threading.Lock()  # a worker may count batches in several threads
        self.clear()

    def clear(self) -> None:
        self.ids = _Numbering()
        self.n_terms = np.zeros(0, dtype=np.int64)  #: terms per identifier (its hashes follow one another)
        self.table = np.zeros(0, dtype=np.uint32)

    def number(self, words: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The id of each word (the words not seen yet added), and the table those ids index: terms per
        identifier, the hashes."""
        with self.lock:
            return self._number(words)

    def _number(self, words: list[bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ids = np.fromiter(map(self.ids.__getitem__, words), dtype=np.int64, count=len(words))
        if len(self.ids) > self.limit and len(self.ids) > len(self.ids.new):  # full: start again with this batch
            self.clear()
            ids = np.fromiter(map(self.ids.__getitem__, words), dtype=np.int64, count=len(words))
        new, self.ids.new = self.ids.new, []
        if new:
            hashes: list[int] = []
            counts = np.zeros(len(new), dtype=np.int64)
            for i, word in enumerate(new):
                word_hashes = [term_hash(t) for t in terms_of(word.decode("ascii"))]
                counts[i] = len(word_hashes)
                hashes += word_hashes
            self.n_terms = np.concatenate((self.n_terms, counts))
            self.table = np.concatenate((self.table, np.array(hashes, dtype=np.uint32)))
        return ids, self.n_terms, self.table


_VOCABULARY = _Vocabulary()


def chunk_postings(texts: Sequence[bytes]) -> Postings:
    """Count the terms of each text (a chunk's own bytes), vectorised over the batch."""
    words: list[bytes] = []
    per_text = np.zeros(len(texts), dtype=np.int64)
    findall = IDENTIFIER.findall
    for i, text in enumerate(texts):
        found = findall(text)
        words += found
        per_text[i] = len(found)
    n = len(texts)
    if not words:
        empty = np.zeros(0, dtype=np.int32)
        return Postings(empty, np.zeros(0, dtype=np.uint32), empty, np.zeros(n, dtype=np.int32))
    occurrences, n_terms, table = _VOCABULARY.number(words)
    first_term = np.cumsum(n_terms) - n_terms
    # distinct (text, identifier) pairs with their counts
    v = len(n_terms)
    key = np.repeat(np.arange(n, dtype=np.int64), per_text) * v + occurrences
    pairs, pair_counts = np.unique(key, return_counts=True)
    text_of, vid = pairs // v, pairs % v
    # expand identifiers into their terms
    k = n_terms[vid]
    total = int(k.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int32)
        return Postings(empty, np.zeros(0, dtype=np.uint32), empty, np.zeros(n, dtype=np.int32))
    offsets = np.arange(total) - np.repeat(np.cumsum(k) - k, k)
    term = table[np.repeat(first_term[vid], k) + offsets]
    text_rep = np.repeat(text_of, k)
    count_rep = np.repeat(pair_counts, k)
    # identifiers sharing a term (parse_config, parse) add up
    key2 = text_rep * (1 << 32) + term.astype(np.int64)
    merged, inverse = np.unique(key2, return_inverse=True)
    counts = np.bincount(inverse, weights=count_rep).astype(np.int32)
    chunk = (merged >> 32).astype(np.int32)
    lengths = np.bincount(chunk, weights=counts, minlength=n).astype(np.int32)
    return Postings(chunk, (merged & 0xFFFFFFFF).astype(np.uint32), counts, lengths)
