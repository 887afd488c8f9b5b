"""Edit blocks: the one format in which the model proposes changes, and where each block applies.

The format (also in the prompt, :data:`FORMAT_INSTRUCTIONS`) is search/replace blocks::

    path/to/file.py
    <<<<<<< SEARCH
    lines exactly as they are in the file
    =======
    the lines that replace them
    >>>>>>> REPLACE

An empty SEARCH side creates a new file; ``<<<<<<< DELETE`` / ``>>>>>>> DELETE``
deletes one. In a notebook the path line names a cell (``analysis.ipynb cell ID``,
``analysis.ipynb new code cell after ID``; :mod:`.notebook_edits`).

Invariant: **a block applies at one place or not at all.** :func:`locate` tries,
in order, an exact match, then matches forgiving trailing whitespace, a shifted
indentation, blank lines the model added or dropped, and finally elided
unchanged lines (``...`` / ``# ... existing code ...``). At the first level where
the SEARCH side matches, it must match exactly one place: two or more is
:class:`Ambiguous` (the block is refused and the reason names the lines), none is
:class:`NoMatch` with the closest lines as a hint. There is no similarity
threshold, so a block never lands on code that merely looks like what it names.
Matching is by whole lines; the replacement is re-indented by the same shift.

Blocks that touch a redaction placeholder (``[REDACTED:...]``) are refused: the
model never saw that text, and the placeholder would land in the file.

Pure: text in, text out; no file system (the boundary reads and writes,
:mod:`aiex_kernel.runtime.edits`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["EDIT_SCHEMA", "STRUCTURED_INSTRUCTIONS", "Ambiguous", "Applied", "Block", "BlockResult",
           "FORMAT_INSTRUCTIONS", "Located", "NoMatch", "Parsed", "apply_blocks", "blocks_from_data", "locate",
           "parse_blocks", "touches_placeholder"]

_SEARCH = re.compile(r"^\s*<{5,9}\s*SEARCH\s*$")
_DIVIDER = re.compile(r"^\s*={5,9}\s*$")
_REPLACE = re.compile(r"^\s*>{5,9}\s*REPLACE\s*$")
_DELETE = re.compile(r"^\s*<{5,9}\s*DELETE\s*$")
_DELETE_END = re.compile(r"^\s*>{5,9}\s*DELETE\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
#: a line that stands for unchanged lines left out (``...``, ``# ...``, ``// ... existing code ...``)
_ELISION = re.compile(r"^\s*(?:(?:#|//|--|/\*)\s*)?(?:\.\.\.|…)(?:\s*[\w ,()'-]*(?:\.\.\.|…)?)?\s*(?:\*/)?\s*$")
#: the same, as a comment: what can only mean "lines left out" (a bare ``...`` is also Python's Ellipsis)
_ELISION_COMMENT = re.compile(r"^\s*(?:#|//|--|/\*)\s*(?:\.\.\.|…)")
_PLACEHOLDER = re.compile(r"\[REDACTED(?::[\w-]+)?\]")
_FILE_PREFIX = re.compile(r"^(?:file(?:name)?|path)\s*:\s*", re.IGNORECASE)

FORMAT_INSTRUCTIONS = """\
Answer with edit blocks, one per change, in this exact format:

path/to/file.py
<<<<<<< SEARCH
the existing lines to change, copied exactly from the file (a few lines, enough to be unique)
=======
the lines that replace them
>>>>>>> REPLACE

Rules:
- The line before each block is the file's path, relative to the project root, as shown above.
- SEARCH must match lines of the file exactly, including indentation; include enough lines that it matches one
  place only. Keep blocks small: one block per place that changes.
- To create a file, give its path and leave SEARCH empty. To delete a file, give its path, then
  `<<<<<<< DELETE` and `>>>>>>> DELETE` on two lines.
- Only change the files you were asked to edit; new files are allowed when the task needs them.
- A few words of explanation before the blocks are welcome; nothing else after them.

Example, changing one line of lib/calc.py:

lib/calc.py
<<<<<<< SEARCH
def area(r):
    return 3.14 * r * r
=======
def area(r):
    return math.pi * r * r
