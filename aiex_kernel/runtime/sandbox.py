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
* Matching is pathspec's, exactly; before it, one-name pre-filters drawn from the patterns
  (:func:`_name_bodies`) pass over the paths no pattern could match, so most paths cost a
  regex test of their name, and a file is stat'ed only once its name says it may be indexed.
* Every file the walk sees is either in ``Scan.files`` or counted under one reason in
  ``Scan.skipped``: "ignored" (an ignored directory counts once), "secret",
  "unsupported" (no grammar), "too large", "outside root", "unreadable", "undecodable name" (a path that is
  not UTF-8, such as a Latin-1 file name: every prompt, record and manifest names files in UTF-8; listed with
  U+FFFD for the bytes it cannot show) (in that order).
* With a :class:`~.scan_cache.ScanCache` (``scan(cache=...)``; ``build_index`` keeps one next to a local
  index), a directory unchanged since the scan that recorded it is not listed or filtered again, only its
  files stat'ed; the result is the same as without (see :mod:`.scan_cache` for when a record holds).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import stat as stat_mod
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

import pathspec

from ..core.languages import language_for_path
from ..errors import (
    FileTooLarge,
    PathNotFound,
    PathOutsideRoot,
    SandboxError,
    SecretFileRefused,
)
from .scan_cache import DIR_CODE, RACY_NS, SECRET_CODE, ScanCache

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


_FLOATING = re.compile(r"\^\(\?:\.\+/\)\?(?P<body>.*)\(\?:\(\?:/\)\|\$\)\Z")  # ^(?:.+/)?BODY(?:(?:/)|$)
_TRAILING_SPACE = re.compile(r"(?<!\\)\s+\Z")
_CLASS_WITH_SLASH = re.compile(r"\[(?:\^?\]|!\])?[^\]/]*/")  # a "[" not closed before a "/"


_ANY_NAME = "[^/]*"


def _name_bodies(spec, negations: bool) -> tuple[set[str], list[tuple[str, ...]]] | None:
    """What a matched path's names must be, pattern by pattern: (anywhere, anchored). ``anywhere``: regex
    bodies, one per pattern, of which a matched path has a component (name) in full. ``anchored``: for
    the patterns tied to their ignore file's directory (a slash before the end, no ``**``), the body of
    each component, which the path's component at the same place (below that directory) matches in full.
    None: some pattern gives no such test (``*``, ``**``, a class that may hold a ``/``, ...)."""
    anywhere: set[str] = set()
    anchored: list[tuple[str, ...]] = []
    for pattern in spec.patterns:
        if pattern.include is None or (pattern.include is False and not negations):
            continue
        text = getattr(pattern, "pattern", None)
        if not isinstance(text, str) or _CLASS_WITH_SLASH.search(text):
            return None
        text = text.removeprefix("!")
        parts = _TRAILING_SPACE.sub("", text).rstrip("/").split("/")
        tied = len(parts) > 1  # a slash before the end ties the pattern to its ignore file's directory
        if tied and not parts[0]:
            parts = parts[1:]
        bodies: list[str | None] = []
        for part in parts:
            if not part or "**" in part:
                bodies.append(None)  # any number of components
                continue
            regex, include = _translate(type(pattern), part)
            if include is True and regex == ".":
                bodies.append(_ANY_NAME)  # "*" alone: any one name
                continue
            found = _FLOATING.match(_anonymous_groups(regex) or "") if isinstance(regex, str) else None
            if include is not True or found is None:
                return None
            bodies.append(found.group("body"))
        if tied and None not in bodies and any(b != _ANY_NAME for b in bodies):
            anchored.append(tuple(bodies))  # type: ignore[arg-type]
            continue
        named = [b for b in bodies if b is not None and b != _ANY_NAME]
        if not named:
            return None  # every component is "*" or "**": any path may match
        anywhere.add(named[-1])
    return anywhere, anchored


