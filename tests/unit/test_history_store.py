"""The history file: check rows round trip (compressed), transitions and deliveries join their rows,
filters, retention by age and by row count, and its config section."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import zstandard

from driftwatch.config import ConfigError, load_settings
from driftwatch.state.history import HistoryStore

T0 = 1_800_000_000.0


def result(model: str = "m", share: float = 0.5, scope: str = "") -> dict[str, Any]:
    return {
        "model": model,
        "check": "data_drift",
        "status": "ok",
        "dataset_drift": share > 0.4,
        "drift_share": share,
        "n_drifted": round(share * 25),
        "n_columns": 25,
        "columns": [{"column": f"f{i}", "score": 0.01 * i, "drift_detected": False} for i in range(25)],
        "scope": scope,
    }


def record(store: HistoryStore, at: float, model: str = "m", scope: str = "", **kw: Any) -> int:
    args: dict[str, Any] = {
        "ran_at": at,
        "result": result(model, scope=scope),
        "model": model,
        "scope": scope,
        "status": "ok",
        "answered": True,
        "reason": None,
        "window_start": at - 3600,
        "window_end": at,
        "rows": 1000,
        "config_hash": "c" * 64,
        "reference_hash": "r" * 64,
        "driftwatch_version": "0.1.0",
        "positions": {"predictions:0": 120},
        "breaches": {"data_drift": True},
        "checks": ["data_drift"],
    }
    args.update(kw)
    return store.record_check(**args)


def test_a_check_row_round_trips_with_its_transitions_and_deliveries(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    first = record(store, T0)
    second = record(store, T0 + 60, breaches={"data_drift": False, "performance:accuracy": True})
    store.record_transition(
        check_id=first,
        model="m",
        scope="",
        check="data_drift",
        transition="firing",
        at=T0,
        idempotency_key="k1",
        window_end=T0,
    )
    store.record_delivery(target="hook", idempotency_key="k1", status="pending", attempts=0, at=T0)
    store.record_delivery(
        target="hook",
        idempotency_key="k1",
        status="pending",
        attempts=1,
        at=T0 + 1,
        last_status=503,
        last_error="HTTP 503 Service Unavailable",
    )
    store.record_delivery(
        target="hook", idempotency_key="k1", status="delivered", attempts=2, at=T0 + 3, last_status=200
    )
    store.record_delivery(
        target="other",
        idempotency_key="k1",
        status="dead",
        attempts=5,
        at=T0 + 9,
        last_error="unreachable: refused",
    )

    rows = store.checks("m")
    assert [r.id for r in rows] == [first, second]
    row = rows[0]
    assert row.result == result()
    assert (row.ran_at, row.window_start, row.window_end, row.rows) == (T0, T0 - 3600, T0, 1000)
    assert row.positions == {"predictions:0": 120}
    assert row.breaches == {"data_drift": True}
    assert (row.config_hash, row.reference_hash, row.driftwatch_version) == ("c" * 64, "r" * 64, "0.1.0")
    assert [(t.check, t.transition, t.idempotency_key, t.check_id) for t in row.transitions] == [
        ("data_drift", "firing", "k1", first)
    ]
    hook = {d.target: d for d in row.deliveries}
    assert (hook["hook"].status, hook["hook"].attempts, hook["hook"].last_status) == ("delivered", 2, 200)
    assert (hook["hook"].created_at, hook["hook"].updated_at, hook["hook"].last_error) == (T0, T0 + 3, None)
    assert (hook["other"].status, hook["other"].last_error) == ("dead", "unreachable: refused")
    assert rows[1].transitions == [] and rows[1].deliveries == []
    assert rows[1].breaches == {"data_drift": False, "performance:accuracy": True}
    assert row.as_dict()["transitions"][0]["idempotency_key"] == "k1"
    store.close()


def test_the_result_is_stored_compressed(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    record(store, T0)
    store.close()
    blob = sqlite3.connect(tmp_path / "h.sqlite").execute("SELECT result FROM history_check").fetchone()[0]
    text = zstandard.ZstdDecompressor().decompress(blob)
    assert text.startswith(b"{") and len(blob) < len(text) / 3


def test_filters_by_time_scope_check_and_limit_in_ran_at_order(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    ids = [record(store, T0 + i * 60, scope="" if i % 2 == 0 else "m;country=DE") for i in range(6)]
    late = record(store, T0 - 60)  # a check stamped earlier than the others (ran_at order, not id order)
    record(store, T0, model="other")
    rolling = record(store, T0 + 30, breaches={}, checks=["rolling:data_drift"])
    assert [r.id for r in store.checks("m")] == [late, ids[0], rolling, *ids[1:]]
    assert [r.id for r in store.checks("m", since=T0 + 60, until=T0 + 180)] == ids[1:4]
    assert [r.id for r in store.checks("m", scope="m;country=DE")] == ids[1::2]
    assert [r.id for r in store.checks("m", check="rolling:data_drift")] == [rolling]
    assert [r.id for r in store.checks("m", limit=2)] == ids[4:]
    assert store.checks("nobody") == []
    assert store.models() == ["m", "other"]


def test_a_check_filter_matches_a_fed_breach_or_a_transition(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite")
    fed = record(store, T0, breaches={"performance:accuracy": True}, checks=[])
    emitted = record(store, T0 + 1, breaches={}, checks=[])
    store.record_transition(
        check_id=emitted,
        model="m",
        scope="",
        check="model_version",
        transition="new_version",
        at=T0,
        idempotency_key="v",
    )
    assert [r.id for r in store.checks("m", check="performance:accuracy")] == [fed]
    assert [r.id for r in store.checks("m", check="model_version")] == [emitted]


def test_prune_by_age_drops_old_rows_their_transitions_and_deliveries(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", retention=86400.0)
    old = record(store, T0)
    new = record(store, T0 + 2 * 86400)
    for row, key in ((old, "old"), (new, "new")):
        store.record_transition(
            check_id=row,
            model="m",
            scope="",
            check="data_drift",
            transition="firing",
            at=T0 if row == old else T0 + 2 * 86400,
            idempotency_key=key,
        )
        store.record_delivery(
            target="hook",
            idempotency_key=key,
            status="delivered",
            attempts=1,
            at=T0 if row == old else T0 + 2 * 86400,
        )
    assert store.prune(T0 + 2 * 86400 + 10) == 1
    rows = store.checks("m")
    assert [r.id for r in rows] == [new]
    assert [d.idempotency_key for d in rows[0].deliveries] == ["new"]
    db = sqlite3.connect(tmp_path / "h.sqlite")
    assert db.execute("SELECT idempotency_key FROM history_transition").fetchall() == [("new",)]
    assert db.execute("SELECT idempotency_key FROM history_delivery").fetchall() == [("new",)]
    assert store.prune(T0 + 2 * 86400 + 20) == 0


def test_prune_keeps_at_most_max_checks_the_oldest_going_first(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", max_checks=1000)
    ids = [record(store, T0 + i) for i in range(1010)]
    store.record_transition(
        check_id=ids[3],
        model="m",
        scope="",
        check="data_drift",
        transition="firing",
        at=T0 + 3,
        idempotency_key="k",
    )
    assert store.prune(T0 + 2000) == 10
    assert store.count() == 1000
    assert [r.id for r in store.checks("m", limit=1000)] == ids[10:]
    assert sqlite3.connect(tmp_path / "h.sqlite").execute(
        "SELECT COUNT(*) FROM history_transition"
    ).fetchone() == (0,)


def test_pruned_space_is_given_back(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path / "h.sqlite", retention=3600.0)
    for i in range(2000):
        record(store, T0 + i)
    full = store.size_bytes()
    store.prune(T0 + 10 * 3600)
    assert store.count() == 0
    assert store.size_bytes() < full / 4
    assert (tmp_path / "h.sqlite").stat().st_size < full  # incremental vacuum shrank the file itself


def test_a_reader_sees_rows_while_the_writer_holds_the_file(tmp_path: Path) -> None:
    writer = HistoryStore(tmp_path / "h.sqlite")
    record(writer, T0)
    reader = HistoryStore(tmp_path / "h.sqlite")
    record(writer, T0 + 1)
    assert len(reader.checks("m")) == 2
    reader.close()
    writer.close()


def test_an_unwritable_history_file_names_the_key_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match=r"history\.path: cannot open SQLite history file .*writable location"):
        HistoryStore(tmp_path / "file" / "h.sqlite")


CONFIG = """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
models:
  m:
    reference: ref.csv
    features: [x]