>>>>>>> REPLACE
"""


#: the same blocks as JSON (``--structured``): for providers with a JSON-schema mode
EDIT_SCHEMA = {
    "type": "object",
    "properties": {
        "explanation": {"type": "string"},
        "edits": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "path": {"type": "string"},
                "target": {"type": "string"},
                "action": {"type": "string", "enum": ["replace", "delete"]},
                "search": {"type": "string"},
                "replace": {"type": "string"},
            },
            "required": ["path", "search", "replace"],
        }},
    },
    "required": ["edits"],
}

STRUCTURED_INSTRUCTIONS = """\
Answer with one JSON object: {"explanation": "...", "edits": [{"path": ..., "search": ..., "replace": ...}]}.
Each edit is one change: "path" is the file's path relative to the project root as shown above; "search" holds
the existing lines to change, copied exactly from the file (enough to match one place only); "replace" the lines
that replace them. An empty "search" creates a new file; "action": "delete" deletes the file. In a notebook,
"target" names the cell: "cell ID", "new code cell after ID" or "new markdown cell at end".
Only change the files you were asked to edit; new files are allowed when the task needs them.
"""


@dataclass(frozen=True)
class Block:
    """One proposed change, as the model wrote it."""

    path: str  #: the path line (a notebook's is ``nb.ipynb`` with ``target`` apart)
    search: str = ""
    replace: str = ""
    action: str = "replace"  #: replace (an empty search on a missing file: create) or delete
    target: str = ""  #: in a notebook: ``cell ID``, ``new code cell after ID``, ``new markdown cell at end``...
    number: int = 0  #: its position in the answer (1-based), for messages

    @property
    def where(self) -> str:
        return f"{self.path} {self.target}".strip()

    def to_dict(self) -> dict:
        return {"path": self.path, "search": self.search, "replace": self.replace, "action": self.action,
                "target": self.target, "number": self.number}

    @classmethod
    def from_dict(cls, data: dict) -> Block:
        return cls(**{k: data[k] for k in ("path", "search", "replace", "action", "target", "number") if k in data})


@dataclass
class Parsed:
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  #: malformed pieces of the answer, said plainly


_NOTEBOOK_TARGET = re.compile(
    r"^(?P<path>.+?\.ipynb)\s*(?:[:#]|\s)\s*(?P<target>cell\s+\S+|new\s+(?:code|markdown|raw)\s+cell"
    r"(?:\s+(?:after\s+\S+|at\s+(?:start|end)))?)\s*$", re.IGNORECASE)


def _path_line(line: str) -> tuple[str, str] | None:
    """(path, notebook target) from a line that names a file, or None when it cannot be one."""
    text = line.strip().strip("*`").strip()
    text = _FILE_PREFIX.sub("", text.lstrip("#").strip()).strip()
    previous = None
    while text != previous:  # **`src/a.py`**:, `src/a.py`:, "src/a.py" ...
        previous = text
        text = text.strip().strip("`*\"'").rstrip(":").strip()
    if not text or len(text) > 300 or _FENCE.match(line) or text.startswith(("<<<<", "====", ">>>>")):
        return None
    m = _NOTEBOOK_TARGET.match(text)
    if m:
        return m.group("path").strip(), re.sub(r"\s+", " ", m.group("target").strip())
    if " " in text and not re.search(r"[/\\.]", text):
        return None  # prose ("Here is the change"), not a path
    if text.endswith((".", "!", "?")) and " " in text:
        return None
    return text, ""


def parse_blocks(answer: str) -> Parsed:
    """The edit blocks in a model's answer, in order; a path line is inherited by the blocks that follow it."""
    lines = answer.replace("\r\n", "\n").split("\n")
    parsed = Parsed()
    path, target = None, ""
    i = 0
    while i < len(lines):
        line = lines[i]
        start_search, start_delete = _SEARCH.match(line), _DELETE.match(line)
        if not (start_search or start_delete):
            i += 1
            continue
        number = len(parsed.blocks) + len(parsed.problems) + 1
        named = _nearest_path(lines, i)
        if named is not None:
            path, target = named
        if path is None:
            parsed.problems.append(f"block {number}: no file path on the line before `<<<<<<< SEARCH`")
        if start_delete:
            end = next((j for j in range(i + 1, len(lines)) if _DELETE_END.match(lines[j])), None)
            if end is None:
                parsed.problems.append(f"block {number}: `<<<<<<< DELETE` without its `>>>>>>> DELETE` line")
                break
            if path is not None:
                parsed.blocks.append(Block(path, action="delete", target=target, number=number))
            i = end + 1
            continue
        divider = next((j for j in range(i + 1, len(lines)) if _DIVIDER.match(lines[j]) or _SEARCH.match(lines[j])),
                       None)
        if divider is None or _SEARCH.match(lines[divider]):
            parsed.problems.append(f"block {number}: SEARCH without its `=======` line")
            i = divider if divider is not None else len(lines)
            continue
        end = next((j for j in range(divider + 1, len(lines)) if _REPLACE.match(lines[j]) or _SEARCH.match(lines[j])),
                   None)
        if end is None or _SEARCH.match(lines[end]):
            parsed.problems.append(f"block {number}: no `>>>>>>> REPLACE` line after its `=======`")
            i = end if end is not None else len(lines)
            continue
        if path is not None:
            parsed.blocks.append(Block(path, "\n".join(lines[i + 1:divider]), "\n".join(lines[divider + 1:end]),
                                       target=target, number=number))
        i = end + 1
    return parsed