def _translate(kind, part: str) -> tuple[str | None, bool | None]:
    """(regex source, include) of the one-component pattern ``part``, in pathspec's translation."""
    to_regex = getattr(kind, "pattern_to_regex", None)
    if to_regex is not None:
        regex, include = to_regex(part)
        return (regex if isinstance(regex, str) else None), include
    alone = kind(part)
    regex = getattr(alone, "regex", None)
    return (regex.pattern if isinstance(regex, re.Pattern) else None), alone.include


@functools.lru_cache(maxsize=4096)
def _exact(body: str) -> re.Pattern:
    return re.compile(body + r"\Z")


def _alternatives(bodies) -> re.Pattern:
    bodies = sorted(set(bodies))
    return re.compile("(?:" + "|".join(bodies) + r")\Z") if bodies else re.compile(r"(?!)")


def _component_pattern(spec, *, negations: bool = False) -> re.Pattern | None:
    """A regex over ONE path component (a file or directory name): a path that some including pattern of
    ``spec`` matches (with ``negations``, any pattern) has a component this regex matches in full. None
    when there is no such test (a pattern such as ``*`` or ``**``, or one we cannot take apart).

    A gitignore pattern matches a path when its components match the path's leading components (or, for
    a pattern without a slash, the components from any one on), each component other than ``**`` matching
    one path component in full; so one such component of each pattern, translated alone, is a test every
    matched path passes. It is a pre-filter only: the spec has the last word.
    """
    bodies = _name_bodies(spec, negations)
    if bodies is None:
        return None
    anywhere, anchored = bodies
    try:
        return _alternatives([*anywhere, *(next(b for b in reversed(a) if b != _ANY_NAME) for a in anchored)])
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
    #: whether the walk followed a symbolic link inside the root (then a path may stand for another)
    linked: bool = False

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def skip(self, relpath: str, reason: str) -> None:
        self.skipped[reason] += 1
        if reason not in ("ignored", "unsupported") and len(self.skipped_paths) < MAX_SKIPPED_PATHS:
            if reason == "undecodable name":  # shown, never used as a path again
                relpath = relpath.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            self.skipped_paths.append((relpath, reason))


class _Found(dict):
    """The files a scan found, by path, telling ``on_file`` of each as it is added."""

    def __init__(self, on_file: Callable[[FileEntry], None]) -> None:
        super().__init__()
        self.on_file = on_file

    def __setitem__(self, key: str, value: FileEntry) -> None:
        super().__setitem__(key, value)
        self.on_file(value)


class _Where(NamedTuple):
    """What one ignore file's pre-filters know of a directory below it (see :func:`_name_bodies`)."""

    hit: bool  #: a pattern may match something below: every path goes to the spec
    depth: int  #: components between the ignore file's directory and this one
    alive: tuple[int, ...]  #: the anchored patterns whose leading components this directory's path matched
    final: re.Pattern | None  #: names that complete one of those here


class _Filters:
    """An ignore file's spec and its one-name pre-filters (see :func:`_name_bodies`), shared by every
    directory whose ignore file says the same."""

    def __init__(self, lines: tuple[str, ...]) -> None:
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        bodies = _name_bodies(self.spec, True)
        self.filtered = bodies is not None
        try:
            self.anywhere = _alternatives(bodies[0]) if bodies else None
        except re.error:
            self.filtered, self.anywhere = False, None
        self.anchored: list[tuple[str, ...]] = bodies[1] if self.filtered else []
        self._finals: dict = {}
        self.top = self.where(False, 0, tuple(range(len(self.anchored))))

    def where(self, hit: bool, depth: int, alive: tuple[int, ...]) -> _Where:
        if hit or not self.filtered:
            return _Where(True, depth, (), None)
        key = (depth, alive)
        final = self._finals.get(key, False)
        if final is False:
            ends = [self.anchored[i][depth] for i in alive if len(self.anchored[i]) == depth + 1]
            try:
                final = _alternatives(ends) if ends else None
            except re.error:
                return _Where(True, depth, (), None)
            self._finals[key] = final
        return _Where(False, depth, alive, final)


