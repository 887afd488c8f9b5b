"""Checking the answers of a comparison: pure functions over their texts and figures.

Per answer: whether its code blocks parse (tree-sitter, for the languages aiex
has grammars for), its length, latency and cost, and how much it agrees with the
other answers (the mean similarity of their word sets). An answer *passes* when
it answered, its code parses, and (when code was run) its code ran. The checks
that need the outside world (running the code, an LLM judge) live in the
boundary layer and report back here as plain values.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from .llm import code_blocks

__all__ = ["Assessment", "CodeCheck", "agreement", "assess", "parses"]

#: fence languages -> aiex's grammar names
_FENCE_LANGUAGES = {"python": "python", "py": "python", "python3": "python", "javascript": "javascript",
                    "js": "javascript", "typescript": "typescript", "ts": "typescript", "tsx": "tsx", "go": "go",
                    "rust": "rust", "rs": "rust", "java": "java", "c": "c", "ruby": "ruby", "rb": "ruby",
                    "elixir": "elixir", "ex": "elixir"}
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,}")


@dataclass(frozen=True)
class CodeCheck:
    """What running an answer's code came to (from the sandbox)."""

    ran: bool
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Assessment:
    letter: str
    model: str
    answered: bool
    code_blocks: int
    code_parses: bool  #: every block in a language aiex can parse parses (True when there is none)
    unparsed: tuple[str, ...]  #: languages of blocks that did not parse
    length: int  #: characters
    latency_s: float | None
    cost_usd: float | None
    agreement: float  #: mean word-set similarity with the other answers, 0..1
    code_ran: bool | None = None  #: None: not run
    run_detail: str = ""

    @property
    def passing(self) -> bool:
        return self.answered and self.code_parses and self.code_ran is not False

    def to_dict(self) -> dict:
        return {**asdict(self), "passing": self.passing}


def parses(code: str, language: str) -> bool | None:
    """Whether ``code`` parses in ``language`` (None: aiex has no grammar for it)."""
    grammar = _FENCE_LANGUAGES.get(language.lower())
    if grammar is None:
        return None
    from .languages import get_parser

    try:
        tree = get_parser(grammar).parse(code.encode())
    except Exception:  # noqa: BLE001 - a grammar that is not installed: unknown, not a failure
        return None
    return not tree.root_node.has_error


def _words(text: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(text)}


def agreement(texts: Sequence[str]) -> list[float]:
    """For each text, its mean Jaccard similarity (word sets) with every other text."""
    sets = [_words(t) for t in texts]
    out = []
    for i, a in enumerate(sets):
        others = [len(a & b) / len(a | b) if a | b else 0.0 for j, b in enumerate(sets) if j != i]
        out.append(round(sum(others) / len(others), 4) if others else 0.0)
    return out


def assess(slots: Sequence[dict], runs: Sequence[CodeCheck | None] | None = None) -> list[Assessment]:
    """The assessment of each slot (``{"letter", "model", "text", "status", "latency_s", "cost_usd"}``)."""
    answered = [s for s in slots if s.get("status") == "answered"]
    agree = dict(zip((s["letter"] for s in answered), agreement([s["text"] for s in answered])))
    out = []
    for i, s in enumerate(slots):
        blocks = code_blocks(s.get("text") or "")
        unparsed = tuple(b.language for b in blocks if parses(b.code, b.language) is False)
        run = runs[i] if runs is not None and i < len(runs) else None
        out.append(Assessment(
            letter=s["letter"], model=s["model"], answered=s.get("status") == "answered", code_blocks=len(blocks),
            code_parses=not unparsed, unparsed=unparsed, length=len(s.get("text") or ""),
            latency_s=s.get("latency_s"), cost_usd=s.get("cost_usd"), agreement=agree.get(s["letter"], 0.0),
            code_ran=None if run is None or not run.ran else run.ok, run_detail=run.detail if run else ""))
    return out
