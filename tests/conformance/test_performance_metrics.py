"""Realized performance: every metric equals scikit-learn's on the same arrays, the edge cases are defined,
and the threshold rules and the not-enough-labels state behave as documented."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm  # type: ignore[import-untyped]

from driftwatch.performance import (
    METRICS,
    RealizedPerformance,
    Threshold,
    breaches,
    realized,
    realized_performance,
)


@pytest.fixture(autouse=True)
def _quiet_sklearn() -> Iterator[None]:
    # the reference calls below hit scikit-learn's own warnings for undefined metrics
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def same(values: dict[str, float], expected: dict[str, float]) -> None:
    assert set(values) == set(expected)
    for name, value in expected.items():
        if math.isnan(value):
            assert math.isnan(values[name]), name
        else:
            assert values[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def sklearn_binary(
    y: np.ndarray, labels: np.ndarray, scores: np.ndarray | None, pos: object = 1
) -> dict[str, float]:
    expected = {
        "accuracy": skm.accuracy_score(y, labels),
        "precision": skm.precision_score(y, labels, pos_label=pos, zero_division=0),
        "recall": skm.recall_score(y, labels, pos_label=pos, zero_division=0),
        "f1": skm.f1_score(y, labels, pos_label=pos, zero_division=0),
    }
    if scores is not None:
        expected["roc_auc"] = skm.roc_auc_score(y == pos, scores)
        expected["log_loss"] = skm.log_loss(y == pos, scores, labels=[False, True])
    return expected


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.8])
def test_binary_scores_equal_sklearn(seed: int, threshold: float) -> None:
    rng = np.random.default_rng(seed)
    scores = rng.uniform(size=500)
    y = (rng.uniform(size=500) < scores).astype(int)
    values = realized("binary_classification", y, scores, threshold=threshold)
    assert tuple(values) == METRICS["binary_classification"]
    same(values, sklearn_binary(y, (scores >= threshold).astype(int), scores))


def test_binary_labels_alone_have_no_probability_metrics() -> None:
    rng = np.random.default_rng(1)
    y, labels = rng.integers(0, 2, 300), rng.integers(0, 2, 300)
    values = realized("binary_classification", y, labels)
    same(values, sklearn_binary(y, labels, None))
    # floats that are all 0 or 1 are labels carried as floats, not scores
    same(realized("binary_classification", y, labels.astype(float)), values)


def test_binary_labels_with_probabilities_and_named_classes() -> None:
    rng = np.random.default_rng(2)
    scores = rng.uniform(size=400)
    y = np.where(rng.uniform(size=400) < scores, "yes", "no")
    labels = np.where(rng.uniform(size=400) < 0.5, "yes", "no")  # logged labels, not derived from the scores
    values = realized("binary_classification", y, labels, probabilities=scores, classes=("no", "yes"))
    same(values, sklearn_binary(y, labels, scores, pos="yes"))


def test_binary_single_class_window() -> None:
    y = np.ones(50, dtype=int)
    scores = np.linspace(0.1, 0.9, 50)
    values = realized("binary_classification", y, scores)
    assert math.isnan(values["roc_auc"])  # recent scikit-learn says NaN too, older versions raise
    same(values, sklearn_binary(y, (scores >= 0.5).astype(int), scores))


def test_binary_no_predicted_positives_is_zero_precision() -> None:
    y = np.array([0, 1, 1, 0, 1])
    values = realized("binary_classification", y, np.zeros(5, dtype=int))
    assert values["precision"] == 0.0 and values["recall"] == 0.0 and values["f1"] == 0.0
    same(values, sklearn_binary(y, np.zeros(5, dtype=int), None))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([0, 1, 2], [0, 1, 1], "y_true holds \\[2\\]"),
        ([0, 1, 1], [0.2, 1.7, 0.4], "in \\[0, 1\\]"),
        ([0, 1, 1], [0.2, math.nan, 0.4], "NaN"),
        (["a", "b"], [0.2, 0.9], "pass classes="),
    ],
)
def test_binary_bad_input_names_the_problem(y_true: list[Any], y_pred: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        realized("binary_classification", y_true, y_pred)


def multiclass_data(seed: int, rows: int = 600, k: int = 4) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    matrix = rng.dirichlet(np.ones(k) * 0.7, size=rows)
    classes = [f"c{i}" for i in range(k)]
    y = np.array([rng.choice(classes, p=row) for row in matrix])
    return y, matrix, classes


def sklearn_multiclass(y: np.ndarray, matrix: np.ndarray, classes: list[str]) -> dict[str, float]:
    labels = np.asarray(classes)[matrix.argmax(axis=1)]
    return {
        "accuracy": skm.accuracy_score(y, labels),
        "precision": skm.precision_score(y, labels, average="macro", zero_division=0),
        "recall": skm.recall_score(y, labels, average="macro", zero_division=0),
        "f1": skm.f1_score(y, labels, average="macro", zero_division=0),
        "roc_auc": skm.roc_auc_score(y, matrix, multi_class="ovr", average="macro", labels=classes),
        "log_loss": skm.log_loss(y, matrix, labels=classes),
    }


@pytest.mark.parametrize("seed", range(5))
def test_multiclass_matrix_and_maps_equal_sklearn(seed: int) -> None:
    y, matrix, classes = multiclass_data(seed)
    expected = sklearn_multiclass(y, matrix, classes)
    same(realized("multiclass_classification", y, matrix, classes=classes), expected)
    # one map per row, a zero probability left out, as a model's JSON often does
    maps = [{name: float(p) for name, p in zip(classes, row, strict=True) if p > 0.01} for row in matrix]
    dense = np.array([[m.get(name, 0.0) for name in classes] for m in maps])
    dense /= dense.sum(axis=1, keepdims=True)
    same(realized("multiclass_classification", y, maps), sklearn_multiclass(y, dense, classes))
    # a window's column of maps, and a matrix as nested lists, read the same
    same(realized("multiclass_classification", y, pd.Series(maps)), sklearn_multiclass(y, dense, classes))
    same(realized("multiclass_classification", y, matrix.tolist(), classes=classes), expected)


def test_multiclass_labels_equal_sklearn_and_rounded_probabilities_are_normalised() -> None:
    y, matrix, classes = multiclass_data(7)
    labels = np.asarray(classes)[matrix.argmax(axis=1)]
    values = realized("multiclass_classification", y, labels)
    expected = sklearn_multiclass(y, matrix, classes)
    same(values, {name: expected[name] for name in ("accuracy", "precision", "recall", "f1")})
    # logged probabilities rounded to 2 decimals do not sum to 1; scikit-learn's roc_auc would refuse them
    rounded = np.round(matrix, 2)
    with_probabilities = realized(
        "multiclass_classification", y, labels, probabilities=rounded, classes=classes
    )
    normalised = rounded / rounded.sum(axis=1, keepdims=True)
    assert with_probabilities["roc_auc"] == pytest.approx(
        skm.roc_auc_score(y, normalised, multi_class="ovr", labels=classes), rel=1e-12
    )


def test_multiclass_missing_class_and_missing_column_names() -> None:
    y, matrix, classes = multiclass_data(3)
    present = y != "c3"
    values = realized("multiclass_classification", y[present], matrix[present], classes=classes)
    assert math.isnan(values["roc_auc"])  # one-vs-rest has no negatives-vs-c3 curve without a c3
    same(values, sklearn_multiclass(y[present], matrix[present], classes))
    with pytest.raises(ValueError, match="needs classes="):
        realized("multiclass_classification", y, matrix)


@pytest.mark.parametrize("seed", range(5))
def test_regression_equals_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.lognormal(size=300)
    predicted = y + rng.normal(scale=0.3, size=300)
    same(
        realized("regression", y, predicted),
        {
            "mae": skm.mean_absolute_error(y, predicted),
            "rmse": skm.root_mean_squared_error(y, predicted),
            "mape": skm.mean_absolute_percentage_error(y, predicted),
            "r2": skm.r2_score(y, predicted),
        },
    )


def test_regression_single_row_has_no_r2() -> None:
    values = realized("regression", [2.0], [2.5])
    assert math.isnan(values["r2"]) and values["mae"] == 0.5


def test_empty_window_and_unknown_task() -> None:
    with pytest.raises(ValueError, match="no labelled rows"):
        realized("regression", [], [])
    with pytest.raises(ValueError, match="unknown task"):
        realized("ranking", [1.0], [1.0])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("metric", "value", "reference", "rule", "breached"),
    [
        ("accuracy", 0.79, 0.9, Threshold(min=0.8), True),
        ("accuracy", 0.80, 0.9, Threshold(min=0.8), False),
        ("rmse", 3.1, 2.0, Threshold(max=3.0), True),
        ("rmse", 2.9, 2.0, Threshold(max=3.0), False),
        # higher is better: breach below reference * (1 - max_drop)
        ("accuracy", 0.85, 0.9, Threshold(max_drop=0.05), True),
        ("accuracy", 0.86, 0.9, Threshold(max_drop=0.05), False),
        ("accuracy", 0.99, 0.9, Threshold(max_drop=0.05), False),
        # lower is better: breach above reference * (1 + max_drop)
        ("log_loss", 0.56, 0.5, Threshold(max_drop=0.1), True),
        ("log_loss", 0.54, 0.5, Threshold(max_drop=0.1), False),
        ("mae", 0.1, 0.5, Threshold(max_drop=0.1), False),
        # the drop is a fraction of |reference|, so a negative r2 still drops downwards
        ("r2", -0.23, -0.2, Threshold(max_drop=0.1), True),
        ("r2", -0.21, -0.2, Threshold(max_drop=0.1), False),
        # undefined values never breach; without a reference max_drop is skipped
        ("roc_auc", math.nan, 0.9, Threshold(min=0.8, max_drop=0.01), False),
        ("accuracy", 0.5, math.nan, Threshold(max_drop=0.01), False),
    ],
)
def test_threshold_rules(
    metric: str, value: float, reference: float, rule: Threshold, breached: bool
) -> None:
    assert breaches({metric: value}, {metric: reference}, {metric: rule}) == {metric: breached}


def test_breaches_of_missing_and_unknown_metrics() -> None:
    assert breaches({"accuracy": 0.9}, {}, {"roc_auc": Threshold(min=0.7)}) == {"roc_auc": False}
    with pytest.raises(ValueError, match="unknown metric 'acuracy'"):
        breaches({}, {}, {"acuracy": Threshold(min=0.7)})
    with pytest.raises(ValueError, match="above max"):
        Threshold(min=0.9, max=0.8)
    with pytest.raises(ValueError, match="non-negative"):
        Threshold(max_drop=-0.05)


def test_not_enough_labels_reports_no_numbers() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=40)
    y = (rng.uniform(size=40) < scores).astype(int)
    reference = {"accuracy": 0.9}
    result = realized_performance(
        "binary_classification",
        y,
        scores,
        reference=reference,
        rules={"accuracy": Threshold(min=0.99)},
        min_labels=100,
    )
    assert result.not_enough_labels and result.status == "not enough labels"
    assert result.values == {} and result.breaches == {} and not result.breached
    assert result.as_dict()["labelled_rows"] == 40


def test_enough_labels_reports_values_and_breaches() -> None:
    rng = np.random.default_rng(0)
    scores = rng.uniform(size=400)
    y = (rng.uniform(size=400) < scores).astype(int)
    y[:] = y[0]  # a single class: roc_auc is undefined, and null in JSON
    result = realized_performance(
        "binary_classification",
        y,
        scores,
        reference={"accuracy": 0.9, "roc_auc": 0.8},
        rules={"accuracy": Threshold(max_drop=0.05), "roc_auc": Threshold(min=0.7)},
        min_labels=100,
    )
    assert isinstance(result, RealizedPerformance) and result.status == "breach"
    assert result.breaches == {"accuracy": True, "roc_auc": False}
    document = result.as_dict()
    assert document["values"]["roc_auc"] is None  # type: ignore[index]
    assert document["values"]["accuracy"] == result.values["accuracy"]  # type: ignore[index]


def test_labels_of_mixed_types_are_a_value_error_not_a_type_error() -> None:
    """Text among 0/1 labels used to reach np.unique, which cannot sort str and int (TypeError)."""
    with pytest.raises(ValueError, match=r"holds \['yes'\], not among the classes \[0, 1\]"):
        realized("binary_classification", np.array([0, 1, "yes"], dtype=object), np.array([0.2, 0.7, 0.4]))
    with pytest.raises(ValueError, match="not among the classes"):
        realized(
            "multiclass_classification",
            np.array(["a", 1, "b"], dtype=object),
            np.array(["a", "b", "b"], dtype=object),
            classes=["a", "b"],
        )
