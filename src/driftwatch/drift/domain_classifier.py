"""Multivariate drift by a domain classifier: can a model tell a window's rows from the reference's?

Label the reference's rows 0 and a window's rows 1, train a gradient-boosted classifier on both and
score it by cross-validation: an AUROC near 0.5 means the classifier cannot tell the two apart (no
drift), one near 1 that the window's rows look nothing like the reference's. It sees any change in
the joint distribution the trees can separate, including ones a PCA's linear structure misses (a
category that moved with a number, a shift confined to one corner of the feature space).

The numbers are NannyML 0.13.1's ``DomainClassifierCalculator``, recomputed without pandas in the
loop:

1. Columns: object, string, category and bool columns of the reference are categorical (plus any
   in ``treat_as_categorical``), integer and float ones numeric. The classifier's features are the
   categorical columns (sorted by name, then those of ``treat_as_categorical`` in the order given),
   then the numeric ones (sorted by name).
2. A window's data is the whole reference (in time order when there is a timestamp column) followed
   by the window's rows, labelled 0 and 1. For the reference's own chunks, the data is the
   reference alone with the chunk's rows labelled 1.
3. Each categorical column becomes the position of its value among the sorted distinct values of
   that data (scikit-learn's OrdinalEncoder); missing values stay missing, except None in an object
   column, which OrdinalEncoder codes after every other value. LightGBM treats those columns as
   categorical.
4. ``cv_folds`` (5) stratified folds without shuffling (scikit-learn's StratifiedKFold); on each, a
   LightGBM classifier with NannyML's hyperparameters (100 trees of 31 leaves, learning rate 0.1,
   seed 13) is trained on the other folds and predicts the held-out rows.
5. The value is the AUROC of the held-out predictions against the labels. A reference cut into a
   single chunk has one label only, and its AUROC is NaN (as NannyML's with scikit-learn >= 1.7).
6. Thresholds: a constant 0.45 and 0.65 by default, or any of multivariate.py's threshold classes
   over the reference chunks' AUROCs; a lower threshold at or below 0 becomes 0 and an upper one at
   or above 1 becomes 1, as in NannyML. A window alerts when its AUROC is strictly above the upper
   threshold or strictly below the lower one (NaN never alerts).

Departures, all for input NannyML rejects or leaves to chance: a numeric column that arrives as
text in a window is parsed (unparsable values count as missing); categorical values of types that
do not compare (text and numbers in one column) are sorted by type name then text where
scikit-learn raises; rows with equal timestamps keep their order (NannyML's sort is not stable);
a name in ``treat_as_categorical`` that is not among ``columns`` is an error (NannyML ignores it
and every name after it); and ``class_weight`` in the hyperparameters is refused.

Speed without changing the answer: the reference is encoded once at fit time and each window only
adds its own rows; LightGBM gets numpy arrays and not a DataFrame through the scikit-learn wrapper;
LightGBM is told to build histograms column-wise, which is what it picks on these shapes after
timing both ways on every model (that timing is most of the cost of a small fit); and each model
runs on one thread, ``n_jobs`` models side by side (LightGBM releases the GIL): the chunks of a
frame (each training its folds in turn), or the folds of a single window, instead of one model on
``n_jobs`` OpenMP threads, whose spinning waits make it a hundred times slower on a busy machine. Column-wise histograms add each feature's rows in one thread, so the sums,
and the trees, are the same for any number of threads.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.drift.multivariate import (
    _NONE,
    ConstantThreshold,
    StandardDeviationThreshold,
    Threshold,
    _Chunk,
    _Chunking,
)
from driftwatch.errors import CheckError, ReferenceDataError

__all__ = [
    "DEFAULT_HYPERPARAMETERS",
    "DomainClassifierChunk",
    "DomainClassifierDrift",
    "DomainClassifierResult",
    "fit_domain_classifier",
]

Floats = npt.NDArray[np.float64]

# NannyML 0.13.1's DEFAULT_LGBM_HYPERPARAMS ('silent', which LightGBM ignores, left out)
DEFAULT_HYPERPARAMETERS: Mapping[str, object] = {
    "boosting_type": "gbdt",
    "class_weight": None,
    "colsample_bytree": 1.0,
    "importance_type": "split",
    "learning_rate": 0.1,
    "max_depth": -1,
    "min_child_samples": 20,
    "min_child_weight": 0.001,
    "min_split_gain": 0.0,
    "n_estimators": 100,
    "n_jobs": -1,
    "num_leaves": 31,
    "objective": None,
    "random_state": 13,
    "reg_alpha": 0.0,
    "reg_lambda": 0.0,
    "subsample": 1.0,
    "subsample_for_bin": 200000,
    "subsample_freq": 0,
}
DEFAULT_THRESHOLD = ConstantThreshold(lower=0.45, upper=0.65)
_DEFAULT_FOLDS = 5
# keys of the scikit-learn wrapper that are not LightGBM parameters (or aliases of one)
_WRAPPER_ONLY = frozenset({"class_weight", "importance_type", "n_estimators", "n_jobs", "silent"})


@dataclass(frozen=True)
class DomainClassifierResult:
    """The domain classifier's cross-validated AUROC on one window (or chunk) against the reference."""

    auroc: float  # 0.5: the window's rows cannot be told from the reference's; 1: they are all unlike it
    lower_threshold: float | None  # None: no lower threshold
    upper_threshold: float | None
    alert: bool  # the AUROC is strictly above the upper threshold or strictly below the lower one
    rows: int
    reference_rows: int

    def as_dict(self) -> dict[str, object]:
        return {
            "auroc": self.auroc if math.isfinite(self.auroc) else None,
            "lower_threshold": self.lower_threshold,
            "upper_threshold": self.upper_threshold,
            "alert": self.alert,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
        }


