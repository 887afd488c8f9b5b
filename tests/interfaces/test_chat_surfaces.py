"""Chat on the surfaces: the widget through its model, ``%aiex chat`` on a real IPython shell and the
service (replies from a thread, Stop, turns from other surfaces), ``aiex chat`` in a terminal."""

import os
import subprocess
import sys
import time

import pytest

import aiex_kernel
from aiex_kernel.interfaces.cli import main

pytest.importorskip("ipywidgets")

from aiex_kernel.interfaces.widgets.chat import INTERVAL, ChatWidget  # noqa: E402

CODE_REPLY = "Like this:\n```python\ndef add(a, b):\n    return a + b\n```\nand\n```sh\nls\n```"


def texts(widget) -> list[str]:
    """What the conversation shows, part by part (HTML values, and the buttons' labels)."""
    out = []
    for part in widget.messages.children:
        if hasattr(part, "children"):
            out.append(" ".join(getattr(c, "value", "") or getattr(c, "description", "") for c in part.children))
        else:
            out.append(part.value)
    return out


def wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_the_widget_sends_streams_throttled_and_offers_each_code_block():
    sent, inserted, copied, stopped = [], [], [], []
    w = ChatWidget("s1", ["openai:gpt-4o", "local"], "openai:gpt-4o", budget=2048, on_send=sent.append,
                   on_stop=lambda: stopped.append(1), on_insert=inserted.append, on_copy=copied.append)
    assert w.model.value == "openai:gpt-4o" and w.model.options[0] == ("default (settings)", None) and w.budget.value == 2048 and w.use_context.value
    w.input.value = "   "
    w.send_button.click()
    assert sent == []  # nothing to send
    w.input.value = "how do I add <two> numbers?"
    w.send_button.click()
    assert sent == ["how do I add <two> numbers?"] and w.input.value == ""
    assert "&lt;two&gt;" in texts(w)[0]  # the user's text is escaped, not HTML
    w.start_reply()
    assert w.send_button.disabled and not w.stop_button.disabled
    w.input.value = "a second question while busy"
    w.send_button.click()
    assert len(sent) == 1  # one reply at a time
    reply = ""
    for i in range(300):  # 300 deltas arrive far faster than one per INTERVAL
        reply += f"w{i} "
        w.stream(reply)
    assert w.redraws <= 2 + 300 * 0.001 / INTERVAL
    w.stop_button.click()
    assert stopped == [1]
    w.finish_reply(CODE_REPLY, "openai:gpt-4o · 3 s")
    shown = texts(w)
    assert "def" in shown[1] and "w299" not in " ".join(shown)  # the final text replaces the stream
    blocks = [p for p in w.messages.children if hasattr(p, "children")]
    assert [b.children[0].value.count("python") + b.children[0].value.count("sh") for b in blocks] == [1, 1]
    assert "3 s" in shown[-1] and not w.send_button.disabled and w.stop_button.disabled
    blocks[0].children[1].click()  # Insert below
    blocks[1].children[2].click()  # Copy
    assert inserted == ["def add(a, b):\n    return a + b"] and copied == ["ls"]
    w.start_reply()
    w.stream("half an ans")
    w.finish_reply("half an ans", error="stopped")
    assert "stopped" in " ".join(texts(w)[-3:]) and "half an ans" in " ".join(texts(w)[-3:])
    w.start_reply()
    w.finish_reply("", error="RateLimited: slow down")
    assert "RateLimited: slow down" in texts(w)[-1] and not w.busy


@pytest.fixture
def shell(llm_server, monkeypatch, tmp_path):
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-chat")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
    monkeypatch.setenv("AIEX_DEFAULT_MODEL", "openai:gpt-4o-mini")
    sh = InteractiveShell.instance()
    aiex_kernel.load_ipython_extension(sh)
    yield sh
    aiex_kernel.unload_ipython_extension(sh)


