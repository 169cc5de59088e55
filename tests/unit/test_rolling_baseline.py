"""Rolling baselines: the sample of [now - lag - rolling, now - lag) is the bottom k of that period's
records, coverage grows from the first fed bucket, checkpoints restore it, memory stays bounded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwatch.scope import Scope, window_name
from driftwatch.state.store import Store
from driftwatch.stream.baseline import RollingBaseline
from driftwatch.stream.windows import ColumnSpec

COLUMNS = [ColumnSpec("id", "numeric"), ColumnSpec("x", "numeric")]
HOUR, DAY = 3600.0, 86_400.0


class Stream:
    """Records fed to a baseline, every one kept as well (the brute-force reference)."""

    def __init__(self, baseline: RollingBaseline, seed: int = 0) -> None:
        self.baseline = baseline
        self.rng = np.random.default_rng(seed)
        self.timestamps: list[npt.NDArray[np.float64]] = []
        self.keys: list[npt.NDArray[np.float64]] = []

    def feed(self, start: float, end: float, count: int) -> None:
        """``count`` records stamped in [start, end), read at ``end``."""
        if count == 0:
            return
        timestamps = np.sort(start + self.rng.random(count) * (end - start))
        keys = self.rng.random(count)
        ids = np.arange(count, dtype=np.float64) + sum(len(k) for k in self.keys)
        self.baseline.add_columns(timestamps, [ids, timestamps], end, keys)
        self.timestamps.append(timestamps)
        self.keys.append(keys)

    def period_keys(self, start: float, end: float) -> npt.NDArray[np.float64]:
        if not self.keys:
            return np.empty(0)
        timestamps, keys = np.concatenate(self.timestamps), np.concatenate(self.keys)
        return np.sort(keys[(timestamps >= start) & (timestamps < end)])


def test_layout() -> None:
    weekly = RollingBaseline(COLUMNS, rolling=7 * DAY, lag=DAY, max_rows=20_000, window_bucket=300.0)
    assert (weekly.slots_per_bucket, weekly.bucket_seconds) == (12, HOUR)  # 192 buckets of 1h
    assert weekly.window.length == 193 * HOUR
    assert weekly.period(10 * DAY + 1800.0) == (2 * DAY, 9 * DAY)
    no_lag = RollingBaseline(COLUMNS, rolling=7 * DAY, lag=0, max_rows=100, window_bucket=300.0)
    start, end = no_lag.period(10 * DAY + 1.0)
    assert no_lag.bucket_seconds == 3300.0 and end == 261 * 3300.0  # the last whole 55 min bucket
    assert end - start == 183 * 3300.0  # whole buckets: up to one bucket short of rolling
    long_lag = RollingBaseline(COLUMNS, rolling=HOUR, lag=30 * DAY, max_rows=100, window_bucket=300.0)
    assert long_lag.bucket_seconds == 300.0  # at least 8 buckets over rolling
    assert weekly.signature().startswith("rolling|604800.0|86400.0|v1|3600.0|")
    with pytest.raises(ValueError, match="shorter than a window bucket"):
        RollingBaseline(COLUMNS, rolling=60.0, lag=0, max_rows=10, window_bucket=300.0)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 400), min_size=12, max_size=12), st.integers(0, 2**32 - 1))
def test_the_period_sample_is_the_bottom_k_of_its_records(rates: list[int], seed: int) -> None:
    """Hourly traffic of any shape over 12 h: at every check the snapshot holds exactly the records
    of the period with the smallest keys (a uniform sample of the period), and counts them all."""
    baseline = RollingBaseline(COLUMNS, rolling=6 * HOUR, lag=HOUR, max_rows=500, window_bucket=60.0)
    assert baseline.bucket_seconds == 180.0
    stream = Stream(baseline, seed)
    t0 = 100 * DAY
    for hour, rate in enumerate(rates):
        for tick in range(12):  # read every 5 minutes
            start = t0 + hour * HOUR + tick * 300.0
            stream.feed(start, start + 300.0, rate // 12)
        now = t0 + (hour + 1) * HOUR + 17.0
        snapshot = baseline.snapshot(now, keys=True)
        assert now - HOUR - 180.0 < snapshot.end <= now - HOUR
        assert snapshot.end - snapshot.start == 6 * HOUR
        frame = snapshot.frame
        assert ((frame["__timestamp"] >= snapshot.start) & (frame["__timestamp"] < snapshot.end)).all()
        expected = stream.period_keys(snapshot.start, snapshot.end)
        assert snapshot.records_seen == len(expected)
        assert np.sort(frame["__key"].to_numpy()).tolist() == expected[: len(frame)].tolist()
        assert snapshot.rows == len(frame) <= 500
        if len(expected):
            assert len(frame) > 0
        assert baseline.stored_rows() <= 550


def test_coverage_grows_from_the_first_fed_bucket() -> None:
    baseline = RollingBaseline(COLUMNS, rolling=600.0, lag=100.0, max_rows=10_000, window_bucket=10.0)
    assert baseline.snapshot(5_000.0).coverage == 0.0  # never fed
    stream = Stream(baseline)
    for second in range(1_000, 2_000, 10):
        stream.feed(float(second), second + 10.0, 10)
        if second + 10 == 1_050:
            assert baseline.snapshot(1_050.0).coverage == 0.0  # the period ends before the first record
        if second + 10 == 1_400:
            half = baseline.snapshot(1_400.0)
            assert (half.start, half.end, half.coverage) == (700.0, 1_300.0, 0.5)
            assert half.rows == half.records_seen == 300
    full = baseline.snapshot(2_000.0)
    assert (full.coverage, full.rows) == (1.0, 600)
    # a quiet stretch leaves the coverage alone: the rows say there was little traffic
    quiet = baseline.snapshot(2_500.0)
    assert quiet.coverage == 1.0 and quiet.rows == 200


def test_restore_through_changes_and_the_store(tmp_path: Path) -> None:
    def fresh() -> RollingBaseline:
        return RollingBaseline(COLUMNS, rolling=6 * HOUR, lag=HOUR, max_rows=400, window_bucket=60.0)

    name = window_name(Scope("m"), rolling=True)
    store = Store(tmp_path / "state.sqlite")
    live = fresh()
    stream = Stream(live, seed=3)
    t0 = 100 * DAY
    for step in range(40):  # 10 hours, a checkpoint every 15 minutes
        start = t0 + step * 900.0
        stream.feed(start, start + 900.0, 150 if step % 7 else 900)
        store.checkpoint({name: (live.signature(), live.changes())}, "g", {("t", 0): step})
        if step == 6:
            early = fresh()
            loaded = store.load_window(name, early.signature())
            assert loaded is not None
            early.restore(*loaded, now=start + 900.0)  # no first fed time given: the earliest bucket
            assert early.first_fed == live.first_fed == t0
    now = t0 + 40 * 900.0
    back = fresh()
    loaded = store.load_window(name, back.signature())
    assert loaded is not None
    back.restore(*loaded, now=now, first_fed=live.first_fed)
    a, b = live.snapshot(now, keys=True), back.snapshot(now, keys=True)
    pd.testing.assert_frame_equal(
        a.frame.sort_values("__key").reset_index(drop=True),
        b.frame.sort_values("__key").reset_index(drop=True),
    )
    assert (a.start, a.end, a.rows, a.records_seen, a.coverage) == (
        b.start,
        b.end,
        b.rows,
        b.records_seen,
        b.coverage,
    )
    assert a.rows > 300
    assert store.load_window(name, "rolling|1.0|0.0|" + live.window.signature()) is None  # other period
    store.close()


def test_memory_stays_bounded_under_heavy_traffic() -> None:
    baseline = RollingBaseline(COLUMNS, rolling=DAY, lag=HOUR, max_rows=2_000, window_bucket=300.0)
    stream = Stream(baseline, seed=5)
    t0 = 100 * DAY
    for step in range(26 * 4):  # a day and two hours, every 15 minutes, with bursts
        start = t0 + step * 900.0
        stream.feed(start, start + 900.0, 20_000 if step % 10 == 0 else 3_000)
        assert baseline.stored_rows() <= 1.1 * 2_000
    snapshot = baseline.snapshot(t0 + 26 * HOUR)
    assert snapshot.rows <= 2_000
    assert snapshot.coverage == 1.0


def test_clear_forgets_rows_and_coverage() -> None:
    baseline = RollingBaseline(COLUMNS, rolling=600.0, lag=0.0, max_rows=100, window_bucket=10.0)
    Stream(baseline).feed(1_000.0, 1_600.0, 50)
    assert baseline.first_fed == 1_000.0
    baseline.clear()
    assert baseline.first_fed is None
    assert baseline.snapshot(1_600.0).rows == 0
    assert baseline.changes().full
