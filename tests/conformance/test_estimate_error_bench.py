"""bench/estimate_error.py measured how far to trust CBPE's estimate (README, "How far to trust it"): its
measurement must keep measuring what it says, the daemon's own evaluation on labelled rows, near 0 inside
the band while CBPE's assumptions hold and large outside it under concept drift."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def bench() -> ModuleType:
    path = ROOT / "bench" / "estimate_error.py"
    spec = importlib.util.spec_from_file_location("estimate_error_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_error_is_noise_inside_the_band_while_cbpe_holds_and_large_under_concept_drift() -> None:
    b = bench()
    fitted = b.monitor()
    for name in ("stable", "covariate shift (x ~ N(1, 1))", "sampled (negatives at 25%, weighted)"):
        errors, outside, _ = b.evaluate(fitted, b.SCENARIOS[name], 1000, reps=40, seed=3)
        accuracy = np.array([e for e, _ in errors["accuracy"]])
        assert abs(accuracy.mean()) < 0.01 and np.abs(accuracy).max() < 0.05, name
        assert np.mean(outside) <= 0.05, name
    errors, outside, _ = b.evaluate(fitted, b.SCENARIOS["concept drift k=0.5"], 1000, reps=40, seed=3)
    accuracy = np.array([e for e, _ in errors["accuracy"]])
    assert accuracy.mean() > 0.03  # the estimate stays at the reference while accuracy falls
    assert np.mean(outside) > 0.9
    assert np.mean([e for e, _ in errors["roc_auc"]]) > 0.08
    assert np.mean([bool(c) for _, c in errors["roc_auc"]]) < 0.1  # the truth is outside the band


def test_multiclass_cbpe_and_dle_are_measured_the_same_way() -> None:
    """The multiclass CBPE and DLE measurements: the daemon's evaluation of labelled rows, near 0 while
    the estimator's assumptions hold and one-sided, outside the band, under concept drift."""
    b = bench()
    for fitted, scenarios, metric, stable, drift in (
        (b.multiclass_monitor(), b.MULTICLASS, "accuracy", 0.02, 0.1),
        (b.dle_monitor(), b.DLE_SCENARIOS, "mae", 0.15, -0.4),
    ):
        errors, outside, _ = b.evaluate_labelled(fitted, scenarios["stable"], 1000, reps=20, seed=3)
        values = np.array([e for e, _ in errors[metric]])
        assert abs(values.mean()) < stable and np.mean(outside) <= 0.1, metric
        drifted = list(scenarios)[-1]
        errors, outside, _ = b.evaluate_labelled(fitted, scenarios[drifted], 1000, reps=20, seed=3)
        values = np.array([e for e, _ in errors[metric]])
        assert (values.mean() > drift) if drift > 0 else (values.mean() < drift), metric
        assert np.mean(outside) > 0.9, metric
