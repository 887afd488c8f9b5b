"""``%aiex`` and ``%%aiex``: the IPython magics.

``%load_ext aiex_kernel`` registers them, and the slash cells (``/ask ...``), in any
IPython shell (idempotent; nothing heavy is imported until the first use). Every
command of the registry works as ``%aiex VERB [NOUN] [ARGS]``, with the notebook's
own (``insert``, ``alias``, ``dealias``); ``%%aiex [MODEL] [options]`` is ``chat``
with the cell as the prompt.

Configuration: traitlets on ``AiexMagics`` (``c.AiexMagics.default_model = ...`` in
``ipython_config.py``) override the values of the aiex config loader
(``config.toml``, ``AIEX_*``), which are the defaults.
"""

from __future__ import annotations

import argparse
import functools
import re

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.utils.process import arg_split
from traitlets import Dict, Int, Unicode

from ...errors import UsageError as AiexUsageError

__all__ = ["AiexMagics", "MagicParser", "notebook_help", "register"]


class MagicParser(argparse.ArgumentParser):
    """argparse whose errors are IPython ``UsageError``s and whose ``--help`` returns instead of exiting."""

    def error(self, message: str):
        raise IPythonUsageError(f"{message} (see `{self.prog} --help`)")

    def exit(self, status: int = 0, message: str | None = None):
        if status:
            raise IPythonUsageError(message or f"{self.prog}: error")
        raise _HelpShown()


#: first words of a ``%%aiex`` line that name a command rather than a model
CELL_VERBS = ("edit", "compare", "chat")
_RAW_FLAG = re.compile(r"(?:^|\s)(?:-p|--prompt)(?:\s+|$)")


class _HelpShown(Exception):
    pass


def split_words(line: str) -> list[str]:
    """A magic line as words: IPython's ``arg_split``, with quotes taken off (``--path "my dir"``)."""
    from ...errors import UsageError

    try:
        return arg_split(line, posix=True)
    except ValueError as exc:  # an unclosed quote
        raise UsageError(f"Cannot split {line.strip()!r} into words ({exc}); close the quote.") from None


def _registry():
    from ..commands import get_registry

    return get_registry()


@functools.cache
def notebook_parser() -> MagicParser:
    """Every command of the notebook surface (built once: the registry does not change after import)."""
    return _registry().build_parser("%aiex", MagicParser, surface="notebook")


@functools.cache
def cell_parser() -> MagicParser:
    """``%%aiex [MODEL] [options]``: ``chat`` with the cell as the prompt, or ``compare`` with ``--models``
    (their options are declared once in the registry)."""
    registry = _registry()
    p = MagicParser(prog="%%aiex", description="Say the rest of the cell to the assistant (the conversation: the "
                                               "session's last exchanges go with it); with --models A,B,... "
                                               "compare several models side by side.")
    p.add_argument("model_word", nargs="?", metavar="MODEL", help="provider:model or an alias (the same as -m)")
    seen: set[str] = set()
    for name in ("compare", "chat"):
        for flags, kwargs in registry.find(name, surface="notebook").arguments_for("notebook"):
            if flags == ("prompt",) or any(f in seen for f in flags):
                continue
            seen.update(flags)
            p.add_argument(*flags, **kwargs)
    p.set_defaults(output="text")
    return p


def notebook_help() -> str:
    """The notebook's own usage, generated from the registry: what only a notebook has, and ``%%aiex``."""
    registry = _registry()
    lines = ["Only in a notebook:"]
    for cmd in registry.for_surface("notebook"):
        if "cli" not in cmd.surfaces:
            lines.append(f"  %aiex {cmd.name:<26} {cmd.help}")
    lines += ["", "Questions (options first, then the text, as typed):"]
    for name in ("ask", "chat", "explain", "fix"):
        cmd = registry.find(name, surface="notebook")
        lines.append(f"  %aiex {name} [OPTIONS] {'TEXT' if cmd.raw == 'prompt' else 'OBJ' if cmd.raw else '':<12}"
                     f"{cmd.help}")
    lines += ["", cell_parser().format_usage().replace("usage: ", "").rstrip(),
              "  The cell is the prompt: `chat` with the cell below the magic line. {name}, {In[n]}, {Out[n]},",
              "  {Err[n]} are filled in when they exist; every other brace stays as written.",
              "%%aiex edit PATH... [OPTIONS]: the cell says what to change in the files (a review widget follows);",
              "  %%aiex compare --models A,B and %%aiex chat [MODEL] take the cell as the prompt.",
              "", "Cells starting /VERB run `%aiex VERB` with the rest of the cell: /ask, /chat, /explain NAME, /fix."]
    return "\n".join(lines)


