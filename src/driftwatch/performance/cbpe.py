"""Estimated performance of a binary classifier before its labels arrive: CBPE.

Labels often come days or months after a prediction (a loan defaults, a
customer churns), and a model can degrade long before anyone can measure it.
Confidence-based performance estimation (CBPE, from NannyML) reads the
model's own probabilities as the chance each prediction is right: a row
scored 0.8 above a 0.5 threshold is, in expectation, 0.8 of a true positive
and 0.2 of a false positive. Summed over a window, that gives the expected
confusion matrix

    TP = sum(p_i for s_i >= t)      FP = sum(1 - p_i for s_i >= t)
    FN = sum(p_i for s_i <  t)      TN = sum(1 - p_i for s_i <  t)

and from it accuracy, precision, recall and f1; roc_auc is the area under
the expected ROC curve, the curve traced by those sums as ``t`` sweeps over
the scores. Both are computed by scikit-learn's own metrics on the window
written twice, once labelled positive with weight ``p_i`` and once negative
with weight ``1 - p_i``: those weighted metrics are exactly the sums above
(ties in the score are one step of the curve, as in any ROC).

What CBPE assumes, and when it is wrong:

* Calibrated probabilities: among rows with probability p, a share p is
  positive. Raw scores rarely are, so `CBPE.fit` learns an isotonic map from
  score to probability on the labelled reference, and keeps it only when it
  lowers the expected calibration error (ECE), measured out of fold: isotonic
  regression fitted and judged on the same rows scores a near-zero ECE
  whatever the truth, so each fold is judged by a map fitted on the others
  (and on its own: see `_held_out_ece` for why the folds are not pooled).
* No concept drift: the chance of a positive given the score, P(y | s), is
  the same in production as in the reference. CBPE sees covariate shift
  (inputs moving to regions where the model is more or less sure) and
  nothing else. When the relation between inputs and label changes, or the
  class balance changes at fixed inputs, the estimate stays put while the
  real performance moves: only realized performance, once labels arrive,
  can show that.
* The reference covers the scores the window produces: the calibration map
  is flat beyond the reference's extreme scores.
* Scores, not labels. Predictions that are all exactly 0 or 1 are the
  predicted labels: read as probabilities they say every row is certainly
  right, so every estimate would be 1.0 whatever the truth. `CBPE.fit` and
  `CBPE.estimate` refuse them (`hard_labels`) rather than report that.

Each estimate comes with a sampling-error band, value +/- 3 sigma, where
sigma is the standard deviation of the realized metric over bootstrap
resamples of the reference of the window's size. Sigma shrinks as
1/sqrt(rows) (the central limit theorem for every metric here), so
`CBPE.fit` measures sigma * sqrt(rows) once, pooled over resamples of a few
sizes, and scales it to each window in constant time: windows of varying
size cost nothing extra. The band answers "how far could the realized
metric fall from this estimate by chance in a window this small".

Reference: NannyML, "Confidence-based Performance Estimation (CBPE)",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy.optimize import isotonic_regression
from sklearn.model_selection import StratifiedKFold  # type: ignore[import-untyped]

from driftwatch.errors import CBPEError
from driftwatch.performance.metrics import (
    FloatArray,
    Threshold,
    _binary_scores,
    _finite,
    _scores,
    breaches,
    realized,
)

__all__ = [
    "CBPE",
    "ESTIMATED_METRICS",
    "CBPEError",
    "Calibration",
    "Estimate",
    "EstimatedPerformance",
    "expected_calibration_error",
    "hard_labels",
]

ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")

MIN_REFERENCE_ROWS = 100
"""Below this, neither the calibration map nor the sampling error can be learned from the reference."""

BAND_SIGMAS = 3.0

_SIGMA_SIZES = (250, 1000, 4000)
"""Resample sizes sigma * sqrt(rows) is measured at: small windows, where precision and recall swing the
most, through typical ones. Pooling them trades a little exactness at any one size for one constant."""


@dataclass(frozen=True)
class Calibration:
    """How the reference's scores became probabilities, and why.

    ``ece_raw`` is the ECE of the raw scores on the reference and ``ece_isotonic`` that of isotonic
    regression, both averaged over held-out folds (``ece_isotonic`` is None when calibration was off).
    ``method`` is "isotonic" when it was asked for, or, under "auto", when it lowered the ECE.
    """

    method: Literal["isotonic", "none"]
    ece_raw: float
    ece_isotonic: float | None

    def as_dict(self) -> dict[str, object]:
        return {"method": self.method, "ece_raw": self.ece_raw, "ece_isotonic": self.ece_isotonic}


@dataclass(frozen=True)
class Estimate:
    """An estimated metric with its sampling-error band, clipped to [0, 1]."""

    value: float
    lower: float
    upper: float
    sigma: float

    def as_dict(self) -> dict[str, float | None]:
        return {
            "value": _finite(self.value),
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "sigma": _finite(self.sigma),
        }


def banded(values: Mapping[str, float], sigma_scale: Mapping[str, float], size: float) -> dict[str, Estimate]:
    """Each of `ESTIMATED_METRICS` as an `Estimate`: its value in ``values``, its sigma
    ``sigma_scale[metric] / sqrt(size)`` (``size``: the window's effective number of rows) and a band of
    `BAND_SIGMAS` sigmas clipped to [0, 1]; a NaN value has a NaN band."""
    result = {}
    for metric in ESTIMATED_METRICS:
        value, sigma = values[metric], sigma_scale[metric] / math.sqrt(size)
        if math.isnan(value):
            result[metric] = Estimate(value, math.nan, math.nan, sigma)
            continue
        band = BAND_SIGMAS * sigma
        result[metric] = Estimate(value, max(0.0, value - band), min(1.0, value + band), sigma)
    return result


@dataclass(frozen=True)
class EstimatedPerformance:
    """One window's estimated performance against the reference's realized metrics.

    A breach compares the estimate itself with the rules, as realized performance does; the band says
    how much of a crossing chance alone could explain.
    """

    rows: int
    estimates: dict[str, Estimate]
    reference: dict[str, float]
    breaches: dict[str, bool]
    calibration: Calibration | None  # CBPE's; None for a regression's estimate (DLE has none)

    @property
    def breached(self) -> bool:
        return any(self.breaches.values())

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "status": "breach" if self.breached else "ok",
            "estimates": {name: estimate.as_dict() for name, estimate in self.estimates.items()},
            "reference": {name: _finite(value) for name, value in self.reference.items()},
            "breaches": dict(self.breaches),
            "calibration": None if self.calibration is None else self.calibration.as_dict(),
        }


def hard_labels(scores: FloatArray) -> bool:
    """True when every score is exactly 0 or 1: predicted labels, not probabilities.

    The test is on all values together, not a share: a real probability is exactly 0 or 1 only where a
    model is certain (a saturated sigmoid), and a model certain of every row gives CBPE no confidence to
    read either. One value strictly between 0 and 1 makes the column scores.
    """
    return bool(len(scores)) and bool(np.isin(scores, (0.0, 1.0)).all())


_HARD_LABELS = (
    "holds hard labels (every value is 0 or 1), not scores; CBPE reads the model's confidence from "
    "its probability of the positive class (e.g. predict_proba), so log that instead of the predicted label"
)


def expected_calibration_error(
    probabilities: npt.ArrayLike, labels: npt.ArrayLike, n_bins: int = 10
) -> float:
    """Mean gap between predicted probability and observed positive rate, weighted by rows per bin.

    Bins are equal-frequency: rows sorted by probability, cut into ``n_bins`` runs of (nearly) equal
    size. Equal-width bins leave most bins nearly empty when scores bunch near 0 or 1, as a confident
    model's do, so their gaps are noise; equal counts give every bin the same precision. Ties may fall
    in neighbouring bins, which does not change the gap of a well-calibrated model.
    Reference: Naeini, Cooper and Hauskrecht, "Obtaining well calibrated probabilities using Bayesian
    binning", AAAI 2015.
    """
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if not len(p):
        raise ValueError("the expected calibration error needs at least one row")
    order = np.argsort(p, kind="stable")
    return _sorted_ece(p[order], y[order], n_bins)


def _sorted_ece(p: FloatArray, y: FloatArray, n_bins: int) -> float:
    """`expected_calibration_error` of rows already sorted by probability (stably: ties in row order)."""
    bins = min(n_bins, len(p))
    size, longer = divmod(len(p), bins)  # np.array_split's runs: the first ``longer`` one row longer
    ends = np.cumsum([size + 1] * longer + [size] * (bins - longer)).tolist()
    starts = [0, *ends[:-1]]
    gaps = [
        (end - start) * abs(y[start:end].mean() - p[start:end].mean())
        for start, end in zip(starts, ends, strict=True)
    ]
    return float(sum(gaps) / len(p))


_TIED = float(np.finfo(np.float64).resolution)
"""Scores closer than this to the first of a run of scores are one score to the isotonic map, as to
scikit-learn's IsotonicRegression."""


@dataclass(frozen=True)
class IsotonicMap:
    """An isotonic map from score to probability: the knots ``x`` (increasing scores) and ``y`` (their
    probabilities), linear between knots and flat beyond the extreme ones, so that a window's scores
    beyond the reference's get the extreme probabilities.

    `fit` is scikit-learn's ``IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip")``: equal
    scores pooled into one knot whose target is their labels' mean, then the pool adjacent violators
    algorithm (scipy's, which scikit-learn calls), clipped to [0, 1], and the knots inside a flat run
    dropped. It takes its rows already sorted, where the estimator sorts them and checks its inputs on
    every call: CBPE fits one map per fold and per class on rows it sorts once, and at ten thousand rows
    the estimator's checks and sorts cost ten times the fit.
    """

    x: FloatArray
    y: FloatArray

    @classmethod
    def fit(cls, scores: FloatArray, labels: FloatArray) -> IsotonicMap:
        """The map of ``scores`` sorted increasing with their 0/1 ``labels``."""
        # a new knot where the score moves by _TIED or more (scikit-learn compares with the run's first
        # score; the two differ only on a run of near-ties wider than _TIED, a few ulps)
        first = np.flatnonzero(np.concatenate(([True], np.diff(scores) >= _TIED)))
        counts = np.diff(np.append(first, len(scores))).astype(np.float64)
        means = np.add.reduceat(labels, first) / counts
        x = scores[first]
        y = np.clip(isotonic_regression(means, weights=counts, increasing=True).x, 0.0, 1.0)
        keep = np.ones(len(y), dtype=bool)
        keep[1:-1] = (y[1:-1] != y[:-2]) | (y[1:-1] != y[2:])
        return cls(x[keep], y[keep])

    def predict(self, scores: FloatArray) -> FloatArray:
        """The probabilities of ``scores``."""
        return np.interp(scores, self.x, self.y)


class CBPE:
    """Estimated accuracy, precision, recall, f1 and roc_auc of a binary classifier from its scores alone.

    Build it with `CBPE.fit` on a labelled reference, then call `estimate` or `estimated_performance`
    on each window's scores. See the module docstring for the method and its assumptions.

    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=20_000)
    >>> cbpe = CBPE.fit(p, rng.uniform(size=20_000) < p, threshold=0.5)
    >>> cbpe.calibration.method, round(cbpe.reference["accuracy"], 2)
    ('none', 0.75)
    >>> window = rng.beta(5, 1, size=5_000)  # inputs where the model is surer: accuracy goes up
    >>> accuracy = cbpe.estimate(window)["accuracy"]
    >>> round(accuracy.value, 3), round(accuracy.lower, 3), round(accuracy.upper, 3)
    (0.835, 0.816, 0.855)
    """

    def __init__(
        self,
        threshold: float,
        calibration: Calibration,
        calibrator: IsotonicMap | None,
        reference: dict[str, float],
        reference_rows: int,
        sigma_scale: dict[str, float],
    ) -> None:
        self.threshold = threshold
        self.calibration = calibration
        self._calibrator = calibrator
        self.reference = reference
        self.reference_rows = reference_rows
        self.sigma_scale = sigma_scale

    @classmethod
    def fit(
        cls,
        scores: npt.ArrayLike,
        labels: npt.ArrayLike,
        *,
        threshold: float = 0.5,
        calibration: Literal["auto", "isotonic", "none"] = "auto",
        n_bins: int = 10,
        folds: int = 5,
        resamples: int = 40,
        seed: int = 0,
    ) -> CBPE:
        """Learn calibration, reference metrics and sampling error from labelled reference rows.

        ``scores`` are the model's probabilities of the positive class, ``labels`` 0/1 (or booleans).
        ``calibration="auto"`` keeps an isotonic map only if its out-of-fold ECE (``folds`` folds,
        ``n_bins`` equal-frequency bins) is below the raw scores'. ``resamples`` bootstrap resamples at
        each of a few sizes measure the sampling error. Raises `CBPEError` when the reference has fewer
        than `MIN_REFERENCE_ROWS` rows, a single class, or fewer rows of a class than ``folds``.
        """
        try:
            s = _scores(scores, "reference scores")
        except ValueError as exc:
            raise CBPEError(str(exc)) from None
        if hard_labels(s):
            raise CBPEError(f"the reference's prediction column {_HARD_LABELS}")
        y = np.asarray(labels)
        if y.shape != s.shape:
            raise CBPEError(f"reference has {len(s)} scores but {y.size} labels")
        if not np.isin(y, (0, 1)).all():
            raise CBPEError("reference labels must be 0/1 or booleans (1 is the positive class)")
        truth = y.astype(bool)
        if len(s) < MIN_REFERENCE_ROWS:
            raise CBPEError(
                f"reference has {len(s)} rows; CBPE needs at least {MIN_REFERENCE_ROWS} labelled rows"
            )
        positives = int(truth.sum())
        if min(positives, len(truth) - positives) < max(folds, 2):
            raise CBPEError(
                f"reference has {positives} positive and {len(truth) - positives} negative labels; "
                f"CBPE needs at least {max(folds, 2)} of each to calibrate and to measure roc_auc"
            )

        chosen, calibrator = _calibration(s, truth, calibration, n_bins, folds, seed)

        reference = realized("binary_classification", truth, s, threshold=threshold)
        sigma_scale = _sigma_scale(truth, s, threshold, resamples, np.random.default_rng(seed))
        return cls(threshold, chosen, calibrator, reference, len(s), sigma_scale)

    def calibrate(self, scores: npt.ArrayLike) -> FloatArray:
        """The scores as calibrated probabilities of the positive class (unchanged without a calibrator)."""
        s = _scores(scores, "scores")
        if self._calibrator is None:
            return s
        return self._calibrator.predict(s)

    def sigma(self, metric: str, rows: int) -> float:
        """The standard deviation of the realized ``metric`` over windows of ``rows`` reference-like rows."""
        return self.sigma_scale[metric] / math.sqrt(rows)

    def estimate(
        self, scores: npt.ArrayLike, sample_weight: npt.ArrayLike | None = None
    ) -> dict[str, Estimate]:
        """Each of `ESTIMATED_METRICS` for a window of scores, with its band. roc_auc is NaN when every
        calibrated probability is 0 or every one is 1 (no expected positives or negatives).

        ``sample_weight`` (a sampled stream's inverse sampling rates, as realized performance takes them)
        weighs each row's expected counts; the band is then that of the weighted metric, sigma scaled to
        the weights' effective size (sum w)^2 / sum w^2 rather than to the row count."""
        try:
            s = _scores(scores, "scores")
        except ValueError as exc:
            raise CBPEError(str(exc)) from None
        rows = len(s)
        if not rows:
            raise CBPEError("the window has no scores to estimate from")
        if hard_labels(s):
            raise CBPEError(f"the prediction column {_HARD_LABELS}")
        p = self.calibrate(s)
        w = np.ones(rows) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if w.shape != s.shape or not np.isfinite(w).all() or (w < 0).any() or not w.sum() > 0:
            raise CBPEError(f"sample_weight must be {rows} finite weights >= 0, not all 0")
        size = float(w.sum() ** 2 / (w**2).sum())  # Kish's effective sample size: rows when unweighted
        # each row twice: a positive of weight p and a negative of weight 1 - p; weighted metrics over
        # these are the metrics of the expected confusion matrix and the expected ROC curve
        truth = np.repeat([True, False], rows)
        doubled = np.concatenate((s, s))
        weight = np.concatenate((w * p, w * (1.0 - p)))
        values = _binary_scores(truth, doubled >= self.threshold, doubled, weight, log_loss=False)
        return banded(values, self.sigma_scale, size)

    def estimated_performance(
        self, scores: npt.ArrayLike, rules: Mapping[str, Threshold] | None = None
    ) -> EstimatedPerformance:
        """`estimate` for a window, with each estimate checked against ``rules`` and the reference."""
        estimates = self.estimate(scores)
        values = {metric: estimate.value for metric, estimate in estimates.items()}
        unknown = set(rules or {}) - set(ESTIMATED_METRICS)
        if unknown:
            raise ValueError(
                f"CBPE estimates {', '.join(ESTIMATED_METRICS)}; it has no {', '.join(sorted(unknown))}"
            )
        flagged = breaches(values, self.reference, rules or {})
        rows = len(np.asarray(scores))
        return EstimatedPerformance(rows, estimates, dict(self.reference), flagged, self.calibration)


def _calibration(
    scores: FloatArray,
    truth: npt.NDArray[np.bool_],
    calibration: Literal["auto", "isotonic", "none"],
    n_bins: int,
    folds: int,
    seed: int,
    order: npt.NDArray[np.intp] | None = None,
) -> tuple[Calibration, IsotonicMap | None]:
    """The calibration chosen for the reference's scores (`CBPE.fit`'s rule) and its isotonic map, or None.

    ``order`` is the scores' stable argsort (computed when not given). Every fold's rows, and every other
    subset of the rows, taken in that order are sorted as a stable sort of that subset alone would sort
    them, so the ECE of each fold and the isotonic fits (one per fold, then the kept map on every row)
    find their rows sorted: one sort of the reference instead of one per fit.
    """
    if order is None:
        order = np.argsort(scores, kind="stable")
    ece_raw, ece_isotonic = _held_out_ece(scores, truth, n_bins, folds, seed, calibration != "none", order)
    calibrator = None
    if calibration == "isotonic" or (ece_isotonic is not None and ece_isotonic < ece_raw):
        calibrator = IsotonicMap.fit(scores[order], truth[order].astype(np.float64))
    return Calibration("isotonic" if calibrator is not None else "none", ece_raw, ece_isotonic), calibrator


def _held_out_ece(
    scores: FloatArray,
    truth: npt.NDArray[np.bool_],
    n_bins: int,
    folds: int,
    seed: int,
    isotonic: bool,
    order: npt.NDArray[np.intp],
) -> tuple[float, float | None]:
    """ECE of the raw scores and of isotonic calibration, each the mean over held-out folds.

    Every fold is binned and scored on its own, with a map fitted on the other folds. Pooling the
    out-of-fold predictions before binning would not do: in any range of scores, the predictions of
    k maps each fitted on the other k - 1 folds average to the pooled labels' mean, so the pooled ECE
    of isotonic beats that of perfectly calibrated scores. The raw scores are binned per fold too, so
    both errors carry the same noise of bins of the same size. ``order`` is the scores' stable argsort
    (`_calibration`).
    """
    raw: list[float] = []
    calibrated: list[float] = []
    labels = truth.astype(np.float64)
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(scores, truth))
    fold = np.empty(len(scores), dtype=np.intp)
    for number, (_, test) in enumerate(splits):
        fold[test] = number
    sorted_fold = fold[order]
    for number, (_, test) in enumerate(splits):
        held_out = sorted_fold == number
        rows = order[held_out]  # the fold by score, ties in row order: its own stable sort
        raw.append(_sorted_ece(scores[rows], labels[rows], n_bins))
        if isotonic:
            rest = order[~held_out]
            fitted = IsotonicMap.fit(scores[rest], labels[rest])
            calibrated.append(expected_calibration_error(fitted.predict(scores[test]), labels[test], n_bins))
    return float(np.mean(raw)), float(np.mean(calibrated)) if isotonic else None


def _sigma_scale(
    truth: npt.NDArray[np.bool_],
    scores: FloatArray,
    threshold: float,
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
            rows = rng.integers(0, len(scores), size)
            values = _binary_scores(
                truth[rows], scores[rows] >= threshold, scores[rows], None, log_loss=False
            )
            for metric in ESTIMATED_METRICS:
                draws[metric].append(values[metric])
        for metric in ESTIMATED_METRICS:
            finite = np.asarray(draws[metric])
            finite = finite[np.isfinite(finite)]
            if len(finite) >= 2:
                scaled[metric].append(float(np.var(finite, ddof=1)) * size)
    return {metric: math.sqrt(np.mean(values)) if values else math.nan for metric, values in scaled.items()}
