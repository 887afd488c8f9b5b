"""``aiex build context`` and ``aiex show context``: the project's context index."""

from __future__ import annotations

from .registry import REGISTRY, Result, arg
from .options import CLUSTER_ARGS, FILE_ARGS, ROOT_ARGS, abspaths, project_settings


def open_project(args):
    """(root, settings, sandbox) of the project a command is about: --path must exist; the root follows from it."""
    import os

    from ...errors import UsageError

    path = getattr(args, "path", None)
    if path is not None and not os.path.exists(os.path.expanduser(path)):
        raise UsageError(f"--path {path}: no such file or directory.")
    root, settings = project_settings(args, path)
    from ...runtime.index import open_sandbox  # the index's code, after the usage and settings checks

    return root, settings, open_sandbox(root, settings)


@REGISTRY.command(
    "build", "context",
    help="build or update the project's context index (incremental: only changed files are re-read)",
    args=[
        arg("--path", metavar="P", help="index only files under P (default: the whole project)"),
        arg("--rebuild", action="store_true", help="start from scratch instead of updating"),
        arg("--summarize", action="store_true",
            help="also summarise every new or changed file with a model (map-reduce on the cluster; cached by "
                 "content), for when even outlines do not fit"),
        arg("--model", "-m", metavar="MODEL", help="the model that writes the summaries (default: the default model)"),
        *ROOT_ARGS, *FILE_ARGS, *CLUSTER_ARGS,
    ],
)
def build_context(args, ctx) -> Result:
    """Index the project for context: chunks, search terms and arrays in <root>/.aiex/index
    (or the `index_path` setting). Files unchanged since the last build are not read;
    large builds run on the Dask cluster with a progress bar."""
    root, settings, sandbox = open_project(args)
    from ...runtime.index.build import build_index

    paths = abspaths([args.path]) if args.path else ["."]
    progress = ctx.progress and args.progress and settings.progress
    report = build_index(sandbox, settings=settings, paths=paths, cluster=args.cluster, rebuild=args.rebuild,
                         progress=progress)
    data = report.to_dict()
    summary_line = ""
    if args.summarize:
        summary_line = _summarize(args, ctx, sandbox, settings, report, progress)
        data["summaries"] = summary_line
    if report.up_to_date and not report.rebuilt:
        head = f"The index of {report.root} is up to date"
    else:
        head = (f"Indexed {report.root}: {report.added:,} added, {report.changed:,} changed, "
                f"{report.deleted:,} deleted, {report.unchanged:,} unchanged")
    text = (f"{head} ({report.files:,} files, {report.chunks:,} chunks, {report.segments} segment"
            f"{'s' if report.segments != 1 else ''}; {report.seconds:.2f} s, {report.where}).\nIndex: {report.location}")
    if report.rebuilt:
        text = f"Rebuilt: {report.rebuilt}\n{text}"
    if summary_line:
        text += f"\n{summary_line}"
    return Result(data, human=text)


def _summarize(args, ctx, sandbox, settings, report, progress) -> str:
    from ...runtime.aio import run_sync
    from ...runtime.file_batches import use_cluster
    from ...runtime.index import cached_view
    from ...runtime.index.enrich import summarize_files
    from ...runtime.index.store import IndexStore
    from ...runtime.providers.selection import choose_model

    choice = run_sync(lambda: choose_model(args.model, settings))
    if not args.model:
        ctx.note(f"summarising with {choice.id} ({choice.reason})")
    view = cached_view(IndexStore(report.location))
    on_cluster = use_cluster(args.cluster, sum(f["size"] for f in view.files), settings)
    cache = summarize_files(view, sandbox, settings, choice, cluster=on_cluster, progress=progress)
    done = sum(1 for f in view.files if f["hash"] in cache["files"])
    return f"Summaries: {done:,} of {len(view.files):,} files" + (", and a project overview" if cache.get("project") else "")


def _counter_model(args, settings):
    """(provider, model) whose tokenizer counts the budget: --model, else the default model if one is set up."""
    from ...errors import AiexError
    from ...runtime.aio import run_sync
    from ...runtime.providers.selection import choose_model

    try:
        choice = run_sync(lambda: choose_model(args.model, settings))
    except AiexError:
        if args.model:
            raise
        return None, None
    return choice.spec.name, choice.model


