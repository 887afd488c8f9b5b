"""The edit review widget (ipywidgets): a proposal's diff with Apply / Reject per hunk, per file and for all.

Each file shows its path and counts with "Apply file" / "Reject file"; each hunk (a
run of changed lines with three lines around it, or one cell of a notebook) its
rendered diff and an Apply | Reject toggle. "Apply selected" writes the hunks left
on Apply, "Apply all" every hunk, "Reject all" nothing. Once applied, an Undo button
puts the files back. The widget is plain state: :attr:`EditReview.choices` says what
is selected, and the callbacks do the work (``on_apply(chosen)`` with a set of hunk
indices per path, ``on_undo()``), so tests drive it through its model.
"""

from __future__ import annotations

import html
from collections.abc import Callable

__all__ = ["EditReview", "diff_html", "hunk_text"]

_CSS = ("<style>.aiex-diff{font-family:var(--jp-code-font-family,monospace);font-size:12px;white-space:pre;"
        "overflow:auto;border:1px solid #ddd;border-radius:3px;margin:2px 0}"
        ".aiex-diff .a{background:#e6ffec}.aiex-diff .d{background:#ffebe9}.aiex-diff .h{color:#6a737d;"
        "background:#f6f8fa}.aiex-note{color:#555}</style>")
CONTEXT = 3


def diff_html(text: str) -> str:
    """A unified diff as coloured HTML (added, deleted and header lines)."""
    rows = []
    for line in text.splitlines():
        cls = "h" if line.startswith(("@@", "---", "+++")) else "a" if line.startswith("+") else (
            "d" if line.startswith("-") else "")
        rows.append(f"<div class='{cls}'>{html.escape(line) or '&nbsp;'}</div>")
    return f"{_CSS}<div class='aiex-diff'>{''.join(rows)}</div>"


def hunk_text(change, hunk) -> str:
    """One hunk as a unified diff with ``CONTEXT`` lines around it (a notebook cell's or whole file's as is)."""
    diff = getattr(hunk, "diff", None)
    if diff is not None:
        return diff
    old = (change.before_text or "").splitlines()
    before = old[max(0, hunk.start - CONTEXT):hunk.start]
    after = old[hunk.end:hunk.end + CONTEXT]
    lines = [f"@@ -{hunk.start + 1},{hunk.end - hunk.start} +{hunk.new_start + 1},{len(hunk.new)} @@"]
    lines += [f" {line}" for line in before]
    lines += [f"-{line.rstrip(chr(10))}" for line in hunk.old]
    lines += [f"+{line.rstrip(chr(10))}" for line in hunk.new]
    lines += [f" {line}" for line in after]
    return "\n".join(lines)


class EditReview:
    def __init__(self, proposal, *, summary: str = "", on_apply: Callable[[dict[str, set[int]]], str] | None = None,
                 on_undo: Callable[[], str] | None = None) -> None:
        import ipywidgets as w

        self.proposal = proposal
        self.on_apply, self.on_undo = on_apply, on_undo
        self.toggles: dict[str, list] = {}
        self.state = "review"  #: review, applied, rejected, undone
        parts = [w.HTML(f"{_CSS}<pre class='aiex-note'>{html.escape(summary)}</pre>")] if summary else []
        for change in proposal.files:
            added, removed = change.counts()
            what = {"create": "new file", "delete": "deleted"}.get(change.kind, f"+{added} −{removed}")
            apply_file = w.Button(description="Apply file", layout=w.Layout(width="auto"))
            reject_file = w.Button(description="Reject file", layout=w.Layout(width="auto"))
            apply_file.on_click(lambda _b, p=change.path: self.set_file(p, True))
            reject_file.on_click(lambda _b, p=change.path: self.set_file(p, False))
            parts.append(w.HBox([w.HTML(f"<b>{html.escape(change.path)}</b> <span class='aiex-note'>{what}</span>"),
                                 apply_file, reject_file]))
            toggles = []
            for hunk in change.hunks:
                toggle = w.ToggleButtons(options=["Apply", "Reject"], value="Apply", style={"button_width": "64px"})
                toggle.observe(lambda _c: self._count(), names="value")
                toggles.append(toggle)
                parts.append(w.VBox([w.HTML(diff_html(hunk_text(change, hunk))), toggle]))
            self.toggles[change.path] = toggles
        self.apply_selected = w.Button(description="Apply selected", button_style="primary")
        self.apply_all = w.Button(description="Apply all", button_style="success")
        self.reject_all = w.Button(description="Reject all", button_style="danger")
        self.undo_button = w.Button(description="Undo", disabled=True)
        self.apply_selected.on_click(lambda _b: self.apply(self.choices))
        self.apply_all.on_click(lambda _b: self.apply(None))
        self.reject_all.on_click(lambda _b: self.reject())
        self.undo_button.on_click(lambda _b: self.undo())
        self.note = w.HTML("")
        self.output = w.Output()  #: what comes after: a test's output, a repair's review
        self.view = w.VBox([*parts, w.HBox([self.apply_selected, self.apply_all, self.reject_all, self.undo_button]),
                            self.note, self.output])
        self._count()

    # -- state ----------------------------------------------------------------------------------

    @property
    def choices(self) -> dict[str, set[int]]:
        """The hunks left on Apply, per path."""
        return {path: {i for i, t in enumerate(toggles) if t.value == "Apply"} for path, toggles in self.toggles.items()}

    def set_file(self, path: str, take: bool) -> None:
        for toggle in self.toggles[path]:
            toggle.value = "Apply" if take else "Reject"

    def _count(self) -> None:
        n = sum(len(v) for v in self.choices.values())
        total = sum(len(v) for v in self.toggles.values())
        self.apply_selected.description = f"Apply selected ({n} of {total})"
        self.apply_selected.disabled = self.state != "review" or n == 0

    def _lock(self) -> None:
        for toggles in self.toggles.values():
            for t in toggles:
                t.disabled = True
        for b in (self.apply_selected, self.apply_all, self.reject_all):
            b.disabled = True

    def say(self, text: str, *, error: bool = False) -> None:
        style = "color:#b00" if error else ""
        self.note.value = f"<div style='{style}'>{html.escape(text)}</div>"

    # -- actions --------------------------------------------------------------------------------

    def apply(self, chosen: dict[str, set[int]] | None) -> None:
        if self.state != "review" or self.on_apply is None:
            return
        try:
            message = self.on_apply(chosen)
        except Exception as exc:  # an AiexError (a conflict, a refused write): said in the widget, not raised
            self.say(f"{type(exc).__name__}: {exc}", error=True)
            return
        self.state = "applied"
        self._lock()
        self.undo_button.disabled = self.on_undo is None
        self.say(message)

    def reject(self) -> None:
        if self.state != "review":
            return
        self.state = "rejected"
        self._lock()
        self.say(f"Rejected: nothing was written. `%aiex apply edit {self.proposal.edit}` applies it later.")

    def undo(self) -> None:
        if self.state != "applied" or self.on_undo is None:
            return
        try:
            message = self.on_undo()
        except Exception as exc:  # an AiexError (the file changed since): said in the widget
            self.say(f"{type(exc).__name__}: {exc}", error=True)
            return
        self.state = "undone"
        self.undo_button.disabled = True
        self.say(message)

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.view)
