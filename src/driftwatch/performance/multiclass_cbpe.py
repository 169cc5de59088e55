"""Estimated performance of a multiclass classifier before its labels arrive: CBPE over class probabilities.

The binary method (`driftwatch.performance.cbpe`) carries over class by class. A row whose calibrated
probabilities are ``p_1 .. p_K`` and whose predicted class is ``k`` (the most probable one) is, in
expectation, right with probability ``p_k``; so over a window

    accuracy     = mean(p_predicted)
    TP_c = sum(p_c over rows predicted c)        FP_c = sum(1 - p_c over rows predicted c)
    FN_c = sum(p_c over rows not predicted c)

and precision, recall and f1 of each class follow from its expected counts, macro averaged over the
classes (every class of the model, as NannyML averages). roc_auc is one-vs-rest: for each class, the
area under the expected ROC curve of its raw probability, each row a positive of weight ``p_c`` and a
negative of weight ``1 - p_c`` (the binary estimate), then the mean over classes. These are NannyML's
estimators (``performance_estimation/confidence_based/metrics.py``, the Multiclass* metrics).

Calibration, as NannyML does it: one isotonic map per class, fitted one-vs-rest on the reference
(class c's probability against "the label is c"), then each row divided by its sum so that the
calibrated probabilities are again a distribution (a row whose maps all give 0 becomes uniform). Each
class's map is kept only where it lowers that class's out-of-fold expected calibration error, the
binary rule (`driftwatch.performance.cbpe._held_out_ece`); NannyML judges its maps on a single
shuffle split instead.

What it assumes, and when it is wrong, is the binary case's, per class: calibrated probabilities (after
the maps), no concept drift (P(label | probabilities) as in the reference: a change in the class
balance at fixed inputs, or a new meaning of a class, leaves the estimate where it was), and windows
whose probabilities the reference covers. The predicted class is the argmax of the logged
probabilities; a model that logs labels gives CBPE nothing to read (`MulticlassCBPE.fit` refuses
one-hot rows).

Sampling-error bands are the binary ones: sigma of each realized metric over bootstrap resamples of
the reference, measured once as sigma * sqrt(rows) and scaled to each window (band = value +/- 3
sigma, clipped to [0, 1]).

Reference: NannyML, "Estimating Performance for Multiclass Classification",
https://nannyml.readthedocs.io/en/stable/tutorials/performance_estimation/multiclass_performance_estimation.html
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from scipy.stats import rankdata
from sklearn import metrics as skm  # type: ignore[import-untyped]

from driftwatch.errors import CBPEError
from driftwatch.performance.cbpe import (
    BAND_SIGMAS,
    ESTIMATED_METRICS,
    MIN_REFERENCE_ROWS,
    Calibration,
    Estimate,
    EstimatedPerformance,
    _held_out_ece,
    _isotonic,
)
from driftwatch.performance.metrics import (
    FloatArray,
    Predictions,
    Threshold,
    _probability_matrix,
    breaches,
    realized,
)

__all__ = ["MulticlassCBPE", "probability_rows"]

_SIGMA_SIZES = (250, 1000, 4000)


def probability_rows(values: Predictions, classes: Sequence[Hashable]) -> FloatArray:
    """A window's probabilities as a (rows, classes) matrix in ``classes`` order, rows summing to one.

    ``values`` is a matrix whose columns are ``classes`` or one map class -> probability per row (a
    class left out has probability 0). `CBPEError` names what is wrong: a class outside ``classes``,
    a negative or non-finite probability, a row summing to 0, one-hot rows (labels, not probabilities).
    """
    try:
        matrix, _ = _probability_matrix(values, list(classes), np.asarray([]))
    except ValueError as exc:
        raise CBPEError(str(exc)) from None
    if len(matrix) and bool(np.isin(matrix, (0.0, 1.0)).all()):
        raise CBPEError(
            "holds one-hot rows (every probability is 0 or 1), the predicted labels rather than the model's "
            "class probabilities; CBPE reads the model's confidence, so log predict_proba's map instead"
        )
    return matrix


@dataclass(frozen=True)
class ClassCalibration:
    """One class's one-vs-rest calibration (`Calibration`), named by its class."""

    label: Hashable
    calibration: Calibration

    def as_dict(self) -> dict[str, object]:
        return {"class": self.label, **self.calibration.as_dict()}


