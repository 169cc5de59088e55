"""The catalogue of column drift methods, with Evidently 0.7's semantics.

Each method is one small class: what it measures, when it says "drift", and
where it comes from. Scores, thresholds and their direction are Evidently's
(``evidently.legacy.calculations.stattests``), so a team moving from Evidently
gets the same answers. The reference side of every method reads a
`ColumnProfile` prepared once; only the current window is processed per check.

``default_method`` is Evidently's rule for picking a method when the user says
``auto``: with at most 1000 reference rows (after dropping NaN/inf), ks for
numeric columns with more than 5 distinct values, chisquare for more than 2,
else z; above 1000 rows, wasserstein (normed by the reference std) for numeric
columns with more than 5 distinct values, else jensenshannon.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.spatial import distance

from driftwatch.drift.profile import ColumnProfile, ColumnType

__all__ = ["CATALOGUE", "DriftMethod", "MethodResult", "default_method", "get_method"]


@dataclass(frozen=True)
class MethodResult:
    score: float
    drift_detected: bool


class DriftMethod:
    """A column drift test. ``higher_is_drift`` says whether scores above the threshold mean drift
    (distances) or below it (p-values)."""

    name: ClassVar[str]
    default_threshold: ClassVar[float] = 0.05
    column_types: ClassVar[tuple[ColumnType, ...]] = ("numeric", "categorical")

    def __call__(
        self, reference: ColumnProfile, current: npt.NDArray[np.generic], threshold: float
    ) -> MethodResult:
        raise NotImplementedError


CATALOGUE: dict[str, DriftMethod] = {}


def register(cls: type[DriftMethod]) -> type[DriftMethod]:
    CATALOGUE[cls.name] = cls()
    return cls


def get_method(name: str) -> DriftMethod:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown drift method {name!r}; known: {', '.join(sorted(CATALOGUE))}") from None


def _union_counts(
    reference: ColumnProfile, current: npt.NDArray[np.generic]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Counts of every value seen in either sample, reference and current, aligned by value."""
    cur_uniques, cur_counts = np.unique(current, return_counts=True)
    keys = np.union1d(reference.uniques, cur_uniques)
    ref_aligned = np.zeros(len(keys))
    cur_aligned = np.zeros(len(keys))
    ref_aligned[np.searchsorted(keys, reference.uniques)] = reference.counts
    cur_aligned[np.searchsorted(keys, cur_uniques)] = cur_counts
    return ref_aligned, cur_aligned


def n_distinct(reference: ColumnProfile, current: npt.NDArray[np.generic]) -> int:
    return len(np.union1d(reference.uniques, np.unique(current)))


@register
class KolmogorovSmirnov(DriftMethod):
    """Two-sample Kolmogorov-Smirnov test (two-sided); the score is its p-value.

    Drift when p <= threshold (default 0.05). Numeric columns only.
    Reference: Evidently ``ks``; scipy.stats.ks_2samp.
    """

    name = "ks"
    column_types = ("numeric",)

    def __call__(
        self, reference: ColumnProfile, current: npt.NDArray[np.generic], threshold: float
    ) -> MethodResult:
        p_value = float(stats.ks_2samp(reference.values, current)[1])
        return MethodResult(p_value, p_value <= threshold)


@register
class ChiSquare(DriftMethod):
    """Pearson's chi-square goodness of fit of current counts against reference proportions.

    Expected counts are the reference counts scaled to the current size. Drift
    when p < threshold (default 0.05). Reference: Evidently ``chisquare``.
    """

    name = "chisquare"

    def __call__(
        self, reference: ColumnProfile, current: npt.NDArray[np.generic], threshold: float
    ) -> MethodResult:
        ref_counts, cur_counts = _union_counts(reference, current)
        expected = ref_counts * (len(current) / reference.rows)
        p_value = float(stats.chisquare(cur_counts, expected)[1])
        return MethodResult(p_value, p_value < threshold)


