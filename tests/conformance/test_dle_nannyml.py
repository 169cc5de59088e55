"""Conformance of regression performance estimation (``driftwatch.performance.dle``) with NannyML 0.13.1.

The expected numbers are NannyML's ``DLE``, computed once by tests/conformance/regenerate_dle_fixture.py
and stored in tests/conformance/data/dle_nannyml.json (NannyML is not installed with driftwatch). The
cases (tests/conformance/dle_cases.py) are NannyML's car price example and a generated model whose
error grows with a feature that shifts, with missing numbers and categories and an unseen category.

driftwatch fits the same LightGBM loss models on the same coded inputs, so per chunk of the reference
and of the analysis data every estimate, sampling error and band must agree with NannyML's to 1e-6
relative (LightGBM 4.7 here, 4.5 there: the trees are the same), the realized metrics likewise, and
the mean absolute estimation error (|estimate - realized| over the analysis chunks) must be no worse
than NannyML's.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.performance.dle import DLE, losses
from tests.conformance.dle_cases import CASES, DLECase, digest

FIXTURE = Path(__file__).parent / "data" / "dle_nannyml.json"
RELATIVE = 1e-6


@cache
def _expected() -> dict[str, dict[str, Any]]:
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert payload["versions"]["nannyml"] == "0.13.1"
    return {case["name"]: case for case in payload["cases"]}


@cache
def _fitted(name: str) -> tuple[DLECase, DLE, pd.DataFrame, pd.DataFrame]:
    case = next(case for case in CASES if case.name == name)
    reference, analysis = case.build()
    dle = DLE.fit(reference, case.features, case.prediction, case.label, metrics=case.metrics)
    return case, dle, reference, analysis


def _chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[start : start + size] for start in range(0, len(frame), size)]


def _realized(metric: str, chunk: pd.DataFrame, case: DLECase) -> float:
    loss = losses(metric, chunk[case.label].to_numpy(np.float64), chunk[case.prediction].to_numpy(np.float64))
    mean = float(loss.mean())
    return math.sqrt(mean) if metric in ("rmse", "rmsle") else mean


def _close(ours: float, theirs: float | None) -> bool:
    assert theirs is not None
    return math.isclose(ours, theirs, rel_tol=RELATIVE, abs_tol=1e-12)


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_same_data_as_nannyml(name: str) -> None:
    _, dle, reference, analysis = _fitted(name)
    expected = _expected()[name]
    assert digest(reference) == expected["reference_digest"]
    assert digest(analysis) == expected["analysis_digest"]
    assert list(dle.categorical) == expected["categorical_columns"]


@pytest.mark.parametrize("period", ["reference", "analysis"])
@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_estimates_match_nannyml_per_chunk(name: str, period: str) -> None:
    case, dle, reference, analysis = _fitted(name)
    expected = _expected()[name][period]
    chunks = _chunks(reference if period == "reference" else analysis, case.chunk_size)
    assert [len(c) for c in chunks] == expected["rows"]
    for index, chunk in enumerate(chunks):
        estimates = dle.estimate(chunk.drop(columns=case.label))  # the label is not read
        for metric in case.metrics:
            theirs = expected[metric]
            e = estimates[metric]
            where = f"{name} {period} chunk {index} {metric}"
            assert _close(e.value, theirs["estimated"][index]), (where, e.value, theirs["estimated"][index])
            assert _close(e.sigma, theirs["sampling_error"][index]), where
            assert _close(e.lower, theirs["lower"][index]), where
            assert _close(e.upper, theirs["upper"][index]), where
            assert _close(_realized(metric, chunk, case), theirs["realized"][index]), where


@pytest.mark.parametrize("name", [case.name for case in CASES])
def test_estimation_error_no_worse_than_nannyml(name: str) -> None:
    case, dle, _, analysis = _fitted(name)
    expected = _expected()[name]["analysis"]
    chunks = _chunks(analysis, case.chunk_size)
    for metric in case.metrics:
        ours = [dle.estimate(c)[metric].value for c in chunks]
        realized = [_realized(metric, c, case) for c in chunks]
        theirs = expected[metric]["estimated"]
        ours_error = float(np.mean(np.abs(np.subtract(ours, realized))))
        theirs_error = float(np.mean(np.abs(np.subtract(theirs, expected[metric]["realized"]))))
        assert ours_error <= theirs_error * (1 + RELATIVE), (name, metric, ours_error, theirs_error)


def test_the_estimate_follows_a_covariate_shift() -> None:
    """The generated case's second half moves x0 where the model errs more: the estimated mae rises
    with the realized one, beyond the band of the first half."""
    case, dle, _, analysis = _fitted("heteroscedastic")
    before = dle.estimate(analysis.iloc[:3000])["mae"]
    after = dle.estimate(analysis.iloc[3000:])["mae"]
    assert after.lower > before.upper
    assert _realized("mae", analysis.iloc[3000:], case) > _realized("mae", analysis.iloc[:3000], case)
