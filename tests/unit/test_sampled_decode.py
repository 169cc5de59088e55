"""``kafka.decode: sampled`` against the default (``all``) on the same batches.

Two daemons, one per mode, take the same batches. On clean input, and on input whose problems a
record's head shows (unknown model, bad timestamp, non-finite prediction, a label of the wrong kind,
tombstones, oversize, undecodable messages), everything must be equal: window rows and keys, seen
counts, records consumed, outside the window, rejected per reason, dead letters, the label join.
A problem inside the features (a nested value, features that are not an object, text that is not
UTF-8, a second ``features`` key) is still a rejection of the same record. What differs is
documented: a value of the wrong kind in a feature is a type violation only among the records whose
features were decoded, those the window's sample could keep when they were read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.stream.partials import Partial, inside_window, time_slots
from driftwatch.stream.sample_keys import position_keys

NOW = 1_800_000_000.0
LENGTH = 3600.0
BUCKETS = 4
TOPIC = "predictions"


@dataclass
class FakeMessage:
    value: bytes | None
    timestamp: int
    topic: str
    partition: int
    offset: int
    key: bytes | None = None


def write_config(directory: Path, decode: str, max_rows: int = 60) -> Path:
    rng = np.random.default_rng(5)
    pd.DataFrame(
        {
            "x": rng.normal(size=300),
            "y": rng.normal(size=300),
            "c": rng.choice(["a", "b", "c"], 300),
            "p": rng.random(300),
            "label": rng.integers(0, 2, 300),
        }
    ).to_csv(directory / "ref.csv", index=False)
    pd.DataFrame({"z": rng.normal(size=300), "k": rng.choice(["u", "v"], 300)}).to_csv(
        directory / "ref2.csv", index=False
    )
    path = directory / f"{decode}.yaml"
    path.write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: {TOPIC}, decode: {decode}}}
http: {{port: 0}}
models:
  m:
    reference: ref.csv
    features: [x, y, {{name: c, type: categorical}}]
    prediction: p
    window: {{length: 1h, max_rows: {max_rows}, buckets: {BUCKETS}, min_rows: 1}}
    performance: {{task: binary_classification, label: label}}
  n:
    reference: ref2.csv
    features: [z, {{name: k, type: categorical}}]
    window: {{length: 1h, max_rows: {max_rows}, buckets: {BUCKETS}, min_rows: 1}}
state: {{path: {decode}.sqlite}}
""",
        encoding="utf-8",
    )
    return path


class Recorded:
    """A daemon whose dead letters are recorded (topic, partition, offset, reason, detail)."""

    def __init__(self, directory: Path, decode: str, max_rows: int = 60) -> None:
        self.daemon = Daemon(load_settings(write_config(directory, decode, max_rows)), clock=lambda: NOW)
        self.dead: list[tuple[str, int, int, str, str]] = []
        original = self.daemon.ingest._reject

        def reject(message: Any, rejection: Any, kind: str) -> None:
            self.dead.append(
                (message.topic, message.partition, message.offset, rejection.reason, rejection.detail)
            )
            original(message, rejection, kind)

        self.daemon.ingest._reject = reject  # type: ignore[method-assign]

    def metric(self, name: str, **labels: str) -> float:
        return self.daemon.metrics.registry.get_sample_value(name, labels) or 0.0

    def close(self) -> None:
        self.daemon.store.close()


@pytest.fixture
def pair(tmp_path: Path) -> Any:
    made: list[Recorded] = []

    def make(max_rows: int = 60) -> tuple[Recorded, Recorded]:
        default = Recorded(tmp_path, "all", max_rows)
        sampled = Recorded(tmp_path, "sampled", max_rows)
        made.extend([default, sampled])
        assert default.daemon.ingest.sampled is False and sampled.daemon.ingest.sampled is True
        return default, sampled

    yield make
    for recorded in made:
        recorded.close()


