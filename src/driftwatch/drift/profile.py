"""Reference profiles and current samples: each column's preparation done once.

A scheduled check compares a window with the same reference every few minutes,
so the reference side (cleaned values in sorted order, distinct values and
their counts, min, max, standard deviation) is prepared once when the daemon
starts and reused by every check, as NannyML's ``fit(reference)`` is. The
current side of a column is prepared once per check (`ColumnSample`: one sort,
one count) and shared by the method-selection rule and the method itself.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.drift.predicted_class import holds_probability_maps, predicted_classes

ColumnType = Literal["numeric", "categorical"]

__all__ = [
    "ColumnProfile",
    "ColumnSample",
    "ColumnType",
    "ReferenceProfile",
    "as_predicted_classes",
    "category_keys",
    "clean_column",
    "infer_type",
]


def infer_type(values: pd.Series) -> ColumnType:
    """Numeric dtype (bool excluded) -> numeric, anything else -> categorical."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "categorical"
    return "numeric"


@overload
def as_predicted_classes(
    values: pd.Series[Any], classes: Sequence[Hashable] | None = None
) -> pd.Series[Any]: ...


@overload
def as_predicted_classes(
    values: pd.Series | npt.ArrayLike, classes: Sequence[Hashable] | None = None
) -> pd.Series | npt.ArrayLike: ...


def as_predicted_classes(
    values: pd.Series | npt.ArrayLike, classes: Sequence[Hashable] | None = None
) -> pd.Series | npt.ArrayLike:
    """A column of maps class -> probability as each row's predicted class (`predicted_classes`, a tie
    going to the first of ``classes``, the model's class order, then sorted), as drift and data quality
    read a multiclass model's probabilities; any other column as it is."""
    if not holds_probability_maps(values):
        return values
    index = values.index if isinstance(values, pd.Series) else None
    name = values.name if isinstance(values, pd.Series) else None
    classified = predicted_classes(values, classes)  # type: ignore[arg-type]
    return pd.Series(classified, index=index, name=name, dtype=object)


def _canonical(value: object) -> object:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool | np.bool_):
        return "True" if value else "False"
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def category_keys(values: Iterable[object]) -> npt.NDArray[np.object_]:
    """Canonical string keys for categorical values, identical for reference files and JSON records.

    ``1``, ``1.0`` and ``"1"`` are one category; booleans are ``"True"``/``"False"``
    as pandas writes them; missing values become ``None``.
    """
    array = values if isinstance(values, np.ndarray) and values.dtype == object else None
    if array is not None and pd.api.types.infer_dtype(array, skipna=True) in {"string", "empty"}:
        out = array.copy()
        out[pd.isna(array)] = None  # NaN/NA among strings -> None; strings stay as they are
        return out
    return np.array([_canonical(v) for v in values], dtype=object)


def clean_column(values: pd.Series | npt.ArrayLike, column_type: ColumnType) -> npt.NDArray[np.generic]:
    """Drop missing and infinite values, as Evidently does before every drift test.

    Numeric columns become float64 arrays; categorical columns object arrays of
    canonical string keys.
    """
    if column_type == "numeric":
        array = _as_float(values)
        return array[np.isfinite(array)]
    raw = values.to_numpy(dtype=object) if isinstance(values, pd.Series) else np.asarray(values, dtype=object)
    keys = category_keys(raw)
    return keys[pd.notna(keys)]


def _as_float(values: pd.Series | npt.ArrayLike) -> npt.NDArray[np.float64]:
    return _coerce_float(values)[0]


def _coerce_float(values: pd.Series | npt.ArrayLike) -> tuple[npt.NDArray[np.float64], int]:
    """float64 values (NaN where missing or not a number) and how many were not numbers."""
    if isinstance(values, np.ndarray) and values.dtype == np.float64:
        return values, 0
    if (
        isinstance(values, pd.Series)
        and pd.api.types.is_numeric_dtype(values)
        and not pd.api.types.is_bool_dtype(values)
    ):
        return values.to_numpy(dtype=np.float64, na_value=np.nan), 0
    series = pd.Series(values)
    converted: npt.NDArray[np.float64] = pd.to_numeric(series, errors="coerce").to_numpy(
        dtype=np.float64, na_value=np.nan
    )
    violations = int(series.notna().sum()) - int(np.count_nonzero(~np.isnan(converted)))
    return converted, violations


def _is_integer(values: pd.Series | npt.ArrayLike) -> bool:
    dtype = getattr(values, "dtype", None)
    return (
        dtype is not None and pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype)
    )


def _sorted_distinct(
    values: npt.NDArray[np.generic],
) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.int64]]:
    """Distinct values and their counts of a sorted array, in one linear pass."""
    if len(values) == 0:
        return values, np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    return values[starts], np.diff(np.append(starts, len(values))).astype(np.int64)


def _category_counts(raw: pd.Series | npt.ArrayLike) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.int64]]:
    """Sorted canonical categories and their counts, missing values dropped.

    Counting happens on the raw values (a C hash table); only the few distinct
    values are canonicalised, so ``1`` and ``"1"`` still end up as one key.
    """
    series = raw if isinstance(raw, pd.Series) else pd.Series(np.asarray(raw, dtype=object), dtype=object)
    counted = series.value_counts(dropna=True, sort=False)
    counted = counted[counted > 0]  # a pandas categorical lists unused categories with count 0
    keys = category_keys(counted.index.to_numpy(dtype=object))
    present = pd.notna(keys)
    merged = pd.Series(counted.to_numpy(dtype=np.int64)[present], index=keys[present]).groupby(level=0).sum()
    return merged.index.to_numpy(dtype=object), merged.to_numpy(dtype=np.int64)


