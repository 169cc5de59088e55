"""Champion/challenger: two versions of a model compared on the same labelled traffic.

Two versions served side by side answer "is the challenger better or worse than the champion" with the
realized difference of a metric and a confidence interval around it. Every difference here is
**challenger - champion**: positive means the challenger scores higher (for accuracy, f1, roc_auc, r2:
better; for log_loss, mae, rmse, mape: worse, see `driftwatch.performance.metrics.HIGHER_IS_BETTER`).

Two designs of traffic, told apart by the data (`compare_versions`):

split
    A/B traffic: each request is served by one version, the prediction ids of the two are disjoint.
    Accuracy: Newcombe's hybrid score interval (Newcombe 1998, method 10): the two Wilson score
    intervals combined, ``L = d - sqrt((p1 - l1)^2 + (u2 - p2)^2)``, ``U = d + sqrt((u1 - p1)^2 + (p2
    - l2)^2)`` with ``d = p2 - p1`` (`newcombe_split`).
paired
    Shadow traffic: both versions score the same requests (same prediction id, one label grades both).
    Accuracy: Newcombe's interval for paired proportions (Newcombe 1998b, method 10), the two marginal
    Wilson intervals combined with the phi correlation of the 2x2 table of right/wrong pairs
    (`newcombe_paired`). Chosen when at least `PAIRED_SHARE` of the labelled prediction ids (of both
    versions together) are shared; the pairs are then the rows compared, the few unshared rows are left
    out.

Why: accuracy is a proportion near 1, where the Wald interval undercovers badly; the Wilson-based
intervals stay near nominal coverage down to tens of labels, are closed-form (every replica and re-run
gives the same bounds) and cost microseconds. Ignoring the pairing of shadow traffic would widen the
interval several-fold when the versions agree on most rows.

Metrics without a closed form (precision, recall, f1, roc_auc, log_loss, mae, rmse, mape, r2) get a
percentile bootstrap (`bootstrap_difference`): pairs resampled jointly in the paired design, each version
independently otherwise, every replicate computed by `driftwatch.performance.metrics.realized` (the
metric's one definition). The generator is seeded from a BLAKE2b digest of text parts the caller gives
(model, champion, challenger, window end), so the bounds are deterministic too.

Inputs: each version's labelled predictions of the same look-back, as `VersionRows`: the
`driftwatch.checks.base.Labelled` a performance check reads (labels, predictions, sampling weights, from
`driftwatch.state.labels.Joined`) plus one prediction id per row to pair them by (the join's id hash:
the label join must return it with the rows for the paired design).

Sampling weights (the join's ``1 / rate``): when every weight of a version is equal they change nothing
and are ignored. Otherwise the accuracy is the weighted proportion, and the Wilson intervals use Kish's
effective sample size ``(sum w)^2 / sum w^2`` in place of the row count (a documented approximation: the
design effect of unequal weights). A pair's weight is the larger of its two rows' weights: both rows
survive the join's nested hash sample only at the lower of the two rates. The bootstrap passes the
resampled rows' weights to the metric.

Too little data is an outcome, never an exception nor a NaN bound: fewer labelled rows (pairs, in the
paired design) than ``min_labels`` for either version gives a `VersionComparison` with status
``not_enough_data`` and the reason; a metric undefined on these rows (roc_auc with one class) gives a
`Difference` without an interval and a note. Problems in the data (a label outside the classes) raise
ValueError from the metrics, as `realized` does.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from driftwatch.checks.base import Labelled
from driftwatch.drift.dataset import ColumnDrift
from driftwatch.performance.metrics import METRICS, correct, direction, realized
from driftwatch.performance.monitor import PerformanceSpec, graded_labels

__all__ = [
    "PAIRED_SHARE",
    "Design",
    "Difference",
    "Interval",
    "VersionComparison",
    "VersionRows",
    "bootstrap_difference",
    "bootstrap_seed",
    "compare_versions",
    "newcombe_paired",
    "newcombe_split",
    "wilson",
]

Design = Literal["split", "paired"]

PAIRED_SHARE = 0.8
"""The share of labelled prediction ids both versions must share for the paired design."""

MIN_FINITE_REPLICATES = 0.9
"""The share of bootstrap replicates in which a metric must be defined for an interval: roc_auc of a
resample holding one class is undefined; if that is common, the percentiles would describe another
population than the rows'."""

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Interval:
    """A difference challenger - champion and its confidence interval ``[lower, upper]``."""

    lower: float
    estimate: float
    upper: float
    confidence: float
    method: str

    def below(self, bound: float) -> bool:
        """Whether the whole interval lies below ``bound`` (a worse_by alert: ``below(-worse_by)``)."""
        return self.upper < bound

    def above(self, bound: float) -> bool:
        """Whether the whole interval lies above ``bound``."""
        return self.lower > bound

    def as_dict(self) -> dict[str, object]:
        return {
            "lower": self.lower,
            "estimate": self.estimate,
            "upper": self.upper,
            "confidence": self.confidence,
            "method": self.method,
        }


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), such as 0.95; got {confidence}")
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _wilson(k: float, n: float, z: float) -> tuple[float, float]:
    """Wilson's score interval for k successes in n trials (n > 0; k and n may be effective, not whole)."""
    p = k / n
    z2 = z * z
    denominator = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n)) / denominator
    return centre - half, centre + half


