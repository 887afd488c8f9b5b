"""Sessions and checkpoints: ``start|list|resume|show|export|delete session``, ``pin|unpin file``,
``reset``, ``save|list|restore checkpoint``, ``diff checkpoints``.

A session is what the event log holds of one conversation; its state is a fold over
its events. In a notebook there is a current session (named from the notebook and
its start time; ``start`` and ``resume`` change it); on the command line a command
names its session with ``--session`` (``show``, ``export`` and friends take its name).
"""

from __future__ import annotations

import time

from .options import ROOT_ARGS
from .registry import REGISTRY, Result, arg

_SESSION = arg("--session", metavar="NAME", help="the session (default: the notebook's current one)")
_NAME = arg("name", nargs="?", metavar="NAME", help="the session (default: the notebook's current one)")


def _when(at) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(at)) if at else "-"


def _session(name, ctx, *, must_exist: bool = True) -> str:
    """The session a command is about: NAME, else the notebook's current one (the CLI needs NAME)."""
    from ...errors import SessionNotFound, UsageError

    if not name:
        if ctx.notebook is None:
            raise UsageError("Name the session (`aiex list sessions` shows them).")
        return ctx.service.current_session()
    if must_exist and not ctx.service.exists(name):
        raise SessionNotFound(f"No session named {name!r}; `{ctx.prog} list sessions` shows them.")
    return name


def _summary(state) -> dict:
    answered = sum(t.status == "answered" for t in state.turns)
    return {"name": state.name, "started_at": state.started_at, "last_at": state.last_at, "origin": state.origin,
            "turns": len(state.turns), "answered": answered, "pinned": sorted(state.pinned),
            "memory": len(state.memory(10 ** 6)) // 2, "checkpoints": sorted(state.checkpoints)}


@REGISTRY.command("start", "session", help="start a new session (in a notebook: the current one from now on)",
                  args=[arg("name", nargs="?", metavar="NAME", help="its name (default: made from the time)")])
def start_session(args, ctx) -> Result:
    """Start a session named NAME; in a notebook, later turns belong to it. On the command line, continue
    it with `aiex ask --session NAME` (or `aiex chat --session NAME`)."""
    state = ctx.service.start_session(args.name)
    if ctx.notebook is not None:
        ctx.notebook.follow()
    how = "" if ctx.notebook is not None else f"; continue it with `aiex chat --session {state.name} ...`"
    return Result(_summary(state), human=f"Started session {state.name}{how}.")


@REGISTRY.command("resume", "session", help="continue a session: its memory and pinned files come back",
                  args=[arg("name", metavar="NAME")])
def resume_session(args, ctx) -> Result:
    """Make NAME the current session: its conversation memory and pinned files come back, also after a
    kernel restart, and also for a session started elsewhere (another notebook, the command line)."""
    state = ctx.service.resume_session(args.name)
    if ctx.notebook is not None:
        ctx.notebook.follow()
    info = _summary(state)
    text = (f"Resumed session {state.name}: {info['turns']} turns, {info['memory']} exchanges of memory"
            + (f", pinned: {', '.join(info['pinned'])}" if info["pinned"] else "") + ".")
    if ctx.notebook is None:
        text += f" Continue it with `aiex chat --session {state.name} ...`."
    return Result(info, human=text)


@REGISTRY.command("list", "session", help="the sessions, most recent first (--query: search their history)",
                  args=[arg("--query", "-q", metavar="TEXT", help="only sessions whose prompts or answers hold TEXT")])
def list_sessions(args, ctx) -> Result:
    """Every session in the event log, the most recently active first; --query TEXT searches the
    prompts and answers (full text)."""
    log = _log(ctx)
    rows = [{"name": s.name, "started_at": s.started_at, "last_at": s.last_at, "turns": s.turns,
             "events": s.events} for s in log.sessions(args.query)]
    current = ctx.service.current if ctx.notebook is not None else None
    lines = [f"{'*' if r['name'] == current else ' '} {r['name']:<40} {r['turns']:>4} turns  last {_when(r['last_at'])}"
             for r in rows]
    if not rows:
        lines = ["No sessions" + (f" mention {args.query!r}" if args.query else " yet") + "."]
    return Result({"sessions": rows, "current": current}, records=rows, human="\n".join(lines))


@REGISTRY.command("show", "session", help="a session's turns: prompts, answers, models, tokens", args=[_NAME])
def show_session(args, ctx) -> Result:
    """The turns of a session, oldest first, with their model, status, tokens and sources."""
    name = _session(args.name, ctx)
    state = ctx.service.state(name)
    turns = []
    lines = [f"Session {name}: started {_when(state.started_at)}" + (f" ({state.origin})" if state.origin else "")]
    for i, t in enumerate(state.turns, 1):
        turns.append({"turn": t.id, "command": t.command, "model": t.model, "status": t.status, "prompt": t.prompt,
                      "answer": t.answer, "memory": t.memory, "input_tokens": t.input_tokens,
                      "output_tokens": t.output_tokens, "cost_usd": t.cost_usd, "latency_s": t.latency_s,
                      "sources": list(t.sources), "started_at": t.started_at})
        answer = " ".join(t.answer.split())
        lines += [f"{i:>3}. [{t.command} · {t.model} · {t.status}] {_cut(' '.join(t.prompt.split()), 90)}",
                  f"     → {_cut(answer, 90) or t.error or '-'}"]
    if state.pinned:
        lines.append("pinned: " + ", ".join(sorted(state.pinned)))
    return Result({**_summary(state), "turns": turns}, records=turns, human="\n".join(lines))


def _cut(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 1] + "…"


@REGISTRY.command("export", "session", help="write a session as Markdown, a notebook or JSON",
                  args=[_NAME, arg("--to", dest="fmt", choices=("md", "ipynb", "json"), default="md",
                                   help="md (default), ipynb (re-runnable %%%%aiex cells) or json (its events)"),
                        arg("--out", metavar="FILE", help="write to FILE (default: print it)")])
def export_session(args, ctx) -> Result:
    """Export a session: Markdown (prompts, answers, sources), a notebook whose cells are the turns as
    `%%aiex` cells with their answers, or JSON (every event)."""
    from ...core.export import export_session as render

    name = _session(args.name, ctx)
    text = render(ctx.service.state(name), args.fmt)
    if args.out:
        from pathlib import Path

        from ...errors import UsageError

        try:
            Path(args.out).expanduser().write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"Cannot write {args.out}: {exc.strerror or exc}.") from None
        return Result({"session": name, "format": args.fmt, "path": args.out},
                      human=f"Wrote session {name} to {args.out} ({args.fmt}).")
    return Result({"session": name, "format": args.fmt, "text": text}, human=text.rstrip("\n"))


