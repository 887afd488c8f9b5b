"""Counting tokens the way the target model does, where that is possible offline.

* OpenAI models (and OpenAI-style names on endpoints): o200k_base or cl100k_base
  from the ``bpe-openai`` package, whose BPE files ship inside it (nothing is
  fetched at run time).
* The embedded model: its own tokenizer, asked of the model's own process (llama.cpp
  never runs in the caller's process).
* Everything else (Anthropic, Ollama, LM Studio, unknown models): a calibrated
  estimate for the model's family (:mod:`aiex_kernel.core.token_estimates`: fewer
  than 1% of chunks under-counted, about 1.3x the true count), whose margin is
  recalibrated from the ``input_tokens`` that family's answers reported, once there
  are enough of them in the event log.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

__all__ = ["TokenCounter", "conservative_estimate", "token_counter"]

_CL100K_PREFIXES = ("gpt-4-", "gpt-4", "gpt-3.5", "text-embedding-3", "text-embedding-ada")
_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")


def conservative_estimate(text: str) -> int:
    return math.ceil(len(text) / 3)


@dataclass(frozen=True)
class TokenCounter:
    count: Callable[[str], int]
    name: str  #: e.g. "o200k_base", "smollm2 (llama.cpp)", "estimate: claude"
    exact: bool


@lru_cache(maxsize=4)
def _bpe(name: str):
    """A ``count(text) -> int`` for the encoding ``name`` ("o200k_base", "cl100k_base").

    The Rust tables of ``bpe-openai`` load in under 0.1 s, but ``import bpe_openai`` also builds every
    encoding's Python rank dictionary at import (about 2 s): so the extension module is loaded by itself,
    under its own name (a later ``import bpe_openai`` reuses it). Counts are those of
    ``get_encoding(name).encode_ordinary`` (lone surrogates replaced the same way), without its
    200,000-token limit, which only guards decoding. Should a later bpe-openai lay its extension out
    otherwise, the package's public ``get_encoding`` is used instead (slower to import, same counts)."""
    try:
        backend = _bpe_bindings().tokenizer_for_encoding(name)
    except (ImportError, AttributeError, OSError, TypeError):  # no bpe-openai at all: the import below says so
        import warnings

        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"bpe_openai(\.|$)")
        import bpe_openai

        enc = bpe_openai.get_encoding(name)
        return lambda text: len(enc.encode_ordinary(text))

    def count(text: str) -> int:
        try:
            return backend.count(text)
        except UnicodeEncodeError:
            return backend.count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    return count


def _bpe_bindings():
    import sys

    loaded = sys.modules.get("bpe_openai._bindings")
    if loaded is not None:
        return loaded
    import importlib.machinery
    import importlib.util
    import os

    spec = importlib.util.find_spec("bpe_openai")  # finds the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("bpe-openai is not installed")
    for folder in spec.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_bindings" + suffix)
            if os.path.isfile(path):
                loader = importlib.machinery.ExtensionFileLoader("bpe_openai._bindings", path)
                module = importlib.util.module_from_spec(
                    importlib.util.spec_from_file_location("bpe_openai._bindings", path, loader=loader))
                loader.exec_module(module)
                sys.modules["bpe_openai._bindings"] = module
                return module
    raise ImportError("bpe-openai has no _bindings extension module")


def _encoding_for(model: str) -> str | None:
    m = model.lower().rsplit("/", 1)[-1]
    if m.startswith(_O200K_PREFIXES):
        return "o200k_base"
    if m.startswith(_CL100K_PREFIXES):
        return "cl100k_base"
    return None


def exact_encoding(provider: str | None, model: str | None) -> str | None:
    """The offline tokenizer's encoding that counts ``provider:model`` exactly; None where aiex estimates
    (Anthropic, Ollama, unknown models) or the embedded model counts itself (``local``)."""
    if provider in ("anthropic", "ollama", "local"):
        return None
    return _encoding_for(model or "")


def sent_estimate(provider: str, model: str | None, request) -> float | None:
    """aiex's raw token estimate of a request to ``provider:model``, recorded beside the ``input_tokens`` its
    answer reports (to recalibrate that family's margin); None for models counted exactly."""
    if provider == "local" or exact_encoding(provider, model):
        return None
    from ..core.token_estimates import family_for, raw_estimate

    text = (request.system or "") + "\n".join(m.content for m in request.messages)
    return round(raw_estimate(text, family_for(provider, model)), 1)


def token_counter(provider: str | None, model: str | None, settings=None) -> TokenCounter:
    """The best offline counter for ``provider:model`` (``settings`` configure the embedded model's process)."""
    if provider == "local":
        from .providers.local_model import LocalProvider
        from .providers.registry import provider_specs

        local = provider_specs(settings)["local"].build() if settings is not None else LocalProvider()
        process = local.process()
        return TokenCounter(lambda text: process.count([text])[0], "smollm2 (llama.cpp)", True)
    encoding = exact_encoding(provider, model)
    if encoding is not None:
        try:
            count = _bpe(encoding)
        except ImportError:
            encoding = None
        else:
            return TokenCounter(count, encoding, True)
    from ..core.token_estimates import estimate, family_for

    family = family_for(provider, model)
    margin = _logged_margin(settings, provider, family) if settings is not None else None
    name = f"estimate: {family}" + (f" (margin {margin:.2f} from its answers)" if margin else "")
    return TokenCounter(lambda text: estimate(text, family, margin), name, False)


_MARGINS: dict[tuple, tuple[float, float | None]] = {}  #: (data dir, provider, family) -> (when, margin)


def _logged_margin(settings, provider: str | None, family: str) -> float | None:
    """The family's margin from the latest answers of ``provider`` in the log (cached for a minute)."""
    import time

    from ..core.token_estimates import recalibrated_margin
    from ..errors import EventLogError
    from .events import event_log

    key = (str(settings.data_dir), provider, family)
    hit = _MARGINS.get(key)
    if hit is not None and time.monotonic() - hit[0] < 60:
        return hit[1]
    margin = None
    try:
        pairs = event_log(settings.data_dir).estimates(provider or "", limit=200)
        margin = recalibrated_margin(pairs)
    except (EventLogError, OSError):
        pass
    _MARGINS[key] = (time.monotonic(), margin)
    return margin