def wilson(k: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval for the proportion k / n (Wilson 1927; Newcombe 1998a, method 3)."""
    _counts(k, n, "k")
    return _wilson(k, n, _z(confidence))


def _counts(k: float, n: float, name: str) -> None:
    if not (n > 0 and 0 <= k <= n):
        raise ValueError(f"{name} must be between 0 and its n, and n positive; got {name}={k}, n={n}")


def _split(k1: float, n1: float, k2: float, n2: float, z: float) -> tuple[float, float, float]:
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = _wilson(k1, n1, z)
    l2, u2 = _wilson(k2, n2, z)
    d = p2 - p1
    lower = d - math.sqrt((p2 - l2) ** 2 + (u1 - p1) ** 2)
    upper = d + math.sqrt((u2 - p2) ** 2 + (p1 - l1) ** 2)
    return max(-1.0, lower), d, min(1.0, upper)  # rounding may overshoot by an ulp


def newcombe_split(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> Interval:
    """Newcombe's hybrid score interval (1998, method 10) for ``p2 - p1``, two independent proportions.

    Version 1 is the champion (k1 right of n1), version 2 the challenger: the estimate is ``k2/n2 -
    k1/n1``, **challenger - champion**. (statsmodels' ``confint_proportions_2indep(k2, n2, k1, n1,
    method="newcomb", compare="diff")`` is the same interval: it computes its count1 - count2.)
    Defined for every count, 0 and n included; ValueError when a count is outside [0, n] or n is 0.
    """
    _counts(k1, n1, "k1")
    _counts(k2, n2, "k2")
    lower, estimate, upper = _split(k1, n1, k2, n2, _z(confidence))
    return Interval(lower, estimate, upper, confidence, "newcombe")


def _phi(a: float, b: float, c: float, d: float) -> float:
    """The correlation of the paired table with Newcombe's (1998b) correction: 0 when a margin is 0;
    else ``ad - bc`` shrunk towards 0 by n/2 when positive (0 if it is smaller than n/2), kept as it is
    when negative."""
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    n = a + b + c + d
    cross = a * d - b * c
    if cross > n / 2.0:
        cross -= n / 2.0
    elif cross >= 0:
        cross = 0.0
    return cross / math.sqrt(margins)


def _paired(a: float, b: float, c: float, d: float, z: float) -> tuple[float, float, float]:
    # the challenger's proportion right is (a + c) / n, the champion's (a + b) / n; Newcombe's theta is the
    # first margin minus the second, so the challenger is taken as his first: swap b and c (phi unchanged)
    n = a + b + c + d
    p1, p2 = (a + c) / n, (a + b) / n
    l1, u1 = _wilson(a + c, n, z)
    l2, u2 = _wilson(a + b, n, z)
    phi = _phi(a, c, b, d)
    theta = p1 - p2
    dl1, du1, dl2, du2 = p1 - l1, u1 - p1, p2 - l2, u2 - p2
    delta = math.sqrt(max(0.0, dl1 * dl1 - 2.0 * phi * dl1 * du2 + du2 * du2))
    epsilon = math.sqrt(max(0.0, du1 * du1 - 2.0 * phi * du1 * dl2 + dl2 * dl2))
    return max(-1.0, theta - delta), theta, min(1.0, theta + epsilon)


def newcombe_paired(a: int, b: int, c: int, d: int, confidence: float = 0.95) -> Interval:
    """Newcombe's interval (1998b, method 10) for the difference of two paired proportions.

    The pairs are rows graded for both versions: ``a`` both right, ``b`` the champion right and the
    challenger wrong, ``c`` the champion wrong and the challenger right, ``d`` both wrong. The estimate is
    ``(c - b) / n``, the challenger's accuracy minus the champion's. The marginal Wilson intervals are
    combined with the table's phi correlation, with Newcombe's correction (`_phi`; phi is 0 when a margin
    is 0, e.g. every pair right for one version). ValueError when a count is negative or n is 0.
    """
    if min(a, b, c, d) < 0 or a + b + c + d == 0:
        raise ValueError(f"the paired table needs non-negative counts and n > 0; got {(a, b, c, d)}")
    lower, estimate, upper = _paired(a, b, c, d, _z(confidence))
    return Interval(lower, estimate, upper, confidence, "newcombe-paired")


def bootstrap_seed(parts: Sequence[str]) -> int:
    """A 64-bit seed from text parts (model, champion, challenger, window end): the same on any replica."""
    digest = hashlib.blake2b("\x1f".join(parts).encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big")


def _array(values: npt.ArrayLike) -> npt.NDArray[Any]:
    """Rows as an array that a row index can select (a list of class-probability maps stays one per row)."""
    if isinstance(values, np.ndarray):
        return values
    if isinstance(values, list | tuple) and values and isinstance(values[0], dict):
        array = np.empty(len(values), dtype=object)
        array[:] = values
        return array
    return np.asarray(values)


@dataclass(frozen=True)
class _Rows:
    """One version's rows, read once: labels normalised, arrays indexable, weights None when equal."""

    labels: npt.NDArray[Any]
    predictions: npt.NDArray[Any]
    weights: FloatArray | None

    @classmethod
    def of(cls, labelled: Labelled, spec: PerformanceSpec) -> _Rows:
        labels = graded_labels(labelled.labels, spec)
        predictions = _array(labelled.predictions)
        if len(predictions) != len(labels):
            raise ValueError(f"{len(labels)} labels for {len(predictions)} predictions")
        return cls(labels, predictions, _weights(labelled.weights, len(labels)))

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, index: npt.NDArray[np.intp]) -> _Rows:
        weights = None if self.weights is None else self.weights[index]
        return _Rows(self.labels[index], self.predictions[index], weights)

    def metric(self, metric: str, spec: PerformanceSpec) -> float:
        values = realized(
            spec.task,
            self.labels,
            self.predictions,
            threshold=spec.decision_threshold,
            classes=spec.classes,
            sample_weight=self.weights,
            only=(metric,),
        )
        return values.get(metric, math.nan)

    def correct(self, spec: PerformanceSpec) -> npt.NDArray[np.bool_]:
        return correct(
            spec.task, self.labels, self.predictions, threshold=spec.decision_threshold, classes=spec.classes
        )


