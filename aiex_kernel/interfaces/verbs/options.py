"""Arguments shared by several commands, and turning them into settings."""

from __future__ import annotations

import argparse
import os

from ..commands import arg

__all__ = ["ROOT_ARGS", "CLUSTER_ARGS", "FILE_ARGS", "project_settings"]

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


def abspaths(paths: list[str]) -> list[str]:
    """Paths the user typed (relative to the current directory) made absolute."""
    return [os.path.abspath(os.path.expanduser(p)) for p in paths]
