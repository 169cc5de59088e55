"""No traffic and too little traffic: one meaning of "no verdict" on every surface.

A check whose window is empty (traffic stopped) or smaller than ``window.min_rows`` has no drift
verdict: /api/models says so with a status and a reason (never a made-up ``dataset_drift: false``),
/metrics drops the model's drift series (never an older check's value) and says the status, the
alert state is left as it is and no webhook fires. Driven through a Daemon with an injected clock
and no broker; the HTTP surfaces are read over a real socket.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftwatch.alerting.events import alert_event
from driftwatch.alerting.policy import AlertState
from driftwatch.checks.ids import CheckId
from driftwatch.checks.window import STATUSES
from driftwatch.config import MIN_ROWS_DEFAULT, ConfigError, load_settings
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "webhook-event.schema.json").read_text())
DRIFT_SERIES = (
    "driftwatch_feature_drift_score",
    "driftwatch_feature_drift_threshold",
    "driftwatch_feature_drift_detected",
    "driftwatch_dataset_drift_share",
    "driftwatch_dataset_drift_detected",
    "driftwatch_prediction_drift_score",
    "driftwatch_prediction_drift_detected",
    "driftwatch_feature_missing_share",
    "driftwatch_feature_unseen_category_share",
    "driftwatch_feature_out_of_range_share",
)


@dataclass
class FakeMessage:
    value: bytes | None
    timestamp: int
    topic: str = "predictions"
    partition: int = 0
    offset: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.csv
    features: [x, {{name: c, type: categorical}}]
    prediction: score
    window: {{length: 1h, max_rows: 1000{min_rows}}}
    alert: {{consecutive: 1}}
state: {{path: state.sqlite}}
"""


def write_config(tmp_path: Path, min_rows: int | None = 50) -> Path:
    rng = np.random.default_rng(5)
    pd.DataFrame(
        {"x": rng.normal(0, 1, 500), "c": rng.choice(["a", "b", "c"], 500), "score": rng.random(500)}
    ).to_csv(tmp_path / "ref.csv", index=False)
    path = tmp_path / "c.yaml"
    path.write_text(
        CONFIG.format(min_rows="" if min_rows is None else f", min_rows: {min_rows}"), encoding="utf-8"
    )
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def daemon(tmp_path: Path, clock: Clock) -> Iterator[Daemon]:
    d = Daemon(load_settings(write_config(tmp_path)), clock=clock)
    d.notified: list[tuple[str, str]] = []  # type: ignore[misc]
    d._notify = lambda event, result: d.notified.append((event.check, event.transition))  # type: ignore[method-assign, attr-defined]
    d.http.start()
    yield d
    d.http.stop()
    d.store.close()


def shifted(clock: Clock, n: int, prediction: bool = True, c: bool = True) -> list[FakeMessage]:
    """``n`` records far from the reference (x around 5, c always "z", scores near 1), stamped now."""
    out = []
    for i in range(n):
        features: dict[str, Any] = {"x": 5.0 + i % 7 / 10}
        if c:
            features["c"] = "z"
        record: dict[str, Any] = {"model": "m", "timestamp": clock.now - 1, "features": features}
        if prediction:
            record["prediction"] = 0.95 + i % 5 / 100
        out.append(FakeMessage(json.dumps(record).encode(), int(clock.now * 1000) - 1000, offset=i))
    return out


def get(daemon: Daemon, path: str) -> bytes:
    host, port = daemon.http.address
    with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
        body: bytes = response.read()
        return body


