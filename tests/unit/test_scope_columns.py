"""Window columns that say which segment and model version a record belongs to.

A scoped model's window keeps, beside its features and prediction, categorical columns read from the
record's ``metadata`` object (``ColumnSpec(name, "categorical", source="metadata")``), from its own
``model_version`` (``source="version"``) and from features it does not monitor (``source="feature"``).
Every decode path must give them the same values, canonical category keys: the exact path
(`RecordDecoder.decode_batch` + `Window.to_columns`), the columnar fast path
(`RecordDecoder.decode_columns`) and ``kafka.decode: sampled`` (`RecordDecoder.decode_heads` +
`RecordDecoder.decode_sample`). A metadata object holding anything but scalars rejects the record
only for a model that reads metadata; any other model ignores it, as it always has.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Final

import msgspec
import msgspec.structs
import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from driftwatch.stream.records import Prediction, RecordDecoder, Rejection, read_metadata
from driftwatch.stream.windows import ColumnSpec, Window

NOW: Final = 1_750_000_000.0
SCOPED: Final = [
    ColumnSpec("age", "numeric"),
    ColumnSpec("country", "categorical"),
    ColumnSpec("store", "categorical"),  # a feature the checks do not monitor: a segment column
    ColumnSpec("app_version", "categorical", source="metadata"),
    ColumnSpec("région", "categorical", source="metadata"),
    ColumnSpec("model_version", "categorical", source="version"),
    ColumnSpec("score", "numeric", source="prediction"),
]
PLAIN: Final = [ColumnSpec("x", "numeric"), ColumnSpec("score", "numeric", source="prediction")]
LAYOUTS: Final = {"scoped": SCOPED, "plain": PLAIN}
READERS: Final = {"scoped"}


def decoder(max_bytes: int = 1_048_576) -> RecordDecoder:
    return RecordDecoder(set(LAYOUTS), max_bytes=max_bytes, metadata_models=READERS)


def encode(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False).encode()


def scoped(
    version: Any = "7", metadata: Any = None, with_metadata: bool = True, **features: Any
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "model": "scoped",
        "timestamp": NOW - 5,
        "features": {"age": 40, "country": "DE", "store": 12, **features},
        "prediction": 0.5,
    }
    if version is not None:
        record["model_version"] = version
    if with_metadata:
        record["metadata"] = metadata
    return record


def plain(metadata: Any = None, with_metadata: bool = True, **features: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"model": "plain", "timestamp": NOW - 5, "features": {"x": 1.5, **features}}
    if with_metadata:
        record["metadata"] = metadata
    return record


def window(model: str) -> Window:
    return Window(LAYOUTS[model], length=3600.0, max_rows=1000, buckets=6, rng=np.random.default_rng(1))


def exact_columns(payloads: list[bytes], model: str) -> list[list[Any]]:
    """The exact path: every message decoded on its own, the model's predictions made into columns."""
    outcomes = decoder().decode_batch(payloads, [NOW] * len(payloads))
    found = [o for o in outcomes if isinstance(o, Prediction) and o.model == model]
    return [column.tolist() for column in window(model).to_columns(found)[1]]


def fast_columns(payloads: list[bytes], model: str) -> list[list[Any]] | None:
    batches = decoder().decode_columns(payloads, [NOW] * len(payloads), LAYOUTS)
    if batches is None:
        return None
    (batch,) = [b for b in batches if b.model == model]
    return [column.tolist() for column in batch.columns]


def sampled_columns(
    payloads: list[bytes], model: str, wanted: list[bool] | None = None
) -> tuple[list[list[Any]], list[int]]:
    """``kafka.decode: sampled`` as ingest runs it: heads, then the wanted records' columns (those decoded
    whole made into columns by the window). Returns the columns and the positions of the model's heads."""
    records = decoder()
    heads, rejected = records.decode_heads(payloads, [NOW] * len(payloads))
    assert not rejected
    (group,) = [h for h in heads if h.model == model]
    flags = np.array([True] * len(group.records) if wanted is None else wanted, dtype=np.bool_)
    sample = records.decode_sample(group, flags, LAYOUTS)
    assert not sample.rejected
    columns = sample.columns
    if sample.exact:
        rows = [index for index, _ in sample.exact]
        _, values = window(model).to_columns([prediction for _, prediction in sample.exact])
        for column, exact in zip(columns, values, strict=True):
            column[rows] = exact
    return [column.tolist() for column in columns], group.positions


def missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def same(left: list[list[Any]], right: list[list[Any]]) -> bool:
    """Column lists equal value for value, missing (None or NaN) where missing."""

    def norm(value: Any) -> Any:
        return "<missing>" if missing(value) else value

    return [[norm(v) for v in c] for c in left] == [[norm(v) for v in c] for c in right]


MIXED: Final = [
    scoped("7", {"app_version": "5.2", "région": "eu"}),
    scoped(7, {"app_version": 5.2, "région": "eu", "extra": "ignored", "more": 3}),
    scoped(None, {"app_version": 1.0, "région": "東京"}),
    scoped("8", None),  # metadata null
    scoped("8", with_metadata=False),
    scoped("", {"app_version": True}),
    scoped("v9", {"région": None, "app_version": "1"}),
    scoped(12, {}, store="S-1", country=1),
    plain({"app_version": "5.2"}),
    plain(with_metadata=False),
]


def test_the_three_paths_give_the_same_columns_for_a_mixed_batch() -> None:
    payloads = [encode(r) for r in MIXED]
    expected = exact_columns(payloads, "scoped")
    by_name = dict(zip((c.name for c in SCOPED), expected, strict=True))
    assert by_name["model_version"] == ["7", "7", None, "8", "8", "", "v9", "12"]
    assert by_name["app_version"] == ["5.2", "5.2", "1", None, None, "True", "1", None]
    assert by_name["région"] == ["eu", "eu", "東京", None, None, None, None, None]
    assert by_name["store"] == ["12", "12", "12", "12", "12", "12", "12", "S-1"]
    assert by_name["country"][-1] == "1"
    fast = fast_columns(payloads, "scoped")
    assert fast is not None, "a clean batch takes the fast path"
    assert same(fast, expected)
    sampled, positions = sampled_columns(payloads, "scoped")
    assert positions == list(range(8))
    assert same(sampled, expected)
    assert same(exact_columns(payloads, "plain"), fast_columns(payloads, "plain") or [])


def test_version_and_metadata_columns_hold_every_record_in_a_sample() -> None:
    """The sampled path decodes the features of the wanted records only; the version and metadata of
    every record come with its head (what routing a record to its scopes needs)."""
    payloads = [encode(r) for r in MIXED[:8]]
    expected = exact_columns(payloads, "scoped")
    wanted = [True, False, False, True, False, True, False, False]
    sampled, _ = sampled_columns(payloads, "scoped", wanted)
    for spec, got, want in zip(SCOPED, sampled, expected, strict=True):
        if spec.source in ("metadata", "version"):
            assert same([got], [want]), spec.name
        else:
            assert same(
                [[g for g, w in zip(got, wanted, strict=True) if w]],
                [[v for v, w in zip(want, wanted, strict=True) if w]],
            )
            assert all(missing(v) for v, w in zip(got, wanted, strict=True) if not w)


def test_extra_features_and_metadata_keep_the_fast_path() -> None:
    """Producers log more than is monitored: features the window does not keep beside a metadata object
    (read or not) stay on the fast path, with the same columns."""
    payloads = [
        encode(scoped("7", {"app_version": "5.2", "other": 1}, unmonitored=3.5)),
        encode(plain({"app_version": "5.2", "nested": {"a": [1]}}, unmonitored="x")),
        encode(scoped(8, None, unmonitored=None)),
    ]
    for model in LAYOUTS:
        fast = fast_columns(payloads, model)
        assert fast is not None
        assert same(fast, exact_columns(payloads, model))
        assert same(sampled_columns(payloads, model)[0], fast)


BAD_METADATA: Final = [
    ({"app_version": {"major": 5}}, "metadata.app_version is an object"),
    ({"app_version": "5.2", "unused": [1, 2]}, "metadata.unused is an array"),  # a key no column keeps
    ([1, 2], "metadata is an array"),
    ("5.2", "metadata is text"),
    (3, "metadata is a number"),
]


