"""The columnar fast path (`RecordDecoder.decode_columns` + `Window.add_columns`) against the exact path.

The exact path decodes each message into a `Prediction` or a `Rejection` and
`Window.add` turns the predictions into columns. The fast path decodes a batch
straight into columns, or declines (None) and leaves the batch to the exact
path. Whatever the batch, a window fed by the fast path (falling back where it
declines) must end up identical to one fed by the exact path: same rows, same
values, same counts, same type violations; and the fast path may take a batch
only when the exact path accepts every message in it without a type violation.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from typing import Any, Final

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from driftwatch.stream.records import ColumnBatch, LabelRule, Prediction, RecordDecoder, Rejection
from driftwatch.stream.windows import ColumnSpec, Window

NOW: Final = 1_750_000_000.0
LAYOUTS: Final = {
    "credit-risk": [
        ColumnSpec("age", "numeric"),
        ColumnSpec("income", "numeric"),
        ColumnSpec("country", "categorical"),
        ColumnSpec("vip", "categorical"),
        ColumnSpec("score", "numeric", source="prediction"),
    ],
    "churn": [
        ColumnSpec("plan", "categorical"),
        ColumnSpec("tenure", "numeric"),
        ColumnSpec("label", "categorical", source="prediction"),
    ],
    "no-prediction": [ColumnSpec("x", "numeric")],
}
MODELS: Final = set(LAYOUTS)
# the label each model's performance task takes: a label of another kind is a rejection on both paths
RULES: Final = {
    "credit-risk": LabelRule.of("credit-risk", "binary_classification", None),
    "churn": LabelRule.of("churn", "multiclass_classification", None, ["basic", "pro"]),
    "no-prediction": LabelRule.of("no-prediction", "regression", None),
}
CLEAN_LABELS: Final = {
    "credit-risk": st.sampled_from([0, 1, True, False, 0.0, 1.0, -0.0]),
    "churn": st.text(max_size=5),
    "no-prediction": st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False),
}
ABSENT: Final = object()

# values a clean record may hold: every one is taken by the fast path
CLEAN_NUMBERS = (
    st.none()
    | st.integers(-(2**70), 2**70)  # beyond 64 bits and beyond 2**53 too
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, 2.0**53 + 1, 1e22])
)
CLEAN_TEXT = st.none() | st.text(max_size=6) | st.sampled_from(["DE", "FR", "1", "1.0", "True", ""])
CLEAN_CATEGORIES = (
    CLEAN_TEXT
    | st.booleans()
    | st.integers(-(2**65), 2**65)
    | st.floats(allow_nan=False, allow_infinity=False)
)
CLEAN_STAMPS = (
    st.just(ABSENT)
    | st.none()
    | st.sampled_from(
        [
            "2025-06-15T14:13:20Z",
            "2025-06-15T14:13:20.250Z",
            "2025-06-15T16:13:20+02:00",
            "2025-06-15 14:13:20",
            "2025-06-15T14:13:20.123456",
        ]
    )
    | st.floats(NOW - 3000, NOW + 100)
    | st.integers(int(NOW) - 3000, int(NOW) + 100)
    | st.integers(int(NOW * 1000) - 3_000_000, int(NOW * 1000) + 100_000)  # epoch milliseconds
    | st.integers(0, 2**40)  # far outside the window
)
# values that make some records a rejection, a type violation or something the fast path declines
DIRTY = (
    st.booleans()
    | st.text(max_size=4)
    | st.integers(-(2**70), 2**70)
    | st.just(10**400)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.floats(allow_nan=False, allow_infinity=False), max_size=2)
    | st.floats()  # NaN and infinities: json.dumps writes NaN / Infinity tokens
)
DIRTY_STAMPS = st.sampled_from(["yesterday", "", "2025-13-01T00:00:00Z", True, 1e300]) | DIRTY


@st.composite
def clean_records(draw: st.DrawFn) -> dict[str, Any]:
    """A well-formed record of a configured model, each value of a type its window column takes."""
    model = draw(st.sampled_from(sorted(LAYOUTS)))
    features: dict[str, Any] = {}
    for spec in LAYOUTS[model]:
        if spec.source == "feature":
            value = draw(st.just(ABSENT) | (CLEAN_NUMBERS if spec.type == "numeric" else CLEAN_CATEGORIES))
            if value is not ABSENT:
                features[spec.name] = value
    prediction = next((s for s in LAYOUTS[model] if s.source == "prediction"), None)
    predictions: Any = (
        CLEAN_NUMBERS | CLEAN_CATEGORIES
        if prediction is None
        else CLEAN_NUMBERS
        if prediction.type == "numeric"
        else CLEAN_CATEGORIES
    )
    record: dict[str, Any] = {
        "model": model,
        "features": features,
        "timestamp": draw(CLEAN_STAMPS),
        "prediction": draw(st.just(ABSENT) | predictions),
        "model_version": draw(st.just(ABSENT) | st.none() | st.text(max_size=3) | st.integers(0, 99)),
        "prediction_id": draw(st.just(ABSENT) | st.text(max_size=8) | st.integers(0, 2**70)),
        "label": draw(st.just(ABSENT) | st.none() | CLEAN_LABELS[model]),
    }
    if draw(st.booleans()):
        record["trace"] = draw(st.none() | st.lists(st.integers(), max_size=2))  # unknown fields: ignored
    if draw(st.integers(0, 9)) == 0:  # keys in another order
        record = dict(reversed(list(record.items())))
    return {k: v for k, v in record.items() if v is not ABSENT}


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record).encode()


FLAWS: Final = [
    "feature",
    "extra_feature",
    "timestamp",
    "prediction",
    "label",
    "model_version",
    "missing",
    "features",
    "model",
    "oversize",
    "tombstone",
    "garbage",
    "empty",
    "two",
]


@st.composite
def flawed_records(draw: st.DrawFn) -> bytes | None:
    """A clean record with one flaw: a value of another type somewhere, a field missing, a message
    that is not one JSON record; what the exact path makes of it varies (a rejection, a type
    violation, a record like any other)."""
    record = draw(clean_records())
    flaw = draw(st.sampled_from(FLAWS))
    if flaw == "feature":
        names = [s.name for s in LAYOUTS[record["model"]] if s.source == "feature"]
        record["features"][draw(st.sampled_from(names))] = draw(DIRTY)
    elif flaw == "extra_feature":
        record["features"][draw(st.sampled_from(["extra", "Age", ""]))] = draw(CLEAN_NUMBERS | DIRTY)
    elif flaw == "label":  # of the wrong kind for the model's task, or of another model's kind
        record[flaw] = draw(DIRTY | st.sampled_from(["yes", "1", 2, 0.5, 2**70, 10**400]) | CLEAN_TEXT)
    elif flaw in {"timestamp", "prediction", "model_version"}:
        record[flaw] = draw(DIRTY_STAMPS if flaw == "timestamp" else DIRTY)
    elif flaw == "missing":
        del record[draw(st.sampled_from(["model", "features"]))]
    elif flaw == "features":
        record["features"] = draw(DIRTY)
    elif flaw == "model":
        record["model"] = draw(st.sampled_from(["fraud", "", "Churn", 7, None]))
    elif flaw == "oversize":
        return encode(record) + b" " * 2000  # above every max_bytes of the tests below
    elif flaw == "tombstone":
        return None
    elif flaw == "garbage":
        return draw(st.binary(max_size=20) | st.sampled_from([b"{", b"[1]", b"null", b" ", b"\n"]))
    elif flaw == "empty":
        return b""
    elif flaw == "two":  # two documents in one message: undecodable
        return encode(record) + draw(st.sampled_from([b" ", b"\n", b""])) + encode(record)
    return encode(record)


@st.composite
def batches(draw: st.DrawFn) -> list[bytes | None]:
    """Clean records, with no, one or several flawed ones among them."""
    payloads: list[bytes | None] = [encode(r) for r in draw(st.lists(clean_records(), max_size=25))]
    for _ in range(draw(st.sampled_from([0, 0, 1, 1, 1, 3]))):
        payloads.insert(draw(st.integers(0, len(payloads))), draw(flawed_records()))
    return payloads or [None]


def fresh_windows() -> dict[str, Window]:
    return {
        model: Window(columns, length=3600.0, max_rows=20, buckets=6, rng=np.random.default_rng(7))
        for model, columns in LAYOUTS.items()
    }


def exact(
    decoder: RecordDecoder, windows: dict[str, Window], payloads: list[bytes | None], fallbacks: list[float]
) -> dict[str, tuple[int, int, str | None]]:
    """What the daemon's exact path does: per model, (records, inside the window, last version)."""
    by_model: dict[str, list[Prediction]] = defaultdict(list)
    for outcome in decoder.decode_batch(payloads, fallbacks):
        if isinstance(outcome, Prediction):
            by_model[outcome.model].append(outcome)
    return {
        model: (len(found), windows[model].add(found, NOW), found[-1].model_version)
        for model, found in by_model.items()
    }