def clean_record(rng: np.random.Generator, offset: int) -> dict[str, Any]:
    model = "m" if rng.random() < 0.7 else "n"
    stamp = NOW - float(rng.uniform(-100, LENGTH * 1.2))  # some outside the window, some ahead of now
    if model == "m":
        features: dict[str, Any] = {
            "x": float(rng.normal()),
            "y": int(rng.integers(-5, 5)),
            "c": str(rng.choice(["a", "b", "c"])),
        }
        if rng.random() < 0.2:
            features["y"] = None
        if rng.random() < 0.3:
            features["extra"] = "not monitored"
        record: dict[str, Any] = {"model": model, "features": features, "prediction": float(rng.random())}
        if rng.random() < 0.5:
            record["prediction_id"] = f"id-{offset}"
        if rng.random() < 0.2:
            record["label"] = int(rng.integers(0, 2))
    else:
        record = {
            "model": model,
            "features": {"z": float(rng.normal()), "k": str(rng.choice(["u", "v", "w"]))},
        }
    record["model_version"] = str(rng.integers(1, 3)) if rng.random() < 0.5 else int(rng.integers(1, 3))
    if rng.random() < 0.9:
        record["timestamp"] = (
            stamp if rng.random() < 0.5 else pd.Timestamp(stamp, unit="s", tz="UTC").isoformat()
        )
    return record


# problems a record's head shows: both modes reject them alike
HEAD_DIRT: list[bytes | None] = [
    None,  # a tombstone
    b"not json",
    b"[1, 2]",
    b'{"model": "m", "features": {"x": 1}, "timestamp": "yesterday"}',
    b'{"model": "unknown", "features": {"x": 1}}',
    b'{"model": "m", "features": {"x": 1}, "prediction": NaN}',
    b'{"model": "m", "features": {"x": 1}, "prediction": 1e400}',
    b'{"model": "m", "features": {"x": 1}, "label": "yes"}',
    b'{"model": "m"}',
    b'{"features": {"x": 1}}',
    b'{"model": "m", "features": {"x": 1}, "model_version": [1]}',
    b'{"model": "m", "features": {"x": 1}, "x": "' + b"a" * 2_000_000 + b'"}',  # oversize
]
# problems inside the features: still rejections of the same records with kafka.decode: sampled
FEATURE_DIRT: list[bytes] = [
    b'{"model": "m", "features": {"x": 1, "c": {"nested": 1}}}',
    b'{"model": "m", "features": {"x": 1, "extra": [1, 2]}}',
    b'{"model": "n", "features": 5}',
    b'{"model": "n", "features": null}',
    b'{"model": "n", "features": {"z": 1, "k": "\xff"}}',
    b'{"model": "n", "features": {"z": 1, "other": "\xed\xa0\x80"}}',
    b'{"model": "m", "features": 5, "features": {"x": 1}}',
    b'{"model": "m", "feat\\u0075res": [1], "features": {"x": 1}}',
    b'{"model": "m", "features": {"x": NaN, "y": 2}}',  # not a rejection: NaN read as missing
    b'{"model": "m", "features": {"x": 1e400}}',  # not a rejection either
    b'{"model": "m", "features": {"x": 1, "c": "{ not nested }"}}',  # not a rejection
]
# values of the wrong kind: type violations (counted among decoded records only when sampled)
VIOLATIONS: list[bytes] = [
    b'{"model": "m", "features": {"x": "text", "y": 1, "c": "a"}, "prediction": 0.5}',
    b'{"model": "m", "features": {"x": true, "y": 1, "c": "a"}, "prediction": 0.5}',
    b'{"model": "n", "features": {"z": "1", "k": "u"}}',
    b'{"model": "m", "features": {"x": 1, "c": "a"}, "prediction": {"a": 0.5}}',  # of the prediction
]


