"""``%aiex edit`` / ``%%aiex edit`` in a notebook: the proposal streams its progress, then a review widget.

``--yes`` applies at once and shows the diff; ``--dry-run`` shows it with no buttons.
Otherwise the :class:`~aiex_kernel.interfaces.widgets.edits.EditReview` widget takes
Apply / Reject per hunk, per file or for all; once applied, ``--test CMD`` runs in a
thread and, while it fails and repair rounds are left, the model's repair appears
below as a review of its own. In a terminal IPython (no widgets) the diff is
printed and the answer asked with ``input()``.
"""

from __future__ import annotations

import html
import threading
from dataclasses import replace

from ...core.events import Answered, Delta, Failed, Noted, TurnStarted
from ...errors import EditError, EditRefused, Interrupted
from ..commands import Result
from ..commands.edits import proposal_data, proposal_text

__all__ = ["run_edit"]


def _propose(surface, request):
    """Run the proposal's turns with a progress line that updates; the ``EditProposed`` event."""
    from IPython.display import HTML, display

    from ...runtime.service import raise_failed

    handle = display(HTML("<i>asking for edits…</i>"), display_id=True) if surface.in_kernel else None
    proposed, chars, model = None, 0, ""
    stream = surface.service.edit_sync(request)
    try:
        for event in stream:
            if isinstance(event, TurnStarted):
                model, chars = event.model, 0
            elif isinstance(event, Delta):
                chars += len(event.text)
                if handle is not None and chars % 200 < len(event.text):
                    handle.update(HTML(f"<i>{html.escape(model)} is writing edits… {chars:,} characters</i>"))
            elif isinstance(event, Noted):
                surface.note(event.text)
            elif isinstance(event, Failed):
                raise_failed(event)
            elif isinstance(event, Answered) and handle is not None:
                handle.update(HTML(f"<i>{html.escape(model)} answered; placing the blocks…</i>"))
            elif event.KIND == "EditProposed":
                proposed = event
    except KeyboardInterrupt:
        stream.cancel()
        raise Interrupted("stopped; nothing was proposed or written") from None
    finally:
        if handle is not None:
            handle.update(HTML(""))
    if proposed is None:
        raise EditError("The model gave no proposal.")
    return proposed


def _diff_view(proposal, summary: str):
    from IPython.display import HTML

    from ..widgets.edits import diff_html

    return HTML(f"<pre>{html.escape(summary)}</pre>" + (diff_html(proposal.diff) if proposal.diff else ""))


def run_edit(surface, request, args, edit_id: str | None = None) -> Result:
    from IPython.display import display

    from ...runtime.edits import load_proposal

    if edit_id is None:
        edit_id = _propose(surface, request).edit
    proposal = load_proposal(surface.service, edit_id)
    summary = proposal_text(proposal)
    data = proposal_data(proposal)
    if not proposal.files:
        raise EditRefused("Nothing to apply: " + ("; ".join(r["reason"] for r in proposal.refused[:3])
                                                  or "the answer changes nothing") + ".")
    if proposal.status != "proposed":
        raise EditError(f"Edit {edit_id} is {proposal.status}; it is not applied again." if proposal.status != "conflict"
                        else f"{', '.join(proposal.conflicts)} changed since edit {edit_id} was proposed, so it is "
                             "not applied (nothing was written). Propose it again.")
    runner = _Runner(surface, request, args, proposal)
    if getattr(args, "dry_run", False):
        display(_diff_view(proposal, summary))
        surface.note(f"not applied (--dry-run); `%aiex apply edit {edit_id}` applies it")
        return Result(data, human="", shown=True)
    if args.yes or not surface.in_kernel:
        display(_diff_view(proposal, summary)) if surface.in_kernel else print(summary + "\n" + proposal.diff)
        if not args.yes and not _confirm(f"Apply edit {edit_id}? [y/N] "):
            surface.note(f"not applied; `%aiex apply edit {edit_id}` applies it later")
            return Result(data, human="", shown=True)
        surface.note(runner.apply(None))
        runner.after_apply(blocking=True)
        return Result(data, human="", shown=True)
    review = runner.review()
    display(review)
    surface.shell.user_ns["_aiex_edit"] = review
    return Result(data, human="", shown=True)


