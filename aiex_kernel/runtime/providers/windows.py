"""A model's context window, asked of its provider where it can say (cached per process)."""

from __future__ import annotations

from ...core.windows import DEFAULT_WINDOW, Window, family_window
from ...errors import AiexError
from .registry import ProviderSpec

__all__ = ["model_window"]

#: seconds to wait for a server's answer about a model
WINDOW_TIMEOUT = 3.0

_cache: dict[tuple, Window] = {}


async def model_window(spec: ProviderSpec, model: str) -> Window:
    """The window of ``spec``'s ``model``: the provider's word, else the family table, else the default."""
    key = (spec.cache_key(), model)
    if key in _cache:
        return _cache[key]
    overrides = {k: v for k, v in (("timeout", WINDOW_TIMEOUT), ("max_retries", 0)) if k in spec.options}
    provider = spec.build(**overrides) if spec.name != "local" else spec.build()
    try:
        tokens = await provider.context_window(model)
    except AiexError:
        tokens = None
    finally:
        await provider.aclose()
    if tokens:
        window = Window(tokens, f"{provider.display_name}")
    elif (tokens := family_window(model)) is not None:
        window = Window(tokens, "aiex's table of model families")
    else:
        window = Window(DEFAULT_WINDOW, "assumed: the model's window is unknown", known=False)
    _cache[key] = window
    return window
