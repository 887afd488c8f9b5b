"""Which index segments to merge, so that neither queries nor builds pay for a pile of them.

Builds add segments (one per build in a process; one per batch when workers write
their own, :mod:`aiex_kernel.runtime.index.parts`), and edits leave dead chunks in old
ones. A segment is *loose* when it holds fewer than half of ``target`` live chunks, or
when most of its chunks are dead. When more than ``max_loose`` segments are loose (or
any is mostly dead), the loose ones are packed, the small ones first and oldest first, into groups of at most
``target`` live chunks, each to be rewritten as one segment. Settled segments (big and
mostly live) are never rewritten, so a merge reads and writes at most ``target``
chunks per group: the memory a merge needs does not grow with the repository, and
the groups are independent (they can run on several workers at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["SEGMENT_CHUNKS", "MAX_LOOSE", "SegmentStat", "is_loose", "merge_groups"]

#: live chunks a merged segment holds at most (about 100 MB of memory to merge)
SEGMENT_CHUNKS = 50_000
#: loose segments tolerated before they are merged (a cluster build of the standard library leaves 16, one
#: per batch, which queries read quickly enough: merging them would cost the build a tenth of its time)
MAX_LOOSE = 32


class SegmentStat(NamedTuple):
    id: str
    live: int  #: chunks of its files that the manifest still names
    total: int  #: every chunk it holds
    generation: int  #: the build that wrote it (older builds first)


def is_loose(s: SegmentStat, target: int = SEGMENT_CHUNKS) -> bool:
    return s.live < target // 2 or 2 * s.live < s.total


def merge_groups(stats: Sequence[SegmentStat], *, target: int = SEGMENT_CHUNKS,
                 max_loose: int = MAX_LOOSE) -> list[list[str]]:
    """Groups of segment ids to merge, each into one segment; [] when the segments are fine as they are.

    Guarantees: every id is in at most one group; only loose segments are grouped; a group of two or more
    holds at most ``target`` live chunks; a group of one is a mostly dead segment (rewritten to drop its
    dead chunks)."""
    if target < 2:
        raise ValueError("target must be at least 2 chunks")
    loose = [s for s in stats if is_loose(s, target)]
    mostly_dead = any(2 * s.live < s.total for s in stats)
    if len(loose) <= max_loose and not mostly_dead:
        return []
    groups: list[list[SegmentStat]] = []
    current: list[SegmentStat] = []
    size = 0
    # the small ones first (oldest first), so that they are packed together; then the big, mostly dead ones
    for s in sorted(loose, key=lambda s: (s.live >= target // 2, s.generation, s.id)):
        if current and size + s.live > target:
            groups.append(current)
            current, size = [], 0
        current.append(s)
        size += s.live
    if current:
        groups.append(current)
    return [[s.id for s in g] for g in groups if len(g) > 1 or 2 * g[0].live < g[0].total]
