"""The one command registry shared by the CLI and the ``%aiex`` line magic.

Grammar: ``aiex VERB [NOUN] [ARGS]`` (DESIGN.md, "Conventions"). A command is a
handler ``(args, ctx) -> Result`` registered under a verb and an optional noun,
with its argparse arguments as data. :meth:`Registry.build_parser` turns the
registry into an argparse parser; the magics pass a parser class whose
``error()`` raises IPython's ``UsageError``.

Every command gets ``--json`` (one JSON document) and ``--jsonl`` (one JSON object
per line); the default output is human text.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REGISTRY", "Command", "Context", "Registry", "Result", "arg", "get_registry"]

#: Modules that register commands (imported on first use of the registry).
COMMAND_MODULES = (
    "aiex_kernel.interfaces.verbs.meta",
    "aiex_kernel.interfaces.verbs.code",
    "aiex_kernel.interfaces.verbs.cluster",
    "aiex_kernel.interfaces.verbs.models",
    "aiex_kernel.interfaces.verbs.kernel",
    "aiex_kernel.interfaces.verbs.context",
    "aiex_kernel.interfaces.verbs.doctor",
)


@dataclass
class Result:
    """What a command returns: data for ``--json``, rows for ``--jsonl``, and human text."""

    data: Any
    records: list | None = None  #: ``--jsonl`` rows (default: ``[data]``)
    human: Any = None  #: a str or rich renderable (default: the data as indented JSON)
    exit_code: int = 0
    shown: bool = False  #: the human text was already written as it arrived (a streamed answer)

    def rows(self) -> list:
        return self.records if self.records is not None else [self.data]


@dataclass
class Context:
    """What an interface tells a command about where it runs."""

    progress: bool = True  #: progress bars are welcome
    prog: str = "aiex"  #: how the user calls us ("aiex" or "%aiex")
    #: where streamed text goes as it arrives (None: the interface cannot stream)
    write: Callable[[str], object] | None = None
    #: a one-line remark for the user beside the output ("using ollama:llama3.2 (...)")
    note: Callable[[str], object] = print
    #: text piped to the command, for `aiex ask -` (None: nothing can be piped here)
    read_stdin: Callable[[], str] | None = None


def arg(*flags: str, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One argparse argument, as data: ``arg("--depth", type=int, help=...)``."""
    return flags, kwargs


@dataclass
class Command:
    verb: str
    noun: str | None
    help: str
    handler: Callable[[argparse.Namespace, Context], Result]
    arguments: list = field(default_factory=list)
    description: str | None = None

    @property
    def name(self) -> str:
        return f"{self.verb} {self.noun}" if self.noun else self.verb


class Registry:
    def __init__(self) -> None:
        self.commands: dict[tuple[str, str | None], Command] = {}

    def command(self, verb: str, noun: str | None = None, *, help: str, args: Iterable = (),
                description: str | None = None):
        """Decorator registering ``handler(args, ctx) -> Result`` as ``VERB [NOUN]``."""

        def register(handler):
            key = (verb, noun)
            if key in self.commands:
                raise ValueError(f"command {verb} {noun or ''} registered twice")
            self.commands[key] = Command(verb, noun, help, handler, list(args), description or handler.__doc__)
            return handler

        return register

    def verbs(self) -> dict[str, list[Command]]:
        out: dict[str, list[Command]] = {}
        for cmd in self.commands.values():
            out.setdefault(cmd.verb, []).append(cmd)
        return out

    def build_parser(self, prog: str = "aiex", parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
                     description: str | None = None) -> argparse.ArgumentParser:
        parser = parser_class(prog=prog, description=description,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=parser_class)
        for verb, cmds in self.verbs().items():
            nouned = [c for c in cmds if c.noun]
            if not nouned:
                self._leaf(verbs, verb, cmds[0])
                continue
            summary = f"{verb} " + "|".join(c.noun for c in nouned)
            vp = verbs.add_parser(verb, help=f"{summary}: " + "; ".join(c.help for c in nouned),
                                  description=f"aiex {verb} NOUN", formatter_class=argparse.RawDescriptionHelpFormatter)
            nouns = vp.add_subparsers(dest="noun", metavar="NOUN", parser_class=parser_class)
            for cmd in nouned:
                self._leaf(nouns, cmd.noun, cmd)
        return parser

    @staticmethod
    def _leaf(subparsers, name: str, cmd: Command) -> None:
        p = subparsers.add_parser(name, help=cmd.help, description=cmd.description or cmd.help,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        for flags, kwargs in cmd.arguments:
            p.add_argument(*flags, **kwargs)
        out = p.add_argument_group("output")
        fmt = out.add_mutually_exclusive_group()
        fmt.add_argument("--json", dest="output", action="store_const", const="json",
                         help="print one JSON document")
        fmt.add_argument("--jsonl", dest="output", action="store_const", const="jsonl",
                         help="print one JSON object per line")
        p.set_defaults(command=cmd, output="text")


def parse_command(parser: argparse.ArgumentParser, words: list[str], prog: str, error: type[Exception]):
    """``parser.parse_args(words)``, but an unknown argument names the command's own help."""
    args, extra = parser.parse_known_args(words)
    if extra:
        command = getattr(args, "command", None)
        where = f"{prog} {command.name} --help" if command is not None else f"{prog} --help"
        raise error(f"unrecognized arguments: {' '.join(extra)} (see `{where}`)")
    return args


def subparser(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """The parser of ``VERB [NOUN]`` inside ``parser`` (``UsageError`` if there is none)."""
    from ..errors import UsageError

    current = parser
    for word in words:
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or word not in actions[0].choices:
            known = ", ".join(actions[0].choices) if actions else "none"
            raise UsageError(f"no command {' '.join(words)!r}; known here: {known}.")
        current = actions[0].choices[word]
    return current


#: The registry; command modules register into it at import.
REGISTRY = Registry()


def get_registry() -> Registry:
    """The registry with every command module imported (each import is light)."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    return REGISTRY
