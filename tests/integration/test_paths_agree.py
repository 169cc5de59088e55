"""The same check seen through every path: /api/models, /metrics, the webhook event, the report, and the
offline ``driftwatch check`` on the same reference and rows, with real data (scikit-learn's bundled sets).

A path that says more than the check found (a verdict where the check had none) is the defect these
tests look for.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

import driftwatch.checks.window
from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.conformance.test_offline_paths import TASKS, run, scored
from tests.unit.test_no_data import NOW, Clock, FakeMessage, clock, daemon, get, shifted  # noqa: F401  (fixtures)


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
    monkeypatch.setattr(driftwatch.checks.window, "dataset_drift", fail)
    result = daemon.run_check("m")
    assert "data_drift" in result.errors
    latest = json.loads(get(daemon, "/api/models/m"))["latest"]
    assert latest["dataset_drift"] is None and "engine broke" in latest["errors"]["data_drift"]
    status, body = status_and_body(daemon, "/reports/m/latest.html")
    assert b"no drift: 0 of 0" not in body
    assert status == 409, body[:300]
    answer = json.loads(body)
    assert answer["error"].startswith("data_drift failed") and "engine broke" in answer["error"]


SAME_CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: {reference}
    features: [{features}]
    prediction: prediction
    window: {{length: 1h, max_rows: 5000, min_rows: 30}}
    quality: {{out_of_range_share: 0.02, missing_share: 0.05}}
    performance:
      task: {task}
      label: label
      min_labels: 30
state: {{path: state.sqlite}}
"""


def same_rows_config(tmp_path: Path, task: str, reference: str = "ref.csv") -> tuple[Path, pd.DataFrame]:
    """A config for one of scikit-learn's datasets with a fitted model, its reference file, and the
    current rows (one feature shifted, a few values missing)."""
    ref, cur = scored(task)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur = cur.copy()
    first = cur.columns[0]
    cur[first] = cur[first] * 1.15
    cur.loc[cur.index[::13], cur.columns[1]] = np.nan
    cur.to_csv(tmp_path / "cur.csv", index=False)
    features = ", ".join(json.dumps(c) for c in ref.columns[:4])
    path = tmp_path / "c.yaml"
    path.write_text(SAME_CONFIG.format(reference=reference, features=features, task=task), encoding="utf-8")
    return path, cur


def records(cur: pd.DataFrame, now: float) -> list[FakeMessage]:
    out = []
    for i, row in enumerate(cur.to_dict("records")):
        label = row.pop("label")
        prediction = row.pop("prediction")
        record = {
            "model": "m",
            "prediction_id": f"p{i}",
            "timestamp": now - 60,
            "features": {k: None if isinstance(v, float) and np.isnan(v) else v for k, v in row.items()},
            "prediction": prediction,
            "label": None if isinstance(label, float) and np.isnan(label) else label,
        }
        out.append(FakeMessage(json.dumps(record).encode(), int(now * 1000), offset=i))
    return out


def close(a: object, b: object, where: str) -> None:
    """``a`` and ``b`` equal, floats to 1e-9 (relative), recursively; the path says where they differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_the_daemon_and_the_offline_check_agree_on_the_same_rows(
    tmp_path: Path, task: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same reference, config and rows through the daemon (records, window, scheduled check) and
    through ``driftwatch check --config --model -f json``: the same scores, decisions, quality and
    performance."""
    monkeypatch.chdir(tmp_path)
    path, cur = same_rows_config(tmp_path, task)
    d = Daemon(load_settings(path), clock=lambda: NOW)
    try:
        d.handle(records(cur, NOW))
        result = d.run_check("m")
        assert result.status == "ok" and not result.errors, result.errors
        daemon_view = result.as_dict()
    finally:
        d.store.close()
        if d.labels is not None:
            d.labels.close()
    code, out, err = run(
        capsys, "-r", "ref.csv", "-u", "cur.csv", "--config", "c.yaml", "--model", "m", "-f", "json"
    )
    assert code in (0, 1), err
    offline = json.loads(out)

    def columns(view: dict[str, Any]) -> dict[str, Any]:
        return {c["column"]: c for c in view["columns"]}

    close(columns(daemon_view), columns(offline), "columns")
    for key in ("dataset_drift", "drift_share", "n_drifted", "n_columns", "share_threshold"):
        close(daemon_view[key], offline[key], key)
    close(daemon_view["prediction_drift"], offline["prediction_drift"], "prediction_drift")
    close(daemon_view["data_quality"], offline["data_quality"], "data_quality")
    assert code == int(bool(offline["dataset_drift"]) or offline["data_quality"]["status"] == "breach")
    performance = daemon_view["performance"]
    assert performance["realized"] is not None
    close(performance["realized"]["values"], offline["performance"], "performance")
    close(performance["realized"]["reference"], offline["reference_performance"], "reference_performance")
    estimated = performance["estimated"]
    if task == "binary_classification":
        assert estimated is not None
        close(
            {k: {p: e[p] for p in ("value", "lower", "upper")} for k, e in estimated["estimates"].items()},
            offline["estimated_performance"],
            "estimated_performance",
        )
        # the estimate scored on the labelled rows: the same rows on both paths, the same error
        assert performance["estimate_error"] is not None and performance["estimate_error"]["metrics"]
        close(performance["estimate_error"], offline["estimate_error"], "estimate_error")
    else:
        assert estimated is None and "estimated_performance" not in offline
        assert performance["estimate_error"] is None and "estimate_error" not in offline


