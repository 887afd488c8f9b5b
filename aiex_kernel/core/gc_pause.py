"""Cyclic garbage collection held back while a step builds many acyclic objects, and let back in while it waits.

A collector pass walks every object allocated since the last one, so a step that builds tens of thousands of
entries (chunking a batch, a manifest's ``orjson.loads``, a scan of a large repository) pays for passes over
its own growing result: 5-15% of such a step. Reference counting still frees whatever is acyclic meanwhile.

The blocks nest: the state the innermost open block asks for holds, and when the last one closes the
collector is as it was before the first (a collector the caller had switched off stays off: a resumed block
never turns it on). They are meant for one thread's nested steps; blocks of two threads that close out of order
only shift when collection resumes, never what is freed.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_gc", "resumed_gc"]

_lock = threading.Lock()
_asked: list[bool] = []  #: what each open block asked for (collecting or not), innermost last
_before = True  #: the collector's state before the outermost open block


def _apply(collect: bool) -> None:
    if collect and _before:
        gc.enable()
    else:
        gc.disable()


@contextmanager
def _holding(collect: bool) -> Iterator[None]:
    global _before
    with _lock:
        if not _asked:
            _before = gc.isenabled()
        _asked.append(collect)
        _apply(collect)
    try:
        yield
    finally:
        with _lock:
            _asked.pop()
            _apply(_asked[-1] if _asked else True)


def paused_gc():
    """No cyclic collection inside the block: for steps that build large acyclic structures."""
    return _holding(False)


def resumed_gc():
    """Inside a paused block, collection back on while the step waits for others (workers, a provider), so what
    other threads leave behind meanwhile is collected; outside one, nothing changes."""
    return _holding(True)
