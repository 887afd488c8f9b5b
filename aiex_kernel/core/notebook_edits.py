"""Notebooks edited as notebooks: the model sees cells and changes cells, never the JSON.

:func:`render_notebook` shows a notebook to the model cell by cell, with each cell's
id (its 1-based position when the notebook has no ids) and no outputs unless asked.
Blocks name a cell on their path line (:mod:`.edits`)::

    analysis.ipynb cell 7f3a2c          SEARCH/REPLACE inside that cell's source
    analysis.ipynb cell 7f3a2c  + DELETE  the cell is removed
    analysis.ipynb new code cell after 7f3a2c   (or: new markdown cell at end / at start)

:func:`apply_notebook_blocks` applies them with nbformat: the other cells, the
metadata and every output stay as they were (an edited code cell keeps its outputs
unless ``clear_outputs``), and the result must pass ``nbformat.validate`` or nothing
is written. New cells get ids derived from their block and source, so applying the
same proposal again gives the same notebook. A new ``.ipynb`` file is written from
percent-format text (``# %%`` / ``# %% [markdown]`` lines start cells).

:func:`cell_changes` and :func:`partial_notebook` are the notebook's hunks: one per
changed, new or deleted cell, each taken or left on its own.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from .edits import Applied, Block, BlockResult, apply_blocks
from .hunks import unified

__all__ = ["CellChange", "NotebookProblem", "apply_notebook_blocks", "cell_changes", "cell_view",
           "notebook_from_percent", "partial_notebook", "render_notebook"]

_NEW = re.compile(r"^new (code|markdown|raw) cell(?: (after) (\S+)| at (start|end))?$", re.IGNORECASE)
_CELL = re.compile(r"^cell (\S+)$", re.IGNORECASE)
_PERCENT = re.compile(r"^# %%(?:\s*\[(markdown|md|raw)\])?.*$")
MAX_OUTPUT_CHARS = 2000


class NotebookProblem(ValueError):
    """The notebook cannot be read, or an edit would leave it invalid."""


def _nbformat():
    import nbformat

    return nbformat


def read(text: str):
    nbformat = _nbformat()
    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds (JSON, validation, version)
        raise NotebookProblem(f"it is not a valid notebook ({type(exc).__name__}: {exc})") from None
    return nb


def _key(cell, index: int) -> str:
    return cell.get("id") or str(index + 1)


def _source(cell) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def render_notebook(text: str, path: str, *, outputs: bool = False) -> str:
    """The notebook for the prompt: each cell's id, type and source (and text outputs when asked)."""
    nb = read(text)
    parts = [f"{path} is a notebook: edit it cell by cell, naming the cell on the path line "
             f"(`{path} cell ID`, or `{path} new code cell after ID`)."]
    for i, cell in enumerate(nb.cells):
        parts.append(f'<cell id="{_key(cell, i)}" type="{cell.cell_type}">\n{_source(cell)}\n</cell>')
        if outputs and cell.cell_type == "code" and cell.get("outputs"):
            shown = _outputs_text(cell.outputs)
            if shown:
                parts.append(f'<outputs of="{_key(cell, i)}">\n{shown}\n</outputs>')
    return "\n".join(parts)


def _outputs_text(outputs) -> str:
    out = []
    for o in outputs:
        if o.get("output_type") == "stream":
            out.append(_source({"source": o.get("text", "")}))
        elif o.get("output_type") in ("execute_result", "display_data"):
            out.append(_source({"source": o.get("data", {}).get("text/plain", "")}))
        elif o.get("output_type") == "error":
            out.append(f"{o.get('ename', '')}: {o.get('evalue', '')}")
    text = "\n".join(t for t in out if t)
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n[... outputs cut]"


def _find(nb, key: str) -> int | None:
    for i, cell in enumerate(nb.cells):
        if cell.get("id") == key:
            return i
    if key.isdigit() and not any(c.get("id") for c in nb.cells) and 1 <= int(key) <= len(nb.cells):
        return int(key) - 1
    return None


def _new_cell(nb, kind: str, source: str, number: int):
    nbformat = _nbformat()
    make = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
            "raw": nbformat.v4.new_raw_cell}[kind]
    cell = make(source.removesuffix("\n"))
    if nb.nbformat > 4 or nb.nbformat_minor >= 5:
        digest = hashlib.sha1(f"{number}\0{kind}\0{source}".encode()).hexdigest()[:8]
        taken = {c.get("id") for c in nb.cells}
        cell["id"] = next(f"aiex-{digest}{'' if n == 0 else f'-{n}'}" for n in range(len(taken) + 1)
                          if f"aiex-{digest}{'' if n == 0 else f'-{n}'}" not in taken)
    else:
        cell.pop("id", None)
    return cell