@dataclass(frozen=True)
class DomainClassifierChunk:
    """One chunk of a frame split as NannyML splits it: its key, first and last row, and result."""

    key: str
    start_index: int
    end_index: int
    result: DomainClassifierResult


@dataclass(frozen=True)
class _Categorical:
    """A categorical column of the reference: its sorted distinct values and each row's position."""

    values: npt.NDArray[Any]  # sorted distinct values, missing ones left out
    codes: Floats  # per reference row (in time order), the position of its value; NaN when missing


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class DomainClassifierDrift:
    """The reference, encoded once, with the thresholds set from its own chunks.

    Build it with `fit_domain_classifier`; then `auroc` and `result` score any window with the
    reference's columns, and `chunks` splits a frame into chunks the way the fit did.
    """

    columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]  # the classifier's first features, in NannyML's order
    numeric_columns: tuple[str, ...]  # then these
    reference_numeric: Floats  # reference rows (time order) x numeric columns, NaN where missing
    reference_categorical: tuple[_Categorical, ...]
    reference_dtypes: tuple[np.dtype[Any], ...]  # of the numeric columns, for LightGBM's conversion
    cv_folds: int
    params: Mapping[str, object]  # LightGBM's parameters
    num_boost_round: int
    workers: int  # models trained at once (n_jobs), each on one thread
    reference_aurocs: Floats  # per reference chunk
    reference_keys: tuple[str, ...]
    reference_chunks: tuple[DomainClassifierChunk, ...]  # the fit's: each chunk against the rest
    lower_threshold: float | None
    upper_threshold: float | None
    chunking: _Chunking

    @property
    def reference_rows(self) -> int:
        return int(self.reference_numeric.shape[0])

    def auroc(self, frame: pd.DataFrame) -> float:
        """The cross-validated AUROC of a classifier telling ``frame``'s rows from the reference's."""
        return self.result(frame).auroc

    def result(self, frame: pd.DataFrame) -> DomainClassifierResult:
        """The window's AUROC, the thresholds and whether it alerts.

        The rows are taken in time order when the model has a timestamp column and the window has it,
        else as given: the folds, and so the AUROC, follow the row order.
        """
        self._check_columns(frame)
        rows: npt.NDArray[np.intp] | slice = slice(0, len(frame))
        timestamp = self.chunking.timestamp_column
        if timestamp is not None and timestamp in frame.columns:
            # in time order, as a chunk of it would be: the folds follow the row order
            times = pd.to_datetime(frame[timestamp]).to_numpy(dtype="datetime64[ns]")
            rows = np.argsort(times, kind="stable")
        return self._summary(self._each([partial(self._window_auroc, frame, rows)])[0], len(frame))

    def chunks(self, frame: pd.DataFrame) -> list[DomainClassifierChunk]:
        """`result` per chunk of ``frame``, split by the chunking the model was fitted with."""
        self._check_columns(frame)
        chunks = self.chunking.split(frame)
        aurocs = self._each(
            [partial(self._window_auroc, frame, chunk.rows, parallel=False) for chunk in chunks]
        )
        return [
            DomainClassifierChunk(
                chunk.key,
                chunk.start_index,
                chunk.end_index,
                self._summary(auroc, chunk.end_index - chunk.start_index + 1),
            )
            for chunk, auroc in zip(chunks, aurocs, strict=True)
        ]

    def _each(self, tasks: Sequence[Callable[[], float]]) -> list[float]:
        """The tasks' AUROCs, side by side when there are enough of them to keep every worker busy.

        Each task then trains its folds one after another; with fewer tasks than workers they run
        in turn and their folds side by side. Either way every model is the same.
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Using categorical_feature in Dataset"
            if self.workers > 1 and len(tasks) >= self.workers:
                with ThreadPoolExecutor(max_workers=self.workers) as pool:
                    return list(pool.map(lambda task: task(), tasks))
            return [task() for task in tasks]

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise CheckError(
                f"the window lacks the column(s) {missing} the domain classifier was fitted on; "
                "send them, or fit the model on the columns the window has"
            )

    def _summary(self, auroc: float, rows: int) -> DomainClassifierResult:
        above = self.upper_threshold is not None and auroc > self.upper_threshold
        below = self.lower_threshold is not None and auroc < self.lower_threshold
        return DomainClassifierResult(
            auroc=auroc,
            lower_threshold=self.lower_threshold,
            upper_threshold=self.upper_threshold,
            alert=bool(above or below),  # NaN compares false: no alert, as in NannyML
            rows=rows,
            reference_rows=self.reference_rows,
        )

    def _window_auroc(
        self, frame: pd.DataFrame, rows: npt.NDArray[np.intp] | slice, *, parallel: bool = True
    ) -> float:
        window = frame.iloc[rows]
        m = len(window)
        if m == 0:
            raise CheckError("the window has no rows; a domain classifier needs at least one")
        n = self.reference_rows
        features = np.empty((n + m, len(self.categorical_columns) + len(self.numeric_columns)))
        for j, (column, reference) in enumerate(
            zip(self.categorical_columns, self.reference_categorical, strict=True)
        ):
            features[:, j] = _ordinal_codes(reference, window[column])
        offset = len(self.categorical_columns)
        dtypes = [np.dtype(np.float64)] if self.categorical_columns else []
        for k, column in enumerate(self.numeric_columns):
            values, dtype = _numeric(window[column])
            features[:n, offset + k] = self.reference_numeric[:, k]
            features[n:, offset + k] = values
            # pandas' concat of the reference's column and the window's
            dtypes.append(np.result_type(self.reference_dtypes[k], dtype))
        _round_as_lightgbm(features[:, offset:], dtypes)
        labels = np.concatenate([np.zeros(n), np.ones(m)])
        return self._cross_validated_auroc(features, labels, parallel=parallel)

    def _cross_validated_auroc(self, features: Floats, labels: Floats, *, parallel: bool = True) -> float:
        import lightgbm
        from sklearn.metrics import roc_auc_score  # type: ignore[import-untyped]

        if labels.min() == labels.max():
            return math.nan  # one label only: scikit-learn's roc_auc_score gives NaN
        categorical = list(range(len(self.categorical_columns)))
        folds = _stratified_folds(labels, self.cv_folds)
        predictions = np.empty(len(labels))

        def fold_predictions(fold: int) -> None:
            test = folds == fold
            train = ~test
            dataset = lightgbm.Dataset(
                features[train],
                label=labels[train],
                categorical_feature=categorical,
                params=dict(self.params),
                free_raw_data=True,
            )
            booster = lightgbm.train(dict(self.params), dataset, num_boost_round=self.num_boost_round)
            predictions[test] = booster.predict(features[test])

        if self.workers == 1 or not parallel:
            for fold in range(self.cv_folds):
                fold_predictions(fold)
        else:  # LightGBM releases the GIL: the folds train side by side, one thread each
            with ThreadPoolExecutor(max_workers=self.workers) as pool:
                list(pool.map(fold_predictions, range(self.cv_folds)))
        # NannyML concatenates the folds' predictions in fold order; the AUROC does not depend on it
        order = np.concatenate([np.flatnonzero(folds == fold) for fold in range(self.cv_folds)])
        return float(roc_auc_score(labels[order], predictions[order]))


def _stratified_folds(labels: Floats, n_splits: int) -> npt.NDArray[np.intp]:
    """Each row's test fold, as scikit-learn's StratifiedKFold(n_splits) without shuffling gives them."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    _, class_order = np.unique(first, return_inverse=True)
    encoded = class_order[inverse]  # classes numbered by first appearance
    n_classes = len(first)
    ordered = np.sort(encoded)
    allocation = np.asarray([np.bincount(ordered[i::n_splits], minlength=n_classes) for i in range(n_splits)])
    folds = np.empty(len(labels), dtype=np.intp)
    for k in range(n_classes):
        folds[encoded == k] = np.arange(n_splits).repeat(allocation[:, k])
    return folds


