"""The endpoints (all under ``/aiex/api``, all behind Jupyter's authentication; unsafe methods XSRF-checked):

===========================  ================================================================
``GET  models``              providers, their models, the default model, circuit breakers
``GET  sessions[?query=Q]``  the sessions, most recent first (full-text search of the history)
``POST sessions``            ``{"name"}``: start one
``GET  sessions/NAME``       its turns, memory size, pinned files
``POST messages``            ``{"session", "prompt", "model", "command", "context": {...}}``: one turn,
                             answered whole (JSON); the websocket streams instead
``POST turns/TURN/cancel``   stop a running turn (one from the websocket too)
``GET  context?q=&budget=``  the context that would be sent
``GET  context/files?q=``    indexed files for ``@file`` completion
``POST context/build``       bring the project's index up to date
``WS   chat``                send ``{"action": "chat", "ref", ...}``; receive every event of the turn as it
                             happens, tagged with ``ref``; ``{"action": "cancel", "ref"}``;
                             ``{"action": "follow", "session", "after"}`` replays the session's events
                             from the log after that id, then sends new ones as they are written;
                             ``{"action": "unfollow", "ref"}`` stops that
===========================  ================================================================

Every service call is async or runs in a thread: the server's event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import json

from jupyter_server.auth.decorator import ws_authenticated
from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.base.websocket import WebSocketMixin
from tornado import web
from tornado.websocket import WebSocketClosedError, WebSocketHandler

from ...core.events import Event, Noted, to_record
from ...errors import AiexError, SessionNotFound, UsageError

__all__ = ["handlers"]

PREFIX = "/aiex/api"


def event_json(event: Event, ref: str | None = None) -> dict:
    kind, data = to_record(event)
    out = {"event": kind, "session": event.session, "at": event.at, **data}
    if ref is not None:
        out["ref"] = ref
    return out


def request_from_json(body: dict, root: str):
    """A TurnRequest from a client's JSON (UsageError for what is wrong with it)."""
    from ...core.prompts import FORMATS
    from ...core.requests import COMMANDS, ContextOptions, TurnRequest

    if not isinstance(body, dict):
        raise UsageError("The body must be a JSON object.")
    command = body.get("command", "chat")
    if command not in COMMANDS:
        raise UsageError(f"command must be one of {', '.join(COMMANDS)}.")
    fmt = body.get("format", "markdown")
    if fmt not in FORMATS:
        raise UsageError(f"format must be one of {', '.join(FORMATS)}.")
    context = body.get("context") or {}
    budget = context.get("budget")
    if budget is not None and (not isinstance(budget, int) or budget < 0):
        raise UsageError("context.budget must be a whole number, 0 or more.")
    max_tokens = body.get("max_tokens", 1024)
    if not isinstance(max_tokens, int) or max_tokens < 1:
        raise UsageError("max_tokens must be a whole number of at least 1.")
    attachments = body.get("attachments") or ""
    mentions = context.get("mentions") or []
    if not isinstance(mentions, list) or not all(isinstance(m, str) and m for m in mentions):
        raise UsageError("context.mentions must be a list of file paths relative to the project.")
    for m in mentions:
        if m.startswith(("/", "\\")) or ".." in m.replace("\\", "/").split("/"):
            raise UsageError(f"@{m}: mentions are paths inside the project, relative to its root.")
    error_text, error_source = body.get("error_text"), body.get("error_source")
    if command == "fix" and not (isinstance(error_text, str) and error_text.strip()):
        raise UsageError("fix needs error_text: the traceback to explain.")
    return TurnRequest(command=command, prompt=str(body.get("prompt", "")), model=body.get("model") or None,
                       session=body.get("session") or None, memory=body.get("memory"),
                       context=ContextOptions(enabled=context.get("enabled", True), budget=budget, root=root,
                                              focus=str(context.get("focus") or ""),
                                              mentions=tuple(dict.fromkeys(mentions))),
                       format=fmt, max_tokens=max_tokens, attachments=str(attachments),
                       error_text=error_text if isinstance(error_text, str) else None,
                       error_source=error_source if isinstance(error_source, str) else None)


class _Base(APIHandler):
    @property
    def service(self):
        return self.settings["aiex_service"]

    @property
    def root(self) -> str:
        return self.settings["aiex_root"]

    def body(self) -> dict:
        try:
            return json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, "The body is not valid JSON.") from None

    def fail(self, exc: AiexError) -> None:
        status = 404 if isinstance(exc, SessionNotFound) else 400 if isinstance(exc, UsageError) else 500
        self.set_status(status)
        self.finish(json.dumps({"error": type(exc).__name__, "message": str(exc)}))


class ModelsHandler(_Base):
    @web.authenticated
    async def get(self) -> None:
        from dataclasses import asdict

        from ...errors import ProviderNotConfigured
        from ...runtime.providers.selection import choose_model, provider_statuses

        settings = self.service.settings()
        rows = await provider_statuses(settings)
        try:
            choice = await choose_model(None, settings)
            default = {"model": choice.id, "reason": choice.reason}
        except ProviderNotConfigured as exc:
            default = {"model": None, "reason": str(exc)}
        providers = []
        for row in rows:
            breaker = self.service.breaker(row.provider)
            providers.append({**asdict(row), "breaker": breaker.state})
        self.finish(json.dumps({"providers": providers, "default": default}))


