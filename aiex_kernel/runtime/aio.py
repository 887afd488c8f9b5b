"""Running a coroutine from synchronous code, also inside a running event loop (Jupyter)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(make: Callable[[], Awaitable[T]], *, name: str = "aiex-async") -> T:
    """Run the coroutine ``make()`` to completion and return its value.

    With no loop running in this thread it runs here (``asyncio.run``); inside a
    running loop (a notebook cell) it runs on a new loop in a helper thread, so the
    caller's loop is not re-entered. Exceptions reach the caller unchanged.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(make())
    box: dict = {}

    def run() -> None:
        try:
            box["value"] = asyncio.run(make())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, name=name)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