@functools.lru_cache(maxsize=256)
def _filters(lines: tuple[str, ...]) -> _Filters:
    return _Filters(lines)


class _Rule:
    """One ignore file's rules: the directory holding it (relative to the root) and its filters; ``source``:
    the ignore file's path relative to the root."""

    def __init__(self, base: str, lines: Sequence[str], source: str = "") -> None:
        self.base = base
        self.source = source
        self._filters = f = _filters(tuple(lines))
        self.spec, self.anywhere, self.top = f.spec, f.anywhere, f.top

    @classmethod
    def of(cls, base: str, lines: list[str], source: str = "") -> _Rule:
        return cls(base, lines, source)

    def passes(self, where: _Where, name: str) -> bool:
        """Whether a path named ``name`` in a directory the filters say ``where`` of may match."""
        return where.hit or self.anywhere.match(name) is not None or (
            where.final is not None and where.final.match(name) is not None)

    def descend(self, where: _Where, name: str) -> _Where:
        """What the filters know of the subdirectory ``name``."""
        if where.hit:
            return where
        if self.anywhere.match(name) or (where.final is not None and where.final.match(name)):
            return _Where(True, where.depth + 1, (), None)
        d, anchored = where.depth, self._filters.anchored
        alive = tuple(i for i in where.alive if len(anchored[i]) > d + 1 and _exact(anchored[i][d]).match(name))
        return self._filters.where(False, d + 1, alive)


_Rules = list[_Rule]  # outermost first


def _ignored(rules: _Rules, relpath: str, is_dir: bool, wheres: Sequence[_Where] | None = None,
             name: str = "") -> bool:
    """Git's answer: the deepest ignore file with a matching rule decides.

    ``wheres[i]``: what ``rules[i]``'s pre-filters know of the directory holding ``relpath`` (whose last
    component is ``name``): unless they let ``name`` pass, no rule of that file can match."""
    ignored = False
    for i, rule in enumerate(rules):
        if wheres is not None and not rule.passes(wheres[i], name):
            continue
        rel = relpath if rule.base == "." else relpath[len(rule.base) + 1:]
        result = rule.spec.check_file(rel + "/" if is_dir else rel)
        if result.include is not None:
            ignored = result.include
    return ignored


def _wheres(rules: _Rules, rel: str) -> list[_Where]:
    """The pre-filters' word on directory ``rel``, for rules from its ancestors."""
    out = []
    for rule in rules:
        below = rel if rule.base == "." else rel[len(rule.base) + 1:]
        where = rule.top
        for c in below.split("/"):
            if c and c != ".":
                where = rule.descend(where, c)
        out.append(where)
    return out


#: the order of ``Scan.skipped``'s reasons (whatever order the walk met them in)
_REASONS = {r: i for i, r in enumerate(("ignored", "secret", "unsupported", "too large", "outside root",
                                        "unreadable", "undecodable name"))}


