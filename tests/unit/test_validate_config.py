"""`driftwatch validate-config` checks the config against the reference, as the daemon's start-up does.

The prediction and label columns must exist in the reference (a file or a saved profile) and each
feature's drift method must apply to the feature's type; every problem is one line naming the key,
the value and the fix, and the command exits 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.reference import ReferenceDataError
from tests.clirun import driftwatch_cli


def reference(directory: Path) -> Path:
    rows = 200
    frame = pd.DataFrame(
        {
            "age": [20 + i % 50 for i in range(rows)],
            "country": [["DE", "FR", "ES"][i % 3] for i in range(rows)],
            "score": [(i % 10) / 10 for i in range(rows)],
            "label": [int(i % 10 >= 5) for i in range(rows)],
        }
    )
    path = directory / "ref.csv"
    frame.to_csv(path, index=False)
    return path


def write_config(directory: Path, **model: Any) -> Path:
    reference(directory)
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"},
        "models": {"credit": {"reference": "ref.csv", "features": ["age", "country"], **model}},
        "state": {"path": str(directory / "state.sqlite")},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def validate(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate-config", str(path)])
    out, err = capsys.readouterr()
    return code, out, err


def problem_lines(err: str) -> list[str]:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith("driftwatch: ") and "invalid configuration" in lines[0], err
    assert all(line.startswith("  - ") for line in lines[1:]), err
    return lines[1:]


def test_a_config_that_fits_its_reference_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(
        tmp_path,
        features=[{"name": "age", "method": "ks"}, {"name": "country", "method": "TVD"}],
        prediction="score",
        performance={"task": "binary_classification", "label": "label"},
    )
    code, out, err = validate(path, capsys)
    assert (code, err) == (0, "")
    assert "model credit: reference" in out and out.rstrip().endswith(": valid")


def test_missing_prediction_column_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = validate(write_config(tmp_path, prediction="proba"), capsys)
    assert code == 2
    (line,) = problem_lines(err)
    assert line.startswith("  - models.credit.prediction: ")
    assert "'proba'" in line and "it has age, country, score, label" in line and "set prediction" in line


def test_missing_label_column_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path, prediction="score", performance={"task": "binary_classification", "label": "outcome"}
    )
    code, _, err = validate(path, capsys)
    assert code == 2
    (line,) = problem_lines(err)
    assert line.startswith("  - models.credit.performance.label: ")
    assert "'outcome'" in line and "set performance.label" in line


def test_missing_prediction_column_in_a_profile_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, prediction="score")
    assert (
        main(
            [
                "profile",
                "-r",
                str(tmp_path / "ref.csv"),
                "-o",
                str(tmp_path / "prof"),
                "--columns",
                "age,country",
            ]
        )
        == 0
    )
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["models"]["credit"]["reference"] = "prof"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    capsys.readouterr()
    code, _, err = validate(path, capsys)
    assert code == 2
    (line,) = problem_lines(err)
    assert line.startswith("  - models.credit.prediction: the reference profile ")
    assert "rebuild the profile" in line


def test_a_profile_with_its_prediction_column_is_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, prediction="score")
    config = ["--config", str(path), "--model", "credit"]
    assert main(["profile", "-r", str(tmp_path / "ref.csv"), "-o", str(tmp_path / "prof"), *config]) == 0
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["models"]["credit"]["reference"] = "prof"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    capsys.readouterr()
    code, _, err = validate(path, capsys)
    assert (code, err) == (0, "")


@pytest.mark.parametrize(
    ("feature", "method", "kind", "source"),
    [
        ({"name": "country", "type": "categorical"}, "ks", "categorical", "configured"),
        ({"name": "country"}, "wasserstein", "categorical", "inferred from the reference"),
        ({"name": "age"}, "TVD", "numeric", "inferred from the reference"),
        ({"name": "age", "type": "numeric"}, "g_test", "numeric", "configured"),
    ],
)
def test_a_method_that_does_not_fit_the_feature_type_is_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    feature: dict[str, str],
    method: str,
    kind: str,
    source: str,
) -> None:
    other = "age" if feature["name"] == "country" else "country"
    path = write_config(tmp_path, features=[other, {**feature, "method": method}])
    code, _, err = validate(path, capsys)
    assert code == 2
    (line,) = problem_lines(err)
    assert line.startswith(
        f"  - models.credit.features.{feature['name']}.method: {method} does not apply to {kind}"
    )
    assert f"(got {method!r}; the type is {source})" in line
    fix = line.split("; use ", 1)[1]
    assert fix.startswith("auto or one of ") and method not in fix.split(", ")


def test_every_problem_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(
        tmp_path,
        features=[{"name": "age", "method": "chisquare"}, {"name": "country", "method": "ks"}],
        prediction="proba",
    )
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["models"]["other"] = {"reference": "ref.csv", "features": [{"name": "age", "method": "fisher_exact"}]}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    code, _, err = validate(path, capsys)
    assert code == 2
    lines = problem_lines(err)
    assert "(3 problem(s))" in err
    assert [line.split(":")[0] for line in lines] == [
        "  - models.credit.prediction",
        "  - models.credit.features.country.method",
        "  - models.other.features.age.method",
    ]


def test_the_daemon_refuses_to_start_with_the_same_problems(tmp_path: Path) -> None:
    from driftwatch.service.daemon import Daemon

    path = write_config(
        tmp_path, features=[{"name": "country", "type": "categorical", "method": "ks"}], prediction="proba"
    )
    with pytest.raises(ReferenceDataError) as info:
        Daemon(load_settings(path, {}))
    message = str(info.value)
    assert "models.credit.prediction: " in message and "models.credit.features.country.method: ks" in message


def test_run_and_validate_config_exit_2_without_a_traceback(tmp_path: Path) -> None:
    path = write_config(tmp_path, features=[{"name": "country", "method": "ks"}])
    for args in (["validate-config", str(path)], ["run", "--config", str(path)]):
        result = driftwatch_cli(*args)
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert (
            "models.credit.features.country.method: ks does not apply to categorical features"
            in result.stderr
        )
