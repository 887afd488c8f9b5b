"""The assistant service: one for every interface.

A surface turns its input into a :class:`~aiex_kernel.core.requests.TurnRequest`
and renders the events :meth:`AssistantService.turn` yields
(:mod:`aiex_kernel.core.events`); nothing else. The service owns what lies
between: the session and its conversation memory, the model choice, the project
context, the prompt, the provider call, and the event log::

    request ─▶ session ─▶ model ─▶ context ─▶ prompt ─▶ provider ─▶ events
                                                         │ append (SQLite)  ▲ yield
                                                         ▼                  │
                                                     event log  ──fold──▶ sessions

``turn`` is async; :meth:`AssistantService.turn_sync` iterates it from a
synchronous caller (the CLI, a notebook cell) on the service's own long-lived
event loop, so provider connection pools live between turns. Interrupting the
caller (Ctrl-C, a kernel interrupt) cancels the turn: what streamed so far is kept
in a ``Cancelled`` event.

Secrets: the provider redacts every request as it leaves (``Provider.prepare``)
and the event log redacts every event as it is written; both with
:mod:`aiex_kernel.core.redact`. Context pieces are redacted while they are
fitted, so the budget counts what is sent.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from pathlib import Path

from ..core.events import (
    Answered,
    Cancelled,
    ContextChosen,
    Delta,
    Event,
    Failed,
    FilePinned,
    FileUnpinned,
    MemoryCleared,
    Noted,
    Planned,
    SessionStarted,
    TurnStarted,
)
from ..core.llm import AiexResponse
from ..core.prompts import explain_prompt, fix_prompt, system_prompt
from ..core.requests import TurnRequest
from ..core.sessions import SessionState, fold
from ..errors import AiexError, EventLogError, SessionNotFound, UsageError

__all__ = ["AssistantService", "DELTA_INTERVAL", "session_name_for"]

#: stored deltas are coalesced to at most one per this many seconds per turn
DELTA_INTERVAL = 0.1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$")


def session_name_for(origin: str) -> str:
    """A fresh session name: ``cli-20261201-105733-3f2a``, or the notebook's name and its start time."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    if origin.startswith("kernel"):
        notebook = os.environ.get("JPY_SESSION_NAME", "")
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(notebook).stem).strip("-.") if notebook else ""
        return f"{stem or 'kernel'}-{stamp}"
    return f"{origin or 'cli'}-{stamp}-{uuid.uuid4().hex[:4]}"


def check_session_name(name: str) -> str:
    if not _NAME.match(name):
        raise UsageError(f"Session names are letters, digits and . _ - @ (up to 80), starting with a letter or "
                         f"digit; not {name!r}.")
    return name


def _missing_mentions(mentions, context, root) -> list[str]:
    """Notes for the ``@path`` mentions that did not go with the question."""
    if not mentions:
        return []
    if root is None or context is None:
        return [f"@{', @'.join(mentions)}: no project context for this question, so no file goes with it"]
    sent = set(context.files)
    return [f"@{m} is not in the project's index (a typo, an ignored file, or run `aiex build context`)"
            for m in mentions if m not in sent]


