"""``edit`` (the model proposes changes to files), ``apply edit``, ``undo edit``, ``list edits``, ``show edit``.

One grammar on every surface: ``edit PATH... -p TEXT`` (``-p -`` reads a pipe). In
``%aiex`` the text after ``-p`` is taken as typed; ``%%aiex edit PATH...`` takes the
instruction from the cell. The surface's ``run_edit`` proposes, shows the diff for
review and applies what the user accepts (a confirmation in a terminal, a widget
with Apply / Reject per hunk in a notebook).
"""

from __future__ import annotations

from .options import CONTEXT_ARGS, DRY_RUN_ARG, MODEL_ARG, ROOT_ARGS, SESSION_ARG
from .registry import REGISTRY, Result, arg

__all__ = ["EDIT_ARGS", "edit_request", "proposal_data", "proposal_text"]

#: the options of an edit (``%%aiex edit`` takes them too)
EDIT_ARGS = [
    arg("-y", "--yes", action="store_true", help="apply without asking (only the named files, and new ones, change)"),
    arg("--commit", action="store_true",
        help="in a git repository, commit the edited files alone (`git commit --only`) as `aiex: TEXT`"),
    arg("--test", metavar="CMD", help="run CMD in the project root after applying; if it fails, its output goes "
                                      "back to the model for a repair, within --repair-rounds"),
    arg("--repair-rounds", type=int, default=2, metavar="N",
        help="times a block that does not apply (or a failing --test) goes back to the model (default 2)"),
    arg("--outputs", action="store_true", help="send notebooks' text outputs with their cells (default: never)"),
    arg("--clear-outputs", action="store_true", help="clear the outputs of the notebook code cells the edit changes"),
    arg("--structured", action="store_true",
        help="ask for the blocks as JSON: the provider's JSON-schema mode where it has one (OpenAI, Ollama, "
             "LM Studio, the embedded model), else the schema in the prompt; the answer is validated"),
    arg("--max-tokens", type=int, default=4096, metavar="N", help="longest answer in tokens (default 4096)"),
    arg("--temperature", type=float, metavar="T", help="sampling temperature (default: the model's)"),
]


@REGISTRY.command("edit", help="have the model change files: a diff to review, then applied (and undoable)",
                  raw="-p",
                  args=[arg("paths", nargs="+", metavar="PATH", help="the files that may change (new files may "
                                                                      "be created beside them)"),
                        arg("-p", "--prompt", metavar="TEXT", help="what to change; `-` reads it from a pipe"),
                        *EDIT_ARGS, MODEL_ARG, SESSION_ARG, *CONTEXT_ARGS, DRY_RUN_ARG, *ROOT_ARGS])
def edit(args, ctx) -> Result:
    """The model receives the files (and the project's context) and answers with search/replace blocks;
    aiex places each block where it matches exactly once (forgiving whitespace, indentation and elided
    lines; never a place that is ambiguous), sends the ones that do not fit back with the reason, and
    shows the combined diff. Nothing is written until you accept it (or --yes); --dry-run only shows it,
    and `aiex apply edit ID` applies it later. Only the named files and new files can change. Notebooks
    are edited cell by cell and still validate. `aiex undo edit` restores the files."""
    return ctx.run_edit(edit_request(args, ctx), args)


def edit_request(args, ctx, instruction: str | None = None):
    from ...core.requests import ContextOptions, EditRequest
    from ...errors import UsageError

    text = instruction if instruction is not None else args.prompt
    if text == "-":
        if ctx.read_stdin is None:
            raise UsageError("`-p -` (read the instruction from a pipe) works only on the command line.")
        text = ctx.read_stdin()
    if not (text or "").strip():
        raise UsageError(f"Say what to change: `{ctx.prog} edit lib/calc.py -p 'use math.pi'`"
                         + (" (or `%%aiex edit PATH` with the instruction in the cell)." if ctx.notebook else "."))
    if args.repair_rounds < 0:
        raise UsageError("--repair-rounds must be 0 or more.")
    if args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1.")
    from .options import abspaths

    return EditRequest(
        instruction=text.strip(), paths=tuple(abspaths(args.paths)), model=args.model, session=args.session,
        context=ContextOptions(path=args.context, enabled=args.use_context, budget=args.context_budget,
                               root=getattr(args, "root", None)),
        root=getattr(args, "root", None), max_tokens=args.max_tokens, temperature=args.temperature,
        repair_rounds=args.repair_rounds, outputs=args.outputs, clear_outputs=args.clear_outputs,
        structured=args.structured)


