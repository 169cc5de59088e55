"""``driftwatch webhooks test | list | retry``: try a target, inspect and re-queue the outbox.

They work next to a running daemon: the outbox is a SQLite file in WAL mode,
and the daemon's delivery thread looks at it every second, so a delivery
re-queued here is sent by the daemon within a second or two. Without a running
daemon it is sent at the next start.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

from driftwatch.alerting.events import probe_event
from driftwatch.alerting.templates import load_template
from driftwatch.config import ConfigError, Settings
from driftwatch.errors import WebhookCommandError
from driftwatch.service.webhooks import SIGNATURE_HEADER, request_headers, safe_url, send, target_delivery
from driftwatch.state.store import OutboxRow, Store

__all__ = ["WebhookCommandError", "list_deliveries", "retry_deliveries", "send_test_event"]


def send_test_event(settings: Settings, target: str, model: str | None, out: list[str]) -> int:
    """Send one signed test event to ``target`` now (no outbox, no retry); 0 when it answered 2xx."""
    hook = settings.webhooks.get(target)
    if hook is None:
        known = ", ".join(sorted(settings.webhooks)) or "none defined"
        raise WebhookCommandError(f"webhook target {target!r} is not in the config (targets: {known})")
    if model is None:
        users = [name for name, m in settings.models.items() if target in m.webhooks]
        model = (users or list(settings.models))[0]
    elif model not in settings.models:
        raise WebhookCommandError(
            f"--model {model!r} is not in the config (models: {', '.join(settings.models)})"
        )
    now = time.time()
    key = f"test-{uuid.uuid4().hex[:24]}"
    template = load_template(hook.template)
    body = template.render(probe_event(key, model, now))
    try:
        delivery = target_delivery(target, hook, template, key, body, model=model, transition="test")
    except ConfigError as exc:
        raise WebhookCommandError(str(exc)) from None
    shown = sorted(request_headers(delivery, now))
    out.append(f"{delivery.method} {safe_url(delivery.url)} ({template.name} template, {len(body)} bytes)")
    out.append(f"  headers: {', '.join(shown)}")
    if delivery.secret is None:
        out.append(f"  not signed: webhooks.{target}.secret is not set")
    else:
        out.append(f"  signed: {SIGNATURE_HEADER} t=...,v1=...; Idempotency-Key: {key}")
    response = send(delivery, now)
    if response.status == 0:
        out.append(f"-> no answer after {response.seconds:.2f}s: {response.error}")
        return 1
    out.append(f"-> HTTP {response.status} {response.reason} in {response.seconds:.2f}s")
    text = response.body.decode("utf-8", "replace").strip()
    if text:
        out.append("  " + (text if len(text) <= 2000 else text[:2000] + " ..."))
    accepted = response.ok or response.status in template.delivered_statuses
    if not accepted:
        out.append("  the receiver refused the test event: check the URL, template, headers and secret")
    return 0 if accepted else 1


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def list_deliveries(store: Store, statuses: Sequence[str], as_json: bool, out: list[str]) -> int:
    rows = [row for row in store.outbox() if row.status in statuses]
    scoped = any(row.scope for row in rows)  # the SCOPE column only when a segment or version alert is listed
    if as_json:
        out.append(json.dumps([_row_dict(row, scoped) for row in rows], indent=2))
        return 0
    if not rows:
        out.append(f"no {' or '.join(statuses)} webhook deliveries in {store.path}")
        return 0
    header = (
        "ID",
        "STATUS",
        "TARGET",
        "MODEL",
        *(("SCOPE",) if scoped else ()),
        "CHECK",
        "TRANSITION",
        "ATTEMPTS",
        "CREATED",
        "NEXT / LAST ERROR",
    )
    table = [header]
    for row in rows:
        detail = row.last_error or ""
        if row.status == "pending":
            detail = f"next {_when(row.next_at)}" + (f" ({row.last_error})" if row.last_error else "")
        table.append(
            (
                str(row.id),
                row.status,
                row.target,
                row.model or "-",
                *((row.scope or "-",) if scoped else ()),
                row.check or "-",
                row.transition or "-",
                str(row.attempts),
                _when(row.created_at),
                detail,
            )
        )
    widths = [max(len(line[i]) for line in table) for i in range(len(header) - 1)]
    for line in table:
        out.append(
            "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=False)) + "  " + line[-1]
        )
    return 0


def _row_dict(row: OutboxRow, scoped: bool = False) -> dict[str, object]:
    return {
        "id": row.id,
        "status": row.status,
        "target": row.target,
        "idempotency_key": row.key,
        "model": row.model,
        **({"scope": row.scope} if scoped else {}),
        "check": row.check,
        "transition": row.transition,
        "attempts": row.attempts,
        "created_at": _when(row.created_at),
        "next_at": _when(row.next_at) if row.status == "pending" else None,
        "last_error": row.last_error,
    }


def retry_deliveries(
    store: Store, settings: Settings, ids: Sequence[int], dead: bool, target: str | None, out: list[str]
) -> int:
    if target is not None and target not in settings.webhooks:
        raise WebhookCommandError(
            f"--target {target!r} is not in the config (targets: {', '.join(sorted(settings.webhooks))})"
        )
    if ids:
        by_id = {row.id: row for row in store.outbox()}
        unknown = [str(i) for i in ids if i not in by_id]
        if unknown:
            raise WebhookCommandError(
                f"no webhook delivery with id {', '.join(unknown)} in {store.path}; "
                "`driftwatch webhooks list` shows the ids"
            )
        delivered = [str(i) for i in ids if by_id[i].status == "delivered"]
        if delivered:
            raise WebhookCommandError(
                f"delivery {', '.join(delivered)} was already delivered; not sending it again"
            )
        count = store.outbox_requeue(time.time(), ids=list(ids), target=target)
    elif dead:
        count = store.outbox_requeue(time.time(), target=target)
    else:
        raise WebhookCommandError("name the deliveries to re-queue: IDs, or --dead for every dead one")
    out.append(
        f"re-queued {count} webhook deliver{'y' if count == 1 else 'ies'}; a running daemon sends "
        "them within seconds, otherwise they go at its next start"
    )
    return 0
