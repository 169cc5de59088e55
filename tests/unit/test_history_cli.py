"""``driftwatch history``: table, JSON and CSV of the history file, its filters, and one-line errors with
exit 2."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from driftwatch.cli.main import main
from driftwatch.state.history import HistoryStore
from tests.unit.test_history_store import T0, record

CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
models:
  m: {reference: ref.csv, features: [x]}
  other: {reference: ref.csv, features: [x]}
state: {path: state.sqlite}
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    (tmp_path / "ref.csv").write_text("x\n1\n2\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    store = HistoryStore(tmp_path / "state.history.sqlite")
    quiet = record(store, T0, breaches={"data_drift": False})
    firing = record(store, T0 + 300)
    record(store, T0 + 300, scope="country=DE", breaches={"data_drift": False})
    record(
        store,
        T0 + 600,
        status="not_enough_rows",
        answered=False,
        reason="12 rows < min_rows 500",
        breaches={},
        result={"model": "m", "status": "not_enough_rows", "dataset_drift": None, "errors": {}},
    )
    store.record_transition(
        check_id=firing,
        model="m",
        scope="",
        check="data_drift",
        transition="firing",
        at=T0 + 300,
        idempotency_key="k1",
        window_end=T0 + 300,
    )
    store.record_delivery(
        target="hook", idempotency_key="k1", status="delivered", attempts=2, at=T0 + 302, last_status=200
    )
    assert quiet
    store.close()
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["history", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_table_has_one_line_per_check(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "m", "-c", str(config))
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == [
        "TIME",
        "SCOPE",
        "STATUS",
        "ROWS",
        "DRIFTED",
        "SHARE",
        "DATASET",
        "PERFORMANCE",
        "BREACHING",
        "EVENTS",
        "DELIVERIES",
    ]
    assert len(lines) == 5
    assert lines[1].split()[:3] == ["2027-01-15T08:00:00Z", "(model)", "ok"]
    assert (
        "firing data_drift" in lines[2]
        and "hook delivered x2" in lines[2]
        and lines[2].split()[8] == "data_drift"
    )
    assert "country=DE" in lines[3]
    assert lines[4].split()[:5] == ["2027-01-15T08:10:00Z", "(model)", "not_enough_rows", "1000", "-"]


def test_json_is_the_apis_rows(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "m", "-c", str(config), "--format", "json", "--scope", "")
    rows = json.loads(out)
    assert code == 0 and [row["ran_at"] for row in rows] == [T0, T0 + 300, T0 + 600]
    assert rows[1]["transitions"][0]["idempotency_key"] == "k1"
    assert rows[1]["deliveries"][0] == {
        "target": "hook",
        "idempotency_key": "k1",
        "status": "delivered",
        "attempts": 2,
        "last_status": 200,
        "last_error": None,
        "created_at": T0 + 302,
        "updated_at": T0 + 302,
    }


def test_csv_flattens_each_check(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "m", "-c", str(config), "-f", "csv", "--from", "2027-01-15T08:05:00Z", "--to", str(T0 + 300)
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 2
    first = rows[0]
    assert (first["ran_at"], first["scope"], first["status"], first["answered"]) == (
        "2027-01-15T08:05:00Z",
        "",
        "ok",
        "true",
    )
    assert (first["dataset_drift"], first["drift_share"], first["breaching"]) == ("true", "0.5", "data_drift")
    assert first["transitions"] == "data_drift:firing::k1"
    assert first["deliveries"] == "hook:delivered:2:k1"
    assert json.loads(first["positions"]) == {"predictions:0": 120}
    assert rows[1]["scope"] == "country=DE" and rows[1]["transitions"] == ""


def test_since_is_relative_to_now(config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = HistoryStore(tmp_path / "state.history.sqlite")
    old, recent = record(store, time.time() - 3 * 3600), record(store, time.time() - 3600)
    store.close()
    code, out, _ = run(capsys, "m", "-c", str(config), "--since", "2h", "-f", "json", "--to", str(T0 - 1))
    assert code == 2  # --since and --to: one or the other
    code, out, _ = run(capsys, "m", "-c", str(config), "--since", "2h", "-f", "json")
    ids = [row["id"] for row in json.loads(out)]
    assert code == 0 and recent in ids and old not in ids


def test_check_and_limit_filters(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(capsys, "m", "-c", str(config), "-f", "json", "--limit", "1")
    assert [row["ran_at"] for row in json.loads(out)] == [T0 + 600]
    _, out, _ = run(capsys, "m", "-c", str(config), "-f", "json", "--check", "performance:accuracy")
    assert json.loads(out) == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody"], "model 'nobody' is not in the config (models: m, other); give one of them"),
        (["m", "--since", "a week"], "--since: 'a week' is not a duration; write e.g. 30m, 12h or 7d"),
        (["m", "--from", "monday"], "--from: 'monday' is not a time; give unix seconds or RFC 3339"),
        (
            ["m", "--from", str(T0 + 10), "--to", str(T0)],
            f"--to: '{T0}' is before --from '{T0 + 10}'; swap them",
        ),
        (["m", "--since", "7d", "--to", str(T0)], "--since '7d' and --from/--to both given"),
        (["m", "--limit", "-3"], "--limit: '-3' is not a row count; give a whole number from 1 to 100000"),
    ],
)
def test_errors_are_one_line_and_exit_2(
    config: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, *args[:1], "-c", str(config), *args[1:])
    assert code == 2 and out == ""
    assert err.startswith("driftwatch: " + message) and err.count("\n") == 1


def test_no_history_file_yet_is_said_and_exits_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "ref.csv").write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "c.yaml").write_text(CONFIG, encoding="utf-8")
    code, out, _ = run(capsys, "m", "-c", str(tmp_path / "c.yaml"))
    assert code == 0
    assert (
        out.strip()
        == f"no check history: history file {tmp_path / 'state.history.sqlite'} does not exist yet (history.path)"
    )
    assert not (tmp_path / "state.history.sqlite").exists()
