"""``aiex show stats``: requests, tokens, cost, latency and errors, from the event log."""

from __future__ import annotations

from .registry import REGISTRY, Result, arg


@REGISTRY.command("show", "stats", help="usage from the event log: requests, tokens, cost, latency, errors",
                  args=[arg("--since", metavar="WHEN", help="only since WHEN: 7d, 12h, 30m, 2w or a date 2026-11-01"),
                        arg("--by", choices=("model", "provider", "day"), default="model",
                            help="one row per model (default), provider or day")])
def show_stats(args, ctx) -> Result:
    """Requests, tokens in and out, cost, latency and time-to-first-token percentiles (p50, p95) and
    errors, per model, provider or day, over every session in the event log. In a notebook a figure
    (cost per day, latency per model) comes with the table."""
    import time

    from ...core.stats import parse_since, turn_records, usage_stats
    from ...errors import EventLogError, UsageError

    log = ctx.service.log
    if log is None:
        raise EventLogError(ctx.service.log_problem or "The event log cannot be opened.")
    since = None
    if args.since:
        try:
            since = parse_since(args.since, time.time())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    records = turn_records(log.events(kinds=("TurnStarted", "Answered", "Failed"), since=since))
    rows = [r.to_dict() for r in usage_stats(records, args.by)]
    data = {"by": args.by, "since": since, "rows": rows,
            "total": {"requests": sum(r["requests"] for r in rows), "errors": sum(r["errors"] for r in rows),
                      "cost_usd": round(sum(r["cost_usd"] for r in rows), 8)}}
    figure = _figure(records) if ctx.surface == "notebook" and records else None
    return Result(data, records=rows, human=_table(data), figure=figure)


def _ms(value) -> str:
    return "-" if value is None else f"{value * 1000:,.0f}"


def _table(data: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from ..render import row

    if not data["rows"]:
        return Text("No answers in the event log" + (" in that time" if data["since"] else " yet") + ".")
    table = Table(show_edge=False, pad_edge=False)
    for name in (data["by"], "requests", "errors", "in", "out", "$", "latency ms", "1st token ms"):
        table.add_column(name, justify="left" if name == data["by"] else "right", overflow="fold")
    for r in data["rows"]:
        row(table, r["key"], str(r["requests"]), str(r["errors"]), f"{r['input_tokens']:,}", f"{r['output_tokens']:,}",
            f"{r['cost_usd']:.4f}", f"{_ms(r['latency_p50'])} / {_ms(r['latency_p95'])}",
            f"{_ms(r['ttft_p50'])} / {_ms(r['ttft_p95'])}")
    total = data["total"]
    return Group(table, Text(f"{total['requests']} requests, {total['errors']} errors, ${total['cost_usd']:.4f}; "
                             "in/out: tokens; latency and 1st token: p50 / p95"))


def _figure(records):
    """Cost per day and latency per model, as one matplotlib figure (None without matplotlib)."""
    try:
        import matplotlib

        matplotlib.use("agg", force=False)
        from matplotlib.figure import Figure
    except ImportError:
        return None
    from ...core.stats import usage_stats

    days = usage_stats(records, "day")
    models = [r for r in records if r.ok and r.latency_s is not None]
    figure = Figure(figsize=(10, 3.2), layout="constrained")
    cost, latency = figure.subplots(1, 2)
    cost.bar([d.key for d in days], [d.cost_usd for d in days], color="#4c72b0")
    cost.set_title("cost per day (USD)")
    cost.tick_params(axis="x", labelrotation=45)
    names = sorted({r.model for r in models})
    if names:
        latency.boxplot([[r.latency_s for r in models if r.model == n] for n in names], showfliers=False)
        latency.set_xticks(range(1, len(names) + 1), names, rotation=20, ha="right")
    latency.set_title("latency per model (s)")
    return figure


@REGISTRY.command("serve", "metrics", surfaces=("cli",),
                  help="serve Prometheus metrics from the event log (requests, tokens, cost, latency, index builds)",
                  args=[arg("--port", type=int, default=9464, help="port (default 9464; 0: any free port)"),
                        arg("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")])
def serve_metrics(args, ctx) -> Result:
    """Serve /metrics in Prometheus' text format until Ctrl-C: model requests, errors, tokens and cost per
    provider and model, latency and time-to-first-token histograms, index builds with the files they
    reused (cache hits), edits and votes, read from the event log as it grows. docs/grafana-aiex.json is
    a Grafana dashboard over them."""
    import time

    from ...errors import UsageError
    from ...runtime.metrics import serve_metrics as serve

    if not 0 <= args.port <= 65535:
        raise UsageError("--port must be between 0 and 65535.")
    from .options import LOOPBACK

    if args.host not in LOOPBACK:
        ctx.note(f"serving metrics on {args.host}: anyone who can reach it reads your usage (models, costs)")
    settings = ctx.service.settings()
    try:
        server, port = serve(settings.data_dir, args.port, args.host)
    except OSError as exc:
        raise UsageError(f"Cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); pick another --port.") \
            from None
    ctx.write(f"Serving aiex metrics at http://{args.host}:{port}/metrics (Ctrl-C stops)\n")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return Result({"port": port, "host": args.host}, human="stopped", shown=True)
