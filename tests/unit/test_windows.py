"""Windows: exact below the cap, bounded above it, expiring with event time, uniform whatever the traffic."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import chisquare

from driftwatch.stream.records import Prediction, RecordDecoder
from driftwatch.stream.windows import ColumnSpec, Window

NUMERIC = [ColumnSpec("id", "numeric"), ColumnSpec("x", "numeric")]


def pred(ts: float, prediction: Any = None, **features: Any) -> Prediction:
    return Prediction(
        model="m",
        model_version=None,
        prediction_id=None,
        timestamp=ts,
        features=features,
        prediction=prediction,
        label=None,
    )


def ids(window: Window, now: float) -> list[int]:
    return sorted(int(v) for v in window.snapshot(now).frame["id"])


def test_below_the_cap_every_record_is_kept_exactly() -> None:
    window = Window(NUMERIC, length=3600, max_rows=100, buckets=12, rng=np.random.default_rng(0))
    records = [pred(1000.0 + i * 30, id=i, x=i * 0.5) for i in range(80)]
    assert window.add(records[:50], now=4000.0) == 50
    assert window.add(records[50:], now=4000.0) == 30
    snapshot = window.snapshot(now=4000.0)
    frame = snapshot.frame.sort_values("id")
    assert list(frame["id"]) == list(range(80))
    assert list(frame["x"]) == [i * 0.5 for i in range(80)]
    assert list(frame["__timestamp"]) == [r.timestamp for r in records]
    assert snapshot.records_seen == 80
    assert window.rows() == 80
    assert (snapshot.start, snapshot.end) == (4000.0 - 3600, 4000.0)


def test_prediction_column() -> None:
    columns = [ColumnSpec("id", "numeric"), ColumnSpec("score", "numeric", source="prediction")]
    window = Window(columns, length=100, max_rows=10, rng=np.random.default_rng(0))
    window.add([pred(50.0, prediction=0.25, id=1), pred(51.0, prediction=0.75, id=2)], now=60.0)
    frame = window.snapshot(60.0).frame.sort_values("id")
    assert list(frame["score"]) == [0.25, 0.75]


def test_empty_window_snapshot_has_the_columns() -> None:
    window = Window([*NUMERIC, ColumnSpec("c", "categorical")], length=60, max_rows=10)
    assert window.add([], now=0.0) == 0
    snapshot = window.snapshot(now=100.0)
    assert list(snapshot.frame.columns) == ["id", "x", "c", "__timestamp"]
    assert len(snapshot.frame) == 0
    assert snapshot.records_seen == 0


def test_above_the_cap_rows_stay_bounded() -> None:
    max_rows = 200
    window = Window(NUMERIC, length=3600, max_rows=max_rows, buckets=12, rng=np.random.default_rng(1))
    rng = np.random.default_rng(2)
    next_id = 0
    for batch in range(30):
        size = int(rng.integers(1, 150))
        records = [pred(float(rng.uniform(1, 3600)), id=next_id + i, x=0.0) for i in range(size)]
        next_id += size
        assert window.add(records, now=3600.0) == size
        assert window.rows() <= max_rows, batch
        snapshot = window.snapshot(now=3600.0)
        assert len(snapshot.frame) <= max_rows
        assert snapshot.records_seen == next_id
    kept = ids(window, 3600.0)
    assert len(set(kept)) == len(kept)  # no duplicates
    assert set(kept) <= set(range(next_id))  # and only real records
    assert len(kept) >= 0.95 * max_rows  # the budget is used, not wasted


def test_records_older_than_the_window_are_not_added() -> None:
    window = Window(NUMERIC, length=1000, max_rows=100, buckets=10, rng=np.random.default_rng(0))
    now = 10_000.0
    records = [pred(8_000.0, id=0), pred(9_000.0, id=1), pred(9_000.5, id=2), pred(9_999.0, id=3)]
    assert window.add(records, now) == 2  # exactly now - length is already outside
    assert ids(window, now) == [2, 3]
    assert window.snapshot(now).records_seen == 2


def test_future_records_from_skewed_clocks_are_included() -> None:
    window = Window(NUMERIC, length=1000, max_rows=100, rng=np.random.default_rng(0))
    assert window.add([pred(10_005.0, id=1)], now=10_000.0) == 1
    assert ids(window, 10_000.0) == [1]


def test_records_expire_as_time_advances() -> None:
    window = Window(NUMERIC, length=1000, max_rows=1000, buckets=10, rng=np.random.default_rng(0))
    timestamps = np.arange(9_001.0, 10_000.0, 7.0)
    window.add([pred(float(t), id=i) for i, t in enumerate(timestamps)], now=10_000.0)
    for now in (10_000.0, 10_123.0, 10_450.0, 10_999.0, 11_001.0):
        frame = window.snapshot(now).frame
        expected = [i for i, t in enumerate(timestamps) if t > now - 1000]
        assert sorted(int(v) for v in frame["id"]) == expected, now
        assert (frame["__timestamp"] > now - 1000).all()
    assert window.rows() == 0  # expired buckets free their memory


def test_room_freed_by_a_traffic_peak_is_refilled_after_it_expires() -> None:
    """A peak lowers the sampling rate, but only while the peak is inside the window."""
    window = Window(NUMERIC, length=1000, max_rows=100, buckets=10, rng=np.random.default_rng(3))
    next_id = 0

    def traffic(start: float, count: int) -> list[Prediction]:
        nonlocal next_id
        batch = [pred(start + (i + 0.5) * 100 / count, id=next_id + i) for i in range(count)]
        next_id += count
        return batch

    window.add(traffic(0.0, 5000), now=100.0)  # the peak
    assert len(window.snapshot(100.0).frame) == pytest.approx(100, abs=2)
    quiet: list[Prediction] = []
    for step in range(1, 31):  # 3 more windows of quiet traffic: 5 records per 100 s
        batch = traffic(step * 100.0, 5)
        quiet += batch
        window.add(batch, now=(step + 1) * 100.0)
        assert window.rows() <= 100
    now = 3100.0
    in_window = sorted(int(r.features["id"]) for r in quiet if r.timestamp > now - 1000)
    assert len(in_window) == 50  # below the cap: the whole window again
    assert ids(window, now) == in_window


def test_type_violations_become_missing_and_are_counted() -> None:
    columns = [ColumnSpec("x", "numeric"), ColumnSpec("score", "numeric", source="prediction")]
    window = Window(columns, length=100, max_rows=100, rng=np.random.default_rng(0))
    records = [
        pred(1.0, prediction=0.5, x=1.5),
        pred(2.0, prediction="high", x="12"),  # text for numbers
        pred(3.0, prediction={"a": 0.1}, x=True),  # probabilities / a boolean for numbers
        pred(4.0, prediction=None),  # absent values are missing, not violations
        pred(5.0, prediction=2, x=7),
    ]
    assert window.add(records, now=10.0) == 5
    frame = window.snapshot(10.0).frame.sort_values("__timestamp")
    assert np.array_equal(frame["x"].to_numpy(), [1.5, np.nan, np.nan, np.nan, 7.0], equal_nan=True)
    assert np.array_equal(frame["score"].to_numpy(), [0.5, np.nan, np.nan, np.nan, 2.0], equal_nan=True)
    assert window.type_violations() == {"x": 2, "score": 2}
    assert window.snapshot(10.0).type_violations == {"x": 2, "score": 2}
    window.add([pred(6.0, prediction="x", x="y")], now=10.0)
    assert window.type_violations() == {"x": 3, "score": 3}  # counted since start


def test_categorical_keys_are_canonical() -> None:
    columns = [ColumnSpec("id", "numeric"), ColumnSpec("c", "categorical")]
    window = Window(columns, length=100, max_rows=100, rng=np.random.default_rng(0))
    values: list[Any] = [1, 1.0, "1", True, False, None, 2.5, "DE", -3]
    window.add([pred(float(i + 1), id=i, c=v) for i, v in enumerate(values)], now=50.0)
    frame = window.snapshot(50.0).frame.sort_values("id")
    keys = [None if pd.isna(v) else v for v in frame["c"]]  # missing stays missing, not "None"
    assert keys == ["1", "1", "1", "True", "False", None, "2.5", "DE", "-3"]
    assert window.type_violations() == {"id": 0, "c": 0}


# uniformity ----------------------------------------------------------------------------------------

BUCKETS = 20
BUCKET_SECONDS = 100.0
BASE = 40
ID_ONLY = [ColumnSpec("id", "numeric")]


def uneven_traffic(heavy: int) -> tuple[list[Prediction], np.ndarray]:
    """20 buckets' worth of records, bucket ``heavy`` with 10x the traffic of the others."""
    rng = np.random.default_rng(12345)
    records: list[Prediction] = []
    bucket_of: list[int] = []
    for bucket in range(BUCKETS):
        count = BASE * 10 if bucket == heavy else BASE
        stamps = np.sort(rng.uniform(bucket * BUCKET_SECONDS + 0.01, (bucket + 1) * BUCKET_SECONDS, count))
        for ts in stamps:
            records.append(pred(float(ts), id=len(records)))
            bucket_of.append(bucket)
    return records, np.array(bucket_of)


