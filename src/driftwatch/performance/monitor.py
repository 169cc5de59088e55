"""A model's performance checks: realized metrics over the window's labelled predictions, CBPE
estimates over its scores (binary classifiers) or class probabilities (multiclass) or DLE estimates
over its features and predictions (regression, with ``estimate: true``), all against the labelled
reference; and each estimator scored on the labelled rows against their realized metrics
(`PerformanceMonitor.estimate_error`).

`PerformanceMonitor` is prepared once on the labelled reference rows (computing the reference metrics
and fitting CBPE) from a plain `PerformanceSpec`; `RealizedPerformanceCheck` and
`EstimatedPerformanceCheck` implement `driftwatch.checks.base.Check` on it and run on every scheduled
check. Nothing here reads the configuration, talks to Kafka or SQLite, or knows the clock: the runner
passes in the joined rows (`driftwatch.state.labels.LabelStore.joined_features`) and the window's sampled prediction
column; `driftwatch.service.model_checks.performance_monitor` translates a model's settings.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.checks.base import CheckInput, Labelled, PartResult, PartStatus
from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.performance.cbpe import CBPE, ESTIMATED_METRICS, CBPEError, EstimatedPerformance
from driftwatch.performance.dle import DAEMON_METRICS, DLE, DLEError, categorical_columns
from driftwatch.performance.evaluation import BandedEstimate, EstimateEvaluation, evaluate_estimate
from driftwatch.performance.metrics import (
    Predictions,
    RealizedPerformance,
    Task,
    Threshold,
    realized,
    realized_performance,
)
from driftwatch.performance.multiclass_cbpe import MulticlassCBPE
from driftwatch.reference import ReferenceDataError
from driftwatch.stream.records import LabelRule
from driftwatch.stream.windows import ColumnSpec

__all__ = [
    "EstimatedPerformanceCheck",
    "PerformanceMonitor",
    "PerformanceResult",
    "PerformanceSpec",
    "RealizedPerformanceCheck",
    "graded_labels",
    "performance_result",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PerformanceResult:
    """What a check found about performance. ``realized`` is None when the check could not compute it
    (``error`` says why); ``estimated`` is None without CBPE or when the window is too small
    (``estimate_note`` says why)."""

    realized: RealizedPerformance | None
    estimated: EstimatedPerformance | None
    estimate_note: str | None = None
    error: str | None = None
    # parts that failed unexpectedly (a bug, not the data): "performance" and/or "estimated_performance"
    failed: tuple[str, ...] = ()
    # the estimator scored on the labelled rows of the look-back: its estimate there against the
    # realized metrics (None without an estimator or without realized metrics)
    estimate_error: EstimateEvaluation | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "realized": None if self.realized is None else self.realized.as_dict(),
            "estimated": None if self.estimated is None else self.estimated.as_dict(),
            "estimate_note": self.estimate_note,
            "error": self.error,
            "estimate_error": None if self.estimate_error is None else self.estimate_error.as_dict(),
        }


@dataclass(frozen=True)
class PerformanceSpec:
    """What a model's performance check needs to know: the task, the reference's prediction and label
    columns, how to read predictions (``classes``, ``decision_threshold``), how many labelled rows
    (``min_labels``) and window predictions (``min_predictions``) make an answer, the rules per metric,
    and whether and how to estimate without labels (``estimate``: None = when the reference holds
    probabilities; ``estimate_rules``: None = the rules of the estimable metrics)."""

    task: Task
    prediction: str
    label: str = "label"
    decision_threshold: float = 0.5
    classes: tuple[str | int | bool, ...] | None = None
    min_labels: int = 1
    min_predictions: int = 1
    rules: Mapping[str, Threshold] = field(default_factory=dict)
    estimate: bool | None = None
    estimate_rules: Mapping[str, Threshold] | None = None
    calibration: Literal["auto", "isotonic", "none"] = "auto"
    # regression estimates (DLE): the monitored features its loss models read beside the prediction,
    # and those declared categorical (text, category and bool columns are, declared or not)
    features: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()


def graded_labels(values: npt.ArrayLike, spec: PerformanceSpec) -> npt.NDArray[Any]:
    """Labels as the metrics expect them: JSON booleans of a binary classifier with default classes are 0/1."""
    array = np.asarray(values)
    if spec.task == "binary_classification" and spec.classes is None and array.dtype == object:
        array = np.array([int(v) if isinstance(v, bool) else v for v in array.tolist()], dtype=object)
        if all(isinstance(v, int | float) for v in array.tolist()):
            array = array.astype(np.float64)
    return array


def _are_scores(values: npt.NDArray[Any]) -> bool:
    """Probabilities of the positive class: floats in [0, 1], not all exactly 0 or 1."""
    if values.dtype.kind not in "fiu" or not len(values):
        return False
    floats = values.astype(np.float64)
    return bool(((floats >= 0) & (floats <= 1)).all()) and not bool(np.isin(floats, (0.0, 1.0)).all())


class PerformanceMonitor:
    """Reference metrics and the CBPE fit of one model, and the per-window check."""

    def __init__(
        self,
        name: str,
        spec: PerformanceSpec,
        frame: pd.DataFrame,
        where: str | None = None,
        reference_name: str | None = None,
    ) -> None:
        """Prepared on ``frame``, the reference rows with the prediction and label columns. ``where`` names
        the settings and ``reference_name`` the reference in error messages; `ReferenceDataError` when the
        reference cannot grade anything."""
        self.name = name
        self.spec = spec
        self.prediction = spec.prediction
        # the estimate reads the window's predictions, not labels: it needs as many as a drift verdict
        # (window.min_rows; bench/performance_false_alarms.py: steady from a few hundred predictions)
        self.min_predictions = spec.min_predictions
        self.classes: tuple[Hashable, ...] | None = spec.classes
        where = where or f"models.{name}"
        missing = [c for c in (self.prediction, spec.label) if c not in frame.columns]
        if missing:
            raise ReferenceDataError(
                f"{where}.performance: the reference{f' {reference_name}' if reference_name else ''} has no "
                f"column(s) {', '.join(missing)} "
                f"(it has {', '.join(map(str, frame.columns))}); set {where}.prediction and "
                f"{where}.performance.label to the columns holding the model's output and the ground truth"
            )
        labelled = frame[[self.prediction, spec.label]].dropna()
        if labelled.empty:
            raise ReferenceDataError(
                f"{where}.performance: no reference row has both {self.prediction!r} and {spec.label!r}"
            )
        self.reference_rows = len(labelled)
        scores = labelled[self.prediction].to_numpy()
        truth = graded_labels(labelled[spec.label].to_numpy(), spec)
        # what a label must be to be accepted at ingest: one of another kind would break every metric
        self.label_rule = LabelRule.of(name, spec.task, spec.classes, truth.tolist())
        self._numeric_predictions = scores.dtype.kind in "fiu"  # the reference logs numbers, not classes
        self._classes = frozenset(self.classes if self.classes is not None else (0, 1))
        try:
            self.reference = realized(
                spec.task, truth, scores, threshold=spec.decision_threshold, classes=self.classes
            )
        except ValueError as exc:
            raise ReferenceDataError(f"{where}.performance: reference metrics: {exc}") from None
        self.rules = dict(spec.rules)
        estimate_rules = spec.estimate_rules
        estimable = DAEMON_METRICS if spec.task == "regression" else ESTIMATED_METRICS
        if estimate_rules is None:
            estimate_rules = {m: t for m, t in spec.rules.items() if m in estimable}
        self.estimate_rules = dict(estimate_rules)
        self.cbpe: CBPE | MulticlassCBPE | None = None
        self.dle: DLE | None = None
        self.cbpe_problem: str | None = None
        wanted = spec.estimate
        if spec.task == "regression" and wanted:
            self.dle = _fit_dle(spec, frame, where, reference_name)
            return
        if spec.task == "multiclass_classification" and wanted is not False:
            self._fit_multiclass(scores, truth, where, wanted)
            return
        if spec.task != "binary_classification" or wanted is False:
            return
        if not _are_scores(scores):
            if wanted:
                raise ReferenceDataError(
                    f"{where}.performance.estimate: CBPE needs probabilities of the positive class in "
                    f"{self.prediction!r}, but the reference holds labels; remove 'estimate: true'"
                )
            # said in every result, so that a missing estimate is explained rather than silent
            self.cbpe_problem = (
                f"no CBPE estimate: the reference's {self.prediction!r} holds hard labels, not probabilities "
                "of the positive class; CBPE reads the model's confidence from its scores"
            )
            return
        positive = self.classes[1] if self.classes is not None else 1
        try:
            self.cbpe = CBPE.fit(
                scores.astype(np.float64),
                truth == positive,
                threshold=spec.decision_threshold,
                calibration=spec.calibration,
            )
        except CBPEError as exc:
            if wanted:
                raise ReferenceDataError(f"{where}.performance.estimate: {exc}") from None
            self.cbpe_problem = f"no CBPE estimate: {exc}"
            log.warning("model %s: %s", name, self.cbpe_problem)

    def _fit_multiclass(
        self, predictions: npt.NDArray[Any], truth: npt.NDArray[Any], where: str, wanted: bool | None
    ) -> None:
        """Multiclass CBPE on the reference's class-probability maps. By default (``wanted`` None) only
        when the reference logs maps: a model that logs classes has no confidence to read, and says
        nothing about it, as before estimates existed for multiclass."""
        if not _are_maps(predictions):
            if wanted:
                raise ReferenceDataError(
                    f"{where}.performance.estimate: CBPE needs a map class -> probability per row in "
                    f"{self.prediction!r} (predict_proba's), but the reference holds classes; remove "
                    "'estimate: true'"
                )
            return
        try:
            self.cbpe = MulticlassCBPE.fit(
                list(predictions), truth, classes=self.classes, calibration=self.spec.calibration
            )
        except CBPEError as exc:
            if wanted:
                raise ReferenceDataError(f"{where}.performance.estimate: {exc}") from None
            self.cbpe_problem = f"no CBPE estimate: {exc}"
            log.warning("model %s: %s", self.name, self.cbpe_problem)

    def window_columns(self) -> list[ColumnSpec]:
        """The window columns the estimate reads beyond the features and the prediction: for multiclass
        CBPE, one numeric column per class holding its probability (the window keeps numbers and
        categories, not maps)."""
        if not isinstance(self.cbpe, MulticlassCBPE):
            return []
        return [
            ColumnSpec(probability_column(self.prediction, c), "numeric", "probability", str(c))
            for c in self.cbpe.classes
        ]

    def gradable(self, prediction: object) -> bool:
        """Whether a logged prediction can be graded with the others of its kind: a binary classifier's
        score in [0, 1] (or class), a multiclass classifier's class (of the classes' type) or map of class
        probabilities, a regression's finite number. One of another kind (text from a scorer) among the
        joined rows would make every realized metric of the look-back fail, so it is not kept for the
        join; null (nothing to grade) is left to the join to count."""
        if prediction is None or (prediction.__class__ is float and prediction != prediction):  # noqa: PLR0124
            return True
        number = isinstance(prediction, int | float) and not isinstance(prediction, bool)
        task = self.spec.task
        if task == "regression":
            return number and _finite(prediction)  # type: ignore[arg-type]
        if task == "binary_classification":
            if self._numeric_predictions and number:
                return _finite(prediction) and 0.0 <= prediction <= 1.0  # type: ignore[arg-type, operator]
            return isinstance(prediction, Hashable) and prediction in self._classes
        if isinstance(prediction, dict):  # class probabilities
            return all(isinstance(v, int | float) and _finite(v) and v >= 0 for v in prediction.values())
        return self.label_rule.problem(prediction) is None  # type: ignore[arg-type]

    @property
    def checks(self) -> list[str]:
        """The alert checks this model has: one per metric with a threshold."""
        names = [str(CheckId("performance", m)) for m in self.rules]
        if self.estimates:
            names += [str(CheckId("estimated_performance", m)) for m in self.estimate_rules]
        return names

    @property
    def estimates(self) -> bool:
        """Whether performance is estimated without labels (a CBPE or a DLE fit)."""
        return self.cbpe is not None or self.dle is not None

    def realized_part(self, labelled: Labelled) -> PartResult[RealizedPerformance]:
        """Realized performance of the labelled rows of the look-back. A problem in the data (a label
        outside the classes) is the result's note, never an exception."""
        s, check = self.spec, CheckId("performance")
        weights = _weights(labelled.weights)
        try:
            truth = graded_labels(labelled.labels, s)
            result = realized_performance(
                s.task,
                truth,
                labelled.predictions,
                reference=self.reference,
                rules=self.rules,
                min_labels=s.min_labels,
                threshold=s.decision_threshold,
                classes=self.classes,
                sample_weight=weights,
            )
        except ValueError as exc:
            return PartResult(check, "error", note=f"realized performance: {exc}")
        except Exception as exc:  # a bug, not the data: the estimate (and drift) still run
            log.exception("check performance of model %s failed", self.name)
            error = f"realized performance failed: {type(exc).__name__}: {str(exc)[:300]}"
            return PartResult(check, "error", note=error, failure=error)
        breaches = {
            CheckId("performance", metric): breaching for metric, breaching in result.breaches.items()
        }
        status: PartStatus = (
            "not_enough_data" if result.not_enough_labels else "drift" if result.breached else "ok"
        )
        return PartResult(check, status, result, breaches=breaches)

    def estimated_part(
        self, window_predictions: pd.Series | pd.DataFrame | npt.NDArray[Any] | Predictions | None
    ) -> PartResult[EstimatedPerformance]:
        """The CBPE estimate over the window's predictions (no estimate without a CBPE fit: the note says
        why): scores of a binary classifier; for a multiclass one, the `window_columns` frame, or one
        map class -> probability per row. A problem in the data (a score outside [0, 1]) is the
        result's note, never an exception.
        With a DLE fit (a regression), `dle_part` of the window's frame: pass the frame, not a column."""
        check = CheckId("estimated_performance")
        if self.dle is not None:
            return self.dle_part(window_predictions if isinstance(window_predictions, pd.DataFrame) else None)
        if self.cbpe is None:
            return PartResult(check, "no_data", note=self.cbpe_problem)
        if isinstance(window_predictions, pd.DataFrame):  # a frame: its probability or prediction column(s)
            frame = window_predictions
            columns = [c.name for c in self.window_columns()]
            if columns and set(columns) <= set(frame.columns):  # multiclass: the class probabilities
                window_predictions = frame[columns]
            else:
                window_predictions = frame[self.prediction] if self.prediction in frame.columns else None
        cbpe = self.cbpe

        def prepare() -> tuple[int, Callable[[], EstimatedPerformance]]:
            scores: Any = (
                _probability_rows(window_predictions, cbpe.classes)
                if isinstance(cbpe, MulticlassCBPE)
                else _finite_scores(window_predictions)  # type: ignore[arg-type]
            )
            return len(scores), lambda: cbpe.estimated_performance(scores, self.estimate_rules)

        return self._estimate_part(prepare, self.min_predictions, (CBPEError, ValueError))

    def dle_part(self, window: pd.DataFrame | None) -> PartResult[EstimatedPerformance]:
        """The DLE estimate over the window's rows (features and prediction). A problem in the data (a
        feature missing from the window) is the result's note, never an exception."""
        dle = self.dle
        assert dle is not None

        def prepare() -> tuple[int, Callable[[], EstimatedPerformance]]:
            if window is None or self.prediction not in window.columns:
                count = 0
            else:
                count = len(_finite_scores(window[self.prediction]))

            def estimate() -> EstimatedPerformance:
                assert window is not None  # called only with predictions in the window
                return dle.estimated_performance(window, self.estimate_rules)

            return count, estimate

        return self._estimate_part(prepare, max(self.min_predictions, 1), (DLEError, ValueError))

    def _estimate_part(
        self,
        prepare: Callable[[], tuple[int, Callable[[], EstimatedPerformance]]],
        least: int,
        data_errors: tuple[type[Exception], ...],
    ) -> PartResult[EstimatedPerformance]:
        """The estimated_performance result of an estimator: ``prepare`` reads the window (how many
        predictions it holds, and the estimate of them), too few below ``least``; an error of
        ``data_errors`` is a problem in the data (the result's note), any other a failed check."""
        check = CheckId("estimated_performance")
        try:
            predictions, estimate = prepare()
            if predictions < least:
                note = (
                    f"not enough predictions: {predictions} in the window, fewer than window.min_rows "
                    f"{self.min_predictions}"
                )
                return PartResult(check, "not_enough_data", note=note)
            estimated = estimate()
        except data_errors as exc:
            return PartResult(check, "no_data", note=f"no estimate: {exc}")
        except Exception as exc:
            log.exception("check estimated_performance of model %s failed", self.name)
            note = f"estimate failed: {type(exc).__name__}: {str(exc)[:300]}"
            return PartResult(check, "error", note=note, failure=note)
        breaches = {
            CheckId("estimated_performance", metric): breaching
            for metric, breaching in estimated.breaches.items()
        }
        return PartResult(check, "drift" if estimated.breached else "ok", estimated, breaches=breaches)

    def estimate_rows(
        self,
        predictions: npt.ArrayLike,
        weights: npt.NDArray[np.float64] | None = None,
        features: Mapping[str, npt.ArrayLike] | None = None,
    ) -> Mapping[str, BandedEstimate] | None:
        """The estimator's estimate of exactly these predictions (weighted by ``weights``), None without
        an estimator: binary CBPE reads the scores, multiclass CBPE the maps class -> probability, DLE
        the rows' ``features`` (by column) beside the predictions (None without them). `CBPEError`,
        `DLEError` or ValueError when the rows cannot be estimated from."""
        values = np.asarray(predictions, dtype=object)
        if self.dle is not None:
            if features is None:
                return None
            frame = pd.DataFrame({c: np.asarray(features[c], dtype=object) for c in self.dle.features})
            frame[self.prediction] = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy()
            if frame[self.prediction].isna().any():
                raise DLEError("the labelled predictions are not all numbers")
            return self.dle.estimate(_typed(frame, self.dle.categorical), weights)
        if isinstance(self.cbpe, MulticlassCBPE):
            if not _are_maps(values):
                raise CBPEError("the labelled predictions are not all maps class -> probability")
            return self.cbpe.estimate(list(values), weights)
        if not isinstance(self.cbpe, CBPE):
            return None
        scores = pd.to_numeric(pd.Series(values), errors="coerce")
        if scores.isna().any():
            raise CBPEError("the labelled predictions are not all scores")
        return self.cbpe.estimate(scores.to_numpy(dtype=np.float64), weights)

    def estimate_error(
        self, labelled: Labelled, realized: RealizedPerformance | None
    ) -> EstimateEvaluation | None:
        """The estimate on the labelled rows whose metrics are ``realized``, scored against them (see
        `driftwatch.performance.evaluation`): binary or multiclass CBPE on the rows' scores or maps,
        DLE on their features (``labelled.features``) and predictions, each weighted by the rows'
        sampling weights. None without an estimator, without realized metrics (too few labels, a
        realized error) or when the rows cannot be estimated from (labels logged instead of scores or
        maps, a DLE model's rows without their features): no evaluation, never an exception from the
        data. Multiclass: the estimate macro-averages over every class of the model, the realized
        metrics over the classes the rows hold or were predicted (scikit-learn's), which differ only
        when a class is absent from the look-back."""
        if realized is None or not realized.values:
            return None
        try:
            estimates = self.estimate_rows(
                labelled.predictions, _weights(labelled.weights), labelled.features
            )
            if estimates is None:
                return None
            return evaluate_estimate(estimates, realized.values, realized.labelled_rows)
        except (CBPEError, DLEError, ValueError):
            return None
        except Exception:  # a bug, not the data: the checks' results stand without the evaluation
            log.exception("scoring the performance estimate of model %s failed", self.name)
            return None

    def run(
        self,
        labels: npt.ArrayLike,
        predictions: npt.ArrayLike,
        weights: npt.NDArray[np.float64] | None,
        window_predictions: pd.Series | pd.DataFrame | npt.NDArray[Any] | None,
    ) -> PerformanceResult:
        """Realized performance of the labelled rows and, with CBPE, the estimate over the window's
        predictions and its error on the labelled rows, in one `PerformanceResult`."""
        labelled = Labelled(labels, predictions, weights)
        realized_part = self.realized_part(labelled)
        estimated_part = self.estimated_part(window_predictions) if self.estimates else None
        evaluation = self.estimate_error(labelled, realized_part.value)
        return performance_result(realized_part, estimated_part, self.cbpe_problem, evaluation)


