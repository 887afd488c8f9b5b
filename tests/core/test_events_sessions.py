"""Events as records, and sessions as a pure fold over them."""

from hypothesis import given, settings, strategies as st

from aiex_kernel.core import events as ev
from aiex_kernel.core.events import from_record, redact_event, to_record
from aiex_kernel.core.sessions import fold

S = "s1"


def sample_events() -> list[ev.Event]:
    return [
        ev.SessionStarted(S, 1.0, origin="cli"),
        ev.TurnStarted(S, 2.0, turn="t1", command="chat", prompt="what is a dict?", model="openai:gpt-4o", memory=True),
        ev.ContextChosen(S, 2.1, turn="t1", root="/p", tokens=120, budget=400, tokenizer="o200k_base",
                         files=("a.py",), sources=({"path": "a.py", "start_line": 1, "end_line": 3, "level": "full",
                                                    "name": "f"},)),
        ev.Delta(S, 2.2, turn="t1", text="A dict "),
        ev.Delta(S, 2.3, turn="t1", text="maps keys."),
        ev.Answered(S, 2.4, turn="t1", text="A dict maps keys.", model="gpt-4o", provider="openai",
                    input_tokens=10, output_tokens=4, cost_usd=0.0001, latency_s=0.4, ttft_s=0.1),
        ev.FilePinned(S, 3.0, path="a.py", root="/p"),
        ev.CheckpointSaved(S, 3.5, name="cp", position=7, root="/p", files={"a.py": "h1"}),
        ev.TurnStarted(S, 4.0, turn="t2", command="ask", prompt="standalone", model="local:x", memory=False),
        ev.Failed(S, 4.1, turn="t2", error="ProviderError", message="boom"),
        ev.TurnStarted(S, 5.0, turn="t3", command="chat", prompt="and a list?", model="openai:gpt-4o", memory=True),
        ev.Cancelled(S, 5.5, turn="t3", partial="A list"),
        ev.MemoryCleared(S, 6.0),
        ev.FileUnpinned(S, 6.5, path="a.py", root="/p"),
        ev.Rewound(S, 7.0, checkpoint="cp", position=8),
        ev.ClusterJob("", 8.0, job="Indexing", where="tcp://127.0.0.1:1", items=3, seconds=0.5),
    ]


def stored(events):
    return list(enumerate(events, 1))


def test_every_kind_round_trips_through_a_record():
    for event in sample_events():
        kind, data = to_record(event)
        assert kind == event.KIND and "session" not in data and "at" not in data
        assert from_record(kind, event.session, event.at, data) == event


def test_unknown_kinds_and_fields_from_a_newer_aiex_are_kept_not_fatal():
    unknown = from_record("Frobnicated", S, 1.0, {"winner": "a"})
    assert isinstance(unknown, ev.Unknown) and unknown.kind == "Frobnicated" and unknown.data == {"winner": "a"}
    event = from_record("MemoryCleared", S, 1.0, {"later_field": 3})
    assert event == ev.MemoryCleared(S, 1.0)
    assert fold(stored([ev.SessionStarted(S, 1.0), unknown])).started_at == 1.0


def test_the_fold_gives_turns_memory_pins_and_checkpoints():
    state = fold(stored(sample_events()[:8]), name=S)
    assert [t.id for t in state.turns] == ["t1"]
    t1 = state.turns[0]
    assert t1.status == "answered" and t1.answer == "A dict maps keys." and t1.output_tokens == 4
    assert t1.context_files == ("a.py",) and t1.sources[0]["name"] == "f"
    assert [m.content for m in state.memory(5)] == ["what is a dict?", "A dict maps keys."]
    assert state.pinned == {"a.py": "/p"} and set(state.checkpoints) == {"cp"}
    full = fold(stored(sample_events()), name=S)
    statuses = {t.id: t.status for t in full.turns}
    # rewound to position 8 (the checkpoint): t2 and t3 are gone, the pin is back, memory is back
    assert statuses == {"t1": "answered"} and full.pinned == {"a.py": "/p"}
    assert len(full.memory(5)) == 2 and "cp" in full.checkpoints
    before_rewind = fold(stored(sample_events()[:14]), name=S)
    assert before_rewind.turn("t2").status == "failed" and before_rewind.turn("t3").answer == "A list"
    assert before_rewind.memory(5) == () and before_rewind.pinned == {}  # cleared and unpinned


