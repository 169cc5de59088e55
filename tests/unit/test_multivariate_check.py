"""The multivariate drift check of a model: its config section and the errors that name a bad key, the
check's statuses and breaches per method, the same numbers from a saved profile as from the raw
reference, and the method catalogue the config names."""

from __future__ import annotations

import json
import typing
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

import driftwatch
from driftwatch.checks.ids import CheckId
from driftwatch.cli.main import main
from driftwatch.config import ConfigError, ModelSettings, MultivariateMethodName, load_settings
from driftwatch.drift.multivariate_methods import METHODS
from driftwatch.reference import save_profile
from driftwatch.service import metrics as m
from driftwatch.service.collector import result_samples
from driftwatch.service.model_checks import ModelCheck, multivariate_reference
from driftwatch.service.preflight import load_model_reference
from driftwatch.stream.windows import WindowSnapshot

NOW = 1_800_000_000.0


def correlated(rows: int, seed: int, broken: bool = False) -> pd.DataFrame:
    """x and y correlated (0.9), z independent, c categorical; ``broken``: y shuffled against x, every
    column's marginal distribution unchanged."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, rows)
    y = 0.9 * x + np.sqrt(1 - 0.81) * rng.normal(0, 1, rows)
    if broken:
        y = rng.permutation(y)
    return pd.DataFrame(
        {
            "x": x,
            "y": y,
            "z": rng.normal(0, 1, rows),
            "c": rng.choice(["a", "b", "c"], rows, p=[0.5, 0.3, 0.2]),
        }
    )


def snapshot(frame: pd.DataFrame) -> WindowSnapshot:
    return WindowSnapshot(frame, NOW - 3600, NOW, len(frame), {})


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    correlated(20_000, 1).to_parquet(tmp_path / "ref.parquet", index=False)
    return tmp_path


def config(multivariate: Any = None, features: list[Any] | None = None, **window: Any) -> dict[str, Any]:
    model: dict[str, Any] = {
        "reference": "ref.parquet",
        "features": features or ["x", "y", "z", {"name": "c", "type": "categorical"}],
        "window": {"max_rows": 2000, "min_rows": 200, **window},
    }
    if multivariate is not None:
        model["drift"] = {"multivariate": multivariate}
    return {"kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "p"}, "models": {"m": model}}


def settings_of(directory: Path, raw: dict[str, Any]) -> ModelSettings:
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_settings(path, {}).models["m"]


def config_error(directory: Path, raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        settings_of(directory, raw)
    return str(info.value)


def model_check(directory: Path, model: ModelSettings) -> ModelCheck:
    profile, types = load_model_reference("m", model)
    return ModelCheck("m", model, profile, None, multivariate_reference("m", model, types))


def test_the_config_names_every_method_of_the_catalogue() -> None:
    assert set(typing.get_args(MultivariateMethodName)) == set(METHODS)


def test_off_unless_configured_and_the_section_defaults(workdir: Path) -> None:
    assert settings_of(workdir, config()).drift.multivariate is None
    check = model_check(workdir, settings_of(workdir, config()))
    assert "multivariate_drift" not in check.kinds
    model = settings_of(workdir, config({}))
    assert model.drift.multivariate is not None
    assert model.drift.multivariate.methods == ["reconstruction_error"]
    assert model.multivariate_columns() == ["x", "y", "z", "c"]
    assert model_check(workdir, model).alert_ids[-1] == CheckId("multivariate_drift", "reconstruction_error")


@pytest.mark.parametrize(
    ("section", "features", "expected"),
    [
        (
            {"methods": ["pca"]},
            None,
            ["models.m.drift.multivariate.methods[0]", "'pca'", "reconstruction_error"],
        ),
        ({"methods": []}, None, ["models.m.drift.multivariate.methods", "at least 1"]),
        (
            {"methods": ["reconstruction_error", "reconstruction_error"]},
            None,
            ["models.m.drift.multivariate.methods", "listed twice"],
        ),
        (
            {"columns": ["x", "w"]},
            None,
            ["models.m.drift.multivariate.columns", "'w' is not a feature", "x, y, z, c"],
        ),
        ({"columns": ["x"]}, None, ["models.m.drift.multivariate.columns", "at least 2 features, got 1"]),
        ({}, ["x"], ["models.m.features", "at least 2 features"]),
        (
            {"n_components": 5},
            None,
            ["models.m.drift.multivariate.n_components", "5 components of 4 columns"],
        ),
        ({"n_components": 1.5}, None, ["models.m.drift.multivariate.n_components", "1.5"]),
        ({"chunk_size": 1}, None, ["models.m.drift.multivariate.chunk_size", "greater than or equal to 2"]),
        ({"chunks": 3}, None, ["models.m.drift.multivariate.chunks", "unknown key"]),
    ],
)
def test_config_errors_name_the_key_the_value_and_the_fix(
    workdir: Path, section: dict[str, Any], features: list[Any] | None, expected: list[str]
) -> None:
    message = config_error(workdir, config(section, features))
    for part in expected:
        assert part in message, message


def test_the_check_answers_per_method_and_says_why_it_has_no_verdict(workdir: Path) -> None:
    check = model_check(workdir, settings_of(workdir, config({})))
    parts, result = check.run_parts(snapshot(correlated(2000, 7)))
    part = parts["multivariate_drift"]
    assert part.status == "ok"
    assert part.breaches == {CheckId("multivariate_drift", "reconstruction_error"): False}
    found = result.as_dict()["multivariate_drift"]["reconstruction_error"]
    assert found["lower_threshold"] < found["value"] < found["upper_threshold"]
    assert found["rows"] == 2000 and found["chunk_size"] == 200  # a hundredth of the reference

    parts, result = check.run_parts(snapshot(correlated(2000, 8, broken=True)))
    assert parts["multivariate_drift"].status == "drift"
    assert parts["multivariate_drift"].breaches == {
        CheckId("multivariate_drift", "reconstruction_error"): True
    }
    assert parts["data_drift"].status == "ok"  # every marginal is as in the reference

    parts, result = check.run_parts(snapshot(correlated(100, 9)))
    assert parts["multivariate_drift"].status == "not_enough_data"
    assert parts["multivariate_drift"].breaches == {}
    assert "fewer than window.min_rows 200" in (parts["multivariate_drift"].note or "")
    assert result.as_dict()["multivariate_drift"] is None

    parts, _ = check.run_parts(snapshot(correlated(0, 9)))
    assert parts["multivariate_drift"].status == "no_data"
    assert parts["multivariate_drift"].breaches == {}


def test_thresholds_narrow_with_the_window_rows(workdir: Path) -> None:
    check = model_check(workdir, settings_of(workdir, config({})))
    small = check.run(snapshot(correlated(500, 3))).multivariate_drift
    large = check.run(snapshot(correlated(2000, 3))).multivariate_drift
    assert small is not None and large is not None
    s, big = small.results["reconstruction_error"], large.results["reconstruction_error"]
    assert s.upper_threshold is not None and big.upper_threshold is not None
    centre = (big.upper_threshold + (big.lower_threshold or 0.0)) / 2
    # the spread of a mean of n rows goes as 1/sqrt(n): 4x the rows, half the half-width
    assert (s.upper_threshold - centre) == pytest.approx(2 * (big.upper_threshold - centre), rel=1e-9)


def test_a_saved_profile_gives_the_numbers_of_the_raw_reference(workdir: Path) -> None:
    raw_model = settings_of(workdir, config({}))
    raw = model_check(workdir, raw_model)
    profile, types = load_model_reference("m", raw_model)
    fitted = multivariate_reference("m", raw_model, types)
    assert fitted is not None
    save_profile(profile, workdir / "profile", multivariate=fitted, multivariate_types=types)
    saved_raw = config({})
    saved_raw["models"]["m"]["reference"] = "profile"
    saved = model_check(workdir, settings_of(workdir, saved_raw))
    for frame in (correlated(2000, 11), correlated(700, 12, broken=True)):
        a = raw.run(snapshot(frame)).as_dict()["multivariate_drift"]
        b = saved.run(snapshot(frame)).as_dict()["multivariate_drift"]
        assert a == b


def test_a_profile_fitted_otherwise_is_refused_with_the_fix(workdir: Path) -> None:
    model = settings_of(workdir, config({"columns": ["x", "y"]}))
    profile, types = load_model_reference("m", model)
    fitted = multivariate_reference("m", model, types)
    assert fitted is not None
    save_profile(profile, workdir / "profile", multivariate=fitted, multivariate_types=types)
    raw = config({})
    raw["models"]["m"]["reference"] = "profile"
    model = settings_of(workdir, raw)
    profile, types = load_model_reference("m", model)
    with pytest.raises(
        Exception, match=r"models\.m\.drift\.multivariate\.columns: .*driftwatch profile --config"
    ):
        multivariate_reference("m", model, types)
    no_model = workdir / "bare"
    save_profile(profile, no_model)
    raw["models"]["m"]["reference"] = "bare"
    with pytest.raises(Exception, match=r"has no fitted reconstruction_error model"):
        multivariate_reference("m", settings_of(workdir, raw), types)


def test_metrics_have_series_only_for_a_verdict(workdir: Path) -> None:
    check = model_check(workdir, settings_of(workdir, config({})))
    answered = result_samples(check.run(snapshot(correlated(2000, 7))))
    key = ("m", "reconstruction_error", "", "")
    assert answered[m.MULTIVARIATE_DRIFT_DETECTED] == {key: 0}
    value, upper = answered[m.MULTIVARIATE_DRIFT_VALUE][key], answered[m.MULTIVARIATE_DRIFT_UPPER][key]
    assert answered[m.MULTIVARIATE_DRIFT_LOWER][key] < value < upper
    silent = result_samples(check.run(snapshot(correlated(50, 7))))
    for spec in (m.MULTIVARIATE_DRIFT_VALUE, m.MULTIVARIATE_DRIFT_LOWER, m.MULTIVARIATE_DRIFT_UPPER):
        assert silent[spec] == {}
    assert silent[m.MULTIVARIATE_DRIFT_DETECTED] == {}


def test_driftwatch_check_and_the_api_give_the_daemons_numbers_on_the_same_rows(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = config({})
    model = settings_of(workdir, raw)
    current = correlated(800, 21, broken=True)
    current.to_csv(workdir / "current.csv", index=False)
    daemon = model_check(workdir, model).run(snapshot(current)).as_dict()["multivariate_drift"]
    assert daemon["reconstruction_error"]["alert"] is True

    code = main(
        [
            "check",
            "--reference",
            str(workdir / "ref.parquet"),
            "--current",
            str(workdir / "current.csv"),
            "--config",
            str(workdir / "driftwatch.yaml"),
            "--model",
            "m",
            "--format",
            "json",
        ]
    )
    offline = json.loads(capsys.readouterr().out)["multivariate_drift"]
    assert offline == daemon
    assert code == 1  # a multivariate alert is drift, as dataset drift is

    report = driftwatch.check(
        pd.read_parquet(workdir / "ref.parquet"),
        current,
        types={"c": "categorical"},
        multivariate="reconstruction_error",
        min_rows=200,
    )
    api = report.multivariate_drift
    assert api is not None
    # the API has no window: chunks of a hundredth of the reference, as the daemon's below max_rows
    assert api == daemon
    assert (
        driftwatch.check(
            pd.read_parquet(workdir / "ref.parquet"), current.iloc[:50], multivariate="reconstruction_error"
        ).multivariate_drift
        is None
    )


def test_driftwatch_profile_keeps_the_fitted_model_and_checks_on_it_agree(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = config({}, max_rows=1000)
    model = settings_of(workdir, raw)
    assert (
        main(
            [
                "profile",
                "-r",
                str(workdir / "ref.parquet"),
                "-o",
                str(workdir / "p"),
                "-c",
                str(workdir / "driftwatch.yaml"),
                "-m",
                "m",
            ]
        )
        == 0
    )
    assert "multivariate drift model(s) reconstruction_error fitted and kept" in capsys.readouterr().out
    on_raw = model_check(workdir, model)
    raw["models"]["m"]["reference"] = "p"
    on_profile = model_check(workdir, settings_of(workdir, raw))
    for frame in (correlated(1000, 31), correlated(600, 32, broken=True), correlated(5000, 33)):
        a = on_raw.run(snapshot(frame)).as_dict()["multivariate_drift"]
        assert a == on_profile.run(snapshot(frame)).as_dict()["multivariate_drift"]


def test_validate_config_reports_a_profile_fitted_on_other_columns(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = settings_of(workdir, config({"columns": ["x", "y"]}))
    profile, types = load_model_reference("m", model)
    fitted = multivariate_reference("m", model, types)
    assert fitted is not None
    save_profile(profile, workdir / "profile", multivariate=fitted, multivariate_types=types)
    raw = config({})
    raw["models"]["m"]["reference"] = "profile"
    settings_of(workdir, raw)  # writes the config
    assert main(["validate-config", str(workdir / "driftwatch.yaml")]) == 2
    assert "models.m.drift.multivariate.columns: the profile" in capsys.readouterr().err


def test_the_html_summaries_show_each_method(workdir: Path) -> None:
    from driftwatch.report import summary_section

    check = model_check(workdir, settings_of(workdir, config({})))
    result = check.run(snapshot(correlated(800, 41, broken=True)))
    assert result.multivariate_drift is not None
    page = summary_section(
        "m", result.drift, None, result.rows, 20_000, multivariate=result.multivariate_drift.as_dict()
    )
    assert (
        'data-key="multivariate-reconstruction_error"' in page
        or "multivariate drift (reconstruction_error)" in page
    )
    assert "drift detected: " in page.split("multivariate drift (reconstruction_error)", 1)[1]


def test_a_window_of_chunk_size_rows_gets_the_library_thresholds() -> None:
    """Scaled to a window of exactly ``chunk_size`` rows, the thresholds are NannyML's (the library's
    `fit_reconstruction_drift` with that chunk_size) on a reference that splits evenly."""
    from driftwatch.drift import fit_reconstruction_drift
    from driftwatch.drift.multivariate_methods import (
        MultivariateOptions,
        ReconstructionError,
        fit_multivariate,
    )

    reference = correlated(12_000, 51)
    types: dict[str, Any] = {"x": "numeric", "y": "numeric", "z": "numeric", "c": "categorical"}
    fitted = fit_multivariate("reconstruction_error", reference, types, MultivariateOptions(chunk_size=1_000))
    assert isinstance(fitted, ReconstructionError)
    library = fit_reconstruction_drift(reference, list(types), chunk_size=1_000)
    lower, upper = fitted.thresholds(1_000)
    assert library.lower_threshold is not None and lower is not None and library.upper_threshold is not None
    assert lower == pytest.approx(library.lower_threshold, rel=1e-12)
    assert upper == pytest.approx(library.upper_threshold, rel=1e-12)
