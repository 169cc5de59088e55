"""A model's checks, built from its configuration: where `ModelSettings` become library arguments.

`ModelCheck` translates one model's settings (features, methods, thresholds, drift share, min_rows,
quality limits, performance) into the checks of `driftwatch.checks.window` and `driftwatch.performance.monitor`,
prepares each once on the reference, and runs them all on a window snapshot into the model's
`CheckResult`. The library modules never see the configuration; the daemon's runner and the tests go
through here.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping
from typing import Any

from driftwatch.checks.base import Check, CheckInput, Labelled, PartResult, run_checks
from driftwatch.checks.embedding import EmbeddingDriftCheck, EmbeddingSpec
from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.checks.multivariate import MultivariateDriftCheck
from driftwatch.checks.window import (
    CheckResult,
    DataDriftCheck,
    DataQualityCheck,
    PredictionDriftCheck,
    check_result,
)
from driftwatch.config import MetricThreshold, ModelSettings
from driftwatch.drift.dataset import ColumnOptions
from driftwatch.drift.multivariate_methods import FittedMultivariate, MultivariateOptions
from driftwatch.drift.profile import ColumnType, ReferenceProfile
from driftwatch.performance.metrics import Threshold
from driftwatch.performance.monitor import (
    EstimatedPerformanceCheck,
    PerformanceMonitor,
    PerformanceSpec,
    RealizedPerformanceCheck,
    performance_result,
)
from driftwatch.reference import (
    ReferenceDataError,
    is_profile,
    load_frame,
    load_labelled,
    load_multivariate_reference,
)
from driftwatch.stream.windows import WindowSnapshot

__all__ = [
    "ModelCheck",
    "multivariate_columns",
    "multivariate_options",
    "multivariate_reference",
    "performance_monitor",
]


def multivariate_options(model: ModelSettings) -> MultivariateOptions:
    """The multivariate drift methods' options of a model's ``drift.multivariate`` section: by default
    chunks of the window's max_rows (at most a hundredth of the reference)."""
    settings = model.drift.multivariate
    if settings is None:
        return MultivariateOptions(max_chunk_size=model.window.max_rows)
    return MultivariateOptions(
        n_components=settings.n_components,
        chunk_size=settings.chunk_size,
        max_chunk_size=model.window.max_rows,
    )


def multivariate_columns(model: ModelSettings, types: Mapping[str, ColumnType]) -> dict[str, ColumnType]:
    """The columns multivariate drift looks at, with their types (configured, else from the reference)."""
    return {column: types[column] for column in model.multivariate_columns()}


def multivariate_reference(
    name: str, model: ModelSettings, types: Mapping[str, ColumnType]
) -> dict[str, FittedMultivariate] | None:
    """A model's multivariate drift methods fitted on its reference (or read from its saved profile),
    None without a ``drift.multivariate`` section. ``types``: the reference's column types."""
    settings = model.drift.multivariate
    if settings is None:
        return None
    return load_multivariate_reference(
        model.reference,
        settings.methods,
        multivariate_columns(model, types),
        multivariate_options(model),
        key=f"models.{name}",
    )


def performance_monitor(name: str, model: ModelSettings) -> PerformanceMonitor:
    """The performance monitor of a model with a ``performance`` section, prepared on its labelled
    reference rows; `ReferenceDataError` naming the setting to fix when the reference cannot grade."""
    settings = model.performance
    if settings is None or model.prediction is None:
        raise ValueError(f"model {name} has no performance settings")
    where = f"models.{name}"
    if is_profile(model.reference):
        frame = load_labelled(model.reference)
        if frame is None:
            raise ReferenceDataError(
                f"{where}.performance needs the reference's labelled rows, but {where}.reference "
                f"({model.reference}) is a saved profile without them; rebuild it with `driftwatch "
                f"profile --prediction-column {model.prediction} --label-column {settings.label}`, or "
                f"point reference at the Parquet or CSV file with both columns"
            )
    else:
        # categorical features as text, as drift reads them: what a regression's DLE codes
        frame = load_frame(
            model.reference,
            text=[f.name for f in model.features if f.type == "categorical"],
            maps=[model.prediction],
        )

    def rules(thresholds: Mapping[str, MetricThreshold]) -> dict[str, Threshold]:
        return {metric: Threshold(t.min, t.max, t.max_drop) for metric, t in thresholds.items()}

    spec = PerformanceSpec(
        task=settings.task,
        prediction=model.prediction,
        label=settings.label,
        decision_threshold=settings.decision_threshold,
        classes=tuple(settings.classes) if settings.classes is not None else None,
        min_labels=settings.min_labels,
        min_predictions=model.window.min_rows,
        rules=rules(settings.thresholds),
        estimate=settings.estimate,
        estimate_rules=None if settings.estimate_thresholds is None else rules(settings.estimate_thresholds),
        calibration=settings.calibration,
        features=tuple(f.name for f in model.features),
        categorical=tuple(f.name for f in model.features if f.type == "categorical"),
    )
    return PerformanceMonitor(name, spec, frame, where, str(model.reference))


