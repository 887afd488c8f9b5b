"""The JupyterLab chat panel, in a real JupyterLab and Chromium, in one run.

A loopback LLM server (tests/llm_server.py) answers after a fixed latency (200 ms).
Measured:

1. First token: from "send" in the panel to the reply's first words on screen
   (a MutationObserver in the page), against the bare openai SDK's time to its first
   streamed token from the same server; medians of ``--repeat`` sends, no project
   context (goal: overhead under 50 ms).
2. Panel load: from the `aiex:open-chat` command to the session's history on screen,
   in a freshly loaded JupyterLab page (goal: under 1 s).
3. A session of 1,000 messages (written to the event log) opened in the panel (goal:
   under 500 ms).

Prints the figures and writes ``benchmarks/results/panel.json``. Needs Debian's
chromium and the test extra (JupyterLab, playwright).

Usage: ``python benchmarks/panel.py [--repeat 10]``
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
from lab import PANEL, Lab, launch_chromium, open_chat_panel  # noqa: E402
from llm_server import LLMServer  # noqa: E402

LATENCY = 0.2
REPLY = "A reply of a dozen words or so, streamed in small pieces to the panel."

SEND = """async (prompt) => {
  const panel = %s;
  const log = panel.node.querySelector('.aiex-chat-log');
  const before = log.querySelectorAll('.aiex-chat-reply').length;
  return await new Promise(resolve => {
    let t0 = 0;
    const seen = new MutationObserver(() => {
      const replies = log.querySelectorAll('.aiex-chat-reply');
      const mine = replies[before];
      if (mine && !mine.classList.contains('aiex-chat-waiting') && mine.textContent.trim()) {
        seen.disconnect();
        resolve(performance.now() - t0);
      }
    });
    seen.observe(log, {subtree: true, childList: true, characterData: true, attributes: true});
    const input = panel.node.querySelector('.aiex-chat-input');
    input.value = prompt;
    t0 = performance.now();
    panel.send();
  });
}""" % PANEL


def bare_sdk_first_token(url: str, repeat: int) -> list[float]:
    import openai

    client = openai.OpenAI(base_url=url + "/v1", api_key="sk-bench")
    times = []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        stream = client.chat.completions.create(model="gpt-4o-mini", stream=True, max_tokens=64,
                                                messages=[{"role": "user", "content": f"q{i}"}])
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                times.append(time.perf_counter() - t0)
                break
        stream.close()
    return times[1:]  # the first one warms the connection up


def wait_idle(page, timeout_s: float = 60) -> None:
    page.wait_for_function(f"() => {PANEL}.node.querySelector('.aiex-chat-stop').disabled", timeout=timeout_s * 1000)


def write_big_session(data_dir: Path, name: str, turns: int) -> None:
    from aiex_kernel.core import events as ev
    from aiex_kernel.runtime.events import EventLog, FILE_NAME

    log = EventLog(data_dir / FILE_NAME)
    now = time.time() - turns * 2
    batch = [ev.SessionStarted(name, now, origin="bench")]
    for i in range(turns):
        turn = f"t{i:05d}"
        batch.append(ev.TurnStarted(name, now + 2 * i, turn=turn, command="chat", prompt=f"question {i}: how?",
                                    model="openai:gpt-4o-mini", memory=True))
        batch.append(ev.Answered(name, now + 2 * i + 1, turn=turn, text=f"Answer {i}:\n```python\nprint({i})\n```",
                                 model="gpt-4o-mini", provider="openai", input_tokens=20, output_tokens=9,
                                 cost_usd=0.00001, latency_s=0.4))
    log.append_many(batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    results: dict = {"latency_s": LATENCY, "repeat": args.repeat}
    with tempfile.TemporaryDirectory() as tmp, LLMServer(reply_text=REPLY, latency=LATENCY) as server, \
            Lab(Path(tmp), server.url) as lab, sync_playwright() as p:
        browser = launch_chromium(p)
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(lab.url("lab"))
        page.wait_for_function("() => window.jupyterapp?.commands.hasCommand('aiex:open-chat')", timeout=90000)
        results["panel_load_first_s"] = open_chat_panel(page)
        page.evaluate(f"() => {{ {PANEL}.node.querySelector('input[type=checkbox]').checked = false; }}")
        page.evaluate(SEND, "warm-up")
        wait_idle(page)
        panel_ms = []
        for i in range(args.repeat):
            panel_ms.append(page.evaluate(SEND, f"question {i}"))
            wait_idle(page)
        sdk = bare_sdk_first_token(server.url, args.repeat)
        results["first_token_panel_ms"] = statistics.median(panel_ms)
        results["first_token_bare_sdk_ms"] = statistics.median(sdk) * 1000
        results["first_token_overhead_ms"] = results["first_token_panel_ms"] - results["first_token_bare_sdk_ms"]

        loads = []
        for _ in range(3):  # a freshly loaded page each time: the panel's own load, JupyterLab's aside
            fresh = browser.new_page(viewport={"width": 1400, "height": 900})
            fresh.goto(lab.url("lab"))
            fresh.wait_for_function("() => window.jupyterapp?.commands.hasCommand('aiex:open-chat')", timeout=90000)
            loads.append(open_chat_panel(fresh))
            fresh.close()
        results["panel_load_s"] = statistics.median(loads)

        write_big_session(lab.data, "bench-1000", 1000)
        opens = []
        for _ in range(5):
            opens.append(page.evaluate(f"async () => {{ const t = performance.now(); await {PANEL}.open('bench-1000');"
                                       " return performance.now() - t; }"))
        shown = page.evaluate(f"() => {PANEL}.node.querySelectorAll('.aiex-chat-turn').length")
        results["session_1000_open_ms"] = statistics.median(opens)
        results["session_1000_turns_shown"] = shown
        browser.close()

    print(f"first token on screen: panel {results['first_token_panel_ms']:.1f} ms, bare SDK "
          f"{results['first_token_bare_sdk_ms']:.1f} ms: overhead {results['first_token_overhead_ms']:.1f} ms "
          "(goal < 50 ms)")
    print(f"panel load: {results['panel_load_s'] * 1000:.0f} ms (first in the page {results['panel_load_first_s'] * 1000:.0f}"
          " ms; goal < 1 s)")
    print(f"1,000-message session opens in {results['session_1000_open_ms']:.0f} ms "
          f"({results['session_1000_turns_shown']} turns; goal < 500 ms)")
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    (out / "panel.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
