"""``%aiex`` and ``%%aiex``: the IPython magics.

``%load_ext aiex_kernel`` registers them (idempotent; nothing heavy is imported
until the first use). Every CLI command works as ``%aiex VERB [NOUN] [ARGS]``
through the shared registry; the notebook adds ``ask``, ``explain``, ``fix``,
``alias``, ``dealias``, ``reset`` and ``insert``. ``%%aiex [MODEL] [options]`` asks
the cell's prompt.

Configuration: traitlets on ``AiexMagics`` (``c.AiexMagics.default_model = ...`` in
``ipython_config.py``) override the values of the aiex config loader
(``config.toml``, ``AIEX_*``), which are the defaults.
"""

from __future__ import annotations

import argparse
import re
import sys

from IPython.core.error import UsageError as IPythonUsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.utils.process import arg_split
from traitlets import Dict, Int, Unicode, default

from ..errors import UsageError as AiexUsageError

__all__ = ["AiexMagics", "MagicParser", "register"]

NOTEBOOK_HELP = """\
Notebook commands:
  %aiex ask [OPTIONS] QUESTION    ask a one-line question (quotes optional)
  %aiex explain [OPTIONS] OBJ     explain a live object: its source, type, signature, docstring, value
  %aiex fix [OPTIONS]             explain the last exception and propose a fix
    OPTIONS: -m MODEL, --context PATH, --no-context, --context-budget N, --dry-run
  %aiex insert                    put the last answer's code into a new cell below
  %aiex alias NAME TARGET         a short name for a model id, for this session
  %aiex dealias NAME              forget a session alias
  %aiex reset                     forget the conversation memory

%%aiex [MODEL] [-f markdown|code|text|json|html|math] [--no-stream] [--no-interpolate]
       [--cells N] [--max-tokens N] [-o VAR] [--context PATH | --no-context]
       [--context-budget N] [--dry-run]
  The prompt is the rest of the cell. {name}, {In[n]}, {Out[n]}, {Err[n]} are filled in
  when they exist; every other brace stays as written.
"""


_VALUED = {"-m": "model", "--model": "model", "--context": "context", "--context-budget": "context_budget",
           "--max-tokens": "max_tokens"}
_FLAGS = {"--no-context": ("use_context", False), "--dry-run": ("dry_run", True)}


def leading_options(rest: str) -> tuple[dict, str]:
    """Options before the raw text of `%aiex ask/explain/fix` and slash cells: ``-m/--model MODEL``,
    ``--context PATH``, ``--context-budget N``, ``--max-tokens N``, ``--no-context``, ``--dry-run``.
    The rest stays exactly as typed; an unknown ``--option`` is a usage error (never sent as text)."""
    options: dict = {}
    while True:
        head, _, tail = rest.lstrip().partition(" ")
        if head in _VALUED:
            value, _, rest = tail.lstrip().partition(" ")
            if not value:
                raise IPythonUsageError(f"{head} needs a value, e.g. `%aiex ask -m ollama:llama3.2 why?`.")
            key = _VALUED[head]
            if key in ("context_budget", "max_tokens"):
                if not value.isdigit() or (key == "max_tokens" and int(value) < 1):
                    raise IPythonUsageError(f"{head} needs a whole number{' of at least 1' if key == 'max_tokens' else ''}"
                                            f", not {value!r}.")
                value = int(value)
            options[key] = value
        elif head in _FLAGS:
            key, value = _FLAGS[head]
            options[key], rest = value, tail
        elif head.startswith("--") and len(head) > 2:
            known = ", ".join([*_VALUED, *_FLAGS])
            raise IPythonUsageError(f"Unknown option {head}; these come before the text: {known}.")
        else:
            return options, rest.strip()


class MagicParser(argparse.ArgumentParser):
    """argparse whose errors are IPython ``UsageError``s and whose ``--help`` returns instead of exiting."""

    def error(self, message: str):
        raise IPythonUsageError(f"{message} (see `{self.prog} --help`)")

    def exit(self, status: int = 0, message: str | None = None):
        if status:
            raise IPythonUsageError(message or f"{self.prog}: error")
        raise _HelpShown()


class _HelpShown(Exception):
    pass