class SessionsHandler(_Base):
    @web.authenticated
    async def get(self) -> None:
        log = self.service.log
        rows = [] if log is None else await asyncio.to_thread(log.sessions, self.get_argument("query", None))
        self.finish(json.dumps({"sessions": [{"name": s.name, "started_at": s.started_at, "last_at": s.last_at,
                                              "turns": s.turns} for s in rows]}))

    @web.authenticated
    async def post(self) -> None:
        try:
            state = self.service.start_session(self.body().get("name") or None)
        except AiexError as exc:
            return self.fail(exc)
        self.set_status(201)
        self.finish(json.dumps({"name": state.name}))


class SessionHandler(_Base):
    @web.authenticated
    async def get(self, name: str) -> None:
        if not self.service.exists(name):
            return self.fail(SessionNotFound(f"No session named {name!r}."))
        state = await asyncio.to_thread(self.service.state, name)
        self.finish(json.dumps({
            "name": name, "started_at": state.started_at, "position": state.position, "pinned": sorted(state.pinned),
            "turns": [{"turn": t.id, "command": t.command, "model": t.model, "status": t.status, "prompt": t.prompt,
                       "answer": t.answer, "error": t.error, "input_tokens": t.input_tokens, "output_tokens": t.output_tokens,
                       "cost_usd": t.cost_usd, "latency_s": t.latency_s, "sources": list(t.sources)}
                      for t in state.turns]}))


#: running turns of this server, by turn id (REST cancel)
_running: dict[str, asyncio.Task] = {}


async def run_turn(service, request, send, on_turn=None) -> None:
    """Run a turn on this loop, handing each event's JSON to ``send``; ``on_turn(turn id)`` when it is known."""
    from ...core.events import TurnStarted

    async for event in service.turn(request):
        if isinstance(event, TurnStarted) and on_turn is not None:
            on_turn(event.turn)
        await send(event)


class MessagesHandler(_Base):
    @web.authenticated
    async def post(self) -> None:
        from ..turns import follow

        try:
            request = request_from_json(self.body(), self.root)
        except AiexError as exc:
            return self.fail(exc)
        events: list[Event] = []

        async def keep(event: Event) -> None:
            events.append(event)

        task = asyncio.ensure_future(run_turn(self.service, request, keep,
                                              on_turn=lambda turn: _running.__setitem__(turn, task)))
        try:
            await task
        except asyncio.CancelledError:
            pass
        except AiexError as exc:
            return self.fail(exc)
        finally:
            for turn, t in list(_running.items()):
                if t is task:
                    _running.pop(turn, None)
        outcome = follow(events)
        data = outcome.to_dict()
        data["cancelled"] = task.cancelled()
        data["notes"] = [e.text for e in events if isinstance(e, Noted)]
        if outcome.failed is not None:
            data["error"] = {"error": outcome.failed.error, "message": outcome.failed.message}
        self.finish(json.dumps(data))


class CancelHandler(_Base):
    @web.authenticated
    async def post(self, turn: str) -> None:
        task = _running.get(turn)
        if task is None:
            self.set_status(404)
            return self.finish(json.dumps({"error": "NotRunning", "message": f"No running turn {turn!r}."}))
        task.cancel()
        self.finish(json.dumps({"turn": turn, "cancelled": True}))


class ContextHandler(_Base):
    @web.authenticated
    async def get(self) -> None:
        from pathlib import Path

        from ...runtime.index import project_context

        settings = self.service.settings()
        try:
            budget = int(self.get_argument("budget", str(settings.context_budget)))
        except ValueError:
            return self.fail(UsageError("budget must be a whole number."))
        try:
            result = await asyncio.to_thread(project_context, Path(self.root), settings, self.get_argument("q", ""),
                                             budget, provider=None, model=None)
        except AiexError as exc:
            return self.fail(exc)
        self.finish(json.dumps(result.to_dict(), default=str))


#: the most files a mention completion lists
MAX_COMPLETIONS = 20


def complete_path(paths: list[str], query: str, limit: int = MAX_COMPLETIONS) -> list[str]:
    """The project files an ``@query`` mention may mean: names starting with it first, then paths holding it."""
    q = query.lower()
    scored = []
    for path in paths:
        low = path.lower()
        name = low.rsplit("/", 1)[-1]
        if name.startswith(q) or low.startswith(q):
            scored.append((0, len(path), path))
        elif q in low:
            scored.append((1, len(path), path))
    return [p for _, _, p in sorted(scored)[:limit]]


