"""Column drift and dataset drift: a window's columns against a reference profile.

Pure functions on arrays and profiles: no clock, no I/O. A column whose test
cannot run (empty after dropping NaN/inf, wrong type) gets a `ColumnDrift` with
an ``error`` and is left out of the dataset share, so one broken column never
hides the others.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.drift.profile import ColumnProfile, ColumnSample, ReferenceProfile
from driftwatch.drift.quality import ColumnQuality, column_quality
from driftwatch.drift.stattests import default_method, get_method

_WORKERS = max(1, min(4, os.cpu_count() or 1))

__all__ = ["ColumnDrift", "ColumnOptions", "DatasetDrift", "column_drift", "dataset_drift"]


def _finite(value: float) -> float | None:
    """JSON has no NaN: an undefined score or threshold is null."""
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ColumnOptions:
    method: str = "auto"
    threshold: float | None = None


@dataclass(frozen=True)
class ColumnDrift:
    column: str
    type: str
    method: str
    score: float
    threshold: float
    drift_detected: bool
    reference_rows: int
    current_rows: int
    error: str | None = None
    quality: ColumnQuality | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "type": self.type,
            "method": self.method,
            "score": _finite(self.score),
            "threshold": _finite(self.threshold),
            "drift_detected": self.drift_detected,
            "reference_rows": self.reference_rows,
            "current_rows": self.current_rows,
            **({"error": self.error} if self.error else {}),
            **({"quality": self.quality.as_dict()} if self.quality else {}),
        }


@dataclass(frozen=True)
class DatasetDrift:
    columns: list[ColumnDrift]
    share_threshold: float
    errors: list[ColumnDrift] = field(default_factory=list)

    @property
    def n_columns(self) -> int:
        return len(self.columns)

    @property
    def n_drifted(self) -> int:
        return sum(column.drift_detected for column in self.columns)

    @property
    def drift_share(self) -> float:
        return self.n_drifted / self.n_columns if self.columns else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.drift_share >= self.share_threshold

    def as_dict(self) -> dict[str, object]:
        return {
            "dataset_drift": self.dataset_drift,
            "drift_share": self.drift_share,
            "n_drifted": self.n_drifted,
            "n_columns": self.n_columns,
            "share_threshold": self.share_threshold,
            "columns": [column.as_dict() for column in self.columns + self.errors],
        }


def column_drift(
    reference: ColumnProfile,
    current_raw: pd.Series | npt.NDArray[np.generic],
    options: ColumnOptions,
    type_violations: int = 0,
) -> ColumnDrift:
    """Drift and data quality of one column: clean the window as Evidently does, pick the method, run it.

    ``type_violations`` adds values already discarded upstream (the window's count) to the quality report.
    """
    current = ColumnSample(current_raw, reference.type)
    quality = column_quality(reference, current, type_violations)

    def failed(method: str, threshold: float, error: str) -> ColumnDrift:
        return ColumnDrift(
            reference.name,
            reference.type,
            method,
            math.nan,
            threshold,
            False,
            reference.rows,
            current.rows,
            error,
            quality,
        )

    if reference.rows == 0:
        return failed(
            options.method, options.threshold or math.nan, "reference column is empty after NaN/inf removal"
        )
    if current.rows == 0:
        return failed(
            options.method, options.threshold or math.nan, "current window has no values for this column"
        )
    method = default_method(reference, current) if options.method == "auto" else get_method(options.method)
    threshold = method.default_threshold if options.threshold is None else options.threshold
    if reference.type not in method.column_types:
        return failed(
            method.name, threshold, f"method {method.name} does not apply to {reference.type} columns"
        )
    try:
        with np.errstate(all="ignore"):
            result = method(reference, current, threshold)
    except (ValueError, ZeroDivisionError, FloatingPointError, TypeError) as exc:
        # the test cannot run on these data (too few values, a constant column...): say so, go on
        return failed(method.name, threshold, f"{method.name} cannot run on this column: {exc}")
    return ColumnDrift(
        reference.name,
        reference.type,
        method.name,
        result.score,
        threshold,
        bool(result.drift_detected),
        reference.rows,
        current.rows,
        quality=quality,
    )


def dataset_drift(
    profile: ReferenceProfile,
    current: Mapping[str, pd.Series | npt.NDArray[np.generic]],
    options: Mapping[str, ColumnOptions] | None = None,
    share_threshold: float = 0.5,
    type_violations: Mapping[str, int] | None = None,
) -> DatasetDrift:
    """Drift of every profiled column; dataset drift when the drifted share >= ``share_threshold``."""
    options = options or {}

    def one(name: str) -> ColumnDrift:
        values = current[name] if name in current else np.array([], dtype=object)
        violations = (type_violations or {}).get(name, 0)
        return column_drift(profile.columns[name], values, options.get(name, ColumnOptions()), violations)

    names = list(profile.columns)
    workers = min(_WORKERS, len(names))
    if workers > 1:
        # numpy and pandas release the GIL in sorts and counts, so columns run in parallel
        with ThreadPoolExecutor(workers, thread_name_prefix="driftwatch-drift") as pool:
            drifts = list(pool.map(one, names))
    else:
        drifts = [one(name) for name in names]
    results = [d for d in drifts if not d.error]
    errors = [d for d in drifts if d.error]
    return DatasetDrift(results, share_threshold, errors)
