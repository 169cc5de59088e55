"""Webhook delivery end to end over real HTTP on 127.0.0.1: retries, final answers, Retry-After,
timeouts, max_age, templates, methods, credential headers, restarts and re-queues from the CLI."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from pydantic import SecretStr

from driftwatch.alerting.events import probe_event
from driftwatch.alerting.templates import load_template
from driftwatch.cli.localbroker import free_port
from driftwatch.cli.main import main
from driftwatch.config import SecretHeader, SecretRef, WebhookSettings, load_settings
from driftwatch.service.metrics import Metrics
from driftwatch.service.webhooks import Delivery, WebhookDispatcher, event_body, target_delivery
from driftwatch.state.store import OutboxRow, Store
from tests.receivers import Receiver, Reply
from tests.waiting import wait_for

SECRET = "whsec-delivery-91b3"
TOKEN = "ghp-credential-4d2e9a"  # distinctive, so a leak into logs or reprs is easy to spot
ENV = {"HOOK_SECRET": SECRET, "HOOK_TOKEN": TOKEN}
BODY = event_body(probe_event("evt-1", "credit-risk", 1_800_000_000.0))
FAST = {"backoff": 0.01, "timeout": 2.0}


def hook(url: str, **settings: object) -> WebhookSettings:
    return WebhookSettings.model_validate(
        {"url": url, "secret": SecretRef(env="HOOK_SECRET"), **FAST, **settings}
    )


def make_delivery(
    url: str, key: str = "key-1", template: str = "generic", target: str = "retrain", **settings: object
) -> Delivery:
    """A delivery built the way the daemon builds one: settings -> template -> target_delivery."""
    compiled = load_template(template)
    body = compiled.render(json.loads(BODY))
    return target_delivery(
        target,
        hook(url, template=template, **settings),
        compiled,
        key,
        body,
        model="credit-risk",
        check="data_drift",
        transition="firing",
        environ=ENV,
    )


def outcome(metrics: Metrics, target: str, name: str) -> float:
    value = metrics.registry.get_sample_value(
        "driftwatch_webhook_deliveries_total", {"target": target, "outcome": name}
    )
    return 0.0 if value is None else value


def pending_gauge(metrics: Metrics, target: str = "retrain") -> float | None:
    return metrics.registry.get_sample_value("driftwatch_webhook_outbox_pending", {"target": target})


def attempts(store: Store, key: str = "key-1", target: str = "retrain") -> int:
    row = store.outbox_get(target, key)
    return 0 if row is None else row.attempts


def row_status(store: Store, key: str = "key-1", target: str = "retrain") -> str | None:
    row = store.outbox_get(target, key)
    return None if row is None else row.status


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def store() -> Iterator[Store]:
    store = Store(":memory:")
    yield store
    store.close()


@pytest.fixture
def dispatcher(metrics: Metrics, store: Store) -> Iterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(metrics, store=store)
    dispatcher.start()
    yield dispatcher
    dispatcher.stop(timeout=5)


# retries and final answers ------------------------------------------------------------------------------


def test_server_errors_are_retried_until_delivered_once(
    metrics: Metrics, store: Store, dispatcher: WebhookDispatcher
) -> None:
    with Receiver(SECRET.encode(), reply=lambda attempt: 500 if attempt <= 3 else 200) as receiver:
        dispatcher.submit(make_delivery(receiver.url, max_attempts=5))
        wait_for(lambda: row_status(store) == "delivered")
        time.sleep(0.1)  # several backoffs: nothing more arrives after the success
        requests = list(receiver.received)
    assert [r.status for r in requests] == [500, 500, 500, 200]
    assert all(r.valid and not r.tampered_valid for r in requests)
    assert {r.key for r in requests} == {"key-1"}
    assert all(r.body == requests[0].body for r in requests)
    row = store.outbox_get("retrain", "key-1")
    assert row is not None and (row.attempts, row.last_error) == (4, None)
    assert (outcome(metrics, "retrain", "retry"), outcome(metrics, "retrain", "delivered")) == (3, 1)
    assert outcome(metrics, "retrain", "failed") == 0
    seconds = metrics.registry.get_sample_value(
        "driftwatch_webhook_delivery_seconds_count", {"target": "retrain"}
    )
    assert seconds == 4  # every attempt is timed


def test_bad_request_is_final(metrics: Metrics, store: Store, dispatcher: WebhookDispatcher) -> None:
    with Receiver(SECRET.encode(), reply=lambda attempt: 400) as receiver:
        dispatcher.submit(make_delivery(receiver.url, max_attempts=5))
        wait_for(lambda: row_status(store) == "dead")
        time.sleep(0.1)  # longer than several backoffs: no retry follows
        assert len(receiver.received) == 1
    row = store.outbox_get("retrain", "key-1")
    assert row is not None
    assert (row.attempts, row.last_error) == (1, "HTTP 400 Bad Request")
    assert outcome(metrics, "retrain", "failed") == 1
    assert outcome(metrics, "retrain", "retry") == 0
    assert outcome(metrics, "retrain", "delivered") == 0


def test_retry_after_is_honoured(metrics: Metrics, store: Store, dispatcher: WebhookDispatcher) -> None:
    def reply(attempt: int) -> Reply:
        return Reply(429, {"Retry-After": "1"}) if attempt == 1 else Reply(200)

    with Receiver(SECRET.encode(), reply=reply) as receiver:
        dispatcher.submit(make_delivery(receiver.url, backoff=0.01))
        first, second = receiver.wait_for(2, timeout=5)
        wait_for(lambda: row_status(store) == "delivered")
    gap = second.at - first.at
    assert gap >= 0.95, f"second attempt {gap:.3f}s after the first; Retry-After asked for 1s"
    assert gap < 3.0
    assert (first.status, second.status) == (429, 200)
    assert outcome(metrics, "retrain", "retry") == 1
    assert outcome(metrics, "retrain", "delivered") == 1


def test_slow_receiver_times_out_and_the_retry_is_delivered(
    metrics: Metrics, store: Store, dispatcher: WebhookDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    def reply(attempt: int) -> Reply:
        return Reply(200, delay=1.0) if attempt == 1 else Reply(200)

    caplog.set_level(logging.INFO, logger="driftwatch")
    with Receiver(SECRET.encode(), reply=reply) as receiver:
        started = time.monotonic()
        dispatcher.submit(make_delivery(receiver.url, timeout=0.3, backoff=0.01))
        wait_for(lambda: row_status(store) == "delivered", timeout=5)
        elapsed = time.monotonic() - started
        assert len(receiver.received) == 2
    assert elapsed < 0.95, "the second attempt did not wait for the slow first answer"
    row = store.outbox_get("retrain", "key-1")
    assert row is not None and row.attempts == 2
    assert outcome(metrics, "retrain", "retry") == 1
    assert outcome(metrics, "retrain", "delivered") == 1
    assert "timed out" in caplog.text


def test_expired_delivery_is_dead_without_being_sent(metrics: Metrics, store: Store) -> None:
    """A delivery older than max_age (e.g. left pending over a long outage) is given up, not sent."""
    with Receiver(SECRET.encode()) as receiver:
        store.outbox_add(
            "retrain", "old-key", BODY, time.time() - 7200, "credit-risk", "data_drift", "firing"
        )

        def resume(row: OutboxRow) -> Delivery:
            return make_delivery(receiver.url, key=row.key, max_age="1h")

        dispatcher = WebhookDispatcher(metrics, store=store, resume=resume)
        dispatcher.start()
        try:
            wait_for(lambda: row_status(store, "old-key") == "dead")
        finally:
            dispatcher.stop()
        assert receiver.received == []
    row = store.outbox_get("retrain", "old-key")
    assert row is not None
    assert row.last_error is not None and row.last_error.startswith("expired")
    assert "3600s" in row.last_error
    assert row.attempts == 0
    assert outcome(metrics, "retrain", "failed") == 1
    assert pending_gauge(metrics) == 0


def test_retries_stop_at_max_age(metrics: Metrics, store: Store, dispatcher: WebhookDispatcher) -> None:
    with Receiver(SECRET.encode(), reply=lambda attempt: 503) as receiver:
        dispatcher.submit(make_delivery(receiver.url, max_attempts=100, max_age=0.3, backoff=0.05))
        wait_for(lambda: row_status(store) == "dead", timeout=5)
        sent = len(receiver.received)
        time.sleep(0.1)  # longer than several backoffs: no attempt follows the expiry
        assert len(receiver.received) == sent
    assert sent >= 2
    row = store.outbox_get("retrain", "key-1")
    assert row is not None and row.last_error is not None and row.last_error.startswith("expired")


# templates, methods and headers ------------------------------------------------------------------------


def test_airflow_conflict_counts_as_delivered(
    metrics: Metrics, store: Store, dispatcher: WebhookDispatcher
) -> None:
    """Airflow answers 409 to a run id it already has: a retry of an accepted trigger is delivered."""
    with Receiver(SECRET.encode(), reply=lambda attempt: 409) as receiver:
        dispatcher.submit(make_delivery(receiver.url, template="airflow"))
        wait_for(lambda: row_status(store) == "delivered")
        dispatcher.submit(make_delivery(receiver.url, key="key-2"))  # generic: 409 is a refusal
        wait_for(lambda: row_status(store, "key-2") == "dead")
        airflow, generic = receiver.received
    assert airflow.json["dag_run_id"] == "driftwatch-evt-1"
    assert airflow.json["conf"] == json.loads(BODY)
    assert airflow.valid
    assert "dag_run_id" not in generic.json
    assert outcome(metrics, "retrain", "delivered") == 1
    assert outcome(metrics, "retrain", "failed") == 1
    assert outcome(metrics, "retrain", "retry") == 0


@pytest.mark.parametrize("method", ["PUT", "PATCH", "POST"])
def test_configured_method_is_used(store: Store, dispatcher: WebhookDispatcher, method: str) -> None:
    with Receiver(SECRET.encode()) as receiver:
        dispatcher.submit(make_delivery(receiver.url, method=method))
        (request,) = receiver.wait_for(1)
        wait_for(lambda: row_status(store) == "delivered")
    assert request.method == method
    assert request.path == "/hooks/retrain"
    assert request.valid
    assert request.headers["content-type"] == "application/json"


def carries_token(value: str) -> bool:
    """The credential arrived (the exact ``Bearer <token>`` form is checked on its own below)."""
    return value.startswith("Bearer") and value.endswith(TOKEN)


@pytest.mark.parametrize("prefix", ["Bearer ", "Basic ", "token "])
def test_secret_header_arrives_as_prefix_and_value(
    store: Store, dispatcher: WebhookDispatcher, prefix: str
) -> None:
    """``{env: HOOK_TOKEN, prefix: "Bearer "}`` (as in the README) arrives as ``Bearer <value>``."""
    headers = {"Authorization": SecretHeader.model_validate({"env": "HOOK_TOKEN", "prefix": prefix})}
    with Receiver(SECRET.encode()) as receiver:
        dispatcher.submit(make_delivery(receiver.url, headers=headers))
        (request,) = receiver.wait_for(1)
    assert request.headers["authorization"] == f"{prefix}{TOKEN}"


def test_github_template_headers_and_credential_header(
    metrics: Metrics, store: Store, dispatcher: WebhookDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": SecretHeader(env="HOOK_TOKEN", prefix="Bearer "), "X-Team": "ml"}
    with Receiver(SECRET.encode(), reply=lambda attempt: 502 if attempt == 1 else 204) as receiver:
        delivery = make_delivery(receiver.url, template="github", headers=headers)
        assert TOKEN not in repr(delivery) and SECRET not in repr(delivery)
        dispatcher.submit(delivery)
        wait_for(lambda: row_status(store) == "delivered")
        dispatcher.submit(make_delivery(receiver.url, key="key-2", headers=headers))  # generic template
        first, second, third = receiver.wait_for(3)
    for request in (first, second):
        assert carries_token(request.headers["authorization"])
        assert request.headers["x-team"] == "ml"
        assert request.headers["accept"] == "application/vnd.github+json"
        assert request.headers["x-github-api-version"] == "2022-11-28"
        assert request.json["event_type"] == "driftwatch-test"
        assert request.valid
    assert carries_token(third.headers["authorization"])
    assert "x-github-api-version" not in third.headers  # template defaults belong to the template
    wait_for(lambda: outcome(metrics, "retrain", "delivered") == 2)
    assert caplog.text.count("webhook retrain") >= 3  # the retry and both deliveries were logged
    assert TOKEN not in caplog.text
    assert SECRET not in caplog.text


def test_credential_header_never_logged_on_failure(
    metrics: Metrics, store: Store, dispatcher: WebhookDispatcher, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    headers = {"Authorization": SecretHeader(env="HOOK_TOKEN", prefix="Bearer ")}
    with Receiver(SECRET.encode(), reply=lambda attempt: 401) as receiver:
        url = receiver.url + f"?token={TOKEN}"  # a token in the query string is not logged either
        dispatcher.submit(make_delivery(url, headers=headers, max_attempts=3))
        wait_for(lambda: row_status(store) == "dead")
        (request,) = receiver.received
    assert carries_token(request.headers["authorization"])
    assert "giving up" in caplog.text and "401" in caplog.text
    assert TOKEN not in caplog.text
    row = store.outbox_get("retrain", "key-1")
    assert row is not None and TOKEN not in str(row.last_error)


def test_unsigned_target_sends_no_signature(store: Store, dispatcher: WebhookDispatcher) -> None:
    with Receiver(SECRET.encode()) as receiver:
        delivery = make_delivery(receiver.url, template="slack", secret=None)
        assert delivery.secret is None
        dispatcher.submit(delivery)
        (request,) = receiver.wait_for(1)
    assert "driftwatch-signature" not in request.headers
    assert not request.valid
    assert request.key == "key-1"
    assert list(request.json) == ["text"]


def test_receiver_rejects_a_tampered_body(store: Store, dispatcher: WebhookDispatcher) -> None:
    with Receiver(SECRET.encode()) as receiver:
        dispatcher.submit(make_delivery(receiver.url))
        (request,) = receiver.wait_for(1)
    assert request.valid, "the body as sent verifies"
    assert not request.tampered_valid, "one changed byte breaks the signature"
    with Receiver(b"another-secret") as wrong_key:
        dispatcher.submit(make_delivery(wrong_key.url, key="key-2"))
        (other,) = wrong_key.wait_for(1)
    assert not other.valid, "a receiver with another secret refuses it"


# restarts and re-queues -----------------------------------------------------------------------------------


def test_down_then_up_across_a_restart_is_delivered_once(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hooks/retrain"  # nothing listens here yet
    state = tmp_path / "state.sqlite"

    store = Store(state)
    first = WebhookDispatcher(Metrics(), store=store)
    first.start()
    first.submit(make_delivery(url, max_attempts=50, backoff=0.01))
    wait_for(lambda: attempts(store) >= 2)
    first.stop()
    (row,) = store.outbox()
    assert row.status == "pending"
    assert row.last_error is not None and row.last_error.startswith("unreachable")
    original_body = row.body
    store.close()

    with Receiver(SECRET.encode(), port=port) as receiver:
        store = Store(state)
        resumed: list[str] = []

        def resume(row: OutboxRow) -> Delivery:  # what Daemon._resume_delivery does
            resumed.append(row.key)
            return target_delivery(
                row.target,
                hook(url, max_attempts=50),
                load_template("generic"),
                row.key,
                row.body,
                model=row.model,
                check=row.check,
                transition=row.transition,
                environ=ENV,
            )

        metrics = Metrics()
        second = WebhookDispatcher(metrics, store=store, resume=resume)
        second.start()
        try:
            (request,) = receiver.wait_for(1)
            wait_for(lambda: row_status(store) == "delivered")
            second.submit(make_delivery(url))  # the same event again: already sent, not sent twice
            time.sleep(0.2)  # a duplicate would have arrived by now
        finally:
            second.stop()
        assert len(receiver.received) == 1
    assert request.key == "key-1" and request.valid
    assert request.body == original_body
    assert resumed == ["key-1"]
    (row,) = store.outbox()
    assert row.status == "delivered" and row.attempts >= 3
    assert (row.model, row.check, row.transition) == ("credit-risk", "data_drift", "firing")
    assert outcome(metrics, "retrain", "delivered") == 1
    assert pending_gauge(metrics) == 0
    store.close()


def cli_config(tmp_path: Path, url: str) -> Path:
    pd.DataFrame({"x": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "ref.csv", index=False)
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9", "topic": "predictions"},
        "models": {"credit-risk": {"reference": "ref.csv", "features": ["x"], "webhooks": ["retrain"]}},
        "webhooks": {
            "retrain": {"url": url, "secret": {"env": "HOOK_SECRET"}, "backoff": "10ms", "timeout": "2s"}
        },
        "state": {"path": "state.sqlite"},
    }
    path = tmp_path / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_cli_retry_is_picked_up_by_a_running_dispatcher(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HOOK_SECRET", SECRET)
    status = {"code": 400}
    with Receiver(SECRET.encode(), reply=lambda attempt: status["code"]) as receiver:
        config = cli_config(tmp_path, receiver.url)
        settings = load_settings(config)
        template = load_template(settings.webhooks["retrain"].template)

        def resume(row: OutboxRow) -> Delivery:
            return target_delivery(
                row.target, settings.webhooks[row.target], template, row.key, row.body, model=row.model
            )

        store = Store(settings.state.file)
        metrics = Metrics()
        dispatcher = WebhookDispatcher(metrics, store=store, resume=resume)
        dispatcher.start()
        try:
            dispatcher.submit(
                target_delivery(
                    "retrain", settings.webhooks["retrain"], template, "key-1", BODY, model="credit-risk"
                )
            )
            wait_for(lambda: row_status(store) == "dead")
            assert pending_gauge(metrics) == 0
            status["code"] = 200  # the receiver is fixed
            row = store.outbox_get("retrain", "key-1")
            assert row is not None
            assert main(["webhooks", "retry", "-c", str(config), str(row.id)]) == 0
            assert "re-queued 1 webhook delivery" in capsys.readouterr().out
            started = time.monotonic()
            wait_for(lambda: row_status(store) == "delivered", timeout=WebhookDispatcher.POLL + 4)
            waited = time.monotonic() - started
        finally:
            dispatcher.stop()
            store.close()
        first, second = receiver.received
    assert waited < WebhookDispatcher.POLL + 2
    assert (first.status, second.status) == (400, 200)
    assert first.key == second.key == "key-1" and second.valid
    assert second.body == BODY
    assert outcome(metrics, "retrain", "failed") == 1
    assert outcome(metrics, "retrain", "delivered") == 1


def test_pending_gauge_rises_and_returns_to_zero(
    metrics: Metrics, store: Store, dispatcher: WebhookDispatcher
) -> None:
    gate = threading.Event()

    def reply(attempt: int) -> Reply:
        gate.wait(5)  # hold the first answer until the test has looked at the gauge
        return Reply(200)

    try:
        with Receiver(SECRET.encode(), reply=reply) as receiver:
            for n in range(3):
                dispatcher.submit(make_delivery(receiver.url, key=f"key-{n}"))
            assert pending_gauge(metrics) == 3
            receiver.wait_for(1)
            assert pending_gauge(metrics) == 3  # in flight is still pending
            gate.set()
            wait_for(lambda: pending_gauge(metrics) == 0)
            assert len(receiver.received) == 3
    finally:
        gate.set()
    assert outcome(metrics, "retrain", "delivered") == 3
    assert [row.status for row in store.outbox()] == ["delivered"] * 3


def test_pending_gauge_counts_each_target(metrics: Metrics, store: Store) -> None:
    store.outbox_add("a", "k1", BODY, time.time() + 3600)  # not due yet: stays pending
    store.outbox_add("a", "k2", BODY, time.time() + 3600)
    store.outbox_add("b", "k3", BODY, time.time() + 3600)
    dispatcher = WebhookDispatcher(metrics, store=store, resume=lambda row: None)
    dispatcher.start()
    try:
        assert (pending_gauge(metrics, "a"), pending_gauge(metrics, "b")) == (2, 1)
    finally:
        dispatcher.stop()


def test_secret_is_read_when_the_delivery_is_built() -> None:
    """A rotated secret takes effect for the next delivery without a restart."""
    first = make_delivery("http://127.0.0.1:1/x")
    assert first.secret is not None and first.secret.get_secret_value() == SECRET
    rotated = target_delivery(
        "retrain",
        hook("http://127.0.0.1:1/x"),
        load_template("generic"),
        "k",
        BODY,
        environ={**ENV, "HOOK_SECRET": "rotated"},
    )
    assert rotated.secret == SecretStr("rotated")


# deliveries to a target no longer configured ------------------------------------------------------------


def test_orphaned_deliveries_do_not_block_a_configured_target(metrics: Metrics, store: Store) -> None:
    """Rows left pending for a removed target (resume returns None) stay pending, and the other
    targets' deliveries still go out, however many orphans there are."""
    for n in range(150):
        store.outbox_add("removed", f"orphan-{n}", BODY, time.time() - 60)
    with Receiver(SECRET.encode()) as receiver:
        dispatcher = WebhookDispatcher(metrics, store=store, resume=lambda row: None)
        dispatcher.start()
        try:
            dispatcher.submit(make_delivery(receiver.url))
            wait_for(lambda: row_status(store) == "delivered", timeout=3)
        finally:
            dispatcher.stop()
        assert len(receiver.received) == 1
    assert len(store.outbox("pending")) == 150
    assert pending_gauge(metrics, "removed") == 150


def test_an_orphaned_delivery_does_not_make_the_thread_poll_continuously(
    metrics: Metrics, store: Store
) -> None:
    """With nothing it can send, the delivery thread looks at the outbox about once per POLL."""
    store.outbox_add("removed", "orphan", BODY, time.time() - 60)
    looks = 0
    due = store.outbox_due

    def counted(now: float, limit: int = 100) -> list[OutboxRow]:
        nonlocal looks
        looks += 1
        return due(now, limit)

    store.outbox_due = counted  # type: ignore[method-assign]
    dispatcher = WebhookDispatcher(metrics, store=store, resume=lambda row: None)
    dispatcher.start()
    time.sleep(0.5)  # the test is about time: how often the thread looks at the outbox in 0.5 s
    dispatcher.stop()
    assert store.outbox_get("removed", "orphan") is not None
    assert looks <= 5, f"{looks} looks at the outbox in 0.5 s (POLL is {WebhookDispatcher.POLL}s)"
