"""Signed webhooks: the signature a receiver checks, idempotency keys, delivery with retries, edge triggering."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr

from driftwatch.alerting.policy import BreachPolicy
from driftwatch.cli.demo import WebhookReceiver
from driftwatch.service.metrics import Metrics
from driftwatch.service.webhooks import Delivery, WebhookDispatcher, event_body, idempotency_key, sign, verify
from tests.waiting import wait_for

SECRET = b"whsec-test-4c1d"
BODY = b'{"model":"credit-risk","transition":"firing"}'
NOW = 1_800_000_000


# signatures ------------------------------------------------------------------------------------------


def test_header_format() -> None:
    header = sign(SECRET, BODY, NOW)
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header), header
    assert header.startswith(f"t={NOW},")


def test_signature_round_trip() -> None:
    assert verify(SECRET, BODY, sign(SECRET, BODY, NOW), now=NOW)
    assert verify(SECRET, BODY, sign(SECRET, BODY, NOW), now=NOW + 299)  # within the tolerance


def test_signature_is_the_documented_hmac() -> None:
    expected = hmac.new(SECRET, f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert sign(SECRET, BODY, NOW) == f"t={NOW},v1={expected}"


def test_tampered_body_fails() -> None:
    header = sign(SECRET, BODY, NOW)
    assert not verify(SECRET, BODY.replace(b"firing", b"resolved"), header, now=NOW)
    assert not verify(SECRET, BODY + b" ", header, now=NOW)


def test_wrong_secret_fails() -> None:
    assert not verify(b"another-secret", BODY, sign(SECRET, BODY, NOW), now=NOW)


def test_replayed_timestamp_fails() -> None:
    """Moving ``t`` to make an old delivery look fresh breaks the HMAC."""
    digest = sign(SECRET, BODY, NOW).split(",v1=")[1]
    assert not verify(SECRET, BODY, f"t={NOW + 1000},v1={digest}", now=NOW + 1000)


def test_stale_timestamp_fails() -> None:
    header = sign(SECRET, BODY, NOW)
    assert not verify(SECRET, BODY, header, now=NOW + 301)
    assert not verify(SECRET, BODY, header, now=NOW + 3600, tolerance=600)
    assert verify(SECRET, BODY, header, now=NOW + 3600, tolerance=7200)
    assert not verify(SECRET, BODY, header, now=NOW - 301)  # from the future beyond the tolerance


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=abc",
        "t=notanumber,v1=" + "0" * 64,
        f"v1={'0' * 64}",
        f"t={NOW}",
        f"t={NOW},v1=",
        f"t={NOW},v1={'0' * 64}",
        f"t={NOW};v1={'0' * 64}",
        f"t={NOW},v1",
    ],
)
def test_malformed_header_fails(header: str) -> None:
    assert verify(SECRET, BODY, header, now=NOW) is False


def test_non_ascii_header_fails_cleanly() -> None:
    assert verify(SECRET, BODY, f"t={NOW},v1=\u00e9" + "0" * 63, now=NOW) is False


def readme_verify(secret: bytes, body: bytes, header: str, now: float, tolerance: float = 300) -> bool:
    """What a receiver writes from the README, with nothing but hmac and hashlib."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    t = int(fields["t"])
    if abs(now - t) > tolerance:
        return False
    expected = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


def test_a_receiver_written_from_the_readme_accepts_driftwatch_signatures() -> None:
    body = event_body({"model": "m", "drift_share": 0.5, "features": ["a", "é"]})
    header = sign(SECRET, body, NOW)
    assert readme_verify(SECRET, body, header, now=NOW + 5)
    assert not readme_verify(SECRET, body + b"x", header, now=NOW + 5)
    assert not readme_verify(b"nope", body, header, now=NOW + 5)


def test_event_body_is_canonical_json() -> None:
    body = event_body({"b": 1, "a": [1, 2], "c": "é"})
    assert json.loads(body) == {"b": 1, "a": [1, 2], "c": "é"}
    assert body == event_body({"c": "é", "a": [1, 2], "b": 1})  # key order does not change the bytes


# idempotency keys --------------------------------------------------------------------------------------


def test_idempotency_key_is_stable() -> None:
    key = idempotency_key("credit-risk", "data_drift", 1_800_000_000.0, "firing")
    assert key == idempotency_key("credit-risk", "data_drift", 1_800_000_000.0, "firing")
    assert re.fullmatch(r"[0-9a-f]{16,64}", key)


