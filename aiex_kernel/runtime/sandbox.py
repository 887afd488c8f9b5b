"""The sandbox: the only door to the file system for all of aiex.

Writes (:meth:`Sandbox.write_bytes`, :meth:`Sandbox.remove`, for edits) follow the
same path rules, refuse secret-looking files, binary content and anything under
``.git`` or ``.aiex``, and replace a file atomically (temporary file, fsync,
rename) keeping its permission bits.

Every path goes through :meth:`Sandbox.resolve`, which refuses anything that
resolves outside the project root (``..``, absolute paths, symlinks). Reads refuse
secret-looking files (:data:`DEFAULT_SECRET_PATTERNS`, minus the user's
``allow_secrets``) and files over ``max_file_bytes``.

:meth:`Sandbox.scan` discovers source files. Its rules:

* ``.git`` and ``.aiex`` (aiex's index and config) are never entered; ``.gitignore`` and ``.aiexignore`` files (same syntax,
  ``.aiexignore`` read after ``.gitignore``) apply at every level, the deepest
  matching rule winning, as in git; an ignored directory is not descended into.
* Symlinks are followed only when their target is inside the root (a directory is
  walked once, however many links lead to it).
* What the caller names explicitly is taken: an explicit file is included even if
  ignored (still refused if secret, too large or without a grammar); an explicit
  directory is walked even if ignored, and then only the ignore files inside it apply.
* An explicit path that is missing or outside the root raises; inside a walk such
  files are skipped and counted.
* Every file the walk sees is either in ``Scan.files`` or counted under one reason in
  ``Scan.skipped``: "ignored" (an ignored directory counts once), "secret",
  "unsupported" (no grammar), "too large", "outside root", "unreadable".
"""

from __future__ import annotations

import contextlib
import os
import re
import stat as stat_mod
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from ..core.languages import language_for_path
from ..errors import FileTooLarge, PathNotFound, PathOutsideRoot, SandboxError, SecretFileRefused

__all__ = ["DEFAULT_SECRET_PATTERNS", "FileEntry", "Sandbox", "Scan", "is_binary"]

#: gitignore-style patterns of files aiex never reads unless ``allow_secrets`` allows
#: them. The templates people commit on purpose (``.env.example``, ``.env.sample``,
#: ``.env.template``) hold no secrets and are allowed.
DEFAULT_SECRET_PATTERNS: tuple[str, ...] = (
    ".env", ".env.*", "*.pem", "*.key", "id_rsa", "id_rsa*", "id_dsa*", "id_ecdsa*", "id_ed25519*",
    "*.p12", "*.pfx", "*.jks", "*.keystore", "*.kdbx", ".netrc", ".pgpass", ".pypirc", ".npmrc",
    ".git-credentials", ".htpasswd", "credentials.json", "secrets.yaml", "secrets.yml", "secrets.json",
    "**/.aws/credentials",
    "!.env.example", "!.env.sample", "!.env.template",
)

IGNORE_FILES = (".gitignore", ".aiexignore")
#: directories a scan never enters: git's data and aiex's own (the index, project config)
NEVER_ENTERED = frozenset({".git", ".aiex"})
MAX_SKIPPED_PATHS = 1000
_BINARY_SNIFF = 8192
_ALLOW_HINT = ("add a gitignore-style pattern for it to `allow_secrets` in .aiex/config.toml "
               "or set AIEX_ALLOW_SECRETS (a JSON list, e.g. '[\".env.test\"]')")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def is_binary(data: bytes) -> bool:
    """Whether ``data`` looks binary: a NUL byte in its first 8 KiB (git's rule)."""
    return b"\0" in data[:_BINARY_SNIFF]


_FLAG_LETTERS = ((re.ASCII, "a"), (re.IGNORECASE, "i"), (re.MULTILINE, "m"), (re.DOTALL, "s"), (re.VERBOSE, "x"))


