"""Drift methods on the raw samples: anderson, cramer_von_mises, ed, es, t_test, mannw, empirical_mmd.

Registered in the catalogue of `driftwatch.drift.stattests`. Every method is
numeric-only, as in Evidently 0.7.23 (``evidently.legacy.calculations.stattests``),
and gives Evidently's score, default threshold and drift direction:

- anderson: p-value, floored at 0.001 and capped at 0.25; default 0.1; drift when p < threshold.
- cramer_von_mises: p-value; default 0.1; drift when p <= threshold.
- ed: energy distance; default 0.1; drift when distance > threshold (strictly).
- es: p-value; default 0.05; drift when p < threshold.
- t_test: two-sided p-value; default 0.05; drift when p < threshold.
- mannw: one-sided ("less") p-value; default 0.05; drift when p < threshold.
- empirical_mmd: permutation p-value; default 0.1; drift when p < threshold.

The numeric values of a `ColumnProfile`/`ColumnSample` are sorted. anderson,
cramer_von_mises, ed and mannw depend only on the two multisets of values and
give Evidently's scores bit for bit from the sorted arrays (rank sums and CDFs
straight from the sorted distinct values and counts). The others depend on row
order: ``empirical_mmd`` permutes rows at random, and ``t_test`` and ``es`` sum
values (means, variances, characteristic functions) whose rounding follows the
order; on ill-conditioned data (near-constant values, a few distinct integers
for ``es``) sorted order moves their p-values by up to ~1e-6 relative. These
three read the values in their original row order from an ``original``
attribute of the profile and the sample when there is one, else the sorted values
(`_row_order`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special, stats

from driftwatch.drift.method_base import DriftMethod, MethodResult, register
from driftwatch.drift.profile import ColumnProfile, ColumnSample

__all__ = [
    "AndersonDarling",
    "CramerVonMises",
    "EmpiricalMMD",
    "EnergyDistance",
    "EppsSingleton",
    "MannWhitneyU",
    "TTest",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _floats(values: npt.NDArray[np.generic]) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _row_order(side: ColumnProfile | ColumnSample) -> FloatArray:
    """The finite values in their original row order when the profile or sample keeps them (an
    ``original`` attribute, not None), else the sorted values."""
    original = getattr(side, "original", None)
    return _floats(side.values if original is None else original)


def _aligned_counts(reference: ColumnProfile, current: ColumnSample) -> tuple[IntArray, IntArray]:
    """Counts of every distinct value of the pooled sample (in sorted order), reference and current."""
    keys = np.union1d(reference.uniques, current.uniques)
    ref_counts = np.zeros(len(keys), dtype=np.int64)
    cur_counts = np.zeros(len(keys), dtype=np.int64)
    ref_counts[np.searchsorted(keys, reference.uniques)] = reference.counts
    cur_counts[np.searchsorted(keys, current.uniques)] = current.counts
    return ref_counts, cur_counts


def _midranks(
    uniques: npt.NDArray[np.generic], counts: IntArray, other: npt.NDArray[np.generic]
) -> FloatArray:
    """Mid-ranks (scipy ``rankdata(method="average")``) in the pooled sample of every value of a
    sorted sample given by its distinct values and counts, ``other`` being the other sorted sample.

    Ranks are half-integers, computed exactly, so they equal scipy's bit for bit.
    """
    own_before = np.cumsum(counts) - counts
    other_left = np.searchsorted(other, uniques, side="left")
    other_right = np.searchsorted(other, uniques, side="right")
    less = own_before + other_left
    ties = counts + (other_right - other_left)
    per_value = (2 * less + ties + 1) / 2.0
    return np.repeat(per_value, counts)


# --------------------------------------------------------------------------- Anderson-Darling


@register
class AndersonDarling(DriftMethod):
    """k-sample Anderson-Darling test (midrank variant) of reference against current; the score is
    its p-value, which scipy interpolates from tabulated critical values and floors at 0.001 and caps
    at 0.25.

    Drift when p < threshold (default 0.1). Numeric columns only. Raises ValueError when both
    samples together hold a single distinct value or fewer than 3 values; p is NaN (no drift) with
    exactly 3 values.
    Reference: Evidently ``anderson``; scipy.stats.anderson_ksamp (Scholz & Stephens 1987).
    """

    name = "anderson"
    default_threshold = 0.1
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        if reference.rows + current.rows < 3:  # scipy fails with an IndexError
            raise ValueError("anderson needs at least 3 values in reference and current together")
        # Evidently calls anderson_ksamp without ``variant``, which means "midrank" (plus a warning).
        result = stats.anderson_ksamp([_floats(reference.values), _floats(current.values)], variant="midrank")
        p_value = float(result.pvalue)
        return MethodResult(p_value, p_value < threshold)


# --------------------------------------------------------------------------- Cramer-von Mises


def _cvm_exact_pvalue(s: Any, m: int, n: int) -> np.float64:
    """Exact p-value of the two-sample Cramer-von Mises statistic ``U = s`` for sample sizes m and n.

    A verbatim port of Evidently's ``_pval_cvm_2samp_exact`` (Xiao, Gordon & Yakovlev 2006,
    Algorithm 1), including its dtype choice: the number of combinations is a Python float there, so
    when it exceeds the bound on the statistic the frequency table is float16/32/64
    (``np.min_scalar_type``) and frequencies are rounded as Evidently rounds them.
    """
    lcm = np.lcm(m, n)
    a = lcm // m
    b = lcm // n
    mn = m * n
    zeta = lcm**2 * (m + n) * (6 * s - mn * (4 * mn - 1)) // (6 * mn**2)
    zeta_bound = lcm**2 * (m + n)
    combinations = math.factorial(m + n) / (math.factorial(m) * math.factorial(n))
    max_gs = max(zeta_bound, combinations)
    dtype = np.min_scalar_type(max_gs)
    gs = [np.array([[0], [1]], dtype=dtype)] + [np.empty((2, 0), dtype=dtype) for _ in range(m)]
    for u in range(n + 1):
        next_gs = []
        tmp = np.empty((2, 0), dtype=dtype)
        for v, g in enumerate(gs):
            vi, i0, i1 = np.intersect1d(tmp[0], g[0], return_indices=True)
            tmp = np.concatenate(
                [np.stack([vi, tmp[1, i0] + g[1, i1]]), np.delete(tmp, i0, 1), np.delete(g, i1, 1)], 1
            )
            tmp[0] += (a * v - b * u) ** 2
            next_gs.append(tmp)
        gs = next_gs
    value, freq = gs[m]
    return np.float64(np.sum(freq[value >= zeta]) / combinations)


def _cvm_limit_cdf(x: np.float64) -> np.float64:
    """CDF of the limiting Cramer-von Mises distribution (Csorgo & Faraway 1996, eq. 1.2), adding
    terms until one is below 1e-7: Evidently's ``_cdf_cvm_inf`` for one value."""
    total = np.float64(0.0)
    k = 0
    while True:
        u = np.exp(special.gammaln(k + 0.5) - special.gammaln(k + 1)) / (np.pi**1.5 * np.sqrt(x))
        y = 4 * k + 1
        q = y**2 / (16 * x)
        term = u * np.sqrt(y) * np.exp(-q) * special.kv(0.25, q)
        total = total + term
        if not np.abs(term) >= 1e-7:
            return np.float64(total)
        k += 1


