"""A session is a pure fold over its events.

:func:`fold` turns the stored events of one session, ``(id, event)`` in log order,
into a :class:`SessionState`: its turns, the conversation memory, the files pinned
to it and its checkpoints. Folding is deterministic: the same events always give
the same state, and folding more events onto a state gives what folding them all
at once gives, so a kernel can catch up incrementally on what another one wrote.

A ``Rewound`` event (``restore checkpoint``) makes the state what it was at an
earlier position; the log stays append-only, and later events build on top again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from .events import (
    Answered,
    Cancelled,
    CheckpointSaved,
    ContextChosen,
    Delta,
    Event,
    Failed,
    FilePinned,
    FileUnpinned,
    MemoryCleared,
    Rewound,
    SessionStarted,
    TurnStarted,
)
from .llm import Message

__all__ = ["SessionState", "Turn", "fold"]


@dataclass
class Turn:
    """One question and what came of it (updated in place while the session is folded)."""

    id: str
    command: str
    prompt: str
    model: str
    memory: bool
    started_at: float
    status: str = "running"  #: running, answered, failed, cancelled
    answer: str = ""  #: the answer, or what streamed of it
    finished_at: float | None = None
    error: str = ""
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    context_files: tuple[str, ...] = ()
    context_tokens: int = 0
    sources: tuple[dict, ...] = ()


@dataclass
class SessionState:
    name: str
    started_at: float | None = None
    origin: str = ""
    turns: list[Turn] = field(default_factory=list)
    #: index into ``turns`` where the memory starts (after the last ``MemoryCleared``)
    memory_from: int = 0
    pinned: dict[str, str] = field(default_factory=dict)  #: path -> project root
    checkpoints: dict[str, CheckpointSaved] = field(default_factory=dict)
    position: int = 0  #: id of the last event folded in
    #: every event folded, for rewinding (id, event)
    history: list[tuple[int, Event]] = field(default_factory=list, repr=False)

    def memory(self, max_history: int) -> tuple[Message, ...]:
        """The last ``max_history`` answered exchanges of conversational turns, as messages."""
        if max_history <= 0:
            return ()
        kept = [t for t in self.turns[self.memory_from:] if t.memory and t.status == "answered"][-max_history:]
        out: list[Message] = []
        for t in kept:
            out += [Message("user", t.prompt), Message("assistant", t.answer)]
        return tuple(out)

    def turn(self, turn_id: str) -> Turn | None:
        return next((t for t in self.turns if t.id == turn_id), None)

    @property
    def last_at(self) -> float | None:
        return self.history[-1][1].at if self.history else self.started_at


def fold(events: Iterable[tuple[int, Event]], state: SessionState | None = None, *, name: str = "") -> SessionState:
    """``state`` (or a new one named ``name``) with ``events`` applied in order."""
    state = state if state is not None else SessionState(name)
    for position, event in events:
        if position <= state.position:
            continue  # already folded (catching up may overlap)
        _apply(state, position, event)
    return state


def _index(state: SessionState, turn_id: str) -> int | None:
    for i in range(len(state.turns) - 1, -1, -1):
        if state.turns[i].id == turn_id:
            return i
    return None


def _update(state: SessionState, turn_id: str, **changes) -> None:
    i = _index(state, turn_id)
    if i is not None:
        turn = state.turns[i]
        for name, value in changes.items():
            setattr(turn, name, value)


def _apply(state: SessionState, position: int, event: Event) -> None:
    state.history.append((position, event))
    state.position = position
    if isinstance(event, SessionStarted):
        if state.started_at is None:
            state.started_at, state.origin = event.at, event.origin
    elif isinstance(event, TurnStarted):
        if state.started_at is None:
            state.started_at = event.at
        state.turns.append(Turn(event.turn, event.command, event.prompt, event.model, event.memory, event.at))
    elif isinstance(event, ContextChosen):
        _update(state, event.turn, context_files=tuple(event.files), context_tokens=event.tokens,
                sources=tuple(event.sources))
    elif isinstance(event, Delta):
        i = _index(state, event.turn)
        if i is not None:
            state.turns[i].answer += event.text
    elif isinstance(event, Answered):
        _update(state, event.turn, status="answered", answer=event.text, finished_at=event.at,
                input_tokens=event.input_tokens, output_tokens=event.output_tokens, cost_usd=event.cost_usd,
                latency_s=event.latency_s, ttft_s=event.ttft_s)
    elif isinstance(event, Failed):
        _update(state, event.turn, status="failed", error=f"{event.error}: {event.message}", finished_at=event.at)
    elif isinstance(event, Cancelled):
        _update(state, event.turn, status="cancelled", answer=event.partial, finished_at=event.at)
    elif isinstance(event, MemoryCleared):
        state.memory_from = len(state.turns)
    elif isinstance(event, FilePinned):
        state.pinned[event.path] = event.root
    elif isinstance(event, FileUnpinned):
        state.pinned.pop(event.path, None)
    elif isinstance(event, CheckpointSaved):
        state.checkpoints[event.name] = event
    elif isinstance(event, Rewound):
        _rewind(state, event)


def _rewind(state: SessionState, event: Rewound) -> None:
    """The state as it was at ``event.position``; checkpoints and the history stay (the log is append-only)."""
    history, checkpoints = list(state.history), dict(state.checkpoints)
    earlier = fold([(p, e) for p, e in history[:-1] if p <= event.position], name=state.name)  # not itself
    state.turns, state.memory_from, state.pinned = earlier.turns, earlier.memory_from, earlier.pinned
    state.checkpoints, state.history = checkpoints, history