def _cell_parser() -> MagicParser:
    from ..core.prompts import FORMATS

    p = MagicParser(prog="%%aiex", add_help=True, description="Ask the model the rest of the cell.")
    p.add_argument("model", nargs="?", help="provider:model or an alias (default: the session's model)")
    p.add_argument("-f", "--format", default="markdown", choices=list(FORMATS), help="the format asked of the model")
    p.add_argument("--no-stream", dest="stream", action="store_false", default=True,
                   help="show the answer when it is complete")
    p.add_argument("--no-interpolate", dest="interpolate", action="store_false", default=True,
                   help="send {name} placeholders as written")
    p.add_argument("--cells", type=int, default=0, metavar="N", help="add the last N executed cells to the prompt")
    p.add_argument("--max-tokens", type=int, metavar="N", help="longest answer in tokens")
    p.add_argument("-o", "--output", metavar="VAR", help="also bind the result to VAR")
    p.add_argument("--context", metavar="PATH", help="use the context of the project holding PATH")
    p.add_argument("--no-context", dest="use_context", action="store_false", default=True,
                   help="send no project context")
    p.add_argument("--context-budget", type=int, metavar="N", help="tokens of project context")
    p.add_argument("--dry-run", action="store_true", help="show the exact messages, send nothing")
    return p


@magics_class
class AiexMagics(Magics):
    default_model = Unicode(None, allow_none=True, config=True,
                            help="Model used when none is named (default: config.toml's default_model, "
                                 "else the first available).")
    aliases = Dict(config=True, help="Model aliases, over config.toml's [aliases]: {'fast': 'ollama:llama3.2'}.")
    max_history = Int(config=True, help="Exchanges kept as conversation memory (default: config.toml, 5).")
    cells_budget = Int(config=True, help="Tokens of recent cells that --cells may add (default: config.toml, 2000).")
    max_tokens = Int(1024, config=True, help="Longest answer in tokens.")

    def __init__(self, shell=None, **kwargs) -> None:
        super().__init__(shell=shell, **kwargs)
        self._assistant = None
        self.errors = ErrorLog()

    @default("max_history")
    def _default_max_history(self) -> int:
        return self._settings().max_history

    @default("cells_budget")
    def _default_cells_budget(self) -> int:
        return self._settings().cells_budget

    def _settings(self):
        from ..config import find_project_root, load_settings

        return load_settings(find_project_root())

    @property
    def assistant(self):
        if self._assistant is None:
            from .assistant import Assistant

            self._assistant = Assistant(self.shell, self)
        return self._assistant

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
        args = _cell_parser().parse_args(arg_split(line))
        if args.output is not None and not args.output.isidentifier():
            raise IPythonUsageError(f"-o needs a variable name, not {args.output!r}.")
        if args.output in ("In", "Out", "Err", "get_ipython", "exit", "quit"):
            raise IPythonUsageError(f"-o {args.output} would replace the session's own {args.output}; pick another name.")
        if args.max_tokens is not None and args.max_tokens < 1:
            raise IPythonUsageError("--max-tokens must be at least 1.")
        result = self.assistant.ask(cell, model=args.model, fmt=args.format, stream=args.stream, cells=args.cells,
                                    interpolate_names=args.interpolate, max_tokens=args.max_tokens,
                                    context=args.context, use_context=args.use_context,
                                    context_budget=args.context_budget, dry_run=args.dry_run)
        if args.output:
            self.shell.user_ns[args.output] = result
        return result

    def _line(self, line: str):
        verb, _, rest = line.strip().partition(" ")
        session = {"ask": self._ask, "explain": self._explain, "fix": self._fix, "insert": self._insert,
                   "alias": self._alias, "dealias": self._dealias, "reset": self._reset}
        if verb in session:
            return session[verb](rest.strip())
        if verb in ("", "help") and not rest.strip():
            return self._help()
        return self._registry(line)

    # -- notebook commands ------------------------------------------------------------------------

    def _ask(self, rest: str):
        options, prompt = leading_options(rest)
        if not prompt:
            raise IPythonUsageError("Ask something: `%aiex ask what does zip(*rows) do?`")
        return self.assistant.ask(prompt, memory=False, **options)

    def _explain(self, rest: str):
        options, expression = leading_options(rest)
        return self.assistant.explain(expression, **options)

    def _fix(self, rest: str):
        options, extra = leading_options(rest)
        if extra:
            raise IPythonUsageError(f"`%aiex fix` takes only options such as -m MODEL (got {extra!r}).")
        return self.assistant.fix(**options)

    def _insert(self, rest: str):
        if rest:
            raise IPythonUsageError("`%aiex insert` takes no argument.")
        self.assistant.insert()

    def _alias(self, rest: str):
        words = arg_split(rest)
        if len(words) != 2:
            raise IPythonUsageError("Usage: `%aiex alias NAME TARGET`, e.g. `%aiex alias fast ollama:llama3.2:3b`.")
        name, target = words
        if not name.replace("-", "_").replace(".", "_").isidentifier():
            raise IPythonUsageError(f"Alias names are words like `fast` or `gpt-mini`, not {name!r}.")
        from ..core.model_ids import BUILTIN_PROVIDERS

        if name in BUILTIN_PROVIDERS:
            raise IPythonUsageError(f"{name!r} is a provider; an alias of that name would hide it. Pick another name.")
        if name == target:
            raise IPythonUsageError(f"An alias cannot point at itself ({name} -> {target}).")
        self.aliases = {**self.aliases, name: target}
        print(f"aiex: {name} -> {target}")

    def _dealias(self, rest: str):
        name = rest.strip()
        if name not in self.aliases:
            known = ", ".join(sorted(self.aliases)) or "none"
            raise IPythonUsageError(f"No session alias {name!r} (session aliases: {known}).")
        self.aliases = {k: v for k, v in self.aliases.items() if k != name}

    def _reset(self, rest: str):
        if rest:
            raise IPythonUsageError("`%aiex reset` takes no argument.")
        if self._assistant is not None:
            self._assistant.conversation.reset()
        print("aiex: conversation memory cleared.")

    # -- every CLI command ------------------------------------------------------------------------

    def _help(self):
        from .commands import get_registry

        print(get_registry().build_parser("%aiex", MagicParser).format_help().rstrip())
        print()
        print(NOTEBOOK_HELP.rstrip())

    def _registry(self, line: str):
        from .commands import Context, get_registry, parse_command

        parser = get_registry().build_parser("%aiex", MagicParser)
        words = arg_split(line)
        args = parse_command(parser, words, "%aiex", IPythonUsageError)
        if getattr(args, "command", None) is None:
            raise IPythonUsageError(f"`%aiex {line.strip()}` needs a noun; `%aiex help {words[0]}` lists them.")

        def write(text: str) -> None:
            sys.stdout.write(text)
            sys.stdout.flush()

        result = args.command.handler(args, Context(progress=True, prog="%aiex", write=write, note=print))
        if args.output == "json":
            return result.data
        if args.output == "jsonl":
            return result.rows()
        if result.shown:
            print()
        elif isinstance(result.human, str):
            print(result.human)
        elif result.human is not None:
            from rich.console import Console

            Console().print(result.human)
        return None


