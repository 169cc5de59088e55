"""The estimate error of multiclass CBPE and of DLE: the estimate on exactly the labelled rows against
the metrics realized on them, checked against the estimators' formulas computed here from scratch
(numpy and scikit-learn), with sampling weights, and the label join that keeps a DLE model's features
for those rows."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from sklearn import metrics as skm

from driftwatch.checks.base import Labelled
from driftwatch.performance.cbpe import BAND_SIGMAS
from driftwatch.performance.dle import DLE
from driftwatch.performance.evaluation import EstimateEvaluation
from driftwatch.performance.monitor import PerformanceMonitor, PerformanceSpec
from driftwatch.performance.multiclass_cbpe import MulticlassCBPE
from driftwatch.state.labels import LabelStore
from driftwatch.stream.records import Prediction

CLASSES = ["a", "b", "c"]
FEATURES = ("x", "kind")


def probabilities(rng: np.random.Generator, rows: int, shift: float = 0.0) -> npt.NDArray[np.float64]:
    """Class probabilities of a softmax model on two normal inputs (``shift`` moves the inputs)."""
    x = rng.normal(size=(rows, 2)) + shift
    logits = x @ np.array([[1.5, 0.0], [0.0, 1.0], [-1.5, -0.5]]).T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def drawn(rng: np.random.Generator, p: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    """Labels drawn from the probabilities: the model is calibrated."""
    return np.asarray(CLASSES, dtype=object)[(rng.uniform(size=(len(p), 1)) > p.cumsum(axis=1)).sum(axis=1)]


def maps(p: npt.NDArray[np.float64]) -> list[dict[str, float]]:
    return [dict(zip(CLASSES, row.tolist(), strict=True)) for row in p]


@pytest.fixture(scope="module")
def multiclass() -> PerformanceMonitor:
    rng = np.random.default_rng(0)
    p = probabilities(rng, 4000)
    frame = pd.DataFrame({"probs": maps(p), "label": drawn(rng, p)})
    # no calibration map: the estimate is then the formulas on the logged probabilities themselves
    spec = PerformanceSpec("multiclass_classification", "probs", min_labels=50, calibration="none")
    return PerformanceMonitor("m", spec, frame)


def expected_multiclass(p: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]) -> dict[str, float]:
    """NannyML's multiclass CBPE formulas, written out per class: a row predicted k is right with
    probability p_k; each class's expected TP, FP, FN give precision, recall, f1, macro averaged; roc_auc
    per class with each row a positive of weight p_c and a negative of weight 1 - p_c."""
    predicted = p.argmax(axis=1)
    precision, recall, f1, auc = [], [], [], []
    for c in range(p.shape[1]):
        mine = predicted == c
        tp = float((weights * p[:, c])[mine].sum())
        fp = float((weights * (1 - p[:, c]))[mine].sum())
        fn = float((weights * p[:, c])[~mine].sum())
        precision.append(tp / (tp + fp))
        recall.append(tp / (tp + fn))
        f1.append(2 * precision[-1] * recall[-1] / (precision[-1] + recall[-1]))
        auc.append(
            skm.roc_auc_score(
                np.r_[np.ones(len(p)), np.zeros(len(p))],
                np.r_[p[:, c], p[:, c]],
                sample_weight=np.r_[weights * p[:, c], weights * (1 - p[:, c])],
            )
        )
    return {
        "accuracy": float(np.average(p[np.arange(len(p)), predicted], weights=weights)),
        "precision": float(np.mean(precision)),
        "recall": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
        "roc_auc": float(np.mean(auc)),
    }


def realized_multiclass(
    labels: npt.NDArray[np.object_], p: npt.NDArray[np.float64], weights: npt.NDArray[np.float64] | None
) -> dict[str, float]:
    predicted = np.asarray(CLASSES, dtype=object)[p.argmax(axis=1)]
    return {
        "accuracy": skm.accuracy_score(labels, predicted, sample_weight=weights),
        "precision": skm.precision_score(
            labels, predicted, average="macro", sample_weight=weights, zero_division=0
        ),
        "recall": skm.recall_score(
            labels, predicted, average="macro", sample_weight=weights, zero_division=0
        ),
        "f1": skm.f1_score(labels, predicted, average="macro", sample_weight=weights, zero_division=0),
        "roc_auc": skm.roc_auc_score(
            labels, p, multi_class="ovr", average="macro", labels=CLASSES, sample_weight=weights
        ),
    }


def check_against(
    scored: EstimateEvaluation | None,
    estimates: dict[str, float],
    truth: dict[str, float],
    sigmas: dict[str, float],
    upper_cap: float = 1.0,
) -> None:
    assert scored is not None
    assert set(scored.metrics) == set(estimates)
    for metric, m in scored.metrics.items():
        band = BAND_SIGMAS * sigmas[metric]
        lower, upper = max(0.0, estimates[metric] - band), min(upper_cap, estimates[metric] + band)
        assert m.estimate == pytest.approx(estimates[metric], rel=1e-9), metric
        assert m.realized == pytest.approx(truth[metric], rel=1e-9), metric
        assert m.error == pytest.approx(estimates[metric] - truth[metric], rel=1e-6, abs=1e-12), metric
        assert (m.lower, m.upper) == pytest.approx((lower, upper), rel=1e-9), metric
        assert m.covered is (lower <= truth[metric] <= upper), metric


def test_multiclass_cbpe_on_the_labelled_rows_against_the_formulas(multiclass: PerformanceMonitor) -> None:
    assert isinstance(multiclass.cbpe, MulticlassCBPE)
    rng = np.random.default_rng(3)
    p = probabilities(rng, 800, shift=-0.8)  # a covariate shift: the estimate follows the truth
    labels = drawn(rng, p)
    labelled = Labelled(labels, np.asarray(maps(p), dtype=object))
    realized = multiclass.realized_part(labelled).value
    scored = multiclass.estimate_error(labelled, realized)
    sigmas = {m: s / math.sqrt(800) for m, s in multiclass.cbpe.sigma_scale.items()}
    check_against(scored, expected_multiclass(p, np.ones(800)), realized_multiclass(labels, p, None), sigmas)
    assert scored is not None and scored.rows == 800
    assert scored.metrics["accuracy"].covered  # calibrated: the truth inside the band


def test_multiclass_weights_count_a_row_of_weight_w_as_w_rows(multiclass: PerformanceMonitor) -> None:
    assert isinstance(multiclass.cbpe, MulticlassCBPE)
    rng = np.random.default_rng(4)
    p = probabilities(rng, 600)
    labels = drawn(rng, p)
    weights = rng.choice([1.0, 4.0], size=600)
    weighted = Labelled(labels, np.asarray(maps(p), dtype=object), weights)
    scored = multiclass.estimate_error(weighted, multiclass.realized_part(weighted).value)
    effective = weights.sum() ** 2 / (weights**2).sum()  # Kish: the band of 600 unequal rows is wider
    sigmas = {m: s / math.sqrt(effective) for m, s in multiclass.cbpe.sigma_scale.items()}
    check_against(scored, expected_multiclass(p, weights), realized_multiclass(labels, p, weights), sigmas)
    repeat = weights.astype(int)
    expanded = Labelled(
        np.repeat(labels, repeat), np.asarray(maps(np.repeat(p, repeat, axis=0)), dtype=object)
    )
    by_rows = multiclass.estimate_error(expanded, multiclass.realized_part(expanded).value)
    assert scored is not None and by_rows is not None
    assert scored.errors == pytest.approx(by_rows.errors, rel=1e-9)


def test_multiclass_rows_logged_as_classes_are_not_scored(multiclass: PerformanceMonitor) -> None:
    rng = np.random.default_rng(5)
    p = probabilities(rng, 200)
    labels = drawn(rng, p)
    classes = np.asarray(CLASSES, dtype=object)[p.argmax(axis=1)]
    labelled = Labelled(labels, classes)
    realized = multiclass.realized_part(labelled).value
    assert realized is not None and realized.values  # graded: the classes are predictions
    assert multiclass.estimate_error(labelled, realized) is None  # but CBPE has no probability to read


def regression_rows(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """A regression whose error grows with |x| and is larger for kind "w"."""
    x = rng.normal(loc=shift, size=rows)
    kind = np.where(rng.random(rows) < 0.3, "w", "v").astype(object)
    noise = (1 + np.abs(x)) * np.where(kind == "w", 2.0, 1.0)
    y_pred = 10 + 2 * x
    return pd.DataFrame({"x": x, "kind": kind, "y_pred": y_pred, "y": y_pred + rng.normal(size=rows) * noise})


@pytest.fixture(scope="module")
def regression() -> tuple[PerformanceMonitor, pd.DataFrame]:
    reference = regression_rows(np.random.default_rng(10), 3000)
    spec = PerformanceSpec(
        "regression",
        "y_pred",
        label="y",
        min_labels=50,
        estimate=True,
        features=FEATURES,
        categorical=("kind",),
    )
    return PerformanceMonitor("r", spec, reference), reference


def sigmas_from(reference: pd.DataFrame, size: float) -> dict[str, float]:
    """NannyML's DLE sampling error, from the reference's own losses: std / sqrt(n) for mae, the delta
    method's std / (2 sqrt(n mean)) for rmse, the root of the mean squared error."""
    error = (reference["y"] - reference["y_pred"]).to_numpy()
    absolute, squared = np.abs(error), error**2
    return {
        "mae": float(np.std(absolute) / math.sqrt(size)),
        "rmse": float(np.std(squared) / (2 * math.sqrt(size * squared.mean()))),
    }