@pytest.mark.parametrize(("metadata", "detail"), BAD_METADATA)
def test_metadata_of_scalars_only_for_a_model_that_reads_it(metadata: Any, detail: str) -> None:
    records = decoder()
    bad = encode(scoped("7", metadata))
    good = encode(scoped("7", {"app_version": "5.2"}))
    outcome = records.decode(bad, NOW)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "wrong_type"
    assert outcome.detail.startswith(detail)
    assert records.decode_batch([good, bad], [NOW, NOW])[1] == outcome
    assert records.decode_columns([good, bad], [NOW, NOW], LAYOUTS) is None  # the exact path finds it
    heads, rejected = records.decode_heads([good, bad], [NOW, NOW])
    assert rejected == [(1, outcome)]
    assert [h.positions for h in heads] == [[0]]
    # a model that does not read metadata ignores it, whatever it holds, on every path
    ignored = encode(plain(metadata))
    accepted = records.decode(ignored, NOW)
    assert isinstance(accepted, Prediction)
    assert accepted.metadata is None
    assert records.decode_columns([ignored], [NOW], LAYOUTS) is not None
    heads, rejected = records.decode_heads([ignored], [NOW])
    assert not rejected
    sample = records.decode_sample(heads[0], np.array([False]), LAYOUTS)
    assert not sample.rejected


def test_metadata_text_that_is_not_utf8_is_undecodable_only_where_it_is_read() -> None:
    records = decoder()
    bad = b'{"model": "scoped", "features": {"age": 1}, "metadata": {"app_version": "\xff"}}'
    outcome = records.decode(bad, NOW)
    assert isinstance(outcome, Rejection)
    assert outcome.reason == "undecodable"
    assert records.decode_heads([bad], [NOW])[1] == [(0, outcome)]
    ignored = b'{"model": "plain", "features": {"x": 1}, "metadata": {"app_version": "\xff"}}'
    assert isinstance(records.decode(ignored, NOW), Prediction)
    heads, rejected = records.decode_heads([ignored], [NOW])
    assert not rejected
    assert not records.decode_sample(heads[0], np.array([False]), LAYOUTS).rejected


def test_non_finite_metadata_numbers_are_missing_on_every_path() -> None:
    payloads = [
        b'{"model": "scoped", "features": {"age": 1}, "metadata": {"app_version": 1e400}}',
        b'{"model": "scoped", "features": {"age": NaN}, "metadata": {"app_version": NaN, "r\xc3\xa9gion": "eu"}}',
        b'{"model": "scoped", "features": {"age": 2}, "metadata": {"app_version": "5.2"}}',
    ]
    expected = exact_columns(payloads, "scoped")
    by_name = dict(zip((c.name for c in SCOPED), expected, strict=True))
    assert by_name["app_version"] == [None, None, "5.2"]
    assert by_name["région"] == [None, "eu", None]
    assert fast_columns(payloads, "scoped") is None  # NaN tokens: the exact path
    assert same(sampled_columns(payloads, "scoped")[0], expected)


def test_prediction_metadata_is_kept_for_a_reader_and_positional_predictions_still_build() -> None:
    outcome = decoder().decode(encode(scoped(7, {"app_version": "5.2", "n": 3})), NOW)
    assert isinstance(outcome, Prediction)
    assert outcome.metadata == {"app_version": "5.2", "n": 3}
    assert outcome.model_version == "7"
    made = Prediction("scoped", "7", None, NOW, {"age": 1}, 0.5, None)
    assert made.metadata is None
    assert read_metadata(msgspec.Raw(b"null")) is None
    assert read_metadata(msgspec.Raw()) is None


def test_batch_model_version_is_the_last_records() -> None:
    payloads = [encode(scoped("7", {})), encode(scoped(8, {})), encode(plain())]
    batches = decoder().decode_columns(payloads, [NOW] * 3, LAYOUTS)
    assert batches is not None
    assert {b.model: b.model_version for b in batches} == {"scoped": "8", "plain": None}


def test_a_decoder_not_told_learns_the_metadata_models_from_the_layouts() -> None:
    """Named in ``metadata_models`` or not, a model whose layout reads metadata has its records' metadata
    read and checked on every path once a layout was given (the daemon's first batch gives it)."""
    records = RecordDecoder(set(LAYOUTS))
    bad = encode(scoped("7", {"app_version": [1]}))
    assert isinstance(records.decode(bad, NOW), Prediction)  # no layout seen yet: ignored
    good = [encode(scoped("7", {"app_version": "5.2"}))]
    batches = records.decode_columns(good, [NOW], LAYOUTS)
    assert batches is not None
    assert batches[0].columns[3].tolist() == ["5.2"]
    assert records.decode(bad, NOW) == decoder().decode(bad, NOW)
    assert isinstance(records.decode(bad, NOW), Rejection)
    assert isinstance(records.decode(encode(plain({"a": [1]})), NOW), Prediction)


