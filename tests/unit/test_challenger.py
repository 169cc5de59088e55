"""The champion/challenger check on simulated traffic: Newcombe's interval against statsmodels, alerts
when the challenger is worse (or better) by a margin, no verdict below min_labels, determinism, the
prediction-distribution comparison."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep  # type: ignore[import-untyped]

from driftwatch.checks.base import Labelled
from driftwatch.checks.ids import CheckId
from driftwatch.drift.dataset import ColumnOptions, column_drift
from driftwatch.drift.profile import ColumnProfile
from driftwatch.performance.challenger import (
    ChallengerCheck,
    ChallengerSettings,
    VersionTraffic,
    breaching,
)
from driftwatch.performance.comparison import Interval
from driftwatch.performance.monitor import PerformanceSpec

BINARY = PerformanceSpec("binary_classification", "score", min_labels=50, min_predictions=100)
REGRESSION = PerformanceSpec("regression", "amount", min_labels=50)
END = 1_795_000_000.0
ACCURACY = CheckId("challenger", "accuracy")
DRIFT = CheckId("challenger", "prediction_drift")
SCORE = ColumnProfile.build("score", pd.Series([0.1, 0.9]), "numeric")


def scored(rng: np.random.Generator, n: int, accuracy: float) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """Labels and scores of a binary classifier that is right with probability ``accuracy``."""
    labels = rng.integers(0, 2, n)
    right = rng.random(n) < accuracy
    confidence = rng.uniform(0.5, 1.0, n)  # the score of the class predicted
    positive = np.where(right, labels, 1 - labels) == 1
    return labels, np.where(positive, confidence, 1.0 - confidence)


def traffic(rng: np.random.Generator, n: int, accuracy: float, **extra: Any) -> VersionTraffic:
    labels, scores = scored(rng, n, accuracy)
    return VersionTraffic(Labelled(labels, scores), **extra)


def check(
    spec: PerformanceSpec = BINARY, prediction: ColumnProfile | None = None, **settings: Any
) -> ChallengerCheck:
    options: dict[str, Any] = {"champion": "7", "challenger": "8"} | settings
    return ChallengerCheck("credit-risk", spec, ChallengerSettings(**options), prediction)


def right(part: VersionTraffic, threshold: float = 0.5) -> int:
    labels = np.asarray(part.labelled.labels)
    return int(((np.asarray(part.labelled.predictions) >= threshold).astype(int) == labels).sum())


def test_the_accuracy_interval_is_newcombes_split_interval() -> None:
    rng = np.random.default_rng(1)
    for n1, n2, confidence in [(400, 300, 0.95), (2_000, 2_000, 0.9), (60, 90, 0.99), (55, 1_000, 0.5)]:
        champion, challenger = traffic(rng, n1, 0.9), traffic(rng, n2, 0.86)
        result = check(confidence=confidence).run(champion, challenger, END)
        assert result.value is not None and result.value.design == "split"
        interval = result.value.metrics["accuracy"].interval
        assert interval is not None and interval.method == "newcombe"
        k1, k2 = right(champion), right(challenger)
        lower, upper = confint_proportions_2indep(
            k2, n2, k1, n1, method="newcomb", compare="diff", alpha=1 - confidence
        )
        assert interval.lower == pytest.approx(lower, abs=1e-12)
        assert interval.upper == pytest.approx(upper, abs=1e-12)
        assert interval.estimate == pytest.approx(k2 / n2 - k1 / n1)
        assert result.value.rows == (n1, n2)


def test_fires_when_the_challenger_is_worse_by_more_than_worse_by() -> None:
    rng = np.random.default_rng(2)
    champion, challenger = traffic(rng, 3_000, 0.92), traffic(rng, 3_000, 0.82)
    result = check(worse_by=0.02).run(champion, challenger, END)
    interval = result.value.metrics["accuracy"].interval if result.value else None
    assert interval is not None and interval.upper < -0.02
    assert result.status == "drift" and result.breaches == {ACCURACY: True}
    # a margin wider than the interval's reach: no alert, and the state is fed a clean observation
    wide = check(worse_by=0.5).run(champion, challenger, END)
    assert wide.status == "ok" and wide.breaches == {ACCURACY: False}


def test_does_not_fire_when_the_versions_are_alike_or_the_challenger_is_better() -> None:
    rng = np.random.default_rng(3)
    for accuracy in (0.9, 0.97):
        result = check(worse_by=0.0).run(traffic(rng, 2_000, 0.9), traffic(rng, 2_000, accuracy), END)
        assert result.status == "ok" and result.breaches == {ACCURACY: False}


def test_better_by_fires_when_the_challenger_is_clearly_better() -> None:
    rng = np.random.default_rng(4)
    champion, challenger = traffic(rng, 3_000, 0.8), traffic(rng, 3_000, 0.9)
    assert check(worse_by=0.02).run(champion, challenger, END).breaches == {ACCURACY: False}
    result = check(worse_by=0.02, better_by=0.03).run(champion, challenger, END)
    assert result.status == "drift" and result.breaches == {ACCURACY: True}
    # no margin at all: compared, reported, no alert state fed
    quiet = check(worse_by=None).run(champion, challenger, END)
    assert quiet.status == "ok" and quiet.breaches == {} and quiet.value is not None
    assert check(worse_by=None).alert_ids == []


def test_no_verdict_below_min_labels() -> None:
    rng = np.random.default_rng(5)
    worse = traffic(rng, 49, 0.3)  # far worse, but one label short of min_labels
    result = check(worse_by=0.0).run(traffic(rng, 500, 0.95), worse, END)
    assert result.status == "not_enough_data" and result.breaches == {}
    assert result.value is not None and result.value.metrics == {} and result.value.rows == (500, 49)
    assert result.note is not None and "min_labels 50" in result.note
    # the settings may ask for more labels than the model's performance check
    stricter = check(worse_by=0.0, min_labels=1_000).run(traffic(rng, 900, 0.95), traffic(rng, 900, 0.3), END)
    assert stricter.status == "not_enough_data" and stricter.breaches == {}
    empty = VersionTraffic(Labelled(np.array([], dtype=np.int64), np.array([], dtype=np.float64)))
    assert check().run(empty, empty, END).status == "not_enough_data"


def test_the_same_inputs_give_the_same_bounds() -> None:
    rng = np.random.default_rng(6)
    champion, challenger = traffic(rng, 400, 0.9), traffic(rng, 400, 0.85)
    settings = {"metrics": ("accuracy", "f1", "roc_auc"), "bootstrap": 200}
    first = check(**settings).run(champion, challenger, END)
    again = check(**settings).run(champion, challenger, END)
    assert first.value is not None and again.value is not None
    assert first.value.as_dict() == again.value.as_dict() and first.breaches == again.breaches
    f1 = first.value.metrics["f1"].interval
    assert f1 is not None and f1.method == "bootstrap" and f1.lower < f1.estimate < f1.upper
    # another window end seeds another bootstrap: the closed-form interval does not move
    later = check(**settings).run(champion, challenger, END + 60)
    assert later.value is not None and later.value.metrics["f1"].interval != f1
    assert later.value.metrics["accuracy"] == first.value.metrics["accuracy"]


def test_a_metric_better_low_is_worse_when_the_difference_is_above_the_margin() -> None:
    rng = np.random.default_rng(7)
    truth = rng.normal(100, 10, 1_000)
    champion = VersionTraffic(Labelled(truth, truth + rng.normal(0, 2, 1_000)))
    challenger = VersionTraffic(Labelled(truth, truth + rng.normal(0, 6, 1_000)))
    result = check(REGRESSION, metrics=("mae",), worse_by=1.0, bootstrap=300).run(champion, challenger, END)
    interval = result.value.metrics["mae"].interval if result.value else None
    assert interval is not None and interval.lower > 1.0  # the challenger's error is larger
    assert result.breaches == {CheckId("challenger", "mae"): True}
    assert breaching("mae", Interval(-3.0, -2.0, -1.5, 0.95, "bootstrap"), 1.0, None) is False
    assert breaching("mae", Interval(-3.0, -2.0, -1.5, 0.95, "bootstrap"), 1.0, 1.0) is True
    assert breaching("accuracy", Interval(-0.05, -0.04, -0.03, 0.95, "newcombe"), 0.02, None) is True
    assert breaching("accuracy", Interval(-0.05, -0.04, -0.01, 0.95, "newcombe"), 0.02, None) is False


def test_weighted_rows_and_paired_ids_reach_the_comparison() -> None:
    rng = np.random.default_rng(8)
    labels, first = scored(rng, 600, 0.9)
    _, second = scored(rng, 600, 0.9)
    ids = np.arange(600)
    paired = check().run(
        VersionTraffic(Labelled(labels, first), ids=ids),
        VersionTraffic(Labelled(labels, second), ids=ids),
        END,
    )
    assert paired.value is not None and paired.value.design == "paired"
    weights = np.where(np.arange(600) < 300, 1.0, 2.0)
    weighted = check().run(
        VersionTraffic(Labelled(labels, first, weights)), VersionTraffic(Labelled(labels, second)), END
    )
    interval = weighted.value.metrics["accuracy"].interval if weighted.value else None
    assert interval is not None and interval.method == "newcombe-kish"


def test_prediction_distributions_compared_as_the_prediction_drift_check_does() -> None:
    rng = np.random.default_rng(9)
    champion_scores, shifted = rng.beta(2, 5, 800), rng.beta(5, 2, 700)
    same = rng.permutation(champion_scores)[:700]  # the champion's distribution, as alike as it gets
    labelled = traffic(rng, 300, 0.9).labelled
    champion = VersionTraffic(labelled, predictions=champion_scores)
    expected = column_drift(
        ColumnProfile.build("score", pd.Series(champion_scores), "numeric"), shifted, ColumnOptions()
    )
    alert = check(prediction=SCORE, prediction_drift=True)
    assert DRIFT in alert.alert_ids
    result = alert.run(champion, VersionTraffic(labelled, predictions=shifted), END)
    assert result.value is not None and result.value.prediction_drift == expected
    assert expected.drift_detected and result.status == "drift" and result.breaches[DRIFT] is True
    calm = alert.run(champion, VersionTraffic(labelled, predictions=same), END)
    assert calm.breaches[DRIFT] is False
    # compared but not alerting without alert.prediction_drift
    silent = check(prediction=SCORE).run(champion, VersionTraffic(labelled, predictions=shifted), END)
    assert (
        silent.value is not None
        and silent.value.prediction_drift is not None
        and DRIFT not in silent.breaches
    )
    assert DRIFT not in check(prediction=SCORE).alert_ids
    # no profile or no window predictions: nothing compared
    assert (
        check(prediction_drift=True)
        .run(champion, VersionTraffic(labelled, predictions=shifted), END)
        .value.prediction_drift
        is None
    )  # type: ignore[union-attr]


def test_the_prediction_comparison_needs_window_predictions_not_labels() -> None:
    rng = np.random.default_rng(10)
    few = traffic(rng, 10, 0.9).labelled
    alert = check(prediction=SCORE, prediction_drift=True)
    result = alert.run(
        VersionTraffic(few, predictions=rng.beta(2, 5, 500)),
        VersionTraffic(few, predictions=rng.beta(5, 2, 500)),
        END,
    )
    assert result.value is not None and result.value.status == "not_enough_data"
    assert result.breaches == {DRIFT: True} and result.status == "drift"
    short = alert.run(
        VersionTraffic(few, predictions=rng.beta(2, 5, 500)),
        VersionTraffic(few, predictions=rng.beta(5, 2, 99)),
        END,
    )
    assert short.status == "not_enough_data" and short.breaches == {}
    assert short.note is not None and "prediction distributions not compared" in short.note


def test_the_result_serialises_for_the_api() -> None:
    rng = np.random.default_rng(11)
    result = check(prediction=SCORE, prediction_drift=True, metrics=("accuracy", "f1"), bootstrap=50).run(
        traffic(rng, 300, 0.9, predictions=rng.beta(2, 5, 300)),
        traffic(rng, 300, 0.8, predictions=rng.beta(2, 5, 300)),
        END,
    )
    assert result.value is not None
    body = json.loads(json.dumps(result.value.as_dict()))
    assert body["champion"] == "7" and body["challenger"] == "8" and body["design"] == "split"
    assert set(body["metrics"]) == {"accuracy", "f1"}
    assert body["metrics"]["accuracy"]["interval"]["method"] == "newcombe"
    assert body["prediction_drift"]["column"] == "score"


def test_bad_data_is_an_error_status_and_bad_settings_are_refused() -> None:
    spec = PerformanceSpec("multiclass_classification", "cls", classes=("a", "b"), min_labels=1)
    bad = VersionTraffic(Labelled(np.array(["a", "z"], dtype=object), np.array(["a", "b"], dtype=object)))
    result = ChallengerCheck("m", spec, ChallengerSettings("7", "8")).run(bad, bad, END)
    assert result.status == "error" and result.breaches == {} and result.note is not None
    assert result.failure is None  # the data, not a bug
    with pytest.raises(ValueError, match="not a metric of binary_classification"):
        check(metrics=("mae",))
    for settings in (
        {"challenger": "7"},
        {"metrics": ()},
        {"confidence": 0.45},
        {"confidence": 0.9995},
        {"bootstrap": 0},
        {"worse_by": -0.01},
        {"better_by": math.nan},
        {"min_labels": 0},
    ):
        with pytest.raises(ValueError, match="champion_challenger"):
            ChallengerSettings(**({"champion": "7", "challenger": "8"} | settings))


def test_the_library_and_the_config_file_default_to_the_same_margins() -> None:
    """A comparison built in a notebook alerts as one configured in a file with the keys left out."""
    from driftwatch.config import ChallengerAlertSettings

    library, configured = ChallengerSettings("7", "8"), ChallengerAlertSettings()
    assert (library.worse_by, library.better_by) == (configured.worse_by, configured.better_by)
    assert library.prediction_drift == configured.prediction_drift
