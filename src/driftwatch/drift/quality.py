"""Data quality of one column of the window, measured against its reference.

Drift says the distribution moved; these shares say the data broke: values went
missing, categories appeared that the model never saw, numbers left the range
the model was trained on, or values of the wrong kind arrived.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from driftwatch.drift.profile import ColumnProfile, ColumnSample

__all__ = ["ColumnQuality", "column_quality"]


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
