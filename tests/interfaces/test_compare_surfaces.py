"""Comparisons on the surfaces: the widget driven through its model (no browser), the CLI, %%aiex --models."""

import json

import pytest
from IPython.core.error import UsageError as IPythonUsageError

import aiex_kernel
from aiex_kernel.interfaces.cli import main

pytest.importorskip("ipywidgets")

from aiex_kernel.interfaces.widgets.compare import INTERVAL, CompareWidget  # noqa: E402

MODELS = ["openai:gpt-4o-mini", "ollama:llama3.2:3b"]


def widget_text(widget) -> str:
    """Everything the widget would send to the front end: the values of all its parts."""
    parts = [*widget.headers, *widget.bodies, *widget.footers, widget.note, widget.diff]
    return " ".join(p.value for p in parts) + " ".join(b.description for b in widget.vote_buttons)


def test_the_widget_streams_throttled_and_votes_reveal_a_blind_comparison():
    votes, used = [], []
    w = CompareWidget(["a", "b"], MODELS, blind=True, on_vote=votes.append, on_use=used.append)
    assert "gpt-4o-mini" not in widget_text(w) and "llama" not in widget_text(w)  # blind: no names sent
    assert [b.description for b in w.vote_buttons] == ["A better", "B better", "tie", "both bad"]
    assert all(b.disabled for b in w.vote_buttons) and not w.stop_button.disabled
    text = ""
    for i in range(200):  # 200 deltas arrive within far less than 200 * INTERVAL
        text += f"word{i} "
        w.update(0, text)
    assert w.messages[0] <= 2 + 200 * 0.001 / INTERVAL  # throttled: one update per INTERVAL at most
    w.finish(0, text="```python\ndef f():\n    return 1\n```", figures={"latency_s": 1.25, "output_tokens": 9,
                                                                        "input_tokens": 20, "cost_usd": 0.0001})
    assert "1.25 s" in w.footers[0].value and "$0.00010" in w.footers[0].value
    assert all(b.disabled for b in w.vote_buttons)  # votes open when every column is done
    w.finish(1, text="```python\ndef f():\n    return 2\n```", figures={})
    assert not any(b.disabled for b in w.vote_buttons) and w.stop_button.disabled
    assert "diff_chg" in w.diff.value and "return" in w.diff.value  # the code blocks, diffed
    assert "gpt-4o-mini" not in widget_text(w)
    w.use_buttons[1].click()
    assert used == [1] and "B is in _aiex" in w.note.value
    w.vote_buttons[1].click()  # "B better"
    assert votes == ["b"] and all(b.disabled for b in w.vote_buttons)
    assert "gpt-4o-mini" in w.headers[0].value and "llama3.2:3b" in w.headers[1].value  # revealed after the vote
    w.vote_buttons[0].click()
    assert votes == ["b"]  # one vote per comparison


def test_best_of_n_and_a_failed_column():
    w = CompareWidget(["a", "b", "c"], ["x:1", "x:2", "x:3"])
    assert [b.description for b in w.vote_buttons] == ["A best", "B best", "C best", "tie", "all bad"]
    w.finish(0, text="fine")
    w.finish(1, error="RateLimited: 429")
    w.update(2, "partial")
    w.stopped()
    assert "429" in w.bodies[1].value and w.status == ["answered", "failed", "stopped"]
    assert not w.vote_buttons[0].disabled and "stopped" in w.note.value


@pytest.fixture
def env(monkeypatch, llm_server, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-compare-cli")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    monkeypatch.setenv("OLLAMA_HOST", llm_server.url)
    monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
    return llm_server


def run_json(capsys, *args):
    capsys.readouterr()
    code = main([*args, "--json"])
    out = capsys.readouterr().out
    assert code == 0, out
    return json.loads(out)


def test_compare_and_vote_on_the_command_line(env, capsys):
    data = run_json(capsys, "compare", "what", "is", "a", "dict?", "--models", ",".join(MODELS))
    assert [s["model"] for s in data["slots"]] == MODELS and all(s["status"] == "answered" for s in data["slots"])
    assert data["slots"][0]["latency_s"] is not None and data["slots"][0]["cost_usd"] > 0
    again = run_json(capsys, "compare", "-m", MODELS[0], "-m", MODELS[1], "--select", "fastest-passing", "q")
    assert again["selected"]["how"] == "fastest-passing" and "checks" in again
    assert run_json(capsys, "vote", data["compare"], "b")["models"] == MODELS
    board = run_json(capsys, "show", "leaderboard")
    assert board["votes"] == 1 and board["ratings"][0]["model"] == MODELS[1]
    capsys.readouterr()
    assert main(["compare", "--models", MODELS[0], "only one"]) == 2
    assert "at least two models" in capsys.readouterr().err
    plan = run_json(capsys, "compare", "--models", ",".join(MODELS), "--dry-run", "how much?")
    assert len(plan["estimates"]) == 2 and plan["estimates"][1]["max_cost_usd"] == 0.0
    capsys.readouterr()
    assert main(["compare", "--models", ",".join(MODELS), "text", "of", "a", "question"]) == 0
    out = capsys.readouterr().out
    assert "vote with `aiex vote" in out and "latency" in out


def test_cell_magic_models_compare(env):
    from IPython.core.interactiveshell import InteractiveShell

    sh = InteractiveShell.instance()
    aiex_kernel.load_ipython_extension(sh)
    try:
        r = sh.run_cell(f"%%aiex --models {','.join(MODELS)} --select consensus -o best\nwhat is a set?",
                        store_history=True)
        assert r.error_in_exec is None, r.error_in_exec
        best = sh.user_ns["best"]
        assert best.model_id in MODELS and len(best.others) == 1 and best.selection.how == "consensus"
        assert sh.user_ns["_aiex_compare"].compare_id.startswith("c")
        r = sh.run_cell(f"%%aiex openai:gpt-4o --models {','.join(MODELS)}\nq", store_history=True)
        assert isinstance(r.error_in_exec, IPythonUsageError) and "names models twice" in str(r.error_in_exec)
        n = len(env.requests)
        r = sh.run_cell(f"%aiex compare --models {','.join(MODELS)} --dry-run what's this?", store_history=True)
        assert r.error_in_exec is None and len(env.requests) == n
        assert r.result["messages"][-1]["content"] == "what's this?"
    finally:
        aiex_kernel.unload_ipython_extension(sh)