@REGISTRY.command("delete", "session", help="delete a session: every one of its events is purged",
                  args=[arg("name", metavar="NAME"), arg("--yes", action="store_true", help="really delete it")])
def delete_session(args, ctx) -> Result:
    """Purge a session from the event log (its prompts, answers and checkpoints). Needs --yes."""
    from ...errors import UsageError

    name = _session(args.name, ctx)
    if not args.yes:
        raise UsageError(f"Deleting {name!r} purges its events for good; add --yes to do it.")
    n = _log(ctx).delete_session(name)
    ctx.service.forget(name)
    return Result({"session": name, "deleted_events": n}, human=f"Deleted session {name} ({n} events).")


@REGISTRY.command("reset", help="forget the conversation memory (the session's history stays)", args=[_SESSION])
def reset(args, ctx) -> Result:
    """Forget the conversation memory of the session from here on: later turns start afresh. The log
    keeps everything (a `MemoryCleared` event)."""
    name = _session(args.session, ctx)
    ctx.service.reset_memory(name)
    return Result({"session": name}, human="aiex: conversation memory cleared.")


def _project_path(path: str, args):
    """(path relative to its project root, the root) for a file the user named."""
    import os

    from ...config import find_project_root
    from ...errors import UsageError

    full = os.path.abspath(os.path.expanduser(path))
    if not os.path.isfile(full):
        raise UsageError(f"{path}: no such file.")
    root = find_project_root(path=full, root=getattr(args, "root", None))
    rel = os.path.relpath(full, root)
    if rel.startswith(".."):
        raise UsageError(f"{path} is outside the project root {root}.")
    return rel.replace(os.sep, "/"), str(root)


@REGISTRY.command("pin", "file", help="always send a file with the session's questions (like aider's /add)",
                  args=[arg("path", metavar="PATH"), _SESSION, *ROOT_ARGS])
def pin_file(args, ctx) -> Result:
    """Pin PATH to the session: its code comes first in the context of every question, in full as far as
    the budget allows."""
    name = _session(args.session, ctx, must_exist=ctx.notebook is None)
    rel, root = _project_path(args.path, args)
    ctx.service.pin(rel, root, name)
    return Result({"session": name, "pinned": rel, "root": root}, human=f"Pinned {rel} to session {name}.")


