"""``aiex ask`` and ``aiex list models``."""

from __future__ import annotations

from ..commands import REGISTRY, Result, arg
from .options import CONTEXT_ARGS, ROOT_ARGS, context_root, project_settings

MODEL_ARG = arg("-m", "--model", metavar="MODEL",
                help="provider:model or an alias, e.g. ollama:llama3.2 (default: the first available; "
                     "see `aiex list models`)")


@REGISTRY.command(
    "ask", help="ask a model a question; the answer streams to the terminal",
    args=[
        arg("prompt", nargs="*", metavar="PROMPT",
            help="the question (quotes optional); `-` reads text piped to aiex into the prompt"),
        MODEL_ARG,
        arg("-s", "--system", metavar="TEXT", help="system prompt"),
        arg("--no-stream", dest="stream", action="store_false", default=True,
            help="print the answer when it is complete"),
        arg("--max-tokens", type=int, default=1024, metavar="N", help="longest answer in tokens (default 1024)"),
        arg("--temperature", type=float, metavar="T", help="sampling temperature (default: the model's)"),
        *CONTEXT_ARGS,
        *ROOT_ARGS,
    ],
)
def ask(args, ctx) -> Result:
    """Ask a model. With no --model, aiex picks the first available (a cloud key,
    then a running Ollama or LM Studio, then the embedded model) and says which.
    `--json` prints the whole response: text, code blocks, model, usage, cost."""
    from ...errors import UsageError
    from ...runtime.aio import run_sync
    from ...runtime.ask import plan_ask
    from ...runtime.providers.selection import choose_model

    prompt = _prompt(args.prompt, ctx)
    if args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1.")
    root, note = context_root(args)
    _, settings = project_settings(args, args.context)
    choice = run_sync(lambda: choose_model(args.model, settings))
    if not args.model:
        ctx.note(f"using {choice.id} ({choice.reason})")
    if note:
        ctx.note(note)
    plan = plan_ask(prompt, choice=choice, settings=settings, system=args.system, context_root=root,
                    budget=args.context_budget, max_tokens=args.max_tokens, temperature=args.temperature,
                    progress=ctx.progress)
    for line in plan.notes():
        ctx.note(line)
    if args.dry_run:
        return dry_run_result(plan)
    from ..render import sources_text

    streaming = args.stream and args.output == "text" and ctx.write is not None
    response = choice.spec.build().complete_sync(plan.request, on_delta=ctx.write if streaming else None)
    data = response.to_dict()
    data["context"] = plan.to_dict()["context"]
    data["sources"] = plan.sources
    sources = sources_text(plan.sources)
    if streaming:
        if sources:
            ctx.write(f"\n\n{sources}")
        return Result(data, human=response.text, shown=True)
    return Result(data, human=response.text + (f"\n\n{sources}" if sources else ""))


def dry_run_result(plan) -> Result:
    """What --dry-run shows: the exact messages that would be sent, and to which model."""
    lines = [f"Would send to {plan.choice.id} (max {plan.request.max_tokens} tokens):"]
    for message in plan.messages():
        lines += ["", f"── {message['role']} ──", message["content"]]
    return Result(plan.to_dict(), human="\n".join(lines))


def _prompt(words: list[str], ctx) -> str:
    from ...errors import UsageError

    if "-" in words:
        if ctx.read_stdin is None:
            raise UsageError("`-` (read the prompt from a pipe) works only on the command line.")
        piped = ctx.read_stdin()
        words = [piped if w == "-" else w for w in words]
    prompt = " ".join(words).strip()
    if not prompt:
        raise UsageError("Give a prompt: `aiex ask 'what does functools.partial do?'`.")
    return prompt


@REGISTRY.command(
    "list", "models",
    help="each provider: configured, reachable, its models; and which model aiex uses by default",
    args=[*ROOT_ARGS],
)
def list_models(args, ctx) -> Result:
    """Every provider aiex knows (the built-in ones and the endpoints in config.toml):
    whether it is configured and answering, and its models, asked of each server."""
    from dataclasses import asdict

    from ...errors import ProviderNotConfigured
    from ...runtime.aio import run_sync
    from ...runtime.providers.selection import choose_model, provider_statuses

    _, settings = project_settings(args)

    async def look():
        import asyncio

        rows = asyncio.ensure_future(provider_statuses(settings))
        try:
            choice = await choose_model(None, settings)
            default = {"model": choice.id, "reason": choice.reason}
        except ProviderNotConfigured as exc:
            default = {"model": None, "reason": str(exc)}
        return await rows, default

    rows, default = run_sync(look)
    data = {"providers": [asdict(r) for r in rows], "default": default, "aliases": dict(settings.aliases)}
    return Result(data, records=data["providers"], human=_table(data))


def _table(data: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ..render import row as render_row

    table = Table(show_edge=False, pad_edge=False)
    for column in ("provider", "status", "address", "models"):
        table.add_column(column)
    styles = {"ok": "green", "not configured": "yellow", "unreachable": "red", "error": "red"}
    for row in data["providers"]:
        models = row["models"]
        shown = ", ".join(models[:6]) + (f", … ({len(models)} in all)" if len(models) > 6 else "")
        render_row(table, row["provider"], Text(row["status"], style=styles.get(row["status"], "")),
                   row["address"] or "", shown if row["status"] == "ok" else row["detail"])
    default = data["default"]
    line = (Text.assemble("default model: ", (default["model"], "bold"), f" ({default['reason']})")
            if default["model"] else Text(f"no default model: {default['reason']}", style="yellow"))
    parts = [table, line]
    if data["aliases"]:
        parts.append(Text("aliases: " + ", ".join(f"{k} = {v}" for k, v in sorted(data["aliases"].items()))))
    return Group(*parts)
