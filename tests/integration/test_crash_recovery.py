"""Exactly-once window contents across crashes: kill -9 the daemon at random moments, restart it.

A producer writes 200k records over ~60 s while a subprocess daemon consumes
them; the test kills it with SIGKILL at 10 random moments and starts it again
each time. Windows and the offsets they cover are checkpointed in one SQLite
transaction before the offsets are committed to Kafka, and a restarted daemon
continues from its checkpoint. At the end each model's window holds exactly
the records produced for it (the cap is above the total): none lost, none
counted twice. Webhook events are deduplicated by idempotency key across
the restarts.

This file runs it with kafka-python (the default client);
``test_crash_recovery_confluent.py`` runs the same scenario with ``kafka.client: confluent``.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
import yaml
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

SECRET = "crash-test-secret"
CHUNK = 2_500


class Run(NamedTuple):
    """How hard one client's run is: records per model, over how many seconds, how many kills."""

    client: str
    per_model: int
    seconds: float
    kills: int


KAFKA_PYTHON = Run("kafka-python", 100_000, 60.0, 10)


def models_state(port: int) -> dict[str, int] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=2) as answer:
            body = json.loads(answer.read())
    except (OSError, ValueError):
        return None
    return {name: state["window_rows"] for name, state in body.items()}


def with_log(what: str, log: Path) -> Callable[[], str]:
    """``what``, then the daemon log's last lines: the message of a wait that timed out."""
    return lambda: f"{what}; daemon log:\n" + "\n".join(log.read_text(errors="replace").splitlines()[-40:])


class Producer(threading.Thread):
    """Writes every model's records in chunks spread over ``seconds``."""

    def __init__(self, bootstrap: str, topic: str, per_model: int, seconds: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.per_model, self.seconds = bootstrap, topic, per_model, seconds
        self.sent: Counter[str] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=20, batch_size=256 * 1024)
            rng = np.random.default_rng(5)
            chunks = self.per_model // CHUNK
            for _ in range(chunks):
                for model, shifted in (("credit-risk", True), ("churn", False)):
                    for value in make_records(model, rng, CHUNK, shifted, time.time()):
                        producer.send(self.topic, key=model.encode(), value=value)
                    self.sent[model] += CHUNK
                producer.flush()
                time.sleep(self.seconds / chunks)
            producer.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def test_windows_hold_every_record_exactly_once_across_kill_9(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_9_and_count(broker, tmp_path, monkeypatch, KAFKA_PYTHON)


def kill_9_and_count(broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: Run) -> None:
    """Produce ``run.per_model`` records per model over ``run.seconds`` while a daemon using
    ``run.client`` is killed ``run.kills`` times; then every window holds exactly what was produced."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    topic = f"crash-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    port = free_port()
    rng = random.Random(20261127)
    with WebhookReceiver(SECRET.encode()) as receiver:
        config = write_demo_config(
            tmp_path, broker.bootstrap, topic, port, receiver.url, every="2s", window="1h"
        )
        raw = yaml.safe_load(config.read_text())
        for model in raw["models"].values():
            model["window"]["max_rows"] = 3 * run.per_model  # above the total: every record is kept
        raw["state"]["checkpoint_interval"] = "0.2s"
        raw["kafka"]["client"] = run.client
        config.write_text(yaml.safe_dump(raw, sort_keys=False))

        log = tmp_path / "daemon.log"
        command = [sys.executable, "-m", "driftwatch", "run", "--config", str(config)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}

        def start() -> subprocess.Popen[bytes]:
            with log.open("ab") as out:
                return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)

        producer = Producer(broker.bootstrap, topic, run.per_model, run.seconds)
        producer.start()
        process = start()
        restarts = 0
        try:
            for _ in range(run.kills):
                # kill at a random moment shortly after the restarted daemon consumed something new
                # (mid-batch, mid-checkpoint or between a checkpoint and the Kafka commit)
                wait_for(lambda: models_state(port) is not None, 60, with_log("the daemon to serve", log))
                restored = sum((models_state(port) or {}).values())
                deadline = time.monotonic() + 25  # at most: once the producer is done, nothing new comes
                while time.monotonic() < deadline and sum((models_state(port) or {}).values()) <= restored:
                    time.sleep(0.05)
                time.sleep(rng.uniform(0.0, 1.5))
                process.send_signal(signal.SIGKILL)
                process.wait(10)
                restarts += 1
                process = start()
            producer.join(120)
            assert producer.error is None, f"producing failed: {producer.error!r}"
            expected = dict(producer.sent)
            assert expected == {"credit-risk": run.per_model, "churn": run.per_model}
            wait_for(
                lambda: models_state(port) == expected,
                180,
                with_log(f"the windows to hold exactly {expected} (now {models_state(port)})", log),
            )
            time.sleep(3.0)  # nothing is consumed twice later either
            assert models_state(port) == expected
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
        assert restarts == run.kills
        assert process.returncode == 0, "the last daemon did not stop cleanly on SIGTERM"
        keys = Counter(hook["key"] for hook in receiver.received)
        assert keys, "the shifted model should have fired a webhook"
        assert all(count == 1 for count in keys.values()), f"an event was delivered twice: {keys}"
        assert all(hook["valid"] for hook in receiver.received)
    text = log.read_text(errors="replace")
    assert "Traceback" not in text, text[-3000:]
