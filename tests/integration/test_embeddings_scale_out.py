"""Embedding drift scaled out, on the real broker: two replicas act as one daemon for a model whose
records carry 384-dimensional vectors.

The replicas read the input's partitions between them and forward each model's records to its owner
through ``G.samples``, the vectors as float32 bytes, in pieces of at most
``kafka.scale_out.max_message_bytes`` (set low here, so every batch is cut). Undrifted traffic first:
the owner's embedding check answers "ok". Then the vectors shift (the features keep their
distribution): ``embedding_drift:text_vec`` fires once, one signed webhook, while data drift stays
quiet. The owner's window holds the vectors a plain daemon reading the same records holds, bit for
bit, and its embedding result is the plain daemon's.
"""

from __future__ import annotations

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
from tests.integration.broker_daemon import send
from tests.integration.test_embeddings_kafka import records
from tests.kafkautil import read_topic
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

SECRET = "embeddings-scale-out-secret"
DIM = 384
BEFORE, AFTER = 600, 900
BOUND = 120_000  # bytes per samples message: ~75 rows of 384 float32 components


def write_config(
    directory: Path, bootstrap: str, topic: str, group: str, port: int, hook: str | None, replica: str | None
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    pd.DataFrame({"x": rng.normal(size=2000), "vec": list(rng.normal(size=(2000, DIM)))}).to_parquet(
        directory / "ref.parquet"
    )
    kafka: dict[str, Any] = {
        "bootstrap_servers": [bootstrap],
        "topic": topic,
        "group_id": group,
        "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    }
    if replica is not None:
        kafka["scale_out"] = {
            "enabled": True,
            "partitions": 4,
            "replica": replica,
            "max_message_bytes": BOUND,
        }
    config: dict[str, Any] = {
        "kafka": kafka,
        "http": {"host": "127.0.0.1", "port": port},
        "models": {
            "bot": {
                "reference": "ref.parquet",
                "features": ["x"],
                "window": {"length": "1h", "max_rows": 10000, "min_rows": 200},
                # the plain daemon only answers when asked (run_check): it sends nothing
                "schedule": {"every": "1s" if hook else "1h"},
                "webhooks": ["retrain"] if hook else [],
                "embeddings": {"text_vec": {"field": "vec", "dim": DIM}},
            }
        },
        "state": {"path": str(directory / "state.sqlite"), "checkpoint_interval": "0.5s"},
    }
    if hook:
        config["webhooks"] = {"retrain": {"url": hook, "secret": {"env": SECRET_ENV}, "timeout": "5s"}}
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def model_records(rng: np.random.Generator, count: int, shift: float) -> list[bytes]:
    """As `tests.integration.test_embeddings_kafka` makes them, at this test's dimension."""
    return records(rng, count, shift, DIM)


def vectors_by_key(daemon: Daemon) -> tuple[list[float], bytes, int]:
    snapshot = daemon.windows["bot"].snapshot(time.time(), keys=True)
    order = np.argsort(snapshot.frame["__key"].to_numpy())
    return (
        snapshot.frame["__key"].to_numpy()[order].tolist(),
        snapshot.embeddings["text_vec"][order].tobytes(),
        snapshot.records_seen,
    )


def test_two_replicas_fire_embedding_drift_once_with_the_plain_daemons_vectors_and_result(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    suffix = uuid.uuid4().hex[:8]
    topic, group = f"embso-{suffix}", f"embso-g-{suffix}"
    broker.create_topic(topic, partitions=4)
    rng = np.random.default_rng(7)
    send(broker.bootstrap, topic, model_records(rng, BEFORE, 0.0))

    with WebhookReceiver(SECRET.encode()) as receiver:
        plain = Daemon(
            load_settings(
                write_config(
                    tmp_path / "plain", broker.bootstrap, topic, f"{group}-plain", free_port(), None, None
                )
            )
        )
        plain.start()
        replicas = [
            Daemon(
                load_settings(
                    write_config(
                        tmp_path / f"r{i}", broker.bootstrap, topic, group, free_port(), receiver.url, f"r{i}"
                    )
                )
            )
            for i in range(2)
        ]
        for replica in replicas:
            replica.start()
        try:

            def owner() -> Daemon | None:
                owners = [d for d in replicas if d.owner is not None and d.owner.owns("bot")]
                return owners[0] if len(owners) == 1 else None

            def embedding() -> dict[str, Any] | None:
                found = owner()
                latest = None if found is None else found.results()["bot"]["latest"]
                return None if latest is None else latest["embedding_drift"]["text_vec"]

            wait_for(
                lambda: (found := embedding()) is not None and found["rows"] == BEFORE,
                90,
                lambda: f"a check of the undrifted vectors at the owner: {embedding()}",
            )
            quiet = embedding()
            assert quiet is not None and quiet["status"] == "ok" and quiet["drift_detected"] is False

            send(broker.bootstrap, topic, model_records(rng, AFTER, 0.5))
            wait_for(
                lambda: any(
                    (hook["json"] or {}).get("check") == "embedding_drift:text_vec"
                    for hook in receiver.received
                ),
                90,
                "the embedding drift webhook",
            )
            wait_for(
                lambda: (
                    plain.windows["bot"].seen() == BEFORE + AFTER
                    and (found := owner()) is not None
                    and found.windows["bot"].seen() == BEFORE + AFTER
                ),
                60,
                "every record windowed by the plain daemon and the owner",
            )
            the_owner = owner()
            assert the_owner is not None
            # a few more checks at the owner: the alert stays firing and sends nothing more
            runs = the_owner.metrics.check_runs.labels("bot", "data_drift", "ok")
            before = runs._value.get()
            wait_for(
                lambda: runs._value.get() >= before + 3,
                30,
                "three more checks",
            )
            scaled_window, plain_window = vectors_by_key(the_owner), vectors_by_key(plain)
            scaled_result = the_owner.run_check("bot")
            plain_result = plain.run_check("bot")
            consumed = [d.metrics.records_consumed.labels("bot")._value.get() for d in replicas]
        finally:
            for daemon in [*replicas, plain]:
                daemon.stop(timeout=10.0)

    # the owner's window is the plain daemon's, vectors bit for bit, and so is its embedding result
    assert scaled_window[2] == plain_window[2] == BEFORE + AFTER
    assert scaled_window == plain_window
    assert scaled_result is not None and plain_result is not None
    assert scaled_result.embedding_drift is not None and plain_result.embedding_drift is not None
    drifted = scaled_result.embedding_drift["text_vec"].as_dict()
    assert drifted == plain_result.embedding_drift["text_vec"].as_dict()
    assert drifted["status"] == "drift" and drifted["rows"] == BEFORE + AFTER
    assert scaled_result.drift.dataset_drift is False  # the features did not move
    # both replicas read a share of the input, together every record once
    assert all(count > 0 for count in consumed) and sum(consumed) == BEFORE + AFTER

    events: list[dict[str, Any]] = [hook["json"] for hook in receiver.received]
    assert all(hook["valid"] for hook in receiver.received)
    assert [e["transition"] for e in events if e["check"] == "embedding_drift:text_vec"] == ["firing"]
    assert not [e for e in events if e["check"] == "data_drift"]

    # the partials went in pieces within the bound (a batch of 500 such records is ~770 kB whole)
    samples = read_topic(broker.bootstrap, f"{group}.samples", 4, 1, settle=2.0)
    sizes = [len(record.value) for record in samples if record.value is not None]
    assert max(sizes) <= BOUND
    assert sum(sizes) > (BEFORE + AFTER) * DIM * 4  # every vector travelled as float32 bytes, once or more
