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
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.conformance.dle_cases import heteroscedastic
from tests.integration.test_performance_kafka import send
from tests.kafkautil import get, scrape, wait_for

pytestmark = pytest.mark.broker

SECRET = "dle-test-secret"
FEATURES = ["x0", "x1", "x2", "region"]


def write_config(directory: Path, bootstrap: str, topics: dict[str, str], port: int, hook: str) -> Path:
    heteroscedastic(np.random.default_rng(5), 4000).to_csv(directory / "ref.csv", index=False)
    config = {
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "topic": topics["predictions"],
            "labels_topic": topics["labels"],
            "group_id": f"dle-{uuid.uuid4().hex[:6]}",
            "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        },
        "http": {"host": "127.0.0.1", "port": port},
        "models": {
            "pricer": {
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
        },
        "webhooks": {"retrain": {"url": hook, "secret": {"env": SECRET_ENV}, "timeout": "5s"}},
        "state": {"path": str(directory / "state.sqlite")},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


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
    monkeypatch.setenv(SECRET_ENV, SECRET)
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{name}-{suffix}" for name in ("predictions", "labels")}
    for topic in topics.values():
        broker.create_topic(topic, partitions=1)
    rng = np.random.default_rng(8)
    calm, shifted = heteroscedastic(rng, 400), heteroscedastic(rng, 1600, shift=2.0)

    port = free_port()
    with WebhookReceiver(SECRET.encode()) as receiver:
        settings = load_settings(write_config(tmp_path, broker.bootstrap, topics, port, receiver.url))
        daemon = Daemon(settings)
        daemon.start()
        try:

            def value(name: str, **wanted: str) -> float | None:
                return scrape(port).get((name, tuple(sorted(wanted.items()))))

            send(broker.bootstrap, topics["predictions"], records(calm, "calm"))
            wait_for(
                lambda: value("driftwatch_estimated_performance", model="pricer", metric="mae") is not None,
                60,
                "the label-free mae estimate of the calm predictions",
            )
            calm_mae = value("driftwatch_estimated_performance", model="pricer", metric="mae")
            reference_mae = daemon.joins["pricer"].dle.reference["mae"]  # type: ignore[union-attr]
            assert calm_mae is not None and calm_mae < reference_mae * 1.15
            assert value("driftwatch_alert_active", model="pricer", check="estimated_performance:mae") == 0

            send(broker.bootstrap, topics["predictions"], records(shifted, "shifted"))
            wait_for(
                lambda: any(
                    (hook["json"] or {}).get("check") == "estimated_performance:mae"
                    for hook in receiver.received
                ),
                60,
                "the estimated_performance:mae webhook",
            )
            metrics = scrape(port)

            labels = [
                json.dumps({"prediction_id": f"shifted-{i}", "label": float(y)}).encode()
                for i, y in enumerate(shifted["y_true"])
            ]
            send(broker.bootstrap, topics["labels"], labels)

            def scored() -> dict[str, Any]:
                status, body = get(port, "/api/models/pricer")
                assert status == 200
                performance = (json.loads(body)["latest"] or {}).get("performance") or {}
                return performance.get("estimate_error") or {}

            wait_for(lambda: scored().get("rows") == len(shifted), 60, "the estimate scored on the labels")
            # every shifted prediction is labelled: later checks score the same rows, the numbers hold
            api = scored()
            errors = {
                dict(labels)["metric"]: value
                for (name, labels), value in scrape(port).items()
                if name == "driftwatch_estimated_performance_error" and dict(labels).get("model") == "pricer"
            }
        finally:
            daemon.stop()

    assert set(api["metrics"]) == {"mae", "rmse"}
    assert errors == pytest.approx({metric: m["error"] for metric, m in api["metrics"].items()})
    truth = shifted["y_true"] - shifted["y_pred"]
    assert api["metrics"]["mae"]["realized"] == pytest.approx(float(truth.abs().mean()))
    # a covariate shift: DLE's loss models know where the model errs, the estimate follows the truth
    assert abs(api["metrics"]["mae"]["error"]) < 0.15 * api["metrics"]["mae"]["realized"]

    def sample(name: str, **wanted: str) -> float | None:
        return metrics.get((name, tuple(sorted(wanted.items()))))

    assert sample("driftwatch_alert_active", model="pricer", check="estimated_performance:mae") == 1
    shifted_mae = sample("driftwatch_estimated_performance", model="pricer", metric="mae")
    assert shifted_mae is not None and shifted_mae > reference_mae * 1.15
    # before labels: nothing realized, nothing joined
    assert sample("driftwatch_performance", model="pricer", metric="mae") is None
    assert sample("driftwatch_window_labelled_rows", model="pricer") in (None, 0.0)

    events: list[dict[str, Any]] = [hook["json"] for hook in receiver.received]
    assert all(hook["valid"] for hook in receiver.received)
    (fired,) = [e for e in events if e["check"] == "estimated_performance:mae"]
    assert fired["transition"] == "firing"
    estimated = fired["result"]["performance"]["estimated"]
    assert estimated["status"] == "breach" and estimated["breaches"]["mae"] is True
    assert "without labels" in fired["summary"]