def blocks_from_data(data) -> Parsed:
    """The blocks of a structured answer (a value matching :data:`EDIT_SCHEMA`)."""
    parsed = Parsed()
    for number, item in enumerate(data.get("edits", []) if isinstance(data, dict) else [], 1):
        if not isinstance(item, dict) or not str(item.get("path", "")).strip():
            parsed.problems.append(f"edit {number}: no path")
            continue
        action = "delete" if item.get("action") == "delete" else "replace"
        parsed.blocks.append(Block(str(item["path"]).strip(), str(item.get("search", "")),
                                   str(item.get("replace", "")), action, str(item.get("target", "")).strip(), number))
    return parsed


def _nearest_path(lines: list[str], i: int) -> tuple[str, str] | None:
    """The path named on the last non-blank line before line ``i`` (skipping a fence opener), if it names one."""
    j = i - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    if j >= 0 and _FENCE.match(lines[j]):
        rest = _FENCE.sub("", lines[j]).strip()
        if rest and (" " in rest or "." in rest or "/" in rest):  # ```python lib/x.py
            named = _path_line(rest.split(None, 1)[-1])
            if named is not None:
                return named
        j -= 1
        while j >= 0 and not lines[j].strip():
            j -= 1
    if j < 0 or _REPLACE.match(lines[j]) or _DELETE_END.match(lines[j]) or _FENCE.match(lines[j]):
        return None
    return _path_line(lines[j])


def touches_placeholder(block: Block) -> bool:
    return bool(_PLACEHOLDER.search(block.search) or _PLACEHOLDER.search(block.replace))


# -- locating a block ----------------------------------------------------------------------------------


class NoMatch(ValueError):
    """The SEARCH side matches nowhere; the message names the closest lines."""


class Ambiguous(ValueError):
    """The SEARCH side matches more than one place; the message names them."""


@dataclass(frozen=True)
class Located:
    start: int  #: first line replaced (0-based)
    end: int  #: one past the last line replaced
    lines: tuple[str, ...]  #: what goes there
    how: str  #: exact, trailing whitespace, indentation, blank lines, elided lines


def _indent(line: str) -> str:
    return line[:len(line) - len(line.lstrip())]


def _lines(text: str) -> list[str]:
    if text == "":
        return []
    return text.split("\n")


def _trim_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]


