"""Drift of embedding vectors, with Evidently 0.7's four methods and their numbers.

Each method compares a reference set (n x d) with a current set (m x d) of float vectors and
returns an `EmbeddingDrift`: the score, the threshold the decision used and whether it says drift.
Parameters, defaults, seeds and decision rules are Evidently's
(``evidently.legacy.metrics.data_drift.embedding_drift_methods``), so the same data gives the same
scores; the implementations are our own and vectorized (the mmd kernel is summed in blocks, never
held whole as Evidently holds it).

- ``model``: a linear classifier (``SGDClassifier(loss="log_loss", random_state=42)``) learns to
  tell reference (label 1) from current rows on a 50/50 split (``random_state=42``); the score is
  its ROC AUC on the held-out half. Drift when AUC > threshold (0.55), or with ``bootstrap``, when
  AUC > the ``quantile_probability`` quantile of the AUCs of 100 random scorings (seeds 0..99) of
  the same held-out labels.
- ``ratio``: each component is tested on its own with a column drift method of the catalogue
  (default normed wasserstein, component threshold 0.1); the score is the share of drifted
  components; drift when share > threshold (0.2). With wasserstein, a component is decided from
  rigorous histogram bounds of its distance (no sort) unless the threshold lies between them; then
  the distance is computed exactly as the column check does, so the counts are the same.
- ``distance``: the distance (euclidean, cosine, cityblock, chebyshev) between the two mean
  vectors. Drift when > threshold (0.2), or with ``bootstrap``, when > the quantile of 100
  distances between means of two resamples of the reference (seeds 0..99; sizes n*n/(n+m) and
  n*m/(n+m), as Evidently draws them).
- ``mmd``: the unbiased squared maximum mean discrepancy with a gaussian kernel whose bandwidth is
  the median reference-current distance (on at most 1000 rows each, ``random_state=0``). The score is
  max(MMD², 0); drift when MMD² > threshold (0.015), or with ``bootstrap``, when MMD² > the
  ``quantile_probability`` (default 0.05, sic) quantile of 100 MMD² between resamples of the
  reference, whose kernel bandwidth is the median distance within the reference sample (its zero
  self-distances included, as Evidently computes it).

``pca_components``: every method can first project both sets on the first principal components of
the reference (``PCA(n_components, random_state=0)`` fitted on the reference).

Evidently's ``EmbeddingsDriftMetric`` uses ``model`` with ``bootstrap`` when the reference has fewer
than 1000 rows; `embedding_drift` does the same when no method is given.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.spatial import distance as scipy_distance

from driftwatch.drift.dataset import ColumnOptions, column_drift
from driftwatch.drift.profile import ColumnProfile

__all__ = [
    "DISTANCES",
    "EMBEDDING_METHODS",
    "EmbeddingDrift",
    "distance_drift",
    "embedding_drift",
    "mmd_drift",
    "model_drift",
    "ratio_drift",
]

Matrix = npt.NDArray[np.float64]
N_BOOTSTRAP = 100
_ROWS, _COLUMNS = 2048, 2048  # a kernel block: 32 MiB of float64 (smaller blocks measured slower)
_SEEDS_PER_BLOCK = 25  # bootstrap seeds whose draw counts are held at once (distance)
_BINS = 4096  # histogram bins per component bounding its wasserstein distance (ratio)
_RATIO_VALUES = 1 << 21  # values per block of components in ratio (16 MiB of float64 per copy)

DISTANCES: dict[str, Callable[[Matrix, Matrix], float]] = {
    "euclidean": scipy_distance.euclidean,
    "cosine": scipy_distance.cosine,
    "cityblock": scipy_distance.cityblock,
    "chebyshev": scipy_distance.chebyshev,
}


@dataclass(frozen=True)
class EmbeddingDrift:
    """One embedding drift check.

    ``threshold`` is the value the score was compared with: the fixed threshold, or with bootstrap
    the quantile of the null scores. ``details`` holds what the method measured on the way.
    """

    method: str
    score: float
    threshold: float
    drifted: bool
    details: dict[str, float | int | str | bool | None] = field(default_factory=dict)


_NOT_FINITE = "embeddings must be finite (no NaN or inf)"


def _all_finite(values: Matrix) -> bool:
    """Whether every value is finite: a NaN or inf makes the sum non-finite, so a finite sum (one
    pass, no mask) settles it; only a non-finite sum (or an overflow) needs the value-by-value test."""
    with np.errstate(over="ignore", invalid="ignore"):
        total = values.sum()
    return bool(np.isfinite(total)) or bool(np.isfinite(values).all())


def _as_matrices(
    reference: npt.ArrayLike, current: npt.ArrayLike, check_finite: bool = True
) -> tuple[Matrix, Matrix]:
    """Both sets as float64 matrices, checked (``check_finite=False``: the caller checks it)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.ndim != 2 or cur.ndim != 2:
        raise ValueError("embeddings must be 2-D arrays (rows x components)")
    if ref.shape[1] != cur.shape[1]:
        raise ValueError(f"reference has {ref.shape[1]} components, current has {cur.shape[1]}")
    if len(ref) < 2 or len(cur) < 2:
        raise ValueError("embedding drift needs at least 2 reference and 2 current rows")
    if check_finite and not (_all_finite(ref) and _all_finite(cur)):
        raise ValueError(_NOT_FINITE)
    return ref, cur


