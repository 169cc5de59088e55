"""A multiclass model's predicted class, read from its class probabilities.

A model that logs a map class -> probability per prediction (predict_proba's) predicted the most
probable class. Performance grades that class, and drift and data quality watch it: the distribution of
maps is that of the predicted class, a categorical column. One rule for both (`most_probable`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["holds_probability_maps", "most_probable", "predicted_classes"]


def most_probable(matrix: npt.ArrayLike, names: Sequence[Hashable] | npt.NDArray[Any]) -> npt.NDArray[Any]:
    """Each row's predicted class of a (rows, classes) probability matrix whose columns are ``names``:
    the most probable class; a tie goes to the first in ``names`` order."""
    chosen: npt.NDArray[Any] = np.asarray(names)[np.asarray(matrix).argmax(axis=1)]
    return chosen


def _first_present(values: Iterable[object]) -> object:
    for value in values:
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            return value
    return None


def holds_probability_maps(values: object) -> bool:
    """Whether a column (a Series, an array or a list) holds maps class -> probability: its first
    present value is a map. Numbers and classes never are."""
    dtype = getattr(values, "dtype", None)
    if dtype is not None and getattr(dtype, "kind", "O") != "O":
        return False
    return isinstance(_first_present(values if isinstance(values, Iterable) else ()), Mapping)


def _probability(value: object) -> float:
    """A class's probability in a map: 0 when the map leaves it out (None, as Parquet fills the classes
    a row's struct lacks); NaN for what is not a non-negative finite number."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return math.nan
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else math.nan


def _sorted(names: set[Hashable]) -> list[Hashable]:
    try:
        return sorted(names)  # type: ignore[type-var]
    except TypeError:  # classes of mixed types: in the order of their text
        return sorted(names, key=str)


def predicted_classes(values: Iterable[object], classes: Sequence[Hashable] | None = None) -> list[object]:
    """Each row's predicted class, for a column of maps class -> probability (`most_probable` over the
    classes ``classes`` names, then the others the maps name, sorted: the order performance reads the
    classes in). A class a map leaves out has probability 0. A row that is not a map, or a map with no
    positive probability or a probability that is not a non-negative number, has none (None)."""
    rows = list(values)
    at = [i for i, row in enumerate(rows) if isinstance(row, Mapping)]
    out: list[object] = [None] * len(rows)
    if not at:
        return out
    maps: list[Mapping[Hashable, object]] = [rows[i] for i in at]  # type: ignore[misc]
    known = list(classes or [])
    names = known + _sorted({key for row in maps for key in row} - set(known))
    matrix = np.array([[_probability(row.get(name)) for name in names] for row in maps], dtype=np.float64)
    matrix = matrix.reshape(len(maps), len(names))
    valid = np.isfinite(matrix).all(axis=1) & (matrix.sum(axis=1) > 0) if names else np.zeros(len(maps), bool)
    if valid.any():
        chosen = most_probable(matrix[valid], np.asarray(names, dtype=object)).tolist()
        for index, value in zip(np.asarray(at)[valid].tolist(), chosen, strict=True):
            out[index] = value
    return out
