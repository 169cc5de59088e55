"""Multivariate drift: how badly a PCA fitted on the reference reconstructs a window.

Per-feature tests compare each column's distribution alone, so they miss a change in how the
columns move together: two features that were correlated and no longer are, while each keeps its
own histogram. A PCA fitted on the reference keeps the directions in which the reference varies;
rows that follow the reference's structure are rebuilt from those few components with a small
error, rows that break it are not. The mean reconstruction error of a window, against the spread
of that error over chunks of the reference, says whether the joint distribution moved.

The numbers are NannyML 0.13.1's ``DataReconstructionDriftCalculator``, recomputed with numpy:

1. Missing values: numeric columns take the reference's mean, categorical ones the reference's
   most frequent value (ties go to the smallest value). None in an object column is not missing
   but a category of its own, as in NannyML (scikit-learn's imputer fills only NaN there).
2. Categorical columns become the share of their value in the imputed reference (count encoding,
   normalised); a value the reference never had becomes 0.
3. Every column is standardised with the reference's mean and standard deviation (ddof 0; a
   constant column is centred only).
4. PCA on the standardised reference keeps the fewest components whose cumulated explained
   variance ratio exceeds ``n_components`` (0.65), or exactly ``n_components`` when it is an int.
5. A row's error is the Euclidean norm of its standardised values minus their projection on the
   kept components; a window's error is the mean over its rows.
6. The reference is split into chunks (10 by default; or of ``chunk_size`` rows, the short last
   chunk kept; or ``chunk_number`` chunks; or one per calendar ``chunk_period``) and the thresholds
   are the mean of the chunks' errors +- 3 of their standard deviations (ddof 0). A lower threshold
   at or below 0 means no lower threshold. A window alerts when its error is not strictly between
   the thresholds.

Which columns are categorical follows the reference's dtypes as NannyML does: object, string,
category and bool are categorical; integer and float numeric. Departures from NannyML, all for
input NannyML rejects or leaves to chance: infinite numbers count as missing, a numeric column
that arrives as text in a window is parsed (unparsable values count as missing), rows with equal
timestamps keep their order when sorted (NannyML's sort is not stable), and PCA is always solved
exactly (NannyML would use randomized SVD for an int ``n_components`` on a reference with fewer
than ten rows per column and more than 500 rows).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.errors import CheckError, ReferenceDataError

__all__ = [
    "ConstantThreshold",
    "ReconstructionChunk",
    "ReconstructionDrift",
    "ReconstructionResult",
    "StandardDeviationThreshold",
    "fit_reconstruction_drift",
]

Floats = npt.NDArray[np.float64]

_DEFAULT_CHUNKS = 10  # NannyML's DefaultChunker
_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class StandardDeviationThreshold:
    """Thresholds at the mean of the reference chunks' errors -+ a multiple of their std (ddof 0).

    A multiplier of None leaves that side without a threshold.
    """

    std_lower_multiplier: float | None = 3.0
    std_upper_multiplier: float | None = 3.0

    def bounds(self, errors: Floats) -> tuple[float | None, float | None]:
        finite = errors[~np.isnan(errors)]
        if finite.size == 0:
            return None, None
        centre = float(finite.mean())
        spread = float(finite.std())
        lower = None if self.std_lower_multiplier is None else centre - spread * self.std_lower_multiplier
        upper = None if self.std_upper_multiplier is None else centre + spread * self.std_upper_multiplier
        return lower, upper


@dataclass(frozen=True)
class ConstantThreshold:
    """Fixed thresholds on the reconstruction error; None leaves that side open."""

    lower: float | None = None
    upper: float | None = None

    def bounds(self, errors: Floats) -> tuple[float | None, float | None]:
        return self.lower, self.upper


Threshold = StandardDeviationThreshold | ConstantThreshold


@dataclass(frozen=True)
class ReconstructionResult:
    """The reconstruction error of one window (or chunk) against the fitted reference."""

    error: float  # mean over the rows of the norm of standardised values minus their reconstruction
    sampling_error: float  # std (ddof 1) of the rows' errors over sqrt(rows); NaN for a single row
    lower_threshold: float | None  # None: no lower threshold
    upper_threshold: float | None
    alert: bool  # the error is not strictly between the thresholds
    rows: int
    n_components: int
    explained_variance: float  # share of the reference's variance the kept components explain

    def as_dict(self) -> dict[str, object]:
        return {
            "error": self.error if math.isfinite(self.error) else None,
            "sampling_error": self.sampling_error if math.isfinite(self.sampling_error) else None,
            "lower_threshold": self.lower_threshold,
            "upper_threshold": self.upper_threshold,
            "alert": self.alert,
            "rows": self.rows,
            "n_components": self.n_components,
            "explained_variance": self.explained_variance,
        }


@dataclass(frozen=True)
class ReconstructionChunk:
    """One chunk of a frame split as NannyML splits it: its key, first and last row, and result."""

    key: str
    start_index: int
    end_index: int
    result: ReconstructionResult


@dataclass(frozen=True)
class _Chunk:
    key: str
    start_index: int  # first and last position in time order (row order without a timestamp column)
    end_index: int
    rows: npt.NDArray[np.intp] | slice  # the chunk's rows, as positions in the frame as given


@dataclass(frozen=True)
class _Chunking:
    chunk_size: int | None
    chunk_number: int | None
    chunk_period: str | None
    timestamp_column: str | None

    def split(self, frame: pd.DataFrame) -> list[_Chunk]:
        """The chunks in NannyML's order and with its keys; empty periods have none."""
        n = len(frame)
        order: npt.NDArray[np.intp] | None = None
        if self.timestamp_column is not None:
            if self.timestamp_column not in frame.columns:
                raise CheckError(
                    f"timestamp column {self.timestamp_column!r} is not in the data "
                    f"(columns: {list(frame.columns)}); pass the column that holds the rows' times"
                )
            times = pd.to_datetime(frame[self.timestamp_column])
            # stable, and missing times last (numpy sorts NaT last) as pandas' sort_values puts them
            order = np.argsort(times.to_numpy(dtype="datetime64[ns]"), kind="stable")
            if self.chunk_period is not None:
                with warnings.catch_warnings():
                    # periods of the local times, as NannyML's: dropping the zone is the point
                    warnings.filterwarnings("ignore", "Converting to PeriodArray", UserWarning)
                    periods = times.iloc[order].reset_index(drop=True).dt.to_period(self.chunk_period)
                codes, uniques = pd.factorize(periods)  # ascending: the times are sorted
                starts = np.flatnonzero(np.diff(codes, prepend=-2) != 0)
                ends = np.append(starts[1:], n) - 1
                return [
                    _Chunk(str(uniques[codes[first]]), int(first), int(last), order[first : last + 1])
                    for first, last in zip(starts, ends, strict=True)
                    if codes[first] >= 0  # rows without a time belong to no period, as in NannyML
                ]
        if self.chunk_size is not None:
            size = self.chunk_size
        else:
            size = n // (self.chunk_number if self.chunk_number is not None else _DEFAULT_CHUNKS)
        if size <= 0:
            raise CheckError(
                f"{n} rows cannot be split into {self.chunk_number or _DEFAULT_CHUNKS} chunks; "
                "give more rows or fewer chunks (chunk_number) or a chunk_size"
            )
        chunks = []
        for first in range(0, n, size):
            last = min(first + size, n) - 1
            rows = slice(first, last + 1) if order is None else order[first : last + 1]
            chunks.append(_Chunk(f"[{first}:{last}]", first, last, rows))
        return chunks