def _project(ref: Matrix, cur: Matrix, pca_components: int | None) -> tuple[Matrix, Matrix]:
    """Evidently's optional PCA: fitted on the reference, applied to both (a falsy value means none)."""
    if not pca_components:
        return ref, cur
    from sklearn.decomposition import PCA  # type: ignore[import-untyped]

    pca = PCA(n_components=pca_components, random_state=0)
    # column-major, as a DataFrame hands its values to scikit-learn: BLAS rounds by layout
    return pca.fit_transform(np.asfortranarray(ref)), pca.transform(np.asfortranarray(cur))


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS, made once (finding the libraries takes ~1 ms)."""
    from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

    return ThreadpoolController()


def _bootstrap_counts(size: int, draws: tuple[int, ...], seeds: range = range(N_BOOTSTRAP)) -> Matrix:
    """How many times each of ``size`` rows is drawn: one row per seed and draw (seed-major), ``size`` columns.

    The draws are numpy's legacy ``np.random.seed(i); np.random.choice(size, k)`` stream, in order
    (one generator reseeded: the same stream as a new one per seed, without its set-up cost).
    """
    counts = np.empty((len(seeds) * len(draws), size))
    rng = np.random.RandomState()
    row = 0
    for seed in seeds:
        rng.seed(seed)
        for k in draws:
            counts[row] = np.bincount(rng.choice(size, k), minlength=size)
            row += 1
    return counts


# --- model -------------------------------------------------------------------------------------


def _rank_auc(labels: npt.NDArray[np.int64], scores: Matrix) -> Matrix:
    """ROC AUC of each row of ``scores`` (k x t) against the 0/1 ``labels`` (continuous scores, no ties)."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    ranks = np.empty_like(scores)
    order = np.argsort(scores, axis=1)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1, dtype=np.float64)[None, :], axis=1)
    rank_sum = ranks[:, labels == 1].sum(axis=1)
    return np.asarray((rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives))


