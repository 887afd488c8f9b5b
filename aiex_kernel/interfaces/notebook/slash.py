"""Slash cells: a cell whose first line is ``/VERB ...`` runs ``%aiex VERB ...`` with the rest of the cell.

VERB is one of aiex's commands: ``/ask`` and ``/chat`` take the rest of the cell as
the prompt (``/chat`` is the conversation, like ``%%aiex``), ``/explain NAME`` and
``/fix`` as in ``%aiex``, and every other command too (``/list models``). Python
never starts a statement with ``/``, and ``obj?`` / ``obj??`` stay IPython's help.
``%load_ext aiex_kernel`` turns slash cells on in any IPython kernel. With
``prose_as_ask`` a cell that does not parse as Python and reads as prose is asked as
``/ask``.
"""

from __future__ import annotations

import ast
import re

from ...core.prompts import looks_like_prose

__all__ = ["SlashCommands"]

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