@pytest.mark.parametrize("arrival", ["heavy-first", "heavy-last", "shuffled"])
def test_sample_is_uniform_over_the_window_whatever_the_traffic(arrival: str) -> None:
    heavy = {"heavy-first": 0, "heavy-last": BUCKETS - 1, "shuffled": 11}[arrival]
    records, bucket_of = uneven_traffic(heavy)
    traffic = np.bincount(bucket_of, minlength=BUCKETS)
    max_rows = 100  # of 1,560 records
    length = BUCKETS * BUCKET_SECONDS
    end = length  # every record is inside the window at the end
    included = np.zeros(BUCKETS)
    repetitions = 60
    for seed in range(repetitions):
        window = Window(ID_ONLY, length, max_rows, buckets=BUCKETS, rng=np.random.default_rng(seed))
        if arrival == "shuffled":
            order = np.random.default_rng(10_000 + seed).permutation(len(records))
            for chunk in np.array_split(order, 30):
                window.add([records[i] for i in chunk], now=end)
                assert window.rows() <= max_rows
        else:  # in event-time order, in batches, with the clock following the traffic
            for start in range(0, len(records), 37):
                batch = records[start : start + 37]
                window.add(batch, now=min(end, (bucket_of[start + len(batch) - 1] + 1) * BUCKET_SECONDS))
                assert window.rows() <= max_rows
        sample = window.snapshot(end).frame["id"].to_numpy().astype(int)
        assert len(set(sample)) == len(sample)
        assert 0.9 * max_rows <= len(sample) <= max_rows
        included += np.bincount(bucket_of[sample], minlength=BUCKETS)
    # every record had the same chance: a bucket's share of the sample is its share of the traffic
    expected = included.sum() * traffic / traffic.sum()
    result = chisquare(included, expected)
    assert result.pvalue > 0.001, (included / traffic).round(4).tolist()
    rates = included / (traffic * repetitions)
    assert rates[heavy] == pytest.approx(rates.mean(), rel=0.15)