def model_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    threshold: float = 0.55,
    bootstrap: bool | None = None,
    quantile_probability: float = 0.95,
    pca_components: int | None = None,
) -> EmbeddingDrift:
    """Classifier drift: ROC AUC of a linear model telling reference from current rows."""
    from sklearn.linear_model import SGDClassifier  # type: ignore[import-untyped]
    from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]

    ref, cur = _project(*_as_matrices(reference, current), pca_components)
    n = len(ref)
    target = np.concatenate([np.ones(n, dtype=np.int64), np.zeros(len(cur), dtype=np.int64)])
    # the split draws a permutation of the row numbers only: split them, then gather each half's rows
    # from reference and current (no stacked copy of both sets)
    train, test = train_test_split(np.arange(len(target)), test_size=0.5, random_state=42, shuffle=True)
    y_train, y_test = target[train], target[test]
    if len(np.unique(y_test)) < 2 or len(np.unique(y_train)) < 2:
        raise ValueError("too few rows: the held-out half lacks reference or current rows")

    def rows(numbers: npt.NDArray[np.intp], order: Literal["C", "F"]) -> Matrix:
        out = np.empty((len(numbers), ref.shape[1]), order=order)
        from_ref = numbers < n
        out[from_ref] = ref[numbers[from_ref]]
        out[~from_ref] = cur[numbers[~from_ref] - n]
        return out

    classifier = SGDClassifier(loss="log_loss", random_state=42)
    # scikit-learn fits on a row-major copy of what it is given: give it row-major rows
    classifier.fit(rows(train, "C"), y_train)
    # predict on column-major rows like the concatenated DataFrame Evidently predicts on: the
    # probabilities then round alike, and near-equal probabilities keep their order in the AUC
    x_test = rows(test, "F")
    auc = float(roc_auc_score(y_test, classifier.predict_proba(x_test)[:, 1]))
    details: dict[str, float | int | str | bool | None] = {
        "train_rows": len(y_train),
        "test_rows": len(y_test),
        "pca_components": pca_components,
        "bootstrap": bool(bootstrap),
    }
    if bootstrap:
        random_scores = np.vstack(
            [np.random.RandomState(seed).rand(len(y_test)) for seed in range(N_BOOTSTRAP)]
        )
        null = _rank_auc(np.asarray(y_test), random_scores)
        limit = float(np.percentile(null, 100 * quantile_probability))
        details["quantile_probability"] = quantile_probability
        return EmbeddingDrift("model", auc, limit, auc > limit, details)
    return EmbeddingDrift("model", auc, threshold, auc > threshold, details)


# --- ratio -------------------------------------------------------------------------------------


