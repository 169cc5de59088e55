"""`driftwatch check` tells the same truth on every path: a saved profile and the raw reference, table,
JSON and HTML, scores and hard labels; and every input error is one line on stderr with exit 2.

The data are scikit-learn's bundled datasets with fitted models, not hand-made toys.
"""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from driftwatch.cli.main import main

TASKS = {
    "binary_classification": load_breast_cancer,
    "multiclass_classification": load_wine,
    "regression": load_diabetes,
}


def scored(task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame: a few features, the fitted model's output and the truth.

    Binary: the probability of the positive class; multiclass: the predicted class; regression: the
    predicted value. The model is fitted on a third split, as in production.
    """
    features, truth = TASKS[task](return_X_y=True, as_frame=True)
    train_x, rest_x, train_y, rest_y = train_test_split(features, truth, test_size=0.6, random_state=0)
    if task == "regression":
        model = make_pipeline(StandardScaler(), Ridge()).fit(train_x, train_y)
    else:
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(train_x, train_y)
    ref_x, cur_x, ref_y, cur_y = train_test_split(rest_x, rest_y, test_size=0.5, random_state=1)
    out = []
    for x, y in ((ref_x, ref_y), (cur_x, cur_y)):
        frame = x.iloc[:, :4].copy()
        if task == "binary_classification":
            frame["prediction"] = model.predict_proba(x)[:, 1]
        else:
            frame["prediction"] = model.predict(x)
        frame["label"] = y.to_numpy()
        out.append(frame.reset_index(drop=True))
    return out[0], out[1]


# The bundled datasets give current files of 54 to 171 rows, below the default min_rows (500). These
# tests are about what a verdict says on each path, so they ask for one on any size (Evidently's
# behaviour); test_offline_min_rows.py tests the small files' own answer, no verdict.
ANY_SIZE = ("--min-rows", "1")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args, *ANY_SIZE])
    out, err = capsys.readouterr()
    return code, out, err


def perf(task: str) -> list[str]:
    return ["--task", task, "--prediction-column", "prediction", "--label-column", "label"]


@pytest.mark.parametrize("task", list(TASKS))
def test_a_saved_profile_gives_the_raw_references_performance(
    task: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = scored(task)
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)
    current.drop(columns="label").to_csv(tmp_path / "unlabelled.csv", index=False)
    made = main(
        [
            "profile",
            "-r",
            str(tmp_path / "ref.csv"),
            "-o",
            str(tmp_path / "profile"),
            "--prediction-column",
            "prediction",
            "--label-column",
            "label",
        ]
    )
    assert made == 0 and "kept for performance" in capsys.readouterr().out
    for current_file in ("cur.csv", "unlabelled.csv"):
        raw = run(
            capsys,
            "-r",
            str(tmp_path / "ref.csv"),
            "-u",
            str(tmp_path / current_file),
            *perf(task),
            "-f",
            "json",
        )
        saved = run(
            capsys,
            "-r",
            str(tmp_path / "profile"),
            "-u",
            str(tmp_path / current_file),
            *perf(task),
            "-f",
            "json",
        )
        assert raw[0] == saved[0] and raw[0] in (0, 1), (raw[2], saved[2])
        assert json.loads(raw[1]) == json.loads(saved[1]), "the profile and the raw reference must agree"
    result = json.loads(raw[1])
    assert "reference_performance" in result
    if task == "binary_classification":
        accuracy = result["estimated_performance"]["accuracy"]
        assert accuracy["lower"] < accuracy["value"] < 1.0, "a real estimate with a real band"
        assert result["reference_performance"]["roc_auc"] < 1.0


def test_a_profile_without_labelled_rows_refuses_performance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = scored("binary_classification")
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)
    assert main(["profile", "-r", str(tmp_path / "ref.csv"), "-o", str(tmp_path / "p")]) == 0
    capsys.readouterr()
    code, out, err = run(
        capsys, "-r", str(tmp_path / "p"), "-u", str(tmp_path / "cur.csv"), *perf("binary_classification")
    )
    assert code == 2 and out == ""
    assert "without the labelled rows" in err and "--prediction-column prediction --label-column label" in err
    assert len(err.strip().splitlines()) == 1


def hard(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out["prediction"] = (out["prediction"] >= 0.5).astype(int)
    return out


@pytest.mark.parametrize("which", ["both", "current"])
def test_hard_labels_get_no_cbpe_estimate_in_any_format(
    which: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = scored("binary_classification")
    (hard(reference) if which == "both" else reference).to_csv(tmp_path / "ref.csv", index=False)
    hard(current).drop(columns="label").to_csv(tmp_path / "cur.csv", index=False)
    files = ["-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"), *perf("binary_classification")]
    code, out, _ = run(capsys, *files, "-f", "json")
    result = json.loads(out)
    assert "estimated_performance" not in result and "calibration" not in result
    assert "hard labels" in result["estimate_note"]
    assert result["reference_performance"]["accuracy"] < 1.0
    table = run(capsys, *files)
    assert table[0] == code
    assert f"performance estimate: {result['estimate_note']}" in table[1] and "estimated" not in table[1]
    page = tmp_path / "r.html"
    assert run(capsys, *files, "-f", "html", "-o", str(page))[0] == code
    html = page.read_text(encoding="utf-8")
    section = html[html.index('id="driftwatch-performance"') :]
    assert "hard labels" in section[: section.index("</section>")]


def write_cases(directory: Path) -> dict[str, tuple[list[str], int, str]]:
    """Inputs, the exit code every format must give, and what stderr must say."""
    reference, current = scored("binary_classification")
    reference.to_csv(directory / "ref.csv", index=False)
    current.to_csv(directory / "same.csv", index=False)
    shifted = current.copy()
    for column in reference.columns[:4]:
        shifted[column] = shifted[column] * 1.5
    shifted.to_csv(directory / "shifted.csv", index=False)
    current.head(0).to_csv(directory / "header_only.csv", index=False)
    nan = current.copy()
    nan["mean area"] = np.nan
    nan.to_csv(directory / "all_nan.csv", index=False)
    text = current.copy()
    text["mean area"] = "large"
    text.to_csv(directory / "text.csv", index=False)
    (directory / "semicolon.csv").write_text(current.to_csv(index=False, sep=";"), encoding="utf-8")
    (directory / "duplicate.csv").write_text(
        current.to_csv(index=False).replace("mean texture", "mean radius", 1), encoding="utf-8"
    )
    constant = current.copy()
    reference.assign(k=1.0).to_csv(directory / "ref_constant.csv", index=False)
    constant.assign(k=1.0).to_csv(directory / "constant.csv", index=False)
    ref = ["-r", str(directory / "ref.csv"), "-u"]
    return {
        "same": ([*ref, str(directory / "same.csv")], 0, ""),
        "shifted": ([*ref, str(directory / "shifted.csv")], 1, ""),
        "constant column": (
            ["-r", str(directory / "ref_constant.csv"), "-u", str(directory / "constant.csv")],
            0,
            "",
        ),
        "header only": ([*ref, str(directory / "header_only.csv")], 2, "no rows (only a header)"),
        "all NaN column": (
            [*ref, str(directory / "all_nan.csv")],
            2,
            "mean area: the current file has no values in this column (all missing)",
        ),
        "text column": (
            [*ref, str(directory / "text.csv")],
            2,
            "mean area: numeric in the reference but text in the current file (e.g. 'large')",
        ),
        "semicolon": ([*ref, str(directory / "semicolon.csv")], 2, "this looks semicolon-separated"),
        "duplicate column": (
            [*ref, str(directory / "duplicate.csv")],
            2,
            "column(s) 'mean radius' appear more than once",
        ),
        "threshold nan": ([*ref, str(directory / "same.csv"), "--threshold", "nan"], 2, "--threshold nan"),
        "threshold -1": ([*ref, str(directory / "same.csv"), "--threshold", "-1"], 2, "--threshold -1.0"),
        "threshold inf": ([*ref, str(directory / "same.csv"), "--threshold", "inf"], 2, "--threshold inf"),
    }


@pytest.fixture(scope="module")
def cases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[list[str], int, str]]:
    return write_cases(tmp_path_factory.mktemp("cases"))


CASES = [
    "same",
    "shifted",
    "constant column",
    "header only",
    "all NaN column",
    "text column",
    "semicolon",
    "duplicate column",
    "threshold nan",
    "threshold -1",
    "threshold inf",
]


@pytest.mark.parametrize("case", CASES)
def test_every_format_gives_the_same_decision(
    case: str,
    cases: dict[str, tuple[list[str], int, str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    args, expected, message = cases[case]
    answers = {}
    for fmt in ("table", "json", "html"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code, _, err = run(capsys, *args, "-f", fmt, "-o", str(tmp_path / f"out.{fmt}"))
        answers[fmt] = code
        assert code == expected, (fmt, err)
        assert not [w for w in caught if issubclass(w.category, RuntimeWarning)], (fmt, caught[0].message)
        if expected == 2:
            assert err.startswith("driftwatch: ") and len(err.strip().splitlines()) == 1, err
            assert message in err
            assert "window" not in err, "the offline command speaks of files"
        else:
            assert err == ""
    assert len(set(answers.values())) == 1
    if case in ("all NaN column", "text column"):
        # the report is still written, and says the same in each format
        report = json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))
        (failed,) = [c for c in report["columns"] if "error" in c]
        assert failed["column"] == "mean area"
        assert failed["error"].startswith(message.removeprefix("mean area: "))
        assert f"! mean area: {failed['error']}" in (tmp_path / "out.table").read_text(encoding="utf-8")
        page = (tmp_path / "out.html").read_text(encoding="utf-8")
        assert 'id="driftwatch-errors"' in page and "Dataset Drift" in page


def test_html_on_an_all_nan_column_prints_no_traceback(
    cases: dict[str, tuple[list[str], int, str]], tmp_path: Path
) -> None:
    args, _, _ = cases["all NaN column"]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "driftwatch",
            "check",
            *args,
            *ANY_SIZE,
            "-f",
            "html",
            "-o",
            str(tmp_path / "r.html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_a_successful_html_run_prints_no_warnings(
    cases: dict[str, tuple[list[str], int, str]], tmp_path: Path
) -> None:
    args, _, _ = cases["constant column"]
    reference = pd.read_csv(args[1])
    reference.loc[:5, "mean area"] = np.inf  # infinities count as missing, and make Evidently warn
    reference.to_csv(tmp_path / "ref.csv", index=False)
    command = [
        "check",
        "-r",
        str(tmp_path / "ref.csv"),
        "-u",
        args[3],
        "-f",
        "html",
        "-o",
        str(tmp_path / "r.html"),
        *ANY_SIZE,
    ]
    result = subprocess.run(
        [sys.executable, "-m", "driftwatch", *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_cjk_and_emoji_column_names_keep_the_table_aligned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = scored("binary_classification")
    names = {"mean radius": "半径", "mean texture": "质地🙂", "mean perimeter": "x"}
    reference[list(names)].rename(columns=names).to_csv(tmp_path / "ref.csv", index=False)
    current[list(names)].rename(columns=names).to_csv(tmp_path / "cur.csv", index=False)
    code, out, _ = run(capsys, "-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"))
    assert code == 0

    def width(text: str) -> int:
        return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)

    lines = out.splitlines()
    starts = {width(line[: line.index("numeric")]) for line in lines if "numeric" in line}
    assert len(starts) == 1 and width(lines[0][: lines[0].index("type")]) in starts


def test_classes_names_the_labels_and_the_advice_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = scored("binary_classification")
    for frame, name in ((reference, "ref.csv"), (current, "cur.csv")):
        frame.assign(label=frame["label"].map({0: "malignant", 1: "benign"})).to_csv(
            tmp_path / name, index=False
        )
    files = ["-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"), *perf("binary_classification")]
    code, _, err = run(capsys, *files)
    assert code == 2 and "pass --classes" in err and "classes=" not in err
    code, out, err = run(capsys, *files, "--classes", "malignant,benign", "-f", "json")
    assert code in (0, 1), err
    numbers = json.loads(out)
    reference.to_csv(tmp_path / "ref01.csv", index=False)
    current.to_csv(tmp_path / "cur01.csv", index=False)
    code, out, _ = run(
        capsys,
        "-r",
        str(tmp_path / "ref01.csv"),
        "-u",
        str(tmp_path / "cur01.csv"),
        *perf("binary_classification"),
        "-f",
        "json",
    )
    same = json.loads(out)
    for key in ("reference_performance", "performance", "estimated_performance"):
        assert numbers[key] == same[key], key


def test_config_performance_section_applies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    reference, current = scored("binary_classification")
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: t}}
models:
  m:
    reference: {tmp_path / "ref.csv"}
    features: [mean radius, mean texture]
    prediction: prediction
    window: {{min_rows: 50}}  # the current file has about 110 rows
    performance: {{task: binary_classification, label: label, decision_threshold: 0.8, estimate: false,
                   min_labels: 50}}
""",
        encoding="utf-8",
    )
    files = ["-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"), "-f", "json"]
    code, out, err = run(capsys, *files, "-c", str(config), "-m", "m")
    assert code in (0, 1), err
    result = json.loads(out)
    flags = json.loads(run(capsys, *files, *perf("binary_classification"), "--decision-threshold", "0.8")[1])
    assert result["reference_performance"] == flags["reference_performance"]
    assert result["performance"] == flags["performance"]
    assert "estimated_performance" not in result, "estimate: false in the config"
    assert [c["column"] for c in result["columns"]] == ["mean radius", "mean texture"]


