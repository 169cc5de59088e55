"""Compressed topics end to end: records from a foreign producer, every codec, both readers.

Most production producers are librdkafka (or Java) clients that compress
their batches. The confluent-kafka Producer (librdkafka) writes records with
``compression.type`` none, gzip, snappy, lz4 and zstd to the real broker; the
daemon, with ``kafka.reader: thread`` and ``process``, must window every one,
and so must a daemon with ``kafka.client: confluent`` (librdkafka decodes the
codecs itself: one run over a topic holding batches of every codec). The
undecodable-batch scenarios below make a codec library of kafka-python's
unavailable; librdkafka has its codecs built in, so they do not apply to it.

A batch the consumer cannot decode (here: its codec library made unavailable)
is its own error class, not a broker outage: it is counted by
``driftwatch_kafka_undecodable_batches_total``, named on ``/readyz`` (topic,
partition, codec and the fix), ``driftwatch_kafka_up`` stays 1, the stalled
partition's lag stays exported, the other partitions go on, and once the codec
is back every record of the batch is consumed.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftwatch.cli.demo import SECRET_ENV, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import use_client
from tests.conftest import require
from tests.integration.test_reader_process import readers_of
from tests.kafkautil import get, metric, metric_by, scrape, update_config, wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MODELS = ("credit-risk", "churn")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
PARTITIONS = 2


def produce(
    bootstrap: str, topic: str, codec: str, per_model: int, partition: int | None = None
) -> Counter[str]:
    """Records of both models from librdkafka with ``codec``; the count per model."""
    try:
        from confluent_kafka import Producer
    except ImportError as exc:
        require("confluent-kafka (a librdkafka producer)", str(exc))
        raise
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "compression.type": codec,
            "linger.ms": 20,  # batches of many records: the codec applies per batch
            "enable.idempotence": False,
        }
    )
    errors: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    rng = np.random.default_rng(7)
    sent: Counter[str] = Counter()
    for model in MODELS:
        for value in make_records(model, rng, per_model, False, time.time()):
            extra = {} if partition is None else {"partition": partition}
            producer.produce(topic, value=value, key=model.encode(), on_delivery=delivered, **extra)
            producer.poll(0)
            sent[model] += 1
    assert producer.flush(30) == 0, "librdkafka did not deliver every record in 30 s"
    assert errors == []
    return sent


def config(tmp_path: Path, broker: LocalBroker, topic: str, reader: str, port: int = 0) -> Path:
    path = write_demo_config(tmp_path, broker.bootstrap, topic, port, "http://127.0.0.1:9/", every="1h")

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = f"compression-{uuid.uuid4().hex[:8]}"
        raw["kafka"]["reader"] = reader
        raw["log_level"] = "INFO"
        for model in raw["models"].values():
            model["window"] = {"length": "1d", "max_rows": 1_000_000}  # every record stays

    update_config(path, change)
    return path


def rows(daemon: Daemon) -> dict[str, int]:
    return {name: window.rows() for name, window in daemon.windows.items()}


def assert_every_record_windowed(
    tmp_path: Path, broker: LocalBroker, topic: str, sent: Counter[str], reader: str, client: str
) -> None:
    """A daemon with ``reader`` and ``client`` windows every record ``sent``, rejects none, and is ready."""
    port = free_port()
    daemon = Daemon(load_settings(use_client(config(tmp_path, broker, topic, reader, port), client)))
    daemon.start()
    try:
        wait_for(
            lambda: rows(daemon) == dict(sent), 60, lambda: f"{dict(sent)} windowed (now {rows(daemon)})"
        )
        samples = scrape(port)
        status, body = get(port, "/readyz")
    finally:
        daemon.stop()
    assert metric_by(samples, "driftwatch_records_consumed_total", "model") == {
        m: float(n) for m, n in sent.items()
    }
    assert metric_by(samples, "driftwatch_records_rejected_total", "reason") == {}
    assert metric(samples, "driftwatch_kafka_up") == 1.0
    assert (status, json.loads(body)["ready"]) == (200, True)


@pytest.mark.parametrize("reader", ["thread", "process"])
@pytest.mark.parametrize("codec", CODECS)
def test_every_codec_of_a_librdkafka_producer_is_consumed(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, codec: str, reader: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, "compression-test")
    topic = f"codec-{codec}-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    sent = produce(broker.bootstrap, topic, codec, 400)
    assert_every_record_windowed(tmp_path, broker, topic, sent, reader, "kafka-python")


def test_every_codec_is_consumed_with_librdkafka(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``kafka.client: confluent``: librdkafka decodes the codecs itself. One topic holds batches of every
    codec, one after the other, and one daemon windows them all (one run rather than one per codec)."""
    monkeypatch.setenv(SECRET_ENV, "compression-test")
    topic = f"codec-all-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    sent: Counter[str] = Counter()
    for codec in CODECS:
        sent += produce(broker.bootstrap, topic, codec, 100)
    assert_every_record_windowed(tmp_path, broker, topic, sent, "thread", "confluent")


def stalled_state(port: int, topic: str) -> tuple[float | None, float | None, float | None, int, list[str]]:
    """What the daemon exports while partition 0 is stalled: the undecodable count, kafka_up, the lag of
    partition 0, and the /readyz status and problems."""
    samples = scrape(port)
    status, body = get(port, "/readyz")
    return (
        metric(samples, "driftwatch_kafka_undecodable_batches_total", reason="unsupported_codec"),
        metric(samples, "driftwatch_kafka_up"),
        metric(samples, "driftwatch_consumer_lag_records", topic=topic, partition="0"),
        status,
        json.loads(body)["problems"],
    )


