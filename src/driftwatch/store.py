"""Durable local state in SQLite: alert state per (model, check), so a restart neither forgets
a firing alert nor fires it again.

One file, opened by the daemon; every write commits at once (WAL mode), so a
crash loses nothing that was reported as done.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from driftwatch.policy import AlertState

__all__ = ["OutboxRow", "Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alert_state (
    model TEXT NOT NULL,
    check_name TEXT NOT NULL,
    state TEXT NOT NULL,
    since REAL NOT NULL,
    breaches INTEGER NOT NULL,
    cleans INTEGER NOT NULL,
    last_event_at REAL,
    PRIMARY KEY (model, check_name)
);
CREATE TABLE IF NOT EXISTS outbox (
    target TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | delivered | dead
    last_error TEXT,
    PRIMARY KEY (target, idempotency_key)
);
"""


@dataclass(frozen=True)
class OutboxRow:
    target: str
    key: str
    body: bytes
    created_at: float
    attempts: int
    next_at: float
    status: str
    last_error: str | None


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise OSError(
                f"state.path: cannot open SQLite state file {self.path} ({exc}); "
                "point state.path at a writable location"
            ) from None
        self._lock = threading.Lock()

    def load_alert(self, model: str, check: str) -> AlertState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT state, since, breaches, cleans, last_event_at FROM alert_state "
                "WHERE model = ? AND check_name = ?",
                (model, check),
            ).fetchone()
        if row is None:
            return None
        return AlertState(state=row[0], since=row[1], breaches=row[2], cleans=row[3], last_event_at=row[4])

    def save_alert(self, model: str, check: str, state: AlertState) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO alert_state (model, check_name, state, since, breaches, cleans, last_event_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model, check_name) DO UPDATE SET "
                "state = excluded.state, since = excluded.since, breaches = excluded.breaches, "
                "cleans = excluded.cleans, last_event_at = excluded.last_event_at",
                (model, check, state.state, state.since, state.breaches, state.cleans, state.last_event_at),
            )

    def outbox_add(self, target: str, key: str, body: bytes, now: float) -> bool:
        """Persist a delivery before any attempt; False when (target, key) is already there (a duplicate)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO outbox (target, idempotency_key, body, created_at, next_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (target, key, body, now, now),
            )
            return cursor.rowcount == 1

    def outbox_update(
        self, target: str, key: str, status: str, attempts: int, next_at: float, error: str | None
    ) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET status = ?, attempts = ?, next_at = ?, last_error = ? "
                "WHERE target = ? AND idempotency_key = ?",
                (status, attempts, next_at, error, target, key),
            )

    def outbox(self, status: str | None = None) -> list[OutboxRow]:
        query = "SELECT target, idempotency_key, body, created_at, attempts, next_at, status, last_error FROM outbox"
        with self._lock:
            rows = (
                self._db.execute(query + " WHERE status = ? ORDER BY created_at", (status,)).fetchall()
                if status
                else self._db.execute(query + " ORDER BY created_at").fetchall()
            )
        return [OutboxRow(r[0], r[1], bytes(r[2]), r[3], r[4], r[5], r[6], r[7]) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
