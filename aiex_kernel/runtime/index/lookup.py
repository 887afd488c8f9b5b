"""Finding a definition in the index: ``aiex explain NAME`` and ``aiex explain PATH[:LINE]``."""

from __future__ import annotations

import numpy as np

from ...core.prompts import ObjectFacts
from ...core.terms import name_hash
from ...errors import UsageError
from ..sandbox import Sandbox
from .view import IndexView

__all__ = ["find_definition"]

#: characters of a definition's source put into the prompt
MAX_SOURCE_CHARS = 6000


def _source(sandbox: Sandbox, chunk) -> str:
    data = sandbox.read_bytes(chunk.path)
    start = data.rfind(b"\n", 0, chunk.start_byte) + 1
    text = data[start:chunk.end_byte].decode("utf-8", "replace")
    return text if len(text) <= MAX_SOURCE_CHARS else text[:MAX_SOURCE_CHARS] + "\n…"


def _facts(sandbox: Sandbox, chunk, expression: str) -> ObjectFacts:
    where = f"{chunk.path}:{chunk.start_line}-{chunk.end_line}"
    return ObjectFacts(expression=expression, type_name=f"{chunk.language} {chunk.kind}", value_repr=where,
                       signature=" ".join(chunk.signature.split()) or None, source=_source(sandbox, chunk),
                       origin="project")


def find_definition(view: IndexView, sandbox: Sandbox, target: str) -> ObjectFacts:
    """The definition ``target`` names: a (qualified) name, ``PATH`` or ``PATH:LINE``."""
    path, _, line = target.rpartition(":")
    if path and line.isdigit():
        return _at_line(view, sandbox, path, int(line), target)
    if any(f["path"] == target for f in view.files):
        return _at_line(view, sandbox, target, None, target)
    return _by_name(view, sandbox, target)


def _at_line(view: IndexView, sandbox: Sandbox, path: str, line: int | None, target: str) -> ObjectFacts:
    index = next((i for i, f in enumerate(view.files) if f["path"] == path), None)
    if index is None:
        raise UsageError(f"{path} is not in the index of {sandbox.root}; name a file under it (relative to the root), "
                         "or run `aiex build context` if it is new.")
    ids = np.flatnonzero(view.arrays["chunk_file"] == index).tolist()
    chunks = view.chunks(ids).values()
    if line is None:
        module = next((c for c in chunks if c.kind == "module"), None)
        if module is None:
            raise UsageError(f"{path} has no code aiex can explain.")
        return _facts(sandbox, module, path)
    inside = [c for c in chunks if c.start_line <= line <= c.end_line]
    if not inside:
        raise UsageError(f"{path} has no line {line} in the index; is the file shorter?")
    innermost = min(inside, key=lambda c: (c.end_line - c.start_line, c.kind == "module"))
    return _facts(sandbox, innermost, target)


def _by_name(view: IndexView, sandbox: Sandbox, name: str) -> ObjectFacts:
    last = name.rsplit(".", 1)[-1]
    ids = np.flatnonzero(view.arrays["chunk_name"] == name_hash(last)).tolist()
    chunks = [c for c in view.chunks(ids).values() if c.kind != "module"]
    exact = [c for c in chunks if c.qualname == name or c.name == name]
    dotted = [c for c in chunks if c.qualname.endswith("." + name)]
    found = exact or dotted
    if not found:
        raise UsageError(f"No definition named {name!r} in the index of {sandbox.root}; check the spelling, give "
                         "PATH:LINE, or run `aiex build context` if it is new.")
    best = min(found, key=lambda c: (c.qualname != name, c.qualname.count("."), c.path, c.start_line))
    facts = _facts(sandbox, best, name)
    if len(found) > 1:
        others = ", ".join(f"{c.path}:{c.start_line}" for c in found if c is not best)[:300]
        facts = facts.with_note(f"{len(found) - 1} other definitions of that name: {others}")
    return facts