def _weights(weights: npt.ArrayLike | None, rows: int) -> FloatArray | None:
    if weights is None:
        return None
    array = np.asarray(weights, dtype=np.float64)
    if array.shape != (rows,):
        raise ValueError(f"{array.shape[0] if array.ndim else 0} weights for {rows} rows")
    if not (np.isfinite(array).all() and (array > 0).all()):
        raise ValueError("sampling weights must be positive and finite")
    if not len(array) or np.all(array == array[0]):
        return None  # one sampling rate throughout: weights change nothing
    return array


def _percentile_interval(
    champion: _Rows,
    challenger: _Rows,
    metric: str,
    spec: PerformanceSpec,
    paired: bool,
    resamples: int,
    seed: Sequence[str],
    confidence: float,
) -> tuple[Interval | None, str | None]:
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    _z(confidence)
    if paired and len(champion) != len(challenger):
        raise ValueError(
            f"paired rows must be aligned: {len(champion)} champion, {len(challenger)} challenger"
        )
    estimate = challenger.metric(metric, spec) - champion.metric(metric, spec)
    if not math.isfinite(estimate):
        return None, f"{metric} is undefined on these rows (e.g. roc_auc with a single class)"
    generator = np.random.default_rng(bootstrap_seed(seed))
    n1, n2 = len(champion), len(challenger)
    replicates = np.empty(resamples, dtype=np.float64)
    for i in range(resamples):
        first = generator.integers(0, n1, n1)
        second = first if paired else generator.integers(0, n2, n2)
        replicates[i] = challenger.take(second).metric(metric, spec) - champion.take(first).metric(
            metric, spec
        )
    finite = replicates[np.isfinite(replicates)]
    if len(finite) < MIN_FINITE_REPLICATES * resamples:
        note = f"{metric} is undefined in {resamples - len(finite)} of {resamples} bootstrap resamples"
        return None, note
    alpha = 1.0 - confidence
    lower, upper = np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0])
    method = "bootstrap-paired" if paired else "bootstrap"
    return Interval(float(lower), estimate, float(upper), confidence, method), None


