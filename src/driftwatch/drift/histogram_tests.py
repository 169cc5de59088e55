"""Drift methods on binned or counted data: psi, kl_div, hellinger, TVD, g_test, fisher_exact.

Registered in the catalogue of `driftwatch.drift.stattests`. Scores, default
thresholds (0.1 for all six), drift directions, column types and binning are
Evidently 0.7.23's (``evidently.legacy.calculations.stattests``); like Evidently,
every method sees both columns with NaN and +/-inf already dropped.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import stats

from driftwatch.drift.method_base import (
    DriftMethod,
    MethodResult,
    _union_counts,
    binned_shares,
    n_distinct,
    register,
    sorted_histogram,
    sturges_edges_of,
)
from driftwatch.drift.profile import ColumnProfile, ColumnSample

__all__ = ["fill_zero_shares"]


def fill_zero_shares(shares: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Evidently's ``feel_zeroes``: empty bins get the smallest non-empty share / 10**6 when that share
    is <= 0.0001, else 0.0001 (so the shares no longer sum to exactly 1)."""
    filled = shares.copy()
    empty = filled == 0
    if empty.any():
        smallest = float(filled[~empty].min())
        filled[empty] = smallest / 10**6 if smallest <= 0.0001 else 0.0001
    return filled


def _filled_shares(
    reference: ColumnProfile, current: ColumnSample
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    ref_shares, cur_shares = binned_shares(reference, current)
    return fill_zero_shares(ref_shares), fill_zero_shares(cur_shares)


@register
class PopulationStabilityIndex(DriftMethod):
    """Population stability index: sum of (ref - cur) * ln(ref / cur) over bin shares.

    Bins as Evidently's ``get_binned_data``: a Sturges histogram of both samples
    together for numeric columns with more than 20 distinct reference values,
    else one bin per distinct value; empty bins are filled with a tiny share.
    Drift when PSI >= threshold (default 0.1). Reference: Evidently ``psi``;
    Siddiqi, "Credit Risk Scorecards" (2006).
    """

    name = "psi"
    default_threshold = 0.1

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        ref_shares, cur_shares = _filled_shares(reference, current)
        score = float(np.sum((ref_shares - cur_shares) * np.log(ref_shares / cur_shares)))
        return MethodResult(score, score >= threshold)


@register
class KullbackLeibler(DriftMethod):
    """Kullback-Leibler divergence KL(reference || current), natural log, of binned shares.

    Same bins and empty-bin filling as ``psi`` (shares renormalised by scipy).
    Drift when the divergence >= threshold (default 0.1). Reference: Evidently
    ``kl_div``; scipy.stats.entropy.
    """

    name = "kl_div"
    default_threshold = 0.1

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        ref_shares, cur_shares = _filled_shares(reference, current)
        score = float(stats.entropy(ref_shares, cur_shares))
        return MethodResult(score, score >= threshold)


def _is_subset(values: npt.NDArray[np.generic], of: npt.NDArray[np.generic]) -> bool:
    """Whether every value of sorted ``values`` is in sorted ``of``."""
    at = np.searchsorted(of, values)
    return bool(np.all(at < len(of)) and np.array_equal(of[np.minimum(at, len(of) - 1)], values))


@register
class Hellinger(DriftMethod):
    """Hellinger distance sqrt(1 - sum sqrt(p * q)) between reference and current distributions.

    Categorical: p, q are the shares of each category. Numeric: p, q are
    histogram densities (times the bin width) on Sturges edges computed, as
    Evidently does, from the *distinct* values of both samples (so the bin count
    follows the number of distinct values, not of rows). Drift when distance >=
    threshold (default 0.1). Reference: Evidently ``hellinger``; Hellinger (1909).
    """

    name = "hellinger"
    default_threshold = 0.1

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        if reference.type == "categorical":
            ref_counts, cur_counts = _union_counts(reference, current)
            overlap = float(np.sum(np.sqrt((ref_counts / reference.rows) * (cur_counts / current.rows))))
        else:
            overlap = self._numeric_overlap(reference, current)
        score = math.sqrt(1 - float(np.clip(overlap, 0, 1)))
        return MethodResult(score, score >= threshold)

    @staticmethod
    def _numeric_overlap(reference: ColumnProfile, current: ColumnSample) -> float:
        low = min(float(reference.values[0]), float(current.values[0]))
        high = max(float(reference.values[-1]), float(current.values[-1]))
        # Evidently bins list(set(ref.unique()) | set(cur.unique())): numpy sees integers only if every
        # element is an integer scalar, i.e. the reference is integer and the current either is too or
        # adds no value of its own (a set union keeps the reference's element for equal values).
        integer = reference.integer and (current.integer or _is_subset(current.uniques, reference.uniques))
        edges = sturges_edges_of(low, high, n_distinct(reference, current), integer)
        widths = np.diff(edges).astype(np.float64)
        ref_hist = sorted_histogram(reference.values, edges)
        cur_hist = sorted_histogram(current.values, edges)
        ref_density = ref_hist / widths / ref_hist.sum()  # np.histogram(..., density=True)
        cur_density = cur_hist / widths / cur_hist.sum()
        bin_width = (edges[-1] - edges[0]) / (len(edges) - 1)
        # Evidently adds the terms one by one in bin order: cumsum does the same additions
        return float(np.cumsum(np.sqrt(ref_density * cur_density) * bin_width)[-1])


@register
class TotalVariationPermutation(DriftMethod):
    """Permutation test on the total variation distance 0.5 * sum |ref share - cur share| of categories.

    The score is the p-value: the share of 1000 random splits of the pooled
    rows (reference rows then current rows, in their original order) into a
    reference-sized and a current-sized part whose distance is >= the observed
    one. The splits are Evidently's: ``np.random.seed(0)`` then one
    ``np.random.choice(pooled, n_reference, replace=False)`` per split, drawn
    here from a private ``RandomState(0)`` (same stream, no global state) as
    shuffles of category codes, with the distances computed for all splits at
    once. Drift when p < threshold (default 0.1). Categorical columns only.
    Reference: Evidently ``TVD``.

    Distances are floats computed term by term as Evidently does; Evidently sums
    the terms in set-iteration order, which for string categories changes with
    Python's hash seed, so with 3+ categories two mathematically tied distances
    can compare differently from one process to the next. Here the terms are
    summed in ascending order, so the p-value is deterministic; with 1 or 2
    categories the order cannot matter and the p-value is always Evidently's.
    """

    name = "TVD"
    default_threshold = 0.1
    column_types = ("categorical",)
    iterations = 1000

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        n, m = reference.rows, current.rows
        codes, categories = pd.factorize(np.concatenate((reference.values, current.values)))
        k = len(categories)
        codes = codes.astype(np.uint8 if k <= 1 << 8 else np.uint16 if k <= 1 << 16 else np.int32)
        total = np.bincount(codes, minlength=k)
        observed = self._distance(np.bincount(codes[:n], minlength=k)[None, :], total, n, m)[0]

        # Only the counts of each part matter: count the smaller part, the other one is the rest.
        part, from_reference = (slice(0, n), True) if n <= m else (slice(n, None), False)
        random = np.random.RandomState(0)
        shuffled = np.empty_like(codes)
        batch = max(1, min(self.iterations, (1 << 20) // k))
        at_least = 0
        for start in range(0, self.iterations, batch):
            rows = min(batch, self.iterations - start)
            counts = np.empty((rows, k), dtype=np.int64)
            for row in range(rows):
                np.copyto(shuffled, codes)
                random.shuffle(shuffled)  # the draws of RandomState.permutation(n + m)
                counts[row] = np.bincount(shuffled[part], minlength=k)
            ref_counts = counts if from_reference else total - counts
            at_least += int(np.count_nonzero(self._distance(ref_counts, total, n, m) >= observed))
        p_value = at_least / self.iterations
        return MethodResult(p_value, p_value < threshold)

    @staticmethod
    def _distance(
        ref_counts: npt.NDArray[np.int64], total: npt.NDArray[np.int64], n: int, m: int
    ) -> npt.NDArray[np.float64]:
        """TVD of each row of reference counts against the rest of ``total``, Evidently's float operations
        (each term |r / n - c / m|), the terms of a row added in ascending order."""
        terms = np.abs(ref_counts / n - (total - ref_counts) / m)
        if terms.shape[1] > 2:
            terms.sort(axis=1)
        result: npt.NDArray[np.float64] = 0.5 * terms.sum(axis=1)
        return result


@register
class GTest(DriftMethod):
    """G-test (log-likelihood ratio) of current category counts against the reference counts.

    As in Evidently the expected frequencies are the raw reference counts, not
    rescaled to the current size, so scipy refuses (and the column reports an
    error) unless both samples have the same number of values (to a relative
    1.5e-8). A category unseen in the reference gives p = 0; a single category
    on both sides gives p = NaN (no drift). Drift when p < threshold (default
    0.1). Categorical columns only. Reference: Evidently ``g_test``;
    scipy.stats.power_divergence(lambda_="log-likelihood").
    """

    name = "g_test"
    default_threshold = 0.1
    column_types = ("categorical",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        ref_counts, cur_counts = _union_counts(reference, current)
        try:
            p_value = float(stats.power_divergence(cur_counts, ref_counts, lambda_="log-likelihood")[1])
        except ValueError as exc:
            raise ValueError(
                "g_test uses the raw reference counts as expected frequencies, so it needs as many current "
                f"values as reference values (reference {reference.rows}, current {current.rows})"
            ) from exc
        return MethodResult(p_value, p_value < threshold)


@register
class FisherExact(DriftMethod):
    """Fisher's exact test (two-sided) on the 2x2 table of the two categories in reference and current.

    As in Evidently, both samples must have at most 2 categories and the same
    number of values, else the column reports an error. Drift when p < threshold
    (default 0.1). Categorical columns only. Reference: Evidently
    ``fisher_exact``; scipy.stats.fisher_exact.

    One deliberate difference: when the two samples hold 3 or 4 categories
    together (say reference {a, b}, current {a, c}), Evidently maps whichever two
    of them (and a "placeholder") come first in a Python set to 0 and 1 and
    counts the others as 1, so its p-value changes with the hash seed from one
    run to the next; driftwatch reports an error instead.
    """

    name = "fisher_exact"
    default_threshold = 0.1
    column_types = ("categorical",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        if reference.nunique > 2 or current.nunique > 2:
            raise ValueError(
                "fisher_exact needs binary columns, found "
                f"{reference.nunique} reference and {current.nunique} current categories"
            )
        if reference.rows != current.rows:
            raise ValueError(
                "fisher_exact needs as many current values as reference values "
                f"(reference {reference.rows}, current {current.rows})"
            )
        ref_counts, cur_counts = _union_counts(reference, current)
        if len(ref_counts) > 2:
            raise ValueError(
                f"fisher_exact needs at most 2 categories in both samples together, found {len(ref_counts)}"
            )
        # rows current, reference; columns the second category (0 if there is only one), the first one
        table = [[cur_counts[1:].sum(), cur_counts[0]], [ref_counts[1:].sum(), ref_counts[0]]]
        p_value = float(stats.fisher_exact(np.asarray(table, dtype=np.int64))[1])
        return MethodResult(p_value, p_value < threshold)
