"""Checking and picking the answers of a comparison (boundary: the sandbox, the judge, the votes).

:func:`assess_and_select` runs what needs the outside world (the answers' code in
the sandbox, on the cluster when the comparison ran there; a judge model scoring
every pair in both orders, so the position of an answer in the prompt cannot decide)
and hands plain values to ``core/quality.py`` and ``core/selection.py``.
"""

from __future__ import annotations

import asyncio

from ..core.llm import AiexRequest
from ..core.quality import CodeCheck, assess
from ..core.selection import pick
from ..errors import AiexError

__all__ = ["assess_and_select", "model_ratings"]

_JUDGE_SCHEMA = {"type": "object", "properties": {"better": {"enum": ["A", "B", "tie"]}},
                 "required": ["better"], "additionalProperties": False}


def model_ratings(service, category: str) -> tuple[dict[str, float], int]:
    """(model -> Bradley-Terry rating, number of votes) from the log's votes in ``category``."""
    from ..core.ratings import bradley_terry, pairwise

    log = service.log
    if log is None:
        return {}, 0
    votes = [(e.models, e.choice) for _, e in log.events(kinds=["Voted"]) if e.category == category]
    counted = [v for v in votes if v[1] != "bad"]
    return bradley_terry(pairwise(counted)), len(counted)


async def _runs(slots: list[dict], on_cluster: bool, settings) -> list[CodeCheck | None]:
    from .code_sandbox import run_python

    texts = [s["text"] if s["status"] == "answered" else None for s in slots]
    client = None
    if on_cluster:
        from .cluster import get_runtime

        client = await asyncio.to_thread(get_runtime(settings).usable_client)
    if on_cluster and client is not None:
        from .deployment import resource_kwargs

        placement = await asyncio.to_thread(resource_kwargs, client, "cpu")
        futures = {i: client.submit(run_python, t, pure=False, **placement) for i, t in enumerate(texts)
                   if t is not None}
        done = await asyncio.to_thread(client.gather, list(futures.values()))
        results = dict(zip(futures, done))
    else:
        answered = [(i, t) for i, t in enumerate(texts) if t is not None]
        done = await asyncio.gather(*(asyncio.to_thread(run_python, t) for _, t in answered))
        results = {i: r for (i, _), r in zip(answered, done)}
    return [results.get(i) for i in range(len(slots))]


def _judge_prompt(question: str, first: str, second: str) -> str:
    return (f"Two assistants answered this question:\n\n{question}\n\n--- Answer A ---\n{first}\n\n--- Answer B ---\n"
            f"{second}\n\n--- end ---\nWhich answer is better: more correct, then more useful and clearer? "
            'Reply with JSON only: {"better": "A"}, {"better": "B"} or {"better": "tie"}.')


async def _judge(service, judge: str, question: str, slots: list[dict], settings) -> tuple[dict[str, float], list[str]]:
    """Judged wins per letter: every ordered pair asked once (both orders), a tie half a point each."""
    from .providers.fanout import Call, complete_many_async
    from .providers.selection import choose_model

    choice = await choose_model(judge, settings)
    answered = [s for s in slots if s["status"] == "answered"]
    pairs = [(a, b) for a in answered for b in answered if a is not b]
    calls = [Call(choice.spec, AiexRequest.ask(_judge_prompt(question, a["text"], b["text"]), model=choice.model,
                                               max_tokens=20, temperature=0, json_schema=_JUDGE_SCHEMA))
             for a, b in pairs]
    answers = await complete_many_async(calls, settings=settings)
    wins = {s["letter"]: 0.0 for s in answered}
    problems = []
    for (a, b), answer in zip(pairs, answers):
        if isinstance(answer, AiexError):
            problems.append(str(answer))
            continue
        verdict = (answer.data or {}).get("better")
        if verdict == "A":
            wins[a["letter"]] += 1
        elif verdict == "B":
            wins[b["letter"]] += 1
        elif verdict == "tie":
            wins[a["letter"]] += 0.5
            wins[b["letter"]] += 0.5
    return wins, problems


async def assess_and_select(service, request, slots: list[dict], *, on_cluster: bool, settings):
    """(assessments, (picked, how, why) or None, notes) for a finished comparison's slots."""
    from ..core.categories import categorize

    notes: list[str] = []
    runs = await _runs(slots, on_cluster, settings) if request.run_code else None
    items = assess(slots, runs)
    if request.select is None:
        return items, None, notes
    ratings, votes, wins = None, 0, None
    if request.select == "preferred":
        ratings, votes = model_ratings(service, categorize(request.prompt))
    if request.select == "judge":
        wins, problems = await _judge(service, request.judge, request.prompt, slots, settings)
        if problems:
            notes.append(f"the judge failed {len(problems)} of its comparisons: {problems[0]}")
    try:
        return items, pick(items, request.select, ratings=ratings, votes=votes, wins=wins), notes
    except ValueError as exc:
        notes.append(f"nothing selected: {exc}")
        return items, None, notes
