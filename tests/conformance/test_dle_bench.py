"""bench/dle.py backs the README's DLE tables: it must keep measuring what it says (driftwatch's side;
NannyML's runs only in its own environment)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dle_bench", ROOT / "bench" / "dle.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("dle_bench", module)
    spec.loader.exec_module(module)
    return module


def test_speed_times_driftwatch_alone_without_nannyml() -> None:
    line = bench().speed(2000, 1, None)
    assert line["rows"] == 2000 and line["ours"] > 0 and line["lightgbm"] > 0 and "nml" not in line


def test_alarms_count_false_alarms_and_detections() -> None:
    lines = bench().alarms(20)
    calm = {(line["rows"], line["shift"]): line for line in lines}
    assert set(calm) == {(rows, shift) for rows in (250, 1000) for shift in (0.0, 0.25, 0.5, 1.0)}
    # a shift of one standard deviation raises the mae by a fifth: every window of 1000 rows breaches 10%
    assert calm[(1000, 1.0)]["breach_0.10"] == 1.0
    assert calm[(1000, 0.0)]["breach_0.10"] == 0.0
    assert calm[(1000, 1.0)]["realized_rise"] > 0.15
