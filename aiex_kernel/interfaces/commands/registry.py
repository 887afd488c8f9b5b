"""The one command registry shared by every surface: the CLI, ``%aiex`` and the kernel's slash cells.

Grammar: ``aiex VERB [NOUN] [ARGS]`` (DESIGN.md, "Conventions"). A command is a
handler ``(args, ctx) -> Result`` registered under a verb and an optional noun
(singular; the plural is accepted too), with its argparse arguments as data.
:meth:`Registry.build_parser` turns the registry into an argparse parser for one
surface: commands and arguments can be limited to some surfaces (``%aiex insert``
exists only in a notebook). The magics pass a parser class whose ``error()``
raises IPython's ``UsageError``.

A command with ``raw`` (``ask``, ``chat``) takes, on the notebook surfaces, its
options first and then the rest of the line exactly as typed: ``%aiex ask what's
this?`` keeps its apostrophe. :func:`split_options` does that split.

Every command gets ``--json`` (one JSON document) and ``--jsonl`` (one JSON object
per line); the default output is human text.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["REGISTRY", "SURFACES", "Command", "Context", "Registry", "Result", "arg", "get_registry",
           "parse_command", "split_options", "subparser"]

#: where a command can be typed
SURFACES = ("cli", "notebook")

#: Modules that register commands (imported on first use of the registry).
COMMAND_MODULES = (
    "aiex_kernel.interfaces.commands.assistant",
    "aiex_kernel.interfaces.commands.compare",
    "aiex_kernel.interfaces.commands.edits",
    "aiex_kernel.interfaces.commands.sessions",
    "aiex_kernel.interfaces.commands.stats",
    "aiex_kernel.interfaces.commands.notebook",
    "aiex_kernel.interfaces.commands.meta",
    "aiex_kernel.interfaces.commands.code",
    "aiex_kernel.interfaces.commands.cluster",
    "aiex_kernel.interfaces.commands.models",
    "aiex_kernel.interfaces.commands.kernel",
    "aiex_kernel.interfaces.commands.context",
    "aiex_kernel.interfaces.commands.lookup",
    "aiex_kernel.interfaces.mcp.command",
    "aiex_kernel.interfaces.commands.doctor",
)

#: nouns' plurals (``list checkpoints``); the rest add an ``s``
_PLURALS: dict[str, str] = {}


@dataclass
class Result:
    """What a command returns: data for ``--json``, rows for ``--jsonl``, and human text."""

    data: Any
    records: list | None = None  #: ``--jsonl`` rows (default: ``[data]``)
    human: Any = None  #: a str or rich renderable (default: the data as indented JSON)
    exit_code: int = 0
    shown: bool = False  #: the human text was already written as it arrived (a streamed answer)
    value: Any = None  #: what a notebook command returns as the cell's value (an answer)
    figure: Any = None  #: a matplotlib figure to show beside the text in a notebook
    silent: bool = False  #: nothing more to print: the command's output was its protocol (MCP over stdio)

    def rows(self) -> list:
        return self.records if self.records is not None else [self.data]


@dataclass
class Context:
    """What an interface gives a command: where it runs, and how it shows things there."""

    surface: str = "cli"  #: "cli" or "notebook"
    progress: bool = True  #: progress bars are welcome
    prog: str = "aiex"  #: how the user calls us ("aiex" or "%aiex")
    #: where streamed text goes as it arrives (None: the interface cannot stream)
    write: Callable[[str], object] | None = None
    #: a one-line remark for the user beside the output ("using ollama:llama3.2 (...)")
    note: Callable[[str], object] = print
    #: text piped to the command, for `aiex ask -` (None: nothing can be piped here)
    read_stdin: Callable[[], str] | None = None
    #: the surface's assistant service (runtime.service.AssistantService)
    service: Any = None
    #: run a turn and render its events this surface's way: (request, args) -> Result
    run_turn: Callable[..., Result] | None = None
    #: run a comparison and render it this surface's way: (request, args) -> Result
    run_compare: Callable[..., Result] | None = None
    #: propose an edit (or apply stored proposal ``edit_id``), review it and apply it: (request, args, edit_id=None)
    run_edit: Callable[..., Result] | None = None
    #: an interactive conversation in a terminal: (args) -> Result
    run_chat_loop: Callable[..., Result] | None = None
    #: the notebook (interfaces.notebook.surface.NotebookSurface) when the surface is one
    notebook: Any = None


def arg(*flags: str, surfaces: Iterable[str] = SURFACES, **kwargs: Any) -> tuple[tuple[str, ...], dict[str, Any], tuple]:
    """One argparse argument, as data: ``arg("--depth", type=int, help=...)``; ``surfaces`` limits where."""
    return flags, kwargs, tuple(surfaces)


@dataclass
class Command:
    verb: str
    noun: str | None
    help: str
    handler: Callable[[argparse.Namespace, Context], Result]
    arguments: list = field(default_factory=list)
    description: str | None = None
    surfaces: tuple[str, ...] = SURFACES
    #: the positional that takes the raw rest of the line on the notebook surfaces (or an option, ``-p``: the
    #: text after it)
    raw: str | None = None

    @property
    def name(self) -> str:
        return f"{self.verb} {self.noun}" if self.noun else self.verb

    def arguments_for(self, surface: str) -> list:
        return [(flags, kwargs) for flags, kwargs, where in self.arguments if surface in where]


class Registry:
    def __init__(self) -> None:
        self.commands: dict[tuple[str, str | None], Command] = {}

    def command(self, verb: str, noun: str | None = None, *, help: str, args: Iterable = (),
                description: str | None = None, surfaces: Iterable[str] = SURFACES, raw: str | None = None,
                plural: str | None = None):
        """Decorator registering ``handler(args, ctx) -> Result`` as ``VERB [NOUN]``."""

        def register(handler):
            key = (verb, noun)
            if key in self.commands:
                raise ValueError(f"command {verb} {noun or ''} registered twice")
            self.commands[key] = Command(verb, noun, help, handler, list(args), description or handler.__doc__,
                                         tuple(surfaces), raw)
            if noun and plural:
                _PLURALS[noun] = plural
            return handler

        return register

    def for_surface(self, surface: str) -> list[Command]:
        return [c for c in self.commands.values() if surface in c.surfaces]

    def find(self, verb: str, noun: str | None = None, surface: str = "cli") -> Command | None:
        cmd = self.commands.get((verb, noun))
        return cmd if cmd is not None and surface in cmd.surfaces else None

    def verbs(self, surface: str = "cli") -> dict[str, list[Command]]:
        out: dict[str, list[Command]] = {}
        for cmd in self.for_surface(surface):
            out.setdefault(cmd.verb, []).append(cmd)
        return out

    def build_parser(self, prog: str = "aiex", parser_class: type[argparse.ArgumentParser] = argparse.ArgumentParser,
                     description: str | None = None, surface: str = "cli") -> argparse.ArgumentParser:
        parser = parser_class(prog=prog, description=description,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
        verbs = parser.add_subparsers(dest="verb", metavar="VERB", parser_class=parser_class)
        for verb, cmds in self.verbs(surface).items():
            nouned = [c for c in cmds if c.noun]
            if not nouned:
                self._leaf(verbs, verb, cmds[0], surface)
                continue
            summary = f"{verb} " + "|".join(c.noun for c in nouned)
            vp = verbs.add_parser(verb, help=f"{summary}: " + "; ".join(c.help for c in nouned),
                                  description=f"{prog} {verb} NOUN", formatter_class=argparse.RawDescriptionHelpFormatter)
            nouns = vp.add_subparsers(dest="noun", metavar="NOUN", parser_class=parser_class)
            for cmd in nouned:
                self._leaf(nouns, cmd.noun, cmd, surface, aliases=[plural_of(cmd.noun)])
        return parser

    @staticmethod
    def _leaf(subparsers, name: str, cmd: Command, surface: str, aliases=()) -> None:
        p = subparsers.add_parser(name, help=cmd.help, description=cmd.description or cmd.help, aliases=list(aliases),
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
        for flags, kwargs in cmd.arguments_for(surface):
            p.add_argument(*flags, **kwargs)
        out = p.add_argument_group("output")
        fmt = out.add_mutually_exclusive_group()
        fmt.add_argument("--json", dest="output", action="store_const", const="json",
                         help="print one JSON document")
        fmt.add_argument("--jsonl", dest="output", action="store_const", const="jsonl",
                         help="print one JSON object per line")
        p.set_defaults(command=cmd, output="text")


def plural_of(noun: str) -> str:
    """The other number of ``noun``: ``session`` -> ``sessions``, ``models`` -> ``model``."""
    if noun in _PLURALS:
        return _PLURALS[noun]
    return noun[:-1] if noun.endswith("s") else noun + "s"


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
    from ...errors import UsageError

    current = parser
    for word in words:
        actions = [a for a in current._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or word not in actions[0].choices:
            known = ", ".join(dict.fromkeys(actions[0].choices)) if actions else "none"
            raise UsageError(f"no command {' '.join(words)!r}; known here: {known}.")
        current = actions[0].choices[word]
    return current


def takes_value(parser: argparse.ArgumentParser, flag: str) -> bool | None:
    """Whether ``flag`` takes a value in ``parser`` (None: not one of its options)."""
    name = flag.split("=", 1)[0]
    for action in parser._actions:
        if name in action.option_strings:
            return "=" not in flag and action.nargs != 0
    return None


def split_options(text: str, parser: argparse.ArgumentParser) -> tuple[list[str], str]:
    """The leading options of ``text`` as words (split and unquoted as IPython's ``arg_split`` does), and the
    rest of the text exactly as typed: ``-m "ollama:llama3.2" why's that?`` -> ``["-m", "ollama:llama3.2"]``,
    ``"why's that?"``. Option parsing stops at the first word that is not an option or an option's value,
    or after ``--``; an unknown option stays a word, for argparse to refuse."""
    from IPython.utils.process import arg_split

    words: list[str] = []
    rest = text
    expecting_value = False
    while True:
        stripped = rest.lstrip()
        if not stripped:
            return words, ""
        token, remainder = _next_token(stripped)
        if expecting_value:
            words.extend(arg_split(token, posix=True) or [token])
            expecting_value = False
            rest = remainder
            continue
        if token == "--":
            return words, remainder.strip()
        if not token.startswith("-") or token == "-" or (len(token) > 1 and token[1].isdigit()):
            return words, stripped.strip()
        words.extend(arg_split(token, posix=True) or [token])
        expecting_value = bool(takes_value(parser, token))
        rest = remainder


def _next_token(text: str) -> tuple[str, str]:
    """The first shell-like token of ``text`` (quotes kept, for ``arg_split``) and what follows it."""
    i, quote = 0, None
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch.isspace():
            break
        i += 1
    return text[:i], text[i:]


#: The registry; command modules register into it at import.
REGISTRY = Registry()


def get_registry() -> Registry:
    """The registry with every command module imported (each import is light)."""
    for module in COMMAND_MODULES:
        importlib.import_module(module)
    return REGISTRY
