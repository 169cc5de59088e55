"""The predicted class of a map class -> probability: drift, quality and performance read it alike."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftwatch.drift.predicted_class import holds_probability_maps, predicted_classes
from driftwatch.drift.profile import ColumnProfile, ColumnSample
from driftwatch.performance.metrics import realized
from driftwatch.stream.records import Prediction
from driftwatch.stream.windows import ColumnSpec, Window


def test_the_most_probable_class_a_tie_to_the_first_in_order() -> None:
    maps = [{"b": 0.5, "a": 0.5}, {"c": 0.6, "a": 0.4}, {"a": 0.2, "b": 0.3, "c": 0.5}]
    assert predicted_classes(maps) == ["a", "c", "c"]  # sorted classes: a before b
    assert predicted_classes(maps, classes=["b", "a", "c"]) == ["b", "c", "c"]  # the model's order


def test_a_class_left_out_or_null_has_probability_0_and_other_rows_have_no_class() -> None:
    rows: list[object] = [{"a": None, "b": 0.1}, None, "a", {}, {"a": 0.0}, {"a": -1.0, "b": 0.5}, {"a": "x"}]
    assert predicted_classes(rows) == ["b", None, None, None, None, None, None]


def test_the_class_performance_grades_is_the_one_drift_reads() -> None:
    rng = np.random.default_rng(3)
    p = rng.dirichlet([1.0, 1.0, 1.0], size=300).round(1)  # rounding makes ties
    maps = [dict(zip("abc", row.tolist(), strict=True)) for row in p if row.sum() > 0]
    predicted = predicted_classes(maps)
    # every row labelled with the class drift reads: performance grades each row right
    assert realized("multiclass_classification", predicted, maps, classes=list("abc"))["accuracy"] == 1.0
    assert realized("multiclass_classification", predicted, maps)["accuracy"] == 1.0


def test_a_column_of_maps_profiles_as_its_predicted_classes() -> None:
    maps = pd.Series([{"a": 0.9, "b": 0.1}, {"a": 0.2, "b": 0.8}, None, {"b": 1.0}], name="probs")
    assert holds_probability_maps(maps) and not holds_probability_maps(pd.Series(["a", "b"]))
    assert not holds_probability_maps(pd.Series([0.1, 0.2]))
    profile = ColumnProfile.build("probs", maps)
    assert profile.type == "categorical"
    assert profile.uniques.tolist() == ["a", "b"] and profile.counts.tolist() == [1, 2]
    assert profile.missing_share == pytest.approx(0.25)
    sample = ColumnSample(maps, "categorical")
    assert sample.uniques.tolist() == ["a", "b"] and sample.rows == 3


def test_the_window_keeps_the_predicted_class_of_a_map_and_a_plain_class_as_it_is() -> None:
    window = Window([ColumnSpec("probs", "categorical", source="prediction")], length=3600, max_rows=100)
    records = [
        Prediction("m", None, None, 100.0, {}, prediction, None)
        for prediction in ({"a": 0.3, "b": 0.7}, {"b": 0.1, "c": 0.9}, "a", {})
    ]
    window.add(records, now=100.0)
    snapshot = window.snapshot(now=100.0)
    column = snapshot.frame["probs"]
    assert sorted(column.dropna().tolist()) == ["a", "b", "c"] and column.isna().sum() == 1  # {}: none
    assert snapshot.type_violations.get("probs", 0) == 0
