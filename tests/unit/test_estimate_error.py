"""The estimate scored against the labels: the estimate on exactly the labelled rows against the
metrics realized on them, per metric (error, band coverage), as the monitor, the model's check, the
offline command and the Python API give it."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest

import driftwatch
from driftwatch.checks.base import Labelled
from driftwatch.offline import format_table, performance_data
from driftwatch.performance.cbpe import ESTIMATED_METRICS, Estimate
from driftwatch.performance.evaluation import MetricEvaluation, evaluate_estimate
from driftwatch.performance.metrics import realized
from driftwatch.performance.monitor import PerformanceMonitor, PerformanceSpec

SPEC = PerformanceSpec("binary_classification", "score", min_labels=50, min_predictions=100)


def calibrated(rng: np.random.Generator, rows: int) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]:
    """Scores and labels drawn from them: CBPE's assumptions hold."""
    scores = rng.beta(2, 2, rows)
    return scores, (rng.uniform(size=rows) < scores).astype(np.int64)


@pytest.fixture(scope="module")
def monitor() -> PerformanceMonitor:
    scores, labels = calibrated(np.random.default_rng(0), 5000)
    return PerformanceMonitor("m", SPEC, pd.DataFrame({"score": scores, "label": labels}))


def test_an_evaluation_is_estimate_minus_realized_with_the_band_coverage() -> None:
    scored = evaluate_estimate(
        {
            "accuracy": Estimate(0.80, 0.75, 0.85, 0.0167),
            "f1": Estimate(0.70, 0.68, 0.72, 0.0067),
            "roc_auc": Estimate(math.nan, math.nan, math.nan, 0.01),
            "precision": Estimate(0.9, math.nan, math.nan, math.nan),
        },
        {"accuracy": 0.78, "f1": 0.75, "roc_auc": 0.8, "precision": 0.85, "log_loss": 0.4},
        rows=300,
    )
    assert scored.rows == 300
    assert set(scored.metrics) == {"accuracy", "f1", "precision"}  # no estimate of roc_auc: no error
    accuracy, f1 = scored.metrics["accuracy"], scored.metrics["f1"]
    assert accuracy.error == pytest.approx(0.02) and accuracy.covered is True
    assert f1.error == pytest.approx(-0.05) and f1.absolute_error == pytest.approx(0.05)
    assert f1.covered is False
    assert scored.metrics["precision"].covered is None  # no band to fall in
    assert scored.as_dict()["metrics"]["precision"] == {  # type: ignore[index]
        "estimate": 0.9,
        "lower": None,
        "upper": None,
        "realized": 0.85,
        "error": pytest.approx(0.05),
        "absolute_error": pytest.approx(0.05),
        "covered": None,
    }


def test_the_monitor_scores_the_estimate_of_exactly_the_labelled_rows(monitor: PerformanceMonitor) -> None:
    scores, labels = calibrated(np.random.default_rng(1), 2000)
    labelled = Labelled(labels, scores)
    part = monitor.realized_part(labelled)
    assert part.value is not None
    scored = monitor.estimate_error(labelled, part.value)
    assert monitor.cbpe is not None and scored is not None
    estimates = monitor.cbpe.estimate(scores)
    assert scored.rows == 2000 and set(scored.metrics) == set(ESTIMATED_METRICS)
    for metric, m in scored.metrics.items():
        assert m.estimate == estimates[metric].value
        assert m.realized == part.value.values[metric]
        assert m.error == pytest.approx(estimates[metric].value - part.value.values[metric])
        # CBPE's assumptions hold: the truth is inside the 3-sigma band, and the error is small
        assert m.covered is True, (metric, m)
        assert abs(m.error) < 0.05