def notebook_from_percent(text: str) -> str:
    """A new notebook (JSON text) from percent-format text: ``# %%`` starts a code cell, ``# %% [markdown]`` a
    markdown one (its lines' leading ``# `` removed)."""
    nbformat = _nbformat()
    nb = nbformat.v4.new_notebook()
    kind, lines = "code", []

    def flush():
        source = "\n".join(lines).strip("\n")
        if kind == "markdown":
            source = "\n".join(re.sub(r"^# ?", "", line) for line in source.split("\n"))
        if source or kind != "code" or nb.cells:
            nb.cells.append(_new_cell(nb, kind, source, len(nb.cells)))

    for line in text.split("\n"):
        m = _PERCENT.match(line)
        if m:
            if lines or nb.cells:
                flush()
            kind = {"markdown": "markdown", "md": "markdown", "raw": "raw"}.get((m.group(1) or "").lower(), "code")
            lines = []
        else:
            lines.append(line)
    if lines and any(line.strip() for line in lines):
        flush()
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def apply_notebook_blocks(text: str | None, blocks: list[Block], *, clear_outputs: bool = False) -> Applied:
    """The blocks applied to the notebook ``text`` cell by cell (None: a new notebook, from percent text)."""
    nbformat = _nbformat()
    if text is None:
        creating = [b for b in blocks if not b.target and b.action != "delete" and not b.search.strip()]
        if not creating:
            return Applied(None, [BlockResult(b, False, reason="the notebook does not exist: to create it, give its "
                                                                "path alone with an empty SEARCH") for b in blocks])
        new = notebook_from_percent(creating[0].replace)
        results = [BlockResult(b, b is creating[0], how="created" if b is creating[0] else "",
                               reason="" if b is creating[0] else "the notebook is created by the block before")
                   for b in blocks]
        return Applied(new, results)
    nb = read(text)
    applied = Applied(text)
    placed: dict[str, str] = {}  #: anchor cell -> the last new cell put after it (so new cells keep their order)
    for block in blocks:
        result = _apply_one(nb, block, clear_outputs, placed)
        applied.results.append(result)
    if not any(r.ok for r in applied.results):
        return applied
    try:
        nbformat.validate(nb)
    except Exception as exc:  # nbformat's ValidationError
        for k, r in enumerate(applied.results):
            if r.ok:
                applied.results[k] = BlockResult(r.block, False, reason=f"the notebook would not validate: {exc}")
        return applied
    out = nbformat.writes(nb)
    applied.text = out + "\n" if text.endswith("\n") else out
    return applied


def _apply_one(nb, block: Block, clear_outputs: bool, placed: dict[str, str]) -> BlockResult:
    if not block.target:
        if block.action == "delete":
            return BlockResult(block, False, reason="deleting a whole notebook is not allowed here; delete its cells "
                                                    "(`PATH cell ID` with a DELETE block)")
        return BlockResult(block, False, reason="a notebook is edited by cell: name the cell on the path line "
                                                "(`PATH cell ID`, or `PATH new code cell after ID`)")
    new = _NEW.match(block.target)
    if new:
        kind, after, anchor, end = new.group(1).lower(), new.group(2), new.group(3), (new.group(4) or "end").lower()
        if block.search.strip():
            return BlockResult(block, False, reason="a new cell has no SEARCH side: leave it empty")
        if after:
            i = _find(nb, placed.get(anchor, anchor))
            if i is None:
                i = _find(nb, anchor)
            if i is None:
                return BlockResult(block, False, reason=f"there is no cell {anchor} to put the new cell after")
            at = i + 1
        elif end == "start":
            at = _find(nb, placed["@start"]) + 1 if "@start" in placed else 0
        else:
            at = len(nb.cells)
        cell = _new_cell(nb, kind, block.replace, block.number)
        nb.cells.insert(at, cell)
        key = cell.get("id")
        if key:
            placed[anchor if after else "@start" if end == "start" else "@end"] = key
        return BlockResult(block, True, how="new cell", line=at + 1)
    cell_ref = _CELL.match(block.target)
    if cell_ref is None:
        return BlockResult(block, False, reason=f"{block.target!r} names no cell: write `cell ID` or "
                                                "`new code cell after ID`")
    i = _find(nb, cell_ref.group(1))
    if i is None:
        known = ", ".join(_key(c, k) for k, c in enumerate(nb.cells[:30]))
        return BlockResult(block, False, reason=f"there is no cell {cell_ref.group(1)} (cells: {known})")
    if block.action == "delete":
        del nb.cells[i]
        return BlockResult(block, True, how="cell deleted", line=i + 1)
    cell = nb.cells[i]
    done = apply_blocks(_source(cell), [Block(block.path, block.search, block.replace, number=block.number)])
    result = done.results[0]
    if not result.ok:
        return BlockResult(block, False, reason=f"in cell {cell_ref.group(1)}: {result.reason}")
    cell["source"] = (done.text or "").removesuffix("\n") if not _source(cell).endswith("\n") else done.text or ""
    if clear_outputs and cell.cell_type == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return BlockResult(block, True, how=f"cell, {result.how}", line=i + 1)


