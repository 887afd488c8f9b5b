"""The side-by-side comparison widget (ipywidgets).

One column per model that fills as its answer streams (Markdown with highlighted
code), a footer per column (latency, time to first token, tokens, cost), a diff of
the code blocks of any two answers, vote buttons (A better / B better / tie / both
bad; with more models the best of N), "use this answer" per column, and a Stop
button while it streams. With ``blind``, no model name reaches the front end before
the vote (headers are letters, the columns were shuffled by the service); voting
reveals them.

The widget is plain state (its children's values) driven by :meth:`CompareWidget.update`
and :meth:`CompareWidget.finish`; a column's display is updated at most once per
``INTERVAL`` seconds while it streams, so four streaming columns send at most 80
messages a second.
"""

from __future__ import annotations

import difflib
import html
import time
from collections.abc import Callable

from ...core.llm import code_blocks
from .markdown import markdown_html

__all__ = ["CompareWidget"]

#: seconds between two updates of one column's display
INTERVAL = 0.05
_CSS = ("<style>.aiex-col{border:1px solid #ddd;border-radius:4px;padding:4px 8px;overflow:auto;max-height:520px}"
        ".aiex-foot{color:#666;font-size:85%}</style>")


class CompareWidget:
    def __init__(self, letters: list[str], models: list[str], *, blind: bool = False,
                 on_vote: Callable[[str], object] | None = None, on_use: Callable[[int], object] | None = None,
                 on_stop: Callable[[], object] | None = None) -> None:
        import ipywidgets as w

        self.letters, self._models, self.blind = letters, models, blind
        self.revealed = not blind
        self.on_vote, self.on_use, self.on_stop = on_vote, on_use, on_stop
        self.texts = ["" for _ in letters]
        self.status = ["waiting" for _ in letters]
        self._last = [0.0 for _ in letters]
        self._dirty = [False for _ in letters]
        self.messages = [0 for _ in letters]  #: display updates sent per column (for the benchmark)
        self.headers = [w.HTML(self._header(i)) for i in range(len(letters))]
        self.bodies = [w.HTML(f"{_CSS}<div class='aiex-col'>…</div>") for _ in letters]
        self.footers = [w.HTML("<div class='aiex-foot'>waiting</div>") for _ in letters]
        self.use_buttons = [w.Button(description=f"Use {letter.upper()}", disabled=True,
                                     tooltip="bind this answer to _aiex") for letter in letters]
        for i, button in enumerate(self.use_buttons):
            button.on_click(lambda _b, i=i: self._use(i))
        columns = [w.VBox([self.headers[i], self.bodies[i], self.footers[i], self.use_buttons[i]],
                          layout=w.Layout(width=f"{100 / len(letters):.2f}%")) for i in range(len(letters))]
        options = [(letter.upper(), i) for i, letter in enumerate(letters)]
        self.diff_left = w.Dropdown(options=options, value=0, description="diff code")
        self.diff_right = w.Dropdown(options=options, value=1 if len(letters) > 1 else 0, description="with")
        self.diff = w.HTML("")
        for d in (self.diff_left, self.diff_right):
            d.observe(lambda _change: self._show_diff(), names="value")
        if len(letters) == 2:
            choices = [("A better", "a"), ("B better", "b"), ("tie", "tie"), ("both bad", "bad")]
        else:
            choices = [(f"{letter.upper()} best", letter) for letter in letters] + [("tie", "tie"),
                                                                                  ("all bad", "bad")]
        self.vote_buttons = [w.Button(description=label, disabled=True) for label, _ in choices]
        for button, (_, choice) in zip(self.vote_buttons, choices):
            button.on_click(lambda _b, choice=choice: self.vote(choice))
        self.stop_button = w.Button(description="Stop", button_style="warning")
        self.stop_button.on_click(lambda _b: self._stop())
        self.note = w.HTML("")
        self.output = w.Output()  #: where "use this answer" puts what fills the next cell
        self.view = w.VBox([w.HBox(columns), w.HBox([self.diff_left, self.diff_right]), self.diff,
                            w.HBox([*self.vote_buttons, self.stop_button]), self.note, self.output])
        self.voted: str | None = None
        markdown_html("`warm`")  # the renderer is built now, before the first tokens arrive

    # -- state ----------------------------------------------------------------------------------

    def set_models(self, models: list[str]) -> None:
        """The slots' models, once the service has placed them (a blind comparison shuffles them)."""
        self._models = list(models)
        for i, header in enumerate(self.headers):
            header.value = self._header(i)

    def _name(self, i: int) -> str:
        return self._models[i] if self.revealed else ""

    def _header(self, i: int) -> str:
        name = self._name(i)
        return f"<b>{self.letters[i].upper()}</b>" + (f" · <code>{html.escape(name)}</code>" if name else "")

    def update(self, i: int, text: str, *, force: bool = False) -> None:
        """Column ``i`` now reads ``text`` (shown at most once per INTERVAL unless ``force``)."""
        self.texts[i] = text
        self.status[i] = "streaming"
        now = time.monotonic()
        if force or now - self._last[i] >= INTERVAL:
            self._render(i)
            self._last[i] = now
            self._dirty[i] = False
        else:
            self._dirty[i] = True

    def _render(self, i: int) -> None:
        self.bodies[i].value = f"{_CSS}<div class='aiex-col'>{markdown_html(self.texts[i]) or '…'}</div>"
        self.messages[i] += 1

    def finish(self, i: int, *, text: str | None = None, error: str | None = None, figures: dict | None = None) -> None:
        """Column ``i`` is done: its whole answer (or its error) and its figures."""
        if error is not None:
            self.status[i] = "failed"
            self.bodies[i].value = f"{_CSS}<div class='aiex-col' style='color:#b00'>{html.escape(error)}</div>"
            self.footers[i].value = "<div class='aiex-foot'>failed</div>"
        else:
            self.status[i] = "answered"
            self.texts[i] = text if text is not None else self.texts[i]
            self._render(i)
            self.footers[i].value = f"<div class='aiex-foot'>{html.escape(_figures(figures or {}))}</div>"
            self.use_buttons[i].disabled = False
        if all(s in ("answered", "failed") for s in self.status):
            self.done()

    def done(self, note: str = "") -> None:
        """Every column finished (or the comparison stopped): votes open, Stop closes."""
        for i, dirty in enumerate(self._dirty):
            if dirty:
                self._render(i)
                self._dirty[i] = False
        self.stop_button.disabled = True
        self.stop_button.button_style = ""
        answered = sum(s == "answered" for s in self.status)
        for button in self.vote_buttons:
            button.disabled = self.voted is not None or answered == 0
        self._show_diff()
        if note:
            self.note.value = html.escape(note)

    def stopped(self) -> None:
        for i, status in enumerate(self.status):
            if status in ("waiting", "streaming"):
                self.status[i] = "stopped"
                self.footers[i].value = "<div class='aiex-foot'>stopped</div>"
        self.done("stopped: what had streamed is kept")

    def vote(self, choice: str) -> None:
        """Record the verdict (``on_vote``), close the votes and reveal the models of a blind comparison."""
        if self.voted is not None:
            return
        if self.on_vote is not None:
            self.on_vote(choice)
        self.voted = choice
        for button in self.vote_buttons:
            button.disabled = True
        self.revealed = True
        for i, header in enumerate(self.headers):
            header.value = self._header(i)
        label = {"tie": "a tie", "bad": "all bad"}.get(choice, f"{choice.upper()} was better")
        self.note.value = html.escape(f"voted: {label}")

    def _use(self, i: int) -> None:
        if self.on_use is not None:
            self.on_use(i)
        self.note.value = html.escape(f"{self.letters[i].upper()} is in _aiex"
                                      + (" and its code in the cell below" if code_blocks(self.texts[i]) else ""))

    def _stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()

    def _show_diff(self) -> None:
        a, b = self.diff_left.value, self.diff_right.value
        if a == b:
            self.diff.value = ""
            return
        left = "\n".join(blk.code for blk in code_blocks(self.texts[a])).splitlines()
        right = "\n".join(blk.code for blk in code_blocks(self.texts[b])).splitlines()
        if not left and not right:
            self.diff.value = "<i>neither answer has a code block</i>"
            return
        table = difflib.HtmlDiff(wrapcolumn=60).make_table(left, right, self.letters[a].upper(),
                                                           self.letters[b].upper(), context=True, numlines=2)
        self.diff.value = table


def _figures(f: dict) -> str:
    parts = []
    if f.get("latency_s") is not None:
        parts.append(f"{f['latency_s']:.2f} s")
    if f.get("ttft_s") is not None:
        parts.append(f"first token {f['ttft_s']:.2f} s")
    if f.get("output_tokens") is not None:
        parts.append(f"{f.get('input_tokens') or '?'} in / {f['output_tokens']} out tokens")
    if f.get("cost_usd") is not None:
        parts.append(f"${f['cost_usd']:.5f}")
    return " · ".join(parts) or "answered"
