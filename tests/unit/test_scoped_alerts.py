"""Alerts of segment and version scopes: policy states per scope, retirement, their SQLite rows, their
webhook events (schema, templates, idempotency keys) and outbox rows; the model-wide scope ("") stays
exactly what it was before scopes existed."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from driftwatch.alerting.events import alert_event, retired_event, version_event
from driftwatch.alerting.policy import AlertEvent, AlertState, BreachPolicy, PolicyRule
from driftwatch.alerting.templates import BUILTIN, EVENT_FIELDS, SCOPE_FIELDS, load_template
from driftwatch.checks.window import CheckResult
from driftwatch.cli.webhooks import list_deliveries
from driftwatch.config import ModelSettings, WebhookSettings, WindowSettings
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.scope import Scope, SegmentKey, window_name
from driftwatch.service.metrics import Metrics
from driftwatch.service.model_checks import ModelCheck
from driftwatch.service.notify import Notifier
from driftwatch.service.webhooks import WebhookDispatcher, idempotency_key, version_key
from driftwatch.state.changelog import OutboxEntry
from driftwatch.state.store import Store
from driftwatch.stream.records import Prediction
from driftwatch.stream.windows import ColumnSpec, Window, WindowSnapshot

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "webhook-event.schema.json"
NOW = 1_800_000_000.0
B, C = True, False
DE = "country=DE"
V8 = "v=8"
DE_V8 = "v=8;country=DE"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def run(
    policy: BreachPolicy, clock: Clock, outcomes: list[bool], scope: str = "", rule: PolicyRule | None = None
) -> list[str | None]:
    events: list[str | None] = []
    for breaching in outcomes:
        clock.now += 60
        event = policy.observe("m", "data_drift", breaching, clock.now, rule or PolicyRule(), scope=scope)
        events.append(None if event is None else event.transition)
    return events


# the policy -------------------------------------------------------------------------------------------


def test_a_scope_has_its_own_state_and_the_whole_model_callback_is_unchanged() -> None:
    whole: list[tuple[str, str, str, str]] = []
    scoped: list[tuple[str, str, str, str, str]] = []
    clock = Clock()
    policy = BreachPolicy(
        clock=clock,
        on_state=lambda *a: whole.append(a),
        on_scope_state=lambda *a: scoped.append(a),
    )
    assert run(policy, clock, [B, B], scope=DE) == ["firing", None]
    assert run(policy, clock, [C]) == [None]  # the whole model is clean: its own state, still ok
    assert policy.firing("m", "data_drift", DE)
    assert not policy.firing("m", "data_drift")
    assert not policy.firing("m", "data_drift", V8)
    assert whole == []
    assert scoped == [("m", DE, "data_drift", "ok", "firing")]
    assert run(policy, clock, [B]) == ["firing"]
    assert whole == [("m", "data_drift", "ok", "firing")]  # (model, check, before, after), as before scopes
    assert run(policy, clock, [C], scope=DE) == ["resolved"]
    assert policy.firing("m", "data_drift") and not policy.firing("m", "data_drift", DE)
    assert scoped[-1] == ("m", DE, "data_drift", "firing", "ok")


def test_a_scoped_event_carries_its_scope_and_the_whole_models_none() -> None:
    clock = Clock()
    policy = BreachPolicy(clock=clock)
    assert policy.observe("m", "data_drift", B, NOW) == AlertEvent("m", "data_drift", "firing", NOW)
    scoped = policy.observe("m", "data_drift@rolling", B, NOW, scope=DE)
    assert scoped == AlertEvent("m", "data_drift@rolling", "firing", NOW, DE, None)
    assert AlertEvent("m", "data_drift", "firing", NOW).scope == ""


def test_retire_ends_a_firing_alert_and_deletes_the_state(tmp_path: Path) -> None:
    scoped: list[tuple[str, str, str, str, str]] = []
    store = Store(tmp_path / "state.sqlite")
    clock = Clock()
    policy = BreachPolicy(store, clock, on_scope_state=lambda *a: scoped.append(a))
    run(policy, clock, [B], scope=DE)
    run(policy, clock, [B])
    event = policy.retire("m", DE, "data_drift", NOW + 3600)
    assert event == AlertEvent("m", "data_drift", "resolved", NOW + 3600, DE, "retired")
    assert scoped[-1] == ("m", DE, "data_drift", "firing", "retired")
    assert store.load_scope_alert("m", DE, "data_drift") is None
    assert policy.state("m", "data_drift", DE) == AlertState()
    assert policy.firing("m", "data_drift")  # the whole model's alert is not touched
    assert policy.retire("m", DE, "data_drift", NOW + 3700) is None  # nothing fires any more
    store.close()


def test_retiring_a_scope_that_does_not_fire_sends_nothing() -> None:
    scoped: list[tuple[str, str, str, str, str]] = []
    clock = Clock()
    policy = BreachPolicy(clock=clock, on_scope_state=lambda *a: scoped.append(a))
    run(policy, clock, [B], scope=DE, rule=PolicyRule(consecutive=3))
    assert policy.state("m", "data_drift", DE).state == "pending"
    assert policy.retire("m", DE, "data_drift", NOW) is None
    assert policy.state("m", "data_drift", DE) == AlertState()
    assert scoped == [("m", DE, "data_drift", "ok", "pending")]


def test_the_whole_model_is_never_retired_or_forgotten_as_a_scope() -> None:
    policy = BreachPolicy()
    with pytest.raises(ValueError, match="never retires"):
        policy.retire("m", "", "data_drift", NOW)
    with pytest.raises(ValueError, match="cannot be forgotten"):
        policy.forget_scope("m", "")


@pytest.mark.parametrize("scope", [DE, V8, DE_V8])
def test_scoped_states_survive_a_restart(tmp_path: Path, scope: str) -> None:
    outcomes = [B, B, C, B, B, B, C, C, C]
    rule = PolicyRule(consecutive=2, resolve_after=2)
    clock = Clock()
    expected = run(BreachPolicy(clock=clock), clock, outcomes, scope, rule)
    clock = Clock()
    store = Store(tmp_path / "state.sqlite")
    first = run(BreachPolicy(store, clock), clock, outcomes[:4], scope, rule)
    store.close()
    store = Store(tmp_path / "state.sqlite")  # a new process: the scope's state comes back from the file
    second = run(BreachPolicy(store, clock), clock, outcomes[4:], scope, rule)
    assert first + second == expected
    assert store.load_alert("m", "data_drift") is None  # nothing written for the whole model
    store.close()


def test_scoped_states_are_in_their_own_table_and_the_whole_models_where_they_were(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    clock = Clock()
    policy = BreachPolicy(store, clock)
    run(policy, clock, [B])
    run(policy, clock, [B], scope=DE)
    run(policy, clock, [C], scope=V8)
    store.close()
    db = sqlite3.connect(tmp_path / "state.sqlite")
    assert [r[:3] for r in db.execute("SELECT * FROM alert_state")] == [("m", "data_drift", "firing")]
    assert sorted(r[:4] for r in db.execute("SELECT * FROM scope_alert_state")) == [
        ("m", DE, "data_drift", "firing"),
        ("m", V8, "data_drift", "ok"),
    ]
    db.close()


def test_forget_drops_every_scope_from_memory_and_forget_scope_from_the_file(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    clock = Clock()
    policy = BreachPolicy(store, clock)
    run(policy, clock, [B])
    run(policy, clock, [B], scope=DE)
    run(policy, clock, [B], scope=V8)
    policy.forget("m")  # another replica owns the model: the states stay stored and come back
    assert policy.firing("m", "data_drift") and policy.firing("m", "data_drift", DE)
    policy.forget_scope("m", DE)  # the segment left: gone, also from the file
    assert not policy.firing("m", "data_drift", DE)
    assert store.load_scope_alert("m", DE, "data_drift") is None
    assert [(scope, check) for scope, check, _ in store.scope_alerts("m")] == [(V8, "data_drift")]
    assert policy.firing("m", "data_drift") and policy.firing("m", "data_drift", V8)
    store.close()


def test_restore_takes_a_scoped_state(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    policy = BreachPolicy(store)
    firing = AlertState("firing", NOW, 3, 0, NOW)
    policy.restore("m", "data_drift", firing, scope=DE)
    assert policy.firing("m", "data_drift", DE) and not policy.firing("m", "data_drift")
    assert store.load_scope_alert("m", DE, "data_drift") == firing
    store.close()


# idempotency keys --------------------------------------------------------------------------------------


def test_whole_model_keys_are_those_of_before_scopes() -> None:
    # computed by the code before scopes existed: a changed key would re-send every pending event
    assert idempotency_key("credit-risk", "data_drift", 1_800_000_000.0, "firing") == (
        "004684e76a5d55f8363bed166f241b4c"
    )
    assert idempotency_key("credit-risk", "performance:f1", 1_800_000_123.4567, "resolved", "") == (
        "2ad48a5f9b2a0ed513643cd76a87439b"
    )


def test_scoped_keys_add_the_scope_key_to_the_material() -> None:
    keys = {
        scope: idempotency_key("credit-risk", "data_drift", NOW, "firing", scope)
        for scope in ("", DE, V8, DE_V8)
    }
    assert len(set(keys.values())) == 4
    material = f"credit-risk\x1fdata_drift\x1f{NOW:.3f}\x1ffiring\x1f{DE}".encode()
    assert keys[DE] == hashlib.sha256(material).hexdigest()[:32]


def test_a_version_has_one_key() -> None:
    assert (
        version_key("credit-risk", "8") == hashlib.sha256(b"credit-risk\x1f8\x1fnew_version").hexdigest()[:32]
    )
    assert version_key("credit-risk", "8") != version_key("credit-risk", "9")
    assert version_key("credit-risk", "8") != version_key("churn", "8")


# events ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(validator: Draft202012Validator, document: Any) -> list[str]:
    wire = json.loads(load_template("generic").render(document))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(wire)]


@pytest.fixture(scope="module")
def result() -> CheckResult:
    """A real data drift check of the whole model: ``x`` shifts, ``c`` gains an unseen category."""
    rng = np.random.default_rng(11)
    reference = pd.DataFrame(
        {"x": rng.normal(0, 1, 400), "c": rng.choice(["a", "b", "c"], 400), "score": rng.uniform(0, 1, 400)}
    )
    model = ModelSettings(
        reference=Path("ref.csv"),
        features=["x", {"name": "c", "type": "categorical"}],
        prediction="score",
        window=WindowSettings(min_rows=100),
    )
    profile = ReferenceProfile.build(reference, ["x", "c", "score"], {"c": "categorical"})
    current = pd.DataFrame(
        {"x": rng.normal(3, 1, 300), "c": rng.choice(["a", "z"], 300), "score": rng.beta(5, 1, 300)}
    )
    return ModelCheck("credit-risk", model, profile).run(WindowSnapshot(current, NOW - 3600, NOW, 350, {}))


def scoped(result: CheckResult, key: str, baseline: str = "") -> CheckResult:
    version, segment = Scope.parse(result.model, key).labels()
    return replace(result, scope=key, model_version=version, segment=segment, baseline=baseline)


def test_the_whole_models_event_has_no_scope_fields(result: CheckResult) -> None:
    event = alert_event("k", "firing", "data_drift", result, "7", NOW)
    assert set(event) == EVENT_FIELDS - SCOPE_FIELDS
    assert event["model_version"] == "7"
    assert event["summary"].startswith("Dataset drift on model credit-risk: 2 of 2 features drifted")


@pytest.mark.parametrize(
    ("key", "check", "baseline", "segment", "version", "named"),
    [
        (
            DE,
            "data_drift",
            "reference",
            "country=DE",
            "7",
            "Dataset drift on model credit-risk (segment country=DE): ",
        ),
        (V8, "data_drift", "reference", None, "8", "Dataset drift on model credit-risk (version 8): "),
        (
            DE_V8,
            "prediction_drift",
            "reference",
            "country=DE",
            "8",
            "Prediction drift on model credit-risk (segment country=DE, version 8): ",
        ),
        (
            "",
            "data_drift@rolling",
            "rolling",
            None,
            "7",
            "Dataset drift vs the rolling baseline on model credit-risk: ",
        ),
        (
            "country:other",
            "data_drift@rolling",
            "rolling",
            "country:other",
            "7",
            "Dataset drift vs the rolling baseline on model credit-risk (segment country:other): ",
        ),
    ],
)
def test_scoped_events_name_their_scope_and_validate(
    validator: Draft202012Validator,
    result: CheckResult,
    key: str,
    check: str,
    baseline: str,
    segment: str | None,
    version: str,
    named: str,
) -> None:
    scope_result = scoped(result, key, "rolling" if baseline == "rolling" else "")
    event = alert_event("k", "firing", check, scope_result, "7", NOW)
    assert schema_errors(validator, event) == []
    assert set(event) == EVENT_FIELDS - {"reason"}
    assert (event["segment"], event["baseline"], event["model_version"]) == (segment, baseline, version)
    assert event["check"] == check
    assert event["summary"].startswith(named)
    resolved = alert_event("k", "resolved", check, scope_result, "7", NOW)
    assert schema_errors(validator, resolved) == []
    assert resolved["summary"] == f"Resolved: {named[0].lower()}{named[1:-2]}; the latest checks are clean."


def test_a_challenger_event_validates(validator: Draft202012Validator, result: CheckResult) -> None:
    event = alert_event("k", "firing", "challenger:accuracy", scoped(result, V8), "7", NOW)
    assert schema_errors(validator, event) == []
    assert event["summary"] == "Challenger accuracy on model credit-risk (version 8)."


@pytest.mark.parametrize("with_result", [True, False])
def test_a_retired_event_says_why_and_validates(
    validator: Draft202012Validator, result: CheckResult, with_result: bool
) -> None:
    last = scoped(result, "country=LU") if with_result else None
    event = retired_event("k", "credit-risk", "country=LU", "data_drift", NOW, NOW + 5, 20, last, "7")
    assert schema_errors(validator, event) == []
    assert (event["transition"], event["reason"], event["segment"]) == ("resolved", "retired", "country=LU")
    assert event["summary"] == (
        "Retired: segment country=LU of model credit-risk left the top 20 by traffic while its data_drift "
        "alert was firing; it is no longer watched on its own (its records count in country:other)."
    )
    assert event["rows"] == (result.rows if with_result else 0)
    assert (event["result"] is None) is not with_result


def test_a_retired_version_says_so(validator: Draft202012Validator) -> None:
    event = retired_event("k", "credit-risk", V8, "prediction_drift@rolling", NOW, NOW)
    assert schema_errors(validator, event) == []
    assert (event["model_version"], event["segment"], event["baseline"]) == ("8", None, "rolling")
    assert event["summary"] == (
        "Retired: version 8 of model credit-risk stopped being live while its prediction_drift@rolling alert "
        "was firing; it is no longer watched on its own."
    )


@pytest.mark.parametrize(
    ("scope", "top_k", "expected"),
    [
        (
            DE_V8,
            20,
            "Retired: segment country=DE of version 8 of model m left the top 20 by traffic while its "
            "data_drift alert was firing; it is no longer watched on its own (its records count in "
            "country:other).",
        ),
        (
            DE_V8,
            None,
            "Retired: version 8 of model m stopped being live while its data_drift alert on segment "
            "country=DE was firing; it is no longer watched on its own.",
        ),
        (
            DE,
            None,
            "Retired: segment country=DE of model m left the top segments by traffic while its data_drift "
            "alert was firing; it is no longer watched on its own (its records count in country:other).",
        ),
        (
            "country:other",
            5,
            "Retired: segment country:other of model m left the top 5 by traffic while its data_drift "
            "alert was firing; it is no longer watched on its own.",
        ),
    ],
)
def test_retired_summaries(scope: str, top_k: int | None, expected: str) -> None:
    assert retired_event("k", "m", scope, "data_drift", NOW, NOW, top_k)["summary"] == expected


def test_a_version_event_validates(validator: Draft202012Validator) -> None:
    event = version_event("k", "credit-risk", "8", 0.034, NOW - 60, NOW)
    assert schema_errors(validator, event) == []
    assert (event["type"], event["transition"], event["check"]) == (
        "driftwatch.version",
        "new_version",
        "model_version",
    )
    assert event["model_version"] == "8"
    assert event["summary"] == (
        "New version 8 of model credit-risk, first seen 2027-01-15T07:59:00.000Z; "
        "3.4% of the model's recent records."
    )
    assert set(event) == EVENT_FIELDS - SCOPE_FIELDS
    assert "recent records" not in version_event("k", "m", "8", None, NOW, NOW)["summary"]


def test_the_schema_refuses_unknown_baselines_and_reasons(
    validator: Draft202012Validator, result: CheckResult
) -> None:
    event = alert_event("k", "firing", "data_drift", scoped(result, DE), None, NOW)
    assert schema_errors(validator, {**event, "baseline": "yesterday"})
    assert schema_errors(validator, {**event, "reason": "bored"})
    assert schema_errors(validator, {**event, "segment": 3})


def test_every_builtin_template_renders_scoped_retired_and_version_events(result: CheckResult) -> None:
    events = {
        "scoped": alert_event("k1", "firing", "data_drift", scoped(result, DE_V8), "7", NOW),
        "retired": retired_event("k2", "credit-risk", DE, "data_drift", NOW, NOW, 20),
        "version": version_event("k3", "credit-risk", "8", 0.5, NOW, NOW),
    }
    for name in BUILTIN:
        template = load_template(name)
        for event in events.values():
            body = json.loads(template.render(event))
            assert body, name
    github = {
        kind: json.loads(load_template("github").render(event))["client_payload"]
        for kind, event in events.items()
    }
    assert all(len(payload) == 10 for payload in github.values())  # GitHub allows no more
    assert "(segment country=DE, version 8)" in github["scoped"]["summary"]
    assert github["scoped"]["model_version"] == "8"
    assert json.loads(load_template("github").render(events["version"]))["event_type"] == (
        "driftwatch-new_version"
    )
    slack = {kind: json.loads(load_template("slack").render(event))["text"] for kind, event in events.items()}
    assert slack["scoped"].startswith(":rotating_light: Dataset drift on model credit-risk (segment")
    assert slack["retired"].startswith(":heavy_minus_sign: Retired: segment country=DE")
    assert slack["version"].startswith(":new: New version 8")
    airflow = json.loads(load_template("airflow").render(events["retired"]))
    assert airflow["conf"]["reason"] == "retired" and airflow["note"] == events["retired"]["summary"]


def test_user_templates_may_name_the_scope_fields(tmp_path: Path, result: CheckResult) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"segment": "{{ segment }}", "text": "[{{ baseline }}] {{ reason }}"}))
    template = load_template(str(path))
    scoped_event = retired_event("k", "credit-risk", DE, "data_drift", NOW, NOW, 20)
    assert json.loads(template.render(scoped_event)) == {
        "segment": "country=DE",
        "text": "[reference] retired",
    }
    whole = alert_event("k", "firing", "data_drift", result, None, NOW)
    assert json.loads(template.render(whole)) == {"segment": None, "text": "[] "}


# notifier, outbox and `webhooks list` ------------------------------------------------------------------


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "state.sqlite")
    yield store
    store.close()


def notifier(store: Store) -> Notifier:
    metrics = Metrics()
    dispatcher = WebhookDispatcher(metrics, lambda: NOW, store)  # not started: submit only writes the outbox
    hooks = {"retrain": WebhookSettings(url="http://127.0.0.1:9/hook")}
    return Notifier(
        hooks,
        {"credit-risk": ["retrain"]},
        {"retrain": load_template("generic")},
        metrics,
        lambda: NOW + 1,
        {"credit-risk": "7"},
        dispatcher.submit,
    )


def test_notifier_queues_scoped_retired_and_version_events(outbox: Store, result: CheckResult) -> None:
    notify = notifier(outbox)
    notify.notify(AlertEvent("credit-risk", "data_drift", "firing", NOW), result)
    notify.notify(AlertEvent("credit-risk", "data_drift", "firing", NOW, DE), scoped(result, DE))
    notify.notify(
        AlertEvent("credit-risk", "data_drift", "resolved", NOW + 60, DE, "retired"), None, top_k=20
    )
    notify.notify_version("credit-risk", "8", 0.25, NOW - 30)
    notify.notify_version("credit-risk", "8", 0.30, NOW)  # announced again (a restart): not queued twice
    rows = outbox.outbox()
    assert [(r.check, r.transition, r.scope) for r in rows] == [
        ("data_drift", "firing", None),
        ("data_drift", "firing", DE),
        ("data_drift", "resolved", DE),
        ("model_version", "new_version", None),
    ]
    assert [r.key for r in rows] == [
        idempotency_key("credit-risk", "data_drift", NOW, "firing"),
        idempotency_key("credit-risk", "data_drift", NOW, "firing", DE),
        idempotency_key("credit-risk", "data_drift", NOW + 60, "resolved", DE),
        version_key("credit-risk", "8"),
    ]
    bodies = [json.loads(r.body) for r in rows]
    assert "segment" not in bodies[0]
    assert bodies[1]["segment"] == "country=DE"
    assert bodies[2]["reason"] == "retired" and "top 20" in bodies[2]["summary"]
    assert bodies[3]["type"] == "driftwatch.version"
    resumed = notify.resume(rows[1])
    assert resumed is not None and resumed.scope == DE
    assert OutboxEntry.of(rows[1]).row(rows[1].id) == rows[1]  # the changelog keeps the scope


def test_a_plain_event_needs_its_result(outbox: Store) -> None:
    with pytest.raises(ValueError, match="needs its result"):
        notifier(outbox).notify(AlertEvent("credit-risk", "data_drift", "firing", NOW, DE), None)


def test_webhooks_list_shows_the_scope_only_when_a_row_has_one(outbox: Store) -> None:
    outbox.outbox_add("retrain", "k1", b"{}", NOW, "credit-risk", "data_drift", "firing")
    out: list[str] = []
    list_deliveries(outbox, ["pending"], False, out)
    assert "SCOPE" not in out[0]
    listed: list[str] = []
    list_deliveries(outbox, ["pending"], True, listed)
    assert "scope" not in json.loads(listed[0])[0]
    outbox.outbox_add("retrain", "k2", b"{}", NOW + 1, "credit-risk", "data_drift", "firing", DE)
    out = []
    list_deliveries(outbox, ["pending"], False, out)
    assert out[0].split()[:5] == ["ID", "STATUS", "TARGET", "MODEL", "SCOPE"]
    assert out[1].split()[3:5] == ["credit-risk", "-"]
    assert out[2].split()[3:5] == ["credit-risk", DE]
    listed = []
    list_deliveries(outbox, ["pending"], True, listed)
    assert [row["scope"] for row in json.loads(listed[0])] == [None, DE]


# the state file ----------------------------------------------------------------------------------------

# the outbox as the release before scopes created it
_OLD_OUTBOX = """
CREATE TABLE outbox (
    target TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    body BLOB NOT NULL,
    created_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    last_error TEXT,
    model TEXT,
    check_name TEXT,
    transition TEXT,
    PRIMARY KEY (target, idempotency_key)
);
INSERT INTO outbox (target, idempotency_key, body, created_at, next_at, model, check_name, transition)
VALUES ('retrain', 'old-key', x'7b7d', 1.0, 2.0, 'credit-risk', 'data_drift', 'firing');
"""


def test_an_old_outbox_gains_the_scope_column(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    db = sqlite3.connect(path)
    db.executescript(_OLD_OUTBOX)
    db.close()
    store = Store(path)
    (old,) = store.outbox()
    assert (old.key, old.model, old.check, old.transition, old.scope) == (
        "old-key",
        "credit-risk",
        "data_drift",
        "firing",
        None,
    )
    assert store.outbox_add("retrain", "new-key", b"{}", 3.0, "credit-risk", "data_drift", "firing", DE)
    store.close()
    store = Store(path)  # opened again: the column is there, nothing is added twice
    assert [row.scope for row in store.outbox()] == [None, DE]
    store.close()


COLUMNS = [ColumnSpec("id", "numeric"), ColumnSpec("x", "numeric")]


def filled_window(n: int) -> Window:
    w = Window(COLUMNS, 1000.0, 500, buckets=10, rng=np.random.default_rng(0))
    w.add(
        [Prediction("m", None, None, 10_000.0 + i, {"id": i, "x": i * 0.5}, None, None) for i in range(n)],
        10_100.0,
    )
    return w


def test_a_checkpoint_drops_windows_and_writes_blobs_in_its_transaction(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    de = window_name(Scope("m", segment=SegmentKey("country", "DE")))
    fr = window_name(Scope("m", segment=SegmentKey("country", "FR")))
    whole, de_window, fr_window = filled_window(50), filled_window(20), filled_window(30)
    store.checkpoint(
        {name: (w.signature(), w.changes()) for name, w in (("m", whole), (de, de_window), (fr, fr_window))},
        "g",
        {("t", 0): 100},
        blobs={"m": b"directory 1"},
    )
    assert store.load_window(de, de_window.signature()) is not None
    assert store.load_blob("m") == b"directory 1"
    store.checkpoint({}, "g", {("t", 0): 200}, dropped=[de], blobs={"m": b"directory 2", "other": b"x"})
    assert store.load_window(de, de_window.signature()) is None
    assert store.load_window(fr, fr_window.signature()) is not None
    assert store.load_window("m", whole.signature()) is not None
    assert (store.load_blob("m"), store.load_blob("other"), store.load_blob("none")) == (
        b"directory 2",
        b"x",
        None,
    )
    store.checkpoint({}, "g", {("t", 0): 201}, blobs={"other": None})  # None deletes
    assert store.load_blob("other") is None
    store.forget_window(fr)
    assert store.load_window(fr, fr_window.signature()) is None
    assert store.offsets("g") == {("t", 0): 201}
    store.close()


class Failing(dict[str, Any]):
    """Window changes that cannot be read: the checkpoint fails after its drops and blobs."""

    def items(self) -> Any:
        raise RuntimeError("disk full")


def test_a_failed_checkpoint_neither_drops_nor_writes_blobs(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    de = window_name(Scope("m", segment=SegmentKey("country", "DE")))
    w = filled_window(20)
    store.checkpoint({de: (w.signature(), w.changes())}, "g", {("t", 0): 100}, blobs={"m": b"before"})
    with pytest.raises(RuntimeError, match="disk full"):
        store.checkpoint(Failing(), "g", {("t", 0): 200}, dropped=[de], blobs={"m": b"after"})
    assert store.load_window(de, w.signature()) is not None
    assert store.load_blob("m") == b"before"
    assert store.offsets("g") == {("t", 0): 100}
    store.close()