def performance_result(
    realized: PartResult[RealizedPerformance] | None,
    estimated: PartResult[EstimatedPerformance] | None,
    cbpe_problem: str | None = None,
    estimate_error: EstimateEvaluation | None = None,
) -> PerformanceResult:
    """The `PerformanceResult` of a run of the realized and estimated performance checks (either may be
    missing: no estimate without a CBPE fit, ``cbpe_problem`` says why), with the estimate's error on
    the labelled rows (`PerformanceMonitor.estimate_error`)."""
    failed = tuple(str(p.check) for p in (realized, estimated) if p is not None and p.failure is not None)
    return PerformanceResult(
        realized=None if realized is None else realized.value,
        estimated=None if estimated is None else estimated.value,
        estimate_note=cbpe_problem if estimated is None else estimated.note,
        error=None if realized is None else realized.note,
        failed=failed,
        estimate_error=estimate_error,
    )


class RealizedPerformanceCheck:
    """Realized performance over the labelled predictions of the look-back, against the reference's,
    with one alert state per metric that has a threshold."""

    kind: CheckKind = "performance"

    def __init__(self) -> None:
        self.monitor: PerformanceMonitor | None = None

    @property
    def alert_ids(self) -> list[CheckId]:
        return [] if self.monitor is None else [CheckId(self.kind, m) for m in self.monitor.rules]

    def prepare(self, reference: PerformanceMonitor) -> None:
        """``reference``: the labelled reference's metrics, computed once by `PerformanceMonitor`."""
        self.monitor = reference

    def run(self, snapshot: CheckInput) -> PartResult[RealizedPerformance]:
        if self.monitor is None or snapshot.labelled is None:
            return PartResult(CheckId(self.kind), "no_data", note="no labelled predictions to grade")
        return self.monitor.realized_part(snapshot.labelled())