def bootstrap_difference(
    metric: str,
    champion: Labelled,
    challenger: Labelled,
    *,
    spec: PerformanceSpec,
    paired: bool,
    resamples: int = 1000,
    seed: Sequence[str] = (),
    confidence: float = 0.95,
) -> Interval | None:
    """The percentile bootstrap interval of ``metric(challenger) - metric(champion)``.

    ``spec`` says how to grade (task, decision threshold, classes). ``paired``: row i of both versions is
    the same request (aligned by the caller), resampled jointly; otherwise each version's rows are
    resampled independently. ``seed``: text parts whose BLAKE2b digest seeds the generator (the same
    parts give the same bounds). None when the metric is undefined on the rows or in more than 10% of the
    resamples (`MIN_FINITE_REPLICATES`). ValueError on empty rows or data the metrics refuse.
    """
    direction(metric)
    first, second = _Rows.of(champion, spec), _Rows.of(challenger, spec)
    if not len(first) or not len(second):
        raise ValueError("the bootstrap needs labelled rows of both versions")
    interval, _ = _percentile_interval(first, second, metric, spec, paired, resamples, seed, confidence)
    return interval


@dataclass(frozen=True)
class VersionRows:
    """One version's labelled predictions of the look-back: the `Labelled` a performance check reads, and
    one prediction id per row (the label join's id hash, or the id text) to pair shadow traffic by."""

    version: str
    labelled: Labelled
    ids: npt.ArrayLike


@dataclass(frozen=True)
class Difference:
    """One metric of both versions and its difference challenger - champion. ``interval`` is None when
    the metric cannot be compared on these rows (``note`` says why)."""

    metric: str
    champion: float | None
    challenger: float | None
    interval: Interval | None
    note: str | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "metric": self.metric,
            "champion": self.champion,
            "challenger": self.challenger,
            "interval": None if self.interval is None else self.interval.as_dict(),
            "note": self.note,
        }


@dataclass(frozen=True)
class VersionComparison:
    """The champion and the challenger compared on the same period of labelled traffic.

    ``rows``: the rows compared per version (the pairs, twice, in the paired design). ``shared``: the
    share of labelled prediction ids both versions hold, which decided ``design``. ``metrics`` is empty
    when ``status`` is ``not_enough_data`` (``note`` says why). ``prediction_drift``: the challenger's
    window predictions against the champion's (`driftwatch.performance.challenger.ChallengerCheck`),
    None when not compared.
    """

    champion: str
    challenger: str
    design: Design
    rows: tuple[int, int]
    shared: float
    metrics: dict[str, Difference] = field(default_factory=dict)
    status: Literal["ok", "not_enough_data"] = "ok"
    note: str | None = None
    prediction_drift: ColumnDrift | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "champion": self.champion,
            "challenger": self.challenger,
            "design": self.design,
            "rows": list(self.rows),
            "shared": self.shared,
            "status": self.status,
            "note": self.note,
            "metrics": {name: difference.as_dict() for name, difference in self.metrics.items()},
            "prediction_drift": None if self.prediction_drift is None else self.prediction_drift.as_dict(),
        }


def _pairs(
    champion: npt.ArrayLike, challenger: npt.ArrayLike
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], float]:
    """The row indices of the ids both versions hold (champion's, challenger's, in the champion's order)
    and the share of the distinct ids they are. A repeated id pairs by its first row."""
    first: dict[Any, int] = {}
    for i, key in enumerate(np.asarray(champion).tolist()):
        first.setdefault(key, i)
    second: dict[Any, int] = {}
    for i, key in enumerate(np.asarray(challenger).tolist()):
        second.setdefault(key, i)
    both = [key for key in first if key in second]
    distinct = len(first) + len(second) - len(both)
    left = np.fromiter((first[key] for key in both), dtype=np.intp, count=len(both))
    right = np.fromiter((second[key] for key in both), dtype=np.intp, count=len(both))
    return left, right, (len(both) / distinct if distinct else 0.0)


def _effective(hits: npt.NDArray[np.bool_], weights: FloatArray | None) -> tuple[float, float]:
    """(right, n) for the Wilson interval: counts, or with unequal weights the weighted proportion times
    Kish's effective n."""
    if weights is None:
        return float(hits.sum()), float(len(hits))
    n = weights.sum() ** 2 / (weights * weights).sum()
    return float(weights[hits].sum() / weights.sum() * n), float(n)