def _confirm(question: str) -> bool:
    try:
        return input(question).strip().lower() in ("y", "yes")
    except EOFError:
        return False


class _Runner:
    """Applies what the review chose, runs the test, and asks for repairs (in a thread, below the review)."""

    def __init__(self, surface, request, args, proposal, rounds_used: int = 0) -> None:
        self.surface, self.request, self.args, self.proposal = surface, request, args, proposal
        self.rounds_used = rounds_used
        self.widget = None
        self.thread: threading.Thread | None = None

    def review(self):
        from ..widgets.edits import EditReview

        self.widget = EditReview(self.proposal, summary=proposal_text(self.proposal), on_apply=self._on_apply,
                                 on_undo=self._on_undo)
        return self.widget

    def apply(self, chosen) -> str:
        from ...runtime.edits import apply_edit

        applied = apply_edit(self.surface.service, self.proposal.edit, chosen, commit=self.args.commit)
        self.applied = applied
        return (f"Applied edit {self.proposal.edit} to {', '.join(f['path'] for f in applied.files)}"
                + (f" (commit {applied.commit[:10]})" if applied.commit else "")
                + "; `%aiex undo edit` (or Undo) reverts it.")

    def _on_apply(self, chosen) -> str:
        message = self.apply(chosen)
        if getattr(self.args, "test", None):
            self.thread = threading.Thread(target=self.after_apply, name="aiex-edit-test", daemon=True)
            self.thread.start()
        return message

    def _on_undo(self) -> str:
        from ...runtime.edits import undo_edit

        undone = undo_edit(self.surface.service, self.proposal.edit)
        return f"Undid edit {undone.edit}: restored {', '.join(undone.files)}."

    def _say(self, text: str) -> None:
        if self.widget is not None:
            from IPython.display import HTML

            self.widget.output.append_display_data(HTML(f"<pre>{html.escape(text)}</pre>"))
        else:
            self.surface.note(text)

    def after_apply(self, blocking: bool = False) -> None:
        """``--test CMD``; while it fails and rounds are left, a repair proposal (reviewed like the first)."""
        from ...runtime.edits import apply_edit, load_proposal, run_test

        command = getattr(self.args, "test", None)
        if not command:
            return
        tested = run_test(self.surface.service, self.proposal.edit, command, self.proposal.root)
        if tested.exit_code == 0:
            self._say(f"`{command}` passed.")
            return
        rounds = self.request.repair_rounds if self.request is not None else 0
        if self.request is None or self.rounds_used >= rounds:
            self._say(f"`{command}` failed (exit {tested.exit_code}); `%aiex undo edit` reverts the edit.\n"
                      f"{tested.output[-3000:]}")
            return
        self._say(f"`{command}` failed (exit {tested.exit_code}); asking for a repair "
                  f"({self.rounds_used + 1} of {rounds}).\n{tested.output[-1500:]}")
        request = replace(self.request, parent=self.proposal.edit, feedback=tested.output)
        try:
            proposed = _quiet_propose(self.surface, request)
        except Exception as exc:  # an AiexError from the model call: said where the user looks
            self._say(f"The repair failed: {type(exc).__name__}: {exc}")
            return
        proposal = load_proposal(self.surface.service, proposed.edit)
        nxt = _Runner(self.surface, self.request, self.args, proposal, self.rounds_used + 1)
        if not proposal.files:
            self._say("The repair changes nothing: " + "; ".join(r["reason"] for r in proposal.refused[:3]))
            return
        if blocking or self.args.yes:
            self._say(proposal_text(proposal) + "\n" + proposal.diff)
            apply_edit(self.surface.service, proposal.edit, None, commit=self.args.commit)
            self._say(f"Applied repair {proposal.edit}.")
            nxt.widget = self.widget
            nxt.after_apply(blocking=blocking)
            return
        review = nxt.review()
        if self.widget is not None:
            self.widget.output.append_display_data(review.view)


def _quiet_propose(surface, request):
    proposed = None
    for event in surface.service.edit_sync(request):
        if isinstance(event, Failed):
            from ...runtime.service import raise_failed

            raise_failed(event)
        if event.KIND == "EditProposed":
            proposed = event
    if proposed is None:
        raise EditError("The model gave no proposal.")
    return proposed
