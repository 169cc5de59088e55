"""Reference profiles: everything about a reference column computed once.

A scheduled check compares a window with the same reference every few minutes,
so the reference side (cleaned values, sorted order, distinct values and their
counts, standard deviation) is prepared once when the daemon starts and reused
by every check, as NannyML's ``fit(reference)`` is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

ColumnType = Literal["numeric", "categorical"]

__all__ = ["ColumnProfile", "ColumnType", "ReferenceProfile", "category_keys", "clean_column", "infer_type"]


def infer_type(values: pd.Series) -> ColumnType:
    """Numeric dtype (bool excluded) -> numeric, anything else -> categorical."""
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "categorical"
    return "numeric"


def category_keys(values: Iterable[object]) -> npt.NDArray[np.object_]:
    """Canonical string keys for categorical values, identical for reference files and JSON records.

    ``1``, ``1.0`` and ``"1"`` are one category; booleans are ``"True"``/``"False"``
    as pandas writes them; missing values stay ``None``.
    """
    out: list[object] = []
    for value in values:
        if value is None or (isinstance(value, float) and not np.isfinite(value)):
            out.append(None)
        elif isinstance(value, str):
            out.append(value)
        elif isinstance(value, bool | np.bool_):
            out.append("True" if value else "False")
        elif isinstance(value, float | np.floating) and float(value).is_integer():
            out.append(str(int(value)))
        else:
            out.append(str(value))
    return np.array(out, dtype=object)


def clean_column(values: pd.Series | npt.ArrayLike, column_type: ColumnType) -> npt.NDArray[np.generic]:
    """Drop missing and infinite values, as Evidently does before every drift test.

    Numeric columns become float64 arrays; categorical columns object arrays of
    canonical string keys.
    """
    if column_type == "numeric":
        array: npt.NDArray[np.float64] = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(
            dtype=np.float64, na_value=np.nan
        )
        return array[np.isfinite(array)]
    series = pd.Series(values, dtype=object)
    keys = category_keys(series.to_numpy())
    return keys[pd.notna(keys)]


@dataclass(frozen=True)
class ColumnProfile:
    """One reference column, cleaned, with what every drift method needs precomputed."""

    name: str
    type: ColumnType
    values: npt.NDArray[np.generic]
    missing_share: float
    uniques: npt.NDArray[np.generic] = field(repr=False)
    counts: npt.NDArray[np.int64] = field(repr=False)
    std: float = 0.0

    @classmethod
    def build(cls, name: str, raw: pd.Series, column_type: ColumnType | None = None) -> ColumnProfile:
        kind = column_type or infer_type(raw)
        values = clean_column(raw, kind)
        if kind == "numeric":
            values = np.sort(values)  # sorted once: ks, wasserstein and quantiles reuse the order
        uniques, counts = (
            np.unique(values, return_counts=True) if len(values) else (values, np.zeros(0, np.int64))
        )
        std = float(np.std(np.asarray(values, dtype=np.float64))) if kind == "numeric" and len(values) else 0.0
        missing = 1.0 - len(values) / len(raw) if len(raw) else 0.0
        return cls(name, kind, values, missing, uniques, counts.astype(np.int64), std)

    @property
    def rows(self) -> int:
        return len(self.values)

    @property
    def nunique(self) -> int:
        return len(self.uniques)

    def count_map(self) -> dict[object, int]:
        return dict(zip(self.uniques.tolist(), self.counts.tolist(), strict=True))


@dataclass(frozen=True)
class ReferenceProfile:
    """The reference of one model: a `ColumnProfile` per monitored column."""

    columns: Mapping[str, ColumnProfile]
    rows: int

    @classmethod
    def build(
        cls,
        frame: pd.DataFrame,
        columns: Sequence[str],
        types: Mapping[str, ColumnType | None] | None = None,
    ) -> ReferenceProfile:
        types = types or {}
        missing = [name for name in columns if name not in frame.columns]
        if missing:
            raise KeyError(
                f"reference has no column(s) {', '.join(missing)}; it has {', '.join(map(str, frame.columns))}"
            )
        profiles = {name: ColumnProfile.build(name, frame[name], types.get(name)) for name in columns}
        return cls(profiles, len(frame))

    def __getitem__(self, name: str) -> ColumnProfile:
        return self.columns[name]
