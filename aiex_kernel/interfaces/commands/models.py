"""``aiex list models``."""

from __future__ import annotations

from .registry import REGISTRY, Result
from .options import ROOT_ARGS, project_settings


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
    providers = []
    for r in rows:
        breaker = ctx.service.breaker(r.provider) if ctx.service is not None else None
        providers.append({**asdict(r), "breaker": None if breaker is None else {
            "state": breaker.state, "failures": breaker.failures, "retry_in": breaker.retry_in}})
    data = {"providers": providers, "default": default, "aliases": dict(settings.aliases)}
    return Result(data, records=data["providers"], human=_table(data))


def _table(data: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ..render import row as render_row

    table = Table(show_edge=False, pad_edge=False)
    for column in ("provider", "status", "address", "models"):
        table.add_column(column, overflow="fold")
    styles = {"ok": "green", "not configured": "yellow", "unreachable": "red", "error": "red"}
    for row in data["providers"]:
        models = row["models"]
        shown = ", ".join(models[:6]) + (f", … ({len(models)} in all)" if len(models) > 6 else "")
        status = Text(row["status"], style=styles.get(row["status"], ""))
        breaker = row.get("breaker") or {}
        if breaker.get("state") == "open":
            status = Text(f"circuit open ({breaker['failures']} failures; retry in {breaker['retry_in']:g} s)",
                          style="red")
        elif breaker.get("state") == "half-open":
            status = Text.assemble(status, (" · circuit half-open", "yellow"))
        render_row(table, row["provider"], status, row["address"] or "",
                   shown if row["status"] == "ok" else row["detail"])
    default = data["default"]
    line = (Text.assemble("default model: ", (default["model"], "bold"), f" ({default['reason']})")
            if default["model"] else Text(f"no default model: {default['reason']}", style="yellow"))
    parts = [table, line]
    if data["aliases"]:
        parts.append(Text("aliases: " + ", ".join(f"{k} = {v}" for k, v in sorted(data["aliases"].items()))))
    return Group(*parts)