@register
class CramerVonMises(DriftMethod):
    """Two-sample Cramer-von Mises test (Anderson 1962); the score is its p-value.

    U is computed from mid-ranks in the pooled sample (ties averaged). The p-value is exact when both
    samples have at most 20 values (with Evidently's reduced-precision frequency table), else from
    the limiting distribution of the normalised statistic. Drift when p <= threshold (default 0.1).
    Numeric columns only; raises ValueError when a sample has fewer than 2 values, and, as Evidently
    under numpy 2 does, on the exact path whenever C(m+n, m) <= lcm(m, n)^2 (m+n) (most unequal
    small sizes, e.g. 3 and 4: the frequency table gets an unsigned integer dtype).
    Reference: Evidently ``cramer_von_mises`` (its own port of scipy.stats.cramervonmises_2samp).
    """

    name = "cramer_von_mises"
    default_threshold = 0.1
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        p_value = float(cramer_von_mises_pvalue(reference, current))
        return MethodResult(p_value, p_value <= threshold)


def cramer_von_mises_pvalue(reference: ColumnProfile, current: ColumnSample) -> float:
    nx, ny = reference.rows, current.rows
    if nx <= 1 or ny <= 1:
        raise ValueError(
            f"cramer_von_mises needs at least 2 values on each side (reference {nx}, current {ny})"
        )
    rx = _midranks(reference.uniques, reference.counts, current.values)
    ry = _midranks(current.uniques, current.counts, reference.values)
    # From here on, Evidently's ``_cvm_2samp`` expression by expression (same values, same order).
    u = nx * np.sum((rx - np.arange(1, nx + 1)) ** 2)
    u += ny * np.sum((ry - np.arange(1, ny + 1)) ** 2)
    k, big_n = nx * ny, nx + ny
    t = u / (k * big_n) - (4 * k - 1) / (6 * big_n)
    if max(nx, ny) <= 20:
        try:
            return float(_cvm_exact_pvalue(u, nx, ny))
        except TypeError as exc:  # numpy's UFuncTypeError, as Evidently raises it
            raise ValueError(
                f"Evidently's exact Cramer-von Mises p-value fails for sample sizes {nx} and {ny} "
                f"under numpy {np.__version__}: its frequency table has an unsigned integer dtype "
                f"that numpy 2 will not add an int64 to ({exc})"
            ) from exc
    et = (1 + 1 / big_n) / 6
    vt = (big_n + 1.0) * (4 * k * big_n - 3 * (nx**2 + ny**2) - 2 * k)
    vt = vt / (45 * big_n**2 * 4 * k)
    tn = 1 / 6 + (t - et) / np.sqrt(45 * vt)
    if tn < 0.003:
        return 1.0
    return float(max(0, 1.0 - _cvm_limit_cdf(tn)))


