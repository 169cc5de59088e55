"""Alert events into webhook deliveries: render each target's template, sign, hand to the dispatcher.

`Notifier.notify` turns one `AlertEvent` of the policy (and the check result behind it) into the
generic event payload, renders it with each of the model's targets' templates, and submits one
delivery per target; a target whose template or secret fails is counted and logged, the others still
get theirs. `Notifier.resume` rebuilds a delivery from an outbox row after a restart, with the target's
current settings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from driftwatch.alerting.events import alert_event
from driftwatch.alerting.policy import AlertEvent
from driftwatch.alerting.templates import Template
from driftwatch.checks.ids import CheckId
from driftwatch.checks.window import CheckResult
from driftwatch.config import WebhookSettings
from driftwatch.service.metrics import Metrics
from driftwatch.service.webhooks import Delivery, idempotency_key, target_delivery
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

    def notify(self, event: AlertEvent, result: CheckResult) -> None:
        """Render the event for each of the model's targets and hand the deliveries to the dispatcher."""
        targets = self._targets.get(event.model, [])
        if not targets:
            return
        key = idempotency_key(event.model, event.check, event.window_end, event.transition)
        payload = alert_event(
            key,
            event.transition,
            CheckId.parse(event.check),
            result,
            self._versions.get(event.model),
            self._clock(),
        )
        for target in targets:
            try:
                body = self.templates[target].render(payload)
                delivery = self.delivery(target, key, body, event.model, event.check, event.transition)
            except Exception:  # a template or secret problem must not stop the other targets
                log.exception("webhook %s: cannot prepare the %s event %s", target, event.transition, key)
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
    ) -> Delivery | None:
        """A delivery to ``target`` with its current settings (None when the target is gone)."""
        hook = self._webhooks.get(target)
        if hook is None:
            return None
        return target_delivery(
            target, hook, self.templates[target], key, body, model=model, check=check, transition=transition
        )

    def resume(self, row: OutboxRow) -> Delivery | None:
        """The delivery of an outbox row left from before a restart, with its target's current settings."""
        return self.delivery(row.target, row.key, row.body, row.model, row.check, row.transition)
