"""`driftwatch check` and `driftwatch profile` on files, and saved profiles."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftwatch.drift import ColumnOptions, ReferenceProfile, dataset_drift
from driftwatch.reference import load_profile, save_profile
from tests.clirun import CliResult, driftwatch_cli

ROOT = Path(__file__).resolve().parents[2]


def frames(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    n = 3000

    def make(shift: float) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "age": rng.normal(40 + shift * 10, 10, n).round(),
                "income": rng.lognormal(8.5 + shift, 0.4, n),
                "small": rng.integers(0, 4, n).astype(float),
                "country": rng.choice(["DE", "FR", "ES"] if not shift else ["DE", "XX", "YY"], n),
                "flag": rng.choice([True, False], n),
            }
        )
        frame.loc[rng.choice(n, 40, replace=False), "income"] = np.nan
        frame.loc[rng.choice(n, 5, replace=False), "age"] = np.inf
        return frame

    return make(0.0), make(1.0)


def run(*args: str) -> CliResult:
    return driftwatch_cli(*args)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("offline")
    reference, drifted = frames()
    same = frames(seed=4)[0]
    paths = {
        "ref_parquet": directory / "ref.parquet",
        "ref_csv": directory / "ref.csv",
        "drifted": directory / "drifted.parquet",
        "same": directory / "same.csv",
        "garbage": directory / "garbage.parquet",
    }
    reference.to_parquet(paths["ref_parquet"], index=False)
    reference.to_csv(paths["ref_csv"], index=False)
    drifted.to_parquet(paths["drifted"], index=False)
    same.to_csv(paths["same"], index=False)
    paths["garbage"].write_bytes(b"this is not parquet")
    return paths


def test_profile_round_trip_gives_identical_results(tmp_path: Path) -> None:
    reference, current = frames()
    types = {
        "age": "numeric",
        "income": "numeric",
        "small": "numeric",
        "country": "categorical",
        "flag": "categorical",
    }
    profile = ReferenceProfile.build(reference, list(types), types)  # type: ignore[arg-type]
    save_profile(profile, tmp_path / "profile")
    loaded = load_profile(tmp_path / "profile")
    assert loaded.rows == profile.rows and list(loaded.columns) == list(profile.columns)
    for method in ("auto", "psi", "anderson", "t_test", "chisquare"):
        options = {
            c: ColumnOptions(method)
            for c in types
            if method in ("auto", "psi", "chisquare") or types[c] == "numeric"
        }
        before = dataset_drift(profile, {c: current[c] for c in options}, options)
        after = dataset_drift(loaded, {c: current[c] for c in options}, options)
        assert [c.as_dict() for c in before.columns + before.errors] == [
            c.as_dict() for c in after.columns + after.errors
        ], method


def test_order_sensitive_method_survives_the_round_trip(tmp_path: Path) -> None:
    reference, current = frames()
    small = reference.head(400)
    profile = ReferenceProfile.build(small, ["income"], {"income": "numeric"})
    save_profile(profile, tmp_path / "profile")
    options = {"income": ColumnOptions("empirical_mmd")}
    before = dataset_drift(profile, {"income": current["income"].head(300)}, options)
    after = dataset_drift(
        load_profile(tmp_path / "profile"), {"income": current["income"].head(300)}, options
    )
    assert before.columns and before.columns[0].as_dict() == after.columns[0].as_dict()


def test_empirical_mmd_refuses_huge_inputs_per_column() -> None:
    reference, current = frames()
    profile = ReferenceProfile.build(reference, ["income", "age"], {"income": "numeric", "age": "numeric"})
    result = dataset_drift(
        profile,
        {"income": current["income"], "age": current["age"]},
        {"income": ColumnOptions("empirical_mmd")},
    )
    (error,) = result.errors
    assert error.column == "income" and "limit" in (error.error or "")
    assert [c.column for c in result.columns] == ["age"]  # the other column is still checked


def test_check_exit_codes_and_json_shape(files: dict[str, Path]) -> None:
    drifted = run("check", "-r", str(files["ref_parquet"]), "-u", str(files["drifted"]), "-f", "json")
    assert drifted.returncode == 1, drifted.stderr
    report = json.loads(drifted.stdout)
    assert report["dataset_drift"] is True
    assert report["n_columns"] == 5 and report["n_drifted"] >= 3
    assert report["drift_share"] == report["n_drifted"] / report["n_columns"]
    keys = {
        "column",
        "type",
        "method",
        "score",
        "threshold",
        "drift_detected",
        "reference_rows",
        "current_rows",
    }
    for column in report["columns"]:
        assert keys <= set(column)
        assert column["type"] in {"numeric", "categorical"}
    country = next(c for c in report["columns"] if c["column"] == "country")
    assert country["quality"]["unseen_share"] > 0.5  # XX and YY were never seen
    income = next(c for c in report["columns"] if c["column"] == "income")
    assert income["quality"]["missing_share"] == pytest.approx(40 / 3000)
    assert income["current_rows"] == 3000 - 40

    clean = run("check", "-r", str(files["ref_csv"]), "-u", str(files["same"]), "-f", "json")
    assert clean.returncode == 0, clean.stderr
    assert json.loads(clean.stdout)["dataset_drift"] is False


def test_check_table_lists_drifted_columns_first(files: dict[str, Path]) -> None:
    result = run("check", "-r", str(files["ref_parquet"]), "-u", str(files["drifted"]))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["column", "type", "method"]
    body = [
        line
        for line in lines[2:]
        if line and not line.startswith(("DATASET", "no dataset", "!", "prediction"))
    ]
    flags = ["DRIFT" in line.split() for line in body]
    assert flags == sorted(flags, reverse=True), "drifted columns come first"
    assert lines[-1].startswith("DATASET DRIFT")


def test_check_against_a_saved_profile_matches_the_raw_reference(
    files: dict[str, Path], tmp_path: Path
) -> None:
    made = run("profile", "-r", str(files["ref_parquet"]), "-o", str(tmp_path / "p"))
    assert made.returncode == 0, made.stderr
    raw = run("check", "-r", str(files["ref_parquet"]), "-u", str(files["drifted"]), "-f", "json")
    saved = run("check", "-r", str(tmp_path / "p"), "-u", str(files["drifted"]), "-f", "json")
    strip = lambda text: [{k: v for k, v in c.items()} for c in json.loads(text)["columns"]]  # noqa: E731
    assert strip(raw.stdout) == strip(saved.stdout)


def test_check_html_is_evidently_report(files: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = run(
        "check", "-r", str(files["ref_parquet"]), "-u", str(files["drifted"]), "-f", "html", "-o", str(out)
    )
    assert result.returncode == 1, result.stderr
    html = out.read_text(encoding="utf-8")
    assert "<html" in html.lower() and "Dataset Drift" in html and "income" in html


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["-r", "missing.csv", "-u", "{drifted}"], "file not found"),
        (["-r", "{garbage}", "-u", "{drifted}"], "cannot read as parquet"),
        (["-r", "{ref_parquet}", "-u", "{drifted}", "--columns", "nope"], "no column(s) nope"),
        (["-r", "{ref_parquet}", "-u", "{drifted}", "--method", "bogus"], "--method 'bogus' is unknown"),
        (["-r", "{ref_parquet}", "-u", "{drifted}", "--share", "2"], "--share 2.0 must be in (0, 1]"),
        (["-r", "{ref_parquet}", "-u", "{drifted}", "--model", "m"], "--config and --model go together"),
    ],
)
def test_check_bad_input_is_one_line_exit_2(files: dict[str, Path], args: list[str], needle: str) -> None:
    result = run("check", *[a.format(**{k: str(v) for k, v in files.items()}) for a in args])
    assert result.returncode == 2
    assert needle in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_check_uses_model_settings_from_config(files: dict[str, Path], tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: t}}
models:
  m:
    reference: {files["ref_parquet"]}
    features: [{{name: age, method: ks, threshold: 0.01}}, {{name: small, type: categorical}}]
    prediction: income
    drift: {{share: 0.9}}
""",
        encoding="utf-8",
    )
    result = run(
        "check",
        "-r",
        str(files["ref_parquet"]),
        "-u",
        str(files["drifted"]),
        "-c",
        str(config),
        "-m",
        "m",
        "-f",
        "json",
    )
    report = json.loads(result.stdout)
    assert [c["column"] for c in report["columns"]] == ["age", "small"]
    age, small = report["columns"]
    assert (age["method"], age["threshold"]) == ("ks", 0.01)
    assert small["type"] == "categorical"
    assert report["share_threshold"] == 0.9
    assert report["prediction_drift"]["column"] == "income"
    assert result.returncode == (1 if report["dataset_drift"] else 0)


