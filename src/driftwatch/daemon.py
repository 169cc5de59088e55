"""Wiring and lifecycle: config in, then source -> windows -> checks -> metrics/policy -> webhooks.

`Daemon` owns one instance of each part and the threads that drive them: the
Kafka consumer, the APScheduler jobs (one per model), the webhook dispatcher
and the HTTP server. `Daemon.stop` shuts them down in data-flow order: stop
fetching, let a running check finish, commit offsets, close the consumer,
finish the webhook attempt in flight, stop serving.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import msgspec
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from driftwatch import __version__
from driftwatch.check_id import CheckId
from driftwatch.checks import CheckResult
from driftwatch.collector import ResultsCollector
from driftwatch.config import ModelSettings, Settings
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.events import alert_event, iso
from driftwatch.http import HttpServer, ReportUnavailableError
from driftwatch.label_records import Label, LabelDecoder
from driftwatch.labels import LabelStore
from driftwatch.metrics import Metrics
from driftwatch.model_checks import ModelCheck
from driftwatch.performance.monitor import PerformanceMonitor, PerformanceResult
from driftwatch.policy import AlertEvent, BreachPolicy, PolicyRule, State
from driftwatch.preflight import method_problems, reference_columns, reference_problems
from driftwatch.records import Prediction, RecordDecoder, Rejection
from driftwatch.reference import ReferenceError, load_reference
from driftwatch.results import LatestResults
from driftwatch.runner import ModelRun, Runner
from driftwatch.source.deadletter import DeadLetters
from driftwatch.source.kafka import KafkaSource, Message
from driftwatch.source.undecodable import stalled_notes
from driftwatch.store import OutboxRow, Store
from driftwatch.templates import Template, load_template
from driftwatch.webhooks import Delivery, WebhookDispatcher, idempotency_key, target_delivery
from driftwatch.windows import ColumnSpec, Window

__all__ = ["Daemon"]

log = logging.getLogger(__name__)


class _RateLimitedLog:
    """Log a message at most once per key per ``period`` seconds, with the count suppressed since."""

    def __init__(self, period: float, clock: Callable[[], float]) -> None:
        self._period = period
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = defaultdict(int)

    def warning(self, key: str, message: str, *args: object) -> None:
        now = self._clock()
        if now - self._last.get(key, -1e18) >= self._period:
            suppressed = self._suppressed.pop(key, 0)
            extra = f" ({suppressed} more since the last report)" if suppressed else ""
            log.warning(message + extra, *args)
            self._last[key] = now
        else:
            self._suppressed[key] += 1


class Daemon:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        consumer_factory: Callable[..., Any] | None = None,
        dead_letter_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.latest = LatestResults()  # each model's latest check result: metrics, API, report read it
        self.metrics.registry.register(ResultsCollector(self.latest))
        self.checks: dict[str, ModelCheck] = {}
        self.joins: dict[str, PerformanceMonitor] = {}  # models with performance monitoring
        self.windows: dict[str, Window] = {}
        for name, model in settings.models.items():
            profile, types = load_reference(name, model)
            # a missing prediction column or a method that misfits its feature would fail only at run time
            # (the label column: PerformanceMonitor below)
            problems = reference_problems(name, model, reference_columns(model.reference), labels=False)
            problems += method_problems(name, model, types)
            if problems:
                raise ReferenceError(
                    f"invalid configuration ({len(problems)} problem(s)):\n" + "\n".join(problems)
                )
            monitor = PerformanceMonitor(name, model) if model.performance is not None else None
            if monitor is not None:
                self.joins[name] = monitor
            self.checks[name] = ModelCheck(name, model, profile, monitor)
            self.windows[name] = Window(
                _column_specs(model, types), model.window.length, model.window.max_rows, model.window.buckets
            )
        self.templates: dict[str, Template] = {
            name: load_template(hook.template) for name, hook in settings.webhooks.items()
        }
        label_rules = {name: monitor.label_rule for name, monitor in self.joins.items()}
        self.decoder = RecordDecoder(set(settings.models), rules=label_rules)
        self.store = Store(settings.state.file)
        self.labels: LabelStore | None = None
        if self.joins:
            joins = settings.labels
            self.labels = LabelStore(
                settings.state.file,
                ttl=joins.ttl,
                grace=joins.grace,
                max_rows=joins.max_rows,
                retention=max([joins.ttl] + [self._lookback(name) for name in self.joins]),
            )
        self.label_decoder = LabelDecoder(set(self.joins), rules=label_rules)
        self.policy = BreachPolicy(self.store, clock, on_state=self._alert_changed)
        self.dispatcher = WebhookDispatcher(self.metrics, clock, self.store, self._resume_delivery)
        group = settings.kafka.group_id
        self.dead_letters = (
            DeadLetters(settings.kafka, self.metrics, dead_letter_factory)
            if settings.kafka.dead_letter_topic
            else None
        )
        self.source = KafkaSource(
            settings.kafka,
            self.handle,
            self.metrics,
            consumer_factory=consumer_factory,
            checkpoint=self.checkpoint,
            checkpointed=lambda: self.store.offsets(group),
            checkpoint_interval=settings.state.checkpoint_interval,
        )
        self.http = HttpServer(
            settings.http.host,
            settings.http.port,
            self.metrics,
            self.readiness,
            self.results,
            self.report_html,
        )
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        self._stop = threading.Event()
        self._consumer_thread = threading.Thread(
            target=self.source.run, args=(self._stop,), name="driftwatch-kafka", daemon=True
        )
        self._reports: dict[str, tuple[float, str]] = {}  # model -> (window end, HTML) of the latest check
        self._report_lock = threading.Lock()
        self._versions: dict[str, str] = {}
        self._violations_exported: dict[tuple[str, str], int] = defaultdict(int)
        self._rejections = _RateLimitedLog(60.0, clock)
        self._started = False
        self._restore_windows()
        self.runner = Runner(
            {
                name: ModelRun(
                    self.checks[name],
                    self.windows[name],
                    self._lookback(name),
                    PolicyRule(
                        model.alert.consecutive, model.alert.cooldown or 0.0, model.alert.resolve_after
                    ),
                )
                for name, model in settings.models.items()
            },
            self.metrics,
            self.policy,
            self.latest,
            lambda event, result: self._notify(event, result),  # noqa: PLW0108 (looked up per call)
            clock,
            self.labels,
            self._source_notes,
        )
        for target in settings.webhooks:  # so increase() sees a target's first failure
            self.metrics.webhook_outbox_pending.labels(target)
            for outcome in ("delivered", "retry", "failed"):
                self.metrics.webhook_deliveries.labels(target, outcome)
        for name in settings.models:
            for check_name in self._alert_checks(name):
                self.metrics.alert_active.labels(name, check_name).set(
                    int(self.policy.firing(name, check_name))
                )
            self.metrics.window_rows.labels(name).set(self.windows[name].rows())
            self.metrics.records_consumed.labels(name)
            for feature, limits in self.checks[name].quality_limits.items():
                for measure, limit in limits.items():
                    self.metrics.feature_quality_limit.labels(name, feature, measure).set(limit)
        for name, monitor in self.joins.items():
            for metric, value in monitor.reference.items():
                if math.isfinite(value):
                    self.metrics.performance_reference.labels(name, metric).set(value)
            self.metrics.labels_joined.labels(name)
        if self.joins:
            self._export_label_state()
        self.metrics.kafka_up.set(0)

    def _alert_checks(self, model: str) -> list[str]:
        """The checks of a model that have an alert state: drift, data quality (with limits), and one per
        performance threshold."""
        return [str(check_id) for check_id in self.checks[model].alert_ids]

    def _lookback(self, model: str) -> float:
        """How far back (prediction time) a model's realized performance reads labelled rows."""
        settings = self.settings.models[model]
        performance = settings.performance
        window = performance.window if performance is not None else None
        return window if window is not None else settings.window.length

    # lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        self.http.start()
        self.dispatcher.start()
        self._consumer_thread.start()
        for name, model in self.settings.models.items():
            schedule = model.schedule
            trigger = (
                IntervalTrigger(seconds=schedule.every, timezone=UTC)
                if schedule.every is not None
                else CronTrigger.from_crontab(str(schedule.cron), timezone=UTC)
            )
            self.scheduler.add_job(self.run_check, trigger, args=[name], id=f"{name}:data_drift", name=name)
            interval = _longest_gap(trigger, datetime.now(UTC))
            for check_name in self.checks[name].kinds:
                self.metrics.check_interval.labels(name, check_name).set(interval)
        if self.labels is not None:
            self.scheduler.add_job(
                self.expire_labels, IntervalTrigger(seconds=60, timezone=UTC), id="labels:expire"
            )
        self.scheduler.start()
        self._started = True
        host, port = self.http.address
        log.info(
            "driftwatch %s watching %d model(s); metrics on http://%s:%d/metrics",
            __version__,
            len(self.checks),
            host,
            port,
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop fetching, finish a running check, commit offsets, close the consumer, stop serving."""
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._started:
            self.scheduler.shutdown(wait=True)
        if self._consumer_thread.is_alive():
            self._consumer_thread.join(max(0.1, deadline - time.monotonic() - 2.0))
        if self.dead_letters is not None:
            self.dead_letters.flush(timeout=max(0.1, min(2.0, deadline - time.monotonic() - 3.0)))
        self.dispatcher.stop(max(0.1, min(5.0, deadline - time.monotonic() - 0.5)))
        self.http.stop()
        self.store.close()
        if self.labels is not None:
            self.labels.close()
        log.info("driftwatch stopped")

    # data path ---------------------------------------------------------------------------------

    def handle(self, messages: Sequence[Message]) -> None:
        """One polled batch: predictions go to the windows (and the label join), labels to the join."""
        labels_topic = self.settings.kafka.labels_topic
        if labels_topic is None:
            self._handle_predictions(messages)
            return
        predictions = [m for m in messages if m.topic != labels_topic]
        labels = [m for m in messages if m.topic == labels_topic]
        if predictions:
            self._handle_predictions(predictions)
        if labels:
            self._handle_labels(labels)

    def _handle_predictions(self, messages: Sequence[Message]) -> None:
        """Decode a batch, count rejections, add the valid records to their models' windows."""
        payloads = [message.value for message in messages]
        fallbacks = [message.timestamp / 1000.0 for message in messages]
        # the fast path: a batch of good records straight into columns (no rejection, no type violation)
        columns = self.decoder.decode_columns(
            payloads, fallbacks, {name: window.columns for name, window in self.windows.items()}
        )
        if columns is not None:
            now = self.clock()
            for batch in columns:
                model, count = batch.model, len(batch.positions)
                window = self.windows[model]
                try:
                    added = window.add_columns(batch.timestamps, batch.columns, now)
                except Exception:  # a bug, not bad data: count and report it, keep consuming
                    log.exception("could not window %d records of model %s", count, model)
                    self.metrics.records_rejected.labels("internal_error").inc(count)
                    continue
                self.metrics.records_consumed.labels(model).inc(count)
                if model in self.joins:
                    joined = [self.decoder.decode(payloads[i], fallbacks[i]) for i in batch.positions]
                    self._keep_for_join(model, [r for r in joined if isinstance(r, Prediction)], now)
                if added < count:
                    self.metrics.records_outside_window.labels(model).inc(count - added)
                self.metrics.window_rows.labels(model).set(window.rows())
                if batch.model_version is not None:
                    self._versions[model] = batch.model_version
            return
        by_model: dict[str, list[Prediction]] = defaultdict(list)
        outcomes = self.decoder.decode_batch(payloads, fallbacks)
        for message, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, Rejection):
                self.metrics.records_rejected.labels(outcome.reason).inc()
                self._reject(message, outcome, "record")
            else:
                by_model[outcome.model].append(outcome)
        now = self.clock()
        for model, records in by_model.items():
            window = self.windows[model]
            try:
                added = window.add(records, now)
            except Exception:  # a bug, not bad data: count and report it, keep consuming
                log.exception("could not window %d records of model %s", len(records), model)
                self.metrics.records_rejected.labels("internal_error").inc(len(records))
                continue
            self.metrics.records_consumed.labels(model).inc(len(records))
            if model in self.joins:
                self._keep_for_join(model, records, now)
            if added < len(records):
                self.metrics.records_outside_window.labels(model).inc(len(records) - added)
            self.metrics.window_rows.labels(model).set(window.rows())
            if records[-1].model_version is not None:
                self._versions[model] = records[-1].model_version
            for feature, count in window.type_violations().items():
                delta = count - self._violations_exported[(model, feature)]
                if delta:
                    self.metrics.feature_type_violations.labels(model, feature).inc(delta)
                    self._violations_exported[(model, feature)] = count

    def _keep_for_join(self, model: str, records: Sequence[Prediction], now: float) -> None:
        """Keep a model's predictions for the label join; an inline label joins at once."""
        if self.labels is None:
            return
        monitor = self.joins[model]
        ungradable = sum(not monitor.gradable(r.prediction) for r in records)
        if ungradable:  # counted as type violations of the prediction column by the window
            records = [r for r in records if monitor.gradable(r.prediction)]
            self._rejections.warning(
                f"ungradable:{model}",
                "model %s: %d predictions of the wrong kind for %s are not kept for the label join",
                model,
                ungradable,
                monitor.settings.task,
            )
        try:
            outcome = self.labels.add_predictions(
                model,
                [r.prediction_id for r in records],
                [r.timestamp for r in records],
                [r.prediction for r in records],
                now,
                labels=[r.label for r in records],
            )
        except Exception:  # the join state is secondary: drift goes on without it
            log.exception("model %s: could not keep %d predictions for the label join", model, len(records))
            return
        joined = outcome["joined"] + outcome["joined_early"]
        if joined:
            self.metrics.labels_joined.labels(model).inc(joined)
        if outcome["no_id"]:
            self._rejections.warning(
                f"no_id:{model}",
                "model %s: %d predictions have neither a prediction_id nor an inline label, so no label "
                "can ever be joined to them; log a prediction_id with each prediction",
                model,
                outcome["no_id"],
            )

    def _reject(self, message: Message, rejection: Rejection, kind: str) -> None:
        """Dead-letter a rejected message (when configured) and log it, at most once a minute per reason."""
        if self.dead_letters is not None:
            self.dead_letters.send(
                message.value,
                getattr(message, "key", None),
                rejection.reason,
                rejection.detail,
                message.topic,
                message.partition,
                message.offset,
            )
        self._rejections.warning(
            f"{kind}:{rejection.reason}",
            f"rejected {kind} at %s[%d]@%d: %s (%s)",
            message.topic,
            message.partition,
            message.offset,
            rejection.reason,
            rejection.detail,
        )

    def _handle_labels(self, messages: Sequence[Message]) -> None:
        """Decode label records and join them to the predictions they grade."""
        good: list[Label] = []
        for message in messages:
            outcome = self.label_decoder.decode(message.value, message.timestamp / 1000.0)
            if isinstance(outcome, Label):
                if outcome.fits is None:
                    good.append(outcome)
                else:  # names no model and fits only some: it joins those, not the others
                    good.extend(
                        msgspec.structs.replace(outcome, model=name, fits=None) for name in outcome.fits
                    )
                continue
            self.metrics.labels_rejected.labels(outcome.reason).inc()
            self._reject(message, outcome, "label")
        if not good or self.labels is None:
            return
        per_model: Counter[str] = Counter()
        try:
            reasons = self.labels.add_labels(
                [label.prediction_id for label in good],
                [label.label for label in good],
                self.clock(),
                model=[label.model for label in good],
                timestamps=[label.timestamp for label in good],
                joined_by_model=per_model,
            )
        except Exception:
            log.exception("could not join %d labels", len(good))
            self.metrics.labels_rejected.labels("internal_error").inc(len(good))
            return
        for model, count in per_model.items():
            self.metrics.labels_joined.labels(model).inc(count)
        for reason, count in reasons.items():
            if reason not in ("joined", "early"):  # early labels wait; they count when they join or expire
                self.metrics.labels_rejected.labels(reason).inc(count)

    def expire_labels(self) -> None:
        """Drop what the label join no longer needs (run every minute); export the join state."""
        if self.labels is None:
            return
        try:
            counts = self.labels.expire(self.clock())
        except Exception:
            log.exception("could not expire the label join state")
            return
        if counts["unknown_id"]:
            self.metrics.labels_rejected.labels("unknown_id").inc(counts["unknown_id"])
        self._export_label_state()

    def _export_label_state(self) -> None:
        if self.labels is None:
            return
        for model in self.joins:
            self.metrics.labels_pending.labels(model).set(self.labels.pending_count(model))
            self.metrics.labels_sample_rate.labels(model).set(self.labels.rate(model))

    def checkpoint(self, offsets: dict[tuple[str, int], int]) -> None:
        """Store every window's changes and the offsets they cover in one transaction."""
        changes = {name: (window.signature(), window.changes()) for name, window in self.windows.items()}
        try:
            self.store.checkpoint(changes, self.settings.kafka.group_id, offsets)
        except Exception:
            for window in self.windows.values():
                window.mark_full()  # the changes just taken were not stored: store everything next time
            raise

    def _restore_windows(self) -> None:
        now = self.clock()
        for name, window in self.windows.items():
            stored = self.store.load_window(name, window.signature())
            if stored is None:
                continue
            rows = window.restore(*stored, now=now)
            for feature, count in window.type_violations().items():  # counted by the previous process
                self._violations_exported[(name, feature)] = count
            log.info(
                "model %s: restored %d window rows from the checkpoint in %s", name, rows, self.store.path
            )

    def run_check(self, model: str) -> CheckResult:
        """One scheduled check of ``model``: every check runs; metrics, alerts and webhooks follow."""
        return self.runner.run(model)

    def _alert_changed(self, model: str, check: str, before: State, after: State) -> None:
        entered = "resolved" if after == "ok" and before == "firing" else after
        if entered != "ok":
            self.metrics.alert_transitions.labels(model, check, entered).inc()
        self.metrics.alert_active.labels(model, check).set(int(after == "firing"))
        log.info("alert %s/%s: %s -> %s", model, check, before, after)

    def _notify(self, event: AlertEvent, result: CheckResult) -> None:
        targets = self.settings.models[event.model].webhooks
        if not targets:
            return
        key = idempotency_key(event.model, event.check, event.window_end, event.transition)
        payload = alert_event(
            key,
            event.transition,
            CheckId.parse(event.check),
            result,
            self._versions.get(event.model),
            self.clock(),
        )
        for target in targets:
            try:
                body = self.templates[target].render(payload)
                delivery = self._delivery(target, key, body, event.model, event.check, event.transition)
            except Exception:  # a template or secret problem must not stop the other targets
                log.exception("webhook %s: cannot prepare the %s event %s", target, event.transition, key)
                self.metrics.webhook_deliveries.labels(target, "failed").inc()
                continue
            if delivery is not None:
                self.dispatcher.submit(delivery)

    def _delivery(
        self,
        target: str,
        key: str,
        body: bytes,
        model: str | None = None,
        check: str | None = None,
        transition: str | None = None,
    ) -> Delivery | None:
        """A delivery to ``target`` with its current settings (None when the target is gone)."""
        hook = self.settings.webhooks.get(target)
        if hook is None:
            return None
        return target_delivery(
            target, hook, self.templates[target], key, body, model=model, check=check, transition=transition
        )

    def _resume_delivery(self, row: OutboxRow) -> Delivery | None:
        return self._delivery(row.target, row.key, row.body, row.model, row.check, row.transition)

    # views -------------------------------------------------------------------------------------

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
                self.runner.frames[model],
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

    def _source_notes(self) -> list[str]:
        """What a check's result says about records it may be missing: Kafka unreachable, a consumer error
        that is not an outage, partitions stalled behind an undecodable batch (the same as /readyz)."""
        notes = []
        problem, problem_since = self.source.problem, self.source.problem_since
        if problem is not None:
            when = f" since {iso(problem_since)}" if problem_since is not None else ""
            notes.append(
                f"Kafka consumer error{when} ({problem.reason}: {problem.error}), not a network failure: "
                f"the records it kept the consumer from reading are not in this check; fix: {problem.fix}"
            )
        elif not self.source.connected:
            since = self.source.down_since
            when = f" since {iso(since)}" if since is not None else ""
            notes.append(
                f"Kafka unreachable{when} ({self.source.last_error or 'connecting'}): "
                "this check ran on the records windowed before; newer traffic is not in it"
            )
        notes.extend(stalled_notes(self.source.stalls()))
        return notes

    def readiness(self) -> list[str]:
        problems = []
        problem = self.source.problem
        if problem is not None:  # the broker answers (or was not asked): not "not reachable"
            problems.append(f"kafka: {problem.describe()}")
        elif not self.source.connected:
            problems.append(f"kafka not reachable: {self.source.last_error or 'connecting'}")
        for batch in list(self.source.undecodable.values()):  # the broker answers; a partition is stalled
            problems.append(f"kafka: {batch.describe()}")
        if self._stop.is_set():
            problems.append("shutting down")
        return problems

    def results(self) -> dict[str, dict[str, Any]]:
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


def _longest_gap(trigger: IntervalTrigger | CronTrigger, now: datetime, runs: int = 50) -> float:
    """Seconds between runs of an interval trigger; for a cron trigger the longest gap among its
    next ``runs`` fire times (a weekdays-only cron has a weekend gap)."""
    if isinstance(trigger, IntervalTrigger):
        return float(trigger.interval.total_seconds())
    times: list[datetime] = []
    previous: datetime | None = None
    for _ in range(runs):
        fire = trigger.get_next_fire_time(previous, previous or now)
        if fire is None:
            break
        if previous is not None and fire <= previous:
            fire = trigger.get_next_fire_time(previous, previous + timedelta(seconds=1))
            if fire is None:
                break
        times.append(fire)
        previous = fire
    gaps = [(b - a).total_seconds() for a, b in pairwise(times)]
    return max(gaps, default=0.0)


def _column_specs(model: ModelSettings, types: dict[str, Any]) -> list[ColumnSpec]:
    specs = [ColumnSpec(f.name, types.get(f.name) or f.type or "numeric") for f in model.features]
    if model.prediction:
        specs.append(
            ColumnSpec(model.prediction, types.get(model.prediction, "numeric"), source="prediction")
        )
    return specs
