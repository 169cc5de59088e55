"""Wiring and lifecycle: config in, then source -> windows -> checks -> metrics/policy -> webhooks.

`Daemon` owns one instance of each part and the threads that drive them: the
Kafka consumer, the APScheduler jobs (one per model), the webhook dispatcher
and the HTTP server. `Daemon.stop` shuts them down in data-flow order: stop
fetching, let a running check finish, commit offsets, close the consumer,
finish the webhook attempt in flight, stop serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pandas as pd
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from driftwatch import __version__
from driftwatch.checks import CheckResult, ModelCheck
from driftwatch.config import ModelSettings, Settings
from driftwatch.events import alert_event, iso
from driftwatch.http import HttpServer
from driftwatch.metrics import Metrics
from driftwatch.policy import AlertEvent, BreachPolicy, PolicyRule, State
from driftwatch.records import Prediction, RecordDecoder, Rejection
from driftwatch.reference import load_reference
from driftwatch.source.deadletter import DeadLetters
from driftwatch.source.kafka import KafkaSource, Message
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
        self.checks: dict[str, ModelCheck] = {}
        self.windows: dict[str, Window] = {}
        for name, model in settings.models.items():
            profile, types = load_reference(name, model)
            self.checks[name] = ModelCheck(name, model, profile)
            self.windows[name] = Window(
                _column_specs(model, types), model.window.length, model.window.max_rows, model.window.buckets
            )
        self.templates: dict[str, Template] = {
            name: load_template(hook.template) for name, hook in settings.webhooks.items()
        }
        self.decoder = RecordDecoder(set(settings.models))
        self.store = Store(settings.state.file)
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
        self._latest: dict[str, CheckResult] = {}
        self._frames: dict[str, pd.DataFrame] = {}  # the window sample of each model's latest check
        self._reports: dict[str, tuple[float, str]] = {}  # model -> (window end, HTML) of the latest check
        self._report_lock = threading.Lock()
        self._versions: dict[str, str] = {}
        self._methods: dict[tuple[str, str], str] = {}  # (model, feature) -> method of the exported score
        self._violations_exported: dict[tuple[str, str], int] = defaultdict(int)
        self._rejections = _RateLimitedLog(60.0, clock)
        self._started = False
        self._restore_windows()
        for target in settings.webhooks:  # so increase() sees a target's first failure
            self.metrics.webhook_outbox_pending.labels(target)
            for outcome in ("delivered", "retry", "failed"):
                self.metrics.webhook_deliveries.labels(target, outcome)
        for name, model in settings.models.items():
            checks = ["data_drift"] + (["prediction_drift"] if model.prediction else [])
            for check_name in checks:
                self.metrics.alert_active.labels(name, check_name).set(
                    int(self.policy.firing(name, check_name))
                )
            self.metrics.window_rows.labels(name).set(self.windows[name].rows())
            self.metrics.records_consumed.labels(name)
        self.metrics.kafka_up.set(0)

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
            checks = ["data_drift"] + (["prediction_drift"] if model.prediction else [])
            for check_name in checks:
                self.metrics.check_interval.labels(name, check_name).set(interval)
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
        log.info("driftwatch stopped")

    # data path ---------------------------------------------------------------------------------

    def handle(self, messages: Sequence[Message]) -> None:
        """Decode a batch, count rejections, add the valid records to their models' windows."""
        by_model: dict[str, list[Prediction]] = defaultdict(list)
        outcomes = self.decoder.decode_batch(
            [message.value for message in messages], [message.timestamp / 1000.0 for message in messages]
        )
        for message, outcome in zip(messages, outcomes, strict=True):
            if isinstance(outcome, Rejection):
                self.metrics.records_rejected.labels(outcome.reason).inc()
                if self.dead_letters is not None:
                    self.dead_letters.send(
                        message.value,
                        getattr(message, "key", None),
                        outcome.reason,
                        outcome.detail,
                        message.topic,
                        message.partition,
                        message.offset,
                    )
                self._rejections.warning(
                    outcome.reason,
                    "rejected record at %s[%d]@%d: %s (%s)",
                    message.topic,
                    message.partition,
                    message.offset,
                    outcome.reason,
                    outcome.detail,
                )
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
        """One scheduled data drift check of ``model``; exports metrics and fires webhooks on a breach."""
        check = self.checks[model]
        with self.metrics.check_duration.labels(model, check.check).time():
            try:
                snapshot = self.windows[model].snapshot(self.clock())
                result = check.run(snapshot)
                if not self.source.connected:
                    since = self.source.down_since
                    when = f" since {iso(since)}" if since is not None else ""
                    result = replace(
                        result,
                        notes=(
                            f"Kafka unreachable{when} ({self.source.last_error or 'connecting'}): "
                            "this check ran on the records windowed before; newer traffic is not in it",
                        ),
                    )
                self._frames[model] = snapshot.frame
            except Exception:
                self.metrics.check_runs.labels(model, check.check, "error").inc()
                log.exception("check %s of model %s failed", check.check, model)
                raise
        self.metrics.check_runs.labels(model, check.check, "ok").inc()
        self.metrics.window_rows.labels(model).set(self.windows[model].rows())
        self._export(result)
        self._latest[model] = result
        self.metrics.check_last_success.labels(model, check.check).set(self.clock())
        if result.prediction_drift is not None:  # computed in the same run
            self.metrics.check_last_success.labels(model, "prediction_drift").set(self.clock())
        if result.rows == 0:
            log.info("check %s: window is empty, nothing to compare", model)
            return result
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
        alert = self.settings.models[model].alert
        rule = PolicyRule(alert.consecutive, alert.cooldown or 0.0, alert.resolve_after)
        breaches = {check.check: drift.dataset_drift}
        prediction = result.prediction_drift
        if prediction is not None and prediction.error is None:
            breaches["prediction_drift"] = prediction.drift_detected
        for name, breaching in breaches.items():
            event = self.policy.observe(model, name, breaching, result.window_end, rule)
            if event is not None:
                self._notify(event, result)
        return result

    def _alert_changed(self, model: str, check: str, before: State, after: State) -> None:
        entered = "resolved" if after == "ok" and before == "firing" else after
        if entered != "ok":
            self.metrics.alert_transitions.labels(model, check, entered).inc()
        self.metrics.alert_active.labels(model, check).set(int(after == "firing"))
        log.info("alert %s/%s: %s -> %s", model, check, before, after)

    def _export(self, result: CheckResult) -> None:
        m = self.metrics
        for column in result.drift.columns:
            key = (result.model, column.column)
            previous = self._methods.get(key)
            if (
                previous is not None and previous != column.method
            ):  # `auto` switched tests: drop the stale series
                m.feature_drift_score.remove(result.model, column.column, previous)
                m.feature_drift_threshold.remove(result.model, column.column, previous)
            self._methods[key] = column.method
            m.feature_drift_score.labels(result.model, column.column, column.method).set(column.score)
            m.feature_drift_threshold.labels(result.model, column.column, column.method).set(column.threshold)
            m.feature_drift_detected.labels(result.model, column.column).set(int(column.drift_detected))
        if result.drift.columns:
            m.dataset_drift_share.labels(result.model).set(result.drift.drift_share)
            m.dataset_drift_detected.labels(result.model).set(int(result.drift.dataset_drift))
        for column in result.drift.columns + result.drift.errors:
            quality = column.quality
            if quality is None:
                continue
            m.feature_missing_share.labels(result.model, column.column).set(quality.missing_share)
            m.feature_missing_share_reference.labels(result.model, column.column).set(
                quality.missing_share_reference
            )
            if quality.unseen_share is not None:
                m.feature_unseen_share.labels(result.model, column.column).set(quality.unseen_share)
            if quality.out_of_range_share is not None:
                m.feature_out_of_range_share.labels(result.model, column.column).set(
                    quality.out_of_range_share
                )
        prediction = result.prediction_drift
        if prediction is not None and prediction.error is None:
            m.prediction_drift_score.labels(result.model, prediction.method).set(prediction.score)
            m.prediction_drift_detected.labels(result.model).set(int(prediction.drift_detected))

    def _notify(self, event: AlertEvent, result: CheckResult) -> None:
        targets = self.settings.models[event.model].webhooks
        if not targets:
            return
        key = idempotency_key(event.model, event.check, event.window_end, event.transition)
        payload = alert_event(
            key, event.transition, event.check, result, self._versions.get(event.model), self.clock()
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
        """Evidently's HTML report of the model's latest check, made on first request and cached."""
        from driftwatch.report import evidently_html, profile_frame

        latest = self._latest.get(model)
        if latest is None:
            return None
        with self._report_lock:
            cached = self._reports.get(model)
            if cached is not None and cached[0] == latest.window_end:
                return cached[1]
            check = self.checks[model]
            features = check.feature_profile
            html = evidently_html(
                profile_frame(features),
                self._frames[model],
                {name: column.type for name, column in features.columns.items()},
                {f.name: f.method for f in check.settings.features},
                {f.name: f.threshold for f in check.settings.features if f.threshold is not None},
                check.settings.drift.share,
            )
            self._reports[model] = (latest.window_end, html)
            return html

    def readiness(self) -> list[str]:
        problems = []
        if not self.source.connected:
            problems.append(f"kafka not reachable: {self.source.last_error or 'connecting'}")
        if self._stop.is_set():
            problems.append("shutting down")
        return problems

    def results(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for name in self.checks:
            latest = self._latest.get(name)
            out[name] = {
                "model": name,
                "window_rows": self.windows[name].rows(),
                "latest": None if latest is None else latest.as_dict(),
                "checked_at": None
                if latest is None
                else datetime.fromtimestamp(latest.window_end, UTC).isoformat().replace("+00:00", "Z"),
            }
        return out


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
