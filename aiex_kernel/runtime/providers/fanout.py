"""Many model calls at once, on the Dask cluster or in this process.

LLM calls wait on the network; they must not be bounded by the CPU worker threads
(2 workers x 1 thread would serialise 64 calls of 200 ms into 6.4 s). So the calls
are split into one group per worker thread and each group runs as an *async* task:
Dask runs coroutine functions on the worker's event loop, where the group's calls
run concurrently (asyncio). Providers, with their connection pools, are kept per
worker and reused by later tasks.

A cluster-wide ``distributed.Semaphore`` per provider bounds the requests in
flight (``concurrency`` setting, 64 by default). Dask refuses to re-create a named
semaphore with another limit, so the limit is part of the name: processes with the
same setting share one bound.

Only :class:`~.registry.ProviderSpec` objects and requests travel to the workers:
no key. Workers read keys from their own environment (a local cluster's workers
inherit this process's environment when they start).
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections.abc import Sequence
from dataclasses import dataclass

from ...core.llm import AiexRequest, AiexResponse
from ...errors import AiexError, ClusterError
from ..aio import run_sync
from .base import Provider
from .registry import ProviderSpec

__all__ = ["DEFAULT_CONCURRENCY", "Call", "complete_many", "complete_many_async", "concurrency_limits", "run_calls"]

DEFAULT_CONCURRENCY = 64


@dataclass(frozen=True)
class Call:
    """One request to one provider (``request.model`` names the model)."""

    spec: ProviderSpec
    request: AiexRequest


def concurrency_limits(settings, providers: Sequence[str]) -> dict[str, int]:
    """The concurrent-request limit of each provider in ``providers``."""
    table = settings.concurrency
    default = table.get("default", DEFAULT_CONCURRENCY)
    return {name: table.get(name, default) for name in providers}


def complete_many(calls: Sequence[Call], *, settings, cluster: bool = True, runtime=None,
                  return_exceptions: bool = False) -> list[AiexResponse | AiexError]:
    """Answer every call concurrently; results in the order of ``calls``.

    ``cluster=True`` runs the calls as tasks on the aiex Dask cluster (started or
    joined as usual), else in this process. A provider error (rate limit, timeout,
    ...) is raised, the first in call order, once every call has finished; with
    ``return_exceptions=True`` it takes that call's place in the list instead.
    """
    calls = list(calls)
    if not calls:
        return []
    limits = concurrency_limits(settings, sorted({c.spec.name for c in calls}))
    client = None
    if cluster:
        if runtime is None:
            from ..cluster import get_runtime

            runtime = get_runtime(settings)
        client = runtime.usable_client()  # None: the scheduler stopped answering, so the calls run here
    if client is not None:
        from ..deployment import resource_kwargs

        results = _on_cluster(client, calls, limits, max(1, sum(client.nthreads().values())),
                              resource_kwargs(client, "io"))
    else:
        results = run_sync(lambda: _run_local(calls, limits), name="aiex-fanout")
    if not return_exceptions:
        for item in results:
            if isinstance(item, AiexError):
                raise item
    return results


def _on_cluster(client, calls: list[Call], limits: dict[str, int], nthreads: int, placement: dict) -> list:
    from distributed import KilledWorker

    groups = min(len(calls), nthreads)
    token = uuid.uuid4().hex[:12]
    futures = [
        client.submit(run_calls, [(i, calls[i]) for i in range(g, len(calls), groups)], limits,
                      key=f"aiex-llm-{token}-{g}", pure=False, **placement)
        for g in range(groups)
    ]
    try:
        answered = client.gather(futures)
    except KilledWorker as exc:
        raise ClusterError(f"Dask workers died while calling models ({exc}); check the workers' logs.") from None
    finally:
        for fut in futures:
            fut.release()
    results: list = [None] * len(calls)
    for group in answered:
        for i, item in group:
            results[i] = item
    return results


async def complete_many_async(calls: Sequence[Call], *, settings) -> list[AiexResponse | AiexError]:
    """Every call answered concurrently in this process, on the running loop (errors in their places)."""
    calls = list(calls)
    if not calls:
        return []
    return await _run_local(calls, concurrency_limits(settings, sorted({c.spec.name for c in calls})))


async def _run_local(calls: list[Call], limits: dict[str, int]) -> list:
    gates = {name: asyncio.Semaphore(limit) for name, limit in limits.items()}
    providers: dict = {}
    try:
        return await asyncio.gather(*(_answer(call, gates[call.spec.name], providers) for call in calls))
    finally:
        await asyncio.gather(*(p.aclose() for p in providers.values()))


async def _answer(call: Call, gate, providers: dict) -> AiexResponse | AiexError:
    key = call.spec.cache_key()
    provider = providers.get(key)
    if provider is None:
        provider = providers[key] = call.spec.build()
    try:
        async with gate:
            return await provider.complete(call.request)
    except AiexError as exc:
        return exc


# -- on a worker ---------------------------------------------------------------------------------

class WorkerState:
    """What a worker keeps for later tasks: providers by spec, semaphores by name. It belongs to the worker
    object, not the process: in-process clusters hold several workers, and a later cluster can get the
    address of one that is gone (its clients and event loop with it)."""

    def __init__(self) -> None:
        self.providers: dict[tuple, Provider] = {}
        self.gates: dict[str, _ClusterGate] = {}


_worker_states: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def worker_state(worker) -> WorkerState:
    state = _worker_states.get(worker)
    if state is None:
        state = _worker_states[worker] = WorkerState()
    return state


class _ClusterGate:
    """``async with`` over a ``distributed.Semaphore`` whose release does not hold up the answer.

    The release is a round trip to the scheduler; the answer is ready before it, so
    it runs in the background (the lease is dropped a moment later).
    """

    def __init__(self, semaphore) -> None:
        self.semaphore = semaphore
        self._releasing: set[asyncio.Task] = set()

    async def __aenter__(self):
        await self.semaphore.acquire()
        return self

    async def __aexit__(self, *exc) -> None:
        task = asyncio.ensure_future(self.semaphore.release())
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)


async def _worker_gate(worker, provider: str, limit: int) -> _ClusterGate:
    """The cluster-wide semaphore of ``provider`` (its limit in its name), made once per worker."""
    from distributed import Semaphore

    gates = worker_state(worker).gates
    name = f"aiex-llm-{provider}-x{limit}"
    if name not in gates:
        gates[name] = _ClusterGate(await Semaphore(max_leases=limit, name=name))
    return gates[name]


async def run_calls(indexed: list[tuple[int, Call]], limits: dict[str, int]) -> list[tuple[int, object]]:
    """A cluster task: answer a group of calls concurrently on the worker's event loop."""
    from distributed import get_worker

    worker = get_worker()
    gates = {name: await _worker_gate(worker, name, limit) for name, limit in limits.items()}
    providers = worker_state(worker).providers
    answers = await asyncio.gather(*(_answer(call, gates[call.spec.name], providers) for _, call in indexed))
    return [(i, answer) for (i, _), answer in zip(indexed, answers)]
