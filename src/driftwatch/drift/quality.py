"""Data quality of one column of the window, measured against its reference.

Drift says the distribution moved; these shares say the data broke: values went
missing, categories appeared that the model never saw, numbers left the range
the model was trained on, or values of the wrong kind arrived. `data_quality` holds
the shares against the limits a model sets (``quality:`` in the configuration).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftwatch.drift.profile import ColumnProfile, ColumnSample

__all__ = ["ColumnQuality", "DataQuality", "QualityBreach", "column_quality", "data_quality", "measures"]


@dataclass(frozen=True)
class ColumnQuality:
    column: str
    missing_share_reference: float
    missing_share: float  # of the current window: missing, NaN or infinite
    unseen_share: float | None  # categorical: share of values never seen in the reference
    out_of_range_share: float | None  # numeric: share of values below the reference min or above its max
    type_violations: int  # values of the wrong kind (text in a numeric column), counted as missing

    def as_dict(self) -> dict[str, object]:
        return {
            "column": self.column,
            "missing_share_reference": self.missing_share_reference,
            "missing_share": self.missing_share,
            "unseen_share": self.unseen_share,
            "out_of_range_share": self.out_of_range_share,
            "type_violations": self.type_violations,
        }


def column_quality(
    reference: ColumnProfile, current: ColumnSample, type_violations: int = 0
) -> ColumnQuality:
    missing = 1.0 - current.rows / current.raw_rows if current.raw_rows else 0.0
    unseen: float | None = None
    out_of_range: float | None = None
    if current.rows:
        if reference.type == "categorical":
            positions = np.searchsorted(reference.uniques, current.uniques)
            positions = np.minimum(positions, max(len(reference.uniques) - 1, 0))
            known = (
                reference.uniques[positions] == current.uniques
                if len(reference.uniques)
                else np.zeros(len(current.uniques), dtype=bool)
            )
            unseen = float(current.counts[~known].sum()) / current.rows
        elif reference.rows:
            values = current.values  # sorted
            below = np.searchsorted(values, reference.min, side="left")
            above = current.rows - np.searchsorted(values, reference.max, side="right")
            out_of_range = float(below + above) / current.rows
    return ColumnQuality(
        column=reference.name,
        missing_share_reference=reference.missing_share,
        missing_share=missing,
        unseen_share=unseen,
        out_of_range_share=out_of_range,
        type_violations=type_violations + current.type_violations,
    )


@dataclass(frozen=True)
class QualityBreach:
    """A feature's measure above its limit in one window."""

    feature: str
    measure: str  # missing_share, unseen_share, out_of_range_share or missing_share_increase
    value: float
    limit: float

    def as_dict(self) -> dict[str, object]:
        return {"feature": self.feature, "measure": self.measure, "value": self.value, "limit": self.limit}

    @property
    def text(self) -> str:
        """The breach in words, as the check's table and HTML summaries say it."""
        return f"{self.feature}: {self.measure} {self.value:.4g} above its limit {self.limit:.4g}"


@dataclass(frozen=True)
class DataQuality:
    """A window's data quality against the model's limits (`quality:` in the configuration)."""

    limits: dict[str, dict[str, float]]  # feature -> measure -> limit
    breaches: list[QualityBreach]

    @property
    def breached(self) -> bool:
        return bool(self.breaches)

    def as_dict(self) -> dict[str, object]:
        return {
            "status": "breach" if self.breaches else "ok",
            "breaches": [breach.as_dict() for breach in self.breaches],
            "limits": {feature: dict(measures) for feature, measures in self.limits.items()},
        }


# a share computed as 1 - rows / raw_rows may land a rounding error above a limit it equals
_TOLERANCE = 1e-9


def measures(quality: ColumnQuality) -> dict[str, float]:
    """The measures of a column that a limit can bound (a measure that does not apply is left out)."""
    values = {
        "missing_share": quality.missing_share,
        "missing_share_increase": quality.missing_share - quality.missing_share_reference,
    }
    if quality.unseen_share is not None:
        values["unseen_share"] = quality.unseen_share
    if quality.out_of_range_share is not None:
        values["out_of_range_share"] = quality.out_of_range_share
    return values


def data_quality(columns: list[ColumnQuality], limits: dict[str, dict[str, float]]) -> DataQuality:
    """Every measure of ``columns`` above its limit, in the order of the limits. A measure at its limit
    does not breach; one that does not apply (unseen share of a numeric feature) never does."""
    by_name = {quality.column: quality for quality in columns}
    breaches = []
    for feature, bounds in limits.items():
        quality = by_name.get(feature)
        if quality is None:
            continue
        values = measures(quality)
        for measure, limit in bounds.items():
            value = values.get(measure)
            if value is not None and value > limit + _TOLERANCE:
                breaches.append(QualityBreach(feature, measure, value, limit))
    return DataQuality(limits, breaches)
