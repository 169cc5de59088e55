"""The same check seen through every path: /api/models, /metrics, the webhook event, the report, and the
offline ``driftwatch check`` on the same reference and rows, with real data (scikit-learn's bundled sets).

A path that says more than the check found (a verdict where the check had none) is the defect these
tests look for.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

import driftwatch.checks
from driftwatch.daemon import Daemon
from tests.test_no_data import Clock, clock, daemon, get, shifted  # noqa: F401  (fixtures)


def status_and_body(d: Daemon, path: str) -> tuple[int, bytes]:
    host, port = d.http.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_a_failed_data_drift_part_gives_no_made_up_verdict_in_the_report(
    daemon: Daemon,  # noqa: F811
    clock: Clock,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/api says "no verdict" (dataset_drift null, errors.data_drift); the report must not say "no drift:
    0 of 0 columns drifted" under Evidently's own verdict: it answers 409 with the reason, as without data."""

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine broke")

    daemon.handle(shifted(clock, 200))
    monkeypatch.setattr(driftwatch.checks, "dataset_drift", fail)
    result = daemon.run_check("m")
    assert "data_drift" in result.errors
    latest = json.loads(get(daemon, "/api/models/m"))["latest"]
    assert latest["dataset_drift"] is None and "engine broke" in latest["errors"]["data_drift"]
    status, body = status_and_body(daemon, "/reports/m/latest.html")
    assert b"no drift: 0 of 0" not in body
    assert status == 409, body[:300]
    answer = json.loads(body)
    assert answer["error"].startswith("data_drift failed") and "engine broke" in answer["error"]
