"""The result gauges are built at scrape time from the latest results: the series equal the results, and
a model (or a feature, a method, a metric) the latest results lack has no series at the next scrape."""

from __future__ import annotations

import dataclasses
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
from driftwatch.drift.multivariate_methods import MultivariateDrift, MultivariateResult
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.performance.cbpe import Estimate, EstimatedPerformance
from driftwatch.performance.evaluation import EstimateEvaluation, MetricEvaluation
from driftwatch.performance.metrics import RealizedPerformance
from driftwatch.performance.monitor import PerformanceResult
from driftwatch.scope import Scope, SegmentKey
from driftwatch.service.collector import ResultsCollector, feature_series_of, result_samples
from driftwatch.service.metrics import (
    BUDGET_FAMILIES,
    CHECK_STATUS,
    RESULT_METRICS,
    Metrics,
    row_budget,
    row_budget_of,
    scope_labels,
    series_budget,
    series_budget_of,
)
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
    # no labelled rows scored: no error series, not a zero
    assert not [key for key in got if key[0].startswith("driftwatch_estimated_performance_error")]


def test_the_estimate_error_and_its_coverage_are_exported_per_metric(
    store: LatestResults, registry: CollectorRegistry
) -> None:
    realized = RealizedPerformance("binary_classification", {"accuracy": 0.9}, {}, 120, 100, {})
    scored = EstimateEvaluation(
        120,
        {
            "accuracy": MetricEvaluation(0.85, 0.8, 0.95, 0.9),  # inside the band
            "f1": MetricEvaluation(0.7, 0.65, 0.75, 0.6),  # outside
            "roc_auc": MetricEvaluation(0.9, math.nan, math.nan, 0.8),  # no band: no coverage
        },
    )
    drift = DatasetDrift([], 0.5)
    result = CheckResult(
        "m",
        "data_drift",
        NOW,
        NOW,
        0,
        0,
        drift,
        None,
        0.0,
        status="no_data",
        performance=PerformanceResult(realized, None, estimate_error=scored),
    )
    store.put(result)
    got = scrape(registry)

    def series(name: str) -> dict[str, float]:
        return {dict(labels)["metric"]: value for (family, labels), value in got.items() if family == name}

    assert series("driftwatch_estimated_performance_error") == pytest.approx(
        {"accuracy": -0.05, "f1": 0.1, "roc_auc": 0.1}
    )
    assert series("driftwatch_estimated_performance_covered") == {"accuracy": 1.0, "f1": 0.0}


def test_every_result_family_is_described_so_a_duplicate_exporter_is_refused(
    registry: CollectorRegistry,
) -> None:
    from prometheus_client import Gauge

    for spec in RESULT_METRICS:
        with pytest.raises(ValueError, match="Duplicated"):
            Gauge(spec.name, spec.documentation, list(spec.labels), registry=registry)


# scopes: segment and version scopes and rolling-baseline comparisons, with their label values


def scoped(
    result: CheckResult, scope: str, version: str = "", segment: str = "", baseline: str = ""
) -> CheckResult:
    check = f"{result.check}@{baseline}" if baseline else result.check
    return dataclasses.replace(
        result, scope=scope, model_version=version, segment=segment, baseline=baseline, check=check
    )


