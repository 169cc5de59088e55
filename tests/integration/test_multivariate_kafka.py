"""Through the real broker, a correlation that breaks while every feature keeps its own distribution
fires multivariate_drift (one signed webhook naming the check) and not the per-feature data_drift.

A model of three numeric features (x and y correlated 0.9, z independent) with ``drift.multivariate``
on. The test moves the daemon's clock: a window of undrifted records, checked; then, once those have
left the 20 s window, a window where y is shuffled against x (same values, link gone), checked. The
first check is clean on both kinds; the second breaches multivariate_drift:reconstruction_error only,
and the metrics, /api and the webhook say so.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.integration.scoped import GROUP_OPTIONS, Clock, api_model, events, produce, write_config
from tests.kafkautil import metric, scrape, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.broker

SECRET = b"multivariate-test-secret"
MODEL = "joint"
CHECK = "multivariate_drift:reconstruction_error"
ROWS = 1500


def rows(rng: np.random.Generator, n: int, broken: bool) -> pd.DataFrame:
    x = rng.normal(0, 1, n)
    y = 0.9 * x + math.sqrt(1 - 0.81) * rng.normal(0, 1, n)
    if broken:
        y = rng.permutation(y)
    return pd.DataFrame({"x": x, "y": y, "z": rng.normal(0, 1, n)})


def test_a_broken_correlation_fires_multivariate_drift_and_not_data_drift(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MULTIVARIATE_TEST_SECRET", SECRET.decode())
    topic = f"joint-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    rng = np.random.default_rng(60)
    rows(rng, 20_000, broken=False).to_csv(tmp_path / "ref.csv", index=False)
    port = free_port()
    start = math.floor(time.time() - 60.0)  # near real time: the webhook signatures carry it
    clock = Clock(start)
    with Receiver(SECRET) as receiver:
        path = write_config(
            tmp_path,
            {
                "kafka": {
                    "bootstrap_servers": [broker.bootstrap],
                    "topic": topic,
                    "group_id": f"joint-{uuid.uuid4().hex[:8]}",
                    "options": GROUP_OPTIONS,
                },
                "http": {"host": "127.0.0.1", "port": port},
                "models": {
                    MODEL: {
                        "reference": "ref.csv",
                        "features": ["x", "y", "z"],
                        "window": {"length": "20s", "buckets": 4, "max_rows": 20_000, "min_rows": 500},
                        "schedule": {"every": "1h"},  # the test runs the checks
                        "drift": {"multivariate": {}},
                        "webhooks": ["retrain"],
                        "alert": {"consecutive": 1, "resolve_after": 1},
                    }
                },
                "webhooks": {"retrain": {"url": receiver.url, "secret": {"env": "MULTIVARIATE_TEST_SECRET"}}},
                "state": {"path": str(tmp_path / "state.sqlite")},
            },
        )
        daemon = Daemon(load_settings(path), clock=clock)
        daemon.start()
        found = []
        try:
            for step, broken in enumerate((False, True)):
                begin = start + 30.0 * step  # the second window starts after the first has expired
                frame = rows(rng, ROWS, broken)
                times = begin + rng.uniform(0.01, 4.99, ROWS)
                produce(
                    broker.bootstrap,
                    topic,
                    (
                        json.dumps(
                            {
                                "model": MODEL,
                                "prediction_id": f"j-{step}-{i}",
                                "timestamp": float(t),
                                "features": {"x": float(r.x), "y": float(r.y), "z": float(r.z)},
                            }
                        ).encode()
                        for i, (t, r) in enumerate(zip(times, frame.itertuples(), strict=True))
                    ),
                )
                wait_for(
                    lambda n=ROWS * (step + 1): (
                        (metric(scrape(port), "driftwatch_records_consumed_total", model=MODEL) or 0) >= n
                    ),
                    30,
                    f"the records of window {step} consumed",
                )
                clock.set(begin + 5.0)
                daemon.run_check(MODEL)
                samples = scrape(port)
                found.append(
                    {
                        "value": metric(
                            samples,
                            "driftwatch_multivariate_drift_value",
                            model=MODEL,
                            method="reconstruction_error",
                        ),
                        "upper": metric(
                            samples,
                            "driftwatch_multivariate_drift_upper_threshold",
                            model=MODEL,
                            method="reconstruction_error",
                        ),
                        "detected": metric(
                            samples,
                            "driftwatch_multivariate_drift_detected",
                            model=MODEL,
                            method="reconstruction_error",
                        ),
                        "active": metric(samples, "driftwatch_alert_active", model=MODEL, check=CHECK),
                        "data_drift": metric(
                            samples, "driftwatch_alert_active", model=MODEL, check="data_drift"
                        ),
                        "dataset": metric(samples, "driftwatch_dataset_drift_detected", model=MODEL),
                    }
                )
            model = api_model(port, MODEL)
            wait_for(lambda: len(receiver.received) >= 1, 15, "the firing webhook")
            wait_for(
                lambda: metric(scrape(port), "driftwatch_webhook_outbox_pending", target="retrain") == 0.0,
                15,
                "the outbox to be empty",
            )
        finally:
            daemon.stop()

    clean, broken = found
    assert clean["detected"] == 0.0 and clean["active"] == 0.0, clean
    assert clean["value"] is not None and clean["upper"] is not None and clean["value"] < clean["upper"]
    assert broken["detected"] == 1.0 and broken["active"] == 1.0, broken
    assert broken["value"] is not None and broken["upper"] is not None and broken["value"] > broken["upper"]
    for check in found:  # every feature's distribution is the reference's: no data drift
        assert check["dataset"] == 0.0 and check["data_drift"] == 0.0, check

    latest = model["latest"]
    assert latest["rows"] == ROWS
    assert latest["dataset_drift"] is False
    assert latest["multivariate_drift"]["reconstruction_error"]["alert"] is True

    got = events(receiver)
    assert all(request.valid for request in receiver.received)
    assert [(e["check"], e["transition"]) for e in got] == [(CHECK, "firing")]  # once
    assert got[0]["result"]["multivariate_drift"]["reconstruction_error"]["alert"] is True
    assert "Multivariate drift reconstruction_error on model joint" in got[0]["summary"]
