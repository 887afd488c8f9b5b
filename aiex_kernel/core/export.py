"""A session written out: Markdown, a notebook, or its events as JSON (pure functions of its state)."""

from __future__ import annotations

import json
import time

from .events import to_record
from .sessions import SessionState, Turn

__all__ = ["EXPORT_FORMATS", "export_session"]

EXPORT_FORMATS = ("md", "ipynb", "json")


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "?"


def _sources(turn: Turn) -> list[str]:
    return [f"- `{s['path']}:{s['start_line']}-{s['end_line']}` {s['name']}" for s in turn.sources[:10]]


def _answer(turn: Turn) -> str:
    if turn.status == "failed":
        return f"*(failed: {turn.error})*"
    if turn.status == "cancelled":
        return (turn.answer + "\n\n" if turn.answer else "") + "*(stopped)*"
    if turn.status == "running":
        return (turn.answer + "\n\n" if turn.answer else "") + "*(no answer recorded)*"
    return turn.answer


def _markdown(state: SessionState) -> str:
    out = [f"# Session {state.name}", "", f"Started {_when(state.started_at)}"
           + (f" ({state.origin})" if state.origin else "") + f"; {len(state.turns)} turns.", ""]
    for i, turn in enumerate(state.turns, 1):
        out += [f"## {i}. {turn.command} · {turn.model} · {_when(turn.started_at)}", "", "**You:**", "",
                turn.prompt, "", "**aiex:**", "", _answer(turn), ""]
        if turn.sources:
            out += ["Sources:", *_sources(turn), ""]
    return "\n".join(out).rstrip() + "\n"


def _notebook(state: SessionState) -> dict:
    """nbformat 4: each turn a ``%%aiex`` cell (re-runnable) with its answer as the output."""
    cells: list[dict] = [{"cell_type": "markdown", "metadata": {}, "id": "session",
                          "source": f"# Session {state.name}\n\nExported from aiex; started {_when(state.started_at)}."}]
    for i, turn in enumerate(state.turns, 1):
        magic = f"%%aiex {turn.model}" if turn.command == "chat" else f"%%aiex {turn.model} --no-context"
        cells.append({"cell_type": "code", "execution_count": None, "id": f"turn-{i}",
                      "metadata": {"aiex": {"turn": turn.id, "command": turn.command, "status": turn.status}},
                      "source": f"{magic}\n{turn.prompt}",
                      "outputs": [{"output_type": "display_data", "metadata": {},
                                   "data": {"text/markdown": _answer(turn), "text/plain": _answer(turn)}}]})
    return {"nbformat": 4, "nbformat_minor": 5, "cells": cells,
            "metadata": {"kernelspec": {"name": "aiex", "display_name": "aiex", "language": "python"},
                         "language_info": {"name": "python"}, "aiex": {"session": state.name}}}


def export_session(state: SessionState, fmt: str) -> str:
    """The session as text in ``fmt`` (one of :data:`EXPORT_FORMATS`)."""
    if fmt == "md":
        return _markdown(state)
    if fmt == "ipynb":
        return json.dumps(_notebook(state), indent=1) + "\n"
    if fmt == "json":
        events = []
        for position, event in state.history:
            kind, data = to_record(event)
            events.append({"id": position, "kind": kind, "session": event.session, "at": event.at, **data})
        return json.dumps({"session": state.name, "events": events}, indent=1) + "\n"
    raise ValueError(f"format must be one of {EXPORT_FORMATS}, not {fmt!r}")
