"""``compare`` (one prompt, several models, side by side) and ``vote`` (which answer was better)."""

from __future__ import annotations

from .options import ANSWER_ARGS, CONTEXT_ARGS, DRY_RUN_ARG, NOTEBOOK_ARGS, ROOT_ARGS, SESSION_ARG
from .registry import REGISTRY, Result, arg

__all__ = ["COMPARE_ARGS", "compare_request"]

#: what a comparison adds to the options of a question (``%%aiex --models`` takes them too)
COMPARE_ARGS = [
    arg("--models", metavar="A,B,...", help="the models to compare, comma-separated (or -m repeated)"),
    arg("-m", "--model", dest="model_list", action="append", metavar="MODEL", help="a model to compare (repeatable)"),
    arg("--blind", action="store_true",
        help="no model names until you vote, and the columns shuffled (against position bias)"),
    arg("--cluster", choices=("auto", "always", "never"), default="auto",
        help="run the calls as tasks on the Dask cluster: auto (when one is attached), always, never"),
    arg("--select", choices=("judge", "consensus", "fastest-passing", "cheapest-passing", "preferred"),
        help="pick one answer: by a judge model, by agreement, the fastest or cheapest that passes the checks, "
             "or the model your votes prefer"),
    arg("--judge", metavar="MODEL", help="the model that judges, for --select judge"),
    arg("--run-code", action="store_true",
        help="also run each answer's Python code and doctests in a sandbox (no network, time and memory limits)"),
]


@REGISTRY.command("compare", help="ask several models at once and see their answers side by side", raw="prompt",
                  args=[arg("prompt", nargs="*", metavar="PROMPT", help="the question (quotes optional)"),
                        *COMPARE_ARGS, SESSION_ARG, *CONTEXT_ARGS, DRY_RUN_ARG, *ANSWER_ARGS, *NOTEBOOK_ARGS,
                        *ROOT_ARGS])
def compare(args, ctx) -> Result:
    """Send one prompt (with one shared project context, built once) to every model at once, as tasks
    on the cluster when one is attached: in a terminal the answers fill live columns, then their
    latency, time to first token, tokens and cost; in a notebook a side-by-side widget with a diff of
    their code and vote buttons. `aiex vote ID a|b|tie|bad` records which was better; `--dry-run`
    estimates what each model would cost."""
    return ctx.run_compare(compare_request(args, ctx), args)


def compare_request(args, ctx):
    """The comparison a surface's arguments ask for."""
    from ...core.requests import CompareRequest, ContextOptions
    from ...errors import UsageError
    from .assistant import _text

    models = [m.strip() for m in (args.models or "").split(",") if m.strip()] + list(args.model_list or [])
    if len(models) < 2:
        raise UsageError("Name at least two models: `--models openai:gpt-4o,ollama:llama3.2` (or -m A -m B).")
    if args.judge and args.select != "judge":
        raise UsageError("--judge MODEL goes with --select judge.")
    if args.select == "judge" and not args.judge:
        raise UsageError("--select judge needs --judge MODEL: the model that compares the answers.")
    if args.max_tokens is None:
        args.max_tokens = ctx.notebook.magics.max_tokens if ctx.notebook is not None else 1024
    if args.max_tokens < 1:
        raise UsageError("--max-tokens must be at least 1.")
    prompt, attachments = _text(args.prompt, ctx), ""
    notebook = ctx.notebook
    if notebook is not None:
        prompt, attachments = notebook.prompt_inputs(prompt, interpolate=args.interpolate, cells=args.cells)
    if not prompt.strip():
        raise UsageError("Give a prompt: `aiex compare --models A,B 'what does functools.partial do?'`.")
    return CompareRequest(
        prompt=prompt, models=tuple(models), session=args.session,
        context=ContextOptions(path=args.context, enabled=args.use_context, budget=args.context_budget,
                               root=getattr(args, "root", None), focus=notebook.focus() if notebook else ""),
        format=args.format, system=args.system, max_tokens=args.max_tokens, temperature=args.temperature,
        dry_run=args.dry_run, blind=args.blind, cluster=args.cluster, select=args.select, judge=args.judge,
        run_code=args.run_code, attachments=attachments)


