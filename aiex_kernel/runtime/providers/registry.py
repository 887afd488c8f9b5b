"""Which providers exist, and how to make one from the settings.

A :class:`ProviderSpec` says how to build a provider (its class and constructor
options, never its key): it is small, picklable and safe to put in a task graph.
Keys are read from the environment of the process that builds the provider, so a
cluster worker uses its own environment.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from ...core.model_ids import BUILTIN_PROVIDERS
from .base import Provider

__all__ = ["ProviderSpec", "provider_specs"]

#: provider name -> "module:Class" inside this package
FACTORIES = {
    "openai": "openai_compat:OpenAIProvider",
    "anthropic": "anthropic_api:AnthropicProvider",
    "ollama": "ollama_api:OllamaProvider",
    "lmstudio": "openai_compat:LMStudioProvider",
    "local": "local_model:LocalProvider",
}
ENDPOINT_FACTORY = "openai_compat:OpenAICompatibleProvider"
#: Ollama may load a model from disk on the first request: give it longer
OLLAMA_MIN_TIMEOUT = 300.0

assert tuple(FACTORIES) == BUILTIN_PROVIDERS


@dataclass(frozen=True)
class ProviderSpec:
    """How to build one provider; carries no secret."""

    name: str
    factory: str  #: "module:Class" in aiex_kernel.runtime.providers
    options: dict[str, Any] = field(default_factory=dict)
    prices: dict[str, tuple[float, float]] = field(default_factory=dict)
    redact: bool = True  #: redact secrets before sending (``redact_secrets`` setting)

    def provider_class(self) -> type[Provider]:
        module, cls = self.factory.split(":")
        return getattr(importlib.import_module(f"{__package__}.{module}"), cls)

    def build(self, **overrides: Any) -> Provider:
        provider = self.provider_class()(**{**self.options, **overrides})
        if self.prices:
            provider.prices = self.prices
        provider.redact = self.redact
        return provider

    def cache_key(self) -> tuple:
        """What a provider built from this spec depends on: the spec and the environment it reads.

        Keys in the environment are hashed, so a cache keyed by this holds no secret.
        """
        import hashlib
        import os

        cls = self.provider_class()
        names = {getattr(cls, attr, None) for attr in ("key_env", "base_url_env", "host_env")}
        names.add(self.options.get("key_env"))
        env = tuple((name, hashlib.sha256(os.environ.get(name, "").encode()).hexdigest()[:16])
                    for name in sorted(n for n in names if n))
        return (self.factory, tuple(sorted(self.options.items())), tuple(sorted(self.prices.items())), self.redact,
                env)

    @property
    def is_endpoint(self) -> bool:
        return self.factory == ENDPOINT_FACTORY


def provider_specs(settings) -> dict[str, ProviderSpec]:
    """Every provider the settings know: the built-in ones, then config endpoints."""
    prices = dict(settings.prices)
    redact = settings.redact_secrets
    timeouts = {"timeout": settings.request_timeout, "max_retries": settings.max_retries}
    specs = {
        "openai": ProviderSpec("openai", FACTORIES["openai"], dict(timeouts), prices, redact),
        "anthropic": ProviderSpec("anthropic", FACTORIES["anthropic"], dict(timeouts), prices, redact),
        "ollama": ProviderSpec("ollama", FACTORIES["ollama"],
                               {"timeout": max(settings.request_timeout, OLLAMA_MIN_TIMEOUT)}, prices, redact),
        "lmstudio": ProviderSpec("lmstudio", FACTORIES["lmstudio"], dict(timeouts), prices, redact),
        "local": ProviderSpec("local", FACTORIES["local"], {
            "timeout": settings.local_timeout, "memory_mb": settings.local_memory_mb,
            "n_threads": settings.local_threads, "n_threads_batch": settings.local_threads}, prices, redact),
    }
    for name, endpoint in sorted(settings.endpoints.items()):
        specs[name] = ProviderSpec(name, ENDPOINT_FACTORY, {
            "name": name, "base_url": endpoint.base_url, "key_env": endpoint.key_env,
            "default_model": endpoint.default_model, **timeouts}, prices, redact)
    return specs
