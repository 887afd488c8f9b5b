"""Human-readable rendering of command results (rich renderables or plain text)."""

from __future__ import annotations

__all__ = ["analysis_text", "chunks_text", "cluster_text", "sources_text"]

#: sources listed under an answer (--json has them all)
SOURCES_SHOWN = 10


def row(table, *cells) -> None:
    """Add a table row whose text cells are shown as written: ``[local]`` is not rich markup."""
    from rich.text import Text

    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def analysis_text(report: dict):
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    t = report["totals"]
    where = report["root"] if report.get("path") in (None, ".") else f"{report['path']} (root {report['root']})"
    parts = [Text.assemble((where, "bold"),
                           f": {_plural(t['files'], 'file')}, {_plural(t['lines'], 'line')}, {_size(t['bytes'])}, "
                           f"{_plural(t['chunks'], 'chunk')}, {t['skipped']:,} skipped ({report['seconds']:.2f} s, "
                           f"{report['where']})")]
    langs = Table(title="Languages", title_justify="left")
    for col in ("language", "files", "lines", "chunks"):
        langs.add_column(col, justify="left" if col == "language" else "right")
    for name, c in report["languages"].items():
        row(langs, name, str(c["files"]), f"{c['lines']:,}", f"{c['chunks']:,}")
    parts.append(langs)
    kinds = Table(title="Chunks per kind", title_justify="left")
    kinds.add_column("kind")
    kinds.add_column("chunks", justify="right")
    for kind, n in report["kinds"].items():
        row(kinds, kind, f"{n:,}")
    parts.append(kinds)
    for key, title, col in (("largest", "Largest functions", "lines"),
                            ("most_complex", "Most complex functions", "complexity")):
        if not report[key]:
            continue
        table = Table(title=title, title_justify="left")
        table.add_column(col, justify="right")
        table.add_column("function")
        table.add_column("where")
        for fn in report[key]:
            row(table, str(fn[col]), fn["qualname"], f"{fn['path']}:{fn['start_line']}")
        parts.append(table)
    if report["syntax_errors"]:
        parts.append(Text(f"Files with syntax errors ({len(report['syntax_errors'])}): "
                          + ", ".join(report["syntax_errors"][:20])
                          + (" ..." if len(report["syntax_errors"]) > 20 else "")))
    if report["decode_errors"]:
        parts.append(Text("Files that are not valid UTF-8 (read with replacement characters): "
                          + ", ".join(report["decode_errors"][:20])))
    if report["skipped"]:
        parts.append(Text("Skipped: " + ", ".join(f"{n} {reason}" for reason, n in report["skipped"].items())))
    return Group(*parts)


def chunks_text(run) -> str:
    lines = []
    for f in run.files:
        for c in f.chunks:
            flag = "  [syntax error]" if c.has_error else ""
            lines.append(f"{c.path}:{c.start_line}-{c.end_line}  {c.kind:<9} {c.qualname}  "
                         f"({_plural(c.tokens, 'token')}){flag}")
    total = sum(len(f.chunks) for f in run.files)
    summary = f"{_plural(total, 'chunk')} in {_plural(len(run.files), 'file')}"
    if run.skipped:
        summary += "; skipped: " + ", ".join(f"{n} {r}" for r, n in sorted(run.skipped.items()))
    lines.append(summary)
    return "\n".join(lines)


def cluster_text(info: dict) -> str:
    if not info.get("running"):
        return info["message"]
    lines = [f"{info['kind']} cluster at {info['address']}",
             f"  workers: {info['workers']} ({info['threads']} threads, {_size(info['memory_bytes'])} memory)"]
    if info.get("hosts"):
        lines.append(f"  hosts: {', '.join(info['hosts'])}")
    if info.get("pid"):
        lines.append(f"  pid: {info['pid']}")
    if info.get("dashboard"):
        lines.append(f"  dashboard: {info['dashboard']}")
    for m in info.get("members") or []:
        resources = " ".join(f"{k}={v:g}" for k, v in sorted(m["resources"].items())) or "no resources"
        versions = ", ".join(f"{k} {m[k]}" for k in ("python", "aiex", "distributed") if m.get(k))
        lines.append(f"  - {m['address']} on {m['host']}: {m['threads']} threads, {_size(m['memory_bytes'])}, "
                     f"{resources}" + (f" ({versions})" if versions else ""))
    for problem in info.get("version_warnings", []):
        lines.append(f"  version mismatch: {problem}")
    return "\n".join(lines)


def sources_text(sources: list[dict], *, markdown: bool = False, limit: int = SOURCES_SHOWN) -> str:
    """The code an answer was grounded in, most relevant first: ``path:start-end  name``."""
    if not sources:
        return ""
    rows = []
    for s in sources[:limit]:
        where = f"{s['path']}:{s['start_line']}-{s['end_line']}"
        elided = " (signature)" if s["level"] == "signature" else ""
        rows.append(f"- `{where}` {s['name']}{elided}" if markdown else f"  {where}  {s['name']}{elided}")
    if len(sources) > limit:
        rows.append(f"{'- ' if markdown else '  '}… and {len(sources) - limit} more")
    head = "**Sources** (most relevant first):" if markdown else "Sources (most relevant first):"
    return head + "\n" + "\n".join(rows)
