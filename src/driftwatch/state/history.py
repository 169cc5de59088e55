"""The check history: what every scheduled check found, which alert events it caused, who was told.

An audit trail for "when did this model start drifting, what did we know, and who was told?". One row
per stored `CheckResult` (a model's own, and each scope, rolling-baseline and champion/challenger
result of a scoped model), with what it was computed from (the config and reference it ran with, the
Kafka offsets its window held) and what it fed to the alert policy; the alert events the policy
emitted for it (firing, resolved, retired, new_version); and each webhook delivery of those events
per target, kept after the outbox forgets it.

It lives in a SQLite file of its own (WAL mode, like the state file), so `driftwatch history` reads
it while the daemon writes, and a large history never slows the state file's checkpoints. The result
itself is stored as zstd-compressed JSON (`CheckResult.as_dict`, exactly what /api shows). Rows older
than the retention, and the oldest beyond ``max_checks``, go at each `HistoryStore.prune`.

Check rows and transitions carry a globally unique ``uid`` (a transition also its check row's
``check_uid``): scaled out, each replica applies the entries of every replica's checks
(`driftwatch.state.history_log`) with `HistoryStore.apply`, which stores an entry read twice once, links
a transition read before its check when the check comes, and keeps a delivery's latest update. The
positions it has applied the topic to are kept in the same file, in the same transaction.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from driftwatch.state.history_log import CheckEntry, DeliveryEntry, HistoryEntry, TransitionEntry
from driftwatch.state.store import open_state_db

__all__ = ["HistoryCheck", "HistoryDelivery", "HistoryStore", "HistoryTransition"]

_SCHEMA = """
PRAGMA auto_vacuum = INCREMENTAL;
CREATE TABLE IF NOT EXISTS history_check (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ran_at REAL NOT NULL,
    model TEXT NOT NULL,
    scope TEXT NOT NULL,
    baseline TEXT NOT NULL,
    model_version TEXT NOT NULL,
    segment TEXT NOT NULL,
    status TEXT NOT NULL,
    answered INTEGER NOT NULL,
    reason TEXT,
    window_start REAL NOT NULL,
    window_end REAL NOT NULL,
    rows INTEGER NOT NULL,
    config_hash TEXT NOT NULL,
    reference_hash TEXT NOT NULL,
    driftwatch_version TEXT NOT NULL,
    positions TEXT NOT NULL,  -- JSON {"topic:partition": next offset}
    breaches TEXT NOT NULL,  -- JSON {check id: breaching}
    checks TEXT NOT NULL,  -- JSON [alert check ids the row covers]
    result BLOB NOT NULL  -- zstd-compressed JSON of CheckResult.as_dict()
);
CREATE INDEX IF NOT EXISTS history_check_model ON history_check (model, ran_at);
CREATE INDEX IF NOT EXISTS history_check_ran ON history_check (ran_at);
CREATE TABLE IF NOT EXISTS history_transition (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    check_id INTEGER,  -- the history_check row of the check that caused it (NULL: its write failed)
    model TEXT NOT NULL,
    scope TEXT NOT NULL,
    check_name TEXT NOT NULL,
    transition TEXT NOT NULL,
    at REAL NOT NULL,
    window_end REAL,
    reason TEXT,
    idempotency_key TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS history_transition_check ON history_transition (model, check_id);
CREATE INDEX IF NOT EXISTS history_transition_key ON history_transition (idempotency_key);
CREATE TABLE IF NOT EXISTS history_delivery (
    target TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status TEXT NOT NULL,  -- pending | delivered | dead
    attempts INTEGER NOT NULL,
    last_status INTEGER,  -- the HTTP status of the last attempt (NULL: none answered yet)
    last_error TEXT,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (target, idempotency_key)
);
CREATE INDEX IF NOT EXISTS history_delivery_key ON history_delivery (idempotency_key);
CREATE TABLE IF NOT EXISTS history_feed (  -- scaled out: how far G.history is applied to this file
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""
# columns added after the first release: a file made before gains them in place (ALTER TABLE ADD COLUMN)
_ADDED = (
    ("history_check", "uid", "TEXT"),
    ("history_transition", "uid", "TEXT"),
    ("history_transition", "check_uid", "TEXT"),  # the uid of its check row (links one applied before it)
)
_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS history_check_uid ON history_check (uid);
CREATE UNIQUE INDEX IF NOT EXISTS history_transition_uid ON history_transition (uid);
CREATE INDEX IF NOT EXISTS history_transition_check_uid ON history_transition (check_uid)
    WHERE check_id IS NULL;
"""

_CHECK_COLUMNS = (
    "id, ran_at, model, scope, baseline, model_version, segment, status, answered, reason, window_start, "
    "window_end, rows, config_hash, reference_hash, driftwatch_version, positions, breaches, checks, result"
)
_ZSTD_LEVEL = 3


@dataclass(frozen=True)
class HistoryTransition:
    """One alert event the policy emitted for a check (or a new version announced at it)."""

    id: int
    check_id: int | None
    model: str
    scope: str
    check: str
    transition: str  # firing | resolved | new_version (a retired scope's: resolved, reason "retired")
    at: float  # when it was emitted (unix seconds)
    window_end: float | None  # the end of the window it is about (in its idempotency key)
    reason: str | None
    idempotency_key: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "check_id": self.check_id,
            "model": self.model,
            "scope": self.scope,
            "check": self.check,
            "transition": self.transition,
            "at": self.at,
            "window_end": self.window_end,
            "reason": self.reason,
            "idempotency_key": self.idempotency_key,
        }


@dataclass(frozen=True)
class HistoryDelivery:
    """The webhook delivery of one event to one target, as it last stood."""

    target: str
    idempotency_key: str
    status: str  # pending | delivered | dead
    attempts: int
    last_status: int | None  # HTTP status of the last attempt; None when nothing answered
    last_error: str | None
    created_at: float
    updated_at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "idempotency_key": self.idempotency_key,
            "status": self.status,
            "attempts": self.attempts,
            "last_status": self.last_status,
            "last_error": self.last_error,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }


@dataclass(frozen=True)
class HistoryCheck:
    """One stored check result with what it ran on, what it fed the policy, and what that caused."""

    id: int
    ran_at: float
    model: str
    scope: str  # "" for the whole model
    baseline: str  # "" the training reference, "rolling" the model's own trailing period
    model_version: str
    segment: str
    status: str
    answered: bool
    reason: str | None
    window_start: float
    window_end: float
    rows: int
    config_hash: str
    reference_hash: str
    driftwatch_version: str
    # "topic:partition" -> the next offset whose records were in the window's snapshot; {} when unknown
    positions: dict[str, int]
    breaches: dict[str, bool]  # check id -> breaching, as fed to the alert policy
    result: dict[str, Any]  # CheckResult.as_dict()
    checks: list[str] = field(default_factory=list)  # the alert check ids of the result's scope
    transitions: list[HistoryTransition] = field(default_factory=list)
    deliveries: list[HistoryDelivery] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "ran_at": self.ran_at,
            "model": self.model,
            "scope": self.scope,
            "baseline": self.baseline,
            "model_version": self.model_version,
            "segment": self.segment,
            "status": self.status,
            "answered": self.answered,
            "reason": self.reason,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "rows": self.rows,
            "config_hash": self.config_hash,
            "reference_hash": self.reference_hash,
            "driftwatch_version": self.driftwatch_version,
            "positions": dict(self.positions),
            "breaches": dict(self.breaches),
            "checks": list(self.checks),
            "result": self.result,
            "transitions": [t.as_dict() for t in self.transitions],
            "deliveries": [d.as_dict() for d in self.deliveries],
        }


class HistoryStore:
    """The history file: check rows, their alert transitions and webhook deliveries.

    Thread-safe (one connection under a lock): the scheduler records checks and transitions, the
    webhook thread deliveries. Another process may read it at the same time (WAL)."""

    def __init__(self, path: Path | str, retention: float = 90 * 86400.0, max_checks: int = 150_000) -> None:
        self.path = str(path)
        self.retention = retention
        self.max_checks = max_checks
        try:
            # rows of 1-2 kB fill 8 kB pages better than the default 4 kB ones (a fifth less disk)
            self._db = open_state_db(self.path, _SCHEMA, page_size=8192)
            self._db.execute("PRAGMA busy_timeout = 5000")
            for table, name, kind in _ADDED:
                if name not in {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            self._db.executescript(_INDEXES)
        except (sqlite3.Error, OSError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise OSError(
                f"history.path: cannot open SQLite history file {self.path} ({why}); "
                "point history.path at a writable location"
            ) from None
        self._lock = threading.Lock()

    # writes --------------------------------------------------------------------------------------

    def record_check(
        self,
        *,
        ran_at: float,
        result: Mapping[str, Any],
        model: str,
        scope: str = "",
        baseline: str = "",
        model_version: str = "",
        segment: str = "",
        status: str,
        answered: bool,
        reason: str | None,
        window_start: float,
        window_end: float,
        rows: int,
        config_hash: str,
        reference_hash: str,
        driftwatch_version: str,
        positions: Mapping[str, int] | None = None,
        breaches: Mapping[str, bool] | None = None,
        checks: Sequence[str] = (),
        uid: str | None = None,
    ) -> int:
        """Store one check result (``result``: its `CheckResult.as_dict`); returns the row's id (the
        stored one's when a row with ``uid`` is there already)."""
        # a compressor per call: zstandard's are not thread-safe, and checks of several models run at once
        blob = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(_json(result).encode())
        row = (
            uid,
            ran_at,
            model,
            scope,
            baseline,
            model_version,
            segment,
            status,
            int(answered),
            reason,
            window_start,
            window_end,
            rows,
            config_hash,
            reference_hash,
            driftwatch_version,
            _json(dict(positions or {})),
            _json({str(k): bool(v) for k, v in (breaches or {}).items()}),
            _json(list(checks)),
            blob,
        )
        with self._lock:
            return self._insert_check(row)[0]

    def _insert_check(self, row: tuple[Any, ...]) -> tuple[int, bool]:
        """Insert a check row (its uid first) unless one with its uid is there; (its id, inserted).
        Transitions applied before it are linked to it. Under the lock."""
        db, uid = self._db, row[0]
        cursor = db.execute(
            "INSERT OR IGNORE INTO history_check (uid, ran_at, model, scope, baseline, model_version, segment, "
            "status, answered, reason, window_start, window_end, rows, config_hash, reference_hash, "
            "driftwatch_version, positions, breaches, checks, result) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        if not cursor.rowcount:
            return int(db.execute("SELECT id FROM history_check WHERE uid = ?", (uid,)).fetchone()[0]), False
        assert cursor.lastrowid is not None
        if uid is not None:
            db.execute(
                "UPDATE history_transition SET check_id = ? WHERE check_uid = ? AND check_id IS NULL",
                (cursor.lastrowid, uid),
            )
        return int(cursor.lastrowid), True

    def record_transition(
        self,
        *,
        check_id: int | None = None,
        model: str,
        scope: str,
        check: str,
        transition: str,
        at: float,
        idempotency_key: str,
        window_end: float | None = None,
        reason: str | None = None,
        uid: str | None = None,
        check_uid: str | None = None,
    ) -> int:
        """Store one alert event emitted for the check row ``check_id`` (or the one whose uid is
        ``check_uid``, linked when it is stored later); returns its id (the stored one's when a
        transition with ``uid`` is there already)."""
        with self._lock:
            return self._insert_transition(
                (
                    uid,
                    check_id,
                    check_uid,
                    model,
                    scope,
                    check,
                    transition,
                    at,
                    window_end,
                    reason,
                    idempotency_key,
                )
            )

    def _insert_transition(self, row: tuple[Any, ...]) -> int:
        db = self._db
        uid, check_id, check_uid = row[0], row[1], row[2]
        if check_id is None and check_uid is not None:
            found = db.execute("SELECT id FROM history_check WHERE uid = ?", (check_uid,)).fetchone()
            if found is not None:
                row = (uid, int(found[0]), *row[2:])
        cursor = db.execute(
            "INSERT OR IGNORE INTO history_transition (uid, check_id, check_uid, model, scope, check_name, "
            "transition, at, window_end, reason, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            row,
        )
        if not cursor.rowcount:
            return int(db.execute("SELECT id FROM history_transition WHERE uid = ?", (uid,)).fetchone()[0])
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def record_delivery(
        self,
        *,
        target: str,
        idempotency_key: str,
        status: str,
        attempts: int,
        at: float,
        last_status: int | None = None,
        last_error: str | None = None,
    ) -> None:
        """The delivery of event ``idempotency_key`` to ``target`` stands so at ``at`` (an upsert: the
        earliest record sets its created_at, the latest its status, attempts, last answer and
        updated_at; an older one read after it changes nothing else)."""
        with self._lock:
            self._upsert_delivery(
                (target, idempotency_key, status, attempts, last_status, last_error, at, at)
            )

    def _upsert_delivery(self, row: tuple[Any, ...]) -> None:
        self._db.execute(
            "INSERT INTO history_delivery (target, idempotency_key, status, attempts, last_status, "
            "last_error, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (target, idempotency_key) DO UPDATE SET "
            "created_at = MIN(history_delivery.created_at, excluded.created_at), "
            "status = CASE WHEN excluded.updated_at >= history_delivery.updated_at THEN excluded.status "
            "ELSE history_delivery.status END, "
            "attempts = CASE WHEN excluded.updated_at >= history_delivery.updated_at THEN excluded.attempts "
            "ELSE history_delivery.attempts END, "
            "last_status = CASE WHEN excluded.updated_at >= history_delivery.updated_at "
            "THEN COALESCE(excluded.last_status, history_delivery.last_status) "
            "ELSE history_delivery.last_status END, "
            "last_error = CASE WHEN excluded.updated_at >= history_delivery.updated_at THEN excluded.last_error "
            "ELSE history_delivery.last_error END, "
            "updated_at = MAX(history_delivery.updated_at, excluded.updated_at)",
            row,
        )

    def apply(self, entries: Sequence[HistoryEntry], positions: Mapping[tuple[str, int], int]) -> int:
        """Store entries of ``G.history`` (each once however often applied) and the positions
        (topic, partition) -> next offset they bring this file to, in one transaction; returns the
        check rows added."""
        added = 0
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                for entry in entries:
                    if isinstance(entry, CheckEntry):
                        added += self._insert_check(_check_row(entry))[1]
                    elif isinstance(entry, TransitionEntry):
                        self._insert_transition(
                            (
                                entry.uid,
                                None,
                                entry.check_uid,
                                entry.model,
                                entry.scope,
                                entry.check,
                                entry.transition,
                                entry.at,
                                entry.window_end,
                                entry.reason,
                                entry.idempotency_key,
                            )
                        )
                    elif isinstance(entry, DeliveryEntry):
                        self._upsert_delivery(
                            (
                                entry.target,
                                entry.idempotency_key,
                                entry.status,
                                entry.attempts,
                                entry.last_status,
                                entry.last_error,
                                entry.at,
                                entry.at,
                            )
                        )
                db.executemany(
                    "INSERT INTO history_feed (topic, partition, next_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset",
                    [(topic, partition, offset) for (topic, partition), offset in positions.items()],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return added

    def positions(self, topic: str) -> dict[int, int]:
        """partition -> the next offset of ``topic`` to apply (`apply`); {} when none was."""
        with self._lock:
            rows = self._db.execute(
                "SELECT partition, next_offset FROM history_feed WHERE topic = ?", (topic,)
            ).fetchall()
        return {int(p): int(o) for p, o in rows}

    def prune(self, now: float) -> int:
        """Forget check rows ran before ``now - retention`` and the oldest beyond ``max_checks``, with
        their transitions and the deliveries of those; returns the check rows forgotten."""
        cutoff = now - self.retention
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                gone = db.execute("DELETE FROM history_check WHERE ran_at < ?", (cutoff,)).rowcount
                count = int(db.execute("SELECT COUNT(*) FROM history_check").fetchone()[0])
                if count > self.max_checks:
                    gone += db.execute(
                        "DELETE FROM history_check WHERE id IN "
                        "(SELECT id FROM history_check ORDER BY ran_at, id LIMIT ?)",
                        (count - self.max_checks,),
                    ).rowcount
                db.execute(
                    "DELETE FROM history_transition WHERE at < ? OR (check_id IS NOT NULL AND NOT EXISTS "
                    "(SELECT 1 FROM history_check c WHERE c.id = history_transition.check_id))",
                    (cutoff,),
                )
                # a delivery goes with the transitions of its event; one without any (its transition
                # could not be written) with age, or once it is older than every check row kept
                db.execute(
                    "DELETE FROM history_delivery WHERE NOT EXISTS (SELECT 1 FROM history_transition t "
                    "WHERE t.idempotency_key = history_delivery.idempotency_key) AND (updated_at < ? OR "
                    "created_at < (SELECT COALESCE(MIN(ran_at), 0) FROM history_check))",
                    (cutoff,),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            if gone:
                db.execute("PRAGMA incremental_vacuum")
        return int(gone)

    # reads ---------------------------------------------------------------------------------------

    def checks(
        self,
        model: str,
        since: float | None = None,
        until: float | None = None,
        check: str | None = None,
        scope: str | None = None,
        limit: int | None = None,
    ) -> list[HistoryCheck]:
        """The check rows of ``model`` in ran_at order, ran in ``[since, until]`` (unix seconds, either
        open), of the alert check ``check`` (rows whose scope has it, or that fed or emitted it) and of
        ``scope`` ("" the whole model's), with their transitions and deliveries. With ``limit``, the
        latest ``limit`` rows (still in ran_at order)."""
        where: list[str] = ["model = ?"]
        params: list[Any] = [model]
        if since is not None:
            where.append("ran_at >= ?")
            params.append(since)
        if until is not None:
            where.append("ran_at <= ?")
            params.append(until)
        if scope is not None:
            where.append("scope = ?")
            params.append(scope)
        if check is not None:
            where.append(
                "(EXISTS (SELECT 1 FROM json_each(history_check.checks) WHERE value = ?) "
                "OR EXISTS (SELECT 1 FROM json_each(history_check.breaches) WHERE key = ?) "
                "OR EXISTS (SELECT 1 FROM history_transition t WHERE t.model = history_check.model "
                "AND t.check_id = history_check.id AND t.check_name = ?))"
            )
            params += [check, check, check]
        sql = f"SELECT {_CHECK_COLUMNS} FROM history_check WHERE {' AND '.join(where)}"
        if limit is not None:
            sql = f"SELECT * FROM ({sql} ORDER BY ran_at DESC, id DESC LIMIT {int(limit)})"
        sql += " ORDER BY ran_at, id"
        with self._lock:
            rows = self._db.execute(sql, params).fetchall()
            if not rows:
                return []
            low, high = min(r[0] for r in rows), max(r[0] for r in rows)
            transitions = self._db.execute(
                "SELECT id, check_id, model, scope, check_name, transition, at, window_end, reason, "
                "idempotency_key FROM history_transition WHERE model = ? AND check_id BETWEEN ? AND ? "
                "ORDER BY id",
                (model, low, high),
            ).fetchall()
            deliveries = self._db.execute(
                "SELECT target, idempotency_key, status, attempts, last_status, last_error, created_at, "
                "updated_at FROM history_delivery WHERE idempotency_key IN (SELECT idempotency_key FROM "
                "history_transition WHERE model = ? AND check_id BETWEEN ? AND ?) ORDER BY created_at, target",
                (model, low, high),
            ).fetchall()
        by_check: dict[int, list[HistoryTransition]] = {}
        for t in transitions:
            transition = HistoryTransition(
                int(t[0]), t[1], t[2], t[3], t[4], t[5], float(t[6]), t[7], t[8], t[9]
            )
            by_check.setdefault(int(t[1]), []).append(transition)
        by_key: dict[str, list[HistoryDelivery]] = {}
        for d in deliveries:
            by_key.setdefault(d[1], []).append(
                HistoryDelivery(d[0], d[1], d[2], int(d[3]), d[4], d[5], float(d[6]), float(d[7]))
            )
        decompressor = zstandard.ZstdDecompressor()
        return [self._check(row, by_check.get(int(row[0]), []), by_key, decompressor) for row in rows]

    def count(self) -> int:
        """Stored check rows (every model's)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM history_check").fetchone()[0])

    def models(self) -> list[str]:
        """The models with stored check rows."""
        with self._lock:
            return [
                str(r[0]) for r in self._db.execute("SELECT DISTINCT model FROM history_check ORDER BY 1")
            ]

    def size_bytes(self) -> int:
        """The file's size in use: its pages less the free ones (a pruned file's free pages are reused)."""
        with self._lock:
            pages = int(self._db.execute("PRAGMA page_count").fetchone()[0])
            free = int(self._db.execute("PRAGMA freelist_count").fetchone()[0])
            size = int(self._db.execute("PRAGMA page_size").fetchone()[0])
        return (pages - free) * size

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _check(
        self,
        row: Sequence[Any],
        transitions: list[HistoryTransition],
        by_key: Mapping[str, list[HistoryDelivery]],
        decompressor: zstandard.ZstdDecompressor,
    ) -> HistoryCheck:
        keys = dict.fromkeys(t.idempotency_key for t in transitions)
        return HistoryCheck(
            id=int(row[0]),
            ran_at=float(row[1]),
            model=row[2],
            scope=row[3],
            baseline=row[4],
            model_version=row[5],
            segment=row[6],
            status=row[7],
            answered=bool(row[8]),
            reason=row[9],
            window_start=float(row[10]),
            window_end=float(row[11]),
            rows=int(row[12]),
            config_hash=row[13],
            reference_hash=row[14],
            driftwatch_version=row[15],
            positions={str(k): int(v) for k, v in json.loads(row[16]).items()},
            breaches={str(k): bool(v) for k, v in json.loads(row[17]).items()},
            checks=[str(c) for c in json.loads(row[18])],
            result=json.loads(decompressor.decompress(bytes(row[19]))),
            transitions=transitions,
            deliveries=[d for key in keys for d in by_key.get(key, [])],
        )


def _check_row(entry: CheckEntry) -> tuple[Any, ...]:
    blob = zstandard.ZstdCompressor(level=_ZSTD_LEVEL).compress(_json(entry.result).encode())
    return (
        entry.uid,
        entry.ran_at,
        entry.model,
        entry.scope,
        entry.baseline,
        entry.model_version,
        entry.segment,
        entry.status,
        int(entry.answered),
        entry.reason,
        entry.window_start,
        entry.window_end,
        entry.rows,
        entry.config_hash,
        entry.reference_hash,
        entry.driftwatch_version,
        _json(dict(entry.positions)),
        _json({str(k): bool(v) for k, v in entry.breaches.items()}),
        _json(list(entry.checks)),
        blob,
    )


def _json(value: Any) -> str:
    """Compact JSON; a non-finite float (never in a result's dict, but a caller's mapping may have one)
    is stored as null, as /api shows it."""
    try:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)
    except ValueError:
        return json.dumps(_finite(value), separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value
