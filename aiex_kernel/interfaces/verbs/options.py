"""Arguments shared by several commands, and turning them into settings."""

from __future__ import annotations

import argparse
import os

from ..commands import arg

__all__ = ["CLUSTER_ARGS", "CONTEXT_ARGS", "FILE_ARGS", "ROOT_ARGS", "context_root", "project_settings"]

ROOT_ARGS = [
    arg("--root", metavar="DIR",
        help="project root (default: nearest ancestor holding .git, pyproject.toml or .aiex); "
             "no file outside it is read"),
]
CLUSTER_ARGS = [
    arg("--scheduler", metavar="ADDRESS", help="use the Dask scheduler at ADDRESS (env AIEX_SCHEDULER)"),
    arg("--workers", type=int, metavar="N", help="workers of a new local cluster (default: one per core)"),
    arg("--dashboard", action="store_true", default=None, help="serve the Dask dashboard of a local cluster"),
    arg("--cluster", choices=("auto", "always", "never"), default="auto",
        help="run on the cluster: auto (when one is up or the job is large), always, never"),
    arg("--no-progress", dest="progress", action="store_false", default=True, help="no progress bar"),
]
CONTEXT_ARGS = [
    arg("--context", metavar="PATH", help="use the context of the project holding PATH (default: the current "
                                          "directory's project, when it has .git, pyproject.toml or .aiex)"),
    arg("--no-context", dest="use_context", action="store_false", default=True, help="send no project context"),
    arg("--context-budget", type=int, metavar="N", help="tokens of context (default: the context_budget setting)"),
    arg("--dry-run", action="store_true", help="show the exact messages that would be sent, and send nothing"),
]
FILE_ARGS = [
    arg("--max-file-bytes", type=int, metavar="N", help="skip files larger than N bytes (default 1 MiB)"),
    arg("--allow-secret", dest="allow_secrets", action="append", metavar="PATTERN",
        help="read secret-looking files matching PATTERN (gitignore syntax; repeatable)"),
]


def project_settings(args: argparse.Namespace, first_path: str | None = None):
    """(root, settings) for a command, from its flags and the project-root rule."""
    from ...config import find_project_root, load_settings

    root = find_project_root(path=first_path, root=getattr(args, "root", None))
    settings = load_settings(
        root,
        scheduler=getattr(args, "scheduler", None),
        workers=getattr(args, "workers", None),
        dashboard=getattr(args, "dashboard", None),
        max_file_bytes=getattr(args, "max_file_bytes", None),
        allow_secrets=getattr(args, "allow_secrets", None),
    )
    return root, settings


def context_root(args) -> tuple:
    """(project root whose context to send or None, a note for the user or None) for --context/--no-context."""
    return resolve_context_root(getattr(args, "context", None), getattr(args, "use_context", True),
                                getattr(args, "context_budget", None), getattr(args, "root", None))


def resolve_context_root(context: str | None, use_context: bool, budget: int | None, root: str | None = None):
    """The project whose context goes with a question: ``context`` names a path in it; by default the
    current directory's project, but only when it has a project marker (never a whole home directory)."""
    from ...config import ROOT_MARKERS, find_project_root
    from ...errors import UsageError

    if not use_context:
        if context:
            raise UsageError("--context and --no-context contradict each other; give one.")
        return None, None
    if budget is not None and budget < 0:
        raise UsageError("--context-budget must be 0 or more.")
    if context:
        if not os.path.exists(os.path.expanduser(context)):
            raise UsageError(f"--context {context}: no such file or directory.")
        return find_project_root(path=os.path.expanduser(context), root=root), None
    found = find_project_root(root=root)
    if root or any((found / m).exists() for m in ROOT_MARKERS):
        return found, None
    return None, (f"no project context: {found} has no .git, pyproject.toml or .aiex above it "
                  "(--context PATH uses one)")


def abspaths(paths: list[str]) -> list[str]:
    """Paths the user typed (relative to the current directory) made absolute."""
    return [os.path.abspath(os.path.expanduser(p)) for p in paths]
