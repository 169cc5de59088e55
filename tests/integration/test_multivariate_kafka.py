"""Through the real broker, a correlation that breaks while every feature keeps its own distribution
fires multivariate_drift (one signed webhook naming the check) and not the per-feature data_drift,
with either method.

A model of three numeric features (x and y correlated 0.9, z independent) with ``drift.multivariate``
on. The test moves the daemon's clock: a window of undrifted records, checked; then, once those have
left the 20 s window, a window where y is shuffled against x (same values, link gone), checked. The
first check is clean on both kinds; the second breaches multivariate_drift:<method> only, and the
metrics, /api and the webhook say so: with the reconstruction error (the PCA rebuilds the broken rows
badly) and with the domain classifier (LightGBM tells the broken rows from the reference's).
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.cli.localbroker import LocalBroker
from tests.integration.broker_daemon import BrokerDaemon, running_daemon
from tests.integration.scoped import Clock
from tests.kafkautil import metric

pytestmark = pytest.mark.broker

SECRET = "multivariate-test-secret"
MODEL = "joint"
ROWS = 1500


def rows(rng: np.random.Generator, n: int, broken: bool) -> pd.DataFrame:
    x = rng.normal(0, 1, n)
    y = 0.9 * x + math.sqrt(1 - 0.81) * rng.normal(0, 1, n)
    if broken:
        y = rng.permutation(y)
    return pd.DataFrame({"x": x, "y": y, "z": rng.normal(0, 1, n)})


def clean_then_broken(
    broker: LocalBroker,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    multivariate: dict[str, Any],
    method: str,
) -> tuple[list[dict[str, Any]], BrokerDaemon]:
    """Check an undrifted window, then one with y shuffled against x; per check, ``method``'s metrics and
    alerts and the /api model right after it. The daemon has stopped, its outbox emptied, on return."""
    rng = np.random.default_rng(60)
    rows(rng, 20_000, broken=False).to_csv(tmp_path / "ref.csv", index=False)
    start = math.floor(time.time() - 60.0)  # near real time: the webhook signatures carry it
    clock = Clock(start)
    model = {
        "reference": "ref.csv",
        "features": ["x", "y", "z"],
        "window": {"length": "20s", "buckets": 4, "max_rows": 20_000, "min_rows": 500},
        "schedule": {"every": "1h"},  # the test runs the checks
        "drift": {"multivariate": multivariate},
        "webhooks": ["retrain"],
        "alert": {"consecutive": 1, "resolve_after": 1},
    }
    found = []
    with running_daemon(
        broker,
        tmp_path,
        monkeypatch,
        SECRET,
        {MODEL: model},
        partitions={"predictions": 2},
        clock=clock,
    ) as run:
        for step, broken in enumerate((False, True)):
            begin = start + 30.0 * step  # the second window starts after the first has expired
            frame = rows(rng, ROWS, broken)
            times = begin + rng.uniform(0.01, 4.99, ROWS)
            run.send(
                "predictions",
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
            run.consumed(MODEL, ROWS * (step + 1))
            clock.set(begin + 5.0)
            run.daemon.run_check(MODEL)
            samples = run.samples()
            found.append(
                {
                    **{
                        key: metric(
                            samples, f"driftwatch_multivariate_drift_{key}", model=MODEL, method=method
                        )
                        for key in ("value", "lower_threshold", "upper_threshold", "detected")
                    },
                    "active": metric(
                        samples, "driftwatch_alert_active", model=MODEL, check=f"multivariate_drift:{method}"
                    ),
                    "data_drift": metric(samples, "driftwatch_alert_active", model=MODEL, check="data_drift"),
                    "dataset": metric(samples, "driftwatch_dataset_drift_detected", model=MODEL),
                    "api": run.api(MODEL),
                }
            )
        run.webhook(f"multivariate_drift:{method}", timeout=15)
        run.outbox_empty()
    return found, run


def test_a_broken_correlation_fires_multivariate_drift_and_not_data_drift(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    method = "reconstruction_error"
    found, run = clean_then_broken(broker, tmp_path, monkeypatch, {}, method)

    clean, broken = found
    assert clean["detected"] == 0.0 and clean["active"] == 0.0, clean
    assert clean["value"] is not None and clean["upper_threshold"] is not None
    assert clean["value"] < clean["upper_threshold"]
    assert broken["detected"] == 1.0 and broken["active"] == 1.0, broken
    assert broken["value"] is not None and broken["upper_threshold"] is not None
    assert broken["value"] > broken["upper_threshold"]
    for check in found:  # every feature's distribution is the reference's: no data drift
        assert check["dataset"] == 0.0 and check["data_drift"] == 0.0, check

    latest = broken["api"]["latest"]
    assert latest["rows"] == ROWS
    assert latest["dataset_drift"] is False
    assert latest["multivariate_drift"][method]["alert"] is True

    got = run.events()
    assert all(request.valid for request in run.receiver.received)
    assert [(e["check"], e["transition"]) for e in got] == [
        (f"multivariate_drift:{method}", "firing")
    ]  # once
    assert got[0]["result"]["multivariate_drift"][method]["alert"] is True
    assert "Multivariate drift reconstruction_error on model joint" in got[0]["summary"]


def test_a_broken_correlation_fires_the_domain_classifier_once(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The domain classifier alone (NannyML's constant thresholds 0.45 and 0.65): the undrifted window's
    AUROC is near 0.5 (0.51-0.52 in two runs; its standard deviation at 1,500 rows is about 0.015),
    the broken one's far above 0.65 (0.79)."""
    method = "domain_classifier_auroc"
    found, run = clean_then_broken(broker, tmp_path, monkeypatch, {"methods": [method]}, method)

    clean, broken = found
    for check in found:
        assert (check["lower_threshold"], check["upper_threshold"]) == (0.45, 0.65), check
        # /metrics and /api carry the same AUROC
        result = check["api"]["latest"]["multivariate_drift"][method]
        assert check["value"] == result["value"], (check["value"], result)
        assert result["rows"] == ROWS and result["reference_sample_rows"] == 10_000
        # the reconstruction error is not configured: no series of it
        assert check["api"]["latest"]["multivariate_drift"].keys() == {method}
        assert check["dataset"] == 0.0 and check["data_drift"] == 0.0, check  # every marginal unchanged
    assert clean["detected"] == 0.0 and clean["active"] == 0.0, clean
    assert 0.45 < clean["value"] < 0.65
    assert broken["detected"] == 1.0 and broken["active"] == 1.0, broken
    assert broken["value"] > 0.65
    assert broken["api"]["latest"]["multivariate_drift"][method]["alert"] is True

    got = run.events()
    assert all(request.valid for request in run.receiver.received)
    assert [(e["check"], e["transition"]) for e in got] == [
        (f"multivariate_drift:{method}", "firing")
    ]  # once
    assert got[0]["result"]["multivariate_drift"][method]["value"] == broken["value"]
    assert "Multivariate drift domain_classifier_auroc on model joint" in got[0]["summary"]
