"""The event log: every prompt, context choice, answer, error and session change, in SQLite.

The log is the source of truth; sessions, checkpoints and usage stats are folds
over it (``core/sessions.py``, ``core/stats.py``).

On disk (``<data dir>/events.sqlite``, WAL mode, ``synchronous=NORMAL``)::

    events       id INTEGER PRIMARY KEY AUTOINCREMENT, session, kind, schema, at, turn, data (JSON)
    event_text   FTS5 over prompts and answers (rowid = events.id), for `list sessions --query`

Crash protocol: each append is one transaction (the event row and its text row),
so a process killed mid-append (even with SIGKILL) leaves a readable log that has
lost at most the event in flight; WAL with ``synchronous=NORMAL`` keeps a
committed event across a process crash (a power cut may lose the last ones).
Rows are never updated; ``delete session`` really deletes a session's rows.
Secrets are redacted from every event before it is written (``redact_event``).

Announcing: when this process is attached to a Dask cluster (never starting one,
never importing distributed otherwise), each append is also announced on the
``aiex-events`` topic (``Client.log_event``) so other kernels on the same shared
cluster learn of it at once; that channel keeps no backlog, so a subscriber
always reads the events themselves from SQLite (:class:`Follower`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ..core.events import SCHEMA_VERSION, Event, from_record, redact_event, to_record
from ..errors import EventLogError

__all__ = ["TOPIC", "EventLog", "Follower", "SessionSummary", "event_log"]

TOPIC = "aiex-events"
FILE_NAME = "events.sqlite"
#: kinds whose text is searchable, and the field holding it
_TEXT_FIELDS = {"TurnStarted": "prompt", "Answered": "text", "Cancelled": "partial"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    session TEXT NOT NULL,
    kind TEXT NOT NULL,
    schema INTEGER NOT NULL,
    at REAL NOT NULL,
    turn TEXT,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_session ON events(session, id);
CREATE INDEX IF NOT EXISTS events_by_kind ON events(kind, at);
CREATE INDEX IF NOT EXISTS events_by_turn ON events(turn);
CREATE INDEX IF NOT EXISTS events_by_provider ON events(json_extract(data, '$.provider'), id)
    WHERE kind IN ('Answered', 'Failed');
CREATE VIRTUAL TABLE IF NOT EXISTS event_text USING fts5(session UNINDEXED, text);
"""


@dataclass(frozen=True)
class SessionSummary:
    name: str
    started_at: float
    last_at: float
    turns: int
    events: int


