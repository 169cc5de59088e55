"""Durable local state in SQLite: alert state per (model, check), so a restart neither forgets
a firing alert nor fires it again; the webhook outbox; window checkpoints and the Kafka offsets they
cover.

The model-wide alert states stay in ``alert_state`` as before scopes existed; a segment or version
scope's (`driftwatch.scope.Scope.key` not ``""``) are in ``scope_alert_state``. Scope windows are
stored in the window tables under their `driftwatch.scope.window_name`, and opaque named state a
checkpoint writes with them (a model's segment directory) in ``scope_state``.

One file, opened by the daemon; every write commits at once (WAL mode), so a
crash loses nothing that was reported as done.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import astuple, dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import msgspec

from driftwatch.alerting.policy import AlertState
from driftwatch.stream.column_codec import decode_column, encode_column, float_bytes, from_float_bytes

if TYPE_CHECKING:
    # windows (and pandas, scipy under it) load only where a window is read back: the outbox commands
    # (`driftwatch webhooks list`) open the store without them
    from driftwatch.stream.windows import BucketState, Segment, WindowChanges

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
CREATE TABLE IF NOT EXISTS scope_alert_state (
    model TEXT NOT NULL,
    scope TEXT NOT NULL,
    check_name TEXT NOT NULL,
    state TEXT NOT NULL,
    since REAL NOT NULL,
    breaches INTEGER NOT NULL,
    cleans INTEGER NOT NULL,
    last_event_at REAL,
    PRIMARY KEY (model, scope, check_name)
);
CREATE TABLE IF NOT EXISTS scope_state (
    name TEXT PRIMARY KEY,
    data BLOB NOT NULL
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
    model TEXT,
    check_name TEXT,
    transition TEXT,
    PRIMARY KEY (target, idempotency_key)
);
CREATE TABLE IF NOT EXISTS window_meta (
    model TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    type_violations TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS window_bucket (
    model TEXT NOT NULL,
    slot INTEGER NOT NULL,
    start REAL NOT NULL,
    tau REAL NOT NULL,
    seen INTEGER NOT NULL,
    PRIMARY KEY (model, slot)
);
CREATE TABLE IF NOT EXISTS window_segment (
    model TEXT NOT NULL,
    slot INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS kafka_offset (
    group_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (group_id, topic, partition)
);
"""
_INDEXES = """
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_at);
CREATE INDEX IF NOT EXISTS window_segment_slot ON window_segment (model, slot);
"""
# Columns added after the first release of the outbox table: (name, SQL type).
_OUTBOX_ADDED = (("model", "TEXT"), ("check_name", "TEXT"), ("transition", "TEXT"), ("scope", "TEXT"))
_NO_BLOBS: Mapping[str, bytes | None] = MappingProxyType({})
_ROW = (
    "SELECT rowid, target, idempotency_key, body, created_at, attempts, next_at, status, last_error, "
    "model, check_name, transition, scope FROM outbox"
)


@dataclass(frozen=True)
class OutboxRow:
    id: int
    target: str
    key: str
    body: bytes
    created_at: float
    attempts: int
    next_at: float
    status: str  # pending | delivered | dead
    last_error: str | None
    model: str | None = None
    check: str | None = None
    transition: str | None = None
    scope: str | None = None  # the scope key of a segment or version scope's event; None for the whole model


def _row(r: Any) -> OutboxRow:
    return OutboxRow(
        int(r[0]), r[1], r[2], bytes(r[3]), r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12]
    )


def _encode_segment(segment: Segment) -> bytes:
    return msgspec.msgpack.encode(
        (
            float_bytes(segment.timestamps),
            float_bytes(segment.keys),
            [encode_column(column) for column in segment.columns],
        )
    )


def _decode_segment(data: bytes) -> Segment:
    from driftwatch.stream.windows import Segment

    timestamps, keys, columns = msgspec.msgpack.decode(data)
    return Segment(from_float_bytes(timestamps), from_float_bytes(keys), [decode_column(c) for c in columns])


def _delete_window(db: sqlite3.Connection, name: str) -> None:
    for table in ("window_segment", "window_bucket", "window_meta"):
        db.execute(f"DELETE FROM {table} WHERE model = ?", (name,))