def test_scoped_results_export_their_label_values_and_the_whole_model_keeps_its_series(
    store: LatestResults, registry: CollectorRegistry
) -> None:
    whole = drift_result("m", shift=2.0)
    store.put(whole)
    before = scrape(registry)
    v7 = scoped(drift_result("m"), "v=7", version="7")
    store.put(v7)
    store.put(scoped(drift_result("m", shift=2.0), "country=DE", segment="country=DE"))
    store.put(scoped(drift_result("m", shift=2.0), "", baseline="rolling"))
    got = scrape(registry)
    # the whole model's series are the same (its empty labels are absent, as Prometheus stores them)
    assert {
        k: v
        for k, v in got.items()
        if not ({"model_version", "segment", "baseline"} & dict(k[1]).keys())
        and dict(k[1]).get("check") != "data_drift@rolling"
    } == before
    version = (("model", "m"), ("model_version", "7"))
    assert got[("driftwatch_dataset_drift_share", version)] == v7.drift.drift_share
    x = next(c for c in v7.drift.columns if c.column == "x")
    assert got[("driftwatch_feature_drift_detected", (("feature", "x"), *version))] == int(x.drift_detected)
    assert got[("driftwatch_feature_missing_share", (("feature", "x"), *version))] == 0
    segment = (("model", "m"), ("segment", "country=DE"))
    assert got[("driftwatch_dataset_drift_detected", segment)] == 1
    status = (("check", "data_drift"), ("model", "m"), ("segment", "country=DE"), ("status", "ok"))
    assert got[("driftwatch_check_status", status)] == 1
    # a segment scope has no per-feature series by default: its series stay bounded
    assert not any(
        name.startswith("driftwatch_feature_") and dict(labels).get("segment") for name, labels in got
    )
    rolling = (("baseline", "rolling"), ("model", "m"))
    assert got[("driftwatch_dataset_drift_detected", rolling)] == 1
    assert (
        got[
            ("driftwatch_feature_drift_detected", (("baseline", "rolling"), ("feature", "x"), ("model", "m")))
        ]
        == 1
    )
    status = (("check", "data_drift@rolling"), ("model", "m"), ("status", "ok"))
    assert got[("driftwatch_check_status", status)] == 1
    # the window's quality and performance are the scope's own result's, not the rolling comparison's
    assert not any(
        dict(labels).get("baseline")
        and not name.startswith(("driftwatch_feature_drift", "driftwatch_dataset", "driftwatch_prediction"))
        for name, labels in got
    )
    store.remove_scope("m", "country=DE")
    assert not any(dict(labels).get("segment") for _, labels in scrape(registry))


def test_segment_scopes_export_per_feature_series_when_the_model_asks(store: LatestResults) -> None:
    registry = CollectorRegistry()
    registry.register(ResultsCollector(store, feature_series=lambda model: model == "all"))
    for model in ("all", "whole"):
        store.put(scoped(drift_result(model, shift=2.0), "country=DE", segment="country=DE"))
    got = scrape(registry)
    per_feature = {dict(labels)["model"] for name, labels in got if name == "driftwatch_feature_drift_score"}
    assert per_feature == {"all"}
    assert (
        "driftwatch_feature_missing_share",
        (("feature", "x"), ("model", "all"), ("segment", "country=DE")),
    ) in got


def test_a_rolling_result_named_without_its_baseline_gets_it_in_its_status() -> None:
    result = dataclasses.replace(drift_result("m"), baseline="rolling")
    samples = result_samples(result)
    checks = {labels[1] for labels in samples[CHECK_STATUS]}
    assert checks == {"data_drift@rolling"}


def test_forget_scope_removes_every_pushed_series_of_the_scope_only() -> None:
    metrics = Metrics()
    for version, segment in (("", ""), ("7", ""), ("", "country=DE"), ("", "country:other")):
        metrics.window_rows.labels(model="m", model_version=version, segment=segment).set(10)
        metrics.alert_active.labels(
            model="m", check="data_drift", model_version=version, segment=segment
        ).set(1)
        metrics.alert_transitions.labels(
            model="m", check="data_drift", state="firing", model_version=version, segment=segment
        ).inc()
        if version or segment:
            metrics.baseline_rows.labels(model="m", model_version=version, segment=segment).set(5)
    metrics.segment_share.labels(model="m", model_version="", segment="country=DE").set(0.2)
    metrics.model_version_info.labels(model="m", model_version="7", role="challenger").set(1)
    metrics.challenger_difference.labels(model="m", model_version="7", metric="accuracy").set(-0.03)
    metrics.window_rows.labels(model="n", model_version="", segment="country=DE").set(3)

    def scopes() -> set[tuple[str, str, str, str]]:
        got = scrape(metrics.registry)
        return {
            (
                name,
                dict(labels)["model"],
                dict(labels).get("model_version", ""),
                dict(labels).get("segment", ""),
            )
            for name, labels in got
            if "model" in dict(labels) and not name.endswith("_created")
        }

    metrics.forget_scope("m", "", "country=DE")
    left = scopes()
    assert not {s for s in left if s[1] == "m" and s[3] == "country=DE"}
    assert ("driftwatch_window_rows", "n", "", "country=DE") in left  # another model's scope stays
    assert ("driftwatch_window_rows", "m", "", "country:other") in left
    metrics.forget_scope("m", "7", "")
    left = scopes()
    assert not {s for s in left if s[2] == "7"}
    assert ("driftwatch_window_rows", "m", "", "") in left and (
        "driftwatch_alert_active",
        "m",
        "",
        "",
    ) in left
    with pytest.raises(ValueError, match="whole model"):
        metrics.forget_scope("m", "", "")


