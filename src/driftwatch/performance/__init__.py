"""Model performance: realized metrics once labels arrive, and CBPE (classification) and DLE (regression)
estimates before they do."""

from driftwatch.performance.cbpe import (
    CBPE,
    ESTIMATED_METRICS,
    Calibration,
    CBPEError,
    Estimate,
    EstimatedPerformance,
    expected_calibration_error,
)
from driftwatch.performance.dle import DLE, DLE_METRICS, DLEError
from driftwatch.performance.metrics import (
    HIGHER_IS_BETTER,
    METRICS,
    RealizedPerformance,
    Task,
    Threshold,
    breaches,
    realized,
    realized_performance,
)
from driftwatch.performance.multiclass_cbpe import MulticlassCBPE

__all__ = [
    "CBPE",
    "DLE",
    "DLE_METRICS",
    "ESTIMATED_METRICS",
    "HIGHER_IS_BETTER",
    "METRICS",
    "CBPEError",
    "Calibration",
    "DLEError",
    "Estimate",
    "EstimatedPerformance",
    "MulticlassCBPE",
    "RealizedPerformance",
    "Task",
    "Threshold",
    "breaches",
    "expected_calibration_error",
    "realized",
    "realized_performance",
]
