"""Several model calls streaming at once, in this process or as tasks on the Dask cluster.

:func:`stream_calls` yields ``(slot, item)`` as items arrive from any call: a text
delta (``str``), the final :class:`~aiex_kernel.core.llm.AiexResponse`, or the
:class:`~aiex_kernel.errors.AiexError` that ended the call. Every slot ends with
exactly one final item (a response or an error), whatever the others do.

In this process the calls are asyncio tasks, bounded by a semaphore per provider.
On the cluster each call is an async task on a worker's event loop, bounded by the
cluster-wide semaphore per provider that :mod:`.fanout` uses; its deltas come back
through a ``log_event`` topic of the comparison (distributed has no pub/sub of its
own), its answer as the task's result. A worker that lacks a provider's key says
so in its slot. Closing the iteration (Ctrl-C, a Stop button, a kernel interrupt)
cancels every call still running, which closes its connection to the server.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence

from ...core.llm import AiexResponse
from ...errors import AiexError, ClusterError, ProviderNotConfigured
from .fanout import Call, concurrency_limits

__all__ = ["stream_calls"]

_END = object()


async def stream_calls(calls: Sequence[Call], *, settings, cluster: bool = False, runtime=None,
                       gate=None) -> AsyncIterator[tuple[int, object]]:
    """``(slot, delta | AiexResponse | AiexError)`` of every call as they arrive.

    ``gate(call)`` may refuse a call before it is sent by returning an AiexError (a circuit breaker).
    """
    calls = list(calls)
    if cluster:
        async for item in _on_cluster(calls, settings, runtime, gate):
            yield item
    else:
        async for item in _in_process(calls, settings, gate):
            yield item


async def _in_process(calls: list[Call], settings, gate) -> AsyncIterator[tuple[int, object]]:
    limits = concurrency_limits(settings, sorted({c.spec.name for c in calls}))
    semaphores = {name: asyncio.Semaphore(n) for name, n in limits.items()}
    queue: asyncio.Queue = asyncio.Queue()
    providers: dict = {}

    async def pump(slot: int, call: Call) -> None:
        try:
            refused = gate(call) if gate is not None else None
            if refused is not None:
                raise refused
            key = call.spec.cache_key()
            provider = providers.get(key) or providers.setdefault(key, call.spec.build())
            async with semaphores[call.spec.name]:
                async for item in provider.stream(call.request):
                    queue.put_nowait((slot, item))
        except AiexError as exc:
            queue.put_nowait((slot, exc))
        finally:
            queue.put_nowait((slot, _END))

    tasks = [asyncio.ensure_future(pump(i, call)) for i, call in enumerate(calls)]
    try:
        running = len(tasks)
        while running:
            slot, item = await queue.get()
            if item is _END:
                running -= 1
                continue
            yield slot, item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(p.aclose() for p in providers.values()), return_exceptions=True)


async def _on_cluster(calls: list[Call], settings, runtime, gate) -> AsyncIterator[tuple[int, object]]:
    if runtime is None:
        from ..cluster import get_runtime

        runtime = get_runtime(settings)
    client = await asyncio.to_thread(runtime.ensure_workers)
    limits = concurrency_limits(settings, sorted({c.spec.name for c in calls}))
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    token = uuid.uuid4().hex[:12]
    topic = f"aiex-compare-{token}"
    finished: set[int] = set()

    def on_delta(event) -> None:  # on the client's own loop thread
        slot, text = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        loop.call_soon_threadsafe(queue.put_nowait, (slot, text))

    client.subscribe_topic(topic, on_delta)
    futures: dict[int, object] = {}
    pending = 0
    for i, call in enumerate(calls):
        refused = gate(call) if gate is not None else None
        if refused is not None:
            queue.put_nowait((i, refused))
            finished.add(i)
            continue
        future = client.submit(stream_call, call, limits, topic, i, key=f"aiex-compare-{token}-{i}", pure=False)
        future.add_done_callback(lambda f, i=i: loop.call_soon_threadsafe(queue.put_nowait, (i, _END)))
        futures[i] = future
        pending += 1
    try:
        while pending or not queue.empty():
            slot, item = await queue.get()
            if item is _END:
                pending -= 1
                finished.add(slot)
                yield slot, await asyncio.to_thread(_outcome, futures[slot], client)
                continue
            if slot in finished and not isinstance(item, AiexError):
                continue  # a delta that came after its answer: the answer holds the whole text
            yield slot, item
    finally:
        client.unsubscribe_topic(topic)
        unfinished = [f for i, f in futures.items() if i not in finished]
        if unfinished:
            client.cancel(unfinished)
        for future in futures.values():
            future.release()


def _outcome(future, client) -> AiexResponse | AiexError:
    """What a finished cluster task came to: its answer, or an error in the aiex tree."""
    try:
        result = future.result()
    except Exception as exc:  # noqa: BLE001 - a task that failed on the worker, or a dead worker
        return ClusterError(f"The call failed on the cluster at {client.scheduler.address}: "
                            f"{type(exc).__name__}: {exc}")
    if isinstance(result, AiexError):
        return result
    if isinstance(result, tuple) and result and result[0] == "error":
        from ... import errors

        cls = getattr(errors, result[1], None)
        cls = cls if isinstance(cls, type) and issubclass(cls, errors.AiexError) else errors.AiexError
        return cls(result[2])
    return result


# -- on a worker ----------------------------------------------------------------------------------

async def stream_call(call: Call, limits: dict[str, int], topic: str, slot: int):
    """A cluster task: stream one call, its deltas to ``topic``; returns the final response (or an error)."""
    from distributed import get_worker

    from .fanout import _worker_gate, _worker_providers

    worker = get_worker()
    try:
        gate = await _worker_gate(worker.scheduler.address, call.spec.name, limits[call.spec.name])
        key = call.spec.cache_key()
        provider = _worker_providers.get(key)
        if provider is None:
            provider = _worker_providers[key] = call.spec.build()
        async with gate:
            async for item in provider.stream(call.request):
                if isinstance(item, AiexResponse):
                    return item
                worker.log_event(topic, (slot, item))
    except ProviderNotConfigured as exc:
        return ("error", type(exc).__name__, f"on the worker {worker.address}: {exc}")
    except AiexError as exc:
        return ("error", type(exc).__name__, str(exc))
    return ("error", "BadProviderResponse", f"{call.spec.name} ended its stream without an answer.")