def fast(
    decoder: RecordDecoder, windows: dict[str, Window], payloads: list[bytes | None], fallbacks: list[float]
) -> tuple[dict[str, tuple[int, int, str | None]], list[ColumnBatch] | None]:
    columns = decoder.decode_columns(payloads, fallbacks, {m: w.columns for m, w in windows.items()})
    if columns is None:
        return exact(decoder, windows, payloads, fallbacks), None
    counts = {
        batch.model: (
            len(batch.positions),
            windows[batch.model].add_columns(batch.timestamps, batch.columns, NOW),
            batch.model_version,
        )
        for batch in columns
    }
    return counts, columns


def assert_same_windows(left: dict[str, Window], right: dict[str, Window]) -> None:
    for model in LAYOUTS:
        a, b = left[model].snapshot(NOW), right[model].snapshot(NOW)
        pd.testing.assert_frame_equal(a.frame, b.frame, check_exact=True)
        for name in a.frame.columns:  # -0.0 and 0.0 are equal above; NaN where NaN
            if a.frame[name].dtype == np.float64:
                assert np.array_equal(np.isnan(a.frame[name]), np.isnan(b.frame[name]))
        assert a.records_seen == b.records_seen
        assert a.type_violations == b.type_violations
        assert left[model].rows() == right[model].rows()