state: {path: state/main.sqlite}
"""


def config(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "ref.csv").write_text("x\n1\n2\n", encoding="utf-8")
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + extra, encoding="utf-8")
    return path


def test_the_history_file_defaults_to_next_to_the_state_file(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path))
    assert settings.history.enabled
    assert settings.history.retention == 90 * 86400
    assert settings.history.file(settings.state.file) == tmp_path / "state" / "main.history.sqlite"


def test_a_relative_history_path_is_relative_to_the_config_file(tmp_path: Path) -> None:
    settings = load_settings(
        config(tmp_path, "history: {path: audit/h.sqlite, retention: 30d, max_checks: 5000}\n")
    )
    assert settings.history.file(settings.state.file) == tmp_path / "audit" / "h.sqlite"
    assert (settings.history.retention, settings.history.max_checks) == (30 * 86400, 5000)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            "{retention: 10m}",
            "history.retention: must be at least 1h, so a check's history outlives its alert; write e.g. '90d' (got '10m')",
        ),
        (
            "{retention: soon}",
            "history.retention: 'soon' is not a duration; write e.g. '30s', '5m', '1h' or '7d'",
        ),
        (
            "{max_checks: 10}",
            "history.max_checks: must be a whole number of check rows between 1000 and 100000000; write e.g.",
        ),
        ("{max_checks: lots}", "history.max_checks: must be a whole number of check rows"),
        ("{enabled: maybe}", "history.enabled: Input should be a valid boolean"),
        ("{keep: 1}", "history.keep: unknown key (got 1); remove it"),
    ],
)
def test_bad_history_settings_get_one_line_naming_key_value_and_fix(
    tmp_path: Path, section: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config(tmp_path, f"history: {section}\n"))
    lines = [line for line in str(caught.value).splitlines() if line.startswith("  - ")]
    assert len(lines) == 1 and message in lines[0]