def features_of(frame: pd.DataFrame) -> dict[str, npt.NDArray[np.object_]]:
    """The rows' features as the label join gives them: JSON values in object arrays."""
    return {c: np.asarray(frame[c].tolist(), dtype=object) for c in FEATURES}


def test_dle_on_the_labelled_rows_against_the_realized_losses(
    regression: tuple[PerformanceMonitor, pd.DataFrame],
) -> None:
    monitor, reference = regression
    assert monitor.dle is not None
    rows = regression_rows(np.random.default_rng(11), 700, shift=1.0)
    labelled = Labelled(rows["y"].to_numpy(), rows["y_pred"].to_numpy(), None, features_of(rows))
    scored = monitor.estimate_error(labelled, monitor.realized_part(labelled).value)
    predicted = monitor.dle.row_losses(rows)  # the loss models' prediction for each row
    estimates = {"mae": float(predicted["mae"].mean()), "rmse": math.sqrt(predicted["rmse"].mean())}
    truth = {
        "mae": skm.mean_absolute_error(rows["y"], rows["y_pred"]),
        "rmse": math.sqrt(skm.mean_squared_error(rows["y"], rows["y_pred"])),
    }
    check_against(scored, estimates, truth, sigmas_from(reference, 700), upper_cap=math.inf)
    # the loss models learnt where the model errs: under the shift the estimate follows the truth
    assert scored is not None and scored.metrics["mae"].absolute_error < 0.1 * truth["mae"]