@magics_class
class AiexMagics(Magics):
    default_model = Unicode(None, allow_none=True, config=True,
                            help="Model used when none is named (default: config.toml's default_model, "
                                 "else the first available).")
    aliases = Dict(config=True, help="Model aliases, over config.toml's [aliases]: {'fast': 'ollama:llama3.2'}.")
    max_history = Int(None, allow_none=True, config=True,
                      help="Exchanges kept as conversation memory (default: config.toml, 5).")
    cells_budget = Int(None, allow_none=True, config=True,
                       help="Tokens of recent cells that --cells may add (default: config.toml, 2000).")
    max_tokens = Int(1024, config=True, help="Longest answer in tokens (--max-tokens overrides it).")

    def __init__(self, shell=None, **kwargs) -> None:
        super().__init__(shell=shell, **kwargs)
        self._surface = None
        self.errors = ErrorLog()

    @property
    def surface(self):
        if self._surface is None:
            from .surface import NotebookSurface

            self._surface = NotebookSurface(self.shell, self)
            self.shell.events.register("post_run_cell", self._surface.on_post_run_cell)
        return self._surface

    # -- the magic ------------------------------------------------------------------------------

    @line_cell_magic
    def aiex(self, line: str, cell: str | None = None):
        """aiex: `%aiex VERB [NOUN] [ARGS]` (`%aiex help`), or `%%aiex [MODEL]` with the prompt below."""
        try:
            if cell is not None:
                return self._cell(line, cell)
            return self._line(line)
        except AiexUsageError as exc:
            raise IPythonUsageError(str(exc)) from None
        except _HelpShown:
            return None

    def _cell(self, line: str, cell: str):
        from ..commands.assistant import request_from
        from ..commands.compare import compare_request

        words = split_words(line)
        if words and words[0] in CELL_VERBS:
            return self._cell_verb(words, cell)
        args = cell_parser().parse_args(words)
        named = list(args.model_list or [])
        if args.models and args.model_word:
            raise IPythonUsageError(f"`%%aiex {args.model_word} --models ...` names models twice: give the models "
                                    f"to compare with --models (or -m repeated), or one MODEL to ask.")
        if args.model_word and named:
            raise IPythonUsageError(f"Give the model once: `%%aiex {args.model_word}` or `-m {named[0]}`.")
        args.prompt = cell
        surface = self.surface
        ctx = surface.context()
        if args.models or len(named) > 1:
            return self._value(surface.run_compare(compare_request(args, ctx), args), args)
        args.model = args.model_word or (named[0] if named else None)
        return self._value(surface.run_turn(request_from("chat", args, ctx), args), args)

    def _cell_verb(self, words: list[str], cell: str):
        """``%%aiex edit PATH...`` (the instruction is the cell), ``%%aiex compare --models ...`` and
        ``%%aiex chat [MODEL]`` (the prompt is the cell)."""
        from ..commands import parse_command, subparser

        verb = words[0]
        if verb == "chat" and len(words) > 1 and not words[1].startswith("-"):
            words = ["chat", "-m", words[1], *words[2:]]
        leaf = subparser(notebook_parser(), [verb])
        args = parse_command(leaf, words[1:], f"%%aiex {verb}", IPythonUsageError)
        args.verb = verb
        ctx = self.surface.context()
        if verb == "edit":
            from ..commands.edits import edit_request

            return self._value(self.surface.run_edit(edit_request(args, ctx, instruction=cell), args), args)
        args.prompt = cell
        return self._value(args.command.handler(args, ctx), args)

    def _line(self, line: str):
        from ..commands import parse_command

        first = line.split(None, 1)
        if not first or line.strip() == "help":
            return self._help()
        registry = _registry()
        parser = notebook_parser()
        verb = first[0]
        nouned = [c for c in registry.for_surface("notebook") if c.verb == verb and c.noun]
        command = registry.find(verb, surface="notebook") if not nouned else None
        if command is not None and command.raw:  # the rest of the line is text: split only its options
            args = self._raw(parser, verb, line, command)
        else:
            args = parse_command(parser, split_words(line), "%aiex", IPythonUsageError)
        if getattr(args, "command", None) is None:
            raise IPythonUsageError(f"`%aiex {line.strip()}` needs a noun; `%aiex help {verb}` lists them.")
        result = args.command.handler(args, self.surface.context())
        return self._value(result, args)

    @staticmethod
    def _raw(parser, verb: str, line: str, command):
        """``%aiex ask [OPTIONS] TEXT``: the options parsed as IPython splits them, the text as typed
        (``%aiex edit PATH... -p TEXT``: the words before ``-p``, and after it the text as typed)."""
        from ..commands import parse_command, split_options, subparser

        leaf = subparser(parser, [verb])
        rest = line.strip()[len(verb):]
        if command.raw.startswith("-"):
            m = _RAW_FLAG.search(rest)
            head, text = (rest[:m.start()], rest[m.end():].strip()) if m else (rest, None)
            args = parse_command(leaf, split_words(head), f"%aiex {verb}", IPythonUsageError)
            args.prompt = text if text is not None else getattr(args, "prompt", None)
            args.verb = verb
            return args
        words, text = split_options(rest, leaf)
        args = leaf.parse_args(words)
        setattr(args, command.raw, text)
        args.verb = verb
        return args

    def _value(self, result, args):
        """What the cell shows and returns for a command's result."""
        if args.output == "json":
            return result.data
        if args.output == "jsonl":
            return result.rows()
        if result.value is not None:
            return result.value
        if not result.shown:
            show(result.human, result.data)
        if result.figure is not None:
            from IPython.display import display

            display(result.figure)
        return None

    def _help(self):
        print(notebook_parser().format_help().rstrip())
        print()
        print(notebook_help())


