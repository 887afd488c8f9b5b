"""CPU features: what a native build needs, what a CPU has, and whether they agree.

Pure functions over strings and sets (the flags come from ``/proc/cpuinfo`` in
the boundary layer). llama.cpp reports what its CPU backend was *compiled* with in
``llama_print_system_info()`` ("CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | ..."); a
build that uses an instruction the CPU lacks dies with SIGILL on its first
generation. aiex's portable build targets x86-64-v3 (AVX2, FMA, F16C, BMI2), so
it never compiles in AVX-512 or AMX, which only some machines have.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = [
    "NOT_PORTABLE",
    "PORTABLE_LEVEL",
    "BuildCheck",
    "check_build",
    "compiled_features",
    "x86_64_level",
]

#: x86-64 micro-architecture levels and the /proc/cpuinfo flags each one adds
X86_64_LEVELS: tuple[tuple[str, frozenset[str]], ...] = (
    ("x86-64-v2", frozenset({"cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"})),
    ("x86-64-v3", frozenset({"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"})),
    ("x86-64-v4", frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})),
)
#: the level aiex's portable build of the embedded runtime needs
PORTABLE_LEVEL = "x86-64-v3"

#: llama.cpp's feature names -> the /proc/cpuinfo flag each needs
FEATURE_FLAGS = {
    "SSE3": "pni", "SSSE3": "ssse3", "SSE42": "sse4_2", "AVX": "avx", "AVX2": "avx2", "AVX_VNNI": "avx_vnni",
    "F16C": "f16c", "FMA": "fma", "BMI2": "bmi2", "AVX512": "avx512f", "AVX512_VBMI": "avx512vbmi",
    "AVX512_VNNI": "avx512_vnni", "AVX512_BF16": "avx512_bf16", "AMX_INT8": "amx_int8", "AMX_TILE": "amx_tile",
    "AMX_BF16": "amx_bf16",
}
#: compiled-in features that tie a build to the machines that have them
NOT_PORTABLE = frozenset(name for name in FEATURE_FLAGS if name.startswith(("AVX512", "AMX", "AVX_VNNI")))

_FEATURE = re.compile(r"([A-Z][A-Z0-9_.]*)\s*=\s*1\b")


def compiled_features(system_info: str) -> frozenset[str]:
    """The features ``llama_print_system_info()`` says are on (``"AVX2 = 1"`` -> ``"AVX2"``)."""
    return frozenset(_FEATURE.findall(system_info))


def x86_64_level(flags: Iterable[str]) -> str:
    """The highest x86-64 level whose flags are all present (``"x86-64"`` for the baseline)."""
    have = set(flags)
    level = "x86-64"
    for name, needed in X86_64_LEVELS:
        if not needed <= have:
            break
        level = name
    return level


def _level_rank(level: str) -> int:
    names = ["x86-64", *(name for name, _ in X86_64_LEVELS)]
    return names.index(level)


@dataclass(frozen=True)
class BuildCheck:
    """How a native build and a CPU agree."""

    features: frozenset[str]  #: compiled in
    missing: frozenset[str]  #: compiled in, but this CPU lacks them: it would die of SIGILL
    not_portable: frozenset[str]  #: compiled in, and absent from many machines (AVX-512, AMX)
    cpu_level: str | None  #: this CPU's x86-64 level (None: not x86-64, or flags unknown)

    @property
    def runs_here(self) -> bool:
        return not self.missing

    @property
    def portable(self) -> bool:
        return not self.not_portable

    @property
    def cpu_below_portable(self) -> bool:
        return self.cpu_level is not None and _level_rank(self.cpu_level) < _level_rank(PORTABLE_LEVEL)


def check_build(system_info: str, cpu_flags: Iterable[str] | None) -> BuildCheck:
    """Compare what a build was compiled with against a CPU's flags (``None``: unknown, e.g. not Linux x86)."""
    features = compiled_features(system_info)
    known = {name for name in features if name in FEATURE_FLAGS}
    flags = set(cpu_flags) if cpu_flags is not None else None
    missing = frozenset(n for n in known if flags is not None and FEATURE_FLAGS[n] not in flags)
    level = x86_64_level(flags) if flags and ("sse2" in flags or "lm" in flags) else None
    return BuildCheck(frozenset(features), missing, frozenset(known & NOT_PORTABLE), level)
