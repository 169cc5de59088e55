"""Embedding drift against the real broker: the vectors a model logs move while its features do not.

The daemon runs its scheduled checks every second, with each Kafka client (kafka-python reading in
a child process, ``kafka.reader: process``). Undrifted traffic first: the embedding check answers "ok".
Then the vectors shift (the features keep their distribution): ``embedding_drift:text_vec`` fires
once, with one signed webhook, while data drift stays quiet. Records whose vector has the wrong length
or holds NaN are rejected with their reason and dead-lettered; the rest are windowed.
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
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.kafkautil import read_topic, scrape, wait_for

pytestmark = pytest.mark.broker

SECRET = "embeddings-test-secret"
DIM = 32
BEFORE, AFTER = 600, 1200


def write_config(
    directory: Path, bootstrap: str, topics: dict[str, str], port: int, hook: str, reader: str
) -> Path:
    rng = np.random.default_rng(1)
    pd.DataFrame({"x": rng.normal(size=2000), "vec": list(rng.normal(size=(2000, DIM)))}).to_parquet(
        directory / "ref.parquet"
    )
    config = {
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "topic": topics["predictions"],
            "dead_letter_topic": topics["dead"],
            "group_id": f"emb-{uuid.uuid4().hex[:6]}",
            "reader": reader,
            "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        },
        "http": {"host": "127.0.0.1", "port": port},
        "models": {
            "bot": {
                "reference": "ref.parquet",
                "features": ["x"],
                "window": {"length": "1h", "max_rows": 10000, "min_rows": 200},
                "schedule": {"every": "1s"},
                "webhooks": ["retrain"],
                "embeddings": {"text_vec": {"field": "vec", "dim": DIM}},
            }
        },
        "webhooks": {"retrain": {"url": hook, "secret": {"env": SECRET_ENV}, "timeout": "5s"}},
        "state": {"path": str(directory / "state.sqlite")},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def records(rng: np.random.Generator, count: int, shift: float) -> list[bytes]:
    now = time.time()
    return [
        json.dumps(
            {
                "model": "bot",
                "timestamp": now - 5,
                "features": {"x": float(rng.normal())},
                "vec": (rng.normal(size=DIM) + shift).tolist(),
            }
        ).encode()
        for _ in range(count)
    ]


def send(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()


@CLIENTS
def test_shifted_vectors_fire_embedding_drift_once_while_the_features_stay_quiet(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"emb-{name}-{suffix}" for name in ("predictions", "dead")}
    broker.create_topic(topics["predictions"], partitions=2)
    broker.create_topic(topics["dead"], partitions=1)
    # kafka-python reads in a child process (kafka.reader: process); librdkafka has its own threads
    reader = "process" if client == "kafka-python" else "thread"
    rng = np.random.default_rng(7)
    short = json.dumps({"model": "bot", "features": {"x": 0.1}, "vec": [0.5] * (DIM - 1)}).encode()
    nan = b'{"model": "bot", "features": {"x": 0.1}, "vec": [NaN' + b", 0.5" * (DIM - 1) + b"]}"

    port = free_port()
    with WebhookReceiver(SECRET.encode()) as receiver:
        settings = load_settings(
            use_client(write_config(tmp_path, broker.bootstrap, topics, port, receiver.url, reader), client)
        )
        send(broker.bootstrap, topics["predictions"], [*records(rng, BEFORE, 0.0), short, nan])
        daemon = Daemon(settings)
        daemon.start()
        try:

            def value(name: str, **wanted: str) -> float | None:
                return scrape(port).get((name, tuple(sorted(wanted.items()))))

            def embedding() -> dict[str, Any] | None:
                latest = daemon.results()["bot"]["latest"]
                return None if latest is None else latest["embedding_drift"]["text_vec"]

            wait_for(
                lambda: (found := embedding()) is not None and found["rows"] == BEFORE,
                60,
                "a check of the undrifted vectors",
            )
            quiet = embedding()
            assert quiet is not None and quiet["status"] == "ok" and quiet["drift_detected"] is False
            assert value("driftwatch_embedding_drift_detected", model="bot", embedding="text_vec") == 0

            send(broker.bootstrap, topics["predictions"], records(rng, AFTER, 0.5))
            wait_for(
                lambda: any(
                    (hook["json"] or {}).get("check") == "embedding_drift:text_vec"
                    for hook in receiver.received
                ),
                60,
                "the embedding drift webhook",
            )
            # a few more checks of the same window: the alert stays firing and sends nothing more
            runs = value("driftwatch_check_runs_total", model="bot", check="data_drift", outcome="ok") or 0.0
            wait_for(
                lambda: (
                    (value("driftwatch_check_runs_total", model="bot", check="data_drift", outcome="ok") or 0)
                    >= runs + 3
                ),
                30,
                "three more checks",
            )
            metrics = scrape(port)
            latest = daemon.results()["bot"]["latest"]
        finally:
            daemon.stop()

    def sample(name: str, **wanted: str) -> float | None:
        return metrics.get((name, tuple(sorted(wanted.items()))))

    drifted = latest["embedding_drift"]["text_vec"]
    assert drifted["status"] == "drift" and drifted["rows"] == BEFORE + AFTER and drifted["score"] > 0.55
    assert latest["dataset_drift"] is False  # the features did not move
    assert sample("driftwatch_alert_active", model="bot", check="embedding_drift:text_vec") == 1
    assert sample("driftwatch_alert_active", model="bot", check="data_drift") == 0
    assert sample("driftwatch_embedding_drift_detected", model="bot", embedding="text_vec") == 1
    assert sample("driftwatch_records_consumed_total", model="bot") == BEFORE + AFTER
    assert sample("driftwatch_records_rejected_total", reason="wrong_type") == 1
    assert sample("driftwatch_records_rejected_total", reason="non_finite") == 1

    events: list[dict[str, Any]] = [hook["json"] for hook in receiver.received]
    assert all(hook["valid"] for hook in receiver.received)
    assert [e["transition"] for e in events if e["check"] == "embedding_drift:text_vec"] == ["firing"]
    assert not [e for e in events if e["check"] == "data_drift"]

    dead = read_topic(broker.bootstrap, topics["dead"], 1, 2)
    reasons = sorted(dict(record.headers)["driftwatch-reason"] for record in dead)
    assert reasons == [b"non_finite", b"wrong_type"]
    assert {record.value for record in dead} == {short, nan}
