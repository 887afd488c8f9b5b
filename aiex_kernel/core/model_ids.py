"""Model ids: ``provider:model`` or ``provider/model``, and aliases (DESIGN.md, "Conventions").

The id is split once, at the first ``:`` or ``/``, and only when what comes before
is a known provider: ``ollama:llama3.2:3b`` is provider ``ollama``, model
``llama3.2:3b``; ``meta-llama/Llama-3.2-1B`` (no such provider) stays one model
name. An alias names a whole id (``fast = "ollama:llama3.2:3b"``) and is resolved
first, at most a few levels deep.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from ..errors import UsageError

__all__ = ["BUILTIN_PROVIDERS", "ModelId", "parse_model_id"]

#: Providers aiex knows without configuration (endpoints from config.toml join them).
BUILTIN_PROVIDERS = ("openai", "anthropic", "ollama", "lmstudio", "local")

_SPLIT = re.compile(r"[:/]")
_MAX_ALIAS_DEPTH = 8


@dataclass(frozen=True)
class ModelId:
    provider: str | None  #: None when the id names no known provider
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}" if self.provider else self.model


def parse_model_id(text: str, providers: Collection[str], aliases: Mapping[str, str] | None = None) -> ModelId:
    """Resolve aliases, then split ``text`` into provider and model."""
    text = text.strip()
    seen = []
    while aliases and text in aliases:
        if text in seen or len(seen) >= _MAX_ALIAS_DEPTH:
            raise UsageError(f"Model alias loop: {' -> '.join([*seen, text])}; fix the aliases (config.toml "
                             "[aliases], AiexMagics.aliases or %aiex alias).")
        seen.append(text)
        text = aliases[text].strip()
    if not text or text in (":", "/"):
        raise UsageError(f"Empty model id {text!r}; give `provider:model`, e.g. `ollama:llama3.2:3b`.")
    m = _SPLIT.search(text)
    if m and text[: m.start()] in providers:
        model = text[m.end():]
        if not model:
            raise UsageError(f"Model id {text!r} names provider {text[: m.start()]!r} but no model.")
        return ModelId(text[: m.start()], model)
    if text in providers:
        return ModelId(text, "")
    return ModelId(None, text)
