"""Prompts for the notebook front doors, as pure functions over plain data.

* :func:`interpolate`: ``{name}``, ``{In[n]}``, ``{Out[n]}``, ``{Err[n]}`` in a prompt,
  replaced only when they name something that exists; every other brace stays
  exactly as written, so prompts full of code (dicts, f-strings, sets) are safe.
* :func:`cells_context`: the last executed cells within a token budget.
* :func:`explain_prompt` and :func:`fix_prompt`: what ``%aiex explain`` and
  ``%aiex fix`` ask.
* :data:`FORMATS`: what ``-f FORMAT`` asks of the model (jupyter-ai's meaning).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .tokens import estimate_tokens

__all__ = [
    "FORMATS",
    "SYSTEM_PROMPT",
    "CellRecord",
    "ObjectFacts",
    "cells_context",
    "explain_prompt",
    "facts_text",
    "fix_prompt",
    "interpolate",
    "traceback_frames",
    "looks_like_math",
    "looks_like_prose",
    "system_prompt",
    "with_context",
]

SYSTEM_PROMPT = (
    "You are aiex, a coding assistant for Python developers, in their notebook or terminal. "
    "Answer precisely and briefly. Put code in fenced blocks with the language named."
)

#: What each ``-f/--format`` asks of the model.
FORMATS: dict[str, str] = {
    "markdown": "Format the answer as Markdown.",
    "code": "Reply with only code, in one fenced code block, and no explanation outside it.",
    "text": "Reply in plain text, without Markdown.",
    "json": "Reply with only one valid JSON document, without a code fence.",
    "html": "Reply with only an HTML fragment (no <html> or <body>), without a code fence.",
    "math": "Reply with only LaTeX math, without $ delimiters or a code fence.",
}

# {name} or {name[n]}, not part of {{ ... }}
_PLACEHOLDER = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)(?:\[(-?\d+)\])?\}(?!\})")


def system_prompt(fmt: str = "markdown") -> str:
    return f"{SYSTEM_PROMPT} {FORMATS[fmt]}"


def interpolate(template: str, lookup: Callable[[str, int | None], Any]) -> str:
    """Replace ``{name}`` / ``{name[n]}`` with ``lookup(name, n)`` where it finds a value.

    ``lookup`` raises ``KeyError`` (or ``IndexError``, ``TypeError``) for what does not exist; such
    placeholders, and every other brace (``{"a": 1}``, ``{x + 1}``, ``{{name}}``),
    are left exactly as written.
    """

    def replace(m: re.Match) -> str:
        index = int(m.group(2)) if m.group(2) is not None else None
        try:
            return str(lookup(m.group(1), index))
        except (KeyError, IndexError, TypeError, AttributeError):
            return m.group(0)

    return _PLACEHOLDER.sub(replace, template)


@dataclass(frozen=True)
class CellRecord:
    """One executed cell: its code, a short repr of its output, its error if any."""

    number: int
    source: str
    output: str | None = None
    error: str | None = None

    def render(self) -> str:
        parts = [f"In [{self.number}]:\n{self.source.rstrip()}"]
        if self.output:
            parts.append(f"Out[{self.number}]: {self.output}")
        if self.error:
            parts.append(f"Error in [{self.number}]:\n{self.error.rstrip()}")
        return "\n".join(parts)


def cells_context(cells: Sequence[CellRecord], budget_tokens: int) -> tuple[str, int]:
    """The newest cells that fit ``budget_tokens``, oldest first; and how many fitted."""
    kept: list[str] = []
    used = 0
    for cell in reversed(cells):
        text = cell.render()
        cost = estimate_tokens(text) + 1
        if used + cost > budget_tokens:
            break
        kept.append(text)
        used += cost
    if not kept:
        return "", 0
    body = "\n\n".join(reversed(kept))
    return f"The user's most recent notebook cells, oldest first:\n\n{body}", len(kept)


@dataclass(frozen=True)
class ObjectFacts:
    """What is known about the thing to explain: a live object, or a definition in the project."""

    expression: str
    type_name: str
    value_repr: str  #: a live object's shortened repr; a definition's PATH:START-END
    signature: str | None = None
    doc: str | None = None
    source: str | None = None
    extra: Mapping[str, str] | None = None  #: shape, dtype, len, ...
    origin: str = "session"  #: "session" (a live object) or "project" (a definition found in the index)

    def with_note(self, note: str) -> ObjectFacts:
        from dataclasses import replace

        return replace(self, extra={**(self.extra or {}), "note": note})


def _facts_lines(facts: ObjectFacts, fence: str) -> list[str]:
    """Signature, notes (shape, len, ...), a live object's value, docstring and source, one per line."""
    lines = [f"Signature: {facts.signature}"] if facts.signature else []
    lines += [f"{key}: {value}" for key, value in (facts.extra or {}).items()]
    if facts.origin != "project":
        lines.append(f"Value (repr, shortened): {facts.value_repr}")
    if facts.doc:
        lines += ["", "Docstring:", facts.doc]
    if facts.source:
        lines += ["", "Source:", f"```{fence}", facts.source.rstrip(), "```"]
    return lines


def explain_prompt(facts: ObjectFacts) -> str:
    if facts.origin == "project":
        lines = [f"Explain `{facts.expression}` from my project ({facts.value_repr}): what it does, how, and "
                 "anything surprising about it.", "", f"Kind: {facts.type_name}"]
    else:
        lines = [f"Explain the object `{facts.expression}` from my Python session: what it is, what it does "
                 "or holds, and anything surprising about it.", "",
                 f"Type: {facts.type_name}"]
    return "\n".join(lines + _facts_lines(facts, "python"))


