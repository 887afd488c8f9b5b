"""Many model calls at once: as async tasks on a real cluster, bounded per provider."""

import pickle
import time

import pytest

from aiex_kernel.config import load_settings
from aiex_kernel.core.llm import AiexRequest
from aiex_kernel.errors import ProviderError
from aiex_kernel.runtime.providers.fanout import Call, complete_many
from aiex_kernel.runtime.providers.registry import provider_specs

KEY = "sk-test-fanout-secret"


@pytest.fixture
def openai_env(llm_server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    return llm_server


def calls_for(settings, n):
    spec = provider_specs(settings)["openai"]
    # prompts of different lengths, so each answer can be matched to its call by its input tokens
    return [Call(spec, AiexRequest.ask(" ".join(["word"] * (i + 1)), model="gpt-4o-mini")) for i in range(n)]


def test_calls_run_concurrently_on_the_cluster_in_order(openai_env, runtime):
    openai_env.latency = 0.3
    settings = load_settings(max_retries=0)
    calls = calls_for(settings, 16)
    complete_many(calls[:2], settings=settings, runtime=runtime)  # warm the workers' providers
    openai_env.reset()
    started = time.perf_counter()
    answers = complete_many(calls, settings=settings, runtime=runtime)
    elapsed = time.perf_counter() - started
    assert [a.input_tokens for a in answers] == list(range(1, 17))
    assert all(a.text == openai_env.reply_text for a in answers)
    # 16 calls on 2 one-thread workers: concurrent, not 16 x 0.3 s one after the other
    assert openai_env.max_in_flight >= 8, openai_env.max_in_flight
    assert elapsed < 8 * 0.3
    assert {r["headers"]["authorization"] for r in openai_env.requests} == {f"Bearer {KEY}"}


def test_concurrency_limit_holds_cluster_wide(openai_env, runtime):
    openai_env.latency = 0.1
    settings = load_settings(max_retries=0, concurrency={"openai": 3})
    answers = complete_many(calls_for(settings, 12), settings=settings, runtime=runtime)
    assert len(answers) == 12
    assert 2 <= openai_env.max_in_flight <= 3


def test_errors_are_raised_or_returned_in_place(openai_env, runtime):
    settings = load_settings(max_retries=0)
    calls = calls_for(settings, 4)
    openai_env.fail_next(500, times=1)
    with pytest.raises(ProviderError, match="answered 500"):
        complete_many(calls, settings=settings, runtime=runtime)
    openai_env.fail_next(429, times=1)
    answers = complete_many(calls, settings=settings, runtime=runtime, return_exceptions=True)
    failed = [a for a in answers if isinstance(a, ProviderError)]
    assert len(failed) == 1 and "rate limiting" in str(failed[0])
    assert sum(1 for a in answers if not isinstance(a, ProviderError)) == 3


def test_in_process_without_a_cluster(openai_env):
    openai_env.latency = 0.2
    settings = load_settings(max_retries=0)
    started = time.perf_counter()
    answers = complete_many(calls_for(settings, 10), settings=settings, cluster=False)
    assert [a.input_tokens for a in answers] == list(range(1, 11))
    assert time.perf_counter() - started < 5 * 0.2


def test_no_key_travels_with_the_calls(openai_env):
    settings = load_settings()
    calls = calls_for(settings, 2)
    assert KEY.encode() not in pickle.dumps(calls)
    provider = calls[0].spec.build()
    assert KEY not in repr(provider) and KEY not in repr(calls[0])


def test_workers_use_their_own_environment_for_keys(llm_server, monkeypatch):
    """A worker process started with another key uses it: keys come from the worker's env."""
    from distributed import LocalCluster

    from aiex_kernel.runtime.cluster import Runtime

    monkeypatch.setenv("OPENAI_API_KEY", "sk-client-side")
    settings = load_settings(max_retries=0)
    worker_env = {"OPENAI_API_KEY": "sk-worker-side", "OPENAI_BASE_URL": llm_server.url + "/v1"}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, env=worker_env) as cluster:
        rt = Runtime(settings, cluster=cluster)
        try:
            answers = complete_many(calls_for(settings, 2), settings=settings, runtime=rt)
        finally:
            rt.close()
    assert len(answers) == 2
    assert {r["headers"]["authorization"] for r in llm_server.requests} == {"Bearer sk-worker-side"}
