"""Code analysis: statistics over chunked files (``aiex analyze code``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

from .chunking import FUNCTION_KINDS, FileChunks

__all__ = ["analyze"]


def analyze(files: Iterable[FileChunks], skipped: Mapping[str, int] | None = None, *, top: int = 10) -> dict:
    """Summarise chunked files as one JSON-able document.

    Keys: ``totals``, ``languages`` (files, lines, bytes, chunks per language),
    ``kinds`` (chunks per kind), ``largest`` and ``most_complex`` functions (top
    ``top`` each), ``syntax_errors`` and ``decode_errors`` (paths), ``skipped``
    (count per reason).
    """
    languages: dict[str, Counter] = {}
    kinds: Counter = Counter()
    functions: list[dict] = []
    syntax_errors: list[str] = []
    decode_errors: list[str] = []
    n_files = n_lines = n_bytes = n_chunks = 0
    for f in files:
        lang = languages.setdefault(f.language, Counter())
        lang["files"] += 1
        lang["lines"] += f.lines
        lang["bytes"] += f.size
        lang["chunks"] += len(f.chunks)
        n_files += 1
        n_lines += f.lines
        n_bytes += f.size
        n_chunks += len(f.chunks)
        if f.has_error:
            syntax_errors.append(f.path)
        if f.decode_errors:
            decode_errors.append(f.path)
        complexity = f.complexity or [None] * len(f.chunks)
        for chunk, cx in zip(f.chunks, complexity):
            kinds[chunk.kind] += 1
            if chunk.kind in FUNCTION_KINDS:
                functions.append(
                    {
                        "path": chunk.path,
                        "qualname": chunk.qualname,
                        "kind": chunk.kind,
                        "start_line": chunk.start_line,
                        "lines": chunk.end_line - chunk.start_line + 1,
                        "tokens": chunk.tokens,
                        "complexity": cx,
                    }
                )
    key = lambda fn: (fn["path"], fn["start_line"])  # noqa: E731 - stable tie-break
    largest = sorted(sorted(functions, key=key), key=lambda fn: -fn["lines"])[:top]
    complex_ = [fn for fn in functions if fn["complexity"] is not None]
    most_complex = sorted(sorted(complex_, key=key), key=lambda fn: -fn["complexity"])[:top]
    return {
        "totals": {"files": n_files, "lines": n_lines, "bytes": n_bytes, "chunks": n_chunks,
                   "skipped": sum((skipped or {}).values())},
        "languages": {name: dict(c) for name, c in sorted(languages.items(), key=lambda kv: -kv[1]["lines"])},
        "kinds": dict(kinds.most_common()),
        "largest": largest,
        "most_complex": most_complex,
        "syntax_errors": sorted(syntax_errors),
        "decode_errors": sorted(decode_errors),
        "skipped": dict(sorted((skipped or {}).items())),
    }