def test_column_specs_of_the_new_sources_are_categorical() -> None:
    with pytest.raises(ValueError, match="categorical"):
        ColumnSpec("app_version", "numeric", source="metadata")
    with pytest.raises(ValueError, match="categorical"):
        ColumnSpec("model_version", "numeric", source="version")
    with pytest.raises(ValueError, match="not one of"):
        ColumnSpec("x", "numeric", source="label")


def test_a_window_keeps_the_segment_and_version_columns() -> None:
    """`Window.add` reads them; the snapshot holds them as canonical category keys."""
    outcomes = decoder().decode_batch([encode(r) for r in MIXED[:3]], [NOW] * 3)
    records = [o for o in outcomes if isinstance(o, Prediction)]
    scoped_window = window("scoped")
    assert scoped_window.add(records, NOW) == 3
    frame = scoped_window.snapshot(NOW).frame
    assert sorted(frame["model_version"].fillna("<missing>")) == ["7", "7", "<missing>"]
    assert sorted(frame["app_version"]) == ["1", "5.2", "5.2"]
    assert sorted(frame["région"]) == ["eu", "eu", "東京"]


# generated records: exact vs fast vs sampled ------------------------------------------------------

SCALARS: Final = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=5)
    | st.sampled_from(["1", "1.0", "True", "5.2", "東京", "{", "["])
)
KEYS: Final = st.sampled_from(["app_version", "région", "extra", "x"]) | st.text(max_size=4)


@st.composite
def generated(draw: st.DrawFn) -> dict[str, Any]:
    if draw(st.booleans()):
        record = scoped(
            draw(st.none() | st.integers(-5, 20) | st.sampled_from(["7", "8", "", "v1", "東"])),
            draw(st.none() | st.dictionaries(KEYS, SCALARS, max_size=5)),
            with_metadata=draw(st.booleans()),
            age=draw(st.none() | st.integers(0, 99) | st.floats(allow_nan=False, allow_infinity=False)),
            country=draw(SCALARS),
            store=draw(SCALARS),
        )
        if draw(st.booleans()):
            record["features"]["unmonitored"] = draw(SCALARS)
        return record
    return plain(
        draw(st.none() | st.dictionaries(KEYS, SCALARS, max_size=3)), with_metadata=draw(st.booleans())
    )


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(generated(), min_size=1, max_size=12), st.data())
def test_exact_fast_and_sampled_paths_agree_on_generated_records(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    payloads = [encode(r) for r in records]
    for model in LAYOUTS:
        if not any(r["model"] == model for r in records):
            continue
        expected = exact_columns(payloads, model)
        fast = fast_columns(payloads, model)
        event("fast path" if fast is not None else "exact path")
        if fast is not None:
            assert same(fast, expected)
        count = sum(r["model"] == model for r in records)
        wanted = data.draw(st.lists(st.booleans(), min_size=count, max_size=count))
        sampled, _ = sampled_columns(payloads, model, wanted)
        for spec, got, want in zip(LAYOUTS[model], sampled, expected, strict=True):
            if spec.source in ("metadata", "version"):
                assert same([got], [want]), spec.name
            else:
                assert same(
                    [[g for g, w in zip(got, wanted, strict=True) if w]],
                    [[v for v, w in zip(want, wanted, strict=True) if w]],
                ), spec.name


def test_the_readme_record_example_decodes_with_its_metadata() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Records\n", 1)[1]
    example = section.split("```json\n", 1)[1].split("```", 1)[0]
    records = RecordDecoder({"credit-risk"}, metadata_models={"credit-risk"})
    outcome = records.decode(example.encode(), NOW)
    assert isinstance(outcome, Prediction)
    assert outcome.metadata == {"app_version": "5.2", "region": "eu"}
    assert RecordDecoder({"credit-risk"}).decode(example.encode(), NOW) == msgspec.structs.replace(
        outcome, metadata=None
    )


def test_heads_give_the_label_join_each_records_metadata() -> None:
    payloads = [encode(r) for r in MIXED[:4]]
    heads, _ = decoder().decode_heads(payloads, [NOW] * 4)
    exact = [o for o in decoder().decode_batch(payloads, [NOW] * 4) if isinstance(o, Prediction)]
    joined = heads[0].predictions([True, False, True, True])
    assert [p.metadata for p in joined] == [exact[i].metadata for i in (0, 2, 3)]
    assert [p.model_version for p in joined] == ["7", None, "8"]
