"""``aiex analyze code`` and ``aiex chunk``: reading a codebase."""

from __future__ import annotations

from .registry import REGISTRY, Result, arg
from .options import CLUSTER_ARGS, FILE_ARGS, ROOT_ARGS, abspaths, project_settings


def _run_chunking(args, ctx, paths: list[str], *, complexity: bool):
    from ...runtime.chunk_job import chunk_project
    from ...runtime.sandbox import Sandbox

    root, settings = project_settings(args, paths[0] if paths else None)
    sandbox = Sandbox(root, allow_secrets=settings.allow_secrets, max_file_bytes=settings.max_file_bytes)
    return chunk_project(
        sandbox,
        abspaths(paths) if paths else ["."],
        settings=settings,
        depth=getattr(args, "depth", None),
        complexity=complexity,
        cluster=args.cluster,
        progress=ctx.progress and args.progress and settings.progress,
    )


@REGISTRY.command(
    "analyze", "code",
    help="files, lines, chunks, largest and most complex functions of a codebase",
    args=[
        arg("--path", default=".", help="file or directory to analyse (default: current directory)"),
        arg("--depth", type=int, metavar="N", help="descend at most N directory levels below --path"),
        arg("--top", type=int, default=10, metavar="N", help="how many functions to list (default 10)"),
        *ROOT_ARGS, *FILE_ARGS, *CLUSTER_ARGS,
    ],
)
def analyze_code(args, ctx) -> Result:
    """Analyse a codebase: files and lines per language, chunks per kind, the largest
    and most complex functions (cyclomatic complexity), files with syntax errors and
    the files that were skipped (ignored, binary, too large, secret, unsupported)."""
    from ...core.analysis import analyze
    from ...errors import UsageError
    from ..render import analysis_text

    if args.depth is not None and args.depth < 0:
        raise UsageError("--depth must be 0 or more.")
    run = _run_chunking(args, ctx, [args.path], complexity=True)
    report = analyze(run.files, run.skipped, top=max(0, args.top))
    report.update(root=run.root, path=args.path, where=run.where, seconds=round(run.seconds, 3),
                  skipped_paths=[{"path": p, "reason": r} for p, r in run.skipped_paths])
    return Result(report, human=analysis_text(report))


@REGISTRY.command(
    "chunk",
    help="split files into semantic chunks (functions, classes, modules)",
    args=[
        arg("paths", nargs="+", metavar="PATH", help="files or directories to chunk"),
        *ROOT_ARGS, *FILE_ARGS, *CLUSTER_ARGS,
    ],
)
def chunk(args, ctx) -> Result:
    """Split files into semantic chunks with tree-sitter. With --jsonl, one chunk per line
    with the fields path, language, kind, name, qualname, start_line, end_line,
    start_byte, end_byte, signature, docstring, tokens, sha256, has_error."""
    from ..render import chunks_text

    run = _run_chunking(args, ctx, args.paths, complexity=False)
    rows = [c.to_dict() for c in run.chunks]
    data = {
        "root": run.root,
        "files": len(run.files),
        "chunks": rows,
        "skipped": dict(run.skipped),
        "decode_errors": [f.path for f in run.files if f.decode_errors],
    }
    return Result(data, records=rows, human=chunks_text(run))
