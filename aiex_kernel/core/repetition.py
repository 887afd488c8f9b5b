"""Noticing a model stuck in a loop, from the text it has streamed so far.

Small models (the embedded SmolLM2-135M) sometimes repeat one sentence or one
line until they run out of tokens. :class:`LoopGuard` watches the answer as it
streams and says when its tail is the same passage over and over, and where the
first copy ends, so the caller can stop the generation and keep one copy.
"""

from __future__ import annotations

__all__ = ["LoopGuard", "repeated_tail"]

#: a passage must be at least this long to count (shorter repeats are lists, tables, code)
MIN_PERIOD = 12
#: the longest passage looked for
MAX_PERIOD = 400
#: copies in a row that make a loop
COPIES = 3


def repeated_tail(text: str, *, min_period: int = MIN_PERIOD, max_period: int = MAX_PERIOD,
                  copies: int = COPIES) -> int | None:
    """Where the text would end with one copy left, if it ends with ``copies`` copies of one passage.

    Whitespace differences between copies are ignored at the edges; returns ``None`` when the
    tail does not repeat.
    """
    stripped = text.rstrip()
    n = len(stripped)
    for period in range(min_period, min(max_period, n // copies) + 1):
        unit = stripped[n - period:]
        if not unit.strip() or len(set(unit)) < 3:  # "-----" or "    ": not prose
            continue
        if stripped[n - copies * period:] == unit * copies:
            return n - (copies - 1) * period
    return None


class LoopGuard:
    """Feed it each delta; ``cut`` is set once the answer loops (the length to keep)."""

    #: characters between checks (a check scans the tail)
    STEP = 24

    def __init__(self) -> None:
        self.text = ""
        self.cut: int | None = None
        self._checked = 0

    def feed(self, delta: str) -> bool:
        """Add ``delta``; True when the answer now loops."""
        self.text += delta
        if self.cut is None and len(self.text) - self._checked >= self.STEP:
            self._checked = len(self.text)
            self.cut = repeated_tail(self.text)
        return self.cut is not None