def test_duplicate_yaml_keys_are_refused_naming_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = scored("binary_classification")
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.to_csv(tmp_path / "cur.csv", index=False)
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: t}}
models:
  m:
    reference: {tmp_path / "ref.csv"}
    features: [mean radius]
    drift: {{share: 0.5}}
    drift: {{share: 0.9}}
""",
        encoding="utf-8",
    )
    code, out, err = run(
        capsys, "-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"), "-c", str(config), "-m", "m"
    )
    assert code == 2 and out == ""
    assert "key 'drift' appears twice" in err and "line 8" in err and "line 7" in err
    assert len(err.strip().splitlines()) == 1


def test_the_daemon_reads_performance_from_a_profile_made_with_its_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from driftwatch.config import load_settings
    from driftwatch.service.model_checks import performance_monitor

    reference, _ = scored("binary_classification")
    reference.to_csv(tmp_path / "ref.csv", index=False)
    template = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: t}}
models:
  m:
    reference: {reference}
    features: [mean radius, mean texture]
    prediction: prediction
    performance: {{task: binary_classification, label: label}}
"""
    (tmp_path / "raw.yaml").write_text(template.format(reference=tmp_path / "ref.csv"), encoding="utf-8")
    (tmp_path / "saved.yaml").write_text(template.format(reference=tmp_path / "profile"), encoding="utf-8")
    config = ["-c", str(tmp_path / "raw.yaml"), "-m", "m"]
    made = main(["profile", "-r", str(tmp_path / "ref.csv"), "-o", str(tmp_path / "profile"), *config])
    assert made == 0 and "kept for performance" in capsys.readouterr().out
    raw = performance_monitor("m", load_settings(tmp_path / "raw.yaml").models["m"])
    saved = performance_monitor("m", load_settings(tmp_path / "saved.yaml").models["m"])
    assert raw.reference == saved.reference and raw.reference["roc_auc"] < 1.0
    assert raw.cbpe is not None and saved.cbpe is not None
    window = reference["prediction"].to_numpy()[:120]
    assert raw.cbpe.estimate(window) == saved.cbpe.estimate(window)