def _wasserstein_bounds(
    ref_rows: Matrix, cur_rows: Matrix
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """Lower and upper bounds of scipy's wasserstein_distance between each pair of rows, without sorting.

    Each row pair is counted into ``_BINS`` equal bins over its joint range. The bin index is a
    monotone function of the value (floating-point rounding is monotone), so the cumulative counts
    are the exact CDFs F, G of both samples at the bins' (slightly rounded) right ends. Inside a bin
    both CDFs stay between their values at the two ends, which bounds |F - G| there from below and
    above; times the bin width and summed, that bounds the integral of |F - G| (the distance). The
    bounds differ by at most twice the bin width; the rounding of the bin ends is in the slack.
    """
    n, m = ref_rows.shape[1], cur_rows.shape[1]
    rows = len(ref_rows)
    lo = np.minimum(ref_rows.min(axis=1), cur_rows.min(axis=1))
    hi = np.maximum(ref_rows.max(axis=1), cur_rows.max(axis=1))
    width = (hi - lo) / _BINS
    scale = np.divide(1.0, width, out=np.zeros_like(width), where=width > 0)
    offsets = (np.arange(rows) * _BINS)[:, None]

    def cdf(values: Matrix, size: int) -> Matrix:
        index = ((values - lo[:, None]) * scale[:, None]).astype(np.int64)
        np.minimum(index, _BINS - 1, out=index)
        index += offsets
        counts = np.bincount(index.ravel(), minlength=rows * _BINS).reshape(rows, _BINS)
        return np.cumsum(counts, axis=1) / size

    f, g = cdf(ref_rows, n), cdf(cur_rows, m)
    f_before = np.zeros_like(f)
    f_before[:, 1:] = f[:, :-1]
    g_before = np.zeros_like(g)
    g_before[:, 1:] = g[:, :-1]
    upper = np.maximum(f - g_before, g - f_before).sum(axis=1) * width
    lower = np.maximum(np.maximum(f_before - g, g_before - f), 0.0).sum(axis=1) * width
    slack = 1e-9 * upper + _BINS * 1e-14 * (np.abs(lo) + np.abs(hi))
    return lower - slack, upper + slack


def _wasserstein_ratio(ref: Matrix, cur: Matrix, threshold: float) -> int:
    """How many components drift by Evidently's ``wasserstein`` test (normed distance >= threshold).

    Components whose histogram bounds (`_wasserstein_bounds`) lie on one side of the threshold are
    decided by them; the others (near the threshold) are computed exactly as a column drift check
    does. Columns are taken in blocks of about ``_RATIO_VALUES`` values, each transposed once.
    """
    n, m = len(ref), len(cur)
    step = max(1, _RATIO_VALUES // (n + m))
    drifted = 0
    options = ColumnOptions("wasserstein", threshold)
    for start in range(0, ref.shape[1], step):
        columns = slice(start, min(start + step, ref.shape[1]))
        ref_rows = np.ascontiguousarray(ref[:, columns].T)
        cur_rows = np.ascontiguousarray(cur[:, columns].T)
        # np.std of each contiguous row rounds as np.std of the column alone (the profile's std)
        norms = np.maximum(np.std(ref_rows, axis=1), 0.001)
        lower, upper = _wasserstein_bounds(ref_rows, cur_rows)
        drifted += int(np.count_nonzero(lower / norms > threshold))
        for i in np.flatnonzero((lower / norms <= threshold) & (upper / norms >= threshold)):
            profile = ColumnProfile.build(str(start + i), pd.Series(ref_rows[i]), "numeric")
            drifted += bool(column_drift(profile, cur_rows[i], options).drift_detected)
    return drifted


def ratio_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    component_stattest: str = "wasserstein",
    component_stattest_threshold: float = 0.1,
    threshold: float = 0.2,
    pca_components: int | None = None,
) -> EmbeddingDrift:
    """Share of components that drift on their own, each tested with a column drift method."""
    ref, cur = _project(*_as_matrices(reference, current), pca_components)
    if component_stattest == "wasserstein":
        drifted = _wasserstein_ratio(ref, cur, component_stattest_threshold)
    else:
        drifted = 0
        options = ColumnOptions(component_stattest, component_stattest_threshold)
        # one contiguous row per component: sorting a strided column is several times slower
        ref_columns, cur_columns = np.ascontiguousarray(ref.T), np.ascontiguousarray(cur.T)
        for i in range(ref.shape[1]):
            profile = ColumnProfile.build(str(i), pd.Series(ref_columns[i]), "numeric")
            result = column_drift(profile, cur_columns[i], options)
            if result.error:
                raise ValueError(f"component {i}: {result.error}")
            drifted += bool(result.drift_detected)
    share = drifted / ref.shape[1]
    details: dict[str, float | int | str | bool | None] = {
        "components": ref.shape[1],
        "drifted_components": drifted,
        "component_stattest": component_stattest,
        "component_stattest_threshold": component_stattest_threshold,
        "pca_components": pca_components,
    }
    return EmbeddingDrift("ratio", share, threshold, share > threshold, details)


# --- distance ----------------------------------------------------------------------------------


def distance_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    dist: str = "euclidean",
    threshold: float = 0.2,
    bootstrap: bool | None = None,
    quantile_probability: float = 0.95,
    pca_components: int | None = None,
) -> EmbeddingDrift:
    """Distance between the reference and current mean vectors."""
    try:
        measure = DISTANCES[dist]
    except KeyError:
        raise ValueError(f"unknown distance {dist!r}; known: {', '.join(DISTANCES)}") from None
    # without PCA the means check the inputs: a NaN or inf makes its column's mean non-finite
    ref, cur = _project(*_as_matrices(reference, current, bool(pca_components)), pca_components)
    with np.errstate(over="ignore", invalid="ignore"):
        ref_mean, cur_mean = ref.mean(axis=0), cur.mean(axis=0)
    if not (np.isfinite(ref_mean).all() and np.isfinite(cur_mean).all()) and not (
        _all_finite(ref) and _all_finite(cur)
    ):
        raise ValueError(_NOT_FINITE)
    score = float(measure(ref_mean, cur_mean))
    details: dict[str, float | int | str | bool | None] = {
        "dist": dist,
        "pca_components": pca_components,
        "bootstrap": bool(bootstrap),
    }
    if bootstrap:
        n, m = len(ref), len(cur)
        sizes = (int(n**2 / (n + m)), int(m * n / (n + m)))
        # all resample means as matrix products: (draw counts) @ (n x d) / size, in blocks of seeds
        # so that the counts stay small (_SEEDS_PER_BLOCK x 2 x n). The products are thin and
        # memory-bound: one BLAS thread (a second one, on 2 cores shared with other work, made
        # them 10-20x slower in bench/embeddings.py)
        with _blas_controller().limit(limits=1, user_api="blas"):
            means = np.vstack(
                [
                    _bootstrap_counts(n, sizes, range(start, min(start + _SEEDS_PER_BLOCK, N_BOOTSTRAP)))
                    @ ref
                    for start in range(0, N_BOOTSTRAP, _SEEDS_PER_BLOCK)
                ]
            )
        firsts, seconds = means[0::2] / sizes[0], means[1::2] / sizes[1]
        null = [float(measure(a, b)) for a, b in zip(firsts, seconds, strict=True)]
        limit = float(np.percentile(null, 100 * quantile_probability))
        details["quantile_probability"] = quantile_probability
        return EmbeddingDrift("distance", score, limit, score > limit, details)
    return EmbeddingDrift("distance", score, threshold, score > threshold, details)


