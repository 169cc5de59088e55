"""Drift statistics: reference profiles, the method catalogue, column and dataset drift."""

from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, DatasetDrift, column_drift, dataset_drift
from driftwatch.drift.profile import ColumnProfile, ColumnType, ReferenceProfile
from driftwatch.drift.stattests import CATALOGUE, DriftMethod, default_method, get_method

__all__ = [
    "CATALOGUE",
    "ColumnDrift",
    "ColumnOptions",
    "ColumnProfile",
    "ColumnType",
    "DatasetDrift",
    "DriftMethod",
    "ReferenceProfile",
    "column_drift",
    "dataset_drift",
    "default_method",
    "get_method",
]
