"""Slash cells, and the aiex Jupyter kernel: IPython with the aiex extension loaded.

A cell whose first line is ``/VERB ...``, where VERB is one of aiex's commands,
runs ``%aiex VERB ...`` with the rest of the cell: ``/ask`` and ``/chat`` take it as
the prompt (``/chat`` is the conversation, like ``%%aiex``), ``/explain NAME`` and
``/fix`` as in ``%aiex``, and every other command too (``/list models``). Python
never starts a statement with ``/``, and ``obj?`` / ``obj??`` stay IPython's help.
``%load_ext aiex_kernel`` turns slash cells on in any IPython kernel; the aiex
kernel loads the extension itself. With ``prose_as_ask`` (config, off by default)
a cell that does not parse as Python and reads as prose is asked as ``/ask``.
"""

from __future__ import annotations

import ast
import re

from ipykernel.ipkernel import IPythonKernel
from traitlets import Bool

from ..._version import __version__
from ...core.prompts import looks_like_prose

__all__ = ["AiexKernel", "SlashCommands"]

_SLASH = re.compile(r"^/(?P<verb>[a-z]+)(?=\s|$)(?P<rest>.*)$", re.DOTALL)


def _verbs() -> set[str]:
    from ..commands import get_registry

    return {c.verb for c in get_registry().for_surface("notebook")}


class SlashCommands:
    """An IPython cleanup transformer turning slash cells into ``%aiex`` calls through the registry."""

    def __init__(self, prose_as_ask=lambda: False) -> None:
        self.prose_as_ask = prose_as_ask

    def __call__(self, lines: list[str]) -> list[str]:
        text = "".join(lines)
        m = _SLASH.match(text.lstrip("\n"))
        if m and m["verb"] in _verbs():
            return [self.call(m["verb"], m["rest"])]
        # cheap test first: the setting is read (config files) only for prose-looking cells
        if looks_like_prose(text) and not _parses(text) and self.prose_as_ask():
            return [self.call("ask", text)]
        return lines

    @staticmethod
    def call(verb: str, rest: str) -> str:
        """The magic call for a slash cell: ``%aiex VERB REST`` (the rest of the cell kept as typed)."""
        line = f"{verb} {rest.strip()}".strip()
        return f"get_ipython().run_line_magic('aiex', {line!r})\n"


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
        self._prose_setting: bool | None = None

    def prose_as_ask_enabled(self) -> bool:
        if self.prose_as_ask is not None:
            return self.prose_as_ask
        if self._prose_setting is None:
            from ...config import find_project_root, load_settings

            self._prose_setting = load_settings(find_project_root()).prose_as_ask
        return self._prose_setting
