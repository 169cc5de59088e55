"""Conformance of multivariate drift (``driftwatch.drift.multivariate``) with NannyML 0.13.1.

The expected numbers are NannyML's ``DataReconstructionDriftCalculator``, computed once by
tests/conformance/regenerate_multivariate_fixture.py and stored in
tests/conformance/data/multivariate_nannyml.json: NannyML is not installed with driftwatch (see
that script for why and how to rerun it). The data of every case is generated here from fixed
seeds (tests/conformance/multivariate_cases.py) and must hash to the digest stored with NannyML's
numbers, so both sides always see the same rows.

Cases: numeric only and numeric with categorical columns (text, pandas categorical, object columns
holding None, which NannyML counts as a category, and NaN, which it imputes), with and without
missing values and unseen categories, without drift, with a broken correlation (marginals unchanged) and with shifts;
chunks by size (with a short last chunk), by number, the default ten, and by calendar week. Per
chunk of the reference and of the analysis data the reconstruction error and its sampling error
must agree to 1e-6 relative, the thresholds likewise, and every alert exactly.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from driftwatch.drift.multivariate import ReconstructionDrift, fit_reconstruction_drift
from tests.conformance.multivariate_cases import CASES, Case, digest

FIXTURE = Path(__file__).parent / "data" / "multivariate_nannyml.json"
RELATIVE = 1e-6


@cache
def _expected() -> dict[str, dict[str, Any]]:
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert payload["versions"]["nannyml"] == "0.13.1"
    return {case["name"]: case for case in payload["cases"]}


@cache
def _fitted(name: str) -> tuple[ReconstructionDrift, pd.DataFrame, pd.DataFrame]:
    case = next(case for case in CASES if case.name == name)
    reference, analysis = case.build()
    model = fit_reconstruction_drift(reference, case.columns, **case.options)  # type: ignore[arg-type]
    return model, reference, analysis


def _close(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if math.isnan(expected):
        return math.isnan(actual)
    return math.isclose(actual, expected, rel_tol=RELATIVE, abs_tol=0.0)


def test_every_case_has_expected_numbers() -> None:
    assert sorted(_expected()) == sorted(case.name for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_same_data_as_nannyml(case: Case) -> None:
    _, reference, analysis = _fitted(case.name)
    expected = _expected()[case.name]
    # a different digest means the generator changed: rerun regenerate_multivariate_fixture.py
    assert digest(reference) == expected["reference_digest"]
    assert digest(analysis) == expected["analysis_digest"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_model_matches_nannyml(case: Case) -> None:
    model, _, _ = _fitted(case.name)
    expected = _expected()[case.name]
    assert sorted(model.numeric_columns) == expected["continuous_columns"]
    assert sorted(model.categorical_columns) == expected["categorical_columns"]
    assert model.n_components == expected["n_components"]
    assert _close(model.explained_variance, expected["explained_variance"])
    assert _close(model.lower_threshold, expected["lower_threshold"])
    assert _close(model.upper_threshold, expected["upper_threshold"])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("period", ["reference", "analysis"])
def test_chunks_match_nannyml(case: Case, period: str) -> None:
    model, reference, analysis = _fitted(case.name)
    expected = _expected()[case.name][period]
    chunks = model.chunks(reference if period == "reference" else analysis)
    assert [chunk.key for chunk in chunks] == expected["keys"]
    assert [chunk.result.rows for chunk in chunks] == expected["rows"]
    for chunk, error, sampling in zip(chunks, expected["errors"], expected["sampling_errors"], strict=True):
        assert _close(chunk.result.error, error), (chunk.key, chunk.result.error, error)
        assert _close(chunk.result.sampling_error, sampling), (
            chunk.key,
            chunk.result.sampling_error,
            sampling,
        )
    assert [chunk.result.alert for chunk in chunks] == expected["alerts"]
    if period == "reference":
        assert model.reference_keys == tuple(expected["keys"])
        assert [_close(a, e) for a, e in zip(model.reference_errors, expected["errors"], strict=True)] == [
            True
        ] * len(chunks)


def test_cases_cover_drift_and_no_drift() -> None:
    """The cases exercise both decisions and a missing lower threshold is not among the untested paths."""
    alerts = [alert for case in _expected().values() for alert in case["analysis"]["alerts"]]
    assert any(alerts) and not all(alerts)
    assert not any(_expected()["numeric_no_drift"]["analysis"]["alerts"])
    assert any(_expected()["numeric_correlation_drift"]["analysis"]["alerts"])