def test_sample_stays_uniform_while_a_peak_slides_out_of_the_window() -> None:
    """Buckets created after the peak expired must not be over-sampled next to buckets trimmed during it."""
    total_buckets, heavy = 30, 3
    rng = np.random.default_rng(1)
    records: list[Prediction] = []
    bucket_list: list[int] = []
    for bucket in range(total_buckets):
        count = BASE * 10 if bucket == heavy else BASE
        for ts in np.sort(rng.uniform(bucket * BUCKET_SECONDS + 0.01, (bucket + 1) * BUCKET_SECONDS, count)):
            records.append(pred(float(ts), id=len(records)))
            bucket_list.append(bucket)
    bucket_of = np.array(bucket_list)
    end = total_buckets * BUCKET_SECONDS  # the window is buckets 10..29; the peak expired long ago
    included = np.zeros(total_buckets)
    for seed in range(60):
        window = Window(
            ID_ONLY, BUCKETS * BUCKET_SECONDS, 100, buckets=BUCKETS, rng=np.random.default_rng(seed)
        )
        for start in range(0, len(records), 37):
            batch = records[start : start + 37]
            window.add(batch, now=(bucket_of[start + len(batch) - 1] + 1) * BUCKET_SECONDS)
            assert window.rows() <= 100
        sample = window.snapshot(end).frame["id"].to_numpy().astype(int)
        assert (bucket_of[sample] >= total_buckets - BUCKETS).all()
        included += np.bincount(bucket_of[sample], minlength=total_buckets)
    live = included[total_buckets - BUCKETS :]  # equal traffic in each live bucket
    assert chisquare(live).pvalue > 0.001, live.tolist()


