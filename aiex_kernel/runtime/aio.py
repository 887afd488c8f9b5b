"""Running a coroutine from synchronous code, also inside a running event loop (Jupyter)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TypeVar

__all__ = ["LoopStream", "LoopThread", "run_sync"]

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


class LoopThread:
    """One event loop on a daemon thread, for a long-lived front end (a notebook session).

    Async clients made on it (SDK connection pools) live as long as it does, so
    each call does not pay for a new client. Results and streamed items come back
    to the calling thread, which is where notebook output must be produced.
    """

    def __init__(self, name: str = "aiex-loop") -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()

                def run() -> None:
                    try:
                        loop.run_forever()
                    finally:
                        loop.close()

                self._thread = threading.Thread(target=run, name=self._name, daemon=True)
                self._thread.start()
                self._loop = loop
            return self._loop

    def run(self, coro: Awaitable[T]) -> T:
        """Run ``coro`` on the loop; wait for its value here (Ctrl-C cancels it)."""
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    def iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        """The items of an async iterator running on the loop, delivered in this thread."""
        return iter(self.stream(agen))

    def stream(self, agen: AsyncIterator[T]) -> LoopStream:
        """Like :meth:`iterate`, as an object another thread can :meth:`~LoopStream.cancel` (a Stop button)."""
        return LoopStream(agen, self.loop)

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None and not loop.is_closed():
            # finish async generators (streams) and clients first, so nothing is left pending
            try:
                asyncio.run_coroutine_threadsafe(loop.shutdown_asyncgens(), loop).result(timeout=5)
            except Exception:  # noqa: BLE001 - closing is best effort
                pass
            loop.call_soon_threadsafe(loop.stop)
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=5)


class LoopStream:
    """The items of an async iterator running on a loop, delivered to the thread that iterates."""

    def __init__(self, agen: AsyncIterator, loop: asyncio.AbstractEventLoop) -> None:
        import queue

        self._items: queue.Queue = queue.Queue()
        self._done = object()
        self.cancelled = False

        async def pump() -> None:
            try:
                async for item in agen:
                    self._items.put((True, item))
            except asyncio.CancelledError:
                pass
            except BaseException as exc:  # noqa: BLE001 - delivered to the consuming thread
                self._items.put((False, exc))
            finally:
                self._items.put((True, self._done))

        self._future = asyncio.run_coroutine_threadsafe(pump(), loop)

    def cancel(self) -> None:
        """Stop the iterator where it is (its ``finally`` blocks run); iteration then ends."""
        self.cancelled = True
        self._future.cancel()

    def close(self) -> None:
        """What a caller that stops iterating does (Ctrl-C, a kernel interrupt): the same as :meth:`cancel`."""
        self.cancel()

    def __iter__(self) -> Iterator:
        try:
            while True:
                ok, item = self._items.get()
                if not ok:
                    raise item
                if item is self._done:
                    return
                yield item
        finally:
            if not self._future.done():
                self._future.cancel()