@dataclass(frozen=True, eq=False)  # holds arrays: compared by identity
class ReconstructionDrift:
    """A PCA reconstruction model fitted on a reference, with the thresholds from its chunks.

    Build it with `fit_reconstruction_drift`; then `error` and `result` score any window with
    the reference's columns, and `chunks` splits a frame into chunks the way the fit did.
    """

    columns: tuple[str, ...]
    numeric_columns: tuple[str, ...]
    categorical_columns: tuple[str, ...]
    fill_values: tuple[object, ...]  # per column, the value a missing one takes
    categories: tuple[pd.Index | None, ...]  # per categorical column, its reference values
    frequencies: tuple[Floats | None, ...]  # and their shares in the imputed reference
    fill_share: tuple[float, ...]  # per categorical column, the share of its fill value (else 0)
    scale_mean: Floats
    scale_std: Floats
    pca_mean: Floats
    components: Floats  # columns x kept components, orthonormal
    explained_variance: float
    reference_errors: Floats  # per reference chunk
    reference_keys: tuple[str, ...]
    lower_threshold: float | None
    upper_threshold: float | None
    chunking: _Chunking

    @property
    def n_components(self) -> int:
        return int(self.components.shape[1])

    def row_errors(self, frame: pd.DataFrame) -> Floats:
        """Each row's reconstruction error (the norm of its residual after the PCA round trip)."""
        missing = [column for column in self.columns if column not in frame.columns]
        if missing:
            raise CheckError(
                f"the window lacks the column(s) {missing} the multivariate drift model was fitted on; "
                "send them, or fit the model on the columns the window has"
            )
        return self._errors_of(self._encode(frame))

    def _errors_of(self, encoded: Floats) -> Floats:
        standard = (encoded - self.scale_mean) / self.scale_std - self.pca_mean
        residual = standard - (standard @ self.components) @ self.components.T
        errors: Floats = np.sqrt(np.einsum("ij,ij->i", residual, residual))
        return errors

    def error(self, frame: pd.DataFrame) -> float:
        """The window's reconstruction error: the mean of its rows' errors."""
        errors = self.row_errors(frame)
        if errors.size == 0:
            raise CheckError("the window has no rows; a reconstruction error needs at least one")
        return float(errors.mean())

    def result(self, frame: pd.DataFrame) -> ReconstructionResult:
        """The window's error, its sampling error, the thresholds and whether it alerts."""
        return self._summary(self.row_errors(frame))

    def _summary(self, errors: Floats) -> ReconstructionResult:
        if errors.size == 0:
            raise CheckError("the window has no rows; a reconstruction error needs at least one")
        error = float(errors.mean())
        sampling = float(errors.std(ddof=1) / math.sqrt(errors.size)) if errors.size > 1 else math.nan
        lower = -math.inf if self.lower_threshold is None else self.lower_threshold
        upper = math.inf if self.upper_threshold is None else self.upper_threshold
        return ReconstructionResult(
            error=error,
            sampling_error=sampling,
            lower_threshold=self.lower_threshold,
            upper_threshold=self.upper_threshold,
            alert=not lower < error < upper,  # NaN alerts too, as in NannyML
            rows=int(errors.size),
            n_components=self.n_components,
            explained_variance=self.explained_variance,
        )

    def chunks(self, frame: pd.DataFrame) -> list[ReconstructionChunk]:
        """`result` per chunk of ``frame``, split by the chunking the model was fitted with."""
        errors = self.row_errors(frame)
        return [
            ReconstructionChunk(
                chunk.key, chunk.start_index, chunk.end_index, self._summary(errors[chunk.rows])
            )
            for chunk in self.chunking.split(frame)
        ]

    def state(self) -> dict[str, object]:
        """The fitted model as JSON-ready values (floats written by `json` read back bit for bit), for a
        saved reference profile: never pickle. A category must be a str, bool, int or float (or None in
        an object column); `from_state` gives back a model with the same numbers."""
        return {
            "columns": list(self.columns),
            "numeric_columns": list(self.numeric_columns),
            "categorical_columns": list(self.categorical_columns),
            "fill_values": [_json_value(value) for value in self.fill_values],
            "categories": [
                None if index is None else [_json_value(value) for value in index]
                for index in self.categories
            ],
            "frequencies": [None if f is None else [float(x) for x in f] for f in self.frequencies],
            "fill_share": [float(x) for x in self.fill_share],
            "scale_mean": [float(x) for x in self.scale_mean],
            "scale_std": [float(x) for x in self.scale_std],
            "pca_mean": [float(x) for x in self.pca_mean],
            "components": [[float(x) for x in row] for row in self.components],
            "explained_variance": self.explained_variance,
            "reference_errors": [float(x) for x in self.reference_errors],
            "reference_keys": list(self.reference_keys),
            "lower_threshold": self.lower_threshold,
            "upper_threshold": self.upper_threshold,
            "chunking": {
                "chunk_size": self.chunking.chunk_size,
                "chunk_number": self.chunking.chunk_number,
                "chunk_period": self.chunking.chunk_period,
                "timestamp_column": self.chunking.timestamp_column,
            },
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> ReconstructionDrift:
        """The model `state` wrote."""
        categories = [
            None if values is None else pd.Index([_from_json(v) for v in values], dtype=object)
            for values in state["categories"]
        ]
        fills = [
            float(value) if categories[j] is None else _from_json(value)
            for j, value in enumerate(state["fill_values"])
        ]
        components = np.array(state["components"], dtype=np.float64).reshape(len(state["columns"]), -1)
        return cls(
            columns=tuple(state["columns"]),
            numeric_columns=tuple(state["numeric_columns"]),
            categorical_columns=tuple(state["categorical_columns"]),
            fill_values=tuple(fills),
            categories=tuple(categories),
            frequencies=tuple(
                None if f is None else np.array(f, dtype=np.float64) for f in state["frequencies"]
            ),
            fill_share=tuple(float(x) for x in state["fill_share"]),
            scale_mean=np.array(state["scale_mean"], dtype=np.float64),
            scale_std=np.array(state["scale_std"], dtype=np.float64),
            pca_mean=np.array(state["pca_mean"], dtype=np.float64),
            components=np.ascontiguousarray(components),
            explained_variance=float(state["explained_variance"]),
            reference_errors=np.array(state["reference_errors"], dtype=np.float64),
            reference_keys=tuple(state["reference_keys"]),
            lower_threshold=state["lower_threshold"],
            upper_threshold=state["upper_threshold"],
            chunking=_Chunking(**state["chunking"]),
        )

    def _encode(self, frame: pd.DataFrame) -> Floats:
        encoded = np.empty((len(frame), len(self.columns)), dtype=np.float64)
        for j, column in enumerate(self.columns):
            categories = self.categories[j]
            if categories is None:
                values = _numeric(frame[column])
                fill = self.fill_values[j]
                assert isinstance(fill, float)
                encoded[:, j] = np.where(np.isnan(values), fill, values)
            else:
                frequencies = self.frequencies[j]
                assert frequencies is not None
                # look up each distinct value once; missing ones (code -1) take the fill value's share
                codes, uniques = pd.factorize(_categories_of(frame[column]))
                positions = categories.get_indexer(pd.Index(np.asarray(uniques, dtype=object), dtype=object))
                # unseen values encode as 0, like category_encoders' CountEncoder
                shares = np.append(np.where(positions >= 0, frequencies[positions], 0.0), self.fill_share[j])
                encoded[:, j] = shares[codes]
        return encoded


def _numeric(series: pd.Series) -> Floats:
    if not (pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype)):
        series = pd.to_numeric(series, errors="coerce")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    values = np.array(values, dtype=np.float64)
    values[np.isinf(values)] = np.nan
    return values


