"""Several model calls streaming at once, in this process or as tasks on the Dask cluster.

:func:`stream_calls` yields ``(slot, item)`` as items arrive from any call: a text
delta (``str``), the final :class:`~aiex_kernel.core.llm.AiexResponse`, or the
:class:`~aiex_kernel.errors.AiexError` that ended the call. Every slot ends with
exactly one final item (a response or an error), whatever the others do.

In this process the calls are asyncio tasks, bounded by a semaphore per provider.
On the cluster the calls run on the workers' event loops, through one
:class:`StreamActor` per worker (a Dask actor: its async methods run concurrently and
hold no task slot, so concurrent comparisons do not queue behind each other on
single-threaded workers), bounded by the cluster-wide semaphore per provider that
:mod:`.fanout` uses. Everything a call produces comes back through a ``log_event``
topic of the comparison (distributed has no pub/sub of its own). A worker that lacks
a provider's key says so in its slot. Closing the iteration (Ctrl-C, a Stop button, a kernel interrupt)
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


async def stream_calls(calls: Sequence[Call], *, settings, cluster: bool = False, runtime=None, gate=None,
                       provider=None) -> AsyncIterator[tuple[int, object]]:
    """``(slot, delta | AiexResponse | AiexError)`` of every call as they arrive.

    ``gate(call)`` may refuse a call before it is sent by returning an AiexError (a circuit breaker);
    ``provider(spec)`` gives the provider for a spec in this process (a caller's cache of clients, which
    then outlive the call; default: new ones, closed at the end).
    """
    calls = list(calls)
    client = None
    if cluster:
        if runtime is None:
            from ..cluster import get_runtime

            runtime = get_runtime(settings)
        client = await asyncio.to_thread(runtime.usable_client)  # None: degraded, so the calls run here
    if client is not None:
        async for item in _on_cluster(calls, settings, runtime, gate):
            yield item
    else:
        async for item in _in_process(calls, settings, gate, provider):
            yield item


#: in-process semaphores per provider and limit, per event loop: concurrent comparisons share the bound
_semaphores: dict[tuple, asyncio.Semaphore] = {}


async def _in_process(calls: list[Call], settings, gate, provider_for) -> AsyncIterator[tuple[int, object]]:
    limits = concurrency_limits(settings, sorted({c.spec.name for c in calls}))
    loop = asyncio.get_running_loop()
    semaphores = {name: _semaphores.setdefault((id(loop), name, n), asyncio.Semaphore(n)) for name, n in limits.items()}
    queue: asyncio.Queue = asyncio.Queue()
    providers: dict = {}

    async def pump(slot: int, call: Call) -> None:
        try:
            refused = gate(call) if gate is not None else None
            if refused is not None:
                raise refused
            if provider_for is not None:
                provider = provider_for(call.spec)
            else:
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


#: what is sent to a comparison's topic to learn that the scheduler forwards it to us
_PING = "aiex-subscribed?"
#: seconds to wait for the last messages of a group whose actor call returned
LATE_S = 5.0

#: the stream actor of each worker, by (client id, worker address), with the future of its task: an actor's
#: proxy belongs to its client, and the actor lives only while its client holds that future (a proxy made on
#: the client's loop thread holds none, so without it the scheduler forgets the actor under a running call)
_actors: dict[tuple[str, str], tuple[object, object]] = {}
#: seconds between looks at an actor's task while a call on it runs
POLL_S = 1.0


def _actor_for(client, worker: str):
    """``(future, actor)``: the worker's stream actor, made on first use (call it inside
    ``client.as_current()``: aiex's client is not the process's default one, and an actor's proxy finds its
    client that way)."""
    key = (client.id, worker)
    held = _actors.get(key)
    if held is None:
        for stale in [k for k, (future, _) in _actors.items() if future.client.status == "closed"]:
            del _actors[stale]  # a closed client's actors are gone with it
        future = client.submit(StreamActor, actor=True, workers=[worker], allow_other_workers=False, pure=False,
                               key=f"aiex-stream-actor-{uuid.uuid4().hex[:8]}")
        held = _actors[key] = (future, future.result(timeout=60))
    return held


def _wait_for_actor(future, call, worker: str):
    """The result of an actor's method call, failing when the actor's task is no longer in memory (its worker
    died or the scheduler forgot it): distributed leaves such a call's future unset for ever."""
    while True:
        try:
            return call.result(timeout=POLL_S)
        except TimeoutError:
            if future.status != "finished":
                raise ClusterError(f"The stream actor on the worker {worker} is gone (its task is "
                                   f"{future.status}).") from None