class ErrorLog(dict):
    """``Err``: the traceback text of each cell that raised, by execution count (and the last error)."""

    def __init__(self) -> None:
        super().__init__()
        self.last: tuple[int | None, BaseException] | None = None

    def on_post_run_cell(self, result) -> None:
        from ..errors import AiexError

        exc = result.error_in_exec or result.error_before_exec
        if exc is None or isinstance(exc, (IPythonUsageError, AiexError)):
            return  # a mistake in using aiex is not the user's code to fix
        from .introspect import error_text

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


def register(shell) -> AiexMagics:
    """Register the magics on ``shell`` once; later calls return the same instance."""
    existing = shell.magics_manager.registry.get("AiexMagics")
    if existing is not None:
        return existing
    magics = AiexMagics(shell=shell)
    shell.register_magics(magics)
    shell.events.register("post_run_cell", magics.errors.on_post_run_cell)
    shell.user_ns.setdefault("Err", magics.errors)
    cleanup = shell.input_transformer_manager.cleanup_transforms
    if question_lines not in cleanup:
        cleanup.append(question_lines)
    return magics


def unregister(shell) -> None:
    magics = shell.magics_manager.registry.pop("AiexMagics", None)
    if magics is None:
        return
    shell.magics_manager.magics["line"].pop("aiex", None)
    shell.magics_manager.magics["cell"].pop("aiex", None)
    cleanup = shell.input_transformer_manager.cleanup_transforms
    if question_lines in cleanup:
        cleanup.remove(question_lines)
    try:
        shell.events.unregister("post_run_cell", magics.errors.on_post_run_cell)
    except ValueError:
        pass
    if shell.user_ns.get("Err") is magics.errors:
        del shell.user_ns["Err"]
    if magics._assistant is not None:
        magics._assistant.close()
