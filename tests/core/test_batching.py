from hypothesis import given
from hypothesis import strategies as st

from aiex_kernel.core.batching import batch_count, plan_batches

sizes_strategy = st.lists(st.integers(min_value=0, max_value=1_000_000), min_size=0, max_size=300)


@given(sizes_strategy, st.integers(min_value=1, max_value=64))
def test_every_file_in_exactly_one_batch(sizes, n):
    items = [(f"f{i}.py", s) for i, s in enumerate(sizes)]
    batches = plan_batches(items, n)
    flat = [name for b in batches for name in b]
    assert sorted(flat) == sorted(name for name, _ in items)
    assert len(batches) <= max(1, n)
    assert all(batches)


@given(st.lists(st.integers(min_value=1, max_value=10_000), min_size=20, max_size=300), st.integers(2, 16))
def test_batches_are_balanced(sizes, n):
    """LPT's guarantee: no batch exceeds the ideal share by more than the largest item."""
    items = [(f"f{i}", s) for i, s in enumerate(sizes)]
    size = dict(items)
    batches = plan_batches(items, n)
    loads = [sum(size[x] for x in b) for b in batches]
    assert max(loads) <= sum(sizes) / len(batches) + max(sizes)


def test_order_within_batch_is_kept():
    items = [("a", 5), ("b", 1), ("c", 9), ("d", 2)]
    (batch,) = plan_batches(items, 1)
    assert batch == ["a", "b", "c", "d"]


def test_batch_count():
    assert batch_count(0, 0, 4) == 0
    assert batch_count(5, 100, 8) == 1  # never fewer than 10 files a batch
    assert batch_count(1800, 31_000_000, 2) == 16  # 8 per thread beats ceil(31 MB / 2 MiB) = 15
    assert batch_count(1800, 100_000_000, 2) == 48  # ceil(100 MB / 2 MiB)
