"""Windows sampled by position keys: the same records give the same rows however they are read."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.stream.sample_keys import bottom_k, position_keys
from driftwatch.stream.windows import ColumnSpec, Window

NOW = 1_800_000_000.0
MAX_ROWS = 60


@dataclass
class FakeMessage:
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: int = int(NOW * 1000) - 1000


def make_daemon(tmp_path: Path, name: str = "a") -> Daemon:
    if not (tmp_path / "ref.csv").exists():
        rng = np.random.default_rng(5)
        pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(["a", "b"], 200)}).to_csv(
            tmp_path / "ref.csv", index=False
        )
    (tmp_path / f"{name}.yaml").write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.csv
    features: [x, {{name: c, type: categorical}}]
    window: {{length: 1h, max_rows: {MAX_ROWS}, min_rows: 1}}
state: {{path: {name}.sqlite}}
""",
        encoding="utf-8",
    )
    return Daemon(load_settings(tmp_path / f"{name}.yaml"), clock=lambda: NOW)


def messages(count: int = 500, partitions: int = 3) -> list[FakeMessage]:
    """Records with a unique ``x`` (their number), spread round-robin over partitions."""
    out = []
    for i in range(count):
        body = {"model": "m", "timestamp": NOW - 1 - i, "features": {"x": float(i), "c": "ab"[i % 2]}}
        out.append(FakeMessage(json.dumps(body).encode(), "predictions", i % partitions, i // partitions))
    return out


def with_bad_records(batch: list[FakeMessage]) -> list[FakeMessage]:
    """The batch plus an undecodable message, which sends it through the exact path."""
    return [*batch, FakeMessage(b"\xff", "predictions", 99, len(batch))]


def rows(daemon: Daemon) -> set[float]:
    return set(daemon.windows["m"].snapshot(NOW).frame["x"].tolist())


def expected(batch: list[FakeMessage], k: int = MAX_ROWS) -> set[float]:
    keys = position_keys([m.topic for m in batch], [m.partition for m in batch], [m.offset for m in batch])
    return {float(i) for i in bottom_k(keys, k).tolist()}  # x is the record's number, its place in batch


@pytest.mark.parametrize("exact", [False, True], ids=["columnar", "exact"])
def test_the_window_is_the_bottom_k_of_the_records_whatever_the_batching(tmp_path: Path, exact: bool) -> None:
    batch = messages()
    want = expected(batch)
    assert len(want) == MAX_ROWS  # sampling is active: 500 records, 60 rows

    def fed(name: str, batches: list[list[FakeMessage]]) -> set[float]:
        daemon = make_daemon(tmp_path, name)
        for part in batches:
            daemon.handle(with_bad_records(part) if exact else part)

        def count(name: str, **labels: str) -> float | None:
            return daemon.metrics.registry.get_sample_value(name, labels)

        assert count("driftwatch_records_consumed_total", model="m") == len(batch)
        assert count("driftwatch_records_rejected_total", reason="undecodable") == (
            len(batches) if exact else None
        )
        return rows(daemon)

    assert fed("one", [batch]) == want
    assert fed("many", [batch[i : i + 7] for i in range(0, len(batch), 7)]) == want
    by_partition = sorted(batch, key=lambda m: (m.partition, m.offset))
    assert fed("partitions", [by_partition[i : i + 40] for i in range(0, len(batch), 40)]) == want
    shuffled = batch[:]
    random.Random(3).shuffle(shuffled)
    assert fed("shuffled", [shuffled[i : i + 33] for i in range(0, len(batch), 33)]) == want


def test_windows_built_apart_merge_into_the_window_built_at_once(tmp_path: Path) -> None:
    batch = messages(partitions=4)
    single = make_daemon(tmp_path, "single")
    single.handle(batch)
    first, second = make_daemon(tmp_path, "first"), make_daemon(tmp_path, "second")
    first.handle([m for m in batch if m.partition in (0, 3)])
    second.handle(with_bad_records([m for m in batch if m.partition in (1, 2)]))
    frames = [d.windows["m"].snapshot(NOW, keys=True).frame for d in (first, second)]
    assert all(len(f) == MAX_ROWS for f in frames)
    union = pd.concat(frames, ignore_index=True)
    merged = union.iloc[bottom_k(union["__key"].to_numpy(), MAX_ROWS)]
    assert set(merged["x"].tolist()) == rows(single) == expected(batch)
    whole = single.windows["m"].snapshot(NOW, keys=True).frame
    assert sorted(merged["__key"].tolist()) == sorted(whole["__key"].tolist())


def test_a_restored_window_keeps_its_keys(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path)
    batch = messages()
    daemon.handle(batch[:250])
    daemon.checkpoint({("predictions", p): 100 for p in range(3)})
    before = daemon.windows["m"].snapshot(NOW, keys=True).frame
    again = make_daemon(tmp_path)
    after = again.windows["m"].snapshot(NOW, keys=True).frame
    assert sorted(zip(after["x"], after["__key"], strict=True)) == sorted(
        zip(before["x"], before["__key"], strict=True)
    )
    again.handle(batch[250:])  # the rest, after the restore: the same window as one reader of all
    assert rows(again) == expected(batch)


def test_a_window_without_positions_draws_its_keys() -> None:
    window = Window([ColumnSpec("x", "numeric")], length=100, max_rows=10, rng=np.random.default_rng(0))
    window.add_columns(np.full(5, 50.0), [np.arange(5.0)], now=60.0)
    keys = window.snapshot(60.0, keys=True).frame["__key"]
    assert len(keys) == 5 and keys.between(0.0, 1.0, inclusive="left").all()
    with pytest.raises(ValueError, match="3 sample keys for 5 records"):
        window.add_columns(np.full(5, 50.0), [np.arange(5.0)], now=60.0, keys=np.zeros(3))
