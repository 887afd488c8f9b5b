"""The edit journal: what each edit proposed, what it replaced, so that it can be applied later and undone.

On disk, under the data directory::

    edits/<edit id>/
        proposal.json      {"edit", "root", "instruction", "files": [{"path", "kind", "before", "after", "mode"}]}
        after/<n>          the proposed content of file n (absent for a deletion)
        before/<n>         file n as it was when the edit was applied (absent for a new file)
        applying.json      written before any file is replaced: the files and hashes being written
        applied.json       the same, renamed from applying.json once every file is in place

Crash protocol of :func:`apply_files`: every file's hash is checked first (a file
changed since the proposal is refused, nothing written), then the backups are
written and flushed, then ``applying.json``; then each file is replaced atomically
(:meth:`Sandbox.write_bytes`); then ``applying.json`` is renamed to ``applied.json``.
An apply cut short leaves ``applying.json`` beside complete backups, so
:func:`undo_files` can still put every file back: it accepts a file that holds either
the applied content or, for one the crash never reached, the original.

Hashes are SHA-256 of the bytes (``None`` for a file that does not exist).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from ..errors import EditConflict, EditError, EditNotFound, PathNotFound

__all__ = ["Journal", "JournalFile", "digest"]


def digest(data: bytes | None) -> str | None:
    return None if data is None else hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class JournalFile:
    path: str  #: relative to the root
    kind: str  #: modify, create, delete
    before: str | None  #: hash of the content the proposal was made against
    after: str | None  #: hash of the proposed content
    mode: int | None = None  #: permission bits for a new file

    def to_dict(self) -> dict:
        return {"path": self.path, "kind": self.kind, "before": self.before, "after": self.after, "mode": self.mode}


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


class Journal:
    """The edits of one user (``<data dir>/edits``)."""

    def __init__(self, data_dir: str | os.PathLike) -> None:
        self.base = Path(data_dir) / "edits"

    def folder(self, edit: str) -> Path:
        if not edit or "/" in edit or edit.startswith("."):
            raise EditNotFound(f"{edit!r} is not an edit id; `aiex list edits` shows them.")
        return self.base / edit

    # -- proposals ----------------------------------------------------------------------------------

    def save_proposal(self, edit: str, root: str, instruction: str, files: list[JournalFile],
                      contents: list[bytes | None]) -> None:
        folder = self.folder(edit)
        try:
            (folder / "after").mkdir(parents=True, exist_ok=False)
            for n, data in enumerate(contents):
                if data is not None:
                    _write(folder / "after" / str(n), data)
            _write_json(folder / "proposal.json", {"edit": edit, "root": root, "instruction": instruction,
                                                   "files": [f.to_dict() for f in files]})
        except OSError as exc:
            raise EditError(f"Cannot keep the proposal in {folder}: {exc.strerror or exc}. Check the data directory "
                            "(AIEX_DATA_DIR).") from exc

    def proposal(self, edit: str) -> tuple[dict, list[bytes | None]]:
        """(proposal.json, the proposed contents) of ``edit``."""
        folder = self.folder(edit)
        try:
            meta = json.loads((folder / "proposal.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise EditNotFound(f"No edit {edit!r} in {self.base}; `aiex list edits` shows them.") from None
        except (OSError, ValueError) as exc:
            raise EditError(f"The journal of edit {edit} is unreadable ({exc}).") from exc
        contents = []
        for n, f in enumerate(meta["files"]):
            path = folder / "after" / str(n)
            contents.append(path.read_bytes() if f["kind"] != "delete" else None)
        return meta, contents

    def state(self, edit: str) -> str:
        """proposed, applying (cut short), or applied."""
        folder = self.folder(edit)
        if (folder / "applied.json").exists():
            return "applied"
        if (folder / "applying.json").exists():
            return "applying"
        return "proposed"

    # -- applying and undoing -----------------------------------------------------------------------

    def apply_files(self, edit: str, sandbox, files: list[JournalFile], contents: list[bytes | None]) -> list[dict]:
        """Write ``contents`` over ``files`` (after checking each is still as proposed); the records written."""
        folder = self.folder(edit)
        current = [_read(sandbox, f.path) for f in files]
        for f, data in zip(files, current):
            if digest(data) != f.before:
                what = "was created" if f.before is None else ("was deleted" if data is None else "changed")
                raise EditConflict(f"{f.path} {what} since the edit was proposed, so edit {edit} is not applied "
                                   "(nothing was written). Propose it again against the file as it is now.")
        records = [{**f.to_dict(), "after": digest(data), "mode": _mode(sandbox, f.path) or f.mode}
                   for f, data in zip(files, contents)]
        try:
            backups = folder / "before"
            if backups.exists():
                shutil.rmtree(backups)
            backups.mkdir(parents=True)
            for n, data in enumerate(current):
                if data is not None:
                    _write(backups / str(n), data)
            (folder / "applied.json").unlink(missing_ok=True)
            _write_json(folder / "applying.json", {"files": records})
        except OSError as exc:
            raise EditError(f"Cannot back the files up in {folder}: {exc.strerror or exc}; nothing was written.") \
                from exc
        for f, data in zip(files, contents):
            if data is None:
                if f.before is not None:
                    sandbox.remove(f.path)
            else:
                sandbox.write_bytes(f.path, data, mode=f.mode)
        os.replace(folder / "applying.json", folder / "applied.json")
        return records

    def undo_files(self, edit: str, sandbox) -> list[str]:
        """Put back what ``edit`` replaced (refused, with nothing written, when a file changed since)."""
        folder = self.folder(edit)
        marker = folder / "applied.json"
        if not marker.exists():
            marker = folder / "applying.json"
        if not marker.exists():
            raise EditNotFound(f"Edit {edit} was never applied, so there is nothing to undo.")
        records = json.loads(marker.read_text(encoding="utf-8"))["files"]
        backups = []
        for n, r in enumerate(records):
            data = _read(sandbox, r["path"])
            if digest(data) not in (r["after"], r["before"]):
                raise EditConflict(f"{r['path']} changed since edit {edit} was applied, so it is not undone "
                                   "(nothing was written). Undo your own changes first, or edit it again.")
            backup = folder / "before" / str(n)
            if r["before"] is not None and not backup.exists():
                raise EditError(f"The backup of {r['path']} for edit {edit} is missing from {folder}.")
            backups.append(backup.read_bytes() if r["before"] is not None else None)
        for r, data in zip(records, backups):
            if data is None:
                if _read(sandbox, r["path"]) is not None:
                    sandbox.remove(r["path"])
            elif digest(_read(sandbox, r["path"])) != r["before"]:
                sandbox.write_bytes(r["path"], data, mode=r.get("mode"))
        os.replace(marker, folder / "undone.json")
        return [r["path"] for r in records]


def _mode(sandbox, path: str) -> int | None:
    import stat

    try:
        return stat.S_IMODE(sandbox.stat(path).st_mode)
    except PathNotFound:
        return None


def _read(sandbox, path: str) -> bytes | None:
    try:
        return sandbox.read_bytes(path, max_bytes=64 * 1024 * 1024)
    except PathNotFound:
        return None