# --------------------------------------------------------------------------- energy distance


def energy_distance_sorted(u: FloatArray, v: FloatArray) -> float:
    """scipy.stats.energy_distance of two sorted samples, without scipy's two argsorts.

    ``sqrt(2) * sqrt(integral of (F_u - F_v)^2)``, with the same operations as scipy's
    ``_cdf_distance(2, ...)``, so the result is scipy's bit for bit.
    """
    all_values = np.concatenate((u, v))
    all_values.sort(kind="mergesort")  # two sorted runs: a linear merge
    deltas = np.diff(all_values)
    u_cdf = u.searchsorted(all_values[:-1], "right") / u.size
    v_cdf = v.searchsorted(all_values[:-1], "right") / v.size
    return float(np.sqrt(2) * np.sqrt(np.vecdot(np.square(u_cdf - v_cdf), deltas)))


@register
class EnergyDistance(DriftMethod):
    """Energy distance between the reference and current empirical distributions:
    ``sqrt(2 * integral (F_ref - F_cur)^2)``, in the units of the column (not normalised).

    Drift when distance > threshold (strictly; default 0.1). Numeric columns only.
    Reference: Evidently ``ed``; scipy.stats.energy_distance (Szekely & Rizzo).
    """

    name = "ed"
    default_threshold = 0.1
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        score = energy_distance_sorted(_floats(reference.values), _floats(current.values))
        return MethodResult(score, score > threshold)


# --------------------------------------------------------------------------- Epps-Singleton


@register
class EppsSingleton(DriftMethod):
    """Epps-Singleton test on the empirical characteristic functions at t = 0.4 and 0.8 (scaled by
    the semi-interquartile range of both samples); the score is its asymptotic chi-square p-value,
    with scipy's small-sample correction when both samples have fewer than 25 values.

    Drift when p < threshold (default 0.05). Numeric columns only. Raises ValueError when the
    interquartile range of both samples together is 0 (Evidently's check); p is NaN (no drift) when
    a sample has fewer than 5 values (scipy's rule). Reads values in row order (`_row_order`).
    Reference: Evidently ``es``; scipy.stats.epps_singleton_2samp (Epps & Singleton 1986).
    """

    name = "es"
    default_threshold = 0.05
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        ref, cur = _row_order(reference), _row_order(current)
        if stats.iqr(np.concatenate((ref, cur))) == 0:
            raise ValueError(
                "the interquartile range of reference and current together is 0 "
                "(Epps-Singleton rescales by it)"
            )
        if len(ref) < 5 or len(cur) < 5:
            return MethodResult(math.nan, False)  # scipy returns NaN (with a warning): not drifted
        p_value = float(stats.epps_singleton_2samp(ref, cur).pvalue)
        return MethodResult(p_value, p_value < threshold)