@settings(max_examples=400, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(batches(), min_size=1, max_size=4), st.integers(250, 2000))
def test_fast_path_fills_windows_exactly_as_the_exact_path(
    sequence: list[list[bytes | None]], max_bytes: int
) -> None:
    decoder = RecordDecoder(MODELS, max_bytes=max_bytes, rules=RULES)
    exact_windows, fast_windows = fresh_windows(), fresh_windows()
    for payloads in sequence:
        fallbacks = [NOW - 10.0 * i for i in range(len(payloads))]
        expected = exact(decoder, exact_windows, payloads, fallbacks)
        got, columns = fast(decoder, fast_windows, payloads, fallbacks)
        event("fast path" if columns is not None else "exact path")
        assert got == expected
        if columns is not None:  # taken whole: every message a prediction, no value of the wrong type
            outcomes = decoder.decode_batch(payloads, fallbacks)
            assert all(isinstance(o, Prediction) for o in outcomes)
            assert sorted(i for batch in columns for i in batch.positions) == list(range(len(payloads)))
            for batch in columns:
                assert all(outcomes[i].model == batch.model for i in batch.positions)  # type: ignore[union-attr]
        else:  # the exact path: a label rejection is exactly a label the model's task does not take
            for payload, outcome in zip(payloads, decoder.decode_batch(payloads, fallbacks), strict=True):
                loose = RecordDecoder(MODELS, max_bytes=max_bytes).decode(payload, NOW)
                if isinstance(outcome, Rejection) and isinstance(loose, Prediction):
                    wrong = RULES[loose.model].problem(loose.label)
                    assert wrong is not None and wrong == outcome
                elif isinstance(loose, Rejection):
                    assert outcome == loose
        assert_same_windows(exact_windows, fast_windows)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(clean_records().map(encode), min_size=1, max_size=30))
def test_clean_batches_take_the_fast_path(payloads: list[bytes | None]) -> None:
    decoder = RecordDecoder(MODELS, rules=RULES)
    fallbacks = [NOW] * len(payloads)
    assert all(isinstance(o, Prediction) for o in decoder.decode_batch(payloads, fallbacks))
    assert decoder.decode_columns(payloads, fallbacks, LAYOUTS) is not None


