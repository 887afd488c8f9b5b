"""Settings: one loader for the CLI, the magics and the kernel.

Precedence, highest first (DESIGN.md, "Conventions")::

    command flags > AIEX_* environment variables > <root>/.aiex/config.toml
                  > <config dir>/config.toml > defaults

The user config directory is ``AIEX_CONFIG_DIR`` or the platform's user config
directory for "aiex"; the data directory (event log, sessions, caches, the shared
cluster's address) is ``AIEX_DATA_DIR`` or the platform's user data directory.

Validated by msgspec (``msgspec.convert(..., strict=False)``): loading the settings is part of every
command's start-up, and pydantic-settings cost 0.3-0.6 s of it; msgspec about 10 ms.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
from msgspec import Meta

from .errors import ConfigError

__all__ = [
    "ROOT_MARKERS",
    "Endpoint",
    "Settings",
    "config_dir",
    "data_dir",
    "find_project_root",
    "load_settings",
    "project_config_path",
    "user_config_path",
]

#: A directory holding any of these is a project root.
ROOT_MARKERS = (".git", "pyproject.toml", ".aiex")

#: settings already loaded, by everything they were loaded from (a copy is handed out each time)
_loaded: dict[tuple, Settings] = {}


def config_dir() -> Path:
    """The user config directory: ``AIEX_CONFIG_DIR`` or the platform default."""
    env = os.environ.get("AIEX_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("aiex", appauthor=False))


def data_dir() -> Path:
    """The user data directory: ``AIEX_DATA_DIR`` or the platform default."""
    env = os.environ.get("AIEX_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("aiex", appauthor=False))


def user_config_path() -> Path:
    return config_dir() / "config.toml"


def project_config_path(root: Path) -> Path:
    return Path(root) / ".aiex" / "config.toml"


def find_project_root(path: str | os.PathLike | None = None, root: str | os.PathLike | None = None) -> Path:
    """The project root, by the rule of DESIGN.md.

    ``root`` if given; else the nearest ancestor of ``path`` (or of the current
    directory) holding ``.git``, ``pyproject.toml`` or ``.aiex``; else ``path``
    itself (its directory for a file); else the current directory.
    """
    if root is not None:
        resolved = Path(root).expanduser().resolve()
        if not resolved.is_dir():
            raise ConfigError(f"--root {root!s} is not a directory; give the project's top folder.")
        return resolved
    start = Path(path).expanduser() if path is not None else Path.cwd()
    start = start.resolve()
    base = start if start.is_dir() else start.parent
    for candidate in (base, *base.parents):
        if any((candidate / marker).exists() for marker in ROOT_MARKERS):
            return candidate
    if path is not None:
        return base
    return Path.cwd().resolve()


class Endpoint(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """An OpenAI-compatible endpoint declared in config.toml: ``[endpoints.NAME] base_url, key_env, default_model``."""

    base_url: str
    """The server's OpenAI-style base URL, e.g. https://host/v1."""
    key_env: str | None = None
    """Environment variable holding its API key (None: no key)."""
    default_model: str = ""
    """Model used when only the endpoint is named."""