def batches(
    seed: int, count: int, size: int, dirt: list[bytes | None] | None = None
) -> list[list[FakeMessage]]:
    rng = np.random.default_rng(seed)
    out: list[list[FakeMessage]] = []
    offsets = [0, 0, 0]
    for _ in range(count):
        batch = []
        for _ in range(size):
            partition = int(rng.integers(0, 3))
            offset = offsets[partition]
            offsets[partition] += 1
            value: bytes | None
            if dirt and rng.random() < 0.15:
                value = dirt[int(rng.integers(0, len(dirt)))]
                if (
                    value is not None
                    and value.endswith(b"}")
                    and b'"timestamp"' not in value
                    and rng.random() < 0.5
                ):
                    value = value[:-1] + f', "timestamp": {NOW - 10}}}'.encode()
            else:
                value = json.dumps(clean_record(rng, offset)).encode()
            batch.append(FakeMessage(value, int(NOW * 1000) - 5000, TOPIC, partition, offset))
        out.append(batch)
    return out


def window_state(recorded: Recorded, model: str) -> tuple[pd.DataFrame, int, dict[int, float]]:
    window = recorded.daemon.windows[model]
    snapshot = window.snapshot(NOW, keys=True)
    frame = snapshot.frame.sort_values("__key").reset_index(drop=True)
    return frame, snapshot.records_seen, window.thresholds()


def assert_same(default: Recorded, sampled: Recorded, violations: bool = True) -> None:
    for model in ("m", "n"):
        frame, seen, taus = window_state(default, model)
        frame_s, seen_s, taus_s = window_state(sampled, model)
        pd.testing.assert_frame_equal(frame, frame_s)
        assert seen == seen_s
        assert taus == taus_s
        for name in ("driftwatch_records_consumed_total", "driftwatch_records_outside_window_total"):
            assert default.metric(name, model=model) == sampled.metric(name, model=model), name
        if violations:
            assert (
                default.daemon.windows[model].type_violations()
                == sampled.daemon.windows[model].type_violations()
            )
    for reason in (
        "undecodable",
        "missing_field",
        "wrong_type",
        "unknown_model",
        "bad_timestamp",
        "non_finite",
        "oversize",
        "internal_error",
    ):
        assert default.metric("driftwatch_records_rejected_total", reason=reason) == sampled.metric(
            "driftwatch_records_rejected_total", reason=reason
        ), reason
    assert sorted(default.dead) == sorted(sampled.dead)
    assert default.metric("driftwatch_labels_joined_total", model="m") == sampled.metric(
        "driftwatch_labels_joined_total", model="m"
    )
    labels = default.daemon.labels
    labels_s = sampled.daemon.labels
    assert labels is not None and labels_s is not None
    assert labels.pending_count("m") == labels_s.pending_count("m")
    assert default.daemon.ingest.versions == sampled.daemon.ingest.versions


@pytest.mark.parametrize("seed", range(6))
def test_clean_batches_give_the_same_windows_counts_and_join(pair: Any, seed: int) -> None:
    default, sampled = pair()
    for batch in batches(seed, count=12, size=80):
        default.daemon.handle(batch)
        sampled.daemon.handle(batch)
        assert_same(default, sampled)
    assert sampled.metric("driftwatch_records_consumed_total", model="m") > 300
    assert min(sampled.daemon.windows["m"].thresholds().values()) < 0.5  # the window sampled


@pytest.mark.parametrize("seed", range(6))
def test_rejections_and_dead_letters_stay_exact_on_dirty_batches(pair: Any, seed: int) -> None:
    default, sampled = pair()
    for batch in batches(100 + seed, count=10, size=80, dirt=HEAD_DIRT + list(FEATURE_DIRT)):
        default.daemon.handle(batch)
        sampled.daemon.handle(batch)
        assert_same(default, sampled)
    assert len(sampled.dead) > 30


