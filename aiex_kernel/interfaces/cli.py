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
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = args.command.handler(args, Context(progress=True, prog="aiex", write=_write, note=_note,
                                                    read_stdin=_read_stdin))
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
