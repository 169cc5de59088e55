"""The alert event: what a webhook says about a transition of one model's check.

`alert_event` builds the ``generic`` payload, driftwatch's own event JSON,
documented by ``schemas/webhook-event.schema.json``. The other built-in
templates (see `driftwatch.alerting.templates`) are derived from it, so every target
says the same thing in its receiver's format.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from driftwatch import __version__
from driftwatch.checks.ids import CheckId

if TYPE_CHECKING:  # for the types only: importing checks would load scipy into `webhooks list`
    from driftwatch.checks.window import CheckResult

__all__ = ["SCHEMA_VERSION", "alert_event", "iso", "probe_event"]

SCHEMA_VERSION = 1

_CHECK_TITLES = {
    "data_drift": "Dataset drift",
    "prediction_drift": "Prediction drift",
    "data_quality": "Data quality",
}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _title(check: CheckId) -> str:
    if check.metric is None and check.kind in _CHECK_TITLES:
        return _CHECK_TITLES[check.kind]
    return f"{check.kind.replace('_', ' ').capitalize()} {check.metric or ''}".strip()


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def summary(transition: str, check: CheckId, model: str, result: CheckResult | None) -> str:
    """One line a human reads in Slack or a ticket."""
    title = _title(check)
    if transition == "resolved":
        return f"Resolved: {title.lower()} on model {model}; the latest checks are clean."
    if transition == "test":
        return f"Test event from driftwatch for model {model}; no action needed."
    if result is None:
        return f"{title} on model {model}."
    drift = result.drift
    if check.metric is not None and result.performance is not None:
        return _performance_summary(title, model, check.kind, check.metric, result)
    if check.kind == "prediction_drift" and result.prediction_drift is not None:
        p = result.prediction_drift
        return (
            f"{title} on model {model}: {p.column} {p.method} score {p.score:.4g} "
            f"(threshold {p.threshold:.4g}), {result.rows} rows in the window."
        )
    if check.kind == "data_quality" and result.data_quality is not None:
        breaches = [
            f"{b.feature} {b.measure} {b.value:.3g} > {b.limit:g}" for b in result.data_quality.breaches
        ]
        features = {b.feature for b in result.data_quality.breaches}
        return (
            f"{title} on model {model}: {len(features)} feature(s) exceed their limits"
            + (f": {_names(breaches)}" if breaches else "")
            + f"; {result.rows} rows in the window."
        )
    drifted = [c.column for c in drift.columns if c.drift_detected]
    return (
        f"{title} on model {model}: {drift.n_drifted} of {drift.n_columns} features drifted "
        f"(share {drift.drift_share:.2f}, threshold {drift.share_threshold:.2f})"
        + (f": {_names(drifted)}" if drifted else "")
        + f"; {result.rows} rows in the window."
    )


def _performance_summary(title: str, model: str, kind: str, metric: str, result: CheckResult) -> str:
    performance = result.performance
    assert performance is not None
    if kind == "estimated_performance" and performance.estimated is not None:
        estimated = performance.estimated
        e = estimated.estimates.get(metric)
        if e is not None:
            return (
                f"{title} on model {model}: estimated {e.value:.4g} (band {e.lower:.4g}-{e.upper:.4g}) vs "
                f"{estimated.reference.get(metric, float('nan')):.4g} on the reference, from {estimated.rows} "
                "predictions without labels."
            )
    realized = performance.realized
    if kind == "performance" and realized is not None and metric in realized.values:
        return (
            f"{title} on model {model}: {realized.values[metric]:.4g} vs "
            f"{realized.reference.get(metric, float('nan')):.4g} on the reference, over "
            f"{realized.labelled_rows} labelled predictions."
        )
    return f"{title} on model {model}."


def alert_event(
    key: str,
    transition: str,
    check: CheckId,
    result: CheckResult,
    model_version: str | None,
    occurred_at: float,
) -> dict[str, Any]:
    """The generic event for a firing or resolved transition of ``check`` on ``result.model``."""
    drift = result.drift
    return {
        "id": key,
        "type": "driftwatch.alert",
        "schema_version": SCHEMA_VERSION,
        "transition": transition,
        "model": result.model,
        "model_version": model_version,
        "check": str(check),
        "summary": summary(transition, check, result.model, result),
        "occurred_at": iso(occurred_at),
        "window_start": iso(result.window_start),
        "window_end": iso(result.window_end),
        "rows": result.rows,
        "drift_share": drift.drift_share if drift.columns else None,
        "share_threshold": drift.share_threshold,
        "drifted_features": [c.column for c in drift.columns if c.drift_detected],
        "quality_breaches": []
        if result.data_quality is None
        else [b.as_dict() for b in result.data_quality.breaches],
        "sent_by": f"driftwatch/{__version__}",
        "result": result.as_dict(),
    }


def probe_event(key: str, model: str, now: float) -> dict[str, Any]:
    """A well-formed event marked ``transition: test`` for `driftwatch webhooks test`."""
    return {
        "id": key,
        "type": "driftwatch.test",
        "schema_version": SCHEMA_VERSION,
        "transition": "test",
        "model": model,
        "model_version": None,
        "check": "data_drift",
        "summary": summary("test", CheckId("data_drift"), model, None),
        "occurred_at": iso(now),
        "window_start": iso(now),
        "window_end": iso(now),
        "rows": 0,
        "drift_share": None,
        "share_threshold": None,
        "drifted_features": [],
        "quality_breaches": [],
        "sent_by": f"driftwatch/{__version__}",
        "result": None,
    }
