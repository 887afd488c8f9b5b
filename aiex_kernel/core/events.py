"""What happens in aiex, as immutable events: the spine every interface stands on.

The assistant service yields these to the interface that asked (a notebook, the
CLI, later widgets and servers) and appends them to the event log, which is the
source of truth: a session, a leaderboard or a usage table is a pure fold over
them. Each event is a frozen dataclass with a ``KIND`` and the ``SCHEMA_VERSION``
it was written with; :func:`to_record` / :func:`from_record` turn one into plain
JSON-able data and back. Events of a kind this version does not know are read as
:class:`Unknown` (a newer aiex wrote them), never an error.

``session`` names the conversation an event belongs to (``""`` for events of no
session, such as cluster jobs); ``at`` is a Unix time. ``turn`` ties the events of
one question together.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "SCHEMA_VERSION",
    "Answered",
    "Assessed",
    "Cancelled",
    "CheckpointSaved",
    "ClusterJob",
    "CompareStarted",
    "ContextChosen",
    "Delta",
    "EditApplied",
    "EditProposed",
    "EditTested",
    "EditUndone",
    "Event",
    "Failed",
    "FilePinned",
    "IndexBuilt",
    "FileUnpinned",
    "MemoryCleared",
    "Noted",
    "Planned",
    "Rewound",
    "Selected",
    "SessionStarted",
    "TurnStarted",
    "Unknown",
    "Voted",
    "from_record",
    "redact_event",
    "to_record",
]

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Event:
    session: str
    at: float

    KIND: ClassVar[str] = "Event"
    #: False: yielded to the interface, never written to the log
    STORED: ClassVar[bool] = True


@dataclass(frozen=True)
class SessionStarted(Event):
    origin: str = ""  #: "cli", "kernel: analysis.ipynb", ...
    KIND: ClassVar[str] = "SessionStarted"


@dataclass(frozen=True)
class TurnStarted(Event):
    turn: str = ""
    command: str = "ask"  #: ask, chat, explain, fix
    prompt: str = ""  #: what the user asked (before context is added)
    model: str = ""  #: provider:model
    memory: bool = False  #: whether the turn uses and extends the conversation
    KIND: ClassVar[str] = "TurnStarted"


@dataclass(frozen=True)
class Noted(Event):
    """A remark for the user ("using local:... because no key is set"); not stored."""

    turn: str = ""
    text: str = ""
    KIND: ClassVar[str] = "Noted"
    STORED: ClassVar[bool] = False


@dataclass(frozen=True)
class ContextChosen(Event):
    turn: str = ""
    root: str = ""
    tokens: int = 0
    budget: int = 0
    tokenizer: str = ""
    files: tuple[str, ...] = ()
    #: the chunks sent, most relevant first: {"path", "start_line", "end_line", "level", "name"}
    sources: tuple[dict, ...] = ()
    KIND: ClassVar[str] = "ContextChosen"


@dataclass(frozen=True)
class Planned(Event):
    """``--dry-run``: exactly what would be sent (the plan as a dict); nothing was."""

    turn: str = ""
    plan: dict = field(default_factory=dict)
    text: str = ""  #: the plan for people
    KIND: ClassVar[str] = "Planned"
    STORED: ClassVar[bool] = False


@dataclass(frozen=True)
class Delta(Event):
    """Answer text as it streams; stored coalesced (at most one per 100 ms per turn)."""

    turn: str = ""
    text: str = ""
    KIND: ClassVar[str] = "Delta"


@dataclass(frozen=True)
class Answered(Event):
    turn: str = ""
    text: str = ""
    model: str = ""
    provider: str = ""
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    latency_s: float | None = None
    ttft_s: float | None = None
    #: aiex's raw estimate (core.token_estimates, no margin) of the tokens sent, for models counted by estimate:
    #: set beside the reported input_tokens, it recalibrates that family's margin
    estimated_tokens: float | None = None
    KIND: ClassVar[str] = "Answered"


@dataclass(frozen=True)
class Failed(Event):
    turn: str = ""
    error: str = "AiexError"  #: the class name in aiex's error tree
    message: str = ""
    provider: str = ""  #: the provider that failed, when it was one (its circuit breaker counts it)
    KIND: ClassVar[str] = "Failed"


@dataclass(frozen=True)
class Cancelled(Event):
    """The user stopped the turn; what had streamed stays."""

    turn: str = ""
    partial: str = ""
    KIND: ClassVar[str] = "Cancelled"


@dataclass(frozen=True)
class MemoryCleared(Event):
    KIND: ClassVar[str] = "MemoryCleared"


@dataclass(frozen=True)
class FilePinned(Event):
    path: str = ""  #: relative to the project root
    root: str = ""
    KIND: ClassVar[str] = "FilePinned"


@dataclass(frozen=True)
class FileUnpinned(Event):
    path: str = ""
    root: str = ""
    KIND: ClassVar[str] = "FileUnpinned"


@dataclass(frozen=True)
class CheckpointSaved(Event):
    name: str = ""
    position: int = 0  #: the id of the session's last event when it was saved
    root: str = ""
    files: dict = field(default_factory=dict)  #: path -> content hash, from the index manifest
    KIND: ClassVar[str] = "CheckpointSaved"


@dataclass(frozen=True)
class Rewound(Event):
    """``restore checkpoint``: the session's state is again what it was at ``position``."""

    checkpoint: str = ""
    position: int = 0
    KIND: ClassVar[str] = "Rewound"