def _anonymous_groups(regex: str) -> str | None:
    """``regex`` with its named groups made non-capturing (``(?P<name>`` -> ``(?:``), so that several
    can be joined in one pattern; None if it refers back to a group (``(?P=name)``, ``\\1``)."""
    out, i, n, in_class = [], 0, len(regex), False
    while i < n:
        c = regex[i]
        if c == "\\":
            if not in_class and i + 1 < n and regex[i + 1].isdigit():
                return None  # a numbered back-reference
            out.append(regex[i:i + 2])
            i += 2
            continue
        if in_class:
            in_class = c != "]"
        elif c == "[":
            in_class = True
            if regex.startswith("[]", i) or regex.startswith("[^]", i):  # a leading "]" is a member
                out.append(regex[i:i + (2 if regex[i + 1] == "]" else 3)])
                i += 2 if regex[i + 1] == "]" else 3
                continue
        elif regex.startswith("(?P=", i):
            return None
        elif regex.startswith("(?P<", i):
            end = regex.index(">", i)
            out.append("(?:")
            i = end + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _any_pattern(spec, *, negations: bool = False) -> re.Pattern | None:
    """One regex that every path some pattern of ``spec`` matches also matches; None: no such shortcut.

    ``spec.match_file`` can only be true for a path that an *including* pattern matches (a negation only
    un-matches), so a path this regex does not match is certainly not matched, and the full spec has the
    last word on those it does match. With ``negations``, the negated patterns join it too: a path it does
    not match is one no pattern of ``spec`` says anything about (``check_file(...).include is None``).
    """
    parts = []
    for pattern in spec.patterns:
        if pattern.include is None or (pattern.include is False and not negations):
            continue  # a blank line or a comment; a negation, which cannot make a path match
        regex = getattr(pattern, "regex", None)
        if not isinstance(regex, re.Pattern) or not isinstance(regex.pattern, str):
            return None  # a pattern type we cannot see into
        body = _anonymous_groups(regex.pattern)
        if body is None:
            return None
        flags = "".join(letter for flag, letter in _FLAG_LETTERS if regex.flags & flag)
        parts.append(f"(?{flags}:{body})" if flags else f"(?:{body})")
    if not parts:
        return re.compile(r"(?!)")  # matches nothing, as the spec
    try:
        return re.compile("|".join(parts))
    except re.error:
        return None


@dataclass
class FileEntry:
    relpath: str  #: POSIX path relative to the root
    size: int
    language: str
    mtime_ns: int = field(default=0, compare=False)  #: modification time when scanned


@dataclass
class Scan:
    """The files a scan found and what it left out, and why."""

    files: list[FileEntry] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    skipped_paths: list[tuple[str, str]] = field(default_factory=list)

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def skip(self, relpath: str, reason: str) -> None:
        self.skipped[reason] += 1
        if reason not in ("ignored", "unsupported") and len(self.skipped_paths) < MAX_SKIPPED_PATHS:
            self.skipped_paths.append((relpath, reason))


_Rules = list[tuple[str, pathspec.GitIgnoreSpec]]  # (directory relpath, its ignore rules), outermost first


def _ignored(rules: _Rules, relpath: str, is_dir: bool) -> bool:
    """Git's answer: the deepest ignore file with a matching rule decides."""
    ignored = False
    for base, spec in rules:
        rel = relpath if base == "." else relpath[len(base) + 1:]
        result = spec.check_file(rel + "/" if is_dir else rel)
        if result.include is not None:
            ignored = result.include
    return ignored


