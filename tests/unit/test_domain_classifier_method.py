"""The domain classifier as a multivariate drift method of the daemon (``domain_classifier_auroc``): it
fits on a bounded fixed-seed sample of the reference, scores drifted windows above NannyML's constant
0.65 and undrifted ones inside (0.45, 0.65), gives the same numbers from a saved profile as from the raw
reference, and the config, the check and the metrics name it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

import driftwatch
from driftwatch.checks.ids import CheckId
from driftwatch.drift.multivariate_methods import (
    DOMAIN_CLASSIFIER_ROWS,
    DomainClassifierAuroc,
    fit_multivariate,
    load_multivariate,
    typed_frame,
)
from driftwatch.reference import save_profile
from driftwatch.service import metrics as m
from driftwatch.service.collector import result_samples
from driftwatch.service.model_checks import multivariate_reference
from driftwatch.service.preflight import load_model_reference
from tests.unit.test_multivariate_check import config, correlated, model_check, settings_of, snapshot

METHOD = "domain_classifier_auroc"
TYPES: dict[str, Any] = {"x": "numeric", "y": "numeric", "z": "numeric", "c": "categorical"}


def shifted(rows: int, seed: int) -> pd.DataFrame:
    frame = correlated(rows, seed)
    frame["x"] = frame["x"] + 1.5
    return frame


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    correlated(20_000, 1).to_parquet(tmp_path / "ref.parquet", index=False)
    return tmp_path


@pytest.fixture(scope="module")
def fitted() -> DomainClassifierAuroc:
    method = fit_multivariate(METHOD, correlated(5_000, 1), TYPES)
    assert isinstance(method, DomainClassifierAuroc)
    return method


def test_a_drifted_window_scores_above_the_upper_threshold_and_an_undrifted_one_inside(
    fitted: DomainClassifierAuroc,
) -> None:
    clean = fitted.result(typed_frame(correlated(1_000, 2), TYPES))
    assert (clean.lower_threshold, clean.upper_threshold) == (0.45, 0.65)
    assert 0.45 < clean.value < 0.65 and not clean.alert
    assert clean.rows == 1_000 and clean.details["reference_sample_rows"] == 5_000
    drifted = fitted.result(typed_frame(shifted(1_000, 3), TYPES))
    assert drifted.value > 0.65 and drifted.alert
    broken = fitted.result(typed_frame(correlated(1_000, 4, broken=True), TYPES))
    assert broken.value > 0.65 and broken.alert  # every marginal unchanged: only the joint moved


def test_the_state_round_trip_gives_equal_results_with_missing_values() -> None:
    reference = correlated(3_000, 5)
    reference.loc[::7, "y"] = np.nan
    reference.loc[::11, "c"] = None
    method = fit_multivariate(METHOD, reference, TYPES)
    meta, arrays = method.state()
    loaded = load_multivariate(METHOD, meta, arrays)
    for window in (correlated(500, 6), shifted(300, 7)):
        window.loc[::5, "c"] = None
        typed = typed_frame(window, TYPES)
        assert loaded.result(typed) == method.result(typed)


def test_the_reference_sample_is_bounded_and_fixed() -> None:
    reference = correlated(DOMAIN_CLASSIFIER_ROWS + 2_000, 8)
    first = fit_multivariate(METHOD, reference, TYPES)
    second = fit_multivariate(METHOD, reference, TYPES)
    assert isinstance(first, DomainClassifierAuroc) and isinstance(second, DomainClassifierAuroc)
    assert len(first.sample) == DOMAIN_CLASSIFIER_ROWS
    pd.testing.assert_frame_equal(first.sample, second.sample)
    result = first.result(typed_frame(correlated(300, 9), TYPES))
    assert result.details == {
        "reference_rows": DOMAIN_CLASSIFIER_ROWS + 2_000,
        "reference_sample_rows": DOMAIN_CLASSIFIER_ROWS,
    }


def test_the_config_accepts_the_method_and_the_check_and_metrics_name_it(workdir: Path) -> None:
    model = settings_of(workdir, config({"methods": ["reconstruction_error", METHOD]}))
    assert model.drift.multivariate is not None
    assert model.drift.multivariate.methods == ["reconstruction_error", METHOD]
    check = model_check(workdir, model)
    assert CheckId("multivariate_drift", METHOD) in check.alert_ids
    result = check.run(snapshot(shifted(1_000, 10)))
    found = result.as_dict()["multivariate_drift"][METHOD]
    assert found["alert"] is True and found["value"] > 0.65
    schema = json.loads((Path(__file__).parents[2] / "schemas" / "webhook-event.schema.json").read_text())
    Draft202012Validator(schema["$defs"]["checkResult"]["properties"]["multivariate_drift"]).validate(
        result.as_dict()["multivariate_drift"]
    )
    samples = result_samples(result)
    key = ("m", METHOD, "", "")
    assert samples[m.MULTIVARIATE_DRIFT_DETECTED][key] == 1
    assert samples[m.MULTIVARIATE_DRIFT_LOWER][key] == 0.45
    assert samples[m.MULTIVARIATE_DRIFT_UPPER][key] == 0.65


def test_a_saved_profile_gives_the_numbers_of_the_raw_reference(workdir: Path) -> None:
    """The workdir's reference has 20,000 rows: both paths keep the same 10,000-row sample."""
    section = {"methods": [METHOD]}
    raw_model = settings_of(workdir, config(section))
    raw = model_check(workdir, raw_model)
    profile, types = load_model_reference("m", raw_model)
    fitted = multivariate_reference("m", raw_model, types)
    assert fitted is not None
    save_profile(profile, workdir / "profile", multivariate=fitted, multivariate_types=types)
    saved_raw = config(section)
    saved_raw["models"]["m"]["reference"] = "profile"
    saved = model_check(workdir, settings_of(workdir, saved_raw))
    for frame in (correlated(1_000, 11), shifted(400, 12)):
        a = raw.run(snapshot(frame)).as_dict()["multivariate_drift"]
        b = saved.run(snapshot(frame)).as_dict()["multivariate_drift"]
        assert a == b
        assert a[METHOD]["reference_sample_rows"] == 10_000


def test_the_api_gives_the_daemons_auroc_on_the_same_rows(workdir: Path) -> None:
    model = settings_of(workdir, config({"methods": [METHOD]}))
    current = shifted(800, 13)
    daemon = model_check(workdir, model).run(snapshot(current)).as_dict()["multivariate_drift"]
    report = driftwatch.check(
        pd.read_parquet(workdir / "ref.parquet"),
        current,
        types={"c": "categorical"},
        multivariate=METHOD,
        min_rows=200,
    )
    assert report.multivariate_drift is not None
    assert report.multivariate_drift == daemon
    assert daemon[METHOD]["alert"] is True
