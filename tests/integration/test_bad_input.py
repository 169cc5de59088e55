"""Hostile input end to end: the daemon keeps every valid record and dead-letters every invalid one.

Hypothesis generates payloads (random bytes, JSON of the wrong types, huge
strings, deep nesting, NaN/Infinity/1e400 tokens, missing and extra fields,
invalid UTF-8, lone surrogate escapes, empty messages and tombstones), which
are mixed with valid demo records and produced to a fresh topic of the real
broker. A daemon consumes them with a dead-letter topic configured and runs a
check every second. The oracle is `RecordDecoder` (tested on its own in
test_records.py): each model's window holds exactly the records it accepts,
the rejections are counted by its reasons, and the dead-letter topic holds
exactly the rejected payloads, byte for byte, with their reason and origin.

The second test points the dead letters at a topic that cannot be written: the
records are still counted and windowed, every dead letter is accounted for as
failed or skipped, and consumption does not wait on the dead-letter topic.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import hypothesis
import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer, TopicPartition

from driftwatch.cli.demo import FEATURES, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.state.store import Store
from driftwatch.stream.records import REASONS, Prediction, RecordDecoder
from tests.clients import CLIENTS, use_client
from tests.kafkautil import committed, get, metric_by, read_topic, scrape, update_config, wait_for

pytestmark = pytest.mark.broker

MODELS: Final = ("credit-risk", "churn")
VALID_PER_MODEL: Final = 150
PARTITIONS: Final = 2
WINDOW: Final = 3600.0
KNOWN_FIELDS: Final = {
    "model",
    "features",
    "model_version",
    "prediction_id",
    "timestamp",
    "prediction",
    "label",
}

# strategies -------------------------------------------------------------------------------------

ABSENT: Final = object()  # a field left out of a generated record

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)  # beyond 64 bits too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=5,
)
NOT_OBJECT = SCALARS | st.lists(JSON, max_size=3)
NOT_STRING = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.lists(JSON, max_size=2)
    | st.dictionaries(st.text(max_size=4), JSON, max_size=2)
)
MODEL_NAMES = st.sampled_from(MODELS)
FEATURE_NAMES = st.sampled_from(sorted({*FEATURES["credit-risk"], *FEATURES["churn"]}))
CATEGORICAL = {"credit-risk": "country", "churn": "plan"}
FEATURE_MAPS = st.dictionaries(FEATURE_NAMES | st.text(max_size=6), SCALARS | JSON, max_size=5)
# never a parseable time: a valid record then takes the Kafka timestamp and falls in the window
TIMESTAMPS = (
    st.sampled_from(["nope", "2026-13-45T00:00:00Z", "", "yesterday", "12:00"])
    | st.booleans()
    | st.lists(SCALARS, max_size=2)
)
NON_FINITE = ["NaN", "Infinity", "-Infinity", "1e400", "-1e999", "1" + "0" * 400]
BAD_UTF8 = [
    b"\xff",
    b"\xfe\xff",
    b"\xc3\x28",
    b"\xa0\xa1",
    b"\xe2\x28\xa1",
    b"\xed\xa0\x80",
    b"\xc0\xaf",
    b"\x80",
]
LONE_SURROGATES = [r"\ud800", r"\udfff", r"\udc00\ud800", r"x\ud83d"]


def _dumps(value: object, ascii_only: bool = True) -> bytes:
    return json.dumps(value, ensure_ascii=ascii_only).encode()


def _record(fields: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if value is not ABSENT}


MAYBE: Final = st.just(ABSENT)
# a JSON object shaped like a record: each field present or not, of the right type or not
RECORD_LIKE = st.builds(
    lambda fields, extra, ascii_only: _dumps(_record(fields) | extra, ascii_only),
    st.fixed_dictionaries(
        {
            "model": st.one_of(
                MODEL_NAMES, MODEL_NAMES, st.sampled_from(["nope", "", "CHURN"]), NOT_STRING, MAYBE
            ),
            "features": st.one_of(FEATURE_MAPS, FEATURE_MAPS, NOT_OBJECT, MAYBE),
            "prediction": st.one_of(
                MAYBE,
                st.floats(0, 1),
                SCALARS,
                st.dictionaries(
                    st.text(max_size=4), st.floats(allow_nan=False, allow_infinity=False), max_size=3
                ),
                st.lists(SCALARS, max_size=2),
            ),
            "model_version": st.one_of(MAYBE, st.text(max_size=4), st.integers(), NOT_STRING),
            "prediction_id": st.one_of(MAYBE, st.text(max_size=8), NOT_STRING),
            "timestamp": st.one_of(MAYBE, MAYBE, TIMESTAMPS),
            "label": st.one_of(MAYBE, SCALARS, JSON),
        }
    ),
    st.dictionaries(st.text(max_size=8).filter(lambda k: k not in KNOWN_FIELDS), JSON, max_size=3),
    st.booleans(),
)


@st.composite
def non_finite(draw: st.DrawFn) -> bytes:
    """NaN, Infinity and numbers beyond float range as Python's json.dumps (and others) write them."""
    token = draw(st.sampled_from(NON_FINITE))
    feature = draw(FEATURE_NAMES)
    parts = {"model": json.dumps(draw(MODEL_NAMES)), "features": "{" + f'"{feature}": 1' + "}"}
    where = draw(st.sampled_from(["feature", "prediction", "probability", "timestamp", "extra"]))
    if where == "feature":
        parts["features"] = "{" + f'"{feature}": {token}' + "}"
    elif where == "prediction":
        parts["prediction"] = token
    elif where == "probability":
        parts["prediction"] = "{" + f'"yes": {token}, "no": 0.5' + "}"
    elif where == "timestamp":
        parts["timestamp"] = token
    else:
        parts["debug"] = token
    return ("{" + ", ".join(f'"{name}": {value}' for name, value in parts.items()) + "}").encode()


