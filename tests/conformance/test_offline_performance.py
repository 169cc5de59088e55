"""`driftwatch check --task ...`: realized performance, the reference's, and CBPE's estimate, as documented."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from driftwatch.cli.main import main

ARGS = ["--task", "binary_classification", "--prediction-column", "score", "--label-column", "label"]


def frame(rng: np.random.Generator, rows: int, shift: float) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, rows)
    p = 1.0 / (1.0 + np.exp(-1.5 * x))  # calibrated scores: labels are drawn from them
    return pd.DataFrame(
        {"x": x, "z": rng.normal(size=rows), "score": p, "label": (rng.uniform(size=rows) < p).astype(int)}
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("perf")
    rng = np.random.default_rng(3)
    reference, current = frame(rng, 20_000, 0.0), frame(rng, 5_000, 0.8)
    paths = {
        "reference": directory / "reference.parquet",
        "current": directory / "current.parquet",
        "unlabelled": directory / "unlabelled.parquet",
    }
    reference.to_parquet(paths["reference"])
    current.to_parquet(paths["current"])
    current.drop(columns="label").to_parquet(paths["unlabelled"])
    return paths


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_labels_in_both_files_give_realized_reference_and_estimated_performance(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "-r", str(files["reference"]), "-u", str(files["current"]), *ARGS, "-f", "json"
    )
    assert code == 1  # the shifted input drifts
    result = json.loads(out)
    assert [c["column"] for c in result["columns"]] == ["x", "z"], "score and label are not drift features"
    assert result["prediction_drift"]["column"] == "score"
    current = pd.read_parquet(files["current"])
    predicted = (current["score"] >= 0.5).astype(int)
    assert result["performance"]["accuracy"] == pytest.approx(accuracy_score(current["label"], predicted))
    assert result["performance"]["f1"] == pytest.approx(f1_score(current["label"], predicted))
    assert result["performance"]["roc_auc"] == pytest.approx(
        roc_auc_score(current["label"], current["score"])
    )
    reference = pd.read_parquet(files["reference"])
    assert result["reference_performance"]["accuracy"] == pytest.approx(
        accuracy_score(reference["label"], (reference["score"] >= 0.5).astype(int))
    )
    estimated = result["estimated_performance"]
    assert set(estimated) == {"accuracy", "roc_auc", "f1", "precision", "recall"}
    for metric in ("accuracy", "roc_auc", "f1"):
        band = estimated[metric]
        assert band["lower"] <= band["value"] <= band["upper"]
        # calibrated scores, covariate shift only: CBPE's assumptions hold, so it lands near the truth
        assert abs(band["value"] - result["performance"][metric]) < 0.02, metric
    # the shift changed accuracy, and the estimate saw it without labels
    assert estimated["accuracy"]["value"] - result["reference_performance"]["accuracy"] > 0.03


def test_labels_in_the_reference_only_give_the_estimate(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "-r", str(files["reference"]), "-u", str(files["unlabelled"]), *ARGS, "-f", "json"
    )
    result = json.loads(out)
    assert "performance" not in result
    assert {"estimated_performance", "reference_performance"} <= set(result)
    code, table, _ = run(capsys, "-r", str(files["reference"]), "-u", str(files["unlabelled"]), *ARGS)
    assert code == 1
    assert "performance accuracy: reference" in table and "estimated" in table


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--task", "binary_classification"], "--task needs --prediction-column"),
        ([*ARGS[:4], "--label-column", "nope"], "no label column 'nope'"),
        ([*ARGS, "--decision-threshold", "1.5"], "--decision-threshold 1.5"),
    ],
)
def test_bad_performance_arguments_exit_2_with_the_fix(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    code, _, err = run(capsys, "-r", str(files["reference"]), "-u", str(files["current"]), *extra)
    assert code == 2
    assert message in err and "Traceback" not in err


def test_the_html_report_carries_the_same_performance_table(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(
        capsys, "-r", str(files["reference"]), "-u", str(files["current"]), *ARGS, "-f", "json"
    )
    result = json.loads(out)
    page = tmp_path / "report.html"
    code, _, _ = run(
        capsys,
        "-r",
        str(files["reference"]),
        "-u",
        str(files["current"]),
        *ARGS,
        "-f",
        "html",
        "-o",
        str(page),
    )
    assert code == 1
    html = page.read_text(encoding="utf-8")
    section = html[html.index('<section id="driftwatch-performance"') :]
    section = section[: section.index("</section>")]
    assert html.index("driftwatch-performance") > html.lower().index("<body")
    for metric in ("accuracy", "roc_auc", "f1"):
        row = section[section.index(f"<td>{metric}</td>") :].split("</tr>")[0]
        estimate = result["estimated_performance"][metric]
        assert f"<td>{result['reference_performance'][metric]:.4g}</td>" in row
        assert f"<td>{result['performance'][metric]:.4g}</td>" in row
        assert f"{estimate['value']:.4g} [{estimate['lower']:.4g}, {estimate['upper']:.4g}]" in row
    assert f"calibration: {result['calibration']['method']}" in section