def _accuracy_interval(
    champion: _Rows, challenger: _Rows, spec: PerformanceSpec, paired: bool, z: float, confidence: float
) -> Interval:
    right1, right2 = champion.correct(spec), challenger.correct(spec)
    if paired:
        weights = champion.weights if challenger.weights is None else challenger.weights
        if champion.weights is not None and challenger.weights is not None:
            weights = np.maximum(champion.weights, challenger.weights)  # both kept at the lower rate
        cells = [right1 & right2, right1 & ~right2, ~right1 & right2, ~right1 & ~right2]
        if weights is None:
            a, b, c, d = (float(cell.sum()) for cell in cells)
            method = "newcombe-paired"
        else:
            n = weights.sum() ** 2 / (weights * weights).sum()
            a, b, c, d = (float(weights[cell].sum() / weights.sum() * n) for cell in cells)
            method = "newcombe-paired-kish"
        lower, estimate, upper = _paired(a, b, c, d, z)
        return Interval(lower, estimate, upper, confidence, method)
    k1, n1 = _effective(right1, champion.weights)
    k2, n2 = _effective(right2, challenger.weights)
    weighted = champion.weights is not None or challenger.weights is not None
    lower, estimate, upper = _split(k1, n1, k2, n2, z)
    return Interval(lower, estimate, upper, confidence, "newcombe-kish" if weighted else "newcombe")


def compare_versions(
    champion: VersionRows,
    challenger: VersionRows,
    *,
    spec: PerformanceSpec,
    metrics: Sequence[str] = ("accuracy",),
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: Sequence[str] = (),
    min_labels: int | None = None,
) -> VersionComparison:
    """The champion and the challenger compared on their labelled rows of the same look-back.

    The design is ``paired`` when at least `PAIRED_SHARE` of the distinct labelled prediction ids are in
    both versions' rows (the pairs are then the rows compared), else ``split`` (every row). Accuracy gets
    the closed-form Newcombe interval of its design; every other metric of ``metrics`` the percentile
    bootstrap (``resamples``, seeded from ``seed``). ``min_labels`` (default ``spec.min_labels``): fewer
    rows than that for either version (pairs in the paired design) is ``not_enough_data``, no interval.
    A metric the task does not have raises ValueError (a configuration error); one the rows cannot give
    (roc_auc of a model logging labels only) is a `Difference` without an interval.
    """
    z = _z(confidence)
    least = spec.min_labels if min_labels is None else min_labels
    if least < 1:
        raise ValueError(f"min_labels must be at least 1, got {least}")
    for metric in metrics:
        direction(metric)
        if metric not in METRICS[spec.task]:
            raise ValueError(
                f"{metric} is not a metric of {spec.task}: use one of {', '.join(METRICS[spec.task])}"
            )
    first, second = _Rows.of(champion.labelled, spec), _Rows.of(challenger.labelled, spec)
    if len(np.asarray(champion.ids)) != len(first) or len(np.asarray(challenger.ids)) != len(second):
        raise ValueError("VersionRows.ids must hold one prediction id per labelled row")
    left, right, shared = _pairs(champion.ids, challenger.ids)
    design: Design = "paired" if shared >= PAIRED_SHARE else "split"
    if design == "paired":
        first, second = first.take(left), second.take(right)
    rows = (len(first), len(second))
    names = (champion.version, challenger.version)
    short = [(name, count) for name, count in zip(names, rows, strict=True) if count < least]
    if short:
        unit = "labelled pairs" if design == "paired" else "labelled predictions"
        said = ", ".join(f"version {name} has {count}" for name, count in short)
        note = f"not enough labels to compare: {said} {unit}, fewer than min_labels {least}"
        return VersionComparison(*names, design, rows, shared, {}, "not_enough_data", note)
    paired = design == "paired"
    differences: dict[str, Difference] = {}
    for metric in metrics:
        values = (first.metric(metric, spec), second.metric(metric, spec))
        shown = tuple(value if math.isfinite(value) else None for value in values)
        if metric == "accuracy":
            interval: Interval | None = _accuracy_interval(first, second, spec, paired, z, confidence)
            reason: str | None = None
        elif shown[0] is None or shown[1] is None:
            interval = None
            undefined = " and ".join(n for n, v in zip(names, shown, strict=True) if v is None)
            reason = f"{metric} is not defined for version {undefined} on these rows"
        else:
            interval, reason = _percentile_interval(
                first, second, metric, spec, paired, resamples, (*seed, metric), confidence
            )
        differences[metric] = Difference(metric, shown[0], shown[1], interval, reason)
    return VersionComparison(*names, design, rows, shared, differences)