@st.composite
def huge(draw: st.DrawFn) -> bytes:
    """A string of 150-260 thousand characters in some field (escaped, some exceed the 1 MiB limit)."""
    text = draw(st.sampled_from("xé€𝄞")) * draw(st.integers(150_000, 260_000))
    model = draw(MODEL_NAMES)
    where = draw(st.sampled_from(["category", "numeric", "model", "extra", "version", "feature name"]))
    record: dict[str, Any] = {"model": model, "features": {}}
    if where == "category":
        record["features"][CATEGORICAL[model]] = text
    elif where == "numeric":
        record["features"][FEATURES[model][0]] = text
    elif where == "model":
        record["model"] = text
    elif where == "extra":
        record["blob"] = text
    elif where == "version":
        record["model_version"] = text
    else:
        record["features"][text] = 1
    return _dumps(record, ascii_only=draw(st.booleans()))


def _nested(kind: str, depth: int) -> bytes:
    if kind == "array":
        return b"[" * depth + b"]" * depth
    return b'{"a": ' * depth + b"1" + b"}" * depth


@st.composite
def deep(draw: st.DrawFn) -> bytes:
    """Arrays or objects nested 500 to 20000 levels deep, somewhere in the message."""
    nested = _nested(draw(st.sampled_from(["array", "object"])), draw(st.integers(500, 20_000)))
    # a NaN token elsewhere sends the message through the decoder's lenient fallback parser
    nan = b', "nan": NaN' if draw(st.booleans()) else b""
    model = json.dumps(draw(MODEL_NAMES)).encode()
    where = draw(st.sampled_from(["top", "features", "feature", "extra", "prediction"]))
    if where == "top":
        return nested
    if where == "features":
        return b'{"model": ' + model + b', "features": ' + nested + nan + b"}"
    if where == "feature":
        return b'{"model": ' + model + b', "features": {"age": ' + nested + b"}" + nan + b"}"
    if where == "extra":
        return b'{"model": ' + model + b', "features": {}, "trace": ' + nested + nan + b"}"
    return b'{"model": ' + model + b', "features": {}, "prediction": ' + nested + nan + b"}"


@st.composite
def invalid_utf8(draw: st.DrawFn) -> bytes:
    bad = draw(st.text(alphabet="ab", max_size=2)).encode() + draw(st.sampled_from(BAD_UTF8))
    nan = b', "nan": NaN' if draw(st.booleans()) else b""
    where = draw(st.sampled_from(["bare", "model", "category", "key", "extra", "version"]))
    if where == "bare":
        return bad
    if where == "model":
        return b'{"model": "' + bad + b'", "features": {}' + nan + b"}"
    if where == "category":
        return b'{"model": "churn", "features": {"plan": "' + bad + b'"}' + nan + b"}"
    if where == "key":
        return b'{"model": "churn", "features": {"' + bad + b'": 1}' + nan + b"}"
    if where == "extra":
        return b'{"model": "credit-risk", "features": {}, "note": "' + bad + b'"' + nan + b"}"
    return b'{"model": "credit-risk", "features": {}, "model_version": "' + bad + b'"' + nan + b"}"


