"""The SQLite event log: appends, reads, search, deletion, redaction, a writer killed mid-append, following."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time

from aiex_kernel.core import events as ev
from aiex_kernel.runtime.events import EventLog, Follower

KEY = "sk-proj-" + "Zx9Yw8Vu7" * 3
GITHUB = "ghp_" + "a1B2c3D4e5" * 4


def test_append_read_search_delete(tmp_path):
    log = EventLog(tmp_path / "events.sqlite")
    a = log.append(ev.SessionStarted("alpha", 1.0, origin="cli"))
    log.append(ev.TurnStarted("alpha", 2.0, turn="t1", prompt="how do generators work?", model="local:m"))
    log.append(ev.Answered("alpha", 3.0, turn="t1", text="They yield values lazily."))
    log.append(ev.TurnStarted("beta", 4.0, turn="t2", prompt="what is a monad?", model="local:m"))
    assert log.append(ev.Noted("alpha", 5.0, text="not stored")) is None
    assert [type(e).__name__ for _, e in log.read("alpha")] == ["SessionStarted", "TurnStarted", "Answered"]
    assert [p for p, _ in log.read("alpha", after=a)] == [a + 1, a + 2]
    assert [s.name for s in log.sessions()] == ["beta", "alpha"]
    assert [s.name for s in log.sessions("lazily")] == ["alpha"] and log.sessions("nothing like it") == []
    assert [s.name for s in log.sessions('quote " inside')] == []  # a query is a phrase, not FTS syntax
    assert {e.KIND for _, e in log.events(kinds=["TurnStarted"], since=3.5)} == {"TurnStarted"}
    db = sqlite3.connect(tmp_path / "events.sqlite")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert log.delete_session("alpha") == 3 and not log.exists("alpha") and log.exists("beta")
    assert log.sessions("lazily") == []
    assert db.execute("SELECT COUNT(*) FROM event_text WHERE session = 'alpha'").fetchone()[0] == 0


def test_key_shaped_strings_are_redacted_in_every_stored_field(tmp_path):
    path = tmp_path / "events.sqlite"
    log = EventLog(path)
    secret_events = [
        ev.SessionStarted("s", 1.0, origin=f"cli {KEY}"),
        ev.TurnStarted("s", 1.0, turn="t", prompt=f"my key is {KEY}", model="openai:gpt-4o"),
        ev.ContextChosen("s", 1.0, turn="t", root=f"/home/{GITHUB}", files=(f"{KEY}.py",),
                         sources=({"path": "a.py", "name": GITHUB, "start_line": 1, "end_line": 1, "level": "full"},)),
        ev.Delta("s", 1.0, turn="t", text=f"echo {KEY}"),
        ev.Answered("s", 1.0, turn="t", text=f"your token {GITHUB} and key {KEY}"),
        ev.Failed("s", 1.0, turn="t", message=f"401 for {KEY}"),
        ev.Cancelled("s", 1.0, turn="t", partial=GITHUB),
        ev.FilePinned("s", 1.0, path=f"{GITHUB}.txt", root="/p"),
        ev.CheckpointSaved("s", 1.0, name="c", files={f"{KEY}.py": "h"}),
    ]
    for event in secret_events:
        log.append(event)
    raw = sqlite3.connect(path)
    dump = json.dumps(raw.execute("SELECT * FROM events").fetchall()) + json.dumps(
        raw.execute("SELECT * FROM event_text").fetchall())
    assert KEY not in dump and GITHUB not in dump
    assert "[REDACTED:openai-key]" in dump and "[REDACTED:github-token]" in dump
    assert len(log.read("s")) == len(secret_events)


WRITER = """
import sys, time
from aiex_kernel.core.events import Delta
from aiex_kernel.runtime.events import EventLog
log = EventLog(sys.argv[1])
i = 0
while True:
    position = log.append(Delta("w", time.time(), turn="t", text="x" * 2000 + str(i)))
    print(position, flush=True)
    i += 1
"""


def test_a_writer_killed_mid_append_leaves_a_readable_log(tmp_path):
    path = tmp_path / "events.sqlite"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    acknowledged = 0
    for line in proc.stdout:
        acknowledged = int(line)
        if acknowledged >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    ids = [row[0] for row in db.execute("SELECT id FROM events ORDER BY id")]
    assert ids == list(range(1, len(ids) + 1))  # nothing torn, nothing missing in between
    assert acknowledged <= len(ids)  # every acknowledged append is there; at most the one in flight beyond it
    events = EventLog(path).read("w")
    assert len(events) == len(ids) and events[-1][1].text.startswith("x" * 2000)


APPENDER = """
import sys, time
from aiex_kernel.core.events import TurnStarted
from aiex_kernel.runtime.events import EventLog
time.sleep(0.5)
print(EventLog(sys.argv[1]).append(TurnStarted("shared", time.time(), turn="other", prompt="from elsewhere")), flush=True)
"""


def test_a_follower_sees_another_process_append_within_a_second(tmp_path):
    path = tmp_path / "events.sqlite"
    log = EventLog(path)
    log.append(ev.SessionStarted("shared", time.time()))
    seen: list = []
    arrived = threading.Event()

    def on_events(new):
        seen.extend(new)
        arrived.set()

    follower = Follower(log, "shared", log.last_id("shared"), on_events).start()
    try:
        proc = subprocess.run([sys.executable, "-c", APPENDER, str(path)], capture_output=True, text=True, timeout=60)
        written = time.monotonic()
        assert proc.returncode == 0, proc.stderr
        assert arrived.wait(1.0), "the follower did not see the other process's event within 1 s"
        assert time.monotonic() - written < 1.0
        assert seen[-1][1].prompt == "from elsewhere"
    finally:
        follower.stop()


def test_announcing_never_starts_a_cluster_or_imports_distributed(tmp_path):
    code = ("import sys, time\nfrom aiex_kernel.core.events import MemoryCleared\n"
            "from aiex_kernel.runtime.events import EventLog\n"
            f"EventLog({str(tmp_path / 'e.sqlite')!r}).append(MemoryCleared('s', time.time()))\n"
            "print('distributed' in sys.modules, 'dask' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.split() == ["False", "False"]