@pytest.mark.parametrize(("limit", "code"), [(0.01, 1), (0.05, 0)])
def test_check_applies_the_models_quality_limits(
    files: dict[str, Path], tmp_path: Path, limit: float, code: int
) -> None:
    """``--config --model`` takes the model's ``quality:`` limits too: a breach exits 1 like drift, with
    ``data_quality`` in the JSON and a line per breach in the table. (income is 40 of 3000 missing.)"""
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: t}}
models:
  m:
    reference: {files["ref_parquet"]}
    features: [{{name: income, quality: {{missing_share: {limit}}}}}, country]
    quality: {{unseen_share: 0.05}}
""",
        encoding="utf-8",
    )
    common = (
        "check",
        "-r",
        str(files["ref_parquet"]),
        "-u",
        str(files["same"]),
        "-c",
        str(config),
        "-m",
        "m",
    )
    result = run(*common, "-f", "json")
    report = json.loads(result.stdout)
    assert not report["dataset_drift"]
    assert result.returncode == code, result.stderr
    quality = report["data_quality"]
    assert quality["limits"] == {
        "income": {"missing_share": limit, "unseen_share": 0.05},
        "country": {"unseen_share": 0.05},
    }
    breaches = [(b["feature"], b["measure"]) for b in quality["breaches"]]
    assert breaches == ([("income", "missing_share")] if code else [])
    table = run(*common)
    assert table.returncode == code
    assert ("quality income: missing_share 0.01333 above its limit 0.01" in table.stdout) == bool(code)