def test_sampling_weights_weigh_the_estimate_as_they_weigh_the_realized_metrics(
    monitor: PerformanceMonitor,
) -> None:
    # a row of weight 2 counts as the row twice, on both sides
    rng = np.random.default_rng(2)
    scores, labels = calibrated(rng, 600)
    weights = rng.choice([1.0, 3.0], size=600)
    weighted = Labelled(labels, scores, weights)
    repeat = weights.astype(int)
    expanded = Labelled(np.repeat(labels, repeat), np.repeat(scores, repeat))
    by_weight = monitor.estimate_error(weighted, monitor.realized_part(weighted).value)
    by_rows = monitor.estimate_error(expanded, monitor.realized_part(expanded).value)
    unweighted = Labelled(labels, scores)
    ignoring = monitor.estimate_error(unweighted, monitor.realized_part(unweighted).value)
    assert by_weight is not None and by_rows is not None and ignoring is not None
    assert by_weight.rows == 600  # the rows graded, not their weight
    assert by_weight.errors == pytest.approx(by_rows.errors)
    assert by_weight.errors != pytest.approx(ignoring.errors)
    # the band of a weighted estimate is that of its effective size (sum w)^2 / sum w^2: unequal weights
    # make the 600 rows worth fewer, so the band is wider than 600 unweighted rows'
    assert monitor.cbpe is not None
    sigma = monitor.cbpe.estimate(scores, weights)["accuracy"].sigma
    effective = weights.sum() ** 2 / (weights**2).sum()
    assert sigma == pytest.approx(monitor.cbpe.sigma_scale["accuracy"] / math.sqrt(effective))
    assert sigma > monitor.cbpe.sigma("accuracy", 600)


def test_labels_of_a_single_class_leave_roc_auc_without_an_error(monitor: PerformanceMonitor) -> None:
    scores = np.random.default_rng(3).uniform(0.6, 0.9, 200)
    labelled = Labelled(np.ones(200, dtype=np.int64), scores)
    part = monitor.realized_part(labelled)
    assert part.value is not None and math.isnan(part.value.values["roc_auc"])
    scored = monitor.estimate_error(labelled, part.value)
    assert scored is not None
    assert set(scored.metrics) == set(ESTIMATED_METRICS) - {"roc_auc"}
    assert "roc_auc" not in scored.as_dict()["metrics"]  # type: ignore[operator]


def test_without_enough_labels_there_is_no_evaluation(monitor: PerformanceMonitor) -> None:
    for rows in (0, 10):  # none, and fewer than min_labels 50
        labelled = Labelled(np.ones(rows, dtype=np.int64), np.full(rows, 0.7))
        part = monitor.realized_part(labelled)
        assert monitor.estimate_error(labelled, part.value) is None
        result = monitor.run(labelled.labels, labelled.predictions, None, np.full(500, 0.7))
        assert result.estimated is not None and result.estimate_error is None
        assert result.as_dict()["estimate_error"] is None


def test_labels_logged_instead_of_scores_are_not_estimated(monitor: PerformanceMonitor) -> None:
    labels = np.random.default_rng(4).integers(0, 2, 100)
    labelled = Labelled(labels, labels.astype(np.float64))
    part = monitor.realized_part(labelled)
    assert part.value is not None and part.value.values  # realized performance of labels is fine
    assert monitor.estimate_error(labelled, part.value) is None


def test_a_monitor_without_an_estimator_has_no_evaluation() -> None:
    scores, labels = calibrated(np.random.default_rng(5), 1000)
    spec = PerformanceSpec("binary_classification", "score", estimate=False)
    plain = PerformanceMonitor("m", spec, pd.DataFrame({"score": scores, "label": labels}))
    labelled = Labelled(labels, scores)
    assert plain.estimate_error(labelled, plain.realized_part(labelled).value) is None


