"""A proposed change as hunks the user can take or leave one by one, and its unified diff.

:func:`hunks` splits the difference between two texts into hunks (runs of changed
lines, those closer than ``2 * context`` lines joined, as ``diff -U`` would show them);
:func:`partial` builds the text with only the chosen hunks applied. Invariants:
``partial(a, hunks(a, b), all) == b`` and ``partial(a, hunks(a, b), none) == a``.
Pure (difflib).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

__all__ = ["Hunk", "hunks", "partial", "unified"]


@dataclass(frozen=True)
class Hunk:
    index: int  #: its number in the file (0-based)
    start: int  #: first line of the old text it replaces (0-based)
    end: int  #: one past the last
    new: tuple[str, ...]  #: the lines that replace old[start:end] (with their line endings)
    old: tuple[str, ...]
    new_start: int  #: where ``new`` begins in the new text (0-based)

    @property
    def header(self) -> str:
        return f"@@ -{self.start + 1},{self.end - self.start} +{self.new_start + 1},{len(self.new)} @@"

    def to_dict(self) -> dict:
        return {"index": self.index, "start": self.start, "end": self.end, "old": list(self.old),
                "new": list(self.new), "new_start": self.new_start}


def hunks(old: str, new: str, context: int = 3) -> list[Hunk]:
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    groups = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        if groups and i1 - groups[-1][1] <= 2 * context:
            groups[-1] = (groups[-1][0], i2, groups[-1][2], j2)
        else:
            groups.append((i1, i2, j1, j2))
    return [Hunk(k, i1, i2, tuple(b[j1:j2]), tuple(a[i1:i2]), j1) for k, (i1, i2, j1, j2) in enumerate(groups)]


def partial(old: str, chosen: list[Hunk]) -> str:
    """``old`` with the ``chosen`` hunks (of :func:`hunks` on it) applied and the others left out."""
    a = old.splitlines(keepends=True)
    out, at = [], 0
    for hunk in sorted(chosen, key=lambda h: h.start):
        out += a[at:hunk.start]
        out += hunk.new
        at = hunk.end
    out += a[at:]
    return "".join(out)


def unified(old: str | None, new: str | None, path: str, context: int = 3) -> str:
    """The unified diff of one file (``None``: the file does not exist on that side)."""
    a = (old or "").splitlines(keepends=True)
    b = (new or "").splitlines(keepends=True)
    lines = difflib.unified_diff(a, b, "/dev/null" if old is None else f"a/{path}",
                                 "/dev/null" if new is None else f"b/{path}", n=context)
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)