@pytest.mark.parametrize(
    "other",
    [
        ("churn", "data_drift", 1_800_000_000.0, "firing"),
        ("credit-risk", "prediction_drift", 1_800_000_000.0, "firing"),
        ("credit-risk", "data_drift", 1_800_000_060.0, "firing"),
        ("credit-risk", "data_drift", 1_800_000_000.5, "firing"),
        ("credit-risk", "data_drift", 1_800_000_000.0, "resolved"),
    ],
)
def test_idempotency_key_differs_when_any_part_differs(other: tuple[str, str, float, str]) -> None:
    assert idempotency_key("credit-risk", "data_drift", 1_800_000_000.0, "firing") != idempotency_key(*other)


def test_idempotency_key_parts_cannot_be_confused() -> None:
    assert idempotency_key("ab", "c", 1.0, "firing") != idempotency_key("a", "bc", 1.0, "firing")


# delivery -----------------------------------------------------------------------------------------------


class Receiver:
    """A webhook receiver on 127.0.0.1 that answers ``status(attempt)`` and checks signatures the README way.

    Like `driftwatch.cli.demo.WebhookReceiver`, but it polls for shutdown every 10 ms so tests stay fast.
    """

    def __init__(self, status: Callable[[int], int] = lambda attempt: 200) -> None:
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                header = self.headers.get("Driftwatch-Signature", "")
                code = status(len(receiver.received) + 1)
                receiver.received.append(
                    {
                        "body": body,
                        "valid": readme_verify(SECRET, body, header, now=time.time()),
                        "key": self.headers.get("Idempotency-Key"),
                        "headers": dict(self.headers),
                        "status": code,
                    }
                )
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.01,), daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/retrain"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture(scope="module")
def dispatcher(metrics: Metrics) -> Iterator[WebhookDispatcher]:
    dispatcher = WebhookDispatcher(metrics)
    dispatcher.start()
    yield dispatcher
    dispatcher.stop(timeout=5)


@pytest.fixture
def target() -> str:
    """A target name of its own per test, so the shared registry's counters start at zero."""
    return f"hook-{uuid.uuid4().hex[:8]}"


def outcome(metrics: Metrics, target: str, name: str) -> float:
    value = metrics.registry.get_sample_value(
        "driftwatch_webhook_deliveries_total", {"target": target, "outcome": name}
    )
    return 0.0 if value is None else value


def delivery(
    target: str, url: str, key: str = "k-1", max_attempts: int = 5, headers: dict[str, str] | None = None
) -> Delivery:
    return Delivery(
        target=target,
        url=url,
        body=BODY,
        key=key,
        secret=SecretStr(SECRET.decode()),
        headers=headers or {},
        timeout=2.0,
        max_attempts=max_attempts,
        backoff=0.01,
    )


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_errors_are_retried_until_delivered(
    metrics: Metrics, dispatcher: WebhookDispatcher, target: str
) -> None:
    with Receiver(status=lambda attempt: 500 if attempt <= 2 else 200) as receiver:
        dispatcher.submit(delivery(target, receiver.url, key="key-500"))
        wait_for(lambda: outcome(metrics, target, "delivered") == 1)
        time.sleep(0.05)  # nothing more arrives after the success
        assert [r["status"] for r in receiver.received] == [500, 500, 200]
    assert outcome(metrics, target, "retry") == 2
    assert outcome(metrics, target, "failed") == 0
    for request in receiver.received:
        assert request["valid"], "every attempt is signed with the target's secret"
        assert request["key"] == "key-500", "every attempt carries the same Idempotency-Key"
        assert request["body"] == BODY
        assert request["headers"]["Content-Type"] == "application/json"


def test_demo_receiver_accepts_the_signature(
    metrics: Metrics, dispatcher: WebhookDispatcher, target: str
) -> None:
    with WebhookReceiver(SECRET, status=lambda attempt: 500 if attempt == 1 else 200) as receiver:
        dispatcher.submit(delivery(target, receiver.url, key="key-demo"))
        wait_for(lambda: outcome(metrics, target, "delivered") == 1)
    assert [(r["status"], r["valid"], r["key"]) for r in receiver.received] == [
        (500, True, "key-demo"),
        (200, True, "key-demo"),
    ]
    assert receiver.received[0]["json"] == json.loads(BODY)


