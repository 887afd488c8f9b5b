"""The assistant service, for real: a loopback model server, a project on disk, the event log in a tmp dir."""

import textwrap
import time

import pytest

from aiex_kernel.config import load_settings
from aiex_kernel.core import events as ev
from aiex_kernel.core.requests import ContextOptions, TurnRequest
from aiex_kernel.errors import SessionNotFound, UsageError
from aiex_kernel.runtime.service import AssistantService


@pytest.fixture
def project(tmp_path, monkeypatch):
    root = tmp_path / "shop"
    (root / "shop").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    (root / "shop" / "cart.py").write_text(textwrap.dedent('''
        def cart_total(items):
            """Sum of price times quantity."""
            return sum(i.price * i.qty for i in items)
        ''').lstrip())
    (root / "shop" / "tax.py").write_text("RATE = 0.2\n\n\ndef with_tax(amount):\n    return amount * (1 + RATE)\n")
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def service(llm_server, monkeypatch, project):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-service")
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    monkeypatch.setenv("AIEX_MAX_RETRIES", "0")
    svc = make_service()
    yield svc
    svc.close()


def make_service(origin="kernel"):
    return AssistantService(lambda: load_settings(), origin=origin)


def run(svc, **kw):
    return list(svc.turn_sync(TurnRequest(**kw)))


def kinds(events):
    return [type(e).__name__ for e in events]


def users(server):
    return [m["content"] for m in server.last["body"]["messages"] if m["role"] == "user"]


def test_a_turn_yields_its_events_and_stores_them_coalesced(service, llm_server):
    llm_server.reply_text = "The total is the sum of price times quantity for each item in the cart."
    events = run(service, command="chat", prompt="how is cart_total computed?", context=ContextOptions(budget=300))
    names = kinds(events)
    assert names[0] == "Noted" and names[names.index("TurnStarted") + 1:].count("Delta") >= 3
    assert names[-1] == "Answered" and "ContextChosen" in names
    chosen = next(e for e in events if isinstance(e, ev.ContextChosen))
    assert chosen.sources[0]["name"] == "cart_total" and chosen.tokens <= 300
    answered = events[-1]
    assert answered.text == llm_server.reply_text and answered.input_tokens > 0
    stored = service.log.read(answered.session)
    stored_kinds = kinds(e for _, e in stored)
    assert stored_kinds[0] == "SessionStarted" and "Noted" not in stored_kinds
    deltas = [e for _, e in stored if isinstance(e, ev.Delta)]
    assert 1 <= len(deltas) < names.count("Delta")  # at most one stored per 100 ms
    assert "".join(d.text for d in deltas) == answered.text
    assert service.state(answered.session).turns[0].status == "answered"


def test_memory_is_the_sessions_and_survives_a_restart(service, llm_server):
    llm_server.queue_replies("Paris.", "About 2.1 million.")
    run(service, command="chat", prompt="capital of France?", context=ContextOptions(enabled=False))
    run(service, command="chat", prompt="its population?", context=ContextOptions(enabled=False))
    assert users(llm_server) == ["capital of France?", "its population?"]
    run(service, command="ask", prompt="standalone", context=ContextOptions(enabled=False))
    assert users(llm_server) == ["standalone"]  # ask stands alone
    name = service.current_session()

    fresh = make_service()  # a kernel restart: nothing in memory, everything in the log
    try:
        state = fresh.resume_session(name)
        assert [t.prompt for t in state.turns] == ["capital of France?", "its population?", "standalone"]
        run(fresh, command="chat", prompt="and Lyon?", context=ContextOptions(enabled=False))
        assert users(llm_server) == ["capital of France?", "its population?", "and Lyon?"]
        cli = make_service("cli")  # the command line continues the notebook's conversation with --session
        run(cli, command="ask", prompt="from the shell", session=name, context=ContextOptions(enabled=False))
        assert users(llm_server)[0] == "capital of France?" and users(llm_server)[-1] == "from the shell"
        one_turn = run(cli, command="ask", prompt="alone", context=ContextOptions(enabled=False))
        assert one_turn[0].session.startswith("cli-") and one_turn[0].session != name
    finally:
        fresh.close()
    with pytest.raises(SessionNotFound):
        make_service().resume_session("no-such-session")


