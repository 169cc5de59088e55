"""Multiclass CBPE against the real broker: a covariate shift lowers the estimate, and its alert fires
before any label arrives.

A three-class model logs a map class -> probability per prediction. Its inputs move to where the
classes overlap, so the model is less sure and (as the labels sent afterwards show) less often right.
The daemon's label-free estimate of accuracy drops below the reference's by more than the rule allows,
and ``estimated_performance:accuracy`` fires a signed webhook while no label has been joined; the
labels then confirm the drop.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftwatch.cli.localbroker import LocalBroker
from driftwatch.performance.metrics import realized
from tests.integration.broker_daemon import running_daemon
from tests.kafkautil import wait_for

pytestmark = pytest.mark.broker

SECRET = "multiclass-estimate-secret"
CLASSES = ["a", "b", "c"]
WEIGHTS = np.array([[1.5, 0.0], [0.0, 1.0], [-1.5, -0.5]])
ROWS = 800
MODEL = {
    "reference": "ref.parquet",
    "features": ["x", "z"],
    "prediction": "probs",
    "window": {"length": "1h", "max_rows": 10000, "min_rows": 200},
    "schedule": {"every": "1s"},
    "webhooks": ["retrain"],
    "performance": {
        "task": "multiclass_classification",
        "label": "label",
        "min_labels": 200,
        "thresholds": {"accuracy": {"max_drop": 0.05}},
    },
}


def draw(
    rng: np.random.Generator, rows: int, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, calibrated class probabilities and labels drawn from them; a small ``spread`` keeps
    the inputs where the classes overlap."""
    x = rng.normal(size=(rows, 2)) * spread
    logits = x @ WEIGHTS.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = np.asarray(CLASSES)[(rng.uniform(size=(rows, 1)) > p.cumsum(axis=1)).sum(axis=1)]
    return x, p, labels


def write_reference(directory: Path) -> None:
    x, p, labels = draw(np.random.default_rng(1), 4000)
    pd.DataFrame(
        {
            "x": x[:, 0],
            "z": x[:, 1],
            "probs": [dict(zip(CLASSES, row.tolist(), strict=True)) for row in p],
            "label": labels,
        }
    ).to_parquet(directory / "ref.parquet")


def test_a_covariate_shift_fires_the_estimated_alert_before_labels(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_reference(tmp_path)
    x, p, truth = draw(np.random.default_rng(7), ROWS, spread=0.3)
    ids = [f"offer-{i}" for i in range(ROWS)]
    now = time.time()
    predictions = [
        json.dumps(
            {
                "model": "offers",
                "prediction_id": pid,
                "timestamp": now - 30,
                "features": {"x": float(row[0]), "z": float(row[1])},
                "prediction": dict(zip(CLASSES, probs.tolist(), strict=True)),
            }
        ).encode()
        for pid, row, probs in zip(ids, x, p, strict=True)
    ]
    labels = [
        json.dumps({"prediction_id": pid, "label": str(y)}).encode()
        for pid, y in zip(ids, truth, strict=True)
    ]

    with running_daemon(
        broker,
        tmp_path,
        monkeypatch,
        SECRET,
        {"offers": MODEL},
        topics=("predictions", "labels"),
        partitions={"predictions": 2, "labels": 2},
    ) as run:
        run.send("predictions", predictions)
        event = run.webhook("estimated_performance:accuracy")
        # fired on the estimate alone: not one label joined yet
        assert run.value("driftwatch_window_labelled_rows", model="offers") == 0
        assert run.value("driftwatch_performance", model="offers", metric="accuracy") is None
        assert (
            run.value("driftwatch_alert_active", model="offers", check="estimated_performance:accuracy") == 1
        )
        estimate = run.value("driftwatch_estimated_performance", model="offers", metric="accuracy")
        upper = run.value("driftwatch_estimated_performance_upper", model="offers", metric="accuracy")
        reference = run.daemon.joins["offers"].reference["accuracy"]
        assert estimate is not None and upper is not None and upper < reference * 0.95

        run.send("labels", labels)
        wait_for(
            lambda: run.value("driftwatch_window_labelled_rows", model="offers") == ROWS,
            30,
            "every prediction labelled in a check",
        )
        measured = run.value("driftwatch_performance", model="offers", metric="accuracy")

    # the labels confirm what the estimate said before them
    assert measured == pytest.approx(
        realized("multiclass_classification", truth, p, classes=CLASSES)["accuracy"]
    )
    assert measured < reference * 0.95
    assert abs(estimate - measured) < 0.05
    assert event["transition"] == "firing" and all(request.valid for request in run.receiver.received)
    assert event["result"]["performance"]["estimated"]["breaches"]["accuracy"] is True
