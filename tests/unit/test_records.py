"""The prediction record contract: every message becomes a Prediction or a Rejection, never an exception."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftwatch.stream.records import REASONS, Prediction, RecordDecoder, Rejection

MODELS = {"credit-risk", "churn"}
FALLBACK = 1_750_000_000.0


def encode(record: Any) -> bytes:
    return json.dumps(record).encode()


def decode(payload: bytes | None, max_bytes: int = 1_048_576) -> Prediction | Rejection:
    return RecordDecoder(MODELS, max_bytes=max_bytes).decode(payload, FALLBACK)


def accepted(record: Any) -> Prediction:
    outcome = decode(encode(record))
    assert isinstance(outcome, Prediction), outcome
    return outcome


def rejected(payload: bytes | None, reason: str, max_bytes: int = 1_048_576) -> Rejection:
    outcome = decode(payload, max_bytes)
    assert isinstance(outcome, Rejection), outcome
    assert outcome.reason == reason, outcome
    assert outcome.reason in REASONS
    assert len(outcome.detail) <= 210  # details are clipped for logs
    return outcome


def record(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"model": "credit-risk", "features": {"age": 42}}
    base.update(overrides)
    return base


def test_full_record() -> None:
    prediction = accepted(
        {
            "model": "credit-risk",
            "model_version": 7,
            "prediction_id": "a1b2",
            "timestamp": "2026-11-27T03:00:00Z",
            "features": {"age": 42, "income": 5100.5, "country": "DE", "vip": True, "note": None},
            "prediction": 0.83,
            "label": None,
        }
    )
    assert prediction.model == "credit-risk"
    assert prediction.model_version == "7"  # versions and ids are text whatever the producer sent
    assert prediction.prediction_id == "a1b2"
    assert prediction.timestamp == datetime(2026, 11, 27, 3, tzinfo=UTC).timestamp()
    assert prediction.features == {"age": 42, "income": 5100.5, "country": "DE", "vip": True, "note": None}
    assert prediction.prediction == 0.83
    assert prediction.label is None


def test_optional_fields_default_and_numeric_ids_become_text() -> None:
    prediction = accepted(record(prediction_id=12345))
    assert prediction.prediction_id == "12345"
    assert prediction.model_version is None
    assert prediction.prediction is None
    assert prediction.label is None


def test_class_probabilities_and_labels() -> None:
    prediction = accepted(record(prediction={"yes": 0.2, "no": 0.8}, label="yes"))
    assert prediction.prediction == {"yes": 0.2, "no": 0.8}
    assert prediction.label == "yes"


def test_extra_fields_are_ignored() -> None:
    prediction = accepted(record(trace_id="xyz", extra={"nested": [1, 2, {"deep": None}]}, schema=3))
    assert prediction.features == {"age": 42}


_NOON = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("timestamp", "expected"),
    [
        ("2026-03-01T12:00:00Z", _NOON),
        ("2026-03-01T12:00:00.250Z", _NOON + 0.25),
        ("2026-03-01T14:00:00+02:00", _NOON),
        ("2026-03-01T07:00:00-05:00", _NOON),
        ("2026-03-01T12:00:00", _NOON),  # naive means UTC
        ("2026-03-01 12:00:00", _NOON),
        (int(_NOON), _NOON),  # epoch seconds
        (_NOON + 0.5, _NOON + 0.5),
        (int(_NOON) * 1000 + 250, _NOON + 0.25),  # epoch milliseconds
    ],
)
def test_timestamps(timestamp: str | float, expected: float) -> None:
    assert accepted(record(timestamp=timestamp)).timestamp == pytest.approx(expected, abs=1e-6)


def test_timestamp_offset_is_honoured_not_dropped() -> None:
    local = datetime(2026, 3, 1, 12, tzinfo=timezone(timedelta(hours=9)))
    assert accepted(record(timestamp=local.isoformat())).timestamp == local.timestamp()
    assert accepted(record(timestamp=local.isoformat())).timestamp == _NOON - 9 * 3600


@pytest.mark.parametrize("record_", [record(), record(timestamp=None)])
def test_absent_timestamp_falls_back_to_the_kafka_timestamp(record_: dict[str, Any]) -> None:
    assert accepted(record_).timestamp == FALLBACK


# rejections ------------------------------------------------------------------------------------


def test_tombstone_is_undecodable() -> None:
    rejected(None, "undecodable")


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe\x00garbage", b"", b"{not json", b'{"model": "credit-risk", "features": {}', b"\x80" * 10],
)
def test_not_json_is_undecodable(payload: bytes) -> None:
    rejected(payload, "undecodable")


@pytest.mark.parametrize("payload", [b"[1, 2, 3]", b'"a string"', b"42", b"null", b"true"])
def test_json_that_is_not_an_object_is_undecodable(payload: bytes) -> None:
    rejected(payload, "undecodable")


def test_missing_model() -> None:
    assert "model" in rejected(encode({"features": {"age": 1}}), "missing_field").detail


def test_missing_features() -> None:
    assert "features" in rejected(encode({"model": "credit-risk"}), "missing_field").detail


@pytest.mark.parametrize("features", [[1, 2], "age=42", 42, None])
def test_features_not_an_object(features: object) -> None:
    rejected(encode(record(features=features)), "wrong_type")


@pytest.mark.parametrize("value", [{"nested": 1}, [1, 2]])
def test_nested_feature_value_is_wrong_type(value: object) -> None:
    rejected(encode(record(features={"age": 42, "address": value})), "wrong_type")


@pytest.mark.parametrize(
    "overrides",
    [{"model": 7}, {"model": None}, {"timestamp": True}, {"timestamp": [2026]}, {"label": {"a": 1}}],
)
def test_fields_of_the_wrong_json_type(overrides: dict[str, Any]) -> None:
    rejected(encode(record(**overrides)), "wrong_type")


def test_unknown_model() -> None:
    detail = rejected(encode(record(model="fraud")), "unknown_model").detail
    assert "fraud" in detail


@pytest.mark.parametrize("timestamp", ["yesterday", "2026-13-01T00:00:00Z", "27/11/2026", ""])
def test_bad_timestamp(timestamp: str) -> None:
    rejected(encode(record(timestamp=timestamp)), "bad_timestamp")


@pytest.mark.parametrize(
    "payload",
    [
        b'{"model": "credit-risk", "features": {}, "prediction": 1e999}',
        b'{"model": "credit-risk", "features": {}, "prediction": -1e999}',
        b'{"model": "credit-risk", "features": {}, "prediction": {"yes": 1e999, "no": 0.0}}',
    ],
)
def test_infinite_prediction_is_non_finite(payload: bytes) -> None:
    rejected(payload, "non_finite")


def test_nan_prediction_as_python_json_writes_it_is_non_finite() -> None:
    payload = json.dumps(record(prediction=float("nan"))).encode()
    assert b"NaN" in payload
    rejected(payload, "non_finite")


def test_nan_prediction_is_rejected() -> None:
    outcome = decode(json.dumps(record(prediction=float("nan"))).encode())
    assert isinstance(outcome, Rejection)
    assert outcome.reason in {"non_finite", "undecodable"}


def test_oversize() -> None:
    payload = encode(record(features={"blob": "x" * 500}))
    detail = rejected(payload, "oversize", max_bytes=100).detail
    assert str(len(payload)) in detail
    assert isinstance(RecordDecoder(MODELS, max_bytes=len(payload)).decode(payload, FALLBACK), Prediction)


def test_every_reason_is_reachable() -> None:
    """The reason set is closed and each one is produced by some input (they are metric labels)."""
    samples = {
        "undecodable": b"\xff",
        "missing_field": encode({"model": "churn"}),
        "wrong_type": encode(record(features=[1])),
        "unknown_model": encode(record(model="nope")),
        "bad_timestamp": encode(record(timestamp="never")),
        "non_finite": b'{"model": "churn", "features": {}, "prediction": 1e999}',
        "oversize": b"{" + b" " * 200 + b"}",
    }
    assert set(samples) == set(REASONS)
    decoder = RecordDecoder(MODELS, max_bytes=150)
    for reason, payload in samples.items():
        outcome = decoder.decode(payload, FALLBACK)
        assert isinstance(outcome, Rejection) and outcome.reason == reason, (reason, outcome)


def test_decoder_is_reusable_across_messages() -> None:
    decoder = RecordDecoder(MODELS)
    outcomes = [
        decoder.decode(p, FALLBACK)
        for p in (encode(record()), b"junk", encode(record(model="churn", features={"plan": "pro"})))
    ]
    assert [type(o).__name__ for o in outcomes] == ["Prediction", "Rejection", "Prediction"]
    assert isinstance(outcomes[2], Prediction) and outcomes[2].features == {"plan": "pro"}


# properties ------------------------------------------------------------------------------------

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
record_like = st.fixed_dictionaries(
    {},
    optional={
        "model": st.sampled_from(["credit-risk", "churn", "other"]) | json_values,
        "features": st.dictionaries(st.text(max_size=8), json_values, max_size=5) | json_values,
        "timestamp": st.integers()
        | st.floats()
        | st.text(max_size=30)
        | st.datetimes().map(str)
        | json_values,
        "prediction": json_scalars | st.dictionaries(st.text(max_size=4), st.floats(), max_size=3),
        "model_version": json_values,
        "prediction_id": json_values,
        "label": json_values,
    },
)


def check_outcome(outcome: object) -> None:
    assert isinstance(outcome, Prediction | Rejection)
    if isinstance(outcome, Rejection):
        assert outcome.reason in REASONS
        assert isinstance(outcome.detail, str)
    else:
        assert outcome.model in MODELS
        assert isinstance(outcome.features, dict)
        assert math.isfinite(outcome.timestamp)
        assert all(not isinstance(v, dict | list) for v in outcome.features.values())


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(payload: bytes) -> None:
    check_outcome(RecordDecoder(MODELS).decode(payload, FALLBACK))


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_values_never_raise(value: Any) -> None:
    check_outcome(RecordDecoder(MODELS).decode(json.dumps(value).encode(), FALLBACK))


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(record_like, st.integers(min_value=1, max_value=2000))
def test_arbitrary_record_like_objects_never_raise(value: dict[str, Any], max_bytes: int) -> None:
    payload = json.dumps(value).encode()
    outcome = RecordDecoder(MODELS, max_bytes=max_bytes).decode(payload, FALLBACK)
    check_outcome(outcome)
    if len(payload) > max_bytes:
        assert isinstance(outcome, Rejection) and outcome.reason == "oversize"


def test_a_deeply_nested_record_gets_one_reason_whatever_the_callers_stack() -> None:
    """The lenient retry (a NaN token) recurses: a record nested far deeper than any record is refused
    before it, so its reason does not depend on how deep the decoding thread's stack already is."""
    import threading

    decoder = RecordDecoder({"churn"})
    payloads = [
        b'{"model": "churn", "features": {}, "prediction": ' + b"[" * depth + b"NaN" + b"]" * depth + b"}"
        for depth in (5, 65, 900)
    ] + [b'{"model": "churn", "features": {"a": "[[[[{{{{"}, "prediction": NaN}']

    def reasons() -> list[str | None]:
        outcomes = [decoder.decode(p, 0.0) for p in payloads]
        return [o.reason if isinstance(o, Rejection) else None for o in outcomes]

    def deep(levels: int) -> list[str | None]:
        return reasons() if levels == 0 else deep(levels - 1)

    here = reasons()
    assert here == ["wrong_type", "undecodable", "undecodable", "non_finite"]
    assert deep(600) == here
    seen: list[list[str | None]] = []
    thread = threading.Thread(target=lambda: seen.append(reasons()))
    thread.start()
    thread.join()
    assert seen == [here]


@pytest.mark.parametrize(
    "probabilities",
    [{"yes": -0.2, "no": 1.2}, {"yes": 0.0, "no": 0.0}, {}],
    ids=["negative", "all-zero", "empty"],
)
def test_a_class_probability_map_without_a_predicted_class_is_rejected(
    probabilities: dict[str, float],
) -> None:
    # no predicted class and no metric: one such row would fail the window's performance check
    outcome = rejected(encode(record(prediction=probabilities)), "wrong_type")
    assert "prediction" in outcome.detail and "probabilit" in outcome.detail
    heads, problems = RecordDecoder(MODELS, max_bytes=1_048_576).decode_heads(
        [encode(record(prediction=probabilities)), encode(record(prediction={"yes": 0.3, "no": 0.7}))],
        [FALLBACK, FALLBACK],
    )
    assert [(i, r.reason) for i, r in problems] == [(0, "wrong_type")]
    assert [h.positions for h in heads] == [[1]]  # the good record of the batch is kept
