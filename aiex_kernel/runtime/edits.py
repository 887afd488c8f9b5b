"""Edits: the model proposes changes to files; the user reviews them; aiex applies and undoes them.

::

    EditRequest ─▶ read the named files (sandbox) ─▶ edit turn(s) through the service ─▶ blocks
        ─▶ applied in memory (core.edits / core.notebook_edits), the failed ones sent back with the reason
           (at most ``repair_rounds`` times) ─▶ EditProposed (the proposal kept in the journal)
    apply_edit ─▶ every file still as proposed? ─▶ backups, atomic writes (edit_journal) ─▶ EditApplied
    undo_edit  ─▶ every file still as applied? ─▶ the backups put back ─▶ EditUndone

Only the files the user named may change, plus new files (shown as new): a block for
any other existing file is refused, so text in the project context cannot steer an
edit elsewhere. Nothing is written before :func:`apply_edit`; a proposal can be
applied later by its id without asking the model again.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..core.edits import EDIT_SCHEMA, Applied, Block, BlockResult, apply_blocks, blocks_from_data, parse_blocks
from ..core.events import Answered, EditApplied, EditProposed, EditTested, EditUndone, Event, Failed
from ..core.requests import EditRequest, TurnRequest
from ..errors import (
    EditConflict,
    EditError,
    EditNotFound,
    EditRefused,
    PathNotFound,
    SandboxError,
    UsageError,
)

__all__ = ["FileChange", "Proposal", "apply_edit", "edit_history", "load_proposal", "propose", "run_test",
           "undo_edit"]

#: how long ``--test CMD`` may run
TEST_TIMEOUT_S = 600
_TEST_OUTPUT_CHARS = 6000


@dataclass
class FileChange:
    """One file of a proposal: its content before and after, and the hunks the user can take or leave."""

    path: str
    kind: str  #: modify, create, delete
    before: bytes | None
    after: bytes | None
    notebook: bool = False
    mode: int | None = None

    @property
    def before_text(self) -> str | None:
        return _text(self.before)

    @property
    def after_text(self) -> str | None:
        return _text(self.after)

    @property
    def diff(self) -> str:
        from ..core.hunks import unified
        from ..core.notebook_edits import cell_view

        old, new = _text(self.before), _text(self.after)
        if self.notebook:
            old = cell_view(old) if old is not None else None
            new = cell_view(new) if new is not None else None
        return unified(old, new, self.path)

    @property
    def hunks(self) -> list:
        """Hunks (``core.hunks.Hunk``) of a text file, cell changes (``core.notebook_edits.CellChange``) of a
        notebook; a new or deleted file is one hunk."""
        from ..core.hunks import hunks
        from ..core.notebook_edits import cell_changes

        if self.before is None or self.after is None:
            return [_Whole(0, self.diff)]
        if self.notebook:
            old, new = _text(self.before), _text(self.after)
            if _has_ids(old) and _has_ids(new):
                return cell_changes(old, new)
            return [_Whole(0, self.diff)]
        return hunks(_text(self.before), _text(self.after))

    def content(self, chosen: set[int] | None = None) -> bytes | None:
        """The file's new content with only the ``chosen`` hunks (None: all of them)."""
        from ..core.hunks import partial
        from ..core.notebook_edits import partial_notebook
        from ..core.textfile import decode, encode

        every = self.hunks
        if chosen is None or set(range(len(every))) <= chosen:
            return self.after
        if not chosen:
            return self.before
        if self.before is None or self.after is None:
            return self.after
        like = decode(self.before)
        after = decode(self.after).text
        if self.notebook:
            return encode(partial_notebook(like.text, after, chosen), like)
        return encode(partial(like.text, [h for h in every if h.index in chosen]), like)

    def counts(self) -> tuple[int, int]:
        """(lines added, lines removed)."""
        added = removed = 0
        for line in self.diff.splitlines():
            if line.startswith("+") and not line.startswith("+++"):
                added += 1
            elif line.startswith("-") and not line.startswith("---"):
                removed += 1
        return added, removed


@dataclass(frozen=True)
class _Whole:
    """The one hunk of a file that is created or deleted (or a notebook without cell ids)."""

    index: int
    diff: str


def _has_ids(text: str) -> bool:
    from ..core.notebook_edits import read

    nb = read(text)
    return all(c.get("id") for c in nb.cells)


def _text(data: bytes | None) -> str | None:
    from ..core.textfile import decode

    return None if data is None else decode(data).text


