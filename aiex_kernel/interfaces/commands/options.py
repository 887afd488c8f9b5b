"""Arguments shared by several commands, and turning them into settings."""

from __future__ import annotations

import argparse
import os

from .registry import arg

__all__ = ["LOOPBACK", "ANSWER_ARGS", "ASSISTANT_ARGS", "CLUSTER_ARGS", "CONTEXT_ARGS", "DRY_RUN_ARG", "FILE_ARGS", "MODEL_ARG",
           "NOTEBOOK_ARGS", "ROOT_ARGS", "SESSION_ARG", "abspaths", "project_settings"]

#: the addresses that only this machine reaches (servers aiex runs warn or refuse otherwise)
LOOPBACK = ("127.0.0.1", "::1", "localhost")

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
MODEL_ARG = arg("-m", "--model", metavar="MODEL",
                help="provider:model or an alias, e.g. ollama:llama3.2 (default: the first available; "
                     "see `aiex list models`)")
SESSION_ARG = arg("--session", metavar="NAME",
                  help="the session this belongs to (default: the notebook's session; on the command line a "
                       "new one-turn session, or with NAME the conversation of that session, continued)")
DRY_RUN_ARG = arg("--dry-run", action="store_true", help="show what would happen, and do nothing")
CONTEXT_ARGS = [
    arg("--context", metavar="PATH", help="use the context of the project holding PATH (default: the current "
                                          "directory's project, when it has .git, pyproject.toml or .aiex)"),
    arg("--no-context", dest="use_context", action="store_false", default=True, help="send no project context"),
    arg("--context-budget", type=int, metavar="N",
        help="tokens of context (default: the context_budget setting, cut to fit the model's window)"),
]
#: how the answer is asked for and shown (every assistant command)
ANSWER_ARGS = [
    arg("-f", "--format", default="markdown", choices=("markdown", "code", "text", "json", "html", "math"),
        help="the format asked of the model (default markdown)"),
    arg("--max-tokens", type=int, metavar="N", help="longest answer in tokens (default 1024; in a notebook "
                                                     "the AiexMagics.max_tokens traitlet)"),
    arg("--temperature", type=float, metavar="T", help="sampling temperature (default: the model's)"),
    arg("-s", "--system", metavar="TEXT", help="a system prompt instead of aiex's own"),
    arg("--no-stream", dest="stream", action="store_false", default=True, help="show the answer when it is complete"),
]
#: only in a notebook: its cells, its variables, and where the answer goes
NOTEBOOK_ARGS = [
    arg("--cells", type=int, default=0, metavar="N", surfaces=("notebook",),
        help="add the last N executed cells to the prompt"),
    arg("--no-interpolate", dest="interpolate", action="store_false", default=True, surfaces=("notebook",),
        help="send {name} placeholders as written"),
    arg("-o", "--output-var", dest="output_var", metavar="VAR", surfaces=("notebook",),
        help="also bind the answer to the variable VAR"),
]
#: every option of a question to the assistant, declared once for every surface
ASSISTANT_ARGS = [MODEL_ARG, SESSION_ARG, *CONTEXT_ARGS, DRY_RUN_ARG, *ANSWER_ARGS, *NOTEBOOK_ARGS]
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
