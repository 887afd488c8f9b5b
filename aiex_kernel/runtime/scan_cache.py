"""A persisted cache of :meth:`Sandbox.scan`'s per-directory work, so an unchanged directory is not listed,
filtered against ignore rules or matched against secret patterns again.

What a directory's listing decides (which names are ignored, secret, without a grammar, which are
subdirectories and which files may be indexed, in which language) depends only on its entries, the ignore
files in effect there and the sandbox's own settings. On Linux (and every POSIX file system aiex meets) a
directory's mtime and ctime change when an entry is added, removed or renamed in it, not when a file in it is
written, so a directory whose (device, inode, mtime_ns, ctime_ns) match its record, reached under the same
ignore files (none of which changed since), lists what the record says. The files' own (size, mtime_ns) are
still stat'ed by every scan: a file modified in place is found.

A record is kept only for a directory without symbolic links (what a link points at can change while its
directory does not) whose mtime is at least :data:`RACY_NS` older than the start of the scan that listed it:
a change within the same clock tick as the listing would not move the mtime (git's "racy" entries), while a
change to a directory whose mtime is older sets it to the present, which differs. An ignore file's stat is
kept likewise, else recorded as unknown, so that the next scan trusts no record under it.

On disk: ``<index>/scan-cache.pickle``, a pickle of plain tuples, dicts, strings and ints only (it is read
with an unpickler that refuses every global, so a planted file runs no code; and a record matches only a
directory with the same device, inode and ctime, which a file from elsewhere cannot know). Written to a
temporary file and renamed over the old one. Missing, unreadable, corrupt, of another format or of another
sandbox (root, secret patterns, ``allow_secrets``, ``max_file_bytes``, aiex version, languages table): an
empty cache, and the scan lists everything.

Layout, version :data:`FORMAT`::

    (FORMAT, signature, languages, ignore_files, records)
    languages:    tuple of language names; a file's code is chr(65 + its language's position)
    ignore_files: {relpath of an ignore file: (size, mtime_ns, ctime_ns, inode) or None (not trusted)}
    records:      {relpath of a directory: DirRecord as a plain tuple}

Records stay plain tuples in memory too (a named type would cost a constructor call per directory on every
load); :class:`DirRecord` names their fields.
"""

from __future__ import annotations

import contextlib
import os
from typing import NamedTuple

__all__ = ["FORMAT", "RACY_NS", "DirRecord", "ScanCache", "scan_cache_path"]

FORMAT = "aiex-scan-cache-1"
#: a directory or ignore file changed less than this before a scan began is listed again by the next scan
RACY_NS = 3_000_000_000
FILE_NAME = "scan-cache.pickle"
#: codes of a directory's entries that are not files to index
DIR_CODE, SECRET_CODE = "/", "!"


class DirRecord(NamedTuple):
    """What a scan learnt of one directory (kept as a plain tuple of these fields)."""

    dev: int
    ino: int
    mtime_ns: int
    ctime_ns: int
    chain: tuple[str, ...]  #: the ignore files in effect above it (relpaths, outermost first)
    rules: tuple[str, ...]  #: those and its own: the ignore files in effect for its entries
    ignored: int  #: entries skipped as "ignored"
    unsupported: int  #: files skipped as "unsupported"
    names: tuple[str, ...]  #: the other entries, in walk order: subdirectories, secrets, files to stat
    codes: str  #: one per name: DIR_CODE, SECRET_CODE or a language's code


def scan_cache_path(index_dir: str) -> str:
    return os.path.join(index_dir, FILE_NAME)


def _load_plain(data: bytes):
    """Unpickle ``data`` allowing plain data only: no class, no function, no code."""
    import io
    import pickle

    class PlainUnpickler(pickle.Unpickler):
        def find_class(self, module, name):
            raise pickle.UnpicklingError(f"the scan cache holds only plain data, not {module}.{name}")

    return PlainUnpickler(io.BytesIO(data)).load()


class ScanCache:
    """The records a scan may reuse (``old``) and those it leaves for the next (``records``)."""

    def __init__(self, signature: tuple = (), languages: tuple[str, ...] = (),
                 ignore_files: dict | None = None, records: dict | None = None) -> None:
        self.signature = signature
        self.languages: list[str] = list(languages)
        self.ignore_files: dict[str, tuple | None] = dict(ignore_files or {})
        self.records: dict[str, tuple] = dict(records or {})
        self.dirty = False  #: whether the records changed since loaded (then :meth:`save` writes)
        self.reused = self.listed = 0  #: the last scan's directories: replayed from their records / listed
        self.loaded_from: str | None = None

    @classmethod
    def load(cls, path: str) -> ScanCache:
        """The cache at ``path``; an empty one when it is missing or not a cache this code wrote."""
        try:
            with open(path, "rb") as fh:
                data = _load_plain(fh.read())
            tag, signature, languages, ignore_files, records = data
            if (tag != FORMAT or type(signature) is not tuple or type(languages) is not tuple
                    or type(ignore_files) is not dict or type(records) is not dict
                    or not all(type(x) is str for x in languages)):
                raise ValueError("not a scan cache")
        except Exception:  # noqa: BLE001 - missing, unreadable, truncated, another format: a full scan, never an error
            return cls()
        cache = cls(signature, languages, ignore_files, records)
        cache.loaded_from = path
        return cache

    def save(self, path: str) -> bool:
        """Write the cache atomically (temporary file, rename) when it changed; whether it wrote."""
        if not self.dirty and self.loaded_from == path:
            return False
        import pickle
        import tempfile

        payload = pickle.dumps((FORMAT, self.signature, tuple(self.languages), self.ignore_files, self.records),
                               protocol=pickle.HIGHEST_PROTOCOL)
        directory = os.path.dirname(path) or "."
        fd, tmp = tempfile.mkstemp(prefix=".scan-cache-", suffix=".tmp", dir=directory)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self.dirty, self.loaded_from = False, path
        return True