# --- mmd ---------------------------------------------------------------------------------------


def _pandas_sample_rows(rows: int, size: int) -> npt.NDArray[np.intp]:
    """The rows ``DataFrame.sample(size, random_state=0)`` picks (no replacement)."""
    return np.random.RandomState(0).choice(rows, size=size, replace=False)


def _squared_distances(a: Matrix, b_times_minus_2: Matrix, a_norms: Matrix, b_norms: Matrix) -> Matrix:
    """|a_i - b_j|² as scikit-learn's euclidean_distances computes it (norms minus twice the dot
    product, clipped at 0); scaling b by -2 before the product is exact."""
    d2 = a @ b_times_minus_2.T
    d2 += a_norms[:, None]
    d2 += b_norms[None, :]
    np.maximum(d2, 0.0, out=d2)
    return d2


def _median_distance(a: Matrix, b: Matrix | None) -> float:
    """Median euclidean distance between the rows of ``a`` and ``b`` (all pairs of ``a`` with itself,
    zero diagonal included, when ``b`` is None)."""
    a_norms = np.einsum("ij,ij->i", a, a)
    if b is None:
        d2 = _squared_distances(a, -2.0 * a, a_norms, a_norms)
        np.fill_diagonal(d2, 0.0)
    else:
        d2 = _squared_distances(a, -2.0 * b, a_norms, np.einsum("ij,ij->i", b, b))
    return float(np.median(np.sqrt(d2, out=d2)))


def _kernel_blocks(a: Matrix, b: Matrix, gamma: float, same: bool) -> Iterator[tuple[slice, slice, Matrix]]:
    """Blocks of the gaussian kernel exp(-gamma |a_i - b_j|²), never the whole matrix.

    With ``same`` (a is b) only the square blocks on the diagonal (with an exactly zero distance on
    it) and the blocks to their right: the matrix is symmetric."""
    a_norms = np.einsum("ij,ij->i", a, a)
    b_norms = a_norms if same else np.einsum("ij,ij->i", b, b)

    def kernel(rows: slice, cols: slice) -> Matrix:
        # b scaled by -2 block by block: no scaled copy of the whole of b
        block = _squared_distances(a[rows], -2.0 * b[cols], a_norms[rows], b_norms[cols])
        if same and rows == cols:
            np.fill_diagonal(block, 0.0)
        block *= -gamma
        return np.exp(block, out=block)

    for i in range(0, len(a), _ROWS):
        rows = slice(i, min(i + _ROWS, len(a)))
        if same:
            yield rows, rows, kernel(rows, rows)
        for j in range(rows.stop if same else 0, len(b), _COLUMNS):
            cols = slice(j, min(j + _COLUMNS, len(b)))
            yield rows, cols, kernel(cols=cols, rows=rows)


def _kernel_sum(a: Matrix, b: Matrix, gamma: float, same: bool) -> float:
    """Sum of all kernel values between the rows of a and b (off-diagonal only when ``same``)."""
    total = 0.0
    for rows, cols, block in _kernel_blocks(a, b, gamma, same):
        if same and rows == cols:
            total += float(block.sum()) - block.shape[0]
        else:
            total += float(block.sum()) * (2.0 if same else 1.0)
    return total


