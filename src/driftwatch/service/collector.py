"""The gauges of the latest check results, built at scrape time from `driftwatch.service.results.LatestResults`.

A Prometheus custom collector: every scrape reads every latest result (each model's, and each scope's
and rolling-baseline comparison's of a scoped model, with its label values) and yields one family per
`driftwatch.service.metrics.RESULT_METRICS` entry with exactly the series those results have a value for. A series
the latest check has no value for (a feature it could not score, a window without a verdict, a metric
that is undefined, a method that ``auto`` no longer picks, a model that is gone) is therefore absent by
construction: nothing remembers what an older check exported, so nothing has to be deleted by hand, and
/metrics tells the same story as /api/models.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from driftwatch.checks.window import STATUSES, CheckResult
from driftwatch.config import ModelSettings
from driftwatch.service import metrics as m
from driftwatch.service.results import LatestResults

__all__ = ["ResultsCollector", "check_name", "feature_series_of", "result_samples"]

log = logging.getLogger(__name__)

Samples = dict[m.ResultMetric, dict[tuple[str, ...], float]]


class ResultsCollector(Collector):
    """Yields the result gauges of every model's latest checks (see the module docstring): the whole
    model's and, for a scoped model, each segment and version scope's and each rolling-baseline
    comparison's, with their label values.

    ``feature_series(model)``: whether segment scopes of ``model`` export the per-feature families
    too (segments.feature_series: all). By default they do not: only the whole model and its version
    scopes have per-feature series, so a model's series stay bounded by `series_budget` whatever its
    segments."""

    def __init__(
        self, results: LatestResults, feature_series: Callable[[str], bool] = lambda model: False
    ) -> None:
        self._results = results
        self._feature_series = feature_series

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families, without samples: lets the registry refuse a second exporter of the same names."""
        for spec in m.RESULT_METRICS:
            yield GaugeMetricFamily(spec.name, spec.documentation, labels=spec.labels)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        samples: Samples = {spec: {} for spec in m.RESULT_METRICS}
        features: dict[str, bool] = {}
        for result in self._results.everything():
            model = result.model
            try:
                per_feature = True
                if result.segment:
                    if model not in features:
                        features[model] = bool(self._feature_series(model))
                    per_feature = features[model]
                found = result_samples(result, per_feature=per_feature)
            except Exception:  # a scrape must not fail for one model's odd result; its series are left out
                log.exception(
                    "metrics: cannot export the latest check of model %s%s", model, _scope_text(result)
                )
                continue
            for spec, series in found.items():
                samples[spec].update(series)
        for spec, series in samples.items():
            family = GaugeMetricFamily(spec.name, spec.documentation, labels=spec.labels)
            for labels, value in series.items():
                family.add_metric(labels, value)
            yield family


def feature_series_of(models: Mapping[str, ModelSettings]) -> Callable[[str], bool]:
    """`ResultsCollector`'s ``feature_series`` for configured models: a model's segment scopes export
    per-feature families when its ``segments.feature_series`` is ``all``."""

    def wanted(model: str) -> bool:
        settings = models.get(model)
        segments = None if settings is None else settings.segments
        return segments is not None and segments.feature_series == "all"

    return wanted


def _scope_text(result: CheckResult) -> str:
    parts = [
        f"scope {result.scope}" if result.scope else "",
        f"baseline {result.baseline}" if result.baseline else "",
    ]
    text = ", ".join(p for p in parts if p)
    return f" ({text})" if text else ""


def check_name(result: CheckResult) -> str:
    """The ``check`` label of a result's status: its check, with ``@rolling`` for a rolling-baseline
    comparison (``data_drift@rolling``), so both comparisons of a scope have their own status."""
    check = result.check
    if result.baseline and "@" not in check:
        check = f"{check}@{result.baseline}"
    return check


