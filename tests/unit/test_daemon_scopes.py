"""A scoped model's data path without a broker: segments, versions and a rolling baseline, each scope's
window, result, alert state and series, and the paths that must agree (scope window vs the model
window filtered, /api vs /metrics, before and after a restart)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.alerting.policy import AlertEvent
from driftwatch.checks.window import CheckResult
from driftwatch.config import load_settings
from driftwatch.scope import Scope
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0
COUNTRIES = ["DE", "FR", "IT", "ES", "PL", "NL", "BE", "LU"]
SHARES = [0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.04, 0.01]


@dataclass
class Msg:
    value: bytes | None
    timestamp: int = int(NOW * 1000) - 1000
    topic: str = "predictions"
    partition: int = 0
    offset: int = 0


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reference(path: Path, rows: int = 4000, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": rng.normal(size=rows),
            "country": rng.choice(COUNTRIES, size=rows, p=SHARES),
            "score": rng.uniform(size=rows),
        }
    ).to_csv(path, index=False)


FEATURES = "[x, y, {name: country, type: categorical}]"


def make(tmp_path: Path, model: str, clock: Clock, features: str = FEATURES) -> Daemon:
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.csv
    features: {features}
    prediction: score
    window: {{length: 1h, max_rows: 20000, min_rows: 200}}
{model}
state: {{path: state.sqlite}}
""",
        encoding="utf-8",
    )
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)


def records(
    rows: int,
    seed: int,
    shift: dict[str, float] | None = None,
    version: Any = None,
    at: float = NOW - 1,
    offset: int = 0,
    metadata: bool = False,
) -> list[Msg]:
    rng = np.random.default_rng(seed)
    countries = rng.choice(COUNTRIES, size=rows, p=SHARES)
    x = rng.normal(size=rows)
    out = []
    for i in range(rows):
        c = str(countries[i])
        record: dict[str, Any] = {
            "model": "m",
            "timestamp": at,
            "features": {
                "x": float(x[i] + (shift or {}).get(c, 0.0)),
                "y": float(rng.normal()),
                "country": c,
            },
            "prediction": float(rng.uniform()),
        }
        if version is not None:
            record["model_version"] = version(i) if callable(version) else version
        if metadata:
            record["metadata"] = {"region": "eu" if c in ("DE", "FR") else "rest"}
        out.append(Msg(json.dumps(record).encode(), offset=offset + i))
    return out


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    for family in daemon.metrics.registry.collect():
        for s in family.samples:
            if s.name == name and {k: v for k, v in s.labels.items() if v} == labels:
                return float(s.value)
    return None


def events(daemon: Daemon) -> list[tuple[AlertEvent, CheckResult]]:
    captured: list[tuple[AlertEvent, CheckResult]] = []
    daemon._notify = lambda event, result: captured.append((event, result))  # type: ignore[method-assign]
    return captured


SEGMENTS = """    drift: {share: 0.3}
    segments:
      columns: [country]
      top_k: 5
      min_rows: 300
      stability: {promote_after: 1}
"""


def test_only_the_drifting_segment_alerts_and_other_scopes_keep_quiet(tmp_path: Path) -> None:
    clock = Clock()
    # x is judged by its Wasserstein distance (in reference standard deviations) against 0.2: PL's shift
    # of 1.5 moves the whole model's x by ~0.15 (PL is 10% of the traffic), the segment's by 1.5
    daemon = make(
        tmp_path,
        SEGMENTS,
        clock,
        features="[{name: x, method: wasserstein, threshold: 0.2}, y, {name: country, type: categorical}]",
    )
    sent = events(daemon)
    daemon.handle(records(8000, 1))
    daemon.run_check("m")  # the first check promotes the top 5 (and seeds them from the model window)
    scopes = daemon.scoped["m"].scopes()
    assert [s.key for s in scopes] == [
        *(f"country={c}" for c in sorted(["DE", "FR", "IT", "ES", "PL"])),
        "country:other",
    ]
    daemon.handle(records(8000, 2, shift={"PL": 1.5}, offset=8000))
    for _ in range(3):
        whole = daemon.run_check("m")
    assert whole is not None and whole.answered and not whole.drift.dataset_drift
    firing = [(e.model, e.check, r.scope) for e, r in sent if e.transition == "firing"]
    assert firing == [("m", "data_drift", "country=PL")]
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_drift", segment="country=PL") == 1
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_drift", segment="country=DE") == 0
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_drift") == 0
    # no baseline: no rolling alert anywhere
    rolling = [
        s.labels
        for family in daemon.metrics.registry.collect()
        for s in family.samples
        if s.name == "driftwatch_alert_active" and s.labels["check"].endswith("@rolling")
    ]
    assert rolling == []
    # every scope has a result of its own, and /api agrees with /metrics
    results = daemon.latest.scoped("m")
    other = results[("country:other", "")]
    assert other.segment == "country:other" and other.rows > 0
    pl = results[("country=PL", "")]
    assert pl.answered and pl.drift.dataset_drift
    assert sample(daemon, "driftwatch_window_rows", model="m", segment="country=PL") == pl.rows
    assert sample(daemon, "driftwatch_dataset_drift_detected", model="m", segment="country=PL") == 1
    api = daemon.results()["m"]
    assert api["scopes"]["country=PL"]["dataset_drift"] is True


