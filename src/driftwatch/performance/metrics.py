"""Realized performance: a model's metrics over labelled predictions, and the rules that flag a drop.

Once labels arrive for a window's predictions, the questions are "how good is
the model now" and "is that worse than on the reference". Every number here is
scikit-learn's, computed on the same arrays a user would pass to
``sklearn.metrics`` (so a figure on a dashboard can be reproduced in a
notebook); this module only decides which arrays to pass. What it adds is the
reading of a model's output (scores or labels, a probability matrix or a map
class -> probability), the direction of each metric, the threshold rules, and
the "not enough labels" state that keeps a window with a handful of labels
from raising an alert on a noisy number.

Undefined metrics are NaN, as recent scikit-learn returns them, never an
exception: roc_auc when the window's labels hold a single class (or, for
multiclass, when a class is missing: one-vs-rest needs every class), r2 with
fewer than two rows. A NaN value never breaches a rule, and JSON carries it as
null. Precision and recall with nothing to divide by (no predicted or no actual
positives) are 0, scikit-learn's ``zero_division=0``: a model that never says
"positive" has no precision worth defending, and 0 does not hide that.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sklearn import metrics as skm  # type: ignore[import-untyped]

from driftwatch.defaults import MIN_LABELS_DEFAULT
from driftwatch.drift.predicted_class import most_probable

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "RealizedPerformance",
    "Task",
    "Threshold",
    "breaches",
    "correct",
    "realized",
    "realized_performance",
]

Task = Literal["binary_classification", "multiclass_classification", "regression"]

METRICS: dict[Task, tuple[str, ...]] = {
    "binary_classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "multiclass_classification": ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"),
    "regression": ("mae", "rmse", "mape", "r2"),
}
"""Every metric a task reports. Classification metrics that need probabilities (roc_auc, log_loss) are
left out when the model logs labels only."""

HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "mae": False,
    "rmse": False,
    "mape": False,
    "r2": True,
    # estimated without labels (driftwatch.performance.dle), not realized
    "mse": False,
    "msle": False,
    "rmsle": False,
}
"""The direction of each metric: which way is a drop. Errors and losses are better low."""

FloatArray = npt.NDArray[np.float64]
Predictions = npt.ArrayLike | Sequence[Mapping[Any, float]]
"""What a model logs: labels, scores, a probability matrix (rows, classes) or one map class -> probability
per row."""


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined metric is null."""
    return value if math.isfinite(value) else None


def _floats(values: npt.ArrayLike, name: str) -> FloatArray:
    array = np.asarray(values, dtype=np.float64)
    if array.ndim != 1:
        raise ValueError(f"{name} must be one value per row, got an array of shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values; drop those rows first")
    return array


def _scores(values: npt.ArrayLike, name: str) -> FloatArray:
    scores = _floats(values, name)
    if len(scores) and (scores.min() < 0.0 or scores.max() > 1.0):
        raise ValueError(
            f"{name} must be probabilities of the positive class in [0, 1], "
            f"found values in [{scores.min():g}, {scores.max():g}]"
        )
    return scores


def _check_labels(values: npt.NDArray[Any], classes: Sequence[Hashable], name: str) -> None:
    # distinct values without sorting them: np.unique raises TypeError on text among numbers
    try:
        distinct = list(dict.fromkeys(values.tolist()))
    except TypeError:  # unhashable values (class probability maps) where labels belong
        raise ValueError(
            f"{name} holds values that are not labels; expected one of {list(classes)!r}"
        ) from None
    unknown = [value for value in distinct if value not in classes]
    if unknown:
        raise ValueError(
            f"{name} holds {unknown[:5]!r}, not among the classes {list(classes)!r}; "
            "pass classes= naming every label the model can give"
        )


def _is_scores(values: npt.NDArray[Any]) -> bool:
    """Floats are scores, unless every one of them is 0 or 1: labels carried as floats, as JSON often does."""
    if values.dtype.kind != "f":
        return False
    return not bool(np.isin(values, (0.0, 1.0)).all())


Only = Collection[str] | None
"""The metrics to compute (None: every one): a caller that needs one metric many times (a bootstrap)
skips the others' cost."""


def _wanted(only: Only, *names: str) -> bool:
    return only is None or any(name in only for name in names)


