"""The window checks of a model (data drift, prediction drift, data quality) and its `CheckResult`.

Each check implements `driftwatch.checks.base.Check`: prepared once on the reference profile, run on
every window snapshot, returning a `PartResult`. `check_result` puts one run's results together into
the model's `CheckResult`, plain data that the metrics, the webhook payload and the JSON API all read;
nothing here reads the configuration, talks to Kafka or HTTP, or knows the clock. Each check runs
guarded: one that fails leaves its error in `CheckResult.errors` and the others' results stand.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from driftwatch.checks.base import CheckInput, PartResult, PartStatus, part_error
from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, DatasetDrift, column_drift, dataset_drift
from driftwatch.drift.multivariate_methods import MultivariateDrift
from driftwatch.drift.profile import ColumnProfile, ColumnSample, ReferenceProfile
from driftwatch.drift.quality import DataQuality, column_quality, data_quality
from driftwatch.stream.windows import WindowSnapshot

if TYPE_CHECKING:  # scikit-learn behind it: commands that only read results need not import it
    from driftwatch.checks.embedding import EmbeddingResult
    from driftwatch.performance.monitor import PerformanceResult

__all__ = [
    "STATUSES",
    "CheckResult",
    "CheckStatus",
    "DataDriftCheck",
    "DataQualityCheck",
    "PredictionDriftCheck",
    "check_result",
    "no_verdict_reason",
    "part_error",
    "verdict_status",
]

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
        if self.why is not None and not self.answered:
            return self.why
        return no_verdict_reason(self.status, self.rows, self.min_rows)

    # parts of the check that failed (data_drift, prediction_drift, performance, ...) -> what went wrong;
    # the other parts' results stand
    errors: dict[str, str] = field(default_factory=dict)
    data_quality: DataQuality | None = None  # models (or features) with quality limits only
    # a scoped result (segments, versions, rolling baselines): the scope's key ("" for the whole
    # model), its label values, and what the window was compared with ("" the training reference,
    # "rolling" the model's own trailing period)
    scope: str = ""
    model_version: str = ""
    segment: str = ""
    baseline: str = ""
    why: str | None = None  # why there is no verdict, when it is not the window's size (a rolling baseline's)
    baseline_rows: int | None = (
        None  # a rolling comparison: the baseline's rows and its coverage of the period
    )
    baseline_coverage: float | None = None
    # models with a drift.multivariate section only: the methods' results (empty without a verdict)
    multivariate_drift: MultivariateDrift | None = None
    # models with embeddings: each embedding's drift (`driftwatch.checks.embedding`); else None
    embedding_drift: dict[str, EmbeddingResult] | None = None

    @property
    def scoped(self) -> bool:
        """True for the result of a segment or version scope, or of a rolling-baseline comparison."""
        return bool(self.scope or self.baseline)

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
            **(
                {}
                if self.multivariate_drift is None
                else {"multivariate_drift": self.multivariate_drift.as_dict() or None}
            ),
            **(
                {"embedding_drift": {name: r.as_dict() for name, r in self.embedding_drift.items()}}
                if self.embedding_drift is not None
                else {}
            ),
            **(
                {
                    "scope": self.scope,
                    "model_version": self.model_version or None,
                    "segment": self.segment or None,
                    "baseline": self.baseline or "reference",
                    **(
                        {"baseline_rows": self.baseline_rows, "baseline_coverage": self.baseline_coverage}
                        if self.baseline == "rolling"
                        else {}
                    ),
                }
                if self.scoped
                else {}
            ),
        }


class DataDriftCheck:
    """Data drift of a model's features: each feature's drift test, and dataset drift when the drifted
    share reaches ``share``. No verdict on fewer than ``min_rows`` rows (see `verdict_status`)."""

    kind: CheckKind = "data_drift"

    def __init__(
        self,
        model: str,
        features: Collection[str],
        options: Mapping[str, ColumnOptions],
        share: float,
        min_rows: int,
    ) -> None:
        self.model = model
        self.features = list(features)
        self.options = dict(options)
        self.share = share
        self.min_rows = min_rows
        self.profile = ReferenceProfile({}, 0)

    @property
    def alert_ids(self) -> list[CheckId]:
        return [CheckId(self.kind)]

    def prepare(self, reference: ReferenceProfile) -> None:
        features = set(self.features)
        self.profile = ReferenceProfile(
            {k: v for k, v in reference.columns.items() if k in features}, reference.rows
        )

    def run(self, snapshot: CheckInput) -> PartResult[DatasetDrift]:
        check, frame = CheckId(self.kind), snapshot.window.frame
        empty = DatasetDrift([], self.share)
        status = verdict_status(len(frame), self.min_rows)
        if status != "ok":  # no verdict: the tests are not run at all, so nothing can pass for one
            return PartResult(
                check, _PART_STATUS[status], empty, note=no_verdict_reason(status, len(frame), self.min_rows)
            )
        try:
            drift = dataset_drift(
                self.profile,
                {name: frame[name].to_numpy() for name in self.profile.columns},
                self.options,
                self.share,
                snapshot.window.type_violations,
            )
        except Exception as exc:  # a bug, not bad data: the other checks still run
            log.exception("check data_drift of model %s failed", self.model)
            return PartResult.failed(check, exc, empty)
        if not drift.columns:  # rows, but no feature could be tested: no verdict, never a "no drift"
            return PartResult(
                check, "no_data", drift, note=no_verdict_reason("no_data", len(frame), self.min_rows)
            )
        return PartResult(
            check, "drift" if drift.dataset_drift else "ok", drift, breaches={check: drift.dataset_drift}
        )


class PredictionDriftCheck:
    """Drift of a model's prediction column, with the ``auto`` method; no verdict on fewer than
    ``min_rows`` rows, as for the features."""

    kind: CheckKind = "prediction_drift"

    def __init__(self, model: str, column: str, min_rows: int) -> None:
        self.model = model
        self.column = column
        self.min_rows = min_rows
        self.profile: ColumnProfile | None = None

    @property
    def alert_ids(self) -> list[CheckId]:
        return [CheckId(self.kind)]

    def prepare(self, reference: ReferenceProfile) -> None:
        self.profile = reference.columns.get(self.column)

    def run(self, snapshot: CheckInput) -> PartResult[ColumnDrift]:
        check, frame = CheckId(self.kind), snapshot.window.frame
        status = verdict_status(len(frame), self.min_rows)
        profile = self.profile
        if status != "ok":
            return PartResult(check, _PART_STATUS[status])
        if profile is None or profile.name not in frame.columns:
            return PartResult(check, "no_data", note=f"the window has no column {self.column!r}")
        try:
            drift = column_drift(profile, frame[profile.name].to_numpy(), ColumnOptions())
        except Exception as exc:
            log.exception("check prediction_drift of model %s failed", self.model)
            failed = ColumnDrift(
                profile.name,
                profile.type,
                "auto",
                math.nan,
                math.nan,
                False,
                profile.rows,
                0,
                error=part_error(exc),
            )
            return PartResult.failed(check, exc, failed)
        if drift.error is not None:  # no usable value in the window (or the test cannot run on them)
            return PartResult(check, "no_data", drift, note=drift.error)
        return PartResult(
            check, "drift" if drift.drift_detected else "ok", drift, breaches={check: drift.drift_detected}
        )


class DataQualityCheck:
    """The window's data quality against per-feature limits (missing share, unseen categories, values out
    of the reference's range, missing share increase); a breach when any measure exceeds its limit."""

    kind: CheckKind = "data_quality"

    def __init__(self, model: str, limits: Mapping[str, Mapping[str, float]], min_rows: int) -> None:
        self.model = model
        self.wanted = {name: dict(measures) for name, measures in limits.items()}
        self.min_rows = min_rows
        self.profile = ReferenceProfile({}, 0)
        self.limits: dict[str, dict[str, float]] = {}

    @property
    def alert_ids(self) -> list[CheckId]:
        return [CheckId(self.kind)]

    def prepare(self, reference: ReferenceProfile) -> None:
        self.profile = reference
        self.limits = {name: limits for name, limits in self.wanted.items() if name in reference.columns}

    def run(self, snapshot: CheckInput) -> PartResult[DataQuality]:
        check, frame = CheckId(self.kind), snapshot.window.frame
        status = verdict_status(len(frame), self.min_rows)
        if status != "ok":  # no rows, no shares: an empty window measures nothing
            return PartResult(check, _PART_STATUS[status])
        try:
            qualities = [
                column_quality(
                    self.profile.columns[name],
                    ColumnSample(
                        frame[name].to_numpy() if name in frame.columns else np.array([], dtype=object),
                        self.profile.columns[name].type,
                    ),
                    snapshot.window.type_violations.get(name, 0),
                )
                for name in self.limits
            ]
            quality = data_quality(qualities, self.limits)
        except Exception as exc:
            log.exception("check data_quality of model %s failed", self.model)
            return PartResult.failed(check, exc)
        return PartResult(
            check, "drift" if quality.breached else "ok", quality, breaches={check: quality.breached}
        )