class ColumnSample:
    """One column of the current window, cleaned, with its sort and counts done at most once.

    Numeric: ``values`` is the sorted float64 array of finite values. Categorical:
    ``uniques``/``counts`` come straight from a hash count of the raw values, and
    ``values`` (canonical keys in original order) is built only if a method asks.
    """

    def __init__(self, raw: pd.Series | npt.ArrayLike, column_type: ColumnType) -> None:
        if column_type == "categorical":
            raw = as_predicted_classes(raw)
        self.type: ColumnType = column_type
        self.raw_rows = len(raw)  # type: ignore[arg-type]
        self.integer = _is_integer(raw)
        self._raw = raw
        self.type_violations = 0
        if column_type == "numeric":
            floats, self.type_violations = _coerce_float(raw)
            # row order matters to a few methods (permutation tests, float sums): keep it beside the sort
            self.original: npt.NDArray[np.float64] | None = floats[np.isfinite(floats)]
            self._values: npt.NDArray[np.generic] | None = np.sort(self.original)
            self._distinct: tuple[npt.NDArray[np.generic], npt.NDArray[np.int64]] | None = None
            self.rows = len(self._values)
        else:
            self.original = None
            self._values = None
            self._distinct = _category_counts(raw)
            self.rows = int(self._distinct[1].sum())

    @property
    def values(self) -> npt.NDArray[np.generic]:
        if self._values is None:
            self._values = clean_column(self._raw, self.type)
        return self._values

    def _counted(self) -> tuple[npt.NDArray[np.generic], npt.NDArray[np.int64]]:
        if self._distinct is None:
            self._distinct = _sorted_distinct(self.values)
        return self._distinct

    @property
    def uniques(self) -> npt.NDArray[np.generic]:
        return self._counted()[0]

    @property
    def counts(self) -> npt.NDArray[np.int64]:
        return self._counted()[1]

    @property
    def nunique(self) -> int:
        return len(self.uniques)


@dataclass(frozen=True)
class ColumnProfile:
    """One reference column, cleaned, with what every drift method needs precomputed."""

    name: str
    type: ColumnType
    values: npt.NDArray[np.generic]  # numeric: sorted float64; categorical: canonical keys
    missing_share: float
    uniques: npt.NDArray[np.generic] = field(repr=False)
    counts: npt.NDArray[np.int64] = field(repr=False)
    std: float = 0.0
    integer: bool = False
    original: npt.NDArray[np.float64] | None = field(default=None, repr=False)  # numeric, in row order

    @classmethod
    def build(
        cls,
        name: str,
        raw: pd.Series,
        column_type: ColumnType | None = None,
        classes: Sequence[Hashable] | None = None,
    ) -> ColumnProfile:
        """``classes``: the model's class order, for a column of maps class -> probability (profiled
        as its predicted classes, categorical)."""
        if holds_probability_maps(raw):  # a multiclass model's class probabilities: its predicted class
            raw, column_type = as_predicted_classes(raw, classes), "categorical"
        kind = column_type or infer_type(raw)
        sample = ColumnSample(raw, kind)
        std = (
            float(np.std(sample.values.astype(np.float64, copy=False)))
            if kind == "numeric" and sample.rows
            else 0.0
        )
        missing = 1.0 - sample.rows / len(raw) if len(raw) else 0.0
        return cls(
            name,
            kind,
            sample.values,
            missing,
            sample.uniques,
            sample.counts,
            std,
            sample.integer,
            sample.original,
        )

    @classmethod
    def from_values(
        cls,
        name: str,
        column_type: ColumnType,
        values: npt.NDArray[np.generic],
        missing_share: float,
        std: float,
        integer: bool,
    ) -> ColumnProfile:
        """A profile from cleaned values in row order, as a saved profile stores them."""
        if column_type == "numeric":
            original = np.asarray(values, dtype=np.float64)
            ordered = np.sort(original)
            uniques, counts = _sorted_distinct(ordered)
            return cls(name, column_type, ordered, missing_share, uniques, counts, std, integer, original)
        uniques, counts = _category_counts(pd.Series(values, dtype=object))
        return cls(name, column_type, values, missing_share, uniques, counts, std, integer)

    @property
    def rows(self) -> int:
        return len(self.values)

    @property
    def nunique(self) -> int:
        return len(self.uniques)

    @property
    def min(self) -> float:
        return float(self.values[0]) if self.type == "numeric" and self.rows else float("nan")

    @property
    def max(self) -> float:
        return float(self.values[-1]) if self.type == "numeric" and self.rows else float("nan")


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference of one model: a `ColumnProfile` per monitored column, and a bounded sample of the
    reference's vectors per embedding (rows x dim, float32; `driftwatch.reference.embedding_sample`)."""

    columns: Mapping[str, ColumnProfile]
    rows: int
    embeddings: Mapping[str, npt.NDArray[np.float32]] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        frame: pd.DataFrame,
        columns: Sequence[str],
        types: Mapping[str, ColumnType | None] | None = None,
        classes: Sequence[Hashable] | None = None,
    ) -> ReferenceProfile:
        """``classes``: the model's class order, for a prediction column of maps class -> probability."""
        types = types or {}
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise KeyError(
                f"reference has no column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}"
            )
        profiles = {
            name: ColumnProfile.build(name, frame[name], types.get(name), classes) for name in columns
        }
        return cls(profiles, len(frame))

    def __getitem__(self, name: str) -> ColumnProfile:
        return self.columns[name]