def assert_stalled_and_named(
    daemon: Daemon, port: int, topic: str, stalled: Counter[str], other: Counter[str]
) -> None:
    """Partition 0 (snappy) cannot be decoded: partition 1 is windowed, the batch is counted and named,
    Kafka is up, the backlog of partition 0 is exported as its lag."""
    backlog = sum(stalled.values())
    wait_for(
        lambda: rows(daemon) == dict(other) and stalled_state(port, topic)[2] == backlog,
        60,
        lambda: (
            f"partition 1 windowed ({rows(daemon)} of {dict(other)}) and partition 0's lag ({stalled_state(port, topic)})"
        ),
    )
    time.sleep(1.5)  # a few polls and a retry later: still the same picture
    count, up, lag, status, problems = stalled_state(port, topic)
    assert count is not None and count >= 1
    assert up == 1.0  # the broker answers: not an outage
    assert lag == backlog
    assert status == 503
    assert not any("not reachable" in p for p in problems), problems
    (problem,) = problems
    assert f"undecodable record batch in {topic}[0] at offset 0" in problem
    assert "unsupported_codec, codec snappy" in problem and "python-snappy" in problem
    assert rows(daemon) == dict(other)  # nothing of partition 0, nothing twice
    assert daemon.source.connected
    # a check meanwhile says that it ran without partition 0's records, and why (as /readyz does)
    daemon.run_check(MODELS[0])
    (note,) = json.loads(get(port, "/api/models")[1])[MODELS[0]]["latest"]["notes"]
    assert note.startswith(f"Kafka {topic}[0] at offset 0 stalled since "), note
    assert "unsupported_codec, codec snappy" in note and "python-snappy" in note and "unreachable" not in note


def test_an_undecodable_batch_is_named_counted_and_consumed_once_the_codec_is_back_thread_reader(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import kafka.codec

    monkeypatch.setenv(SECRET_ENV, "compression-test")
    topic = f"codec-missing-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    stalled = produce(broker.bootstrap, topic, "snappy", 300, partition=0)
    other = produce(broker.bootstrap, topic, "none", 200, partition=1)
    port = free_port()
    daemon = Daemon(load_settings(config(tmp_path, broker, topic, "thread", port)))
    monkeypatch.setattr(kafka.codec, "has_snappy", lambda: False)  # as without python-snappy installed
    daemon.start()
    try:
        assert_stalled_and_named(daemon, port, topic, stalled, other)
        monkeypatch.undo()  # the codec is back: the next retry decodes the batch
        expected = dict(stalled + other)
        wait_for(lambda: rows(daemon) == expected, 30, lambda: f"{expected} windowed (now {rows(daemon)})")
        wait_for(
            lambda: stalled_state(port, topic)[2:] == (0.0, 200, []),
            10,
            lambda: str(stalled_state(port, topic)),
        )
        assert daemon.run_check(MODELS[0]).notes == ()  # past the batch: nothing is missing any more
        samples = scrape(port)
    finally:
        daemon.stop()
    assert metric_by(samples, "driftwatch_records_consumed_total", "model") == {
        m: float(n) for m, n in expected.items()
    }
    logged = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any(f"undecodable record batch in {topic}[0]" in m and "snappy" in m for m in logged), logged
    assert not any(
        "Kafka unreachable" in r.getMessage() or "no broker reachable" in r.getMessage()
        for r in caplog.records
    )


def test_an_undecodable_batch_is_named_counted_and_consumed_after_a_restart_process_reader(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "compression-test")
    topic = f"codec-missing-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    stalled = produce(broker.bootstrap, topic, "snappy", 300, partition=0)
    other = produce(broker.bootstrap, topic, "none", 200, partition=1)
    # the reader process runs without python-snappy: a module of that name that fails to import
    # shadows it on its path (the daemon's own process is untouched)
    hidden = tmp_path / "hidden"
    hidden.mkdir()
    (hidden / "snappy.py").write_text('raise ImportError("python-snappy is hidden from this process")\n')
    path = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(hidden), *([path] if path else [])]))
    port = free_port()
    settings = load_settings(config(tmp_path, broker, topic, "process", port))
    daemon = Daemon(settings)
    daemon.start()
    try:
        assert_stalled_and_named(daemon, port, topic, stalled, other)
    finally:
        daemon.stop()
    # the fix the runbook gives: install the codec library, restart driftwatch; nothing is lost or doubled
    if path is None:
        monkeypatch.delenv("PYTHONPATH")
    else:
        monkeypatch.setenv("PYTHONPATH", path)
    daemon = Daemon(settings)
    daemon.start()
    expected = dict(stalled + other)
    try:
        wait_for(lambda: rows(daemon) == expected, 60, lambda: f"{expected} windowed (now {rows(daemon)})")
        wait_for(
            lambda: stalled_state(port, topic)[2:] == (0.0, 200, []),
            10,
            lambda: str(stalled_state(port, topic)),
        )
        time.sleep(1)  # a few more polls: nothing more is windowed (nothing twice)
        assert rows(daemon) == expected
    finally:
        daemon.stop()
    assert readers_of(os.getpid()) == []
