"""How answers look in a notebook: streamed as they arrive, then rendered in the asked format."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field, fields
from typing import Any

from ..core.llm import AiexResponse

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
    """An :class:`AiexResponse` that knows how to display itself (``-f FORMAT``)."""

    format: str = "markdown"
    model_id: str = ""
    #: the project code the answer was grounded in, most relevant first (see ``aiex ask --json``)
    sources: list = field(default_factory=list)

    @classmethod
    def of(cls, response: AiexResponse, fmt: str, model_id: str, sources: list | None = None) -> AiexResult:
        values = {f.name: getattr(response, f.name) for f in fields(AiexResponse)}
        return cls(**values, format=fmt, model_id=model_id, sources=list(sources or []))

    @property
    def code(self) -> str:
        """The answer's code: its fenced blocks joined, or the whole text when it has none."""
        return "\n".join(b.code.rstrip("\n") for b in self.code_blocks) if self.code_blocks else self.text

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
        from .render import sources_text

        plain = self.summary()
        fmt = self.format
        if fmt == "text":
            listed = sources_text(self.sources)
            return {"text/plain": self.text + (f"\n\n{listed}" if listed else "")}
        if fmt == "html":
            return {"text/html": self.text + _sources_html(self.sources), "text/plain": plain}
        if fmt == "math":
            return {"text/latex": f"$$\n{self.text.strip()}\n$$", "text/plain": plain}
        if fmt == "json":
            try:
                return {"application/json": json.loads(self.text), "text/plain": plain}
            except ValueError:
                return {"text/markdown": f"```\n{self.text}\n```", "text/plain": plain}
        listed = sources_text(self.sources, markdown=True)
        return {"text/markdown": self.text + (f"\n\n---\n{listed}" if listed else ""), "text/plain": plain}


def _sources_html(sources: list) -> str:
    import html

    from .render import SOURCES_SHOWN

    if not sources:
        return ""
    items = "".join(f"<li><code>{html.escape(s['path'])}:{s['start_line']}-{s['end_line']}</code> "
                    f"{html.escape(s['name'])}</li>" for s in sources[:SOURCES_SHOWN])
    return f"<hr><p><b>Sources</b> (most relevant first):</p><ul>{items}</ul>"


class StreamView:
    """Shows text deltas as they arrive: an updating display in a kernel, stdout in a terminal."""

    #: seconds between display updates in a notebook (each one is a message to the browser)
    INTERVAL = 0.05

    def __init__(self, shell, fmt: str = "markdown") -> None:
        self.in_kernel = getattr(shell, "kernel", None) is not None
        self.fmt = fmt
        self.parts: list[str] = []
        self._handle = None
        self._last = 0.0
        self._wrote = False

    def __call__(self, delta: str) -> None:
        self.parts.append(delta)
        if not self.in_kernel:
            sys.stdout.write(delta)
            sys.stdout.flush()
            self._wrote = True
            return
        now = time.perf_counter()
        if now - self._last >= self.INTERVAL:
            self._show()
            self._last = now

    def _show(self) -> None:
        from IPython.display import display

        text = "".join(self.parts)
        data = {"text/markdown": text, "text/plain": text} if self.fmt != "text" else {"text/plain": text}
        if self._handle is None:
            self._handle = display(data, raw=True, display_id=True)
        else:
            self._handle.update(data, raw=True)

    def close(self) -> None:
        """Remove the streamed display (the final result is shown as the cell's value)."""
        if self._handle is not None:
            self._handle.update({"text/plain": ""}, raw=True)
        elif self._wrote:
            sys.stdout.write("\n")
            sys.stdout.flush()
