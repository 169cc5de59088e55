"""Scaled out, the label join at each model's owner ends as one plain daemon's does, whatever replica
reads a prediction or a label, and when stage 1 reads a batch again with other boundaries.

No broker: stage 1 (`Ingest` with the `Forwarder`) writes to a producer that keeps the messages, and
they are handed to the `Owner` of every internal partition as its consumer would hand them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.config import load_settings
from driftwatch.service import daemon as daemon_module
from driftwatch.service import owner as owner_module
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0
MODELS = ("m", "m2")  # a champion and a challenger that share request ids


@dataclass
class Msg:
    value: bytes | None
    topic: str
    partition: int
    offset: int
    timestamp: int = int(NOW * 1000) - 1000


@dataclass
class Record:
    offset: int
    value: bytes | None


class Producer:
    """The exchange producer, keeping what is sent, as a broker would: a log per topic partition."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.logs: dict[tuple[str, int], list[bytes]] = {}

    def send(self, topic: str, partition: int, key: bytes, value: bytes) -> None:
        self.logs.setdefault((topic, partition), []).append(value)

    def send_sync(self, topic: str, partition: int, key: bytes, value: bytes, timeout: float = 30.0) -> int:
        self.send(topic, partition, key, value)
        return len(self.logs[(topic, partition)]) - 1

    def read(
        self, settings: Any, topic: str, partition: int, until: int, start: int = 0, **kwargs: Any
    ) -> Iterator[tuple[int, bytes]]:
        """`read_partition` of this log."""
        log = self.logs.get((topic, partition), [])
        yield from enumerate(log[start : until + 1], start=start)

    def flush(self, topic: str | None = None, timeout: float | None = None) -> None:
        pass

    def close(self, timeout: float | None = None) -> None:
        pass


class Consumer:
    def start_reading(self, partition: int, offset: int | None) -> None:
        pass


class Index:
    """`StateIndex`, in memory."""

    def __init__(self) -> None:
        self.starts: dict[int, int] = {}

    def get(self, partition: int) -> int | None:
        return self.starts.get(partition)

    def set(self, partition: int, offset: int) -> None:
        self.starts[partition] = offset

    def close(self) -> None:
        pass


CONFIG = """
kafka:
  bootstrap_servers: ["127.0.0.1:9"]
  topic: predictions
  labels_topic: labels
  {scale_out}
http: {{port: 0}}
models:
{models}
state: {{path: state.sqlite}}
labels: {{ttl: 1d, grace: 1h}}
"""

MODEL = """
  {name}:
    reference: ref.csv
    features: [x]
    prediction: score
    window: {{length: 1h, max_rows: 5000, min_rows: 50}}
    performance:
      task: binary_classification
      label: label
      min_labels: 10
      thresholds: {{accuracy: {{max_drop: 0.1}}}}
"""


def make(tmp_path: Path, scaled: bool) -> Daemon:
    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    x = rng.normal(size=2000)
    score = 1 / (1 + np.exp(-2 * x))
    label = (rng.uniform(size=len(x)) < score).astype(int)
    pd.DataFrame({"x": x, "score": score, "label": label}).to_csv(tmp_path / "ref.csv", index=False)
    (tmp_path / "c.yaml").write_text(
        CONFIG.format(
            scale_out="scale_out: {enabled: true, partitions: 4}" if scaled else "",
            models="".join(MODEL.format(name=name) for name in MODELS),
        ),
        encoding="utf-8",
    )
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)


class Owners:
    """A scaled-out daemon that owns every internal partition, fed what its stage 1 forwards."""

    def __init__(self, daemon: Daemon, producer: Producer) -> None:
        assert daemon.owner is not None
        self.daemon, self.owner, self.producer = daemon, daemon.owner, producer
        self.owner._consumer = Consumer()  # type: ignore[assignment]
        self.owner._index = Index()  # type: ignore[assignment]
        for partition in range(self.owner.partitions):
            self.owner._take(partition)
        self.read: dict[int, int] = {}  # samples partition -> next offset

    def handle(self, messages: list[Msg]) -> None:
        self.daemon.handle(messages)
        batches: dict[int, list[Record]] = {}
        for (topic, partition), log in self.producer.logs.items():
            if topic == self.owner.topics.samples:
                start = self.read.get(partition, 0)
                batches[partition] = [Record(o, v) for o, v in enumerate(log[start:], start=start)]
                self.read[partition] = len(log)
        self.owner._apply(batches)


