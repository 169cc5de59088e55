"""The ``driftwatch`` command as a user runs it: exit codes, messages, no tracebacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from driftwatch.cli.main import main
from tests.clirun import driftwatch_cli as driftwatch
from tests.clirun import driftwatch_process


def config(tmp_path: Path, **model_extra: Any) -> Path:
    pd.DataFrame({"age": [30, 41, 52, 38], "country": ["DE", "FR", "DE", "ES"]}).to_csv(
        tmp_path / "ref.csv", index=False
    )
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"},
        "models": {"credit": {"reference": "ref.csv", "features": ["age", "country"], **model_extra}},
    }
    path = tmp_path / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_help_answers_quickly() -> None:
    started = time.monotonic()
    result = driftwatch_process("--help")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    for command in ("run", "validate-config", "schema", "demo"):
        assert command in result.stdout
    assert elapsed < 10


def test_help_does_not_import_the_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from driftwatch.cli.main import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit as exc:\n"
        "    assert exc.code == 0\n"
        "print(sorted(m for m in ('pandas', 'scipy', 'kafka', 'pyarrow') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_validate_config_on_a_valid_file(tmp_path: Path) -> None:
    path = config(tmp_path)
    result = driftwatch("validate-config", str(path))
    assert result.returncode == 0, result.stderr
    assert "valid" in result.stdout
    assert "credit" in result.stdout  # the model and its reference are reported
    assert "Traceback" not in result.stderr


def test_validate_config_on_an_invalid_file(tmp_path: Path) -> None:
    path = config(tmp_path, windw={"length": "1h"}, window={"max_rows": "lots"})
    result = driftwatch("validate-config", str(path))
    assert result.returncode == 2
    assert "models.credit.windw" in result.stderr
    assert "unknown key" in result.stderr
    assert "models.credit.window.max_rows" in result.stderr and "lots" in result.stderr
    assert "Traceback" not in result.stderr
    assert "valid" not in result.stdout


def test_validate_config_with_a_feature_missing_from_the_reference(tmp_path: Path) -> None:
    path = config(tmp_path, features=["age", "incomee"])
    result = driftwatch("validate-config", str(path))
    assert result.returncode == 2
    assert "incomee" in result.stderr
    assert "Traceback" not in result.stderr


def test_validate_config_on_a_missing_file(tmp_path: Path) -> None:
    result = driftwatch("validate-config", str(tmp_path / "nope.yaml"))
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr and "not found" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_a_missing_config_exits_2_without_traceback(tmp_path: Path) -> None:
    result = driftwatch_process("run", "--config", "missing.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "missing.yaml" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_with_an_invalid_config_exits_2_without_traceback(tmp_path: Path) -> None:
    path = config(tmp_path, webhooks=["retrain"])
    result = driftwatch_process("run", "--config", str(path))
    assert result.returncode == 2
    assert "models.credit.webhooks" in result.stderr
    assert "Traceback" not in result.stderr


def test_usage_errors_exit_2() -> None:
    result = driftwatch("frobnicate")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_schema_prints_the_json_schema() -> None:
    result = driftwatch("schema")
    assert result.returncode == 0, result.stderr
    schema = json.loads(result.stdout)
    assert "properties" in schema
    assert {"kafka", "models", "webhooks", "http"} <= set(schema["properties"])
    assert set(schema.get("required", [])) >= {"kafka", "models"}


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).parent / ("driftwatch.exe" if os.name == "nt" else "driftwatch")
    if not script.exists():
        pytest.fail(f"console script {script} is missing; reinstall the project (pip install -e .)")
    result = subprocess.run(
        [str(script), "--version"], check=False, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("driftwatch ")


@pytest.mark.parametrize(
    "argv",
    [
        ["check", "--bogus"],
        ["nope"],
        ["check", "-r", "ref.csv"],  # --current missing
        ["check", "-r", "ref.csv", "-u", "cur.csv", "--format", "pdf"],
    ],
)
def test_a_usage_error_is_one_line_with_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("driftwatch") and "--help" in err
