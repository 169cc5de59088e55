"""Performance monitoring against the real broker: predictions now, their labels later on the labels topic.

The daemon runs its scheduled checks every second. Before any label it exports CBPE's label-free
estimate only; with too few labels it reports "not enough labels"; once enough labels are joined the
realized metrics appear (equal to scikit-learn's on the joined pairs), the drop below the reference
fires a signed webhook for ``performance:accuracy``, and a bad label record is dead-lettered. With each
Kafka client (``kafka.client``): the labels topic is consumed, committed and dead-lettered alike.
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
from kafka import TopicPartition
from sklearn import metrics as skm

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.integration.broker_daemon import send
from tests.kafkautil import committed, read_topic, scrape, wait_for

pytestmark = pytest.mark.broker

SECRET = "performance-test-secret"
ROWS = 600


def write_config(directory: Path, bootstrap: str, topics: dict[str, str], port: int, hook: str) -> Path:
    rng = np.random.default_rng(1)
    x = rng.normal(size=3000)
    score = 1 / (1 + np.exp(-2 * x))
    pd.DataFrame({"x": x, "score": score, "label": (rng.uniform(size=3000) < score).astype(int)}).to_csv(
        directory / "ref.csv", index=False
    )
    config = {
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "topic": topics["predictions"],
            "labels_topic": topics["labels"],
            "dead_letter_topic": topics["dead"],
            "group_id": f"perf-{uuid.uuid4().hex[:6]}",
            "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        },
        "http": {"host": "127.0.0.1", "port": port},
        "models": {
            "scorer": {
                "reference": "ref.csv",
                "features": ["x"],
                "prediction": "score",
                "window": {"length": "1h", "max_rows": 10000},
                "schedule": {"every": "1s"},
                "webhooks": ["retrain"],
                "performance": {
                    "task": "binary_classification",
                    "label": "label",
                    "min_labels": 200,
                    "thresholds": {"accuracy": {"max_drop": 0.1}, "roc_auc": {"min": 0.6}},
                },
            }
        },
        "webhooks": {"retrain": {"url": hook, "secret": {"env": SECRET_ENV}, "timeout": "5s"}},
        "state": {"path": str(directory / "state.sqlite")},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@CLIENTS
def test_labels_arriving_later_turn_into_realized_performance_and_an_alert(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"{name}-{suffix}" for name in ("predictions", "labels", "dead")}
    for name, topic in topics.items():
        broker.create_topic(topic, partitions=2 if name != "dead" else 1)
    rng = np.random.default_rng(7)
    scores = 1 / (1 + np.exp(-2 * rng.normal(size=ROWS)))
    truth = (rng.uniform(size=ROWS) < scores).astype(int)
    truth = np.where(
        rng.uniform(size=ROWS) < 0.5, 1 - truth, truth
    )  # the world changed: half the labels flip
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
    bad_label = b'{"label": 1, "timestamp": "2026-11-27T10:00:00Z"}'  # no prediction_id

    port = free_port()
    with WebhookReceiver(SECRET.encode()) as receiver:
        settings = load_settings(
            use_client(write_config(tmp_path, broker.bootstrap, topics, port, receiver.url), client)
        )
        send(broker.bootstrap, topics["predictions"], predictions)
        daemon = Daemon(settings)
        daemon.start()
        try:

            def value(name: str, **wanted: str) -> float | None:
                return scrape(port).get((name, tuple(sorted(wanted.items()))))

            wait_for(
                lambda: (
                    value("driftwatch_estimated_performance", model="scorer", metric="accuracy") is not None
                ),
                60,
                "the label-free estimate of the predictions",
            )
            assert value("driftwatch_performance", model="scorer", metric="accuracy") is None
            assert value("driftwatch_window_labelled_rows", model="scorer") == 0
            assert value("driftwatch_labels_pending_predictions", model="scorer") in (None, 0.0, float(ROWS))

            send(broker.bootstrap, topics["labels"], labels[:150])  # fewer than min_labels
            wait_for(
                lambda: value("driftwatch_window_labelled_rows", model="scorer") == 150,
                30,
                "150 labelled rows in a check",
            )
            status = daemon.results()["scorer"]["latest"]["performance"]["realized"]["status"]
            assert status == "not enough labels"
            assert value("driftwatch_performance", model="scorer", metric="accuracy") is None

            send(broker.bootstrap, topics["labels"], labels[150:] + labels[:3] + [bad_label])
            wait_for(
                lambda: value("driftwatch_window_labelled_rows", model="scorer") == ROWS,
                30,
                "every prediction labelled in a check",
            )
            # the accuracy alert's own webhook (another check's may come first): its state is set before
            # its webhook is sent, so the scrape below sees it
            wait_for(
                lambda: any(
                    (hook["json"] or {}).get("check") == "performance:accuracy" for hook in receiver.received
                ),
                15,
                "the performance webhook",
            )
            metrics = scrape(port)
        finally:
            daemon.stop()

    def sample(name: str, **wanted: str) -> float | None:
        return metrics.get((name, tuple(sorted(wanted.items()))))

    assert sample("driftwatch_performance", model="scorer", metric="accuracy") == pytest.approx(
        skm.accuracy_score(truth, scores >= 0.5)
    )
    assert sample("driftwatch_performance", model="scorer", metric="roc_auc") == pytest.approx(
        skm.roc_auc_score(truth, scores)
    )
    assert sample("driftwatch_labels_joined_total", model="scorer") == ROWS
    assert sample("driftwatch_labels_rejected_total", reason="duplicate") == 3
    assert sample("driftwatch_labels_rejected_total", reason="missing_field") == 1
    assert sample("driftwatch_alert_active", model="scorer", check="performance:accuracy") == 1
    # CBPE sees calibrated, unchanged scores: it estimates the reference's accuracy (no concept drift
    # visible without labels), so the estimated alert stays quiet
    assert sample("driftwatch_alert_active", model="scorer", check="estimated_performance:accuracy") == 0

    events: list[dict[str, Any]] = [hook["json"] for hook in receiver.received]
    assert all(hook["valid"] for hook in receiver.received)
    accuracy = [e for e in events if e["check"] == "performance:accuracy"]
    assert len(accuracy) == 1 and accuracy[0]["transition"] == "firing"
    realized = accuracy[0]["result"]["performance"]["realized"]
    assert realized["status"] == "breach" and realized["breaches"]["accuracy"] is True
    assert "labelled predictions" in accuracy[0]["summary"]

    (dead,) = read_topic(broker.bootstrap, topics["dead"], 1, 1)
    assert dead.value == bad_label
    headers = dict(dead.headers)
    assert headers["driftwatch-reason"] == b"missing_field"
    assert headers["driftwatch-topic"] == topics["labels"].encode()

    group = settings.kafka.group_id
    for topic, total in ((topics["labels"], len(labels) + 4), (topics["predictions"], ROWS)):
        offsets = committed(broker.bootstrap, group, [TopicPartition(topic, p) for p in (0, 1)])
        assert sum(o or 0 for o in offsets.values()) == total
