"""What a surface asks of the assistant service, as plain data.

Every interface (the CLI, ``%aiex`` and ``%%aiex``, the kernel's slash cells, and
later the widgets, the Jupyter server and the LSP server) turns its input into a
:class:`TurnRequest` and renders the events the service yields; nothing else.
The same options typed on any surface give the same request.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .prompts import FORMATS, ObjectFacts

__all__ = ["COMMANDS", "SELECTIONS", "CompareRequest", "ContextOptions", "EditRequest", "TurnRequest"]

#: the assistant's commands; ``chat`` uses and extends the conversation, the others stand alone
#: (``edit`` is a turn of an edit proposal: :class:`EditRequest`)
COMMANDS = ("ask", "chat", "explain", "fix", "edit")


@dataclass(frozen=True)
class ContextOptions:
    """Which project's code goes with the question, and how much of it."""

    path: str | None = None  #: --context PATH: the project holding PATH (default: the current directory's)
    enabled: bool = True  #: --no-context turns it off
    budget: int | None = None  #: --context-budget N (default: the settings, cut to the model's window)
    root: str | None = None  #: --root DIR
    focus: str = ""  #: code whose names steer the ranking (a notebook's recent cells)
    #: files (relative to the project root) named with ``@path``: sent first, in full as far as the budget allows
    mentions: tuple[str, ...] = ()


@dataclass(frozen=True)
class TurnRequest:
    command: str = "ask"
    prompt: str = ""
    model: str | None = None  #: provider:model or an alias (None: the default)
    session: str | None = None  #: None: the surface's current session (the CLI: a new one-turn session)
    #: use and extend the conversation; None: ``chat`` does, the others do only with an explicit ``session``
    memory: bool | None = None
    context: ContextOptions = field(default_factory=ContextOptions)
    format: str = "markdown"  #: what -f asks of the model
    system: str | None = None  #: a system prompt instead of aiex's own
    max_tokens: int = 1024
    temperature: float | None = None
    dry_run: bool = False  #: show what would be sent; send and store nothing
    facts: ObjectFacts | None = None  #: explain: what the surface knows of the object (None: look it up)
    error_text: str | None = None  #: fix: the traceback
    error_source: str | None = None  #: fix: the code that raised
    #: text sent before the prompt but not remembered as what was asked (a notebook's recent cells)
    attachments: str = ""
    #: a JSON schema the answer must follow (structured output: the provider's JSON mode where it has one)
    json_schema: dict | None = None

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise ValueError(f"command must be one of {COMMANDS}, not {self.command!r}")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {tuple(FORMATS)}, not {self.format!r}")

    @property
    def uses_memory(self) -> bool:
        if self.memory is not None:
            return self.memory
        return self.command == "chat" or (self.command == "ask" and self.session is not None)


#: how a comparison picks its answer (``--select``)
SELECTIONS = ("judge", "consensus", "fastest-passing", "cheapest-passing", "preferred")


@dataclass(frozen=True)
class CompareRequest:
    """One prompt to several models at once, side by side."""

    prompt: str
    models: tuple[str, ...]
    session: str | None = None
    context: ContextOptions = field(default_factory=ContextOptions)
    format: str = "markdown"
    system: str | None = None
    max_tokens: int = 1024
    temperature: float | None = None
    dry_run: bool = False  #: the estimated cost per model; nothing is sent
    blind: bool = False  #: no model names before the vote, the slots shuffled
    cluster: str = "auto"  #: run the calls as cluster tasks: auto (when one is attached), always, never
    select: str | None = None  #: how to pick the answer (:data:`SELECTIONS`)
    judge: str | None = None  #: the model that judges, for ``select="judge"``
    run_code: bool = False  #: execute the answers' code (and doctests) in a sandbox as a check
    attachments: str = ""

    def __post_init__(self) -> None:
        if len(self.models) < 2:
            raise ValueError("a comparison needs at least two models")
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {tuple(FORMATS)}, not {self.format!r}")
        if self.select is not None and self.select not in SELECTIONS:
            raise ValueError(f"select must be one of {SELECTIONS}, not {self.select!r}")


@dataclass(frozen=True)
class EditRequest:
    """Change files: the model proposes edit blocks for ``paths``; nothing is written until applied."""

    instruction: str
    paths: tuple[str, ...]  #: the files that may change (relative to the project root, or absolute)
    model: str | None = None
    session: str | None = None
    context: ContextOptions = field(default_factory=ContextOptions)
    root: str | None = None  #: the project root (default: the rule of DESIGN.md, from the first path)
    max_tokens: int = 4096
    temperature: float | None = None
    repair_rounds: int = 2  #: times a block that did not apply goes back to the model with the reason
    outputs: bool = False  #: send notebooks' text outputs with their cells
    clear_outputs: bool = False  #: clear the outputs of the notebook code cells an edit changes
    attachments: str = ""
    parent: str = ""  #: the edit whose failing test this repairs
    structured: bool = False  #: ask for the blocks as JSON (the provider's JSON-schema mode where it has one)
    feedback: str = ""  #: what went wrong with the parent (a failing test's output)

    def __post_init__(self) -> None:
        if not self.paths:
            raise ValueError("an edit needs at least one file")
        if self.repair_rounds < 0:
            raise ValueError("repair_rounds must be 0 or more")
