"""aiex: an AI coding assistant for Python people.

The public API is flat and lazy: ``import aiex_kernel`` imports no Dask, no LLM SDK
and no tree-sitter; each name below is imported from its private module on first
access.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import *  # noqa: F403 - the error tree is light and always available
from .errors import __all__ as _error_names

_LAZY = {
    "Chunk": "aiex_kernel.core.chunking",
    "FileChunks": "aiex_kernel.core.chunking",
    "chunk_source": "aiex_kernel.core.chunking",
    "analyze": "aiex_kernel.core.analysis",
    "estimate_tokens": "aiex_kernel.core.tokens",
    "Sandbox": "aiex_kernel.runtime.sandbox",
    "chunk_project": "aiex_kernel.runtime.chunk_job",
    "Runtime": "aiex_kernel.runtime.cluster",
    "get_runtime": "aiex_kernel.runtime.cluster",
    "find_project_root": "aiex_kernel.config",
    "load_settings": "aiex_kernel.config",
}

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension", *_error_names, *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from .config import find_project_root, load_settings
    from .core.analysis import analyze
    from .core.chunking import Chunk, FileChunks, chunk_source
    from .core.tokens import estimate_tokens
    from .runtime.chunk_job import chunk_project
    from .runtime.cluster import Runtime, get_runtime
    from .runtime.sandbox import Sandbox


def load_ipython_extension(ipython) -> None:
    """``%load_ext aiex_kernel``: register ``%aiex`` / ``%%aiex`` (idempotent, nothing heavy imported)."""
    from .interfaces.notebook.magics import register

    register(ipython)


def unload_ipython_extension(ipython) -> None:
    from .interfaces.notebook.magics import unregister

    unregister(ipython)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'aiex_kernel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
