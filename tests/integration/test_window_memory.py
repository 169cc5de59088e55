"""Memory stays flat: 2M records through a model whose window keeps at most 50k rows."""

from __future__ import annotations

import gc

import numpy as np

from driftwatch.stream.records import Prediction
from driftwatch.stream.windows import ColumnSpec, Window

COLUMNS = [ColumnSpec(f"f{i}", "numeric") for i in range(8)] + [ColumnSpec("country", "categorical")]
MAX_ROWS = 50_000
TOTAL = 2_000_000
BATCH = 10_000
LENGTH = 3600.0
MIB = 1024 * 1024


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def window_bytes(window: Window) -> int:
    """Bytes held by the window's arrays (object arrays count their pointers)."""
    buckets = window._buckets.values()
    return sum(
        array.nbytes
        for bucket in buckets
        for part in (bucket.timestamps, bucket.keys, [c for cols in bucket.columns for c in cols])
        for array in part
    )


def batch_of(rng: np.random.Generator, seconds: float) -> list[Prediction]:
    values = rng.normal(size=(BATCH, 8))
    stamps = np.sort(rng.random(BATCH)) * seconds
    countries = rng.choice(["DE", "FR", "US", "BR", "IN"], size=BATCH)
    return [
        Prediction(
            "m",
            None,
            None,
            float(stamps[i]),
            {**{f"f{j}": float(values[i, j]) for j in range(8)}, "country": str(countries[i])},
            None,
            None,
        )
        for i in range(BATCH)
    ]


def test_memory_is_flat_while_2m_records_pass_through_a_50k_window() -> None:
    rng = np.random.default_rng(0)
    window = Window(COLUMNS, LENGTH, MAX_ROWS, buckets=12, rng=rng)
    batches = TOTAL // BATCH
    seconds = 2 * LENGTH / batches  # the records span two window lengths: buckets expire on the way
    # a pool of batches reused with fresh timestamps, so building records does not dominate
    pool = [batch_of(rng, seconds) for _ in range(4)]
    row_bytes = 8 * (2 + 8) + 8  # timestamp, key, 8 floats, 1 pointer
    now = 0.0
    warm_rss = 0
    peak_rss = 0
    for i in range(batches):
        records = [
            Prediction(r.model, None, None, now + r.timestamp, r.features, None, None)
            for r in pool[i % len(pool)]
        ]
        window.add(records, now + seconds)
        del records
        now += seconds
        assert window.rows() <= MAX_ROWS
        # what the window holds stays within max_rows rows plus the last batch
        assert window_bytes(window) <= (MAX_ROWS + BATCH) * row_bytes, i
        if i % 20 == 19:
            window.snapshot(now)  # a scheduled check
        if i == batches // 4:  # warmed up: the window has been full for a while
            gc.collect()
            warm_rss = rss()
        elif warm_rss and i % 10 == 0:
            peak_rss = max(peak_rss, rss())
    assert window.rows() >= 0.9 * MAX_ROWS  # room freed by an expired bucket refills gradually
    assert window.snapshot(now).records_seen > MAX_ROWS  # it did sample
    growth = peak_rss - warm_rss
    # a leak of the batches' arrays alone would be ~0.8 MiB per batch, ~110 MiB over the run
    assert growth < 20 * MIB, f"RSS grew {growth / MIB:.1f} MiB after warm-up ({warm_rss / MIB:.0f} MiB)"
