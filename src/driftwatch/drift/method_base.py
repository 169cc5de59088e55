"""What every column drift method is built from: the method interface, the catalogue it registers in,
and the shared computations (value counts aligned across samples, Evidently's binning, the sorted-sample
Wasserstein distance).

The method modules (``stattests`` for Evidently's core tests, ``histogram_tests``, ``sample_tests``)
import from here and register themselves; ``stattests`` imports them all, so the catalogue is complete
once ``driftwatch.drift.stattests`` is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from driftwatch.drift.profile import ColumnProfile, ColumnSample, ColumnType

__all__ = [
    "CATALOGUE",
    "DriftMethod",
    "MethodResult",
    "binned_shares",
    "n_distinct",
    "register",
    "sorted_histogram",
    "sturges_edges",
    "sturges_edges_of",
    "wasserstein_sorted",
]


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

    def __call__(self, reference: ColumnProfile, current: ColumnSample, threshold: float) -> MethodResult:
        raise NotImplementedError


CATALOGUE: dict[str, DriftMethod] = {}


def register(cls: type[DriftMethod]) -> type[DriftMethod]:
    CATALOGUE[cls.name] = cls()
    return cls


def _union_counts(
    reference: ColumnProfile, current: ColumnSample
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Counts of every value seen in either sample, reference and current, aligned by value."""
    keys = np.union1d(reference.uniques, current.uniques)
    ref_aligned = np.zeros(len(keys))
    cur_aligned = np.zeros(len(keys))
    ref_aligned[np.searchsorted(keys, reference.uniques)] = reference.counts
    cur_aligned[np.searchsorted(keys, current.uniques)] = current.counts
    return ref_aligned, cur_aligned


def n_distinct(reference: ColumnProfile, current: ColumnSample) -> int:
    """Distinct values in both samples together, from their sorted distinct values (a linear merge)."""
    if not len(current.uniques) or not len(reference.uniques):
        return reference.nunique + current.nunique
    merged = np.concatenate((reference.uniques, current.uniques))
    merged.sort(kind="stable")
    return 1 + int(np.count_nonzero(merged[1:] != merged[:-1]))


def _count_of(uniques: npt.NDArray[np.generic], counts: npt.NDArray[np.int64], value: object) -> int:
    i = int(np.searchsorted(uniques, value))  # type: ignore[call-overload]
    return int(counts[i]) if i < len(uniques) and uniques[i] == value else 0


def sturges_edges(reference: ColumnProfile, current: ColumnSample) -> npt.NDArray[np.float64]:
    """``np.histogram_bin_edges(concat(reference, current), "sturges")`` from the two samples' ranges,
    without concatenating them (both are sorted: min and max are their ends)."""
    low = min(float(reference.values[0]), float(current.values[0]))
    high = max(float(reference.values[-1]), float(current.values[-1]))
    integer = reference.integer and current.integer
    return sturges_edges_of(low, high, reference.rows + current.rows, integer)


def sturges_edges_of(low: float, high: float, size: int, integer: bool) -> npt.NDArray[np.float64]:
    """``np.histogram_bin_edges(a, "sturges")`` for an array ``a`` of ``size`` values spanning [low, high]."""
    width = (high - low) / (np.log2(size) + 1.0)
    first, last = (low - 0.5, high + 0.5) if low == high else (low, high)
    if width and integer and width < 1:
        width = 1.0  # numpy's rule for integer data
    bins = int(np.ceil((last - first) / width)) if width else 1
    return np.linspace(first, last, bins + 1, endpoint=True, dtype=np.float64)


def sorted_histogram(
    values: npt.NDArray[np.generic], edges: npt.NDArray[np.float64]
) -> npt.NDArray[np.int64]:
    """``np.histogram(values, edges)[0]`` for sorted ``values``: bins [e_i, e_i+1), the last one closed."""
    left = np.searchsorted(values, edges, side="left")
    left[-1] = np.searchsorted(values, edges[-1], side="right")
    return np.diff(left).astype(np.int64)


def binned_shares(
    reference: ColumnProfile, current: ColumnSample
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Evidently's ``get_binned_data`` without zero filling.

    Numeric columns with more than 20 distinct reference values: histogram on
    Sturges edges of the combined data; otherwise shares of each distinct value.
    """
    if reference.type == "numeric" and reference.nunique > 20:
        edges = sturges_edges(reference, current)
        ref_hist = sorted_histogram(reference.values, edges) / reference.rows
        cur_hist = sorted_histogram(current.values, edges) / current.rows
        return ref_hist, cur_hist
    ref_counts, cur_counts = _union_counts(reference, current)
    return ref_counts / reference.rows, cur_counts / current.rows


def wasserstein_sorted(u: npt.NDArray[np.generic], v: npt.NDArray[np.generic], block: int = 1 << 14) -> float:
    """scipy.stats.wasserstein_distance of two sorted samples, without re-sorting them.

    scipy sorts the pooled sample and integrates |F_u - F_v| between consecutive
    values, finding the CDFs by binary search. Here the pooled order comes from
    merging the two sorted samples, in value ranges of about ``block`` values so
    each merge stays in cache; a running count gives the CDFs. Where values tie
    the count can lag, but the gap to the next value is zero there, so the
    integral is the same (scores agree with scipy to ~1e-15).
    """
    n, m = u.size, v.size
    cuts = np.union1d(u[block::block], v[block::block])
    u_bounds = np.concatenate(([0], np.searchsorted(u, cuts, "left"), [n]))
    v_bounds = np.concatenate(([0], np.searchsorted(v, cuts, "left"), [m]))
    total = 0.0
    previous: tuple[float, float] | None = None  # (last value, CDF gap after it) of the previous range
    for k in range(len(u_bounds) - 1):
        u0, v0 = int(u_bounds[k]), int(v_bounds[k])
        u_part, v_part = u[u0 : u_bounds[k + 1]], v[v0 : v_bounds[k + 1]]
        both = np.concatenate((u_part, v_part))
        if not both.size:
            continue
        order = np.argsort(both, kind="stable")  # two sorted runs: a linear merge
        merged = both[order]
        u_seen = np.cumsum(order < u_part.size, dtype=np.int64) + u0
        v_seen = np.arange(u0 + v0 + 1, u0 + v0 + both.size + 1, dtype=np.int64) - u_seen
        gap = np.abs(u_seen / n - v_seen / m)
        if previous is not None:
            total += previous[1] * (float(merged[0]) - previous[0])
        total += float(np.einsum("i,i->", gap[:-1], np.diff(merged)))
        previous = (float(merged[-1]), float(gap[-1]))
    return total