# -- a notebook's hunks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CellChange:
    index: int  #: the hunk's number in the file
    kind: str  #: changed, new, deleted
    cell: str  #: the cell's id (or position)
    cell_type: str
    old: str = ""
    new: str = ""
    after: str | None = None  #: a new cell: the id of the cell it follows in the new notebook (None: first)
    diff: str = field(default="", compare=False)


def _cells(nb) -> list[tuple[str, object]]:
    return [(_key(c, i), c) for i, c in enumerate(nb.cells)]


def cell_changes(old_text: str, new_text: str) -> list[CellChange]:
    """The changed, new and deleted cells between two versions of a notebook, in the new one's order."""
    old, new = dict(_cells(read(old_text))), _cells(read(new_text))
    new_keys = {k for k, _ in new}
    changes: list[CellChange] = []
    previous = None
    for key, cell in new:
        before = old.get(key)
        if before is None:
            changes.append(CellChange(len(changes), "new", key, cell.cell_type, new=_source(cell), after=previous,
                                      diff=unified(None, _source(cell) + "\n", f"cell {key}")))
        elif _source(before) != _source(cell) or before.cell_type != cell.cell_type:
            changes.append(CellChange(len(changes), "changed", key, cell.cell_type, _source(before), _source(cell),
                                      diff=unified(_source(before) + "\n", _source(cell) + "\n", f"cell {key}")))
        elif json.dumps(before, sort_keys=True) != json.dumps(cell, sort_keys=True):
            changes.append(CellChange(len(changes), "changed", key, cell.cell_type, _source(before), _source(cell),
                                      diff=f"cell {key}: outputs or metadata changed\n"))
        previous = key
    for key, cell in old.items():
        if key not in new_keys:
            changes.append(CellChange(len(changes), "deleted", key, cell.cell_type, old=_source(cell),
                                      diff=unified(_source(cell) + "\n", None, f"cell {key}")))
    return changes


def partial_notebook(old_text: str, new_text: str, chosen: set[int]) -> str:
    """``old_text`` with only the chosen cell changes (indices of :func:`cell_changes`) of ``new_text``."""
    nbformat = _nbformat()
    changes = cell_changes(old_text, new_text)
    old_nb, new_nb = read(old_text), read(new_text)
    new_cells = dict(_cells(new_nb))
    taken = {c.cell: c for c in changes if c.index in chosen}
    result = []
    for key, cell in _cells(old_nb):
        change = taken.get(key)
        if change is None:
            result.append((key, cell))
        elif change.kind == "changed":
            result.append((key, new_cells[key]))
    order = [k for k, _ in _cells(new_nb)]
    for change in changes:
        if change.kind == "new" and change.index in chosen:
            present = {k for k, _ in result}
            earlier = order[:order.index(change.cell)]
            anchor = next((k for k in reversed(earlier) if k in present), None)  # the nearest cell kept before it
            at = 0 if anchor is None else next(i + 1 for i, (k, _) in enumerate(result) if k == anchor)
            result.insert(at, (change.cell, new_cells[change.cell]))
    old_nb.cells = [c for _, c in result]
    nbformat.validate(old_nb)
    out = nbformat.writes(old_nb)
    return out + "\n" if old_text.endswith("\n") else out


def cell_view(text: str) -> str:
    """The notebook as percent-format text (for a whole-file diff a person reads)."""
    nb = read(text)
    parts = []
    for i, cell in enumerate(nb.cells):
        kind = "" if cell.cell_type == "code" else f" [{cell.cell_type}]"
        parts.append(f"# %%{kind} id={_key(cell, i)}\n{_source(cell)}\n")
    return "\n".join(parts)
