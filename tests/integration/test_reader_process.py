"""``kafka.reader: process``: kafka-python runs in a child process, the daemon keeps every guarantee.

Against the real broker: exactly-once window contents across SIGKILLs of the
daemon (whose reader process must not outlive it), a clean SIGTERM that
commits what was checkpointed, a rebalance between two replicas that keeps
every record exactly once (run with the thread reader and with ``kafka.client:
confluent`` too), and a reader process that is killed and replaced.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer, TopicPartition

from driftwatch.cli.demo import SECRET_ENV, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.kafkautil import committed, get, update_config, wait_for

pytestmark = pytest.mark.broker

MODELS = ("credit-risk", "churn")
PARTITIONS = 3


def readers_of(parent: int) -> list[int]:
    """Pids of the reader processes started by ``parent`` (found by their command line)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except OSError:
            continue
        if b"driftwatch.source.reader" in argv and str(parent).encode() in argv:
            try:
                with open(f"/proc/{entry}/stat", encoding="ascii") as stat:
                    if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                        continue  # exited, not yet reaped
            except OSError:
                continue
            found.append(int(entry))
    return found


class Producer:
    """Sends records of both models round-robin over the partitions; counts what it sent."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self._producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        self._topic = topic
        self._rng = np.random.default_rng(5)
        self._sent = 0
        self.per_model: Counter[str] = Counter()
        self.per_partition: Counter[int] = Counter()

    def send(self, count: int) -> None:
        for model in MODELS:
            for value in make_records(model, self._rng, count, False, time.time()):
                partition = self._sent % PARTITIONS
                self._producer.send(self._topic, value=value, partition=partition)
                self.per_partition[partition] += 1
                self.per_model[model] += 1
                self._sent += 1
        self._producer.flush(30)

    def close(self) -> None:
        self._producer.close(5)


def config(
    tmp_path: Path,
    broker: LocalBroker,
    topic: str,
    group: str,
    port: int = 0,
    reader: str = "process",
    client: str = "kafka-python",
) -> Path:
    path = write_demo_config(tmp_path, broker.bootstrap, topic, port, "http://127.0.0.1:9/", every="1h")

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = group
        raw["kafka"]["reader"] = reader
        if client != "kafka-python":
            raw["kafka"]["client"] = client
        raw["kafka"]["options"] = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
        raw["log_level"] = "INFO"
        for model in raw["models"].values():
            model["window"] = {"length": "1d", "max_rows": 1_000_000}  # every record stays

    update_config(path, change)
    return path


def models_state(port: int) -> dict[str, int] | None:
    try:
        status, body = get(port, "/api/models", timeout=2)
    except OSError:
        return None
    if status != 200:
        return None
    return {name: state["window_rows"] for name, state in json.loads(body).items()}


def test_sigkill_restarts_keep_every_record_once_and_sigterm_commits(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    topic = f"reader-crash-{uuid.uuid4().hex[:8]}"
    group = f"reader-crash-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    port = free_port()
    path = config(tmp_path, broker, topic, group, port)
    log = tmp_path / "daemon.log"
    env = {**os.environ, SECRET_ENV: "reader-test", "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "driftwatch", "run", "--config", str(path)]

    def start() -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

    def tail() -> str:
        return "\n".join(log.read_text(errors="replace").splitlines()[-40:])

    producer = Producer(broker.bootstrap, topic)
    done = threading.Event()

    def produce() -> None:
        try:
            for _ in range(16):
                producer.send(500)
                time.sleep(0.4)  # production spread over the kills below
        finally:
            done.set()

    sender = threading.Thread(target=produce)
    process = start()
    sender.start()
    try:
        for _ in range(3):
            pid = process.pid
            wait_for(lambda p=pid: readers_of(p) != [], 30, lambda: f"a reader process; log:\n{tail()}")
            wait_for(lambda: bool(models_state(port)), 30, lambda: f"the daemon to serve; log:\n{tail()}")
            time.sleep(1.5)  # consuming for a while: the kill lands mid-stream
            process.kill()
            process.wait(5)
            # the reader notices that the daemon is gone and exits, committing nothing
            wait_for(lambda p=pid: readers_of(p) == [], 5, "the reader process to exit after its daemon died")
            process = start()
        sender.join(60)
        assert done.is_set()
        expected = {model: producer.per_model[model] for model in MODELS}
        wait_for(
            lambda: models_state(port) == expected,
            90,
            lambda: f"exactly {expected} windowed (now {models_state(port)}); log:\n{tail()}",
        )
        time.sleep(2)  # nothing more arrives: nothing was counted twice
        assert models_state(port) == expected
        pid = process.pid
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        code = process.wait(15)
        assert code == 0, f"exit status {code}; log:\n{tail()}"
        assert time.monotonic() - signalled < 10
        assert readers_of(pid) == []
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(5)
        producer.close()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    assert committed(broker.bootstrap, group, tps) == dict(producer.per_partition)
    assert "Traceback" not in log.read_text(errors="replace"), tail()


def rows(daemon: Daemon) -> dict[str, int]:
    return {name: window.rows() for name, window in daemon.windows.items()}


# (kafka.reader, kafka.client): the rebalance scenario runs with each reader and with librdkafka
REBALANCE_READERS = {
    "process": ("process", "kafka-python"),
    "thread": ("thread", "kafka-python"),
    "confluent": ("thread", "confluent"),
}


@pytest.mark.parametrize("reader", list(REBALANCE_READERS))
def test_rebalance_between_two_replicas_keeps_every_record_once(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reader: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, "reader-test")
    topic = f"reader-rebalance-{uuid.uuid4().hex[:8]}"
    group = f"reader-rebalance-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    producer = Producer(broker.bootstrap, topic)
    kafka_reader, client = REBALANCE_READERS[reader]
    first = Daemon(
        load_settings(config(tmp_path / "a", broker, topic, group, reader=kafka_reader, client=client))
    )
    second = Daemon(
        load_settings(config(tmp_path / "b", broker, topic, group, reader=kafka_reader, client=client))
    )
    started: list[Daemon] = []

    def total() -> dict[str, int]:
        return {m: sum(rows(d)[m] for d in (first, second)) for m in MODELS}

    try:
        producer.send(1500)
        first.start()
        started.append(first)
        wait_for(lambda: sum(rows(first).values()) > 0, 30, "the first replica to window records")
        second.start()  # the group rebalances: the first replica checkpoints and commits, then yields
        started.append(second)
        for _ in range(6):
            producer.send(500)
            time.sleep(0.3)  # production spread over the rebalance
        expected = dict(producer.per_model)
        wait_for(
            lambda: (
                total() == expected
                and all(d.source._consumer is not None and d.source._consumer.assignment() for d in started)
            ),
            # the test broker's group can stall a member for ~40 s while the group settles, more on a
            # loaded machine (seen at 60 s on 2 busy cores, never at 180 s in 16 runs); what is waited
            # for is exact, so a long wait only costs time when it would otherwise fail
            150,
            lambda: f"{expected} across both replicas, both assigned (now {rows(first)} + {rows(second)})",
        )
        time.sleep(2)  # nothing more arrives: nothing was counted twice
        assert total() == expected  # none twice
    finally:
        for daemon in reversed(started):
            daemon.stop()
        producer.close()
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    assert committed(broker.bootstrap, group, tps) == dict(producer.per_partition)


def test_a_killed_reader_process_is_replaced(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(SECRET_ENV, "reader-test")
    topic = f"reader-restart-{uuid.uuid4().hex[:8]}"
    group = f"reader-restart-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    producer = Producer(broker.bootstrap, topic)
    daemon = Daemon(load_settings(config(tmp_path, broker, topic, group)))
    try:
        producer.send(1000)
        daemon.start()
        wait_for(
            lambda: rows(daemon) == dict(producer.per_model), 30, lambda: f"all windowed ({rows(daemon)})"
        )
        (reader,) = readers_of(os.getpid())
        os.kill(reader, signal.SIGKILL)
        wait_for(
            lambda: readers_of(os.getpid()) not in ([], [reader]),
            30,
            "a new reader process",
        )
        producer.send(1000)
        expected = dict(producer.per_model)
        wait_for(lambda: rows(daemon) == expected, 60, lambda: f"{expected} windowed (now {rows(daemon)})")
        time.sleep(2)  # nothing more arrives: nothing was counted twice
        assert rows(daemon) == expected  # the new reader re-reads uncommitted records: skipped
        assert daemon.source.connected
    finally:
        daemon.stop()
        producer.close()
    assert readers_of(os.getpid()) == []
    assert any("reader process" in r.getMessage() and "restarting" in r.getMessage() for r in caplog.records)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    assert committed(broker.bootstrap, group, tps) == dict(producer.per_partition)