def test_every_feature_problem_is_found_in_records_the_sample_does_not_keep(pair: Any) -> None:
    """With the window full (its threshold low), records of FEATURE_DIRT are mostly not sampled, and
    each is rejected or accepted as the default mode does."""
    default, sampled = pair(max_rows=10)
    for batch in batches(7, count=5, size=100):
        default.daemon.handle(batch)
        sampled.daemon.handle(batch)
    start = 1000
    dirty = [
        FakeMessage(
            value[:-1] + f', "timestamp": {NOW - 10}}}'.encode(), int(NOW * 1000), TOPIC, 5, start + i
        )
        for i, value in enumerate(FEATURE_DIRT * 5)
    ]
    default.daemon.handle(dirty)
    sampled.daemon.handle(dirty)
    assert_same(default, sampled)
    reasons = sorted({reason for *_, reason, _ in sampled.dead})
    assert reasons == ["undecodable", "wrong_type"]
    assert len(sampled.dead) == 5 * 8  # each of the 8 problems in 5 records


def test_type_violations_are_counted_among_the_sampled_records_only(pair: Any) -> None:
    default, sampled = pair(max_rows=20)
    for batch in batches(11, count=6, size=100):
        default.daemon.handle(batch)
        sampled.daemon.handle(batch)
    assert_same(default, sampled)
    window = sampled.daemon.windows["m"]
    before = window.type_violations()
    taus = window.thresholds()
    partition, first = 7, 0
    values = VIOLATIONS[:2] * 200
    messages = [
        FakeMessage(
            value[:-1] + f', "timestamp": {NOW - 10 - 400 * (i % 8)}}}'.encode(),
            int(NOW * 1000),
            TOPIC,
            partition,
            first + i,
        )
        for i, value in enumerate(values)
    ]
    default.daemon.handle(messages)
    sampled.daemon.handle(messages)
    # windows, counts and rejections stay equal; the violations differ as documented
    assert_same(default, sampled, violations=False)
    keys = position_keys(TOPIC, partition, np.arange(first, first + len(values)))
    stamps = np.array([NOW - 10 - 400 * (i % 8) for i in range(len(values))])
    slots = time_slots(stamps, LENGTH / BUCKETS)
    inside = inside_window(stamps, NOW, LENGTH, LENGTH / BUCKETS)
    below = keys < np.array([taus.get(int(slot), 1.0) for slot in slots])
    decoded = int(np.count_nonzero(inside & below))
    assert 0 < decoded < len(values) // 4  # most of them were not decoded
    after = window.type_violations()
    assert after["x"] - before["x"] == decoded  # one violation of x per decoded record
    expected = default.daemon.windows["m"].type_violations()
    assert expected["x"] - before["x"] == len(values)  # the default counts every record
    assert sampled.metric("driftwatch_feature_type_violations_total", model="m", feature="x") == after["x"]


def test_scaled_out_readers_forward_only_decoded_rows(pair: Any) -> None:
    """A reader's forwarder sends as rows only the records it decoded, even when the thresholds it
    decided with were replaced (by the owner's publication) before the partial was cut."""
    from driftwatch.stream.partials import Admission

    admission = Admission(LENGTH, LENGTH / BUCKETS)
    stamps = np.full(6, NOW - 10)
    keys = np.array([0.1, 0.2, 0.3, 0.6, 0.7, 0.9])
    admission.update({int(time_slots(stamps, LENGTH / BUCKETS)[0]): 0.5})
    decoded = admission.decide(NOW, stamps, keys).forwarded
    admission.update({})  # a publication without the slot: every record would be forwarded
    columns = [np.where(decoded, 1.0, np.nan)]
    partial, outside = admission.partial(
        "m", TOPIC, 0, 0, 5, NOW, stamps, keys, np.arange(6), columns, None, decoded
    )
    assert outside == 0 and partial.admitted == 6 and partial.forwarded == 3
    assert np.isfinite(partial.row_columns()[0]).all()


def test_until_a_window_samples_every_record_is_decoded(pair: Any) -> None:
    """While no window keeps only a sample (every threshold 1), a batch is decoded as with ``all``:
    its type violations are all counted."""
    default, sampled = pair(max_rows=10_000)
    messages = [
        FakeMessage(value[:-1] + f', "timestamp": {NOW - 10}}}'.encode(), int(NOW * 1000), TOPIC, 0, i)
        for i, value in enumerate(VIOLATIONS * 20)
    ]
    default.daemon.handle(messages)
    sampled.daemon.handle(messages)
    assert_same(default, sampled)
    assert sampled.daemon.windows["m"].type_violations()["x"] == 40


