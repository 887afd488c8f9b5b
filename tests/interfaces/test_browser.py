"""aiex in a real JupyterLab, driven by a real browser (Debian's chromium, through playwright).

JupyterLab is started by the test on 127.0.0.1 with a token, the aiex extension (server and front end)
and kernel, against the loopback LLM server. Screenshots are saved under ``test-artifacts/``.
Skipped, saying why, only where no browser can be run (no chromium, no playwright).
"""

import json

import pytest
from lab import CHROMIUM, PANEL, REPO, Lab, launch_chromium, open_chat_panel

ARTIFACTS = REPO / "test-artifacts"

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine (apt-get install chromium)")
playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")


def notebook(cells: list[str]) -> dict:
    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "aiex", "display_name": "aiex", "language": "python"}},
            "cells": [{"cell_type": "code", "id": f"cell-{i}", "metadata": {}, "source": src, "outputs": [],
                       "execution_count": None} for i, src in enumerate(cells)]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory, llm_server_module):
    with Lab(tmp_path_factory.mktemp("lab-home"), llm_server_module.url) as running:
        yield {"base": running.base, "token": running.token, "root": running.root, "server": llm_server_module,
               "log": running.log_path}


@pytest.fixture(scope="module")
def browser(lab):
    with playwright.sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()


def open_notebook(browser, lab, name: str, cells: list[str], **options):
    (lab["root"] / name).write_text(json.dumps(notebook(cells)))
    page = browser.new_page(viewport={"width": 1400, "height": 900}, **options)
    page.goto(f"{lab['base']}/lab/tree/{name}?reset&token={lab['token']}")
    page.wait_for_function(f"() => window.jupyterapp?.shell.currentWidget?.context?.path === {name!r} "
                           "&& window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel?.status "
                           "=== 'idle'", timeout=90000)
    return page


def cell_sources(page) -> list[str]:
    return page.evaluate("() => window.jupyterapp.shell.currentWidget.content.widgets"
                         ".map(c => c.model.sharedModel.getSource())")


def run_all_and_wait(page) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    page.wait_for_timeout(300)
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.sessionContext?.session?.kernel?.status "
                           "=== 'idle'", timeout=60000)


def shoot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_code_answers_go_into_the_cell_below_and_a_rerun_replaces_it(lab, browser):
    lab["server"].reply_text = "```python\ndef add(a, b):\n    return a + b\n```"
    page = open_notebook(browser, lab, "insert.ipynb", ["%%aiex -f code --no-context\nan add function"])
    try:
        run_all_and_wait(page)
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets.length >= 2",
                               timeout=30000)
        sources = cell_sources(page)
        assert sources[1] == "def add(a, b):\n    return a + b", sources
        shoot(page, "insert-cell")
        lab["server"].reply_text = "```python\ndef add(a, b):\n    return b + a\n```"
        run_all_and_wait(page)  # Run All again: the inserted cell is replaced, not copied
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets[1].model.sharedModel"
                               ".getSource().includes('b + a')", timeout=30000)
        sources = cell_sources(page)
        assert len(sources) == 2 and "return b + a" in sources[1], sources
        shoot(page, "insert-cell-rerun")
    finally:
        page.close()


def test_the_comparison_widget_uses_an_answer_in_the_next_cell(lab, browser):
    lab["server"].reply_text = "Both do it:\n```python\ndef double(x):\n    return 2 * x\n```"
    page = open_notebook(browser, lab, "compare.ipynb",
                         ["%%aiex --models openai:gpt-4o-mini,openai:gpt-4o --no-context\na double function"])
    try:
        run_all_and_wait(page)
        use_b = page.get_by_role("button", name="Use B")
        use_b.wait_for(timeout=90000)  # the first widget of a page waits for the widget manager to load
        page.wait_for_function("() => [...document.querySelectorAll('button')]"
                               ".some(b => b.textContent.trim() === 'Use B' && !b.disabled)", timeout=30000)
        page.wait_for_function("() => [...document.querySelectorAll('button')]"  # votes open when both are done
                               ".some(b => b.textContent.trim() === 'A better' && !b.disabled)", timeout=30000)
        shoot(page, "compare-widget")
        use_b.click()
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets.length >= 2",
                               timeout=30000)
        sources = cell_sources(page)
        assert sources[1] == "def double(x):\n    return 2 * x", sources
        page.get_by_role("button", name="B better").click()
        page.get_by_text("voted: B was better").wait_for(timeout=10000)
        shoot(page, "compare-widget-used")
    finally:
        page.close()


def chat_widget_scenario(page, server, shot: str) -> None:
    """Type into the chat widget, send, see the reply; Insert below fills the cell below, Copy the clipboard."""
    server.reply_text = "Try this:\n```python\nprint('from the chat')\n```"
    run_all_and_wait(page)
    nb = page.locator(".jp-NotebookPanel:visible")  # the chat panel in the sidebar has buttons of the same names
    box = nb.get_by_placeholder("Ask aiex", exact=False)
    box.wait_for(timeout=90000)
    box.fill("how do I print?")
    nb.get_by_role("button", name="Send").click()
    insert = nb.get_by_role("button", name="Insert below")
    insert.wait_for(timeout=30000)  # the reply streamed in, from the kernel's chat thread
    assert nb.get_by_text("how do I print?").is_visible()
    shoot(page, shot)
    insert.click()
    page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets.length >= 2",
                           timeout=30000)
    assert cell_sources(page)[1] == "print('from the chat')"
    nb.get_by_role("button", name="Copy", exact=True).click()
    page.get_by_text("aiex: copied 1 lines", exact=False).wait_for(timeout=30000)
    assert page.evaluate("() => navigator.clipboard.readText()") == "print('from the chat')"
    shoot(page, shot + "-used")


