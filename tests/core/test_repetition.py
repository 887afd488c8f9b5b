"""The loop guard: a model repeating itself is noticed, a normal answer is not."""

from hypothesis import given, strategies as st

from aiex_kernel.core.repetition import LoopGuard, repeated_tail


def test_a_sentence_repeated_three_times_is_a_loop_and_one_copy_is_kept():
    sentence = "The function fits the context into the budget. "
    text = "Intro. " + sentence * 3
    cut = repeated_tail(text)
    assert cut is not None and text[:cut].rstrip() == ("Intro. " + sentence).rstrip()


def test_two_copies_or_short_repeats_are_not_loops():
    assert repeated_tail("Intro. " + "It repeats once here. " * 2) is None
    assert repeated_tail("x = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]") is None  # shorter than a passage
    assert repeated_tail("-" * 200) is None  # a rule, not prose
    assert repeated_tail("") is None


def test_the_guard_notices_a_stream_that_loops():
    guard = LoopGuard()
    answer = "Use `fit` in compress.py. " + "It binary-searches the longest prefix. " * 6
    looped = [i for i in range(0, len(answer), 5) if guard.feed(answer[i:i + 5])]
    assert looped and guard.cut is not None
    assert guard.text[:guard.cut].count("It binary-searches") == 1


@given(st.lists(st.text(alphabet="abcdefghij ,.", min_size=20, max_size=40), min_size=1, max_size=8, unique=True))
def test_distinct_sentences_never_loop(sentences):
    guard = LoopGuard()
    text = ". ".join(sentences)
    for i in range(0, len(text), 7):
        guard.feed(text[i:i + 7])
    if guard.cut is not None:  # only a real repeat can trigger it
        tail = text.rstrip()
        period = len(tail) - guard.cut
        assert tail.endswith(tail[-period:] * 3)
