"""``driftwatch replay``: a past period through the daemon's checks and policy on a virtual clock.

Six hours of recorded traffic, one record every 10 s, like the reference until a drift step from 3 h to
5 h (x moved far away, an unseen category); checks every 30 minutes from 1 h, with ``consecutive: 2``
and ``resolve_after: 1``. The policy's sequence by hand: windows of 1 h end at the checks, so data_drift
breaches at 3.5 h (half the window shifted) up to 5.5 h and not at 6 h; it fires at the second breach
(4 h) and resolves at the first clean check (6 h). Nothing is sent and the configured state file is
never created.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.service.replay import Replay, differences
from driftwatch.source.recorded import read_files

BASE = 1_800_000_000.0 - 1_800_000_000.0 % 86400  # a midnight, so hours are round
HOUR = 3600.0
STEP = (BASE + 3 * HOUR, BASE + 5 * HOUR)
T1, T2 = BASE + HOUR, BASE + 6 * HOUR

CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 9}}
models:
  m:
    reference: ref.csv
    features: [x, {{name: c, type: categorical}}]
    prediction: score
    window: {{length: 1h, max_rows: 5000, min_rows: 50}}
    schedule: {schedule}
    alert: {{consecutive: 2, resolve_after: 1}}
    webhooks: [retrain]
  other:
    reference: ref.csv
    features: [x]
    window: {{length: 1h, max_rows: 1000, min_rows: 50}}
webhooks:
  retrain: {{url: "http://127.0.0.1:9/never"}}
state: {{path: state.sqlite}}
"""


def reference() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "x": rng.normal(0, 1, 600).round(4),
            "c": np.array(["a", "b", "c"])[np.arange(600) % 3],
            "score": rng.random(600).round(4),
        }
    )


def write_config(tmp_path: Path, schedule: str = "{every: 30m}") -> Path:
    reference().to_csv(tmp_path / "ref.csv", index=False)
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG.format(schedule=schedule), encoding="utf-8")
    return path


def records() -> list[dict[str, Any]]:
    """One record every 10 s over six hours: the reference's own rows in turn (no drift), shifted in
    the step."""
    ref = reference()
    out = []
    for i in range(int(6 * HOUR / 10)):
        t = BASE + 5 + 10 * i
        row = ref.iloc[i % len(ref)]
        shifted = STEP[0] <= t < STEP[1]
        out.append(
            {
                "model": "m",
                "model_version": "1",
                "prediction_id": f"p{i}",
                "timestamp": datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z"),
                "features": {
                    "x": float(row["x"]) + (5.0 if shifted else 0.0),
                    "c": "z" if shifted else row["c"],
                },
                "prediction": float(row["score"]),
                "label": None,
            }
        )
    return out


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """The same records, one row each, the features in a struct column and the time a timestamp."""
    table = pa.table(
        {
            "model": [r["model"] for r in rows],
            "model_version": [r["model_version"] for r in rows],
            "prediction_id": [r["prediction_id"] for r in rows],
            "timestamp": pa.array(
                [datetime.fromisoformat(r["timestamp"]) for r in rows], type=pa.timestamp("us", tz="UTC")
            ),
            "prediction": [r["prediction"] for r in rows],
            "label": pa.array([None] * len(rows), type=pa.float64()),
            "features": [r["features"] for r in rows],
        }
    )
    pq.write_table(table, path)
    return path


def replay(tmp_path: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["replay", "--config", str(tmp_path / "c.yaml"), *args])
    out, err = capsys.readouterr()
    return code, out, err