#: characters a notebook output is rendered at (rich tables fold their text to fit)
OUTPUT_WIDTH = 100


def show(human, data) -> None:
    """Show a command's human output in the notebook: text as it is, rich renderables fitted to the width
    of an output area (HTML, colours kept), JSON when there is nothing else."""
    import json

    if human is None:
        print(json.dumps(data, indent=2, default=str))
    elif isinstance(human, str):
        print(human)
    else:
        import io

        from rich.console import Console

        console = Console(file=io.StringIO(), record=True, width=OUTPUT_WIDTH, force_jupyter=False,
                          force_terminal=True, color_system="truecolor")
        console.print(human)
        text = console.export_text(styles=False, clear=False)
        ipython = __import__("IPython").get_ipython()
        if ipython is not None and getattr(ipython, "kernel", None) is not None:
            from IPython.display import display

            html = console.export_html(inline_styles=True, code_format="<pre style=\"font-size: 90%; "
                                       "line-height: 1.3; white-space: pre-wrap\">{code}</pre>")
            display({"text/html": html, "text/plain": text}, raw=True)
        else:
            print(text.rstrip())


class ErrorLog(dict):
    """``Err``: the traceback text of each cell that raised, by execution count (and the last error)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[int | None, BaseException] | None = None

    def on_post_run_cell(self, result) -> None:
        from ...errors import AiexError, Interrupted

        exc = result.error_in_exec or result.error_before_exec
        if exc is None or isinstance(exc, (IPythonUsageError, AiexError, Interrupted)):
            return  # a mistake in using aiex is not the user's code to fix
        from ..introspect import error_text

        number = result.execution_count
        if number is not None:
            self[number] = error_text(exc)
        self.last = (number, exc)


_QUESTION_LINE = re.compile(r"^(?P<indent>\s*)%aiex\s+(?P<rest>.*\?)\s*$")


def question_lines(lines: list[str]) -> list[str]:
    """Input transformer: `%aiex ask what's this?` is a question for aiex, not IPython's `obj?` help."""
    if lines and lines[0].lstrip().startswith("%%"):
        return lines  # a cell magic's body is its own
    out = []
    for line in lines:
        m = _QUESTION_LINE.match(line)
        if m:
            newline = "\n" if line.endswith("\n") else ""
            line = f"{m['indent']}get_ipython().run_line_magic('aiex', {m['rest']!r}){newline}"
        out.append(line)
    return out


_CELL_HELP = re.compile(r"^\s*%%aiex\b(?P<rest>.*)$")


def cell_help(lines: list[str]) -> list[str]:
    """Input transformer: `%%aiex --help` with nothing below shows the cell magic's help (IPython refuses a cell
    magic with an empty body before the magic could say anything)."""
    if not lines:
        return lines
    m = _CELL_HELP.match(lines[0])
    if m is None or any(line.strip() for line in lines[1:]):
        return lines
    words = m["rest"].split()
    if "--help" not in words and "-h" not in words:
        return lines
    return ["print(__import__('aiex_kernel.interfaces.notebook.magics', fromlist=['cell_parser'])"
            ".cell_parser().format_help())\n"]


def register(shell) -> AiexMagics:
    """Register the magics and the slash cells on ``shell`` once; later calls return the same instance."""
    existing = shell.magics_manager.registry.get("AiexMagics")
    if existing is not None:
        return existing
    from ...runtime import file_watch
    from .slash import SlashCommands

    file_watch.enable()  # a kernel lives for hours: its index updates ask the OS what changed
    magics = AiexMagics(shell=shell)
    shell.register_magics(magics)
    shell.events.register("post_run_cell", magics.errors.on_post_run_cell)
    shell.user_ns.setdefault("Err", magics.errors)
    cleanup = shell.input_transformer_manager.cleanup_transforms
    if question_lines not in cleanup:
        cleanup.append(question_lines)
    if cell_help not in cleanup:
        cleanup.insert(0, cell_help)
    magics.slash = SlashCommands(lambda: bool(getattr(shell, "kernel", None) and
                                              getattr(shell.kernel, "prose_as_ask_enabled", lambda: False)()))
    cleanup.insert(0, magics.slash)
    return magics


def unregister(shell) -> None:
    magics = shell.magics_manager.registry.pop("AiexMagics", None)
    if magics is None:
        return
    shell.magics_manager.magics["line"].pop("aiex", None)
    shell.magics_manager.magics["cell"].pop("aiex", None)
    cleanup = shell.input_transformer_manager.cleanup_transforms
    for transform in (question_lines, cell_help, getattr(magics, "slash", None)):
        if transform in cleanup:
            cleanup.remove(transform)
    for hook in (magics.errors.on_post_run_cell, getattr(magics._surface, "on_post_run_cell", None)):
        try:
            shell.events.unregister("post_run_cell", hook)
        except ValueError:
            pass
    if shell.user_ns.get("Err") is magics.errors:
        del shell.user_ns["Err"]
    if magics._surface is not None:
        magics._surface.close()
