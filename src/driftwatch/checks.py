"""One scheduled check: a window snapshot and a reference profile -> a `CheckResult`.

The result is plain data that the metrics, the webhook payload and the JSON API
all read; nothing here talks to Kafka, HTTP or the clock. The parts of a check
(data drift, prediction drift, data quality) run guarded: a part that fails
leaves its error in `CheckResult.errors` and the other parts' results stand.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from driftwatch.config import ModelSettings
from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, DatasetDrift, column_drift, dataset_drift
from driftwatch.drift.profile import ColumnSample, ReferenceProfile
from driftwatch.drift.quality import ColumnQuality, DataQuality, column_quality, data_quality
from driftwatch.windows import WindowSnapshot

if TYPE_CHECKING:  # scikit-learn behind it: commands that only read results need not import it
    from driftwatch.performance.monitor import PerformanceResult

__all__ = ["CheckResult", "ModelCheck"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CheckResult:
    model: str
    check: str
    window_start: float
    window_end: float
    rows: int
    records_seen: int
    drift: DatasetDrift
    prediction_drift: ColumnDrift | None
    duration_seconds: float
    notes: tuple[str, ...] = ()  # caveats about the input, e.g. Kafka unreachable during the window
    performance: PerformanceResult | None = None  # models with performance monitoring only
    # parts of the check that failed (data_drift, prediction_drift, performance, ...) -> what went wrong;
    # the other parts' results stand
    errors: dict[str, str] = field(default_factory=dict)
    data_quality: DataQuality | None = None  # models (or features) with quality limits only

    def as_dict(self) -> dict[str, Any]:
        def iso(ts: float) -> str:
            return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

        return {
            "model": self.model,
            "check": self.check,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "rows": self.rows,
            "records_seen": self.records_seen,
            **self.drift.as_dict(),
            "prediction_drift": None if self.prediction_drift is None else self.prediction_drift.as_dict(),
            "duration_seconds": self.duration_seconds,
            "notes": list(self.notes),
            "performance": None if self.performance is None else self.performance.as_dict(),
            "errors": dict(self.errors),
            "data_quality": None if self.data_quality is None else self.data_quality.as_dict(),
        }


class ModelCheck:
    """The data drift check of one model, with its reference profile prepared once."""

    check = "data_drift"

    def __init__(self, name: str, settings: ModelSettings, profile: ReferenceProfile) -> None:
        self.name = name
        self.settings = settings
        self.profile = profile
        self.options = {f.name: ColumnOptions(f.method, f.threshold) for f in settings.features}
        features = {f.name for f in settings.features}
        self.feature_profile = ReferenceProfile(
            {k: v for k, v in profile.columns.items() if k in features}, profile.rows
        )
        prediction = settings.prediction
        self.prediction_profile = profile.columns.get(prediction) if prediction else None
        self.quality_limits = {
            name: limits for name, limits in settings.quality_limits().items() if name in profile.columns
        }

    def run(self, snapshot: WindowSnapshot) -> CheckResult:
        started = time.perf_counter()
        frame = snapshot.frame
        errors: dict[str, str] = {}
        try:
            drift = dataset_drift(
                self.feature_profile,
                {name: frame[name].to_numpy() for name in self.feature_profile.columns},
                self.options,
                self.settings.drift.share,
                snapshot.type_violations,
            )
        except Exception as exc:  # a bug, not bad data: the other parts still run
            log.exception("check data_drift of model %s failed", self.name)
            errors["data_drift"] = part_error(exc)
            drift = DatasetDrift([], self.settings.drift.share)
        prediction_drift = None
        profile = self.prediction_profile
        if profile is not None and profile.name in frame.columns:
            try:
                prediction_drift = column_drift(profile, frame[profile.name].to_numpy(), ColumnOptions())
            except Exception as exc:
                log.exception("check prediction_drift of model %s failed", self.name)
                errors["prediction_drift"] = part_error(exc)
                prediction_drift = ColumnDrift(
                    profile.name,
                    profile.type,
                    "auto",
                    math.nan,
                    math.nan,
                    False,
                    profile.rows,
                    0,
                    error=errors["prediction_drift"],
                )
        quality = None
        if self.quality_limits and len(frame):  # no rows, no shares: an empty window measures nothing
            try:
                quality = data_quality(self._qualities(snapshot, drift, errors), self.quality_limits)
            except Exception as exc:
                log.exception("check data_quality of model %s failed", self.name)
                errors["data_quality"] = part_error(exc)
        return CheckResult(
            model=self.name,
            check=self.check,
            window_start=snapshot.start,
            window_end=snapshot.end,
            rows=len(frame),
            records_seen=snapshot.records_seen,
            drift=drift,
            prediction_drift=prediction_drift,
            duration_seconds=time.perf_counter() - started,
            errors=errors,
            data_quality=quality,
        )

    def _qualities(
        self, snapshot: WindowSnapshot, drift: DatasetDrift, errors: dict[str, str]
    ) -> list[ColumnQuality]:
        """The quality of the limited features: from the drift part, or measured here when it failed."""
        if "data_drift" not in errors:
            return [c.quality for c in drift.columns + drift.errors if c.quality is not None]
        frame = snapshot.frame
        return [
            column_quality(
                self.profile.columns[name],
                ColumnSample(
                    frame[name].to_numpy() if name in frame.columns else np.array([], dtype=object),
                    self.profile.columns[name].type,
                ),
                snapshot.type_violations.get(name, 0),
            )
            for name in self.quality_limits
        ]


def part_error(exc: BaseException) -> str:
    """The error note of a failed part of a check: what failed, not a traceback (that is in the log)."""
    return f"failed: {type(exc).__name__}: {str(exc)[:300]}"
