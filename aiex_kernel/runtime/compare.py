"""A comparison: one prompt, one context built once, several models answering at once.

:func:`run_compare` is the service's ``compare``. It yields a ``CompareStarted``
event, then each slot's events as they arrive (a slot is a turn of its own,
command ``compare``: ``TurnStarted``, ``Delta``..., ``Answered`` or ``Failed``),
with the same events whether the calls run as tasks on the cluster (when one is
attached, or ``cluster="always"``) or in this process. A failed model ends its own
slot with an error while the others finish; a provider whose circuit breaker is
open fails at once. Closing the iteration cancels every call still running.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator

from ..core.events import Answered, CompareStarted, ContextChosen, Delta, Event, Noted, Planned, TurnStarted
from ..core.llm import AiexResponse
from ..core.prompts import system_prompt
from ..core.requests import CompareRequest, TurnRequest
from ..errors import AiexError, UsageError

__all__ = ["run_compare", "vote"]

#: stored deltas are coalesced per slot to at most one per this many seconds
DELTA_INTERVAL = 0.1


async def run_compare(service, request: CompareRequest) -> AsyncIterator[Event]:
    from .ask import plan_compare
    from .file_batches import use_cluster
    from .providers.fanout import Call
    from .providers.selection import choose_model
    from .providers.streaming import stream_calls
    from .tokenizers import sent_estimate
    from .service import check_session_name, session_name_for

    settings = service.settings()
    prompt = request.prompt.strip()
    if not prompt:
        raise UsageError("The prompt is empty: say what to ask the models.")
    if len(set(request.models)) != len(request.models):
        raise UsageError("A model is named twice in --models; name each once.")
    as_turn = TurnRequest(command="ask", prompt=prompt, context=request.context)
    root, context_note = service._context_root(as_turn)
    choices = [await choose_model(m, settings) for m in request.models]  # a bad id is a usage error, now
    session = check_session_name(request.session) if request.session else (
        service.current_session() if service.current is not None or service.origin != "cli"
        else session_name_for(service.origin))
    compare_id = "c" + uuid.uuid4().hex[:11]
    order = list(range(len(choices)))
    if request.blind:
        random.shuffle(order)  # position bias: the first column is not always the first model
    choices = [choices[i] for i in order]
    turns = [uuid.uuid4().hex[:12] for _ in choices]
    now = time.time
    if context_note and (text := service.note_once(f"context:{context_note}", context_note)):
        yield Noted(session, now(), turn=compare_id, text=text)
    state = service.state(session)
    pinned = tuple(sorted(p for p, r in state.pinned.items() if root is not None and str(r) == str(root)))
    plan = await asyncio.to_thread(
        plan_compare, prompt, choices=choices, settings=settings,
        system=request.system or system_prompt(request.format), context_root=root,
        budget=request.context.budget, max_tokens=request.max_tokens, temperature=request.temperature,
        focus=request.context.focus, pinned=pinned, attachments=request.attachments,
        progress=service.origin != "server")
    for text in dict.fromkeys(plan.notes):
        yield Noted(session, now(), turn=compare_id, text=text)
    on_cluster = use_cluster(request.cluster, 0, settings)
    where = "in-process"
    if on_cluster and not request.dry_run:
        from .cluster import get_runtime

        where = (await asyncio.to_thread(get_runtime(settings).ensure_workers)).scheduler.address
    slots = tuple({"turn": t, "model": c.id} for t, c in zip(turns, choices))
    started = CompareStarted(session, now(), compare=compare_id, prompt=prompt, slots=slots, blind=request.blind,
                             where=where)
    if request.dry_run:
        yield started
        yield Planned(session, now(), turn=compare_id, plan={"compare": compare_id, "estimates": plan.estimates(),
                                                             "messages": plan.requests[0].chat_messages()},
                      text=plan.describe())
        return
    service.ensure_started(session)
    opening = [started] + [TurnStarted(session, now(), turn=turn, command="compare", prompt=prompt, model=choice.id)
                           for turn, choice in zip(turns, choices)]
    service.append_many(opening)
    for event in opening:
        yield event
    if plan.context is not None:
        c = plan.context
        chosen = ContextChosen(session, now(), turn=compare_id, root=plan.context_root, tokens=c.tokens,
                               budget=c.budget, tokenizer=c.tokenizer, files=tuple(c.files), sources=tuple(c.sources))
        service.append(chosen)
        yield chosen

    calls = [Call(c.spec, r) for c, r in zip(choices, plan.requests)]
    pending: dict[int, list[str]] = {i: [] for i in range(len(calls))}
    flushed = {i: time.monotonic() for i in range(len(calls))}
    streamed: dict[int, list[str]] = {i: [] for i in range(len(calls))}
    done: set[int] = set()
    finals: dict[int, Answered] = {}

    def flush(slot: int) -> None:
        if pending[slot]:
            service.append(Delta(session, now(), turn=turns[slot], text="".join(pending[slot])))
            pending[slot].clear()
        flushed[slot] = time.monotonic()

    def gate(call):
        return service.refused(call.spec.name)

    try:
        async for slot, item in stream_calls(calls, settings=settings, cluster=on_cluster, gate=gate,
                                             provider=service.provider):
            turn = turns[slot]
            if isinstance(item, str):
                streamed[slot].append(item)
                pending[slot].append(item)
                if time.monotonic() - flushed[slot] >= DELTA_INTERVAL:
                    flush(slot)
                yield Delta(session, now(), turn=turn, text=item)
            elif isinstance(item, AiexResponse):
                flush(slot)
                done.add(slot)
                answered = Answered(session, now(), turn=turn, text=item.text, model=item.model,
                                    provider=item.provider, finish_reason=item.finish_reason,
                                    input_tokens=item.input_tokens, output_tokens=item.output_tokens,
                                    cost_usd=item.cost_usd, latency_s=item.latency_s, ttft_s=item.ttft_s,
                                    estimated_tokens=sent_estimate(calls[slot].spec.name, choices[slot].model,
                                                                   plan.requests[slot]))
                service.append(answered)
                finals[slot] = answered
                yield answered
            elif isinstance(item, AiexError):
                flush(slot)
                done.add(slot)
                yield service._failed(session, turn, item, provider=calls[slot].spec.name)
    except (asyncio.CancelledError, GeneratorExit, KeyboardInterrupt):
        from ..core.events import Cancelled

        for slot, turn in enumerate(turns):
            if slot not in done:
                flush(slot)
                service.append(Cancelled(session, now(), turn=turn, partial="".join(streamed[slot])))
        raise
    for slot in range(len(calls)):
        if slot not in done:  # a slot the stream never finished: say so rather than leave it running
            yield service._failed(session, turns[slot], AiexError(f"{choices[slot].id} gave no answer."))
    if request.select is None and not request.run_code:
        return
    from ..core.events import Assessed, Selected
    from .selection import assess_and_select

    slots_data = []
    for i, (turn, choice) in enumerate(zip(turns, choices)):
        final = finals.get(i)
        answered = final is not None
        slots_data.append({"letter": chr(ord("a") + i), "model": choice.id, "turn": turn,
                           "status": "answered" if answered else "failed",
                           "text": final.text if answered else "".join(streamed[i]),
                           "latency_s": final.latency_s if answered else None,
                           "cost_usd": final.cost_usd if answered else None})
    items, picked, notes = await assess_and_select(service, request, slots_data, on_cluster=on_cluster,
                                                   settings=settings)
    for text in notes:
        yield Noted(session, now(), turn=compare_id, text=text)
    assessed = Assessed(session, now(), compare=compare_id, checks=tuple(a.to_dict() for a in items))
    service.append(assessed)
    yield assessed
    if picked is not None:
        best, how, why = picked
        index = ord(best.letter) - ord("a")
        selected = Selected(session, now(), compare=compare_id, turn=turns[index], letter=best.letter,
                            model=best.model, how=how, why=why)
        service.append(selected)
        yield selected


def vote(service, compare_id: str, choice: str):
    """Record the user's verdict on comparison ``compare_id``: a slot letter, ``tie`` or ``bad``."""
    from ..core.categories import categorize
    from ..core.events import Voted
    from ..errors import SessionNotFound

    log = service.log
    started = None
    if log is not None:
        started = next((e for _, e in log.by_turn(compare_id) if isinstance(e, CompareStarted)), None)
    if started is None:
        raise SessionNotFound(f"No comparison {compare_id!r} in the event log; `aiex compare` prints its id.")
    letters = [chr(ord("a") + i) for i in range(len(started.slots))]
    choice = choice.strip().lower()
    if choice not in (*letters, "tie", "bad"):
        raise UsageError(f"Vote one of {', '.join(letters)}, tie or bad (not {choice!r}).")
    event = Voted(started.session, time.time(), compare=compare_id, choice=choice,
                  models=tuple(s["model"] for s in started.slots), category=categorize(started.prompt))
    service.append(event)
    return event


