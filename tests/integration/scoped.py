"""Helpers of the scoped-model tests (segments, versions, rolling baselines) against the real broker.

A scoped model's daemon runs in process with its schedule pushed an hour out, so the tests drive
``Daemon.run_check`` themselves and know exactly which check saw which records; where time matters
(the rolling baseline) it runs on a `Clock` the test moves. Records go out through librdkafka, which
sends a hundred thousand records in a few seconds.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import require
from tests.kafkautil import Samples, get
from tests.receivers import Receiver

__all__ = [
    "GROUP_OPTIONS",
    "Clock",
    "api_model",
    "events",
    "label_values",
    "produce",
    "samples_of",
    "write_config",
]

# a consumer group that forms in about a second (the client defaults take ~20 s with this broker)
GROUP_OPTIONS: dict[str, Any] = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


class Clock:
    """The daemon's wall clock, moved by the test (read from the consumer and check threads)."""

    def __init__(self, now: float) -> None:
        self._now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def set(self, now: float) -> None:
        with self._lock:
            self._now = now


def produce(bootstrap: str, topic: str, values: Iterable[bytes]) -> int:
    """Send every value to ``topic`` (librdkafka, batched) and wait until the broker has them all."""
    try:
        from confluent_kafka import Producer
    except ImportError as exc:
        require("confluent-kafka (a librdkafka producer)", str(exc))
        raise
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": False})
    errors: list[str] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            errors.append(str(error))

    sent = 0
    for value in values:
        while True:
            try:
                producer.produce(topic, value=value, on_delivery=delivered)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.05)
        producer.poll(0)
        sent += 1
    assert producer.flush(60) == 0, "librdkafka did not deliver every record in 60 s"
    assert errors == [], errors[:3]
    return sent


def write_config(directory: Path, config: dict[str, Any]) -> Path:
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def api_model(port: int, model: str) -> dict[str, Any]:
    """``/api/models/<model>``."""
    status, body = get(port, f"/api/models/{model}")
    assert status == 200, f"/api/models/{model} answered {status}: {body[:300]!r}"
    result: dict[str, Any] = json.loads(body)
    return result


def events(receiver: Receiver) -> list[dict[str, Any]]:
    """The JSON bodies the receiver got, in arrival order."""
    return [request.json for request in list(receiver.received)]


def samples_of(samples: Samples, name: str, **labels: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Every sample of ``name`` whose labels include ``labels`` (an empty label value counts as absent)."""
    wanted = set(labels.items())
    return {key: value for (n, key), value in samples.items() if n == name and wanted <= set(key)}


def label_values(samples: Samples, name: str, label: str, **labels: str) -> set[str]:
    """The values ``label`` takes among the samples of ``name`` with ``labels`` (absent ones left out)."""
    return {dict(key)[label] for key in samples_of(samples, name, **labels) if label in dict(key)}