class FilesHandler(_Base):
    """``GET context/files?q=`` the indexed files for ``@file`` completion (the index is brought up to date)."""

    @web.authenticated
    async def get(self) -> None:
        from pathlib import Path

        from ...runtime.index import open_sandbox, project_view

        settings = self.service.settings()

        def listing() -> list[str]:
            view = project_view(open_sandbox(Path(self.root), settings), settings)
            return [f["path"] for f in view.files]

        try:
            paths = await asyncio.to_thread(listing)
        except AiexError as exc:
            return self.fail(exc)
        self.finish(json.dumps({"files": complete_path(paths, self.get_argument("q", "")), "total": len(paths)}))


class BuildContextHandler(_Base):
    @web.authenticated
    async def post(self) -> None:
        from pathlib import Path

        from ...runtime.index import open_sandbox
        from ...runtime.index.build import build_index

        settings = self.service.settings()
        try:
            report = await asyncio.to_thread(build_index, open_sandbox(Path(self.root), settings), settings=settings,
                                             progress=False)
        except AiexError as exc:
            return self.fail(exc)
        self.finish(json.dumps(report.to_dict(), default=str))


class ChatSocket(WebSocketMixin, WebSocketHandler, JupyterHandler):
    """One connection: turns started on it stream their events back; sessions it follows stream theirs."""

    auth_resource = "aiex"

    def set_default_headers(self) -> None:
        """No JupyterHandler headers on a websocket."""

    @property
    def service(self):
        return self.settings["aiex_service"]

    @ws_authenticated
    async def get(self, *args, **kwargs):
        return await super().get(*args, **kwargs)

    def open(self, *args, **kwargs):  # type: ignore[override]
        super().open()
        self.tasks: dict[str, asyncio.Task] = {}

    async def send_json(self, message: dict) -> None:
        try:
            await self.write_message(json.dumps(message, default=str))
        except WebSocketClosedError:
            pass

    def on_message(self, raw) -> None:
        try:
            message = json.loads(raw)
            action = message.get("action")
            ref = str(message.get("ref", ""))
        except (ValueError, AttributeError):
            asyncio.ensure_future(self.send_json({"error": "UsageError", "message": "Send one JSON object."}))
            return
        if action == "chat":
            self.tasks[ref] = asyncio.ensure_future(self._chat(ref, message))
        elif action == "cancel":
            task = self.tasks.get(ref)
            if task is not None:
                task.cancel()
        elif action == "follow":
            previous = self.tasks.pop(f"follow:{ref}", None)
            if previous is not None:  # following again (after a reconnect, from a later id) replaces it
                previous.cancel()
            self.tasks[f"follow:{ref}"] = asyncio.ensure_future(self._follow(ref, message))
        elif action == "unfollow":
            task = self.tasks.pop(f"follow:{ref}", None)
            if task is not None:
                task.cancel()
        else:
            asyncio.ensure_future(self.send_json({"ref": ref, "error": "UsageError",
                                                  "message": "action must be chat, cancel, follow or unfollow."}))

    async def _chat(self, ref: str, message: dict) -> None:
        try:
            request = request_from_json(message, self.settings["aiex_root"])

            async def send(event: Event) -> None:
                await self.send_json(event_json(event, ref))

            task = self.tasks.get(ref)

            def running(turn: str) -> None:
                if task is not None:
                    _running[turn] = task

            await run_turn(self.service, request, send, on_turn=running)
        except asyncio.CancelledError:
            await self.send_json({"ref": ref, "event": "Cancelled"})
        except AiexError as exc:
            await self.send_json({"ref": ref, "error": type(exc).__name__, "message": str(exc)})
        finally:
            self.tasks.pop(ref, None)
            for turn, t in list(_running.items()):
                if t.done() or t is asyncio.current_task():
                    _running.pop(turn, None)

    async def _follow(self, ref: str, message: dict) -> None:
        """Replay a session's events after ``after`` from the log, then every new one (two tabs, one session;
        a socket that dropped mid-stream resumes here)."""
        session, after = message.get("session"), int(message.get("after") or 0)
        log = self.service.log
        if not session or log is None:
            await self.send_json({"ref": ref, "error": "UsageError", "message": "follow needs a session."})
            return
        try:
            while True:
                new = await asyncio.to_thread(log.read, session, after)
                for position, event in new:
                    await self.send_json({**event_json(event, ref), "id": position})
                    after = position
                await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            pass

    def on_close(self) -> None:
        """Stop following; turns started on this socket run to their end (their answers land in the log, where
        a client that reconnects finds them: a message is never lost with the connection)."""
        for name, task in list(getattr(self, "tasks", {}).items()):
            if name.startswith("follow:"):
                task.cancel()


def handlers() -> list[tuple]:
    return [
        (rf"{PREFIX}/models", ModelsHandler),
        (rf"{PREFIX}/sessions", SessionsHandler),
        (rf"{PREFIX}/sessions/([^/]+)", SessionHandler),
        (rf"{PREFIX}/messages", MessagesHandler),
        (rf"{PREFIX}/turns/([^/]+)/cancel", CancelHandler),
        (rf"{PREFIX}/context", ContextHandler),
        (rf"{PREFIX}/context/build", BuildContextHandler),
        (rf"{PREFIX}/context/files", FilesHandler),
        (rf"{PREFIX}/chat", ChatSocket),
    ]