@st.composite
def lone_surrogate(draw: st.DrawFn) -> bytes:
    """JSON escapes of unpaired UTF-16 surrogates: well-formed JSON text, but not Unicode."""
    escape = draw(st.sampled_from(LONE_SURROGATES)).encode()
    nan = b', "nan": NaN' if draw(st.booleans()) else b""
    model = draw(MODEL_NAMES)
    where = draw(st.sampled_from(["category", "model", "version", "extra"]))
    if where == "category":
        features = b'{"' + CATEGORICAL[model].encode() + b'": "' + escape + b'"}'
        return b'{"model": "' + model.encode() + b'", "features": ' + features + nan + b"}"
    if where == "model":
        return b'{"model": "' + escape + b'", "features": {}' + nan + b"}"
    if where == "version":
        return (
            b'{"model": "'
            + model.encode()
            + b'", "features": {}, "model_version": "'
            + escape
            + b'"'
            + nan
            + b"}"
        )
    return b'{"model": "' + model.encode() + b'", "features": {}, "note": "' + escape + b'"' + nan + b"}"


# (kind, strategy, how many payloads of that kind to draw)
KINDS: Final = (
    ("random bytes", st.binary(max_size=80), 30),
    ("JSON, not an object", NOT_OBJECT.map(_dumps), 30),
    ("record-like objects", RECORD_LIKE, 150),
    ("NaN, Infinity, 1e400", non_finite(), 30),
    ("huge strings", huge(), 4),
    ("deep nesting", deep(), 6),
    ("invalid UTF-8", invalid_utf8(), 15),
    ("lone surrogates", lone_surrogate(), 8),
    ("empty, tombstone", st.sampled_from([b"", None]), 2),
)


def draw_payloads(seed: int) -> list[bytes | None]:
    """Payloads of every kind in KINDS, drawn by Hypothesis (one test case per payload: a few hundred
    cases of one payload each stay far below Hypothesis' size limit for a single case)."""
    drawn: list[bytes | None] = []
    for _, strategy, count in KINDS:

        @hypothesis.seed(seed)
        @settings(
            max_examples=count,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(strategy)
        def gather(payload: bytes | None) -> None:
            drawn.append(payload)

        gather()
    return drawn


def must_haves() -> list[bytes | None]:
    """One of each kind, whatever Hypothesis draws."""
    big = "y" * 200_000
    return [
        None,  # a tombstone
        b"",
        b"[]",
        b"null",
        b"42",
        b'"predictions"',
        b"true",
        _nested("array", 500),
        _nested("object", 500),
        _nested("array", 10_000),
        _nested("object", 10_000),
        b'{"model": "churn", "features": ' + _nested("object", 10_000) + b"}",
        b'{"model": "churn", "features": {}, "trace": ' + _nested("array", 10_000) + b', "nan": NaN}',
        _dumps({"model": "churn", "features": {"plan": big}}),
        _dumps({"model": big, "features": {}}),
        _dumps({"model": "credit-risk", "features": {"country": "DE"}, "blob": big}),
        b'{"model": "credit-risk", "features": {"age": NaN, "income": Infinity}, "prediction": 0.5}',
        b'{"model": "credit-risk", "features": {"age": 1e400, "income": -1e400}, "prediction": 0.5}',
        b'{"model": "churn", "features": {}, "prediction": NaN}',
        b'{"model": "churn", "features": {}, "prediction": -Infinity}',
        b'{"model": "churn", "features": {}, "prediction": 1e400}',
        b'{"model": "churn", "features": {}, "prediction": {"yes": NaN, "no": 0.5}}',
        b'{"features": {"plan": "pro"}}',
        b'{"model": "churn"}',
        b'{"model": 7, "features": {}}',
        b'{"model": null, "features": {}}',
        b'{"model": "churn", "features": ["pro"]}',
        b'{"model": "churn", "features": "pro"}',
        b'{"model": "churn", "features": {"plan": {"tier": "pro"}}}',
        b'{"model": "churn", "features": {"plan": "pro"}, "unknown": {"nested": [1, 2]}, "x": null}',
        b'{"model": "churn", "features": {"plan": "\xff\xfe"}}',
        b'{"model": "nope", "features": {}}',
        b'{"model": "churn", "features": {}, "timestamp": "not a time"}',
        _dumps({"model": "churn", "features": {"plan": "z" * 1_100_000}}),  # above the 1 MiB limit
    ]


# Lone surrogates in a categorical feature: the strict parser refuses them, but a NaN elsewhere in the
# message sends it through the lenient one, which accepts them.
SURROGATE_PAYLOADS: Final = [
    rb'{"model": "churn", "features": {"plan": "\ud800"}, "nan": NaN}',
    rb'{"model": "credit-risk", "features": {"country": "\udc00"}}',
    rb'{"model": "credit-risk", "features": {"country": "\udc00", "age": NaN}}',
]


# the run ----------------------------------------------------------------------------------------


@dataclass
class Sent:
    payload: bytes | None
    partition: int
    offset: int
    reason: str | None  # the oracle's rejection reason; None for a valid record
    model: str | None  # the model of a valid record


def classify(payloads: list[bytes | None], now: float) -> list[tuple[str | None, str | None]]:
    """(reason, model) of each payload according to the decoder, configured like the daemon."""
    decoder = RecordDecoder(set(MODELS))
    out: list[tuple[str | None, str | None]] = []
    for payload in payloads:
        outcome = decoder.decode(payload, now)
        if isinstance(outcome, Prediction):
            # the generators never make a record the window would drop; check the test's own premise
            assert outcome.timestamp > now - WINDOW + 600, (
                f"a generated record is outside the window: {outcome}"
            )
            out.append((None, outcome.model))
        else:
            assert outcome.reason in REASONS
            out.append((outcome.reason, None))
    return out


def produce(bootstrap: str, topic: str, payloads: list[bytes | None]) -> list[tuple[int, int]]:
    """Produce each payload (a None value is a tombstone); return (partition, offset) of each."""
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, max_request_size=4 * 1024 * 1024, linger_ms=5, batch_size=512 * 1024
    )
    try:
        futures = [
            producer.send(topic, key=b"key-%d" % i, value=payload, partition=i % PARTITIONS)
            for i, payload in enumerate(payloads)
        ]
        producer.flush(30)
        metadata = [future.get(10) for future in futures]
    finally:
        producer.close(5)
    return [(m.partition, m.offset) for m in metadata]


