"""Consumer lag against the real broker, with each Kafka client: ``driftwatch_consumer_lag_records``
says how many records wait while the daemon is behind, and falls to 0 once they are consumed.

The records are produced before the daemon starts. The daemon takes them 100 per poll
(``max_poll_records``) and its handling is held back (each batch waits up to 0.2 s on an event, a
slow pipeline) until the test has read a lag above 0 over HTTP, as Prometheus would; then it runs at
full speed, and the lag of every partition must come down to 0 with every record consumed and
committed. Started again with nothing left to read, the daemon exports a lag of 0 for every partition.
Nothing of the broker is mocked: the lag is the log end the client fetched minus its position.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer, TopicPartition

from driftwatch.cli.demo import SECRET_ENV, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.kafkautil import Samples, committed, metric_by, scrape, update_config, wait_for

pytestmark = pytest.mark.broker

PARTITIONS = 2
PER_MODEL = 1500
MODELS = ("credit-risk", "churn")


def produce(bootstrap: str, topic: str) -> dict[int, int]:
    """Records of both models round-robin over the partitions; records per partition."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    rng = np.random.default_rng(23)
    per_partition = dict.fromkeys(range(PARTITIONS), 0)
    try:
        sent = 0
        for model in MODELS:
            for value in make_records(model, rng, PER_MODEL, False, time.time()):
                partition = sent % PARTITIONS
                producer.send(topic, key=model.encode(), value=value, partition=partition)
                per_partition[partition] += 1
                sent += 1
        producer.flush(30)
    finally:
        producer.close(5)
    return per_partition


def lag(samples: Samples, topic: str) -> dict[str, float]:
    """The exported lag of each partition of ``topic``."""
    return {
        dict(labels)["partition"]: value
        for (name, labels), value in samples.items()
        if name == "driftwatch_consumer_lag_records" and ("topic", topic) in labels
    }


def consumed(samples: Samples) -> float:
    return sum(metric_by(samples, "driftwatch_records_consumed_total", "model").values())


@CLIENTS
def test_lag_counts_the_records_waiting_and_falls_to_0_once_they_are_consumed(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, "lag-test")
    topic = f"lag-{uuid.uuid4().hex[:8]}"
    group = f"lag-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    produced = produce(broker.bootstrap, topic)
    total = sum(produced.values())

    # the daemon's pipeline is slow until the test has seen the lag: each batch waits on this event
    caught_sight = threading.Event()
    handle = Daemon.handle

    def slow_handle(self: Daemon, messages: Sequence[Any]) -> None:
        caught_sight.wait(0.2)
        handle(self, messages)

    monkeypatch.setattr(Daemon, "handle", slow_handle)
    port = free_port()
    config = write_demo_config(tmp_path, broker.bootstrap, topic, port, "http://127.0.0.1:9/", every="1h")

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = group
        raw["kafka"]["options"]["max_poll_records"] = 100
        for model in raw["models"].values():
            model["window"] = {"length": "1d", "max_rows": 10 * PER_MODEL}

    update_config(config, change)
    daemon = Daemon(load_settings(use_client(config, client)))
    daemon.start()
    try:

        def behind() -> tuple[dict[str, float], float] | None:
            samples = scrape(port)
            waiting = lag(samples, topic)
            return (waiting, consumed(samples)) if sum(waiting.values()) > 0 else None

        waiting, handled = wait_for(behind, 60, "a lag above 0 while the daemon is behind")
        caught_sight.set()
        assert handled < total, "the lag was seen only after every record was consumed"
        assert all(0 <= value <= produced[int(p)] for p, value in waiting.items()), (waiting, produced)

        def caught_up() -> bool:
            samples = scrape(port)
            return lag(samples, topic) == {str(p): 0.0 for p in produced} and consumed(samples) == total

        wait_for(caught_up, 60, lambda: f"lag 0 on every partition (now {lag(scrape(port), topic)})")
    finally:
        caught_sight.set()
        daemon.stop()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    assert committed(broker.bootstrap, group, tps) == produced

    # started again with nothing left to read: every partition's lag is there, and 0 (no record is
    # handed over from them, so the position is the committed offset the client starts from)
    restarted = Daemon(load_settings(config))
    restarted.start()
    try:
        wait_for(
            lambda: lag(scrape(port), topic) == {str(p): 0.0 for p in produced},
            30,
            lambda: f"lag 0 on every partition after the restart (now {lag(scrape(port), topic)})",
        )
        assert consumed(scrape(port)) == 0
    finally:
        restarted.stop()
