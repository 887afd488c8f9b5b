"""The ``aiex`` command line: ``aiex VERB [NOUN] [ARGS]`` over the shared registry.

Exit codes: 0 ok, 2 usage error, 1 any other error; errors are one line on stderr
(set ``AIEX_DEBUG=1`` for the traceback).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings

from ..errors import AiexError, UsageError
from .commands import Context, Result, get_registry, parse_command

__all__ = ["main"]

DESCRIPTION = """\
aiex: an AI coding assistant grounded in your codebase.

Commands read `aiex VERB [NOUN] [ARGS]`, e.g.
  aiex ask "where is the retry policy?"
  aiex build context
  aiex list models
  aiex analyze code --path src
  aiex install kernel
Every command takes --json or --jsonl. `aiex help VERB [NOUN]` explains one.
"""


class CliParser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exit code 2."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _emit(result: Result, fmt: str) -> None:
    out = sys.stdout
    if result.silent:
        return
    if result.shown and fmt == "text":
        out.write("\n")
        return
    if fmt == "json":
        json.dump(result.data, out, indent=2, default=str)
        out.write("\n")
    elif fmt == "jsonl":
        for row in result.rows():
            out.write(json.dumps(row, default=str))
            out.write("\n")
    elif isinstance(result.human, str) or result.human is None:
        text = result.human if result.human is not None else json.dumps(result.data, indent=2, default=str)
        out.write(text + "\n")
    else:
        from rich.console import Console

        Console(file=out).print(result.human)


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _note(message: str) -> None:
    sys.stderr.write(f"aiex: {message}\n")


def _read_stdin() -> str:
    if sys.stdin is None or sys.stdin.isatty():
        from ..errors import UsageError

        raise UsageError("`-` reads the prompt from a pipe, but nothing is piped: `git diff | aiex ask - 'review'`.")
    return sys.stdin.read()


def _error(message: str) -> None:
    sys.stderr.write(f"aiex: error: {message}\n")


def _service(args):
    """The command line's assistant service: settings of the project the command is about."""
    from ..config import find_project_root, load_settings
    from ..runtime.service import AssistantService

    def settings():
        path = getattr(args, "context", None)
        return load_settings(find_project_root(path=os.path.expanduser(path) if path else None,
                                               root=getattr(args, "root", None)))

    return AssistantService(settings, origin="cli")


class _LazyService:
    """The assistant service, made on first use (``show context`` and ``build context`` never use it, and
    importing it and the views that render its events is a good part of a command's start-up)."""

    def __init__(self, args) -> None:
        self._args = args
        self._service = None

    def __getattr__(self, name: str):
        if self._service is None:
            self._service = _service(self._args)
        return getattr(self._service, name)

    def close(self) -> None:
        if self._service is not None:
            self._service.close()


def _run_turn(service):
    def run_turn(request, args) -> Result:
        """Stream the turn to stdout, notes to stderr; the answer ends with its sources."""
        from ..runtime.service import raise_failed
        from .render import sources_text
        from .turns import follow

        streaming = args.stream and args.output == "text"
        outcome = follow(service.turn_sync(request), on_delta=_write if streaming else None, on_note=_note)
        if outcome.planned is not None:
            return Result(outcome.planned.plan, human=outcome.planned.text)
        if outcome.failed is not None:
            raise_failed(outcome.failed)
        sources = sources_text(outcome.sources)
        if streaming:
            if sources:
                _write(f"\n\n{sources}")
            return Result(outcome.to_dict(), human=outcome.text, shown=True)
        return Result(outcome.to_dict(), human=outcome.text + (f"\n\n{sources}" if sources else ""))

    return run_turn


def run(argv: list[str]) -> int:
    """Parse and run one command; returns the exit code."""
    parser = get_registry().build_parser("aiex", CliParser, DESCRIPTION)
    if not argv:
        parser.print_help()
        return 0
    args = parse_command(parser, argv, "aiex", UsageError)
    if getattr(args, "command", None) is None:
        # `aiex analyze` without its noun
        from .commands import subparser

        words = [w for w in (getattr(args, "verb", None),) if w]
        raise UsageError(
            f"`aiex {' '.join(words)}` needs a noun: "
            + subparser(parser, words).format_usage().strip().removeprefix("usage: ")
        )
    def run_compare(request, a):
        from .compare_view import run_compare_cli

        return run_compare_cli(service, request, a, _note)

    def run_edit(request, a, edit_id=None):
        from .edit_view import run_edit_cli

        return run_edit_cli(service, request, a, _note, edit_id=edit_id)

    def run_chat_loop(a):
        from .chat_loop import run_chat_loop

        return run_chat_loop(service, a, _write, _note)

    service = _LazyService(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = args.command.handler(args, Context(
                surface="cli", progress=True, prog="aiex", write=_write, note=_note, read_stdin=_read_stdin,
                service=service, run_turn=_run_turn(service), run_compare=run_compare, run_edit=run_edit,
                run_chat_loop=run_chat_loop))
        finally:
            service.close()
    for w in caught:
        if issubclass(w.category, UserWarning) and w.category.__module__.startswith("aiex_kernel"):
            sys.stderr.write(f"aiex: warning: {w.message}\n")
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno)
    _emit(result, args.output)
    return result.exit_code


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = os.environ.get("AIEX_DEBUG", "") not in ("", "0")
    try:
        code = run(argv)
    except AiexError as exc:
        if debug:
            raise
        _error(str(exc))
        code = exc.exit_code
    except KeyboardInterrupt:
        _error("interrupted")
        code = 130
    except BrokenPipeError:
        # `aiex chunk . --jsonl | head`: the reader left; not an error
        sys.stderr.close()
        code = 0
    except Exception as exc:  # noqa: BLE001 - the last line of defence
        if debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (AIEX_DEBUG=1 shows the traceback; please report it)")
        code = 1
    return code


if __name__ == "__main__":
    sys.exit(main())
