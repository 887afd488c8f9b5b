"""The kind of task a prompt asks for, by deterministic keyword rules (for ratings per category)."""

from __future__ import annotations

import re

__all__ = ["CATEGORIES", "categorize"]

#: checked in this order; the first that matches wins
CATEGORIES = ("test", "fix", "refactor", "explain", "generate", "other")

_RULES: tuple[tuple[str, re.Pattern], ...] = (
    ("test", re.compile(r"\b(unit ?tests?|tests? for|pytest|test cases?|write tests?|doctests?|coverage)\b", re.I)),
    ("fix", re.compile(r"\b(fix|bug|\w*error|exception|raises?|traceback|crash(es|ed)?|fails?|failing|broken|wrong|"
                       r"doesn'?t work|not working|debug)\b", re.I)),
    ("refactor", re.compile(r"\b(refactor|clean ?up|simplify|rename|restructure|rewrite|optimi[sz]e|"
                            r"make (it|this) (faster|cleaner|shorter)|idiomatic)\b", re.I)),
    ("explain", re.compile(r"\b(explain|what (is|are|does|do)|how (does|do|is)|why|describe|meaning of|"
                           r"difference between|where (is|does))\b", re.I)),
    ("generate", re.compile(r"\b(write|create|generate|implement|add|build|make|give me|code for|function that|"
                            r"script)\b", re.I)),
)


def categorize(prompt: str) -> str:
    """One of :data:`CATEGORIES` for ``prompt`` (``other`` when no rule matches)."""
    for name, rule in _RULES:
        if rule.search(prompt):
            return name
    return "other"
