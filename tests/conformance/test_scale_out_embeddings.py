"""Scaled out, a model with embeddings ends at its owner as in one plain daemon: the same window rows
with the same vectors, bit for bit, and the same embedding_drift result, however stage 1 batches the
records, when its partials are cut in pieces to fit ``kafka.scale_out.max_message_bytes``, and after
the owner gives the model back and takes it again from its changelog.

No broker: stage 1 writes to a producer that keeps the messages (`tests.conformance.test_scale_out_join`),
handed to the owner of every internal partition as its consumer would hand them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.config import load_settings
from driftwatch.service import daemon as daemon_module
from driftwatch.service import owner as owner_module
from driftwatch.service.daemon import Daemon
from tests.conformance.test_scale_out_join import NOW, Msg, Owners, Producer, batches

DIM = 64
BOUND = 40_000  # bytes: a batch of 100 records of 64 float32 components (~27 kB of vectors) and more

CONFIG = """
kafka:
  bootstrap_servers: ["127.0.0.1:9"]
  topic: predictions
  dead_letter_topic: dead
  {scale_out}
http: {{port: 0}}
models:
  bot:
    reference: ref.parquet
    features: [x]
    window: {{length: 1h, max_rows: {max_rows}, min_rows: 50}}
    embeddings:
      text_vec: {{field: vec, dim: {dim}}}
state: {{path: state.sqlite}}
"""


def make(tmp_path: Path, scaled: bool, max_rows: int = 5000, dim: int = DIM) -> Daemon:
    tmp_path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(1500, dim)).astype(np.float32)
    pd.DataFrame({"x": rng.normal(size=1500), "vec": list(vectors)}).to_parquet(tmp_path / "ref.parquet")
    scale_out = f"scale_out: {{enabled: true, partitions: 4, max_message_bytes: {BOUND}}}" if scaled else ""
    (tmp_path / "c.yaml").write_text(
        CONFIG.format(scale_out=scale_out, max_rows=max_rows, dim=dim), encoding="utf-8"
    )
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)


class DeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, str]] = []

    def send(self, value: bytes | None, key: Any, reason: str, *args: Any) -> None:
        self.sent.append((value, reason))

    def flush(self, timeout: float | None = None) -> None:
        pass


class Exchange(Producer):
    """`Producer`, taking the check history's sends too (``on_error``)."""

    def send(self, topic: str, partition: int, key: bytes, value: bytes, on_error: Any = None) -> None:
        super().send(topic, partition, key, value)


@pytest.fixture
def scaled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Owners]:
    producer = Exchange()
    monkeypatch.setattr(daemon_module, "ExchangeProducer", lambda *a, **k: producer)
    monkeypatch.setattr(owner_module, "read_partition", producer.read)
    daemon = make(tmp_path / "scaled", scaled=True)
    daemon.ingest.dead_letters = DeadLetters()  # type: ignore[assignment]
    yield Owners(daemon, producer)
    daemon.stop(timeout=1.0)


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[Daemon]:
    daemon = make(tmp_path / "plain", scaled=False)
    yield daemon
    daemon.stop(timeout=1.0)


def traffic(
    count: int, shift: float, seed: int = 5, dim: int = DIM, offsets: dict[int, int] | None = None
) -> list[Msg]:
    """``count`` records on three input partitions (from ``offsets`` on, which move past them); vectors
    moved by ``shift``, a few without one."""
    rng = np.random.default_rng(seed)
    offsets = {0: 0, 1: 0, 2: 0} if offsets is None else offsets
    out: list[Msg] = []
    for i in range(count):
        record: dict[str, Any] = {
            "model": "bot",
            "timestamp": NOW - 60,
            "features": {"x": float(rng.normal())},
        }
        if i % 17:
            record["vec"] = (rng.normal(size=dim) + shift).tolist()
        partition = int(rng.integers(3))
        out.append(Msg(json.dumps(record).encode(), "predictions", partition, offsets[partition]))
        offsets[partition] += 1
    return out


def window(daemon: Daemon) -> tuple[list[float], bytes, bytes, int]:
    """The model's window by sample key: keys, feature values and vectors (bytes: bit for bit)."""
    snapshot = daemon.windows["bot"].snapshot(NOW, keys=True)
    order = np.argsort(snapshot.frame["__key"].to_numpy())
    return (
        snapshot.frame["__key"].to_numpy()[order].tolist(),
        snapshot.frame["x"].to_numpy()[order].tobytes(),
        snapshot.embeddings["text_vec"][order].tobytes(),
        snapshot.records_seen,
    )


