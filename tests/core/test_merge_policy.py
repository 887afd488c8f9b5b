"""Which segments get merged: pure, checked with hypothesis over arbitrary segment piles."""

from hypothesis import given, strategies as st

from aiex_kernel.core.merge_policy import SegmentStat, is_loose, merge_groups


@st.composite
def piles(draw):
    n = draw(st.integers(0, 40))
    out = []
    for i in range(n):
        total = draw(st.integers(1, 300))
        out.append(SegmentStat(f"s{i:02d}", draw(st.integers(0, total)), total, draw(st.integers(1, 6))))
    return out


@given(piles(), st.integers(2, 400), st.integers(0, 10))
def test_groups_only_loose_segments_once_each_within_the_target(stats, target, max_loose):
    groups = merge_groups(stats, target=target, max_loose=max_loose)
    by_id = {s.id: s for s in stats}
    ids = [i for g in groups for i in g]
    assert len(ids) == len(set(ids))
    for g in groups:
        assert all(is_loose(by_id[i], target) for i in g)
        if len(g) > 1:
            assert sum(by_id[i].live for i in g) <= target
        else:
            assert 2 * by_id[g[0]].live < by_id[g[0]].total  # a lone rewrite drops dead chunks
    loose = [s for s in stats if is_loose(s, target)]
    small = [s for s in loose if s.live < target // 2]
    if len(loose) > max_loose and len(small) >= 2:  # two small ones always fit together
        assert any(len(g) > 1 for g in groups)
    if not groups:  # nothing to do, or only one small segment that nothing could join
        assert (len(loose) <= max_loose or len(small) <= 1) and all(2 * s.live >= s.total for s in stats)


def test_a_pile_of_small_segments_becomes_few_big_ones():
    small = [SegmentStat(f"b{i:03d}", 3000, 3000, 1) for i in range(166)]  # one cluster build's batches
    groups = merge_groups(small, target=50_000, max_loose=8)
    assert sum(len(g) for g in groups) == 166 and len(groups) == 11  # 16 batches of 3,000 per 50,000
    settled = [SegmentStat("big", 40_000, 41_000, 1)] + small[:8]
    assert merge_groups(settled, target=50_000, max_loose=8) == []  # 8 loose ones are tolerated
    dead = [SegmentStat("big", 40_000, 90_000, 1)]
    assert merge_groups(dead, target=50_000, max_loose=8) == [["big"]]  # mostly dead: rewritten alone
