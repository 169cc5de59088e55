"""Label join store: bytes on disk per million predictions, and insert / join / read rates.

Feeds a fresh `LabelStore` in a temporary directory ``--rows`` predictions
(UUID4 ids, float predictions, prediction times spread over one day) in
batches of ``--batch``, then one label per prediction in batches of the same
size, in random order (labels come back in no particular order; random order
is also the worst case for the B-tree pages they touch). ``max_rows`` is above
the row count, so nothing is sampled out: the figures are for the full state.
Times include hashing the ids, as the daemon would pay it.

Sizes are reported at each stage as a user would see them:

* live: the database file plus its write-ahead log, as the running daemon
  leaves them (SQLite folds the log into the file every 1,000 pages, so the
  log stays small; `LabelStore.size_bytes`);
* checkpointed: the file alone after ``wal_checkpoint(TRUNCATE)``;
* per table (SQLite's ``dbstat``): pending/joined rows, the id index, the rest;
* compacted: a ``VACUUM INTO`` copy, the size of the same rows written afresh
  (B-tree pages that random inserts left part-empty are filled).

Finally ``expire`` drops every row as past the TTL, putting all ids into the
tombstone Bloom filters; their size is reported per million ids.

    python bench/labels_store.py                    # 1M predictions and labels (about a minute)
    python bench/labels_store.py --rows 200000      # quicker
    python bench/labels_store.py --batch 50000      # fewer, larger transactions

Insert and join rates depend on the batch size once the state is large: ids
are random, so each batch dirties about one page of the id index (and, for
labels, of the time-ordered table) per row, and every dirty page is written to
the WAL and again at the next checkpoint. Larger batches share pages.
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from driftwatch.state.labels import LabelStore

START = 1_795_000_000.0  # 2026-11-18, a fixed simulated start
DAY = 86400.0


def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB"


def file_sizes(path: Path) -> tuple[int, int]:
    wal = Path(str(path) + "-wal")
    return path.stat().st_size, wal.stat().st_size if wal.exists() else 0


def table_sizes(path: Path) -> dict[str, int]:
    """Bytes per table and index, from SQLite's dbstat virtual table (through a second connection)."""
    with sqlite3.connect(path) as db:
        try:
            rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
        except sqlite3.OperationalError:  # SQLite built without dbstat
            return {}
    return {str(name): int(size) for name, size in rows}


def checkpoint(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def report(stage: str, store: LabelStore, path: Path, rows: int) -> None:
    per_million = 1e6 / rows
    main, wal = file_sizes(path)
    print(f"\n{stage}")
    print(
        f"  live:         file {mb(main)} + WAL {mb(wal)} = {mb(store.size_bytes())}"
        f"  -> {mb(store.size_bytes() * per_million)} per million predictions"
    )
    checkpoint(path)
    main, wal = file_sizes(path)
    print(
        f"  checkpointed: file {mb(main)} (WAL {wal} B) -> {mb(main * per_million)} per million predictions"
    )
    for name, size in table_sizes(path).items():
        if size >= 1e5:
            print(f"    {name:<28} {mb(size):>10}  {size / rows:6.1f} B/row")
    compact = path.with_name("compact.sqlite")
    compact.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("VACUUM INTO ?", (str(compact),))
    print(
        f"  compacted:    {mb(compact.stat().st_size)} -> {mb(compact.stat().st_size * per_million)} "
        "per million predictions (VACUUM INTO a copy)"
    )
    compact.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="predictions (and labels)")
    parser.add_argument("--batch", type=int, default=5_000, help="records per call")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where to put the database (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    rows, batch = args.rows, args.batch

    rng = np.random.default_rng(17)
    raw = rng.bytes(16 * rows)
    ids = [str(uuid.UUID(bytes=raw[16 * i : 16 * i + 16], version=4)) for i in range(rows)]
    times = (START + np.arange(rows) * (DAY / rows)).tolist()
    predictions = (1 / (1 + np.exp(-rng.normal(0, 1.5, rows)))).tolist()
    truth = (rng.random(rows) < np.asarray(predictions)).astype(int).tolist()
    order = rng.permutation(rows).tolist()
    now = START + DAY

    with tempfile.TemporaryDirectory(dir=args.dir) as directory:
        path = Path(directory) / "labels.sqlite"
        store = LabelStore(path, ttl=7 * DAY, grace=3600.0, max_rows=2 * rows)
        print(
            f"SQLite {sqlite3.sqlite_version}, Python {sys.version.split()[0]}; {rows:,} rows, batches of {batch:,}"
        )

        began = time.perf_counter()
        for start in range(0, rows, batch):
            end = start + batch
            store.add_predictions(
                "credit-risk", ids[start:end], times[start:end], predictions[start:end], now
            )
        insert_s = time.perf_counter() - began
        assert store.pending_count("credit-risk") == rows
        print(f"\ninsert predictions: {insert_s:.1f} s, {rows / insert_s:,.0f} predictions/s")
        report(f"after {rows:,} predictions (all pending)", store, path, rows)

        began = time.perf_counter()
        reasons: dict[str, int] = {}
        for start in range(0, rows, batch):
            chosen = order[start : start + batch]
            outcome = store.add_labels([ids[i] for i in chosen], [truth[i] for i in chosen], now + 3600)
            for reason, count in outcome.items():
                reasons[reason] = reasons.get(reason, 0) + count
        join_s = time.perf_counter() - began
        assert reasons == {"joined": rows}, reasons
        print(f"\njoin labels (random order): {join_s:.1f} s, {rows / join_s:,.0f} labels/s")
        report(f"after {rows:,} labels (all joined)", store, path, rows)

        began = time.perf_counter()
        joined = store.joined("credit-risk", START, START + DAY)
        read_s = time.perf_counter() - began
        assert len(joined.timestamps) == rows
        began = time.perf_counter()
        hourly = sum(
            len(store.joined("credit-risk", START + h * 3600, START + (h + 1) * 3600).timestamps)
            for h in range(24)
        )
        hourly_s = time.perf_counter() - began
        assert hourly == rows
        print(
            f"\nread joined rows: one day in one call {read_s:.2f} s ({rows / read_s:,.0f} rows/s); "
            f"24 hourly windows {hourly_s:.2f} s"
        )

        began = time.perf_counter()
        dropped = store.expire(now + 8 * DAY)
        expire_s = time.perf_counter() - began
        main, wal = file_sizes(path)
        checkpoint(path)
        tombstones = table_sizes(path).get("label_tombstone", 0)
        print(
            f"\nexpire everything in one call: {expire_s:.1f} s, {dict(dropped)}\n"
            f"  tombstone filters {mb(tombstones)} ({tombstones / rows:.2f} B per expired id)\n"
            f"  file {mb(main)} + WAL {mb(wal)} (one transaction rewrote every page); freed pages stay "
            "in the file for reuse, so it keeps its peak size"
        )
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