# the series budget (series_budget) bounds what a scoped model really exports


def full_result(model: str) -> CheckResult:
    """A result with every family: feature drift and quality, prediction drift, realized and estimated
    performance."""
    result = drift_result(model, shift=2.0)
    prediction = dataclasses.replace(result.drift.columns[0], column="score")
    realized = RealizedPerformance(
        "binary_classification",
        dict.fromkeys(("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss"), 0.8),
        {},
        120,
        100,
        {},
    )
    estimated = EstimatedPerformance(
        300,
        {k: Estimate(0.8, 0.7, 0.9, 0.03) for k in ("accuracy", "precision", "recall", "f1", "roc_auc")},
        {},
        {},
        None,  # type: ignore[arg-type]
    )
    scored = EstimateEvaluation(
        120,
        {
            k: MetricEvaluation(0.8, 0.7, 0.9, 0.75)
            for k in ("accuracy", "precision", "recall", "f1", "roc_auc")
        },
    )
    return dataclasses.replace(
        result,
        prediction_drift=prediction,
        performance=PerformanceResult(realized, estimated, estimate_error=scored),
    )


def scoped_settings() -> ModelSettings:
    return ModelSettings.model_validate(
        {
            "reference": "unused.csv",
            "features": ["x", {"name": "c", "type": "categorical", "quality": {"unseen_share": 0.1}}],
            "prediction": "score",
            "performance": {"task": "binary_classification", "thresholds": {"accuracy": {"max_drop": 0.05}}},
            "segments": {"columns": ["country"], "top_k": 3},
            "versions": {
                "max_live": 2,
                "champion_challenger": {
                    "champion": "7",
                    "challenger": "8",
                    "metrics": ["accuracy"],
                    "alert": {"prediction_drift": True},
                },
            },
            "baseline": {"rolling": "1h", "scopes": ["model", "versions"]},
            "drift": {"multivariate": {}},
        }
    )


MULTIVARIATE = MultivariateDrift(
    {"reconstruction_error": MultivariateResult("reconstruction_error", 1.3, 1.1, 1.5, False, 100, 100)}
)
ALERTS = (
    "data_drift",
    "prediction_drift",
    "data_quality",
    "performance:accuracy",
    "estimated_performance:accuracy",
)
STATES = ("pending", "firing", "resolved", "retired")


