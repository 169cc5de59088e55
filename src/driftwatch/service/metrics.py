"""Every Prometheus metric driftwatch exports, defined in one place.

Names follow one rule: prefix ``driftwatch_``, base units, ``_total`` on
counters, ``_seconds`` on durations, labels from a small closed set (model,
model_version, feature, check, method, reason, target, outcome, status). Never a
prediction id or a raw value in a label. Each daemon owns a `Metrics` with its
own registry, so several can live in one process (tests) without clashing.

`Metrics` holds the metrics that are set or counted as things happen (records,
rejections, deliveries, alert states, last successes). The gauges of the latest
check results are `RESULT_METRICS`: the daemon registers a
`driftwatch.service.collector.ResultsCollector` that builds them at scrape time.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from driftwatch import __version__

__all__ = ["RESULT_METRICS", "Metrics", "ResultMetric"]


@dataclass(frozen=True)
class ResultMetric:
    """A gauge made from the latest check results at scrape time: its name, help and label names."""

    name: str
    documentation: str
    labels: tuple[str, ...]


_CHECK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.build_info = Info("driftwatch_build", "driftwatch build information.", registry=r)
        self.build_info.info({"version": __version__})

        # source
        self.records_consumed = Counter(
            "driftwatch_records_consumed_total",
            "Prediction records decoded, validated and added to a model's window.",
            ["model"],
            registry=r,
        )
        self.records_rejected = Counter(
            "driftwatch_records_rejected_total",
            "Records rejected at decoding or validation, by reason.",
            ["reason"],
            registry=r,
        )
        self.records_outside_window = Counter(
            "driftwatch_records_outside_window_total",
            "Valid records whose event time was already older than the model's window.",
            ["model"],
            registry=r,
        )
        self.kafka_up = Gauge(
            "driftwatch_kafka_up",
            "1 when the broker answered the last poll (also when a fetched batch could not be decoded: see "
            "driftwatch_kafka_undecodable_batches_total; or answered with a consumer error such as not "
            "authorized, named on /readyz), else 0.",
            registry=r,
        )
        self.consumer_lag = Gauge(
            "driftwatch_consumer_lag_records",
            "Records in the partition not yet consumed: the high watermark of the latest fetch minus the "
            "consumer's position.",
            ["topic", "partition"],
            registry=r,
        )
        self.undecodable_batches = Counter(
            "driftwatch_kafka_undecodable_batches_total",
            "Fetched record batches the consumer could not decode, by reason (unsupported_codec: the "
            "codec's library is missing; corrupt: CRC or structure; decode_error: decompression failed). "
            "The partition stalls behind such a batch; it is retried every few seconds, each failed "
            "retry counts.",
            ["reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "driftwatch_dead_letters_total",
            "Rejected records written to the dead-letter topic, by outcome (produced, failed, skipped "
            "while the topic is unavailable).",
            ["outcome"],
            registry=r,
        )
        self.offsets_committed = Counter(
            "driftwatch_offset_commits_total", "Kafka offset commits, by outcome.", ["outcome"], registry=r
        )

        # windows
        self.window_rows = Gauge(
            "driftwatch_window_rows",
            "Rows currently sampled in a model's window (model_version and segment: a scope's window; "
            "empty: the whole model's).",
            ["model", "model_version", "segment"],
            registry=r,
        )

        # scale-out (kafka.scale_out): who owns which model, what the exchange costs
        self.model_owner = Gauge(
            "driftwatch_model_owner",
            "1 on the replica that owns the model (keeps its window, runs its checks, sends its webhooks).",
            ["model", "replica"],
            registry=r,
        )
        self.exchange_messages = Counter(
            "driftwatch_exchange_messages_total",
            "Messages this replica produced to the internal topics, by topic kind (samples, state, thresholds).",
            ["kind"],
            registry=r,
        )
        self.exchange_bytes = Counter(
            "driftwatch_exchange_bytes_total",
            "Bytes this replica produced to the internal topics, by topic kind.",
            ["kind"],
            registry=r,
        )
        self.ownership_restores = Counter(
            "driftwatch_ownership_restores_total",
            "Internal partitions this replica took over and restored from the changelog, by outcome.",
            ["outcome"],
            registry=r,
        )

        # checks
        self.feature_missing_share_reference = Gauge(
            "driftwatch_feature_missing_share_reference",
            "Share of missing, NaN or infinite values of a feature in the reference.",
            ["model", "feature"],
            registry=r,
        )
        self.feature_quality_limit = Gauge(
            "driftwatch_feature_quality_limit",
            "A feature's configured data-quality limit (quality: in the configuration), per measure "
            "(missing_share, unseen_share, out_of_range_share, missing_share_increase).",
            ["model", "feature", "measure"],
            registry=r,
        )
        self.feature_type_violations = Counter(
            "driftwatch_feature_type_violations_total",
            "Feature values of the wrong kind (e.g. text for a numeric feature), counted as missing.",
            ["model", "feature"],
            registry=r,
        )
        self.check_duration = Histogram(
            "driftwatch_check_duration_seconds",
            "Wall time of one scheduled check.",
            ["model", "check"],
            buckets=_CHECK_BUCKETS,
            registry=r,
        )
        self.check_last_success = Gauge(
            "driftwatch_check_last_success_timestamp_seconds",
            "Unix time of the last check that completed.",
            ["model", "check"],
            registry=r,
        )
        self.check_interval = Gauge(
            "driftwatch_check_interval_seconds",
            "Configured time between two runs of the check (for a cron schedule, the longest gap "
            "between its next runs); alert rules compare staleness with it.",
            ["model", "check"],
            registry=r,
        )
        self.check_runs = Counter(
            "driftwatch_check_runs_total",
            "Scheduled checks run, by outcome.",
            ["model", "check", "outcome"],
            registry=r,
        )

        # performance (labels joined from the labels topic or inline; CBPE estimates without them)
        self.performance_reference = Gauge(
            "driftwatch_performance_reference",
            "The same metric on the labelled reference data.",
            ["model", "metric"],
            registry=r,
        )
        self.labels_joined = Counter(
            "driftwatch_labels_joined_total",
            "Labels paired with their prediction (from the labels topic or inline in the record).",
            ["model"],
            registry=r,
        )
        self.labels_rejected = Counter(
            "driftwatch_labels_rejected_total",
            "Labels not joined, by reason (expired, unknown_id, duplicate, not_sampled, no_label, or a "
            "decoding reason such as undecodable or missing_field).",
            ["reason"],
            registry=r,
        )
        self.labels_pending = Gauge(
            "driftwatch_labels_pending_predictions",
            "Predictions kept for the join, still waiting for their label.",
            ["model"],
            registry=r,
        )
        self.labels_sample_rate = Gauge(
            "driftwatch_labels_sample_rate",
            "Share of prediction ids the label join keeps (1 until the model exceeds labels.max_rows).",
            ["model"],
            registry=r,
        )

        # alerts
        self.alert_active = Gauge(
            "driftwatch_alert_active",
            "1 while the alert of a model's check is firing, else 0 (model_version and segment: the "
            "alert of a scope; empty: the whole model's).",
            ["model", "check", "model_version", "segment"],
            registry=r,
        )
        self.alert_transitions = Counter(
            "driftwatch_alert_transitions_total",
            "Alert state changes, by the state entered (pending, firing, resolved, retired).",
            ["model", "check", "state", "model_version", "segment"],
            registry=r,
        )

        # webhooks
        self.webhook_delivery_seconds = Histogram(
            "driftwatch_webhook_delivery_seconds",
            "Wall time of one webhook delivery attempt.",
            ["target"],
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
            registry=r,
        )
        self.webhook_outbox_pending = Gauge(
            "driftwatch_webhook_outbox_pending",
            "Webhook deliveries waiting for a (next) attempt.",
            ["target"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "driftwatch_webhook_deliveries_total",
            "Webhook delivery attempts by target and outcome (delivered, retry, failed).",
            ["target", "outcome"],
            registry=r,
        )

    # what the Kafka source reports (driftwatch.source.observer.SourceObserver)

    def set_kafka_up(self, up: bool) -> None:
        self.kafka_up.set(int(up))

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        self.consumer_lag.labels(topic, str(partition)).set(lag)

    def drop_consumer_lag(self, topic: str, partition: int) -> None:
        self.consumer_lag.remove(topic, str(partition))

    def count_undecodable_batches(self, reason: str, count: int = 1) -> None:
        self.undecodable_batches.labels(reason).inc(count)

    def count_offset_commit(self, outcome: str) -> None:
        self.offsets_committed.labels(outcome).inc()

    def count_dead_letters(self, outcome: str, count: int = 1) -> None:
        self.dead_letters.labels(outcome).inc(count)


# Gauges of the latest check results: exported at scrape time by `driftwatch.service.collector` from the
# latest results, so a series the latest check has no value for is simply not there.

FEATURE_DRIFT_SCORE = ResultMetric(
    "driftwatch_feature_drift_score",
    "Drift score of a feature in the latest check (p-value or distance, see method).",
    ("model", "feature", "method"),
)
FEATURE_DRIFT_THRESHOLD = ResultMetric(
    "driftwatch_feature_drift_threshold",
    "Threshold the feature's drift score is compared with.",
    ("model", "feature", "method"),
)
FEATURE_DRIFT_DETECTED = ResultMetric(
    "driftwatch_feature_drift_detected",
    "1 when the latest check found drift in the feature, else 0.",
    ("model", "feature"),
)
DATASET_DRIFT_SHARE = ResultMetric(
    "driftwatch_dataset_drift_share",
    "Share of a model's features that drifted in the latest check.",
    ("model",),
)
DATASET_DRIFT_DETECTED = ResultMetric(
    "driftwatch_dataset_drift_detected",
    "1 when the drifted share reached the model's threshold in the latest check, else 0.",
    ("model",),
)
FEATURE_MISSING_SHARE = ResultMetric(
    "driftwatch_feature_missing_share",
    "Share of missing, NaN or infinite values of a feature in the latest check's window.",
    ("model", "feature"),
)
FEATURE_UNSEEN_SHARE = ResultMetric(
    "driftwatch_feature_unseen_category_share",
    "Share of a categorical feature's values never seen in the reference (latest check).",
    ("model", "feature"),
)
FEATURE_OUT_OF_RANGE_SHARE = ResultMetric(
    "driftwatch_feature_out_of_range_share",
    "Share of a numeric feature's values outside the reference min..max (latest check).",
    ("model", "feature"),
)
FEATURE_QUALITY_BREACH = ResultMetric(
    "driftwatch_feature_quality_breach",
    "1 when the feature's measure exceeded its data-quality limit in the latest check, else 0.",
    ("model", "feature", "measure"),
)
PREDICTION_DRIFT_SCORE = ResultMetric(
    "driftwatch_prediction_drift_score",
    "Drift score of the model's prediction column in the latest check.",
    ("model", "method"),
)
PREDICTION_DRIFT_DETECTED = ResultMetric(
    "driftwatch_prediction_drift_detected",
    "1 when the latest check found drift in the model's predictions, else 0.",
    ("model",),
)
CHECK_STATUS = ResultMetric(
    "driftwatch_check_status",
    "1 for the status of the model's latest check, 0 for the others: ok (a verdict), no_data "
    "(empty window: no drift series while so), not_enough_rows (fewer rows than window.min_rows).",
    ("model", "check", "status"),
)
PERFORMANCE = ResultMetric(
    "driftwatch_performance",
    "Realized performance of the model over the labelled predictions of the latest check's window.",
    ("model", "metric"),
)
ESTIMATED_PERFORMANCE = ResultMetric(
    "driftwatch_estimated_performance",
    "Performance estimated without labels (CBPE) over the latest check's window.",
    ("model", "metric"),
)
ESTIMATED_PERFORMANCE_LOWER = ResultMetric(
    "driftwatch_estimated_performance_lower",
    "Lower edge of the estimate's sampling-error band (3 standard deviations).",
    ("model", "metric"),
)
ESTIMATED_PERFORMANCE_UPPER = ResultMetric(
    "driftwatch_estimated_performance_upper",
    "Upper edge of the estimate's sampling-error band (3 standard deviations).",
    ("model", "metric"),
)
WINDOW_LABELLED_ROWS = ResultMetric(
    "driftwatch_window_labelled_rows",
    "Labelled predictions whose prediction time is in the latest check's window.",
    ("model",),
)
RESULT_METRICS: tuple[ResultMetric, ...] = (
    FEATURE_DRIFT_SCORE,
    FEATURE_DRIFT_THRESHOLD,
    FEATURE_DRIFT_DETECTED,
    DATASET_DRIFT_SHARE,
    DATASET_DRIFT_DETECTED,
    FEATURE_MISSING_SHARE,
    FEATURE_UNSEEN_SHARE,
    FEATURE_OUT_OF_RANGE_SHARE,
    FEATURE_QUALITY_BREACH,
    PREDICTION_DRIFT_SCORE,
    PREDICTION_DRIFT_DETECTED,
    CHECK_STATUS,
    PERFORMANCE,
    ESTIMATED_PERFORMANCE,
    ESTIMATED_PERFORMANCE_LOWER,
    ESTIMATED_PERFORMANCE_UPPER,
    WINDOW_LABELLED_ROWS,
)
