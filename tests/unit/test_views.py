"""/api/models of a scoped model: its scopes' and rolling comparisons' latest results beside the whole
model's, and what the scope provider says; a model without scopes answers as it always did."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftwatch.checks.window import CheckResult
from driftwatch.config import ModelSettings, WindowSettings
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.service.metrics import Metrics
from driftwatch.service.model_checks import ModelCheck
from driftwatch.service.results import LatestResults
from driftwatch.service.views import Views
from driftwatch.stream.windows import ColumnSpec, Window, WindowSnapshot

NOW = 1_800_000_000.0


def model_check(model: str) -> ModelCheck:
    rng = np.random.default_rng(3)
    settings = ModelSettings(reference=Path("unused.csv"), features=["x"], window=WindowSettings(min_rows=10))
    profile = ReferenceProfile.build(pd.DataFrame({"x": rng.normal(0, 1, 400)}), ["x"], {})
    return ModelCheck(model, settings, profile)


def run(check: ModelCheck, shift: float) -> CheckResult:
    frame = pd.DataFrame({"x": np.random.default_rng(4).normal(shift, 1, 300)})
    return check.run(WindowSnapshot(frame, NOW - 3600, NOW, 300, {}))


def views(latest: LatestResults, info: dict[str, dict[str, Any]]) -> Views:
    checks = {name: model_check(name) for name in ("scoped", "plain")}
    windows = {name: Window([ColumnSpec("x", "numeric")], 3600.0, 1000) for name in checks}
    return Views(checks, windows, latest, {}, {}, Metrics(), scope_info=info.get)


def test_a_scoped_model_lists_its_scopes_and_rolling_results_and_the_providers_keys() -> None:
    latest = LatestResults()
    check = model_check("scoped")
    whole = run(check, 0.0)
    latest.put(whole)
    segment = dataclasses.replace(run(check, 2.0), scope="country=DE", segment="country=DE")
    version = dataclasses.replace(run(check, 0.0), scope="v=7", model_version="7")
    rolling = dataclasses.replace(run(check, 2.0), check="data_drift@rolling", baseline="rolling")
    for result in (segment, version, rolling):
        latest.put(result)
    latest.put(run(model_check("plain"), 0.0))
    segments = {"country": {"members": ["DE"], "retiring": [], "other_share": 0.4, "values": 12, "epoch": 3}}
    got = views(latest, {"scoped": {"segments": segments}}).results()

    scoped = got["scoped"]
    assert scoped["latest"] == whole.as_dict()  # the whole model's fields stay as they were
    assert scoped["scopes"] == {"country=DE": segment.as_dict(), "v=7": version.as_dict()}
    assert scoped["scopes"]["country=DE"]["segment"] == "country=DE"
    assert scoped["scopes"]["country=DE"]["dataset_drift"] is True
    assert scoped["rolling"] == {"": rolling.as_dict()}
    assert scoped["rolling"][""]["baseline"] == "rolling"
    assert scoped["segments"] == segments
    # a model without scopes answers as before: no new keys
    assert set(got["plain"]) == {"model", "window_rows", "latest", "checked_at"}
