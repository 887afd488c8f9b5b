"""``ask``, ``chat``, ``explain`` and ``fix``: questions to the assistant, the same on every surface.

Each handler turns its arguments into a :class:`~aiex_kernel.core.requests.TurnRequest`
and hands it to the surface's ``run_turn``, which renders the service's events
(streamed to the terminal, or into a notebook cell). What only a notebook has (its
variables for ``{name}``, its cells for ``--cells``, its live objects for
``explain``, its last exception for ``fix``) comes from ``ctx.notebook``.
"""

from __future__ import annotations

from .options import ASSISTANT_ARGS, ROOT_ARGS
from .registry import REGISTRY, Result, arg

__all__ = ["request_from"]

_PROMPT = arg("prompt", nargs="*", metavar="PROMPT",
              help="the question (quotes optional); `-` reads text piped to aiex into the prompt")


@REGISTRY.command("ask", help="ask a question; the answer streams as it arrives", raw="prompt",
                  args=[_PROMPT, *ASSISTANT_ARGS, *ROOT_ARGS])
def ask(args, ctx) -> Result:
    """Ask a question, with the project's code as context. With no --model, aiex picks the first
    available (a cloud key, then a running Ollama or LM Studio, then the embedded model) and says which.
    A standalone question: it is kept in the session's history but uses no conversation memory, unless
    --session names the conversation to continue. `--json` prints the whole answer: text, code blocks,
    model, usage, cost, context and sources."""
    return ctx.run_turn(request_from("ask", args, ctx), args)


@REGISTRY.command("chat", help="one turn of a conversation: the session's memory goes with it", raw="prompt",
                  args=[_PROMPT, *ASSISTANT_ARGS, *ROOT_ARGS])
def chat(args, ctx) -> Result:
    """Say something in a conversation: the last exchanges of the session (max_history) go with it,
    and the answer joins them. In a notebook the session is the notebook's (`%%aiex` is this command);
    on the command line it is --session NAME (a new session without it). With no text: in a notebook
    the chat widget opens on the session; on the command line an interactive conversation starts
    (type /help there)."""
    if not _text(args.prompt, ctx).strip():
        if ctx.notebook is not None:
            return ctx.notebook.open_chat(args)
        if ctx.run_chat_loop is not None:
            return ctx.run_chat_loop(args)
    return ctx.run_turn(request_from("chat", args, ctx), args)


@REGISTRY.command("explain", help="explain a function, class or file of the project (in a notebook: a live object)",
                  raw="target",
                  args=[arg("target", nargs="*", metavar="NAME|PATH[:LINE]",
                            help="a (dotted) name, a file, or PATH:LINE; in a notebook any expression"),
                        arg("--import", dest="import_", action="store_true", surfaces=("cli",),
                            help="import the module and explain the live object (default: read the index, "
                                 "import nothing)"),
                        *ASSISTANT_ARGS, *ROOT_ARGS])
def explain(args, ctx) -> Result:
    """Explain NAME, PATH or PATH:LINE: its definition is found in the project's index (nothing is
    imported unless --import). In a notebook the target is evaluated in the session first: its type,
    signature, docstring, source and value are sent."""
    return ctx.run_turn(request_from("explain", args, ctx), args)


@REGISTRY.command("fix", help="explain an exception and propose a fix (in a notebook: the last one)",
                  args=[arg("file", nargs="?", metavar="FILE|-", surfaces=("cli",),
                            help="a file holding the traceback, or `-` to read it from a pipe"),
                        *ASSISTANT_ARGS, *ROOT_ARGS])
def fix(args, ctx) -> Result:
    """Explain the cause of an exception and propose corrected code. On the command line the traceback
    comes from FILE or a pipe (`python app.py 2>&1 | aiex fix -`); the code of its innermost frame in the
    project is sent with it. In a notebook it is the last exception, with the cell that raised it."""
    return ctx.run_turn(request_from("fix", args, ctx), args)


def request_from(command: str, args, ctx):
    """The request for ``command`` from its parsed arguments on this surface."""
    from ...core.requests import ContextOptions, TurnRequest
    from ...errors import UsageError

    if args.max_tokens is None:
        args.max_tokens = ctx.notebook.magics.max_tokens if ctx.notebook is not None else 1024
    if args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1.")
    if getattr(args, "cells", 0) < 0:
        raise UsageError("--cells must be 0 or more.")
    notebook = ctx.notebook
    prompt, facts, error_text, error_source, attachments = "", None, None, None, ""
    if command in ("ask", "chat"):
        prompt = _text(args.prompt, ctx)
        if notebook is not None:
            prompt, attachments = notebook.prompt_inputs(prompt, interpolate=args.interpolate, cells=args.cells)
        if not prompt.strip():
            example = "%aiex ask what does zip(*rows) do?" if notebook else "aiex ask 'what does functools.partial do?'"
            raise UsageError(f"Give a prompt: `{example}`.")
    elif command == "explain":
        prompt = _text(args.target, ctx).strip()
        if not prompt:
            raise UsageError(f"Name what to explain: `{ctx.prog} explain NAME|PATH[:LINE]`.")
        if notebook is not None:
            facts = notebook.live_facts(prompt)
        elif getattr(args, "import_", False):
            from ..introspect import imported_facts

            facts = imported_facts(prompt)
    elif command == "fix":
        if notebook is not None:
            error_text, error_source = notebook.last_error()
        else:
            error_text = _traceback_from(args.file, ctx)
    focus = notebook.focus() if notebook is not None else ""
    return TurnRequest(
        command=command, prompt=prompt, model=args.model, session=args.session,
        context=ContextOptions(path=args.context, enabled=args.use_context, budget=args.context_budget,
                               root=getattr(args, "root", None), focus=focus),
        format=args.format, system=args.system, max_tokens=args.max_tokens, temperature=args.temperature,
        dry_run=args.dry_run, facts=facts, error_text=error_text, error_source=error_source,
        attachments=attachments)


def _text(value, ctx) -> str:
    """The raw text (notebook) or the words joined (CLI); ``-`` is what was piped in."""
    from ...errors import UsageError

    if isinstance(value, str):
        return value
    words = list(value or [])
    if "-" in words:
        if ctx.read_stdin is None:
            raise UsageError("`-` (read the prompt from a pipe) works only on the command line.")
        piped = ctx.read_stdin()
        words = [piped if w == "-" else w for w in words]
    return " ".join(words)


def _traceback_from(path: str | None, ctx) -> str:
    from ...errors import UsageError

    if path is None:
        raise UsageError("Give the traceback: `aiex fix crash.txt`, or pipe it: `python app.py 2>&1 | aiex fix -`.")
    if path == "-":
        if ctx.read_stdin is None:
            raise UsageError("`-` (read the traceback from a pipe) works only on the command line.")
        return ctx.read_stdin()
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()[-20000:]
    except OSError as exc:
        raise UsageError(f"Cannot read {path}: {exc.strerror or exc}.") from None