@REGISTRY.command("unpin", "file", help="stop sending a pinned file", args=[arg("path", metavar="PATH"), _SESSION,
                                                                         *ROOT_ARGS])
def unpin_file(args, ctx) -> Result:
    """Unpin PATH from the session."""
    name = _session(args.session, ctx)
    state = ctx.service.state(name)
    rel = args.path if args.path in state.pinned else _project_path(args.path, args)[0]
    ctx.service.unpin(rel, name)
    return Result({"session": name, "unpinned": rel}, human=f"Unpinned {rel} from session {name}.")


# -- checkpoints ----------------------------------------------------------------------------------

@REGISTRY.command("save", "checkpoint", help="remember where the session and the project are now",
                  args=[arg("name", metavar="NAME"), _SESSION, *ROOT_ARGS])
def save_checkpoint(args, ctx) -> Result:
    """Save a checkpoint: the session's position in the event log and the project's files (content
    hashes from its context index). `restore checkpoint` goes back; `diff checkpoints` compares two."""
    from ...runtime.checkpoints import save_checkpoint as save

    name = _session(args.session, ctx, must_exist=ctx.notebook is None)
    saved = save(ctx.service, name, args.name, root=getattr(args, "root", None))
    return Result({"session": name, "checkpoint": args.name, "position": saved.position, "root": saved.root,
                   "files": len(saved.files)},
                  human=f"Saved checkpoint {args.name} of session {name} ({len(saved.files)} project files).")


@REGISTRY.command("list", "checkpoint", help="the session's checkpoints", args=[_SESSION])
def list_checkpoints(args, ctx) -> Result:
    """The checkpoints of the session, oldest first."""
    name = _session(args.session, ctx)
    state = ctx.service.state(name)
    rows = [{"name": c.name, "at": c.at, "position": c.position, "files": len(c.files), "root": c.root}
            for c in sorted(state.checkpoints.values(), key=lambda c: c.position)]
    lines = [f"  {r['name']:<24} {_when(r['at'])}  {r['files']} files" for r in rows] or [
        f"Session {name} has no checkpoints; `{ctx.prog} save checkpoint NAME` saves one."]
    return Result({"session": name, "checkpoints": rows}, records=rows, human="\n".join(lines))


@REGISTRY.command("restore", "checkpoint", help="take the session back to a checkpoint (the log keeps everything)",
                  args=[arg("name", metavar="NAME"), _SESSION])
def restore_checkpoint(args, ctx) -> Result:
    """Take the session back to a checkpoint: its turns, memory and pinned files are what they were (a
    `Rewound` event; nothing is deleted). aiex's own file edits arrive with `aiex edit`, and will be
    offered for undoing here; today aiex changes no files."""
    from ...runtime.checkpoints import restore_checkpoint as restore

    name = _session(args.session, ctx)
    rewound, changed = restore(ctx.service, name, args.name)
    text = f"Session {name} is back at checkpoint {args.name} ({rewound.turns} turns)."
    if changed:
        text += (f" {len(changed)} project files changed since (aiex did not change them; nothing to undo): "
                 + ", ".join(changed[:8]) + (" …" if len(changed) > 8 else ""))
    return Result({"session": name, "checkpoint": args.name, "turns": rewound.turns, "changed_files": changed},
                  human=text)


@REGISTRY.command("diff", "checkpoint", help="what changed between two checkpoints: turns and project files",
                  args=[arg("first", metavar="A"), arg("second", metavar="B"), _SESSION])
def diff_checkpoints(args, ctx) -> Result:
    """The turns between checkpoints A and B, and the project files added, changed or removed."""
    from ...runtime.checkpoints import diff_checkpoints as diff

    name = _session(args.session, ctx)
    d = diff(ctx.service, name, args.first, args.second)
    lines = [f"From {args.first} to {args.second} in session {name}: {len(d['turns'])} turns"]
    lines += [f"  + [{t['command']} · {t['model']}] {_cut(' '.join(t['prompt'].split()), 80)}" for t in d["turns"]]
    for kind in ("added", "changed", "removed"):
        if d["files"][kind]:
            lines.append(f"{kind}: " + ", ".join(d["files"][kind]))
    if not any(d["files"].values()):
        lines.append("no project file changed")
    return Result(d, human="\n".join(lines))


def _log(ctx):
    from ...errors import EventLogError

    log = ctx.service.log
    if log is None:
        raise EventLogError(ctx.service.log_problem or "The event log cannot be opened.")
    return log