# --------------------------------------------------------------------------- t-test


@register
class TTest(DriftMethod):
    """Student's two-sample t-test with pooled variance (equal variances assumed), two-sided;
    the score is its p-value. Compares means only.

    Drift when p < threshold (default 0.05). Numeric columns only. p is NaN (no drift) when
    both samples are constant and equal, or when each sample has a single value. Reads values in
    row order (`_row_order`).
    Reference: Evidently ``t_test``; scipy.stats.ttest_ind.
    """

    name = "t_test"
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        p_value = float(stats.ttest_ind(_row_order(reference), _row_order(current)).pvalue)
        return MethodResult(p_value, p_value < threshold)


# --------------------------------------------------------------------------- Mann-Whitney U


@register
class MannWhitneyU(DriftMethod):
    """Mann-Whitney U rank test with ``alternative="less"``: one-sided, it rejects when the reference
    is stochastically smaller than the current window, i.e. only when current values moved *up*.
    The score is its p-value: exact when a sample has at most 8 values and there are no ties, else
    the normal approximation with tie and continuity corrections.

    Drift when p < threshold (default 0.05). Numeric columns only.
    Reference: Evidently ``mannw``; scipy.stats.mannwhitneyu(reference, current, alternative="less").
    """

    name = "mannw"
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        p_value = mann_whitney_less_pvalue(reference, current)
        return MethodResult(p_value, p_value < threshold)


def mann_whitney_less_pvalue(reference: ColumnProfile, current: ColumnSample) -> float:
    """scipy's ``mannwhitneyu(reference, current, alternative="less").pvalue`` from the distinct
    values and counts of both samples (rank sums are exact, so they equal scipy's bit for bit)."""
    n1, n2 = reference.rows, current.rows
    ref_counts, cur_counts = _aligned_counts(reference, current)
    pooled = ref_counts + cur_counts
    ties = bool(pooled.max() > 1)
    if not (n1 > 8 and n2 > 8) and not ties:
        # scipy's exact distribution; samples this small cost nothing
        return float(
            stats.mannwhitneyu(_floats(reference.values), _floats(current.values), alternative="less").pvalue
        )
    less = np.cumsum(pooled) - pooled
    twice_rank_sum = int(np.dot(ref_counts, 2 * less + pooled + 1))  # 2 * R1: an exact integer
    r1 = np.float64(twice_rank_sum / 2)
    u1 = r1 - n1 * (n1 + 1) / 2
    u = n1 * n2 - u1  # "less": the survival function of U2
    t = pooled.astype(np.float64)
    tie_term = np.sum(t**3 - t)
    n = n1 + n2
    s = np.sqrt(n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1))))
    numerator = u - n1 * n2 / 2 - 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        z = numerator / s
    return float(np.clip(special.ndtr(-z), 0.0, 1.0))


# --------------------------------------------------------------------------- empirical MMD

MMD_PERMUTATIONS = 100
MMD_SEED = 0


def _mmd_rbf(x: FloatArray, y: FloatArray, sigma: float | None) -> tuple[FloatArray, float]:
    """Evidently's ``rbf``: Gaussian kernel of squared distances, sigma = sqrt(median / 2) by default."""
    dotx = x**2
    doty = y**2
    dist = doty.T - 2 * np.dot(x, y.T) + dotx
    median_sigma = (0.5 * np.percentile(a=dist.flatten(), q=50, method="nearest")) ** 0.5
    chosen = float(median_sigma) if median_sigma != 0 else (0.5 * 1) ** 0.5
    if sigma:
        chosen = sigma
    gamma = 1.0 / (2.0 * chosen**2)
    return np.exp(-gamma * dist), chosen


