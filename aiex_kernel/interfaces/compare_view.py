"""A comparison in a terminal: live columns while the models answer (rich), then the answers and figures."""

from __future__ import annotations

import sys

from .commands import Result
from .turns import CompareOutcome, follow_compare

__all__ = ["run_compare_cli"]

#: lines of each answer shown in its live column (the tail: what is being written)
LIVE_LINES = 14


def _title(slot, blind: bool) -> str:
    return f"{slot.letter.upper()}" + ("" if blind else f" · {slot.model}")


def _live(outcome: CompareOutcome):
    from rich.columns import Columns
    from rich.panel import Panel
    from rich.text import Text

    blind = bool(outcome.started and outcome.started.blind)
    panels = []
    for slot in outcome.slots:
        lines = slot.text.splitlines()[-LIVE_LINES:]
        body = Text("\n".join(lines) or "…")
        if slot.failed:
            body = Text(f"{slot.failed.error}: {slot.failed.message}", style="red")
        style = "green" if slot.answer else "red" if slot.failed else "yellow"
        panels.append(Panel(body, title=_title(slot, blind), border_style=style, height=LIVE_LINES + 2))
    return Columns(panels, equal=True, expand=True)


def figures(outcome: CompareOutcome):
    """The per-model figures: latency, time to first token, tokens, cost."""
    from rich.table import Table

    from .render import row

    blind = bool(outcome.started and outcome.started.blind)
    table = Table(show_edge=False, pad_edge=False)
    for name in ("", "model", "status", "latency s", "first token s", "tokens in/out", "cost $"):
        table.add_column(name, justify="left" if name in ("", "model", "status") else "right", overflow="fold")
    for s in outcome.slots:
        a = s.answer
        row(table, s.letter, "(hidden until you vote)" if blind else s.model, s.status,
            f"{a.latency_s:.2f}" if a and a.latency_s is not None else "-",
            f"{a.ttft_s:.2f}" if a and a.ttft_s is not None else "-",
            f"{a.input_tokens or '-'} / {a.output_tokens or '-'}" if a else "-",
            f"{a.cost_usd:.5f}" if a and a.cost_usd is not None else "-")
    return table


def run_compare_cli(service, request, args, note) -> Result:
    from rich.console import Console, Group
    from rich.markdown import Markdown
    from rich.rule import Rule
    from rich.text import Text

    outcome = CompareOutcome()
    live = args.output == "text" and sys.stdout.isatty()
    events = service.compare_sync(request)
    if live:
        from rich.live import Live

        console = Console()
        with Live(_live(outcome), console=console, refresh_per_second=12, transient=True) as view:
            follow_compare(events, on_change=lambda _i: view.update(_live(outcome)), on_note=note, outcome=outcome)
    else:
        follow_compare(events, on_note=note, outcome=outcome)
    if outcome.planned is not None:
        return Result(outcome.planned.plan, human=outcome.planned.text)
    blind = bool(outcome.started and outcome.started.blind)
    parts = []
    for s in outcome.slots:
        parts.append(Rule(_title(s, blind)))
        if s.failed:
            parts.append(Text(f"{s.failed.error}: {s.failed.message}", style="red"))
        else:
            parts.append(Markdown(s.text) if request.format == "markdown" else Text(s.text))
    parts += [Rule(), figures(outcome)]
    if outcome.selected is not None:
        sel = outcome.selected
        parts.append(Text(f"selected {sel.letter} ({'hidden until you vote' if blind else sel.model}) by {sel.how}: "
                          f"{sel.why}"))
    compare_id = outcome.started.compare if outcome.started else "?"
    letters = "|".join(s.letter for s in outcome.slots)
    parts.append(Text(f"comparison {compare_id}: vote with `aiex vote {compare_id} {letters}|tie|bad`"))
    return Result(outcome.to_dict(), human=Group(*parts))