def _json_value(value: object) -> object:
    """A category or fill value as JSON holds it: None stands for None in an object column."""
    if isinstance(value, _NoneValue):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, str | bool | int | float):
        return value
    raise ReferenceDataError(
        f"the category {value!r} ({type(value).__name__}) cannot be saved in a profile; "
        "convert the column to text or numbers"
    )


def _from_json(value: object) -> object:
    return _NONE if value is None else value


def _is_categorical(series: pd.Series) -> bool:
    dtype = series.dtype
    return bool(
        pd.api.types.is_object_dtype(dtype)
        or pd.api.types.is_string_dtype(dtype)
        or isinstance(dtype, pd.CategoricalDtype)
        or pd.api.types.is_bool_dtype(dtype)
    )


class _NoneValue:
    """Stands for None in an object column, where NannyML counts None as a category of its own."""

    def __repr__(self) -> str:
        return "None"

    # equal by kind, so a model that was pickled and loaded still finds None among its categories
    def __eq__(self, other: object) -> bool:
        return isinstance(other, _NoneValue)

    def __hash__(self) -> int:
        return hash(_NoneValue.__name__)


_NONE = _NoneValue()


def _categories_of(series: pd.Series) -> pd.Series | npt.NDArray[np.object_]:
    """The column's values for factorizing: NaN stays missing, but None in an object column is a value.

    scikit-learn's imputer fills NaN only (None is not NaN in an object array), and category_encoders
    then counts the None left over as one more category; NannyML's numbers follow from both.
    """
    if not pd.api.types.is_object_dtype(series.dtype):
        return series
    values = series.to_numpy(dtype=object)
    missing = np.flatnonzero(pd.isna(values))
    nones = [i for i in missing if values[i] is None]
    if not nones:
        return series
    values = values.copy()
    values[nones] = _NONE
    return values


