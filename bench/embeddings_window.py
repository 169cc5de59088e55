"""Embeddings in the daemon: window memory per 1,000 rows of vectors, decode cost, and the check's
false alarms, detection and duration with the daemon's defaults.

1. Memory: a `Window` with one 384-component embedding column and two numeric features takes
   ``--rows`` records (in batches of 5,000, with the daemon's sample keys, a checkpoint's
   `Window.changes` after each) at ``max_rows`` 50,000 (the default); reported: `Window.memory_bytes` per 1,000 kept rows, and the process's RSS growth once
   the window is full (after ``malloc_trim``; and before it: transient batches and trims).
2. Decode: `driftwatch.stream.vectors.VectorReader.read` on batches of JSON records holding a
   384-number vector: microseconds per record.
3. The embedding_drift check with the daemon's defaults (method ``model``; the reference is the bounded
   sample of `driftwatch.reference.EMBEDDING_SAMPLE_ROWS` vectors, so no bootstrap; threshold 0.55) on
   windows of 1,000 and 10,000 rows of a rank-16 factor model (bench/embeddings.py's) in 384
   components: the share of ``--seeds`` checks that say drift on undrifted windows (false alarms) and
   on windows shifted by 0.02 and 0.05 std in every component, and the median check duration.

    python bench/embeddings_window.py               # 20 seeds (a few minutes on 2 cores)
    python bench/embeddings_window.py --seeds 5
"""

from __future__ import annotations

import argparse
import ctypes
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from driftwatch.checks.base import CheckInput
from driftwatch.checks.embedding import EmbeddingDriftCheck, EmbeddingSpec
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.reference import EMBEDDING_SAMPLE_ROWS
from driftwatch.stream.sample_keys import position_keys
from driftwatch.stream.vectors import VectorField, VectorReader
from driftwatch.stream.windows import ColumnSpec, Window

DIM = 384
NOW = 1_800_000_000.0


def rss() -> int:
    with open(f"/proc/{os.getpid()}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory(rows: int, max_rows: int) -> None:
    columns = [
        ColumnSpec("x", "numeric"),
        ColumnSpec("y", "numeric"),
        ColumnSpec("text_vec", "numeric", "embedding", dim=DIM),
    ]
    window = Window(columns, 3600.0, max_rows)
    rng = np.random.default_rng(0)
    before = rss()
    offset = 0
    while offset < rows:
        n = min(5000, rows - offset)
        keys = position_keys(
            ["t"] * n, np.zeros(n, dtype=np.int64), np.arange(offset, offset + n, dtype=np.int64)
        )
        window.add_columns(
            np.full(n, NOW - 60.0),
            [rng.normal(size=n), rng.normal(size=n), rng.normal(size=(n, DIM)).astype(np.float32)],
            NOW,
            keys,
        )
        offset += n
        window.changes()  # a checkpoint takes the change log, as the daemon's does every second
    kept = window.stored_rows()
    held = window.memory_bytes()
    peak = rss() - before
    ctypes.CDLL("libc.so.6").malloc_trim(0)  # give back what the batches and trims freed
    grown = rss() - before
    print(f"window of max_rows {max_rows:,}, {rows:,} records added: {kept:,} rows kept")
    print(f"  memory_bytes: {held / 1e6:.1f} MB, {held / kept * 1000 / 1e6:.3f} MB per 1,000 rows")
    print(
        f"  RSS growth: {grown / 1e6:.1f} MB held ({grown / kept * 1000 / 1e6:.3f} MB per 1,000 rows), "
        f"{peak / 1e6:.1f} MB before freed memory was returned (batches of 5,000 drawn as float64, trims)"
    )
    started = time.perf_counter()
    snapshot = window.snapshot(NOW)
    print(
        f"  snapshot: {len(snapshot.frame):,} rows, vectors {snapshot.embeddings['text_vec'].nbytes / 1e6:.1f} MB, "
        f"{time.perf_counter() - started:.2f} s"
    )


def decode(records: int) -> None:
    rng = np.random.default_rng(1)
    payloads = [
        json.dumps(
            {"model": "m", "features": {"x": 1.0}, "text_vec": rng.normal(size=DIM).round(6).tolist()}
        ).encode()
        for _ in range(records)
    ]
    reader = VectorReader({"m": [VectorField("text_vec", "text_vec", DIM)]})
    times = []
    for _ in range(3):
        started = time.perf_counter()
        for i in range(0, records, 500):
            reader.read(payloads[i : i + 500])
        times.append(time.perf_counter() - started)
    size = statistics.mean(map(len, payloads))
    print(
        f"decode: {statistics.median(times) / records * 1e6:.1f} us per record of {size / 1000:.1f} kB "
        f"(batches of 500, median of 3)"
    )


def factor_model(seed: int, latent: int = 16) -> tuple[np.random.Generator, np.ndarray, np.ndarray]:
    loadings = np.random.default_rng(12345).normal(size=(latent, DIM)) / math.sqrt(latent)
    std = np.sqrt((loadings**2).sum(axis=0) + 0.25)
    return np.random.default_rng(seed), loadings, std


def draw(rng: np.random.Generator, loadings: np.ndarray, n: int) -> np.ndarray:
    return np.asarray(rng.normal(size=(n, loadings.shape[0])) @ loadings + 0.5 * rng.normal(size=(n, DIM)))


def check_of(reference: np.ndarray) -> EmbeddingDriftCheck:
    check = EmbeddingDriftCheck("bench", [EmbeddingSpec("text_vec")], min_rows=500)
    check.prepare(ReferenceProfile({}, len(reference), {"text_vec": reference.astype(np.float32)}))
    return check


def accuracy(seeds: int) -> None:
    print(
        f"\nembedding_drift with the daemon's defaults (model, reference sample of {EMBEDDING_SAMPLE_ROWS:,} "
        f"vectors, threshold 0.55), {DIM} components, {seeds} seeds: share of checks saying drift"
    )
    print("| window rows | no drift | shift 0.02 std | shift 0.05 std | check duration (median) |")
    print("|---:|---:|---:|---:|---:|")
    for rows in (1000, 10_000):
        said = {0.0: 0, 0.02: 0, 0.05: 0}
        durations = []
        for seed in range(seeds):
            rng, loadings, std = factor_model(seed)
            check = check_of(draw(rng, loadings, EMBEDDING_SAMPLE_ROWS))
            for shift in said:
                current = draw(rng, loadings, rows) + shift * std
                window = Window([ColumnSpec("text_vec", "numeric", "embedding", dim=DIM)], 3600.0, rows)
                window.add_columns(np.full(rows, NOW - 1), [current.astype(np.float32)], NOW)
                started = time.perf_counter()
                part = check.run(CheckInput(window.snapshot(NOW)))
                durations.append(time.perf_counter() - started)
                said[shift] += part.status == "drift"
        cells = " | ".join(f"{100 * said[s] / seeds:.0f}%" for s in said)
        print(f"| {rows:,} | {cells} | {statistics.median(durations):.2f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=120_000, help="records added to the window")
    parser.add_argument("--max-rows", type=int, default=50_000)
    parser.add_argument("--seeds", type=int, default=20)
    args = parser.parse_args()
    memory(args.rows, args.max_rows)
    decode(5000)
    accuracy(args.seeds)


if __name__ == "__main__":
    main()
