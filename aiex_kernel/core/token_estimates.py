"""Token counts for models whose tokenizer aiex cannot run offline: a calibrated estimate per model family.

The estimate is a linear model of the text's characters, words, punctuation, digits and
newlines (:func:`features`), fitted per family against a real tokenizer on the standard
library's chunks (``python benchmarks/tokens.py`` refits it and measures the table below),
weighted by relative error so short chunks count as much as long ones; then multiplied
by a **margin** a little over the 99th percentile of true/estimated tokens, so fewer
than 1% of chunks are under-counted. Measured on 6,307 standard-library chunks:

=================  ===========================  =====================  ===================
family             checked against              under-counted chunks   tokens counted / true
=================  ===========================  =====================  ===================
openai             o200k_base                   0.73%                  1.30x
claude             cl100k_base (a proxy, x1.1)  0.05%                  1.41x
llama              SmolLM2's tokenizer          0.43%                  1.37x
chars/3 (before)   o200k / cl100k / SmolLM2     5.14% / 5.04% / 13.2%  1.39x / 1.40x / 1.24x
=================  ===========================  =====================  ===================

The old one-token-per-three-characters rule was not conservative at all on short code
chunks; this one is, for about the same tokens in total.

Families without an offline tokenizer recalibrate their margin from what their answers
report (:func:`recalibrated_margin` over ``(estimate, input_tokens)`` pairs from the event
log): the 99th percentile of reported/estimated over the latest turns, once there are
enough. Pure: no I/O.
"""

from __future__ import annotations

import math
import re

__all__ = ["FAMILIES", "MIN_SAMPLES", "estimate", "family_for", "features", "raw_estimate", "recalibrated_margin"]

#: family -> (coefficients of features(), margin)
FAMILIES: dict[str, tuple[tuple[float, ...], float]] = {
    "openai": ((0.0968, 0.6001, 0.4026, 0.8039, 0.4901, 0.1603), 1.34),
    "claude": ((0.0888, 0.6381, 0.3965, 0.8171, 0.572, 0.1019), 1.318 * 1.1),
    "llama": ((0.1124, 0.7279, 0.5008, 1.2994, -0.1543, 0.562), 1.38),
}
#: answers needed before a family's margin is taken from the log
MIN_SAMPLES = 20
_WORD = re.compile(r"[A-Za-z]+")
_PUNCT = re.compile(r"[^\w\s]")
_DIGIT = re.compile(r"[0-9]")


def features(text: str) -> tuple[float, ...]:
    return (float(len(text)), float(len(_WORD.findall(text))), float(len(_PUNCT.findall(text))),
            float(len(_DIGIT.findall(text))), float(text.count("\n")), 1.0)


def raw_estimate(text: str, family: str) -> float:
    """The fitted estimate without its margin (what recalibration compares reported counts with)."""
    coefs, _ = FAMILIES[family]
    return max(1.0, sum(c * f for c, f in zip(coefs, features(text))))


def estimate(text: str, family: str, margin: float | None = None) -> int:
    """Tokens of ``text`` for ``family``, with its margin (or ``margin``): rarely under the true count."""
    if not text:
        return 0
    return math.ceil(raw_estimate(text, family) * (margin if margin is not None else FAMILIES[family][1]))


def family_for(provider: str | None, model: str | None) -> str:
    """The family whose estimate fits ``provider:model`` (Anthropic: claude; OpenAI-style names: openai; the
    rest, Ollama and LM Studio models mostly: llama)."""
    m = (model or "").lower()
    if provider == "anthropic" or "claude" in m:
        return "claude"
    if provider == "openai" or m.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    return "llama"


def recalibrated_margin(samples, *, quantile: float = 0.99) -> float | None:
    """A margin from ``(raw estimate, reported tokens)`` pairs: their ratio's ``quantile``, plus 2%; None with
    fewer than MIN_SAMPLES pairs. Clamped to [1, 3]."""
    ratios = sorted(reported / est for est, reported in samples if est and est > 0 and reported)
    if len(ratios) < MIN_SAMPLES:
        return None
    value = ratios[min(len(ratios) - 1, int(len(ratios) * quantile))] * 1.02
    return min(3.0, max(1.0, value))
