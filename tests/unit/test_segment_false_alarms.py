"""No segment alert on a stationary stream under the segment defaults: a reduced, seed-fixed run of the
stationary scenario of bench/scope_false_alarms.py (which measures the rates the defaults were chosen
by). The stream is drawn from the generator the reference was drawn from; the segment column has 50
values with Zipf(1.1) shares, so some segments' own reference rows are few (a few hundred), the case
that raised false alarms before the defaults were measured: with ``segments.min_rows: 500`` (the old
default) this very run fires ``region=r05 prediction_drift`` (a KS test against the segment's own
reference rows, between 500 and 1000 of them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon

START = 1_795_000_000.0
FEATURES = 10
VALUES = 50
PER_MINUTE = 2000
EVERY = 300.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _columns(rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Counts and lognormal amounts of several scales, and a probability: as the bench's features."""
    columns: dict[str, np.ndarray] = {}
    for i in range(FEATURES):
        scale = 10.0 ** (i % 6)
        if i % 3 == 0:
            columns[f"f{i}"] = rng.poisson(1 + scale / 10, rows).astype(np.float64)
        else:
            columns[f"f{i}"] = (rng.lognormal(0.0, 0.75, rows) * scale).round(4)
    columns["prediction"] = 1 / (1 + np.exp(-rng.normal(0, 1.5, rows)))
    return columns


def _weights() -> np.ndarray:
    weights = np.arange(1, VALUES + 1, dtype=float) ** -1.1
    return weights / weights.sum()


def _daemon(tmp_path: Path, segments: dict[str, Any], clock: Clock, seed: int) -> Daemon:
    rng = np.random.default_rng(seed)
    names = np.array([f"r{i:02d}" for i in range(VALUES)], dtype=object)
    reference = _columns(20_000, rng)
    reference["region"] = rng.choice(names, 20_000, p=_weights())
    pd.DataFrame(reference).to_parquet(tmp_path / "ref.parquet", index=False)
    raw = {
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "topic": "predictions"},
        "http": {"port": 0},
        "models": {
            "m": {
                "reference": "ref.parquet",
                "features": [f"f{i}" for i in range(FEATURES)],
                "prediction": "prediction",
                "window": {"length": "1h", "max_rows": 50_000},
                "segments": {"columns": ["region"], **segments},
            }
        },
        "state": {"path": str(tmp_path / "state.sqlite")},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)


def stationary_firings(
    tmp_path: Path, segments: dict[str, Any], seed: int = 3, hours: float = 2.0
) -> list[str]:
    """The segment alerts that fire over ``hours`` of checks every 5 minutes (after one hour of traffic)
    on a stream equal to the reference: ``"<scope> <check>"`` per firing."""
    clock = Clock()
    daemon = _daemon(tmp_path, segments, clock, seed)
    scoped = daemon.scoped["m"]
    names = np.array([f"r{i:02d}" for i in range(VALUES)], dtype=object)
    specs = [spec.name for spec in scoped.whole.columns]
    rng = np.random.default_rng(seed + 100)
    fired: list[str] = []
    observe = daemon.policy.observe

    def recording(
        model: str, check: str, breaching: bool, end: float, rule: Any = None, scope: str = ""
    ) -> Any:
        event = observe(model, check, breaching, end, rule, scope)
        if event is not None and event.transition == "firing" and scope:
            fired.append(f"{scope} {check}")
        return event

    daemon.policy.observe = recording  # type: ignore[method-assign]

    def feed(minutes: int) -> None:
        for _ in range(minutes):
            columns = _columns(PER_MINUTE, rng)
            region = names[rng.choice(VALUES, PER_MINUTE, p=_weights())]
            stamps = clock.now + np.sort(rng.random(PER_MINUTE)) * 60.0
            clock.now += 60.0
            arrays = [region if name == "region" else columns[name] for name in specs]
            scoped.add_columns(stamps, arrays, clock.now, rng.random(PER_MINUTE))

    try:
        feed(60)
        for _ in range(int(hours * 3600 / EVERY)):
            daemon.run_check("m")
            feed(int(EVERY // 60))
        assert sum(1 for scope in scoped.scopes() if scope.segment is not None) == 21  # 20 + other
    finally:
        daemon.store.close()
    return fired


@pytest.mark.slow  # 2 simulated hours of checks of 21 scopes: about 10 s
def test_no_segment_alert_fires_on_a_stationary_stream_under_the_defaults(tmp_path: Path) -> None:
    assert stationary_firings(tmp_path, {}) == []