@dataclass
class Proposal:
    """An edit as the model proposed it (``EditProposed`` plus the contents from the journal)."""

    edit: str
    instruction: str
    root: str
    files: list[FileChange]
    refused: list[dict] = field(default_factory=list)  #: {"block": Block dict, "reason"}
    applied_blocks: list[dict] = field(default_factory=list)
    rounds: int = 1
    session: str = ""
    status: str = "proposed"  #: proposed, applied, undone, conflict (a file changed since)
    conflicts: list[str] = field(default_factory=list)  #: the files that differ now from what was proposed against

    @property
    def diff(self) -> str:
        return "".join(f.diff for f in self.files)


def _sandbox(service, root):
    from .index import open_sandbox

    return open_sandbox(root, service.settings())


def _root_for(request: EditRequest) -> Path:
    from ..config import find_project_root

    first = os.path.abspath(os.path.expanduser(request.paths[0]))
    return find_project_root(path=first if os.path.exists(first) else os.path.dirname(first) or ".",
                             root=request.root)


def _named_files(sandbox, paths) -> dict[str, bytes | None]:
    """The named files relative to the root, with their bytes (None: not there yet, so it will be new)."""
    from ..core.textfile import NotText, decode

    out: dict[str, bytes | None] = {}
    for raw in paths:
        path = os.path.abspath(os.path.expanduser(raw))
        if os.path.isdir(path):
            raise UsageError(f"{raw} is a directory: name the files to edit (`aiex edit {raw.rstrip('/')}/x.py ...`).")
        rel = sandbox.relpath(path)
        try:
            data = sandbox.read_bytes(rel)
        except PathNotFound:
            data = None
        if data is not None:
            try:
                decode(data)
            except NotText as exc:
                raise UsageError(f"{rel} cannot be edited: {exc}; aiex edits text files and notebooks.") from None
        out[rel] = data
    return out


# -- proposing ---------------------------------------------------------------------------------------------


async def propose(service, request: EditRequest) -> AsyncIterator[Event]:
    """The events of the edit turns (repair rounds included), then ``EditProposed``; nothing is written to the
    project. Usage mistakes raise ``UsageError`` before the model is asked."""
    from ..core.prompts import edit_files_text, edit_repair_prompt, edit_system_prompt

    root = _root_for(request)
    sandbox = _sandbox(service, root)
    originals = await asyncio.to_thread(_named_files, sandbox, request.paths)
    named = set(originals)
    working: dict[str, str | None] = {p: _text(b) for p, b in originals.items()}
    decoded = {p: _decoded(b) for p, b in originals.items()}
    edit = uuid.uuid4().hex[:10]
    applied_blocks: list[dict] = []
    refused: list[dict] = []
    prompt = request.instruction.strip() if not request.feedback else edit_repair_prompt(
        request.instruction, [], request.feedback)
    if not prompt:
        raise UsageError("Say what to change: `aiex edit lib/calc.py -p 'use math.pi'`.")
    context = request.context
    if context.enabled and not context.path:
        context = replace(context, root=context.root or str(root))
    session, last_turn, rounds = "", "", 0
    for round_ in range(request.repair_rounds + 1):
        rounds = round_ + 1
        files_text = edit_files_text([(p, _for_prompt(p, t, request)) for p, t in working.items()])
        turn = TurnRequest(command="edit", prompt=prompt, model=request.model, session=request.session,
                           memory=False, context=replace(context, focus=_focus(working)),
                           system=edit_system_prompt(request.structured), max_tokens=request.max_tokens,
                           temperature=request.temperature,
                           json_schema=dict(EDIT_SCHEMA) if request.structured else None,
                           attachments="\n\n".join(x for x in (request.attachments, files_text) if x))
        answer = None
        async for event in service.turn(turn):
            session = event.session
            last_turn = getattr(event, "turn", last_turn) or last_turn
            if isinstance(event, Answered):
                answer = event
            yield event
            if isinstance(event, Failed):
                return
        if answer is None:
            return
        parsed = _parsed(answer.text, request.structured)
        failures: list[tuple[int, str, str]] = [(0, "answer", p) for p in parsed.problems]
        round_refused: list[dict] = []
        by_file: dict[str, list[Block]] = {}
        for block in parsed.blocks:
            path, why = _target(block.path, named, working, sandbox)
            if why:
                round_refused.append({"block": block.to_dict(), "reason": why})
                failures.append((block.number, block.where, why))
                continue
            by_file.setdefault(path, []).append(replace(block, path=path))
        for path, blocks in by_file.items():
            done = _apply(working.get(path), blocks, path, request)
            for result in done.results:
                if result.ok:
                    applied_blocks.append({**result.block.to_dict(), "how": result.how, "round": rounds})
                else:
                    round_refused.append({"block": result.block.to_dict(), "reason": result.reason})
                    failures.append((result.block.number, result.block.where, result.reason))
            if any(r.ok for r in done.results):
                working[path] = done.text
        if not parsed.blocks and not parsed.problems:
            failures.append((0, "answer", "it holds no edit blocks: answer with blocks in the format shown"))
        refused = round_refused
        if not failures or round_ == request.repair_rounds:
            if not parsed.blocks and not applied_blocks:
                refused = refused or [{"block": {}, "reason": reason} for _, _, reason in failures[:1]]
            break
        prompt = edit_repair_prompt(request.instruction, failures, request.feedback)
    changes = _changes(originals, working, decoded, refused)
    proposed = EditProposed(session, time.time(), edit=edit, turn=last_turn, instruction=request.instruction,
                            root=str(root),
                            files=tuple({"path": c.path, "kind": c.kind, "before": _digest(c.before),
                                         "after": _digest(c.after), "hunks": len(c.hunks)} for c in changes),
                            blocks=tuple(applied_blocks), refused=tuple(refused), rounds=rounds, parent=request.parent)
    from .edit_journal import JournalFile

    journal = _journal(service)
    await asyncio.to_thread(
        journal.save_proposal, edit, str(root), request.instruction,
        [JournalFile(c.path, c.kind, _digest(c.before), _digest(c.after), c.mode) for c in changes],
        [c.after for c in changes])
    service.append(proposed)
    yield proposed