def test_a_reference_csv_gives_the_floats_written_so_json_records_of_the_same_values_match(
    tmp_path: Path,
) -> None:
    """pandas' default CSV float parser is not round-trip exact: diabetes' ``sex`` 0.05068011873981862
    came back as 0.0506801187398186, so the same value in a JSON record (exact) was "outside the
    reference range", and a two-valued column had four values (chisquare instead of z)."""
    from sklearn.datasets import load_diabetes

    from driftwatch.drift.dataset import ColumnOptions, column_drift
    from driftwatch.drift.profile import ReferenceProfile
    from driftwatch.reference import load_frame

    data = load_diabetes(as_frame=True).frame
    data.to_csv(tmp_path / "ref.csv", index=False)
    loaded = load_frame(tmp_path / "ref.csv")
    for column in data.columns:
        assert loaded[column].tolist() == data[column].tolist(), column
    profile = ReferenceProfile.build(loaded, ["sex"], {"sex": "numeric"})
    sent = np.array([json.loads(json.dumps(v)) for v in data["sex"]], dtype=np.float64)
    drift = column_drift(profile.columns["sex"], sent, ColumnOptions())
    assert drift.method == "z" and not drift.drift_detected
    assert drift.quality is not None and drift.quality.out_of_range_share == 0.0


def test_the_offline_check_with_a_models_config_gives_no_verdict_below_its_min_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon gives a window below the model's window.min_rows no verdict (too few rows to tell drift
    from noise); ``check --config --model`` on as few rows must not answer "drift" or "no drift" either."""
    monkeypatch.chdir(tmp_path)
    path, cur = same_rows_config(tmp_path, "binary_classification")
    cur.iloc[:20].to_csv(tmp_path / "small.csv", index=False)
    d = Daemon(load_settings(path), clock=lambda: NOW)
    try:
        d.handle(records(cur.iloc[:20], NOW))
        assert d.run_check("m").status == "not_enough_rows"
    finally:
        d.store.close()
        if d.labels is not None:
            d.labels.close()
    for fmt in ("table", "json", "html"):  # main itself: `run` asks for a verdict on any size
        code = main(
            ["check", "-r", "ref.csv", "-u", "small.csv", "--config", "c.yaml", "--model", "m", "-f", fmt]
        )
        out, err = capsys.readouterr()
        assert code == 2, fmt
        assert err.count("\n") == 1 and "20 rows" in err and "min_rows 30" in err, err
        if fmt == "json":  # the report is still written, with the daemon's status and no verdict
            answer = json.loads(out)
            assert answer["status"] == "not_enough_rows" and answer["dataset_drift"] is None
    # --min-rows 1 (what `run` passes) asks for a verdict on any size, as Evidently gives one
    code, out, err = run(capsys, "-r", "ref.csv", "-u", "small.csv", "-f", "json")
    assert code in (0, 1) and json.loads(out)["current_rows"] == 20


EVENTS_CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m:
    reference: ref.csv
    features: [alcohol, malic_acid, color_intensity]
    prediction: score
    window: {length: 1h, max_rows: 5000, min_rows: 20}
    quality: {missing_share: 0.2}
    alert: {consecutive: 1, resolve_after: 1}
    webhooks: [hook]
    performance:
      task: binary_classification
      label: label
      min_labels: 40
      thresholds: {accuracy: {min: 0.99}}
webhooks:
  hook: {url: "http://127.0.0.1:9/hook"}
state: {path: state.sqlite}
"""
ROOT = Path(__file__).parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "webhook-event.schema.json").read_text())