def test_uniformity_test_would_catch_per_bucket_quotas() -> None:
    """The chi-square check above has power: a fair-per-bucket (not per-record) sample fails it."""
    _, bucket_of = uneven_traffic(heavy=7)
    traffic = np.bincount(bucket_of, minlength=BUCKETS)
    rng = np.random.default_rng(0)
    included = np.zeros(BUCKETS)
    for _ in range(60):
        per_bucket = 100 // BUCKETS  # a quota per bucket ignores the traffic
        for bucket in range(BUCKETS):
            members = np.flatnonzero(bucket_of == bucket)
            included[bucket] += len(rng.choice(members, per_bucket, replace=False))
    expected = included.sum() * traffic / traffic.sum()
    assert chisquare(included, expected).pvalue < 1e-6


# robustness ------------------------------------------------------------------------------------------


def test_concurrent_adds_and_snapshots() -> None:
    window = Window(NUMERIC, length=1000, max_rows=300, rng=np.random.default_rng(0))
    errors: list[BaseException] = []

    def producer(offset: int) -> None:
        try:
            for batch in range(50):
                base = offset * 10_000 + batch * 20
                window.add([pred(500.0 + (base % 400), id=base + i) for i in range(20)], now=1000.0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=producer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(50):
        assert len(window.snapshot(1000.0).frame) <= 300
    for thread in threads:
        thread.join(10)
    assert not errors
    snapshot = window.snapshot(1000.0)
    assert snapshot.records_seen == 4 * 50 * 20
    assert len(snapshot.frame) <= 300
    assert window.rows() <= 300


def test_a_decoded_record_never_breaks_the_window() -> None:
    payload = b'{"model": "m", "features": {"id": 1, "x": 1' + b"0" * 400 + b"}}"
    outcome = RecordDecoder({"m"}).decode(payload, 50.0)
    assert isinstance(outcome, Prediction)  # accepted by the decoder ...
    window = Window(NUMERIC, length=100, max_rows=10)
    assert window.add([outcome], now=60.0) == 1  # ... so the window must take it (as missing)


def test_records_far_in_the_future_are_not_windowed() -> None:
    """Epoch milliseconds read as seconds (or a broken clock) must not open buckets that never expire."""
    window = Window(NUMERIC, length=1000, max_rows=100, buckets=10, rng=np.random.default_rng(0))
    assert (
        window.add([pred(1.7e12, id=1), pred(10_000.0 + 3600, id=2), pred(10_050.0, id=3)], now=10_000.0) == 1
    )
    assert ids(window, 10_000.0) == [3]
    assert len(window._buckets) == 1


# range snapshots and rows sampled elsewhere ------------------------------------------------------


def test_a_range_snapshot_below_the_cap_is_the_records_of_whole_buckets_inside_the_range() -> None:
    window = Window(NUMERIC, length=1000, max_rows=10_000, buckets=10, rng=np.random.default_rng(0))
    timestamps = np.arange(9_000.5, 10_000.0, 1.0)
    window.add_columns(timestamps, [np.arange(len(timestamps), dtype=np.float64), timestamps], now=10_000.0)
    snapshot = window.snapshot(10_000.0, start=9_200.0, end=9_650.0)  # buckets 9200-9300 .. 9500-9600
    assert sorted(snapshot.frame["x"]) == [t for t in timestamps.tolist() if 9_200 <= t < 9_600]
    assert snapshot.records_seen == 400
    assert (snapshot.start, snapshot.end) == (9_200.0, 9_650.0)
    assert len(window.snapshot(10_000.0, start=9_250.0, end=9_300.0).frame) == 0  # no whole bucket
    assert len(window.snapshot(10_000.0, end=9_100.0).frame) == 100
    assert len(window.snapshot(10_000.0, start=9_900.0).frame) == 100
    whole = window.snapshot(10_000.0)
    assert (whole.start, whole.end, len(whole.frame)) == (9_000.0, 10_000.0, 1000)


def test_a_range_snapshot_takes_the_threshold_of_its_own_buckets() -> None:
    """After a peak, the window is sampled at the peak's rate until the peak's buckets expire (a
    bucket of that time is still there); a range of the buckets opened since keeps all it holds."""
    rng = np.random.default_rng(1)
    window = Window(NUMERIC, length=1000, max_rows=1000, buckets=10, rng=rng)
    peak = 9_000.5 + rng.random(1500) * 99  # bucket 9000-9100, trimmed to 1000 rows
    after = 9_100.5 + rng.random(20) * 99  # bucket 9100-9200, at the peak's threshold
    quiet = np.linspace(9_600.5, 10_099.5, 300)  # buckets opened since: threshold 1.0
    for chunk, now in ((np.concatenate([peak, after]), 9_200.0), (quiet, 10_100.0)):  # the peak expired
        window.add_columns(chunk, [np.zeros(len(chunk)), chunk], now)
    whole = window.snapshot(10_100.0)
    assert 100 < int(np.count_nonzero(whole.frame["x"] >= 9_600)) < 300
    recent = window.snapshot(10_100.0, start=9_500.0, end=10_100.0)
    assert sorted(recent.frame["x"]) == quiet.tolist()
    assert recent.records_seen == 300


def test_rows_sampled_elsewhere_end_as_if_every_record_had_been_added() -> None:
    """`add_rows` with only the rows below the window's thresholds (what a reader forwards) and each
    slot's count keeps exactly what `add_columns` with every record keeps."""
    rng = np.random.default_rng(2)
    every = Window(NUMERIC, length=1000, max_rows=300, buckets=10)
    forwarded = Window(NUMERIC, length=1000, max_rows=300, buckets=10)
    now = 10_000.0
    for batch in range(20):
        timestamps = now - rng.random(200) * 900
        keys = rng.random(200)
        values = [np.arange(200, dtype=np.float64) + 1000 * batch, timestamps]
        every.add_columns(timestamps, values, now, keys)
        slots = np.floor(timestamps / forwarded.bucket_seconds).astype(np.int64)
        thresholds = forwarded.thresholds()
        keep = keys < np.array([thresholds.get(s, 1.0) for s in slots.tolist()])
        seen = dict(zip(*np.unique(slots, return_counts=True), strict=True))
        counted = forwarded.add_rows(timestamps[keep], keys[keep], [v[keep] for v in values], seen, now)
        assert counted == 200
        now += 5.0
    a, b = every.snapshot(now, keys=True).frame, forwarded.snapshot(now, keys=True).frame
    pd.testing.assert_frame_equal(
        a.sort_values("__key").reset_index(drop=True), b.sort_values("__key").reset_index(drop=True)
    )
    assert every.seen() == forwarded.seen()
    assert forwarded.stored_rows() <= 330


def test_add_rows_refuses_rows_beyond_their_counts() -> None:
    window = Window(NUMERIC, length=1000, max_rows=100, buckets=10)
    timestamps = np.array([9_950.0, 9_960.0])
    with pytest.raises(ValueError, match="more rows than the records counted"):
        window.add_rows(timestamps, np.array([0.1, 0.2]), [timestamps, timestamps], {99: 1}, 10_000.0)
    with pytest.raises(ValueError, match="columns"):
        window.add_rows(timestamps, np.array([0.1, 0.2]), [timestamps], {99: 2}, 10_000.0)
    assert window.add_rows(timestamps, np.array([0.1, 0.2]), [timestamps, timestamps], {99: 5}, 10_000.0) == 5
    assert window.seen() == 5 and window.rows() == 2