def test_a_segment_window_is_the_model_window_filtered_while_nothing_is_trimmed(tmp_path: Path) -> None:
    daemon = make(tmp_path, SEGMENTS, Clock())
    daemon.handle(records(3000, 1))
    daemon.run_check("m")
    daemon.handle(records(3000, 2, offset=3000))
    whole = daemon.windows["m"].snapshot(NOW, keys=True).frame
    scoped = daemon.scoped["m"]
    for scope in scoped.scopes():
        frame = scoped.windows.window(scope).snapshot(NOW, keys=True).frame
        segment = scope.segment
        assert segment is not None
        if segment.kind == "other":
            members = [s.value for s in scoped.directory.segments("country")]
            expected = whole[~whole["country"].isin(members)]
        else:
            expected = whole[whole["country"] == segment.value]
        assert sorted(frame["__key"]) == sorted(expected["__key"]), scope.key


def test_a_segment_below_min_rows_says_so_and_never_alerts(tmp_path: Path) -> None:
    daemon = make(tmp_path, SEGMENTS.replace("top_k: 5", "top_k: 8").replace("min_share", "x"), Clock())
    sent = events(daemon)
    daemon.handle(records(6000, 1, shift={"LU": 3.0}))
    for _ in range(3):
        daemon.run_check("m")
    lu = daemon.latest.get("m", "country=LU")
    assert lu is not None and lu.status == "not_enough_rows"
    assert lu.reason is not None and "300" in lu.reason
    assert not [e for e, r in sent if r.scope == "country=LU"]


def test_versions_get_windows_references_results_and_one_announcement(tmp_path: Path) -> None:
    clock = Clock()
    reference(tmp_path / "ref8.csv", seed=8)
    daemon = make(
        tmp_path,
        """    versions:
      max_live: 3
      references: {8: ref8.csv}
""",
        clock,
    )
    announced: list[tuple[str, str, float]] = []
    daemon.notifier.notify_version = lambda m, v, s, t: announced.append((m, v, t))  # type: ignore[method-assign]
    daemon.handle(records(4000, 1, version=lambda i: 7 if i % 2 else "8"))
    daemon.run_check("m")
    daemon.handle(records(4000, 2, version=lambda i: "7" if i % 2 else 8, offset=4000))
    daemon.run_check("m")
    assert sorted(v for _, v, _ in announced) == ["7", "8"]
    results = daemon.latest.scoped("m")
    v7, v8 = results[("v=7", "")], results[("v=8", "")]
    assert v7.model_version == "7" and v8.model_version == "8"
    assert v7.rows + v8.rows == daemon.latest.get("m").rows  # type: ignore[union-attr]
    assert v7.rows == 4000 and v8.rows == 4000
    # version 8 is judged against its own reference
    checks = daemon.scoped["m"]._reference(Scope("m", version="8")).checks
    assert checks.settings.reference == tmp_path / "ref8.csv"
    assert sample(daemon, "driftwatch_window_rows", model="m", model_version="8") == 4000


def test_a_rolling_baseline_catches_a_step_the_reference_misses_then_absorbs_it(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(
        tmp_path,
        """    drift: {share: 0.3}
    baseline:
      rolling: 2h
      lag: 0
      min_rows: 200
      min_coverage: 0.5
      features: {x: {method: wasserstein, threshold: 0.1}, y: {method: wasserstein, threshold: 0.1}}
      prediction: false
""",
        clock,
        # the training reference's thresholds are loose: a step of 0.5 sd stays below them
        features="[{name: x, method: wasserstein, threshold: 1.0}, {name: y, method: wasserstein, threshold: 1.0},"
        " {name: country, type: categorical}]",
    )
    assert daemon.scoped["m"].baseline is not None
    sent = events(daemon)
    step_at = NOW + 3 * 3600
    t = NOW - 3600
    offset = 0
    verdicts = []
    while t < NOW + 8 * 3600:
        clock.now = t
        shift = 0.5 if t >= step_at else 0.0
        daemon.handle(records(400, int(t), shift={c: shift for c in COUNTRIES}, at=t - 1, offset=offset))
        offset += 400
        if int(t) % 1800 == 0:
            daemon.run_check("m")
            rolling = daemon.latest.get("m", "", "rolling")
            verdicts.append(
                (t, rolling.status if rolling else None, rolling.drift.dataset_drift if rolling else None)
            )
        t += 300
    fired = [(e.check, e.transition) for e, _ in sent]
    assert ("data_drift", "firing") not in fired, verdicts
    assert ("data_drift@rolling", "firing") in fired
    assert ("data_drift@rolling", "resolved") in fired
    assert fired.count(("data_drift@rolling", "firing")) == 1
    assert verdicts, verdicts


def test_scopes_survive_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, SEGMENTS, clock)
    daemon.handle(records(6000, 1))
    daemon.run_check("m")
    daemon.handle(records(2000, 2, offset=6000))
    daemon.checkpoint({("predictions", 0): 8000})
    before = {s.key: daemon.scoped["m"].windows.window(s).rows() for s in daemon.scoped["m"].scopes()}
    daemon.store.close()
    again = make(tmp_path, SEGMENTS, clock)
    after = {s.key: again.scoped["m"].windows.window(s).rows() for s in again.scoped["m"].scopes()}
    assert after == before and sum(after.values()) > 0