def test_every_event_sent_fits_the_schema_and_says_what_api_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bodies the daemon hands its webhook outbox, through a normal check with drift, a data-quality
    breach, an empty window, a window below min_rows and a failed data_drift part: each validates against
    schemas/webhook-event.schema.json and agrees with /api/models' latest result of its check."""
    from sklearn.datasets import load_wine

    monkeypatch.chdir(tmp_path)
    data = load_wine(as_frame=True).data[["alcohol", "malic_acid", "color_intensity"]].copy()
    rng = np.random.default_rng(0)
    data["score"] = rng.random(len(data))
    data["label"] = (rng.random(len(data)) < data["score"]).astype(int)
    data.iloc[:120].to_csv("ref.csv", index=False)
    (tmp_path / "c.yaml").write_text(EVENTS_CONFIG, encoding="utf-8")
    ticker = Clock()
    d = Daemon(load_settings(tmp_path / "c.yaml"), clock=ticker)
    sent: list[dict[str, Any]] = []
    monkeypatch.setattr(d.dispatcher, "submit", lambda delivery: sent.append(json.loads(delivery.body)))

    def feed(rows: pd.DataFrame, drop: str | None = None) -> None:
        messages = []
        for i, row in enumerate(rows.to_dict("records")):
            features = {
                k: None if k == drop else row[k] for k in ("alcohol", "malic_acid", "color_intensity")
            }
            record = {
                "model": "m",
                "prediction_id": f"{ticker.now}-{i}",
                "timestamp": ticker.now - 60,
                "features": features,
                "prediction": row["score"],
                "label": int(row["label"]),
            }
            messages.append(FakeMessage(json.dumps(record).encode(), int(ticker.now * 1000), offset=i))
        d.handle(messages)

    def check() -> list[dict[str, Any]]:
        before = len(sent)
        latest = d.run_check("m").as_dict()
        events = sent[before:]
        for event in events:
            jsonschema.validate(event, SCHEMA)
            assert event["result"] == latest | {"duration_seconds": event["result"]["duration_seconds"]}
            assert event["rows"] == latest["rows"]
            assert event["drift_share"] == latest["drift_share"]
            assert event["drifted_features"] == [
                c["column"] for c in latest["columns"] if c["drift_detected"]
            ]
            quality = latest["data_quality"]
            assert event["quality_breaches"] == ([] if quality is None else quality["breaches"])
        return events

    try:
        feed(data.iloc[120:], drop="alcohol")  # a shifted sample, every alcohol value missing
        first = {(e["check"], e["transition"]) for e in check()}
        assert {("data_drift", "firing"), ("data_quality", "firing")} <= first
        ticker.now += 7200
        assert check() == []  # no_data: no verdict, no event
        feed(data.iloc[120:130])
        assert check() == []  # not_enough_rows
        ticker.now += 7200
        feed(data.iloc[120:])

        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError("engine broke")

        monkeypatch.setattr(driftwatch.checks.window, "dataset_drift", fail)
        last = {(e["check"], e["transition"]) for e in check()}
        assert ("data_quality", "resolved") in last  # measured on its own when the drift part failed
        assert not any(check == "data_drift" for check, _ in last)
    finally:
        d.store.close()
        if d.labels is not None:
            d.labels.close()


def _input_series(before: str, after: str, minutes: int) -> list[dict[str, str]]:
    """promtool input series from two scrapes of /metrics: ``before`` for the first 10 minutes, ``after``
    for the next ``minutes`` (a series the second scrape lacks goes stale: missing samples)."""

    def samples(text: str) -> dict[str, float]:
        out = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                if s.name.endswith(("_created", "_bucket")) or not s.name.startswith("driftwatch_"):
                    continue
                labels = {
                    "job": "driftwatch",
                    "instance": "dw:9108",
                    **{k: v for k, v in s.labels.items() if v},
                }
                inner = ",".join(f"{k}={json.dumps(v)}" for k, v in sorted(labels.items()))
                out[f"{s.name}{{{inner}}}"] = s.value
        return out

    first, second = samples(before), samples(after)
    series = []
    for name in sorted(set(first) | set(second)):
        head = f"{first[name]!r}x9" if name in first else "_x10"
        tail = f"{second[name]!r}x{minutes - 1}" if name in second else f"_x{minutes}"
        series.append({"series": name, "values": f"{head} {tail}"})
    return series


