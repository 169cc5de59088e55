"""The data of the domain classifier conformance cases: fixed seeds, and a slice of NannyML's car loan data.

Shared by tests/conformance/test_domain_classifier_nannyml.py (driftwatch's side) and
tests/conformance/regenerate_domain_classifier_fixture.py (NannyML's side, run once to write the
expected numbers). The generators are the multivariate cases' (multivariate_cases.py) at sizes that
keep the 5-fold LightGBM fits of every chunk quick. The car loan rows are NannyML's bundled
synthetic car loan data set (Apache 2.0), 3000 reference rows and the 4000 analysis rows around its
drift, stored in data/car_loan_slice.csv.gz by the regenerate script. Each frame's digest is
stored with the expected numbers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from tests.conformance.multivariate_cases import (
    MIXED,
    NUMERIC,
    Case,
    _decorrelate,
    _mixed,
    _numeric,
    _numeric_frame,
    _timestamps,
    _with_missing,
)

__all__ = ["CAR_LOAN", "CAR_LOAN_FEATURES", "CASES"]

CAR_LOAN = Path(__file__).parent / "data" / "car_loan_slice.csv.gz"
CAR_LOAN_FEATURES = [
    "car_value",
    "salary_range",
    "debt_to_income_ratio",
    "loan_length",
    "repaid_loan_on_prev_car",
    "size_of_downpayment",
    "driver_tenure",
]


def _numeric_no_drift() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(21)
    return (
        _numeric_frame(_numeric(rng, 2000, 8, 3, loadings_seed=7)),
        _numeric_frame(_numeric(rng, 2000, 8, 3, loadings_seed=7)),
    )


def _numeric_correlation_drift() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(22)
    reference = _numeric_frame(_numeric(rng, 2000, 8, 3, loadings_seed=7))
    analysis = _numeric_frame(_numeric(rng, 2000, 8, 3, loadings_seed=7))
    return reference, _decorrelate(rng, analysis, 1000, ["x1", "x4", "x6"])


def _integers_only() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Integer columns only: LightGBM reads them as float32."""
    rng = np.random.default_rng(23)
    reference = pd.DataFrame({"a": rng.integers(0, 50, 1500), "b": rng.poisson(4.0, 1500)})
    analysis = pd.DataFrame({"a": rng.integers(0, 50, 1500), "b": rng.poisson(4.0, 1500)})
    analysis.loc[900:, "b"] += 2
    return reference, analysis


def _mixed_drift() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(25)
    reference = _mixed(rng, 2000)
    analysis = pd.concat([_mixed(rng, 1000), _mixed(rng, 1000, shift=1.0, unseen=True)], ignore_index=True)
    analysis = _decorrelate(rng, analysis, 1000, ["grade"])
    return reference, analysis


def _mixed_missing() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(26)
    reference = _with_missing(rng, _mixed(rng, 2000), 0.05)
    first = _with_missing(rng, _mixed(rng, 800), 0.05)
    second = _with_missing(rng, _mixed(rng, 800, shift=0.8, unseen=True), 0.25)
    return reference, pd.concat([first, second], ignore_index=True)


def _period() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(28)
    reference = _mixed(rng, 2100)
    reference["ts"] = _timestamps(rng, 2100, "2026-01-05", 42)
    analysis = _mixed(rng, 1400)
    analysis["ts"] = _timestamps(rng, 1400, "2026-03-16", 28)
    late = analysis["ts"] >= pd.Timestamp("2026-03-30")
    analysis.loc[late, "x3"] = analysis.loc[late, "x3"] * 2.5
    # rows arrive out of time order; both sides sort them by their timestamp
    return (
        reference.sample(frac=1.0, random_state=0).reset_index(drop=True),
        analysis.sample(frac=1.0, random_state=1).reset_index(drop=True),
    )


def _object_columns() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Object columns holding None (a category to OrdinalEncoder) and NaN (missing), a pandas categorical, an int column."""

    def build(rng: np.random.Generator, n: int, unseen: bool) -> pd.DataFrame:
        x = rng.normal(size=n)
        frame = pd.DataFrame({"x": x, "y": x + rng.normal(size=n), "count": rng.integers(0, 5, size=n)})
        frame["channel"] = pd.Series(rng.choice(["web", "app", "shop"], size=n), dtype=object)
        frame.loc[rng.random(n) < 0.08, "channel"] = None
        frame.loc[rng.random(n) < 0.04, "channel"] = np.nan
        if unseen:
            frame.loc[n // 2 :: 5, "channel"] = "phone"
        frame["tier"] = pd.Categorical(rng.choice(["s", "m", "l"], size=n), categories=["s", "m", "l", "xl"])
        frame.loc[rng.random(n) < 0.05, "tier"] = np.nan
        frame["flag"] = x > 0.5
        return frame

    rng = np.random.default_rng(29)
    return build(rng, 1500, unseen=False), build(rng, 1500, unseen=True)


def _car_loan() -> tuple[pd.DataFrame, pd.DataFrame]:
    frame = pd.read_csv(CAR_LOAN)
    reference = frame[frame["period"] == "reference"].drop(columns="period").reset_index(drop=True)
    analysis = frame[frame["period"] == "analysis"].drop(columns="period").reset_index(drop=True)
    return reference, analysis


CASES = [
    Case("numeric_no_drift", _numeric_no_drift, NUMERIC, {"chunk_size": 500}),
    Case("numeric_correlation_drift", _numeric_correlation_drift, NUMERIC, {"chunk_size": 400}),
    Case("integers_only_short_last_chunk", _integers_only, ["a", "b"], {"chunk_size": 400}),
    Case(
        "integers_as_categorical",
        _integers_only,
        ["a", "b"],
        {"chunk_number": 4, "treat_as_categorical": ["b"]},
    ),
    Case("mixed_drift", _mixed_drift, MIXED, {"chunk_size": 500}),
    Case("mixed_missing_default_chunks", _mixed_missing, MIXED, {}),
    Case("mixed_missing_three_folds", _mixed_missing, MIXED, {"chunk_size": 400, "cv_folds": 3}),
    Case("period_weekly", _period, MIXED, {"chunk_period": "W", "timestamp_column": "ts"}),
    Case(
        "object_none_nan_std_threshold",
        _object_columns,
        ["x", "y", "count", "channel", "tier", "flag"],
        {"chunk_size": 300, "threshold": "std"},
    ),
    Case(
        "car_loan",
        _car_loan,
        CAR_LOAN_FEATURES,
        {"chunk_size": 1000, "timestamp_column": "timestamp"},
    ),
]