@REGISTRY.command(
    "show", "context",
    help="the context aiex would send for a question (or --stats: what the index holds)",
    args=[
        arg("--query", "-q", default="", metavar="Q", help="the question to rank the code for"),
        arg("--context-budget", "--budget", dest="budget", type=int, metavar="N",
            help="tokens of context (default: the context_budget setting, 4096)"),
        arg("--model", "-m", metavar="MODEL", help="count tokens with this model's tokenizer (default: the default model)"),
        arg("--stats", action="store_true", help="what the index holds instead of a context"),
        arg("--no-build", dest="build", action="store_false", default=True,
            help="use the index as it is (default: update it first)"),
        arg("--path", metavar="P", help="a path inside the project (default: the current directory)"),
        *ROOT_ARGS, *FILE_ARGS,
    ],
)
def show_context(args, ctx) -> Result:
    """Show the context for --query within --budget tokens: the most relevant chunks in full,
    then signatures with bodies elided, then file outlines, grouped by file; counted with the
    model's own tokenizer where one is available offline, else a conservative estimate."""
    from ...errors import UsageError
    from ...runtime.index import project_context

    root, settings, sandbox = open_project(args)
    if args.stats:
        if args.query:
            raise UsageError("--stats shows what the index holds; it takes no --query.")
        return _stats(sandbox, settings)
    budget = settings.context_budget if args.budget is None else args.budget
    if budget < 0:
        raise UsageError("--budget must be 0 or more.")
    from ...runtime.index import refuse_unmarked_first_build

    refuse_unmarked_first_build(sandbox.root, settings, args.build)
    provider, model = _counter_model(args, settings)
    result = project_context(sandbox.root, settings, args.query, budget, provider=provider, model=model,
                             progress=ctx.progress, build=args.build)
    for line in result.notes:
        ctx.note(line)
    if result.redacted:
        ctx.note("redacted, as before sending: " + ", ".join(f"{n} {k}" for k, n in sorted(result.redacted.items())))
    how = result.tokenizer if result.exact else f"{result.tokenizer}, conservative"
    levels = ", ".join(f"{n} {k}" for k, n in result.levels.items() if n)
    footer = (f"── {result.tokens:,} / {budget:,} tokens ({how}) · {len(result.files)} files · {levels or 'nothing'}"
              f" · {result.seconds * 1000:.0f} ms")
    if result.stale:
        footer += f"\n── {len(result.stale)} files changed since indexing (shown as signatures): run `aiex build context`"
    return Result(result.to_dict(), human=(result.text + "\n\n" if result.text else "") + footer)


def _stats(sandbox, settings) -> Result:
    from collections import Counter

    from ...runtime.index import cached_view
    from ...runtime.index.build import index_location
    from ...runtime.index.store import SCHEMA_VERSION, IndexStore

    store = IndexStore(index_location(sandbox.root, settings))
    view = cached_view(store)
    if view is None:
        from ...errors import IndexMissing

        raise IndexMissing(f"No index at {store.location} yet: `aiex build context` builds it.")
    languages = Counter(f["language"] for f in view.files)
    data = {
        "location": store.location, "root": str(sandbox.root), "schema": SCHEMA_VERSION,
        "files": len(view.files), "chunks": view.n_chunks,
        "tokens": sum((f["size"] + 3) // 4 for f in view.files),  # of the source, not of nested chunks summed
        "postings": int(len(view.arrays["post_term"])), "segments": len(view.segments),
        "bytes_on_disk": store.size_bytes(), "built_at": view.manifest.get("built_at"),
        "languages": dict(languages.most_common()),
    }
    langs = ", ".join(f"{k} {v:,}" for k, v in languages.most_common())
    text = (f"Index of {data['root']} at {store.location} (schema {SCHEMA_VERSION}):\n"
            f"  {data['files']:,} files ({langs})\n  {data['chunks']:,} chunks, about {data['tokens']:,} tokens\n"
            f"  {data['postings']:,} term postings in {data['segments']} segment(s), "
            f"{data['bytes_on_disk'] / 1048576:.1f} MiB on disk")
    return Result(data, human=text)
