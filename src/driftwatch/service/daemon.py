"""Wiring and lifecycle: config in, then source -> windows -> checks -> metrics/policy -> webhooks.

`Daemon` builds one instance of each part and wires them: the Kafka source hands batches to `Ingest`
(records into windows, checkpoints), the scheduler runs each model's checks through the `Runner`
(results, policy), the `Notifier` turns alert events into webhook deliveries, `Views` serve the HTTP
API and reports, and a `ResultsCollector` exports the latest results at scrape time. It owns the
threads that drive them: the Kafka consumer, the APScheduler jobs (one per model), the webhook
dispatcher and the HTTP server. `Daemon.stop` shuts them down in data-flow order: stop fetching, let
a running check finish, commit offsets, close the consumer, finish the webhook attempt in flight, stop
serving.
"""

from __future__ import annotations

import contextlib
import logging
import math
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from driftwatch import __version__
from driftwatch.alerting.policy import AlertEvent, BreachPolicy, PolicyRule, ScopeState, State
from driftwatch.alerting.templates import Template, load_template
from driftwatch.checks.window import CheckResult
from driftwatch.config import HttpSettings, ModelSettings, ScheduleSettings, Settings
from driftwatch.performance.monitor import PerformanceMonitor
from driftwatch.reference import ReferenceDataError
from driftwatch.scope import Scope
from driftwatch.service.collector import ResultsCollector, feature_series_of
from driftwatch.service.history import CheckHistory
from driftwatch.service.history_query import api_history
from driftwatch.service.http import HttpServer
from driftwatch.service.ingest import Ingest
from driftwatch.service.metrics import Metrics
from driftwatch.service.model_checks import ModelCheck, multivariate_reference, performance_monitor
from driftwatch.service.notify import Notifier
from driftwatch.service.owner import Forwarder, Owner, replica_name
from driftwatch.service.preflight import (
    class_order,
    load_model_reference,
    method_problems,
    reference_columns,
    reference_problems,
    scope_problems,
)
from driftwatch.service.results import LatestResults
from driftwatch.service.runner import ModelRun, Runner
from driftwatch.service.scoped import ScopedModel, scope_columns
from driftwatch.service.views import Views, readiness, source_notes
from driftwatch.service.webhooks import Delivery, WebhookDispatcher
from driftwatch.source.deadletter import DeadLetters
from driftwatch.source.exchange import (
    ExchangeError,
    ExchangeProducer,
    HistoryFeed,
    InternalTopics,
    ensure_topics,
    partition_of,
)
from driftwatch.source.kafka import KafkaSource, Message
from driftwatch.state.history import HistoryStore
from driftwatch.state.labels import LabelStore
from driftwatch.state.store import Store
from driftwatch.stream.labels import LabelDecoder
from driftwatch.stream.records import RecordDecoder, reads_metadata
from driftwatch.stream.vectors import VectorField, VectorReader
from driftwatch.stream.windows import ColumnSpec, Window
from driftwatch.webconfig import WebAccess, load_web_config

__all__ = ["Daemon", "fire_times", "trigger_of"]

log = logging.getLogger(__name__)

HISTORY_PRUNE_INTERVAL = 3600.0  # seconds between prunes of the check history (and one at start)