def test_a_batch_with_one_bad_record_takes_the_exact_path() -> None:
    decoder = RecordDecoder(MODELS, rules=RULES)
    good = json.dumps({"model": "churn", "features": {"plan": "pro", "tenure": 3}}).encode()
    for bad in (
        None,
        b"junk",
        b"",
        json.dumps({"model": "churn", "features": {"tenure": "3"}}).encode(),  # a type violation
        json.dumps({"model": "churn", "features": {"tenure": 3, "extra": [1]}}).encode(),  # wrong_type
        json.dumps({"model": "churn", "features": {"tenure": 3, "extra": {"a": 1}}}).encode(),  # wrong_type
        b'{"model": "churn", "features": {"tenure": 3, "extra": "\xff"}}',  # undecodable, unchecked if skipped
        b'{"model": "churn", "features": {"tenure": 3, "\xff": 1}}',
        json.dumps({"model": "fraud", "features": {}}).encode(),
        json.dumps({"model": "churn", "features": {}, "timestamp": "never"}).encode(),
        json.dumps({"model": "churn", "features": {}, "label": 1e999})
        .encode()
        .replace(b"Infinity", b"1e999"),
        b'{"model": "credit-risk", "features": {}, "prediction": NaN}',
        *(  # predictions beyond float range: non_finite, whether or not the window keeps them
            b'{"model": "%s", "features": {}, "prediction": 1%s}' % (model.encode(), b"0" * 400)
            for model in sorted(LAYOUTS)
        ),
        b'{"model": "no-prediction", "features": {}, "prediction": {"yes": 1e999}}',
        b'{"model": "no-prediction", "features": {}, "prediction": {"yes": 1%s}}' % (b"0" * 400),
        good + b" " + good,
        *(  # labels of the wrong kind for the model's task: wrong_type (non_finite beyond float range)
            json.dumps({"model": model, "features": {}, "label": label}).encode()
            for model, label in [
                ("credit-risk", "yes"),
                ("credit-risk", 2),
                ("credit-risk", "1"),
                ("churn", 1),
                ("churn", True),
                ("no-prediction", "3.5"),
                ("no-prediction", False),
                ("no-prediction", 10**400),
            ]
        ),
    ):
        assert decoder.decode_columns([good, bad, good], [NOW] * 3, LAYOUTS) is None, bad
    assert decoder.decode_columns([good, good], [NOW] * 2, LAYOUTS) is not None


def test_features_the_window_does_not_keep_stay_on_the_fast_path() -> None:
    """Producers log more features than a model is monitored on: those records must not fall back."""
    decoder = RecordDecoder(MODELS)
    payloads = [
        json.dumps(
            {
                "model": "churn",
                "features": {"plan": "pro", "tenure": 3, "extra": i, "note": "München {x}"[: i % 7]},
            }
        ).encode()
        for i in range(20)
    ]
    payloads = [p for p in payloads if p.count(b"{") == 2]
    fast = decoder.decode_columns(payloads, [NOW] * len(payloads), LAYOUTS)
    assert fast is not None
    exact = decoder.decode_batch(payloads, [NOW] * len(payloads))
    assert all(isinstance(o, Prediction) for o in exact)
    (batch,) = fast
    assert batch.model == "churn" and batch.positions == list(range(len(payloads)))


def test_columns_of_a_mixed_batch() -> None:
    decoder = RecordDecoder(MODELS)
    payloads: list[bytes | None] = [
        json.dumps(
            {
                "model": "credit-risk",
                "model_version": 7,
                "timestamp": "2025-06-15T14:13:20Z",
                "features": {"age": 42, "income": None, "country": "DE", "vip": True},
                "prediction": 1,
            }
        ).encode(),
        json.dumps(
            {"model": "churn", "features": {"plan": 1.0, "tenure": 2**64}, "prediction": "yes"}
        ).encode(),
        json.dumps({"model": "credit-risk", "features": {"country": 3}, "timestamp": NOW * 1000}).encode(),
    ]
    columns = decoder.decode_columns(payloads, [NOW - 1, NOW - 2, NOW - 3], LAYOUTS)
    assert columns is not None
    risk, churn = columns
    assert (risk.model, risk.positions, risk.model_version) == ("credit-risk", [0, 2], None)
    assert list(risk.timestamps) == [1_749_996_800.0, NOW]
    assert risk.columns[0][0] == 42.0 and math.isnan(risk.columns[0][1])
    assert math.isnan(risk.columns[1][0]) and math.isnan(risk.columns[1][1])
    assert list(risk.columns[2]) == ["DE", "3"]
    assert list(risk.columns[3]) == ["True", None]
    assert risk.columns[4][0] == 1.0 and math.isnan(risk.columns[4][1])
    assert (churn.model, churn.positions, list(churn.timestamps)) == ("churn", [1], [NOW - 2])
    assert list(churn.columns[0]) == ["1"]
    assert list(churn.columns[1]) == [float(2**64)]
    assert list(churn.columns[2]) == ["yes"]


def test_decode_batch_keeps_messages_apart() -> None:
    """Two documents in one message next to an empty one are two rejections, not two records."""
    decoder = RecordDecoder(MODELS)
    one = b'{"model": "churn", "features": {}}'
    for payloads in ([one + b" " + one, b""], [b'{"model": "churn",', b'"features": {}}', one + b"," + one]):
        outcomes = decoder.decode_batch(payloads, [NOW] * len(payloads))
        assert [type(o) for o in outcomes] == [Rejection] * len(payloads)
        assert decoder.decode_columns(payloads, [NOW] * len(payloads), LAYOUTS) is None
