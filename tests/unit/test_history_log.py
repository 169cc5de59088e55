"""The check history as entries between scaled-out replicas: entries round trip; the history file applies
them once however often they are read, links a transition read before or after its check, keeps a
delivery's latest update; a history file made before the uids gains them in place; and a daemon that
publishes its history writes nothing locally until the entries come back."""

from __future__ import annotations

import math
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from driftwatch.service.history import CheckHistory
from driftwatch.service.metrics import Metrics
from driftwatch.service.webhooks import idempotency_key
from driftwatch.state.history import HistoryStore
from driftwatch.state.history_log import (
    CheckEntry,
    DeliveryEntry,
    HistoryEntry,
    HistoryLogError,
    TransitionEntry,
    decode_history_entry,
    encode_history_entry,
    new_uid,
)
from tests.unit.test_daemon_scopes import NOW, SEGMENTS, Clock, events, make, records, sample
from tests.unit.test_history_store import record, result

TOPIC = "g.history"


def check_entry(uid: str, at: float = NOW, model: str = "m", scope: str = "") -> CheckEntry:
    return CheckEntry(
        uid=uid,
        ran_at=at,
        model=model,
        scope=scope,
        baseline="",
        model_version="v2",
        segment="",
        status="ok",
        answered=True,
        reason=None,
        window_start=at - 3600,
        window_end=at,
        rows=1000,
        config_hash="c" * 64,
        reference_hash="r" * 64,
        driftwatch_version="0.1.0",
        positions={"g.samples:3": 120},
        breaches={"data_drift": True},
        checks=["data_drift"],
        result=result(model, scope=scope),
    )


def transition_entry(uid: str, check_uid: str | None, key: str = "k1", at: float = NOW) -> TransitionEntry:
    return TransitionEntry(
        uid=uid,
        check_uid=check_uid,
        model="m",
        scope="",
        check="data_drift",
        transition="firing",
        at=at,
        idempotency_key=key,
        window_end=at,
        reason=None,
    )


def delivery_entry(status: str, attempts: int, at: float, last_status: int | None = None) -> DeliveryEntry:
    return DeliveryEntry(
        target="hook",
        idempotency_key="k1",
        status=status,
        attempts=attempts,
        at=at,
        last_status=last_status,
        last_error=None if last_status in (None, 200) else f"HTTP {last_status}",
    )


def test_entries_round_trip() -> None:
    entries: list[HistoryEntry] = [
        check_entry(new_uid()),
        transition_entry(new_uid(), new_uid()),
        transition_entry(new_uid(), None),
        delivery_entry("pending", 1, NOW + 1, 503),
    ]
    for entry in entries:
        assert decode_history_entry(encode_history_entry(entry)) == entry
    # a result with a non-finite float (never in a result, but not a reason to lose the entry)
    odd = check_entry("u", NOW)
    odd.result["drift_share"] = math.nan
    back = decode_history_entry(encode_history_entry(odd))
    assert isinstance(back, CheckEntry) and math.isnan(back.result["drift_share"])
    assert len({new_uid() for _ in range(1000)}) == 1000
    with pytest.raises(HistoryLogError):
        decode_history_entry(b"\x93not an entry")


def test_a_check_and_its_transition_are_stored_once_in_whatever_order_they_come(tmp_path: Path) -> None:
    checks = [check_entry(f"c{i}", NOW + 60 * i) for i in range(3)]
    transitions = [transition_entry(f"t{i}", f"c{i}", key=f"k{i}", at=NOW + 60 * i) for i in range(3)]
    orphan = transition_entry("t-lost", None, key="k-lost")  # its check row could not be written
    entries: list[HistoryEntry] = [*checks, *transitions, orphan]
    stores = []
    for seed in range(3):
        store = HistoryStore(tmp_path / f"h{seed}.sqlite")
        shuffled = entries * 2  # every entry read twice
        random.Random(seed).shuffle(shuffled)
        for i in range(0, len(shuffled), 3):  # in several batches
            store.apply(shuffled[i : i + 3], {(TOPIC, 0): i + 3})
        stores.append(store)
    reversed_store = HistoryStore(tmp_path / "rev.sqlite")
    reversed_store.apply(list(reversed(entries)), {(TOPIC, 0): 7})  # each transition before its check
    stores.append(reversed_store)
    for store in stores:
        rows = store.checks("m")
        assert [r.ran_at for r in rows] == [NOW, NOW + 60, NOW + 120]
        assert [[t.idempotency_key for t in r.transitions] for r in rows] == [["k0"], ["k1"], ["k2"]]
        assert all(t.check_id == r.id for r in rows for t in r.transitions)
        assert rows[1].positions == {"g.samples:3": 120}
        assert rows[1].result == result("m")
        assert store.count() == 3
        with sqlite3.connect(store.path) as db:
            assert db.execute("SELECT COUNT(*) FROM history_transition").fetchone()[0] == 4
    assert stores[-1].positions(TOPIC) == {0: 7}
    assert stores[0].positions("other") == {}
    # apply counts only the rows it added
    assert stores[0].apply(checks, {(TOPIC, 0): 99}) == 0
    assert stores[0].apply([check_entry("c-new", NOW + 600)], {(TOPIC, 1): 5}) == 1
    assert stores[0].positions(TOPIC) == {0: 99, 1: 5}


