"""`make demo` runs `driftwatch demo`: the whole pipeline on this machine must detect the drift it stages."""

from __future__ import annotations

import pytest

from driftwatch.cli.demo import run_demo

pytestmark = pytest.mark.broker


def test_the_demo_detects_drift_and_shows_performance(capsys: pytest.CaptureFixture[str]) -> None:
    code = run_demo(seconds=90.0, shift_after=8.0, linger=0.0)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "DATASET DRIFT" in out and "signature=VALID" in out and "demo OK" in out
    assert "credit-risk accuracy" in out and "estimated without labels" in out
    assert "stopped broker, receiver, producer and daemon" in out