def test_an_unscoped_model_exports_what_it_did(tmp_path: Path) -> None:
    daemon = make(tmp_path, "", Clock())
    assert daemon.scoped == {}
    daemon.handle(records(500, 1))
    result = daemon.run_check("m")
    assert result is not None and "scope" not in result.as_dict()
    assert sample(daemon, "driftwatch_window_rows", model="m") == 500


def labelled_records(
    rows: int, seed: int, flip: dict[str, float], offset: int = 0
) -> tuple[list[Msg], dict[str, list[tuple[int, int]]]]:
    """Records of versions 7 and 8 alternating, each with its label inline; version v's predictions are
    wrong with probability ``flip[v]``. Returns the messages and, per version, (label, prediction) pairs."""
    rng = np.random.default_rng(seed)
    out, pairs = [], {"7": [], "8": []}  # type: dict[str, list[tuple[int, int]]]
    for i in range(rows):
        version = "7" if i % 2 else "8"
        label = int(rng.integers(0, 2))
        prediction = label if rng.uniform() >= flip[version] else 1 - label
        record = {
            "model": "m",
            "model_version": version,
            "prediction_id": f"{seed}-{i}",
            "timestamp": NOW - 1,
            "features": {"x": float(rng.normal()), "y": float(rng.normal()), "country": "DE"},
            "prediction": prediction,
            "label": label,
        }
        out.append(Msg(json.dumps(record).encode(), offset=offset + i))
        pairs[version].append((label, prediction))
    return out, pairs


def test_the_challengers_accuracy_difference_comes_with_newcombes_interval_and_alerts(tmp_path: Path) -> None:
    from statsmodels.stats.proportion import confint_proportions_2indep

    rng = np.random.default_rng(3)
    n = 3000
    label = rng.integers(0, 2, n)
    pd.DataFrame(
        {"x": rng.normal(size=n), "y": rng.normal(size=n), "country": "DE", "score": label, "label": label}
    ).to_csv(tmp_path / "ref.csv", index=False)
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m:
    reference: ref.csv
    features: [x, y, {name: country, type: categorical}]
    prediction: score
    window: {length: 1h, max_rows: 20000, min_rows: 200}
    performance: {task: binary_classification, label: label, min_labels: 100}
    versions:
      champion_challenger: {champion: "7", challenger: "8", metrics: [accuracy], alert: {worse_by: 0.0}}
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=Clock())
    sent = events(daemon)
    messages, pairs = labelled_records(4000, 1, {"7": 0.05, "8": 0.2})
    daemon.handle(messages)
    daemon.run_check("m")
    daemon.run_check("m")
    hits = {v: sum(a == b for a, b in p) for v, p in pairs.items()}
    counts = {v: len(p) for v, p in pairs.items()}
    lower, upper = confint_proportions_2indep(
        hits["8"], counts["8"], hits["7"], counts["7"], method="newcomb", compare="diff", alpha=0.05
    )
    difference = hits["8"] / counts["8"] - hits["7"] / counts["7"]
    comparison = daemon.results()["m"]["comparison"]
    accuracy = comparison["metrics"]["accuracy"]
    assert comparison["design"] == "split"
    assert accuracy["interval"]["estimate"] == pytest.approx(difference)
    assert accuracy["interval"]["lower"] == pytest.approx(lower)
    assert accuracy["interval"]["upper"] == pytest.approx(upper)
    labels = {"model": "m", "model_version": "8", "metric": "accuracy"}
    assert sample(daemon, "driftwatch_challenger_difference", **labels) == pytest.approx(difference)
    assert sample(daemon, "driftwatch_challenger_difference_lower", **labels) == pytest.approx(lower)
    # realized accuracy per version: each version's own labelled rows
    for version in ("7", "8"):
        realized = sample(
            daemon, "driftwatch_performance", model="m", metric="accuracy", model_version=version
        )
        assert realized == pytest.approx(hits[version] / counts[version])
    fired = [(e.check, e.transition, r.model_version) for e, r in sent]
    assert fired.count(("challenger:accuracy", "firing", "8")) == 1
    assert (
        sample(daemon, "driftwatch_alert_active", model="m", check="challenger:accuracy", model_version="8")
        == 1
    )