@pytest.mark.parametrize("transient", [408, 429, 503])
def test_other_transient_statuses_are_retried(
    metrics: Metrics, dispatcher: WebhookDispatcher, target: str, transient: int
) -> None:
    with Receiver(status=lambda attempt: transient if attempt == 1 else 204) as receiver:
        dispatcher.submit(delivery(target, receiver.url))
        wait_for(lambda: outcome(metrics, target, "delivered") == 1)
    assert [r["status"] for r in receiver.received] == [transient, 204]
    assert outcome(metrics, target, "retry") == 1


@pytest.mark.parametrize("final", [400, 401, 404, 410])
def test_client_errors_are_final(
    metrics: Metrics, dispatcher: WebhookDispatcher, target: str, final: int
) -> None:
    with Receiver(status=lambda attempt: final) as receiver:
        dispatcher.submit(delivery(target, receiver.url, max_attempts=5))
        wait_for(lambda: outcome(metrics, target, "failed") == 1)
        time.sleep(0.1)  # longer than several backoffs: no retry follows
        assert len(receiver.received) == 1
    assert receiver.received[0]["valid"]
    assert outcome(metrics, target, "retry") == 0
    assert outcome(metrics, target, "delivered") == 0


def test_persistent_server_errors_fail_after_max_attempts(
    metrics: Metrics, dispatcher: WebhookDispatcher, target: str
) -> None:
    with Receiver(status=lambda attempt: 502) as receiver:
        dispatcher.submit(delivery(target, receiver.url, max_attempts=4))
        wait_for(lambda: outcome(metrics, target, "failed") == 1)
    assert len(receiver.received) == 4
    assert outcome(metrics, target, "retry") == 3


def test_unreachable_receiver_fails_after_max_attempts(
    metrics: Metrics, dispatcher: WebhookDispatcher, target: str
) -> None:
    dispatcher.submit(delivery(target, f"http://127.0.0.1:{closed_port()}/hooks/retrain", max_attempts=3))
    wait_for(lambda: outcome(metrics, target, "failed") == 1)
    assert outcome(metrics, target, "retry") == 2
    assert outcome(metrics, target, "delivered") == 0


def test_configured_headers_are_sent_and_deliveries_are_independent(
    metrics: Metrics, dispatcher: WebhookDispatcher, target: str
) -> None:
    with Receiver() as receiver:
        for n in range(3):
            dispatcher.submit(delivery(target, receiver.url, key=f"key-{n}", headers={"X-Team": "ml"}))
        wait_for(lambda: outcome(metrics, target, "delivered") == 3)
    assert sorted(r["key"] for r in receiver.received) == ["key-0", "key-1", "key-2"]
    assert all(r["valid"] for r in receiver.received)
    assert all(r["headers"]["X-Team"] == "ml" for r in receiver.received)


def test_delivery_repr_does_not_show_the_secret() -> None:
    assert SECRET.decode() not in repr(delivery("retrain", "http://127.0.0.1:1/x"))


# edge triggering ------------------------------------------------------------------------------------------


def test_breach_policy_is_edge_triggered() -> None:
    policy = BreachPolicy()
    transitions = []
    for end, breaching in enumerate([True, True, False, True]):
        event = policy.observe("m", "data_drift", breaching, float(end))
        transitions.append(None if event is None else event.transition)
        if event is not None:
            assert (event.model, event.check, event.window_end) == ("m", "data_drift", float(end))
    assert transitions == ["firing", None, "resolved", "firing"]
    assert policy.firing("m", "data_drift")


def test_breach_policy_clean_start_and_independent_keys() -> None:
    policy = BreachPolicy()
    assert policy.observe("m", "data_drift", False, 1.0) is None  # nothing to resolve
    assert policy.observe("a", "data_drift", True, 1.0) is not None
    event = policy.observe("b", "data_drift", True, 1.0)
    assert event is not None and event.transition == "firing"  # another model fires on its own
    event = policy.observe("a", "other_check", True, 1.0)
    assert event is not None and event.transition == "firing"
    assert policy.observe("a", "data_drift", True, 2.0) is None
    assert not policy.firing("m", "data_drift")
