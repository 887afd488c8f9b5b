"""The aiex Jupyter kernel: IPython with the aiex extension loaded and chat-style slash commands.

A cell whose first line is ``/ask``, ``/chat``, ``/explain NAME`` or ``/fix`` goes
to the assistant (the rest of the cell is the prompt); ``obj?`` and ``obj??`` stay
IPython's help. With ``prose_as_ask`` (config, off by default) a cell that does not
parse as Python and reads as prose is asked as ``/ask``.

* ``/ask [-m MODEL] PROMPT``: a standalone question (like ``%aiex ask``, no memory);
* ``/chat [-m MODEL] PROMPT``: the conversation (like ``%%aiex``, with memory);
* ``/explain NAME`` and ``/fix``: as ``%aiex explain`` and ``%aiex fix``.
"""

from __future__ import annotations

import ast
import re

from ipykernel.ipkernel import IPythonKernel
from traitlets import Bool

from .._version import __version__
from ..core.prompts import looks_like_prose

__all__ = ["AiexKernel", "SlashCommands"]

_SLASH = re.compile(r"^/(?P<cmd>ask|chat|explain|fix)(?=\s|$)(?P<rest>.*)$", re.DOTALL)


class SlashCommands:
    """An IPython cleanup transformer turning slash-command cells into aiex magic calls."""

    def __init__(self, prose_as_ask=lambda: False) -> None:
        self.prose_as_ask = prose_as_ask

    def __call__(self, lines: list[str]) -> list[str]:
        text = "".join(lines)
        m = _SLASH.match(text.lstrip("\n"))
        if m:
            from IPython.core.error import UsageError

            try:
                return [self.call(m["cmd"], m["rest"])]
            except UsageError as exc:  # shown when the cell runs, as IPython shows usage errors
                return [f"raise __import__('IPython').core.error.UsageError({str(exc)!r})\n"]
        # cheap test first: the setting is read (config files) only for prose-looking cells
        if looks_like_prose(text) and not _parses(text) and self.prose_as_ask():
            return [self.call("ask", text)]
        return lines

    @staticmethod
    def call(cmd: str, rest: str) -> str:
        """The magic call for a slash cell (its options parsed the way `%aiex ask` parses them)."""
        if cmd == "chat":
            import shlex

            from .magics import leading_options

            options, prompt = leading_options(rest)
            words = [options.pop("model")] if "model" in options else []
            for key, value in options.items():
                flag = {"use_context": "--no-context", "dry_run": "--dry-run"}.get(key)
                words += [flag] if flag else [f"--{key.replace('_', '-')}", str(value)]
            return f"get_ipython().run_cell_magic('aiex', {shlex.join(words)!r}, {prompt!r})\n"
        return f"get_ipython().run_line_magic('aiex', {f'{cmd} {rest.strip()}'.strip()!r})\n"


def _parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


class AiexKernel(IPythonKernel):
    implementation = "aiex"
    implementation_version = __version__
    banner = ("aiex: IPython with an AI assistant. `%aiex help` lists the commands; cells starting "
              "/ask, /chat, /explain NAME or /fix go to the assistant.")

    prose_as_ask = Bool(None, allow_none=True, config=True,
                        help="Ask a cell that is not Python and reads as prose as /ask "
                             "(default: config.toml's prose_as_ask, false).")

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        from .magics import register

        register(self.shell)
        self.slash = SlashCommands(self._prose_as_ask)
        self.shell.input_transformer_manager.cleanup_transforms.insert(0, self.slash)
        self._prose_setting: bool | None = None

    def _prose_as_ask(self) -> bool:
        if self.prose_as_ask is not None:
            return self.prose_as_ask
        if self._prose_setting is None:
            from ..config import find_project_root, load_settings

            self._prose_setting = load_settings(find_project_root()).prose_as_ask
        return self._prose_setting