class EventLog:
    """One SQLite event log; safe to use from several threads and processes at once."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._local = threading.local()
        self._listeners: list[Callable[[int, Event], None]] = []

    def __repr__(self) -> str:
        return f"EventLog({str(self.path)!r})"

    # -- connections ------------------------------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(self.path, timeout=10.0, isolation_level=None)
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise EventLogError(f"Cannot open the event log {self.path}: {exc}. aiex keeps sessions there: make "
                                    "the data directory writable or point AIEX_DATA_DIR elsewhere.") from None
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- writing ----------------------------------------------------------------------------------

    def append(self, event: Event) -> int | None:
        """Write ``event`` (redacted) and return its id; events that are not stored return None."""
        return self.append_many([event])[0]

    def append_many(self, events: list[Event]) -> list[int | None]:
        """Write ``events`` (redacted) in one transaction; their ids (None for those not stored)."""
        stored = [e for e in events if e.STORED]
        if not stored:
            return [None] * len(events)
        db = self._db()
        positions: dict[int, int] = {}
        try:
            db.execute("BEGIN IMMEDIATE")
            for event in stored:
                clean, _ = redact_event(event)
                kind, data = to_record(clean)
                cur = db.execute("INSERT INTO events (session, kind, schema, at, turn, data) VALUES (?, ?, ?, ?, ?, ?)",
                                 (clean.session, kind, SCHEMA_VERSION, clean.at,
                                  data.get("turn") or data.get("compare"), json.dumps(data)))
                positions[id(event)] = cur.lastrowid
                text_field = _TEXT_FIELDS.get(kind)
                if text_field and data.get(text_field):
                    db.execute("INSERT INTO event_text (rowid, session, text) VALUES (?, ?, ?)",
                               (cur.lastrowid, clean.session, data[text_field]))
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise EventLogError(f"Cannot write to the event log {self.path}: {exc}.") from None
        for event in stored:
            for listener in list(self._listeners):
                listener(positions[id(event)], redact_event(event)[0])
        _announce(stored[-1].session, positions[id(stored[-1])])
        return [positions.get(id(e)) for e in events]

    def on_append(self, listener: Callable[[int, Event], None]) -> None:
        """Call ``listener(id, event)`` after each append made through this object."""
        self._listeners.append(listener)

    def delete_session(self, name: str) -> int:
        """Delete every event of session ``name``; the number deleted."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM event_text WHERE session = ?", (name,))
            n = db.execute("DELETE FROM events WHERE session = ?", (name,)).rowcount
            db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.execute("ROLLBACK")
            raise EventLogError(f"Cannot delete from the event log {self.path}: {exc}.") from None
        return n

    # -- reading ----------------------------------------------------------------------------------

    def read(self, session: str, after: int = 0) -> list[tuple[int, Event]]:
        """The events of ``session`` with an id above ``after``, oldest first."""
        rows = self._db().execute("SELECT id, session, kind, at, data FROM events WHERE session = ? AND id > ? "
                                  "ORDER BY id", (session, after)).fetchall()
        return [(row[0], from_record(row[2], row[1], row[3], json.loads(row[4]))) for row in rows]

    def events(self, *, kinds: Iterable[str] = (), since: float | None = None,
               after: int | None = None) -> list[tuple[int, Event]]:
        """Events of every session, oldest first (``kinds``: only these; ``since``: at or after that time;
        ``after``: with a greater id)."""
        sql, args = "SELECT id, session, kind, at, data FROM events WHERE 1=1", []
        if after is not None:
            sql += " AND id > ?"
            args.append(after)
        kinds = list(kinds)
        if kinds:
            sql += f" AND kind IN ({','.join('?' * len(kinds))})"
            args += kinds
        if since is not None:
            sql += " AND at >= ?"
            args.append(since)
        rows = self._db().execute(sql + " ORDER BY id", args).fetchall()
        return [(row[0], from_record(row[2], row[1], row[3], json.loads(row[4]))) for row in rows]

    def by_turn(self, turn: str) -> list[tuple[int, Event]]:
        """Every event of turn (or comparison) ``turn``, in any session, oldest first."""
        rows = self._db().execute("SELECT id, session, kind, at, data FROM events WHERE turn = ? ORDER BY id",
                                  (turn,)).fetchall()
        return [(row[0], from_record(row[2], row[1], row[3], json.loads(row[4]))) for row in rows]

    def estimates(self, provider: str, limit: int = 200) -> list[tuple[float, int]]:
        """``(aiex's raw token estimate of what was sent, input_tokens the provider reported)`` of ``provider``'s
        latest answers that carry both (to recalibrate the estimate of models without an offline tokenizer)."""
        rows = self._db().execute(
            "SELECT json_extract(data, '$.estimated_tokens'), json_extract(data, '$.input_tokens') FROM events "
            "WHERE kind = 'Answered' AND json_extract(data, '$.provider') = ? "
            "AND json_extract(data, '$.estimated_tokens') IS NOT NULL AND json_extract(data, '$.input_tokens') > 0 "
            "ORDER BY id DESC LIMIT ?", (provider, limit)).fetchall()
        return [(float(a), int(b)) for a, b in rows]

    def outcomes(self, provider: str, limit: int = 20) -> list[tuple[float, bool]]:
        """``(at, succeeded)`` of ``provider``'s latest calls, oldest first (for its circuit breaker)."""
        rows = self._db().execute(
            "SELECT at, kind FROM events WHERE json_extract(data, '$.provider') = ? AND kind IN ('Answered', 'Failed') "
            "ORDER BY id DESC LIMIT ?", (provider, limit)).fetchall()
        return [(at, kind == "Answered") for at, kind in reversed(rows)]

    def exists(self, session: str) -> bool:
        return self._db().execute("SELECT 1 FROM events WHERE session = ? LIMIT 1", (session,)).fetchone() is not None

    def last_id(self, session: str | None = None) -> int:
        if session is None:
            row = self._db().execute("SELECT MAX(id) FROM events").fetchone()
        else:
            row = self._db().execute("SELECT MAX(id) FROM events WHERE session = ?", (session,)).fetchone()
        return row[0] or 0

    def sessions(self, query: str | None = None) -> list[SessionSummary]:
        """Every session, the most recent first; ``query``: only those whose prompts or answers hold it."""
        sql = ("SELECT session, MIN(at), MAX(at), SUM(kind = 'TurnStarted'), COUNT(*) FROM events "
               "WHERE session != ''")
        args: list = []
        if query:
            phrase = '"' + query.replace('"', '""') + '"'
            sql += " AND session IN (SELECT session FROM event_text WHERE event_text MATCH ?)"
            args.append(phrase)
        rows = self._db().execute(sql + " GROUP BY session ORDER BY MAX(id) DESC", args).fetchall()
        return [SessionSummary(*row) for row in rows]