def _round_as_lightgbm(numeric: Floats, dtypes: Sequence[np.dtype[Any]]) -> None:
    """LightGBM reads a DataFrame as its common dtype, and anything but float32/64 as float32."""
    if not dtypes:
        return
    common = np.result_type(*dtypes)
    if common != np.float64:
        numeric[:] = numeric.astype(np.float32)


def _numeric(series: pd.Series) -> tuple[Floats, np.dtype[Any]]:
    """The column as float64 (NaN where missing) and the numpy dtype pandas' concat would see."""
    dtype = series.dtype
    if not (pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)):
        series = pd.to_numeric(series, errors="coerce")
        dtype = series.dtype
    values = np.array(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    numpy_dtype = dtype if isinstance(dtype, np.dtype) else np.dtype(np.float64)
    return values, numpy_dtype


def _distinct(values: npt.NDArray[Any]) -> tuple[npt.NDArray[np.intp], npt.NDArray[Any]]:
    """Codes (-1 when missing) and distinct values, as pandas' factorize, for object arrays."""
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    return np.asarray(codes, dtype=np.intp), np.asarray(uniques, dtype=object)


def _sort_order(values: npt.NDArray[Any]) -> npt.NDArray[np.intp]:
    """The order scikit-learn's OrdinalEncoder sorts categories in (sorted(set(...)))."""
    items = list(values)
    positions = [i for i, item in enumerate(items) if item != _NONE]
    nones = [i for i, item in enumerate(items) if item == _NONE]  # None comes after every value
    try:
        ordered = sorted(positions, key=lambda i: items[i])
    except TypeError:  # values of types that do not compare: scikit-learn raises here
        ordered = sorted(positions, key=lambda i: (type(items[i]).__name__, str(items[i])))
    return np.array(ordered + nones, dtype=np.intp)


def _categorical_values(series: pd.Series) -> npt.NDArray[Any]:
    """The column's values for factorizing: missing ones stay missing, but None in an object column is a value.

    scikit-learn's OrdinalEncoder leaves NaN missing but gives None (in an object column) a code of
    its own, after every other value's.
    """
    values: npt.NDArray[Any] = np.asarray(series.astype(object), dtype=object)
    if pd.api.types.is_object_dtype(series.dtype):
        nones = np.frompyfunc(lambda value: value is None, 1, 1)(values).astype(bool)
        if nones.any():
            values = values.copy()
            values[nones] = _NONE
    return values


def _encode_reference_categorical(series: pd.Series) -> _Categorical:
    codes, uniques = _distinct(_categorical_values(series))
    order = _sort_order(uniques)
    rank = np.empty(len(order), dtype=np.float64)
    rank[order] = np.arange(len(order), dtype=np.float64)
    return _Categorical(values=uniques[order], codes=np.append(rank, np.nan)[codes])


def _ordinal_codes(reference: _Categorical, window: pd.Series) -> Floats:
    """OrdinalEncoder's codes for the reference's values followed by the window's, fitted on both."""
    codes, uniques = _distinct(_categorical_values(window))
    known = pd.Index(reference.values, dtype=object)
    positions = known.get_indexer(pd.Index(uniques, dtype=object)) if len(uniques) else np.empty(0, np.intp)
    new = uniques[positions < 0]
    if new.size == 0:
        reference_codes = reference.codes
        window_rank = positions.astype(np.float64)
    else:  # values the reference never had: the sorted union renumbers the reference's too
        union = np.concatenate([reference.values, new])
        order = _sort_order(union)
        rank = np.empty(len(order), dtype=np.float64)
        rank[order] = np.arange(len(order), dtype=np.float64)
        reference_codes = np.append(rank[: len(reference.values)], np.nan)[
            np.where(np.isnan(reference.codes), len(reference.values), reference.codes).astype(np.intp)
        ]
        index = pd.Index(union, dtype=object)
        window_rank = rank[index.get_indexer(pd.Index(uniques, dtype=object))]
    return np.concatenate([reference_codes, np.append(window_rank, np.nan)[codes]])


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
    )