def configure(
    directory: Path, bootstrap: str, topic: str, dead_letter_topic: str, port: int, group: str, client: str
) -> Path:
    config = write_demo_config(
        directory, bootstrap, topic, port, "http://127.0.0.1:9/unused", every="1s", window="1h"
    )

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["dead_letter_topic"] = dead_letter_topic
        raw["kafka"]["group_id"] = group
        raw.pop("webhooks")
        for model in raw["models"].values():
            model["webhooks"] = []
            model["window"]["max_rows"] = 100_000  # above the total: the window keeps every record

    update_config(config, change)
    return use_client(config, client)


@contextmanager
def running(config: Path) -> Iterator[Daemon]:
    daemon = Daemon(load_settings(config))
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.stop()


def windowed(daemon: Daemon, expected: dict[str, int]) -> bool:
    return all(daemon.windows[model].rows() == rows for model, rows in expected.items())


def windowed_and_checked(daemon: Daemon, expected: dict[str, int]) -> bool:
    results = daemon.results()
    return windowed(daemon, expected) and all(
        (results[model]["latest"] or {}).get("rows") == rows for model, rows in expected.items()
    )


def check_runs(port: int) -> dict[str, float]:
    """Scheduled data drift checks run so far per model, whatever their outcome."""
    runs = dict.fromkeys(MODELS, 0.0)
    for (name, labels), value in scrape(port).items():
        if name == "driftwatch_check_runs_total" and ("check", "data_drift") in labels:
            runs[dict(labels)["model"]] += value
    return runs