def result_samples(result: CheckResult, per_feature: bool = True) -> Samples:
    """The series (labels -> value) of each result gauge that ``result`` has a value for.

    Every series ends with the result's scope labels (model_version, segment; empty for the whole
    model), drift series also with its baseline (empty: the training reference). ``per_feature``:
    export the per-feature families (feature drift, missing, unseen and out-of-range shares, quality
    breaches); a segment scope's are left out unless its model asks for them. A rolling-baseline
    result exports its drift series and status only: the window's quality and performance are its
    scope's training-reference result's."""
    out: Samples = {spec: {} for spec in m.RESULT_METRICS}
    model = result.model
    scope = (result.model_version, result.segment)
    drift_scope = (*scope, result.baseline)
    rolling = bool(result.baseline)
    drift = result.drift
    if per_feature:
        for column in drift.columns:  # scored features only: no verdict, no drift series
            out[m.FEATURE_DRIFT_SCORE][(model, column.column, column.method, *drift_scope)] = column.score
            out[m.FEATURE_DRIFT_THRESHOLD][(model, column.column, column.method, *drift_scope)] = (
                column.threshold
            )
            out[m.FEATURE_DRIFT_DETECTED][(model, column.column, *drift_scope)] = int(column.drift_detected)
    if drift.columns:
        out[m.DATASET_DRIFT_SHARE][(model, *drift_scope)] = drift.drift_share
        out[m.DATASET_DRIFT_DETECTED][(model, *drift_scope)] = int(drift.dataset_drift)
    if per_feature and not rolling:
        for column in drift.columns + drift.errors:
            quality = column.quality
            if quality is None:
                continue
            out[m.FEATURE_MISSING_SHARE][(model, column.column, *scope)] = quality.missing_share
            if quality.unseen_share is not None:
                out[m.FEATURE_UNSEEN_SHARE][(model, column.column, *scope)] = quality.unseen_share
            if quality.out_of_range_share is not None:
                out[m.FEATURE_OUT_OF_RANGE_SHARE][(model, column.column, *scope)] = quality.out_of_range_share
        data_quality = result.data_quality
        if data_quality is not None:  # measured in this check: 1 for its breaches, 0 for the other limits
            breached = {(b.feature, b.measure) for b in data_quality.breaches}
            for feature, limits in data_quality.limits.items():
                for measure in limits:
                    out[m.FEATURE_QUALITY_BREACH][(model, feature, measure, *scope)] = int(
                        (feature, measure) in breached
                    )
    prediction = result.prediction_drift
    if prediction is not None and prediction.error is None:
        out[m.PREDICTION_DRIFT_SCORE][(model, prediction.method, *drift_scope)] = prediction.score
        out[m.PREDICTION_DRIFT_DETECTED][(model, *drift_scope)] = int(prediction.drift_detected)
    for name, embedding in (result.embedding_drift or {}).items():
        found = embedding.drift
        if found is not None and not rolling:  # a verdict only: no verdict, no drift series
            out[m.EMBEDDING_DRIFT_SCORE][(model, name, found.method, *scope)] = found.score
            out[m.EMBEDDING_DRIFT_THRESHOLD][(model, name, found.method, *scope)] = found.threshold
            out[m.EMBEDDING_DRIFT_DETECTED][(model, name, *scope)] = int(found.drifted)
    check = check_name(result)
    for status in STATUSES:
        out[m.CHECK_STATUS][(model, check, status, *scope)] = int(status == result.status)
    multivariate = result.multivariate_drift
    if multivariate is not None and not rolling:
        for method, joint in multivariate.results.items():
            key = (model, method, *scope)
            if math.isfinite(joint.value):
                out[m.MULTIVARIATE_DRIFT_VALUE][key] = joint.value
                out[m.MULTIVARIATE_DRIFT_DETECTED][key] = int(joint.alert)
            if joint.lower_threshold is not None:
                out[m.MULTIVARIATE_DRIFT_LOWER][key] = joint.lower_threshold
            if joint.upper_threshold is not None:
                out[m.MULTIVARIATE_DRIFT_UPPER][key] = joint.upper_threshold
    performance = result.performance
    if performance is not None and not rolling:
        realized = performance.realized
        if realized is not None:
            out[m.WINDOW_LABELLED_ROWS][(model, *scope)] = realized.labelled_rows
            _finite_metrics(out[m.PERFORMANCE], (model,), scope, realized.values)
        estimated = performance.estimated
        if estimated is not None:
            estimates = estimated.estimates.items()
            _finite_metrics(out[m.ESTIMATED_PERFORMANCE], (model,), scope, {k: e.value for k, e in estimates})
            _finite_metrics(
                out[m.ESTIMATED_PERFORMANCE_LOWER], (model,), scope, {k: e.lower for k, e in estimates}
            )
            _finite_metrics(
                out[m.ESTIMATED_PERFORMANCE_UPPER], (model,), scope, {k: e.upper for k, e in estimates}
            )
        evaluation = performance.estimate_error
        if evaluation is not None:
            _finite_metrics(out[m.ESTIMATED_PERFORMANCE_ERROR], (model,), scope, evaluation.errors)
            covered = {k: e.covered for k, e in evaluation.metrics.items()}
            _finite_metrics(
                out[m.ESTIMATED_PERFORMANCE_COVERED],
                (model,),
                scope,
                {k: float(c) for k, c in covered.items() if c is not None},
            )
    return out


def _finite_metrics(
    series: dict[tuple[str, ...], float],
    head: tuple[str, ...],
    scope: tuple[str, str],
    values: dict[str, float],
) -> None:
    """Per-metric series: an undefined (NaN) metric is left out, so a dashboard shows a gap, not NaN."""
    for metric, value in values.items():
        if math.isfinite(value):
            series[(*head, metric, *scope)] = value
