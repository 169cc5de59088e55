"""The daemon's data path without a broker: batches in, checks run, metrics and events out."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0


@dataclass
class FakeMessage:
    value: bytes | None
    timestamp: int = int(NOW * 1000) - 1000  # Kafka timestamps are milliseconds
    topic: str = "predictions"
    partition: int = 0
    offset: int = 0


@pytest.fixture
def daemon(tmp_path: Path) -> Daemon:
    rng = np.random.default_rng(5)
    pd.DataFrame({"x": rng.integers(0, 2, 500).astype(float), "c": rng.choice(["a", "b", "c"], 500)}).to_csv(
        tmp_path / "ref.csv", index=False
    )
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m:
    reference: ref.csv
    features: [x, {name: c, type: categorical}]
    window: {length: 1h, max_rows: 1000, min_rows: 1}  # the data path, with windows of any size
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)


def records(xs: list[float], cs: list[str]) -> list[FakeMessage]:
    return [
        FakeMessage(
            json.dumps({"model": "m", "timestamp": NOW - 1, "features": {"x": x, "c": c}}).encode(), offset=i
        )
        for i, (x, c) in enumerate(zip(xs, cs, strict=True))
    ]


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    """A sample of the daemon's registry; a label left unnamed must be empty (a scope's label of the
    whole model: Prometheus treats an empty label as absent)."""
    for family in daemon.metrics.registry.collect():
        for s in family.samples:
            if s.name == name and {k: v for k, v in s.labels.items() if v} == labels:
                return float(s.value)
    return None


def test_auto_method_switch_leaves_no_stale_series(daemon: Daemon) -> None:
    daemon.handle(records([0.0, 1.0] * 100, ["a", "b", "c", "a"] * 50))
    first = daemon.run_check("m")
    assert first.drift.columns[0].method == "z"
    assert sample(daemon, "driftwatch_feature_drift_score", model="m", feature="x", method="z") is not None
    daemon.handle(records([float(v) for v in range(10)] * 30, ["a"] * 300))  # now > 5 distinct values: ks
    second = daemon.run_check("m")
    assert second.drift.columns[0].method == "ks"
    assert sample(daemon, "driftwatch_feature_drift_score", model="m", feature="x", method="z") is None
    assert sample(daemon, "driftwatch_feature_drift_score", model="m", feature="x", method="ks") is not None


def test_bad_records_are_counted_and_good_ones_windowed(daemon: Daemon) -> None:
    good = records([0.0, 1.0], ["a", "b"])
    bad = [
        FakeMessage(b"\xff"),
        FakeMessage(None),
        FakeMessage(
            b'{"model": "m", "features": {"x": 1' + b"0" * 400 + b"}}"
        ),  # huge int: counted as missing
        FakeMessage(b'{"model": "m", "features": {"x": "text", "c": "a"}}'),  # wrong kind: a type violation
        FakeMessage(b'{"model": "other", "features": {}}'),
    ]
    daemon.handle(good + bad)
    assert sample(daemon, "driftwatch_records_rejected_total", reason="undecodable") == 2
    assert sample(daemon, "driftwatch_records_rejected_total", reason="unknown_model") == 1
    assert sample(daemon, "driftwatch_records_consumed_total", model="m") == 4
    assert sample(daemon, "driftwatch_feature_type_violations_total", model="m", feature="x") == 2
    result = daemon.run_check("m")
    assert result.rows == 4
    x = result.drift.columns[0] if result.drift.columns[0].column == "x" else result.drift.columns[1]
    assert x.quality is not None and x.quality.type_violations == 2 and x.quality.missing_share == 0.5


def test_records_older_than_the_window_are_counted_not_kept(daemon: Daemon) -> None:
    old = FakeMessage(json.dumps({"model": "m", "timestamp": NOW - 7200, "features": {"x": 1}}).encode())
    daemon.handle([old])
    assert sample(daemon, "driftwatch_records_outside_window_total", model="m") == 1
    assert daemon.windows["m"].rows() == 0