async def _on_cluster(calls: list[Call], settings, runtime, gate) -> AsyncIterator[tuple[int, object]]:
    """The calls spread over the workers' stream actors; their results come through the comparison's topic.
    A group whose actor fails (its worker died) ends its slots as errors, and the actor is made again next time."""
    if runtime is None:
        from ..cluster import get_runtime

        runtime = get_runtime(settings)
    client = await asyncio.to_thread(runtime.ensure_workers)
    limits = concurrency_limits(settings, sorted({c.spec.name for c in calls}))
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    topic = f"aiex-compare-{uuid.uuid4().hex[:12]}"
    open_slots: set[int] = set()

    subscribed = asyncio.Event()

    def on_message(event) -> None:  # on the client's own loop thread
        message = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if message == _PING:
            loop.call_soon_threadsafe(subscribed.set)
            return
        loop.call_soon_threadsafe(queue.put_nowait, tuple(message))

    for i, call in enumerate(calls):
        refused = gate(call) if gate is not None else None
        if refused is not None:
            queue.put_nowait((i, "refused", refused))
        else:
            open_slots.add(i)
    from ..deployment import io_workers

    workers = io_workers(client)  # model calls go to the workers that advertise io, if any do
    ordered = sorted(open_slots)
    groups = [[(i, calls[i]) for i in ordered[g::len(workers)]] for g in range(len(workers))]
    groups = [(w, g) for w, g in zip(workers, groups) if g]
    client.subscribe_topic(topic, on_message)
    await _until_subscribed(client, topic, subscribed)

    def run_group(index: int, worker: str, group) -> None:  # in a thread: the actor's call, waited for
        failure = None
        try:
            with client.as_current():
                future, actor = _actor_for(client, worker)
                _wait_for_actor(future, actor.stream(group, limits, topic), worker)
        except Exception as exc:  # noqa: BLE001 - the worker died, or the actor with it
            _actors.pop((client.id, worker), None)
            failure = ClusterError(f"The calls failed on the worker {worker}: {type(exc).__name__}: {exc}")
        loop.call_soon_threadsafe(queue.put_nowait, (None, "group", index, failure))

    running = [asyncio.ensure_future(asyncio.to_thread(run_group, g, w, group))
               for g, (w, group) in enumerate(groups)]
    pending = len(calls)
    try:
        while pending:
            message = await queue.get()
            slot, kind = message[0], message[1]
            if kind == "group":
                failure = message[3]
                if failure is None and any(i in open_slots for i, _ in groups[message[2]][1]):
                    # the actor is done: its last messages are on their way, or lost (never wait forever)
                    loop.call_later(LATE_S, queue.put_nowait, (None, "late", message[2], None))
                    continue
                for i, _ in groups[message[2]][1]:
                    if i in open_slots and failure is not None:
                        open_slots.discard(i)
                        pending -= 1
                        yield i, failure
                continue
            if kind == "late":
                lost = ClusterError(f"The result of this call never arrived from the cluster (its worker finished "
                                    f"it {LATE_S:.0f} s ago); ask again.")
                for i, _ in groups[message[2]][1]:
                    if i in open_slots:
                        open_slots.discard(i)
                        pending -= 1
                        yield i, lost
                continue
            if slot not in open_slots and kind != "refused":
                continue  # a late message of a finished slot
            if kind == "delta":
                yield slot, message[2]
                continue
            open_slots.discard(slot)
            pending -= 1
            if kind == "final":
                from ...core.llm import code_blocks

                yield slot, AiexResponse(**message[2], code_blocks=code_blocks(message[2].get("text") or ""))
            elif kind == "refused":
                yield slot, message[2]
            else:
                yield slot, _error(message[2], message[3])
    finally:
        client.unsubscribe_topic(topic)
        if open_slots:  # cancelled: stop what the actors are still streaming for this comparison
            for worker, _ in groups:
                held = _actors.get((client.id, worker))
                if held is not None:
                    try:
                        with client.as_current():
                            held[1].cancel(topic)
                    except Exception:  # noqa: BLE001 - a worker that is gone has nothing to stop
                        pass
        for task in running:
            task.cancel()


