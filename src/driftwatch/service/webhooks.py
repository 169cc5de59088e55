"""Retraining webhooks: event payloads, HMAC signing and delivery with retries.

Each POST carries two headers a receiver relies on:

``Driftwatch-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
    signed with the target's secret, so the receiver can check the body came
    from driftwatch and is fresh (reject a ``t`` older than a few minutes).
``Idempotency-Key``
    a stable id of (model, check, window end, transition, and the scope of a
    segment or version scope's alert); a receiver that dedups on it acts on each
    breach once although delivery is at-least-once. A new model version's event
    has the id of (model, version), so it is announced once.

Delivery runs on its own thread so a slow receiver never delays a check:
connection errors, timeouts, 5xx, 408 and 429 are retried with exponential
backoff and jitter (429 honours ``Retry-After``); any other 4xx is final.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from driftwatch import __version__
from driftwatch.alerting.templates import Template
from driftwatch.config import ConfigError, SecretHeader, WebhookSettings, resolve_secret
from driftwatch.service.metrics import Metrics
from driftwatch.state.store import OutboxRow, Store

__all__ = [
    "Delivery",
    "Response",
    "WebhookDispatcher",
    "idempotency_key",
    "send",
    "sign",
    "target_delivery",
    "verify",
    "version_key",
]

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


def idempotency_key(model: str, check: str, window_end: float, transition: str, scope: str = "") -> str:
    """The id of one alert event. A segment or version scope's (``scope``, its `Scope.key`, not "")
    adds ``\\x1f<scope>`` to the material, so the whole model's keys are those of before scopes."""
    material = f"{model}\x1f{check}\x1f{window_end:.3f}\x1f{transition}"
    if scope:
        material += f"\x1f{scope}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def version_key(model: str, version: str) -> str:
    """The id of the event announcing ``version`` of ``model``: one per version, whichever replica or
    process sends it, so a receiver that dedups on it hears of each version once."""
    material = f"{model}\x1f{version}\x1fnew_version"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass
class Delivery:
    """One event body on its way to one target, with the target's settings at the time."""

    target: str
    url: str
    body: bytes
    key: str
    secret: SecretStr | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)  # may carry credentials
    method: str = "POST"
    timeout: float = 5.0
    max_attempts: int = 5
    backoff: float = 1.0
    max_age: float = 86400.0
    delivered_statuses: frozenset[int] = frozenset()  # non-2xx answers meaning "already accepted"
    model: str | None = None
    check: str | None = None
    transition: str | None = None
    scope: str | None = None  # the scope key of a segment or version scope's event
    attempts: int = 0
    not_before: float = 0.0
    created_at: float | None = None


@dataclass(frozen=True)
class Response:
    """What one attempt got back: a status (0 when nothing answered), or the error."""

    status: int
    reason: str
    body: bytes
    seconds: float
    retry_after: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


def request_headers(delivery: Delivery, now: float) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"driftwatch/{__version__}",
        "Idempotency-Key": delivery.key,
        **delivery.headers,
    }
    if delivery.secret is not None:
        headers[SIGNATURE_HEADER] = sign(delivery.secret.get_secret_value().encode(), delivery.body, int(now))
    return headers


