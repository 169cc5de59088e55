"""What the daemon shows over HTTP: the latest results (/api/models), the report page and readiness.

`Views` reads the latest results (`driftwatch.service.results.LatestResults`), the models' windows and checks;
it computes nothing about drift. The report page is made on first request and cached until the next
check. `readiness` and `source_notes` say what the Kafka source is missing, for /readyz and for the
notes of a check's result.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from driftwatch.alerting.events import iso
from driftwatch.checks.window import CheckResult
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.performance.monitor import PerformanceMonitor, PerformanceResult
from driftwatch.service.http import ReportUnavailableError
from driftwatch.service.metrics import Metrics
from driftwatch.service.model_checks import ModelCheck
from driftwatch.service.results import LatestResults
from driftwatch.source.kafka import KafkaSource
from driftwatch.source.undecodable import stalled_notes
from driftwatch.stream.windows import Window

__all__ = ["Views", "readiness", "report_unavailable", "source_notes"]

log = logging.getLogger(__name__)


class Views:
    """The JSON API's results and the report pages of the models' latest checks."""

    def __init__(
        self,
        checks: Mapping[str, ModelCheck],
        windows: Mapping[str, Window],
        latest: LatestResults,
        frames: Mapping[str, pd.DataFrame],
        joins: Mapping[str, PerformanceMonitor],
        metrics: Metrics,
        owner: Callable[[str], bool] | None = None,
        scope_info: Callable[[str], dict[str, Any] | None] = lambda model: None,
    ) -> None:
        self.owner = owner  # scaled out: whether this replica owns a model
        # a scoped model's segments, versions and champion/challenger comparison, as /api shows them
        self.scope_info = scope_info
        self.checks = checks
        self.windows = windows
        self.latest = latest
        self.joins = joins
        self.metrics = metrics
        self._frames = frames  # the window sample of each model's latest check
        self._reports: dict[str, tuple[float, str]] = {}  # model -> (window end, HTML) of the latest check
        self._report_lock = threading.Lock()

    def report_html(self, model: str) -> str | None:
        """Evidently's HTML report of the model's latest check, made on first request and cached, under
        driftwatch's summary of the check (model, window, rows, dataset and prediction drift).

        Raises `ReportUnavailableError` (HTTP 409) when there is nothing to report on."""
        from driftwatch.report import evidently_html, profile_frame, summary_section, with_section

        latest = self.latest.get(model)
        reason = report_unavailable(model, latest)
        if reason is not None:
            raise ReportUnavailableError(reason)
        assert latest is not None
        with self._report_lock:
            cached = self._reports.get(model)
            if cached is not None and cached[0] == latest.window_end:
                return cached[1]
            check = self.checks[model]
            features = check.feature_profile
            reference = features
            output = check.prediction_profile
            if latest.prediction_drift is None or latest.prediction_drift.error is not None:
                output = None
            if output is not None:
                reference = ReferenceProfile({**features.columns, output.name: output}, features.rows)
            # a column the check could not test (no values in the window) would fail Evidently's whole
            # report; the summary lists it with the reason
            untested = {column.column for column in latest.drift.errors}
            html = evidently_html(
                profile_frame(reference),
                self._frames[model],
                {name: column.type for name, column in features.columns.items() if name not in untested},
                {f.name: f.method for f in check.settings.features},
                {f.name: f.threshold for f in check.settings.features if f.threshold is not None},
                check.settings.drift.share,
                prediction=None if output is None else (output.name, output.type),
            )
            performance = latest.performance
            if performance is not None:
                html = self._with_performance(html, model, performance)
            html = with_section(
                html,
                summary_section(
                    model,
                    latest.drift,
                    latest.prediction_drift,
                    latest.rows,
                    check.profile.rows,
                    window=(latest.window_start, latest.window_end),
                    quality=None
                    if latest.data_quality is None
                    else [b.text for b in latest.data_quality.breaches],
                    notes=latest.notes,
                    multivariate=None
                    if latest.multivariate_drift is None
                    else latest.multivariate_drift.as_dict(),
                ),
            )
            self._reports[model] = (latest.window_end, html)
            return html

    def _with_performance(self, html: str, model: str, performance: PerformanceResult) -> str:
        """The report with its performance section; without it (and a note in the log) when that fails:
        the drift report is still served."""
        try:
            from driftwatch.report import performance_section, with_section

            realized_result, estimated = performance.realized, performance.estimated
            notes = [n for n in (performance.error, performance.estimate_note) if n]
            if realized_result is not None:
                notes.insert(
                    0,
                    f"{realized_result.labelled_rows} labelled predictions in the look-back "
                    f"({realized_result.status})",
                )
            html = with_section(
                html,
                performance_section(
                    self.joins[model].reference,
                    realized_result.values if realized_result is not None else {},
                    {k: e.as_dict() for k, e in estimated.estimates.items()} if estimated is not None else {},
                    notes,
                ),
            )
        except Exception:
            log.exception(
                "report of model %s: the performance section failed; serving the report without it", model
            )
            self.metrics.check_runs.labels(model, "report", "error").inc()
        return html

    def results(self) -> dict[str, dict[str, Any]]:
        """Every model's window size and latest check result (None before its first check)."""
        out: dict[str, dict[str, Any]] = {}
        for name in self.checks:
            latest = self.latest.get(name)
            out[name] = {
                "model": name,
                "window_rows": self.windows[name].rows(),
                "latest": None if latest is None else latest.as_dict(),
                "checked_at": None
                if latest is None
                else datetime.fromtimestamp(latest.window_end, UTC).isoformat().replace("+00:00", "Z"),
            }
            if self.owner is not None:  # scaled out: only the model's owner has its window and results
                out[name]["owned"] = self.owner(name)
                out[name]["records_seen"] = self.windows[name].seen()
            out[name].update(self.scopes(name))
        return out

    def scopes(self, model: str) -> dict[str, Any]:
        """A scoped model's latest results per scope and rolling-baseline comparison, and what the
        ``scope_info`` provider says about its segments, versions and comparison; empty for a model
        without scopes, whose answer stays as it was.

        ``scopes``: scope key (``v=7``, ``country=DE``, ``country:other``) -> the scope's latest result
        against its reference; ``rolling``: scope key (``""`` the whole model) -> the latest comparison
        with the scope's own trailing period."""
        scoped: dict[str, dict[str, Any]] = {}
        rolling: dict[str, dict[str, Any]] = {}
        for (scope, baseline), result in sorted(self.latest.scoped(model).items()):
            if baseline:
                rolling[scope] = result.as_dict()
            elif scope:
                scoped[scope] = result.as_dict()
        info = self.scope_info(model) or {}
        out: dict[str, Any] = {}
        if scoped or rolling or info:
            out = {"scopes": scoped, "rolling": rolling}
        out.update(info)
        return out


