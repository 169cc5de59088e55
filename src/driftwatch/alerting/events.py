"""The alert event: what a webhook says about a transition of one model's check.

`alert_event` builds the ``generic`` payload, driftwatch's own event JSON,
documented by ``schemas/webhook-event.schema.json``. The other built-in
templates (see `driftwatch.alerting.templates`) are derived from it, so every target
says the same thing in its receiver's format.

The event of a segment or version scope's alert (`driftwatch.scope.Scope.key` not ``""``), or of a
check against the rolling baseline (``data_drift@rolling``), adds ``segment`` (the segment's label,
``country=DE``, or null), ``baseline`` (``reference`` or ``rolling``) and, when the alert ended because
its scope is no longer watched (`retired_event`), ``reason: "retired"``; its ``model_version`` is the
scope's version for a version scope, and its summary names the scope. The whole model's events against
the training reference have none of these keys: they are the events of before scopes, byte for byte.
`version_event` announces a new model version (type ``driftwatch.version``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from driftwatch import __version__
from driftwatch.scope import Scope

if TYPE_CHECKING:  # for the types only: importing checks would load scipy into `webhooks list`
    from driftwatch.checks.ids import CheckId
    from driftwatch.checks.window import CheckResult

__all__ = ["SCHEMA_VERSION", "alert_event", "iso", "probe_event", "retired_event", "version_event"]

SCHEMA_VERSION = 1

_CHECK_TITLES = {
    "data_drift": "Dataset drift",
    "prediction_drift": "Prediction drift",
    "data_quality": "Data quality",
}
_ROLLING = "@rolling"


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Check:
    """A check id read from its text (``data_drift``, ``performance:f1``, ``data_drift@rolling``,
    ``challenger:accuracy``): the parts a summary needs, for any check name."""

    def __init__(self, check: CheckId | str) -> None:
        self.text = str(check)
        base, _, baseline = self.text.partition("@")
        kind, separator, metric = base.partition(":")
        self.kind = kind
        self.metric: str | None = metric if separator else None
        self.rolling = baseline == _ROLLING[1:]

    @property
    def title(self) -> str:
        if self.metric is None and self.kind in _CHECK_TITLES:
            title = _CHECK_TITLES[self.kind]
        else:
            title = f"{self.kind.replace('_', ' ').capitalize()} {self.metric or ''}".strip()
        return f"{title} vs the rolling baseline" if self.rolling else title


def _names(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def scope_name(scope: Scope) -> str:
    """``segment country=DE``, ``version 8``, ``segment country=DE, version 8``; "" for the whole model."""
    parts = []
    if scope.segment is not None:
        parts.append(f"segment {scope.segment.label}")
    if scope.version is not None:
        parts.append(f"version {scope.version}")
    return ", ".join(parts)


def _on(model: str, scope: Scope) -> str:
    named = scope_name(scope)
    return f"model {model}" + (f" ({named})" if named else "")


def summary(
    transition: str,
    check: CheckId | str,
    model: str,
    result: CheckResult | None,
    scope: str | None = None,
) -> str:
    """One line a human reads in Slack or a ticket; ``scope`` (default: the result's) is named."""
    parsed = _Check(check)
    title = parsed.title
    on = _on(model, Scope.parse(model, scope if scope is not None else result.scope if result else ""))
    if transition == "resolved":
        return f"Resolved: {title.lower()} on {on}; the latest checks are clean."
    if transition == "test":
        return f"Test event from driftwatch for model {model}; no action needed."
    if result is None or parsed.kind == "challenger":
        return f"{title} on {on}."
    drift = result.drift
    if parsed.kind == "multivariate_drift" and result.multivariate_drift is not None:
        m = result.multivariate_drift.results.get(parsed.metric or "")
        if m is not None:
            lower = "none" if m.lower_threshold is None else f"{m.lower_threshold:.4g}"
            upper = "none" if m.upper_threshold is None else f"{m.upper_threshold:.4g}"
            return (
                f"{title} on {on}: {m.value:.4g} outside the reference's range "
                f"(lower {lower}, upper {upper}), {m.rows} rows in the window."
            )
    embeddings = result.embedding_drift or {}
    if parsed.kind == "embedding_drift" and parsed.metric in embeddings:
        found = embeddings[parsed.metric]
        if found.drift is not None:
            return (
                f"{title} on {on}: {found.method} score {found.drift.score:.4g} "
                f"(threshold {found.drift.threshold:.4g}), {found.rows} vectors in the window."
            )
        return f"{title} on {on}."
    if parsed.metric is not None and result.performance is not None:
        return _performance_summary(title, on, parsed.kind, parsed.metric, result)
    if parsed.kind == "prediction_drift" and result.prediction_drift is not None:
        p = result.prediction_drift
        return (
            f"{title} on {on}: {p.column} {p.method} score {p.score:.4g} "
            f"(threshold {p.threshold:.4g}), {result.rows} rows in the window."
        )
    if parsed.kind == "data_quality" and result.data_quality is not None:
        breaches = [
            f"{b.feature} {b.measure} {b.value:.3g} > {b.limit:g}" for b in result.data_quality.breaches
        ]
        features = {b.feature for b in result.data_quality.breaches}
        return (
            f"{title} on {on}: {len(features)} feature(s) exceed their limits"
            + (f": {_names(breaches)}" if breaches else "")
            + f"; {result.rows} rows in the window."
        )
    drifted = [c.column for c in drift.columns if c.drift_detected]
    return (
        f"{title} on {on}: {drift.n_drifted} of {drift.n_columns} features drifted "
        f"(share {drift.drift_share:.2f}, threshold {drift.share_threshold:.2f})"
        + (f": {_names(drifted)}" if drifted else "")
        + f"; {result.rows} rows in the window."
    )


def _performance_summary(title: str, on: str, kind: str, metric: str, result: CheckResult) -> str:
    performance = result.performance
    assert performance is not None
    if kind == "estimated_performance" and performance.estimated is not None:
        estimated = performance.estimated
        e = estimated.estimates.get(metric)
        if e is not None:
            return (
                f"{title} on {on}: estimated {e.value:.4g} (band {e.lower:.4g}-{e.upper:.4g}) vs "
                f"{estimated.reference.get(metric, float('nan')):.4g} on the reference, from {estimated.rows} "
                "predictions without labels."
            )
    realized = performance.realized
    if kind == "performance" and realized is not None and metric in realized.values:
        return (
            f"{title} on {on}: {realized.values[metric]:.4g} vs "
            f"{realized.reference.get(metric, float('nan')):.4g} on the reference, over "
            f"{realized.labelled_rows} labelled predictions."
        )
    return f"{title} on {on}."


def retired_summary(model: str, scope: str, check: CheckId | str, top_k: int | None = None) -> str:
    """Why an alert of a scope that is no longer watched on its own ended (design 2.5): ``Retired:
    segment country=LU of model credit-risk left the top 20 by traffic while its data_drift alert was
    firing; it is no longer watched on its own (its records count in country:other).``

    ``top_k`` given: a segment left the top K of its column (within its version, for a segment of a
    version). None: the scope's version is no longer live (for a scope with a version), else a segment
    left the segments watched (K not known)."""
    parsed = Scope.parse(model, scope)
    segment, version = parsed.segment, parsed.version
    watched = "it is no longer watched on its own"
    if segment is not None and (top_k is not None or version is None):
        within = f" of version {version}" if version is not None else ""
        ranked = f"the top {top_k}" if top_k is not None else "the top segments"
        rest = f" (its records count in {segment.column}:other)" if segment.kind != "other" else ""
        return (
            f"Retired: segment {segment.label}{within} of model {model} left {ranked} by traffic "
            f"while its {check} alert was firing; {watched}{rest}."
        )
    on = f" on segment {segment.label}" if segment is not None else ""
    return (
        f"Retired: version {version} of model {model} stopped being live while its {check} alert{on} "
        f"was firing; {watched}."
    )


def _event(
    key: str,
    transition: str,
    check: CheckId | str,
    model: str,
    scope: str,
    result: CheckResult | None,
    model_version: str | None,
    occurred_at: float,
    window_end: float,
    text: str,
    reason: str | None = None,
) -> dict[str, Any]:
    parsed = _Check(check)
    event: dict[str, Any] = {
        "id": key,
        "type": "driftwatch.alert",
        "schema_version": SCHEMA_VERSION,
        "transition": transition,
        "model": model,
        "model_version": model_version,
        "check": parsed.text,
        "summary": text,
        "occurred_at": iso(occurred_at),
    }
    if result is None:
        event.update(
            window_start=iso(window_end),
            window_end=iso(window_end),
            rows=0,
            drift_share=None,
            share_threshold=None,
            drifted_features=[],
            quality_breaches=[],
        )
    else:
        drift = result.drift
        event.update(
            window_start=iso(result.window_start),
            window_end=iso(result.window_end),
            rows=result.rows,
            drift_share=drift.drift_share if drift.columns else None,
            share_threshold=drift.share_threshold,
            drifted_features=[c.column for c in drift.columns if c.drift_detected],
            quality_breaches=[]
            if result.data_quality is None
            else [b.as_dict() for b in result.data_quality.breaches],
        )
    event.update(sent_by=f"driftwatch/{__version__}", result=None if result is None else result.as_dict())
    if scope or parsed.rolling or reason is not None:
        parts = Scope.parse(model, scope)
        if parts.version is not None:
            event["model_version"] = parts.version
        event["segment"] = None if parts.segment is None else parts.segment.label
        event["baseline"] = "rolling" if parsed.rolling else "reference"
        if reason is not None:
            event["reason"] = reason
    return event


def alert_event(
    key: str,
    transition: str,
    check: CheckId | str,
    result: CheckResult,
    model_version: str | None,
    occurred_at: float,
    scope: str | None = None,
) -> dict[str, Any]:
    """The generic event for a firing or resolved transition of ``check`` on ``result.model``, in
    ``scope`` (a `Scope.key`; default the result's, ``result.scope``); ``model_version`` is the latest
    seen (a version scope's event carries the scope's)."""
    scope = result.scope if scope is None else scope
    return _event(
        key,
        transition,
        check,
        result.model,
        scope,
        result,
        model_version,
        occurred_at,
        result.window_end,
        summary(transition, check, result.model, result, scope),
    )


def retired_event(
    key: str,
    model: str,
    scope: str,
    check: CheckId | str,
    window_end: float,
    occurred_at: float,
    top_k: int | None = None,
    result: CheckResult | None = None,
    model_version: str | None = None,
) -> dict[str, Any]:
    """The ``resolved`` event, with ``reason: "retired"``, of a firing alert of ``check`` on a scope
    that is no longer watched on its own (`driftwatch.alerting.policy.BreachPolicy.retire`).
    ``top_k`` (the segment column's ``top_k``) is named in the summary; ``result`` is the scope's
    latest check result, when there is one (else the window fields are empty: ``rows`` 0, the window
    reduced to ``window_end``, ``result`` null)."""
    return _event(
        key,
        "resolved",
        check,
        model,
        scope,
        result,
        model_version,
        occurred_at,
        window_end,
        retired_summary(model, scope, check, top_k),
        reason="retired",
    )


def version_event(
    key: str, model: str, version: str, share: float | None, first_seen: float, occurred_at: float
) -> dict[str, Any]:
    """The ``driftwatch.version`` event announcing ``version`` of ``model``, first seen at
    ``first_seen`` (``window_start`` and ``window_end`` say when), carrying ``share`` of the model's
    recent records (None: not known yet)."""
    carried = "" if share is None else f"; {share:.1%} of the model's recent records"
    return {
        "id": key,
        "type": "driftwatch.version",
        "schema_version": SCHEMA_VERSION,
        "transition": "new_version",
        "model": model,
        "model_version": version,
        "check": "model_version",
        "summary": f"New version {version} of model {model}, first seen {iso(first_seen)}{carried}.",
        "occurred_at": iso(occurred_at),
        "window_start": iso(first_seen),
        "window_end": iso(first_seen),
        "rows": 0,
        "drift_share": None,
        "share_threshold": None,
        "drifted_features": [],
        "quality_breaches": [],
        "sent_by": f"driftwatch/{__version__}",
        "result": None,
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
        "summary": summary("test", "data_drift", model, None),
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
