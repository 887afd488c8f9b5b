"""CPU features of a native build against a CPU's flags."""

from aiex_kernel.core.cpu import NOT_PORTABLE, check_build, compiled_features, x86_64_level

PORTABLE = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | LLAMAFILE = 1 | OPENMP = 1 |"
NATIVE = PORTABLE + " AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | AVX_VNNI = 0 |"
V2 = {"lm", "sse2", "cx16", "lahf_lm", "popcnt", "pni", "sse4_1", "sse4_2", "ssse3"}
V3 = V2 | {"avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"}
V4 = V3 | {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl", "avx512_vnni", "amx_int8"}


def test_features_that_are_on():
    assert compiled_features(NATIVE) >= {"AVX2", "AVX512", "AMX_INT8"}
    assert "AVX_VNNI" not in compiled_features(NATIVE)  # "= 0" is off
    assert compiled_features("") == frozenset()


def test_levels():
    assert x86_64_level({"lm", "sse2"}) == "x86-64"
    assert x86_64_level(V2) == "x86-64-v2"
    assert x86_64_level(V3) == "x86-64-v3"
    assert x86_64_level(V4) == "x86-64-v4"
    assert x86_64_level(V4 - {"fma"}) == "x86-64-v2"  # a level needs every flag of the ones below


def test_a_native_build_is_not_portable_and_dies_on_a_smaller_cpu():
    check = check_build(NATIVE, V3)
    assert not check.portable and check.not_portable == {"AVX512", "AVX512_VNNI", "AMX_INT8"}
    assert not check.runs_here and "AVX512" in check.missing
    assert check_build(NATIVE, V4).runs_here


def test_the_portable_build_runs_on_v3_but_not_below():
    assert check_build(PORTABLE, V3).runs_here and check_build(PORTABLE, V3).portable
    below = check_build(PORTABLE, V2)
    assert below.cpu_below_portable and below.missing >= {"AVX", "AVX2", "FMA"}
    assert not check_build(PORTABLE, V4).cpu_below_portable


def test_unknown_flags_say_nothing_is_missing():
    check = check_build(NATIVE, None)
    assert check.runs_here and check.cpu_level is None and not check.portable
    assert NOT_PORTABLE >= {"AVX512", "AMX_INT8"}
