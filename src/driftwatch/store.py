"""Durable local state in SQLite: alert state per (model, check), so a restart neither forgets
a firing alert nor fires it again.

One file, opened by the daemon; every write commits at once (WAL mode), so a
crash loses nothing that was reported as done.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from driftwatch.policy import AlertState

__all__ = ["Store"]

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
"""


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

    def close(self) -> None:
        with self._lock:
            self._db.close()