class Daemon:
    def __init__(
        self,
        settings: Settings,
        clock: Callable[[], float] = time.time,
        consumer_factory: Callable[..., Any] | None = None,
        dead_letter_factory: Callable[..., Any] | None = None,
        driven: bool = False,
    ) -> None:
        """``driven``: the caller drives the daemon instead of `start` (a replay of recorded traffic feeds
        `handle` and calls `run_check` on its own clock): no HTTP server is built (nothing listens) and
        the checks carry no notes about the Kafka consumer, which never runs."""
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.latest = LatestResults()  # each model's latest check result: metrics, API, report read it
        self.metrics.registry.register(
            ResultsCollector(self.latest, feature_series=feature_series_of(settings.models))
        )
        self.checks: dict[str, ModelCheck] = {}
        self.joins: dict[str, PerformanceMonitor] = {}  # models with performance monitoring
        self.windows: dict[str, Window] = {}
        types_of: dict[str, dict[str, Any]] = {}
        for name, model in settings.models.items():
            profile, types = load_model_reference(name, model)
            # a missing prediction column or a method that misfits its feature would fail only at run time
            # (the label column: PerformanceMonitor below)
            columns = reference_columns(model.reference)
            problems = reference_problems(name, model, columns, labels=False)
            problems += method_problems(name, model, types)
            problems += scope_problems(name, model, columns, types)
            if problems:
                raise ReferenceDataError(
                    f"invalid configuration ({len(problems)} problem(s)):\n" + "\n".join(problems)
                )
            monitor = performance_monitor(name, model) if model.performance is not None else None
            if monitor is not None:
                self.joins[name] = monitor
            multivariate = multivariate_reference(name, model, types)
            self.checks[name] = ModelCheck(name, model, profile, monitor, multivariate)
            specs = _column_specs(model, types)
            estimated = [] if monitor is None else monitor.window_columns()  # multiclass CBPE's
            self.windows[name] = Window(
                [*specs, *scope_columns(model, specs), *estimated],
                model.window.length,
                model.window.max_rows,
                model.window.buckets,
            )
            types_of[name] = types
        self.templates: dict[str, Template] = {
            name: load_template(hook.template) for name, hook in settings.webhooks.items()
        }
        label_rules = {name: monitor.label_rule for name, monitor in self.joins.items()}
        self.decoder = RecordDecoder(
            set(settings.models),
            rules=label_rules,
            metadata_models={name for name, window in self.windows.items() if reads_metadata(window.columns)},
        )
        scale_out = settings.kafka.scale_out
        self.scaled = scale_out.enabled
        # scaled out, alert states and the outbox live in the changelog of the replica owning the model
        # (`Owner` restores them); the local file would hold another replica's stale copy
        self.store = Store(":memory:" if self.scaled else settings.state.file)
        # the check history: every check's rows, the events they caused and their deliveries
        self.history: CheckHistory | None = None
        if settings.history.enabled:
            history = settings.history
            self.history = CheckHistory(
                HistoryStore(history.file(settings.state.file), history.retention, history.max_checks),
                self.metrics,
                settings.models,
                clock,
            )
        self.fatal: str | None = None  # set when the daemon cannot go on safely; the command exits
        self.labels: LabelStore | None = None
        self._labels_dir: str | None = None
        if self.joins:
            joins = settings.labels
            label_file: str | Path = settings.state.file
            if self.scaled:
                # the owned models' label join, private to this process: the state file may hold the rows
                # of another time this replica owned other models (see driftwatch.service.owner)
                self._labels_dir = tempfile.mkdtemp(prefix="driftwatch-labels-")
                label_file = Path(self._labels_dir) / "labels.sqlite"
            self.labels = LabelStore(
                label_file,
                ttl=joins.ttl,
                grace=joins.grace,
                max_rows=joins.max_rows,
                retention=max([joins.ttl] + [self._lookback(name) for name in self.joins]),
                segments={
                    name: [(c.column, c.source) for c in model.segments.columns]
                    for name, model in settings.models.items()
                    if model.segments is not None and name in self.joins
                },
                # a regression's DLE reads each labelled row's features to score its estimate
                features={
                    name: monitor.dle.features
                    for name, monitor in self.joins.items()
                    if monitor.dle is not None
                },
            )
        self.label_decoder = LabelDecoder(set(self.joins), rules=label_rules)
        # models with segments, versions or a rolling baseline
        self.scoped: dict[str, ScopedModel] = {
            name: ScopedModel(name, model, self.windows[name], self.checks[name], types_of[name], self.labels)
            for name, model in settings.models.items()
            if model.scoped
        }
        self.policy = BreachPolicy(
            self.store, clock, on_state=self._alert_changed, on_scope_state=self._scope_alert_changed
        )
        versions: dict[str, str] = {}  # model -> the model_version of its latest record (ingest sets it)
        self.notifier = Notifier(
            settings.webhooks,
            {name: model.webhooks for name, model in settings.models.items()},
            self.templates,
            self.metrics,
            clock,
            versions,
            lambda delivery: self._submit(delivery),  # noqa: PLW0108 (looked up per call)
        )
        self.dispatcher = WebhookDispatcher(
            self.metrics,
            clock,
            self.store,
            self.notifier.resume,
            on_delivery=None if self.history is None else self.history.delivery,
        )
        group = settings.kafka.group_id
        dead_letters = (
            DeadLetters(settings.kafka, self.metrics, dead_letter_factory)
            if settings.kafka.dead_letter_topic
            else None
        )
        self.source = KafkaSource(
            settings.kafka,
            self.handle,
            self.metrics,
            consumer_factory=consumer_factory,
            checkpoint=self._checkpoint_scaled if scale_out.enabled else self._take_checkpoint,
            checkpointed=(lambda: {}) if scale_out.enabled else lambda: self.store.offsets(group),
            checkpoint_interval=settings.state.checkpoint_interval,
        )
        self.driven = driven
        self.http: HttpServer | None = (
            None
            if driven
            else HttpServer(
                settings.http.host,
                settings.http.port,
                self.metrics,
                self.readiness,
                self.results,
                self.report_html,
                access=_web_access(settings.http),
                history=self.history_api,
            )
        )
        self.scheduler = BackgroundScheduler(
            timezone=UTC, job_defaults={"coalesce": True, "max_instances": 1}
        )
        self._stop = threading.Event()
        self._consumer_thread = threading.Thread(
            target=self.source.run, args=(self._stop,), name="driftwatch-kafka", daemon=True
        )
        self._started = False
        self._intervals: dict[str, float] = {}  # model -> seconds between its checks (the longest gap)
        self.ingest = Ingest(
            self.windows,
            self.joins,
            self.decoder,
            self.label_decoder,
            self.labels,
            self.store,
            self.metrics,
            clock,
            group,
            settings.kafka.labels_topic,
            dead_letters,
            versions,
            decode=settings.kafka.decode,
            scoped=self.scoped,
            vectors=VectorReader(
                {
                    name: [VectorField(e, spec.field, spec.dim) for e, spec in model.embeddings.items()]
                    for name, model in settings.models.items()
                    if model.embeddings
                }
            ),
        )
        if not settings.kafka.scale_out.enabled:  # scaled out, the owner restores from the changelog
            self.ingest.restore_windows()
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
            list if driven else lambda: source_notes(self.source),
            scoped=self.scoped,
            notify_version=lambda model, version, share, first: self.notifier.notify_version(  # noqa: PLW0108
                model, version, share, first
            ),
            history=self.history,
            # scaled out, the windows are fed from the internal topics: their positions are not the source's
            hold=None if self.scaled else self.source.holding,
        )
        self.owner: Owner | None = None
        self.forwarder: Forwarder | None = None
        self.history_feed: HistoryFeed | None = None
        if self.scaled:
            self.topics = InternalTopics.of(group)
            self.replica = replica_name(scale_out.replica)
            self.exchange = ExchangeProducer(settings.kafka, lazy=True)
            if self.history is not None:
                # the history travels with the models between replicas: the owner publishes it, every
                # replica applies all of it to its own file
                history_of = self.history
                topic, partitions = self.topics.history, scale_out.partitions
                exchange = self.exchange

                def publish(model: str, value: bytes, on_error: Callable[[BaseException], None]) -> None:
                    exchange.send(topic, partition_of(model, partitions), model.encode(), value, on_error)

                history_of.publish = publish
                self.history_feed = HistoryFeed(
                    settings.kafka,
                    self.topics,
                    lambda: history_of.store.positions(topic),
                    lambda messages, positions: history_of.apply_messages(topic, messages, positions),
                )
            self.forwarder = Forwarder(
                self.windows,
                self.topics,
                scale_out.partitions,
                self.exchange,
                self.metrics,
                scale_out.max_message_bytes,
            )
            self.ingest.forward = self.forwarder
            self.owner = Owner(
                settings,
                self.topics,
                self.replica,
                self.windows,
                {name: self._alert_checks(name) for name in settings.models},
                self.policy,
                self.store,
                self.dispatcher,
                self.latest,
                self.metrics,
                self.exchange,
                self.forwarder,
                clock,
                labels=self.labels,
                on_own=self._owned,
                on_disown=self._disowned,
            )
            self.ingest.owns = self.owner.owns
            self._owner_thread = threading.Thread(
                target=self._run_owner, name="driftwatch-owner", daemon=True
            )
        self.views = Views(
            self.checks,
            self.windows,
            self.latest,
            self.runner.frames,
            self.joins,
            self.metrics,
            None if self.owner is None else self.owner.owns,
            scope_info=lambda model: self.scoped[model].info() if model in self.scoped else None,
        )
        for target in settings.webhooks:  # so increase() sees a target's first failure
            self.metrics.webhook_outbox_pending.labels(target)
            for outcome in ("delivered", "retry", "failed"):
                self.metrics.webhook_deliveries.labels(target, outcome)
        for name in [] if self.scaled else settings.models:  # scaled out: only on the model's owner
            for check_name in self._alert_checks(name):
                self.metrics.alert_active.labels(name, check_name, "", "").set(
                    int(self.policy.firing(name, check_name))
                )
            self.metrics.window_rows.labels(name, "", "").set(self.windows[name].rows())
        for name, scoped in self.scoped.items():  # restored scopes: their alert states as stored
            for scope in scoped.scopes():
                version, segment = scope.labels()
                for check_name in [*scoped.alert_ids(scope), *scoped.rolling_ids(scope)]:
                    firing = self.policy.firing(name, check_name, scope=scope.key)
                    self.metrics.alert_active.labels(name, check_name, version, segment).set(int(firing))
            if scoped.baseline is not None:
                for check_name in scoped.rolling_ids(Scope(name)):
                    firing = self.policy.firing(name, check_name)
                    self.metrics.alert_active.labels(name, check_name, "", "").set(int(firing))
        for name in settings.models:
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
            self.ingest.export_label_state()
        self.metrics.kafka_up.set(0)

    @property
    def dead_letters(self) -> DeadLetters | None:
        """Where rejected records go (None without kafka.dead_letter_topic)."""
        return self.ingest.dead_letters

    @dead_letters.setter
    def dead_letters(self, value: DeadLetters | None) -> None:
        self.ingest.dead_letters = value

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
        if self.http is None:
            raise RuntimeError("a driven daemon does not start: its caller feeds it and runs its checks")
        triggers: dict[str, IntervalTrigger | CronTrigger] = {}
        for name, model in self.settings.models.items():
            triggers[name] = trigger_of(model.schedule)
            self._intervals[name] = _longest_gap(triggers[name], datetime.now(UTC))
        self.http.start()
        self.dispatcher.start()
        if self.scaled:
            self._owner_thread.start()  # it starts the consumer once the internal topics are there
        else:
            self._consumer_thread.start()
        for name, trigger in triggers.items():
            self.scheduler.add_job(self.run_check, trigger, args=[name], id=f"{name}:data_drift", name=name)
            if not self.scaled:  # scaled out: the owner's series (`_owned`)
                for check_name in self.checks[name].kinds:
                    self.metrics.check_interval.labels(name, check_name).set(self._intervals[name])
        if self.labels is not None:
            self.scheduler.add_job(
                self.expire_labels, IntervalTrigger(seconds=60, timezone=UTC), id="labels:expire"
            )
        if self.history is not None:
            self.history.prune()
            self.scheduler.add_job(
                self.history.prune,
                IntervalTrigger(seconds=HISTORY_PRUNE_INTERVAL, timezone=UTC),
                id="history:prune",
            )
        self.scheduler.start()
        self._started = True
        host, port = self.http.address
        log.info(
            "driftwatch %s watching %d model(s); metrics on %s://%s:%d/metrics",
            __version__,
            len(self.checks),
            self.http.scheme,
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
        if self.scaled:
            if self._owner_thread.is_alive():
                self._owner_thread.join(max(0.1, deadline - time.monotonic() - 2.0))
            assert self.owner is not None
            self.owner.feed.stop(timeout=1.0)
            if self.history is not None:
                self.history.stop_publishing()
            self.exchange.close(timeout=max(0.1, min(2.0, deadline - time.monotonic() - 3.0)))
        if self.dead_letters is not None:
            self.dead_letters.flush(timeout=max(0.1, min(2.0, deadline - time.monotonic() - 3.0)))
        self.dispatcher.stop(max(0.1, min(5.0, deadline - time.monotonic() - 0.5)))
        if self.http is not None:
            self.http.stop()
        self.store.close()
        if self.history_feed is not None:
            self.history_feed.stop(timeout=2.0)
        if self.history is not None:
            self.history.close()
        if self.labels is not None:
            self.labels.close()
        if self._labels_dir is not None:
            shutil.rmtree(self._labels_dir, ignore_errors=True)
        log.info("driftwatch stopped")

    # data path ---------------------------------------------------------------------------------

    def handle(self, messages: Sequence[Message]) -> None:
        """One polled batch: predictions go to the windows (and the label join), labels to the join."""
        self.ingest.handle(messages)

    def expire_labels(self) -> None:
        """Drop what the label join no longer needs (run every minute); export the join state."""
        self.ingest.expire_labels()

    def checkpoint(self, offsets: dict[tuple[str, int], int]) -> None:
        """Store every window's changes and the offsets they cover in one transaction."""
        self.ingest.checkpoint(offsets)

    def _take_checkpoint(self, offsets: dict[tuple[str, int], int]) -> Callable[[], None]:
        """The source's checkpoint: the windows' changes taken now, written on its writer thread."""
        return self.ingest.take_checkpoint(offsets)

    def run_check(self, model: str) -> CheckResult | None:
        """One scheduled check of ``model``: every check runs; metrics, alerts and webhooks follow.
        Scaled out, only the model's owner runs it (None elsewhere); the alert state and the webhook
        deliveries it causes are in the changelog before any is sent."""
        if self.owner is None:
            return self.runner.run(model)
        owner = self.owner
        with owner.holding(model) as held:
            if not owner.owns(model):
                return None
            result = self.runner.run(model)
            if held:
                try:
                    owner.checkpoint(owner.partition(model), held=held)
                except Exception:  # sent anyway: better twice (after a crash) than never
                    log.exception("model %s: the alert state could not be checkpointed before sending", model)
        for delivery in held:
            self.dispatcher.submit(delivery)
        return result

    def _submit(self, delivery: Delivery) -> None:
        if self.owner is not None and self.owner.hold(delivery):
            return
        self.dispatcher.submit(delivery)

    def _owned(self, model: str) -> None:
        """Scaled out, this replica took ``model`` over: its schedule's series are exported here now."""
        for check_name in self.checks[model].kinds:
            self.metrics.check_interval.labels(model, check_name).set(self._intervals.get(model, 0.0))

    def _disowned(self, model: str) -> None:
        """Another replica owns ``model`` now: its check series go from here (they come from the owner;
        a stale last-success time left here would look like a stuck check)."""
        for check_name in self.checks[model].kinds:
            for gauge in (self.metrics.check_interval, self.metrics.check_last_success):
                with contextlib.suppress(KeyError):
                    gauge.remove(model, check_name)
        self.runner.frames.pop(model, None)

    def _run_owner(self) -> None:
        """Scaled out: create the internal topics, then consume (stage 1) and own (stage 2)."""
        assert self.owner is not None
        settings = self.settings.kafka
        backoff = 0.5
        while not self._stop.is_set():
            try:
                ensure_topics(
                    settings,
                    self.topics,
                    settings.scale_out.partitions,
                    replication_factor=settings.scale_out.replication_factor,
                    history_retention=self.settings.history.retention if self.history is not None else None,
                )
                break
            except ExchangeError as exc:
                if "partitions" in str(exc):  # a configuration mistake: no retry fixes it
                    log.error("%s", exc)
                    self.fatal = str(exc)
                    return
                log.warning("%s; retrying", exc)
            except Exception as exc:
                log.warning("creating the internal topics: %s; retrying", exc)
            self._stop.wait(backoff)
            backoff = min(backoff * 2, 10.0)
        if self._stop.is_set():
            return
        self.owner.feed.start()
        if self.history_feed is not None:
            self.history_feed.start()
        self._consumer_thread.start()
        self.owner.run(self._stop)

    def _checkpoint_scaled(self, offsets: dict[tuple[str, int], int]) -> None:
        """Scaled out, a checkpoint of what was read is every partial acknowledged by the brokers."""
        assert self.forwarder is not None
        try:
            self.forwarder.flush()
        except TimeoutError:  # still queued (the brokers are away): the offsets wait, nothing is lost
            raise
        except Exception as exc:
            # records read since the last commit may not have reached their owners: stop, so that they
            # are read again from the committed offsets (by this replica restarted, or another one)
            self.fatal = f"the internal topics cannot be written ({exc}); stopping so no record is lost"
            raise

    def _alert_changed(self, model: str, check: str, before: State, after: State) -> None:
        entered = "resolved" if after == "ok" and before == "firing" else after
        if entered != "ok":
            self.metrics.alert_transitions.labels(model, check, entered, "", "").inc()
        self.metrics.alert_active.labels(model, check, "", "").set(int(after == "firing"))
        log.info("alert %s/%s: %s -> %s", model, check, before, after)

    def _scope_alert_changed(
        self, model: str, scope: str, check: str, before: State, after: ScopeState
    ) -> None:
        """A scope's alert state changed: its series carry the scope's version and segment labels."""
        version, segment = Scope.parse(model, scope).labels()
        entered = "resolved" if after == "ok" and before == "firing" else after
        if entered != "ok":
            self.metrics.alert_transitions.labels(model, check, entered, version, segment).inc()
        self.metrics.alert_active.labels(model, check, version, segment).set(int(after == "firing"))
        log.info("alert %s/%s [%s]: %s -> %s", model, check, scope, before, after)

    def _notify(self, event: AlertEvent, result: CheckResult) -> None:
        if event.reason == "retired":  # the summary names the top K the scope left
            segment = Scope.parse(event.model, event.scope).segment
            scoped = self.scoped.get(event.model)
            top_k = None
            if segment is not None and scoped is not None and segment.column in scoped.rules:
                top_k = scoped.rules[segment.column].top_k
            self.notifier.notify(event, result, top_k=top_k)
            return
        self.notifier.notify(event, result)

    # views -------------------------------------------------------------------------------------

    def report_html(self, model: str) -> str | None:
        """The HTML report of the model's latest check (see `Views.report_html`)."""
        return self.views.report_html(model)

    def history_api(self, model: str, params: dict[str, list[str]]) -> tuple[int, object]:
        """/api/models/<model>/history (see `api_history`)."""
        store = None if self.history is None else self.history.store
        return api_history(store, list(self.settings.models), model, params)

    def results(self) -> dict[str, dict[str, Any]]:
        """Every model's latest check result, as /api/models shows it."""
        return self.views.results()

    def readiness(self) -> list[str]:
        """Why the daemon is not ready (empty when it is), as /readyz shows it."""
        problems = readiness(self.source, self._stop.is_set())
        if self.owner is not None:
            problems += self.owner.problems()
        return problems


def trigger_of(schedule: ScheduleSettings, start: datetime | None = None) -> IntervalTrigger | CronTrigger:
    """The APScheduler trigger of a model's schedule (``every:`` or ``cron:``, in UTC); an interval counts
    from ``start`` (default: one interval from now, as APScheduler does)."""
    if schedule.every is not None:
        return IntervalTrigger(seconds=schedule.every, start_date=start, timezone=UTC)
    return CronTrigger.from_crontab(str(schedule.cron), timezone=UTC)


def fire_times(schedule: ScheduleSettings, start: datetime, end: datetime) -> list[datetime]:
    """The times a model's schedule fires from ``start`` to ``end`` (both included): the next fire times
    of its trigger, an interval counting from ``start``."""
    trigger = trigger_of(schedule, start)
    times: list[datetime] = []
    previous: datetime | None = None
    now = start
    while True:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None or fire > end:
            return times
        if previous is not None and fire <= previous:  # a cron trigger asked at its own fire time
            now = previous + timedelta(seconds=1)
            continue
        times.append(fire)
        previous = now = fire


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
            ColumnSpec(
                model.prediction,
                types.get(model.prediction, "numeric"),
                source="prediction",
                classes=class_order(model),
            )
        )
    specs += [ColumnSpec(name, "numeric", "embedding", dim=e.dim) for name, e in model.embeddings.items()]
    return specs


def _web_access(http: HttpSettings) -> WebAccess:
    """The web config file (checked by load_settings) read at start-up, with the access settings."""
    web = load_web_config(http.web_config_file) if http.web_config_file is not None else None
    return WebAccess(web=web, api=http.api, reports=http.reports, probes=http.probes)
