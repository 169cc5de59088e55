"""Runs a model's checks on schedule: window snapshot -> every check -> results -> metrics and policy.

One `Runner.run` is one scheduled check of one model: it takes the window's snapshot, runs every
prepared check of the model on it (a check that fails gives an ``error`` result and the others still
run), puts the model's result in the latest results (which the metrics collector, the JSON API, the
report and the webhooks read), records which checks completed, and feeds every check's breaches to the
alert policy the same way, whatever the kind of check. The policy's events go to ``notify``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pandas as pd

from driftwatch.alerting.policy import AlertEvent, BreachPolicy, PolicyRule
from driftwatch.checks.base import Labelled, PartResult, part_error
from driftwatch.checks.ids import CheckKind
from driftwatch.checks.window import CheckResult
from driftwatch.service.log_limits import RateLimitedLog
from driftwatch.service.metrics import Metrics
from driftwatch.service.model_checks import ModelCheck
from driftwatch.service.results import LatestResults
from driftwatch.state.labels import LabelStore
from driftwatch.stream.windows import Window

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

    def run(self, model: str) -> CheckResult:
        """One scheduled check of ``model``: every check, its result exported and fed to the policy."""
        run = self.models[model]
        checks, m = run.checks, self.metrics
        with m.check_duration.labels(model, checks.check).time():
            try:
                snapshot = run.window.snapshot(self._clock())
                parts, result = checks.run_parts(snapshot, self._labelled(model, snapshot.end - run.lookback))
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
        return self._feed(result, parts, run.rule)

    def _labelled(self, model: str, start: float) -> Callable[[], Labelled] | None:
        """Reads the labelled predictions since ``start`` (prediction time), for the checks that grade."""
        labels = self._labels
        if labels is None:
            return None

        def read() -> Labelled:
            joined = labels.joined(model, start, math.inf)
            return Labelled(joined.labels, joined.predictions, joined.weights)

        return read

    def _feed(
        self, result: CheckResult, parts: dict[CheckKind, PartResult[Any]], rule: PolicyRule
    ) -> CheckResult:
        """Feed every check's breaches to the alert policy; a check without a comparison feeds none (the
        absence of evidence neither raises nor resolves an alert)."""
        for part in parts.values():
            for check_id, breaching in part.breaches.items():
                try:
                    event = self.policy.observe(
                        result.model, str(check_id), breaching, result.window_end, rule
                    )
                    if event is not None:
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
