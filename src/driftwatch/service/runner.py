"""Runs a model's checks on schedule: window snapshot -> every check -> results -> metrics and policy.

One `Runner.run` is one scheduled check of one model: it takes the window's snapshot, runs every
prepared check of the model on it (a check that fails gives an ``error`` result and the others still
run), puts the model's result in the latest results (which the metrics collector, the JSON API, the
report and the webhooks read), records which checks completed, and feeds every check's breaches to the
alert policy the same way, whatever the kind of check. The policy's events go to ``notify``.

With a check history (`driftwatch.service.history.CheckHistory`), every result it stores (the model's,
and each scope's, rolling comparison's and champion/challenger comparison's) is recorded with the
breaches it fed to the policy, before they are fed, so the events the policy emits are recorded at
that row. The window's snapshot is taken while ``hold`` holds up ingestion, which gives the Kafka
positions the snapshot holds (rows of scope windows, snapshotted later, are stored without them).
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

import pandas as pd

from driftwatch.alerting.policy import AlertEvent, BreachPolicy, PolicyRule
from driftwatch.checks.base import Labelled, PartResult, part_error
from driftwatch.checks.ids import CheckKind
from driftwatch.checks.window import CheckResult
from driftwatch.scope import Scope
from driftwatch.service.history import CheckHistory
from driftwatch.service.log_limits import RateLimitedLog
from driftwatch.service.metrics import Metrics
from driftwatch.service.model_checks import ModelCheck
from driftwatch.service.results import LatestResults
from driftwatch.service.scoped import VERSION_COLUMN, ScopedModel
from driftwatch.state.labels import LabelStore
from driftwatch.stream.windows import Window, WindowSnapshot

__all__ = ["ModelRun", "Runner"]

log = logging.getLogger(__name__)


class ModelRun:
    """What the runner needs of one model: its checks, its window, the look-back of its label join and
    its alert rule."""

    def __init__(self, checks: ModelCheck, window: Window, lookback: float, rule: PolicyRule) -> None:
        self.checks = checks
        self.window = window
        self.lookback = lookback
        self.rule = rule


class Runner:
    def __init__(
        self,
        models: dict[str, ModelRun],
        metrics: Metrics,
        policy: BreachPolicy,
        latest: LatestResults,
        notify: Callable[[AlertEvent, CheckResult], None],
        clock: Callable[[], float],
        labels: LabelStore | None = None,
        source_notes: Callable[[], list[str]] = list,
        scoped: Mapping[str, ScopedModel] | None = None,
        notify_version: Callable[[str, str, float | None, float], None] | None = None,
        history: CheckHistory | None = None,
        hold: Callable[[], AbstractContextManager[Mapping[str, int]]] | None = None,
    ) -> None:
        self.models = models
        self.metrics = metrics
        self.policy = policy
        self.latest = latest
        self._notify = notify
        self._clock = clock
        self._labels = labels
        self._source_notes = source_notes
        self._warnings = RateLimitedLog(60.0, clock, log)
        self.frames: dict[str, pd.DataFrame] = {}  # the window sample of each model's latest check
        self.scoped: Mapping[str, ScopedModel] = scoped or {}
        self._departed: dict[str, set[Scope]] = {}  # model -> scopes that left at its last check
        self._notify_version = notify_version
        # (model, scope key, baseline) of a result (as `LatestResults` keys them) -> the breaches its latest
        # check fed to the policy (check id -> breaching)
        self.breaches: dict[tuple[str, str, str], dict[str, bool]] = {}
        self.history = history
        self._hold = hold or _no_positions

    def run(self, model: str) -> CheckResult:
        """One scheduled check of ``model``: every check, its result exported and fed to the policy."""
        run = self.models[model]
        checks, m = run.checks, self.metrics
        with m.check_duration.labels(model, checks.check).time():
            try:
                at = self._clock()
                with self._hold() as held:
                    snapshot = run.window.snapshot(at)
                    positions = dict(held)
                parts, result = checks.run_parts(snapshot, self._labelled(model, snapshot.end - run.lookback))
                scoped = self.scoped.get(model)
                if scoped is not None:
                    result = replace(result, notes=(*result.notes, *_scope_summary(scoped)))
                notes = self._source_notes()
                if notes:
                    result = replace(result, notes=(*result.notes, *notes))
                self.frames[model] = snapshot.frame
            except Exception:
                m.check_runs.labels(model, checks.check, "error").inc()
                log.exception("check %s of model %s failed", checks.check, model)
                raise
        # a check that failed (logged where it failed) is counted under its own name; the others go on
        for name in result.errors:
            m.check_runs.labels(model, name, "error").inc()
        if checks.check not in result.errors:
            m.check_runs.labels(model, checks.check, "ok").inc()
        m.window_rows.labels(model, "", "").set(run.window.rows())
        try:
            self._export_reference_quality(result)
        except Exception as exc:
            result = self._failed(result, checks.check, exc)
        self.latest.put(result)  # its gauges are read from here at the next scrape (ResultsCollector)
        now = self._clock()
        for kind, part in parts.items():  # last success: ran to an answer, with or without a verdict
            if part.completed:
                m.check_last_success.labels(model, kind).set(now)
        _log_result(result, self._warnings)
        row = self._record(
            result,
            at,
            {str(check_id): b for part in parts.values() for check_id, b in part.breaches.items()},
            [str(check_id) for check_id in checks.alert_ids],
            positions,
        )
        result = self._feed(result, parts, run.rule, row)
        if scoped is not None:
            with m.check_duration.labels(model, "scopes").time():
                self._run_scopes(scoped, snapshot, run, row, positions)
        return result

    def _record(
        self,
        result: CheckResult,
        at: float,
        breaches: Mapping[str, bool],
        alerts: list[str],
        positions: Mapping[str, int],
    ) -> str | None:
        """Record ``result`` in the history: its row's uid (None without one, or when the write failed)."""
        if self.history is None:
            return None
        return self.history.check(result, at, breaches, alerts, positions)

    def _transition(self, event: AlertEvent, row: str | None) -> None:
        if self.history is not None:
            self.history.transition(event, row)

    # scopes ------------------------------------------------------------------------------------

    def _run_scopes(
        self,
        scoped: ScopedModel,
        snapshot: WindowSnapshot,
        run: ModelRun,
        row: str | None = None,
        positions: Mapping[str, int] | None = None,
    ) -> None:
        """The scoped part of a model's check: membership (versions announced, scopes entering and
        leaving), then every scope's checks and rolling comparisons, each result stored, exported and
        fed to the policy under its scope, as the model's own is. ``row``: the history row of the
        model's own result (new versions and retirements are recorded at it); ``positions``: what its
        snapshot held."""
        model, m, now = scoped.name, self.metrics, self._clock()

        def firing(scope: Scope) -> bool:
            checks = [*scoped.alert_ids(scope), *scoped.rolling_ids(scope)]
            return any(self.policy.firing(model, check, scope=scope.key) for check in checks)

        self._drop_departed(scoped)
        try:
            events = scoped.follow(snapshot.frame, firing, now)
        except Exception:
            m.check_runs.labels(model, "scopes", "error").inc()
            log.exception("model %s: the scope membership could not be updated", model)
            return
        frame = snapshot.frame
        for version, first_seen in events.new_versions:
            log.info("model %s: version %s seen for the first time", model, version)
            share = None
            if VERSION_COLUMN in frame and len(frame):
                share = float((frame[VERSION_COLUMN] == version).mean())
            if self.history is not None:
                self.history.new_version(model, version, row)
            if self._notify_version is not None:
                try:
                    self._notify_version(model, version, share, first_seen)
                except Exception:
                    log.exception("model %s: the new version %s could not be announced", model, version)
        for change in events.changes:
            if change.change in ("promoted", "demoted", "retired"):
                column = change.scope.segment.column if change.scope.segment is not None else ""
                m.segment_changes.labels(model, column, change.change).inc()
                log.info("model %s: segment %s %s", model, change.scope.key, change.change)
        for scope in events.left:
            self._forget_scope(scoped, scope, now, retired=scope in events.retired, row=row)
        for outcome in scoped.run(now, run.lookback, snapshot):
            result = outcome.result
            for name in result.errors:
                m.check_runs.labels(model, name, "error").inc()
            if outcome.store:
                self.latest.put(result)
            scope = Scope.parse(model, result.scope)
            if not outcome.store:
                alerts = [c for c in scoped.alert_ids(scope) if c.startswith("challenger:")]
            elif result.baseline == "rolling":
                alerts = scoped.rolling_ids(scope)
            else:
                alerts = [c for c in scoped.alert_ids(scope) if not c.startswith("challenger:")]
            # the whole model's rolling comparison is of the model window's snapshot; a scope's window
            # is snapshotted later, without holding up ingestion: its positions are not known
            held = (positions or {}) if not result.scope else {}
            scope_row = self._record(result, now, outcome.breaches, list(alerts), held)
            self._feed_scope(result, outcome.breaches, outcome.rule, alerts, scope_row)
            version, segment = result.model_version, result.segment
            if not outcome.store:  # the champion/challenger comparison
                self._export_comparison(scoped, version)
            elif result.baseline == "rolling":
                m.baseline_rows.labels(model, version, segment).set(result.baseline_rows or 0)
                m.baseline_coverage.labels(model, version, segment).set(result.baseline_coverage or 0.0)
            else:
                m.window_rows.labels(model, version, segment).set(scoped.windows.window(scope).rows())
        for scope, share in scoped.shares.items():
            version, segment = scope.labels()
            m.segment_share.labels(model, version, segment).set(share)
        for column, count in scoped.values.items():
            m.segment_values.labels(model, column).set(count)
        for version in scoped.live_versions:
            m.model_version_info.labels(model, version, scoped.role(version)).set(1)

    def _export_comparison(self, scoped: ScopedModel, challenger: str) -> None:
        m, model = self.metrics, scoped.name
        for gauge in (m.challenger_difference, m.challenger_difference_lower, m.challenger_difference_upper):
            for labels in [k for k in _label_values(gauge) if k[0] == model]:
                if labels[2] not in scoped.differences:
                    gauge.remove(*labels)
        for metric, (difference, lower, upper) in scoped.differences.items():
            m.challenger_difference.labels(model, challenger, metric).set(difference)
            m.challenger_difference_lower.labels(model, challenger, metric).set(lower)
            m.challenger_difference_upper.labels(model, challenger, metric).set(upper)
        for labels in [k for k in _label_values(m.challenger_prediction_drift) if k[0] == model]:
            m.challenger_prediction_drift.remove(*labels)
        if scoped.prediction_difference is not None:
            method, score = scoped.prediction_difference
            m.challenger_prediction_drift.labels(model, challenger, method).set(score)

    def _feed_scope(
        self,
        result: CheckResult,
        breaches: Mapping[str, bool],
        rule: PolicyRule,
        alerts: list[str],
        row: str | None = None,
    ) -> None:
        """Feed a scope's breaches to the policy under its scope; every alert of the scope (``alerts``,
        breached or without evidence this time) exports its state."""
        self.breaches[(result.model, result.scope, result.baseline)] = dict(breaches)
        for check, breaching in breaches.items():
            try:
                event = self.policy.observe(
                    result.model, check, breaching, result.window_end, rule, scope=result.scope
                )
                if event is not None:
                    self._transition(event, row)
                    self._notify(event, result)
            except Exception as exc:
                self.latest.put(self._failed(result, check, exc))
        for check in dict.fromkeys([*alerts, *breaches]):
            firing = self.policy.firing(result.model, check, scope=result.scope)
            self.metrics.alert_active.labels(result.model, check, result.model_version, result.segment).set(
                int(firing)
            )

    def _forget_scope(
        self, scoped: ScopedModel, scope: Scope, now: float, retired: bool, row: str | None = None
    ) -> None:
        """A scope left: a firing alert of it is retired (a resolved event saying so), then its results,
        series and alert states go."""
        model = scoped.name
        latest = self.latest.get(model, scope.key)
        if retired and latest is not None:
            for check in [*scoped.alert_ids(scope), *scoped.rolling_ids(scope)]:
                try:
                    event = self.policy.retire(model, scope.key, check, now)
                    if event is not None:
                        self._transition(event, row)
                        self._notify(event, latest)
                except Exception:
                    log.exception(
                        "model %s: the alert %s of scope %s could not be retired", model, check, scope.key
                    )
        self.latest.remove_scope(model, scope.key)
        self.policy.forget_scope(model, scope.key)
        version, segment = scope.labels()
        # its alerts read 0 until the next check, so that a scrape sees the alert end (and counts the
        # retirement) before the scope's series go
        for check in [*scoped.alert_ids(scope), *scoped.rolling_ids(scope)]:
            self.metrics.alert_active.labels(model, check, version, segment).set(0)
        self._departed.setdefault(model, set()).add(scope)

    def _drop_departed(self, scoped: ScopedModel) -> None:
        """The series of the scopes that left at the previous check (and did not come back) go."""
        live = set(scoped.scopes())
        for scope in self._departed.pop(scoped.name, set()):
            if scope not in live:
                version, segment = scope.labels()
                self.metrics.forget_scope(scoped.name, version, segment)

    def _labelled(self, model: str, start: float) -> Callable[[], Labelled] | None:
        """Reads the labelled predictions since ``start`` (prediction time), for the checks that grade."""
        labels = self._labels
        if labels is None:
            return None

        def read() -> Labelled:
            if model not in labels.features:
                joined = labels.joined(model, start, math.inf)
                return Labelled(joined.labels, joined.predictions, joined.weights)
            # a regression's DLE: the rows' features too, to score its estimate on them
            joined, features = labels.joined_features(model, start, math.inf)
            return Labelled(joined.labels, joined.predictions, joined.weights, features)

        return read

    def _feed(
        self,
        result: CheckResult,
        parts: dict[CheckKind, PartResult[Any]],
        rule: PolicyRule,
        row: str | None = None,
    ) -> CheckResult:
        """Feed every check's breaches to the alert policy; a check without a comparison feeds none (the
        absence of evidence neither raises nor resolves an alert)."""
        self.breaches[(result.model, result.scope, result.baseline)] = {
            str(check_id): breaching
            for part in parts.values()
            for check_id, breaching in part.breaches.items()
        }
        for part in parts.values():
            for check_id, breaching in part.breaches.items():
                try:
                    event = self.policy.observe(
                        result.model, str(check_id), breaching, result.window_end, rule
                    )
                    if event is not None:
                        self._transition(event, row)
                        self._notify(event, result)
                except Exception as exc:
                    result = self._failed(result, str(check_id), exc)
                    self.latest.put(result)
        return result

    def _failed(self, result: CheckResult, name: str, exc: BaseException) -> CheckResult:
        """Log and count a check that failed after its computation (exporting, alerting); ``result``
        with its error note."""
        log.error("check %s of model %s failed", name, result.model, exc_info=exc)
        self.metrics.check_runs.labels(result.model, name, "error").inc()
        return replace(result, errors={**result.errors, name: part_error(exc)})

    def _export_reference_quality(self, result: CheckResult) -> None:
        """The reference's missing share of each feature whose quality the check measured (a property of
        the reference, not of the window: it stays when a later check has no verdict)."""
        for column in result.drift.columns + result.drift.errors:
            if column.quality is not None:
                self.metrics.feature_missing_share_reference.labels(result.model, column.column).set(
                    column.quality.missing_share_reference
                )