def locate(text: str, search: str, replace: str) -> Located:
    """Where ``search`` is in ``text`` (one place, or :class:`Ambiguous` / :class:`NoMatch`) and what replaces it."""
    file_lines = _lines(text)
    s_lines, r_lines = _lines(search), _lines(replace)
    if not _trim_blank_edges(s_lines):
        raise NoMatch("SEARCH is empty, but the file exists: to add lines, SEARCH for the lines next to where "
                      "they go and repeat them in REPLACE")
    if not any(_ELISION.match(line) for line in s_lines) and any(_ELISION_COMMENT.match(line) for line in r_lines):
        raise NoMatch("REPLACE leaves lines out (a `# ...` line) that SEARCH writes in full: write the lines out, "
                      "or elide the same lines in SEARCH")
    for how, finder in _LEVELS:
        found = finder(file_lines, s_lines, r_lines)
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            places = ", ".join(f"{m.start + 1}-{m.end}" for m in found[:5])
            raise Ambiguous(f"SEARCH matches {len(found)} places ({how}: lines {places}); include more of the "
                            "lines around the change so that it matches one")
    raise NoMatch(_closest(file_lines, s_lines))


def _exact(file_lines, s_lines, r_lines, key=lambda s: s):
    n = len(s_lines)
    keys = [key(s) for s in s_lines]
    first = keys[0]
    out = []
    for i in range(len(file_lines) - n + 1):
        if key(file_lines[i]) == first and all(key(file_lines[i + k]) == keys[k] for k in range(1, n)):
            out.append(Located(i, i + n, tuple(r_lines), "exact"))
    return out


def _trailing(file_lines, s_lines, r_lines):
    return [Located(m.start, m.end, m.lines, "trailing whitespace")
            for m in _exact(file_lines, s_lines, r_lines, key=str.rstrip)]


def _shift(file_lines, s_lines, r_lines, *, skip_blank: bool):
    """Matches of the SEARCH lines with one indentation shift (with ``skip_blank``, blank lines ignored on both
    sides); the replacement re-indented by the same shift."""
    piece = [line for line in s_lines if line.strip()] if skip_blank else _trim_blank_edges(s_lines)
    s_base = _base(piece)
    if s_base is None:
        return []
    how = "blank lines" if skip_blank else "indentation"
    out = []
    for i in range(len(file_lines)):
        m = _piece_matches(file_lines, piece, i, s_base, skip_blank=skip_blank)
        if m is not None:
            end, f_base = m
            out.append(Located(i, end, tuple(_reindent(r_lines, s_base, f_base)), how))
    return out


def _base(lines) -> str | None:
    """The indentation every non-blank line of ``lines`` starts with (None: none, or tabs and spaces mixed)."""
    nonblank = [line for line in lines if line.strip()]
    if not nonblank:
        return None
    base = min((_indent(line) for line in nonblank), key=len)
    return base if all(line.startswith(base) for line in nonblank) else None


def _piece_matches(file_lines, piece, at, s_base, f_base=None, *, skip_blank=False):
    """(end, f_base) when the lines ``piece`` match the file from line ``at`` with the indentation ``s_base`` of
    the piece standing for ``f_base`` in the file (found from the first line when None), else None."""
    j = at
    n = len(file_lines)
    for line in piece:
        if skip_blank:
            if j < n and not file_lines[j].strip() and j > at:
                while j < n and not file_lines[j].strip():
                    j += 1
        if j >= n:
            return None
        f = file_lines[j]
        if not line.strip():
            if f.strip():
                return None
            j += 1
            continue
        if f.strip() != line.strip() or not line.startswith(s_base):
            return None
        rel, own = _indent(line)[len(s_base):], _indent(f)
        if f_base is None:
            if not own.endswith(rel):
                return None
            f_base = own[:len(own) - len(rel)]
        elif own != f_base + rel:
            return None
        j += 1
    return j, f_base or ""


def _reindent(lines: list[str], old: str, new: str) -> list[str]:
    """``lines`` with the indentation ``old`` turned into ``new`` (lines indented less lose as much)."""
    if old == new:
        return list(lines)
    out = []
    for line in lines:
        own = _indent(line)
        if not line.strip():
            out.append("")
        elif own.startswith(old):
            out.append(new + line[len(old):])
        else:
            cut = len(old) - len(own)
            out.append(new[:max(0, len(new) - cut)] + line.lstrip())
    return out


