"""Graceful shutdown on SIGTERM, while a webhook attempt is in flight.

A subprocess daemon (``python -m driftwatch run``) consumes shifted traffic for
credit-risk from the real broker, detects drift and posts the event to a
receiver that answers only after 3 s. SIGTERM arrives while that attempt is in
flight. The daemon must stop fetching, checkpoint and commit what it handled,
let the attempt finish (or leave it pending in the outbox, never lose it) and
exit with status 0 within 10 s. Started again, it restores the same windows
from its checkpoint without reading the records again. With each Kafka client
(``kafka.client``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
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
from driftwatch.state.store import Store
from tests.clients import CLIENTS, use_client
from tests.kafkautil import committed, get, metric_by, scrape, update_config, wait_for
from tests.receivers import Receiver, Reply

pytestmark = pytest.mark.broker

SECRET = "shutdown-test-secret"
PER_MODEL = 1500
PARTITIONS = 2
ANSWER_AFTER = 3.0  # seconds the receiver takes to answer


def produce(bootstrap: str, topic: str) -> dict[int, int]:
    """Shifted credit-risk and unshifted churn records over both partitions; records per partition."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    rng = np.random.default_rng(17)
    per_partition: Counter[int] = Counter()
    try:
        i = 0
        for model, shifted in (("credit-risk", True), ("churn", False)):
            for value in make_records(model, rng, PER_MODEL, shifted, time.time()):
                partition = i % PARTITIONS
                producer.send(topic, key=model.encode(), value=value, partition=partition)
                per_partition[partition] += 1
                i += 1
        producer.flush(30)
    finally:
        producer.close(5)
    return dict(per_partition)


def models_state(port: int) -> dict[str, int] | None:
    try:
        status, body = get(port, "/api/models", timeout=2)
    except OSError:
        return None
    if status != 200:
        return None
    return {name: state["window_rows"] for name, state in json.loads(body).items()}


def consumed(port: int) -> dict[str, float] | None:
    try:
        return metric_by(scrape(port), "driftwatch_records_consumed_total", "model")
    except (OSError, AssertionError):
        return None


def caught_up(port: int, topic: str) -> bool:
    """Both partitions assigned and fetched at their end (the lag series exist and are 0)."""
    try:
        samples = scrape(port)
    except (OSError, AssertionError):
        return False
    lag = {
        dict(labels)["partition"]: value
        for (name, labels), value in samples.items()
        if name == "driftwatch_consumer_lag_records" and ("topic", topic) in labels
    }
    return set(lag) == {str(p) for p in range(PARTITIONS)} and not any(lag.values())


def stop(process: subprocess.Popen[bytes]) -> int | None:
    """SIGTERM, then SIGKILL after 15 s; the exit status of a process that stopped by itself."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
            return None
    return process.returncode


@CLIENTS
def test_sigterm_checkpoints_commits_finishes_the_attempt_in_flight_and_exits_0(
    broker: LocalBroker, tmp_path: Path, client: str
) -> None:
    topic = f"shutdown-{uuid.uuid4().hex[:8]}"
    group = f"shutdown-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=PARTITIONS)
    produced = produce(broker.bootstrap, topic)
    port = free_port()
    log = tmp_path / "daemon.log"
    env = {**os.environ, SECRET_ENV: SECRET, "PYTHONUNBUFFERED": "1"}

    with Receiver(SECRET.encode(), reply=lambda attempt: Reply(200, delay=ANSWER_AFTER)) as receiver:
        config = write_demo_config(
            tmp_path, broker.bootstrap, topic, port, receiver.url, every="1s", window="1h"
        )

        def change(raw: dict[str, Any]) -> None:
            raw["kafka"]["group_id"] = group
            for model in raw["models"].values():
                model["window"]["max_rows"] = 10 * PER_MODEL  # every record stays in the window

        update_config(config, change)
        use_client(config, client)
        command = [sys.executable, "-m", "driftwatch", "run", "--config", str(config)]

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as out:
                return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)

        def tail() -> str:
            return "\n".join(log.read_text(errors="replace").splitlines()[-30:])

        expected = dict.fromkeys(("credit-risk", "churn"), float(PER_MODEL))
        process = start()
        try:
            wait_for(
                lambda: consumed(port) == expected,
                60,
                lambda: f"every record consumed (now {consumed(port)}); daemon log:\n{tail()}",
            )
            (request,) = receiver.wait_for(1, timeout=30)
            process.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            assert signalled < request.at + ANSWER_AFTER, "the webhook attempt was no longer in flight"
            try:
                code: int | None = process.wait(10)
            except subprocess.TimeoutExpired:
                code = None
            elapsed = time.monotonic() - signalled
        finally:
            stop(process)
        output = log.read_text(errors="replace")
        assert code == 0, f"exit status {code} after {elapsed:.1f}s; daemon log:\n{tail()}"
        assert elapsed < 10, f"shutdown took {elapsed:.1f}s"
        assert "received SIGTERM, stopping" in output
        assert "Traceback" not in output, output[-3000:]

        # what was handled is checkpointed, and the same offsets are committed to the group
        store = Store(tmp_path / "state.sqlite")
        try:
            checkpointed = store.offsets(group)
            outbox = {row.key: row for row in store.outbox()}
        finally:
            store.close()
        assert checkpointed == {(topic, p): n for p, n in produced.items()}
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        assert committed(broker.bootstrap, group, tps) == produced

        # the attempt in flight finished, or stays pending for the next start: never lost
        assert request.key in outbox, f"the delivery {request.key} is not in the outbox"
        assert outbox[request.key].status in {"delivered", "pending"}, outbox[request.key]
        assert all(row.status in {"delivered", "pending"} for row in outbox.values()), outbox
        assert request.valid and request.json["model"] == "credit-risk"

        # started again: the same windows, from the checkpoint, without reading the records again
        restarted = start()
        try:
            wait_for(
                lambda: models_state(port) is not None,
                30,
                lambda: f"the restarted daemon to serve; daemon log:\n{tail()}",
            )
            assert models_state(port) == {model: int(rows) for model, rows in expected.items()}
            wait_for(
                lambda: caught_up(port, topic),
                30,
                lambda: f"the restarted daemon to fetch at the end of both partitions; log:\n{tail()}",
            )
            assert consumed(port) == {"credit-risk": 0.0, "churn": 0.0}
            assert models_state(port) == {model: int(rows) for model, rows in expected.items()}
        finally:
            code = stop(restarted)
        assert code == 0, f"the restarted daemon exited with {code}; log:\n{tail()}"
    assert "Traceback" not in log.read_text(errors="replace")
