"""bench/performance_false_alarms.py chose performance.min_labels' default: its measurement must keep
measuring what it says (the daemon's own metrics and rules, on an unchanged model)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np

from driftwatch.config import MIN_LABELS_DEFAULT, PerformanceSettings

ROOT = Path(__file__).resolve().parents[2]
RULE = "accuracy max_drop 0.05"


def bench() -> ModuleType:
    path = ROOT / "bench" / "performance_false_alarms.py"
    spec = importlib.util.spec_from_file_location("performance_false_alarms", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_config_default_is_the_measured_one() -> None:
    assert PerformanceSettings(task="binary_classification").min_labels == MIN_LABELS_DEFAULT == 1000


def test_an_unchanged_model_breaches_often_on_100_labels_and_not_at_the_default() -> None:
    fa = bench()
    model = fa.synthetic(0.3, seed=1)  # the binding model: 30% positives, accuracy about 0.78
    assert 0.27 < model[2].mean() < 0.33
    rates = fa.realized_rates(model, [100, MIN_LABELS_DEFAULT], reps=100, seed=2)
    assert rates[100][1] == rates[MIN_LABELS_DEFAULT][1] == 100
    assert rates[100][0][RULE] > 0.1  # the former default: measured 18% of null checks breach
    assert rates[MIN_LABELS_DEFAULT][0][RULE] <= 0.01  # measured 0.1%
    assert rates[MIN_LABELS_DEFAULT][0]["accuracy max_drop 0.02"] > 0.03  # tight rules need more labels


def test_the_bench_sees_a_real_drop() -> None:
    """A model that got worse (a fifth of its labels flipped: accuracy about 0.12 lower) breaches in
    every check: the rates at the default are low because the model is unchanged, not because the bench
    cannot see a breach."""
    fa = bench()
    model = fa.synthetic(0.2, seed=3)
    labels = model[2]
    flipped = np.where(np.random.default_rng(4).random(len(labels)) < 0.2, 1 - labels, labels)
    rates = fa.realized_rates(model, [MIN_LABELS_DEFAULT], reps=10, seed=5, current_labels=flipped)
    assert rates[MIN_LABELS_DEFAULT][0][RULE] == 1.0


def test_the_estimate_is_measured_on_windows_of_n_predictions() -> None:
    fa = bench()
    rates = fa.estimated_rates(fa.synthetic(0.2, seed=6), [30, 300], reps=30, seed=7)
    assert rates[30][0]["roc_auc max_drop 0.05"] > rates[300][0]["roc_auc max_drop 0.05"] == 0.0


def test_the_readme_quotes_the_default_it_measured() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"**Why {MIN_LABELS_DEFAULT}.**" in text
    assert "bench/performance_false_alarms.py" in text