@dataclass(frozen=True)
class ClusterJob(Event):
    job: str = ""  #: "build context", "analyze code", ...
    where: str = ""  #: "in-process" or the scheduler's address
    items: int = 0
    seconds: float = 0.0
    KIND: ClassVar[str] = "ClusterJob"


@dataclass(frozen=True)
class CompareStarted(Event):
    """One prompt sent to several models; each slot is a turn of its own (command ``compare``)."""

    compare: str = ""
    prompt: str = ""
    slots: tuple[dict, ...] = ()  #: {"turn", "model"}, in the order shown
    blind: bool = False
    where: str = "in-process"  #: or the scheduler's address
    KIND: ClassVar[str] = "CompareStarted"


@dataclass(frozen=True)
class Assessed(Event):
    """The quality checks of a comparison's answers (core.quality.Assessment, as dicts)."""

    compare: str = ""
    checks: tuple[dict, ...] = ()
    KIND: ClassVar[str] = "Assessed"


@dataclass(frozen=True)
class Selected(Event):
    """``--select``: which answer of a comparison was picked, how, and why."""

    compare: str = ""
    turn: str = ""  #: the picked slot's turn
    letter: str = ""
    model: str = ""
    how: str = ""  #: judge, consensus, fastest-passing, cheapest-passing, preferred
    why: str = ""
    KIND: ClassVar[str] = "Selected"


@dataclass(frozen=True)
class Voted(Event):
    """The user's verdict on a comparison: a slot's letter (``a``, ``b``, ...), ``tie`` or ``bad``."""

    compare: str = ""
    choice: str = ""
    models: tuple[str, ...] = ()  #: the slots' models, in slot order
    category: str = "other"  #: the kind of task (core.categories)
    KIND: ClassVar[str] = "Voted"


@dataclass(frozen=True)
class EditProposed(Event):
    """Changes the model proposed for files (the proposed contents are kept in the edit journal).

    ``files``: {"path", "kind" (modify, create, delete), "before", "after" (content hashes; None for a side
    that does not exist), "hunks"}; ``blocks``: the blocks that applied, in order; ``refused``: {"block",
    "reason"} for those that did not, after the repair rounds."""

    edit: str = ""
    turn: str = ""  #: the last turn of the proposal
    instruction: str = ""
    root: str = ""
    files: tuple[dict, ...] = ()
    blocks: tuple[dict, ...] = ()
    refused: tuple[dict, ...] = ()
    rounds: int = 1  #: model calls it took (1 + repair rounds used)
    parent: str = ""  #: the edit whose failing test this one repairs
    KIND: ClassVar[str] = "EditProposed"