def _label_metrics(
    truth: npt.ArrayLike,
    predicted: npt.ArrayLike,
    average: str,
    sample_weight: FloatArray | None,
    only: Only = None,
) -> dict[str, float]:
    """Accuracy, and precision, recall and f1 with scikit-learn's ``average`` (binary or macro)."""
    values = {}
    if _wanted(only, "accuracy"):
        values["accuracy"] = float(skm.accuracy_score(truth, predicted, sample_weight=sample_weight))
    if _wanted(only, "precision", "recall", "f1"):
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            truth, predicted, average=average, zero_division=0, sample_weight=sample_weight
        )
        values.update(precision=float(precision), recall=float(recall), f1=float(f1))
    return values


def _present(labels: npt.NDArray[Any], sample_weight: FloatArray | None) -> npt.NDArray[Any]:
    """The labels that count: rows with zero weight are ignored, as scikit-learn's ranking metrics do."""
    return np.unique(labels if sample_weight is None else labels[sample_weight > 0])


def _binary_scores(
    truth: npt.NDArray[np.bool_],
    predicted: npt.NDArray[np.bool_],
    scores: FloatArray | None,
    sample_weight: FloatArray | None,
    log_loss: bool = True,
    only: Only = None,
) -> dict[str, float]:
    """Binary metrics on boolean labels (True is the positive class), and on scores when there are any."""
    values = _label_metrics(truth, predicted, "binary", sample_weight, only)
    if scores is not None:
        if _wanted(only, "roc_auc"):
            # checked first rather than caught: older scikit-learn raises, recent versions warn
            two_classes = len(_present(truth, sample_weight)) == 2
            values["roc_auc"] = (
                float(skm.roc_auc_score(truth, scores, sample_weight=sample_weight))
                if two_classes
                else math.nan
            )
        if log_loss and _wanted(only, "log_loss"):
            values["log_loss"] = float(
                skm.log_loss(truth, scores, labels=[False, True], sample_weight=sample_weight)
            )
    return values


def _binary_outcomes(
    y_true: npt.ArrayLike,
    y_pred: Predictions,
    probabilities: Predictions | None,
    threshold: float,
    classes: Sequence[Hashable] | None,
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], FloatArray | None]:
    """A binary classifier's rows read as (truth is positive, predicted positive, scores or None)."""
    negative, positive = classes if classes is not None else (0, 1)
    truth = np.asarray(y_true)
    _check_labels(truth, (negative, positive), "y_true")
    predicted = np.asarray(y_pred)
    scores: FloatArray | None = None
    if _is_scores(predicted):
        scores = _scores(predicted, "y_pred")
        predicted_positive = scores >= threshold
    else:
        _check_labels(predicted, (negative, positive), "y_pred")
        predicted_positive = predicted == positive
        if probabilities is not None:
            scores = _scores(np.asarray(probabilities), "probabilities")
    return truth == positive, predicted_positive, scores


def _binary(
    y_true: npt.ArrayLike,
    y_pred: Predictions,
    probabilities: Predictions | None,
    threshold: float,
    classes: Sequence[Hashable] | None,
    sample_weight: FloatArray | None,
    only: Only = None,
) -> dict[str, float]:
    truth, predicted, scores = _binary_outcomes(y_true, y_pred, probabilities, threshold, classes)
    return _binary_scores(truth, predicted, scores, sample_weight, only=only)


def _table(values: Predictions) -> npt.NDArray[Any]:
    """A model's output as an array without reading it yet: a list of maps stays one map per row."""
    return values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)


def _is_probability_table(values: Predictions) -> bool:
    """A (rows, classes) matrix, or one map class -> probability per row (a list, array or Series)."""
    table = _table(values)
    if table.ndim == 2:
        return True
    return table.ndim == 1 and len(table) > 0 and isinstance(table[0], Mapping)