class ModelCheck:
    """Every check of one model, each prepared once on the reference profile (and, with performance
    monitoring, on the labelled reference's metrics and CBPE fit: ``monitor``)."""

    check = "data_drift"  # the scheduled run's name in the duration and run counters

    def __init__(
        self,
        name: str,
        settings: ModelSettings,
        profile: ReferenceProfile,
        monitor: PerformanceMonitor | None = None,
        multivariate: Mapping[str, FittedMultivariate] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.profile = profile
        self.monitor = monitor
        self.multivariate = multivariate  # the fitted multivariate methods (method -> fitted), if any
        min_rows = settings.window.min_rows
        self.options = {f.name: ColumnOptions(f.method, f.threshold) for f in settings.features}
        data_drift = DataDriftCheck(
            name, [f.name for f in settings.features], self.options, settings.drift.share, min_rows
        )
        window_checks: list[Check[ReferenceProfile, Any]] = [data_drift]
        if settings.prediction:
            window_checks.append(PredictionDriftCheck(name, settings.prediction, min_rows))
        quality = DataQualityCheck(name, settings.quality_limits(), min_rows)
        for check in [*window_checks, quality]:
            check.prepare(profile)
        if quality.limits:
            window_checks.append(quality)
        if settings.embeddings:
            embeddings = EmbeddingDriftCheck(
                name,
                [EmbeddingSpec(n, e.method, e.parameters()) for n, e in settings.embeddings.items()],
                min_rows,
            )
            embeddings.prepare(profile)
            window_checks.append(embeddings)
        checks: list[Check[Any, Any]] = list(window_checks)
        if multivariate is not None and settings.drift.multivariate is not None:
            columns = {c: profile.columns[c].type for c in settings.multivariate_columns()}
            joint = MultivariateDriftCheck(name, settings.drift.multivariate.methods, columns, min_rows)
            joint.prepare(multivariate)
            checks.append(joint)
        if monitor is not None:
            realized = RealizedPerformanceCheck()
            realized.prepare(monitor)
            checks.append(realized)
            if monitor.estimates:
                estimated = EstimatedPerformanceCheck()
                estimated.prepare(monitor)
                checks.append(estimated)
        self.checks = checks
        self.feature_profile = data_drift.profile
        prediction = settings.prediction
        self.prediction_profile = profile.columns.get(prediction) if prediction else None
        self.quality_limits = quality.limits

    @property
    def kinds(self) -> list[CheckKind]:
        """The kinds of check this model runs, in the order they run."""
        return [check.kind for check in self.checks]

    @property
    def alert_ids(self) -> list[CheckId]:
        """The alert states this model's checks feed."""
        return [check_id for check in self.checks for check_id in check.alert_ids]

    def run_parts(
        self, snapshot: WindowSnapshot, labelled: Callable[[], Labelled] | None = None
    ) -> tuple[dict[CheckKind, PartResult[Any]], CheckResult]:
        """Every check's result on ``snapshot`` (``labelled``: reads the labelled predictions of the
        look-back), and the model's `CheckResult` made of them."""
        started = time.perf_counter()
        if labelled is not None:  # read once: the realized check and the estimate's error grade the same rows
            labelled = functools.cache(labelled)
        parts = run_checks(self.checks, CheckInput(snapshot, labelled), self.name)
        performance = None
        if self.monitor is not None:
            realized = parts.get("performance")
            estimate_error = None
            if labelled is not None and realized is not None and realized.value is not None:
                estimate_error = self.monitor.estimate_error(labelled(), realized.value)
            performance = performance_result(
                realized, parts.get("estimated_performance"), self.monitor.cbpe_problem, estimate_error
            )
        result = check_result(
            self.name,
            snapshot,
            parts,
            self.settings.drift.share,
            self.settings.window.min_rows,
            time.perf_counter() - started,
            performance,
        )
        return parts, result

    def run(self, snapshot: WindowSnapshot, labelled: Callable[[], Labelled] | None = None) -> CheckResult:
        return self.run_parts(snapshot, labelled)[1]
