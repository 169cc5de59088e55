"""Multivariate drift in segment and version scopes: a segment's methods are fitted once on the reference
rows of its value (the model's fitted methods, with a note, when those rows are too few), a version with
its own reference file is fitted on that file, and the scoped results carry the scope's labels."""

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
from driftwatch.config import ConfigError, load_settings
from driftwatch.scope import Scope
from driftwatch.service import scoped as scoped_module
from driftwatch.service.daemon import Daemon
from tests.clirun import driftwatch_cli

NOW = 1_800_000_000.0
COUNTRIES = ["DE", "FR", "IT", "ES", "PL"]
SHARES = [0.5, 0.4, 0.05, 0.03, 0.02]
SIGN = {"IT": -1.0}
REFERENCE_ROWS = 120_000  # IT's and other's 5%: 6,000 rows each, enough for a segment fit of their own  # Italian spend falls with income, in the reference and live


@dataclass
class Msg:
    value: bytes | None
    timestamp: int = int(NOW * 1000) - 1000
    topic: str = "predictions"
    partition: int = 0
    offset: int = 0


def rows(count: int, seed: int, broken: frozenset[str] = frozenset(), sign: float = 1.0) -> pd.DataFrame:
    """Income and spend tied by country (``SIGN``, times ``sign``); the countries ``broken`` have spend
    drawn apart from income."""
    rng = np.random.default_rng(seed)
    country = rng.choice(COUNTRIES, size=count, p=SHARES)
    income = rng.normal(size=count)
    tie = np.array([SIGN.get(c, 1.0) * sign for c in country])
    spend = 0.8 * tie * income + 0.6 * rng.normal(size=count)
    cut = np.isin(country, list(broken))
    spend[cut] = rng.normal(size=int(cut.sum()))
    return pd.DataFrame({"income": income, "spend": spend, "country": country})


def make(
    tmp_path: Path, scopes: str, chunk_size: int = 50, methods: str = "[reconstruction_error]"
) -> Daemon:
    rows(REFERENCE_ROWS, 1).to_parquet(tmp_path / "ref.parquet")
    (tmp_path / "c.yaml").write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.parquet
    features: [income, spend, {{name: country, type: categorical}}]
    window: {{length: 1h, max_rows: 20000, min_rows: 200}}
    drift:
      multivariate: {{methods: {methods}, columns: [income, spend], chunk_size: {chunk_size}}}
{scopes}
state: {{path: state.sqlite}}
""",
        encoding="utf-8",
    )
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)


SEGMENTS = """    segments:
      columns: [country]
      top_k: 3
      max_rows: 2000
      min_rows: 200
      stability: {promote_after: 1}