def test_memory_keeps_only_answered_conversational_turns_within_max_history():
    events = [ev.SessionStarted(S, 0.0)]
    for i in range(4):
        events += [ev.TurnStarted(S, i + 1.0, turn=f"c{i}", command="chat", prompt=f"q{i}", memory=True),
                   ev.Answered(S, i + 1.5, turn=f"c{i}", text=f"a{i}")]
    events += [ev.TurnStarted(S, 9.0, turn="x", command="ask", prompt="alone", memory=False),
               ev.Answered(S, 9.5, turn="x", text="ok")]
    state = fold(stored(events))
    assert [m.content for m in state.memory(2)] == ["q2", "a2", "q3", "a3"]
    assert state.memory(0) == ()


event_strategy = st.one_of(
    st.builds(ev.TurnStarted, st.just(S), st.floats(0, 100), turn=st.sampled_from(["a", "b", "c"]),
              prompt=st.text(max_size=8), memory=st.booleans()),
    st.builds(ev.Delta, st.just(S), st.floats(0, 100), turn=st.sampled_from(["a", "b", "c"]), text=st.text(max_size=5)),
    st.builds(ev.Answered, st.just(S), st.floats(0, 100), turn=st.sampled_from(["a", "b", "c"]),
              text=st.text(max_size=8)),
    st.builds(ev.Cancelled, st.just(S), st.floats(0, 100), turn=st.sampled_from(["a", "b", "c"])),
    st.builds(ev.MemoryCleared, st.just(S), st.floats(0, 100)),
    st.builds(ev.FilePinned, st.just(S), st.floats(0, 100), path=st.sampled_from(["x.py", "y.py"])),
    st.builds(ev.FileUnpinned, st.just(S), st.floats(0, 100), path=st.sampled_from(["x.py", "y.py"])),
    st.builds(ev.CheckpointSaved, st.just(S), st.floats(0, 100), name=st.sampled_from(["p", "q"]),
              position=st.integers(0, 30)),
    st.builds(ev.Rewound, st.just(S), st.floats(0, 100), position=st.integers(0, 30)),
)


def _snapshot(state):
    return (state.turns, state.memory_from, state.pinned, state.checkpoints, state.position, state.memory(3))


@settings(max_examples=150, deadline=None)
@given(st.lists(event_strategy, max_size=30), st.integers(0, 30))
def test_folding_is_deterministic_and_incremental(events, cut):
    log = stored(events)
    once = fold(log, name=S)
    assert _snapshot(once) == _snapshot(fold(log, name=S))  # replaying gives the same state
    partial = fold(log[:cut], name=S)
    assert _snapshot(fold(log[cut:], partial)) == _snapshot(once)  # catching up equals folding at once
    assert _snapshot(fold(log, fold(log, name=S))) == _snapshot(once)  # events already folded are skipped


def test_redaction_reaches_every_string_of_an_event():
    key = "sk-proj-" + "A1b2C3d4" * 4
    event = ev.ContextChosen(S, 1.0, turn="t", root="/p", files=(f"{key}.py",),
                             sources=({"path": "a.py", "name": f"uses {key}"},))
    clean, found = redact_event(event)
    assert key not in repr(clean) and found == {"openai-key": 2}
    assert clean.sources[0]["path"] == "a.py" and isinstance(clean.files, tuple)
    same, nothing = redact_event(ev.MemoryCleared(S, 1.0))
    assert nothing == {} and same == ev.MemoryCleared(S, 1.0)