_PART_STATUS: dict[CheckStatus, PartStatus] = {
    "ok": "ok",
    "no_data": "no_data",
    "not_enough_rows": "not_enough_data",
}


def check_result(
    model: str,
    snapshot: WindowSnapshot,
    parts: Mapping[CheckKind, PartResult[Any]],
    share: float,
    min_rows: int,
    duration_seconds: float,
    performance: PerformanceResult | None = None,
) -> CheckResult:
    """The model's `CheckResult` of one run: the results of its checks, as the API, the report and the
    webhook payload show them. Its status is the data drift check's (a window too small for it has no
    verdict at all); a failed check is listed in ``errors``, the others' results stand."""
    drift_part = parts.get("data_drift")
    drift = (
        drift_part.value
        if drift_part is not None and drift_part.value is not None
        else DatasetDrift([], share)
    )
    rows = len(snapshot.frame)
    status: CheckStatus = verdict_status(rows, min_rows)
    if status == "ok" and drift_part is not None and drift_part.status == "no_data":
        status = "no_data"
    prediction = parts.get("prediction_drift")
    quality = parts.get("data_quality")
    multivariate = parts.get("multivariate_drift")
    embeddings = parts.get("embedding_drift")
    return CheckResult(
        model=model,
        check="data_drift",
        window_start=snapshot.start,
        window_end=snapshot.end,
        rows=rows,
        records_seen=snapshot.records_seen,
        drift=drift,
        prediction_drift=None if prediction is None else prediction.value,
        duration_seconds=duration_seconds,
        performance=performance,
        status=status,
        min_rows=min_rows,
        errors={str(part.check): part.failure for part in parts.values() if part.failure is not None},
        data_quality=None if quality is None else quality.value,
        multivariate_drift=None if multivariate is None else _multivariate_value(multivariate),
        embedding_drift=None if embeddings is None else embeddings.value,
    )


def _multivariate_value(part: PartResult[Any]) -> MultivariateDrift:
    value = part.value
    return value if isinstance(value, MultivariateDrift) else MultivariateDrift()