class MulticlassCBPE:
    """Estimated accuracy, macro precision, recall and f1, and one-vs-rest macro roc_auc of a multiclass
    classifier from its class probabilities alone.

    Build it with `MulticlassCBPE.fit` on a labelled reference, then call `estimate` or
    `estimated_performance` on each window's probabilities. See the module docstring for the method.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.dirichlet([1.0, 1.0, 1.0], size=20_000)
    >>> labels = np.array([rng.choice(3, p=row) for row in p])
    >>> cbpe = MulticlassCBPE.fit(p, labels, classes=[0, 1, 2])
    >>> round(cbpe.reference["accuracy"], 2)
    0.61
    >>> sure = rng.dirichlet([8.0, 0.5, 0.5], size=5_000)  # inputs where the model is surer
    >>> round(cbpe.estimate(sure)["accuracy"].value, 2)
    0.89
    """

    def __init__(
        self,
        classes: Sequence[Hashable],
        class_calibration: Sequence[ClassCalibration],
        calibrators: Sequence[Any],
        reference: dict[str, float],
        reference_rows: int,
        sigma_scale: dict[str, float],
    ) -> None:
        self.classes = list(classes)
        self.class_calibration = list(class_calibration)
        self._calibrators = list(calibrators)
        self.reference = reference
        self.reference_rows = reference_rows
        self.sigma_scale = sigma_scale
        kept = [c.calibration for c in self.class_calibration]
        isotonic = [c.ece_isotonic for c in kept if c.ece_isotonic is not None]
        # the summary every estimate carries: isotonic when any class kept its map, ECEs averaged
        self.calibration = Calibration(
            "isotonic" if any(c.method == "isotonic" for c in kept) else "none",
            float(np.mean([c.ece_raw for c in kept])),
            float(np.mean(isotonic)) if len(isotonic) == len(kept) else None,
        )

    @classmethod
    def fit(
        cls,
        probabilities: Predictions,
        labels: npt.ArrayLike,
        *,
        classes: Sequence[Hashable] | None = None,
        calibration: Literal["auto", "isotonic", "none"] = "auto",
        n_bins: int = 10,
        folds: int = 5,
        resamples: int = 40,
        seed: int = 0,
    ) -> MulticlassCBPE:
        """Learn the per-class calibration, the reference metrics and the sampling error.

        ``probabilities`` is a (rows, classes) matrix whose columns are ``classes``, or one map
        class -> probability per row (``classes`` default: every class named or labelled, sorted).
        ``calibration`` is the binary one's, applied to each class one-vs-rest. Raises `CBPEError` when
        the reference has fewer than `MIN_REFERENCE_ROWS` rows, fewer than 3 classes (use `CBPE`), a
        label outside the classes, or a class with fewer than ``folds`` rows (or fewer than ``folds``
        rows of the other classes).
        """
        truth = np.asarray(labels)
        try:
            matrix, names = _probability_matrix(probabilities, classes, truth)
        except ValueError as exc:
            raise CBPEError(f"reference probabilities: {exc}") from None
        if len(matrix) != len(truth):
            raise CBPEError(f"reference has {len(matrix)} probability rows but {len(truth)} labels")
        if len(matrix) < MIN_REFERENCE_ROWS:
            raise CBPEError(
                f"reference has {len(matrix)} rows; CBPE needs at least {MIN_REFERENCE_ROWS} labelled rows"
            )
        if len(names) < 3:
            raise CBPEError(f"a multiclass CBPE needs at least 3 classes, got {names!r}; use CBPE for two")
        if bool(np.isin(matrix, (0.0, 1.0)).all()):
            raise CBPEError(
                "the reference's probabilities are one-hot rows (every value is 0 or 1): predicted labels, "
                "not the model's class probabilities"
            )
        codes = _codes(truth, names)
        counts = np.bincount(codes, minlength=len(names))
        if counts.min() < max(folds, 2) or (len(codes) - counts).min() < max(folds, 2):
            raise CBPEError(
                f"reference has {dict(zip(map(str, names), counts.tolist(), strict=True))} labels per class; "
                f"CBPE needs at least {max(folds, 2)} of each class to calibrate and to measure roc_auc"
            )
        calibrations: list[ClassCalibration] = []
        calibrators: list[Any] = []
        for k, name in enumerate(names):
            positive = codes == k
            ece_raw, ece_iso = _held_out_ece(
                matrix[:, k], positive, n_bins, folds, seed, isotonic=calibration != "none"
            )
            calibrator = None
            if calibration == "isotonic" or (ece_iso is not None and ece_iso < ece_raw):
                calibrator = _isotonic().fit(matrix[:, k], positive.astype(np.float64))
            method: Literal["isotonic", "none"] = "isotonic" if calibrator is not None else "none"
            calibrations.append(ClassCalibration(name, Calibration(method, ece_raw, ece_iso)))
            calibrators.append(calibrator)
        # on class codes: scikit-learn's multiclass roc_auc wants its labels sorted, the classes need not be
        reference = realized("multiclass_classification", codes, matrix, classes=list(range(len(names))))
        sigma_scale = _sigma_scale(codes, matrix, resamples, np.random.default_rng(seed))
        return cls(names, calibrations, calibrators, reference, len(matrix), sigma_scale)

    def calibrate(self, matrix: FloatArray) -> FloatArray:
        """Raw probabilities (a (rows, classes) matrix in `classes` order) calibrated class by class and
        renormalised; a row every map sends to 0 becomes uniform, as NannyML does."""
        calibrated = np.column_stack(
            [
                matrix[:, k] if c is None else np.asarray(c.predict(matrix[:, k]), dtype=np.float64)
                for k, c in enumerate(self._calibrators)
            ]
        )
        sums = calibrated.sum(axis=1, keepdims=True)
        uniform = np.full_like(calibrated, 1.0 / len(self.classes))
        normalised: FloatArray = np.divide(calibrated, sums, out=uniform, where=sums > 0)
        return normalised

    def sigma(self, metric: str, rows: int) -> float:
        """The standard deviation of the realized ``metric`` over windows of ``rows`` reference-like rows."""
        return self.sigma_scale[metric] / math.sqrt(rows)

    def estimate(
        self, probabilities: Predictions, sample_weight: npt.ArrayLike | None = None
    ) -> dict[str, Estimate]:
        """Each of `ESTIMATED_METRICS` for a window's probabilities (a matrix in `classes` order or one
        map per row), with its band.

        ``sample_weight`` (a sampled stream's inverse sampling rates, as realized performance takes them)
        weighs each row's expected counts and its place in the expected ROC curves, as the binary
        `CBPE.estimate` does; sigma is then scaled to the weights' effective size (sum w)^2 / sum w^2."""
        raw = probability_rows(probabilities, self.classes)
        rows = len(raw)
        if not rows:
            raise CBPEError("the window has no probabilities to estimate from")
        w = np.ones(rows) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != (rows,) or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise CBPEError(f"sample_weight must be {rows} finite weights >= 0, not all 0")
        size = float(w.sum() ** 2 / (w**2).sum())  # Kish's effective sample size: rows when unweighted
        values = _estimates(raw, self.calibrate(raw), None if sample_weight is None else w)
        result = {}
        for metric in ESTIMATED_METRICS:
            value, sigma = values[metric], self.sigma_scale[metric] / math.sqrt(size)
            if math.isnan(value):
                result[metric] = Estimate(value, math.nan, math.nan, sigma)
                continue
            band = BAND_SIGMAS * sigma
            result[metric] = Estimate(value, max(0.0, value - band), min(1.0, value + band), sigma)
        return result

    def estimated_performance(
        self, probabilities: Predictions, rules: Mapping[str, Threshold] | None = None
    ) -> EstimatedPerformance:
        """`estimate` for a window, with each estimate checked against ``rules`` and the reference."""
        unknown = set(rules or {}) - set(ESTIMATED_METRICS)
        if unknown:
            raise ValueError(
                f"CBPE estimates {', '.join(ESTIMATED_METRICS)}; it has no {', '.join(sorted(unknown))}"
            )
        estimates = self.estimate(probabilities)
        values = {metric: estimate.value for metric, estimate in estimates.items()}
        flagged = breaches(values, self.reference, rules or {})
        return EstimatedPerformance(
            _rows(probabilities), estimates, dict(self.reference), flagged, self.calibration
        )