def _no_positions() -> AbstractContextManager[Mapping[str, int]]:
    """No source to hold up (scaled out, or tests): positions unknown."""
    return contextlib.nullcontext({})


def _label_values(gauge: Any) -> list[tuple[str, ...]]:
    """The label values of a labelled gauge's children (prometheus-client keeps them in ``_metrics``)."""
    return list(gauge._metrics)


def _scope_summary(scoped: ScopedModel) -> list[str]:
    """A note on the model's result naming its scopes (their results are under /api's ``scopes``)."""
    scopes = scoped.scopes()
    if not scopes:
        return []
    return [
        f"{len(scopes)} scope(s) checked on their own: {', '.join(s.key for s in scopes[:10])}"
        + (", ..." if len(scopes) > 10 else "")
    ]


def _log_result(result: CheckResult, warnings: RateLimitedLog) -> None:
    model = result.model
    if not result.answered:
        log.info("check %s: no verdict (%s): %s", model, result.status, result.reason)
    elif "data_drift" not in result.errors:  # a failed drift check is logged where it failed
        drift = result.drift
        log.info(
            "check %s: %d/%d features drifted (share %.2f, threshold %.2f)%s",
            model,
            drift.n_drifted,
            drift.n_columns,
            drift.drift_share,
            drift.share_threshold,
            " -> DATASET DRIFT" if drift.dataset_drift else "",
        )
    quality = result.data_quality
    if quality is not None and quality.breached:
        log.info(
            "check %s: data quality limits exceeded: %s",
            model,
            ", ".join(f"{b.feature} {b.measure} {b.value:.3g} > {b.limit:g}" for b in quality.breaches),
        )
    performance = result.performance
    if performance is not None and performance.error is not None:
        warnings.warning(f"performance:{model}", "model %s: %s", model, performance.error)