class Clock:
    def __init__(self) -> None:
        self.now = BASE

    def __call__(self) -> float:
        return self.now


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def test_events_follow_the_policy_by_hand_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path)
    data = write_jsonl(tmp_path / "p.jsonl", records())
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = replay(
        tmp_path, "--from", iso(T1), "--to", iso(T2), "--input", str(data), "--format", "json", capsys=capsys
    )
    assert code == 0, err
    checks = json.loads(out)
    m = [c for c in checks if c["model"] == "m"]
    assert [c["ran_at"] for c in m] == [iso(T1 + k * HOUR / 2) for k in range(11)]
    breached = [c["ran_at"] for c in m if c["breaches"].get("data_drift")]
    assert breached == [iso(BASE + h * HOUR) for h in (3.5, 4, 4.5, 5, 5.5)]
    events = [
        (c["ran_at"], e["check"], e["transition"], e["would_deliver_to"]) for c in m for e in c["events"]
    ]
    assert events == [
        (iso(BASE + 4 * HOUR), "data_drift", "firing", ["retrain"]),
        (iso(BASE + 6 * HOUR), "data_drift", "resolved", ["retrain"]),
    ]
    assert all(c["result"]["status"] == "ok" and c["result"]["rows"] == 360 for c in m)
    assert "2 would have fired" not in err and "1 would have fired, 1 resolved" in err
    assert "2,160 records read" in err  # the six hours, the hour before the period included
    # the other model got no records: its checks have no verdict, and it raised nothing
    other = [c for c in checks if c["model"] == "other"]
    assert other and all(c["result"]["status"] != "ok" and not c["events"] for c in other)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no state file, nothing else


def test_jsonl_and_parquet_give_the_same_results(tmp_path: Path) -> None:
    rows = records()
    jsonl = write_jsonl(tmp_path / "p.jsonl", rows)
    parquet = write_parquet(tmp_path / "p.parquet", rows)
    settings = load_settings(write_config(tmp_path))
    outcomes = []
    for path in (jsonl, parquet):
        found = read_files([path], "predictions")
        assert [r.event for r in found] == [BASE + 5 + 10 * i for i in range(len(rows))]
        with Replay(settings, ["m"]) as run:
            report = run.run(found, run.schedule(T1, T2))
        outcomes.append([c.as_dict() for c in report.checks])
    a, b = outcomes
    assert len(a) == len(b) == 11
    for x, y in zip(a, b, strict=True):
        assert differences(x["result"], y["result"]) == []
        assert (x["breaches"], x["events"]) == (y["breaches"], y["events"])
    assert sum(len(x["events"]) for x in a) == 2


def test_check_times_follow_the_schedule(tmp_path: Path) -> None:
    settings = load_settings(write_config(tmp_path, schedule='{cron: "15 */2 * * *"}'))
    with Replay(settings, ["m"]) as run:
        assert run.schedule(T1, T2) == [(BASE + h * HOUR + 900, "m") for h in (2, 4)]
    settings = load_settings(write_config(tmp_path, schedule="{every: 2h}"))
    with Replay(settings) as run:
        ticks = run.schedule(T1, T2)
    # an interval counts from the start of the period; models in config order at the same time
    assert [t for t, _ in ticks if _ == "m"] == [T1, T1 + 2 * HOUR, T1 + 4 * HOUR]
    assert [t for t, _ in ticks if _ == "other"] == [T1 + k * 300 for k in range(61)]
    assert ticks.index((T1, "m")) < ticks.index((T1, "other"))


def test_a_stricter_threshold_pages_and_a_looser_policy_does_not(tmp_path: Path) -> None:
    """Tuning: the same period with ``consecutive: 6`` raises nothing (five breaches in a row at most)."""
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("consecutive: 2", "consecutive: 6"), encoding="utf-8")
    found = read_files([write_jsonl(tmp_path / "p.jsonl", records())], "predictions")
    with Replay(load_settings(config), ["m"]) as run:
        report = run.run(found, run.schedule(T1, T2))
    assert report.count("firing") == 0 and report.count("resolved") == 0
    assert sum(bool(c.breaches.get("data_drift")) for c in report.checks) == 5