def _rows(values: Predictions) -> int:
    return len(values if isinstance(values, np.ndarray) else list(values))  # type: ignore[arg-type]


def _codes(truth: npt.NDArray[Any], names: Sequence[Hashable]) -> npt.NDArray[np.int64]:
    index = {name: k for k, name in enumerate(names)}
    try:
        return np.array([index[value] for value in truth.tolist()], dtype=np.int64)
    except KeyError as exc:
        raise CBPEError(f"reference label {exc.args[0]!r} is not among the classes {list(names)!r}") from None


def _estimates(
    raw: FloatArray, calibrated: FloatArray, weights: FloatArray | None = None
) -> dict[str, float]:
    """NannyML's multiclass estimators on raw (for the predicted class and the ROC order) and calibrated
    (for the expected counts) probabilities; ``weights`` weigh each row's expected counts."""
    rows, k = raw.shape
    w = np.ones(rows) if weights is None else weights
    predicted = raw.argmax(axis=1)
    chosen = np.zeros_like(raw, dtype=bool)
    chosen[np.arange(rows), predicted] = True
    weighted = calibrated * w[:, None]
    tp = np.where(chosen, weighted, 0.0).sum(axis=0)
    fp = np.where(chosen, w[:, None] - weighted, 0.0).sum(axis=0)
    fn = np.where(chosen, 0.0, weighted).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        recall = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(tp + 0.5 * (fp + fn) > 0, tp / (tp + 0.5 * (fp + fn)), 0.0)
    aucs = []
    doubled = np.repeat([True, False], rows)
    for c in range(k):
        p = calibrated[:, c]
        if p.sum() <= 0 or (1.0 - p).sum() <= 0:
            aucs.append(math.nan)
            continue
        scores = np.concatenate((raw[:, c], raw[:, c]))
        weight = np.concatenate((w * p, w * (1.0 - p)))
        aucs.append(float(skm.roc_auc_score(doubled, scores, sample_weight=weight)))
    return {
        "accuracy": float(np.average(calibrated[np.arange(rows), predicted], weights=w)),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "roc_auc": float(np.mean(aucs)),
    }


