"""bench/embeddings.py backs the README's speed and accuracy tables: it must keep measuring what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning", "ignore::UserWarning", "ignore::FutureWarning"
)


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("embeddings_bench", ROOT / "bench" / "embeddings.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_rows_agree_with_evidently_and_skip_what_they_say(capsys: pytest.CaptureFixture[str]) -> None:
    bench().speed([400], 8, 2, evidently_mmd_max=300, mmd_single=300, mmd_max=1000)
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "400" in line]
    assert len(rows) == 7
    assert all(row.endswith("| yes |") for row in rows if not row.startswith("| mmd"))
    assert all("(1 run)" in row and "GB kernel" in row for row in rows if row.startswith("| mmd"))
    # driftwatch's peak memory in MiB is a number on every row
    assert all(float(row.split("|")[4].replace(",", "")) >= 0 for row in rows)


def test_accuracy_counts_false_alarms_and_detections(capsys: pytest.CaptureFixture[str]) -> None:
    bench().accuracy(300, 16, 2)
    rows = {
        line.split("|")[1].strip(): line
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("| ")
    }
    assert set(rows) >= {"model", "ratio", "distance bootstrap", "mmd bootstrap"}
    # Evidently's default quantile_probability=0.05 makes the mmd bootstrap say drift on undrifted data
    assert rows["mmd bootstrap"].split("|")[2].strip() == "100%"
