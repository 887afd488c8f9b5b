"""What a real kernel survives: interrupts while a local cluster runs, and the embedded model's process dying.

One kernel (jupyter_client) serves the whole module: starting it, its cluster and the model is the slow part.
"""

import json
import os
import signal
import threading
import time

import psutil
import pytest

pytest.importorskip("jupyter_client")

from kernel_client import execute, start_kernel  # noqa: E402


@pytest.fixture(scope="module")
def big_project(tmp_path_factory):
    """Enough files that an index build on the cluster takes seconds."""
    root = tmp_path_factory.mktemp("resilience") / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'proj'\n")
    body = "".join(f"def helper_{j}(value):\n    return value * {j} + len(str(value))\n\n\n" for j in range(25))
    for i in range(3000):
        (root / "pkg" / f"mod_{i}.py").write_text(f'"""Module {i}."""\n\n' + body)
    return root


@pytest.fixture(scope="module")
def resilient_kernel(tmp_path_factory, big_project):
    import subprocess
    import sys
    from pathlib import Path

    home = tmp_path_factory.mktemp("kernel-home")
    prefix = home / "prefix"
    aiex = Path(sys.executable).with_name("aiex")
    command = [str(aiex)] if aiex.exists() else [sys.executable, "-m", "aiex_kernel.interfaces.cli"]
    subprocess.run([*command, "install", "kernel", "--prefix", str(prefix)], check=True, capture_output=True,
                   env={**os.environ, "AIEX_DATA_DIR": str(home / "data"), "AIEX_CONFIG_DIR": str(home / "config")})
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIEX_", "OPENAI_", "ANTHROPIC_", "OLLAMA_"))}
    env.update({"AIEX_DATA_DIR": str(home / "data"), "AIEX_CONFIG_DIR": str(home / "config"),
                "AIEX_WORKERS": "2", "JUPYTER_CONFIG_DIR": str(home / "jupyter"), "IPYTHONDIR": str(home / "ipy"),
                "OLLAMA_HOST": "http://127.0.0.1:9", "LMSTUDIO_BASE_URL": "http://127.0.0.1:9/v1"})
    km, kc = start_kernel(prefix, env, big_project)
    yield km, kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def interrupted(km, kc, code, after: float):
    """Run ``code`` and interrupt the kernel ``after`` seconds in; the reply and the time it came back."""
    timer = threading.Timer(after, km.interrupt_kernel)
    timer.start()
    try:
        return execute(kc, code, timeout=120)
    finally:
        timer.cancel()


def magic_json(kc, line: str, timeout: float = 180) -> dict:
    """The ``--json`` result of ``%aiex LINE`` in the kernel."""
    reply, msgs = execute(kc, f"import json\n__r = get_ipython().run_line_magic('aiex', {line + ' --json'!r})\n"
                              "print('<<' + json.dumps(__r, default=str) + '>>')", timeout=timeout)
    assert reply["status"] == "ok", reply
    out = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
    return json.loads(out[out.index("<<") + 2:out.rindex(">>")])


def test_interrupts_stop_aiex_work_but_not_the_cluster(resilient_kernel):
    km, kc = resilient_kernel
    first = magic_json(kc, "build context --cluster always")
    assert first["where"].startswith("tcp://127.0.0.1:")
    workers_before = execute(kc, "from aiex_kernel.runtime.cluster import get_runtime\n"
                                 "sorted(get_runtime().client.scheduler_info()['workers'])")[1]

    started = time.monotonic()
    reply, _ = interrupted(km, kc, "%aiex build context --cluster always --rebuild",
                           after=max(0.3, first["seconds"] / 3))  # while the workers index
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt", reply
    assert time.monotonic() - started < 60
    reply, _ = interrupted(km, kc, "import time\ntime.sleep(20)", after=1.0)
    assert reply["status"] == "error" and reply["ename"] == "KeyboardInterrupt"

    again = magic_json(kc, "build context --cluster always --rebuild")
    assert again["where"] == first["where"] and again["files"] == first["files"] == 3000
    workers_after = execute(kc, "sorted(get_runtime().client.scheduler_info()['workers'])")[1]
    same = [m["content"]["data"]["text/plain"] for m in (*workers_before, *workers_after)
            if m["msg_type"] == "execute_result"]
    assert len(same) == 2 and same[0] == same[1]  # the very same workers: none died


def _model_process(km) -> psutil.Process | None:
    kernel = psutil.Process(km.provisioner.pid)
    for child in kernel.children(recursive=True):
        try:
            if any("local_worker" in part for part in child.cmdline()):
                return child
        except psutil.Error:
            continue
    return None


def test_a_killed_model_process_leaves_the_kernel_alive(resilient_kernel):
    km, kc = resilient_kernel
    reply, _ = execute(kc, "%%aiex local --no-context --max-tokens 4\nName one fruit.", timeout=120)
    assert reply["status"] == "ok", reply
    victim = _model_process(km)
    assert victim is not None

    def kill_when_streaming():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.3)
            try:
                victim.send_signal(signal.SIGKILL)
                return
            except psutil.Error:
                return

    msg_id = kc.execute("%%aiex local --no-context --max-tokens 400\nWrite a long story about a dragon.")
    killer = threading.Thread(target=kill_when_streaming)
    killer.start()
    reply = kc.get_shell_msg(timeout=120)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kc.get_shell_msg(timeout=120)
    killer.join()
    content = reply["content"]
    assert content["status"] == "error" and content["ename"] == "ProviderError", content
    assert "SIGKILL" in content["evalue"] and "next request starts a fresh" in content["evalue"]

    reply, msgs = execute(kc, "6 * 7")
    if reply["status"] == "aborted":  # ipykernel aborts what arrives while it still stops on the error
        time.sleep(0.5)
        reply, msgs = execute(kc, "6 * 7")
    assert reply["status"] == "ok"  # the same kernel, alive
    reply, msgs = execute(kc, "%%aiex local --no-context --max-tokens 8\nName one fruit.", timeout=120)
    assert reply["status"] == "ok", reply
    answer = [m for m in msgs if m["msg_type"] == "execute_result"][-1]["content"]["data"]["text/markdown"]
    assert answer.strip()
    fresh = _model_process(km)
    assert fresh is not None and fresh.pid != victim.pid


def test_progress_is_a_widget_that_leaves_nothing_behind(resilient_kernel):
    _, kc = resilient_kernel
    reply, msgs = execute(kc, "%aiex build context --rebuild --cluster never", timeout=180)
    assert reply["status"] == "ok", reply
    widgets = [m for m in msgs if m["msg_type"] == "display_data"
               and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    assert widgets, [m["msg_type"] for m in msgs]  # an ipywidgets bar, not red stderr text
    display_id = widgets[0]["content"]["transient"]["display_id"]
    updates = [m for m in msgs if m["msg_type"] == "update_display_data"
               and m["content"]["transient"]["display_id"] == display_id]
    assert updates and updates[-1]["content"]["data"] == {"text/plain": ""}  # removed when done
    assert not [m for m in msgs if m["msg_type"] == "stream" and m["content"]["name"] == "stderr"]
