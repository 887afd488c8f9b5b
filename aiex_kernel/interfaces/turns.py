"""Following a turn's events, for the surfaces that render them (the CLI and the notebook)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..core.events import Answered, Cancelled, ContextChosen, Delta, Event, Failed, Noted, Planned, TurnStarted
from ..core.llm import code_blocks

__all__ = ["CompareOutcome", "Outcome", "Slot", "follow", "follow_compare"]


@dataclass
class Outcome:
    """What a turn came to."""

    started: TurnStarted | None = None
    context: ContextChosen | None = None
    answer: Answered | None = None
    failed: Failed | None = None
    planned: Planned | None = None
    parts: list[str] = field(default_factory=list)  #: the streamed text

    @property
    def text(self) -> str:
        return self.answer.text if self.answer is not None else "".join(self.parts)

    @property
    def sources(self) -> list[dict]:
        return list(self.context.sources) if self.context is not None else []

    def to_dict(self) -> dict:
        """The answer for ``--json``: the response's fields, its context and sources, its session and turn."""
        a = self.answer
        data = {"text": self.text, "model": a.model if a else None, "provider": a.provider if a else None,
                "finish_reason": a.finish_reason if a else None,
                "input_tokens": a.input_tokens if a else None, "output_tokens": a.output_tokens if a else None,
                "latency_s": a.latency_s if a else None, "ttft_s": a.ttft_s if a else None,
                "cost_usd": a.cost_usd if a else None,
                "code_blocks": [{"language": b.language, "code": b.code} for b in code_blocks(self.text)],
                "model_id": self.started.model if self.started else None,
                "session": self.started.session if self.started else None,
                "turn": self.started.turn if self.started else None,
                "context": None, "sources": self.sources}
        if self.context is not None:
            c = self.context
            data["context"] = {"root": c.root, "tokens": c.tokens, "budget": c.budget, "tokenizer": c.tokenizer,
                               "files": list(c.files)}
        return data


def follow(events: Iterable[Event], *, on_delta: Callable[[str], object] | None = None,
           on_note: Callable[[str], object] | None = None, outcome: Outcome | None = None) -> Outcome:
    """Consume a turn's events: deltas and notes handed on as they come, the rest kept in the outcome.

    ``outcome`` may be passed in so that what streamed is still there when the caller is interrupted.
    """
    outcome = outcome if outcome is not None else Outcome()
    for event in events:
        if isinstance(event, Delta):
            outcome.parts.append(event.text)
            if on_delta is not None:
                on_delta(event.text)
        elif isinstance(event, Noted):
            if on_note is not None:
                on_note(event.text)
        elif isinstance(event, TurnStarted):
            outcome.started = event
        elif isinstance(event, ContextChosen):
            outcome.context = event
        elif isinstance(event, Answered):
            outcome.answer = event
        elif isinstance(event, Failed):
            outcome.failed = event
        elif isinstance(event, Planned):
            outcome.planned = event
        elif isinstance(event, Cancelled):
            pass
    return outcome


@dataclass
class Slot:
    """One model's answer in a comparison, as it streams."""

    letter: str
    model: str
    turn: str
    parts: list[str] = field(default_factory=list)
    answer: Answered | None = None
    failed: Failed | None = None

    @property
    def text(self) -> str:
        return self.answer.text if self.answer is not None else "".join(self.parts)

    @property
    def status(self) -> str:
        return "answered" if self.answer else "failed" if self.failed else "streaming" if self.parts else "waiting"

    def to_dict(self) -> dict:
        a = self.answer
        return {"letter": self.letter, "model": self.model, "turn": self.turn, "status": self.status,
                "text": self.text, "error": f"{self.failed.error}: {self.failed.message}" if self.failed else None,
                "latency_s": a.latency_s if a else None, "ttft_s": a.ttft_s if a else None,
                "input_tokens": a.input_tokens if a else None, "output_tokens": a.output_tokens if a else None,
                "cost_usd": a.cost_usd if a else None,
                "code_blocks": [{"language": b.language, "code": b.code} for b in code_blocks(self.text)]}


@dataclass
class CompareOutcome:
    """What a comparison came to, slot by slot."""

    started: object | None = None  #: the CompareStarted event
    slots: list[Slot] = field(default_factory=list)
    context: ContextChosen | None = None
    planned: Planned | None = None
    selected: object | None = None  #: the Selected event, when --select picked one
    checks: object | None = None  #: the Assessed event, when the answers were checked

    @property
    def finished(self) -> bool:
        return bool(self.slots) and all(s.answer or s.failed for s in self.slots)

    def to_dict(self) -> dict:
        data = {"compare": self.started.compare if self.started else None,
                "session": self.started.session if self.started else None,
                "where": self.started.where if self.started else None,
                "blind": self.started.blind if self.started else False,
                "slots": [s.to_dict() for s in self.slots],
                "sources": list(self.context.sources) if self.context else []}
        if self.selected is not None:
            s = self.selected
            data["selected"] = {"letter": s.letter, "model": s.model, "how": s.how, "why": s.why}
        if self.checks is not None:
            data["checks"] = list(self.checks.checks)
        return data


def follow_compare(events: Iterable[Event], *, on_change: Callable[[int], object] | None = None,
                   on_note: Callable[[str], object] | None = None,
                   outcome: CompareOutcome | None = None) -> CompareOutcome:
    """Consume a comparison's events; ``on_change(slot index)`` after each change to a slot."""
    from ..core.events import Assessed, CompareStarted, Selected

    outcome = outcome if outcome is not None else CompareOutcome()
    index = {s.turn: i for i, s in enumerate(outcome.slots)}
    for event in events:
        if isinstance(event, CompareStarted):
            outcome.started = event
            outcome.slots = [Slot(chr(ord("a") + i), s["model"], s["turn"]) for i, s in enumerate(event.slots)]
            index = {s.turn: i for i, s in enumerate(outcome.slots)}
        elif isinstance(event, Noted):
            if on_note is not None:
                on_note(event.text)
        elif isinstance(event, ContextChosen):
            outcome.context = event
        elif isinstance(event, Planned):
            outcome.planned = event
        elif isinstance(event, Selected):
            outcome.selected = event
        elif isinstance(event, Assessed):
            outcome.checks = event
        elif isinstance(event, (Delta, Answered, Failed)) and event.turn in index:
            i = index[event.turn]
            slot = outcome.slots[i]
            if isinstance(event, Delta):
                slot.parts.append(event.text)
            elif isinstance(event, Answered):
                slot.answer = event
            else:
                slot.failed = event
            if on_change is not None:
                on_change(i)
    return outcome
