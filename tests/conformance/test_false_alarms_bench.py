"""bench/false_alarms.py chose window.min_rows' default: its measurement must keep measuring what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from driftwatch.config import MIN_ROWS_DEFAULT

ROOT = Path(__file__).resolve().parents[2]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("false_alarms", ROOT / "bench" / "false_alarms.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_null_windows_alarm_often_when_small_and_never_at_the_default() -> None:
    fa = bench()
    reference = fa.synthetic("continuous", 5000, seed=1)
    rates = fa.null_rates(reference, [30, MIN_ROWS_DEFAULT], reps=40, seed=2, target=0.01)
    small, default = rates[30], rates[MIN_ROWS_DEFAULT]
    assert small[0] > 0.5  # distance tests with fixed thresholds on 30 unshifted rows: mostly "drift"
    assert default[0] == 0.0 and default[2] == 40  # quiet at the default, every window drawn
    assert fa.smallest_quiet(rates, 0.01) == MIN_ROWS_DEFAULT


def test_the_readme_quotes_the_default_it_measured() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"**Why {MIN_ROWS_DEFAULT}.**" in text
    assert "bench/false_alarms.py" in text