def _announce(session: str, position: int) -> None:
    """Tell other processes on the cluster this process is attached to (if any) that ``session`` grew."""
    from .cluster import runtime_if_started

    runtime = runtime_if_started()
    if runtime is None:
        return
    try:
        client = runtime.client
        client.loop.add_callback(client.scheduler.log_event, topic=TOPIC,
                                 msg={"session": session, "id": position})
    except Exception:  # noqa: BLE001 - announcing is best effort; the log itself has the event
        pass


class Follower:
    """Keeps a session's state current with what other processes append, within a second.

    Reads new events from SQLite every ``interval`` seconds, and at once when the
    cluster this process is attached to announces one (the topic carries no
    events, only the news). ``on_events(list of (id, event))`` gets what is new.
    """

    def __init__(self, log: EventLog, session: str, after: int, on_events, *, interval: float = 0.25,
                 attach: Callable[[], None] | None = None) -> None:
        self.log, self.session, self.after = log, session, after
        self.on_events = on_events
        self.interval = interval
        self.attach = attach  #: run once in the follower's thread first (joining the shared cluster)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"aiex-follow-{session}", daemon=True)
        self.subscribed = False  #: listening to the cluster's topic (else: polling only)
        self.announced = 0  #: announcements received from the cluster

    def start(self) -> Follower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def poke(self) -> None:
        self._wake.set()

    def _subscribe(self) -> None:
        from .cluster import runtime_if_started

        runtime = runtime_if_started()
        if runtime is None or self.subscribed:
            return
        try:
            runtime.client.subscribe_topic(TOPIC, self._announced)
            self.subscribed = True
        except Exception:  # noqa: BLE001 - polling still works
            pass

    def _announced(self, event) -> None:
        message = event[1] if isinstance(event, tuple) and len(event) == 2 else event
        if isinstance(message, dict) and message.get("session") == self.session:
            self.announced += 1
            self._wake.set()

    def _run(self) -> None:
        if self.attach is not None:
            try:
                self.attach()
            except Exception:  # noqa: BLE001 - no cluster to listen to: polling still works
                pass
        while not self._stop.is_set():
            self._subscribe()
            try:
                new = self.log.read(self.session, self.after)
            except EventLogError:
                new = []
            if new:
                self.after = new[-1][0]
                try:
                    self.on_events(new)
                except Exception:  # noqa: BLE001 - a listener's bug must not stop following
                    pass
            self._wake.wait(self.interval)
            self._wake.clear()
        self.log.close()


_logs: dict[Path, EventLog] = {}


def event_log(data_dir: str | Path) -> EventLog:
    """The process's event log in ``data_dir`` (one object per path)."""
    path = Path(data_dir) / FILE_NAME
    log = _logs.get(path)
    if log is None:
        log = _logs[path] = EventLog(path)
    return log


def now() -> float:
    return time.time()
