"""Checkpoints: a session's position in the event log, with the project's files as the index saw them.

Saving appends a ``CheckpointSaved`` event holding the session's last event id and
the content hashes of the project's files (from the context index's manifest,
brought up to date first). Restoring appends a ``Rewound`` event: the session's
state is folded again up to that position, and the log stays append-only. Diffing
two checkpoints lists the turns between them and the files whose hashes differ.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..core.events import CheckpointSaved, Rewound
from ..errors import CheckpointNotFound, UsageError

__all__ = ["diff_checkpoints", "restore_checkpoint", "save_checkpoint"]


def _project_files(root: Path, settings) -> dict[str, str]:
    """Path -> content hash of the project's files, from its index (updated first)."""
    from .index import open_sandbox, project_view

    view = project_view(open_sandbox(root, settings), settings)
    return {f["path"]: f["hash"] for f in view.files}


def save_checkpoint(service, session: str, name: str, *, root: str | None = None) -> CheckpointSaved:
    from ..config import ROOT_MARKERS, find_project_root

    if not name or not name.replace("-", "_").replace(".", "_").isidentifier():
        raise UsageError(f"Checkpoint names are words like `before-refactor`, not {name!r}.")
    state = service.state(session)
    if name in state.checkpoints:
        raise UsageError(f"Session {session!r} already has a checkpoint {name!r}; pick another name.")
    settings = service.settings()
    project = find_project_root(root=root)
    files = {}
    if root or any((project / m).exists() for m in ROOT_MARKERS):
        files = _project_files(project, settings)
    else:
        project = None
    service.ensure_started(session)
    position = service.state(session).position
    event = CheckpointSaved(session, time.time(), name=name, position=position,
                            root=str(project) if project else "", files=files)
    service.append(event)
    return event


def _checkpoint(service, session: str, name: str) -> CheckpointSaved:
    state = service.state(session)
    found = state.checkpoints.get(name)
    if found is None:
        known = ", ".join(sorted(state.checkpoints)) or "none"
        raise CheckpointNotFound(f"Session {session!r} has no checkpoint {name!r} (checkpoints: {known}).")
    return found


@dataclass(frozen=True)
class Restored:
    turns: int


def restore_checkpoint(service, session: str, name: str) -> tuple[Restored, list[str]]:
    """Rewind the session to checkpoint ``name``; the project files changed since (by content hash)."""
    saved = _checkpoint(service, session, name)
    service.append(Rewound(session, time.time(), checkpoint=name, position=saved.position))
    changed: list[str] = []
    if saved.root and Path(saved.root).is_dir():
        now = _project_files(Path(saved.root), service.settings())
        changed = sorted(p for p in set(now) | set(saved.files) if now.get(p) != saved.files.get(p))
    return Restored(len(service.state(session).turns)), changed


def diff_checkpoints(service, session: str, first: str, second: str) -> dict:
    a, b = _checkpoint(service, session, first), _checkpoint(service, session, second)
    if a.position > b.position:
        a, b = b, a
    state = service.state(session)
    turns = []
    for position, event in state.history:
        if a.position < position <= b.position and event.KIND == "TurnStarted":
            turns.append({"turn": event.turn, "command": event.command, "model": event.model, "prompt": event.prompt})
    files = {
        "added": sorted(set(b.files) - set(a.files)),
        "removed": sorted(set(a.files) - set(b.files)),
        "changed": sorted(p for p in set(a.files) & set(b.files) if a.files[p] != b.files[p]),
    }
    return {"session": session, "from": a.name, "to": b.name, "turns": turns, "files": files}
