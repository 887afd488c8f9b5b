"""The one exception tree of aiex.

Every error aiex raises on purpose derives from :class:`AiexError`, so a user can
catch everything with one ``except`` and the interfaces can print one clear line
instead of a traceback::

    AiexError
    ├── UsageError                 bad arguments or options (CLI exit code 2)
    ├── ConfigError                an invalid setting or config.toml
    ├── SandboxError               a file access the sandbox refused
    │   ├── PathOutsideRoot        `..`, absolute paths or symlinks leaving the root
    │   ├── SecretFileRefused      `.env`, `*.pem`, `id_rsa`, ... not explicitly allowed
    │   ├── FileTooLarge           over the configured size limit
    │   └── PathNotFound           the path does not exist under the root
    ├── ChunkingError              tree-sitter could not be used for a file
    │   └── UnsupportedLanguage    no grammar for this file type
    ├── ContextIndexError          the project's context index cannot be used
    │   ├── IndexBusy              another build holds the index's lock
    │   ├── IndexNotWritable       the index's location cannot be written
    │   ├── IndexMissing           there is no index where one is needed
    │   ├── IndexCorrupt           a manifest or segment of the index is unreadable
    │   └── SchemaMismatch         the index was written with another schema
    ├── KernelspecError            the aiex Jupyter kernelspec cannot be installed or removed
    ├── EventLogError              the event log cannot be read or written
    ├── SessionError               a session or checkpoint command cannot be done
    │   ├── SessionNotFound        no session of that name
    │   └── CheckpointNotFound     no checkpoint of that name in the session
    ├── EditError                  an edit cannot be proposed, applied or undone
    │   ├── EditNotFound           no edit with that id (or none left to undo)
    │   ├── EditConflict           a file changed since the edit was proposed or applied
    │   └── EditRefused            no block of the answer could be applied safely
    ├── ServeError                 `aiex serve mcp` cannot start serving
    ├── ClusterError               the Dask runtime failed
    │   ├── SchedulerUnreachable   no scheduler answered at the address
    │   ├── ClusterNotRunning      `aiex show/stop cluster` with no shared cluster
    │   └── VersionMismatch        client/scheduler/workers disagree on packages
    └── ProviderError              an LLM provider call failed
        ├── ProviderNotConfigured  no API key / package for the provider
        ├── ProviderUnavailable    its server does not answer at the address
        ├── ProviderTimeout        no answer within the timeout
        ├── RateLimited            429 after the retries
        └── BadProviderResponse    a reply that is not what the protocol says

Each message says what went wrong and what to do about it.

Beside the tree, :class:`Interrupted` is a ``KeyboardInterrupt`` (so no ``except
Exception`` swallows it and Run All stops): the user stopped aiex's work, and
IPython shows it as one line instead of a traceback.
"""

from __future__ import annotations

__all__ = [
    "AiexError",
    "UsageError",
    "ConfigError",
    "SandboxError",
    "PathOutsideRoot",
    "SecretFileRefused",
    "FileTooLarge",
    "PathNotFound",
    "ChunkingError",
    "UnsupportedLanguage",
    "ContextIndexError",
    "IndexBusy",
    "IndexNotWritable",
    "IndexMissing",
    "IndexCorrupt",
    "SchemaMismatch",
    "KernelspecError",
    "EventLogError",
    "SessionError",
    "SessionNotFound",
    "CheckpointNotFound",
    "EditError",
    "EditNotFound",
    "EditConflict",
    "EditRefused",
    "ServeError",
    "ClusterError",
    "SchedulerUnreachable",
    "ClusterNotRunning",
    "VersionMismatch",
    "ProviderError",
    "ProviderNotConfigured",
    "ProviderUnavailable",
    "ProviderTimeout",
    "RateLimited",
    "BadProviderResponse",
]

#: not in the AiexError tree: a KeyboardInterrupt
__all__ += ["Interrupted"]


class AiexError(Exception):
    """Base of every error aiex raises on purpose."""

    #: Process exit code the CLI uses for this error.
    exit_code = 1

    def _render_traceback_(self) -> list[str]:
        """How IPython shows it when no one catches it: one line that says what to do, no traceback."""
        return [f"{type(self).__name__}: {self}"]


class UsageError(AiexError):
    """The command was called with bad arguments or options."""

    exit_code = 2


class ConfigError(AiexError):
    """A setting (flag, ``AIEX_*`` variable or ``config.toml``) is invalid."""


class SandboxError(AiexError):
    """The sandbox refused a file access."""


class PathOutsideRoot(SandboxError):
    """A path resolves outside the project root."""


class SecretFileRefused(SandboxError):
    """A secret-looking file was asked for without being explicitly allowed."""


class FileTooLarge(SandboxError):
    """A file is larger than the configured limit."""


class PathNotFound(SandboxError):
    """The path does not exist."""


class ChunkingError(AiexError):
    """A file could not be chunked."""


class UnsupportedLanguage(ChunkingError):
    """There is no tree-sitter grammar for this file type."""


class ContextIndexError(AiexError):
    """The project's context index cannot be used."""


class IndexBusy(ContextIndexError):
    """Another build of the index is running (it holds the build lock)."""


class IndexNotWritable(ContextIndexError):
    """The index's location cannot be written (permissions, a read-only disk)."""


class IndexMissing(ContextIndexError):
    """There is no index yet where one is needed."""


class IndexCorrupt(ContextIndexError):
    """A manifest or segment of the index is unreadable; a rebuild fixes it."""


class SchemaMismatch(ContextIndexError):
    """The index was written by an aiex with another schema version."""


class KernelspecError(AiexError):
    """The aiex Jupyter kernelspec cannot be installed or removed."""


class EventLogError(AiexError):
    """The event log (SQLite in the data directory) cannot be read or written."""


class SessionError(AiexError):
    """A session or checkpoint command cannot be done."""


class SessionNotFound(SessionError):
    """There is no session of that name."""


class CheckpointNotFound(SessionError):
    """The session has no checkpoint of that name."""


class EditError(AiexError):
    """An edit cannot be proposed, applied or undone."""


class EditNotFound(EditError):
    """No edit with that id, or none left to undo."""


class EditConflict(EditError):
    """A file changed on disk since the edit was proposed (apply) or applied (undo)."""


class EditRefused(EditError):
    """No block of the model's answer could be applied safely."""


class ServeError(AiexError):
    """The MCP server (``aiex serve mcp``) cannot start serving: its port is taken, or it did not come up."""


class ClusterError(AiexError):
    """The Dask runtime failed."""


class SchedulerUnreachable(ClusterError):
    """No Dask scheduler answered at the configured address."""


class ClusterNotRunning(ClusterError):
    """No shared aiex cluster is running on this machine."""


class VersionMismatch(ClusterError):
    """Client, scheduler and workers run incompatible package versions."""


class ProviderError(AiexError):
    """An LLM provider call failed."""


class ProviderNotConfigured(ProviderError):
    """The provider lacks its API key, base URL or package."""


class ProviderUnavailable(ProviderError):
    """The provider's server does not answer at its address."""


class ProviderTimeout(ProviderError):
    """The provider did not answer within the timeout."""


class RateLimited(ProviderError):
    """The provider kept answering 429 after the retries."""


class BadProviderResponse(ProviderError):
    """The provider's reply does not follow its protocol."""


class Interrupted(KeyboardInterrupt):
    """The user interrupted aiex's work (Ctrl-C, "Interrupt kernel"); what was done so far is kept."""

    def _render_traceback_(self) -> list[str]:
        return [f"Interrupted: {self}"]