def _elided(file_lines, s_lines, r_lines):
    """SEARCH with elision lines: its pieces in order, each gap holding only lines at least as indented as its
    marker (so the gap stays inside the block the marker stands in); REPLACE must elide as many times, and
    each gap is kept where REPLACE elides."""
    marks = [k for k, line in enumerate(s_lines) if _ELISION.match(line)]
    if not marks:
        return []
    r_marks = [k for k, line in enumerate(r_lines) if _ELISION.match(line)]
    if not r_marks:
        raise NoMatch("SEARCH leaves lines out (a `...` line) but REPLACE does not say where they go: repeat the "
                      "`...` line in REPLACE to keep them, or write the lines out")
    if len(r_marks) != len(marks):
        raise NoMatch(f"SEARCH leaves lines out {len(marks)} times but REPLACE {len(r_marks)} times: elide the same "
                      "runs of lines in both, or write them out")
    pieces, prev = [], 0
    for k in [*marks, len(s_lines)]:
        pieces.append(_trim_blank_edges(s_lines[prev:k]))
        prev = k + 1
    if not pieces[0] or not pieces[-1]:
        raise NoMatch("SEARCH starts or ends with `...`: begin and end it with real lines of the file")
    pieces = [p for p in pieces if p] if all(pieces) else None
    if pieces is None:
        raise NoMatch("SEARCH has two `...` lines with nothing between them: use one")
    s_base = _base([line for p in pieces for line in p])
    if s_base is None:
        return []
    floor = _block_floor([line for p in pieces for line in p], s_base)
    results = []
    for start in range(len(file_lines)):
        chain = _chain(file_lines, pieces, floor, start, s_base)
        if chain is None:
            continue
        spans, f_base = chain
        gaps = [file_lines[a_end:b_start] for (_, a_end), (b_start, _) in zip(spans, spans[1:])]
        replacement, prev = [], 0
        for g, k in enumerate(r_marks):
            before = _trim_blank_end(r_lines[prev:k])  # the gap brings the file's own blank lines
            replacement += _reindent(before, s_base, f_base) + gaps[g]
            prev = k + 1
            while prev < len(r_lines) and not r_lines[prev].strip() and (g + 1 == len(r_marks) or prev < r_marks[g + 1]):
                prev += 1
        replacement += _reindent(r_lines[prev:], s_base, f_base)
        results.append(Located(spans[0][0], spans[-1][1], tuple(replacement), "elided lines"))
    return results