def test_the_chat_widget_answers_then_inserts_and_copies_its_code(lab, browser):
    page = open_notebook(browser, lab, "chat.ipynb", ["%aiex chat --no-context"],
                         permissions=["clipboard-read", "clipboard-write"])
    try:
        chat_widget_scenario(page, lab["server"], "chat-widget")
    finally:
        page.close()


@pytest.fixture(scope="module")
def notebook7(tmp_path_factory, llm_server_module):
    pytest.importorskip("notebook", reason="Notebook 7 is not installed (the test extra)")
    with Lab(tmp_path_factory.mktemp("nb7-home"), llm_server_module.url, app="notebook") as running:
        yield running


def test_the_chat_widget_in_notebook_7(notebook7, browser, llm_server_module):
    (notebook7.root / "chat7.ipynb").write_text(json.dumps(notebook(["%aiex chat --no-context"])))
    page = browser.new_page(viewport={"width": 1400, "height": 900},
                            permissions=["clipboard-read", "clipboard-write"])
    try:
        page.goto(notebook7.url("notebooks/chat7.ipynb"))
        page.wait_for_function("() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel"
                               "?.status === 'idle'", timeout=90000)
        chat_widget_scenario(page, llm_server_module, "chat-widget-notebook7")
    finally:
        page.close()


def replies(page) -> list[str]:
    return page.evaluate("() => [...document.querySelectorAll('.aiex-chat-reply')].map(n => n.textContent)")


def test_the_chat_panel_streams_mentions_inserts_fixes_and_shares_its_session(lab, browser):
    server = lab["server"]
    server.reply_text = "It triples:\n```python\nprint(labbed_function(2))\n```"
    server.chunk_delay = 0.01
    page = open_notebook(browser, lab, "panel.ipynb", ["x = 1", "1 / 0"])
    other = None
    try:
        run_all_and_wait(page)
        assert open_chat_panel(page) < 30
        box = page.locator(".aiex-chat-input")
        box.fill("what does @lib")
        page.locator(".aiex-chat-completion", has_text="lib.py").wait_for(timeout=30000)
        box.press("Tab")  # the completion
        assert box.input_value() == "what does @lib.py "
        box.press_sequentially("do?")
        box.press("Enter")
        last_turn = page.locator(".aiex-chat-turn").last
        last_turn.locator(".aiex-chat-codebar").wait_for(timeout=60000)  # streamed, rendered, with its toolbar
        sent = [r for r in server.requests if r["path"].endswith("/chat/completions")][-1]
        assert "def labbed_function" in sent["body"]["messages"][-1]["content"]  # @lib.py went with it
        assert "print(labbed_function(2))" in replies(page)[-1]
        assert " in / " in page.locator(".aiex-chat-foot").last.text_content()  # tokens (and cost) of the turn
        shoot(page, "chat-panel")
        last_turn.get_by_role("button", name="Insert below").click()
        page.wait_for_function("() => window.jupyterapp.shell.currentWidget.content.widgets.length >= 3",
                               timeout=30000)
        assert "print(labbed_function(2))" in cell_sources(page)
        # the kernel's last error, one click away
        server.reply_text = "Do not divide by zero."
        page.get_by_role("button", name="Fix last error").click()
        page.get_by_text("Do not divide by zero.").wait_for(timeout=60000)
        asked = [r for r in server.requests if r["path"].endswith("/chat/completions")][-1]
        assert "ZeroDivisionError" in asked["body"]["messages"][-1]["content"]
        # a second tab on the same session sees this tab's messages, and this one sees its
        other = browser.new_page(viewport={"width": 1400, "height": 900})
        other.goto(f"{lab['base']}/lab?token={lab['token']}")
        other.wait_for_function("() => window.jupyterapp?.commands.hasCommand('aiex:open-chat')", timeout=90000)
        open_chat_panel(other)
        assert any("Do not divide by zero." in r for r in replies(other))
        server.reply_text = "Hello, second tab."
        other.locator(".aiex-chat-input").fill("hello from the other tab")
        other.locator(".aiex-chat-input").press("Enter")
        page.get_by_text("Hello, second tab.").wait_for(timeout=30000)
        assert page.get_by_text("hello from the other tab").is_visible()
        # the connection drops mid-reply: nothing is lost, the panel resumes from the event log
        server.reply_text = " ".join(f"piece{i}" for i in range(120))
        server.chunk_delay = 0.03
        box.fill("a long answer please")
        box.press("Enter")
        page.wait_for_function("() => [...document.querySelectorAll('.aiex-chat-reply')].pop()"
                               ".textContent.includes('piece3')", timeout=30000)
        page.evaluate(f"() => {PANEL}.connection.drop()")
        page.wait_for_function("() => [...document.querySelectorAll('.aiex-chat-reply')].pop()"
                               ".textContent.includes('piece119')", timeout=60000)
        assert replies(page)[-1].count("piece60") == 1
        shoot(page, "chat-panel-resumed")
    finally:
        server.chunk_delay = 0.0
        page.close()
        if other is not None:
            other.close()