def test_chat_in_a_notebook_continues_the_session_and_shows_other_surfaces(shell, llm_server, capsys):
    llm_server.reply_text = "Sets hold unique items."
    r = shell.run_cell("%%aiex --no-context\nwhat is a set?", store_history=True)
    assert r.error_in_exec is None, r.error_in_exec
    r = shell.run_cell("%aiex chat", store_history=True)
    assert r.error_in_exec is None, r.error_in_exec
    chat = shell.user_ns["_aiex_chat"]
    w = chat.widget
    assert "what is a set?" in texts(w)[0] and "unique items" in texts(w)[1]  # the session's history
    llm_server.reply_text = CODE_REPLY
    w.use_context.value = False
    w.send("and how do I add numbers?")
    wait_for(lambda: not w.busy)
    messages = llm_server.last["body"]["messages"]
    assert any("what is a set?" in str(m["content"]) for m in messages)  # the conversation goes with it
    assert messages[-1]["content"] == "and how do I add numbers?"
    assert "def" in " ".join(texts(w)) and "gpt-4o-mini" in " ".join(texts(w))
    shown = len(w.messages.children)
    # another surface talks in the same session: the chat shows it, its own turn only once
    llm_server.reply_text = "From the terminal."
    assert main(["chat", "--session", chat.session, "--no-context", "hello from the cli"]) == 0
    wait_for(lambda: any("From the terminal." in t for t in texts(w)))
    assert any("hello from the cli" in t for t in texts(w)) and "another" in texts(w)[-1]
    assert sum("and how do I add numbers?" in t for t in texts(w)) == 1
    assert len(w.messages.children) == shown + 3
    # Stop: a slow reply is cut off, the kernel was never blocked, the partial answer stays
    llm_server.reply_text = " ".join(f"word{i}" for i in range(400))
    llm_server.chunk_delay = 0.02
    w.send("a long one")
    wait_for(lambda: "word3" in " ".join(texts(w)))
    assert shell.run_cell("1 + 1").result == 2  # the kernel answers while the reply streams
    w.stop_button.click()
    wait_for(lambda: not w.busy, timeout=10)
    assert "stopped" in " ".join(texts(w)[-2:]) and "word399" not in " ".join(texts(w))
    llm_server.chunk_delay = 0.0
    # Copy goes out through the chat's output, for the JupyterLab extension; Insert (outside a kernel:
    # a terminal IPython) is the next input
    from IPython.utils.capture import capture_output

    from aiex_kernel.interfaces.notebook.surface import COPY_MIME

    with capture_output() as cap:
        chat.insert("x = 1")
        chat.copy("y = 2")
    assert shell.rl_next_input == "x = 1"
    bundle = cap.outputs[-1].data[COPY_MIME]
    assert bundle["code"] == "y = 2" and bundle["nonce"] and bundle["time"] > 0
    shell.rl_next_input = None


def _aiex(*args: str, stdin: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aiex_kernel.interfaces.cli", *args], input=stdin, text=True,
                          capture_output=True, env=env, timeout=120)


def test_chat_in_a_terminal_reads_messages_and_commands_until_the_end(llm_server, tmp_path):
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-chat-loop", "OPENAI_BASE_URL": llm_server.url + "/v1",
           "AIEX_MAX_RETRIES": "0"}
    llm_server.reply_text = "Hi there."
    done = _aiex("chat", "-m", "openai:gpt-4o-mini", "--no-context", "--session", "term-1", env=env,
                 stdin="hello\n/help\n/model openai:gpt-4o\n/budget 512\n/session\n/nonsense\n\nsecond message\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("Hi there.") == 2 and "/reset" in done.stdout and "term-1\n" in done.stdout
    assert "unknown command '/nonsense'" in done.stderr and "2 turns in session term-1" in done.stdout
    models = [r["body"]["model"] for r in llm_server.requests if r["path"].endswith("/chat/completions")]
    assert models == ["gpt-4o-mini", "gpt-4o"]  # /model switched it
    assert any("hello" in str(m["content"]) for m in llm_server.last["body"]["messages"][:-1])
    # later, the same session goes on where it stopped; /reset forgets the conversation
    again = _aiex("chat", "--no-context", "--session", "term-1", env=env, stdin="/reset\nthird\n/exit\nnot sent\n")
    assert again.returncode == 0, again.stderr
    assert "conversation memory cleared" in again.stderr
    assert [m["role"] for m in llm_server.last["body"]["messages"] if m["role"] != "system"] == ["user"]
    assert not any("not sent" in str(r["body"]) for r in llm_server.requests)
    bad = _aiex("chat", "--session", "no spaces allowed", env=env, stdin="hi\n")
    assert bad.returncode == 2 and "Session names are" in bad.stderr and "Traceback" not in bad.stderr
