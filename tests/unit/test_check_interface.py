"""Every kind of check has one shape: prepared once on the reference, run on a snapshot, a typed result
with its check id, a status in one vocabulary and the breaches it feeds; one failing check does not stop
the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.checks.base import STATUS_VALUES, CheckInput, Labelled, PartResult, run_checks
from driftwatch.checks.ids import CheckId
from driftwatch.checks.window import DataDriftCheck, DataQualityCheck, PredictionDriftCheck
from driftwatch.config import ModelSettings
from driftwatch.drift.dataset import ColumnOptions
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.performance.monitor import (
    EstimatedPerformanceCheck,
    RealizedPerformanceCheck,
)
from driftwatch.service.model_checks import ModelCheck, performance_monitor
from driftwatch.stream.windows import WindowSnapshot

NOW = 1_800_000_000.0
RNG = np.random.default_rng(21)
REFERENCE = pd.DataFrame(
    {"x": RNG.normal(0, 1, 500), "c": RNG.choice(["a", "b"], 500), "score": RNG.uniform(0, 1, 500)}
)
REFERENCE["label"] = (RNG.uniform(0, 1, 500) < REFERENCE["score"]).astype(int)
PROFILE = ReferenceProfile.build(REFERENCE, ["x", "c", "score"], {"c": "categorical"})


def snapshot(rows: int, shift: float = 0.0) -> WindowSnapshot:
    """A window of ``rows`` rows; its own generator, so a test's data does not depend on which ran first."""
    rng = np.random.default_rng([21, rows, round(shift * 1000)])
    frame = pd.DataFrame(
        {
            "x": rng.normal(shift, 1, rows),
            "c": rng.choice(["a", "b", "z"], rows),
            "score": rng.uniform(0, 1, rows),
        }
    )
    return WindowSnapshot(frame, NOW - 3600, NOW, rows, {})


def window_checks() -> list[Any]:
    checks: list[Any] = [
        DataDriftCheck("m", ["x", "c"], {"x": ColumnOptions(), "c": ColumnOptions()}, 0.5, 100),
        PredictionDriftCheck("m", "score", 100),
        DataQualityCheck("m", {"c": {"unseen_share": 0.05}}, 100),
    ]
    for check in checks:
        check.prepare(PROFILE)
    return checks


def test_the_window_checks_return_typed_results_with_their_ids_and_breaches() -> None:
    parts = run_checks(window_checks(), CheckInput(snapshot(400, shift=3.0)), "m")
    assert list(parts) == ["data_drift", "prediction_drift", "data_quality"]
    for kind, part in parts.items():
        assert isinstance(part, PartResult) and part.check == CheckId(kind)
        assert part.status in STATUS_VALUES and part.value is not None and part.failure is None
    assert parts["data_drift"].status == "drift" and parts["data_drift"].breaches == {
        CheckId("data_drift"): True
    }
    assert parts["data_quality"].status == "drift"  # the unseen category "z"
    assert parts["prediction_drift"].breaches == {CheckId("prediction_drift"): False}


@pytest.mark.parametrize(("rows", "status"), [(0, "no_data"), (50, "not_enough_data")])
def test_without_enough_rows_no_check_feeds_the_policy(rows: int, status: str) -> None:
    parts = run_checks(window_checks(), CheckInput(snapshot(rows)), "m")
    assert {part.status for part in parts.values()} == {status}
    assert all(not part.breaches and part.completed for part in parts.values())


def test_a_check_that_raises_gets_an_error_result_and_the_others_run() -> None:
    class Broken:
        kind = "data_quality"
        alert_ids = [CheckId("data_quality")]

        def prepare(self, reference: ReferenceProfile) -> None:
            pass

        def run(self, snapshot: CheckInput) -> PartResult[Any]:
            raise RuntimeError("injected failure")

    checks = window_checks()
    parts = run_checks([Broken(), *checks[:2]], CheckInput(snapshot(400)), "m")
    broken = parts["data_quality"]
    assert broken.status == "error" and not broken.completed and not broken.breaches
    assert broken.failure is not None and "injected failure" in broken.failure
    assert parts["data_drift"].status in ("ok", "drift") and parts["prediction_drift"].value is not None


def test_performance_checks_share_the_shape(tmp_path: Path) -> None:
    REFERENCE.to_csv(tmp_path / "ref.csv", index=False)
    settings = ModelSettings(
        reference=tmp_path / "ref.csv",
        features=["x"],
        prediction="score",
        window={"min_rows": 100},
        performance={
            "task": "binary_classification",
            "label": "label",
            "min_labels": 100,
            "thresholds": {"accuracy": {"max_drop": 0.05}},
        },
    )
    monitor = performance_monitor("m", settings)
    realized, estimated = RealizedPerformanceCheck(), EstimatedPerformanceCheck()
    realized.prepare(monitor)
    estimated.prepare(monitor)
    assert realized.alert_ids == [CheckId("performance", "accuracy")]
    window = snapshot(400)
    scores = window.frame["score"].to_numpy()
    labels = (np.random.default_rng(22).uniform(0, 1, 400) < scores).astype(int)
    parts = run_checks([realized, estimated], CheckInput(window, lambda: Labelled(labels, scores)), "m")
    assert parts["performance"].check == CheckId("performance") and parts["performance"].status == "ok"
    assert parts["performance"].breaches == {CheckId("performance", "accuracy"): False}
    assert parts["estimated_performance"].status in ("ok", "drift") and parts["estimated_performance"].value

    def unreadable() -> Labelled:
        raise RuntimeError("join state unreadable")

    parts = run_checks([realized, estimated], CheckInput(window, unreadable), "m")
    assert parts["performance"].status == "error" and parts["estimated_performance"].completed


def test_model_check_prepares_its_checks_from_the_settings(tmp_path: Path) -> None:
    settings = ModelSettings(
        reference=tmp_path / "ref.csv",
        features=["x", {"name": "c", "type": "categorical"}],
        prediction="score",
    )
    check = ModelCheck("m", settings, PROFILE)
    assert check.kinds == ["data_drift", "prediction_drift"]
    assert [str(i) for i in check.alert_ids] == ["data_drift", "prediction_drift"]
    result = check.run(snapshot(0))
    assert result.status == "no_data" and result.errors == {}
