"""Index a batch of files: chunks, their search-term postings and a few numbers per chunk.

:func:`index_batch` is one cluster task: bytes in, plain data out (no disk, no
network), so it runs on any worker.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from operator import attrgetter

import numpy as np
import orjson

from .chunking import CHUNK_FIELDS, FileChunks, chunk_source
from .gc_pause import paused_gc
from .terms import chunk_postings, name_hash, own_ranges

__all__ = ["FLAG_PRIVATE", "FLAG_STRUCTURED", "KINDS", "IndexedBatch", "content_hash", "index_batch", "name_flags"]

#: chunk_flags bits: the name is private (``_x``); the name is long and structured (``parse_config``)
FLAG_PRIVATE = 1
FLAG_STRUCTURED = 2

#: chunk kinds as small integers in the arrays (index = code)
KINDS = ("module", "function", "method", "class", "struct", "impl", "interface", "trait", "enum", "macro",
         "object", "type", "other")
_KIND_CODE = {k: i for i, k in enumerate(KINDS)}
#: a chunk's CHUNK_FIELDS values as a tuple, in one call
_FIELDS = attrgetter(*CHUNK_FIELDS)


def name_flags(name: str) -> int:
    flags = FLAG_PRIVATE if name.startswith("_") and not name.startswith("__") else 0
    core = name.strip("_")
    if len(core) >= 8 and ("_" in core or (any(c.isupper() for c in core[1:]) and any(c.islower() for c in core))):
        flags |= FLAG_STRUCTURED
    return flags


def content_hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


@dataclass
class IndexedBatch:
    """What a batch of files adds to the index."""

    files: list[dict] = field(default_factory=list)  #: path, hash, language, lines, size, has_error, ...
    #: chunk records, one JSON line each (the CHUNK_FIELDS values in order), serialised where they are made
    lines: list[bytes] = field(default_factory=list)
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    def records(self) -> list[list]:
        return [json.loads(line) for line in self.lines]


def index_batch(items: list[tuple[str, bytes]]) -> IndexedBatch:
    """Chunk each ``(path, bytes)`` file and count the search terms of every chunk."""
    with paused_gc():
        return _index(items)


def _json_lines(records: list[tuple]) -> list[bytes]:
    """One compact JSON line per record: orjson (about 8x faster than the json module here), or the json module
    for a batch orjson refuses (a path from a non-UTF-8 file name holds lone surrogates, which it escapes)."""
    try:
        return [orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records]
    except orjson.JSONEncodeError:
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        return [dumps(r).encode() + b"\n" for r in records]


def _index(items: list[tuple[str, bytes]]) -> IndexedBatch:
    out = IndexedBatch()
    texts: list[bytes] = []
    records: list[tuple] = []
    chunk_file: list[int] = []
    kinds: list[int] = []
    names: list[int] = []
    flags: list[int] = []
    for path, data in items:
        fc: FileChunks = chunk_source(data, path)
        file_index = len(out.files)
        out.files.append({"path": path, "hash": content_hash(data), "language": fc.language, "size": len(data),
                          "lines": fc.lines, "has_error": fc.has_error, "decode_errors": fc.decode_errors,
                          "n_chunks": len(fc.chunks)})
        source = data if not fc.decode_errors else data.decode("utf-8", "replace").encode()
        spans = [(c.start_byte, c.end_byte) for c in fc.chunks]
        for chunk, ranges in zip(fc.chunks, own_ranges(spans)):
            texts.append(b" ".join(source[a:b] for a, b in ranges))
            records.append(_FIELDS(chunk))
            chunk_file.append(file_index)
            kinds.append(_KIND_CODE.get(chunk.kind, _KIND_CODE["other"]))
            names.append(name_hash(chunk.name))
            flags.append(name_flags(chunk.name))
    postings = chunk_postings(texts)
    out.lines = _json_lines(records)
    out.arrays = {
        "chunk_file": np.asarray(chunk_file, dtype=np.int32),
        "chunk_kind": np.asarray(kinds, dtype=np.int8),
        "chunk_name": np.asarray(names, dtype=np.uint32),
        "chunk_flags": np.asarray(flags, dtype=np.int8),
        "chunk_len": postings.length,
        "chunk_tokens": np.asarray([r[CHUNK_FIELDS.index("tokens")] for r in records], dtype=np.int32),
        "chunk_start_line": np.asarray([r[CHUNK_FIELDS.index("start_line")] for r in records], dtype=np.int32),
        "chunk_end_line": np.asarray([r[CHUNK_FIELDS.index("end_line")] for r in records], dtype=np.int32),
        "post_chunk": postings.chunk,
        "post_term": postings.term,
        "post_count": postings.count,
    }
    return out
