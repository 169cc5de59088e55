"""A regression's estimated mae against the real broker: the alert fires before any label arrives,
and the labels that come later score the estimate.

The daemon fits DLE's loss models on the reference when it starts and checks every second. Calm
predictions give an estimate near the reference's mae and a quiet alert; then the traffic moves to
inputs where the model errs more (a covariate shift of ``x0``), the estimated mae rises past its
``max_drop`` and the ``estimated_performance:mae`` webhook fires, while no label has been sent (the
realized mae has no value). The labels of the shifted predictions then arrive on the labels topic:
the label join kept each prediction's features, so the daemon estimates exactly the labelled rows with
DLE and exports the estimate's error against their realized mae and rmse on /metrics, as the JSON API
gives it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.cli.localbroker import LocalBroker
from tests.conformance.dle_cases import heteroscedastic
from tests.integration.broker_daemon import running_daemon
from tests.kafkautil import metric, wait_for

pytestmark = pytest.mark.broker

SECRET = "dle-test-secret"
FEATURES = ["x0", "x1", "x2", "region"]
MODEL = {
    "reference": "ref.csv",
    "features": ["x0", "x1", "x2", {"name": "region", "type": "categorical"}],
    "prediction": "y_pred",
    "window": {"length": "1h", "max_rows": 10000, "min_rows": 100},
    "schedule": {"every": "1s"},
    "webhooks": ["retrain"],
    "performance": {
        "task": "regression",
        "label": "y_true",
        "estimate": True,
        "thresholds": {"mae": {"max_drop": 0.15}},
        "estimate_thresholds": {"mae": {"max_drop": 0.15}},
    },
}


def records(frame: pd.DataFrame, prefix: str) -> list[bytes]:
    now = time.time()
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        features = {f: (None if isinstance(row[f], float) and np.isnan(row[f]) else row[f]) for f in FEATURES}
        record = {
            "model": "pricer",
            "prediction_id": f"{prefix}-{i}",
            "timestamp": now - 30,
            "features": features,
            "prediction": float(row["y_pred"]),
        }
        out.append(json.dumps(record).encode())
    return out


def test_a_covariate_shift_raises_the_estimated_mae_and_its_alert_fires_before_labels(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    heteroscedastic(np.random.default_rng(5), 4000).to_csv(tmp_path / "ref.csv", index=False)
    rng = np.random.default_rng(8)
    calm, shifted = heteroscedastic(rng, 400), heteroscedastic(rng, 1600, shift=2.0)

    with running_daemon(
        broker, tmp_path, monkeypatch, SECRET, {"pricer": MODEL}, topics=("predictions", "labels")
    ) as run:
        run.send("predictions", records(calm, "calm"))
        wait_for(
            lambda: run.value("driftwatch_estimated_performance", model="pricer", metric="mae") is not None,
            60,
            "the label-free mae estimate of the calm predictions",
        )
        calm_mae = run.value("driftwatch_estimated_performance", model="pricer", metric="mae")
        reference_mae = run.daemon.joins["pricer"].dle.reference["mae"]  # type: ignore[union-attr]
        assert calm_mae is not None and calm_mae < reference_mae * 1.15
        assert run.value("driftwatch_alert_active", model="pricer", check="estimated_performance:mae") == 0

        run.send("predictions", records(shifted, "shifted"))
        run.webhook("estimated_performance:mae")
        metrics = run.samples()

        label_records = [
            json.dumps({"prediction_id": f"shifted-{i}", "label": float(y)}).encode()
            for i, y in enumerate(shifted["y_true"])
        ]
        run.send("labels", label_records)

        def scored() -> dict[str, Any]:
            performance = (run.api("pricer")["latest"] or {}).get("performance") or {}
            return performance.get("estimate_error") or {}

        wait_for(lambda: scored().get("rows") == len(shifted), 60, "the estimate scored on the labels")
        # every shifted prediction is labelled: later checks score the same rows, the numbers hold
        api = scored()
        errors = {
            dict(labels)["metric"]: value
            for (name, labels), value in run.samples().items()
            if name == "driftwatch_estimated_performance_error" and dict(labels).get("model") == "pricer"
        }

    assert set(api["metrics"]) == {"mae", "rmse"}
    assert errors == pytest.approx({metric: m["error"] for metric, m in api["metrics"].items()})
    truth = shifted["y_true"] - shifted["y_pred"]
    assert api["metrics"]["mae"]["realized"] == pytest.approx(float(truth.abs().mean()))
    # a covariate shift: DLE's loss models know where the model errs, the estimate follows the truth
    assert abs(api["metrics"]["mae"]["error"]) < 0.15 * api["metrics"]["mae"]["realized"]

    assert metric(metrics, "driftwatch_alert_active", model="pricer", check="estimated_performance:mae") == 1
    shifted_mae = metric(metrics, "driftwatch_estimated_performance", model="pricer", metric="mae")
    assert shifted_mae is not None and shifted_mae > reference_mae * 1.15
    # before labels: nothing realized, nothing joined
    assert metric(metrics, "driftwatch_performance", model="pricer", metric="mae") is None
    assert metric(metrics, "driftwatch_window_labelled_rows", model="pricer") in (None, 0.0)

    assert all(request.valid for request in run.receiver.received)
    (fired,) = [e for e in run.events() if e["check"] == "estimated_performance:mae"]
    assert fired["transition"] == "firing"
    estimated = fired["result"]["performance"]["estimated"]
    assert estimated["status"] == "breach" and estimated["breaches"]["mae"] is True
    assert "without labels" in fired["summary"]