@dataclass(frozen=True)
class EditApplied(Event):
    """Files written for an edit: {"path", "kind", "before", "after", "hunks" (indices taken; None: all)};
    their earlier contents are backed up in the edit journal."""

    edit: str = ""
    root: str = ""
    files: tuple[dict, ...] = ()
    commit: str = ""  #: the git commit made with ``--commit``
    KIND: ClassVar[str] = "EditApplied"


@dataclass(frozen=True)
class EditUndone(Event):
    edit: str = ""
    root: str = ""
    files: tuple[str, ...] = ()
    KIND: ClassVar[str] = "EditUndone"


@dataclass(frozen=True)
class EditTested(Event):
    """``--test CMD`` after an edit was applied: its exit code and the end of its output."""

    edit: str = ""
    command: str = ""
    exit_code: int = 0
    output: str = ""
    KIND: ClassVar[str] = "EditTested"


@dataclass(frozen=True)
class IndexBuilt(Event):
    """The context index brought up to date: files read and indexed, and files reused as they were."""

    root: str = ""
    indexed: int = 0  #: files (re)indexed
    reused: int = 0  #: files unchanged since the last build (the index's cache hits)
    deleted: int = 0
    where: str = "in-process"
    seconds: float = 0.0
    KIND: ClassVar[str] = "IndexBuilt"


@dataclass(frozen=True)
class Unknown(Event):
    """An event of a kind this aiex does not know (written by a newer one)."""

    kind: str = ""
    data: dict = field(default_factory=dict)
    KIND: ClassVar[str] = "Unknown"


KINDS: dict[str, type[Event]] = {cls.KIND: cls for cls in (
    SessionStarted, TurnStarted, Noted, ContextChosen, Planned, Delta, Answered, Failed, Cancelled, MemoryCleared,
    FilePinned, FileUnpinned, CheckpointSaved, Rewound, ClusterJob, CompareStarted, Assessed, Selected, Voted,
    EditProposed, EditApplied, EditUndone, EditTested, IndexBuilt)}

_HEAD = ("session", "at")


def to_record(event: Event) -> tuple[str, dict[str, Any]]:
    """``(kind, data)``: the event's own fields as JSON-able data (``session`` and ``at`` apart)."""
    data = {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name not in _HEAD}
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return event.KIND, data


_SHAPES: dict[type, tuple[frozenset[str], frozenset[str]]] = {}


def _shape(cls: type[Event]) -> tuple[frozenset[str], frozenset[str]]:
    """(the fields a record may set, those of them that are tuples), once per class."""
    shape = _SHAPES.get(cls)
    if shape is None:
        fields = [f for f in dataclasses.fields(cls) if f.name not in _HEAD]
        shape = _SHAPES[cls] = (frozenset(f.name for f in fields),
                                frozenset(f.name for f in fields if "tuple" in str(f.type)))
    return shape


def from_record(kind: str, session: str, at: float, data: dict[str, Any]) -> Event:
    """The event a record describes; fields this version does not know are dropped."""
    cls = KINDS.get(kind)
    if cls is None:
        return Unknown(session, at, kind=kind, data=dict(data))
    names, tuples = _shape(cls)
    values = {k: (tuple(v) if k in tuples and isinstance(v, list) else v) for k, v in data.items() if k in names}
    return cls(session, at, **values)


def redact_event(event: Event) -> tuple[Event, dict[str, int]]:
    """The event with every string in it redacted (:func:`~aiex_kernel.core.redact.redact`); what was found."""
    from .redact import redact

    found: dict[str, int] = {}

    def clean(value):
        if isinstance(value, str):
            result = redact(value)
            for k, n in result.found.items():
                found[k] = found.get(k, 0) + n
            return result.text
        if isinstance(value, dict):
            return {clean(k): clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(clean(v) for v in value)
        return value

    changes = {f.name: clean(getattr(event, f.name)) for f in dataclasses.fields(event) if f.name != "at"}
    if not found:
        return event, found
    return dataclasses.replace(event, **changes), found