def test_dle_weights_count_a_row_of_weight_w_as_w_rows(
    regression: tuple[PerformanceMonitor, pd.DataFrame],
) -> None:
    monitor, reference = regression
    rng = np.random.default_rng(12)
    rows = regression_rows(rng, 500)
    weights = rng.choice([1.0, 2.0, 8.0], size=500)
    weighted = Labelled(rows["y"].to_numpy(), rows["y_pred"].to_numpy(), weights, features_of(rows))
    scored = monitor.estimate_error(weighted, monitor.realized_part(weighted).value)
    expanded_rows = rows.loc[rows.index.repeat(weights.astype(int))]
    expanded = Labelled(
        expanded_rows["y"].to_numpy(), expanded_rows["y_pred"].to_numpy(), None, features_of(expanded_rows)
    )
    by_rows = monitor.estimate_error(expanded, monitor.realized_part(expanded).value)
    assert scored is not None and by_rows is not None
    assert scored.errors == pytest.approx(by_rows.errors, rel=1e-9)
    assert monitor.dle is not None
    effective = weights.sum() ** 2 / (weights**2).sum()
    mae = scored.metrics["mae"]
    assert mae.upper - mae.estimate == pytest.approx(BAND_SIGMAS * sigmas_from(reference, effective)["mae"])