def _probability_matrix(
    values: Predictions, classes: Sequence[Hashable] | None, truth: npt.NDArray[Any]
) -> tuple[FloatArray, list[Hashable]]:
    """Probabilities as a (rows, classes) matrix with each row summing to one, and its column classes.

    A row may omit classes (probability 0). Each row is divided by its sum: logged probabilities are
    often rounded, and scikit-learn's multiclass roc_auc refuses rows that do not sum to one.
    """
    table = _table(values)
    if table.ndim == 2:
        if classes is None:
            raise ValueError("a probability matrix needs classes= naming its columns, in order")
        names = list(classes)
        matrix = table.astype(np.float64)
        if matrix.shape[1] != len(names):
            raise ValueError(f"the probability matrix has {matrix.shape[1]} columns for {len(names)} classes")
    else:
        if not all(isinstance(row, Mapping) for row in table):
            raise ValueError("class probabilities must be a (rows, classes) matrix or one map per row")
        keys = {key for row in table for key in row}
        if classes is None:
            names = sorted(keys | set(np.unique(truth).tolist()))
        else:
            names = list(classes)
            if keys - set(names):
                raise ValueError(f"probabilities name classes {sorted(keys - set(names))!r} not in classes=")
        # a class the map leaves out, or names with no value (a Parquet struct's null), has probability 0,
        # as in the daemon's window
        matrix = np.array([[_or_zero(row.get(name)) for name in names] for row in table], dtype=np.float64)
    if not np.isfinite(matrix).all() or (matrix < 0).any():
        raise ValueError("class probabilities must be finite and non-negative")
    sums = matrix.sum(axis=1, keepdims=True)
    if (sums <= 0).any():
        raise ValueError("a row of class probabilities sums to 0")
    return matrix / sums, names


def _or_zero(value: object) -> object:
    return 0.0 if value is None else value


def _sorted_columns(matrix: FloatArray, names: Sequence[Hashable]) -> tuple[FloatArray, list[Hashable]]:
    """The matrix's columns in the sorted order of their classes: scikit-learn's multiclass roc_auc
    refuses labels out of order and its log_loss reads a matrix's columns as the sorted classes, so
    classes configured in another order (``classes=["b", "a", "c"]``) are put in order first. Classes
    that do not sort (text among numbers) stay as given."""
    try:
        order = sorted(range(len(names)), key=lambda i: names[i])  # type: ignore[arg-type,return-value]
    except TypeError:
        return matrix, list(names)
    return matrix[:, order], [names[i] for i in order]


def _multiclass_outcomes(
    y_true: npt.ArrayLike,
    y_pred: Predictions,
    probabilities: Predictions | None,
    classes: Sequence[Hashable] | None,
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], FloatArray | None, list[Hashable]]:
    """A multiclass classifier's rows read as (truth, predicted label, probability matrix or None, the
    matrix's column classes)."""
    truth = np.asarray(y_true)
    table = probabilities if probabilities is not None else y_pred if _is_probability_table(y_pred) else None
    matrix: FloatArray | None = None
    names: list[Hashable] = []
    if table is not None:
        matrix, names = _probability_matrix(table, classes, truth)
        _check_labels(truth, names, "y_true")
    if probabilities is None and matrix is not None:
        predicted = most_probable(matrix, names)  # as drift and data quality read the prediction
    else:
        predicted = np.asarray(y_pred)
        if classes is not None:
            _check_labels(truth, classes, "y_true")
            _check_labels(predicted, classes, "y_pred")
    return truth, predicted, matrix, names


def _multiclass(
    y_true: npt.ArrayLike,
    y_pred: Predictions,
    probabilities: Predictions | None,
    classes: Sequence[Hashable] | None,
    sample_weight: FloatArray | None,
    only: Only = None,
) -> dict[str, float]:
    truth, predicted, matrix, names = _multiclass_outcomes(y_true, y_pred, probabilities, classes)
    # macro averages over the classes present in the window (truth or prediction), scikit-learn's default:
    # a class the window never saw nor predicted has no precision or recall to average in
    values = _label_metrics(truth, predicted, "macro", sample_weight, only)
    if matrix is not None and _wanted(only, "roc_auc"):
        every_class = len(_present(truth, sample_weight)) == len(names) >= 2
        if not every_class:
            values["roc_auc"] = math.nan
        elif len(names) == 2:
            values["roc_auc"] = float(
                skm.roc_auc_score(truth == names[1], matrix[:, 1], sample_weight=sample_weight)
            )
        else:
            ordered, labels = _sorted_columns(matrix, names)
            values["roc_auc"] = float(
                skm.roc_auc_score(
                    truth,
                    ordered,
                    multi_class="ovr",
                    average="macro",
                    labels=labels,
                    sample_weight=sample_weight,
                )
            )
    if matrix is not None and _wanted(only, "log_loss"):
        ordered, labels = _sorted_columns(matrix, names)
        values["log_loss"] = float(skm.log_loss(truth, ordered, labels=labels, sample_weight=sample_weight))
    return values


