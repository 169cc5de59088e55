"""The estimate scored once labels arrive, against the real broker: predictions now, labels later.

Before any label (and with fewer than ``min_labels``) there is no ``driftwatch_estimated_performance_error``
series: no figure, not a zero. Once the labels are joined, each check estimates the labelled rows'
performance from their scores and exports estimate - realized per metric; under a concept drift (half the
labels flip at unchanged scores) CBPE's estimate stays near the reference while accuracy falls, so the
error is large and the realized value is outside the band. /metrics, the JSON API and the check history
carry the same numbers.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn import metrics as skm

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.performance.cbpe import ESTIMATED_METRICS
from driftwatch.service.daemon import Daemon
from tests.integration.broker_daemon import send
from tests.integration.test_performance_kafka import write_config
from tests.kafkautil import get, scrape, wait_for

pytestmark = pytest.mark.broker

ROWS = 600


def test_labels_arriving_turn_into_the_estimate_error_on_metrics_and_in_the_api(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "estimate-error-secret")
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{name}-{suffix}" for name in ("predictions", "labels", "dead")}
    for name, topic in topics.items():
        broker.create_topic(topic, partitions=2 if name != "dead" else 1)
    rng = np.random.default_rng(11)
    scores = 1 / (1 + np.exp(-2 * rng.normal(size=ROWS)))
    truth = (rng.uniform(size=ROWS) < scores).astype(int)
    truth = np.where(rng.uniform(size=ROWS) < 0.5, 1 - truth, truth)  # concept drift: half the labels flip
    ids = [f"req-{i}" for i in range(ROWS)]
    now = time.time()
    predictions = [
        json.dumps(
            {
                "model": "scorer",
                "prediction_id": pid,
                "timestamp": now - 30,
                "features": {"x": float(np.log(s / (1 - s)) / 2)},
                "prediction": float(s),
            }
        ).encode()
        for pid, s in zip(ids, scores, strict=True)
    ]
    labels = [
        json.dumps({"prediction_id": pid, "label": int(y)}).encode()
        for pid, y in zip(ids, truth, strict=True)
    ]
    port = free_port()
    with WebhookReceiver(b"estimate-error-secret") as receiver:  # the accuracy alert's webhook lands here
        settings = load_settings(write_config(tmp_path, broker.bootstrap, topics, port, receiver.url))
        send(broker.bootstrap, topics["predictions"], predictions)
        daemon = Daemon(settings)
        daemon.start()
        try:

            def errors() -> dict[str, float]:
                return {
                    dict(labels)["metric"]: value
                    for (name, labels), value in scrape(port).items()
                    if name == "driftwatch_estimated_performance_error"
                    and dict(labels).get("model") == "scorer"
                }

            def performance() -> dict[str, Any]:
                """The latest check's performance in the JSON API ({} before the first check)."""
                status, body = get(port, "/api/models/scorer")
                assert status == 200
                return (json.loads(body)["latest"] or {}).get("performance") or {}

            wait_for(lambda: performance().get("estimated") is not None, 60, "the label-free estimate")
            assert errors() == {}  # no labels: no error series
            assert performance()["estimate_error"] is None

            send(broker.bootstrap, topics["labels"], labels[:150])  # fewer than min_labels (200)
            wait_for(
                lambda: (performance().get("realized") or {}).get("labelled_rows") == 150,
                30,
                "150 labelled rows",
            )
            assert errors() == {}
            assert performance()["estimate_error"] is None

            send(broker.bootstrap, topics["labels"], labels[150:])
            wait_for(
                lambda: (performance()["estimate_error"] or {}).get("rows") == ROWS,
                30,
                "the estimate scored on every labelled prediction",
            )
            # every prediction is labelled: each later check scores the same rows, so the numbers hold still
            api = performance()["estimate_error"]
            exported = errors()
            covered = {
                dict(labels)["metric"]: value
                for (name, labels), value in scrape(port).items()
                if name == "driftwatch_estimated_performance_covered"
            }
            status, body = get(port, "/api/models/scorer/history")
            assert status == 200
            history = [
                row["result"]["performance"]["estimate_error"]
                for row in json.loads(body)
                if (row["result"]["performance"] or {}).get("estimate_error") is not None
            ]
        finally:
            daemon.stop()

    assert set(api["metrics"]) == set(ESTIMATED_METRICS)
    assert exported == pytest.approx({metric: m["error"] for metric, m in api["metrics"].items()})
    assert covered == {metric: float(m["covered"]) for metric, m in api["metrics"].items()}
    accuracy = api["metrics"]["accuracy"]
    assert accuracy["realized"] == pytest.approx(skm.accuracy_score(truth, scores >= 0.5))
    assert accuracy["error"] == pytest.approx(accuracy["estimate"] - accuracy["realized"])
    # the labels changed at unchanged scores: CBPE cannot see it, its estimate is far above the truth
    assert accuracy["error"] > 0.15 and accuracy["covered"] is False
    assert history and history[-1]["rows"] == ROWS
    assert history[-1]["metrics"]["accuracy"]["error"] == pytest.approx(accuracy["error"])