def test_series_budget_bounds_a_scrape_of_every_scope_at_its_fullest(store: LatestResults) -> None:
    metrics = Metrics()
    metrics.registry.register(ResultsCollector(store))
    versions = [("v=7", "7", ""), ("v=8", "8", "")]
    segments = [(f"country={v}", "", f"country={v}") for v in "ABCD"] + [
        ("country:other", "", "country:other")
    ]
    scopes = [("", "", ""), *versions, *segments]
    for key, version, segment in scopes:  # multivariate drift too: every scope has its own
        result = dataclasses.replace(full_result("m"), multivariate_drift=MULTIVARIATE)
        store.put(scoped(result, key, version=version, segment=segment))
        metrics.window_rows.labels(model="m", model_version=version, segment=segment).set(100)
        for check in (*ALERTS, "multivariate_drift:reconstruction_error"):
            metrics.alert_active.labels(model="m", check=check, model_version=version, segment=segment).set(0)
            for state in STATES:
                metrics.alert_transitions.labels(
                    model="m", check=check, state=state, model_version=version, segment=segment
                ).inc()
        if segment:
            metrics.segment_share.labels(model="m", model_version=version, segment=segment).set(0.1)
    for key, version, segment in [("", "", ""), *versions]:  # baseline scopes: model and versions
        store.put(scoped(full_result("m"), key, version=version, segment=segment, baseline="rolling"))
        metrics.baseline_rows.labels(model="m", model_version=version, segment=segment).set(50)
        metrics.baseline_coverage.labels(model="m", model_version=version, segment=segment).set(1.0)
        for check in ("data_drift@rolling", "prediction_drift@rolling"):
            metrics.alert_active.labels(model="m", check=check, model_version=version, segment=segment).set(0)
            for state in STATES:
                metrics.alert_transitions.labels(
                    model="m", check=check, state=state, model_version=version, segment=segment
                ).inc()
    for change in ("promoted", "demoted", "retired"):
        metrics.segment_changes.labels(model="m", column="country", change=change).inc()
    metrics.segment_values.labels(model="m", column="country").set(10_000)
    for version, role in (("7", "champion"), ("8", "challenger")):
        metrics.model_version_info.labels(model="m", model_version=version, role=role).set(1)
    for gauge in (
        metrics.challenger_difference,
        metrics.challenger_difference_lower,
        metrics.challenger_difference_upper,
    ):
        gauge.labels(model="m", model_version="8", metric="accuracy").set(-0.01)
    metrics.challenger_prediction_drift.labels(model="m", model_version="8", method="psi").set(0.02)
    for check in ("challenger:accuracy", "challenger:prediction_drift"):
        metrics.alert_active.labels(model="m", check=check, model_version="8", segment="").set(0)
        for state in STATES:
            metrics.alert_transitions.labels(
                model="m", check=check, state=state, model_version="8", segment=""
            ).inc()

    text = generate_latest(metrics.registry).decode()
    series = {
        (s.name, tuple(sorted(s.labels.items())))
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name in BUDGET_FAMILIES
    }
    assert {name for name, _ in series} == set(BUDGET_FAMILIES)  # every family was exercised
    budget = series_budget_of(scoped_settings())
    assert budget == series_budget(
        features=2,
        prediction=True,
        alert_ids=len(ALERTS),
        realized=6,
        estimated=5,
        quality_limits=1,
        versions=2,
        segment_top_k=[3],
        baseline_scopes=3,
        challenger_metrics=1,
        challenger_alerts=2,
        multivariate=1,
    )
    assert len(series) <= budget
    assert len(series) >= 0.95 * budget, (len(series), budget)  # and the bound is close


def test_row_budget_follows_the_windows_of_the_scopes() -> None:
    settings = scoped_settings()
    # model window 50k, 2 versions x 20k, (3 + 1 + 1) segments x 5k (10 x min_rows 500), 3 baselines x 20k
    assert row_budget_of(settings) == (50_000 + 2 * 20_000 + 5 * 5_000 + 3 * 20_000) * 11 // 10
    plain = ModelSettings.model_validate({"reference": "unused.csv", "features": ["x"]})
    assert row_budget_of(plain) == 55_000
    # the design's example: 25 features, top_k 20 (5 retiring), 3 versions, a baseline on the model
    assert (
        row_budget(
            window_max_rows=50_000,
            versions=3,
            version_max_rows=20_000,
            segments=[(20, 5_000)],
            baseline_scopes=1,
            baseline_max_rows=20_000,
        )
        == 286_000
    )


def test_feature_series_follow_the_models_segments_setting_and_scope_labels_name_the_scope() -> None:
    base = {"reference": "unused.csv", "features": ["x", "country"]}
    models = {
        "all": ModelSettings.model_validate(
            {**base, "segments": {"columns": ["country"], "feature_series": "all"}}
        ),
        "whole": ModelSettings.model_validate({**base, "segments": {"columns": ["country"]}}),
        "plain": ModelSettings.model_validate(base),
    }
    wanted = feature_series_of(models)
    assert [wanted(name) for name in ("all", "whole", "plain", "gone")] == [True, False, False, False]
    scope = Scope("m", "8", SegmentKey("country", "DE"))
    assert scope_labels(scope) == {"model_version": "8", "segment": "country=DE"}
    assert scope_labels(Scope("m")) == {"model_version": "", "segment": ""}
    metrics = Metrics()
    metrics.window_rows.labels(model="m", **scope_labels(scope)).set(3)
    assert (
        metrics.registry.get_sample_value(
            "driftwatch_window_rows", {"model": "m", "model_version": "8", "segment": "country=DE"}
        )
        == 3
    )