def test_empty_inputs_to_profile_and_performance_say_so_in_file_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = scored("binary_classification")
    reference.head(0).to_csv(tmp_path / "empty.csv", index=False)
    assert main(["profile", "-r", str(tmp_path / "empty.csv"), "-o", str(tmp_path / "p")]) == 2
    assert "no rows (only a header)" in capsys.readouterr().err
    reference.to_csv(tmp_path / "ref.csv", index=False)
    current.assign(prediction=np.nan).drop(columns="label").to_csv(tmp_path / "cur.csv", index=False)
    files = ["-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"), *perf("binary_classification")]
    code, out, err = run(capsys, *files, "-f", "json")
    result = json.loads(out)
    assert code == 2 and "prediction: the current file has no values in this column" in err
    assert (
        result["estimate_note"]
        == "no CBPE estimate: the current file has no values in 'prediction' to estimate from"
    )
    assert "window" not in out + err


def test_the_reference_frame_rebuilt_from_a_profile_keeps_row_order(tmp_path: Path) -> None:
    from driftwatch.drift.profile import ReferenceProfile
    from driftwatch.reference import load_profile, save_profile
    from driftwatch.report import profile_frame

    reference, _ = scored("regression")
    columns = list(reference.columns[:2])
    save_profile(ReferenceProfile.build(reference, columns), tmp_path / "p")
    rebuilt = profile_frame(load_profile(tmp_path / "p"))
    pd.testing.assert_frame_equal(rebuilt, reference[columns].astype("float64"))