def _trim_blank_end(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


_DECORATOR = re.compile(r"^\s*@")


def _block_floor(lines: list[str], s_base: str) -> int:
    """How far in (relative to ``s_base``) every elided line must be: the indentation of SEARCH's first line
    that is not a decorator, one deeper when every later line is deeper than it (the body of what it opens)."""
    real = [line for line in lines if line.strip() and not _DECORATOR.match(line)]
    if not real:
        return 0
    head = len(_indent(real[0])) - len(s_base)
    deeper = all(len(_indent(line)) - len(s_base) > head for line in real[1:])
    return head + 1 if deeper and len(real) > 1 else head


def _chain(file_lines, pieces, floor, start, s_base):
    """The spans of every piece, the first at ``start`` and each next one after the one before, the lines
    between indented at least ``floor`` (relative to the shift) so they stay inside the block SEARCH is in;
    None when there is no such chain. A piece that fits two places within that reach is :class:`Ambiguous`."""
    first = _piece_matches(file_lines, pieces[0], start, s_base)
    if first is None:
        return None
    end, f_base = first
    spans = [(start, end)]
    limit = len(f_base) + floor
    for piece in pieces[1:]:
        found = []
        j = end
        while j < len(file_lines):
            m = _piece_matches(file_lines, piece, j, s_base, f_base)
            if m is not None:
                found.append((j, m[0]))
                if len(found) > 1:
                    break
            line = file_lines[j]
            if line.strip() and len(_indent(line)) < limit:
                break
            j += 1
        if not found:
            return None
        if len(found) > 1:
            raise Ambiguous(f"the lines after `...` match more than one place after line {start + 1} (lines "
                            f"{found[0][0] + 1} and {found[1][0] + 1}); include more of the lines around the change "
                            "so that it matches one")
        spans.append(found[0])
        end = found[0][1]
    return spans, f_base


_LEVELS = (
    ("exact", _exact),
    ("trailing whitespace", _trailing),
    ("indentation", lambda f, s, r: _shift(f, s, r, skip_blank=False)),
    ("blank lines", lambda f, s, r: _shift(f, s, r, skip_blank=True)),
    ("elided lines", _elided),
)


def _closest(file_lines: list[str], s_lines: list[str]) -> str:
    """Why nothing matched: the lines of the file most like the start of SEARCH, and their first difference."""
    body = [line.strip() for line in s_lines if line.strip()]
    anchors = [i for i, line in enumerate(file_lines) if line.strip() == body[0]]
    best, best_score = None, -1
    for i in anchors[:200]:
        got = [line.strip() for line in file_lines[i:] if line.strip()][:len(body)]
        score = next((k for k, (a, b) in enumerate(zip(got, body)) if a != b), min(len(got), len(body)))
        if score > best_score:
            best, best_score = (i, got), score
    if best is None:
        import difflib

        stripped = [line.strip() for line in file_lines]
        close = difflib.get_close_matches(body[0], stripped[:20000], n=1, cutoff=0.6)
        hint = f"; the most similar is line {stripped.index(close[0]) + 1}: {close[0][:80]!r}" if close else ""
        return f"SEARCH matches no lines of the file: its first line {body[0][:80]!r} is not in it{hint}"
    i, got = best
    if best_score >= len(body) or best_score >= len(got):
        return f"SEARCH runs past the end of the file (it starts at line {i + 1})"
    return (f"SEARCH does not match the file: the closest place starts at line {i + 1}, but its line "
            f"{best_score + 1} reads {got[best_score][:80]!r} in the file and {body[best_score][:80]!r} in SEARCH")


# -- applying the blocks of one file -----------------------------------------------------------------------


@dataclass(frozen=True)
class BlockResult:
    block: Block
    ok: bool
    how: str = ""  #: for an applied block: how it matched (exact, indentation, ...)
    reason: str = ""  #: for a refused block: why, in words the model can act on
    line: int = 0  #: the first line it changed (1-based)


@dataclass
class Applied:
    text: str | None  #: the new text (None: the file is deleted)
    results: list[BlockResult] = field(default_factory=list)

    @property
    def failed(self) -> list[BlockResult]:
        return [r for r in self.results if not r.ok]


def apply_blocks(text: str | None, blocks: list[Block]) -> Applied:
    """``blocks`` applied in order to ``text`` (None: the file does not exist yet), each at its one place;
    a block that cannot be placed is refused and the others still apply."""
    applied = Applied(text)
    for block in blocks:
        current = applied.text
        if touches_placeholder(block):
            applied.results.append(BlockResult(block, False, reason=(
                "it touches a [REDACTED] placeholder: that text was hidden from you because it looks like a secret; "
                "leave those lines out of the block")))
            continue
        if block.action == "delete":
            if current is None:
                applied.results.append(BlockResult(block, False, reason="the file does not exist, so it cannot be "
                                                                        "deleted"))
                continue
            applied.text = None
            applied.results.append(BlockResult(block, True, how="deleted", line=1))
            continue
        if current is None or (current == "" and not _trim_blank_edges(_lines(block.search))):
            if _trim_blank_edges(_lines(block.search)):
                applied.results.append(BlockResult(block, False, reason="the file does not exist: to create it, "
                                                                        "leave SEARCH empty"))
                continue
            new = block.replace
            applied.text = new if new.endswith("\n") or not new else new + "\n"
            applied.results.append(BlockResult(block, True, how="created" if current is None else "written", line=1))
            continue
        ends_newline = current.endswith("\n")
        body = current[:-1] if ends_newline else current
        try:
            found = locate(body, block.search, block.replace)
        except (NoMatch, Ambiguous) as exc:
            applied.results.append(BlockResult(block, False, reason=str(exc)))
            continue
        lines = _lines(body)
        lines[found.start:found.end] = list(found.lines)
        new_body = "\n".join(lines)
        applied.text = new_body + ("\n" if ends_newline and new_body else "")
        applied.results.append(BlockResult(block, True, how=found.how, line=found.start + 1))
    return applied
