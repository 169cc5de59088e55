"""The durable webhook outbox: persisted before the first attempt, resumed after a restart, deduplicated."""

from __future__ import annotations

import time
from pathlib import Path

from pydantic import SecretStr

from driftwatch.cli.demo import WebhookReceiver
from driftwatch.cli.localbroker import free_port
from driftwatch.service.metrics import Metrics
from driftwatch.service.webhooks import Delivery, WebhookDispatcher
from driftwatch.state.store import OutboxRow, Store
from tests.waiting import wait_for

SECRET = b"outbox-secret"


def delivery(url: str, key: str = "k1") -> Delivery:
    return Delivery(
        target="retrain",
        url=url,
        body=b'{"event": 1}',
        key=key,
        secret=SECRET_STR,
        timeout=2.0,
        max_attempts=50,
        backoff=0.05,
    )


SECRET_STR = SecretStr(SECRET.decode())


def test_pending_delivery_survives_a_restart_and_is_delivered_once(tmp_path: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}/hook"  # nothing listens here
    store = Store(tmp_path / "state.sqlite")
    first = WebhookDispatcher(Metrics(), store=store)
    first.start()
    first.submit(delivery(down))
    wait_for(lambda: store.outbox("pending")[0].attempts >= 2, 10, "a second attempt")
    first.stop()
    store.close()

    with WebhookReceiver(SECRET) as receiver:
        store = Store(tmp_path / "state.sqlite")
        pending = store.outbox("pending")
        assert [row.key for row in pending] == ["k1"]

        def resume(row: OutboxRow) -> Delivery:
            return delivery(receiver.url, row.key)  # the target's URL as configured now

        metrics = Metrics()
        second = WebhookDispatcher(metrics, store=store, resume=resume)
        second.start()
        wait_for(lambda: len(receiver.received) == 1, 10, "the delivery")
        second.submit(delivery(receiver.url))  # the same idempotency key again: not sent twice
        time.sleep(0.3)  # a duplicate would have arrived by now
        second.stop()
        assert len(receiver.received) == 1 and receiver.received[0]["valid"]
        assert receiver.received[0]["key"] == "k1"
        (row,) = store.outbox()
        assert row.status == "delivered" and row.attempts >= 3
        assert (
            metrics.registry.get_sample_value("driftwatch_webhook_outbox_pending", {"target": "retrain"}) == 0
        )
        store.close()


def test_refused_delivery_is_marked_dead(tmp_path: Path) -> None:
    with WebhookReceiver(SECRET, status=lambda attempt: 400) as receiver:
        store = Store(tmp_path / "state.sqlite")
        dispatcher = WebhookDispatcher(Metrics(), store=store)
        dispatcher.start()
        dispatcher.submit(delivery(receiver.url))
        wait_for(lambda: store.outbox("dead") != [], 10, "the event to be dead-lettered")
        dispatcher.stop()
        (row,) = store.outbox()
        assert (row.status, row.attempts, row.last_error) == ("dead", 1, "HTTP 400 Bad Request")
        store.close()
