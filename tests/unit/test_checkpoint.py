"""Window checkpoints: what a restarted daemon restores equals what the window held at the checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftwatch.state.store import Store
from driftwatch.stream.records import Prediction
from driftwatch.stream.windows import ColumnSpec, Window

COLUMNS = [
    ColumnSpec("id", "numeric"),
    ColumnSpec("x", "numeric"),
    ColumnSpec("c", "categorical"),
    ColumnSpec("p", "numeric", source="prediction"),
]
LENGTH = 1000.0


def pred(ts: float, i: int) -> Prediction:
    features: dict[str, Any] = {"id": i, "x": i * 0.5 if i % 7 else None, "c": ["a", "b", None, 3][i % 4]}
    if i % 11 == 0:
        features["x"] = "not a number"  # a type violation, counted and restored
    return Prediction("m", None, None, ts, features, i / 10, None)


def window(max_rows: int, seed: int = 0) -> Window:
    return Window(COLUMNS, LENGTH, max_rows, buckets=10, rng=np.random.default_rng(seed))


def frame(w: Window, now: float) -> pd.DataFrame:
    snapshot = w.snapshot(now).frame
    return snapshot.sort_values("id").reset_index(drop=True)


def checkpoint(store: Store, w: Window, offset: int) -> None:
    store.checkpoint({"m": (w.signature(), w.changes())}, "g", {("t", 0): offset})


def restored(store: Store, max_rows: int, now: float) -> Window:
    fresh = window(max_rows, seed=99)
    stored = store.load_window("m", fresh.signature())
    assert stored is not None
    fresh.restore(*stored, now=now)
    return fresh


# One operation: (kind, amount). add: n records over the next `amount` seconds; wait: let time pass;
# checkpoint: store the changes.
operation = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 400), st.floats(0, 300)),
    st.tuples(st.just("wait"), st.integers(0, 0), st.floats(0, 600)),
    st.tuples(st.just("snapshot"), st.integers(0, 0), st.floats(0, 0)),
    st.tuples(st.just("checkpoint"), st.integers(0, 0), st.floats(0, 0)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25), max_rows=st.sampled_from([50, 300, 5000]))
def test_restore_equals_the_window_at_the_last_checkpoint(
    tmp_path_factory: Any, ops: list[tuple[str, int, float]], max_rows: int
) -> None:
    store = Store(tmp_path_factory.mktemp("ckpt") / "state.sqlite")
    w = window(max_rows)
    now, next_id, offset = 10_000.0, 0, 0
    expected: tuple[float, pd.DataFrame, dict[str, int], int] | None = None
    for kind, n, seconds in [*ops, ("checkpoint", 0, 0.0)]:
        if kind == "add":
            stamps = now + np.sort(np.random.default_rng(next_id).random(n)) * seconds
            w.add([pred(float(t), next_id + j) for j, t in enumerate(stamps)], now)
            next_id += n
            now += seconds
        elif kind == "wait":
            now += seconds
        elif kind == "snapshot":
            w.snapshot(now)  # expires buckets, like a scheduled check
        else:
            offset = next_id
            checkpoint(store, w, offset)
            expected = (now, frame(w, now), w.type_violations(), w.snapshot(now).records_seen)
    assert expected is not None
    at, rows, violations, seen = expected
    back = restored(store, max_rows, at)
    pd.testing.assert_frame_equal(frame(back, at), rows)
    assert back.type_violations() == violations
    assert back.snapshot(at).records_seen == seen
    assert store.offsets("g") == {("t", 0): offset}
    store.close()


def test_checkpoints_stay_small_while_the_window_is_at_its_cap(tmp_path: Path) -> None:
    """At the cap every insert lowers the thresholds; a checkpoint stores the new tau, not all rows."""
    store = Store(tmp_path / "state.sqlite")
    w = window(max_rows=2000)
    now = 10_000.0
    for batch in range(40):
        w.add([pred(now + j * 0.001, batch * 1000 + j) for j in range(1000)], now)
        changes = w.changes()
        if batch >= 5:
            assert sum(len(seg.keys) for _, seg in changes.segments) <= 2000, batch
        store.checkpoint({"m": (w.signature(), changes)}, "g", {("t", 0): batch})
        now += 1.0
    back = restored(store, 2000, now)
    pd.testing.assert_frame_equal(frame(back, now), frame(w, now))
    assert back.rows() <= 2000


def test_a_failed_checkpoint_is_followed_by_a_full_one(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    w = window(max_rows=10_000)
    w.add([pred(100.0 + i, i) for i in range(50)], 200.0)
    checkpoint(store, w, 1)
    w.add([pred(150.0 + i, 1000 + i) for i in range(30)], 200.0)
    w.changes()  # taken by a checkpoint whose transaction then failed
    w.mark_full()
    w.add([pred(190.0, 5000)], 200.0)
    checkpoint(store, w, 2)
    back = restored(store, 10_000, 200.0)
    assert len(back.snapshot(200.0).frame) == 81
    pd.testing.assert_frame_equal(frame(back, 200.0), frame(w, 200.0))


def test_a_checkpoint_for_other_columns_is_not_restored(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    w = window(max_rows=100)
    w.add([pred(100.0, 1)], 100.0)
    checkpoint(store, w, 1)
    other = Window([ColumnSpec("id", "numeric")], LENGTH, 100, buckets=10)
    assert store.load_window("m", other.signature()) is None
    assert store.load_window("m", w.signature()) is None, "the stale checkpoint is forgotten"


def test_expired_buckets_are_not_restored(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    w = window(max_rows=100)
    w.add([pred(100.0, 1), pred(900.0, 2)], 900.0)
    checkpoint(store, w, 1)
    back = restored(store, 100, now=1500.0)  # the record at t=100 left the window meanwhile
    assert list(back.snapshot(1500.0).frame["id"]) == [2.0]