def scraped(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of /metrics: (name, sorted labels) -> value."""
    text = get(daemon, "/metrics").decode()
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if v))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def series(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str) -> dict[Any, float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def status_of(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> dict[str, float]:
    return {
        dict(labels)["status"]: value
        for labels, value in series(samples, "driftwatch_check_status").items()
        if dict(labels)["model"] == "m" and dict(labels)["check"] == "data_drift"
    }


def assert_no_verdict(daemon: Daemon, status: str, rows: int) -> None:
    """/api/models and /metrics agree: no verdict, the status, and no drift series at all."""
    latest = json.loads(get(daemon, "/api/models/m"))["latest"]
    assert latest["status"] == status
    assert latest["rows"] == rows and latest["min_rows"] == 50
    assert latest["reason"]
    for field in ("dataset_drift", "drift_share", "n_drifted", "n_columns"):
        assert latest[field] is None, field
    assert latest["columns"] == [] and latest["prediction_drift"] is None
    samples = scraped(daemon)
    for name in DRIFT_SERIES:
        assert not series(samples, name), f"{name} still exported without a verdict"
    assert status_of(samples) == {s: float(s == status) for s in STATUSES}
    assert series(samples, "driftwatch_window_rows")[(("model", "m"),)] == rows


def test_traffic_stops_no_verdict_no_stale_series_alert_state_kept(
    daemon: Daemon, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    daemon.handle(shifted(clock, 200))
    first = daemon.run_check("m")
    assert first.status == "ok" and first.drift.dataset_drift
    assert first.prediction_drift is not None and first.prediction_drift.drift_detected
    samples = scraped(daemon)
    assert series(samples, "driftwatch_dataset_drift_detected") == {(("model", "m"),): 1.0}
    assert status_of(samples)["ok"] == 1.0
    assert daemon.policy.firing("m", "data_drift") and daemon.policy.firing("m", "prediction_drift")
    assert sorted(daemon.notified) == [("data_drift", "firing"), ("prediction_drift", "firing")]  # type: ignore[attr-defined]

    states = {check: daemon.policy.state("m", check) for check in ("data_drift", "prediction_drift")}
    clock.now += 2 * 3600  # traffic stopped: two window lengths later the window is empty
    with caplog.at_level(logging.INFO, logger="driftwatch"):
        second = daemon.run_check("m")
    assert second.status == "no_data" and second.rows == 0
    assert "check m: no verdict (no_data): the window is empty" in caplog.text
    assert "features drifted" not in caplog.text
    assert_no_verdict(daemon, "no_data", 0)
    # the alert state is the one the last verdict left (absence of evidence resolves nothing)
    assert {check: daemon.policy.state("m", check) for check in states} == states
    samples = scraped(daemon)
    assert series(samples, "driftwatch_alert_active")[(("check", "data_drift"), ("model", "m"))] == 1.0
    assert len(daemon.notified) == 2  # type: ignore[attr-defined]
    # the check ran without error: its last success advances (check_status says it had no answer)
    last = series(samples, "driftwatch_check_last_success_timestamp_seconds")
    assert last[(("check", "data_drift"), ("model", "m"))] == clock.now
    assert last[(("check", "prediction_drift"), ("model", "m"))] == clock.now

    daemon.handle(shifted(clock, 200))  # traffic is back: a verdict again, and its series
    third = daemon.run_check("m")
    assert third.status == "ok"
    samples = scraped(daemon)
    assert series(samples, "driftwatch_dataset_drift_detected") == {(("model", "m"),): 1.0}
    assert status_of(samples) == {"ok": 1.0, "no_data": 0.0, "not_enough_rows": 0.0}
    assert json.loads(get(daemon, "/api/models/m"))["latest"]["dataset_drift"] is True


def test_window_below_min_rows_has_no_verdict_and_raises_no_alert(daemon: Daemon, clock: Clock) -> None:
    daemon.handle(shifted(clock, 20))  # drifted data, but only 20 rows of the 50 needed
    result = daemon.run_check("m")
    assert result.status == "not_enough_rows" and result.rows == 20
    assert "fewer than window.min_rows 50" in (result.reason or "")
    assert_no_verdict(daemon, "not_enough_rows", 20)
    assert daemon.policy.state("m", "data_drift") == AlertState()  # untouched: not one breach counted
    assert daemon.notified == []  # type: ignore[attr-defined]

    clock.now += 60
    daemon.handle(shifted(clock, 40))  # 60 rows: a verdict
    assert daemon.run_check("m").status == "ok"
    assert daemon.policy.firing("m", "data_drift")
    assert ("data_drift", "firing") in daemon.notified  # type: ignore[attr-defined]


def test_a_small_window_after_an_alert_neither_resolves_nor_renotifies(daemon: Daemon, clock: Clock) -> None:
    daemon.handle(shifted(clock, 100))
    daemon.run_check("m")
    assert daemon.policy.firing("m", "data_drift")
    sent = len(daemon.notified)  # type: ignore[attr-defined]
    state = daemon.policy.state("m", "data_drift")
    clock.now += 3600 + 60  # the drifted rows left the window; 10 unshifted rows arrived
    rng = np.random.default_rng(1)
    daemon.handle(
        [
            FakeMessage(
                json.dumps(
                    {"model": "m", "timestamp": clock.now - 1, "features": {"x": float(v), "c": "a"}}
                ).encode(),
                int(clock.now * 1000),
            )
            for v in rng.normal(0, 1, 10)
        ]
    )
    assert daemon.run_check("m").status == "not_enough_rows"
    assert daemon.policy.state("m", "data_drift") == state
    assert len(daemon.notified) == sent  # type: ignore[attr-defined]


def test_columns_without_values_lose_their_series(daemon: Daemon, clock: Clock) -> None:
    """Records that stop carrying the prediction or a feature: those series go, the rest stay."""
    daemon.handle(shifted(clock, 100))
    daemon.run_check("m")
    samples = scraped(daemon)
    assert series(samples, "driftwatch_prediction_drift_detected")
    assert any(dict(k)["feature"] == "c" for k in series(samples, "driftwatch_feature_drift_score"))
    clock.now += 3600 + 60
    daemon.handle(shifted(clock, 100, prediction=False, c=False))
    result = daemon.run_check("m")
    assert result.status == "ok"
    assert result.prediction_drift is not None and result.prediction_drift.error
    samples = scraped(daemon)
    for name in ("driftwatch_prediction_drift_detected", "driftwatch_prediction_drift_score"):
        assert not series(samples, name), name
    for name in ("driftwatch_feature_drift_score", "driftwatch_feature_drift_detected"):
        assert {dict(k)["feature"] for k in series(samples, name)} == {"x"}, name
    latest = json.loads(get(daemon, "/api/models/m"))["latest"]
    assert latest["n_columns"] == 1 and latest["prediction_drift"]["error"]


def test_a_result_without_verdict_fits_the_webhook_schema(daemon: Daemon, clock: Clock) -> None:
    """A performance alert can fire while the window has no drift verdict: its payload stays valid."""
    result = daemon.run_check("m")
    assert result.status == "no_data"
    event = alert_event("k", "firing", CheckId("performance", "accuracy"), result, None, clock.now)
    jsonschema.validate(event, SCHEMA)
    assert event["result"]["dataset_drift"] is None and event["drift_share"] is None


def test_min_rows_config(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, None))
    assert settings.models["m"].window.min_rows == MIN_ROWS_DEFAULT
    for bad, words in (
        ("0", "min_rows"),
        ("5000", "min_rows 5000 is above max_rows 1000"),
    ):
        path = write_config(tmp_path, None)
        path.write_text(path.read_text().replace("max_rows: 1000", f"max_rows: 1000, min_rows: {bad}"))
        with pytest.raises(ConfigError, match=words):
            load_settings(path)
    path.write_text(path.read_text().replace("max_rows: 1000, min_rows: 5000", "max_rows: 10"))
    with pytest.raises(ConfigError, match=r"\(the default\) is above max_rows 10.*or set min_rows"):
        load_settings(path)


WHOLE_ACCURACY = {"model": "m", "metric": "accuracy", "model_version": "", "segment": ""}  # the whole model's


def test_an_estimate_without_predictions_leaves_no_stale_series(tmp_path: Path) -> None:
    """CBPE estimates the window's predictions: once the window is empty its series go too."""
    from tests.conformance.test_daemon_performance import Clock as PerformanceClock
    from tests.conformance.test_daemon_performance import make, predictions, window

    clock = PerformanceClock()
    daemon = make(tmp_path, clock)
    try:
        ids, scores, _ = window(600, seed=2)
        daemon.handle(predictions(ids, scores))
        first = daemon.run_check("m")
        assert first.performance is not None and first.performance.estimated is not None
        names = [
            "driftwatch_estimated_performance",
            "driftwatch_estimated_performance_lower",
            "driftwatch_estimated_performance_upper",
        ]
        for name in names:
            assert daemon.metrics.registry.get_sample_value(name, WHOLE_ACCURACY)
        clock.now += 2 * 3600
        second = daemon.run_check("m")
        assert second.status == "no_data"
        assert second.performance is not None and second.performance.estimated is None
        for name in names:
            assert daemon.metrics.registry.get_sample_value(name, WHOLE_ACCURACY) is None
    finally:
        daemon.store.close()
        if daemon.labels is not None:
            daemon.labels.close()


def test_rows_without_any_usable_feature_value_are_no_data_not_no_drift(daemon: Daemon, clock: Clock) -> None:
    """Records whose features are all missing or of the wrong kind: no verdict (not "0 of 0 drifted,
    no drift", which would resolve a firing alert on no evidence)."""
    daemon.handle(shifted(clock, 100))
    daemon.run_check("m")
    state = daemon.policy.state("m", "data_drift")
    assert state.state == "firing"
    clock.now += 3600 + 60
    daemon.handle(
        [
            FakeMessage(
                json.dumps(
                    {"model": "m", "timestamp": clock.now - 1, "features": {"x": "n/a", "c": None}}
                ).encode(),
                int(clock.now * 1000),
                offset=i,
            )
            for i in range(100)
        ]
    )
    result = daemon.run_check("m")
    assert result.status == "no_data" and result.rows == 100
    assert "none of the window's 100 rows has a usable value" in (result.reason or "")
    assert daemon.policy.state("m", "data_drift") == state
    latest = json.loads(get(daemon, "/api/models/m"))["latest"]
    assert latest["status"] == "no_data" and latest["dataset_drift"] is None
    assert {c["column"] for c in latest["columns"] if c.get("error")} == {"x", "c"}
    samples = scraped(daemon)
    for name in ("driftwatch_dataset_drift_detected", "driftwatch_feature_drift_score"):
        assert not series(samples, name), name
    assert status_of(samples)["no_data"] == 1.0
    # what was measured stays: every value of x is missing
    assert series(samples, "driftwatch_feature_missing_share")[(("feature", "x"), ("model", "m"))] == 1.0
