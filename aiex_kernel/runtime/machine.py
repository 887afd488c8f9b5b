"""What this machine is: its CPU flags (boundary: reads /proc/cpuinfo)."""

from __future__ import annotations

import functools
import platform

__all__ = ["cpu_flags", "cpu_name"]


@functools.cache
def _cpuinfo() -> dict[str, str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return {}
    first = text.split("\n\n", 1)[0]
    out = {}
    for line in first.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def cpu_flags() -> frozenset[str] | None:
    """The CPU's feature flags on Linux x86-64 (``None`` elsewhere: unknown)."""
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    flags = _cpuinfo().get("flags")
    return frozenset(flags.split()) if flags else None


def cpu_name() -> str:
    return _cpuinfo().get("model name") or platform.processor() or platform.machine()
