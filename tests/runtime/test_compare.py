"""Comparisons for real: several loopback servers (one fine, one slow, one rate-limited, one gone), the
event log in a tmp dir, in this process and on a real cluster."""

import time

import pytest
from llm_server import LLMServer, closed_url

from aiex_kernel.config import load_settings
from aiex_kernel.core import events as ev
from aiex_kernel.core.requests import CompareRequest, ContextOptions
from aiex_kernel.runtime.service import AssistantService

NO_CONTEXT = ContextOptions(enabled=False)


@pytest.fixture
def servers(monkeypatch, isolated_env, llm_server):
    """openai: fine; lmstudio: slow (0.8 s); ollama: rate-limited (429 every time); dead: an endpoint nobody serves."""
    with LLMServer(latency=0.8) as slow, LLMServer() as limited:
        limited.fail_next(429, times=1000, retry_after=0)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-compare")
        monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
        monkeypatch.setenv("LMSTUDIO_BASE_URL", slow.url + "/v1")
        monkeypatch.setenv("OLLAMA_HOST", limited.url)
        monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
        config = isolated_env / "config"
        config.mkdir(exist_ok=True)
        (config / "config.toml").write_text(f'[endpoints.dead]\nbase_url = "{closed_url()}/v1"\n')
        yield {"fine": llm_server, "slow": slow, "limited": limited}


def service():
    return AssistantService(lambda: load_settings(), origin="kernel")


def by_slot(events):
    started = next(e for e in events if isinstance(e, ev.CompareStarted))
    turns = {s["turn"]: s["model"] for s in started.slots}
    finals = {turns[e.turn]: e for e in events if isinstance(e, (ev.Answered, ev.Failed)) and e.turn in turns}
    return started, finals


def test_every_slot_ends_in_an_answer_or_an_error(servers):
    svc = service()
    models = ("openai:gpt-4o-mini", "lmstudio:gpt-4o", "ollama:llama3.2:3b", "dead:some-model")
    events = list(svc.compare_sync(CompareRequest(prompt="what is 2+2?", models=models, context=NO_CONTEXT)))
    started, finals = by_slot(events)
    assert started.where == "in-process" and [s["model"] for s in started.slots] == list(models)
    assert set(finals) == set(models)
    assert isinstance(finals["openai:gpt-4o-mini"], ev.Answered) and isinstance(finals["lmstudio:gpt-4o"], ev.Answered)
    assert finals["ollama:llama3.2:3b"].error == "RateLimited"
    assert finals["dead:some-model"].error == "ProviderUnavailable"
    order = [e.turn for e in events if isinstance(e, (ev.Answered, ev.Failed))]
    slow_turn = next(s["turn"] for s in started.slots if s["model"] == "lmstudio:gpt-4o")
    assert order[-1] == slow_turn  # the slow one finished last; the others did not wait for it
    deltas = {e.turn for e in events if isinstance(e, ev.Delta)}
    assert {s["turn"] for s in started.slots[:2]} <= deltas  # the answers streamed, tagged by slot
    stored = {e.KIND for _, e in svc.log.read(started.session)}
    assert {"CompareStarted", "TurnStarted", "Answered", "Failed"} <= stored
    svc.close()


