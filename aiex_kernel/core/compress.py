"""Fit ranked code into a token budget.

The context is built from *pieces* in priority order: the most relevant chunks in
full, then less relevant ones as signatures with their bodies elided, then file
outlines (and file summaries, when there are some). The longest prefix of that
order whose rendering fits is found by binary search, counting the rendered text
with the target model's own tokenizer, so the result NEVER exceeds the budget.
Pieces are rendered grouped by file (files in path order, pieces in line order),
so the same inputs always give the same text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["Fitted", "Piece", "fit", "render"]

LEVELS = ("full", "signature", "outline", "summary")
_LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}


@dataclass(frozen=True)
class Piece:
    path: str
    level: str  #: "full", "signature", "outline" or "summary"
    line: int  #: where it sits in the file (its first line; 0 for file-level pieces)
    text: str
    chunk: int | None = None  #: the chunk it shows, if any


@dataclass
class Fitted:
    text: str
    tokens: int
    pieces: list[Piece]
    candidates: int  #: pieces there were to choose from

    @property
    def files(self) -> list[str]:
        return sorted({p.path for p in self.pieces})

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(LEVELS, 0)
        for p in self.pieces:
            out[p.level] += 1
        return out


def render(pieces: Sequence[Piece]) -> str:
    """The pieces grouped by file, files in path order, pieces in line order."""
    by_file: dict[str, list[Piece]] = {}
    for p in pieces:
        by_file.setdefault(p.path, []).append(p)
    blocks = []
    for path in sorted(by_file):
        parts = sorted(by_file[path], key=lambda p: (_LEVEL_RANK[p.level] >= 2, p.line, _LEVEL_RANK[p.level], p.text))
        blocks.append(f"### {path}\n" + "\n".join(p.text for p in parts))
    return "\n\n".join(blocks)


def fit(pieces: Sequence[Piece], budget: int, count: Callable[[str], int],
        estimate: Callable[[str], int] | None = None) -> Fitted:
    """The longest prefix of ``pieces`` whose rendering has at most ``budget`` tokens by ``count``.

    ``estimate`` (cheap, roughly ``count``) bounds the search so huge candidate
    lists are not rendered whole.
    """
    if budget <= 0 or not pieces:
        return Fitted("", 0, [], len(pieces))
    n = len(pieces)
    hi = n
    if estimate is not None:
        # pieces whose estimated sum passes twice the budget are unlikely to all fit: search below there first
        total, limit = 0, 2 * budget + 64
        for i, p in enumerate(pieces):
            total += estimate(p.text) + 4
            if total > limit:
                hi = i + 1
                break
    lo = 0
    # if the estimate was too cautious (the prefix up to hi fits), widen until it does not, or all fit
    while hi < n and count(render(pieces[:hi])) <= budget:
        lo, hi = hi, min(n, hi * 2)
    best_text, best_tokens = "", 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        text = render(pieces[:mid])
        tokens = count(text)
        if tokens <= budget:
            lo, best_text, best_tokens = mid, text, tokens
        else:
            hi = mid - 1
    if lo and not best_text:  # the search never rendered lo itself
        best_text = render(pieces[:lo])
        best_tokens = count(best_text)
    return Fitted(best_text, best_tokens, list(pieces[:lo]), n)
