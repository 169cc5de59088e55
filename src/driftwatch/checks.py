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
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from driftwatch.config import ModelSettings
from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, DatasetDrift, column_drift, dataset_drift
from driftwatch.drift.profile import ColumnSample, ReferenceProfile
from driftwatch.drift.quality import ColumnQuality, DataQuality, column_quality, data_quality
from driftwatch.windows import WindowSnapshot

if TYPE_CHECKING:  # scikit-learn behind it: commands that only read results need not import it
    from driftwatch.performance.monitor import PerformanceResult

__all__ = ["STATUSES", "CheckResult", "CheckStatus", "ModelCheck", "no_verdict_reason", "verdict_status"]

# Whether a check had an answer. "ok": the window was compared with the reference. "no_data": the window
# is empty (traffic stopped, or never came). "not_enough_rows": fewer rows than the model's
# window.min_rows, too few for the drift tests to tell drift from sampling noise. Without an answer the
# verdict fields are null, no drift series is exported and the alert state is left as it is.
CheckStatus = Literal["ok", "no_data", "not_enough_rows"]
STATUSES: tuple[CheckStatus, ...] = ("ok", "no_data", "not_enough_rows")

log = logging.getLogger(__name__)


def verdict_status(rows: int, min_rows: int) -> CheckStatus:
    """Whether ``rows`` rows get a drift verdict (see `CheckStatus`): the rule of the daemon's checks and
    of ``driftwatch check`` alike."""
    if rows == 0:
        return "no_data"
    return "not_enough_rows" if rows < min_rows else "ok"


def no_verdict_reason(
    status: CheckStatus,
    rows: int,
    min_rows: int,
    subject: str = "the window",
    setting: str = "window.min_rows",
) -> str | None:
    """Why a check of ``rows`` rows has no verdict, in words (None when it has one). ``subject`` is what
    was checked and ``setting`` what set ``min_rows``: the daemon's window and window.min_rows by
    default; ``driftwatch check`` speaks of the current file."""
    if status == "no_data" and rows:
        return (
            f"none of {subject}'s {rows} rows has a usable value of any feature "
            "(see the columns' errors): nothing to compare with the reference"
        )
    if status == "no_data":
        return f"{subject} is empty: no prediction records in it"
    if status == "not_enough_rows":
        return (
            f"{subject} has {rows} rows, fewer than {setting} {min_rows}: "
            "too few to tell drift from sampling noise"
        )
    return None


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
    status: CheckStatus = "ok"
    min_rows: int = 1  # the model's window.min_rows when the check ran

    @property
    def answered(self) -> bool:
        """True when the window was compared with the reference (there is a drift verdict)."""
        return self.status == "ok"

    @property
    def reason(self) -> str | None:
        """Why there is no verdict, in words (None when there is one)."""
        return no_verdict_reason(self.status, self.rows, self.min_rows)

    # parts of the check that failed (data_drift, prediction_drift, performance, ...) -> what went wrong;
    # the other parts' results stand
    errors: dict[str, str] = field(default_factory=dict)
    data_quality: DataQuality | None = None  # models (or features) with quality limits only

    def as_dict(self) -> dict[str, Any]:
        def iso(ts: float) -> str:
            return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")

        drift = self.drift.as_dict()
        if not self.answered or "data_drift" in self.errors:  # no verdict: null, never a made-up "no drift"
            drift.update(dataset_drift=None, drift_share=None, n_drifted=None, n_columns=None)
        return {
            "model": self.model,
            "check": self.check,
            "status": self.status,
            "reason": self.reason,
            "window_start": iso(self.window_start),
            "window_end": iso(self.window_end),
            "rows": self.rows,
            "min_rows": self.min_rows,
            "records_seen": self.records_seen,
            **drift,
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

    def status(self, rows: int) -> CheckStatus:
        """Whether a window of ``rows`` rows gets a drift verdict (see `CheckStatus`)."""
        return verdict_status(rows, self.settings.window.min_rows)

    def run(self, snapshot: WindowSnapshot) -> CheckResult:
        started = time.perf_counter()
        frame = snapshot.frame
        result = partial(
            CheckResult,
            model=self.name,
            check=self.check,
            window_start=snapshot.start,
            window_end=snapshot.end,
            rows=len(frame),
            records_seen=snapshot.records_seen,
            min_rows=self.settings.window.min_rows,
        )
        status = self.status(len(frame))
        if status != "ok":  # no verdict: the tests are not run at all, so nothing can pass for one
            return result(
                drift=DatasetDrift([], self.settings.drift.share),
                prediction_drift=None,
                duration_seconds=time.perf_counter() - started,
                status=status,
            )
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
        return result(
            drift=drift,
            prediction_drift=prediction_drift,
            duration_seconds=time.perf_counter() - started,
            # rows, but no feature could be tested (all missing or of the wrong kind): no verdict either,
            # never a "no drift" made of zero columns; a failed drift part is an error, not "no data"
            status="ok" if drift.columns or "data_drift" in errors else "no_data",
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
