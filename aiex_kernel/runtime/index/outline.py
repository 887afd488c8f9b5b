"""The project's outline from the index: every file with its definitions and their lines.

``aiex show outline`` and the MCP tool ``project_outline`` print it. It reads only the
records of the files it lists (in path order, under a path prefix), so it stays cheap on
a large index: when the listing would pass ``max_lines`` it stops at a file boundary and
says how many files it left out and how to narrow it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...core.indexing import KINDS
from .build import scope_test
from .view import IndexView

__all__ = ["Outline", "project_outline"]

_MODULE = KINDS.index("module")
#: characters of a signature shown on one line
SIGNATURE_CHARS = 110


@dataclass
class Outline:
    prefix: str  #: the path prefix listed ("" for the whole project)
    files: list[dict] = field(default_factory=list)  #: {"path", "language", "definitions": [{...}]}
    left_out: int = 0  #: files under the prefix not listed (the line limit was reached)

    def to_dict(self) -> dict:
        return {"prefix": self.prefix, "files": self.files, "left_out": self.left_out}

    def text(self) -> str:
        lines: list[str] = []
        for f in self.files:
            count = len(f["definitions"])
            lines.append(f"{f['path']} ({f['language']}, {count} definition{'s' if count != 1 else ''})")
            for d in f["definitions"]:
                lines.append(f"  L{d['line']:<5} {'  ' * d['depth']}{d['signature']}")
        if self.left_out:
            where = f"--path {self.prefix.rstrip('/')}/SUBDIR" if self.prefix else "--path DIR"
            lines.append(f"… {self.left_out:,} more files not listed: narrow it with {where}, or raise --max-lines.")
        if not self.files:
            lines.append(f"No indexed files under {self.prefix!r}." if self.prefix else "The index holds no files.")
        return "\n".join(lines)


def _signature(chunk) -> str:
    text = chunk.signature_line()
    return text if len(text) <= SIGNATURE_CHARS else text[:SIGNATURE_CHARS - 1] + "…"


def project_outline(view: IndexView, prefix: str = "", *, max_lines: int = 400) -> Outline:
    """The outline of the indexed files under ``prefix`` (POSIX, relative to the root), in path order,
    cut at a file boundary once ``max_lines`` lines are used (the first file is always listed)."""
    prefix = prefix.strip().strip("/") if prefix not in ("", ".", "./") else ""
    arrays = view.arrays
    under = scope_test([prefix or "."])
    chosen = sorted((f["path"], i) for i, f in enumerate(view.files) if under(f["path"]))
    kinds_by_file = np.bincount(arrays["chunk_file"][arrays["chunk_kind"] != _MODULE], minlength=len(view.files))
    listed: list[int] = []
    used = 0
    for _, i in chosen:
        cost = 1 + int(kinds_by_file[i])
        if listed and used + cost > max_lines:
            break
        listed.append(i)
        used += cost
    wanted = np.flatnonzero(np.isin(arrays["chunk_file"], listed) & (arrays["chunk_kind"] != _MODULE)).tolist()
    records = view.chunks(wanted)
    by_file: dict[int, list] = {i: [] for i in listed}
    for cid in wanted:
        by_file[int(arrays["chunk_file"][cid])].append(records[cid])
    outline = Outline(prefix=prefix, left_out=len(chosen) - len(listed))
    for i in listed:
        chunks = sorted(by_file[i], key=lambda c: (c.start_line, c.end_line))
        outline.files.append({
            "path": view.files[i]["path"], "language": view.files[i]["language"],
            "definitions": [{"qualname": c.qualname, "kind": c.kind, "line": c.start_line, "end_line": c.end_line,
                             "depth": c.qualname.count("."), "signature": _signature(c)} for c in chunks],
        })
    return outline
