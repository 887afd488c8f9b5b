"""Context windows and the context's share of them."""

from hypothesis import given, strategies as st

from aiex_kernel.core.windows import MARGIN, context_budget, family_window


def test_families_by_longest_prefix():
    assert family_window("gpt-4o-mini") == 128_000
    assert family_window("gpt-4") == 8_192 and family_window("gpt-4.1-nano") == 1_047_576
    assert family_window("llama3.2:3b") == 131_072 and family_window("llama3:8b") == 8_192
    assert family_window("meta-llama/Llama-3.3-70B-Instruct") == 131_072
    assert family_window("claude-sonnet-4-0") == 200_000
    assert family_window("my-own-model") is None


def test_the_budget_shrinks_to_what_the_window_leaves():
    assert context_budget(4096, 131_072, prompt_tokens=100, answer_tokens=1024) == 4096
    assert context_budget(4096, 2048, prompt_tokens=100, answer_tokens=1024) == 2048 - 100 - 1024 - MARGIN
    assert context_budget(4096, 1024, prompt_tokens=100, answer_tokens=1024) == 0


@given(st.integers(0, 10**6), st.integers(1, 10**6), st.integers(0, 10**5), st.integers(0, 10**5))
def test_prompt_context_and_answer_always_fit(requested, window, prompt, answer):
    budget = context_budget(requested, window, prompt_tokens=prompt, answer_tokens=answer)
    assert 0 <= budget <= requested
    assert budget == 0 or prompt + budget + answer + MARGIN <= window