def test_dle_without_the_rows_features_is_not_scored(
    regression: tuple[PerformanceMonitor, pd.DataFrame],
) -> None:
    monitor, _ = regression
    rows = regression_rows(np.random.default_rng(13), 300)
    labelled = Labelled(rows["y"].to_numpy(), rows["y_pred"].to_numpy())
    realized = monitor.realized_part(labelled).value
    assert realized is not None and realized.values
    assert monitor.estimate_error(labelled, realized) is None


def test_dle_reads_the_joins_json_values_as_the_window_reads_them(
    regression: tuple[PerformanceMonitor, pd.DataFrame],
) -> None:
    """Nulls, a number logged as text that is not one, an unseen category: missing values and an
    unknown category to the loss models, as in a window; the rows are still estimated."""
    monitor, _ = regression
    assert monitor.dle is not None
    rows = regression_rows(np.random.default_rng(14), 300)
    features = features_of(rows)
    features["x"][:5] = None
    features["x"][5] = "n/a"
    features["kind"][6] = "never seen"
    labelled = Labelled(rows["y"].to_numpy(), rows["y_pred"].to_numpy(), None, features)
    scored = monitor.estimate_error(labelled, monitor.realized_part(labelled).value)
    window = rows.copy()
    window["x"] = window["x"].astype(object)
    window.loc[:5, "x"] = np.nan
    window.loc[6, "kind"] = "never seen"
    expected = DLE.estimate(monitor.dle, window.astype({"x": float}))
    assert scored is not None
    assert scored.metrics["mae"].estimate == pytest.approx(expected["mae"].value, rel=1e-12)


class Record(Prediction, frozen=True, gc=False):
    pass


def test_the_label_join_keeps_a_dle_models_features_for_its_labelled_rows(tmp_path: Path) -> None:
    store = LabelStore(tmp_path / "labels.sqlite", features={"r": FEATURES})
    t0 = 1_795_000_000.0
    records = [
        Record(
            "r",
            None,
            f"p{i}",
            t0 + i,
            {"x": float(i), "kind": "v" if i % 2 else None, "other": 1},
            1.0 + i,
            None,
        )
        for i in range(6)
    ]
    records.append(Record("c", None, "q0", t0, {"x": 1.0}, 0.5, None))
    store.add_records(records, now=t0 + 10)
    assert store.add_labels(["p4", "p1", "q0"], [5.0, 2.0, 1], now=t0 + 20)["joined"] == 3
    joined, features = store.joined_features("r", 0.0, math.inf)
    assert joined.predictions.tolist() == [2.0, 5.0]
    assert features is not None and list(features) == list(FEATURES)
    assert features["x"].tolist() == [1.0, 4.0] and features["kind"].tolist() == ["v", None]
    assert store.joined_features("c", 0.0, math.inf)[1] is None  # a model that keeps no features
    # a row stored without them (before the model kept features): the rows have none to give
    store.add_predictions("r", ["p9"], [t0 + 9], [3.0], now=t0 + 30, labels=[1.0])
    assert store.joined_features("r", 0.0, math.inf)[1] is None
    store.close()