def _mmd_statistic(kernel: FloatArray, ny: int, index: npt.NDArray[np.intp] | None) -> float:
    """Evidently's ``mmd_2samp``: unbiased MMD^2 of the (optionally row/column permuted) kernel."""
    nx = kernel.shape[0] - ny
    if index is not None:
        kernel = kernel[index][:, index]  # exactly so: the memory layout sets the summation order
    kxx = kernel[:-ny, :-ny]
    kyy = kernel[-ny:, -ny:]
    kxy = kernel[-ny:, :-ny]
    a = 1 / (nx * (nx - 1))
    b = 1 / (ny * (ny - 1))
    return float(a * kxx.sum() + b * kyy.sum() - 2.0 * kxy.mean())


def empirical_mmd_pvalue(
    x_values: FloatArray, y_values: FloatArray, permutations: int = MMD_PERMUTATIONS, seed: int = MMD_SEED
) -> float:
    """Share of ``permutations`` random relabellings of the pooled rows whose MMD^2 is at least the
    observed one; the permutations are those of ``np.random.seed(seed)`` then
    ``np.random.permutation`` (Evidently's ``mmd_pval`` draws from numpy's global generator)."""
    nx, ny = len(x_values), len(y_values)
    if nx < 2 or ny < 2:
        raise ValueError(f"empirical_mmd needs at least 2 values on each side (reference {nx}, current {ny})")
    x, y = x_values.reshape(-1, 1), y_values.reshape(-1, 1)
    kxx, sigma = _mmd_rbf(x, x, None)
    kxy, _ = _mmd_rbf(x, y, sigma)
    kyy, _ = _mmd_rbf(y, y, sigma)
    kernel = np.concatenate(
        (np.concatenate((kxx, kxy), axis=1), np.concatenate((kxy.T, kyy), axis=1)), axis=0
    )
    kernel = kernel - np.diag(np.diagonal(kernel))
    observed = _mmd_statistic(kernel, ny, None)
    generator = np.random.RandomState(seed)
    permuted = np.array(
        [_mmd_statistic(kernel, ny, generator.permutation(kernel.shape[0])) for _ in range(permutations)]
    )
    return float((observed <= permuted).mean())


MMD_MAX_VALUES = 4000  # reference + current values: a 4000^2 float64 kernel is 128 MB, copied 200 times


@register
class EmpiricalMMD(DriftMethod):
    """Maximum mean discrepancy with a Gaussian (RBF) kernel, bandwidth from the median reference
    pairwise distance; the score is a permutation p-value (100 random relabellings of the pooled
    rows), so it moves in steps of 0.01. Memory and time grow with (reference + current rows)^2.

    Drift when p < threshold (default 0.1). Numeric columns only; raises ValueError when a sample
    has fewer than 2 values.

    Evidently draws the permutations from numpy's *global*, unseeded generator, so its own score
    varies from run to run; driftwatch uses a private generator seeded with 0 (deterministic, thread
    safe), which gives Evidently's score exactly when Evidently runs right after
    ``np.random.seed(0)`` on the same rows in the same order. The permutations relabel rows, so the
    score depends on row order: profiles that keep the original row order (``original``) reproduce
    Evidently, otherwise the sorted values are used (an equally valid draw, not Evidently's).
    Reference: Evidently ``empirical_mmd``; Gretton et al. 2012, "A Kernel Two-Sample Test".
    """

    name = "empirical_mmd"
    default_threshold = 0.1
    column_types = ("numeric",)

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        total = reference.rows + current.rows
        if total > MMD_MAX_VALUES:
            # Evidently builds an (n+m)^2 kernel and copies it 200 times: minutes and GBs beyond this
            raise ValueError(
                f"empirical_mmd needs an (n+m)^2 kernel; {total} values exceed the {MMD_MAX_VALUES} limit: "
                "use it on smaller windows (window.max_rows) or choose another method (e.g. wasserstein)"
            )
        p_value = empirical_mmd_pvalue(_row_order(reference), _row_order(current))
        return MethodResult(p_value, p_value < threshold)