def _lightgbm_params(hyperparameters: Mapping[str, object]) -> tuple[dict[str, object], int, int]:
    """LightGBM's parameters for what NannyML hands LGBMClassifier, the trees and the workers."""
    if hyperparameters.get("class_weight") is not None:
        raise ReferenceDataError(
            f"hyperparameters class_weight is {hyperparameters['class_weight']!r}; the domain classifier "
            "weighs rows equally: leave class_weight out or set it to None"
        )
    trees = hyperparameters.get("n_estimators", 100)
    if isinstance(trees, bool) or not isinstance(trees, int) or trees < 1:
        raise ReferenceDataError(
            f"hyperparameters n_estimators is {trees!r}; give a positive number of trees (NannyML's is 100)"
        )
    jobs = hyperparameters.get("n_jobs", -1)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs == 0:
        raise ReferenceDataError(
            f"hyperparameters n_jobs is {jobs!r}; give a number of threads, or -1 for one per core"
        )
    threads = max((os.cpu_count() or 1) + 1 + jobs, 1) if jobs < 0 else jobs  # LGBMClassifier's rule
    params = {key: value for key, value in hyperparameters.items() if key not in _WRAPPER_ONLY}
    if params.get("objective") is None:
        params["objective"] = "binary"
    params.update(num_threads=1, verbose=-1, force_col_wise=True)
    return params, trees, threads


