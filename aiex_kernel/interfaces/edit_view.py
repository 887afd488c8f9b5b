"""``aiex edit`` in a terminal: the model's proposal as a coloured diff, a confirmation, then apply / test / repair.

The loop, shared with ``aiex apply edit ID``::

    propose (status line on stderr) ─▶ diff + what matched and what was refused ─▶ [y/N] (or --yes)
        ─▶ apply (--commit) ─▶ --test CMD ─▶ failing: its output back to the model (--repair-rounds)

``--dry-run`` shows the proposal and writes nothing (it stays in the journal for
``aiex apply edit ID``).
"""

from __future__ import annotations

import sys
from dataclasses import replace

from ..core.events import Answered, Delta, Failed, Noted, TurnStarted
from .commands.edits import proposal_data, proposal_text
from .commands.registry import Result

__all__ = ["confirm_from_stdin", "run_edit_cli"]


def confirm_from_stdin(question: str) -> bool:
    """Ask on stderr, read the answer from stdin (a terminal or a pipe); end of input is no."""
    sys.stderr.write(question)
    sys.stderr.flush()
    line = sys.stdin.readline() if sys.stdin is not None else ""
    return line.strip().lower() in ("y", "yes")


def _console(file=None):
    from rich.console import Console

    return Console(file=file or sys.stdout, highlight=False, soft_wrap=True)


def _show(proposal, console) -> None:
    from rich.syntax import Syntax

    console.print(proposal_text(proposal))
    if proposal.diff:
        console.print(Syntax(proposal.diff.rstrip("\n"), "diff", theme="ansi_dark", background_color="default"))


def _propose(service, request, note, quiet: bool):
    """Run the proposal's turns with a live status line; the ``EditProposed`` event (None if a turn failed)."""
    from rich.status import Status

    from ..runtime.service import raise_failed

    proposed, chars, model = None, 0, ""
    status = Status("asking for edits...", console=_console(sys.stderr)) if not quiet else None
    if status is not None:
        status.start()
    try:
        for event in service.edit_sync(request):
            if isinstance(event, TurnStarted):
                model = event.model
                chars = 0
            elif isinstance(event, Delta):
                chars += len(event.text)
                if status is not None:
                    status.update(f"{model} is writing edits... {chars:,} characters")
            elif isinstance(event, Noted):
                note(event.text)
            elif isinstance(event, Failed):
                raise_failed(event)
            elif isinstance(event, Answered):
                if status is not None:
                    status.update(f"{model} answered; placing the blocks...")
            elif event.KIND == "EditProposed":
                proposed = event
    finally:
        if status is not None:
            status.stop()
    return proposed


def run_edit_cli(service, request, args, note, confirm=confirm_from_stdin, edit_id: str | None = None) -> Result:
    from ..errors import EditError, EditRefused
    from ..runtime.edits import apply_edit, load_proposal, run_test

    as_text = args.output == "text"
    console = _console()
    records, exit_code, rounds_used = [], 0, 0
    test = getattr(args, "test", None)
    repairs = request.repair_rounds if request is not None else 0
    while True:
        if edit_id is None:
            proposed = _propose(service, request, note, quiet=not as_text)
            if proposed is None:
                raise EditError("The model gave no proposal.")
            edit_id = proposed.edit
        proposal = load_proposal(service, edit_id)
        record = proposal_data(proposal)
        records.append(record)
        if as_text:
            _show(proposal, console)
        if not proposal.files:
            raise EditRefused("Nothing to apply: " + ("; ".join(r["reason"] for r in proposal.refused[:3])
                                                      or "the answer changes nothing") + ".")
        if proposal.status != "proposed":
            raise EditError(f"Edit {edit_id} is {proposal.status}, so it is not applied again."
                            if proposal.status != "conflict" else
                            f"{', '.join(proposal.conflicts)} changed since edit {edit_id} was proposed, so it is "
                            "not applied (nothing was written). Propose it again.")
        if getattr(args, "dry_run", False):
            note(f"not applied (--dry-run); `aiex apply edit {edit_id}` applies it")
            record["applied"] = False
            break
        if not args.yes and not confirm(f"Apply edit {edit_id} to {len(proposal.files)} file"
                                        f"{'s' if len(proposal.files) != 1 else ''}? [y/N] "):
            note(f"not applied; `aiex apply edit {edit_id}` applies it later")
            record["applied"] = False
            break
        applied = apply_edit(service, edit_id, commit=args.commit)
        record["applied"] = True
        record["commit"] = applied.commit
        note(f"applied edit {edit_id} to {', '.join(f['path'] for f in applied.files)}"
             + (f" (commit {applied.commit[:10]})" if applied.commit else "") + "; `aiex undo edit` reverts it")
        if not test:
            break
        tested = run_test(service, edit_id, test, proposal.root, applied.session)
        record["test"] = {"command": test, "exit_code": tested.exit_code, "output": tested.output[-2000:]}
        if tested.exit_code == 0:
            note(f"`{test}` passed")
            break
        if request is None or rounds_used >= repairs:
            note(f"`{test}` failed (exit {tested.exit_code})" + (f" after {rounds_used} repair round"
                                                                 f"{'s' if rounds_used != 1 else ''}"
                                                                 if rounds_used else "")
                 + "; `aiex undo edit` reverts the edits")
            if as_text:
                sys.stderr.write(tested.output[-3000:] + "\n")
            exit_code = 1
            break
        rounds_used += 1
        note(f"`{test}` failed (exit {tested.exit_code}); asking for a repair ({rounds_used} of {repairs})")
        request = replace(request, parent=edit_id, feedback=tested.output)
        edit_id = None
    data = {"edits": records}
    return Result(data, records=records, human="" if as_text else None, shown=as_text, exit_code=exit_code)
