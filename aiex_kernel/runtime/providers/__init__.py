"""LLM providers behind one interface (boundary layer; each SDK imported lazily)."""

from .base import Provider

__all__ = ["Provider"]