class EstimatedPerformanceCheck:
    """Performance estimated without labels (CBPE) over the window's predictions, with one alert state
    per metric that has an estimate threshold."""

    kind: CheckKind = "estimated_performance"

    def __init__(self) -> None:
        self.monitor: PerformanceMonitor | None = None

    @property
    def alert_ids(self) -> list[CheckId]:
        monitor = self.monitor
        if monitor is None or not monitor.estimates:
            return []
        return [CheckId(self.kind, m) for m in monitor.estimate_rules]

    def prepare(self, reference: PerformanceMonitor) -> None:
        """``reference``: the labelled reference's CBPE fit, made once by `PerformanceMonitor`."""
        self.monitor = reference

    def run(self, snapshot: CheckInput) -> PartResult[EstimatedPerformance]:
        monitor = self.monitor
        if monitor is None:
            return PartResult(CheckId(self.kind), "no_data")
        frame = snapshot.window.frame
        if monitor.dle is not None:  # DLE reads the features beside the prediction
            return monitor.dle_part(frame)
        columns = [c.name for c in monitor.window_columns()]
        if columns:  # multiclass: the class probabilities
            return monitor.estimated_part(frame[columns] if set(columns) <= set(frame.columns) else None)
        return monitor.estimated_part(
            frame[monitor.prediction] if monitor.prediction in frame.columns else None
        )


