"""The gauges of the latest check results, built at scrape time from `driftwatch.service.results.LatestResults`.

A Prometheus custom collector: every scrape reads each model's latest result and yields one family per
`driftwatch.service.metrics.RESULT_METRICS` entry with exactly the series that result has a value for. A series
the latest check has no value for (a feature it could not score, a window without a verdict, a metric
that is undefined, a method that ``auto`` no longer picks, a model that is gone) is therefore absent by
construction: nothing remembers what an older check exported, so nothing has to be deleted by hand, and
/metrics tells the same story as /api/models.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from driftwatch.checks.window import STATUSES, CheckResult
from driftwatch.service import metrics as m
from driftwatch.service.results import LatestResults

__all__ = ["ResultsCollector", "result_samples"]

log = logging.getLogger(__name__)

Samples = dict[m.ResultMetric, dict[tuple[str, ...], float]]


class ResultsCollector(Collector):
    """Yields the result gauges of every model's latest check (see the module docstring)."""

    def __init__(self, results: LatestResults) -> None:
        self._results = results

    def describe(self) -> Iterator[GaugeMetricFamily]:
        """The families, without samples: lets the registry refuse a second exporter of the same names."""
        for spec in m.RESULT_METRICS:
            yield GaugeMetricFamily(spec.name, spec.documentation, labels=spec.labels)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        samples: Samples = {spec: {} for spec in m.RESULT_METRICS}
        for model, result in sorted(self._results.snapshot().items()):
            try:
                found = result_samples(result)
            except Exception:  # a scrape must not fail for one model's odd result; its series are left out
                log.exception("metrics: cannot export the latest check of model %s", model)
                continue
            for spec, series in found.items():
                samples[spec].update(series)
        for spec, series in samples.items():
            family = GaugeMetricFamily(spec.name, spec.documentation, labels=spec.labels)
            for labels, value in series.items():
                family.add_metric(labels, value)
            yield family


def result_samples(result: CheckResult) -> Samples:
    """The series (labels -> value) of each result gauge that ``result`` has a value for."""
    out: Samples = {spec: {} for spec in m.RESULT_METRICS}
    model = result.model
    drift = result.drift
    for column in drift.columns:  # scored features only: no verdict, no drift series
        out[m.FEATURE_DRIFT_SCORE][(model, column.column, column.method)] = column.score
        out[m.FEATURE_DRIFT_THRESHOLD][(model, column.column, column.method)] = column.threshold
        out[m.FEATURE_DRIFT_DETECTED][(model, column.column)] = int(column.drift_detected)
    if drift.columns:
        out[m.DATASET_DRIFT_SHARE][(model,)] = drift.drift_share
        out[m.DATASET_DRIFT_DETECTED][(model,)] = int(drift.dataset_drift)
    for column in drift.columns + drift.errors:
        quality = column.quality
        if quality is None:
            continue
        out[m.FEATURE_MISSING_SHARE][(model, column.column)] = quality.missing_share
        if quality.unseen_share is not None:
            out[m.FEATURE_UNSEEN_SHARE][(model, column.column)] = quality.unseen_share
        if quality.out_of_range_share is not None:
            out[m.FEATURE_OUT_OF_RANGE_SHARE][(model, column.column)] = quality.out_of_range_share
    data_quality = result.data_quality
    if data_quality is not None:  # measured in this check: 1 for its breaches, 0 for the other limits
        breached = {(b.feature, b.measure) for b in data_quality.breaches}
        for feature, limits in data_quality.limits.items():
            for measure in limits:
                out[m.FEATURE_QUALITY_BREACH][(model, feature, measure)] = int((feature, measure) in breached)
    prediction = result.prediction_drift
    if prediction is not None and prediction.error is None:
        out[m.PREDICTION_DRIFT_SCORE][(model, prediction.method)] = prediction.score
        out[m.PREDICTION_DRIFT_DETECTED][(model,)] = int(prediction.drift_detected)
    for status in STATUSES:
        out[m.CHECK_STATUS][(model, result.check, status)] = int(status == result.status)
    performance = result.performance
    if performance is not None:
        realized = performance.realized
        if realized is not None:
            out[m.WINDOW_LABELLED_ROWS][(model,)] = realized.labelled_rows
            _finite_metrics(out[m.PERFORMANCE], model, realized.values)
        estimated = performance.estimated
        if estimated is not None:
            estimates = estimated.estimates.items()
            _finite_metrics(out[m.ESTIMATED_PERFORMANCE], model, {k: e.value for k, e in estimates})
            _finite_metrics(out[m.ESTIMATED_PERFORMANCE_LOWER], model, {k: e.lower for k, e in estimates})
            _finite_metrics(out[m.ESTIMATED_PERFORMANCE_UPPER], model, {k: e.upper for k, e in estimates})
    return out


def _finite_metrics(series: dict[tuple[str, ...], float], model: str, values: dict[str, float]) -> None:
    """Per-metric series: an undefined (NaN) metric is left out, so a dashboard shows a gap, not NaN."""
    for metric, value in values.items():
        if math.isfinite(value):
            series[(model, metric)] = value