def _parsed(text: str, structured: bool):
    """The blocks of an answer: edit blocks in text, or (``structured``) the JSON value's edits."""
    if not structured:
        return parse_blocks(text)
    from ..core.edits import Parsed
    from ..core.structured import StructuredError, parse_structured

    try:
        return blocks_from_data(parse_structured(text, EDIT_SCHEMA))
    except StructuredError as exc:
        return Parsed(problems=[f"the answer is not the JSON asked for: {exc}"])


def _decoded(data: bytes | None):
    from ..core.textfile import decode

    return None if data is None else decode(data)


def _digest(data):
    from .edit_journal import digest

    return digest(data)


def _journal(service):
    from .edit_journal import Journal

    return Journal(service.settings().data_dir)


def _for_prompt(path: str, text: str | None, request: EditRequest) -> str | None:
    from ..core.notebook_edits import NotebookProblem, render_notebook

    if text is not None and path.endswith(".ipynb"):
        try:
            return render_notebook(text, path, outputs=request.outputs)
        except NotebookProblem as exc:
            raise UsageError(f"{path} cannot be edited: {exc}.") from None
    return text


def _focus(working: dict[str, str | None]) -> str:
    """The named files' text (the notebooks' JSON left out): their names steer the project context."""
    return "\n".join(t for p, t in working.items() if t and not p.endswith(".ipynb"))[:20000]


def _target(path: str, named: set[str], working: dict, sandbox) -> tuple[str, str]:
    """(the root-relative path a block names, why it may not change) - only named files and new ones may."""
    raw = path.strip().removeprefix("./")
    if raw in named:
        return raw, ""
    try:
        rel = sandbox.relpath(raw)
    except SandboxError as exc:
        return raw, f"the path is outside the project: {exc}"
    if rel in named:
        return rel, ""
    same_name = [n for n in named if Path(n).name == Path(rel).name]
    if len(same_name) == 1 and not os.path.exists(sandbox.root / rel):
        return same_name[0], ""
    if rel in working:  # a new file made in an earlier round
        return rel, ""
    if os.path.lexists(sandbox.root / rel):
        return rel, (f"{rel} is not one of the files you were asked to edit ({', '.join(sorted(named))}); "
                     "it stays as it is")
    if sandbox.is_secret(rel) or rel.split("/", 1)[0] in (".git", ".aiex"):
        return rel, f"{rel} is not a file aiex creates (a secret-looking name, or git's or aiex's own data)"
    working.setdefault(rel, None)
    return rel, ""


def _apply(text: str | None, blocks: list[Block], path: str, request: EditRequest) -> Applied:
    if path.endswith(".ipynb"):
        from ..core.notebook_edits import NotebookProblem, apply_notebook_blocks

        try:
            return apply_notebook_blocks(text, blocks, clear_outputs=request.clear_outputs)
        except NotebookProblem as exc:
            return Applied(text, [BlockResult(b, False, reason=str(exc)) for b in blocks])
    return apply_blocks(text, blocks)