def embedding(daemon: Daemon) -> dict[str, Any]:
    result = daemon.run_check("bot")
    assert result is not None and result.embedding_drift is not None
    found: dict[str, Any] = result.embedding_drift["text_vec"].as_dict()
    return found


def samples_messages(scaled: Owners) -> list[bytes]:
    topic = scaled.owner.topics.samples
    return [value for (name, _), log in scaled.producer.logs.items() if name == topic for value in log]


def test_the_owners_vectors_and_embedding_result_are_the_plain_daemons(scaled: Owners, plain: Daemon) -> None:
    offsets = {0: 0, 1: 0, 2: 0}
    messages = traffic(1200, 0.0, offsets=offsets) + traffic(1200, 0.4, seed=6, offsets=offsets)
    for batch in batches(messages, 500):
        plain.handle(batch)
    for batch in batches(messages, 500):
        scaled.handle(batch)
    expected = window(plain)
    assert expected[3] == 2400 and len(expected[0]) == 2400
    assert window(scaled.daemon) == expected
    # the partials went in pieces of at most the bound
    sizes = [len(value) for value in samples_messages(scaled)]
    assert max(sizes) <= BOUND and len(sizes) > 3 * len(list(batches(messages, 500)))
    found = embedding(scaled.daemon)
    assert found == embedding(plain)
    without = len([m for m in messages if b'"vec"' not in (m.value or b"")])
    assert found["drift_detected"] is True and found["rows"] == 2400 - without


def test_batches_read_again_with_other_boundaries_count_every_vector_once(
    scaled: Owners, plain: Daemon
) -> None:
    messages = traffic(900, 0.0)
    plain.handle(messages)
    # a stage-1 reader dies after forwarding, another reads the same records again in other batches
    for batch in batches(messages[:500], 130):
        scaled.handle(batch)
    for batch in batches(messages[210:], 77):
        scaled.handle(batch)
    assert window(scaled.daemon) == window(plain)


def test_a_new_owner_restores_the_vectors_from_the_changelog(scaled: Owners, plain: Daemon) -> None:
    messages = traffic(800, 0.0)
    plain.handle(messages)
    scaled.handle(messages[:500])
    owner = scaled.owner
    for partition in range(owner.partitions):
        owner._revoked([partition])  # the last checkpoint, then the model is forgotten here
    assert owner.owned() == set() and scaled.daemon.windows["bot"].rows() == 0
    # the checkpoints fit the bound too
    assert all(len(value) <= BOUND for (name, _), log in scaled.producer.logs.items() for value in log)
    for partition in range(owner.partitions):
        owner._take(partition)
    scaled.handle(messages[500:])
    assert window(scaled.daemon) == window(plain)
    assert embedding(scaled.daemon) == embedding(plain)


def test_a_record_too_large_to_send_is_rejected_as_oversize_and_dead_lettered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With dim 16384 a row alone (64 kB of float32, NaN for a record without a vector) is beyond a
    40 kB bound: each record inside the window is rejected as ``oversize``, counted and dead-lettered by
    the reader that read it, and not counted in the window; the records outside the window are
    counted as such, as they would be anyway (no row of theirs is sent)."""
    producer = Exchange()
    monkeypatch.setattr(daemon_module, "ExchangeProducer", lambda *a, **k: producer)
    monkeypatch.setattr(owner_module, "read_partition", producer.read)
    daemon = make(tmp_path, scaled=True, dim=16_384)
    dead = DeadLetters()
    daemon.ingest.dead_letters = dead  # type: ignore[assignment]
    try:
        owners = Owners(daemon, producer)
        messages = traffic(40, 0.0, dim=16_384)
        for message in messages[::4]:  # two hours old: outside the window
            assert message.value is not None
            message.value = message.value.replace(b'"timestamp": 1799999940.0', b'"timestamp": 1799992800.0')
        outside = messages[::4]
        inside = [m for m in messages if m not in outside]
        owners.handle(messages)
        assert sorted(value or b"" for value, _ in dead.sent) == sorted(m.value or b"" for m in inside)
        assert {reason for _, reason in dead.sent} == {"oversize"}
        assert daemon.metrics.records_rejected.labels("oversize")._value.get() == len(inside)
        assert daemon.metrics.records_consumed.labels("bot")._value.get() == len(outside)
        assert daemon.metrics.records_outside_window.labels("bot")._value.get() == len(outside)
        assert daemon.windows["bot"].seen() == 0
        assert max(len(value) for value in samples_messages(owners)) <= BOUND
    finally:
        daemon.stop(timeout=1.0)
