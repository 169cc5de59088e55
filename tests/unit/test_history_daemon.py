"""The daemon records its check history without a broker: every result a check stores (the model's,
each scope's), the breaches it fed, the events the policy emitted at it, their deliveries; and a
history write that fails never fails the check or its alert."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from driftwatch.config import load_settings
from driftwatch.service import webhooks
from driftwatch.service.daemon import Daemon
from driftwatch.service.history import config_hash, reference_hash
from driftwatch.service.webhooks import Delivery, Response, idempotency_key
from tests.unit.test_daemon_scopes import NOW, SEGMENTS, Clock, events, make, records, sample


def test_every_stored_result_is_a_row_with_what_it_fed_and_caused(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, SEGMENTS, clock)
    sent = events(daemon)
    daemon.handle(records(6000, 1, shift={"FR": 2.0}))
    daemon.source._offsets.handled[("predictions", 0)] = 6000  # as the Kafka source would have it
    daemon.run_check("m")
    clock.now = NOW + 60
    daemon.run_check("m")
    assert daemon.history is not None
    rows = daemon.history.store.checks("m")
    assert [r.ran_at for r in rows] == sorted(r.ran_at for r in rows)
    latest = {r.scope: r for r in rows if r.ran_at == NOW + 60}
    # the model's row and one per scope, each result exactly what /api shows
    assert set(latest) == {"", *(scope for scope, _ in daemon.latest.scoped("m"))}
    for scope, row in latest.items():
        stored = daemon.latest.get("m", scope)
        assert stored is not None and row.result == stored.as_dict()
    model = latest[""]
    assert model.positions == {"predictions:0": 6000}
    assert latest["country=FR"].positions == {}  # a scope window is snapshotted without holding ingestion
    assert model.breaches == {"data_drift": True, "prediction_drift": False}
    assert latest["country=FR"].breaches["data_drift"] is True
    settings = daemon.settings.models["m"]
    assert model.config_hash == config_hash(settings)
    assert model.reference_hash == reference_hash(tmp_path / "ref.csv")
    # every event the policy emitted is a transition of the row that caused it, with the webhook's key
    stored = [
        (t.check_id, t.scope, t.check, t.transition, t.idempotency_key) for r in rows for t in r.transitions
    ]
    by_scope = {(r.scope, r.ran_at): r.id for r in rows}
    expected = [
        (
            by_scope[(e.scope, NOW)],
            e.scope,
            e.check,
            e.transition,
            idempotency_key(e.model, e.check, e.window_end, e.transition, e.scope),
        )
        for e, _ in sent
    ]
    assert expected and stored == expected
    assert ("country=FR", "data_drift", "firing") in [(s, c, t) for _, s, c, t, _ in stored]
    assert sample(daemon, "driftwatch_history_checks") == len(rows)


def test_a_retired_scope_is_a_resolved_transition_at_the_models_row(tmp_path: Path) -> None:
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
    clock.now = NOW + 3700
    daemon.handle(
        [m for m in records(6000, 2, at=clock.now - 1, offset=6000) if b'"FR"' not in (m.value or b"")]
    )
    for _ in range(5):
        daemon.run_check("m")
        if any(e.reason == "retired" for e, _ in sent):
            break
    assert daemon.history is not None
    rows = daemon.history.store.checks("m")
    retired = [
        (r.scope, t.scope, t.transition, t.reason)
        for r in rows
        for t in r.transitions
        if t.reason == "retired"
    ]
    assert retired == [("", "country=FR", "resolved", "retired")]


def test_a_failing_history_write_is_counted_and_the_check_and_alert_go_on(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, "", clock, features="[{name: x, method: wasserstein, threshold: 0.2}, y]")
    sent = events(daemon)
    assert daemon.history is not None

    def broken(**_: Any) -> int:
        raise OSError("disk full")

    daemon.history.store.record_check = broken  # type: ignore[method-assign]
    daemon.history.store.record_transition = broken  # type: ignore[method-assign]
    daemon.handle(records(3000, 1, shift={c: 2.0 for c in ("DE", "FR", "IT", "ES", "PL", "NL", "BE", "LU")}))
    result = daemon.run_check("m")
    assert result is not None and result.drift.dataset_drift
    assert [(e.check, e.transition) for e, _ in sent] == [("data_drift", "firing")]
    assert sample(daemon, "driftwatch_history_write_errors_total") == 2  # the row and its transition


def test_deliveries_are_recorded_when_queued_and_at_each_attempts_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = make(tmp_path, "", Clock())
    answers = iter([Response(503, "Service Unavailable", b"", 0.01), Response(200, "OK", b"", 0.01)])
    monkeypatch.setattr(webhooks, "send", lambda delivery, now: next(answers))
    delivery = Delivery(target="hook", url="http://127.0.0.1:9/x", body=b"{}", key="k1", backoff=0.0)
    daemon.dispatcher.submit(delivery)
    assert daemon.history is not None
    store = daemon.history.store
    store.record_transition(
        check_id=1, model="m", scope="", check="data_drift", transition="firing", at=NOW, idempotency_key="k1"
    )
    store.record_check(
        ran_at=NOW,
        result={},
        model="m",
        status="ok",
        answered=True,
        reason=None,
        window_start=NOW,
        window_end=NOW,
        rows=1,
        config_hash="",
        reference_hash="",
        driftwatch_version="",
    )

    def delivery_state() -> tuple[str, int, int | None, str | None]:
        (d,) = store.checks("m")[0].deliveries
        return d.status, d.attempts, d.last_status, d.last_error

    assert delivery_state() == ("pending", 0, None, None)
    daemon.dispatcher._attempt(delivery)
    assert delivery_state() == ("pending", 1, 503, "HTTP 503 Service Unavailable")
    daemon.dispatcher._attempt(delivery)
    assert delivery_state() == ("delivered", 2, 200, None)


def test_a_models_config_hash_changes_with_its_own_settings_only(tmp_path: Path) -> None:
    (tmp_path / "ref.csv").write_text("x\n1\n2\n", encoding="utf-8")
    base = """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