def _regression(
    y_true: npt.ArrayLike, y_pred: Predictions, sample_weight: FloatArray | None, only: Only = None
) -> dict[str, float]:
    truth = _floats(y_true, "y_true")
    predicted = _floats(y_pred, "y_pred")  # type: ignore[arg-type]
    values = {}
    if _wanted(only, "mae"):
        values["mae"] = float(skm.mean_absolute_error(truth, predicted, sample_weight=sample_weight))
    if _wanted(only, "rmse"):
        values["rmse"] = float(skm.root_mean_squared_error(truth, predicted, sample_weight=sample_weight))
    if _wanted(only, "mape"):
        # scikit-learn divides by max(|y|, machine epsilon): a true 0 makes mape enormous, not infinite
        values["mape"] = float(
            skm.mean_absolute_percentage_error(truth, predicted, sample_weight=sample_weight)
        )
    if _wanted(only, "r2"):
        values["r2"] = (
            float(skm.r2_score(truth, predicted, sample_weight=sample_weight))
            if len(truth) >= 2
            else math.nan
        )
    return values


def realized(
    task: Task,
    y_true: npt.ArrayLike,
    y_pred: Predictions,
    *,
    probabilities: Predictions | None = None,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
    sample_weight: npt.ArrayLike | None = None,
    only: Collection[str] | None = None,
) -> dict[str, float]:
    """The task's metrics (`METRICS`) over labelled rows, each equal to scikit-learn's on the same arrays.

    binary_classification
        ``y_pred`` is either the probability of the positive class (floats in [0, 1]; the predicted label is
        positive when the score >= ``threshold``), or labels. Floats that are all exactly 0 or 1 are labels.
        ``classes`` is ``(negative, positive)``, default ``(0, 1)``. roc_auc and log_loss come from the
        scores: from ``y_pred`` when it holds scores, else from ``probabilities`` when given, else they
        are left out.
    multiclass_classification
        ``y_pred`` is labels, a (rows, classes) probability matrix whose columns are ``classes``, or one
        map class -> probability per row (``classes`` default: every class named, sorted). The predicted
        label is the most probable class. ``probabilities`` adds a matrix or maps to logged labels.
        precision, recall and f1 are macro averages; roc_auc is one-vs-rest, macro averaged.
    regression
        mae, rmse, mape (a fraction, not a percentage) and r2.

    ``sample_weight`` weighs rows as scikit-learn does. ``only`` names the metrics wanted (default every
    one): the others are not computed (precision, recall and f1 come together), the inputs are checked
    the same. Raises ValueError naming the
    problem when labels fall outside ``classes`` or values are not finite.
    """
    if not len(np.asarray(y_true)):
        raise ValueError("no labelled rows: performance needs at least one")
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if task == "binary_classification":
        if classes is not None and len(classes) != 2:
            raise ValueError(f"binary classes must be (negative, positive), got {list(classes)!r}")
        return _binary(y_true, y_pred, probabilities, threshold, classes, weight, only)
    if task == "multiclass_classification":
        return _multiclass(y_true, y_pred, probabilities, classes, weight, only)
    if task == "regression":
        return _regression(y_true, y_pred, weight, only)
    raise ValueError(f"unknown task {task!r}; known: {', '.join(METRICS)}")


def correct(
    task: Task,
    y_true: npt.ArrayLike,
    y_pred: Predictions,
    *,
    probabilities: Predictions | None = None,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
) -> npt.NDArray[np.bool_]:
    """Per row, whether the predicted label is the true one: the rows whose (weighted) mean is `realized`'s
    accuracy, read from the model's output exactly as `realized` reads it (same arguments).

    What a comparison of two versions needs to pair their right and wrong answers row by row. Regression
    has no right or wrong rows: ValueError, as for labels outside ``classes``.
    """
    if task == "binary_classification":
        if classes is not None and len(classes) != 2:
            raise ValueError(f"binary classes must be (negative, positive), got {list(classes)!r}")
        truth, predicted, _ = _binary_outcomes(y_true, y_pred, probabilities, threshold, classes)
        return np.asarray(truth == predicted, dtype=np.bool_)
    if task == "multiclass_classification":
        labels, chosen, _, _ = _multiclass_outcomes(y_true, y_pred, probabilities, classes)
        return np.asarray(labels == chosen, dtype=np.bool_)
    if task == "regression":
        raise ValueError("regression predictions are not right or wrong; compare mae, rmse, mape or r2")
    raise ValueError(f"unknown task {task!r}; known: {', '.join(METRICS)}")