@pytest.fixture
def scaled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Owners]:
    producer = Producer()
    monkeypatch.setattr(daemon_module, "ExchangeProducer", lambda *a, **k: producer)
    monkeypatch.setattr(owner_module, "read_partition", producer.read)
    daemon = make(tmp_path / "scaled", scaled=True)
    yield Owners(daemon, producer)
    daemon.stop(timeout=1.0)


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Daemon]:
    daemon = make(tmp_path / "plain", scaled=False)
    yield daemon
    daemon.stop(timeout=1.0)


def prediction(model: str, pid: str | None, score: float, label: int | None = None) -> bytes:
    record: dict[str, Any] = {
        "model": model,
        "prediction_id": pid,
        "timestamp": NOW - 60,
        "features": {"x": 0.1},
        "prediction": score,
    }
    if label is not None:
        record["label"] = label
    return json.dumps(record).encode()


def label(pid: str, value: int, model: str | None = None) -> bytes:
    return json.dumps({"prediction_id": pid, "label": value, **({"model": model} if model else {})}).encode()


def traffic() -> tuple[list[Msg], list[Msg]]:
    """Predictions of both models on three partitions (some with inline labels, some without an id),
    and labels on three partitions: naming no model, naming one, duplicates, for unknown ids.

    A label naming no model is judged by each model's owner on its own: one that fits two models and
    is rejected counts once per model (a plain daemon counts it once), so those here all join."""
    rng = np.random.default_rng(5)
    predictions: list[Msg] = []
    labels: list[Msg] = []
    offsets = {0: 0, 1: 0, 2: 0}

    def put(into: list[Msg], topic: str, value: bytes, partition: int | None = None) -> int:
        partition = int(rng.integers(3)) if partition is None else partition
        into.append(Msg(value, topic, partition, offsets_of[topic][partition]))
        offsets_of[topic][partition] += 1
        return partition

    offsets_of = {"predictions": offsets, "labels": {0: 0, 1: 0, 2: 0}}
    for i in range(300):
        score = float(rng.uniform(0.01, 0.99))
        for model in MODELS:
            if i % 10 == 0:
                put(predictions, "predictions", prediction(model, None, score, label=int(score > 0.5)))
            elif i % 10 == 1:
                put(predictions, "predictions", prediction(model, f"id-{i}", score, label=int(score > 0.4)))
            elif i % 10 == 2:
                put(predictions, "predictions", prediction(model, None, score))  # nothing can join it
            else:
                put(predictions, "predictions", prediction(model, f"id-{i}", score))
        y = int(rng.uniform() < 0.5)
        if i % 10 in (0, 2):
            continue
        if i % 10 == 1:
            put(labels, "labels", label(f"id-{i}", y, model="m2"))  # a duplicate of the inline label
        elif i % 13 == 0:
            # a label and its duplicate, on one partition (which comes first is up to the partition)
            at = put(labels, "labels", label(f"id-{i}", y, model="m"))
            put(labels, "labels", label(f"id-{i}", 1 - y, model="m"), partition=at)
        elif i % 7 == 0:
            put(labels, "labels", label(f"id-{i}", y, model="m2"))
        else:
            put(labels, "labels", label(f"id-{i}", y))  # names no model: joins both
    for i in range(20):
        put(labels, "labels", label(f"unknown-{i}", 1, model="m"))  # waits for a prediction never sent
    return predictions, labels