def test_the_model_alert_rules_hold_on_the_series_a_daemon_exports_once_traffic_stops(
    daemon: Daemon,  # noqa: F811
    clock: Clock,  # noqa: F811
    tmp_path: Path,
) -> None:
    """Drift fires, then the model's traffic stops: the daemon drops its drift series (no verdict). The
    drift alerts must keep firing (no resolve on the absence of evidence: they follow
    driftwatch_alert_active, which keeps the policy's state) and DriftwatchModelTrafficStopped must
    fire. Evaluated by promtool on the daemon's own /metrics, not on hand-written series."""
    import shutil
    import subprocess

    import yaml

    from tests.conftest import require

    promtool = shutil.which("promtool")
    if promtool is None:
        require("promtool", "apt-get install prometheus (or make system-deps as root)")
    daemon.handle(shifted(clock, 200))
    assert daemon.run_check("m").drift.dataset_drift
    before = get(daemon, "/metrics").decode()
    clock.now += 2 * 3600
    assert daemon.run_check("m").status == "no_data"
    after = get(daemon, "/metrics").decode()
    assert "driftwatch_dataset_drift_detected{" not in after
    # no broker in this test: the daemon says Kafka is down, which (rightly) silences the traffic rule
    after = after.replace("driftwatch_kafka_up 0.0", "driftwatch_kafka_up 1.0")
    before = before.replace("driftwatch_kafka_up 0.0", "driftwatch_kafka_up 1.0")
    rules = {
        r["alert"]: r["expr"]
        for group in yaml.safe_load((ROOT / "configs/prometheus/alerts.yml").read_text())["groups"]
        for r in group["rules"]
        if "alert" in r
    }

    def holds(alert: str, at: str, expected: bool) -> dict[str, Any]:
        return {
            "expr": f"count({rules[alert]})",
            "eval_time": at,
            "exp_samples": [{"labels": "{}", "value": 1}] if expected else [],
        }

    (tmp_path / "rules.yml").write_text((ROOT / "configs/prometheus/alerts.yml").read_text())
    test = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _input_series(before, after, 80),
                "promql_expr_test": [
                    holds("DriftwatchDataDrift", "5m", True),
                    holds("DriftwatchDataDrift", "60m", True),
                    holds("DriftwatchPredictionDrift", "60m", True),
                    holds("DriftwatchModelTrafficStopped", "5m", False),
                    holds("DriftwatchModelTrafficStopped", "60m", True),
                ],
            }
        ],
    }
    (tmp_path / "test.yml").write_text(yaml.safe_dump(test))
    proc = subprocess.run(
        [str(promtool), "test", "rules", "test.yml"],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _promtool_values(tmp_path: Path, before: str, after: str, exprs: list[str], at: str) -> list[str]:
    """The expressions' results at ``at`` on the two scrapes (see `_input_series`), as promtool prints
    them when they differ from an expected empty result ("" for an empty result)."""
    import shutil
    import subprocess

    import yaml

    from tests.conftest import require

    promtool = shutil.which("promtool")
    if promtool is None:
        require("promtool", "apt-get install prometheus (or make system-deps as root)")
    out = []
    for expr in exprs:
        test = {
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": _input_series(before, after, 80),
                    "promql_expr_test": [{"expr": expr, "eval_time": at, "exp_samples": []}],
                }
            ],
        }
        (tmp_path / "q.yml").write_text(yaml.safe_dump(test))
        proc = subprocess.run(
            [str(promtool), "test", "rules", "q.yml"],
            check=False,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        got = re.search(r"got: *\[?(.*?)\]?\s*$", proc.stdout + proc.stderr, flags=re.MULTILINE)
        out.append("" if proc.returncode == 0 else (got.group(1) if got else proc.stdout + proc.stderr))
    return out


def _stat_panels() -> list[tuple[str, str, dict[str, str]]]:
    """(dashboard, title, value mappings) of the drift stat panels, with their query for model m."""
    panels = []
    for path in sorted((ROOT / "grafana" / "dashboards").glob("*.json")):
        stack = list(json.loads(path.read_text())["panels"])
        while stack:
            panel = stack.pop()
            stack.extend(panel.get("panels", []))
            if panel.get("type") == "stat" and panel.get("title") in ("Dataset drift", "Prediction drift"):
                mappings = {
                    value: option["text"]
                    for mapping in panel["fieldConfig"]["defaults"]["mappings"]
                    for value, option in mapping.get("options", {}).items()
                }
                expr = panel["targets"][0]["expr"].replace("$model", "m")
                for scope in ("${version:regex}", "${segment:regex}"):  # "All": the whole model
                    expr = expr.replace(scope, "^$")
                panels.append((f"{path.name}: {panel['title']}", expr, mappings))
    return panels


def test_the_drift_stat_panels_say_no_verdict_when_the_check_gave_none(
    daemon: Daemon,  # noqa: F811
    clock: Clock,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A data_drift part that failed, or records that stopped carrying the prediction: the check has no
    drift verdict and the daemon drops the series, but its status stays "ok". The stat panels (instant
    queries) came back empty, and Grafana's "No data" is the text they use for an empty window: they
    must show a value of their own, mapped to a text that is not a verdict."""
    daemon.handle(shifted(clock, 200))
    assert daemon.run_check("m").drift.dataset_drift
    before = get(daemon, "/metrics").decode()
    clock.now += 3600 + 60
    daemon.handle(shifted(clock, 200, prediction=False))

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("engine broke")

    monkeypatch.setattr(driftwatch.checks.window, "dataset_drift", fail)
    result = daemon.run_check("m")
    assert "data_drift" in result.errors and result.status == "ok"
    assert result.prediction_drift is not None and result.prediction_drift.error
    after = get(daemon, "/metrics").decode()
    panels = _stat_panels()
    assert len(panels) == 4
    values = _promtool_values(tmp_path, before, after, [expr for _, expr, _ in panels], "60m")
    for (name, _, mappings), got in zip(panels, values, strict=True):
        value = re.search(r"([0-9.eE+-]+)\s*$", got)
        assert value is not None, f"{name}: no value without a verdict ({got!r})"
        text = mappings.get(str(int(float(value.group(1)))))
        assert text is not None and text not in ("DRIFT", "no drift"), f"{name}: {got} -> {text}"


def test_the_offline_check_with_a_models_config_reports_no_performance_below_its_min_labels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The daemon gives no realized figure below performance.min_labels labelled rows ("not enough
    labels"), while CBPE's estimate needs predictions, not labels (window.min_rows of them);
    ``check --config --model`` on the same rows must say the same, not a figure from a handful of labels,
    and give the same estimate."""
    monkeypatch.chdir(tmp_path)
    path, cur = same_rows_config(tmp_path, "binary_classification")
    path.write_text(path.read_text().replace("min_labels: 30", "min_labels: 50"))
    small = cur.iloc[:40].copy()
    small.loc[small.index[20:], "label"] = np.nan  # 40 rows (min_rows 30), 20 of them labelled
    small.to_csv(tmp_path / "small.csv", index=False)
    d = Daemon(load_settings(path), clock=lambda: NOW)
    try:
        d.handle(records(small, NOW))
        performance = d.run_check("m").performance
    finally:
        d.store.close()
        if d.labels is not None:
            d.labels.close()
    assert performance is not None and performance.realized is not None
    assert performance.realized.status == "not enough labels" and performance.realized.values == {}
    assert performance.estimated is not None  # 40 predictions, window.min_rows 30
    code, out, err = run(
        capsys, "-r", "ref.csv", "-u", "small.csv", "--config", "c.yaml", "--model", "m", "-f", "json"
    )
    assert code in (0, 1), err
    offline = json.loads(out)
    assert "performance" not in offline
    assert "not enough labels: 20 labelled rows" in offline["performance_note"]
    assert "min_labels 50" in offline["performance_note"]
    close(
        offline["estimated_performance"],
        {
            k: {"value": e.value, "lower": e.lower, "upper": e.upper}
            for k, e in performance.estimated.estimates.items()
        },
        "estimated_performance",
    )
    code, out, err = run(
        capsys, "-r", "ref.csv", "-u", "small.csv", "--config", "c.yaml", "--model", "m", "-f", "table"
    )
    assert "performance: not enough labels: 20 labelled rows" in out
    accuracy = next(line for line in out.splitlines() if line.startswith("performance accuracy:"))
    assert "reference" in accuracy and "current" not in accuracy and "estimated" in accuracy


def test_text_that_pandas_reads_as_missing_is_a_category_as_in_json_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Namibia's country code "NA" and a plan called "None" are text in a JSON record, but pandas' CSV
    reader made them missing: half the reference was "missing", the same values live were "unseen", and
    identically distributed traffic drifted (p = 0). In a column that is otherwise numeric the markers
    stay missing values (R writes NA)."""
    from driftwatch.reference import load_frame

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    codes = ["NA", "ZA", "BW", "None"]
    score = rng.normal(size=600).round(3).astype(object)
    score[::10] = "NA"
    pd.DataFrame({"country": rng.choice(codes, 600), "x": rng.normal(size=600), "score": score}).to_csv(
        "ref.csv", index=False
    )
    loaded = load_frame(tmp_path / "ref.csv")
    assert loaded["country"].isna().sum() == 0 and set(loaded["country"]) == set(codes)
    assert pd.api.types.is_float_dtype(loaded["score"]) and loaded["score"].isna().sum() == 60
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m:
    reference: ref.csv
    features: [{name: country, type: categorical}, x]
    window: {length: 1h, max_rows: 5000, min_rows: 50}
state: {path: s.sqlite}
""",
        encoding="utf-8",
    )
    current = pd.DataFrame({"country": rng.choice(codes, 300), "x": rng.normal(size=300)})
    current.to_csv("cur.csv", index=False)
    d = Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)
    try:
        d.handle(
            [
                FakeMessage(
                    json.dumps({"model": "m", "timestamp": NOW - 60, "features": row}).encode(),
                    int(NOW * 1000),
                    offset=i,
                )
                for i, row in enumerate(current.to_dict("records"))
            ]
        )
        daemon_view = {c.column: c for c in d.run_check("m").drift.columns}
    finally:
        d.store.close()
    country = daemon_view["country"]
    assert country.quality is not None
    assert country.quality.missing_share_reference == 0.0 and country.quality.unseen_share == 0.0
    assert not country.drift_detected
    code, out, err = run(
        capsys, "-r", "ref.csv", "-u", "cur.csv", "--config", "c.yaml", "--model", "m", "-f", "json"
    )
    assert code == 0, err
    offline = {c["column"]: c for c in json.loads(out)["columns"]}
    assert offline["country"]["score"] == pytest.approx(country.score, rel=1e-9)
    assert offline["country"]["quality"]["missing_share"] == 0.0


