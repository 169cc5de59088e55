"""DLE (driftwatch.performance.dle): what it refuses, and how it reads a window.

Its numbers against NannyML's are in tests/conformance/test_dle_nannyml.py.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from driftwatch.errors import DLEError
from driftwatch.performance.dle import DLE
from driftwatch.performance.metrics import Threshold


def _frame(n: int = 2000, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 4, size=n) + shift
    colour = rng.choice(["red", "blue"], size=n).astype(object)
    scale = x * np.where(colour == "red", 2.0, 1.0)
    return pd.DataFrame({"x": x, "colour": colour, "y_hat": np.zeros(n), "y": rng.normal(scale=scale)})


@pytest.fixture(scope="module")
def dle() -> DLE:
    return DLE.fit(_frame(), ["x", "colour"], "y_hat", "y")


def test_fit_learns_reference_metrics_and_categorical_columns(dle: DLE) -> None:
    reference = _frame()
    assert dle.categorical == ("colour",)
    assert dle.metrics == ("mae", "rmse")
    assert dle.reference["mae"] == pytest.approx(np.abs(reference["y"]).mean())
    assert dle.reference["rmse"] == pytest.approx(np.sqrt(np.square(reference["y"]).mean()))


def test_a_covariate_shift_raises_the_estimate_and_breaches_a_rule(dle: DLE) -> None:
    calm = dle.estimated_performance(_frame(1000, seed=1).drop(columns="y"), {"mae": Threshold(max_drop=0.2)})
    shifted = dle.estimated_performance(
        _frame(1000, seed=2, shift=1.5).drop(columns="y"), {"mae": Threshold(max_drop=0.2)}
    )
    assert not calm.breached
    assert shifted.breached and shifted.breaches == {"mae": True}
    assert shifted.estimates["mae"].value > calm.estimates["mae"].upper
    assert shifted.rows == 1000
    assert shifted.as_dict()["calibration"] is None  # CBPE's calibration: a regression has none


def test_window_reading(dle: DLE) -> None:
    window = _frame(300, seed=3).drop(columns="y")
    window.loc[:9, "y_hat"] = np.nan  # rows without a prediction are not estimated
    window.loc[10:19, "colour"] = "green"  # an unseen category is a category of its own
    window["x"] = window["x"].astype(object)
    window.loc[20:29, "x"] = "oops"  # a bad number in the window is missing, not an error
    result = dle.estimated_performance(window)
    assert result.rows == 290
    assert np.isfinite(result.estimates["mae"].value)
    with pytest.raises(DLEError, match=r"no column\(s\) colour"):
        dle.estimate(window.drop(columns="colour"))
    with pytest.raises(DLEError, match="no values in 'y_hat'"):
        dle.estimate(window.assign(y_hat=np.nan))
    with pytest.raises(ValueError, match="no r2"):
        dle.estimated_performance(window, {"r2": Threshold(min=0.5)})


@pytest.mark.parametrize(
    ("change", "kwargs", "message"),
    [
        (
            lambda f: f.head(50),
            {},
            r"50 rows with both a prediction in 'y_hat' and a label in 'y'.*at least 100",
        ),
        (lambda f: f.assign(y=np.nan), {}, r"0 rows with both"),
        (lambda f: f.drop(columns="y"), {}, r"no column\(s\) y \(it has x, colour, y_hat\)"),
        (lambda f: f.assign(y="high"), {}, r"label column 'y' holds 'high', not a number"),
        (
            lambda f: f.assign(x=["a"] * len(f)),
            {"categorical": []},
            r"feature 'x' holds 'a'.*declare the column categorical",
        ),
        (lambda f: f.assign(y=f["y"] - 10), {"metrics": ["msle"]}, r"at or below -1; estimate mae"),
        (lambda f: f, {"metrics": ["r2"]}, r"DLE has no metric 'r2'; it estimates mae, mape"),
    ],
)
def test_fit_refuses_with_the_column_and_the_fix(change, kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DLEError, match=message):
        DLE.fit(change(_frame()), ["x", "colour"], "y_hat", "y", **kwargs)


def test_missing_categories_and_numbers_are_learned() -> None:
    frame = _frame()
    frame.loc[::10, "colour"] = None
    frame.loc[::7, "x"] = np.nan
    dle = DLE.fit(frame, ["x", "colour"], "y_hat", "y", metrics=["mae", "mse", "mape"])
    estimates = dle.estimate(frame.drop(columns="y"))
    assert set(estimates) == {"mae", "mse", "mape"}
    assert all(e.lower <= e.value <= e.upper for e in estimates.values())


def test_the_docstring_example_shows_its_real_output() -> None:
    import doctest

    from driftwatch.performance import dle

    failures, tried = doctest.testmod(dle, optionflags=doctest.ELLIPSIS)
    assert tried >= 5 and failures == 0


@pytest.mark.parametrize("cores", [1, 2])
def test_side_by_side_fits_and_predictions_give_the_numbers_of_one_thread(
    cores: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loss models trained and predicting on every core (one Python thread each, rows in blocks) are
    the models trained one after the other on one thread; mse and rmse share one loss model."""
    reference = _frame(3000)
    metrics = ["mae", "mse", "rmse", "mape"]
    window = _frame(5000, seed=3, shift=0.5).drop(columns="y")
    sequential = DLE.fit(
        reference, ["x", "colour"], "y_hat", "y", metrics=metrics, hyperparameters={"n_jobs": 1}
    )
    monkeypatch.setattr("driftwatch.performance.dle._cores", lambda: cores)
    parallel = DLE.fit(reference, ["x", "colour"], "y_hat", "y", metrics=metrics)
    expected = sequential.row_losses(window)
    got = parallel.row_losses(window)
    for metric in metrics:
        assert np.array_equal(got[metric], expected[metric]), metric
    assert np.array_equal(got["mse"], got["rmse"])
    single = DLE.fit(reference, ["x", "colour"], "y_hat", "y", metrics=["mae"])  # its rows in blocks
    assert np.array_equal(single.row_losses(window)["mae"], expected["mae"])
    estimates = parallel.estimate(window)
    assert estimates["rmse"].value == np.sqrt(estimates["mse"].value)
