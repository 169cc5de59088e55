"""Check history: bytes on disk per 10,000 checks and the cost of recording one.

Runs a daemon (no broker: batches are handed to it as the Kafka source would) on a synthetic model of
25 features (20 numeric, 5 categorical, and a prediction) and on the same model with a segment column
(``country_code``, top 5: the model's row plus seven scope rows per check), for ``--samples`` real
checks on windows of fresh, partly drifting records, and keeps what each check recorded. Then it
records ``--checks`` of them, cycled, into a fresh history file through `CheckHistory.check` (the
result's ``as_dict``, its JSON, zstd, the insert), three times, and prints the medians:

* write cost per check row, and per scheduled check (the model's row and its scopes' rows);
* the file's size (after a WAL checkpoint) per 10,000 check rows and per 10,000 scheduled checks.

    python bench/history.py                 # 10,000 checks of each model (about a minute)
    python bench/history.py --checks 2000   # quicker
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import FakeMessage, encode_records, iso_stamp, synthetic_model, write_config
from driftwatch.checks.window import CheckResult
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.service.history import CheckHistory
from driftwatch.service.metrics import Metrics
from driftwatch.state.history import HistoryStore

START = 1_795_000_000.0
Recorded = tuple[CheckResult, float, dict[str, bool], list[str], dict[str, int]]


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def samples(directory: Path, scoped: bool, count: int, rows: int) -> tuple[list[list[Recorded]], Any]:
    """``count`` real checks of the model: per check, what it recorded (one entry per row)."""
    model = synthetic_model("typical", 20, 5)
    path = write_config(directory, [model], window="1h", max_rows=20_000, reference_rows=5000)
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if scoped:
        config["models"]["typical"]["drift"] = {"share": 0.3}
        config["models"]["typical"]["segments"] = {
            "columns": ["country_code"],
            "top_k": 5,
            "min_rows": 200,
            "stability": {"promote_after": 1},
        }
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    settings = load_settings(path)
    clock = Clock()
    daemon = Daemon(settings, clock=clock)
    assert daemon.history is not None
    captured: list[Recorded] = []
    record = daemon.history.check

    def keep(result: CheckResult, at: float, breaches: Any, checks: Any, positions: Any) -> int | None:
        captured.append((result, at, dict(breaches), list(checks), dict(positions)))
        return record(result, at, breaches, checks, positions)

    daemon.history.check = keep  # type: ignore[method-assign]
    daemon.notifier.notify = lambda *args, **kwargs: None  # type: ignore[method-assign]
    rng = np.random.default_rng(1)
    checks: list[list[Recorded]] = []
    offset = 0
    for i in range(count):
        clock.now = START + i * 900
        stamp = iso_stamp(clock.now - 1)
        payloads = encode_records(model, rows, rng, stamp)
        if i % 3 == 2:  # some checks see drift: every feature's values shifted in a third of the records
            payloads = [p.replace(b'"prediction": 0.', b'"prediction": 0.9') for p in payloads]
        daemon.handle(
            [
                FakeMessage(p, int(clock.now * 1000), "predictions", 0, offset + j)
                for j, p in enumerate(payloads)
            ]
        )
        offset += len(payloads)
        daemon.source._offsets.handled[("predictions", 0)] = offset
        before = len(captured)
        daemon.run_check("typical")
        checks.append(captured[before:])
    return checks, settings


def write(directory: Path, settings: Any, checks: list[list[Recorded]], total: int) -> tuple[float, int, int]:
    """Record ``total`` scheduled checks (cycling ``checks``) into a fresh file: (seconds, rows, bytes)."""
    path = directory / f"bench-{time.perf_counter_ns()}.history.sqlite"
    store = HistoryStore(path, max_checks=100_000_000)
    history = CheckHistory(store, Metrics(), settings.models, time.time)
    rows = 0
    started = time.perf_counter()
    for i in range(total):
        for result, at, breaches, alerts, positions in checks[i % len(checks)]:
            history.check(result, at + i, breaches, alerts, positions)
            rows += 1
    seconds = time.perf_counter() - started
    store.close()
    db = sqlite3.connect(path)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    size = path.stat().st_size
    path.unlink()
    return seconds, rows, size


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--checks", type=int, default=10_000, help="scheduled checks recorded per run")
    parser.add_argument("--samples", type=int, default=12, help="real checks whose records are cycled")
    parser.add_argument("--rows", type=int, default=4000, help="records per check window")
    args = parser.parse_args()
    print(f"check history: {args.checks:,} scheduled checks per run, medians of 3 runs")
    for scoped in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            checks, settings = samples(Path(tmp), scoped, args.samples, args.rows)
            runs = [write(Path(tmp), settings, checks, args.checks) for _ in range(3)]
        seconds = statistics.median(r[0] for r in runs)
        rows = runs[0][1]
        size = statistics.median(r[2] for r in runs)
        per_check_rows = rows / args.checks
        name = "25 features + segments (country_code, top 5)" if scoped else "25 features"
        print(
            f"  {name}: {per_check_rows:.1f} rows per check; "
            f"{size / rows * 10_000 / 2**20:.1f} MiB per 10k check rows, "
            f"{size / args.checks * 10_000 / 2**20:.1f} MiB per 10k scheduled checks; "
            f"write {seconds / rows * 1e3:.2f} ms per row, {seconds / args.checks * 1e3:.2f} ms per scheduled check"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
