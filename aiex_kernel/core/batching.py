"""Packing files into batches of roughly equal bytes (one cluster task each)."""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence

__all__ = ["batch_count", "plan_batches"]


def batch_count(n_files: int, total_bytes: int, nthreads: int, *, min_files: int = 10,
                target_bytes: int = 2 * 1024 * 1024, per_thread: int = 8) -> int:
    """How many batches to cut a job into.

    Enough for every thread to get ``per_thread`` batches (so the tail, when one
    worker still chunks its last batch and the others idle, is short) or
    for batches of about ``target_bytes``, whichever is more; but never batches of
    fewer than ``min_files`` files, since each task costs the scheduler ~2 ms.
    """
    if n_files <= 0:
        return 0
    wanted = max(nthreads * per_thread, math.ceil(total_bytes / target_bytes))
    return max(1, min(wanted, math.ceil(n_files / min_files)))


def plan_batches(sizes: Sequence[tuple[str, int]], n_batches: int) -> list[list[str]]:
    """Split ``(name, size)`` items into ``n_batches`` lists of near-equal total size.

    Longest-processing-time greedy: largest items first, each into the lightest
    batch. Within a batch the original order is kept; empty batches are dropped.
    """
    if not sizes:
        return []
    n_batches = max(1, min(n_batches, len(sizes)))
    order = {name: i for i, (name, _) in enumerate(sizes)}
    heap = [(0, i) for i in range(n_batches)]
    batches: list[list[str]] = [[] for _ in range(n_batches)]
    for name, size in sorted(sizes, key=lambda item: -item[1]):
        load, i = heapq.heappop(heap)
        batches[i].append(name)
        heapq.heappush(heap, (load + max(size, 1), i))
    return [sorted(b, key=order.__getitem__) for b in batches if b]
