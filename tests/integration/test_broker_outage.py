"""The broker goes away mid-stream and comes back: the daemon recovers without a restart of its own.

The test runs its own broker on a fixed port (not the session broker the other
tests share), a daemon in-process, and stops the broker process after the
first records are windowed. While it is down the daemon must say so
(``driftwatch_kafka_up 0``, ``/readyz`` 503 naming Kafka, a note on each
check) and keep serving ``/healthz``, ``/metrics`` and checks over what it
already has. Then a broker is started again on the same port, the topic is
created again and more records are produced: the same daemon consumes them. It runs with each
Kafka client (``kafka.client``): kafka-python, and librdkafka, which reconnects by itself and tells the
daemon of the outage through its statistics and error callback.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer
from kafka.errors import TopicAlreadyExistsError

from driftwatch.cli.demo import make_records, write_demo_config
from driftwatch.cli.localbroker import BrokerUnavailableError, LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.state.store import Store
from tests.conftest import require
from tests.kafkautil import get, metric, scrape, update_config, wait_for

pytestmark = pytest.mark.broker

MODELS = ("credit-risk", "churn")
# Records per model before and after the outage. The restarted broker keeps everything in memory,
# so it starts without the topic and without the group's committed offsets; the recreated topic's
# log starts again at offset 0. The daemon still holds (and has checkpointed) position 2 * N1 of
# the old log (both models share its one partition), beyond the end of the new one. A Kafka broker
# answers a fetch there with OFFSET_OUT_OF_RANGE and auto_offset_reset=earliest moves the consumer
# to offset 0, so it reads the 2 * N2 new records (Tansu answers with an empty fetch instead, so
# there the daemon has to notice by itself that its position is past the log end). With N2 >= N1
# that position would exist in the new log and the daemon would continue there, skipping every
# new record before it: N2 must stay below N1.
N1 = 200
N2 = 60


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker for this test alone, on a port fixed for its lifetime (restarts reuse it)."""
    local = LocalBroker(port=free_port(), log_path=tmp_path / "tansu.log")
    try:
        local.start()
    except BrokerUnavailableError as exc:
        require("the Tansu Kafka-protocol broker", str(exc))
    try:
        yield local
    finally:
        local.stop()


def produce(bootstrap: str, topic: str, per_model: int, seed: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    try:
        rng = np.random.default_rng(seed)
        for model in MODELS:
            for value in make_records(model, rng, per_model, False, time.time()):
                producer.send(topic, key=model.encode(), value=value)
        producer.flush(20)
    finally:
        producer.close(5)


def create_topic(broker: LocalBroker, topic: str) -> None:
    # the daemon's consumer may have asked for it first, and the broker made it then
    with contextlib.suppress(TopicAlreadyExistsError):
        broker.create_topic(topic, partitions=1)


def position(state: Path, group: str) -> str:
    """Where the daemon stands, for a failure message: its checkpointed offsets and the new log's size."""
    store = Store(state)
    try:
        offsets = store.offsets(group)
    finally:
        store.close()
    return f"checkpointed offsets {offsets}; the recreated log holds {len(MODELS) * N2} records"


def readiness(port: int) -> tuple[int, dict[str, Any]]:
    status, body = get(port, "/readyz")
    return status, json.loads(body)


def kafka_up(port: int) -> float | None:
    return metric(scrape(port), "driftwatch_kafka_up")


@pytest.mark.parametrize("client", ["kafka-python", "confluent"])
def test_daemon_recovers_when_the_broker_comes_back(
    own_broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    caplog.set_level(logging.WARNING)
    topic = f"outage-{uuid.uuid4().hex[:8]}"
    create_topic(own_broker, topic)
    port = free_port()
    group = f"outage-{uuid.uuid4().hex[:8]}"
    config = write_demo_config(
        tmp_path, own_broker.bootstrap, topic, port, "http://127.0.0.1:9/unused", every="1s", window="1h"
    )

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = group
        raw["kafka"]["client"] = client
        raw.pop("webhooks")
        for model in raw["models"].values():
            model["webhooks"] = []
            model["window"]["max_rows"] = 100_000

    update_config(config, change)
    daemon = Daemon(load_settings(config))
    daemon.start()
    try:

        def rows() -> dict[str, int]:
            return {model: daemon.windows[model].rows() for model in MODELS}

        produce(own_broker.bootstrap, topic, N1, seed=1)
        wait_for(lambda: rows() == dict.fromkeys(MODELS, N1), 30, lambda: f"{N1} rows per model ({rows()})")
        assert kafka_up(port) == 1
        assert readiness(port)[0] == 200

        # the broker process goes away
        own_broker.stop()
        stopped = time.time()
        wait_for(lambda: kafka_up(port) == 0, 15, lambda: f"driftwatch_kafka_up 0 (now {kafka_up(port)})")
        status, ready = readiness(port)
        assert status == 503, ready
        assert ready["ready"] is False
        assert any("kafka" in problem.lower() for problem in ready["problems"]), ready
        assert get(port, "/healthz")[0] == 200
        assert get(port, "/metrics")[0] == 200

        # checks go on over what is windowed, saying that Kafka is unreachable
        def noted() -> bool:  # every model: their checks run at their own moments
            return all(
                any(
                    "Kafka unreachable" in note
                    for note in (daemon.results()[m]["latest"] or {}).get("notes", ())
                )
                for m in MODELS
            )

        wait_for(noted, 10, lambda: f"a check noting the outage (latest: {daemon.results()['credit-risk']})")
        for model in MODELS:
            latest = daemon.results()[model]["latest"]
            assert latest["rows"] == N1
            (note,) = latest["notes"]
            assert note.startswith("Kafka unreachable since "), note
        api = json.loads(get(port, "/api/models")[1])
        assert any("Kafka unreachable" in note for note in api["churn"]["latest"]["notes"])
        assert daemon.source.down_since is not None and daemon.source.down_since >= stopped - 1

        # a broker again on the same port, without the topic (its storage is in memory)
        own_broker.start()
        create_topic(own_broker, topic)
        produce(own_broker.bootstrap, topic, N2, seed=2)
        wait_for(
            lambda: rows() == dict.fromkeys(MODELS, N1 + N2),
            60,
            lambda: f"{N1 + N2} rows per model ({rows()}; {position(tmp_path / 'state.sqlite', group)})",
        )
        wait_for(lambda: kafka_up(port) == 1, 30, "driftwatch_kafka_up 1")
        wait_for(lambda: readiness(port)[0] == 200, 10, lambda: f"/readyz 200 ({readiness(port)})")
        time.sleep(2.0)  # nothing read twice later either
        assert rows() == dict.fromkeys(MODELS, N1 + N2)
        samples = scrape(port)
        for model in MODELS:
            assert metric(samples, "driftwatch_records_consumed_total", model=model) == N1 + N2
        wait_for(
            lambda: all(
                (daemon.results()[m]["latest"] or {}).get("rows") == N1 + N2
                and not daemon.results()[m]["latest"]["notes"]
                for m in MODELS
            ),
            10,
            "a check over every record without the outage note",
        )
        assert daemon._consumer_thread.is_alive()
    finally:
        daemon.stop()
    problems = [
        f"{r.name}: {r.getMessage()}"
        for r in caplog.records
        if r.name.startswith("driftwatch") and (r.exc_info or r.levelno >= logging.ERROR)
    ]
    assert not problems