def test_table_output_has_one_line_per_check_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_config(tmp_path)
    data = write_jsonl(tmp_path / "p.jsonl", records())
    code, out, _ = replay(
        tmp_path, "--from", iso(T1), "--to", iso(T2), "-m", "m", "--input", str(data), capsys=capsys
    )
    assert code == 0
    lines = out.strip().splitlines()
    assert len(lines) == 12 and lines[-1].startswith("replay ")
    firing = [line for line in lines if "FIRING" in line]
    assert len(firing) == 1 and firing[0].startswith(iso(BASE + 4 * HOUR)[:19])
    assert "FIRING data_drift -> retrain" in firing[0] and "rows=360" in firing[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--from", "yesterday", "--to", "now"], "--from 'yesterday' is not a time; give ISO 8601"),
        (["--from", "now", "--to", "now-1d"], "--from 'now' is not before --to 'now-1d'"),
        (["--from", "now-1d", "--to", "now", "-m", "nope"], "--model 'nope' is not in"),
        (
            ["--from", "now-1d", "--to", "now", "--input", "missing.jsonl"],
            "--input missing.jsonl: file not found",
        ),
        (
            ["--from", "now-1d", "--to", "now", "--input", "bad.parquet"],
            "bad.parquet: not a readable Parquet",
        ),
        (
            ["--from", "now-1d", "--to", "now", "--input", "c.yaml", "--labels", "c.yaml"],
            "no kafka.labels_topic",
        ),
        (["--from", "now-1d", "--to", "now", "--labels", "c.yaml"], "--labels reads labels from files"),
        (
            ["--from", "now-1d", "--to", "now", "--input", "c.yaml", "--reproduce"],
            "--reproduce: no check history",
        ),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    expected: str,
) -> None:
    write_config(tmp_path)
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    monkeypatch.chdir(tmp_path)
    code, out, err = replay(tmp_path, *args, capsys=capsys)
    assert code == 2
    assert out == ""
    assert expected in err and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "state.sqlite").exists()


@dataclass
class FakeMessage:
    value: bytes
    timestamp: int
    offset: int
    topic: str = "predictions"
    partition: int = 0


