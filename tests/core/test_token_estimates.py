"""Calibrated token estimates for models without an offline tokenizer, and their recalibration from the log."""

import sysconfig
from pathlib import Path

import pytest

from aiex_kernel.core.token_estimates import MIN_SAMPLES, estimate, family_for, raw_estimate, recalibrated_margin


def test_families_are_chosen_by_provider_and_model_name():
    assert family_for("anthropic", "claude-sonnet-4-0") == "claude"
    assert family_for("openai_compat", "gpt-4o-mini") == "openai"
    assert family_for("ollama", "llama3.2:3b") == "llama"
    assert family_for("lmstudio", "qwen2.5-coder") == "llama"


def test_the_estimate_rarely_under_counts_real_chunks():
    bpe_openai = pytest.importorskip("bpe_openai")
    from aiex_kernel.core.chunking import chunk_source

    enc = bpe_openai.get_encoding("o200k_base")
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for name in ("textwrap.py", "shlex.py", "fractions.py", "configparser.py", "argparse.py", "tarfile.py"):
        data = (stdlib / name).read_bytes()
        texts += [data[c.start_byte:c.end_byte].decode() for c in chunk_source(data, name).chunks]
    real = [len(enc.encode_ordinary(t)) for t in texts]
    ours = [estimate(t, "openai") for t in texts]
    under = sum(o < r for o, r in zip(ours, real)) / len(texts)
    assert len(texts) > 200 and under < 0.02, under
    assert sum(ours) < 1.5 * sum(real)  # and not wasteful: chars/3 is 1.4x
    assert estimate("", "openai") == 0


def test_the_margin_is_recalibrated_from_reported_counts():
    assert recalibrated_margin([(100.0, 150)] * (MIN_SAMPLES - 1)) is None
    pairs = [(100.0, 120)] * 100 + [(100.0, 200)]
    assert recalibrated_margin(pairs) == pytest.approx(1.2 * 1.02)  # the 99th percentile, not the outlier
    assert recalibrated_margin([(100.0, 20)] * 30) == 1.0  # never below what the fit says


def test_a_token_counter_for_claude_learns_its_margin_from_the_log(tmp_path):
    import time

    from aiex_kernel.config import load_settings
    from aiex_kernel.core import events as ev
    from aiex_kernel.runtime.events import event_log
    from aiex_kernel.runtime.tokenizers import token_counter

    settings = load_settings(data_dir=tmp_path)
    text = "def f(x):\n    return x + 1\n" * 20
    before = token_counter("anthropic", "claude-sonnet-4-0", settings)
    assert not before.exact and before.name == "estimate: claude"
    log = event_log(tmp_path)
    raw = raw_estimate(text, "claude")
    for i in range(MIN_SAMPLES + 5):
        log.append(ev.Answered("s", time.time(), turn=f"t{i}", provider="anthropic", model="claude-sonnet-4-0",
                               input_tokens=int(raw * 2), estimated_tokens=raw))
    from aiex_kernel.runtime import tokenizers

    tokenizers._MARGINS.clear()
    after = token_counter("anthropic", "claude-sonnet-4-0", settings)
    assert "from its answers" in after.name
    assert after.count(text) >= 2 * raw > before.count(text)


def test_openai_counts_fall_back_to_the_public_api(monkeypatch):
    """Should bpe-openai's extension module not be where it is loaded from, its public get_encoding counts."""
    pytest.importorskip("bpe_openai")
    from aiex_kernel.runtime import tokenizers

    def missing():
        raise ImportError("no _bindings here")

    tokenizers._bpe.cache_clear()
    monkeypatch.setattr(tokenizers, "_bpe_bindings", missing)
    try:
        counter = tokenizers.token_counter("openai", "gpt-4o")
        assert counter.exact and counter.name == "o200k_base" and counter.count("def f(x):\n    return x\n") > 0
    finally:
        tokenizers._bpe.cache_clear()
