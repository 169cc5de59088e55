"""The Python API (`import driftwatch`): its pinned surface, and the same answers as `driftwatch check`.

Every figure is compared with the command's JSON on the same data written to Parquet (the command is run
in-process), not with hard-coded values: the API is a thin layer over the command's code path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import driftwatch
from driftwatch.cli.main import main

PUBLIC = [
    "CBPEError",
    "CheckError",
    "CheckReport",
    "ColumnResult",
    "ConfigError",
    "DriftwatchError",
    "MetricEstimate",
    "PerformanceEstimate",
    "RealizedMetrics",
    "ReferenceDataError",
    "ReferenceProfile",
    "__version__",
    "check",
    "estimate_error",
    "estimate_performance",
    "load_profile",
    "profile",
    "realized_performance",
]


def frame(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, rows)
    score = 1.0 / (1.0 + np.exp(-1.5 * x))  # calibrated: labels are drawn from the scores
    return pd.DataFrame(
        {
            "x": x,
            "z": rng.normal(size=rows),
            "country": rng.choice(
                ["DE", "FR", "US"], rows, p=[0.5, 0.3, 0.2] if shift == 0 else [0.2, 0.3, 0.5]
            ),
            "score": score,
            "label": (rng.uniform(size=rows) < score).astype(int),
        }
    )


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("api")
    rng = np.random.default_rng(11)
    frames = {
        "reference": frame(rng, 3000, 0.0),
        "current": frame(rng, 1200, 0.7),
        "same": frame(rng, 1200, 0.0),
    }
    frames["few"] = frames["current"].head(40)
    paths = {}
    for name, df in frames.items():
        paths[name] = directory / f"{name}.parquet"
        df.to_parquet(paths[name])
    return {"frames": frames, "paths": paths, "dir": directory}


def command(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any]]:
    capsys.readouterr()
    code = main(["check", *args, "-f", "json"])
    return code, json.loads(capsys.readouterr().out)


def without_reason(result: dict[str, Any]) -> dict[str, Any]:
    # the reason names "the current file" in the command and "the current data" in the API
    return {k: v for k, v in result.items() if k != "reason"}


def test_public_surface_is_pinned() -> None:
    assert driftwatch.__all__ == PUBLIC
    for name in PUBLIC:
        assert getattr(driftwatch, name) is not None
    assert set(PUBLIC) <= set(dir(driftwatch))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        driftwatch.nope  # noqa: B018


def test_import_is_light() -> None:
    code = "import sys, driftwatch; heavy = {'pandas', 'scipy', 'sklearn'} & set(sys.modules); assert not heavy, heavy"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("current", ["current", "same"])
def test_check_gives_the_command_answer(
    data: dict[str, Any], capsys: pytest.CaptureFixture[str], current: str
) -> None:
    frames, paths = data["frames"], data["paths"]
    code, expected = command(
        capsys,
        "-r",
        str(paths["reference"]),
        "-u",
        str(paths[current]),
        "--columns",
        "x,z,country",
        "--prediction-column",
        "score",
    )
    report = driftwatch.check(
        frames["reference"], frames[current], features=["x", "z", "country"], prediction="score"
    )
    assert report.to_dict() == expected
    assert json.loads(report.to_json()) == expected
    assert report.status == "ok" and report.reason is None
    assert report.dataset_drift is expected["dataset_drift"]
    assert code == (1 if report.dataset_drift else 0)
    assert report.drift_share == expected["drift_share"]
    by_name = {c["column"]: c for c in expected["columns"]}
    assert [c.name for c in report.columns] == [c["column"] for c in expected["columns"]]
    for column in report.columns:
        want = by_name[column.name]
        assert (column.method, column.score, column.threshold, column.drifted) == (
            want["method"],
            want["score"],
            want["threshold"],
            want["drift_detected"],
        )
    assert report.drifted == [c["column"] for c in expected["columns"] if c["drift_detected"]]
    assert report.prediction is not None and report.prediction.score == expected["prediction_drift"]["score"]


def test_drift_is_found_on_shifted_data(data: dict[str, Any]) -> None:
    frames = data["frames"]
    shifted = driftwatch.check(frames["reference"], frames["current"], features=["x", "country"])
    assert shifted.dataset_drift is True and set(shifted.drifted) == {"x", "country"}
    same = driftwatch.check(frames["reference"], frames["same"], features=["x", "country"])
    assert same.dataset_drift is False and same.drifted == []


def test_not_enough_rows_is_no_verdict_in_both(
    data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    frames, paths = data["frames"], data["paths"]
    code, expected = command(
        capsys, "-r", str(paths["reference"]), "-u", str(paths["few"]), "--min-rows", "100"
    )
    report = driftwatch.check(frames["reference"], frames["few"], min_rows=100)
    assert code == 2 and expected["status"] == report.status == "not_enough_rows"
    assert without_reason(report.to_dict()) == without_reason(expected)
    assert report.dataset_drift is None and report.drift_share is None and report.columns == []
    assert (
        report.reason
        == "the current data has 40 rows, fewer than min_rows 100: too few to tell drift from sampling noise"
    )
    # the same words but for what is checked and what set min_rows (a flag, in the command)
    words = report.reason.replace("the current data", "the current file").replace("min_rows", "--min-rows")
    assert expected["reason"] == words


def test_methods_and_thresholds_as_the_command(
    data: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    frames, paths = data["frames"], data["paths"]
    _, expected = command(
        capsys,
        "-r",
        str(paths["reference"]),
        "-u",
        str(paths["same"]),
        "--columns",
        "x,z",
        "--method",
        "psi",
        "--threshold",
        "0.01",
        "--share",
        "0.4",
    )
    report = driftwatch.check(
        frames["reference"],
        frames["same"],
        features=["x", "z"],
        method="psi",
        threshold=0.01,
        drift_share=0.4,
    )
    assert report.to_dict() == expected
    per_column = driftwatch.check(
        frames["reference"], frames["same"], features=["x", "z"], method={"x": "psi"}, threshold={"x": 0.01}
    )
    x, z = per_column.columns
    assert (x.method, x.threshold) == ("psi", 0.01) and x.score == report.columns[0].score
    assert z.method != "psi"


def test_profile_round_trip(data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames, paths = data["frames"], data["paths"]
    built = driftwatch.profile(
        frames["reference"], features=["x", "z", "country"], prediction="score", label="label"
    )
    assert built.columns == ["x", "z", "country", "score"] and built.rows == 3000
    assert built.types == {"x": "numeric", "z": "numeric", "country": "categorical", "score": "numeric"}
    built.save(tmp_path / "profile")
    loaded = driftwatch.load_profile(tmp_path / "profile")
    assert loaded.columns == built.columns and loaded.rows == built.rows
    _, expected = command(
        capsys, "-r", str(tmp_path / "profile"), "-u", str(paths["current"]), "--prediction-column", "score"
    )
    from_profile = driftwatch.check(loaded, frames["current"], prediction="score")
    assert from_profile.to_dict() == expected
    from_frame = driftwatch.check(
        frames["reference"], frames["current"], features=["x", "z", "country"], prediction="score"
    )
    assert [c.score for c in from_profile.columns] == [c.score for c in from_frame.columns]


def test_performance_as_the_command(data: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    frames, paths = data["frames"], data["paths"]
    _, expected = command(
        capsys,
        "-r",
        str(paths["reference"]),
        "-u",
        str(paths["current"]),
        "--task",
        "binary_classification",
        "--prediction-column",
        "score",
        "--label-column",
        "label",
        "--min-rows",
        "100",
    )
    estimate = driftwatch.estimate_performance(
        frames["reference"], frames["current"], prediction="score", label="label", min_rows=100
    )
    assert estimate.note is None and estimate.rows == 1200
    assert estimate.calibration == expected["calibration"]["method"]
    assert estimate.reference == expected["reference_performance"]
    assert {m: vars(e) for m, e in estimate.estimates.items()} == expected["estimated_performance"]
    realized = driftwatch.realized_performance(
        frames["reference"],
        frames["current"],
        task="binary_classification",
        prediction="score",
        label="label",
        min_labels=100,
    )
    assert (
        realized.values == expected["performance"] and realized.reference == expected["reference_performance"]
    )
    assert realized.labelled_rows == 1200 and realized.enough_labels and realized.note is None
    # a profile that kept the labelled rows serves as well as the frame
    kept = driftwatch.profile(frames["reference"], prediction="score", label="label")
    again = driftwatch.estimate_performance(
        kept, frames["current"], prediction="score", label="label", min_rows=100
    )
    assert again == estimate


def test_too_few_labels_and_predictions_give_no_figure(data: dict[str, Any]) -> None:
    frames = data["frames"]
    few = driftwatch.realized_performance(
        frames["reference"], frames["few"], task="binary_classification", prediction="score", label="label"
    )
    assert few.values == {} and not few.enough_labels
    assert (
        few.note is not None
        and "40 labelled rows in the current data" in few.note
        and "min_labels 1000" in few.note
    )
    estimate = driftwatch.estimate_performance(
        frames["reference"], frames["few"], prediction="score", label="label"
    )
    assert (
        estimate.estimates == {} and estimate.note is not None and "fewer than min_rows 500" in estimate.note
    )


@pytest.mark.parametrize(
    ("call", "error", "words"),
    [
        (
            lambda f: driftwatch.check(
                f["reference"], f["current"][["label"]].rename(columns={"label": "q"})
            ),
            driftwatch.CheckError,
            "share no columns; check the data frames or name the columns with features=",
        ),
        (
            lambda f: driftwatch.check(f["reference"], f["current"], features=["x", "nope"]),
            driftwatch.CheckError,
            "has no column(s) nope",
        ),
        (
            lambda f: driftwatch.check(f["reference"], f["current"], method="nope"),
            driftwatch.CheckError,
            "method 'nope' for 'x' is unknown; use auto or one of",
        ),
        (
            lambda f: driftwatch.check(f["reference"], f["current"], drift_share=0),
            driftwatch.CheckError,
            "drift_share 0 must be in (0, 1]",
        ),
        (
            lambda f: driftwatch.check(f["reference"].head(0), f["current"]),
            driftwatch.CheckError,
            "reference has no rows",
        ),
        (
            lambda f: driftwatch.profile(f["reference"], features=["nope"]),
            driftwatch.ReferenceDataError,
            "reference has no column(s) nope",
        ),
        (
            lambda f: driftwatch.load_profile("/nonexistent/profile"),
            driftwatch.ReferenceDataError,
            "not a driftwatch profile",
        ),
        (
            lambda f: driftwatch.estimate_performance(
                f["reference"].assign(score=f["reference"]["label"]),
                f["current"],
                prediction="score",
                label="label",
            ),
            driftwatch.CheckError,
            "performance (binary_classification, prediction score, label label): estimate: the reference's",
        ),
        (
            lambda f: driftwatch.estimate_performance(
                driftwatch.profile(f["reference"]), f["current"], prediction="score", label="label"
            ),
            driftwatch.CheckError,
            "keeps no labelled rows",
        ),
        (
            lambda f: driftwatch.realized_performance(
                f["reference"],
                f["current"].drop(columns="label"),
                task="regression",
                prediction="score",
                label="label",
            ),
            driftwatch.CheckError,
            "current has no label column 'label'",
        ),
    ],
)
def test_errors_are_driftwatch_errors_that_say_what_to_fix(
    data: dict[str, Any], call: Any, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as info:
        call(data["frames"])
    assert isinstance(info.value, driftwatch.DriftwatchError)
    assert words in str(info.value)


def test_every_error_class_is_documented_under_one_base() -> None:
    from driftwatch import errors

    for name in errors.__all__:
        cls = getattr(errors, name)
        assert issubclass(cls, driftwatch.DriftwatchError)
        assert cls.__doc__ and len(cls.__doc__.split()) > 20, name


def test_html_report_is_the_command_report(data: dict[str, Any], tmp_path: Path) -> None:
    frames, paths = data["frames"], data["paths"]
    report = driftwatch.check(frames["reference"], frames["current"], features=["x", "country"])
    page = report.to_html()
    assert page.startswith("<!DOCTYPE html>") or "<html" in page[:500]
    verdict = f"drift detected: {len(report.drifted)} of {len(report.columns)} columns drifted"
    assert verdict in page
    out = tmp_path / "report.html"
    main(
        [
            "check",
            "-r",
            str(paths["reference"]),
            "-u",
            str(paths["current"]),
            "--columns",
            "x,country",
            "-f",
            "html",
            "-o",
            str(out),
        ]
    )
    assert verdict in out.read_text(encoding="utf-8")
