"""CBPE on synthetic data with known probabilities: the estimates track realized performance through a
covariate shift, calibration is chosen when (and only when) it helps, and without it miscalibrated scores
miss. The data: three normal features, labels drawn as Bernoulli(p) with p = sigmoid(w.x + b), a reference
from N(0, I) and 50 windows of 5,000 rows whose features move and spread, which moves the true accuracy."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from sklearn import metrics as skm  # type: ignore[import-untyped]

from driftwatch.performance import CBPE, CBPEError, Threshold, expected_calibration_error

WEIGHTS = np.array([1.5, -1.0, 0.8])
BIAS = -0.3
SHIFT_DIRECTION = np.array([1.0, -0.5, 0.3])
WINDOWS = 50
WINDOW_ROWS = 5_000
REFERENCE_ROWS = 20_000
BOUND = 0.02


def sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def overconfident(p: np.ndarray) -> np.ndarray:
    """A model whose scores are right in order and at 0.5 but far too sure: sigmoid(2 * logit(p))."""
    return sigmoid(2.0 * np.log(p / (1.0 - p)))


def draw(
    rng: np.random.Generator, rows: int, shift: float = 0.0, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    features = rng.normal(size=(rows, 3)) * spread + shift * SHIFT_DIRECTION
    p = sigmoid(features @ WEIGHTS + BIAS)
    return p, rng.uniform(size=rows) < p


@dataclass(frozen=True)
class Study:
    reference: tuple[np.ndarray, np.ndarray]
    windows: list[tuple[np.ndarray, np.ndarray]]


@pytest.fixture(scope="module")
def study() -> Study:
    rng = np.random.default_rng(20240611)
    reference = draw(rng, REFERENCE_ROWS)
    # the mean slides across the decision boundary while the spread varies independently of it
    shifts = np.linspace(-1.0, 1.0, WINDOWS)
    spreads = 0.6 + 0.8 * rng.permutation(WINDOWS) / (WINDOWS - 1)
    windows = [
        draw(rng, WINDOW_ROWS, float(shift), float(spread))
        for shift, spread in zip(shifts, spreads, strict=True)
    ]
    return Study(reference, windows)


def errors(cbpe: CBPE, study: Study, transform: object = None) -> dict[str, np.ndarray]:
    """Estimated minus realized accuracy and roc_auc per window, realized accuracy, and band coverage."""
    found: dict[str, list[float]] = {"accuracy": [], "roc_auc": [], "realized_accuracy": [], "covered": []}
    for p, y in study.windows:
        scores = overconfident(p) if transform else p
        estimates = cbpe.estimate(scores)
        accuracy = skm.accuracy_score(y, scores >= cbpe.threshold)
        roc_auc = skm.roc_auc_score(y, scores)
        found["accuracy"].append(estimates["accuracy"].value - accuracy)
        found["roc_auc"].append(estimates["roc_auc"].value - roc_auc)
        found["realized_accuracy"].append(accuracy)
        found["covered"].append(
            estimates["accuracy"].lower <= accuracy <= estimates["accuracy"].upper
            and estimates["roc_auc"].lower <= roc_auc <= estimates["roc_auc"].upper
        )
    return {name: np.asarray(values) for name, values in found.items()}


def within(differences: np.ndarray) -> float:
    return float(np.mean(np.abs(differences) <= BOUND))


def test_calibrated_scores_track_realized_performance_through_covariate_shift(study: Study) -> None:
    cbpe = CBPE.fit(*study.reference)
    # the scores are the true probabilities: isotonic regression would only add noise, so it is left out
    assert cbpe.calibration.method == "none"
    found = errors(cbpe, study)
    assert np.ptp(found["realized_accuracy"]) >= 0.05
    assert within(found["accuracy"]) >= 0.9
    assert within(found["roc_auc"]) >= 0.9
    assert found["covered"].mean() >= 0.9


@pytest.fixture(scope="module")
def overconfident_reference(study: Study) -> tuple[np.ndarray, np.ndarray]:
    p, y = study.reference
    return overconfident(p), y


def test_calibration_brings_miscalibrated_scores_back_within_bound(
    study: Study, overconfident_reference: tuple[np.ndarray, np.ndarray]
) -> None:
    cbpe = CBPE.fit(*overconfident_reference)
    assert cbpe.calibration.method == "isotonic"
    assert (
        cbpe.calibration.ece_isotonic is not None and cbpe.calibration.ece_isotonic < cbpe.calibration.ece_raw
    )
    found = errors(cbpe, study, transform=overconfident)
    assert np.ptp(found["realized_accuracy"]) >= 0.05
    assert within(found["accuracy"]) >= 0.9
    assert within(found["roc_auc"]) >= 0.9
    assert found["covered"].mean() >= 0.9


def test_without_calibration_miscalibrated_scores_miss(
    study: Study, overconfident_reference: tuple[np.ndarray, np.ndarray]
) -> None:
    raw = CBPE.fit(*overconfident_reference, calibration="none", resamples=5)
    assert raw.calibration.method == "none"
    found = errors(raw, study, transform=overconfident)
    # overconfident scores promise more correct predictions and cleaner separation than there are
    assert within(found["accuracy"]) < 0.5 and np.mean(found["accuracy"]) > BOUND
    assert within(found["roc_auc"]) < 0.5 and np.mean(found["roc_auc"]) > BOUND


def test_estimates_are_the_expected_confusion_matrix_and_roc_curve() -> None:
    rng = np.random.default_rng(3)
    reference = rng.uniform(size=500)
    cbpe = CBPE.fit(
        reference, rng.uniform(size=500) < reference, threshold=0.4, calibration="none", resamples=5
    )
    scores = np.round(rng.uniform(size=300), 1)  # rounded: many tied scores
    estimates = cbpe.estimate(scores)
    above = scores >= 0.4
    tp, fp = scores[above].sum(), (1 - scores[above]).sum()
    fn, tn = scores[~above].sum(), (1 - scores[~above]).sum()
    assert estimates["accuracy"].value == pytest.approx((tp + tn) / len(scores))
    assert estimates["precision"].value == pytest.approx(tp / (tp + fp))
    assert estimates["recall"].value == pytest.approx(tp / (tp + fn))
    assert estimates["f1"].value == pytest.approx(2 * tp / (2 * tp + fp + fn))
    # area under the expected ROC curve: the chance a unit of positive mass outscores a unit of negative
    # mass, ties counting half (a row's own positive and negative mass tie with each other)
    pos, neg = scores, 1 - scores
    higher = (scores[:, None] > scores[None, :]) + 0.5 * (scores[:, None] == scores[None, :])
    assert estimates["roc_auc"].value == pytest.approx(
        (pos[:, None] * neg[None, :] * higher).sum() / (pos.sum() * neg.sum())
    )


def test_band_is_three_sigma_shrinking_with_window_size(study: Study) -> None:
    p, y = study.reference
    cbpe = CBPE.fit(p, y, calibration="none")
    for metric in ("accuracy", "precision", "recall", "f1", "roc_auc"):
        assert cbpe.sigma(metric, 4 * WINDOW_ROWS) == pytest.approx(cbpe.sigma(metric, WINDOW_ROWS) / 2)
    # the bootstrap agrees with the binomial standard error of accuracy
    accuracy = cbpe.reference["accuracy"]
    assert cbpe.sigma("accuracy", WINDOW_ROWS) == pytest.approx(
        math.sqrt(accuracy * (1 - accuracy) / WINDOW_ROWS), rel=0.2
    )
    small = cbpe.estimate(p[:50])["recall"]
    assert small.lower >= 0.0 and small.upper <= 1.0
    assert small.upper - small.lower <= 6 * small.sigma


def test_breach_when_the_estimate_crosses_a_rule(study: Study) -> None:
    p, y = study.reference
    cbpe = CBPE.fit(p, y, calibration="none", resamples=5)
    rules = {"accuracy": Threshold(max_drop=0.05), "roc_auc": Threshold(min=0.5)}
    uncertain = draw(np.random.default_rng(1), WINDOW_ROWS, spread=0.3)[0]  # rows crowd the boundary
    result = cbpe.estimated_performance(uncertain, rules)
    assert result.breaches == {"accuracy": True, "roc_auc": False} and result.breached
    assert cbpe.estimated_performance(p[:WINDOW_ROWS], rules).breaches == {
        "accuracy": False,
        "roc_auc": False,
    }
    document = result.as_dict()
    assert document["status"] == "breach" and document["rows"] == WINDOW_ROWS
    with pytest.raises(ValueError, match="no mae"):
        cbpe.estimated_performance(uncertain, {"mae": Threshold(max=1.0)})


@pytest.mark.parametrize(
    ("scores", "labels", "match"),
    [
        (np.linspace(0, 1, 50), np.arange(50) % 2, "at least 100 labelled rows"),
        (np.linspace(0, 1, 500), np.ones(500), "0 negative labels"),
        (np.linspace(-1, 1, 500), np.arange(500) % 2, "in \\[0, 1\\]"),
        (np.linspace(0, 1, 500), np.arange(500) % 3, "0/1"),
        (np.linspace(0, 1, 500), np.arange(400) % 2, "500 scores but 400 labels"),
    ],
)
def test_reference_cbpe_cannot_use_is_refused(scores: np.ndarray, labels: np.ndarray, match: str) -> None:
    with pytest.raises(CBPEError, match=match):
        CBPE.fit(scores, labels)


def test_window_errors() -> None:
    rng = np.random.default_rng(0)
    p = rng.uniform(size=500)
    cbpe = CBPE.fit(p, rng.uniform(size=500) < p, calibration="none", resamples=5)
    with pytest.raises(CBPEError, match="no scores"):
        cbpe.estimate([])
    with pytest.raises(CBPEError, match="NaN"):
        cbpe.estimate([0.3, math.nan])
    # scores that are all exactly 0 or 1 are predicted labels: read as certainties they would make every
    # estimate 1.0, so CBPE refuses them
    with pytest.raises(CBPEError, match="hard labels"):
        cbpe.estimate(np.zeros(20))
    with pytest.raises(CBPEError, match="hard labels"):
        cbpe.estimate(np.array([0.0, 1.0, 1.0]))
    with pytest.raises(CBPEError, match="hard labels"):
        CBPE.fit((p >= 0.5).astype(float), rng.uniform(size=500) < p, resamples=5)
    # calibrated probabilities of 0 promise no positive at all: no ROC curve, and no band around a
    # missing number
    certain = CBPE.fit(p, p >= 0.5, calibration="isotonic", resamples=5)
    nothing = certain.estimate(np.full(20, 0.2))
    assert nothing["accuracy"].value == 1.0 and nothing["recall"].value == 0.0
    assert math.isnan(nothing["roc_auc"].value) and math.isnan(nothing["roc_auc"].upper)
    assert nothing["roc_auc"].as_dict()["value"] is None


def test_expected_calibration_error() -> None:
    p = np.full(1000, 0.25)
    assert expected_calibration_error(p, np.arange(1000) % 4 == 0) == 0.0
    assert expected_calibration_error(p, np.zeros(1000)) == pytest.approx(0.25)
    rng = np.random.default_rng(0)
    q = rng.uniform(size=20_000)
    y = rng.uniform(size=20_000) < q
    assert expected_calibration_error(q, y) < 0.02 < expected_calibration_error(q**2, y)