def _most_frequent(values: npt.NDArray[np.object_], counts: npt.NDArray[np.intp]) -> int:
    """The position of the most frequent value; sklearn's SimpleImputer breaks ties by the smallest value."""
    top = [int(i) for i in np.flatnonzero(counts == counts.max())]
    try:
        return min(top, key=lambda i: values[i])
    except TypeError:  # values of mixed types that do not compare
        return min(top, key=lambda i: str(values[i]))


def fit_reconstruction_drift(
    reference: pd.DataFrame,
    columns: Sequence[str],
    *,
    n_components: int | float = 0.65,
    chunk_size: int | None = None,
    chunk_number: int | None = None,
    chunk_period: str | None = None,
    timestamp_column: str | None = None,
    threshold: Threshold | None = None,
) -> ReconstructionDrift:
    """Fit the scaler, encoders and PCA on ``reference`` and set thresholds from its chunks.

    ``columns`` are the features (numeric and categorical); ``n_components`` a float in (0, 1) (the
    explained-variance cut) or an int (the number of components). At most one of ``chunk_size``,
    ``chunk_number`` and ``chunk_period`` (a pandas period alias such as ``"D"`` or ``"W"``, which
    needs ``timestamp_column``) splits the reference; none gives 10 chunks. ``threshold`` defaults to
    `StandardDeviationThreshold` (mean -+ 3 std).
    """
    columns = tuple(columns)
    if not columns:
        raise ReferenceDataError("no columns given for multivariate drift; name at least one feature")
    if len(set(columns)) != len(columns):
        raise ReferenceDataError(f"columns repeat in {list(columns)}; name each feature once")
    absent = [column for column in columns if column not in reference.columns]
    if absent:
        raise ReferenceDataError(
            f"the reference lacks the column(s) {absent}; name columns it has ({list(reference.columns)})"
        )
    if len(reference) < 2:
        raise ReferenceDataError(
            f"the reference has {len(reference)} row(s); multivariate drift needs at least 2"
        )
    if sum(option is not None for option in (chunk_size, chunk_number, chunk_period)) > 1:
        raise ReferenceDataError("give at most one of chunk_size, chunk_number and chunk_period")
    if chunk_size is not None and chunk_size <= 0:
        raise ReferenceDataError(f"chunk_size is {chunk_size}; it must be a positive number of rows")
    if chunk_number is not None and chunk_number <= 0:
        raise ReferenceDataError(f"chunk_number is {chunk_number}; it must be a positive number of chunks")
    if chunk_period is not None and timestamp_column is None:
        raise ReferenceDataError(
            f"chunk_period {chunk_period!r} needs timestamp_column, the column of the rows' times"
        )
    if isinstance(n_components, bool) or not (
        (isinstance(n_components, int) and 1 <= n_components <= len(columns))
        or (isinstance(n_components, float) and 0.0 < n_components < 1.0)
    ):
        raise ReferenceDataError(
            f"n_components is {n_components!r}; give a share of explained variance in (0, 1) "
            f"or a number of components from 1 to {len(columns)}"
        )
    chunking = _Chunking(chunk_size, chunk_number, chunk_period, timestamp_column)

    numeric: list[str] = []
    categorical: list[str] = []
    fills: list[object] = []
    categories: list[pd.Index | None] = []
    frequencies: list[Floats | None] = []
    fill_shares: list[float] = []
    encoded = np.empty((len(reference), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        series = reference[column]
        if _is_categorical(series):
            categorical.append(column)
            codes, uniques = pd.factorize(_categories_of(series))  # missing values get code -1
            if len(uniques) == 0:
                raise ReferenceDataError(f"column {column!r} has no value in the reference; leave it out")
            values = np.asarray(uniques, dtype=object)
            counts = np.bincount(codes[codes >= 0], minlength=len(values))
            fill_code = _most_frequent(values, counts)
            counts[fill_code] += int((codes < 0).sum())  # the missing values, imputed
            share_values = counts / len(codes)
            fills.append(values[fill_code])
            categories.append(pd.Index(values, dtype=object))
            frequencies.append(share_values)
            fill_shares.append(float(share_values[fill_code]))
            encoded[:, j] = np.append(share_values, share_values[fill_code])[codes]
        elif pd.api.types.is_numeric_dtype(series.dtype):
            numeric.append(column)
            raw = _numeric(series)
            present = ~np.isnan(raw)
            if not present.any():
                raise ReferenceDataError(
                    f"column {column!r} has no finite value in the reference; leave it out"
                )
            fill_value = float(raw[present].mean())
            fills.append(fill_value)
            categories.append(None)
            frequencies.append(None)
            fill_shares.append(0.0)
            encoded[:, j] = np.where(present, raw, fill_value)
        else:
            raise ReferenceDataError(
                f"column {column!r} has dtype {series.dtype}, neither numeric nor categorical; "
                "leave it out or convert it"
            )

    n = encoded.shape[0]
    scale_mean = encoded.mean(axis=0)
    variance = ((encoded - scale_mean) ** 2).mean(axis=0)
    # StandardScaler's test for a constant column (the error bound of the two-pass variance)
    constant = variance <= n * _EPS * variance + (n * scale_mean * _EPS) ** 2
    scale_std = np.sqrt(variance)
    scale_std[constant | (scale_std < 10 * _EPS)] = 1.0
    standard = (encoded - scale_mean) / scale_std

    pca_mean = standard.mean(axis=0)
    centred = standard - pca_mean
    covariance = centred.T @ centred / (n - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues = np.clip(eigenvalues[::-1], 0.0, None)
    eigenvectors = eigenvectors[:, ::-1]
    total = float(eigenvalues.sum())
    ratios = eigenvalues / total if total > 0 else np.zeros_like(eigenvalues)
    if isinstance(n_components, float):
        kept = int(np.searchsorted(np.cumsum(ratios), n_components, side="right")) + 1
        kept = min(kept, len(columns))
    else:
        kept = n_components
    components = np.ascontiguousarray(eigenvectors[:, :kept])

    model = ReconstructionDrift(
        columns=columns,
        numeric_columns=tuple(numeric),
        categorical_columns=tuple(categorical),
        fill_values=tuple(fills),
        categories=tuple(categories),
        frequencies=tuple(frequencies),
        fill_share=tuple(fill_shares),
        scale_mean=scale_mean,
        scale_std=scale_std,
        pca_mean=pca_mean,
        components=components,
        explained_variance=float(ratios[:kept].sum()),
        reference_errors=np.empty(0),
        reference_keys=(),
        lower_threshold=None,
        upper_threshold=None,
        chunking=chunking,
    )
    try:
        chunks = chunking.split(reference)
    except CheckError as error:
        raise ReferenceDataError(f"the reference cannot be split into chunks: {error}") from error
    row_errors = model._errors_of(encoded)
    errors = np.array([row_errors[chunk.rows].mean() for chunk in chunks], dtype=np.float64)
    lower, upper = (threshold or StandardDeviationThreshold()).bounds(errors)
    if lower is not None and lower <= 0.0:
        lower = None  # an error is never negative: NannyML drops such a lower threshold
    return replace(
        model,
        reference_errors=errors,
        reference_keys=tuple(chunk.key for chunk in chunks),
        lower_threshold=lower,
        upper_threshold=upper,
    )
