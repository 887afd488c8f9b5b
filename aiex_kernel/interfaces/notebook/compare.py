"""A comparison in a notebook: the widget, fed by the service's events, and what the cell gets back."""

from __future__ import annotations

import threading

from ...errors import Interrupted
from ..commands import Result
from ..turns import CompareOutcome, follow_compare
from .display import AiexResult

__all__ = ["CompareResult", "CompareRun"]


class CompareResult:
    """Every answer of a comparison (``_aiex_compare``, ``-o VAR``): ``answers`` in slot order, ``vote(choice)``."""

    def __init__(self, run: CompareRun) -> None:
        self._run = run

    @property
    def compare_id(self) -> str | None:
        started = self._run.outcome.started
        return started.compare if started else None

    @property
    def answers(self) -> list[AiexResult]:
        return [self._run.result(i) for i in range(len(self._run.outcome.slots))]

    @property
    def selected(self) -> AiexResult | None:
        sel = self._run.outcome.selected
        return None if sel is None else self._run.result(ord(sel.letter) - ord("a"))

    def vote(self, choice: str):
        return self._run.vote(choice)

    def __repr__(self) -> str:
        slots = ", ".join(f"{s.letter}: {s.status}" for s in self._run.outcome.slots)
        return f"<CompareResult {self.compare_id} ({slots})>"


class CompareRun:
    def __init__(self, surface, request, stream, outcome: CompareOutcome, output: str | None) -> None:
        self.surface, self.request, self.stream, self.outcome, self.output = surface, request, stream, outcome, output
        self.widget = None
        self.thread: threading.Thread | None = None
        self.comparison = CompareResult(self)
        self.origin = surface.cell_id() if surface.in_kernel else None  #: the cell that asked

    # -- answers ----------------------------------------------------------------------------------

    def result(self, i: int) -> AiexResult:
        from ...core.llm import code_blocks

        slot = self.outcome.slots[i]
        a = slot.answer
        started = self.outcome.started
        return AiexResult(text=slot.text, model=a.model if a else "", provider=a.provider if a else "",
                          finish_reason=a.finish_reason if a else ("error" if slot.failed else "stopped"),
                          input_tokens=a.input_tokens if a else None, output_tokens=a.output_tokens if a else None,
                          latency_s=a.latency_s if a else None, ttft_s=a.ttft_s if a else None,
                          cost_usd=a.cost_usd if a else None, code_blocks=code_blocks(slot.text),
                          format=self.request.format, model_id=slot.model,
                          sources=list(self.outcome.context.sources) if self.outcome.context else [],
                          session=started.session if started else "", turn=slot.turn)

    def use(self, i: int) -> None:
        """Bind answer ``i`` to ``_aiex`` (and ``-o``); from the widget, its code also fills the cell below."""
        result = self.result(i)
        self.surface.last = result
        self.surface.shell.user_ns["_aiex"] = result
        if self.output:
            self.surface.shell.user_ns[self.output] = result

    def use_from_widget(self, i: int) -> None:
        self.use(i)
        result = self.surface.last
        if result.code_blocks and self.widget is not None:
            self.surface.insert(result, origin=self.origin, output=self.widget.output)

    def vote(self, choice: str):
        if self.outcome.started is None:
            raise RuntimeError("the comparison has not started")
        return self.surface.service.vote(self.outcome.started.compare, choice)

    # -- feeding the widget -----------------------------------------------------------------------

    def show(self) -> None:
        """The widget, shown before the first request leaves (the models are placed when the comparison starts:
        a blind one shuffles them, and shows none before the vote)."""
        from IPython.display import display

        from ..widgets.compare import CompareWidget

        n = len(self.request.models)
        self.widget = CompareWidget([chr(ord("a") + i) for i in range(n)],
                                    [] if self.request.blind else list(self.request.models),
                                    blind=self.request.blind, on_vote=self.vote, on_use=self.use_from_widget,
                                    on_stop=self._stop)
        display(self.widget.view)

    def _stop(self) -> None:
        if self.stream is not None:
            self.stream.cancel()

    def _changed(self, i: int) -> None:
        slot = self.outcome.slots[i]
        if slot.answer is not None:
            self.widget.finish(i, text=slot.text, figures=slot.to_dict())
        elif slot.failed is not None:
            self.widget.finish(i, error=f"{slot.failed.error}: {slot.failed.message}")
        else:
            self.widget.update(i, slot.text)

    def _feed(self) -> None:
        from ...core.events import CompareStarted

        if self.stream is None:
            self.stream = self.surface.service.compare_sync(self.request)
        for event in self.stream:
            follow_compare([event], on_change=self._changed, on_note=self.surface.note, outcome=self.outcome)
            if isinstance(event, CompareStarted) and self.widget is not None:
                self.widget.set_models([s["model"] for s in event.slots])
        self._finished()

    def _finished(self) -> None:
        ns = self.surface.shell.user_ns
        ns["_aiex_compare"] = self.comparison
        if self.output:
            ns[self.output] = self.comparison if self.outcome.selected is None else self.comparison.selected
        if self.widget is None:
            return
        if self.stream.cancelled:
            self.widget.stopped()
        else:
            sel = self.outcome.selected
            note = "" if sel is None else f"selected {sel.letter.upper()} by {sel.how}: {sel.why}"
            self.widget.done(note)

    def start_background(self) -> None:
        """Stream into the widget from a thread: the cell returns now, the kernel stays free (Stop works)."""
        self.show()
        self.stream = self.surface.service.compare_sync(self.request)
        self.thread = threading.Thread(target=self._feed, name="aiex-compare", daemon=True)
        self.thread.start()

    def blocking(self) -> Result:
        """Stream in this cell and return the selected answer (the others attached) as its value."""
        self.show()
        try:
            self._feed()
        except KeyboardInterrupt:
            self.stream.cancel()
            if self.widget is not None:
                self.widget.stopped()
            raise Interrupted("stopped every model still answering; what had streamed is kept") from None
        return Result(self.outcome.to_dict(), human="", value=self._selected(), shown=True)

    def _selected(self) -> AiexResult | None:
        """The selected answer, with the others attached and why it won; bound like `use` binds."""
        selected = self.comparison.selected
        if selected is not None:
            selected.others = [r for r in self.comparison.answers if r.turn != selected.turn]
            selected.selection = self.outcome.selected
            self.use(ord(self.outcome.selected.letter) - ord("a"))
            if self.output:
                self.surface.shell.user_ns[self.output] = selected
        return selected

    def in_terminal(self, args) -> Result:
        """IPython in a terminal: the answers and their figures as text (no widget)."""
        from ..compare_view import figures

        self.stream = self.surface.service.compare_sync(self.request)
        try:
            follow_compare(self.stream, on_note=self.surface.note, outcome=self.outcome)
        except KeyboardInterrupt:
            self.stream.cancel()
            raise Interrupted("stopped every model still answering") from None
        self._finished()
        blind = bool(self.outcome.started and self.outcome.started.blind)
        for s in self.outcome.slots:
            title = s.letter.upper() + ("" if blind else f" · {s.model}")
            print(f"── {title} ──\n{s.text if not s.failed else s.failed.error + ': ' + s.failed.message}\n")
        from rich.console import Console

        Console().print(figures(self.outcome))
        return Result(self.outcome.to_dict(), human="", value=self._selected(), shown=True)