@REGISTRY.command("vote", help="say which answer of a comparison was better: a, b, ... tie or bad",
                  args=[arg("compare_id", metavar="ID", help="the comparison's id (aiex compare prints it)"),
                        arg("choice", metavar="a|b|...|tie|bad",
                            help="the better answer's letter, tie (as good), or bad (all bad)")])
def vote(args, ctx) -> Result:
    """Record a vote on a comparison. Votes are events in the log; `aiex show leaderboard` fits ratings
    from them per kind of task, and `--select preferred` uses them."""
    voted = ctx.service.vote(args.compare_id, args.choice)
    verdict = {"tie": "a tie", "bad": "all bad"}.get(voted.choice)
    if verdict is None:
        verdict = f"{voted.choice} ({voted.models[ord(voted.choice) - ord('a')]}) was better"
    return Result({"compare": voted.compare, "choice": voted.choice, "models": list(voted.models),
                   "category": voted.category}, human=f"Voted on {voted.compare}: {verdict}.")


@REGISTRY.command("show", "leaderboard", help="ratings of the models from your votes (Bradley-Terry), per kind of task",
                  args=[arg("--category", "-c", choices=("explain", "fix", "generate", "refactor", "test", "other"),
                            help="only votes on this kind of task (default: every vote)")])
def show_leaderboard(args, ctx) -> Result:
    """Fit Bradley-Terry ratings to your votes (a tie counts half a win each; `bad` votes are kept but
    left out), with 95% bootstrap intervals; `--category` keeps one kind of task (by keyword rules:
    explain, fix, generate, refactor, test, other). In a notebook a plot of the ratings comes with it."""
    from ...core.ratings import leaderboard
    from ...errors import EventLogError

    log = ctx.service.log
    if log is None:
        raise EventLogError(ctx.service.log_problem or "The event log cannot be opened.")
    votes = [e for _, e in log.events(kinds=["Voted"]) if args.category is None or e.category == args.category]
    ratings = leaderboard([(v.models, v.choice) for v in votes])
    rows = [{"model": r.model, "rating": r.rating, "low": r.low, "high": r.high, "votes": r.votes, "wins": r.wins}
            for r in ratings]
    data = {"category": args.category, "votes": len(votes), "bad": sum(v.choice == "bad" for v in votes),
            "ratings": rows}
    figure = _leaderboard_figure(rows) if ctx.surface == "notebook" and rows else None
    return Result(data, records=rows, human=_leaderboard_text(data), figure=figure)


def _leaderboard_text(data: dict) -> str:
    scope = f" on {data['category']} tasks" if data["category"] else ""
    if not data["ratings"]:
        return f"No votes{scope} yet: `aiex compare --models A,B PROMPT`, then `aiex vote ID a|b|tie|bad`."
    lines = [f"{data['votes']} votes{scope} ({data['bad']} all-bad, left out of the fit):"]
    for i, r in enumerate(data["ratings"], 1):
        lines.append(f"{i:>3}. {r['model']:<40} {r['rating']:7.1f}  [{r['low']:.0f}, {r['high']:.0f}]  "
                     f"{r['votes']} votes, {r['wins']:g} wins")
    return "\n".join(lines)


def _leaderboard_figure(rows: list[dict]):
    try:
        import matplotlib

        matplotlib.use("agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        return None
    figure = Figure(figsize=(7, 0.5 + 0.45 * len(rows)), layout="constrained")
    ax = figure.subplots()
    names = [r["model"] for r in rows][::-1]
    values = [r["rating"] for r in rows][::-1]
    errors = [[r["rating"] - r["low"] for r in rows][::-1], [r["high"] - r["rating"] for r in rows][::-1]]
    ax.errorbar(values, range(len(rows)), xerr=errors, fmt="o", capsize=4)
    ax.set_yticks(range(len(rows)), names)
    ax.set_xlabel("rating (Bradley-Terry, 95% bootstrap interval)")
    return figure