def send(delivery: Delivery, now: float, read_limit: int = 65536) -> Response:
    """One signed attempt; never raises for network or HTTP errors."""
    request = urllib.request.Request(
        delivery.url, data=delivery.body, headers=request_headers(delivery, now), method=delivery.method
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=delivery.timeout) as answer:
            body = answer.read(read_limit)
            return Response(answer.status, answer.reason, body, time.perf_counter() - started)
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(read_limit)
        except OSError:
            body = b""
        retry_after = _retry_after(exc.headers.get("Retry-After"))
        exc.close()
        return Response(exc.code, str(exc.reason), body, time.perf_counter() - started, retry_after)
    except (urllib.error.URLError, OSError, TimeoutError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        text = "timed out" if isinstance(reason, TimeoutError) else str(reason) or type(reason).__name__
        return Response(0, "", b"", time.perf_counter() - started, error=text)


class WebhookDispatcher:
    """Delivers webhook events from the outbox on a background thread, retrying as documented above.

    The outbox (a `Store`; an in-memory one when none is given) is the single
    source of truth: `submit` writes a delivery there before anything is sent,
    and the delivery thread sends whatever is due in it. So deliveries left
    pending by a crash or a stop, and dead ones re-queued with ``driftwatch
    webhooks retry`` (from another process), are picked up the same way.
    ``resume`` rebuilds a `Delivery` from an outbox row with the target's
    current settings; it returns None for a target no longer configured.
    """

    POLL = 1.0  # seconds between looks at the outbox for work queued by another process

    def __init__(
        self,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
        store: Store | None = None,
        resume: Callable[[OutboxRow], Delivery | None] | None = None,
        on_delivery: Callable[[Delivery, str, int | None, str | None], None] | None = None,
    ) -> None:
        self._store = store or Store(":memory:")
        # told of each delivery queued (pending) and of each attempt's end: (delivery, status, the HTTP
        # status of the attempt or None, the error text); the check history keeps them past the outbox
        self._on_delivery = on_delivery
        self._own_store = store is None
        self._resume = resume
        self._metrics = metrics
        self._clock = clock
        self._submitted: dict[tuple[str, str], Delivery] = {}
        self._orphans: set[tuple[str, str]] = set()  # pending rows whose target is gone (logged once)
        self._targets: set[str] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="driftwatch-webhooks", daemon=True)

    def start(self) -> None:
        pruned = self._store.outbox_prune(self._clock() - 30 * 86400)
        if pruned:
            log.info("forgot %d webhook deliveries delivered more than 30 days ago", pruned)
        pending = self._store.outbox("pending")
        if pending:
            log.info("resuming %d pending webhook deliveries", len(pending))
        self._refresh_pending()
        self._thread.start()

    def submit(self, delivery: Delivery) -> None:
        now = self._clock()
        if not self._store.outbox_add(
            delivery.target,
            delivery.key,
            delivery.body,
            now,
            delivery.model,
            delivery.check,
            delivery.transition,
            delivery.scope,
        ):
            log.info(
                "webhook %s: %s was already queued or sent; not sending it twice",
                delivery.target,
                delivery.key,
            )
            return
        delivery.created_at = now
        self._submitted[(delivery.target, delivery.key)] = delivery
        if self._on_delivery is not None:
            self._on_delivery(delivery, "pending", None, None)
        self._refresh_pending()
        self._wake.set()

    def wake(self) -> None:
        """Look at the outbox now (deliveries were restored into it) and export what is pending."""
        self._refresh_pending()
        self._wake.set()

    def forget(self, model: str) -> None:
        """Stop sending one model's deliveries (another replica owns the model now)."""
        for ident in [i for i, d in self._submitted.items() if d.model == model]:
            self._submitted.pop(ident, None)
        self._store.outbox_forget(model)
        self._refresh_pending()

    def stop(self, timeout: float = 5.0) -> None:
        """Finish the attempt in flight, then stop; what is left stays pending in the outbox."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        waiting = sum(self._store.outbox_pending_counts().values())
        if waiting:
            kept = (
                "dropped (no state file)"
                if self._own_store
                else "kept in the outbox, resumed at the next start"
            )
            log.warning("stopping with %d webhook deliveries not yet delivered (%s)", waiting, kept)
        if self._own_store:
            self._store.close()

    # delivery thread ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                worked = self._send_due()
                if worked:
                    continue
                upcoming = self._store.outbox_next_at()
                wait = self.POLL if upcoming is None else min(self.POLL, max(0.0, upcoming - self._clock()))
            except Exception:  # e.g. the state file locked by another process for too long: try again
                log.exception("webhook delivery loop failed; retrying in %.0fs", self.POLL)
                wait = self.POLL
            self._wake.wait(max(0.005, wait))
            self._wake.clear()

    def _send_due(self) -> bool:
        worked = False
        for row in self._store.outbox_due(self._clock()):
            if self._stop.is_set():
                return False
            try:
                delivery = self._delivery(row)
                if delivery is not None:
                    self._attempt(delivery)
                    worked = True
            except Exception:  # a secret unreadable during a rotation, a bad URL...: this row, later
                log.exception(
                    "webhook %s: delivery %s failed to run; trying again in 60s", row.target, row.key
                )
                self._store.outbox_update(
                    row.target, row.key, "pending", row.attempts, self._clock() + 60.0, row.last_error
                )
        return worked

    def _delivery(self, row: OutboxRow) -> Delivery | None:
        ident = (row.target, row.key)
        delivery = self._submitted.get(ident)
        if delivery is None and ident not in self._orphans:
            delivery = self._resume(row) if self._resume is not None else None
            if delivery is None:
                self._orphans.add(ident)
                log.error(
                    "webhook %s: target no longer configured; delivery %s (id %d) stays pending "
                    "until the target is configured again",
                    row.target,
                    row.key,
                    row.id,
                )
        if delivery is None:
            # not due again for a minute: it must neither crowd out other targets' deliveries in
            # `outbox_due` nor keep this thread from sleeping
            self._store.outbox_update(
                row.target, row.key, "pending", row.attempts, self._clock() + 60.0, row.last_error
            )
            return None
        delivery.attempts, delivery.not_before = row.attempts, row.next_at
        delivery.created_at = row.created_at
        return delivery

    def _refresh_pending(self) -> None:
        counts = self._store.outbox_pending_counts()
        self._targets.update(counts)
        for target in self._targets:
            self._metrics.webhook_outbox_pending.labels(target).set(counts.get(target, 0))

    def _finish(self, delivery: Delivery, status: str, error: str | None, code: int | None = None) -> None:
        self._store.outbox_update(
            delivery.target, delivery.key, status, delivery.attempts, delivery.not_before, error
        )
        if self._on_delivery is not None:
            self._on_delivery(delivery, status, code, error)
        if status != "pending":
            self._submitted.pop((delivery.target, delivery.key), None)
        self._refresh_pending()

    def _attempt(self, delivery: Delivery) -> None:
        now = self._clock()
        age = now - (delivery.created_at if delivery.created_at is not None else now)
        if age > delivery.max_age:
            why = f"expired: not delivered within max_age {delivery.max_age:g}s"
            self._metrics.webhook_deliveries.labels(delivery.target, "failed").inc()
            self._finish(delivery, "dead", why)
            log.error("webhook %s: giving up on %s (%s)", delivery.target, delivery.key, why)
            return
        delivery.attempts += 1
        response = send(delivery, now)
        self._metrics.webhook_delivery_seconds.labels(delivery.target).observe(response.seconds)
        status = response.status
        if response.ok or status in delivery.delivered_statuses:
            self._finish(delivery, "delivered", None, status)
            self._metrics.webhook_deliveries.labels(delivery.target, "delivered").inc()
            log.info(
                "webhook %s: delivered %s (attempt %d, HTTP %d)",
                delivery.target,
                delivery.key,
                delivery.attempts,
                status,
            )
            return
        why = f"HTTP {status} {response.reason}".strip() if status else f"unreachable: {response.error}"
        retryable = status == 0 or status >= 500 or status in (408, 429)
        if retryable and delivery.attempts < delivery.max_attempts:
            self._metrics.webhook_deliveries.labels(delivery.target, "retry").inc()
            delay = response.retry_after
            if delay is None:
                delay = _backoff(delivery.backoff, delivery.attempts)
            delivery.not_before = self._clock() + delay
            self._finish(delivery, "pending", why, status)
            log.warning(
                "webhook %s: %s (%s), attempt %d/%d; retrying in %.1fs",
                delivery.target,
                safe_url(delivery.url),
                why,
                delivery.attempts,
                delivery.max_attempts,
                delay,
            )
            return
        self._metrics.webhook_deliveries.labels(delivery.target, "failed").inc()
        self._finish(delivery, "dead", why, status)
        hint = (
            "; a 4xx means the receiver refused it: check the target's URL, template, headers and secret"
            if 400 <= status < 500
            else ""
        )
        log.error(
            "webhook %s: giving up on %s after %d attempt(s) (%s)%s; "
            "re-queue it with `driftwatch webhooks retry -c CONFIG %d`",
            delivery.target,
            delivery.key,
            delivery.attempts,
            why,
            hint,
            self._row_id(delivery),
        )

    def _row_id(self, delivery: Delivery) -> int:
        row = self._store.outbox_get(delivery.target, delivery.key)
        return 0 if row is None else row.id


def target_delivery(
    name: str,
    hook: WebhookSettings,
    template: Template,
    key: str,
    body: bytes,
    *,
    model: str | None = None,
    check: str | None = None,
    transition: str | None = None,
    scope: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> Delivery:
    """A delivery of ``body`` to target ``name`` with its current settings; secrets (the signing
    secret, credential headers) are read now, so a rotated secret file takes effect at once.
    Raises `ConfigError` naming the key when a secret cannot be read."""
    environ = os.environ if environ is None else environ
    headers = dict(template.headers)
    for header, value in hook.headers.items():
        if isinstance(value, SecretHeader):
            try:
                headers[header] = value.value(environ).get_secret_value()
            except ValueError as exc:
                raise ConfigError(f"webhooks.{name}.headers.{header}: {exc}") from None
        else:
            headers[header] = value
    return Delivery(
        target=name,
        url=hook.url,
        body=body,
        key=key,
        secret=None
        if hook.secret is None
        else resolve_secret(hook.secret, f"webhooks.{name}.secret", environ),
        headers=headers,
        method=hook.method,
        timeout=hook.timeout,
        max_attempts=hook.max_attempts,
        backoff=hook.backoff,
        max_age=hook.max_age,
        delivered_statuses=template.delivered_statuses,
        model=model,
        check=check,
        transition=transition,
        scope=scope,
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


def safe_url(url: str) -> str:
    """The URL without credentials or query string, which may carry tokens."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"


def event_body(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), sort_keys=True, allow_nan=False).encode()