def fit_domain_classifier(
    reference: pd.DataFrame,
    columns: Sequence[str],
    *,
    treat_as_categorical: Sequence[str] = (),
    chunk_size: int | None = None,
    chunk_number: int | None = None,
    chunk_period: str | None = None,
    timestamp_column: str | None = None,
    cv_folds: int = _DEFAULT_FOLDS,
    hyperparameters: Mapping[str, object] | None = None,
    threshold: Threshold | None = None,
    score_reference: bool = True,
) -> DomainClassifierDrift:
    """Encode ``reference`` once and set the thresholds from its chunks' AUROCs.

    ``columns`` are the features (numeric and categorical; ``treat_as_categorical`` makes numeric
    ones categorical). At most one of ``chunk_size``, ``chunk_number`` and ``chunk_period`` (a
    pandas period alias such as ``"D"`` or ``"W"``, which needs ``timestamp_column``) splits the
    reference; none gives 10 chunks. ``cv_folds`` stratified folds (5) score each window;
    ``hyperparameters`` replace NannyML's LightGBM ones (`DEFAULT_HYPERPARAMETERS`) whole, as in
    NannyML. ``threshold`` defaults to a constant 0.45 and 0.65. ``score_reference=False`` skips
    the reference's chunks (``reference_chunks`` stays empty): only a threshold that does not read
    their AUROCs (a `ConstantThreshold`) is allowed then, and windows score the same.
    """
    columns = tuple(columns)
    if not columns:
        raise ReferenceDataError("no columns given for the domain classifier; name at least one feature")
    if len(set(columns)) != len(columns):
        raise ReferenceDataError(f"columns repeat in {list(columns)}; name each feature once")
    absent = [column for column in columns if column not in reference.columns]
    if absent:
        raise ReferenceDataError(
            f"the reference lacks the column(s) {absent}; name columns it has ({list(reference.columns)})"
        )
    stray = [column for column in treat_as_categorical if column not in columns]
    if stray:
        raise ReferenceDataError(
            f"treat_as_categorical names {stray}, which are not among columns {list(columns)}; "
            "name only features the classifier uses"
        )
    if isinstance(cv_folds, bool) or not isinstance(cv_folds, int) or cv_folds < 2:
        raise ReferenceDataError(f"cv_folds is {cv_folds!r}; give at least 2 cross-validation folds")
    if len(reference) < cv_folds:
        raise ReferenceDataError(
            f"the reference has {len(reference)} row(s), fewer than cv_folds ({cv_folds}); "
            "give a larger reference or fewer folds"
        )
    if sum(option is not None for option in (chunk_size, chunk_number, chunk_period)) > 1:
        raise ReferenceDataError("give at most one of chunk_size, chunk_number and chunk_period")
    if chunk_size is not None and chunk_size <= 0:
        raise ReferenceDataError(f"chunk_size is {chunk_size}; it must be a positive number of rows")
    if chunk_number is not None and chunk_number <= 0:
        raise ReferenceDataError(f"chunk_number is {chunk_number}; it must be a positive number of chunks")
    if not score_reference and not isinstance(threshold or DEFAULT_THRESHOLD, ConstantThreshold):
        raise ReferenceDataError(
            "thresholds from the reference's chunks need score_reference=True; use a ConstantThreshold"
        )
    if chunk_period is not None and timestamp_column is None:
        raise ReferenceDataError(
            f"chunk_period {chunk_period!r} needs timestamp_column, the column of the rows' times"
        )
    params, trees, workers = _lightgbm_params(
        DEFAULT_HYPERPARAMETERS if hyperparameters is None else hyperparameters
    )
    chunking = _Chunking(chunk_size, chunk_number, chunk_period, timestamp_column)
    try:
        chunks = chunking.split(reference)
    except CheckError as error:
        raise ReferenceDataError(f"the reference cannot be split into chunks: {error}") from error

    # the reference in time order, as NannyML keeps it (rows with no time last)
    if timestamp_column is not None:
        times = pd.to_datetime(reference[timestamp_column]).to_numpy(dtype="datetime64[ns]")
        ordered = reference.iloc[np.argsort(times, kind="stable")]
    else:
        ordered = reference

    categorical = sorted(column for column in columns if _is_categorical(reference[column]))
    categorical += [column for column in treat_as_categorical if column not in categorical]
    numeric: list[str] = []
    for column in sorted(columns):
        if column in categorical:
            continue
        if not pd.api.types.is_numeric_dtype(reference[column].dtype):
            raise ReferenceDataError(
                f"column {column!r} has dtype {reference[column].dtype}, neither numeric nor categorical; "
                "leave it out or convert it"
            )
        numeric.append(column)

    encoded_categorical = tuple(_encode_reference_categorical(ordered[column]) for column in categorical)
    reference_numeric = np.empty((len(reference), len(numeric)), dtype=np.float64)
    dtypes: list[np.dtype[Any]] = []
    for k, column in enumerate(numeric):
        reference_numeric[:, k], dtype = _numeric(ordered[column])
        dtypes.append(dtype)

    model = DomainClassifierDrift(
        columns=columns,
        categorical_columns=tuple(categorical),
        numeric_columns=tuple(numeric),
        reference_numeric=reference_numeric,
        reference_categorical=encoded_categorical,
        reference_dtypes=tuple(dtypes),
        cv_folds=cv_folds,
        params=params,
        num_boost_round=trees,
        workers=workers,
        reference_aurocs=np.empty(0),
        reference_keys=(),
        reference_chunks=(),
        lower_threshold=None,
        upper_threshold=None,
        chunking=chunking,
    )

    # the reference's chunks: the reference alone, the chunk's rows labelled 1
    features = np.empty((len(reference), len(categorical) + len(numeric)))
    for j, encoded in enumerate(encoded_categorical):
        features[:, j] = encoded.codes
    features[:, len(categorical) :] = reference_numeric
    numeric_dtypes = ([np.dtype(np.float64)] if categorical else []) + dtypes
    _round_as_lightgbm(features[:, len(categorical) :], numeric_dtypes if numeric else [])

    if not score_reference:
        lower, upper = (threshold or DEFAULT_THRESHOLD).bounds(np.empty(0))
        return replace(
            model,
            lower_threshold=None if lower is None else max(lower, 0.0),
            upper_threshold=None if upper is None else min(upper, 1.0),
        )

    def chunk_auroc(chunk: _Chunk) -> float:
        labels = np.zeros(len(reference))
        labels[chunk.start_index : chunk.end_index + 1] = 1.0
        return model._cross_validated_auroc(features, labels, parallel=len(chunks) < model.workers)

    aurocs = model._each([partial(chunk_auroc, chunk) for chunk in chunks])
    values = np.array(aurocs, dtype=np.float64)
    lower, upper = (threshold or DEFAULT_THRESHOLD).bounds(values)
    # an AUROC lies in [0, 1]: NannyML moves thresholds beyond it to the limit
    if lower is not None and lower <= 0.0:
        lower = 0.0
    if upper is not None and upper >= 1.0:
        upper = 1.0
    model = replace(
        model,
        reference_aurocs=values,
        reference_keys=tuple(chunk.key for chunk in chunks),
        lower_threshold=lower,
        upper_threshold=upper,
    )
    return replace(
        model,
        reference_chunks=tuple(
            DomainClassifierChunk(
                chunk.key,
                chunk.start_index,
                chunk.end_index,
                model._summary(float(auroc), chunk.end_index - chunk.start_index + 1),
            )
            for chunk, auroc in zip(chunks, values, strict=True)
        ),
    )


__all__ += ["ConstantThreshold", "StandardDeviationThreshold"]