def _changes(originals, working, decoded, refused) -> list[FileChange]:
    """The files whose content differs from what is on disk, encoded as they were."""
    from ..core.textfile import Decoded, encode

    changes = []
    for path, text in working.items():
        before = originals.get(path)
        like = decoded.get(path) or Decoded("")
        if text is None:
            after = None
        else:
            try:
                after = encode(text, like)
            except UnicodeEncodeError as exc:
                refused.append({"block": {"path": path}, "reason": (
                    f"the new text of {path} has characters its encoding ({like.encoding}) cannot hold: {exc.reason}")})
                continue
        if after == before:
            continue
        kind = "create" if before is None else ("delete" if after is None else "modify")
        changes.append(FileChange(path, kind, before, after, notebook=path.endswith(".ipynb")))
    return changes


# -- reading proposals back -------------------------------------------------------------------------------


def _events_of(service, edit: str) -> tuple[EditProposed | None, list[Event]]:
    log = service.log
    if log is None:
        raise EditError(service.log_problem or "The event log cannot be opened, so edits cannot be found.")
    found = [e for _, e in log.events(kinds=["EditProposed", "EditApplied", "EditUndone"])
             if getattr(e, "edit", None) == edit]
    proposed = next((e for e in found if isinstance(e, EditProposed)), None)
    return proposed, found


def load_proposal(service, edit: str) -> Proposal:
    """Proposal ``edit`` from the log and the journal, against the files as they are now."""
    proposed, found = _events_of(service, edit)
    if proposed is None:
        raise EditNotFound(f"No edit {edit!r}; `aiex list edits` shows them.")
    meta, contents = _journal(service).proposal(edit)
    sandbox = _sandbox(service, meta["root"])
    files, conflicts = [], []
    status = _status(found)
    for f, after in zip(meta["files"], contents):
        try:
            current = sandbox.read_bytes(f["path"], max_bytes=64 * 1024 * 1024)
        except PathNotFound:
            current = None
        if _digest(current) != f["before"]:
            conflicts.append(f["path"])
        files.append(FileChange(f["path"], f["kind"], current, after, notebook=f["path"].endswith(".ipynb"),
                                mode=f.get("mode")))
    if status == "proposed" and conflicts:
        status = "conflict"
    return Proposal(edit, proposed.instruction, proposed.root, files, list(proposed.refused), list(proposed.blocks),
                    proposed.rounds, proposed.session, status, conflicts)


def _status(found: list[Event]) -> str:
    status = "proposed"
    for event in found:
        if isinstance(event, EditApplied):
            status = "applied"
        elif isinstance(event, EditUndone):
            status = "undone"
    return status


# -- applying, testing, undoing --------------------------------------------------------------------------


def apply_edit(service, edit: str, chosen: dict[str, set[int]] | None = None, *, commit: bool = False,
               session: str | None = None) -> EditApplied:
    """Write proposal ``edit`` (only the ``chosen`` hunks per path, when given); an ``EditApplied`` event."""
    from .edit_journal import JournalFile

    proposal = load_proposal(service, edit)
    if proposal.status == "applied":
        raise EditError(f"Edit {edit} is applied already; `aiex undo edit {edit}` reverts it.")
    if proposal.status == "conflict":
        raise EditConflict(f"{', '.join(proposal.conflicts)} changed since edit {edit} was proposed, so it is not "
                           "applied (nothing was written). Propose it again against the file as it is now.")
    if not proposal.files:
        raise EditRefused(f"Edit {edit} changes nothing: " + "; ".join(r["reason"] for r in proposal.refused[:3]))
    meta, _ = _journal(service).proposal(edit)
    recorded = {f["path"]: f for f in meta["files"]}
    taken, contents, records = [], [], []
    for change in proposal.files:
        picks = None if chosen is None else chosen.get(change.path, set())
        data = change.content(picks)
        if data == change.before:
            continue
        f = recorded[change.path]
        taken.append(JournalFile(change.path, change.kind, f["before"], _digest(data), f.get("mode")))
        contents.append(data)
        records.append(picks)
    if not taken:
        raise EditRefused(f"No hunk of edit {edit} was chosen, so nothing was written.")
    sandbox = _sandbox(service, proposal.root)
    written = _journal(service).apply_files(edit, sandbox, taken, contents)
    for record, picks in zip(written, records):
        record["hunks"] = sorted(picks) if picks is not None else None
    sha = ""
    notes = ""
    if commit:
        sha, notes = _commit(proposal, [r["path"] for r in written])
    applied = EditApplied(session or proposal.session, time.time(), edit=edit, root=proposal.root,
                          files=tuple(written), commit=sha)
    service.append(applied)
    if notes:
        raise EditError(f"Edit {edit} is applied, but not committed: {notes}")
    return applied


