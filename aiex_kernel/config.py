"""Settings: one loader for the CLI, the magics and the kernel.

Precedence, highest first (DESIGN.md, "Conventions")::

    command flags > AIEX_* environment variables > <root>/.aiex/config.toml
                  > <config dir>/config.toml > defaults

The user config directory is ``AIEX_CONFIG_DIR`` or the platform's user config
directory for "aiex"; the data directory (event log, sessions, caches, the shared
cluster's address) is ``AIEX_DATA_DIR`` or the platform's user data directory.

This module imports nothing heavy at import time; pydantic is imported when the
settings are first loaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from pydantic_settings import BaseSettings

__all__ = [
    "ROOT_MARKERS",
    "config_dir",
    "data_dir",
    "find_project_root",
    "load_settings",
    "project_config_path",
    "user_config_path",
]

#: A directory holding any of these is a project root.
ROOT_MARKERS = (".git", "pyproject.toml", ".aiex")

_settings_cls: type | None = None
#: settings classes bound to the config files they read (the files are read again on every load)
_bound_classes: dict[tuple, type] = {}
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


def _settings_class() -> type[BaseSettings]:
    """Build the pydantic settings class on first use (keeps imports lazy)."""
    global _settings_cls
    if _settings_cls is not None:
        return _settings_cls

    from pydantic import BaseModel, ConfigDict, Field, field_validator
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class Endpoint(BaseModel):
        """An OpenAI-compatible endpoint declared in config.toml."""

        model_config = ConfigDict(extra="forbid")
        base_url: str = Field(description="The server's OpenAI-style base URL, e.g. https://host/v1.")
        key_env: str | None = Field(None, description="Environment variable holding its API key (none: no key).")
        default_model: str = Field("", description="Model used when only the endpoint is named.")

    class Settings(BaseSettings):
        """Every aiex setting, with its default."""

        model_config = SettingsConfigDict(env_prefix="AIEX_", extra="forbid", validate_default=True)

        data_dir: Path = Field(default_factory=data_dir, description="Per-user data directory.")
        scheduler: str | None = Field(None, description="Address of a Dask scheduler to use, e.g. tcp://host:8786.")
        workers: int | None = Field(None, ge=1, description="Workers of a local cluster (default: one per core).")
        threads_per_worker: int = Field(1, ge=1, description="Threads per local worker.")
        dashboard: bool = Field(False, description="Serve the Dask dashboard for a local cluster.")
        connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait for a scheduler to answer.")
        tls_ca_file: str | None = Field(None, description="CA certificate of a TLS scheduler (tls://...).")
        tls_cert: str | None = Field(None, description="This client's certificate for a TLS scheduler.")
        tls_key: str | None = Field(None, description="This client's private key for a TLS scheduler.")
        max_file_bytes: int = Field(1024 * 1024, ge=1, description="Files larger than this are skipped.")
        allow_secrets: list[str] = Field(
            default_factory=list, description="gitignore-style patterns of secret-looking files that may be read."
        )
        inline_bytes: int = Field(
            2 * 1024 * 1024,
            ge=0,
            description="Jobs smaller than this run in this process unless a cluster is already running.",
        )
        progress: bool = Field(True, description="Show progress bars on long work.")

        # -- models and providers ---------------------------------------------------------------
        default_model: str | None = Field(
            None, description="Model used when none is named (default: the first available, see docs/providers.md); "
                              "\"preferred\": the one your votes rate highest for the kind of task."
        )
        aliases: dict[str, str] = Field(
            default_factory=dict, description="Short names for model ids: fast = \"ollama:llama3.2:3b\"."
        )
        prices: dict[str, tuple[float, float]] = Field(
            default_factory=dict, description="USD per million tokens (input, output) by model, over the built-in table."
        )
        endpoints: dict[str, Endpoint] = Field(
            default_factory=dict, description="OpenAI-compatible endpoints: [endpoints.NAME] base_url, key_env."
        )
        concurrency: dict[str, int] = Field(
            default_factory=dict,
            description="Cluster-wide limit of concurrent requests per provider; key \"default\" for the rest (64).",
        )
        # -- the context index --------------------------------------------------------------------
        index_path: str | None = Field(
            None, description="Where the project's index lives: a path or fsspec URL (default <root>/.aiex/index)."
        )
        embedding_model: str | None = Field(
            None, description="Embed chunks with this model for ranking, e.g. ollama:nomic-embed-text (default: none)."
        )
        context_budget: int = Field(4096, ge=0, description="Tokens of project context sent with a question.")
        redact_secrets: bool = Field(True, description="Redact API keys, tokens and passwords before sending.")

        # -- notebooks (the magics and the kernel; traitlets in ipython_config.py override these) --
        max_history: int = Field(5, ge=0, description="Exchanges kept as conversation memory by %%aiex.")
        cells_budget: int = Field(2000, ge=100, description="Tokens of recent cells that `%%aiex --cells N` may add.")
        prose_as_ask: bool = Field(
            False, description="aiex kernel: a cell that is not Python and reads as prose is asked as /ask."
        )
        request_timeout: float = Field(60.0, gt=0, description="Seconds before a model request times out.")
        max_retries: int = Field(2, ge=0, description="Retries of a failed model request (429/5xx/connection).")
        # -- the embedded model (its own process; see docs/providers.md) ----------------------------
        local_timeout: float = Field(
            120.0, gt=0, description="Seconds the embedded model may go without a token before aiex stops it.")
        local_memory_mb: int = Field(
            4096, ge=0, description="Address-space limit of the embedded model's process in MiB (0: none).")
        local_threads: int = Field(1, ge=1, description="CPU threads of the embedded model.")
        local_context_budget: int = Field(
            1280, ge=0, description="Tokens of project context for the embedded model, which reads about 100 "
                                    "tokens/s per thread (--context-budget overrides it).")

        @field_validator("concurrency")
        @classmethod
        def _positive_limits(cls, value: dict[str, int]) -> dict[str, int]:
            bad = [name for name, limit in value.items() if limit < 1]
            if bad:
                raise ValueError(f"concurrency limits must be at least 1 (check {', '.join(bad)})")
            return value

        @field_validator("aliases")
        @classmethod
        def _no_reserved_alias(cls, value: dict[str, str]) -> dict[str, str]:
            if "preferred" in value:
                raise ValueError("'preferred' is reserved (default_model = \"preferred\" follows your votes); "
                                 "name the alias otherwise")
            return value

        @field_validator("endpoints")
        @classmethod
        def _no_shadowing(cls, value: dict[str, Endpoint]) -> dict[str, Endpoint]:
            from .core.model_ids import BUILTIN_PROVIDERS

            clash = sorted(set(value) & set(BUILTIN_PROVIDERS))
            if clash:
                raise ValueError(f"endpoint names {clash} are built-in providers; rename the endpoints")
            return value

    _settings_cls = Settings
    return Settings


def load_settings(root: str | os.PathLike | None = None, **flags: Any):
    """Load the settings for a project ``root`` (or none), with ``flags`` on top.

    Flags whose value is ``None`` count as not given.
    """
    from pydantic import ValidationError
    from pydantic_settings import TomlConfigSettingsSource

    base = _settings_class()
    files = [user_config_path()]
    if root is not None:
        files.insert(0, project_config_path(Path(root)))
    existing = [f for f in files if f.is_file()]
    # the same inputs give the same settings: the environment's AIEX_* values, the files and when they changed
    key = (tuple(existing), tuple(f.stat().st_mtime_ns for f in existing),
           tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AIEX_"))),
           tuple(sorted((k, repr(v)) for k, v in flags.items() if v is not None)))
    cached = _loaded.get(key)
    if cached is not None:
        return cached.model_copy()
    for f in existing:
        _check_toml(f)

    bound = _bound_classes.get(tuple(existing))
    if bound is None:  # a class per set of config files: pydantic builds its schema once, not per call
        sources = tuple(existing)

        class BoundSettings(base):  # type: ignore[misc, valid-type]
            @classmethod
            def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings,
                                           file_secret_settings):
                toml_sources = tuple(TomlConfigSettingsSource(settings_cls, toml_file=f) for f in sources)
                return (init_settings, env_settings, *toml_sources)

        bound = _bound_classes[sources] = BoundSettings

    given = {k: v for k, v in flags.items() if v is not None}
    try:
        settings = bound(**given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}" for err in exc.errors()
        )
        where = f" and {', '.join(str(f) for f in existing)}" if existing else ""
        raise ConfigError(
            f"Invalid aiex settings ({problems}). Check the command flags and AIEX_* environment variables{where}."
        ) from None
    if len(_loaded) > 32:
        _loaded.clear()
    _loaded[key] = settings
    return settings.model_copy()


def _check_toml(path: Path) -> None:
    import tomllib

    try:
        with path.open("rb") as fh:
            tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or remove it.") from None
    except OSError as exc:
        raise ConfigError(f"Cannot read {path}: {exc.strerror}.") from None