def test_the_model_check_reads_the_labelled_rows_once_and_reports_the_error(
    monitor: PerformanceMonitor,
) -> None:
    from driftwatch.config import ModelSettings
    from driftwatch.drift.profile import ReferenceProfile
    from driftwatch.service.model_checks import ModelCheck
    from driftwatch.stream.windows import WindowSnapshot

    scores, labels = calibrated(np.random.default_rng(6), 1000)
    frame = pd.DataFrame({"x": scores, "score": scores})
    settings = ModelSettings.model_validate(
        {
            "reference": "unused.csv",
            "features": ["x"],
            "prediction": "score",
            "performance": {"task": "binary_classification"},
        }
    )
    profile = ReferenceProfile.build(frame, ["x", "score"], {})
    checks = ModelCheck("m", settings, profile, monitor)
    reads: list[int] = []

    def read() -> Labelled:
        reads.append(1)
        return Labelled(labels, scores)

    reader: Callable[[], Labelled] = read
    result = checks.run(WindowSnapshot(frame, 0.0, 60.0, 1000, {}), reader)
    assert len(reads) == 1
    assert result.performance is not None and result.performance.realized is not None
    scored = result.performance.estimate_error
    assert scored is not None and scored.rows == 1000
    assert scored.errors == pytest.approx(
        {
            metric: monitor.cbpe.estimate(scores)[metric].value - result.performance.realized.values[metric]  # type: ignore[union-attr]
            for metric in ESTIMATED_METRICS
        }
    )
    assert result.as_dict()["performance"]["estimate_error"]["rows"] == 1000


def test_the_command_and_the_api_give_the_same_evaluation() -> None:
    rng = np.random.default_rng(7)
    ref_scores, ref_labels = calibrated(rng, 3000)
    reference = pd.DataFrame({"score": ref_scores, "label": ref_labels})
    scores, labels = calibrated(rng, 800)
    current = pd.DataFrame({"score": scores, "label": labels.astype(np.float64)})
    current.loc[400:, "label"] = np.nan  # half the rows labelled
    out = performance_data(reference, current, "binary_classification", "score", "label")
    command = out["estimate_error"]
    assert command["rows"] == 400
    truth = realized("binary_classification", labels[:400], scores[:400])
    for metric, m in command["metrics"].items():
        assert m["realized"] == pytest.approx(truth[metric])
        assert m["error"] == pytest.approx(m["estimate"] - truth[metric])
    api = driftwatch.estimate_error(reference, current, prediction="score", label="label", min_labels=1)
    assert api.rows == 400
    assert api.errors == pytest.approx({metric: m["error"] for metric, m in command["metrics"].items()})
    assert isinstance(api.metrics["accuracy"], MetricEvaluation)
    # without labels: no figure, nothing made up
    unlabelled = current.assign(label=np.nan)
    assert "estimate_error" not in performance_data(
        reference, unlabelled, "binary_classification", "score", "label"
    )
    none = driftwatch.estimate_error(reference, unlabelled, prediction="score", label="label")
    assert (none.rows, none.metrics) == (0, {})
    # fewer labelled rows than min_labels (default 1000, as realized_performance): no figure either
    few = driftwatch.estimate_error(reference, current, prediction="score", label="label")
    assert (few.rows, few.metrics) == (400, {})


def test_the_table_prints_the_error_per_metric() -> None:
    from driftwatch.drift.dataset import DatasetDrift
    from driftwatch.offline import OfflineCheck

    rng = np.random.default_rng(8)
    ref_scores, ref_labels = calibrated(rng, 3000)
    reference = pd.DataFrame({"score": ref_scores, "label": ref_labels})
    scores, labels = calibrated(rng, 500)
    current = pd.DataFrame({"score": scores, "label": labels})
    extra = performance_data(reference, current, "binary_classification", "score", "label")
    check = OfflineCheck(DatasetDrift([], 0.5), None, {}, {}, reference, current, extra=extra)
    lines = [line for line in format_table(check).splitlines() if line.startswith("estimate error ")]
    assert [line.split(":")[0] for line in lines] == [
        f"estimate error {m}" for m in sorted(ESTIMATED_METRICS)
    ]
    accuracy = extra["estimate_error"]["metrics"]["accuracy"]
    assert f"{accuracy['error']:+.4f}" in lines[0] and "on the 500 labelled rows" in lines[0]
