"""Drift statistics: reference profiles, the method catalogue, column, dataset and multivariate drift."""

from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, DatasetDrift, column_drift, dataset_drift
from driftwatch.drift.domain_classifier import (
    DomainClassifierChunk,
    DomainClassifierDrift,
    DomainClassifierResult,
    fit_domain_classifier,
)
from driftwatch.drift.multivariate import (
    ConstantThreshold,
    ReconstructionChunk,
    ReconstructionDrift,
    ReconstructionResult,
    StandardDeviationThreshold,
    fit_reconstruction_drift,
)
from driftwatch.drift.profile import ColumnProfile, ColumnType, ReferenceProfile
from driftwatch.drift.stattests import CATALOGUE, DriftMethod, default_method, get_method

__all__ = [
    "CATALOGUE",
    "ColumnDrift",
    "ColumnOptions",
    "ColumnProfile",
    "ColumnType",
    "ConstantThreshold",
    "DatasetDrift",
    "DomainClassifierChunk",
    "DomainClassifierDrift",
    "DomainClassifierResult",
    "DriftMethod",
    "ReconstructionChunk",
    "ReconstructionDrift",
    "ReconstructionResult",
    "ReferenceProfile",
    "StandardDeviationThreshold",
    "column_drift",
    "dataset_drift",
    "default_method",
    "fit_domain_classifier",
    "fit_reconstruction_drift",
    "get_method",
]