def test_heads_of_a_one_model_batch_with_a_rejection_keep_their_payloads() -> None:
    from driftwatch.stream.records import RecordDecoder

    decoder = RecordDecoder({"m"})
    payloads = [
        b'{"model": "m", "features": {"x": 1}, "timestamp": 10}',
        b'{"model": "m", "features": {"x": 2}, "timestamp": "yesterday"}',
        b'{"model": "m", "features": {"x": 3}}',
    ]
    (heads,), rejected = decoder.decode_heads(payloads, [1.0, 2.0, 3.0])
    assert [(index, rejection.reason) for index, rejection in rejected] == [(1, "bad_timestamp")]
    assert heads.positions == [0, 2]
    assert heads.payloads == [payloads[0], payloads[2]]
    assert heads.fallback_timestamps == [1.0, 3.0]
    assert heads.timestamps.tolist() == [10.0, 3.0]


def test_kafka_decode_is_all_unless_set_and_names_its_choices(tmp_path: Path) -> None:
    from driftwatch.config import ConfigError

    path = write_config(tmp_path, "all")
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace(", decode: all", ""), encoding="utf-8")
    assert load_settings(path).kafka.decode == "all"
    path.write_text(text.replace("decode: all", "decode: some"), encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"kafka\.decode: Input should be 'all' or 'sampled' \(got 'some'\)"
    ):
        load_settings(path)


class _Producer:
    """The internal topic a forwarder sends to: the messages it got, in order."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []

    def send(self, topic: str, partition: int, key: bytes, value: bytes) -> None:
        self.sent.append(value)

    def flush(self, topic: str) -> None:
        pass


def test_scaled_out_readers_send_what_they_send_decoding_everything(pair: Any) -> None:
    """A reader's partials (counts, rows and their values) and the label join's rows are the same with
    ``sampled`` as with ``all``, given the same published thresholds; most records are not decoded."""
    from types import SimpleNamespace

    from driftwatch.service.owner import Forwarder
    from driftwatch.stream.partials import decode_message

    default, sampled = pair()
    slots = range(int((NOW - 2 * LENGTH) // (LENGTH / BUCKETS)), int((NOW + LENGTH) // (LENGTH / BUCKETS)))
    producers = []
    for recorded in (default, sampled):
        producer = _Producer()
        daemon = recorded.daemon
        forwarder = Forwarder(daemon.windows, SimpleNamespace(samples="s"), 4, producer, daemon.metrics)  # type: ignore[arg-type]
        for admission in forwarder.admissions.values():
            admission.update(dict.fromkeys(slots, 0.2))
        daemon.ingest.forward = forwarder
        producers.append(producer)
    decided = [0, 0]
    original = producers and sampled.daemon.ingest.forward
    assert original is not None

    def counting(*args: Any) -> Any:
        wanted = Forwarder.sampled(original, *args)  # type: ignore[arg-type]
        decided[0] += len(wanted)
        decided[1] += int(np.count_nonzero(wanted))
        return wanted

    original.sampled = counting  # type: ignore[method-assign]
    for batch in batches(21, count=8, size=100, dirt=HEAD_DIRT + list(FEATURE_DIRT)):
        default.daemon.handle(batch)
        sampled.daemon.handle(batch)
    messages = [[decode_message(value) for value in producer.sent] for producer in producers]
    assert len(messages[0]) > 20
    assert messages[0] == messages[1]
    kinds = {type(message).__name__ for message in messages[1]}
    assert kinds == {"Partial", "JoinRows"}
    assert sum(m.forwarded for m in messages[1] if isinstance(m, Partial)) > 50  # rows with values
    assert sorted(default.dead) == sorted(sampled.dead)
    assert 0 < decided[1] < decided[0] / 3  # most records' features were not decoded