def problems_logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Errors from driftwatch, and any record carrying an exception, from any logger."""
    return [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.exc_info or (r.levelno >= logging.ERROR and r.name.startswith("driftwatch"))
    ]


def valid_records(rng: np.random.Generator, now: float) -> list[bytes | None]:
    return [value for model in MODELS for value in make_records(model, rng, VALID_PER_MODEL, False, now)]


@CLIENTS
def test_every_valid_record_is_windowed_and_every_invalid_one_dead_lettered(
    broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    caplog.set_level(logging.WARNING)
    # a new draw each run; DRIFTWATCH_BAD_INPUT_SEED=<seed> draws a failing run's payloads again
    seed = int(os.environ.get("DRIFTWATCH_BAD_INPUT_SEED") or random.randrange(2**32))
    print(f"payloads drawn with DRIFTWATCH_BAD_INPUT_SEED={seed}")
    now = time.time()
    payloads = (
        must_haves()
        + SURROGATE_PAYLOADS
        + draw_payloads(seed)
        + valid_records(np.random.default_rng(seed), now)
    )
    random.Random(seed).shuffle(payloads)
    verdicts = classify(payloads, now)
    suffix = uuid.uuid4().hex[:8]
    topic, dead = f"bad-input-{suffix}", f"bad-input-{suffix}.dead-letter"
    broker.create_topic(topic, partitions=PARTITIONS)
    broker.create_topic(dead, partitions=1)
    positions = produce(broker.bootstrap, topic, payloads)
    sent = [
        Sent(payload, partition, offset, reason, model)
        for payload, (partition, offset), (reason, model) in zip(payloads, positions, verdicts, strict=True)
    ]
    invalid = [s for s in sent if s.reason is not None]
    expected_rows = {model: sum(s.model == model for s in sent) for model in MODELS}
    expected_reasons = Counter(s.reason for s in invalid)
    assert invalid and all(expected_rows.values())

    port = free_port()
    group = f"bad-input-{suffix}"
    config = configure(tmp_path, broker.bootstrap, topic, dead, port, group, client)
    with running(config) as daemon:
        wait_for(
            lambda: windowed(daemon, expected_rows),
            60,
            lambda: f"windows of {expected_rows} (now {[w.rows() for w in daemon.windows.values()]})",
        )
        runs = check_runs(port)

        def dead_letters() -> dict[str, float]:
            return metric_by(scrape(port), "driftwatch_dead_letters_total", "outcome")

        wait_for(
            lambda: dead_letters().get("produced") == len(invalid),
            20,
            lambda: f"{len(invalid)} dead letters produced (now {dead_letters()})",
        )
        # the second check to start after the records were windowed ran over all of them
        wait_for(
            lambda: all(check_runs(port)[m] >= runs[m] + 2 for m in MODELS),
            20,
            "two more checks of each model",
        )
        assert daemon._consumer_thread.is_alive(), "the consumer thread died"
        assert daemon.scheduler.running, "the scheduler stopped"
        assert get(port, "/healthz")[0] == 200
        assert get(port, "/readyz")[0] == 200
        samples = scrape(port)
        results = daemon.results()
    checkpointed = Store(tmp_path / "state.sqlite").offsets(group)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    group_committed = committed(broker.bootstrap, group, tps)
    dead_letter_records = read_topic(broker.bootstrap, dead, 1, len(invalid))
    source_records = read_topic(broker.bootstrap, topic, PARTITIONS, len(sent))
    ends = {p: 1 + max(s.offset for s in sent if s.partition == p) for p in range(PARTITIONS)}

    # every valid record is in its model's window, counted once
    assert metric_by(samples, "driftwatch_window_rows", "model") == expected_rows
    assert metric_by(samples, "driftwatch_records_consumed_total", "model") == expected_rows
    assert not any(metric_by(samples, "driftwatch_records_outside_window_total", "model").values())
    # every invalid record is counted under the decoder's reason
    rejected = metric_by(samples, "driftwatch_records_rejected_total", "reason")
    assert {reason: count for reason, count in rejected.items() if count} == expected_reasons
    assert metric_by(samples, "driftwatch_dead_letters_total", "outcome") == {
        "produced": len(invalid),
        "failed": 0.0,
        "skipped": 0.0,
    }
    # the checks ran over these windows
    failed_checks = {
        dict(labels)["model"]: v
        for (n, labels), v in samples.items()
        if n == "driftwatch_check_runs_total" and ("outcome", "error") in labels and v
    }
    assert not failed_checks, f"checks failed: {failed_checks}"
    assert {m: results[m]["latest"]["rows"] for m in MODELS} == expected_rows
    # everything read, bad records included, was checkpointed and committed
    assert checkpointed == {(topic, p): end for p, end in ends.items()}
    assert group_committed == ends

    # the dead-letter topic holds exactly the invalid payloads, unchanged, with reason and origin
    source = {(r.partition, r.offset): r for r in source_records}
    assert len(source) == len(sent) and all(source[(s.partition, s.offset)].value == s.payload for s in sent)
    expected_letters = {(topic, s.partition, s.offset): s for s in invalid}
    letters: dict[tuple[str, int, int], Any] = {}
    for record in dead_letter_records:
        headers = dict(record.headers)
        origin = (
            headers["driftwatch-topic"].decode(),
            int(headers["driftwatch-partition"]),
            int(headers["driftwatch-offset"]),
        )
        assert origin not in letters, f"{origin} was dead-lettered twice"
        letters[origin] = record
    assert len(dead_letter_records) == len(invalid)
    assert set(letters) == set(expected_letters)
    wrong_value = [o for o, r in letters.items() if r.value != expected_letters[o].payload]
    assert not wrong_value, f"dead letters differing from what was read at {wrong_value[:5]}"
    wrong_origin = [o for o, r in letters.items() if source[o[1:]].value != r.value]
    assert not wrong_origin, f"dead letters not pointing at their record: {wrong_origin[:5]}"
    wrong_reason = {
        o: (dict(r.headers)["driftwatch-reason"].decode(), expected_letters[o].reason)
        for o, r in letters.items()
        if dict(r.headers)["driftwatch-reason"].decode() != expected_letters[o].reason
    }
    assert not wrong_reason, f"(dead letter reason, decoder reason): {wrong_reason}"
    assert all(r.key == source[o[1:]].key for o, r in letters.items())
    assert all(0 < len(dict(r.headers)["driftwatch-detail"]) <= 1000 for r in letters.values())

    assert not problems_logged(caplog)


@CLIENTS
def test_an_unwritable_dead_letter_topic_does_not_stop_or_slow_consumption(
    broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture, client: str
) -> None:
    caplog.set_level(logging.WARNING)
    now = time.time()
    payloads = must_haves() + valid_records(np.random.default_rng(3), now)
    random.Random(3).shuffle(payloads)
    verdicts = classify(payloads, now)
    invalid = [reason for reason, _ in verdicts if reason is not None]
    expected_rows = {model: sum(m == model for _, m in verdicts) for model in MODELS}
    suffix = uuid.uuid4().hex[:8]
    topic = f"bad-input-{suffix}"
    broker.create_topic(topic, partitions=PARTITIONS)
    produce(broker.bootstrap, topic, payloads)
    port = free_port()
    # a name Kafka does not allow: the client refuses to produce there (Tansu creates any legal
    # topic on first use, so a missing topic is no failure)
    config = configure(tmp_path, broker.bootstrap, topic, "bad topic!", port, f"bad-input-{suffix}", client)
    with running(config) as daemon:
        started = time.monotonic()
        wait_for(
            lambda: daemon.source.connected,
            20,
            "the consumer to reach the broker",
        )
        wait_for(
            lambda: all(daemon.windows[m].rows() == rows for m, rows in expected_rows.items()),
            20,
            lambda: f"windows of {expected_rows} (now {daemon.results()})",
        )
        # the group join takes ~3 s; with a dead letter costing a timeout per record it would take minutes
        elapsed = time.monotonic() - started
        wait_for(
            lambda: windowed_and_checked(daemon, expected_rows),
            20,
            lambda: f"a check over {expected_rows} (now {daemon.results()})",
        )
        samples = scrape(port)
        assert daemon._consumer_thread.is_alive()
        assert get(port, "/readyz")[0] == 200

    assert elapsed < 15, f"consuming {len(payloads)} records took {elapsed:.1f}s"
    assert metric_by(samples, "driftwatch_window_rows", "model") == expected_rows
    assert metric_by(samples, "driftwatch_records_consumed_total", "model") == expected_rows
    rejected = metric_by(samples, "driftwatch_records_rejected_total", "reason")
    assert {reason: count for reason, count in rejected.items() if count} == Counter(invalid)
    outcomes = metric_by(samples, "driftwatch_dead_letters_total", "outcome")
    assert outcomes["produced"] == 0
    assert outcomes["failed"] >= 1
    assert outcomes["failed"] + outcomes["skipped"] == len(invalid), outcomes
    # one warning for the outage, not one per record
    warnings = [r for r in caplog.records if r.name == "driftwatch.source.deadletter"]
    assert len(warnings) == 1 and "bad topic!" in warnings[0].getMessage()
    assert not problems_logged(caplog)