"""


def records(frame: pd.DataFrame, offset: int = 0, version: str | None = None) -> list[Msg]:
    out = []
    for i, row in enumerate(frame.itertuples(index=False)):
        record: dict[str, Any] = {
            "model": "m",
            "timestamp": NOW - 1,
            "features": {"income": row.income, "spend": row.spend, "country": row.country},
        }
        if version is not None:
            record["model_version"] = version
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


def joint(result: CheckResult | None) -> tuple[bool, float]:
    assert result is not None and result.multivariate_drift is not None
    found = result.multivariate_drift.results["reconstruction_error"]
    return found.alert, found.value


def test_a_segment_whose_own_correlation_breaks_alerts_while_the_whole_model_does_not(tmp_path: Path) -> None:
    daemon = make(tmp_path, SEGMENTS)
    sent = events(daemon)
    daemon.handle(records(rows(6000, 2)))
    daemon.run_check("m")  # promotes the top 3 and seeds them from the model window
    scoped = daemon.scoped["m"]
    assert [s.key for s in scoped.scopes()] == ["country=DE", "country=FR", "country=IT", "country:other"]
    daemon.handle(records(rows(6000, 3, broken=frozenset({"IT"})), offset=6000))
    for _ in range(2):
        daemon.run_check("m")
    whole = daemon.latest.get("m", "")
    assert not joint(whole)[0]
    results = daemon.latest.scoped("m")
    alerts = {key: joint(r)[0] for (key, _), r in results.items() if key}
    assert alerts == {"country=DE": False, "country=FR": False, "country=IT": True, "country:other": False}
    firing = [(e.check, r.scope) for e, r in sent if e.transition == "firing" and "multivariate" in e.check]
    assert firing == [("multivariate_drift:reconstruction_error", "country=IT")]
    # IT is fitted on its own reference rows: their falling spend is no error there
    it = next(s for s in scoped.scopes() if s.key == "country=IT")
    reference = scoped._reference(it)
    assert reference.note is None
    assert reference.checks.multivariate is not scoped.checks.multivariate
    # the gauges and alert states carry the scope's labels, as the other checks' do
    labels = {"model": "m", "method": "reconstruction_error", "segment": "country=IT"}
    assert sample(daemon, "driftwatch_multivariate_drift_detected", **labels) == 1.0
    assert (
        sample(daemon, "driftwatch_multivariate_drift_detected", **{**labels, "segment": "country=DE"}) == 0.0
    )
    assert (
        sample(daemon, "driftwatch_multivariate_drift_detected", model="m", method="reconstruction_error")
        == 0.0
    )
    check = "multivariate_drift:reconstruction_error"
    assert sample(daemon, "driftwatch_alert_active", model="m", check=check, segment="country=IT") == 1.0


def test_a_segment_with_too_few_reference_rows_for_its_chunks_uses_the_model_fit_with_a_note(
    tmp_path: Path,
) -> None:
    # chunks of 1,000 rows: IT's ~6,000 reference rows give 6 of the 10 chunks a segment fit needs
    daemon = make(tmp_path, SEGMENTS, chunk_size=1000)
    daemon.handle(records(rows(6000, 2)))
    daemon.run_check("m")
    scoped = daemon.scoped["m"]
    it = next(s for s in scoped.scopes() if s.key == "country=IT")
    de = next(s for s in scoped.scopes() if s.key == "country=DE")
    reference = scoped._reference(it)
    assert reference.note is not None
    assert "fewer than the 10000 multivariate drift needs to fit on them" in reference.note
    assert "judged by the model's fitted methods" in reference.note
    assert reference.checks.multivariate is scoped.checks.multivariate
    assert scoped._reference(de).checks.multivariate is not scoped.checks.multivariate  # 60,000 rows
    result = daemon.latest.get("m", "country=IT")
    assert result is not None and reference.note in result.notes
    assert (
        result.multivariate_drift is not None and "reconstruction_error" in result.multivariate_drift.results
    )


def test_a_version_with_its_own_reference_is_fitted_on_it(tmp_path: Path) -> None:
    rows(8000, 8, sign=-1.0).to_parquet(tmp_path / "ref8.parquet")  # version 8: spend falls with income
    daemon = make(tmp_path, "    versions:\n      max_live: 2\n      references: {'8': ref8.parquet}\n")
    sent = events(daemon)
    daemon.handle(records(rows(2000, 2), version="7"))
    daemon.handle(records(rows(3000, 3, sign=-1.0), offset=2000, version="8"))
    for _ in range(2):
        daemon.run_check("m")
    results = daemon.latest.scoped("m")
    assert joint(results[("v=7", "")])[0] is False
    assert joint(results[("v=8", "")])[0] is False  # against its own reference, where spend falls too
    assert not [e for e, r in sent if e.transition == "firing" and r.scope]
    scoped = daemon.scoped["m"]
    own = scoped._reference(Scope("m", version="8")).checks.multivariate
    assert own is not None and own is not scoped.checks.multivariate
    # the same rows against the model's fit: the broken tie is an error there
    frame = daemon.scoped["m"].windows.window(Scope("m", version="8")).snapshot(NOW).frame
    assert scoped.checks.multivariate is not None
    from driftwatch.drift.multivariate_methods import typed_frame

    typed = typed_frame(frame, {"income": "numeric", "spend": "numeric"})
    assert scoped.checks.multivariate["reconstruction_error"].result(typed).alert


def test_each_scope_fits_once_however_many_checks_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fits: list[int] = []
    real = scoped_module.fit_multivariate

    def counted(method: str, reference: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        fits.append(len(reference))
        return real(method, reference, *args, **kwargs)

    monkeypatch.setattr(scoped_module, "fit_multivariate", counted)
    daemon = make(tmp_path, SEGMENTS)
    daemon.handle(records(rows(3000, 10)))
    daemon.run_check("m")  # promotes DE, FR and IT: "other" is rebuilt for the new membership
    scoped = daemon.scoped["m"]
    assert [s.key for s in scoped.scopes()] == ["country=DE", "country=FR", "country=IT", "country:other"]
    settled = len(fits)
    # one fit per scope reference: DE, FR, IT, and other of the new membership (ES and PL's rows)
    counts = rows(REFERENCE_ROWS, 1)["country"].value_counts()
    expected = [counts["DE"], counts["FR"], counts["IT"], counts["ES"] + counts["PL"]]
    assert sorted(fits[-4:]) == sorted(int(n) for n in expected)
    for batch in range(1, 4):
        daemon.handle(records(rows(3000, 10 + batch), offset=3000 * batch))
        daemon.run_check("m")
    assert len(fits) == settled  # not once per check
    assert all(daemon.latest.get("m", s.key) is not None for s in scoped.scopes())


def test_domain_classifier_in_a_model_with_segments_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        make(tmp_path, SEGMENTS, methods="[reconstruction_error, domain_classifier_auroc]")
    text = str(raised.value)
    assert "drift.multivariate.methods" in text and "list only reconstruction_error" in text


@pytest.mark.parametrize("chunk_size", [50, 1000])  # 1000: IT and other fall back on the model's fit
def test_driftwatch_check_segment_gives_the_daemons_segment_numbers_and_notes(
    tmp_path: Path, chunk_size: int
) -> None:
    """`driftwatch check --segment country` fits each segment as the daemon's segment scope does (its
    own reference rows when enough, else the model's fit with the same note) and scores the same rows:
    the same values, thresholds and alerts."""
    # every segment's rows within its max_rows: the daemon's windows hold the file's rows, unsampled
    daemon = make(tmp_path, SEGMENTS.replace("max_rows: 2000", "max_rows: 5000"), chunk_size=chunk_size)
    current = rows(6000, 5, broken=frozenset({"IT"}))
    current.to_parquet(tmp_path / "cur.parquet")
    daemon.handle(records(current))
    daemon.run_check("m")  # promotes DE, FR and IT, each seeded with all its rows: a verdict at once
    scoped = daemon.latest.scoped("m")
    args = [
        "-r",
        str(tmp_path / "ref.parquet"),
        "-u",
        str(tmp_path / "cur.parquet"),
        "-c",
        str(tmp_path / "c.yaml"),
    ]
    args += ["-m", "m", "--segment", "country", "--top-k", "3", "--segment-min-rows", "200", "-f", "json"]
    done = driftwatch_cli("check", *args)
    out = json.loads(done.stdout)
    offline = {s["segment"]: s["multivariate_drift"] for s in out["segments"]}
    compared = 0
    for (key, _), result in scoped.items():
        if not key:
            continue
        assert result.multivariate_drift is not None
        daemon_joint = result.multivariate_drift.as_dict()
        command = offline[key]
        if not daemon_joint:
            assert command is None
            continue
        for method, found in daemon_joint.items():
            for field in ("rows", "chunk_size", "value", "lower_threshold", "upper_threshold"):
                assert command[method][field] == pytest.approx(found[field], rel=1e-9), (key, field)
            assert command[method]["alert"] == found["alert"]
            compared += 1
    assert compared == 4  # DE, FR, IT and other
    fallback = [
        note
        for (key, _), result in scoped.items()
        if key
        for note in result.notes
        if "judged by the model's fitted methods" in note
    ]
    assert len(fallback) == (2 if chunk_size == 1000 else 0)
    assert all(note in out["segment_notes"] for note in fallback)
    assert offline["country=IT"]["reconstruction_error"]["alert"] is True
    assert done.returncode == 1
    # the table says per segment what the JSON says
    table = driftwatch_cli("check", *args[:-2], "-f", "table").stdout
    for segment, joint in offline.items():
        for method, found in (joint or {}).items():
            (line,) = [
                x for x in table.splitlines() if x.startswith(f"multivariate drift {segment} {method}:")
            ]
            assert line.endswith("DRIFT" if found["alert"] else "no drift"), line
