"""The data of the domain classifier conformance cases: fixed seeds, and a slice of NannyML's car loan data.

Shared by tests/conformance/test_domain_classifier_nannyml.py (driftwatch's side) and
tests/conformance/regenerate_domain_classifier_fixture.py (NannyML's side, run once to write the
expected numbers). The generators are oracle_cases.py's, as the multivariate cases use them, at sizes that
keep the 5-fold LightGBM fits of every chunk quick. The car loan rows are NannyML's bundled
synthetic car loan data set (Apache 2.0), 3000 reference rows and the 4000 analysis rows around its
drift, stored in data/car_loan_slice.csv.gz by the regenerate script. Each frame's digest is
stored with the expected numbers.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conformance.oracle_cases import (
    MIXED,
    NUMERIC,
    Case,
    Pair,
    mixed_drift,
    mixed_missing,
    numeric_correlation_drift,
    numeric_pair,
    object_columns,
    split_periods,
    weekly_periods,
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


def _integers_only() -> Pair:
    """Integer columns only: LightGBM reads them as float32."""
    rng = np.random.default_rng(23)
    reference = pd.DataFrame({"a": rng.integers(0, 50, 1500), "b": rng.poisson(4.0, 1500)})
    analysis = pd.DataFrame({"a": rng.integers(0, 50, 1500), "b": rng.poisson(4.0, 1500)})
    analysis.loc[900:, "b"] += 2
    return reference, analysis


def _car_loan() -> Pair:
    return split_periods(pd.read_csv(CAR_LOAN))


_numeric_no_drift = partial(numeric_pair, 21, 2000)
_numeric_correlation_drift = partial(numeric_correlation_drift, 22, 2000)
_mixed_drift = partial(mixed_drift, 25, 2000, 1000)
_mixed_missing = partial(mixed_missing, 26, 2000, 800)
_period = partial(weekly_periods, 28, (2100, 42), (1400, 28))
_object_columns = partial(object_columns, 29, 1500, 1500, flag_missing=False)  # flag: a boolean


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
