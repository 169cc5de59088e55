"""Alert events into webhook deliveries: render each target's template, sign, hand to the dispatcher.

`Notifier.notify` turns one `AlertEvent` of the policy (and the check result behind it) into the
generic event payload, renders it with each of the model's targets' templates, and submits one
delivery per target; a target whose template or secret fails is counted and logged, the others still
get theirs. `Notifier.notify_version` announces a new model version the same way. `Notifier.resume`
rebuilds a delivery from an outbox row after a restart, with the target's current settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from driftwatch.alerting.events import alert_event, retired_event, version_event
from driftwatch.alerting.policy import AlertEvent
from driftwatch.alerting.templates import Template
from driftwatch.checks.window import CheckResult
from driftwatch.config import WebhookSettings
from driftwatch.service.metrics import Metrics
from driftwatch.service.webhooks import Delivery, idempotency_key, target_delivery, version_key
from driftwatch.state.store import OutboxRow

__all__ = ["Notifier"]

log = logging.getLogger(__name__)


class Notifier:
    """Deliveries of alert events to the models' webhook targets."""

    def __init__(
        self,
        webhooks: Mapping[str, WebhookSettings],
        targets: Mapping[str, Sequence[str]],
        templates: Mapping[str, Template],
        metrics: Metrics,
        clock: Callable[[], float],
        versions: Mapping[str, str],
        submit: Callable[[Delivery], None],
    ) -> None:
        self._webhooks = webhooks
        self._targets = targets  # model -> names of its webhook targets
        self.templates = templates
        self.metrics = metrics
        self._clock = clock
        self._versions = versions  # model -> the model_version of its latest record
        self._submit = submit

    def notify(self, event: AlertEvent, result: CheckResult | None, *, top_k: int | None = None) -> None:
        """Render the event for each of the model's targets and hand the deliveries to the dispatcher.

        ``result`` is the check result behind the event, in the event's scope (``event.scope``). A
        retired event (``event.reason == "retired"``, from `BreachPolicy.retire`) may come without
        one (the scope's latest result, when known, fills the window fields) and names ``top_k``,
        the segment column's, in its summary."""
        targets = self._targets.get(event.model, [])
        if not targets:
            return
        key = idempotency_key(event.model, event.check, event.window_end, event.transition, event.scope)
        version = self._versions.get(event.model)
        if event.reason == "retired":
            payload = retired_event(
                key,
                event.model,
                event.scope,
                event.check,
                event.window_end,
                self._clock(),
                top_k,
                result,
                version,
            )
        elif result is None:
            raise ValueError(f"the {event.transition} event of {event.model}/{event.check} needs its result")
        else:
            payload = alert_event(
                key, event.transition, event.check, result, version, self._clock(), event.scope
            )
        self._send(targets, key, payload, event.model, event.check, event.transition, event.scope or None)

    def notify_version(self, model: str, version: str, share: float | None, first_seen: float) -> None:
        """Announce a new version of ``model`` (first seen at ``first_seen``; ``share`` of its recent
        records, None when not known) to the model's targets. The event's id depends only on (model,
        version), so a version announced again (by another replica, after a restart) is not queued
        twice and a receiver that dedups on the id hears of it once."""
        targets = self._targets.get(model, [])
        if not targets:
            return
        key = version_key(model, version)
        payload = version_event(key, model, version, share, first_seen, self._clock())
        self._send(targets, key, payload, model, "model_version", "new_version", None)

    def _send(
        self,
        targets: Sequence[str],
        key: str,
        payload: Mapping[str, Any],
        model: str,
        check: str,
        transition: str,
        scope: str | None,
    ) -> None:
        for target in targets:
            try:
                body = self.templates[target].render(payload)
                delivery = self.delivery(target, key, body, model, check, transition, scope)
            except Exception:  # a template or secret problem must not stop the other targets
                log.exception("webhook %s: cannot prepare the %s event %s", target, transition, key)
                self.metrics.webhook_deliveries.labels(target, "failed").inc()
                continue
            if delivery is not None:
                self._submit(delivery)

    def delivery(
        self,
        target: str,
        key: str,
        body: bytes,
        model: str | None = None,
        check: str | None = None,
        transition: str | None = None,
        scope: str | None = None,
    ) -> Delivery | None:
        """A delivery to ``target`` with its current settings (None when the target is gone)."""
        hook = self._webhooks.get(target)
        if hook is None:
            return None
        return target_delivery(
            target,
            hook,
            self.templates[target],
            key,
            body,
            model=model,
            check=check,
            transition=transition,
            scope=scope,
        )

    def resume(self, row: OutboxRow) -> Delivery | None:
        """The delivery of an outbox row left from before a restart, with its target's current settings."""
        return self.delivery(row.target, row.key, row.body, row.model, row.check, row.transition, row.scope)
