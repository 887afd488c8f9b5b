"""Sessions in real kernels (jupyter_client): a restart loses nothing, and two kernels on one shared
cluster hold each other's turns within a second."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("jupyter_client")

from kernel_client import execute, start_kernel  # noqa: E402

SURFACE = "get_ipython().magics_manager.registry['AiexMagics'].surface"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    home = tmp_path_factory.mktemp("sessions-home")
    aiex = Path(sys.executable).with_name("aiex")
    command = [str(aiex)] if aiex.exists() else [sys.executable, "-m", "aiex_kernel.interfaces.cli"]
    env = {**os.environ, "AIEX_DATA_DIR": str(home / "data"), "AIEX_CONFIG_DIR": str(home / "config")}
    subprocess.run([*command, "install", "kernel", "--prefix", str(home / "prefix")], check=True, capture_output=True,
                   env=env)
    return home, command


def kernel_env(home, llm_server, **extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    env.update({"AIEX_DATA_DIR": str(home / "data"), "AIEX_CONFIG_DIR": str(home / "config"),
                "OPENAI_API_KEY": "sk-test-sessions", "OPENAI_BASE_URL": llm_server.url + "/v1",
                "AIEX_MAX_RETRIES": "0", "JUPYTER_CONFIG_DIR": str(home / "jupyter"),
                "IPYTHONDIR": str(home / "ipython"), **extra})
    return env


def value(kc, code):
    """The text/plain value of an expression run in the kernel."""
    reply, msgs = execute(kc, code)
    assert reply["status"] == "ok", reply
    return next(m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result")


def users(server):
    return [m["content"] for m in server.last["body"]["messages"] if m["role"] == "user"]


def test_a_kernel_restart_loses_nothing(home, llm_server, tmp_path):
    home_dir, _ = home
    env = kernel_env(home_dir, llm_server, JPY_SESSION_NAME=str(tmp_path / "analysis.ipynb"))
    km, kc = start_kernel(home_dir / "prefix", env, tmp_path)
    try:
        default = value(kc, f"{SURFACE}.service.current_session()")
        assert default.startswith("'analysis-")  # named from the notebook and its start time
        assert execute(kc, "%aiex start session restartable")[0]["status"] == "ok"
        llm_server.queue_replies("Noted: 42.")
        assert execute(kc, "%%aiex --no-context\nremember 42")[0]["status"] == "ok"
        km.restart_kernel(now=True)
        kc.wait_for_ready(timeout=60)
        assert execute(kc, "%aiex resume session restartable")[0]["status"] == "ok"
        assert execute(kc, "%%aiex --no-context\nwhat did I say?")[0]["status"] == "ok"
        assert users(llm_server) == ["remember 42", "what did I say?"]
        assert [m["content"] for m in llm_server.last["body"]["messages"] if m["role"] == "assistant"] == ["Noted: 42."]
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_two_kernels_on_one_shared_cluster_see_each_others_turns(home, llm_server, tmp_path):
    home_dir, command = home
    env = kernel_env(home_dir, llm_server)
    started = subprocess.run([*command, "start", "cluster", "--workers", "1"], capture_output=True, text=True,
                             env={**os.environ, **{k: v for k, v in env.items() if k.startswith("AIEX_")}},
                             timeout=120)
    assert started.returncode == 0, started.stderr
    a = start_kernel(home_dir / "prefix", env, tmp_path)
    b = start_kernel(home_dir / "prefix", env, tmp_path)
    (km_a, kc_a), (km_b, kc_b) = a, b
    try:
        assert execute(kc_a, "%aiex start session shared")[0]["status"] == "ok"
        assert execute(kc_b, "%aiex resume session shared")[0]["status"] == "ok"
        for kc in (kc_a, kc_b):  # both have joined the shared cluster and listen to its topic
            deadline = time.monotonic() + 30
            while value(kc, f"{SURFACE}._follower.subscribed") != "True":
                assert time.monotonic() < deadline, "the follower never subscribed to the cluster's topic"
                time.sleep(0.2)
        llm_server.reply_text = "Hello, B."
        assert execute(kc_a, "%%aiex --no-context\nhello from A")[0]["status"] == "ok"
        answered_at = time.monotonic()
        probe = (f"s = {SURFACE}.service.cached_state('shared')\n"
                 "[(t.prompt, t.status, t.answer) for t in s.turns]")
        while True:
            turns = value(kc_b, probe)
            if "'answered'" in turns:
                break
            assert time.monotonic() - answered_at < 1.0, f"B did not hold A's turn within 1 s: {turns}"
            time.sleep(0.05)
        assert time.monotonic() - answered_at < 1.0
        assert "hello from A" in turns and "Hello, B." in turns
        assert int(value(kc_b, f"{SURFACE}._follower.announced")) >= 1  # the news came through the cluster
        llm_server.reply_text = "Hello, A."
        assert execute(kc_b, "%%aiex --no-context\nand hello from B")[0]["status"] == "ok"
        assert users(llm_server) == ["hello from A", "and hello from B"]  # B's memory holds A's turn
    finally:
        for km, kc in (a, b):
            kc.stop_channels()
            km.shutdown_kernel(now=True)
        subprocess.run([*command, "stop", "cluster"], capture_output=True, timeout=60,
                       env={**os.environ, **{k: v for k, v in env.items() if k.startswith("AIEX_")}})
