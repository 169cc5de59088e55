"""Multiclass CBPE (``driftwatch.performance.multiclass_cbpe``) held against NannyML 0.13.1.

NannyML's per-chunk estimates, sampling errors and realized values on the cases of
multiclass_cases.py (NannyML's own bundled multiclass dataset, and an overconfident four-class model
under covariate shift) were computed once by regenerate_multiclass_fixture.py and stored in
data/multiclass_cbpe_nannyml.json. On the same chunks, driftwatch's mean absolute estimation error
(|estimate - realized| averaged over the analysis chunks, realized as NannyML stored it) must be no
worse than NannyML's plus ``TOLERANCE`` (0.001: a tenth of a percentage point, below the sampling
error of any chunk here). The realized values must be driftwatch's own realized metrics, and the
sampling error within a factor of NannyML's (driftwatch bootstraps it, NannyML uses closed forms).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftwatch.performance.metrics import realized
from driftwatch.performance.multiclass_cbpe import MulticlassCBPE
from tests.conformance.multiclass_cases import CASES, Case, Data, digest

FIXTURE = Path(__file__).parent / "data" / "multiclass_cbpe_nannyml.json"
METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")
TOLERANCE = 0.001


@cache
def _expected() -> dict[str, dict[str, Any]]:
    payload = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert payload["versions"]["nannyml"] == "0.13.1"
    return {case["name"]: case for case in payload["cases"]}


@cache
def _fitted(name: str) -> tuple[MulticlassCBPE, Data]:
    case = next(case for case in CASES if case.name == name)
    data = case.build()
    return MulticlassCBPE.fit(data.reference, data.reference_labels, classes=data.classes), data


def _chunks(expected: dict[str, Any]) -> list[slice]:
    return [slice(s, e + 1) for s, e in zip(expected["starts"], expected["ends"], strict=True)]


def test_every_case_has_expected_numbers() -> None:
    assert sorted(_expected()) == sorted(case.name for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_same_data_as_nannyml(case: Case) -> None:
    assert digest(_fitted(case.name)[1]) == _expected()[case.name]["digest"]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_realized_values_are_ours(case: Case) -> None:
    """NannyML's realized metrics are driftwatch's on the same chunk (roc_auc to 1e-4: the stored
    probabilities are rounded, and driftwatch divides each row by its sum)."""
    expected = _expected()[case.name]
    _, data = _fitted(case.name)
    for i, chunk in enumerate(_chunks(expected)):
        ours = realized(
            "multiclass_classification",
            data.analysis_labels[chunk],
            data.analysis[chunk],
            classes=data.classes,
        )
        for metric in METRICS:
            assert ours[metric] == pytest.approx(expected["metrics"][metric]["realized"][i], abs=1e-4)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_estimation_error_no_worse_than_nannyml(case: Case) -> None:
    expected = _expected()[case.name]
    cbpe, data = _fitted(case.name)
    estimates = [cbpe.estimate(data.analysis[chunk]) for chunk in _chunks(expected)]
    for metric in METRICS:
        stored = expected["metrics"][metric]
        truth = np.asarray(stored["realized"], dtype=np.float64)
        ours = np.mean(np.abs([e[metric].value for e in estimates] - truth))
        theirs = np.mean(np.abs(np.asarray(stored["estimate"], dtype=np.float64) - truth))
        assert math.isfinite(ours)
        assert ours <= theirs + TOLERANCE, f"{metric}: driftwatch MAE {ours:.5f}, NannyML {theirs:.5f}"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_sampling_error_close_to_nannyml(case: Case) -> None:
    """The band's sigma is bootstrapped from the reference; NannyML's closed forms agree within a factor
    (they come out smaller for roc_auc, whose closed form is an approximation)."""
    expected = _expected()[case.name]
    cbpe, _ = _fitted(case.name)
    rows = expected["ends"][0] - expected["starts"][0] + 1
    for metric in METRICS:
        ratio = cbpe.sigma(metric, rows) / expected["metrics"][metric]["sampling_error"][0]
        assert 0.75 <= ratio <= 1.75, f"{metric}: sigma {ratio:.2f} times NannyML's"