def _kernel_quadratic_forms(x: Matrix, gamma: float, weights: Matrix) -> Matrix:
    """For weight columns w_k (n x K), all w_a' K w_b of the kernel matrix of x: a K x K matrix."""
    product = np.zeros_like(weights)
    for rows, cols, block in _kernel_blocks(x, x, gamma, True):
        product[rows] += block @ weights[cols]
        if rows != cols:
            product[cols] += block.T @ weights[rows]
    return np.asarray(weights.T @ product)


def mmd_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    threshold: float = 0.015,
    bootstrap: bool | None = None,
    quantile_probability: float = 0.05,
    pca_components: int | None = None,
) -> EmbeddingDrift:
    """Unbiased squared MMD with a gaussian kernel of median-heuristic bandwidth."""
    x, y = _project(*_as_matrices(reference, current), pca_components)
    n, m = len(x), len(y)
    sigma = _median_distance(x[_pandas_sample_rows(n, min(n, 1000))], y[_pandas_sample_rows(m, min(m, 1000))])
    gamma = 1.0 / sigma**2
    mmd2 = (
        _kernel_sum(x, x, gamma, True) / (n * (n - 1.0))
        + _kernel_sum(y, y, gamma, True) / (m * (m - 1.0))
        - 2.0 / (n * m) * _kernel_sum(x, y, gamma, False)
    )
    details: dict[str, float | int | str | bool | None] = {
        "mmd2": mmd2,
        "gamma": gamma,
        "pca_components": pca_components,
        "bootstrap": bool(bootstrap),
    }
    if bootstrap:
        sigma_x = _median_distance(x[_pandas_sample_rows(n, min(n, 1000))], None)
        gamma_x = 1.0 / sigma_x**2
        x_size = max(int(n * n / (n + m)), 1)
        y_size = max(int(n * m / (n + m)), 1)
        counts = np.ascontiguousarray(_bootstrap_counts(n, (x_size, y_size)).T)
        forms = _kernel_quadratic_forms(x, gamma_x, counts)
        xx = np.diagonal(forms)[0::2]
        yy = np.diagonal(forms)[1::2]
        xy = np.asarray([forms[2 * k, 2 * k + 1] for k in range(N_BOOTSTRAP)])
        # the diagonal of the resampled kernel is K(i, i) = 1 for each drawn row
        null = (
            (xx - x_size) / (x_size * (x_size - 1.0))
            + (yy - y_size) / (y_size * (y_size - 1.0))
            - 2.0 / (x_size * y_size) * xy
        )
        limit = float(np.percentile(null, 100 * quantile_probability))
        details["quantile_probability"] = quantile_probability
        details["gamma_bootstrap"] = gamma_x
        return EmbeddingDrift("mmd", max(mmd2, 0.0), limit, mmd2 > limit, details)
    return EmbeddingDrift("mmd", max(mmd2, 0.0), threshold, mmd2 > threshold, details)


# --- dispatch ----------------------------------------------------------------------------------

EmbeddingMethod = Literal["model", "ratio", "distance", "mmd"]
EMBEDDING_METHODS: dict[str, Callable[..., EmbeddingDrift]] = {
    "model": model_drift,
    "ratio": ratio_drift,
    "distance": distance_drift,
    "mmd": mmd_drift,
}


def embedding_drift(
    reference: npt.ArrayLike,
    current: npt.ArrayLike,
    method: EmbeddingMethod | None = None,
    **parameters: object,
) -> EmbeddingDrift:
    """Run one embedding drift method by name with its parameters.

    Without a method, Evidently's metric default: ``model``, with ``bootstrap`` when the reference
    has fewer than 1000 rows.
    """
    if method is None:
        rows = np.shape(reference)[0]
        parameters = {"bootstrap": rows < 1000, **parameters}
        method = "model"
    try:
        run = EMBEDDING_METHODS[method]
    except KeyError:
        raise ValueError(
            f"unknown embedding drift method {method!r}; known: {', '.join(EMBEDDING_METHODS)}"
        ) from None
    return run(reference, current, **parameters)
