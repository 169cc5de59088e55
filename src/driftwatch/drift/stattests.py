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

import numpy as np
from scipy import stats
from scipy.spatial import distance

from driftwatch.drift import histogram_tests, sample_tests  # noqa: F401  (they register their methods)
from driftwatch.drift.method_base import (
    CATALOGUE,
    DriftMethod,
    MethodResult,
    _count_of,
    _union_counts,
    binned_shares,
    n_distinct,
    register,
    wasserstein_sorted,
)
from driftwatch.drift.profile import ColumnProfile, ColumnSample

__all__ = ["CATALOGUE", "DriftMethod", "MethodResult", "default_method", "get_method"]


@register
class KolmogorovSmirnov(DriftMethod):
    """Two-sample Kolmogorov-Smirnov test (two-sided); the score is its p-value.

    Drift when p <= threshold (default 0.05). Numeric columns only.
    Reference: Evidently ``ks``; scipy.stats.ks_2samp.
    """

    name = "ks"
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        p_value = float(stats.ks_2samp(reference.values, current.values)[1])
        return MethodResult(p_value, p_value <= threshold)


@register
class ChiSquare(DriftMethod):
    """Pearson's chi-square goodness of fit of current counts against reference proportions.

    Expected counts are the reference counts scaled to the current size. Drift
    when p < threshold (default 0.05). Reference: Evidently ``chisquare``.
    """

    name = "chisquare"

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        ref_counts, cur_counts = _union_counts(reference, current)
        expected = ref_counts * (current.rows / reference.rows)
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

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        if reference.nunique == 1 and current.nunique == 1 and reference.uniques[0] == current.uniques[0]:
            return MethodResult(1.0, False)
        n1, n2 = reference.rows, current.rows
        # Evidently codes the first category (in sorted order) as 0 and every other value as 1.
        first = min(reference.uniques[0], current.uniques[0])
        p1 = float(n1 - _count_of(reference.uniques, reference.counts, first)) / n1
        p2 = float(n2 - _count_of(current.uniques, current.counts, first)) / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        with np.errstate(divide="ignore", invalid="ignore"):
            z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        p_value = float(2 * (1 - stats.norm.cdf(np.abs(z))))
        return MethodResult(p_value, p_value < threshold)


@register
class JensenShannon(DriftMethod):
    """Jensen-Shannon distance (natural log) between binned reference and current shares.

    Drift when distance >= threshold (default 0.1). Reference: Evidently
    ``jensenshannon``; scipy.spatial.distance.jensenshannon.
    """

    name = "jensenshannon"
    default_threshold = 0.1

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
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

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        norm = max(reference.std, 0.001)
        score = wasserstein_sorted(reference.values, current.values) / norm
        return MethodResult(score, score >= threshold)


def get_method(name: str) -> DriftMethod:
    try:
        return CATALOGUE[name]
    except KeyError:
        raise KeyError(f"unknown drift method {name!r}; known: {', '.join(sorted(CATALOGUE))}") from None


def default_method(reference: ColumnProfile, current: ColumnSample) -> DriftMethod:
    """Evidently 0.7's choice of test when none is configured (rows counted after NaN/inf removal)."""
    # Only "more than 5" and "more than 2" matter: skip counting when one side alone decides.
    distinct = max(reference.nunique, 6) if reference.nunique > 5 else n_distinct(reference, current)
    if reference.rows <= 1000:
        if reference.type == "numeric" and distinct > 5:
            return CATALOGUE["ks"]
        return CATALOGUE["chisquare"] if distinct > 2 else CATALOGUE["z"]
    if reference.type == "numeric" and distinct > 5:
        return CATALOGUE["wasserstein"]
    return CATALOGUE["jensenshannon"]