def live_history(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    """Run the daemon as it runs live on the records (fed as they come, checked every 30 minutes, the
    Kafka positions as its source keeps them): its check history file."""
    settings = load_settings(tmp_path / "c.yaml")
    clock = Clock()
    daemon = Daemon(settings, clock=clock, driven=True)
    messages = [
        FakeMessage(json.dumps(r).encode(), int((BASE + 5 + 10 * i) * 1000), i) for i, r in enumerate(rows)
    ]
    fed = 0
    for k in range(11):
        clock.now = T1 + k * HOUR / 2
        upto = sum(m.timestamp / 1000 <= clock.now for m in messages)
        daemon.handle(messages[fed:upto])
        fed = upto
        daemon.source._offsets.handled[("predictions", 0)] = fed  # as the Kafka source would have it
        daemon.run_check("m")
    daemon.stop()
    path = settings.history.file(settings.state.file)
    assert path.exists()
    return path


def test_reproduce_runs_at_the_recorded_times_and_positions_and_compares(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A history the daemon recorded live is reproduced check by check; with a changed drift share the
    replay says which fields differ."""
    config = write_config(tmp_path)
    rows = records()
    data = write_jsonl(tmp_path / "p.jsonl", rows)
    live_history(tmp_path, rows)
    args = ["--from", iso(T1), "--to", iso(T2), "-m", "m", "--input", str(data), "--reproduce"]
    code, out, err = replay(tmp_path, *args, "-f", "json", capsys=capsys)
    assert code == 0, err
    checks = json.loads(out)
    assert [c["ran_at"] for c in checks] == [iso(T1 + k * HOUR / 2) for k in range(11)]
    assert [(c["reproduced"], c["differs"]) for c in checks] == [(True, [])] * 11, out
    assert "11/11 reproduced" in err
    events = [(c["ran_at"], e["transition"]) for c in checks for e in c["events"]]
    assert events == [(iso(BASE + 4 * HOUR), "firing"), (iso(BASE + 6 * HOUR), "resolved")]

    stricter = config.read_text().replace("    alert: {", "    drift: {share: 1.0}\n    alert: {")
    config.write_text(stricter, encoding="utf-8")
    code, out, _ = replay(tmp_path, *args, capsys=capsys)
    assert code == 0
    lines = out.strip().splitlines()
    # both features drift in the step, so the verdicts stand: every check differs in its threshold alone
    assert len(lines) == 12 and all(line.endswith("  DIFFERS: share_threshold") for line in lines[:-1]), out
    assert "0/11 reproduced" in lines[-1]


def test_labels_from_files_grade_the_predictions_alike_in_json_lines_and_parquet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With kafka.labels_topic and a performance section, --labels files join the predictions: each check
    grades the predictions of its hour whose label came by then (a label comes 60 s after its
    prediction), from JSON-lines and from Parquet alike."""
    config = write_config(tmp_path)
    ref = reference()
    ref["label"] = (ref["score"] > 0.5).astype(int)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    text = config.read_text().replace("topic: predictions}", "topic: predictions, labels_topic: labels}")
    text = text.replace(
        "    webhooks: [retrain]\n",
        "    webhooks: [retrain]\n    performance: {task: binary_classification, label: label, min_labels: 30}\n",
    )
    config.write_text(text, encoding="utf-8")
    rows = records()
    labels = [
        {
            "prediction_id": r["prediction_id"],
            "label": int(r["prediction"] > 0.5),
            "timestamp": BASE + 65 + 10 * i,
        }
        for i, r in enumerate(rows)
    ]
    predictions = write_jsonl(tmp_path / "p.jsonl", rows)
    as_lines = write_jsonl(tmp_path / "labels.jsonl", labels)
    as_parquet = tmp_path / "labels.parquet"
    pq.write_table(pa.Table.from_pylist(labels), as_parquet)
    outcomes = []
    for path in (as_lines, as_parquet):
        args = ["--from", iso(T1), "--to", iso(T2), "-m", "m", "-i", str(predictions), "--labels", str(path)]
        code, out, err = replay(tmp_path, *args, "-f", "json", capsys=capsys)
        assert code == 0, err
        outcomes.append(json.loads(out))
        read = len(rows) + sum(label["timestamp"] <= T2 for label in labels)  # the labels of the period
        assert f"{read:,} records read" in err
    a, b = outcomes
    for x, y in zip(a, b, strict=True):
        assert differences(x["result"], y["result"]) == []
    realized = [c["result"]["performance"]["realized"] for c in a]
    assert [r["labelled_rows"] for r in realized] == [354] * 11
    assert all(r["values"]["accuracy"] == 1.0 for r in realized)  # the labels say what was predicted


def test_a_segmented_models_scopes_are_listed_with_their_own_events(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Segments on c: each check lists the whole model's result, then each scope's; the step's new
    category becomes a scope of its own, and its alert fires with the model's, on its own line."""
    config = write_config(tmp_path)
    config.write_text(
        config.read_text().replace(
            "    webhooks: [retrain]\n",
            "    webhooks: [retrain]\n"
            "    segments: {columns: [c], top_k: 3, min_rows: 50, stability: {promote_after: 1}}\n",
        ),
        encoding="utf-8",
    )
    data = write_jsonl(tmp_path / "p.jsonl", records())
    code, out, err = replay(
        tmp_path, "--from", iso(T1), "--to", iso(T2), "-m", "m", "-i", str(data), "-f", "json", capsys=capsys
    )
    assert code == 0, err
    checks = json.loads(out)
    first = [c for c in checks if c["ran_at"] == iso(T1)]
    assert [c["scope"] for c in first] == ["", "c:other", "c=a", "c=b", "c=c"]
    assert [c["result"]["rows"] for c in first] == [360, 0, 120, 120, 120]
    assert all(c["result"].get("scope", "") == c["scope"] for c in checks)
    fired = [
        (c["ran_at"], c["scope"], e["check"])
        for c in checks
        for e in c["events"]
        if e["transition"] == "firing"
    ]
    assert fired == [(iso(BASE + 4 * HOUR), "", "data_drift"), (iso(BASE + 4 * HOUR), "c=z", "data_drift")]
    assert all(e["scope"] == c["scope"] for c in checks for e in c["events"])