def joined(daemon: Daemon) -> dict[str, Any]:
    assert daemon.labels is not None
    state = {}
    for model in MODELS:
        rows = daemon.labels.joined(model, 0, np.inf)
        state[model] = (
            daemon.metrics.labels_joined.labels(model)._value.get(),
            daemon.labels.pending_count(model),
            sorted(zip(rows.predictions.tolist(), rows.labels.tolist(), strict=True)),
        )
    return state


def rejected(daemon: Daemon) -> dict[str, float]:
    return {
        sample.labels["reason"]: sample.value
        for metric in daemon.metrics.labels_rejected.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.value
    }


def batches(messages: list[Msg], size: int) -> Iterator[list[Msg]]:
    for start in range(0, len(messages), size):
        yield messages[start : start + size]


def test_the_owners_join_is_the_plain_daemons(scaled: Owners, plain: Daemon) -> None:
    predictions, labels = traffic()
    # labels first (they wait), then predictions, then the rest of the labels
    plain.handle(labels[:100])
    plain.handle(predictions)
    plain.handle(labels[100:])
    for batch in batches(labels[:100], 17):
        scaled.handle(batch)
    for batch in batches(predictions, 50):
        scaled.handle(batch)
    for batch in batches(labels[100:], 23):
        scaled.handle(batch)
    expected = joined(plain)
    assert all(count > 100 for count, _, _ in expected.values())
    assert joined(scaled.daemon) == expected
    assert rejected(scaled.daemon) == rejected(plain)
    assert rejected(plain)["duplicate"] > 0
    # realized performance on the owner reads those rows
    for model in MODELS:
        result = scaled.daemon.run_check(model)
        assert result is not None and result.performance is not None
        assert result.performance.realized is not None
        assert result.performance.realized.labelled_rows == len(expected[model][2])


def test_batches_read_again_with_other_boundaries_join_once(scaled: Owners, plain: Daemon) -> None:
    predictions, labels = traffic()
    plain.handle(predictions)
    plain.handle(labels)
    # a stage-1 reader dies after forwarding, another reads the same records again in other batches
    for batch in batches(predictions[:400], 90):
        scaled.handle(batch)
    for batch in batches(predictions[150:], 70):
        scaled.handle(batch)
    for batch in batches(labels[:200], 40):
        scaled.handle(batch)
    for batch in batches(labels, 55):
        scaled.handle(batch)
    assert joined(scaled.daemon) == joined(plain)
    assert rejected(scaled.daemon) == rejected(plain)


def test_a_new_owner_takes_the_join_state_over(scaled: Owners) -> None:
    """Given back, a model's label join goes with its last checkpoint; its next owner (here the same
    replica, taking the partition again) goes on from there, reading the samples after it."""
    predictions, labels = traffic()
    scaled.handle(predictions)
    scaled.handle(labels[:150])
    before = joined(scaled.daemon)
    owner = scaled.owner
    for partition in range(owner.partitions):
        owner._revoked([partition])
    assert owner.owned() == set()
    assert all(pending == 0 and rows == [] for _, pending, rows in joined(scaled.daemon).values())
    for partition in range(owner.partitions):
        owner._take(partition)
    assert {m: state[1:] for m, state in joined(scaled.daemon).items()} == {
        m: state[1:] for m, state in before.items()
    }
    scaled.handle(labels[150:])  # the rest joins the restored predictions
    assert scaled.daemon.labels is not None
    assert all(scaled.daemon.labels.joined_count(m) > len(before[m][2]) for m in MODELS)


def test_giving_a_model_back_forgets_its_join_rows(scaled: Owners) -> None:
    predictions, labels = traffic()
    scaled.handle(predictions)
    scaled.handle(labels)
    assert scaled.daemon.labels is not None
    owner = scaled.owner
    moved = owner.partition("m")
    assert scaled.daemon.labels.joined_count("m") > 0
    owner._revoked([moved])
    assert not owner.owns("m")
    assert scaled.daemon.labels.joined_count("m") == scaled.daemon.labels.pending_count("m") == 0
    if owner.partition("m2") != moved:
        assert scaled.daemon.labels.joined_count("m2") > 0
