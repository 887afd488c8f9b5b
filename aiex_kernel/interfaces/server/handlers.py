"""The endpoints (all under ``/aiex/api``, all behind Jupyter's authentication; unsafe methods XSRF-checked):

===========================  ================================================================
``GET  models``              providers, their models, the default model, circuit breakers
``GET  sessions[?query=Q]``  the sessions, most recent first (full-text search of the history)
``POST sessions``            ``{"name"}``: start one
``GET  sessions/NAME``       its turns, memory size, pinned files
``POST messages``            ``{"session", "prompt", "model", "command", "context": {...}}``: one turn,
                             answered whole (JSON); the websocket streams instead
``POST turns/TURN/cancel``   stop a running turn
``GET  context?q=&budget=``  the context that would be sent
``POST context/build``       bring the project's index up to date
``WS   chat``                send ``{"action": "chat", "ref", ...}``; receive every event of the turn as it
                             happens, tagged with ``ref``; ``{"action": "cancel", "ref"}``;
                             ``{"action": "follow", "session", "after"}`` replays the session's events
                             from the log after that id, then sends new ones as they are written
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

from ...core.events import Event, to_record
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
    return TurnRequest(command=command, prompt=str(body.get("prompt", "")), model=body.get("model") or None,
                       session=body.get("session") or None, memory=body.get("memory"),
                       context=ContextOptions(enabled=context.get("enabled", True), budget=budget, root=root),
                       format=fmt, max_tokens=max_tokens, attachments=str(attachments))


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
                       "answer": t.answer, "input_tokens": t.input_tokens, "output_tokens": t.output_tokens,
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
            self.tasks[f"follow:{ref}"] = asyncio.ensure_future(self._follow(ref, message))
        else:
            asyncio.ensure_future(self.send_json({"ref": ref, "error": "UsageError",
                                                  "message": "action must be chat, cancel or follow."}))

    async def _chat(self, ref: str, message: dict) -> None:
        try:
            request = request_from_json(message, self.settings["aiex_root"])

            async def send(event: Event) -> None:
                await self.send_json(event_json(event, ref))

            await run_turn(self.service, request, send)
        except asyncio.CancelledError:
            await self.send_json({"ref": ref, "event": "Cancelled"})
        except AiexError as exc:
            await self.send_json({"ref": ref, "error": type(exc).__name__, "message": str(exc)})
        finally:
            self.tasks.pop(ref, None)

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
        for task in list(getattr(self, "tasks", {}).values()):
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
        (rf"{PREFIX}/chat", ChatSocket),
    ]