def _realized_codes(truth: npt.NDArray[np.int64], probabilities: FloatArray) -> dict[str, float]:
    """The estimated metrics realized on class codes 0..k-1, as `realized` computes them over every class
    (scikit-learn's macro averages with ``labels`` every class and ``zero_division=0``; roc_auc the mean of
    the classes' one-vs-rest AUCs from average ranks, NaN unless every class is present), in numpy: the
    bootstrap calls it hundreds of times, and scikit-learn's input checks would cost more than the
    metrics."""
    k = probabilities.shape[1]
    predicted = probabilities.argmax(axis=1)
    confusion = np.bincount(truth * k + predicted, minlength=k * k).reshape(k, k).astype(np.float64)
    tp = np.diag(confusion)
    actual, chosen = confusion.sum(axis=1), confusion.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(chosen > 0, tp / chosen, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(actual + chosen > 0, 2 * tp / (actual + chosen), 0.0)
    values = {
        "accuracy": float(tp.sum() / len(truth)),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "roc_auc": math.nan,
    }
    if (actual > 0).all():
        aucs = []
        for c in range(k):
            ranks = rankdata(probabilities[:, c])
            positive = truth == c
            n_pos = actual[c]
            n_neg = len(truth) - n_pos
            aucs.append((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))
        values["roc_auc"] = float(np.mean(aucs))
    return values


def _sigma_scale(
    codes: npt.NDArray[np.int64],
    matrix: FloatArray,
    resamples: int,
    rng: np.random.Generator,
    sizes: Sequence[int] = _SIGMA_SIZES,
) -> dict[str, float]:
    """sigma * sqrt(rows) for each estimated metric: the root mean of variance * rows over bootstrap
    resamples of the reference at each size in ``sizes``."""
    scaled: dict[str, list[float]] = {metric: [] for metric in ESTIMATED_METRICS}
    for size in sizes:
        draws: dict[str, list[float]] = {metric: [] for metric in ESTIMATED_METRICS}
        for _ in range(resamples):
            rows = rng.integers(0, len(codes), size)
            for metric, value in _realized_codes(codes[rows], matrix[rows]).items():
                draws[metric].append(value)
        for metric in ESTIMATED_METRICS:
            finite = np.asarray(draws[metric])
            finite = finite[np.isfinite(finite)]
            if len(finite) >= 2:
                scaled[metric].append(float(np.var(finite, ddof=1)) * size)
    return {metric: math.sqrt(np.mean(values)) if values else math.nan for metric, values in scaled.items()}