def open_state_db(path: str, schema: str, page_size: int | None = None) -> sqlite3.Connection:
    """A SQLite connection for driftwatch's state, with ``schema`` applied; raises `sqlite3.Error`.

    In WAL mode a committed transaction survives the process being killed; NORMAL only skips the fsync
    per commit (a power loss may lose the last moments), which keeps per-batch writes cheap.
    ``page_size`` applies to a new file only (it must be set before WAL mode).
    """
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    if page_size is not None:
        db.execute(f"PRAGMA page_size={int(page_size)}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(schema)
    return db


class Store:
    def __init__(self, path: Path | str) -> None:
        self.path = str(path)
        try:
            self._db = open_state_db(self.path, _SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(outbox)")}
            for name, kind in _OUTBOX_ADDED:
                if name not in columns:
                    self._db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {kind}")
            self._db.executescript(_INDEXES)
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

    def load_scope_alert(self, model: str, scope: str, check: str) -> AlertState | None:
        """The alert state of ``check`` on a segment or version scope (key ``scope``, not "")."""
        with self._lock:
            row = self._db.execute(
                "SELECT state, since, breaches, cleans, last_event_at FROM scope_alert_state "
                "WHERE model = ? AND scope = ? AND check_name = ?",
                (model, scope, check),
            ).fetchone()
        if row is None:
            return None
        return AlertState(state=row[0], since=row[1], breaches=row[2], cleans=row[3], last_event_at=row[4])

    def save_scope_alert(self, model: str, scope: str, check: str, state: AlertState) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO scope_alert_state (model, scope, check_name, state, since, breaches, cleans, "
                "last_event_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (model, scope, check_name) DO UPDATE SET "
                "state = excluded.state, since = excluded.since, breaches = excluded.breaches, "
                "cleans = excluded.cleans, last_event_at = excluded.last_event_at",
                (
                    model,
                    scope,
                    check,
                    state.state,
                    state.since,
                    state.breaches,
                    state.cleans,
                    state.last_event_at,
                ),
            )

    def delete_scope_alerts(self, model: str, scope: str, check: str | None = None) -> int:
        """Forget a scope's alert states (of one check, or all); how many were stored."""
        query = "DELETE FROM scope_alert_state WHERE model = ? AND scope = ?"
        params: tuple[str, ...] = (model, scope)
        if check is not None:
            query += " AND check_name = ?"
            params += (check,)
        with self._lock:
            return int(self._db.execute(query, params).rowcount)

    def scope_alerts(self, model: str) -> list[tuple[str, str, AlertState]]:
        """Every stored scope alert state of ``model``: (scope, check, state), ordered by scope and check
        (the whole model's are `load_alert`'s)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT scope, check_name, state, since, breaches, cleans, last_event_at "
                "FROM scope_alert_state WHERE model = ? ORDER BY scope, check_name",
                (model,),
            ).fetchall()
        return [(str(r[0]), str(r[1]), AlertState(r[2], r[3], r[4], r[5], r[6])) for r in rows]

    def outbox_add(
        self,
        target: str,
        key: str,
        body: bytes,
        now: float,
        model: str | None = None,
        check: str | None = None,
        transition: str | None = None,
        scope: str | None = None,
    ) -> bool:
        """Persist a delivery before any attempt; False when (target, key) is already there (a duplicate)."""
        with self._lock:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO outbox (target, idempotency_key, body, created_at, next_at, "
                "model, check_name, transition, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (target, key, body, now, now, model, check, transition, scope),
            )
            return cursor.rowcount == 1

    def outbox_put(self, row: OutboxRow) -> None:
        """Insert or overwrite a delivery as another process kept it (a new owner restoring it)."""
        with self._lock:
            self._db.execute(
                "INSERT INTO outbox (target, idempotency_key, body, created_at, attempts, next_at, status, "
                "last_error, model, check_name, transition, scope) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (target, idempotency_key) DO UPDATE SET attempts = excluded.attempts, "
                "next_at = excluded.next_at, status = excluded.status, last_error = excluded.last_error",
                astuple(row)[1:],  # every field but the rowid, in the table's order
            )

    def outbox_of(self, model: str) -> list[OutboxRow]:
        """The deliveries of one model's alerts."""
        with self._lock:
            rows = self._db.execute(_ROW + " WHERE model = ? ORDER BY created_at", (model,)).fetchall()
        return [_row(r) for r in rows]

    def outbox_forget(self, model: str) -> int:
        """Drop one model's deliveries (another replica owns the model and its outbox now)."""
        with self._lock:
            return self._db.execute("DELETE FROM outbox WHERE model = ?", (model,)).rowcount

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
        with self._lock:
            rows = (
                self._db.execute(_ROW + " WHERE status = ? ORDER BY created_at", (status,)).fetchall()
                if status
                else self._db.execute(_ROW + " ORDER BY created_at").fetchall()
            )
        return [_row(r) for r in rows]

    def outbox_get(self, target: str, key: str) -> OutboxRow | None:
        with self._lock:
            row = self._db.execute(
                _ROW + " WHERE target = ? AND idempotency_key = ?", (target, key)
            ).fetchone()
        return None if row is None else _row(row)

    def outbox_due(self, now: float, limit: int = 100) -> list[OutboxRow]:
        """Pending deliveries whose next attempt is due, oldest first."""
        with self._lock:
            rows = self._db.execute(
                _ROW + " WHERE status = 'pending' AND next_at <= ? ORDER BY next_at LIMIT ?", (now, limit)
            ).fetchall()
        return [_row(r) for r in rows]

    def outbox_next_at(self) -> float | None:
        """When the earliest pending delivery is due (None when nothing is pending)."""
        with self._lock:
            (value,) = self._db.execute("SELECT MIN(next_at) FROM outbox WHERE status = 'pending'").fetchone()
        return None if value is None else float(value)

    def outbox_pending_counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute(
                "SELECT target, COUNT(*) FROM outbox WHERE status = 'pending' GROUP BY target"
            ).fetchall()
        return {str(target): int(count) for target, count in rows}

    def outbox_requeue(self, now: float, ids: list[int] | None = None, target: str | None = None) -> int:
        """Make dead deliveries (all, or those with the given ids, or of one target) pending again, with a
        fresh attempt count and age. Returns how many were re-queued."""
        query = (
            "UPDATE outbox SET status = 'pending', attempts = 0, next_at = ?, created_at = ?, "
            "last_error = NULL WHERE status != 'delivered'"
        )
        params: list[object] = [now, now]
        if ids is not None:
            query += f" AND rowid IN ({','.join('?' * len(ids))})"
            params += ids
        else:
            query += " AND status = 'dead'"
        if target is not None:
            query += " AND target = ?"
            params.append(target)
        with self._lock:
            return int(self._db.execute(query, params).rowcount)

    def outbox_prune(self, before: float) -> int:
        """Forget delivered entries created before ``before`` (dead ones stay until re-queued)."""
        with self._lock:
            cursor = self._db.execute(
                "DELETE FROM outbox WHERE status = 'delivered' AND created_at < ?", (before,)
            )
            return int(cursor.rowcount)

    # window checkpoints ------------------------------------------------------------------------

    def checkpoint(
        self,
        windows: Mapping[str, tuple[str, WindowChanges]],
        group_id: str,
        offsets: Mapping[tuple[str, int], int],
        *,
        dropped: Sequence[str] = (),
        blobs: Mapping[str, bytes | None] = _NO_BLOBS,
    ) -> None:
        """Store window changes (window name -> (signature, changes)) and the Kafka offsets they cover
        in one transaction: after a crash, the stored windows hold exactly the records before the
        offsets. In the same transaction, the windows named in ``dropped`` are deleted (a scope that
        left; before ``windows`` are written, so a name in both holds what ``windows`` gives), and each
        named blob of ``blobs`` is written (None deletes it), e.g. a model's segment directory, read
        back with `load_blob`."""
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for name in dropped:
                    _delete_window(db, name)
                for name, data in blobs.items():
                    if data is None:
                        db.execute("DELETE FROM scope_state WHERE name = ?", (name,))
                    else:
                        db.execute(
                            "INSERT INTO scope_state (name, data) VALUES (?, ?) "
                            "ON CONFLICT (name) DO UPDATE SET data = excluded.data",
                            (name, data),
                        )
                for model, (signature, changes) in windows.items():
                    if changes.full:
                        db.execute("DELETE FROM window_segment WHERE model = ?", (model,))
                        db.execute("DELETE FROM window_bucket WHERE model = ?", (model,))
                    for slot in changes.dropped:
                        db.execute("DELETE FROM window_segment WHERE model = ? AND slot = ?", (model, slot))
                        db.execute("DELETE FROM window_bucket WHERE model = ? AND slot = ?", (model, slot))
                    for slot in changes.rewritten:
                        db.execute("DELETE FROM window_segment WHERE model = ? AND slot = ?", (model, slot))
                    db.executemany(
                        "INSERT INTO window_segment (model, slot, data) VALUES (?, ?, ?)",
                        [(model, slot, _encode_segment(segment)) for slot, segment in changes.segments],
                    )
                    db.executemany(
                        "INSERT INTO window_bucket (model, slot, start, tau, seen) VALUES (?, ?, ?, ?, ?) "
                        "ON CONFLICT (model, slot) DO UPDATE SET start = excluded.start, tau = excluded.tau, "
                        "seen = excluded.seen",
                        [(model, b.slot, b.start, b.tau, b.seen) for b in changes.buckets],
                    )
                    db.execute(
                        "INSERT INTO window_meta (model, signature, type_violations) VALUES (?, ?, ?) "
                        "ON CONFLICT (model) DO UPDATE SET signature = excluded.signature, "
                        "type_violations = excluded.type_violations",
                        (model, signature, json.dumps(changes.type_violations, sort_keys=True)),
                    )
                db.executemany(
                    "INSERT INTO kafka_offset (group_id, topic, partition, next_offset) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (group_id, topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                    [(group_id, topic, partition, offset) for (topic, partition), offset in offsets.items()],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def load_window(
        self, model: str, signature: str
    ) -> tuple[list[BucketState], list[tuple[int, Segment]], dict[str, int]] | None:
        """The checkpointed window of ``model``; None when there is none or it was made for other
        columns or another bucket layout (the stored one is then forgotten)."""
        from driftwatch.stream.windows import BucketState

        with self._lock:
            meta = self._db.execute(
                "SELECT signature, type_violations FROM window_meta WHERE model = ?", (model,)
            ).fetchone()
            if meta is None:
                return None
            if meta[0] != signature:
                _delete_window(self._db, model)
                return None
            buckets = [
                BucketState(int(r[0]), float(r[1]), float(r[2]), int(r[3]))
                for r in self._db.execute(
                    "SELECT slot, start, tau, seen FROM window_bucket WHERE model = ? ORDER BY slot", (model,)
                )
            ]
            segments = [
                (int(r[0]), _decode_segment(bytes(r[1])))
                for r in self._db.execute(
                    "SELECT slot, data FROM window_segment WHERE model = ? ORDER BY rowid", (model,)
                )
            ]
        return buckets, segments, {str(k): int(v) for k, v in json.loads(meta[1]).items()}

    def forget_window(self, name: str) -> None:
        """Delete the stored window ``name`` (a scope window no longer kept), at once; `checkpoint`'s
        ``dropped`` does the same within a checkpoint."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                _delete_window(self._db, name)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def load_blob(self, name: str) -> bytes | None:
        """The named state last written by `checkpoint`'s ``blobs`` (None when there is none)."""
        with self._lock:
            row = self._db.execute("SELECT data FROM scope_state WHERE name = ?", (name,)).fetchone()
        return None if row is None else bytes(row[0])

    def offsets(self, group_id: str) -> dict[tuple[str, int], int]:
        """Next offset to read per (topic, partition), as of the last checkpoint of this consumer group."""
        with self._lock:
            rows = self._db.execute(
                "SELECT topic, partition, next_offset FROM kafka_offset WHERE group_id = ?", (group_id,)
            ).fetchall()
        return {(str(topic), int(partition)): int(offset) for topic, partition, offset in rows}

    def close(self) -> None:
        with self._lock:
            self._db.close()