@pytest.mark.slow
def test_the_daemon_gives_the_same_result_from_a_saved_profile_as_from_the_raw_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`driftwatch profile --config --model` and the daemon reading the profile: every field of the check
    (drift scores and decisions, quality, prediction drift, realized and estimated performance) and the
    report's summary equal those from the raw reference, on breast-cancer data with a text feature."""
    from driftwatch.cli.main import main

    monkeypatch.chdir(tmp_path)
    path, cur = same_rows_config(tmp_path, "binary_classification")
    ref = pd.read_csv(tmp_path / "ref.csv", float_precision="round_trip")
    first = ref.columns[0]
    for frame in (ref, cur):
        frame["grade"] = np.where(frame[first] > 14, "high", np.where(frame[first] > 12, "mid", "NA"))
    ref.to_csv(tmp_path / "ref.csv", index=False)
    text = path.read_text().replace("features: [", "features: [{name: grade, type: categorical}, ")
    path.write_text(text)
    assert main(["profile", "-r", "ref.csv", "-o", "profile", "--config", "c.yaml", "--model", "m"]) == 0
    capsys.readouterr()
    (tmp_path / "p.yaml").write_text(
        text.replace("reference: ref.csv", "reference: profile").replace("state.sqlite", "p.sqlite")
    )
    views = []
    for config in ("c.yaml", "p.yaml"):
        d = Daemon(load_settings(tmp_path / config), clock=lambda: NOW)
        try:
            d.handle(records(cur, NOW))
            view = d.run_check("m").as_dict()
            html = d.report_html("m") or ""
        finally:
            d.store.close()
            if d.labels is not None:
                d.labels.close()
        view.pop("duration_seconds")
        summary = re.search(r'<section id="driftwatch-summary".*?</section>', html, flags=re.DOTALL)
        assert summary is not None
        views.append((view, summary.group(0)))
    (raw, raw_summary), (profiled, profiled_summary) = views
    assert raw["performance"]["estimated"] is not None and raw["status"] == "ok"
    close(raw, profiled, "result")
    assert raw_summary == profiled_summary