models:
  a: {reference: ref.csv, features: [x], drift: {share: SHARE}}
  b: {reference: ref.csv, features: [x]}
"""
    hashes = []
    for share in ("0.5", "0.3"):
        (tmp_path / "c.yaml").write_text(base.replace("SHARE", share), encoding="utf-8")
        settings = load_settings(tmp_path / "c.yaml")
        hashes.append((config_hash(settings.models["a"]), config_hash(settings.models["b"])))
    assert hashes[0][0] != hashes[1][0]
    assert hashes[0][1] == hashes[1][1]


def test_history_off_records_nothing(tmp_path: Path) -> None:
    daemon = make(tmp_path, "", Clock())
    assert daemon.history is not None
    (tmp_path / "c.yaml").write_text(
        (tmp_path / "c.yaml").read_text(encoding="utf-8") + "history: {enabled: false}\n", encoding="utf-8"
    )
    off = Daemon(load_settings(tmp_path / "c.yaml"), clock=Clock())
    assert off.history is None and off.runner.history is None
    off.handle(records(500, 1))
    assert off.run_check("m") is not None
    assert daemon.history.store.count() == 0  # the file the first daemon opened got nothing


def test_a_delivery_error_naming_the_url_loses_its_credentials(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    daemon = make(tmp_path, "", Clock())
    url = "http://user:s3cret@127.0.0.1:9/hook?token=abc"
    monkeypatch.setattr(
        webhooks, "send", lambda delivery, now: Response(0, "", b"", 0.01, error=f"no route to {url}")
    )
    delivery = Delivery(target="hook", url=url, body=b"{}", key="k1", max_attempts=1)
    daemon.dispatcher.submit(delivery)
    daemon.dispatcher._attempt(delivery)
    assert daemon.history is not None
    (row,) = daemon.history.store._db.execute("SELECT status, last_error FROM history_delivery").fetchall()
    assert row == ("dead", "unreachable: no route to http://127.0.0.1:9/hook")
