"""How answers look in a notebook: streamed as they arrive into a display that stays, rendered in the
asked format (``-f``), ending with their sources."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from ...core.llm import AiexResponse, code_blocks
from ...core.prompts import looks_like_math

__all__ = ["AiexResult", "DryRun", "StreamView"]


class DryRun(dict):
    """What ``--dry-run`` returns: the plan as a dict (model, messages, context, redacted), shown as the
    exact messages that would be sent."""

    def __init__(self, data: dict, text: str) -> None:
        super().__init__(data)
        self.text = text

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(self.text)


@dataclass
class AiexResult(AiexResponse):
    """An answer that knows how to display itself (``-f FORMAT``)."""

    format: str = "markdown"
    model_id: str = ""
    #: the project code the answer was grounded in, most relevant first (see ``aiex ask --json``)
    sources: list = field(default_factory=list)
    session: str = ""
    turn: str = ""
    #: a comparison's selected answer: the other answers, and why this one (the Selected event)
    others: list = field(default_factory=list)
    selection: Any = None

    @classmethod
    def of_outcome(cls, outcome, fmt: str) -> AiexResult:
        a = outcome.answer
        text = outcome.text
        return cls(text=text, model=a.model, provider=a.provider, finish_reason=a.finish_reason,
                   input_tokens=a.input_tokens, output_tokens=a.output_tokens, latency_s=a.latency_s,
                   ttft_s=a.ttft_s, cost_usd=a.cost_usd, code_blocks=code_blocks(text), format=fmt,
                   model_id=outcome.started.model if outcome.started else "", sources=outcome.sources,
                   session=outcome.started.session if outcome.started else "",
                   turn=outcome.started.turn if outcome.started else "")

    @property
    def code(self) -> str:
        """The answer's code: its fenced blocks joined, or the whole text when it has none."""
        return "\n".join(b.code.rstrip("\n") for b in self.code_blocks) if self.code_blocks else self.text

    def problems(self) -> list[str]:
        """What the user should know about how the answer is shown (it is not what -f asked for)."""
        if self.format == "json" and self._json() is None:
            return ["the answer is not valid JSON (shown as text); -f json asks for JSON, but the model did not "
                    "comply"]
        if self.format == "math" and not looks_like_math(self.text):
            return ["the answer is prose, not LaTeX math; shown as Markdown"]
        return []

    def _json(self):
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    def summary(self) -> str:
        parts = [self.model_id or f"{self.provider}:{self.model}"]
        if self.input_tokens is not None and self.output_tokens is not None:
            parts.append(f"{self.input_tokens} in / {self.output_tokens} out tokens")
        if self.cost_usd:
            parts.append(f"${self.cost_usd:.5f}")
        if self.latency_s is not None:
            parts.append(f"{self.latency_s:.1f} s")
        return "[" + " · ".join(parts) + "]"

    def __repr__(self) -> str:
        return f"<AiexResult {self.summary()} {len(self.text)} chars>"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, Any]:
        from ..render import sources_text

        plain = self.summary()
        fmt = self.format
        if fmt == "text":
            listed = sources_text(self.sources)
            return {"text/plain": self.text + (f"\n\n{listed}" if listed else "")}
        if fmt == "html":
            return {"text/html": self.text + _sources_html(self.sources), "text/plain": plain}
        if fmt == "math" and looks_like_math(self.text):
            return {"text/latex": f"$$\n{self.text.strip()}\n$$", "text/plain": plain}
        if fmt == "json":
            value = self._json()
            if value is not None:
                return {"application/json": value, "text/plain": plain}
            return {"text/markdown": f"```\n{self.text}\n```", "text/plain": plain}
        listed = sources_text(self.sources, markdown=True)
        return {"text/markdown": self.text + (f"\n\n---\n{listed}" if listed else ""), "text/plain": plain}


def _sources_html(sources: list) -> str:
    import html

    from ..render import SOURCES_SHOWN

    if not sources:
        return ""
    items = "".join(f"<li><code>{html.escape(s['path'])}:{s['start_line']}-{s['end_line']}</code> "
                    f"{html.escape(s['name'])}</li>" for s in sources[:SOURCES_SHOWN])
    return f"<hr><p><b>Sources</b> (most relevant first):</p><ul>{items}</ul>"


class StreamView:
    """Shows text deltas as they arrive: an updating display in a kernel, stdout in a terminal.

    The display stays when the answer is complete (:meth:`finish` renders it there in
    its format), so an answer is seen even when the magic is not the cell's last
    statement; the surface removes it when the answer becomes the cell's value.
    """

    #: seconds between display updates in a notebook (each one is a message to the browser)
    INTERVAL = 0.05

    def __init__(self, shell, fmt: str = "markdown", *, stream: bool = True) -> None:
        self.in_kernel = getattr(shell, "kernel", None) is not None
        self.fmt = fmt
        self.stream = stream
        self.parts: list[str] = []
        self._handle = None
        self._last = 0.0
        self._wrote = False

    def __call__(self, delta: str) -> None:
        self.parts.append(delta)
        if not self.stream:
            return
        if not self.in_kernel:
            sys.stdout.write(delta)
            sys.stdout.flush()
            self._wrote = True
            return
        now = time.perf_counter()
        if now - self._last >= self.INTERVAL:
            self._show(self._bundle("".join(self.parts)))
            self._last = now

    def _bundle(self, text: str) -> dict:
        return {"text/markdown": text, "text/plain": text} if self.fmt != "text" else {"text/plain": text}

    def _show(self, data: dict) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)

    def finish(self, result: AiexResult):
        """The complete answer, rendered in its format where it streamed; the display handle (None in a
        terminal, where the text has already been written)."""
        if not self.in_kernel:
            if self._wrote:
                sys.stdout.write("\n")
                sys.stdout.flush()
            return None
        self._show(result._repr_mimebundle_())
        return self._handle

    def stopped(self) -> None:
        """Interrupted: what streamed stays, marked as stopped."""
        text = "".join(self.parts)
        if self.in_kernel:
            self._show(self._bundle((text + "\n\n" if text else "") + "*(stopped)*"))
        elif self._wrote:
            sys.stdout.write("\n")
            sys.stdout.flush()

    def clear(self) -> None:
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
        elif self._wrote:
            sys.stdout.write("\n")
            sys.stdout.flush()
