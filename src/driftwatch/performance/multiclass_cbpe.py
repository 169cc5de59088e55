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
binary rule (`driftwatch.performance.cbpe._calibration`); NannyML judges its maps on a single
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
import pandas as pd

from driftwatch.errors import CBPEError
from driftwatch.performance.cbpe import (
    ESTIMATED_METRICS,
    MIN_REFERENCE_ROWS,
    Calibration,
    Estimate,
    EstimatedPerformance,
    IsotonicMap,
    _calibration,
    banded,
)
from driftwatch.performance.metrics import (
    FloatArray,
    Predictions,
    Threshold,
    _probability_matrix,
    breaches,
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
        calibrators: Sequence[IsotonicMap | None],
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
        calibrators: list[IsotonicMap | None] = []
        # each class's probabilities sorted once: for its calibration's folds and fits, and for its ranks
        orders = [np.argsort(column, kind="stable") for column in matrix.T]
        for k, name in enumerate(names):
            positive = codes == k
            chosen, calibrator = _calibration(
                matrix[:, k], positive, calibration, n_bins, folds, seed, orders[k]
            )
            calibrations.append(ClassCalibration(name, chosen))
            calibrators.append(calibrator)
        # every class is in the reference's labels (checked above), so its realized metrics are those of
        # every class, on class codes, and the bootstrap's resamples are measured the same way; of the
        # rows divided by their sums once more, as `realized` reads a matrix (a last-bit change, which may
        # split or join ties in rounded probabilities)
        again = matrix / matrix.sum(axis=1, keepdims=True)
        rows = np.arange(len(codes))
        values = _realized_codes(
            codes[None], again.argmax(axis=1)[None], _ranks(again, orders)[:, None], len(names)
        )
        reference = {metric: float(values[metric][0]) for metric in ESTIMATED_METRICS}
        # scikit-learn's log_loss (each row's probability of its label clipped to [eps, 1 - eps]), without
        # its checks, which cost more than the rest of the reference's metrics
        eps = float(np.finfo(np.float64).eps)
        reference["log_loss"] = float(np.mean(-np.log(np.clip(again[rows, codes], eps, 1 - eps))))
        ranks = _ranks(matrix, orders)
        predicted = matrix.argmax(axis=1)
        sigma_scale = _sigma_scale(codes, predicted, ranks, resamples, np.random.default_rng(seed))
        return cls(names, calibrations, calibrators, reference, len(matrix), sigma_scale)

    def calibrate(self, matrix: FloatArray) -> FloatArray:
        """Raw probabilities (a (rows, classes) matrix in `classes` order) calibrated class by class and
        renormalised; a row every map sends to 0 becomes uniform, as NannyML does."""
        calibrated = np.column_stack(
            [matrix[:, k] if c is None else c.predict(matrix[:, k]) for k, c in enumerate(self._calibrators)]
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
        return banded(values, self.sigma_scale, size)

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
    # each distinct label looked up once (as a Python value, so 1 and 1.0 are one class, as in a dict)
    positions, labels = pd.factorize(truth, use_na_sentinel=False)
    try:
        lookup = np.array(
            [index[value] for value in np.asarray(labels, dtype=object).tolist()], dtype=np.int64
        )
    except KeyError as exc:
        raise CBPEError(f"reference label {exc.args[0]!r} is not among the classes {list(names)!r}") from None
    codes: npt.NDArray[np.int64] = lookup[positions]
    return codes


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
    orders = np.argsort(raw, axis=0)
    aucs = [
        _expected_auc(
            raw[orders[:, c], c], calibrated[orders[:, c], c], None if weights is None else w[orders[:, c]]
        )
        for c in range(k)
    ]
    return {
        "accuracy": float(np.average(calibrated[np.arange(rows), predicted], weights=w)),
        "precision": float(precision.mean()),
        "recall": float(recall.mean()),
        "f1": float(f1.mean()),
        "roc_auc": float(np.mean(aucs)),
    }


def _expected_auc(scores: FloatArray, p: FloatArray, weights: FloatArray | None = None) -> float:
    """The area under the expected ROC curve of ``scores`` (sorted increasing), each row a positive of
    weight ``p`` (its calibrated probability of the class) and a negative of weight ``1 - p``, both times
    the row's weight when ``weights`` are given: scikit-learn's
    ``roc_auc_score`` of the rows written twice, a positive then a negative, with those weights (the
    binary `CBPE`'s way), which is the weighted Mann-Whitney statistic, a tie in the score counting half.
    NaN without expected positives or negatives. Summed here in a few array operations: scikit-learn's
    input checks on the doubled rows cost ten times the area."""
    negative = 1.0 - p
    if weights is not None:
        p, negative = p * weights, negative * weights
    total_positive, total_negative = p.sum(), negative.sum()
    if total_positive <= 0 or total_negative <= 0:
        return math.nan
    first = np.flatnonzero(np.concatenate(([True], scores[1:] != scores[:-1])))  # each run of equal scores
    positive_runs, negative_runs = np.add.reduceat(p, first), np.add.reduceat(negative, first)
    below = np.cumsum(negative_runs) - negative_runs  # the negatives' weight at lower scores
    return float((positive_runs * (below + negative_runs / 2)).sum() / (total_positive * total_negative))


def _ranks(matrix: FloatArray, orders: Sequence[npt.NDArray[np.intp]]) -> npt.NDArray[np.int32]:
    """Each row's rank of its probability of each class among the reference's, as a (classes, rows)
    matrix: 0 for the smallest probability, equal probabilities one rank. The order of any sample of the
    reference's rows by a class's probability is the order of their ranks, ties included. ``orders`` are
    argsorts of the classes' probabilities, of this matrix or of one a last bit away (checked)."""
    ranks = np.empty(matrix.T.shape, dtype=np.int32)
    for k, (column, given) in enumerate(zip(matrix.T, orders, strict=True)):
        order, ordered = given, column[given]
        if (ordered[1:] < ordered[:-1]).any():  # another matrix's order, a last bit away
            order = np.argsort(column)
            ordered = column[order]
        ranks[k, order] = np.concatenate(([0], np.cumsum(ordered[1:] != ordered[:-1])))
    return ranks


def _mann_whitney(ranks: npt.NDArray[np.int32], positive: npt.NDArray[np.bool_]) -> FloatArray:
    """For each row of ``ranks`` (samples, rows) and ``positive`` (the same shape): Mann-Whitney's U, the
    number of (positive, negative) pairs whose positive ranks higher, a tie counting half; over the
    number of pairs it is the row's AUC.

    Each value's rank and label are one integer key, sorted, which sorts much faster than the floats
    would (`scipy.stats.rankdata` sorts the floats stably). With a tie's positives sorted after its
    negatives, the positives' positions count, beyond the positives before them, the negatives at or
    below them; sorted before, the negatives below them: U is the mean of the two, and the second sort
    is needed only in rows where a positive ties a negative. Integers and halves, so U is exact.
    """
    positions = np.arange(ranks.shape[1], dtype=np.int64)  # integer sums: exact, and no BLAS threads
    count = positive.sum(axis=1, dtype=np.int64)
    keys = ranks * 2 + positive
    after = np.sort(keys, axis=1)
    odd = after & 1
    at_or_below = (odd * positions).sum(axis=1) - count * (count - 1) // 2
    # a positive right after a negative of the same rank: a tie, whose pairs count half
    mixed = ((np.diff(after, axis=1) == 1) & (odd[:, 1:] == 1)).any(axis=1)
    below = at_or_below.copy()
    if mixed.any():
        before = np.sort(keys[mixed] ^ 1, axis=1)  # the same ranks, a tie's positives first (even keys)
        below[mixed] = ((1 - (before & 1)) * positions).sum(axis=1) - count[mixed] * (count[mixed] - 1) // 2
    u: FloatArray = (below + at_or_below) / 2
    return u


def _realized_codes(
    truth: npt.NDArray[np.int64], predicted: npt.NDArray[np.intp], ranks: npt.NDArray[np.int32], k: int
) -> dict[str, FloatArray]:
    """The estimated metrics realized on class codes 0..k-1 of a stack of samples of the reference, one
    value per sample: ``truth`` and ``predicted`` (the most probable class) are (samples, rows) class codes,
    ``ranks`` the rows' `_ranks`, (classes, samples, rows). As `realized` computes them over every class:
    scikit-learn's macro averages with ``labels`` every class and ``zero_division=0``, roc_auc the mean of
    the classes' one-vs-rest AUCs (Mann-Whitney, from average ranks), NaN unless every class is present.
    In numpy on the whole stack at once: the bootstrap measures a hundred resamples, and scikit-learn's
    input checks, one resample at a time, would cost more than the metrics."""
    samples, rows = truth.shape
    cells = (np.arange(samples)[:, None] * k + truth) * k + predicted
    confusion = (
        np.bincount(cells.ravel(), minlength=samples * k * k).reshape(samples, k, k).astype(np.float64)
    )
    tp = np.diagonal(confusion, axis1=1, axis2=2)
    actual, chosen = confusion.sum(axis=2), confusion.sum(axis=1)
    positives = truth[None, :, :] == np.arange(k)[:, None, None]
    u = _mann_whitney(ranks.reshape(k * samples, rows), positives.reshape(k * samples, rows))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(chosen > 0, tp / chosen, 0.0)
        recall = np.where(actual > 0, tp / actual, 0.0)
        f1 = np.where(actual + chosen > 0, 2 * tp / (actual + chosen), 0.0)
        aucs = u.reshape(k, samples).T / (actual * (rows - actual))
    return {
        "accuracy": tp.sum(axis=1) / rows,
        "precision": precision.mean(axis=1),
        "recall": recall.mean(axis=1),
        "f1": f1.mean(axis=1),
        "roc_auc": np.where((actual > 0).all(axis=1), aucs.mean(axis=1), math.nan),
    }


_STACK_CELLS = 2_000_000
"""How many (class, row) cells the bootstrap measures at once (a few tens of MB of working arrays)."""


def _sigma_scale(
    codes: npt.NDArray[np.int64],
    predicted: npt.NDArray[np.intp],
    ranks: npt.NDArray[np.int32],
    resamples: int,
    rng: np.random.Generator,
    sizes: Sequence[int] = _SIGMA_SIZES,
) -> dict[str, float]:
    """sigma * sqrt(rows) for each estimated metric: the root mean of variance * rows over bootstrap
    resamples of the reference at each size in ``sizes``."""
    scaled: dict[str, list[float]] = {metric: [] for metric in ESTIMATED_METRICS}
    k = len(ranks)
    for size in sizes:
        # drawn one resample at a time (the same rows for a seed as ever), measured in stacks
        rows = np.stack([rng.integers(0, len(codes), size) for _ in range(resamples)])
        step = max(1, _STACK_CELLS // (size * k))
        parts = [
            _realized_codes(codes[part], predicted[part], ranks[:, part], k)
            for part in (rows[i : i + step] for i in range(0, resamples, step))
        ]
        for metric in ESTIMATED_METRICS:
            finite = np.concatenate([part[metric] for part in parts])
            finite = finite[np.isfinite(finite)]
            if len(finite) >= 2:
                scaled[metric].append(float(np.var(finite, ddof=1)) * size)
    return {metric: math.sqrt(np.mean(values)) if values else math.nan for metric, values in scaled.items()}
