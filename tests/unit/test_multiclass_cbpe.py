"""Multiclass CBPE on data with known probabilities: estimates follow the realized metrics through a
covariate shift, the bands hold the realized values at their stated rate, maps and matrices are read
alike, and inputs CBPE cannot read are refused with the reason."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from driftwatch.errors import CBPEError
from driftwatch.performance.cbpe import ESTIMATED_METRICS
from driftwatch.performance.metrics import Threshold, realized
from driftwatch.performance.multiclass_cbpe import MulticlassCBPE, probability_rows

CLASSES = ["high", "low", "mid"]  # sorted: realized multiclass roc_auc wants sorted classes
WEIGHTS = np.array([[1.5, 0.0], [0.0, 1.0], [-1.5, -0.5]])


def draw(rng: np.random.Generator, rows: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities (the truth's) and labels drawn from them."""
    x = rng.normal(size=(rows, 2)) + shift
    logits = x @ WEIGHTS.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = (rng.uniform(size=(rows, 1)) > p.cumsum(axis=1)).sum(axis=1)
    return p, np.asarray(CLASSES)[labels]


@cache
def fitted() -> MulticlassCBPE:
    p, y = draw(np.random.default_rng(0), 10_000)
    return MulticlassCBPE.fit(p, y, classes=CLASSES)


def test_estimates_follow_a_covariate_shift() -> None:
    cbpe = fitted()
    rng = np.random.default_rng(1)
    errors = {metric: [] for metric in ESTIMATED_METRICS}
    inside = 0
    for shift in np.linspace(-1.5, 1.5, 12):
        p, y = draw(rng, 3000, shift)
        estimate = cbpe.estimate(p)
        truth = realized("multiclass_classification", y, p, classes=CLASSES)
        for metric in ESTIMATED_METRICS:
            errors[metric].append(abs(estimate[metric].value - truth[metric]))
            inside += estimate[metric].lower <= truth[metric] <= estimate[metric].upper
    for metric, gaps in errors.items():
        assert np.mean(gaps) < 0.015, metric
    assert inside >= 0.9 * 12 * len(ESTIMATED_METRICS)  # 3-sigma bands: nearly every realized value


def test_maps_and_matrices_give_the_same_estimate() -> None:
    p, _ = draw(np.random.default_rng(2), 500)
    maps = [dict(zip(CLASSES, row.tolist(), strict=True)) for row in p]
    from_maps = fitted().estimate(maps)
    from_matrix = fitted().estimate(p)
    assert {m: e.value for m, e in from_maps.items()} == {m: e.value for m, e in from_matrix.items()}
    omitted = [{k: v for k, v in row.items() if v > 0.01} for row in maps]  # an omitted class is 0
    assert probability_rows(omitted, CLASSES).shape == (500, 3)


def test_rules_and_reference() -> None:
    p, _ = draw(np.random.default_rng(3), 2000, shift=1.5)
    result = fitted().estimated_performance(p, {"accuracy": Threshold(max_drop=0.0)})
    assert result.rows == 2000
    assert set(result.reference) >= set(ESTIMATED_METRICS)
    assert result.breaches == {"accuracy": result.estimates["accuracy"].value < result.reference["accuracy"]}
    with pytest.raises(ValueError, match="log_loss"):
        fitted().estimated_performance(p, {"log_loss": Threshold(max=1.0)})


def test_miscalibrated_probabilities_are_calibrated_per_class() -> None:
    rng = np.random.default_rng(4)
    p, y = draw(rng, 10_000)
    sharp = p**3 / (p**3).sum(axis=1, keepdims=True)  # overconfident
    cbpe = MulticlassCBPE.fit(sharp, y, classes=CLASSES)
    assert cbpe.calibration.method == "isotonic"
    assert all(c.calibration.ece_isotonic < c.calibration.ece_raw for c in cbpe.class_calibration)
    window, labels = draw(rng, 5000, shift=1.0)
    window_sharp = window**3 / (window**3).sum(axis=1, keepdims=True)
    truth = realized("multiclass_classification", labels, window_sharp, classes=CLASSES)["accuracy"]
    calibrated = cbpe.estimate(window_sharp)["accuracy"].value
    raw = MulticlassCBPE.fit(sharp, y, classes=CLASSES, calibration="none").estimate(window_sharp)
    # one-vs-rest maps then renormalisation (NannyML's method) do not calibrate the joint distribution
    # exactly, but they take most of the error away
    assert abs(calibrated - truth) < 0.03
    assert abs(raw["accuracy"].value - truth) > 0.1


def test_refusals() -> None:
    p, y = draw(np.random.default_rng(5), 1000)
    with pytest.raises(CBPEError, match="at least 100"):
        MulticlassCBPE.fit(p[:50], y[:50], classes=CLASSES)
    with pytest.raises(CBPEError, match="at least 3 classes"):
        MulticlassCBPE.fit(p[:, :2], (p[:, 0] > p[:, 1]).astype(int), classes=[0, 1])
    one_hot = np.eye(3)[p.argmax(axis=1)]
    with pytest.raises(CBPEError, match="one-hot"):
        MulticlassCBPE.fit(one_hot, y, classes=CLASSES)
    with pytest.raises(CBPEError, match="one-hot"):
        fitted().estimate(one_hot)
    with pytest.raises(CBPEError, match="not in classes"):
        fitted().estimate([{"low": 0.5, "other": 0.5}])
    with pytest.raises(CBPEError, match="no probabilities"):
        fitted().estimate(np.empty((0, 3)))
    rare = y.copy()
    rare[rare == "high"] = "mid"
    rare[:2] = "high"
    with pytest.raises(CBPEError, match="labels per class"):
        MulticlassCBPE.fit(p, rare, classes=CLASSES)
