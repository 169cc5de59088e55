"""The result gauges are built at scrape time from the latest results: the series equal the results, and
a model (or a feature, a method, a metric) the latest results lack has no series at the next scrape."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from driftwatch.checks.window import STATUSES, CheckResult
from driftwatch.config import ModelSettings, WindowSettings
from driftwatch.drift.dataset import DatasetDrift
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.performance.cbpe import Estimate, EstimatedPerformance
from driftwatch.performance.metrics import RealizedPerformance
from driftwatch.performance.monitor import PerformanceResult
from driftwatch.service.collector import ResultsCollector
from driftwatch.service.metrics import RESULT_METRICS
from driftwatch.service.model_checks import ModelCheck
from driftwatch.service.results import LatestResults
from driftwatch.stream.windows import WindowSnapshot

NOW = 1_800_000_000.0


def scrape(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if v))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def drift_result(model: str, shift: float = 0.0) -> CheckResult:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(0, 1, 400), "c": rng.choice(["a", "b"], 400)})
    settings = ModelSettings(
        reference=Path("unused.csv"),
        features=["x", {"name": "c", "type": "categorical", "quality": {"unseen_share": 0.1}}],
        window=WindowSettings(min_rows=10),
    )
    profile = ReferenceProfile.build(reference, ["x", "c"], {"c": "categorical"})
    frame = pd.DataFrame({"x": rng.normal(shift, 1, 300), "c": rng.choice(["a", "b", "z"], 300)})
    return ModelCheck(model, settings, profile).run(WindowSnapshot(frame, NOW - 3600, NOW, 300, {}))


@pytest.fixture
def store() -> LatestResults:
    return LatestResults()


@pytest.fixture
def registry(store: LatestResults) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ResultsCollector(store))
    return registry


def test_the_series_equal_the_latest_results(store: LatestResults, registry: CollectorRegistry) -> None:
    result = drift_result("m", shift=2.0)
    store.put(result)
    got = scrape(registry)
    for column in result.drift.columns:
        labels = (("feature", column.column), ("method", column.method), ("model", "m"))
        assert got[("driftwatch_feature_drift_score", labels)] == pytest.approx(column.score)
        assert got[("driftwatch_feature_drift_threshold", labels)] == column.threshold
        detected = (("feature", column.column), ("model", "m"))
        assert got[("driftwatch_feature_drift_detected", detected)] == int(column.drift_detected)
        assert column.quality is not None
        assert got[("driftwatch_feature_missing_share", detected)] == column.quality.missing_share
    assert got[("driftwatch_dataset_drift_share", (("model", "m"),))] == result.drift.drift_share
    assert got[("driftwatch_dataset_drift_detected", (("model", "m"),))] == 1
    for status in STATUSES:
        labels = (("check", "data_drift"), ("model", "m"), ("status", status))
        assert got[("driftwatch_check_status", labels)] == int(status == "ok")
    assert result.data_quality is not None
    assert got[
        (
            "driftwatch_feature_quality_breach",
            (("feature", "c"), ("measure", "unseen_share"), ("model", "m")),
        )
    ] == int(result.data_quality.breached)


def test_a_model_removed_from_the_results_has_no_series_at_the_next_scrape(
    store: LatestResults, registry: CollectorRegistry
) -> None:
    store.put(drift_result("m"))
    store.put(drift_result("n"))
    assert any(dict(labels).get("model") == "m" for _, labels in scrape(registry))
    store.remove("m")
    got = scrape(registry)
    assert not any(dict(labels).get("model") == "m" for _, labels in got)
    assert any(dict(labels).get("model") == "n" for _, labels in got)


def test_a_result_without_a_verdict_replaces_the_older_ones_series(
    store: LatestResults, registry: CollectorRegistry
) -> None:
    store.put(drift_result("m", shift=2.0))
    empty = CheckResult("m", "data_drift", NOW, NOW, 0, 0, DatasetDrift([], 0.5), None, 0.0, status="no_data")
    store.put(empty)
    got = scrape(registry)
    assert {name for name, _ in got} == {"driftwatch_check_status"}
    assert (
        got[("driftwatch_check_status", (("check", "data_drift"), ("model", "m"), ("status", "no_data")))]
        == 1
    )


def test_performance_series_leave_out_undefined_metrics(
    store: LatestResults, registry: CollectorRegistry
) -> None:
    realized = RealizedPerformance(
        "binary_classification", {"accuracy": 0.9, "roc_auc": math.nan}, {}, 120, 100, {}
    )
    estimated = EstimatedPerformance(
        300,
        {"accuracy": Estimate(0.8, 0.7, 0.9, 0.03)},
        {},
        {},
        None,  # type: ignore[arg-type]
    )
    performance = PerformanceResult(realized, estimated)
    drift = DatasetDrift([], 0.5)
    store.put(
        CheckResult(
            "m", "data_drift", NOW, NOW, 0, 0, drift, None, 0.0, status="no_data", performance=performance
        )
    )
    got = scrape(registry)
    assert got[("driftwatch_performance", (("metric", "accuracy"), ("model", "m")))] == 0.9
    assert ("driftwatch_performance", (("metric", "roc_auc"), ("model", "m"))) not in got
    assert got[("driftwatch_window_labelled_rows", (("model", "m"),))] == 120
    assert got[("driftwatch_estimated_performance_lower", (("metric", "accuracy"), ("model", "m")))] == 0.7
    assert got[("driftwatch_estimated_performance_upper", (("metric", "accuracy"), ("model", "m")))] == 0.9


def test_every_result_family_is_described_so_a_duplicate_exporter_is_refused(
    registry: CollectorRegistry,
) -> None:
    from prometheus_client import Gauge

    for spec in RESULT_METRICS:
        with pytest.raises(ValueError, match="Duplicated"):
            Gauge(spec.name, spec.documentation, list(spec.labels), registry=registry)