def test_reset_dry_run_and_failures(service, llm_server):
    run(service, command="chat", prompt="one", context=ContextOptions(enabled=False))
    service.reset_memory()
    run(service, command="chat", prompt="two", context=ContextOptions(enabled=False))
    assert users(llm_server) == ["two"]
    before = service.log.last_id()
    n = len(llm_server.requests)
    planned = run(service, command="chat", prompt="three", dry_run=True, context=ContextOptions(enabled=False))
    assert kinds(planned)[-1] == "Planned" and len(llm_server.requests) == n
    assert [m["content"] for m in planned[-1].plan["messages"] if m["role"] == "user"] == ["two", "three"]
    assert service.log.last_id() == before  # a dry run stores nothing
    llm_server.fail_next(500)
    failed = run(service, command="chat", prompt="four", context=ContextOptions(enabled=False))
    assert isinstance(failed[-1], ev.Failed) and failed[-1].error == "ProviderError"
    turn = service.state().turns[-1]
    assert turn.status == "failed" and "500" in turn.error
    with pytest.raises(UsageError):
        run(service, command="chat", prompt="   ")


def test_an_interrupted_turn_keeps_what_streamed(service, llm_server):
    llm_server.reply_text = " ".join(f"word{i}" for i in range(60))
    llm_server.chunk_delay = 0.05
    stream = service.turn_sync(TurnRequest(command="chat", prompt="long", context=ContextOptions(enabled=False)))
    got = []
    for event in stream:
        if isinstance(event, ev.Delta):
            got.append(event.text)
            if len(got) == 3:
                break
    stream.close()  # what Ctrl-C or a kernel interrupt does to the caller's iteration
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and service.state().turns[-1].status == "running":
        time.sleep(0.05)
    turn = service.state().turns[-1]
    assert turn.status == "cancelled" and turn.answer.startswith("".join(got))
    assert not any(isinstance(e, ev.Answered) for _, e in service.log.read(service.current_session()))


def test_pinned_files_come_first_and_checkpoints_rewind(service, llm_server, project):
    service.pin("shop/tax.py", str(project))
    events = run(service, command="chat", prompt="how is cart_total computed?", context=ContextOptions(budget=400))
    chosen = next(e for e in events if isinstance(e, ev.ContextChosen))
    assert chosen.sources[0]["path"] == "shop/tax.py"  # pinned: first, whatever the question
    from aiex_kernel.runtime.checkpoints import diff_checkpoints, restore_checkpoint, save_checkpoint

    name = service.current_session()
    save_checkpoint(service, name, "before")
    run(service, command="chat", prompt="second question", context=ContextOptions(enabled=False))
    (project / "shop" / "tax.py").write_text("RATE = 0.25\n")
    (project / "shop" / "new.py").write_text("X = 1\n")
    save_checkpoint(service, name, "after")
    d = diff_checkpoints(service, name, "before", "after")
    assert [t["prompt"] for t in d["turns"]] == ["second question"]
    assert d["files"] == {"added": ["shop/new.py"], "removed": [], "changed": ["shop/tax.py"]}
    restored, changed = restore_checkpoint(service, name, "before")
    assert restored.turns == 1 and changed == ["shop/new.py", "shop/tax.py"]
    run(service, command="chat", prompt="third", context=ContextOptions(enabled=False))
    assert users(llm_server) == ["how is cart_total computed?", "third"]  # the second turn was rewound
    assert any(isinstance(e, ev.Rewound) for _, e in service.log.read(name))  # the log is append-only
