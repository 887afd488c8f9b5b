"""The notebook chat widget (ipywidgets): a conversation beside the notebook, on one session.

The history of the session, replies that stream in rendered as Markdown with
highlighted code, a model picker, project context on or off and its budget, a Stop
button while a reply streams, and under each code block of a reply "Insert below"
and "Copy" (both through the aiex JupyterLab extension: the kernel cannot reach the
notebook's cells or the clipboard itself). Plain state driven by its methods; the
notebook surface connects it to the assistant service.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

from ...core.llm import code_blocks
from .markdown import markdown_html

__all__ = ["ChatWidget"]

#: seconds between two redraws of the reply that streams
INTERVAL = 0.05
_CSS = ("<style>.aiex-chat-user{background:#eef3fb;border-radius:6px;padding:4px 8px;margin:4px 0}"
        ".aiex-chat-bot{border-left:3px solid #8aa;padding:2px 8px;margin:4px 0}"
        ".aiex-chat-foot{color:#777;font-size:85%}</style>")


class ChatWidget:
    def __init__(self, session: str, models: list[str], model: str | None, *, default: str = "settings",
                 budget: int = 4096,
                 on_send: Callable[[str], object] | None = None, on_stop: Callable[[], object] | None = None,
                 on_insert: Callable[[str], object] | None = None, on_copy: Callable[[str], object] | None = None,
                 ) -> None:
        import ipywidgets as w

        self.w = w
        self.on_send, self.on_stop, self.on_insert, self.on_copy = on_send, on_stop, on_insert, on_copy
        self.title = w.HTML(f"{_CSS}<b>aiex chat</b> · session <code>{html.escape(session)}</code>")
        names = list(dict.fromkeys([m for m in [model, *models] if m]))
        self.model = w.Dropdown(options=[(f"default ({default})", None), *[(m, m) for m in names]], value=model,
                                description="model", layout=w.Layout(width="320px"))
        self.use_context = w.Checkbox(value=True, description="project context", indent=False)
        self.budget = w.BoundedIntText(value=budget, min=0, max=1_000_000, step=256, description="budget",
                                       layout=w.Layout(width="180px"))
        self.messages = w.VBox([])
        self.input = w.Textarea(placeholder="Ask aiex… (Send, or Shift+Enter in the box is a new line)",
                                layout=w.Layout(width="100%", height="70px"))
        self.send_button = w.Button(description="Send", button_style="primary")
        self.stop_button = w.Button(description="Stop", disabled=True)
        self.send_button.on_click(lambda _b: self.send())
        self.stop_button.on_click(lambda _b: self.stop())
        self.status = w.HTML("")
        self.output = w.Output()  #: where Insert and Copy put what the JupyterLab extension acts on
        self.view = w.VBox([w.HBox([self.title]), w.HBox([self.model, self.use_context, self.budget]),
                            self.messages, self.input, w.HBox([self.send_button, self.stop_button]), self.status,
                            self.output])
        self.busy = False
        self._reply = None
        self._reply_text = ""
        self._last = 0.0
        self.redraws = 0
        markdown_html("`warm`")

    # -- messages -------------------------------------------------------------------------------

    def _bubble(self, text: str, who: str):
        css = "aiex-chat-user" if who == "user" else "aiex-chat-bot"
        body = html.escape(text).replace("\n", "<br>") if who == "user" else markdown_html(text)
        return self.w.HTML(f"<div class='{css}'>{body}</div>")

    def add_user(self, text: str) -> None:
        self.messages.children = (*self.messages.children, self._bubble(text, "user"))

    def add_answer(self, text: str, foot: str = "") -> None:
        """A finished reply (the history, or one from another surface of the session)."""
        self.messages.children = (*self.messages.children, *self._answer_parts(text, foot))

    def _answer_parts(self, text: str, foot: str) -> list:
        w = self.w
        parts = [self._bubble(text, "bot")]
        for block in code_blocks(text):
            insert = w.Button(description="Insert below", layout=w.Layout(width="110px"))
            copy = w.Button(description="Copy", layout=w.Layout(width="70px"))
            code = block.code.rstrip("\n")
            insert.on_click(lambda _b, code=code: self._insert(code))
            copy.on_click(lambda _b, code=code: self._copy(code))
            label = w.HTML(f"<span class='aiex-chat-foot'>{html.escape(block.language or 'code')} block</span>")
            parts.append(w.HBox([label, insert, copy]))
        if foot:
            parts.append(w.HTML(f"<div class='aiex-chat-foot'>{html.escape(foot)}</div>"))
        return parts

    def start_reply(self) -> None:
        self.busy = True
        self.send_button.disabled = True
        self.stop_button.disabled = False
        self._reply_text = ""
        self._reply = self._bubble("…", "bot")
        self.messages.children = (*self.messages.children, self._reply)

    def stream(self, text: str) -> None:
        """The reply so far (redrawn at most once per INTERVAL)."""
        self._reply_text = text
        now = time.monotonic()
        if self._reply is not None and now - self._last >= INTERVAL:
            self._reply.value = self._bubble(text, "bot").value
            self._last = now
            self.redraws += 1

    def finish_reply(self, text: str, foot: str = "", *, error: str | None = None) -> None:
        """The reply is complete (or failed, or stopped): its final form, with its code blocks' buttons."""
        children = list(self.messages.children)
        if self._reply in children:
            children.remove(self._reply)
        if error is not None:
            parts = [self.w.HTML(f"<div class='aiex-chat-bot' style='color:#b00'>{html.escape(error)}</div>")]
            if text:
                parts = self._answer_parts(text, "stopped" if error == "stopped" else "") + parts[1:]
        else:
            parts = self._answer_parts(text, foot)
        self.messages.children = (*children, *parts)
        self._reply = None
        self.busy = False
        self.send_button.disabled = False
        self.stop_button.disabled = True

    # -- actions ----------------------------------------------------------------------------------

    def send(self, text: str | None = None) -> None:
        text = (text if text is not None else self.input.value).strip()
        if not text or self.busy:
            return
        self.input.value = ""
        self.add_user(text)
        if self.on_send is not None:
            self.on_send(text)

    def stop(self) -> None:
        if self.on_stop is not None:
            self.on_stop()

    def _insert(self, code: str) -> None:
        if self.on_insert is not None:
            self.on_insert(code)
        self.status.value = "inserted below the chat's cell"

    def _copy(self, code: str) -> None:
        if self.on_copy is not None:
            self.on_copy(code)
        self.status.value = "copied"

    def note(self, text: str) -> None:
        self.status.value = f"<span class='aiex-chat-foot'>{html.escape(text)}</span>"