def test_a_firing_segment_that_leaves_the_top_k_is_retired_with_a_resolved_event(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(
        tmp_path,
        SEGMENTS.replace("top_k: 5", "top_k: 2").replace(
            "stability: {promote_after: 1}", "stability: {promote_after: 1, demote_after: 1, retire_after: 0}"
        ),
        clock,
        features="[{name: x, method: wasserstein, threshold: 0.2}, y, {name: country, type: categorical}]",
    )
    sent = events(daemon)
    daemon.handle(records(6000, 1, shift={"FR": 2.0}))
    daemon.run_check("m")
    daemon.run_check("m")
    assert ("data_drift", "firing", "country=FR") in [(e.check, e.transition, r.scope) for e, r in sent]
    # an hour later FR's traffic is gone: DE and IT take the top 2, FR's firing alert is retired
    clock.now = NOW + 3700
    rng_shift = {"FR": 0.0}
    batch = [
        m for m in records(6000, 2, shift=rng_shift, at=clock.now - 1, offset=6000) if b'"FR"' not in m.value
    ]  # type: ignore[operator]
    daemon.handle(batch)
    fr = {"model": "m", "check": "data_drift", "segment": "country=FR"}
    for _ in range(5):
        daemon.run_check("m")
        if any(e.reason == "retired" for e, _ in sent):
            break
    retired = [
        (e.check, e.transition, e.reason)
        for e, r in sent
        if e.scope == "country=FR" and e.transition == "resolved"
    ]
    assert retired == [("data_drift", "resolved", "retired")]
    assert daemon.latest.get("m", "country=FR") is None
    # a scrape now sees the alert end and the retirement counted; the scope's series go at the next check
    assert sample(daemon, "driftwatch_alert_active", **fr) == 0
    assert sample(daemon, "driftwatch_alert_transitions_total", state="retired", **fr) == 1
    daemon.run_check("m")
    assert sample(daemon, "driftwatch_alert_active", **fr) is None
    assert sample(daemon, "driftwatch_alert_transitions_total", state="retired", **fr) is None


def test_a_firing_segment_alert_survives_a_restart_without_firing_again(tmp_path: Path) -> None:
    clock = Clock()
    features = "[{name: x, method: wasserstein, threshold: 0.2}, y, {name: country, type: categorical}]"
    daemon = make(tmp_path, SEGMENTS, clock, features=features)
    sent = events(daemon)
    daemon.handle(records(8000, 1, shift={"PL": 1.5}))
    daemon.run_check("m")
    daemon.run_check("m")
    assert [(e.transition, r.scope) for e, r in sent] == [("firing", "country=PL")]
    daemon.checkpoint({("predictions", 0): 8000})
    daemon.store.close()
    again = make(tmp_path, SEGMENTS, clock, features=features)
    assert again.policy.firing("m", "data_drift", scope="country=PL")
    assert sample(again, "driftwatch_alert_active", model="m", check="data_drift", segment="country=PL") == 1
    resent = events(again)
    again.run_check("m")
    assert resent == []  # still firing: no second event
    assert again.latest.get("m", "country=PL").drift.dataset_drift  # type: ignore[union-attr]


def test_a_segment_column_from_record_metadata_gets_its_scopes(tmp_path: Path) -> None:
    daemon = make(
        tmp_path,
        """    segments:
      columns: [{column: region, source: metadata, reference: model}]
      max_rows: 20000
      top_k: 2
      min_rows: 100
      stability: {promote_after: 1}
""",
        Clock(),
    )
    daemon.handle(records(3000, 1, metadata=True))
    daemon.run_check("m")
    daemon.handle(records(3000, 2, metadata=True, offset=3000))
    daemon.run_check("m")
    results = daemon.latest.scoped("m")
    whole = daemon.latest.get("m")
    assert whole is not None
    eu, rest = results[("region=eu", "")], results[("region=rest", "")]
    frame = daemon.windows["m"].snapshot(NOW).frame
    assert eu.rows == int((frame["region"] == "eu").sum()) and eu.rows + rest.rows == whole.rows
    # the region is not a feature: it is never drift-tested, in the model or in its segments
    assert "region" not in [c.column for c in whole.drift.columns]
    assert "region" not in [c.column for c in eu.drift.columns]