def probability_column(prediction: str, label: Hashable) -> str:
    """The window column holding class ``label``'s probability of the ``prediction`` map."""
    return f"{prediction}[{label}]"


def _are_maps(values: npt.NDArray[Any]) -> bool:
    """One map class -> probability per row (the reference's labelled rows, nulls dropped)."""
    return len(values) > 0 and all(isinstance(v, Mapping) for v in values.tolist())


def _probability_rows(values: object, classes: list[Hashable]) -> npt.NDArray[np.float64]:
    """A window's class probabilities as a (rows, classes) matrix: the probability columns (rows missing
    any, predictions that were not maps, dropped) or maps (other values dropped)."""
    if isinstance(values, pd.DataFrame):
        matrix: npt.NDArray[np.float64] = values.to_numpy(dtype=np.float64)
        return matrix[np.isfinite(matrix).all(axis=1)]
    rows = [] if values is None else list(values) if isinstance(values, Iterable) else []
    maps = [v for v in rows if isinstance(v, Mapping)]
    return np.array([[float(m.get(c, 0.0)) for c in classes] for m in maps], dtype=np.float64).reshape(
        len(maps), len(classes)
    )


def _fit_dle(spec: PerformanceSpec, frame: pd.DataFrame, where: str, reference_name: str | None) -> DLE:
    """The DLE fit of a regression model with ``estimate: true``, or `ReferenceDataError` naming the
    setting to fix."""
    features = [f for f in spec.features if f not in (spec.prediction, spec.label)]
    if not features:
        raise ReferenceDataError(
            f"{where}.performance.estimate: DLE learns the model's loss from its features, and {where} "
            "monitors none; list them under features, or remove 'estimate: true'"
        )
    absent = [f for f in features if f not in frame.columns]
    if absent:
        named = f" {reference_name}" if reference_name else ""
        raise ReferenceDataError(
            f"{where}.performance.estimate: the reference{named}'s labelled rows have no feature column(s) "
            f"{', '.join(absent)} (they have {', '.join(map(str, frame.columns))}): DLE learns the loss "
            "from each row's features beside its prediction and label. A saved profile keeps them when "
            f"built with the model's settings (`driftwatch profile --config CONFIG --model NAME`); or point "
            f"{where}.reference at the Parquet or CSV file"
        )
    categorical = [*spec.categorical, *categorical_columns(frame, features)]
    try:
        return DLE.fit(frame, features, spec.prediction, spec.label, categorical=categorical)
    except DLEError as exc:
        raise ReferenceDataError(f"{where}.performance.estimate: {exc}") from None


def _typed(frame: pd.DataFrame, categorical: tuple[str, ...]) -> pd.DataFrame:
    """The joined rows' feature values (JSON's numbers, text, booleans, nulls) typed as a window's: the
    categorical features as they are, the others as numbers (a value that is not one: missing)."""
    for column in frame.columns:
        if column not in categorical:
            frame[column] = pd.to_numeric(frame[column], errors="coerce")
    return frame


def _weights(weights: npt.NDArray[np.float64] | None) -> npt.NDArray[np.float64] | None:
    """The sampling weights that matter: None when one sampling rate covers every row."""
    if weights is not None and len(weights) and np.allclose(weights, weights[0]):
        return None
    return weights


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer with hundreds of digits
        return False


def _finite_scores(values: pd.Series | npt.NDArray[Any] | None) -> npt.NDArray[np.float64]:
    if values is None:
        return np.empty(0, dtype=np.float64)
    numbers: npt.NDArray[np.float64] = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(
        dtype=np.float64
    )
    return numbers[np.isfinite(numbers)]
