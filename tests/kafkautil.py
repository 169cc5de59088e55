"""Helpers shared by the tests that run a daemon against the real broker and read it over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client.parser import text_string_to_metric_families

from tests.waiting import wait_for  # re-exported: the tests that import it from here

__all__ = [
    "Samples",
    "api_models",
    "committed",
    "get",
    "metric",
    "metric_by",
    "read_topic",
    "scrape",
    "update_config",
    "wait_for",
]

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """Status and body of ``GET http://127.0.0.1:port/path``; an HTTP error status is returned, not raised."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as answer:
            return int(answer.status), answer.read()
    except urllib.error.HTTPError as exc:
        try:
            return int(exc.code), exc.read()
        finally:
            exc.close()


def scrape(port: int) -> Samples:
    """Every sample of ``/metrics``: (name, sorted labels) -> value."""
    status, body = get(port, "/metrics")
    assert status == 200, f"/metrics answered {status}"
    return {
        (sample.name, tuple(sorted((k, v) for k, v in sample.labels.items() if v))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def metric_by(samples: Samples, name: str, label: str) -> dict[str, float]:
    """``{value of label: sample}`` for every sample of ``name``."""
    return {dict(labels)[label]: value for (n, labels), value in samples.items() if n == name}


def api_models(port: int) -> dict[str, Any]:
    status, body = get(port, "/api/models")
    assert status == 200, f"/api/models answered {status}"
    result: dict[str, Any] = json.loads(body)
    return result


def update_config(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    """Apply ``change`` to the YAML config at ``path`` in place."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")


def read_topic(
    bootstrap: str, topic: str, partitions: int, count: int, timeout: float = 20.0, settle: float = 0.5
) -> list[ConsumerRecord]:
    """Every record of ``topic`` from the beginning, without a consumer group.

    Reads until ``count`` records arrived, then ``settle`` seconds more so that
    records beyond the expected ones show up too (the broker's end offsets can
    under-report, so they are not used to know when to stop).
    """
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
    )
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)
        records: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout
        settle_until: float | None = None
        while True:
            now = time.monotonic()
            if settle_until is None and len(records) >= count:
                settle_until = now + settle
            if now >= (settle_until if settle_until is not None else deadline):
                break
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        return records
    finally:
        consumer.close()


def committed(bootstrap: str, group: str, partitions: list[TopicPartition]) -> dict[int, int | None]:
    """The consumer group's committed offset per partition number."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return {tp.partition: consumer.committed(tp) for tp in partitions}
    finally:
        consumer.close()
