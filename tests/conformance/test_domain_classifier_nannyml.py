"""Conformance of the domain classifier (``driftwatch.drift.domain_classifier``) with NannyML 0.13.1.

The expected numbers are NannyML's ``DomainClassifierCalculator``, computed once by
tests/conformance/regenerate_domain_classifier_fixture.py and stored in
tests/conformance/data/domain_classifier_nannyml.json: NannyML is not installed with driftwatch.
The data of every case is generated from fixed seeds (tests/conformance/domain_classifier_cases.py)
or read from the stored slice of NannyML's car loan data, and must hash to the digest stored with
NannyML's numbers.

Cases: numeric only (float, and integers that LightGBM reads as float32), numbers made categorical,
text, pandas categorical, bool and object columns holding None and NaN, missing values and unseen
categories, without drift, with a broken correlation and with shifts; chunks by size (with a short
last chunk), by number, the default ten and by calendar week; 3 folds; constant and standard
deviation thresholds; and NannyML's synthetic car loan data. Per chunk of the reference and of the
analysis data the AUROC must agree to 1e-9, the thresholds likewise, and every alert exactly.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from driftwatch.drift.domain_classifier import (
    DomainClassifierDrift,
    StandardDeviationThreshold,
    fit_domain_classifier,
)
from tests.conformance.domain_classifier_cases import CASES
from tests.conformance.multivariate_cases import Case, digest

FIXTURE = Path(__file__).parent / "data" / "domain_classifier_nannyml.json"
ABSOLUTE = 1e-9


@cache
def _expected() -> dict[str, dict[str, Any]]:
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert payload["versions"]["nannyml"] == "0.13.1"
    return {case["name"]: case for case in payload["cases"]}


def _options(case: Case) -> dict[str, Any]:
    options = dict(case.options)
    if options.get("threshold") == "std":
        options["threshold"] = StandardDeviationThreshold()
    return options


@cache
def _fitted(name: str) -> tuple[DomainClassifierDrift, pd.DataFrame, pd.DataFrame]:
    case = next(case for case in CASES if case.name == name)
    reference, analysis = case.build()
    return fit_domain_classifier(reference, case.columns, **_options(case)), reference, analysis


def _close(actual: float | None, expected: float | None) -> bool:
    if expected is None or actual is None:
        return actual is None and expected is None
    if math.isnan(expected):
        return math.isnan(actual)
    return math.isclose(actual, expected, rel_tol=0.0, abs_tol=ABSOLUTE)


def test_every_case_has_expected_numbers() -> None:
    assert sorted(_expected()) == sorted(case.name for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_same_data_as_nannyml(case: Case) -> None:
    _, reference, analysis = _fitted(case.name)
    expected = _expected()[case.name]
    # a different digest means the generator changed: rerun regenerate_domain_classifier_fixture.py
    assert digest(reference) == expected["reference_digest"]
    assert digest(analysis) == expected["analysis_digest"]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_model_matches_nannyml(case: Case) -> None:
    model, _, _ = _fitted(case.name)
    expected = _expected()[case.name]
    assert sorted(model.numeric_columns) == expected["continuous_columns"]
    assert list(model.categorical_columns) == expected["categorical_columns"]
    assert _close(model.lower_threshold, expected["lower_threshold"])
    assert _close(model.upper_threshold, expected["upper_threshold"])


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
@pytest.mark.parametrize("period", ["reference", "analysis"])
def test_chunks_match_nannyml(case: Case, period: str) -> None:
    model, _, analysis = _fitted(case.name)
    expected = _expected()[case.name][period]
    if period == "reference":  # computed by the fit: the reference against itself
        assert model.reference_keys == tuple(expected["keys"])
        aurocs = [float(value) for value in model.reference_aurocs]
        for key, actual, wanted in zip(model.reference_keys, aurocs, expected["aurocs"], strict=True):
            assert _close(actual, wanted), (key, actual, wanted)
        assert [chunk.key for chunk in model.reference_chunks] == expected["keys"]
        assert [chunk.result.rows for chunk in model.reference_chunks] == expected["rows"]
        assert [chunk.result.alert for chunk in model.reference_chunks] == expected["alerts"]
        return
    chunks = model.chunks(analysis)
    assert [chunk.key for chunk in chunks] == expected["keys"]
    assert [chunk.result.rows for chunk in chunks] == expected["rows"]
    for chunk, wanted in zip(chunks, expected["aurocs"], strict=True):
        assert _close(chunk.result.auroc, wanted), (chunk.key, chunk.result.auroc, wanted)
    assert [chunk.result.alert for chunk in chunks] == expected["alerts"]


def test_cases_cover_drift_and_no_drift() -> None:
    alerts = [alert for case in _expected().values() for alert in case["analysis"]["alerts"]]
    assert any(alerts) and not all(alerts)
    assert not any(_expected()["numeric_no_drift"]["analysis"]["alerts"])
    assert any(_expected()["car_loan"]["analysis"]["alerts"])