@register
class ProportionsZ(DriftMethod):
    """Two-proportion z-test on the share of the first category (in sorted order).

    Meant for binary columns. Drift when the two-sided p < threshold (default
    0.05); p = 1 when both samples hold one and the same value.
    Reference: Evidently ``z``.
    """

    name = "z"

    def __call__(
        self, reference: ColumnProfile, current: npt.NDArray[np.generic], threshold: float
    ) -> MethodResult:
        cur_uniques = np.unique(current)
        if reference.nunique == 1 and len(cur_uniques) == 1 and reference.uniques[0] == cur_uniques[0]:
            return MethodResult(1.0, False)
        first = np.union1d(reference.uniques, cur_uniques)[0]
        n1, n2 = reference.rows, len(current)
        # Evidently codes the first category as 0 and every other value as 1.
        p1 = float(n1 - reference.count_map().get(first, 0)) / n1
        p2 = float(n2 - int(np.count_nonzero(current == first))) / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        p_value = float(2 * (1 - stats.norm.cdf(np.abs(z))))
        return MethodResult(p_value, p_value < threshold)


def binned_shares(
    reference: ColumnProfile, current: npt.NDArray[np.generic]
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Evidently's ``get_binned_data`` without zero filling.

    Numeric columns with more than 20 distinct reference values: histogram on
    Sturges edges of the combined data; otherwise shares of each distinct value.
    """
    if reference.type == "numeric" and reference.nunique > 20:
        edges = np.histogram_bin_edges(np.concatenate([reference.values, current]), bins="sturges")
        ref_hist = np.histogram(reference.values, edges)[0] / reference.rows
        cur_hist = np.histogram(current, edges)[0] / len(current)
        return ref_hist, cur_hist
    ref_counts, cur_counts = _union_counts(reference, current)
    return ref_counts / reference.rows, cur_counts / len(current)


@register
class JensenShannon(DriftMethod):
    """Jensen-Shannon distance (natural log) between binned reference and current shares.

    Drift when distance >= threshold (default 0.1). Reference: Evidently
    ``jensenshannon``; scipy.spatial.distance.jensenshannon.
    """

    name = "jensenshannon"
    default_threshold = 0.1

    def __call__(
        self, reference: ColumnProfile, current: npt.NDArray[np.generic], threshold: float
    ) -> MethodResult:
        ref_shares, cur_shares = binned_shares(reference, current)
        score = float(distance.jensenshannon(ref_shares, cur_shares))
        return MethodResult(score, score >= threshold)


@register
class WassersteinNormed(DriftMethod):
    """First Wasserstein distance divided by the reference standard deviation (floor 0.001).

    Drift when the normed distance >= threshold (default 0.1): the current
    distribution moved by a tenth of a reference std. Numeric columns only.
    Reference: Evidently ``wasserstein``; scipy.stats.wasserstein_distance.
    """

    name = "wasserstein"
    default_threshold = 0.1
    column_types = ("numeric",)

    def __call__(
        self, reference: ColumnProfile, current: npt.NDArray[np.generic], threshold: float
    ) -> MethodResult:
        norm = max(reference.std, 0.001)
        score = float(stats.wasserstein_distance(reference.values, current)) / norm
        return MethodResult(score, score >= threshold)


def default_method(reference: ColumnProfile, current: npt.NDArray[np.generic]) -> DriftMethod:
    """Evidently 0.7's choice of test when none is configured (rows counted after NaN/inf removal)."""
    distinct = n_distinct(reference, current)
    if reference.rows <= 1000:
        if reference.type == "numeric" and distinct > 5:
            return CATALOGUE["ks"]
        return CATALOGUE["chisquare"] if distinct > 2 else CATALOGUE["z"]
    if reference.type == "numeric" and distinct > 5:
        return CATALOGUE["wasserstein"]
    return CATALOGUE["jensenshannon"]
