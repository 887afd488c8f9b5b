"""``aiex doctor``: one screen that says what works, what does not, and how to fix each."""

from __future__ import annotations

from .registry import REGISTRY, Result
from .options import ROOT_ARGS, project_settings

_STYLES = {"ok": "green", "warn": "yellow", "fail": "bold red", "skip": "dim"}


@REGISTRY.command("doctor", help="check what works here (models, embedded runtime, Dask, kernel, data dir) and how "
                                 "to fix what does not", args=[*ROOT_ARGS])
def doctor(args, ctx) -> Result:
    """Check Python and packages, the CPU, each provider (through its free model list; keys shown
    only as set or unset), the embedded model (a 4-token answer in its own process, and its CPU
    features), the tokenizer, the Dask runtime (one task), the kernelspec, the data directory and the
    project's index. Exit code 0 when the default path (`aiex ask`) works, 1 otherwise."""
    from ...runtime.doctor import default_path_ok, run_checks
    from ...runtime.progress import status

    root, settings = project_settings(args)
    with status("Checking…", enabled=ctx.progress) as spinner:
        def starting(name: str) -> None:
            if spinner is not None and hasattr(spinner, "update"):
                spinner.update(f"Checking {name}…")

        checks = run_checks(settings, root, on_check=starting)
    ok = default_path_ok(checks)
    data = {"ok": ok, "checks": [c.to_dict() for c in checks]}
    return Result(data, records=data["checks"], human=_screen(checks, ok), exit_code=0 if ok else 1)


def _screen(checks, ok: bool):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ..render import row

    table = Table(show_edge=False, pad_edge=False, show_header=False)
    table.add_column("check", style="bold")
    table.add_column("status")
    table.add_column("detail", overflow="fold")
    for c in checks:
        row(table, c.name, Text(c.status, style=_STYLES[c.status]), c.detail)
    fixes = [c for c in checks if c.fix and c.status in ("fail", "warn")]
    parts = [table]
    if fixes:
        parts.append(Text("\nTo fix:", style="bold"))
        parts.extend(Text(f"  {c.name}: {c.fix}") for c in fixes)
    verdict = ("The default path works: `aiex ask` can answer here." if ok else
               "The default path does not work: fix the failures above (essential checks).")
    parts.append(Text("\n" + verdict, style="green" if ok else "bold red"))
    return Group(*parts)
