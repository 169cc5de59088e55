"""driftwatch: watch deployed ML models for data drift, from Kafka prediction logs to alerts.

The Python API (see the README's "Python API"): `check` a current DataFrame for drift against a
reference, `profile` a reference once and `load_profile` it back, `estimate_performance` (CBPE) and
`realized_performance`, and `estimate_error` against the labels. Errors are `DriftwatchError` subclasses. The names load on first use (a module
``__getattr__``), so ``import driftwatch`` and the cheap CLI commands do not import pandas or scipy.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("driftwatch")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from driftwatch.api import (
        CheckReport,
        ColumnResult,
        MetricEstimate,
        PerformanceEstimate,
        RealizedMetrics,
        ReferenceProfile,
        check,
        estimate_error,
        estimate_performance,
        load_profile,
        profile,
        realized_performance,
    )
    from driftwatch.errors import CBPEError, CheckError, ConfigError, DriftwatchError, ReferenceDataError

_API = (
    "CheckReport",
    "ColumnResult",
    "MetricEstimate",
    "PerformanceEstimate",
    "RealizedMetrics",
    "ReferenceProfile",
    "check",
    "estimate_error",
    "estimate_performance",
    "load_profile",
    "profile",
    "realized_performance",
)
_ERRORS = ("CBPEError", "CheckError", "ConfigError", "DriftwatchError", "ReferenceDataError")
_HOME = {**dict.fromkeys(_API, "driftwatch.api"), **dict.fromkeys(_ERRORS, "driftwatch.errors")}

__all__ = [
    "CBPEError",
    "CheckError",
    "CheckReport",
    "ColumnResult",
    "ConfigError",
    "DriftwatchError",
    "MetricEstimate",
    "PerformanceEstimate",
    "RealizedMetrics",
    "ReferenceDataError",
    "ReferenceProfile",
    "__version__",
    "check",
    "estimate_error",
    "estimate_performance",
    "load_profile",
    "profile",
    "realized_performance",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'driftwatch' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value  # once loaded, a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
