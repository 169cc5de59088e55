"""The vectorized paths of the embedding methods give the numbers of the simple ones they replace."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from driftwatch.drift.dataset import ColumnOptions, column_drift
from driftwatch.drift.embeddings import (
    _all_finite,
    _wasserstein_bounds,
    _wasserstein_ratio,
    distance_drift,
)
from driftwatch.drift.profile import ColumnProfile


def _samples(kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, m, d = int(rng.integers(2, 800)), int(rng.integers(2, 800)), 12
    ref = rng.normal(size=(n, d)) * rng.uniform(0.1, 10, size=d) + 5 * rng.normal(size=d)
    cur = rng.normal(size=(m, d)) * rng.uniform(0.1, 10, size=d) + 5 * rng.normal(size=d)
    if kind == "ties":
        ref, cur = np.round(ref), np.round(cur)
    elif kind == "close":
        cur = ref[rng.integers(0, n, m)] + 0.05 * rng.normal(size=(m, d))
    elif kind == "heavy tails":
        ref, cur = rng.standard_cauchy(size=(n, d)), 1.1 * rng.standard_cauchy(size=(m, d))
    elif kind == "constant":
        ref[:, 0] = 3.0
        cur[:, 0] = 3.0
    return ref, cur


def _drifted_one_by_one(ref: np.ndarray, cur: np.ndarray, threshold: float) -> int:
    options = ColumnOptions("wasserstein", threshold)
    return sum(
        bool(
            column_drift(
                ColumnProfile.build(str(i), pd.Series(ref[:, i].copy()), "numeric"), cur[:, i].copy(), options
            ).drift_detected
        )
        for i in range(ref.shape[1])
    )


@pytest.mark.parametrize("kind", ["normal", "ties", "close", "heavy tails", "constant"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_wasserstein_bounds_hold_scipys_distance(kind: str, seed: int) -> None:
    ref, cur = _samples(kind, seed)
    lower, upper = _wasserstein_bounds(np.ascontiguousarray(ref.T), np.ascontiguousarray(cur.T))
    exact = np.array([stats.wasserstein_distance(ref[:, i], cur[:, i]) for i in range(ref.shape[1])])
    assert np.all(lower <= exact) and np.all(exact <= upper)


@pytest.mark.parametrize("kind", ["normal", "ties", "close", "heavy tails", "constant"])
def test_wasserstein_ratio_counts_as_the_column_checks_even_at_the_threshold(kind: str) -> None:
    ref, cur = _samples(kind, 7)
    norm = max(float(np.std(ref[:, 1].copy())), 0.001)
    at_threshold = float(stats.wasserstein_distance(ref[:, 1], cur[:, 1])) / norm
    for threshold in (0.1, at_threshold, np.nextafter(at_threshold, 1.0), 0.5):
        assert _wasserstein_ratio(ref, cur, threshold) == _drifted_one_by_one(ref, cur, threshold)


def test_all_finite_sees_nan_and_inf_and_sums_that_overflow() -> None:
    values = np.ones((10, 3))
    assert _all_finite(values)
    assert _all_finite(np.full((4, 2), 1e308))  # the sum overflows, every value is finite
    for bad in (np.nan, np.inf, -np.inf):
        values[3, 1] = bad
        assert not _all_finite(values)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("pca_components", [None, 2])
def test_distance_refuses_values_that_are_not_finite(bad: float, pca_components: int | None) -> None:
    ref, cur = np.ones((20, 3)), np.zeros((20, 3))
    cur[5, 2] = bad
    with pytest.raises(ValueError, match="finite"):
        distance_drift(ref, cur, pca_components=pca_components)
    with pytest.raises(ValueError, match="finite"):
        distance_drift(cur, ref, bootstrap=True, pca_components=pca_components)
