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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.cli.localbroker import LocalBroker
from tests.clients import CLIENTS
from tests.integration.broker_daemon import running_daemon
from tests.kafkautil import metric, read_topic, wait_for

pytestmark = pytest.mark.broker

SECRET = "embeddings-test-secret"
DIM = 32
BEFORE, AFTER = 600, 1200
MODEL = {
    "reference": "ref.parquet",
    "features": ["x"],
    "window": {"length": "1h", "max_rows": 10000, "min_rows": 200},
    "schedule": {"every": "1s"},
    "webhooks": ["retrain"],
    "embeddings": {"text_vec": {"field": "vec", "dim": DIM}},
}


def records(rng: np.random.Generator, count: int, shift: float, dim: int = DIM) -> list[bytes]:
    """``count`` records of model "bot": a feature ``x`` and a ``dim``-component vector moved by ``shift``."""
    now = time.time()
    return [
        json.dumps(
            {
                "model": "bot",
                "timestamp": now - 5,
                "features": {"x": float(rng.normal())},
                "vec": (rng.normal(size=dim) + shift).tolist(),
            }
        ).encode()
        for _ in range(count)
    ]


@CLIENTS
def test_shifted_vectors_fire_embedding_drift_once_while_the_features_stay_quiet(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    reference = np.random.default_rng(1)
    pd.DataFrame(
        {"x": reference.normal(size=2000), "vec": list(reference.normal(size=(2000, DIM)))}
    ).to_parquet(tmp_path / "ref.parquet")
    # kafka-python reads in a child process (kafka.reader: process); librdkafka has its own threads
    reader = "process" if client == "kafka-python" else "thread"
    rng = np.random.default_rng(7)
    short = json.dumps({"model": "bot", "features": {"x": 0.1}, "vec": [0.5] * (DIM - 1)}).encode()
    nan = b'{"model": "bot", "features": {"x": 0.1}, "vec": [NaN' + b", 0.5" * (DIM - 1) + b"]}"

    with running_daemon(
        broker,
        tmp_path,
        monkeypatch,
        SECRET,
        {"bot": MODEL},
        topics=("predictions", "dead"),
        partitions={"predictions": 2},
        kafka={"reader": reader},
        client=client,
    ) as run:
        run.send("predictions", [*records(rng, BEFORE, 0.0), short, nan])

        def embedding() -> dict[str, Any] | None:
            latest = run.daemon.results()["bot"]["latest"]
            return None if latest is None else latest["embedding_drift"]["text_vec"]

        wait_for(
            lambda: (found := embedding()) is not None and found["rows"] == BEFORE,
            60,
            "a check of the undrifted vectors",
        )
        quiet = embedding()
        assert quiet is not None and quiet["status"] == "ok" and quiet["drift_detected"] is False
        assert run.value("driftwatch_embedding_drift_detected", model="bot", embedding="text_vec") == 0

        run.send("predictions", records(rng, AFTER, 0.5))
        run.webhook("embedding_drift:text_vec")
        # a few more checks of the same window: the alert stays firing and sends nothing more
        run.more_checks("bot", 3)
        metrics = run.samples()
        latest = run.daemon.results()["bot"]["latest"]

    drifted = latest["embedding_drift"]["text_vec"]
    assert drifted["status"] == "drift" and drifted["rows"] == BEFORE + AFTER and drifted["score"] > 0.55
    assert latest["dataset_drift"] is False  # the features did not move
    assert metric(metrics, "driftwatch_alert_active", model="bot", check="embedding_drift:text_vec") == 1
    assert metric(metrics, "driftwatch_alert_active", model="bot", check="data_drift") == 0
    assert metric(metrics, "driftwatch_embedding_drift_detected", model="bot", embedding="text_vec") == 1
    assert metric(metrics, "driftwatch_records_consumed_total", model="bot") == BEFORE + AFTER
    assert metric(metrics, "driftwatch_records_rejected_total", reason="wrong_type") == 1
    assert metric(metrics, "driftwatch_records_rejected_total", reason="non_finite") == 1

    events = run.events()
    assert all(request.valid for request in run.receiver.received)
    assert [e["transition"] for e in events if e["check"] == "embedding_drift:text_vec"] == ["firing"]
    assert not [e for e in events if e["check"] == "data_drift"]

    dead = read_topic(broker.bootstrap, run.topics["dead"], 1, 2)
    reasons = sorted(dict(record.headers)["driftwatch-reason"] for record in dead)
    assert reasons == [b"non_finite", b"wrong_type"]
    assert {record.value for record in dead} == {short, nan}
