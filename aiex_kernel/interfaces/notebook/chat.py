"""``%aiex chat``: the chat widget, connected to the assistant service and the session's log."""

from __future__ import annotations

import threading

from ...core.events import Answered, Failed, TurnStarted
from ..turns import Outcome, follow
from ..widgets.chat import ChatWidget

__all__ = ["ChatRun"]

#: the turns of the session the chat shows (comparisons have their own widget)
SHOWN = ("chat", "ask", "explain", "fix")


def _foot(outcome: Outcome) -> str:
    a = outcome.answer
    if a is None:
        return ""
    parts = [outcome.started.model if outcome.started else a.model]
    if a.input_tokens is not None and a.output_tokens is not None:
        parts.append(f"{a.input_tokens} in / {a.output_tokens} out tokens")
    if a.cost_usd:
        parts.append(f"${a.cost_usd:.5f}")
    if a.latency_s is not None:
        parts.append(f"{a.latency_s:.1f} s")
    if outcome.sources:
        n = len(outcome.sources)
        parts.append(f"{n} source{'s' if n != 1 else ''}")
    return " · ".join(parts)


class ChatRun:
    """One chat widget: it sends through the service (replies stream in from a thread, so the kernel stays free
    and Stop works), and shows the session's turns from other surfaces as they are written."""

    def __init__(self, surface, args) -> None:
        self.surface = surface
        self.service = surface.service
        self.session = args.session or self.service.current_session()
        self.origin = surface.cell_id()
        settings = self.service.settings()
        models = sorted(settings.aliases) + ["local"]
        self.widget = ChatWidget(self.session, models, args.model, default=settings.default_model,
                                 budget=settings.context_budget,
                                 on_send=self.send, on_stop=self.stop, on_insert=self.insert, on_copy=self.copy)
        self.mine: set[str] = set()  #: this widget's turns (the log shows them too)
        self._sending: str | None = None  #: the text of the turn being sent, until its id is known
        self.stream = None
        self.thread: threading.Thread | None = None
        self._follower = None

    def show(self) -> None:
        from IPython.display import display

        state = self.service.state(self.session)
        for turn in state.turns:
            if turn.command in SHOWN and turn.status == "answered":
                self.widget.add_user(turn.prompt)
                self.widget.add_answer(turn.answer, turn.model)
        self._follow(state.position)
        display(self.widget.view)

    # -- sending ----------------------------------------------------------------------------------

    def request(self, text: str):
        from ...core.requests import ContextOptions, TurnRequest

        w = self.widget
        return TurnRequest(command="chat", prompt=text, model=w.model.value, session=self.session,
                           context=ContextOptions(enabled=w.use_context.value, budget=w.budget.value,
                                                  focus=self.surface.focus()))

    def send(self, text: str) -> None:
        self._sending = text
        self.widget.start_reply()
        self.stream = self.service.turn_sync(self.request(text))
        self.thread = threading.Thread(target=self._consume, name="aiex-chat", daemon=True)
        self.thread.start()

    def _consume(self) -> None:
        outcome = Outcome()

        def delta(_text: str) -> None:
            self.widget.stream("".join(outcome.parts))

        try:
            for event in self.stream:
                if isinstance(event, TurnStarted):
                    self.mine.add(event.turn)
                    self._sending = None
                follow([event], on_delta=delta, on_note=self.widget.note, outcome=outcome)
        except Exception as exc:  # noqa: BLE001 - shown in the chat, never lost in a thread
            self.widget.finish_reply(outcome.text, error=f"{type(exc).__name__}: {exc}")
            return
        if self.stream.cancelled:
            self.widget.finish_reply(outcome.text, error="stopped")
        elif outcome.failed is not None:
            self.widget.finish_reply("", error=f"{outcome.failed.error}: {outcome.failed.message}")
        else:
            self.widget.finish_reply(outcome.text, _foot(outcome))

    def stop(self) -> None:
        if self.stream is not None:
            self.stream.cancel()

    def insert(self, code: str) -> None:
        self.surface.insert_code(code, origin=self.origin, output=self.widget.output)

    def copy(self, code: str) -> None:
        self.surface.copy_code(code, output=self.widget.output)

    # -- the session, from elsewhere ---------------------------------------------------------------

    def _follow(self, after: int) -> None:
        from ...runtime.events import Follower

        log = self.service.log
        if log is None:
            return
        prompts: dict[str, str] = {}

        def on_events(new) -> None:
            for _, event in new:
                if isinstance(event, TurnStarted):
                    if event.command == "chat" and self._sending is not None and event.prompt == self._sending:
                        self.mine.add(event.turn)  # the log can show this widget's turn before its stream does
                        self._sending = None
                    elif event.turn not in self.mine and event.command in SHOWN:
                        prompts[event.turn] = event.prompt
                elif isinstance(event, Answered) and event.turn in prompts and event.turn not in self.mine:
                    self.widget.add_user(prompts.pop(event.turn))
                    self.widget.add_answer(event.text, f"from another cell or surface · {event.model}")
                elif isinstance(event, Failed):
                    prompts.pop(event.turn, None)

        self._follower = Follower(log, self.session, after, on_events).start()

    def close(self) -> None:
        """Stop following the session and stop a reply that streams (the extension unloads)."""
        self.stop()
        if self._follower is not None:
            self._follower.stop()
            self._follower = None