async def _until_subscribed(client, topic: str, subscribed: asyncio.Event, timeout: float = 10.0) -> None:
    """The scheduler registers a subscription in its own time (the request is batched, the calls are not):
    ping the topic until a ping comes back, so that nothing the calls send is lost for want of a listener."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not subscribed.is_set():
        await asyncio.to_thread(client.log_event, topic, _PING)
        try:
            await asyncio.wait_for(subscribed.wait(), 0.05)
        except asyncio.TimeoutError:
            if loop.time() > deadline:
                raise ClusterError(f"The cluster's scheduler did not register a subscription within {timeout:.0f} s;"
                                   " check it with `aiex show cluster`.") from None


def _error(name: str, message: str) -> AiexError:
    from ... import errors

    cls = getattr(errors, name, None)
    cls = cls if isinstance(cls, type) and issubclass(cls, errors.AiexError) else errors.AiexError
    return cls(message)


# -- on a worker ----------------------------------------------------------------------------------

class StreamActor:
    """One per worker (a Dask actor): streams groups of calls on the worker's event loop, everything they
    produce sent to the comparison's topic: ``(slot, "delta", text)``, ``(slot, "final", response as a
    dict)``, ``(slot, "error", name, message)``."""

    def __init__(self) -> None:
        self._running: dict[str, asyncio.Task] = {}

    async def stream(self, group: list[tuple[int, Call]], limits: dict[str, int], topic: str) -> int:
        task = asyncio.ensure_future(_stream_group(group, limits, topic))
        self._running[topic] = task
        try:
            await task
        except asyncio.CancelledError:
            pass
        finally:
            self._running.pop(topic, None)
        return len(group)

    async def cancel(self, topic: str) -> bool:
        task = self._running.get(topic)
        if task is not None:
            task.cancel()
        return task is not None


async def _stream_group(group: list[tuple[int, Call]], limits: dict[str, int], topic: str) -> None:
    from distributed import get_worker

    from .fanout import _worker_gate, worker_state

    worker = get_worker()
    providers = worker_state(worker).providers

    async def one(slot: int, call: Call) -> None:
        try:
            gate = await _worker_gate(worker, call.spec.name, limits[call.spec.name])
            key = call.spec.cache_key()
            provider = providers.get(key)
            if provider is None:
                provider = providers[key] = call.spec.build()
            async with gate:
                async for item in provider.stream(call.request):
                    if isinstance(item, AiexResponse):
                        worker.log_event(topic, (slot, "final", _plain(item)))
                        return
                    worker.log_event(topic, (slot, "delta", item))
            worker.log_event(topic, (slot, "error", "BadProviderResponse",
                                     f"{call.spec.name} ended its stream without an answer."))
        except ProviderNotConfigured as exc:
            worker.log_event(topic, (slot, "error", type(exc).__name__, f"on the worker {worker.address}: {exc}"))
        except AiexError as exc:
            worker.log_event(topic, (slot, "error", type(exc).__name__, str(exc)))

    await asyncio.gather(*(one(slot, call) for slot, call in group))


def _plain(response: AiexResponse) -> dict:
    """The response as msgpack-able data (its code blocks are rebuilt from the text on arrival)."""
    from dataclasses import fields

    return {f.name: getattr(response, f.name) for f in fields(response) if f.name != "code_blocks"}