def test_a_delivery_keeps_its_latest_update_whatever_the_order(tmp_path: Path) -> None:
    updates = [
        delivery_entry("pending", 0, NOW),
        delivery_entry("pending", 1, NOW + 1, 503),
        delivery_entry("delivered", 2, NOW + 3, 200),
    ]
    for order in ([0, 1, 2], [2, 1, 0], [1, 2, 0, 1], [2, 0]):
        store = HistoryStore(tmp_path / f"d{''.join(map(str, order))}.sqlite")
        store.apply([check_entry("c"), transition_entry("t", "c")], {})
        for i in order:
            store.apply([updates[i]], {})
        (delivery,) = store.checks("m")[0].deliveries
        assert (delivery.status, delivery.attempts, delivery.last_status, delivery.last_error) == (
            "delivered",
            2,
            200,
            None,
        )
        assert delivery.created_at == NOW
        assert delivery.updated_at == NOW + 3


def test_a_history_file_made_before_the_uids_gains_them_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = HistoryStore(path)
    first = record(old, NOW)
    old.record_transition(
        check_id=first,
        model="m",
        scope="",
        check="data_drift",
        transition="firing",
        at=NOW,
        idempotency_key="k0",
    )
    old.close()
    with sqlite3.connect(path) as db:  # as the first release wrote it
        db.execute("DROP INDEX history_check_uid")
        db.execute("DROP INDEX history_transition_uid")
        db.execute("DROP INDEX history_transition_check_uid")
        db.execute("DROP TABLE history_feed")
        db.execute("ALTER TABLE history_check DROP COLUMN uid")
        db.execute("ALTER TABLE history_transition DROP COLUMN uid")
        db.execute("ALTER TABLE history_transition DROP COLUMN check_uid")
        assert "uid" not in {row[1] for row in db.execute("PRAGMA table_info(history_check)")}
    store = HistoryStore(path)
    with sqlite3.connect(path) as db:
        assert {"uid"} <= {row[1] for row in db.execute("PRAGMA table_info(history_check)")}
        assert {"uid", "check_uid"} <= {row[1] for row in db.execute("PRAGMA table_info(history_transition)")}
    store.apply(
        [check_entry("c1", NOW + 60), transition_entry("t1", "c1", key="k1", at=NOW + 60)], {(TOPIC, 0): 2}
    )
    store.apply([check_entry("c1", NOW + 60)], {(TOPIC, 0): 3})
    rows = store.checks("m")
    assert [(r.ran_at, [t.idempotency_key for t in r.transitions]) for r in rows] == [
        (NOW, ["k0"]),
        (NOW + 60, ["k1"]),
    ]
    assert store.positions(TOPIC) == {0: 3}
    store.close()
    HistoryStore(path).close()  # opened again: nothing more to add


def test_a_publishing_daemon_writes_nothing_until_its_entries_come_back(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, SEGMENTS, clock)
    sent = events(daemon)
    assert daemon.history is not None
    history = daemon.history
    published: list[tuple[str, bytes]] = []
    history.publish = lambda model, value, on_error: published.append((model, value))
    daemon.handle(records(6000, 1, shift={"FR": 2.0}))
    daemon.run_check("m")
    clock.now = NOW + 60
    daemon.run_check("m")
    assert history.store.count() == 0
    assert published and {model for model, _ in published} == {"m"}
    assert sent  # the drift fired
    # read back twice, in batches of 5: each row once, each transition at its row, the gauge counts them
    messages = [(0, offset, value) for offset, (_, value) in enumerate(published)]
    for _ in range(2):
        for i in range(0, len(messages), 5):
            history.apply_messages(
                TOPIC, messages[i : i + 5], {0: messages[min(i + 5, len(messages)) - 1][1] + 1}
            )
    history.apply_messages(TOPIC, [(0, len(messages), b"garbage")], {0: len(messages) + 1})  # skipped
    rows = history.store.checks("m")
    checks = [decode_history_entry(v) for _, v in published]
    assert len(rows) == sum(isinstance(e, CheckEntry) for e in checks)
    assert sample(daemon, "driftwatch_history_checks") == len(rows)
    by_scope = {(r.scope, r.ran_at): r.id for r in rows}
    stored = sorted((t.check_id, t.idempotency_key) for r in rows for t in r.transitions)
    expected = sorted(
        (by_scope[(e.scope, NOW)], idempotency_key(e.model, e.check, e.window_end, e.transition, e.scope))
        for e, _ in sent
    )
    assert stored == expected
    assert history.store.positions(TOPIC) == {0: len(messages) + 1}
    # a send that fails later is counted, as a failed write is; so is one while the daemon stops
    history.send_failed(OSError("broker gone"))
    history.stop_publishing()
    daemon.run_check("m")
    assert sample(daemon, "driftwatch_history_write_errors_total") >= 2


def test_the_metrics_and_store_of_a_check_history_without_publish_are_as_before(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    metrics = Metrics()
    history = CheckHistory(store, metrics, {}, lambda: NOW)
    assert history.publish is None
    fake: Any = type(
        "R",
        (),
        {
            "model": "m",
            "scope": "",
            "baseline": "",
            "model_version": "",
            "segment": "",
            "status": "ok",
            "answered": True,
            "reason": None,
            "window_start": NOW - 60,
            "window_end": NOW,
            "rows": 10,
            "as_dict": lambda self: {"model": "m"},
        },
    )()
    uid = history.check(fake, NOW, {"data_drift": False}, ["data_drift"], {})
    assert uid is not None
    (row,) = store.checks("m")
    assert row.result == {"model": "m"}
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT uid FROM history_check").fetchone()[0] == uid
