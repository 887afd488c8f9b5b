"""Settings: one loader for the CLI, the magics and the kernel.

Precedence, highest first (DESIGN.md, "Conventions")::

    command flags > AIEX_* environment variables > <root>/.aiex/config.toml
                  > <config dir>/config.toml > defaults

The user config directory is ``AIEX_CONFIG_DIR`` or the platform's user config
directory for "aiex"; the data directory (event log, sessions, caches, the shared
cluster's address) is ``AIEX_DATA_DIR`` or the platform's user data directory.

Plain Python (no pydantic): loading the settings is part of every command's start-up.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = [
    "FIELDS",
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
_loaded: dict[tuple, Any] = {}


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


class Endpoint:
    """An OpenAI-compatible endpoint declared in config.toml: ``[endpoints.NAME] base_url, key_env, default_model``."""

    __slots__ = ("base_url", "key_env", "default_model")

    def __init__(self, base_url: str, key_env: str | None = None, default_model: str = "") -> None:
        self.base_url = base_url  #: the server's OpenAI-style base URL, e.g. https://host/v1
        self.key_env = key_env  #: environment variable holding its API key (None: no key)
        self.default_model = default_model  #: model used when only the endpoint is named

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Endpoint) and all(getattr(self, a) == getattr(other, a) for a in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, a) for a in self.__slots__))

    def __repr__(self) -> str:
        return "Endpoint(" + ", ".join(f"{a}={getattr(self, a)!r}" for a in self.__slots__) + ")"


class _Field:
    """One setting: its type (a converter that raises ``_Invalid``), default and description."""

    __slots__ = ("name", "convert", "default", "factory", "description", "complex")

    def __init__(self, name, convert, default=None, factory=None, description="", complex=False):
        self.name, self.convert, self.default, self.factory = name, convert, default, factory
        self.description, self.complex = description, complex

    def value(self):
        return self.factory() if self.factory is not None else self.default


class _Invalid(ValueError):
    def __init__(self, message: str, loc: tuple = ()) -> None:
        super().__init__(message)
        self.message, self.loc = message, loc


_TRUE = {"1", "on", "t", "true", "y", "yes"}
_FALSE = {"0", "off", "f", "false", "n", "no"}


def _int(value):
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        raise _Invalid("Input should be a valid integer, got a number with a fractional part")
    if isinstance(value, str):
        import re

        found = re.fullmatch(r"\s*([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0+)?\s*", value)
        if found:
            return int(found.group(1).replace("_", ""))
        raise _Invalid("Input should be a valid integer, unable to parse string as an integer")
    raise _Invalid("Input should be a valid integer")


def _float(value):
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            raise _Invalid("Input should be a valid number, unable to parse string as a number") from None
    raise _Invalid("Input should be a valid number")


def _bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, (str, int, float)):
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
        raise _Invalid("Input should be a valid boolean, unable to interpret input")
    raise _Invalid("Input should be a valid boolean")


def _str(value):
    if isinstance(value, str):
        return value
    raise _Invalid("Input should be a valid string")


def _path(value):
    if isinstance(value, (str, os.PathLike)):
        return Path(value)
    raise _Invalid("Input should be a valid path")


def _optional(convert):
    return lambda value: None if value is None else convert(value)


def _bounded(convert, ge=None, gt=None):
    def check(value):
        value = convert(value)
        if value is None:
            return value
        if ge is not None and not value >= ge:
            raise _Invalid(f"Input should be greater than or equal to {ge}")
        if gt is not None and not value > gt:  # NaN is not
            raise _Invalid(f"Input should be greater than {gt}")
        return value

    return check


def _list_of(convert):
    def check(value):
        if not isinstance(value, (list, tuple, set, frozenset)):
            raise _Invalid("Input should be a valid list")
        out = []
        for i, item in enumerate(value):
            try:
                out.append(convert(item))
            except _Invalid as exc:
                raise _Invalid(exc.message, (i, *exc.loc)) from None
        return out

    return check


def _dict_of(convert):
    def check(value):
        if not isinstance(value, dict):
            raise _Invalid("Input should be a valid dictionary")
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid("Input should be a valid string", (key,))
            try:
                out[key] = convert(item)
            except _Invalid as exc:
                raise _Invalid(exc.message, (key, *exc.loc)) from None
        return out

    return check


def _price(value):
    if not isinstance(value, (list, tuple)):
        raise _Invalid("Input should be a valid tuple")
    if len(value) > 2:
        raise _Invalid(f"Tuple should have at most 2 items after validation, not {len(value)}")
    if len(value) < 2:
        raise _Invalid("Field required", (len(value),))
    out = []
    for i, item in enumerate(value):
        try:
            out.append(_float(item))
        except _Invalid as exc:
            raise _Invalid(exc.message, (i,)) from None
    return tuple(out)


def _endpoint(value):
    if isinstance(value, Endpoint):
        return value
    if not isinstance(value, dict):
        raise _Invalid("Input should be a valid dictionary or instance of Endpoint")
    for key in value:
        if key not in Endpoint.__slots__:
            raise _Invalid("Extra inputs are not permitted", (key,))
    if "base_url" not in value:
        raise _Invalid("Field required", ("base_url",))
    fields = {}
    for key, convert in (("base_url", _str), ("key_env", _optional(_str)), ("default_model", _str)):
        if key in value:
            try:
                fields[key] = convert(value[key])
            except _Invalid as exc:
                raise _Invalid(exc.message, (key,)) from None
    return Endpoint(**fields)


def _positive_limits(value: dict[str, int]) -> dict[str, int]:
    bad = [name for name, limit in value.items() if limit < 1]
    if bad:
        raise _Invalid(f"Value error, concurrency limits must be at least 1 (check {', '.join(bad)})")
    return value


def _no_reserved_alias(value: dict[str, str]) -> dict[str, str]:
    if "preferred" in value:
        raise _Invalid("Value error, 'preferred' is reserved (default_model = \"preferred\" follows your votes); "
                       "name the alias otherwise")
    return value


def _no_shadowing(value: dict[str, Endpoint]) -> dict[str, Endpoint]:
    from .core.model_ids import BUILTIN_PROVIDERS

    clash = sorted(set(value) & set(BUILTIN_PROVIDERS))
    if clash:
        raise _Invalid(f"Value error, endpoint names {clash} are built-in providers; rename the endpoints")
    return value


def _then(convert, check):
    return lambda value: check(convert(value))


_int_ge = lambda n: _bounded(_int, ge=n)  # noqa: E731
_float_gt = lambda n: _bounded(_float, gt=n)  # noqa: E731
_opt_str = _optional(_str)

#: every aiex setting, with its type, default and description (the order of docs and `aiex doctor`)
FIELDS: tuple[_Field, ...] = (
    _Field("data_dir", _path, factory=data_dir, description="Per-user data directory."),
    _Field("scheduler", _opt_str, description="Address of a Dask scheduler to use, e.g. tcp://host:8786."),
    _Field("workers", _optional(_int_ge(1)), description="Workers of a local cluster (default: one per core)."),
    _Field("threads_per_worker", _int_ge(1), 1, description="Threads per local worker."),
    _Field("dashboard", _bool, False, description="Serve the Dask dashboard for a local cluster."),
    _Field("connect_timeout", _float_gt(0), 10.0, description="Seconds to wait for a scheduler to answer."),
    _Field("tls_ca_file", _opt_str, description="CA certificate of a TLS scheduler (tls://...)."),
    _Field("tls_cert", _opt_str, description="This client's certificate for a TLS scheduler."),
    _Field("tls_key", _opt_str, description="This client's private key for a TLS scheduler."),
    _Field("max_file_bytes", _int_ge(1), 1024 * 1024, description="Files larger than this are skipped."),
    _Field("allow_secrets", _list_of(_str), factory=list, complex=True,
           description="gitignore-style patterns of secret-looking files that may be read."),
    _Field("inline_bytes", _int_ge(0), 2 * 1024 * 1024,
           description="Jobs smaller than this run in this process unless a cluster is already running."),
    _Field("progress", _bool, True, description="Show progress bars on long work."),
    # -- models and providers ---------------------------------------------------------------------
    _Field("default_model", _opt_str,
           description="Model used when none is named (default: the first available, see docs/providers.md); "
                       "\"preferred\": the one your votes rate highest for the kind of task."),
    _Field("aliases", _then(_dict_of(_str), _no_reserved_alias), factory=dict, complex=True,
           description="Short names for model ids: fast = \"ollama:llama3.2:3b\"."),
    _Field("prices", _dict_of(_price), factory=dict, complex=True,
           description="USD per million tokens (input, output) by model, over the built-in table."),
    _Field("endpoints", _then(_dict_of(_endpoint), _no_shadowing), factory=dict, complex=True,
           description="OpenAI-compatible endpoints: [endpoints.NAME] base_url, key_env."),
    _Field("concurrency", _then(_dict_of(_int), _positive_limits), factory=dict, complex=True,
           description="Cluster-wide limit of concurrent requests per provider; key \"default\" for the rest (64)."),
    # -- the context index --------------------------------------------------------------------------
    _Field("index_path", _opt_str,
           description="Where the project's index lives: a path or fsspec URL (default <root>/.aiex/index)."),
    _Field("embedding_model", _opt_str,
           description="Embed chunks with this model for ranking, e.g. ollama:nomic-embed-text (default: none)."),
    _Field("context_budget", _int_ge(0), 4096, description="Tokens of project context sent with a question."),
    _Field("redact_secrets", _bool, True, description="Redact API keys, tokens and passwords before sending."),
    # -- notebooks (the magics and the kernel; traitlets in ipython_config.py override these) ----------
    _Field("max_history", _int_ge(0), 5, description="Exchanges kept as conversation memory by %%aiex."),
    _Field("cells_budget", _int_ge(100), 2000, description="Tokens of recent cells that `%%aiex --cells N` may add."),
    _Field("prose_as_ask", _bool, False,
           description="aiex kernel: a cell that is not Python and reads as prose is asked as /ask."),
    _Field("request_timeout", _float_gt(0), 60.0, description="Seconds before a model request times out."),
    _Field("max_retries", _int_ge(0), 2, description="Retries of a failed model request (429/5xx/connection)."),
    # -- the embedded model (its own process; see docs/providers.md) ----------------------------------
    _Field("local_timeout", _float_gt(0), 120.0,
           description="Seconds the embedded model may go without a token before aiex stops it."),
    _Field("local_memory_mb", _int_ge(0), 4096,
           description="Address-space limit of the embedded model's process in MiB (0: none)."),
    _Field("local_threads", _int_ge(1), 1, description="CPU threads of the embedded model."),
    _Field("local_context_budget", _int_ge(0), 1280,
           description="Tokens of project context for the embedded model, which reads about 100 tokens/s per "
                       "thread (--context-budget overrides it)."),
)
_BY_NAME = {f.name: f for f in FIELDS}


class Settings:
    """Every aiex setting, validated: attributes named as in :data:`FIELDS`.

    Plain Python on purpose: pydantic-settings cost 0.3-0.6 s of every command's start-up. The
    precedence and the conversions are those it had (lax: ``"30"`` is 30, ``"yes"`` is True; complex
    values in ``AIEX_*`` variables are JSON; dictionaries from several sources merge, key by key).
    """

    __slots__ = tuple(_BY_NAME)

    def __init__(self, **values: Any) -> None:
        for name in self.__slots__:
            object.__setattr__(self, name, values[name])

    def model_copy(self, update: dict[str, Any] | None = None) -> Settings:
        """A shallow copy with ``update`` applied as given (not validated, as pydantic's)."""
        return Settings(**{**self.model_dump(), **(update or {})})

    def model_dump(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Settings) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "Settings(" + ", ".join(f"{k}={v!r}" for k, v in self.model_dump().items()) + ")"

    def __reduce__(self):
        return (_settings_from, (self.model_dump(),))


def _settings_from(values: dict[str, Any]) -> Settings:
    return Settings(**values)


def _deep_update(base: dict, *updates: dict) -> dict:
    """``base`` with ``updates`` over it; dictionaries merge key by key (pydantic-settings' rule)."""
    out = dict(base)
    for update in updates:
        for key, value in update.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = _deep_update(out[key], value)
            else:
                out[key] = value
    return out


def _from_environment() -> dict[str, Any]:
    """``AIEX_*`` values by field (names case-insensitive); complex fields are JSON."""
    import json

    found = {}
    names = {f"aiex_{name}": name for name in _BY_NAME}
    for key, text in os.environ.items():
        name = names.get(key.lower())
        if name is None:
            continue
        if _BY_NAME[name].complex:
            try:
                found[name] = json.loads(text)
            except ValueError as exc:
                raise _Invalid(f"{key} is not valid JSON ({exc})", (name,)) from None
        else:
            found[name] = text
    return found


def _validate(values: dict[str, Any]) -> Settings:
    problems = []
    checked = {}
    for key in values:
        if key not in _BY_NAME:
            problems.append(((key,), "Extra inputs are not permitted"))
    for field in FIELDS:
        value = values[field.name] if field.name in values else field.value()
        try:
            checked[field.name] = field.convert(value)
        except _Invalid as exc:
            problems.append(((field.name, *exc.loc), exc.message))
    if problems:
        raise _SettingsInvalid(problems)
    return Settings(**checked)


class _SettingsInvalid(Exception):
    def __init__(self, problems: list) -> None:
        super().__init__(problems)
        self.problems = problems


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
    tables = [_check_toml(f) for f in existing]  # highest first: the project's file, then the user's
    given = {k: v for k, v in flags.items() if v is not None}
    where = f" and {', '.join(str(f) for f in existing)}" if existing else ""
    try:
        settings = _validate(_deep_update({}, *reversed(tables), _from_environment(), given))
    except (_SettingsInvalid, _Invalid) as exc:
        rows = exc.problems if isinstance(exc, _SettingsInvalid) else [(exc.loc, exc.message)]
        problems = "; ".join(f"{'.'.join(str(p) for p in loc) or 'settings'}: {msg}" for loc, msg in rows)
        raise ConfigError(
            f"Invalid aiex settings ({problems}). Check the command flags and AIEX_* environment variables{where}."
        ) from None
    if len(_loaded) > 32:
        _loaded.clear()
    _loaded[key] = settings
    return settings.model_copy()


def _check_toml(path: Path) -> dict:
    import tomllib

    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