class AssistantService:
    """The assistant behind every surface.

    ``settings`` is called for the settings of each turn (config files may change
    between turns); ``origin`` says which surface this is ("cli", "kernel", ...);
    ``session`` is the surface's current session (None: the CLI, where each turn
    without ``--session`` is a session of its own).
    """

    def __init__(self, settings: Callable[[], object], *, origin: str = "cli", session: str | None = None) -> None:
        self._settings = settings
        self.origin = origin
        self.current = session
        self._states: dict[str, SessionState] = {}
        self._providers: dict = {}
        self._shown: set[str] = set()  #: notes already said once
        self._default: tuple[tuple, object] | None = None
        self._log = None
        self._log_problem: str | None = None
        self._loop = None
        self._lock = threading.RLock()  #: the states, folded into from the follower thread too

    # -- the event log ----------------------------------------------------------------------------

    def settings(self):
        return self._settings()

    @property
    def log(self):
        """The event log, or None when the data directory cannot hold one (said once)."""
        if self._log is None and self._log_problem is None:
            from .events import event_log

            log = event_log(self.settings().data_dir)
            try:
                log.last_id()
            except EventLogError as exc:
                self._log_problem = str(exc)
            else:
                self._log = log
        return self._log

    def append(self, event: Event) -> int | None:
        """Store ``event`` (if the log works) and fold it into the session's state."""
        return self.append_many([event])[0]

    def append_many(self, events: list[Event]) -> list[int | None]:
        """Store ``events`` in one transaction (if the log works) and fold them into their sessions' states."""
        log = self.log
        if log is None:
            return [None] * len(events)
        try:
            positions = log.append_many(events)
        except EventLogError as exc:
            self._log_problem = str(exc)
            return [None] * len(events)
        for event, position in zip(events, positions):
            if position is not None:
                self.fold_in(event.session, [(position, event)])
        return positions

    def fold_in(self, name: str, events) -> None:
        """Fold ``events`` (``(id, event)``, possibly written by another process) into session ``name``'s state."""
        with self._lock:
            state = self._states.get(name)
            if state is not None:
                fold(events, state)

    def cached_state(self, name: str | None = None) -> SessionState | None:
        """The session's state as this service holds it now, without reading the log."""
        return self._states.get(name or self.current_session())

    # -- sessions ---------------------------------------------------------------------------------

    def current_session(self) -> str:
        """The surface's current session, started on first use."""
        if self.current is None:
            self.current = session_name_for(self.origin)
        return self.current

    def latest_session(self) -> str | None:
        """The most recently active session in the event log (None: no log, or no session yet)."""
        log = self.log
        rows = log.sessions(None) if log is not None else []
        return rows[0].name if rows else None

    def state(self, name: str | None = None) -> SessionState:
        """The session's state: folded from the log, caught up with what other processes appended."""
        name = name or self.current_session()
        with self._lock:
            state = self._states.get(name)
            if state is None:
                state = self._states[name] = SessionState(name)
            log = self.log
            if log is not None:
                try:
                    fold(log.read(name, state.position), state)
                except EventLogError:
                    pass
            return state

    def exists(self, name: str) -> bool:
        log = self.log
        return bool(log is not None and log.exists(name)) or bool(self._states.get(name) and
                                                                   self._states[name].turns)

    def start_session(self, name: str | None = None) -> SessionState:
        """Start session ``name`` (new) and make it current."""
        name = check_session_name(name) if name else session_name_for(self.origin)
        if self.exists(name):
            raise UsageError(f"A session named {name!r} exists already; `resume session {name}` continues it, "
                             "or pick another name.")
        self.current = name
        self._states[name] = SessionState(name)
        self.append(SessionStarted(name, time.time(), origin=self.origin))
        return self.state(name)

    def resume_session(self, name: str) -> SessionState:
        """Make the existing session ``name`` current: its memory and pinned files come back."""
        if not self.exists(check_session_name(name)):
            raise SessionNotFound(f"No session named {name!r}; `list sessions` shows them.")
        self.current = name
        return self.state(name)

    def ensure_started(self, name: str) -> None:
        state = self.state(name)
        if not state.history and self.log is not None:
            self.append(SessionStarted(name, time.time(), origin=self.origin))

    def reset_memory(self, name: str | None = None) -> None:
        name = name or self.current_session()
        self.ensure_started(name)
        self.append(MemoryCleared(name, time.time()))

    def pin(self, path: str, root: str, name: str | None = None) -> None:
        name = name or self.current_session()
        self.ensure_started(name)
        self.append(FilePinned(name, time.time(), path=path, root=root))

    def unpin(self, path: str, name: str | None = None) -> None:
        name = name or self.current_session()
        state = self.state(name)
        if path not in state.pinned:
            pinned = ", ".join(sorted(state.pinned)) or "none"
            raise UsageError(f"{path} is not pinned to session {name!r} (pinned: {pinned}).")
        self.append(FileUnpinned(name, time.time(), path=path, root=state.pinned[path]))

    def forget(self, name: str) -> None:
        """Drop what this service holds of session ``name`` (it was deleted)."""
        with self._lock:
            self._states.pop(name, None)
        if self.current == name:
            self.current = None

    @property
    def log_problem(self) -> str | None:
        return self._log_problem

    def note_once(self, key: str, text: str) -> str | None:
        """``text`` the first time ``key`` is seen by this service, else None."""
        if key in self._shown:
            return None
        self._shown.add(key)
        return text

    # -- a turn -----------------------------------------------------------------------------------

    def turn_sync(self, request: TurnRequest):
        """:meth:`turn` for synchronous callers, on the service's long-lived loop: an iterable of its events
        whose ``cancel()`` (a Stop button, from any thread), closing the iteration or Ctrl-C stops the turn."""
        return self._thread().stream(self.turn(request))

    def compare_sync(self, request):
        """:meth:`compare` for synchronous callers, on the service's loop: an iterable of its events whose
        ``cancel()`` (or closing the iteration) stops every call still running."""
        return self._thread().stream(self.compare(request))

    def edit_sync(self, request):
        """:meth:`edit` for synchronous callers, on the service's loop (``cancel()`` stops the model call)."""
        return self._thread().stream(self.edit(request))

    async def edit(self, request) -> AsyncIterator[Event]:
        """Changes to files proposed by the model (:mod:`.edits`): the events of its turns (repair rounds
        included), then ``EditProposed``. Nothing is written to the project."""
        from .edits import propose

        async for event in propose(self, request):
            yield event

    async def compare(self, request) -> AsyncIterator[Event]:
        """One prompt to several models at once (:mod:`.compare`): a ``CompareStarted``, then every slot's
        events as they arrive."""
        from .compare import run_compare

        async for event in run_compare(self, request):
            yield event

    def vote(self, compare_id: str, choice: str):
        """The user's verdict on a comparison (a ``Voted`` event): a slot's letter, ``tie`` or ``bad``."""
        from .compare import vote

        return vote(self, compare_id, choice)

    def run(self, coro):
        """Run a coroutine on the service's loop from synchronous code."""
        return self._thread().run(coro)

    def _thread(self):
        """The service's long-lived event loop thread, started on first use."""
        if self._loop is None:
            from .aio import LoopThread

            self._loop = LoopThread(f"aiex-{self.origin}")
        return self._loop

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    async def turn(self, request: TurnRequest) -> AsyncIterator[Event]:
        """Answer ``request``; yields TurnStarted, Noted, ContextChosen, Delta..., then Answered or Failed
        (or Planned for a dry run). Usage mistakes raise ``UsageError`` before anything is stored."""
        settings = self.settings()
        prompt = self._prompt(request)
        root, context_note = self._context_root(request)  # usage mistakes surface before anything is stored
        session = check_session_name(request.session) if request.session else (
            self.current_session() if self.current is not None or self.origin != "cli"
            else session_name_for(self.origin))
        choice, notes = await self._choose(request.model, settings, prompt)
        turn = uuid.uuid4().hex[:12]
        now = time.time
        for text in notes:
            yield Noted(session, now(), turn=turn, text=text)
        memory = request.uses_memory
        state = self.state(session)
        if not request.dry_run:
            self.ensure_started(session)
        started = TurnStarted(session, now(), turn=turn, command=request.command, prompt=prompt,
                              model=choice.id, memory=memory)
        if not request.dry_run:
            self.append(started)
        yield started
        if self._log_problem and (text := self.note_once("log", f"sessions are not saved: {self._log_problem}")):
            yield Noted(session, now(), turn=turn, text=text)
        if context_note and (text := self.note_once(f"context:{context_note}", context_note)):
            yield Noted(session, now(), turn=turn, text=text)
        try:
            history = state.memory(settings.max_history) if memory else ()
            pinned = {p for p, r in state.pinned.items() if root is not None and Path(r) == root}
            pinned = tuple(sorted(pinned | set(request.context.mentions)))
            plan = await asyncio.to_thread(self._plan, prompt, request, choice, settings, history, root, pinned)
        except AiexError as exc:
            yield self._failed(session, turn, exc, store=not request.dry_run)
            return
        for text in [*plan.notes(), *_missing_mentions(request.context.mentions, plan.context, root)]:
            yield Noted(session, now(), turn=turn, text=text)
        if plan.context is not None:
            c = plan.context
            chosen = ContextChosen(session, now(), turn=turn, root=plan.context_root, tokens=c.tokens, budget=c.budget,
                                   tokenizer=c.tokenizer, files=tuple(c.files), sources=tuple(c.sources))
            if not request.dry_run:
                self.append(chosen)
            yield chosen
        if request.dry_run:
            yield Planned(session, now(), turn=turn, plan=plan.to_dict(), text=plan.describe())
            return
        async for event in self._answer(session, turn, choice, plan):
            yield event

    def _prompt(self, request: TurnRequest) -> str:
        """What is asked, from the request's command and facts (UsageError when there is nothing to ask)."""
        if request.command == "explain":
            facts = request.facts
            if facts is None:
                if not request.prompt.strip():
                    raise UsageError("Name what to explain: a function or class name, PATH or PATH:LINE.")
                facts = self._lookup(request)
            return explain_prompt(facts)
        if request.command == "fix":
            if not (request.error_text or "").strip():
                raise UsageError("No traceback to fix: give a file holding one, or pipe one in (`-`).")
            where = "notebook" if self.origin.startswith("kernel") or self.origin == "ipython" else "program"
            source = request.error_source or self._failing_code(request)
            return fix_prompt(request.error_text, source, where)
        prompt = request.prompt.strip()
        if not prompt:
            raise UsageError("The prompt is empty: say what to ask.")
        return prompt

    def _failing_code(self, request: TurnRequest) -> str | None:
        """The definition holding the innermost frame of the traceback that lies in the project, if any."""
        from ..core.prompts import traceback_frames

        root = self._project_root(request)
        if root is None:
            return None
        for path, line in reversed(traceback_frames(request.error_text or "")):
            try:
                rel = Path(path).resolve().relative_to(root)
            except (ValueError, OSError):
                continue
            try:
                facts = self._lookup(replace(request, prompt=f"{rel.as_posix()}:{line}"))
            except AiexError:
                continue
            return facts.source
        return None

    def _lookup(self, request: TurnRequest):
        """``explain NAME|PATH[:LINE]`` outside a live session: the definition, found in the project's index."""
        from .index import open_sandbox, project_view
        from .index.lookup import find_definition

        root = self._project_root(request)
        if root is None:
            raise UsageError(f"Not inside a project, so there is no index to find {request.prompt!r} in; give "
                             "--context PATH (or --root DIR).")
        settings = self.settings()
        sandbox = open_sandbox(root, settings)
        return find_definition(project_view(sandbox, settings), sandbox, request.prompt.strip())

    async def _choose(self, model: str | None, settings, prompt: str = ""):
        """The model, and what to say about it (the default is said once, while its inputs stay the same)."""
        from .providers.selection import PREFERRED, choose_model

        if model:
            return await choose_model(model, settings), []
        if settings.default_model == PREFERRED:
            return await self._preferred(settings, prompt)
        key = (settings.default_model, tuple(sorted(settings.aliases.items())),
               *(bool(os.environ.get(v)) for v in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY")),
               os.environ.get("OLLAMA_HOST"), os.environ.get("LMSTUDIO_BASE_URL"))
        if self._default is not None and self._default[0] == key:
            return self._default[1], []
        choice = await choose_model(None, settings)
        self._default = (key, choice)
        return choice, [f"using {choice.id} ({choice.reason})"]

    async def _preferred(self, settings, prompt: str):
        """``default_model = "preferred"``: the model your votes rate highest for this kind of task."""
        from ..core.categories import categorize
        from ..core.selection import MIN_VOTES
        from .providers.selection import choose_model
        from .selection import model_ratings

        category = categorize(prompt)
        ratings, votes = model_ratings(self, category)
        if votes >= MIN_VOTES and ratings:
            best = max(ratings, key=ratings.get)
            try:
                choice = await choose_model(best, settings)
            except AiexError:
                pass
            else:
                return choice, [f"using {choice.id}: your votes rate it highest for {category} tasks ({votes} votes)"]
        fallback = settings.model_copy(update={"default_model": None})
        choice, notes = await self._choose(None, fallback)
        text = self.note_once(f"preferred:{category}",
                              f"default_model is 'preferred', but there are only {votes} votes on {category} tasks "
                              f"(it needs {MIN_VOTES}); choosing as usual")
        return choice, ([text] if text else []) + notes

    def _project_root(self, request: TurnRequest) -> Path | None:
        return self._context_root(replace(request, context=replace(request.context, enabled=True)))[0]

    def _context_root(self, request: TurnRequest) -> tuple[Path | None, str | None]:
        """The project whose context goes with the question: ``--context PATH`` names a path in it; by
        default the current directory's project, only when it has a project marker (never a home directory)."""
        from ..config import ROOT_MARKERS, find_project_root

        options = request.context
        if not options.enabled:
            if options.path:
                raise UsageError("--context and --no-context contradict each other; give one.")
            return None, None
        if options.budget is not None and options.budget < 0:
            raise UsageError("--context-budget must be 0 or more.")
        if options.path:
            path = os.path.expanduser(options.path)
            if not os.path.exists(path):
                raise UsageError(f"--context {options.path}: no such file or directory.")
            return find_project_root(path=path, root=options.root), None
        found = find_project_root(root=options.root)
        if options.root or any((found / m).exists() for m in ROOT_MARKERS):
            return found, None
        return None, "no project context: not inside a project (--context PATH picks one)"

    def _plan(self, prompt, request: TurnRequest, choice, settings, history, root, pinned):
        from .ask import plan_ask

        return plan_ask(prompt, choice=choice, settings=settings, history=history,
                        system=request.system or system_prompt(request.format), context_root=root,
                        budget=request.context.budget, max_tokens=request.max_tokens,
                        temperature=request.temperature, focus=request.context.focus, pinned=pinned,
                        attachments=request.attachments, progress=self.origin != "server",
                        json_schema=request.json_schema)

    def provider(self, spec):
        key = spec.cache_key()
        if key not in self._providers:
            self._providers[key] = spec.build()
        return self._providers[key]

    def breaker(self, provider: str):
        """The circuit breaker of ``provider``, from its latest outcomes in the log (closed without a log)."""
        from ..core.breaker import Breaker, breaker_state

        log = self.log
        if log is None:
            return Breaker("closed", 0)
        try:
            return breaker_state(log.outcomes(provider), time.time())
        except EventLogError:
            return Breaker("closed", 0)

    def refused(self, provider: str):
        """A ``ProviderUnavailable`` when ``provider``'s circuit is open (else None)."""
        from ..errors import ProviderUnavailable

        state = self.breaker(provider)
        if state.allows:
            return None
        return ProviderUnavailable(
            f"{provider} failed {state.failures} times in a row, so aiex is not calling it for {state.retry_in:g} s "
            "more (its circuit breaker is open; `aiex list models` shows it). Another model answers meanwhile.")

    async def _answer(self, session: str, turn: str, choice, plan) -> AsyncIterator[Event]:
        refused = self.refused(choice.spec.name)
        if refused is not None:
            yield self._failed(session, turn, refused)
            return
        provider = self.provider(choice.spec)
        parts: list[str] = []
        pending: list[str] = []
        flushed = time.monotonic()

        def flush() -> None:
            nonlocal flushed
            if pending:
                self.append(Delta(session, time.time(), turn=turn, text="".join(pending)))
                pending.clear()
            flushed = time.monotonic()

        final: AiexResponse | None = None
        try:
            async for item in provider.stream(plan.request):
                if isinstance(item, AiexResponse):
                    final = item
                    continue
                parts.append(item)
                pending.append(item)
                if time.monotonic() - flushed >= DELTA_INTERVAL:
                    flush()
                yield Delta(session, time.time(), turn=turn, text=item)
        except AiexError as exc:
            flush()
            yield self._failed(session, turn, exc, provider=choice.spec.name)
            return
        except (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt):
            flush()
            self.append(Cancelled(session, time.time(), turn=turn, partial="".join(parts)))
            raise
        flush()
        if final is None:
            yield self._failed(session, turn, AiexError(f"{choice.id} ended its stream without an answer."))
            return
        from .tokenizers import sent_estimate

        answered = Answered(session, time.time(), turn=turn, text=final.text, model=final.model,
                            provider=final.provider, finish_reason=final.finish_reason,
                            input_tokens=final.input_tokens, output_tokens=final.output_tokens,
                            cost_usd=final.cost_usd, latency_s=final.latency_s, ttft_s=final.ttft_s,
                            estimated_tokens=sent_estimate(choice.spec.name, choice.model, plan.request))
        self.append(answered)
        yield answered

    def _failed(self, session: str, turn: str, exc: AiexError, *, store: bool = True, provider: str = "") -> Failed:
        """A ``Failed`` event (stored); ``provider`` is named when the provider itself failed, for its breaker."""
        from ..errors import ProviderError, ProviderNotConfigured

        counts = provider and isinstance(exc, ProviderError) and not isinstance(exc, ProviderNotConfigured)
        failed = Failed(session, time.time(), turn=turn, error=type(exc).__name__, message=str(exc),
                        provider=provider if counts else "")
        if store:
            self.append(failed)
        return failed


def raise_failed(event: Failed) -> None:
    """Raise the aiex error a ``Failed`` event describes (same class, same message)."""
    from .. import errors

    cls = getattr(errors, event.error, None)
    if not (isinstance(cls, type) and issubclass(cls, errors.AiexError)):
        cls = errors.AiexError
    raise cls(event.message)
