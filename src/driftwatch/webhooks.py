"""Retraining webhooks: event payloads, HMAC signing and delivery with retries.

Each POST carries two headers a receiver relies on:

``Driftwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
    signed with the target's secret, so the receiver can check the body came
    from driftwatch and is fresh (reject a ``t`` older than a few minutes).
``Idempotency-Key``
    a stable id of (model, check, window end, transition); a receiver that
    dedups on it acts on each breach once although delivery is at-least-once.

Delivery runs on its own thread so a slow receiver never delays a check:
connection errors, timeouts, 5xx, 408 and 429 are retried with exponential
backoff and jitter (429 honours ``Retry-After``); any other 4xx is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from driftwatch.metrics import Metrics
from driftwatch.store import OutboxRow, Store

__all__ = ["Delivery", "WebhookDispatcher", "idempotency_key", "sign", "verify"]

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "Driftwatch-Signature"


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The ``Driftwatch-Signature`` header value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret, str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: bytes, body: bytes, header: str, now: float, tolerance: float = 300.0) -> bool:
    """True when ``header`` is a valid signature of ``body`` no older than ``tolerance`` seconds."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = sign(secret, body, timestamp).split(",v1=", 1)[1].encode()
    return hmac.compare_digest(expected, fields.get("v1", "").encode("utf-8", "replace"))


def idempotency_key(model: str, check: str, window_end: float, transition: str) -> str:
    material = f"{model}\x1f{check}\x1f{window_end:.3f}\x1f{transition}".encode()
    return hashlib.sha256(material).hexdigest()[:32]


@dataclass
class Delivery:
    target: str
    url: str
    body: bytes
    key: str
    secret: SecretStr = field(repr=False)
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 5.0
    max_attempts: int = 5
    backoff: float = 1.0
    attempts: int = 0
    not_before: float = 0.0


class WebhookDispatcher:
    """Delivers queued `Delivery` objects on a background thread, retrying as documented above."""

    def __init__(
        self,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
        resume: Callable[[OutboxRow], Delivery | None] | None = None,
    ) -> None:
        """With a ``store``, every delivery is persisted before its first attempt (a second one with the
        same target and idempotency key is dropped), its outcome is recorded, and pending ones are
        resumed at `start` through ``resume`` (which rebuilds a `Delivery` from the current config)."""
        self._store = store
        self._resume = resume
        self._metrics = metrics
        self._clock = clock
        self._queue: queue.Queue[Delivery] = queue.Queue()
        self._retry: list[Delivery] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="driftwatch-webhooks", daemon=True)

    def start(self) -> None:
        if self._store is not None and self._resume is not None:
            for row in self._store.outbox("pending"):
                delivery = self._resume(row)
                if delivery is None:
                    log.error(
                        "webhook %s: target no longer configured; delivery %s stays pending",
                        row.target,
                        row.key,
                    )
                    continue
                delivery.attempts, delivery.not_before = row.attempts, row.next_at
                self._retry.append(delivery)
                self._pending(delivery.target, +1)
            if self._retry:
                log.info("resuming %d pending webhook deliveries", len(self._retry))
        self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        if self._store is not None and not self._store.outbox_add(
            delivery.target, delivery.key, delivery.body, self._clock()
        ):
            log.info(
                "webhook %s: %s was already queued or sent; not sending it twice",
                delivery.target,
                delivery.key,
            )
            return
        self._pending(delivery.target, +1)
        self._queue.put(delivery)

    def _pending(self, target: str, change: int) -> None:
        self._metrics.webhook_outbox_pending.labels(target).inc(change)

    def _record(self, delivery: Delivery, status: str, error: str | None) -> None:
        if status != "pending":
            self._pending(delivery.target, -1)
        if self._store is not None:
            self._store.outbox_update(
                delivery.target, delivery.key, status, delivery.attempts, delivery.not_before, error
            )

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the attempt in flight, then stop; deliveries still waiting are logged as dropped."""
        self._stop.set()
        self._thread.join(timeout)
        waiting = self._queue.qsize() + len(self._retry)
        if waiting:
            kept = "kept in the outbox, resumed at the next start" if self._store else "dropped"
            log.warning("stopping with %d webhook deliveries not yet delivered (%s)", waiting, kept)

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self._clock()
            due = [d for d in self._retry if d.not_before <= now]
            if due:
                delivery = due[0]
                self._retry.remove(delivery)
            else:
                wait = min((d.not_before for d in self._retry), default=now + 0.2) - now
                try:
                    delivery = self._queue.get(timeout=max(0.01, min(wait, 0.2)))
                except queue.Empty:
                    continue
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        delivery.attempts += 1
        body = delivery.body
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "driftwatch",
            "Idempotency-Key": delivery.key,
            SIGNATURE_HEADER: sign(delivery.secret.get_secret_value().encode(), body, int(self._clock())),
            **delivery.headers,
        }
        request = urllib.request.Request(delivery.url, data=body, headers=headers, method="POST")
        retry_after: float | None = None
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=delivery.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After"))
            exc.close()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            status = 0
            reason = getattr(exc, "reason", exc)
            log.warning(
                "webhook %s: %s unreachable (%s), attempt %d/%d",
                delivery.target,
                _safe_url(delivery.url),
                reason,
                delivery.attempts,
                delivery.max_attempts,
            )
        self._metrics.webhook_delivery_seconds.labels(delivery.target).observe(time.perf_counter() - started)
        if 200 <= status < 300:
            self._record(delivery, "delivered", None)
            self._metrics.webhook_deliveries.labels(delivery.target, "delivered").inc()
            log.info(
                "webhook %s: delivered %s (attempt %d)", delivery.target, delivery.key, delivery.attempts
            )
            return
        retryable = status == 0 or status >= 500 or status in (408, 429)
        if retryable and delivery.attempts < delivery.max_attempts:
            self._metrics.webhook_deliveries.labels(delivery.target, "retry").inc()
            delay = retry_after if retry_after is not None else _backoff(delivery.backoff, delivery.attempts)
            delivery.not_before = self._clock() + delay
            self._record(delivery, "pending", f"HTTP {status}" if status else "unreachable")
            self._retry.append(delivery)
            if status:
                log.warning("webhook %s: HTTP %d, retrying in %.1fs", delivery.target, status, delay)
            return
        self._metrics.webhook_deliveries.labels(delivery.target, "failed").inc()
        why = f"HTTP {status}" if status else "unreachable"
        self._record(delivery, "dead", why)
        hint = (
            "; a 4xx means the receiver refused it: check its URL and secret" if 400 <= status < 500 else ""
        )
        log.error(
            "webhook %s: giving up on %s after %d attempt(s) (%s)%s",
            delivery.target,
            delivery.key,
            delivery.attempts,
            why,
            hint,
        )


def _backoff(base: float, attempts: int) -> float:
    return float(base * 2 ** (attempts - 1) * random.uniform(0.5, 1.5))  # jitter, not crypto


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _safe_url(url: str) -> str:
    """The URL without credentials or query string, which may carry tokens."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def event_body(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()