def report_unavailable(model: str, latest: CheckResult | None) -> str | None:
    """Why the model's report cannot be made now (the HTTP answer is a 409 with this reason), or None.

    The one place that decides it: a check result that says its window held too little data belongs here,
    and so does one whose data_drift part failed (it has no verdict to summarise).
    """
    if latest is None:
        return f"no check yet: model {model!r} has not been checked yet; retry after its first check"
    if not latest.answered:  # no_data, not_enough_rows: the check's own reason, as /api says it
        return (
            f"{latest.status}: model {model!r}, window {iso(latest.window_start)} to "
            f"{iso(latest.window_end)}: {latest.reason}"
        )
    if "data_drift" in latest.errors:  # no verdict either: the summary would say "no drift: 0 of 0"
        return (
            f"data_drift failed: model {model!r}, window {iso(latest.window_start)} to "
            f"{iso(latest.window_end)}: {latest.errors['data_drift']} (the check has no drift verdict; "
            "the traceback is in the log)"
        )
    return None


def source_notes(source: KafkaSource) -> list[str]:
    """What a check's result says about records it may be missing: Kafka unreachable, a consumer error
    that is not an outage, partitions stalled behind an undecodable batch (the same as /readyz)."""
    notes = []
    problem, problem_since = source.problem, source.problem_since
    if problem is not None:
        when = f" since {iso(problem_since)}" if problem_since is not None else ""
        notes.append(
            f"Kafka consumer error{when} ({problem.reason}: {problem.error}), not a network failure: "
            f"the records it kept the consumer from reading are not in this check; fix: {problem.fix}"
        )
    elif not source.connected:
        since = source.down_since
        when = f" since {iso(since)}" if since is not None else ""
        notes.append(
            f"Kafka unreachable{when} ({source.last_error or 'connecting'}): "
            "this check ran on the records windowed before; newer traffic is not in it"
        )
    notes.extend(stalled_notes(source.stalls()))
    return notes


def readiness(source: KafkaSource, stopping: bool) -> list[str]:
    """Why the daemon is not ready to serve (empty when it is): what /readyz answers with a 503."""
    problems = []
    problem = source.problem
    if problem is not None:  # the broker answers (or was not asked): not "not reachable"
        problems.append(f"kafka: {problem.describe()}")
    elif not source.connected:
        problems.append(f"kafka not reachable: {source.last_error or 'connecting'}")
    for batch in list(source.undecodable.values()):  # the broker answers; a partition is stalled
        problems.append(f"kafka: {batch.describe()}")
    if stopping:
        problems.append("shutting down")
    return problems
