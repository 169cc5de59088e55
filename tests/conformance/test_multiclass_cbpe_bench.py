"""bench/multiclass_cbpe.py backs the README's multiclass estimation tables: it must keep measuring what
it says (here without NannyML, which the project's environment does not have)."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("multiclass_bench", ROOT / "bench" / "multiclass_cbpe.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_line_times_driftwatch_and_measures_its_error() -> None:
    line = bench().measure(2000, 1, None)
    assert line["rows"] == 2000 and line["fit_ours"] > 0 and line["estimate_ours"] > 0
    assert "fit_nml" not in line
    assert all(0 <= v < 0.1 for v in line["mae_ours"].values())


def test_stored_accuracy_table_is_no_worse_than_nannyml() -> None:
    rows = bench().stored_accuracy()
    assert {case for case, *_ in rows} == {"nannyml_synthetic", "overconfident_shift"}
    assert all(ours <= theirs + 0.001 for _, _, ours, theirs in rows)


def test_undrifted_windows_rarely_breach_and_stay_in_the_band() -> None:
    (row,) = bench().false_alarms(20, [500])
    assert row["rows"] == 500 and row["false_alarms"] <= 0.1
    assert not math.isnan(row["coverage"]) and row["coverage"] >= 0.9