class _Refused(ConfigError):
    """A value of the right type that the settings refuse; ``loc``: the setting and its key."""

    def __init__(self, loc: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


_Count = Annotated[int, Meta(ge=0)]
_Positive = Annotated[int, Meta(ge=1)]
_Seconds = Annotated[float, Meta(gt=0)]


class Settings(msgspec.Struct, forbid_unknown_fields=True):
    """Every aiex setting, validated.

    The conversions are lax, as pydantic-settings' were: ``"30"`` is 30, ``"yes"`` is True; complex values
    in ``AIEX_*`` variables are JSON; dictionaries from several sources merge, key by key.
    """

    data_dir: Path = msgspec.field(default_factory=data_dir)
    """Per-user data directory."""
    scheduler: str | None = None
    """Address of a Dask scheduler to use, e.g. tcp://host:8786."""
    workers: _Positive | None = None
    """Workers of a local cluster (default: one per core)."""
    threads_per_worker: _Positive = 1
    """Threads per local worker."""
    worker_start: Literal["forkserver", "spawn"] = "forkserver"
    """How a local cluster starts its worker processes on Linux: forked from one warm server, or spawned
    fresh (Dask's way: each imports everything before its first task)."""
    dashboard: bool = False
    """Serve the Dask dashboard for a local cluster."""
    connect_timeout: _Seconds = 10.0
    """Seconds to wait for a scheduler to answer."""
    tls_ca_file: str | None = None
    """CA certificate of a TLS scheduler (tls://...)."""
    tls_cert: str | None = None
    """This client's certificate for a TLS scheduler."""
    tls_key: str | None = None
    """This client's private key for a TLS scheduler."""
    max_file_bytes: _Positive = 1024 * 1024
    """Files larger than this are skipped."""
    allow_secrets: list[str] = []
    """gitignore-style patterns of secret-looking files that may be read."""
    inline_bytes: _Count = 2 * 1024 * 1024
    """Jobs smaller than this run in this process unless a cluster is already running."""
    progress: bool = True
    """Show progress bars on long work."""
    # -- models and providers ---------------------------------------------------------------------
    default_model: str | None = None
    """Model used when none is named (default: the first available, see docs/providers.md);
    "preferred": the one your votes rate highest for the kind of task."""
    aliases: dict[str, str] = {}
    """Short names for model ids: fast = "ollama:llama3.2:3b"."""
    prices: dict[str, tuple[float, float]] = {}
    """USD per million tokens (input, output) by model, over the built-in table."""
    endpoints: dict[str, Endpoint] = {}
    """OpenAI-compatible endpoints: [endpoints.NAME] base_url, key_env."""
    concurrency: dict[str, _Positive] = {}
    """Cluster-wide limit of concurrent requests per provider; key "default" for the rest (64)."""
    # -- the context index --------------------------------------------------------------------------
    index_path: str | None = None
    """Where the project's index lives: a path or fsspec URL (default <root>/.aiex/index)."""
    embedding_model: str | None = None
    """Embed chunks with this model for ranking, e.g. ollama:nomic-embed-text (default: none)."""
    watch_files: bool = True
    """In a kernel or server, learn which files changed from the OS instead of statting them all."""
    context_budget: _Count = 4096
    """Tokens of project context sent with a question."""
    redact_secrets: bool = True
    """Redact API keys, tokens and passwords before sending."""
    # -- notebooks (the magics and the kernel; traitlets in ipython_config.py override these) ----------
    max_history: _Count = 5
    """Exchanges kept as conversation memory by %%aiex."""
    cells_budget: Annotated[int, Meta(ge=100)] = 2000
    """Tokens of recent cells that `%%aiex --cells N` may add."""
    prose_as_ask: bool = False
    """aiex kernel: a cell that is not Python and reads as prose is asked as /ask."""
    request_timeout: _Seconds = 60.0
    """Seconds before a model request times out."""
    max_retries: _Count = 2
    """Retries of a failed model request (429/5xx/connection)."""
    # -- the embedded model (its own process; see docs/providers.md) ----------------------------------
    local_timeout: _Seconds = 120.0
    """Seconds the embedded model may go without a token before aiex stops it."""
    local_memory_mb: _Count = 4096
    """Address-space limit of the embedded model's process in MiB (0: none)."""
    local_threads: _Positive = 1
    """CPU threads of the embedded model."""
    local_context_budget: _Count = 1280
    """Tokens of project context for the embedded model, which reads about 100 tokens/s per thread
    (--context-budget overrides it)."""

    def __post_init__(self) -> None:
        # what the types cannot say (msgspec runs this after converting, and on construction)
        if "preferred" in self.aliases:
            raise _Refused(("aliases", "preferred"), "'preferred' is reserved (default_model = \"preferred\" "
                           "follows your votes); name the alias otherwise")
        if self.endpoints:
            from .core.model_ids import BUILTIN_PROVIDERS

            clash = sorted(set(self.endpoints) & set(BUILTIN_PROVIDERS))
            if clash:
                raise _Refused(("endpoints", clash[0]),
                               f"endpoint names {clash} are built-in providers; rename the endpoints")

    def model_copy(self, update: dict[str, Any] | None = None) -> Settings:
        """A shallow copy with ``update`` applied as given (not validated, as pydantic's)."""
        new = self.__copy__()
        for name, value in (update or {}).items():
            setattr(new, name, value)
        return new



# The one pre-conversion, where msgspec's lax mode (which reads "true"/"false"/"1"/"0", any case) takes fewer
# boolean words than aiex has always taken
_BOOL_WORDS = {"on": True, "off": False, "yes": True, "no": False, "y": True, "n": False, "t": True, "f": False}


def _to_path(type_: type, value: Any) -> Any:
    """msgspec's hook for the one type it does not convert from a string: ``data_dir``'s Path."""
    if type_ is Path and isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise TypeError(f"Expected a path, got `{type(value).__name__}`")


def _merge(sources: list[tuple[str, dict]]) -> tuple[dict[str, Any], dict[tuple, list[str]]]:
    """The values of ``sources`` (``(where, values)``, lowest precedence first) and where each came from.

    Dictionaries merge key by key (pydantic-settings' rule), so a table's entries may come from different places.
    """
    values: dict[str, Any] = {}
    origin: dict[tuple, list[str]] = {}

    def put(into: dict, update: dict, where: str, path: tuple) -> None:
        for key, value in update.items():
            here = (*path, key)
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                into[key] = dict(into[key])
                put(into[key], value, where, here)
                origin[here] = [where, *_source(origin, here)]
            else:
                into[key] = value
                origin[here] = [where]

    for where, update in sources:
        put(values, update, where, ())
    return values, origin


def _source(origin: dict[tuple, list[str]], loc: tuple) -> list[str]:
    """Where the value at ``loc`` came from: that of ``loc`` or of the nearest table above it."""
    return next((origin[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in origin), [])


def _from_environment(fields: tuple) -> list[tuple[str, dict]]:
    """``AIEX_*`` values, each as its own source (names case-insensitive); tables and lists are JSON."""
    found = []
    names = {f"aiex_{f.name}": f.name for f in fields}
    json_fields = {f.name for f in fields if get_origin(f.type) in (dict, list)}
    for key, text in os.environ.items():
        name = names.get(key.lower())
        if name is None:
            continue
        if name in json_fields:
            try:
                found.append((key, {name: msgspec.json.decode(text)}))
            except msgspec.DecodeError as exc:
                raise ConfigError(f"Invalid aiex setting {name} in {key}: not valid JSON ({exc}).") from None
        else:
            found.append((key, {name: text}))
    return found


def _location(message: str, values: dict[str, Any]) -> tuple[str, ...]:
    """The setting (and the table's key) that msgspec's ValidationError ``message`` is about.

    msgspec says ``- at `$.name` `` or, in a table, ``- at `$.name[...]` `` without the key (found here by
    converting the table's entries one by one); an unknown setting is ``unknown field `name` `` at the top.
    """
    import re

    found = re.search(r" - at `\$\.(\w+)(\[\.\.\.\])?", message)
    if found is None:
        unknown = re.match(r"Object contains unknown field `(.*)`$", message)
        return (unknown[1],) if unknown else ()
    name = found[1]
    if found[2] and isinstance(values.get(name), dict):
        kind = get_args(next(f.type for f in msgspec.structs.fields(Settings) if f.name == name))[1]
        for key, item in values[name].items():
            try:
                msgspec.convert(item, type=kind, strict=False)
            except msgspec.ValidationError:
                return (name, str(key))
    return (name,)


def load_settings(root: str | os.PathLike | None = None, **flags: Any) -> Settings:
    """Load the settings for a project ``root`` (or none), with ``flags`` on top.

    Flags whose value is ``None`` count as not given.
    """
    files = [user_config_path()]
    if root is not None:
        files.insert(0, project_config_path(Path(root)))
    existing = [f for f in files if f.is_file()]
    # the same inputs give the same settings: the environment's AIEX_* values, the files and when they changed
    key = (tuple(existing), tuple(f.stat().st_mtime_ns for f in existing),
           tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("AIEX_"))),
           tuple(sorted((k, repr(v)) for k, v in flags.items() if v is not None)))
    cached = _loaded.get(key)
    if cached is not None:
        return cached.model_copy()
    fields = msgspec.structs.fields(Settings)
    # lowest precedence first: the user's file, the project's, the environment, the flags
    sources = [(str(f), _read_toml(f)) for f in reversed(existing)]
    sources += _from_environment(fields)
    sources.append(("the command flags", {k: v for k, v in flags.items() if v is not None}))
    values, origin = _merge(sources)
    for f in fields:
        if f.type is bool and isinstance(values.get(f.name), str):
            values[f.name] = _BOOL_WORDS.get(values[f.name].lower(), values[f.name])
    try:
        settings = msgspec.convert(values, type=Settings, strict=False, dec_hook=_to_path)
    except (msgspec.ValidationError, _Refused) as exc:
        loc = exc.loc if isinstance(exc, _Refused) else _location(str(exc), values)
        where = _source(origin, loc) or ["the command flags", "AIEX_* environment variables", *map(str, existing)]
        raise ConfigError(f"Invalid aiex setting {'.'.join(loc) or '?'} in {' or '.join(where)}: {exc}.") from None
    if len(_loaded) > 32:
        _loaded.clear()
    _loaded[key] = settings
    return settings.model_copy()


def _read_toml(path: Path) -> dict:
    import tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