def _utf8_path(relpath: str) -> bool:
    """Whether ``relpath`` is valid UTF-8 (no lone surrogates from ``os.fsdecode`` of undecodable bytes)."""
    if relpath.isascii():
        return True
    try:
        relpath.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _ignore_stat(path: str, started_ns: int) -> tuple[int, int, int, int] | None:
    """What the scan cache keeps of an ignore file: (size, mtime_ns, ctime_ns, inode); None when it is missing
    or changed too recently to be trusted (see :data:`.scan_cache.RACY_NS`)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if st.st_mtime_ns >= started_ns - RACY_NS:
        return None
    return st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino


class _CacheRun:
    """One scan's use of a :class:`ScanCache`: which records it may trust, and those it leaves behind."""

    def __init__(self, sandbox: Sandbox, cache: ScanCache) -> None:
        self.started_ns = time.time_ns()
        self.cache = cache
        self.root_prefix = sandbox._root_prefix
        signature = sandbox._scan_signature()
        if cache.signature != signature:  # another sandbox, version or languages table: nothing is reusable
            cache.signature, cache.languages, cache.ignore_files, cache.records = signature, [], {}, {}
            cache.dirty = True
        self.old = cache.records
        self.new: dict[str, tuple] = {}
        self.fresh = 0  # records written by this scan
        self.reused = self.listed = 0  # directories replayed from their records / listed
        #: ignore files changed (or not trusted) since the cache was written: no record under them is reused
        self.bad = {rel for rel, known in cache.ignore_files.items()
                    if known is None or _ignore_stat(self.root_prefix + rel, self.started_ns) != known}
        self.noted: dict[str, tuple | None] = {}  # ignore files read by this scan, as stat'ed before reading
        self._rules: dict[str, _Rule] = {}
        self._chains: dict[tuple, tuple] = {}
        self.languages = cache.languages
        self.by_code = {chr(65 + i): name for i, name in enumerate(self.languages)}
        self._codes = {name: code for code, name in self.by_code.items()}

    def code(self, language: str) -> str:
        code = self._codes.get(language)
        if code is None:
            code = chr(65 + len(self.languages))
            self.languages.append(language)
            self._codes[language], self.by_code[code] = code, language
        return code

    def chain(self, sources: tuple[str, ...]) -> tuple[str, ...]:
        """``sources``, as one shared tuple per distinct value (compact when pickled)."""
        return self._chains.setdefault(sources, sources)

    def lookup(self, rel: str, st: os.stat_result, chain: tuple[str, ...]) -> tuple | None:
        """The record of directory ``rel`` if it still holds (same directory, unchanged, same ignore files)."""
        rec = self.old.get(rel)
        if rec is None:
            return None
        try:
            if (rec[2] != st.st_mtime_ns or rec[3] != st.st_ctime_ns or rec[1] != st.st_ino or rec[0] != st.st_dev
                    or rec[4] != chain or (self.bad and not self.bad.isdisjoint(rec[5]))):
                return None
            if len(rec) != 10 or type(rec[8]) is not tuple or type(rec[9]) is not str or len(rec[8]) != len(rec[9]):
                return None
        except (IndexError, TypeError):
            return None
        self.new[rel] = rec
        self.reused += 1
        return rec

    def store(self, rel: str, st: os.stat_result, chain: tuple[str, ...], rules: tuple[str, ...], ignored: int,
              unsupported: int, names: list[str], codes: list[str]) -> None:
        if st.st_mtime_ns >= self.started_ns - RACY_NS:
            return  # changed too recently: a change in the same clock tick would not show in its mtime
        self.new[rel] = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, chain, rules, ignored, unsupported,
                         tuple(names), "".join(codes))
        self.fresh += 1

    def note_ignore(self, rel: str, path: str) -> None:
        if rel not in self.noted:
            self.noted[rel] = _ignore_stat(path, self.started_ns)

    def rules_for(self, chain: tuple[str, ...]) -> _Rules:
        """The rules of the ignore files ``chain`` (read once per scan)."""
        out = []
        for rel in chain:
            rule = self._rules.get(rel)
            if rule is None:
                path = self.root_prefix + rel
                self.note_ignore(rel, path)
                try:
                    with open(path, encoding="utf-8", errors="replace") as fh:
                        lines = fh.read().splitlines()
                except OSError:  # gone since the scan began: as if the walk had not found it
                    continue
                rule = self._rules[rel] = _Rule.of(rel.rpartition("/")[0] or ".", lines, rel)
            out.append(rule)
        return out

    def finish(self, full: bool) -> None:
        """Leave in the cache what the next scan may reuse: this scan's records, and, unless it walked the whole
        tree, the other old ones still standing."""
        cache, new, bad = self.cache, self.new, self.bad
        if not full:
            for rel, rec in self.old.items():
                if rel not in new and not (bad and not bad.isdisjoint(rec[5])):
                    new[rel] = rec
        used = {id(rec[5]): rec[5] for rec in new.values()}
        sources = set().union(*used.values()) if used else set()
        old_ignores = cache.ignore_files
        ignore_files = {rel: self.noted[rel] if rel in self.noted else
                        (old_ignores.get(rel) if rel not in bad else None) for rel in sorted(sources)}
        if self.fresh or new.keys() != self.old.keys() or ignore_files != old_ignores:
            cache.dirty = True
        cache.records, cache.ignore_files = new, ignore_files
        cache.reused, cache.listed = self.reused, self.listed


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
        self._secret_names = _component_pattern(self._secrets)
        self._languages: dict = {}  # a file name's suffix -> its LanguageSpec (or None), for scans
        self._dir_cache: dict[str, str] = {}
        self._root_str = str(self.root)
        self._root_prefix = self._root_str.rstrip(os.sep) + os.sep

    def __repr__(self) -> str:
        return f"Sandbox({str(self.root)!r})"

    def _scan_signature(self) -> tuple:
        """What a scan's decisions depend on besides the files: a scan cache made under another is not used."""
        from .._version import __version__
        from ..core.languages import LANGUAGES

        return (__version__, getattr(pathspec, "__version__", ""), self._root_str, self.allow_secrets,
                DEFAULT_SECRET_PATTERNS, IGNORE_FILES, tuple(sorted(NEVER_ENTERED)), self.max_file_bytes,
                tuple(sorted((name, tuple(spec.extensions)) for name, spec in LANGUAGES.items())))

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
        # a one-name regex (or one combined regex) rules out most paths before pathspec's exact check
        if not relpath.startswith(("/", "./")):  # (pathspec normalises those; a relpath never has them)
            if self._secret_names is not None:
                if not any(self._secret_names.match(c) for c in relpath.split("/")):
                    return False
            elif self._secret_hint is not None and not self._secret_hint.match(relpath):
                return False
        return self._secret_exact(relpath)

    def _secret_exact(self, relpath: str) -> bool:
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
             depth: int | None = None, cache: ScanCache | None = None,
             on_file: Callable[[FileEntry], None] | None = None) -> Scan:
        """Find the source files under ``paths``; ``depth=0`` takes only files directly in a directory.

        With ``cache`` (:mod:`.scan_cache`), a directory unchanged since the scan that filled it is not listed
        again: its record says what the listing said, and only its files are stat'ed. The result is the same
        as without; the cache is left holding this scan's records (the caller saves it). ``on_file`` is called
        with each file as the walk finds it (a build submits work while the scan goes on)."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        scan, found, seen = Scan(), ({} if on_file is None else _Found(on_file)), set()
        run = _CacheRun(self, cache) if cache is not None else None
        full = False
        for given in paths:
            resolved = self.resolve(given)
            if not resolved.exists():
                raise PathNotFound(f"{given} does not exist under the project root {self.root}.")
            rel = resolved.relative_to(self.root).as_posix() or "."
            if resolved.is_dir():
                rules = self._ancestor_rules(rel, run)
                if rel != "." and _ignored(rules, rel, True):
                    rules = []  # named explicitly: walk it anyway, by its own ignore files only
                secret_dir = self._secret_names is None or (rel != "." and any(
                    self._secret_names.match(c) for c in rel.split("/")))
                chain = run.chain(tuple(r.source for r in rules)) if run is not None else ()
                full = full or (rel == "." and depth is None)
                self._walk(str(resolved), rel, rules, _wheres(rules, rel), secret_dir, 0, depth, scan, found, seen,
                           run, chain)
            elif rel not in found:
                self._consider(rel, resolved.stat(), scan, found)
        scan.files = sorted(found.values(), key=attrgetter("relpath"))
        if len(scan.skipped) > 1:  # one order whichever way the walk went (cached or not)
            scan.skipped = Counter(dict(sorted(scan.skipped.items(), key=lambda kv: _REASONS.get(kv[0], 99))))
        if run is not None:
            run.finish(full)
        return scan

    def entered(self, rel: str) -> bool:
        """Whether a scan of the whole root walks into the directory ``rel`` (none of it or of the directories
        above it is ignored, and none is a directory aiex never enters)."""
        if rel in (".", ""):
            return True
        parts = rel.split("/")
        if any(p in NEVER_ENTERED for p in parts):
            return False
        return not any(_ignored(self._ancestor_rules(a), a, True)
                       for a in ("/".join(parts[: i + 1]) for i in range(len(parts))))

    def _rules_in(self, directory: Path, rel: str, run: _CacheRun | None = None) -> _Rules:
        rules = []
        for name in IGNORE_FILES:
            path = directory / name
            if path.is_file() and path.resolve().is_relative_to(self.root):
                source = name if rel == "." else f"{rel}/{name}"
                if run is not None:
                    run.note_ignore(source, str(path))
                lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
                rules.append(_Rule.of(rel, lines, source))
        return rules

    def _ancestor_rules(self, rel: str, run: _CacheRun | None = None) -> _Rules:
        if rel == ".":
            return []
        parts = rel.split("/")[:-1]
        dirs = ["."] + ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return [r for d in dirs for r in self._rules_in(self.root / d, d, run)]

    def _walk(self, directory: str, rel: str, rules: _Rules | None, hits: list[_Where] | None, secret_dir: bool,
              level: int, depth: int | None, scan: Scan, found: dict[str, FileEntry], seen: set,
              run: _CacheRun | None = None, chain: tuple[str, ...] = ()) -> None:
        """Walk ``directory`` (``rel`` under the root). ``hits``: see :func:`_ignored` (wheres); ``secret_dir``: whether
        a component of ``rel`` passes the secret pre-filter (then every file below gets the exact check).
        ``run``: the scan cache in use, if any; ``chain``: the ignore files behind ``rules`` (which, with a
        cache, may be None: read only if this directory has to be listed)."""
        prefix = "" if rel == "." else rel + "/"
        record = None
        try:
            dst = os.stat(directory)
            if (dst.st_dev, dst.st_ino) in seen:
                return
            seen.add((dst.st_dev, dst.st_ino))
            if run is not None:
                record = run.lookup(rel, dst, chain)
                if record is None and rules is None:
                    rules = run.rules_for(chain)
                    hits = _wheres(rules, rel)
            if record is None:
                if run is not None:
                    run.listed += 1
                with os.scandir(directory) as it:
                    entries = sorted(it, key=attrgetter("name"))
                own = [e for e in entries if e.name in IGNORE_FILES]
                if own:  # the ignore files here, in IGNORE_FILES order (.gitignore, then .aiexignore)
                    own.sort(key=lambda e: IGNORE_FILES.index(e.name))
                    for e in own:
                        if e.is_file() and (not e.is_symlink() or Path(e.path).resolve().is_relative_to(self.root)):
                            if run is not None:
                                run.note_ignore(prefix + e.name, e.path)
                            with open(e.path, encoding="utf-8", errors="replace") as fh:
                                rules = [*rules, _Rule.of(rel, fh.read().splitlines(), prefix + e.name)]
                                hits = [*hits, rules[-1].top]
        except OSError:
            scan.skip(rel, "unreadable")
            return
        if record is not None:
            self._replay(directory, rel, record, secret_dir, level, depth, scan, found, seen, run)
            return
        secret_names = self._secret_names
        max_bytes = self.max_file_bytes
        languages = self._languages
        keep = run is not None  # record what the listing decided, for the cache
        if keep:
            sub_chain = run.chain(tuple(r.source for r in rules))
            names: list[str] = []
            codes: list[str] = []
            n_ignored = n_unsupported = 0
            linked = False
        else:
            sub_chain = ()
        for entry in entries:
            name = entry.name
            if name in NEVER_ENTERED and entry.is_dir(follow_symlinks=False):
                continue
            if keep and not linked and entry.is_symlink():
                linked = True  # what a link points at may change while this directory does not: no record
            child = prefix + name
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if rules and _ignored(rules, child, is_dir, hits, name):
                scan.skip(child, "ignored")
                if keep:
                    n_ignored += 1
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
                scan.linked = True
                if not is_dir:  # a link to a file: the checks in their original order, on its target's stat
                    try:
                        st = entry.stat()
                    except OSError:
                        scan.skip(child, "unreadable")
                        continue
                    self._consider(child, st, scan, found)
                    continue
            if is_dir:
                if keep:
                    names.append(name)
                    codes.append(DIR_CODE)
                if depth is None or level < depth:
                    sub_hits = [r.descend(w, name) for r, w in zip(rules, hits)] if rules else hits
                    sub_secret = secret_dir or secret_names.match(name) is not None
                    self._walk(entry.path, child, rules, sub_hits, sub_secret, level + 1, depth, scan, found, seen,
                               run, sub_chain)
                continue
            # a plain file: what its name says first (secret, no grammar), then one stat for the rest
            if (secret_dir or secret_names.match(name)) and self._secret_exact(child):
                scan.skip(child, "secret")
                if keep:
                    names.append(name)
                    codes.append(SECRET_CODE)
                continue
            dot = name.rfind(".")
            suffix = name[dot:] if dot > 0 and "\\" not in name else name  # (a name's grammar is its suffix's)
            spec = languages.get(suffix, False)
            if spec is False:
                spec = languages[suffix] = language_for_path(name)
            if spec is None:
                scan.skip(child, "unsupported")
                if keep:
                    n_unsupported += 1
                continue
            if keep:
                names.append(name)
                codes.append(run.code(spec.name))
            try:
                st = entry.stat()
            except OSError:
                scan.skip(child, "unreadable")
                continue
            if not stat_mod.S_ISREG(st.st_mode):
                scan.skip(child, "unreadable")
            elif st.st_size > max_bytes:
                scan.skip(child, "too large")
            elif not _utf8_path(child):
                scan.skip(child, "undecodable name")
            else:
                found[child] = FileEntry(child, st.st_size, spec.name, st.st_mtime_ns)
        if keep and not linked:
            run.store(rel, dst, chain, sub_chain, n_ignored, n_unsupported, names, codes)

    def _replay(self, directory: str, rel: str, record: tuple, secret_dir: bool, level: int, depth: int | None,
                scan: Scan, found: dict[str, FileEntry], seen: set, run: _CacheRun) -> None:
        """A directory as its cache record lists it: the same skips, in the same order, as listing it would
        make; its files stat'ed, its subdirectories walked."""
        _, _, _, _, _, sub_chain, n_ignored, n_unsupported, names, codes = record
        if n_ignored:
            scan.skipped["ignored"] += n_ignored
        if n_unsupported:
            scan.skipped["unsupported"] += n_unsupported
        prefix = "" if rel == "." else rel + "/"
        base = directory if directory.endswith(os.sep) else directory + os.sep
        descend = depth is None or level < depth
        secret_names = self._secret_names
        max_bytes = self.max_file_bytes
        by_code = run.by_code
        stat, is_reg = os.stat, stat_mod.S_ISREG
        for name, code in zip(names, codes):
            if code == DIR_CODE:
                if descend:
                    self._walk(base + name, prefix + name, None, None,
                               secret_dir or secret_names.match(name) is not None, level + 1, depth, scan, found,
                               seen, run, sub_chain)
            elif code == SECRET_CODE:
                scan.skip(prefix + name, "secret")
            else:
                child = prefix + name
                try:
                    st = stat(base + name)
                except OSError:
                    scan.skip(child, "unreadable")
                    continue
                if not is_reg(st.st_mode):
                    scan.skip(child, "unreadable")
                elif st.st_size > max_bytes:
                    scan.skip(child, "too large")
                elif not _utf8_path(child):
                    scan.skip(child, "undecodable name")
                else:
                    found[child] = FileEntry(child, st.st_size, by_code[code], st.st_mtime_ns)

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
        elif not _utf8_path(rel):
            scan.skip(rel, "undecodable name")
        else:
            found[rel] = FileEntry(rel, st.st_size, spec.name, st.st_mtime_ns)