def _commit(proposal: Proposal, paths: list[str]) -> tuple[str, str]:
    """Commit only ``paths`` (``git commit --only``: what else is staged stays staged); (sha, problem)."""
    root = proposal.root

    def git(*args):
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)

    try:
        inside = git("rev-parse", "--show-toplevel")
    except (OSError, subprocess.TimeoutExpired) as exc:
        return "", f"git cannot be run ({exc})"
    if inside.returncode != 0:
        return "", f"{root} is not in a git repository"
    tracked = set(git("ls-files", "--", *paths).stdout.split("\n"))
    new = [p for p in paths if p not in tracked and os.path.exists(os.path.join(root, p))]
    if new:
        added = git("add", "--", *new)
        if added.returncode != 0:
            return "", added.stderr.strip()
    first = proposal.instruction.strip().splitlines()[0] if proposal.instruction.strip() else "edit"
    message = f"aiex: {first[:72]}\n\naiex-edit: {proposal.edit}\n"
    done = git("commit", "--only", "-m", message, "--", *paths)
    if done.returncode != 0:
        return "", (done.stderr or done.stdout).strip()
    return git("rev-parse", "HEAD").stdout.strip(), ""


def run_test(service, edit: str, command: str, root: str, session: str = "") -> EditTested:
    """Run ``--test CMD`` in the project root after ``edit``; an ``EditTested`` event (stored)."""
    try:
        done = subprocess.run(command, shell=True, cwd=root, capture_output=True, text=True, timeout=TEST_TIMEOUT_S,
                              errors="replace")
        code, output = done.returncode, (done.stdout + done.stderr)
    except subprocess.TimeoutExpired as exc:
        code = 124
        output = f"{(exc.stdout or '')}{(exc.stderr or '')}\n[timed out after {TEST_TIMEOUT_S} s]"
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
    tested = EditTested(session, time.time(), edit=edit, command=command, exit_code=code,
                        output=output[-_TEST_OUTPUT_CHARS:])
    service.append(tested)
    return tested


def undo_edit(service, edit: str | None = None, session: str | None = None) -> EditUndone:
    """Put back what ``edit`` replaced (None: the latest applied edit not undone yet)."""
    log = service.log
    if log is None:
        raise EditError(service.log_problem or "The event log cannot be opened, so edits cannot be found.")
    history = edit_history(service)
    if edit is None:
        live = [h for h in history if h["status"] == "applied"]
        if not live:
            raise EditNotFound("No applied edit is left to undo; `aiex list edits` shows them.")
        entry = max(live, key=lambda h: h["applied_at"])
    else:
        entry = next((h for h in history if h["edit"] == edit), None)
        if entry is None:
            raise EditNotFound(f"No edit {edit!r}; `aiex list edits` shows them.")
        if entry["status"] != "applied":
            raise EditError(f"Edit {edit} is {entry['status']}, not applied, so there is nothing to undo.")
    sandbox = _sandbox(service, entry["root"])
    paths = _journal(service).undo_files(entry["edit"], sandbox)
    undone = EditUndone(session or entry["session"], time.time(), edit=entry["edit"], root=entry["root"],
                        files=tuple(paths))
    service.append(undone)
    return undone


def edit_history(service) -> list[dict]:
    """Every edit in the log, oldest first: id, status, instruction, files, when."""
    log = service.log
    if log is None:
        raise EditError(service.log_problem or "The event log cannot be opened, so edits cannot be found.")
    edits: dict[str, dict] = {}
    for _, e in log.events(kinds=["EditProposed", "EditApplied", "EditUndone", "EditTested"]):
        if isinstance(e, EditProposed):
            edits[e.edit] = {"edit": e.edit, "status": "proposed", "instruction": e.instruction, "root": e.root,
                             "files": [f["path"] for f in e.files], "session": e.session, "proposed_at": e.at,
                             "applied_at": None, "refused": len(e.refused), "rounds": e.rounds, "commit": "",
                             "test": None, "parent": e.parent}
            continue
        entry = edits.get(e.edit)
        if entry is None:
            continue
        if isinstance(e, EditApplied):
            entry.update(status="applied", applied_at=e.at, commit=e.commit)
        elif isinstance(e, EditUndone):
            entry.update(status="undone")
        elif isinstance(e, EditTested):
            entry["test"] = e.exit_code
    return list(edits.values())