@REGISTRY.command("apply", "edit", help="apply a proposed edit without asking the model again",
                  args=[arg("edit_id", metavar="ID", help="the edit's id (`aiex list edits`)"),
                        arg("-y", "--yes", action="store_true", help="apply without showing the diff and asking"),
                        arg("--commit", action="store_true", help="commit the edited files alone (git)"),
                        arg("--test", metavar="CMD", help="run CMD in the project root afterwards")])
def apply_edit_command(args, ctx) -> Result:
    """Apply a stored proposal: refused if a file changed since it was proposed."""
    return ctx.run_edit(None, args, edit_id=args.edit_id)


@REGISTRY.command("undo", "edit", help="restore the files an edit changed (again: the edit before it)",
                  args=[arg("edit_id", nargs="?", metavar="ID", help="the edit (default: the latest applied)")])
def undo_edit_command(args, ctx) -> Result:
    """Put back the files as they were before the edit, from the backups in the data directory; refused
    if a file changed since. Without an ID, repeated undos walk back through earlier edits."""
    from ...runtime.edits import undo_edit

    undone = undo_edit(ctx.service, args.edit_id)
    return Result({"edit": undone.edit, "files": list(undone.files), "root": undone.root},
                  human=f"Undid edit {undone.edit}: restored {', '.join(undone.files)}.")


@REGISTRY.command("list", "edits", help="the edits proposed and applied, newest first", plural="edit",
                  args=[arg("--limit", type=int, default=20, metavar="N", help="at most N (default 20)")])
def list_edits(args, ctx) -> Result:
    """Every edit in the event log: its id, status (proposed, applied, undone), files and instruction."""
    import time

    from ...runtime.edits import edit_history

    rows = list(reversed(edit_history(ctx.service)))[:max(0, args.limit)]
    if not rows:
        return Result({"edits": []}, records=[], human="No edits yet: `aiex edit PATH -p 'what to change'`.")
    lines = []
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(r["applied_at"] or r["proposed_at"]))
        test = "" if r["test"] is None else (" test passed" if r["test"] == 0 else f" test failed ({r['test']})")
        lines.append(f"{r['edit']}  {r['status']:<8} {when}  {', '.join(r['files']) or '(no change)'}{test}\n"
                     f"            {r['instruction'][:90]}")
    return Result({"edits": rows}, records=rows, human="\n".join(lines))


@REGISTRY.command("show", "edit", help="an edit's diff, and what was refused",
                  args=[arg("edit_id", metavar="ID", help="the edit's id (`aiex list edits`)")])
def show_edit(args, ctx) -> Result:
    from ...runtime.edits import load_proposal

    proposal = load_proposal(ctx.service, args.edit_id)
    return Result(proposal_data(proposal), human=proposal_text(proposal) + "\n" + proposal.diff.rstrip())


def proposal_data(proposal) -> dict:
    return {"edit": proposal.edit, "status": proposal.status, "instruction": proposal.instruction,
            "root": proposal.root, "rounds": proposal.rounds, "conflicts": proposal.conflicts,
            "files": [{"path": f.path, "kind": f.kind, "added": f.counts()[0], "removed": f.counts()[1],
                       "hunks": len(f.hunks)} for f in proposal.files],
            "blocks": proposal.applied_blocks, "refused": proposal.refused, "diff": proposal.diff}


def proposal_text(proposal) -> str:
    """What a proposal comes to, for people: the files and how each block matched, what was refused, and why."""
    lines = [f"Edit {proposal.edit} ({proposal.status}): {proposal.instruction.splitlines()[0][:100]}"
             if proposal.instruction else f"Edit {proposal.edit} ({proposal.status})"]
    for f in proposal.files:
        added, removed = f.counts()
        what = {"create": "new file", "delete": "deleted"}.get(f.kind, f"+{added} -{removed}")
        lines.append(f"  {f.path}: {what}, {len(f.hunks)} hunk{'s' if len(f.hunks) != 1 else ''}")
    tolerant = [b for b in proposal.applied_blocks if b.get("how") not in ("exact", "created", "deleted", "new cell",
                                                                           "cell deleted", "cell, exact", "written")]
    for b in tolerant:
        lines.append(f"  block {b['number']} ({b['path']} {b.get('target', '')}".rstrip() + f") matched by {b['how']}")
    for r in proposal.refused:
        where = f"{r['block'].get('path', '')} {r['block'].get('target', '')}".strip() or "answer"
        number = r["block"].get("number")
        lines.append(f"  refused{f' block {number}' if number else ''} ({where}): {r['reason']}")
    if proposal.rounds > 1:
        lines.append(f"  ({proposal.rounds} model calls: {proposal.rounds - 1} repair round"
                     f"{'s' if proposal.rounds > 2 else ''})")
    if proposal.conflicts:
        lines.append(f"  changed on disk since: {', '.join(proposal.conflicts)} (apply is refused; propose again)")
    return "\n".join(lines)
