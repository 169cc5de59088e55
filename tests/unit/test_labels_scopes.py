"""The label join per model version and per segment: the rows of a version, of a segment value, of the
``other`` bucket; files and dumps made before versions and segments were stored."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest

from driftwatch.state import labels as labels_module
from driftwatch.state.labels import LabelStore
from driftwatch.stream.records import Prediction

T0 = 1_795_000_000.0
DAY = 86400.0
SEGMENTS = {"m": [("country", "feature"), ("app", "metadata")]}


class Record(Prediction, frozen=True, gc=False):
    """A prediction record with the metadata field newer records carry."""

    metadata: dict[str, Any] | None = None


def record(
    pid: str,
    version: str | None,
    country: object,
    app: object = None,
    prediction: float = 0.5,
    label: int | None = 1,
    ts: float = T0,
) -> Record:
    metadata = None if app is None else {"app": app}
    return Record("m", version, pid, ts, {"country": country, "x": 1.0}, prediction, label, metadata)


def store(tmp_path: Path, **options: Any) -> LabelStore:
    settings: dict[str, Any] = {"ttl": 7 * DAY, "grace": 3600.0, "segments": SEGMENTS} | options
    return LabelStore(tmp_path / "labels.sqlite", **settings)


def ids(joined_rows: Any) -> list[float]:
    return [float(p) for p in joined_rows.predictions.tolist()]


@pytest.fixture
def filled(tmp_path: Path) -> LabelStore:
    labels = store(tmp_path)
    rows = [
        record("a", "7", "DE", "5.2", prediction=0.1, ts=T0 + 1),
        record("b", "7", "FR", "5.1", prediction=0.2, ts=T0 + 2),
        record("c", "8", "DE", None, prediction=0.3, ts=T0 + 3),
        record("d", "8", None, "5.2", prediction=0.4, ts=T0 + 4),
        record("e", None, "US", 5.2, prediction=0.5, ts=T0 + 5),  # a number: the canonical key "5.2"
        record(
            "f", "", 1.0, True, prediction=0.6, ts=T0 + 6
        ),  # an empty version is none; 1.0 is "1", True "True"
    ]
    assert labels.add_records(rows, now=T0 + 10) == {"joined": 6}
    return labels


def test_rows_of_one_version(filled: LabelStore) -> None:
    assert ids(filled.joined("m", 0, math.inf)) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert ids(filled.joined("m", 0, math.inf, version="7")) == [0.1, 0.2]
    assert ids(filled.joined("m", 0, math.inf, version="8")) == [0.3, 0.4]
    assert ids(filled.joined("m", 0, math.inf, version="9")) == []
    assert ids(filled.joined("m", 0, math.inf, version="")) == []  # an empty version names none


def test_rows_of_one_segment_value_or_of_the_missing_value(filled: LabelStore) -> None:
    assert ids(filled.joined("m", 0, math.inf, segment=(0, "DE"))) == [0.1, 0.3]
    assert ids(filled.joined("m", 0, math.inf, segment=(0, None))) == [0.4]
    assert ids(filled.joined("m", 0, math.inf, segment=(0, "1"))) == [0.6]
    # metadata values are canonical keys too: "5.2" and 5.2 are one value
    assert ids(filled.joined("m", 0, math.inf, segment=(1, "5.2"))) == [0.1, 0.4, 0.5]
    assert ids(filled.joined("m", 0, math.inf, segment=(1, "True"))) == [0.6]
    assert ids(filled.joined("m", 0, math.inf, segment=(1, None))) == [0.3]
    # a column the model does not have: every row misses it
    assert len(filled.joined("m", 0, math.inf, segment=(2, None)).labels) == 6
    # filters combine
    assert ids(filled.joined("m", 0, math.inf, version="8", segment=(0, "DE"))) == [0.3]


def test_the_other_bucket_excludes_the_members(filled: LabelStore) -> None:
    # missing counts as other unless None is a member
    assert ids(filled.joined("m", 0, math.inf, other=(0, ["DE", "FR"]))) == [0.4, 0.5, 0.6]
    assert ids(filled.joined("m", 0, math.inf, other=(0, ["DE", "FR", None]))) == [0.5, 0.6]
    assert ids(filled.joined("m", 0, math.inf, other=(0, [None]))) == [0.1, 0.2, 0.3, 0.5, 0.6]
    assert ids(filled.joined("m", 0, math.inf, other=(0, []))) == [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
    assert ids(filled.joined("m", 0, math.inf, version="7", other=(1, ["5.2"]))) == [0.2]
    # a segment value and the other bucket of another column
    assert ids(filled.joined("m", 0, math.inf, segment=(0, "DE"), other=(1, ["5.2"]))) == [0.3]


def test_an_other_bucket_with_more_members_than_one_in_list(filled: LabelStore) -> None:
    many = [f"x{i}" for i in range(2 * labels_module._CHUNK + 5)]
    for members in (["DE", "FR"], ["DE", "FR", None], [None], []):
        small = filled.joined("m", 0, math.inf, version="8", other=(0, members))
        large = filled.joined("m", 0, math.inf, version="8", other=(0, [*many, *members]))
        assert ids(large) == ids(small)
        assert large.weights.tolist() == small.weights.tolist()
        assert large.labels.tolist() == small.labels.tolist()


def test_a_bad_segment_index_is_refused(filled: LabelStore) -> None:
    for index in (-1, 3):
        with pytest.raises(ValueError, match="segment column index"):
            filled.joined("m", 0, math.inf, segment=(index, "DE"))
        with pytest.raises(ValueError, match="segment column index"):
            filled.joined("m", 0, math.inf, other=(index, ["DE"]))


def test_segment_columns_are_configured_per_model(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at most 3"):
        LabelStore(tmp_path / "a.sqlite", segments={"m": [("a", "feature")] * 4})
    with pytest.raises(ValueError, match="source one of feature, metadata"):
        LabelStore(tmp_path / "b.sqlite", segments={"m": [("a", "header")]})
    labels = store(tmp_path)
    # a model without segment columns stores its versions only
    other = Prediction("other", "3", "z", T0, {"country": "DE"}, 0.5, 1)
    assert labels.segment_values("other", [other]) == [()]
    assert labels.add_records([other], now=T0) == {"joined": 1}
    assert len(labels.joined("other", 0, math.inf, version="3").labels) == 1
    assert len(labels.joined("other", 0, math.inf, segment=(0, None)).labels) == 1
    # a record without the metadata field (or without the feature) misses the value
    plain = Prediction("m", "1", "y", T0, {}, 0.5, None)
    assert labels.segment_values("m", [plain, record("q", "1", 2, {"k": 1})]) == [
        (None, None),
        ("2", "{'k': 1}"),
    ]


def test_add_predictions_takes_versions_and_segment_values(tmp_path: Path) -> None:
    labels = store(tmp_path)
    outcome = labels.add_predictions(
        "m",
        ["a", "b", "c", "d"],
        [T0, T0 + 1, T0 + 2, T0 + 3],
        [0.1, 0.2, 0.3, 0.4],
        now=T0 + 10,
        versions=["7", "7", None, "8"],
        segments=[("DE", 1), ("FR",), (), (float("nan"), "1")],
    )
    assert outcome == {"pending": 4}
    # the labels come later: the join keeps the version and the segment values of the prediction
    assert labels.add_labels(["a", "b", "c", "d"], [1, 0, 1, 0], now=T0 + 20) == {"joined": 4}
    assert ids(labels.joined("m", 0, math.inf, version="7")) == [0.1, 0.2]
    assert ids(labels.joined("m", 0, math.inf, segment=(1, "1"))) == [0.1, 0.4]
    assert ids(labels.joined("m", 0, math.inf, segment=(0, None))) == [0.3, 0.4]
    with pytest.raises(ValueError, match="differ in length"):
        labels.add_predictions("m", ["e"], [T0], [0.5], now=T0, versions=["1", "2"])
    with pytest.raises(ValueError, match="at most 3 segment values"):
        labels.add_predictions("m", ["e"], [T0], [0.5], now=T0, segments=[(1, 2, 3, 4)])


def test_an_early_label_joins_a_versioned_prediction(tmp_path: Path) -> None:
    labels = store(tmp_path)
    assert labels.add_labels(["a"], [1], now=T0) == {"early": 1}
    assert labels.add_records([record("a", "7", "DE", label=None)], now=T0 + 5) == {"joined_early": 1}
    assert labels.joined("m", 0, math.inf, version="7", segment=(0, "DE")).labels.tolist() == [1]


def test_shadow_traffic_under_one_model_keeps_the_first_version(tmp_path: Path) -> None:
    """The documented limit: rows are unique per (model, prediction id)."""
    labels = store(tmp_path)
    outcome = labels.add_records([record("a", "7", "DE"), record("a", "8", "DE", prediction=0.9)], now=T0)
    assert outcome == {"joined": 1, "duplicate": 1}
    assert ids(labels.joined("m", 0, math.inf, version="7")) == [0.5]
    assert ids(labels.joined("m", 0, math.inf, version="8")) == []


def test_weights_follow_the_rows_through_the_filters(tmp_path: Path) -> None:
    labels = store(tmp_path, ttl=100.0, retention=10_000.0, max_rows=1_200)

    def batch(first: int, count: int, ts: float, label: int | None) -> list[Record]:
        return [
            record(f"id{i}", "7" if i % 2 else "8", "DE" if i % 3 else "FR", label=label, ts=ts)
            for i in range(first, first + count)
        ]

    labels.add_records(batch(0, 4_000, T0, None), now=T0)
    assert labels.rate("m") == 0.25
    kept = [f"id{i}" for i in range(4_000) if labels_module.in_sample(f"id{i}", 0.25)]
    labels.add_labels(kept[:100], [1] * 100, now=T0 + 10)
    labels.expire(now=T0 + 150)  # the unlabelled rows leave: room again, the rate rises to a half
    assert labels.rate("m") == 0.5
    labels.add_records(batch(4_000, 1_000, T0 + 200, 1), now=T0 + 200)
    everything = labels.joined("m", 0, math.inf)
    assert set(everything.weights.tolist()) == {2.0, 4.0}
    by_time = dict(zip(everything.timestamps.tolist(), everything.weights.tolist(), strict=True))
    for filters in ({"version": "7"}, {"segment": (0, "FR")}, {"other": (0, ["FR"])}):
        part = labels.joined("m", 0, math.inf, **filters)
        assert 0 < len(part.timestamps) < len(everything.timestamps)
        assert set(part.weights.tolist()) == {2.0, 4.0}
        assert part.weights.tolist() == [by_time[t] for t in part.timestamps.tolist()]
    versions = [labels.joined("m", 0, math.inf, version=v) for v in ("7", "8")]
    assert sum(len(v.timestamps) for v in versions) == len(everything.timestamps)


_OLD_SCHEMA = """
CREATE TABLE label_model (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    level INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE label_rate_change (model INTEGER NOT NULL, at REAL NOT NULL, level INTEGER NOT NULL);
CREATE TABLE label_prediction (
    model INTEGER NOT NULL,
    ts REAL NOT NULL,
    id_hash INTEGER NOT NULL,
    prediction NOT NULL,
    label,
    joined_at REAL,
    PRIMARY KEY (model, ts, id_hash)
) WITHOUT ROWID;
CREATE UNIQUE INDEX label_prediction_id ON label_prediction (id_hash, model);
"""


def test_a_file_made_before_versions_and_segments_gains_the_columns(tmp_path: Path) -> None:
    path = tmp_path / "labels.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_OLD_SCHEMA)
    db.execute("INSERT INTO label_model (id, name, level) VALUES (1, 'm', 0)")
    db.execute("INSERT INTO label_rate_change VALUES (1, 0, 0)")
    old = labels_module.id_hash
    db.execute("INSERT INTO label_prediction VALUES (1, ?, ?, 0.25, 1, ?)", (T0, old("old-joined"), T0 + 1))
    db.execute(
        "INSERT INTO label_prediction (model, ts, id_hash, prediction) VALUES (1, ?, ?, 0.75)",
        (T0 + 1, old("old-pending")),
    )
    db.commit()
    db.close()

    labels = store(tmp_path)
    columns = [row[1] for row in labels._db.execute("PRAGMA table_info(label_prediction)")]
    assert columns[-5:] == ["version", "seg0", "seg1", "seg2", "features"]
    assert labels.pending_count("m") == 1 and labels.joined_count("m") == 1
    assert labels.add_labels(["old-pending"], [0], now=T0 + 10) == {"joined": 1}
    labels.add_records([record("new", "7", "DE", prediction=0.5, ts=T0 + 2)], now=T0 + 10)
    # the old rows belong to no version and miss every segment value
    assert ids(labels.joined("m", 0, math.inf)) == [0.25, 0.75, 0.5]
    assert ids(labels.joined("m", 0, math.inf, version="7")) == [0.5]
    assert ids(labels.joined("m", 0, math.inf, segment=(0, None))) == [0.25, 0.75]
    assert ids(labels.joined("m", 0, math.inf, other=(0, ["DE"]))) == [0.25, 0.75]
    labels.close()
    reopened = store(tmp_path)  # adding the columns happens once
    assert ids(reopened.joined("m", 0, math.inf, segment=(0, "DE"))) == [0.5]


def test_dump_and_load_keep_versions_and_segments(filled: LabelStore, tmp_path: Path) -> None:
    filled.add_records([record("p", "9", "IT", label=None, prediction=0.7)], now=T0 + 20)
    data = filled.dump("m")
    assert data is not None
    other = LabelStore(tmp_path / "other.sqlite", ttl=7 * DAY, grace=3600.0)  # segments are in the rows
    other.load("m", data)
    for filters in (
        {},
        {"version": "8"},
        {"segment": (0, "DE")},
        {"segment": (1, None)},
        {"other": (0, ["DE"])},
    ):
        assert ids(other.joined("m", 0, math.inf, **filters)) == ids(
            filled.joined("m", 0, math.inf, **filters)
        )
    assert other.add_labels(["p"], [1], now=T0 + 30) == {"joined": 1}
    assert ids(other.joined("m", 0, math.inf, version="9", segment=(0, "IT"))) == [0.7]
    assert other.dump("m") != data


def test_a_dump_without_versions_is_small_and_an_old_dump_loads(tmp_path: Path) -> None:
    labels = store(tmp_path)
    labels.add_predictions("plain", ["a", "b"], [T0, T0 + 1], [0.1, 0.2], now=T0 + 5, labels=[1, 0])
    data = labels.dump("plain")
    assert data is not None
    decoded = msgspec.msgpack.decode(data)
    assert decoded[-1] == []  # no versions nor segments: no per-row scopes
    old = msgspec.msgpack.encode(decoded[:-1])  # as a dump written before the scopes field
    fresh = LabelStore(tmp_path / "fresh.sqlite", ttl=7 * DAY, grace=3600.0)
    fresh.load("plain", old)
    rows = fresh.joined("plain", 0, math.inf)
    assert rows.predictions.tolist() == [0.1, 0.2] and rows.labels.tolist() == [1, 0]
    assert len(fresh.joined("plain", 0, math.inf, segment=(0, None)).labels) == 2
    broken = msgspec.msgpack.encode([*decoded[:-1], [["7", None, None, None]] * 3])
    with pytest.raises(ValueError, match="scopes"):
        fresh.load("plain", broken)
    assert np.array_equal(fresh.joined("plain", 0, math.inf).labels, rows.labels)  # unchanged