def test_a_categorical_feature_keeps_its_leading_zeros_in_a_reference_csv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """ZIP codes typed categorical: "02134" in a JSON record, but pandas read the reference CSV's 02134 as
    the number 2134, so 73% of unshifted traffic was "unseen" and drifted (p = 0). The offline check read
    both files the same way and agreed with itself, not with the daemon; a saved profile too."""
    from driftwatch.cli.main import main

    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    zips = ["02134", "02139", "10001", "00501"]
    # and integer codes with a missing value, which pandas writes as 1.0, 2.0: still the numbers 1, 2
    codes = rng.choice([1.0, 2.0, 3.0, np.nan], 600)
    # and booleans written in lower case, as many writers do: still the booleans of a JSON record
    flags = rng.choice(["true", "false"], 600)
    pd.DataFrame(
        {"zip": rng.choice(zips, 600), "x": rng.normal(size=600), "code": codes, "flag": flags}
    ).to_csv("ref.csv", index=False)
    current = pd.DataFrame({"zip": rng.choice(zips, 300), "x": rng.normal(size=300)})
    current["code"] = rng.choice([1, 2, 3], 300)
    current["flag"] = rng.choice([True, False], 300)
    current.to_csv("cur.csv", index=False)
    config = """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m:
    reference: REFERENCE
    features: [{name: zip, type: categorical}, x, {name: code, type: categorical}, {name: flag, type: categorical}]
    window: {length: 1h, max_rows: 5000, min_rows: 50}
state: {path: STATE}
"""
    (tmp_path / "c.yaml").write_text(config.replace("REFERENCE", "ref.csv").replace("STATE", "s.sqlite"))
    (tmp_path / "p.yaml").write_text(config.replace("REFERENCE", "profile").replace("STATE", "p.sqlite"))
    assert main(["profile", "-r", "ref.csv", "-o", "profile", "--config", "c.yaml", "--model", "m"]) == 0
    messages = [
        FakeMessage(
            json.dumps({"model": "m", "timestamp": NOW - 60, "features": row}).encode(),
            int(NOW * 1000),
            offset=i,
        )
        for i, row in enumerate(current.to_dict("records"))
    ]
    scores = []
    for name in ("c.yaml", "p.yaml"):
        d = Daemon(load_settings(tmp_path / name), clock=lambda: NOW)
        try:
            d.handle(messages)
            columns = {c.column: c for c in d.run_check("m").drift.columns}
        finally:
            d.store.close()
        for feature in ("code", "flag"):
            quality = columns[feature].quality
            assert quality is not None and quality.unseen_share == 0.0, (name, feature)
        column = columns["zip"]
        assert column.quality is not None and column.quality.unseen_share == 0.0, name
        assert not column.drift_detected, name
        scores.append(column.score)
    capsys.readouterr()
    code, out, err = run(
        capsys, "-r", "ref.csv", "-u", "cur.csv", "--config", "c.yaml", "--model", "m", "-f", "json"
    )
    assert code == 0, err
    offline = {c["column"]: c for c in json.loads(out)["columns"]}["zip"]
    assert offline["score"] == pytest.approx(scores[0], rel=1e-9) and scores[0] == pytest.approx(scores[1])


def test_a_categorical_csv_cell_is_the_category_of_the_json_value_written_the_same() -> None:
    """Cells of a column typed categorical, as other tools write them, against the JSON values a producer
    sends for the same data: the same category keys."""
    import io
    import tempfile

    from driftwatch.drift.profile import category_keys
    from driftwatch.reference import load_frame

    cells = ["02134", "007", "1.50", "2.00", "1E3", "true", "FALSE", "NA", "None", "12345678901234567890"]
    sent = ["02134", "007", 1.5, 2, 1000, True, False, "NA", "None", 12345678901234567890]
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "ref.csv"
        path.write_text("c\n" + "\n".join(cells) + "\n", encoding="utf-8")
        loaded = load_frame(path, ["c"])["c"].tolist()
    from_json = json.load(io.StringIO(json.dumps(sent)))
    assert category_keys(loaded).tolist() == category_keys(from_json).tolist()
