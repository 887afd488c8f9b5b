"""The aiex kernel, for real: installed into a temporary prefix, started by jupyter_client."""

import json
import subprocess
import sys

import pytest

pytest.importorskip("jupyter_client")

from kernel_client import execute, start_kernel  # noqa: E402


@pytest.fixture
def kernel_prefix(tmp_path, cli):
    prefix = tmp_path / "prefix"
    r = cli("install", "kernel", "--prefix", str(prefix), "--json")
    assert r.returncode == 0, r.stderr
    return prefix


@pytest.fixture
def kernel(kernel_prefix, llm_server, isolated_env, tmp_path):
    import os

    env = {**os.environ, "OPENAI_API_KEY": "sk-test-kernel", "OPENAI_BASE_URL": llm_server.url + "/v1",
           "AIEX_MAX_RETRIES": "0"}
    km, kc = start_kernel(kernel_prefix, env, tmp_path)
    yield kc
    kc.stop_channels()
    km.shutdown_kernel(now=True)


def test_kernelspec_runs_this_python(kernel_prefix):
    spec = json.loads((kernel_prefix / "share/jupyter/kernels/aiex/kernel.json").read_text())
    assert spec["argv"][1:3] == ["-m", "aiex_kernel"]
    # the interpreter the `aiex` command runs on, the same as this one (python vs python3 names)
    check = subprocess.run([spec["argv"][0], "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True)
    assert check.stdout.strip() == sys.prefix
    assert spec["language"] == "python"


def test_uninstall(kernel_prefix, cli):
    r = cli("uninstall", "kernel", "--prefix", str(kernel_prefix))
    assert r.returncode == 0 and not (kernel_prefix / "share/jupyter/kernels/aiex").exists()
    r = cli("uninstall", "kernel", "--prefix", str(kernel_prefix))
    assert r.returncode == 1 and "nothing to remove" in r.stderr


def test_kernel_streams_cell_magic_and_slash_commands(kernel, llm_server):
    reply, _ = execute(kernel, "x = 6 * 7")
    assert reply["status"] == "ok"
    info = kernel.kernel_info(reply=True)["content"]
    assert info["implementation"] == "aiex"

    llm_server.reply_text = "The answer is forty-two, said slowly enough to stream in pieces."
    llm_server.chunk_delay = 0.03
    reply, msgs = execute(kernel, "%%aiex\nWhat is {x}?")
    assert reply["status"] == "ok", reply
    types = [m["msg_type"] for m in msgs]
    assert "display_data" in types and types.count("update_display_data") >= 2, types
    final = [m for m in msgs if m["msg_type"] == "execute_result"][-1]
    assert final["content"]["data"]["text/markdown"] == llm_server.reply_text
    assert llm_server.last["body"]["messages"][-1]["content"] == "What is 42?"

    llm_server.chunk_delay = 0.0
    reply, msgs = execute(kernel, "/ask what is\nthis object?")
    assert reply["status"] == "ok", reply
    assert llm_server.last["body"]["messages"][-1]["content"] == "what is\nthis object?"
    assert [m["role"] for m in llm_server.last["body"]["messages"]] == ["system", "user"]  # no memory

    reply, _ = execute(kernel, "/chat -m openai:gpt-4o and in French?")
    assert reply["status"] == "ok", reply
    body = llm_server.last["body"]
    assert body["model"] == "gpt-4o" and body["messages"][-1]["content"] == "and in French?"
    assert len(body["messages"]) == 4  # system, the %%aiex exchange (the /ask was standalone), this question

    reply, _ = execute(kernel, "def f(a):\n    return a[3]\nf([1])")
    assert reply["status"] == "error"
    reply, _ = execute(kernel, "/fix")
    assert reply["status"] == "ok"
    assert "IndexError" in llm_server.last["body"]["messages"][-1]["content"]

    reply, _ = execute(kernel, "/explain f")
    assert "return a[3]" in llm_server.last["body"]["messages"][-1]["content"]


def test_help_and_prose(kernel, llm_server):
    n = len(llm_server.requests)
    reply, _ = execute(kernel, "len??")
    assert reply["status"] == "ok" and reply["payload"] and reply["payload"][0]["source"] == "page"
    reply, _ = execute(kernel, "what does this notebook do")
    assert reply["status"] == "error" and reply["ename"] == "SyntaxError"  # prose_as_ask is off by default
    assert len(llm_server.requests) == n
    reply, _ = execute(kernel, "get_ipython().kernel.prose_as_ask = True")
    reply, _ = execute(kernel, "what does this notebook do")
    assert reply["status"] == "ok"
    assert llm_server.last["body"]["messages"][-1]["content"] == "what does this notebook do"
    reply, _ = execute(kernel, "print('still python')")
    assert reply["status"] == "ok"


def test_errors_are_one_line(kernel, llm_server):
    llm_server.fail_next(500)
    reply, msgs = execute(kernel, "%%aiex\nhi")
    assert reply["status"] == "error" and reply["ename"] == "ProviderError"
    errors = [m for m in msgs if m["msg_type"] == "error"]
    assert errors and errors[0]["content"]["traceback"] == ["ProviderError: OpenAI answered 500: simulated error 500"]


def test_python_m_aiex_kernel_help():
    out = subprocess.run([sys.executable, "-m", "aiex_kernel", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "kernel" in out.stdout.lower()


def test_slash_options_and_mistakes(kernel, llm_server):
    n = len(llm_server.requests)
    reply, msgs = execute(kernel, "/chat --dry-run -m openai:gpt-4o hello")
    assert reply["status"] == "ok" and len(llm_server.requests) == n  # nothing sent
    reply, msgs = execute(kernel, "/chat --bogus hello")
    assert reply["status"] == "error" and reply["ename"] == "UsageError"
    assert len(llm_server.requests) == n


def _displays(msgs):
    """The last bundle shown in each display (display_id -> data), and the cell's value."""
    shown = {}
    for m in msgs:
        if m["msg_type"] in ("display_data", "update_display_data"):
            shown[m["content"].get("transient", {}).get("display_id")] = m["content"]["data"]
    value = next((m["content"]["data"] for m in msgs if m["msg_type"] == "execute_result"), None)
    return shown, value


def test_answers_stay_where_they_streamed(kernel, llm_server):
    llm_server.reply_text = "Two plus two is four."
    reply, msgs = execute(kernel, "%aiex ask --no-context what is 2+2\nprint('after')")
    assert reply["status"] == "ok"
    shown, value = _displays(msgs)
    assert value is None and any(d.get("text/markdown") == "Two plus two is four." for d in shown.values())
    assert any(m["msg_type"] == "stream" and "after" in m["content"]["text"] for m in msgs)
    reply, msgs = execute(kernel, "%aiex ask --no-context what is 2+2")
    shown, value = _displays(msgs)  # the cell's value shows it: the streamed display was emptied
    assert value["text/markdown"] == "Two plus two is four."
    assert all(d.get("text/markdown") != "Two plus two is four." for d in shown.values())


def test_an_interrupt_keeps_the_partial_answer_in_one_line(kernel, llm_server):
    llm_server.reply_text = " ".join(f"w{i}" for i in range(200))
    llm_server.chunk_delay = 0.05
    msg_id = kernel.execute("%%aiex --no-context\ntell me a long story")
    msgs = []
    interrupted = False
    while True:  # interrupt once the answer has started to stream
        msg = kernel.get_iopub_msg(timeout=60)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            break
        msgs.append(msg)
        if not interrupted and msg["msg_type"] in ("display_data", "update_display_data") and \
                msg["content"]["data"].get("text/markdown", "").startswith("w0 w1"):
            kernel.parent.interrupt_kernel()
            interrupted = True
    reply = kernel.get_shell_msg(timeout=60)
    while reply["parent_header"].get("msg_id") != msg_id:
        reply = kernel.get_shell_msg(timeout=60)
    reply = reply["content"]
    llm_server.chunk_delay = 0.0
    assert reply["status"] == "error" and reply["ename"] == "Interrupted"
    errors = [m for m in msgs if m["msg_type"] == "error"]
    assert errors[0]["content"]["traceback"] == ["Interrupted: stopped; the partial answer above is kept"]
    shown, _ = _displays(msgs)
    last = [d["text/markdown"] for d in shown.values() if d.get("text/markdown")][-1]
    assert last.startswith("w0 w1") and last.endswith("*(stopped)*")
    reply, _ = execute(kernel, "1 + 1")
    assert reply["status"] == "ok"


def test_notebook_help_usage_and_formats(kernel, llm_server):
    reply, msgs = execute(kernel, "%aiex help")
    text = "".join(m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
    assert "to the terminal" not in text and "%aiex insert" in text and "%%aiex" in text
    reply, msgs = execute(kernel, "%%aiex --help")
    assert reply["status"] == "ok" and "usage: %%aiex" in "".join(
        m["content"]["text"] for m in msgs if m["msg_type"] == "stream")
    reply, _ = execute(kernel, "%aiex bogus")
    assert reply["status"] == "error"
    for verb in ("explain", "fix", "insert", "alias", "reset", "ask", "chat"):
        assert verb in reply["evalue"], verb
    llm_server.reply_text = "The derivative of a square is twice the number, which grows linearly."
    reply, msgs = execute(kernel, "%%aiex -f math --no-context\nderivative of x^2")
    _, value = _displays(msgs)
    assert "text/latex" not in value and value["text/markdown"].startswith("The derivative")
    assert any("not LaTeX math" in m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    llm_server.reply_text = "not json at all"
    reply, msgs = execute(kernel, "%%aiex -f json --no-context\ngive json")
    assert any("not valid JSON" in m["content"].get("text", "") for m in msgs if m["msg_type"] == "stream")
    reply, msgs = execute(kernel, "%aiex list models")
    html = [m["content"]["data"]["text/html"] for m in msgs if m["msg_type"] == "display_data"
            and "text/html" in m["content"]["data"]]
    assert html and "openai" in html[0]


def test_slash_cells_in_a_plain_python3_kernel(llm_server, isolated_env, tmp_path):
    import os

    from jupyter_client.manager import KernelManager

    env = {**os.environ, "OPENAI_API_KEY": "sk-test-plain", "OPENAI_BASE_URL": llm_server.url + "/v1",
           "AIEX_MAX_RETRIES": "0"}
    km = KernelManager(kernel_name="python3")
    km.start_kernel(env=env, cwd=str(tmp_path))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=60)
        assert execute(kc, "%load_ext aiex_kernel")[0]["status"] == "ok"
        reply, msgs = execute(kc, "/ask What is a generator?")
        assert reply["status"] == "ok" and not reply.get("payload")  # not IPython's `?` help
        assert llm_server.last["body"]["messages"][-1]["content"] == "What is a generator?"
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_a_comparison_widget_streams_in_the_background(kernel, llm_server):
    import time

    llm_server.reply_text = "An answer that streams in a few pieces for the widget."
    llm_server.chunk_delay = 0.02
    reply, msgs = execute(kernel, "%%aiex --models openai:gpt-4o-mini,openai:gpt-4o --no-context\nwhat is a set?")
    assert reply["status"] == "ok"
    views = [m for m in msgs if m["msg_type"] == "display_data"
             and "application/vnd.jupyter.widget-view+json" in m["content"]["data"]]
    assert views  # the widget is this cell's output; the cell did not wait for the answers
    deadline = time.monotonic() + 30
    while True:
        reply, msgs = execute(kernel, "[s.status for s in _aiex_compare._run.outcome.slots] "
                                      "if '_aiex_compare' in dir() else None")
        value = next((m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result"), "")
        if value == "['answered', 'answered']":
            break
        assert time.monotonic() < deadline, value
        time.sleep(0.2)
    llm_server.chunk_delay = 0.0
    reply, msgs = execute(kernel, "_aiex_compare.vote('a').choice")
    assert "'a'" in next(m["content"]["data"]["text/plain"] for m in msgs if m["msg_type"] == "execute_result")