class Sandbox:
    """File access confined to ``root``; see the module docstring for the rules."""

    def __init__(self, root: str | os.PathLike, *, allow_secrets: Iterable[str] = (),
                 max_file_bytes: int = 1024 * 1024) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise PathNotFound(f"Project root {root} does not exist or is not a directory; "
                               "pass --root with an existing folder.")
        self.allow_secrets = tuple(allow_secrets)
        self.max_file_bytes = max_file_bytes
        self._secrets = pathspec.GitIgnoreSpec.from_lines(DEFAULT_SECRET_PATTERNS)
        self._allowed = pathspec.GitIgnoreSpec.from_lines(self.allow_secrets)
        self._secret_hint = _any_pattern(self._secrets)
        self._dir_cache: dict[str, str] = {}
        self._root_str = str(self.root)
        self._root_prefix = self._root_str.rstrip(os.sep) + os.sep

    def __repr__(self) -> str:
        return f"Sandbox({str(self.root)!r})"

    # -- paths ---------------------------------------------------------------

    def resolve(self, path: str | os.PathLike) -> Path:
        """The absolute, symlink-free path of ``path`` (relative to the root), inside the root."""
        return Path(self._resolve_str(path))

    def relpath(self, path: str | os.PathLike) -> str:
        """POSIX path of ``path`` relative to the root ('.' for the root itself)."""
        return self._rel(self._resolve_str(path))

    # Paths are handled as strings inside: pathlib costs several times more, and
    # a scan of a large repository resolves every file.
    def _candidate(self, path: str | os.PathLike) -> str:
        raw = os.fspath(path)
        return raw if os.path.isabs(raw) else os.path.join(self._root_str, raw)

    def _inside(self, path: str) -> bool:
        return path == self._root_str or path.startswith(self._root_prefix)

    def _rel(self, inside: str) -> str:
        return "." if inside == self._root_str else inside[len(self._root_prefix):].replace(os.sep, "/")

    def _resolve_str(self, path: str | os.PathLike) -> str:
        candidate = self._candidate(path)
        real = self._realpath(candidate)
        if not self._inside(real):
            how = "through a symlink " if self._inside(os.path.normpath(candidate)) else ""
            raise PathOutsideRoot(f"{path} resolves {how}to {real}, outside the project root {self.root}; "
                                  "aiex only reads files under the root. Pass --root to work on another folder.")
        return real

    def _realpath(self, candidate: str) -> str:
        """``os.path.realpath``, with the resolution of parent directories cached.

        Resolving costs an lstat per path component; files in one directory share
        their parent's answer, and only the last component (which may be a symlink
        itself) is looked at again. Paths with ``..`` take the slow, exact road.
        """
        if ".." in candidate.split(os.sep):
            return os.path.realpath(candidate)
        parent, name = os.path.split(os.path.normpath(candidate))
        if not name:
            return os.path.realpath(candidate)
        real_parent = self._dir_cache.get(parent)
        if real_parent is None:
            real_parent = self._dir_cache[parent] = os.path.realpath(parent)
        target = os.path.join(real_parent, name)
        return os.path.realpath(target) if os.path.islink(target) else target

    def is_secret(self, relpath: str) -> bool:
        # one combined regex rules out most paths before pathspec's exact (per-pattern) check
        # (on the path as pathspec normalises it: a relpath never starts with "/" or "./")
        if (self._secret_hint is not None and not relpath.startswith(("/", "./"))
                and not self._secret_hint.match(relpath)):
            return False
        return self._secrets.match_file(relpath) and not self._allowed.match_file(relpath)

    # -- reading -------------------------------------------------------------

    def stat(self, path: str | os.PathLike) -> os.stat_result:
        resolved = self.resolve(path)
        try:
            return resolved.stat()
        except FileNotFoundError:
            raise PathNotFound(f"{path} does not exist under the project root {self.root}.") from None

    def read_bytes(self, path: str | os.PathLike, *, max_bytes: int | None = None) -> bytes:
        """The file's bytes, unless it is a secret, too large, missing or not a file."""
        resolved = self._resolve_str(path)
        rel = self._rel(resolved)
        lexical = os.path.normpath(self._candidate(path))  # a harmless-looking link to a secret is a secret too
        names = {rel, self._rel(lexical)} if self._inside(lexical) else {rel}
        for name in sorted(names):
            if self.is_secret(name):
                raise SecretFileRefused(f"{name} looks like a secret file, so aiex does not read it. "
                                        f"If it is safe to send to a model, {_ALLOW_HINT}.")
        limit = self.max_file_bytes if max_bytes is None else max_bytes
        try:
            st = os.stat(resolved)
        except FileNotFoundError:
            raise PathNotFound(f"{path} does not exist under the project root {self.root}.") from None
        if stat_mod.S_ISDIR(st.st_mode):
            raise SandboxError(f"{rel} is a directory, not a file; give a file or use scan.")
        if not stat_mod.S_ISREG(st.st_mode):
            raise SandboxError(f"{rel} is not a regular file; aiex reads only regular files.")
        if st.st_size > limit:
            raise FileTooLarge(self._too_large(rel, f"{st.st_size:,} bytes", limit))
        try:
            with open(resolved, "rb") as fh:
                data = fh.read(limit + 1)
        except FileNotFoundError:
            raise PathNotFound(f"{path} does not exist under the project root {self.root}.") from None
        except OSError as exc:
            raise SandboxError(f"Cannot read {rel}: {exc.strerror}.") from exc
        if len(data) > limit:  # it grew while we read it
            raise FileTooLarge(self._too_large(rel, f"more than {limit:,} bytes", limit))
        return data

    def read_text(self, path: str | os.PathLike) -> tuple[str, bool]:
        """The file decoded as UTF-8 (invalid bytes replaced) and whether it had invalid bytes."""
        data = self.read_bytes(path)
        try:
            return data.decode("utf-8"), False
        except UnicodeDecodeError:
            return data.decode("utf-8", errors="replace"), True

    # -- writing -------------------------------------------------------------

    def _writable(self, path: str | os.PathLike) -> tuple[str, str]:
        """(resolved path, relpath) of a file aiex may write: inside the root, not a secret, not in .git/.aiex."""
        resolved = self._resolve_str(path)
        rel = self._rel(resolved)
        lexical = os.path.normpath(self._candidate(path))
        names = {rel, self._rel(lexical)} if self._inside(lexical) else {rel}
        for name in sorted(names):
            if self.is_secret(name):
                raise SecretFileRefused(f"{name} looks like a secret file, so aiex does not write it.")
            if name == "." or name.split("/", 1)[0] in NEVER_ENTERED:
                raise SandboxError(f"{name} is not a file aiex writes (the root itself, git's or aiex's own data).")
        return resolved, rel

    def write_bytes(self, path: str | os.PathLike, data: bytes, *, mode: int | None = None) -> None:
        """Replace (or create) the file atomically: a temporary file in its directory, flushed, then renamed
        over it, keeping its permission bits (``mode`` for a new file). Binary content is refused."""
        import tempfile

        resolved, rel = self._writable(path)
        if is_binary(data):
            raise SandboxError(f"{rel}: aiex writes only text files, and this content is binary.")
        if os.path.isdir(resolved):
            raise SandboxError(f"{rel} is a directory, not a file.")
        try:
            current = os.stat(resolved)
        except FileNotFoundError:
            current = None
        if current is not None and not stat_mod.S_ISREG(current.st_mode):
            raise SandboxError(f"{rel} is not a regular file; aiex writes only regular files.")
        directory = os.path.dirname(resolved)
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".aiex-", suffix=".tmp", dir=directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                keep = stat_mod.S_IMODE(current.st_mode) if current is not None else (
                    mode if mode is not None else 0o666 & ~_umask())
                os.chmod(tmp, keep)
                os.replace(tmp, resolved)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise SandboxError(f"Cannot write {rel}: {exc.strerror or exc}.") from exc
        self._dir_cache.clear()

    def remove(self, path: str | os.PathLike) -> None:
        """Delete the file (refused for what aiex may not write)."""
        resolved, rel = self._writable(path)
        try:
            os.unlink(resolved)
        except FileNotFoundError:
            raise PathNotFound(f"{rel} does not exist under the project root {self.root}.") from None
        except OSError as exc:
            raise SandboxError(f"Cannot delete {rel}: {exc.strerror or exc}.") from exc

    @staticmethod
    def _too_large(rel: str, size: str, limit: int) -> str:
        return (f"{rel} is {size}, over the limit of {limit:,} bytes; raise `max_file_bytes` in "
                ".aiex/config.toml (or AIEX_MAX_FILE_BYTES) to read it.")

    # -- discovery -----------------------------------------------------------

    def scan(self, paths: Sequence[str | os.PathLike] | str | os.PathLike = (".",), *,
             depth: int | None = None) -> Scan:
        """Find the source files under ``paths``; ``depth=0`` takes only files directly in a directory."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        scan, found, seen = Scan(), {}, set()
        for given in paths:
            resolved = self.resolve(given)
            if not resolved.exists():
                raise PathNotFound(f"{given} does not exist under the project root {self.root}.")
            rel = resolved.relative_to(self.root).as_posix() or "."
            if resolved.is_dir():
                rules = self._ancestor_rules(rel)
                if rel != "." and _ignored(rules, rel, True):
                    rules = []  # named explicitly: walk it anyway, by its own ignore files only
                self._walk(resolved, rel, rules, 0, depth, scan, found, seen)
            elif rel not in found:
                self._consider(rel, resolved.stat(), scan, found)
        scan.files = sorted(found.values(), key=lambda f: f.relpath)
        return scan

    def _rules_in(self, directory: Path, rel: str) -> _Rules:
        rules = []
        for name in IGNORE_FILES:
            path = directory / name
            if path.is_file() and path.resolve().is_relative_to(self.root):
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                rules.append((rel, pathspec.GitIgnoreSpec.from_lines(lines)))
        return rules

    def _ancestor_rules(self, rel: str) -> _Rules:
        if rel == ".":
            return []
        parts = rel.split("/")[:-1]
        dirs = ["."] + ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return [r for d in dirs for r in self._rules_in(self.root / d, d)]

    def _walk(self, directory: Path, rel: str, rules: _Rules, level: int, depth: int | None,
              scan: Scan, found: dict[str, FileEntry], seen: set) -> None:
        try:
            st = directory.stat()
            if (st.st_dev, st.st_ino) in seen:
                return
            seen.add((st.st_dev, st.st_ino))
            rules = rules + self._rules_in(directory, rel)
            with os.scandir(directory) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError:
            scan.skip(rel, "unreadable")
            return
        for entry in entries:
            if entry.name in NEVER_ENTERED and entry.is_dir(follow_symlinks=False):
                continue
            child = entry.name if rel == "." else f"{rel}/{entry.name}"
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if _ignored(rules, child, is_dir):
                scan.skip(child, "ignored")
                continue
            if entry.is_symlink():
                try:
                    target = Path(os.path.realpath(entry.path))
                except OSError:  # e.g. /proc links the user may not follow
                    scan.skip(child, "unreadable")
                    continue
                if not target.is_relative_to(self.root):
                    scan.skip(child, "outside root")
                    continue
            if is_dir:
                if depth is None or level < depth:
                    self._walk(Path(entry.path), child, rules, level + 1, depth, scan, found, seen)
                continue
            try:
                st = entry.stat()
            except OSError:
                scan.skip(child, "unreadable")
                continue
            self._consider(child, st, scan, found)

    def _consider(self, rel: str, st: os.stat_result, scan: Scan, found: dict[str, FileEntry]) -> None:
        spec = language_for_path(rel)
        if self.is_secret(rel):
            scan.skip(rel, "secret")
        elif spec is None:
            scan.skip(rel, "unsupported")
        elif not stat_mod.S_ISREG(st.st_mode):
            scan.skip(rel, "unreadable")
        elif st.st_size > self.max_file_bytes:
            scan.skip(rel, "too large")
        else:
            found[rel] = FileEntry(rel, st.st_size, spec.name, st.st_mtime_ns)