def test_estimated_models_record_their_estimate_beside_the_reported_count(servers, monkeypatch):
    """Anthropic has no offline tokenizer: each compared answer stores aiex's estimate of what was sent, beside
    the input_tokens the answer reports, so the family's margin recalibrates; an exactly counted model stores none."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-compare")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", servers["fine"].url)
    svc = service()
    _, finals = by_slot(list(svc.compare_sync(CompareRequest(prompt="explain the cart total " * 20,
                                                              models=("anthropic:claude-sonnet-4-0",
                                                                      "openai:gpt-4o-mini"), context=NO_CONTEXT))))
    claude, gpt = finals["anthropic:claude-sonnet-4-0"], finals["openai:gpt-4o-mini"]
    assert isinstance(claude, ev.Answered) and claude.input_tokens > 0 and claude.estimated_tokens > 20
    assert gpt.estimated_tokens is None  # o200k counts it exactly
    assert svc.log.estimates("anthropic") == [(claude.estimated_tokens, claude.input_tokens)]
    svc.close()


def test_the_breaker_opens_after_failures_and_closes_after_the_cooldown(servers, monkeypatch):
    from aiex_kernel.core import breaker

    monkeypatch.setattr(breaker, "COOLDOWN", 1.0)
    limited = servers["limited"]
    svc = service()
    for _ in range(3):
        list(svc.compare_sync(CompareRequest(prompt="hi", models=("openai:gpt-4o-mini", "ollama:llama3.2:3b"),
                                             context=NO_CONTEXT)))
    assert svc.breaker("ollama").state == "open"
    sent = len(limited.requests)
    _, finals = by_slot(list(svc.compare_sync(CompareRequest(prompt="hi", models=("openai:gpt-4o-mini",
                                                                                   "ollama:llama3.2:3b"),
                                                              context=NO_CONTEXT))))
    failed = finals["ollama:llama3.2:3b"]
    assert failed.error == "ProviderUnavailable" and "circuit breaker is open" in failed.message
    assert len(limited.requests) == sent  # refused here: nothing reached the server
    assert isinstance(finals["openai:gpt-4o-mini"], ev.Answered)  # the other model answered meanwhile
    time.sleep(1.1)
    assert svc.breaker("ollama").state == "half-open"
    limited.reset()  # the server is back
    _, finals = by_slot(list(svc.compare_sync(CompareRequest(prompt="hi", models=("openai:gpt-4o-mini",
                                                                                   "ollama:llama3.2:3b"),
                                                              context=NO_CONTEXT))))
    assert isinstance(finals["ollama:llama3.2:3b"], ev.Answered) and svc.breaker("ollama").state == "closed"
    svc.close()


def test_cancelling_stops_every_call_on_the_server_side(servers):
    fine = servers["fine"]
    fine.reply_text = " ".join(f"w{i}" for i in range(400))
    fine.chunk_delay = 0.05
    svc = service()
    stream = svc.compare_sync(CompareRequest(prompt="long", models=("openai:gpt-4o-mini", "openai:gpt-4o"),
                                             context=NO_CONTEXT))
    seen = 0
    for event in stream:
        if isinstance(event, ev.Delta):
            seen += 1
            if seen >= 4:
                stream.cancel()
    deadline = time.monotonic() + 5
    while fine.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fine.in_flight == 0  # both streams were closed: the server stopped writing
    session = svc.current_session()
    cancelled = [e for _, e in svc.log.read(session) if isinstance(e, ev.Cancelled)]
    assert len(cancelled) == 2 and any(c.partial.startswith("w0") for c in cancelled)
    svc.close()


def test_on_a_cluster_with_the_same_events(servers, runtime):
    svc = service()
    events = list(svc.compare_sync(CompareRequest(prompt="q", models=("openai:gpt-4o-mini", "ollama:llama3.2:3b"),
                                                  context=NO_CONTEXT, cluster="always")))
    started, finals = by_slot(events)
    assert started.where == runtime.client.scheduler.address
    assert isinstance(finals["openai:gpt-4o-mini"], ev.Answered) and finals["ollama:llama3.2:3b"].error == "RateLimited"
    assert any(isinstance(e, ev.Delta) for e in events)
    # another client of the same cluster (a new runtime, as after a restart): its own actors, no stale proxy
    from aiex_kernel.runtime.cluster import Runtime, set_runtime

    other = Runtime(load_settings(), cluster=runtime._cluster)
    old = set_runtime(other)
    try:
        _, finals = by_slot(list(svc.compare_sync(CompareRequest(prompt="again", models=("openai:gpt-4o-mini",
                                                                                      "openai:gpt-4o"),
                                                                  context=NO_CONTEXT, cluster="always"))))
        assert all(isinstance(f, ev.Answered) for f in finals.values())
    finally:
        set_runtime(old)
        other.close()
    svc.close()


def test_a_stream_actor_lives_while_its_client_uses_it(runtime):
    """An actor's task is forgotten once no future of it is held, and a call on it then never ends in
    distributed: aiex holds the future, and a call on an actor that is gone fails instead of waiting."""
    import gc

    from aiex_kernel.errors import ClusterError
    from aiex_kernel.runtime.providers import streaming

    client = runtime.ensure_workers()
    worker = next(iter(client.scheduler_info()["workers"]))
    with client.as_current():
        future, actor = streaming._actor_for(client, worker)
    gc.collect()
    time.sleep(0.5)  # what the scheduler would do with a released key, it has done by now
    state = client.run_on_scheduler(lambda dask_scheduler, key=future.key: dask_scheduler.tasks[key].state
                                    if key in dask_scheduler.tasks else "forgotten")
    assert state == "memory"
    with client.as_current():
        assert streaming._wait_for_actor(future, actor.cancel("no-such-topic"), worker) is False

    class Gone:  # a task that is no longer in memory, and a call that never ends (as distributed leaves it)
        status = "lost"

    class Never:
        def result(self, timeout=None):
            time.sleep(timeout)
            raise TimeoutError

    with pytest.raises(ClusterError, match="is gone"):
        streaming._wait_for_actor(Gone(), Never(), worker)


def test_a_worker_without_the_key_says_so_in_its_slot(servers, monkeypatch):
    from distributed import LocalCluster

    from aiex_kernel.runtime.cluster import Runtime, set_runtime

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                      env={"OPENAI_API_KEY": "", "OPENAI_BASE_URL": servers["fine"].url + "/v1"}) as cluster:
        rt = Runtime(load_settings(), cluster=cluster)
        old = set_runtime(rt)
        try:
            svc = service()
            _, finals = by_slot(list(svc.compare_sync(CompareRequest(
                prompt="q", models=("openai:gpt-4o-mini", "lmstudio:gpt-4o"), context=NO_CONTEXT, cluster="always"))))
            missing = finals["openai:gpt-4o-mini"]
            assert missing.error == "ProviderNotConfigured" and "on the worker tcp://" in missing.message
            assert "OPENAI_API_KEY" in missing.message
            assert isinstance(finals["lmstudio:gpt-4o"], ev.Answered)
            svc.close()
        finally:
            set_runtime(old)
            rt.close()


def test_selection_checks_and_votes_that_survive_a_restart(servers, monkeypatch):
    fine = servers["fine"]
    fine.reply_text = "```python\ndef add(a, b):\n    '''\n    >>> add(1, 2)\n    3\n    '''\n    return a + b\n```"
    svc = service()
    events = list(svc.compare_sync(CompareRequest(prompt="write add", models=("openai:gpt-4o-mini", "openai:gpt-4o"),
                                                  context=NO_CONTEXT, select="cheapest-passing", run_code=True)))
    assessed = next(e for e in events if isinstance(e, ev.Assessed))
    assert all(c["code_parses"] and c["code_blocks"] == 1 for c in assessed.checks)
    ran = {c["code_ran"] for c in assessed.checks}
    assert ran in ({True}, {None})  # run in the sandbox where a network namespace can be made, else not run
    selected = next(e for e in events if isinstance(e, ev.Selected))
    assert selected.model == "openai:gpt-4o-mini" and "cheapest" in selected.why
    compare_id = next(e for e in events if isinstance(e, ev.CompareStarted)).compare
    voted = svc.vote(compare_id, "b")
    assert voted.category == "generate" and voted.models == ("openai:gpt-4o-mini", "openai:gpt-4o")
    with pytest.raises(Exception, match="Vote one of a, b, tie or bad"):
        svc.vote(compare_id, "z")
    svc.close()
    fresh = service()  # another process, later: the vote is in the log
    from aiex_kernel.runtime.selection import model_ratings

    ratings, votes = model_ratings(fresh, "generate")
    assert votes == 1 and ratings["openai:gpt-4o"] > ratings["openai:gpt-4o-mini"]
    fresh.close()


def test_blind_comparisons_shuffle_and_dry_runs_estimate(servers):
    svc = service()
    models = ("openai:gpt-4o-mini", "openai:gpt-4o", "lmstudio:gpt-4o", "ollama:llama3.2:3b")
    orders = set()
    for _ in range(6):
        events = list(svc.compare_sync(CompareRequest(prompt="q", models=models, context=NO_CONTEXT, blind=True,
                                                      dry_run=True)))
        started = next(e for e in events if isinstance(e, ev.CompareStarted))
        orders.add(tuple(s["model"] for s in started.slots))
        planned = events[-1]
    assert len(orders) > 1  # shuffled
    estimates = {e["model"]: e for e in planned.plan["estimates"]}
    assert estimates["openai:gpt-4o"]["max_cost_usd"] > estimates["openai:gpt-4o-mini"]["max_cost_usd"] > 0
    assert estimates["ollama:llama3.2:3b"]["max_cost_usd"] == 0.0
    assert servers["fine"].requests == [] and svc.log.last_id() == 0  # nothing sent, nothing stored
    svc.close()