def facts_text(facts: ObjectFacts) -> str:
    """What is known about a definition or a live object, as plain text for a person or an agent (no
    request to a model): where it is, its kind, signature, notes, value, docstring and source."""
    if facts.origin == "project":
        head = f"{facts.expression}: {facts.type_name} at {facts.value_repr}"
        fence = facts.type_name.split(" ", 1)[0]
    else:
        head = f"{facts.expression}: {facts.type_name} (a live object in the session)"
        fence = "python"
    return "\n".join([head, *_facts_lines(facts, fence)])


_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)', re.MULTILINE)


def traceback_frames(text: str) -> list[tuple[str, int]]:
    """The ``(file, line)`` of each frame of a Python traceback, outermost first."""
    return [(m["path"], int(m["line"])) for m in _FRAME.finditer(text)]


def fix_prompt(traceback_text: str, cell_source: str | None, where: str = "notebook") -> str:
    lines = [f"This code raised an exception in my {where}. Explain the cause in a few sentences, then "
             "give the corrected code in one fenced python block."]
    if cell_source:
        lines += ["", "The cell:" if where == "notebook" else "The code:", "```python", cell_source.rstrip(), "```"]
    lines += ["", "The traceback:", "```", traceback_text.rstrip(), "```"]
    return "\n".join(lines)


_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[.,;:!?]?")
_CODE_HINTS = re.compile(r"[=(){}\[\]<>@#$%^&*+|\\`~]|^\s*(def|class|import|from|for|while|if|return)\b", re.MULTILINE)


def looks_like_prose(text: str) -> bool:
    """Whether ``text`` reads as a sentence or two of English rather than code.

    Used only for cells that do not parse as Python: at least three words, nearly
    all of them plain words, and no code punctuation or keywords at a line start.
    """
    stripped = text.strip()
    if not stripped or stripped[0] in "%!?/" or _CODE_HINTS.search(stripped):
        return False
    tokens = stripped.split()
    if len(tokens) < 3:
        return False
    words = sum(1 for t in tokens if _WORD.fullmatch(t))
    return words / len(tokens) >= 0.8


_LATEX_MARK = re.compile(r"\\[A-Za-z]+|[\^_=<>+]|\\\\|\d")
_LATEX_COMMAND = re.compile(r"\\(?:text|mathrm|operatorname|mbox)\{[^}]*\}|\\[A-Za-z]+")


def looks_like_math(text: str) -> bool:
    """Whether an answer asked for with ``-f math`` is LaTeX math (else it is prose, shown as Markdown).

    Math has math marks (commands, operators, digits) and few plain words outside its commands; text
    already holding ``$`` delimiters is Markdown with math in it.
    """
    stripped = text.strip()
    if not stripped or "$" in stripped:
        return False
    words = re.findall(r"[A-Za-z]{3,}", _LATEX_COMMAND.sub(" ", stripped))
    return bool(_LATEX_MARK.search(stripped)) and len(words) <= 4


def with_context(prompt: str, context: str, project: str) -> str:
    """The question with the project's code in front of it."""
    return (f"Code from the project `{project}` that may be relevant, most relevant first within each file "
            f"(a line ``10 def f(x):`` or ``10 fn f(x) …`` is a definition at line 10 whose body is "
            f"elided; ``… (12 docstring lines cut)`` marks the rest of a long docstring left out; some files are "
            f"only outlined):"
            f"\n\n{context}\n\n---\n\n{prompt}")


def edit_system_prompt(structured: bool = False) -> str:
    """The system prompt of an edit turn: aiex's own, then the edit-block format with its example (or, for
    ``structured``, the JSON form of the same blocks)."""
    from .edits import FORMAT_INSTRUCTIONS, STRUCTURED_INSTRUCTIONS

    form = STRUCTURED_INSTRUCTIONS if structured else FORMAT_INSTRUCTIONS
    return f"{SYSTEM_PROMPT} You change the user's files by answering with edit blocks.\n\n{form}"


def edit_files_text(files: Sequence[tuple[str, str | None]]) -> str:
    """The files to edit, for the prompt: each path, then its text in a fence (or that it does not exist yet)."""
    parts = ["The files you may edit:"]
    for path, text in files:
        if text is None:
            parts.append(f"\n{path}\n(does not exist yet: create it with an empty SEARCH)")
            continue
        fence = "````" if "```" in text else "```"
        parts.append(f"\n{path}\n{fence}\n{text.rstrip()}\n{fence}")
    return "\n".join(parts)


def edit_repair_prompt(instruction: str, failures: Sequence[tuple[int, str, str]], feedback: str = "") -> str:
    """The instruction again, with why blocks failed (number, where, reason) or what a test printed."""
    lines = [instruction.strip(), ""]
    if failures:
        lines.append("Some of your edit blocks could not be applied; the files above already hold the blocks that "
                     "did. Send corrected blocks for the failed changes only:")
        lines += [f"- block {n} ({where}): {reason}" for n, where, reason in failures]
    if feedback:
        lines.append("The edit was applied, but the test command failed. Fix the cause with new edit blocks "
                     "against the files as they are now (above). Its output ends:")
        lines.append(f"```\n{feedback.strip()[-4000:]}\n```")
    return "\n".join(lines)