@dataclass(frozen=True)
class Threshold:
    """When a metric is bad enough to flag: an absolute bound, a drop relative to the reference, or both.

    ``min`` and ``max`` bound the value itself. ``max_drop`` is the largest relative change in the bad
    direction, as a fraction of the reference value: with 0.05, accuracy breaches below 95% of the
    reference's and rmse above 105% of it. The fraction is of ``abs(reference)``, so a negative reference
    r2 still moves the bound the bad way.
    """

    min: float | None = None
    max: float | None = None
    max_drop: float | None = None

    def __post_init__(self) -> None:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"threshold min {self.min} is above max {self.max}")
        if self.max_drop is not None and not self.max_drop >= 0:
            raise ValueError(f"max_drop must be a non-negative fraction such as 0.05, got {self.max_drop}")

    def breached(self, metric: str, value: float, reference: float | None = None) -> bool:
        """Whether ``value`` crosses a bound. NaN never does; without a finite reference max_drop is skipped."""
        if math.isnan(value):
            return False
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            return True
        if self.max_drop is None or reference is None or not math.isfinite(reference):
            return False
        if direction(metric):
            return value < reference - self.max_drop * abs(reference)
        return value > reference + self.max_drop * abs(reference)


def direction(metric: str) -> bool:
    """True when higher is better. Raises ValueError for a metric driftwatch does not compute."""
    try:
        return HIGHER_IS_BETTER[metric]
    except KeyError:
        raise ValueError(f"unknown metric {metric!r}; known: {', '.join(HIGHER_IS_BETTER)}") from None


def breaches(
    values: Mapping[str, float], reference: Mapping[str, float], rules: Mapping[str, Threshold]
) -> dict[str, bool]:
    """For each metric with a rule, whether its value breaches it.

    A metric the window does not have (roc_auc of a label-only model) or that is undefined (NaN) does
    not breach: the absence of a number is not evidence of a drop.
    """
    result = {}
    for metric, rule in rules.items():
        direction(metric)
        result[metric] = rule.breached(metric, values.get(metric, math.nan), reference.get(metric))
    return result


@dataclass(frozen=True)
class RealizedPerformance:
    """One window's realized performance against the reference. ``values`` and ``breaches`` are empty
    when the window has fewer than ``min_labels`` labelled rows: too few to tell a drop from noise."""

    task: Task
    values: dict[str, float]
    reference: dict[str, float]
    labelled_rows: int
    min_labels: int
    breaches: dict[str, bool]

    @property
    def not_enough_labels(self) -> bool:
        return self.labelled_rows < self.min_labels

    @property
    def breached(self) -> bool:
        return any(self.breaches.values())

    @property
    def status(self) -> Literal["ok", "breach", "not enough labels"]:
        if self.not_enough_labels:
            return "not enough labels"
        return "breach" if self.breached else "ok"

    def as_dict(self) -> dict[str, object]:
        return {
            "task": self.task,
            "status": self.status,
            "labelled_rows": self.labelled_rows,
            "min_labels": self.min_labels,
            "values": {name: _finite(value) for name, value in self.values.items()},
            "reference": {name: _finite(value) for name, value in self.reference.items()},
            "breaches": dict(self.breaches),
        }


def realized_performance(
    task: Task,
    y_true: npt.ArrayLike,
    y_pred: Predictions,
    *,
    reference: Mapping[str, float],
    rules: Mapping[str, Threshold],
    min_labels: int = MIN_LABELS_DEFAULT,
    probabilities: Predictions | None = None,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
    sample_weight: npt.ArrayLike | None = None,
) -> RealizedPerformance:
    """A window's labelled rows scored with `realized` and checked against ``rules``.

    ``reference`` is `realized` on the reference data with the same arguments. ``y_true`` and ``y_pred``
    hold the labelled rows only (the label join drops the rest), so their length is the labelled count.
    ``sample_weight`` (the label join's inverse sampling rates) weighs the metrics, not the count.
    """
    if min_labels < 1:
        raise ValueError(f"min_labels must be at least 1, got {min_labels}")
    rows = len(np.asarray(y_true))
    if rows < min_labels:
        return RealizedPerformance(task, {}, dict(reference), rows, min_labels, {})
    values = realized(
        task,
        y_true,
        y_pred,
        probabilities=probabilities,
        threshold=threshold,
        classes=classes,
        sample_weight=sample_weight,
    )
    return RealizedPerformance(
        task, values, dict(reference), rows, min_labels, breaches(values, reference, rules)
    )
