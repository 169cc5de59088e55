"""Every Prometheus metric driftwatch exports, defined in one place.

Names follow one rule: prefix ``driftwatch_``, base units, ``_total`` on
counters, ``_seconds`` on durations, labels from a small closed set (model,
model_version, segment, baseline, feature, check, method, reason, target,
outcome, status, column, change, role). Never a prediction id or a raw value in
a label: a segment label is one of a bounded set of scopes (a segment column's
top K values, ``other`` and the retiring ones), see `series_budget`. Each daemon
owns a `Metrics` with its own registry, so several can live in one process
(tests) without clashing.

Scopes: the series of a segment or version scope carry its label values
``model_version`` and ``segment`` (`driftwatch.scope.Scope.labels`), and the drift
series ``baseline`` ("rolling" for the comparison with the model's own trailing
period); the whole model's and the training reference's are empty, which
Prometheus stores as an absent label, so a model without scopes exports the
series it always did.

`Metrics` holds the metrics that are set or counted as things happen (records,
rejections, deliveries, alert states, last successes). The gauges of the latest
check results are `RESULT_METRICS`: the daemon registers a
`driftwatch.service.collector.ResultsCollector` that builds them at scrape time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from driftwatch import __version__

if TYPE_CHECKING:
    from driftwatch.config import ModelSettings
    from driftwatch.scope import Scope

__all__ = [
    "BUDGET_FAMILIES",
    "RESULT_METRICS",
    "SCOPE_LABELS",
    "Metrics",
    "ResultMetric",
    "baseline_series",
    "row_budget",
    "row_budget_of",
    "scope_labels",
    "scope_series",
    "segment_scopes",
    "series_budget",
    "series_budget_of",
]


@dataclass(frozen=True)
class ResultMetric:
    """A gauge made from the latest check results at scrape time: its name, help and label names."""

    name: str
    documentation: str
    labels: tuple[str, ...]


SCOPE_LABELS: tuple[str, ...] = ("model", "model_version", "segment")
"""The labels of a scope's series: its model and label values (`driftwatch.scope.Scope.labels`), both
empty for the whole model (Prometheus stores an empty label as absent)."""


def scope_labels(scope: Scope) -> dict[str, str]:
    """The scope labels of ``scope``'s series as keywords: ``family.labels(model=m, check=c,
    **scope_labels(scope))``; empty values for the whole model."""
    version, segment = scope.labels()
    return {"model_version": version, "segment": segment}


def _label_sets(family: Gauge | Counter, names: tuple[str, ...]) -> list[tuple[str, ...]]:
    """The label values (in the order of ``names``) of every series ``family`` has now."""
    found: dict[tuple[str, ...], None] = {}
    for metric in family.collect():
        for sample in metric.samples:
            if all(name in sample.labels for name in names):
                found[tuple(sample.labels[name] for name in names)] = None
    return list(found)


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

        # scopes (segments, model versions, rolling baselines): set by the daemon from its scoped windows,
        # its segment directory and its champion/challenger comparison; see `forget_scope`
        self.baseline_rows = Gauge(
            "driftwatch_baseline_rows",
            "Rows in the rolling baseline of a scope (baseline: in the configuration): a bounded sample of "
            "the scope's own stream over [now - lag - rolling, now - lag).",
            list(SCOPE_LABELS),
            registry=r,
        )
        self.baseline_coverage = Gauge(
            "driftwatch_baseline_coverage_ratio",
            "Share of the rolling period the scope's baseline sample covers (from its first fed bucket); "
            "below baseline.min_coverage the rolling comparison has no verdict.",
            list(SCOPE_LABELS),
            registry=r,
        )
        self.segment_share = Gauge(
            "driftwatch_segment_share",
            "Estimated share of the model's traffic in a segment scope (segment=column=value, or "
            "column:other for the values without a scope of their own), from the model window's sample.",
            list(SCOPE_LABELS),
            registry=r,
        )
        self.segment_changes = Counter(
            "driftwatch_segment_changes_total",
            "Segment scopes that entered or left a segment column's top K, by change (promoted, demoted, "
            "retired: left while its alert was firing).",
            ["model", "column", "change"],
            registry=r,
        )
        self.segment_values = Gauge(
            "driftwatch_segment_values",
            "Distinct values of a segment column in the model's window (a number, never labels: only the "
            "top K values have series of their own).",
            ["model", "column"],
            registry=r,
        )
        self.model_version_info = Gauge(
            "driftwatch_model_version_info",
            "1 for each live model version with a scope of its own; role: champion or challenger when the "
            "configuration names it so (versions.champion_challenger), else empty.",
            ["model", "model_version", "role"],
            registry=r,
        )
        self.challenger_difference = Gauge(
            "driftwatch_challenger_difference",
            "Realized metric of the challenger version (model_version) minus the champion's, over the same "
            "period of labelled traffic.",
            ["model", "model_version", "metric"],
            registry=r,
        )
        self.challenger_difference_lower = Gauge(
            "driftwatch_challenger_difference_lower",
            "Lower bound of the challenger's difference's confidence interval (versions.champion_challenger."
            "confidence; Newcombe's interval for accuracy, a seeded bootstrap for the other metrics).",
            ["model", "model_version", "metric"],
            registry=r,
        )
        self.challenger_difference_upper = Gauge(
            "driftwatch_challenger_difference_upper",
            "Upper bound of the challenger's difference's confidence interval.",
            ["model", "model_version", "metric"],
            registry=r,
        )
        self.challenger_prediction_drift = Gauge(
            "driftwatch_challenger_prediction_drift_score",
            "Drift score of the challenger version's predictions against the champion's (p-value or "
            "distance, see method).",
            ["model", "model_version", "method"],
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

        # check history (history: in the config)
        self.history_checks = Gauge(
            "driftwatch_history_checks",
            "Check rows stored in the history file (every model's, scopes included).",
            registry=r,
        )
        self.history_size = Gauge(
            "driftwatch_history_size_bytes",
            "Bytes of the history file in use, as of its last prune (hourly).",
            registry=r,
        )
        self.history_write_errors = Counter(
            "driftwatch_history_write_errors_total",
            "Writes to the history file that failed (a check row, an alert transition, a delivery, a "
            "prune; scaled out, one not sent to the history topic); the check and its alerts went on "
            "without them.",
            registry=r,
        )

    def forget_scope(self, model: str, model_version: str, segment: str) -> None:
        """Remove every pushed series of one scope of ``model`` (its label values ``model_version`` and
        ``segment``): the scope left, or its model is no longer this replica's. A version scope
        (``segment`` empty) also takes its version's info and champion/challenger series with it. The
        result gauges need no removal: they follow `LatestResults` (``remove_scope``)."""
        if not (model_version or segment):
            raise ValueError("forget_scope: the whole model is not a scope; name a version or a segment")
        scope = {"model": model, "model_version": model_version, "segment": segment}
        families: list[tuple[Gauge | Counter, tuple[str, ...], dict[str, str]]] = [
            (self.window_rows, ("model", "model_version", "segment"), scope),
            (self.alert_active, ("model", "check", "model_version", "segment"), scope),
            (self.alert_transitions, ("model", "check", "state", "model_version", "segment"), scope),
            (self.baseline_rows, SCOPE_LABELS, scope),
            (self.baseline_coverage, SCOPE_LABELS, scope),
            (self.segment_share, SCOPE_LABELS, scope),
        ]
        if not segment:
            version = {"model": model, "model_version": model_version}
            families += [
                (self.model_version_info, ("model", "model_version", "role"), version),
                (self.challenger_difference, ("model", "model_version", "metric"), version),
                (self.challenger_difference_lower, ("model", "model_version", "metric"), version),
                (self.challenger_difference_upper, ("model", "model_version", "metric"), version),
                (self.challenger_prediction_drift, ("model", "model_version", "method"), version),
            ]
        for family, names, match in families:
            for values in _label_sets(family, names):
                labels = dict(zip(names, values, strict=True))
                if all(labels[k] == v for k, v in match.items()):
                    family.remove(*values)

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
    "Drift score of a feature in the latest check (p-value or distance, see method); baseline: empty "
    "against the training reference, rolling against the scope's own trailing period.",
    ("model", "feature", "method", "model_version", "segment", "baseline"),
)
FEATURE_DRIFT_THRESHOLD = ResultMetric(
    "driftwatch_feature_drift_threshold",
    "Threshold the feature's drift score is compared with.",
    ("model", "feature", "method", "model_version", "segment", "baseline"),
)
FEATURE_DRIFT_DETECTED = ResultMetric(
    "driftwatch_feature_drift_detected",
    "1 when the latest check found drift in the feature, else 0.",
    ("model", "feature", "model_version", "segment", "baseline"),
)
DATASET_DRIFT_SHARE = ResultMetric(
    "driftwatch_dataset_drift_share",
    "Share of a model's features that drifted in the latest check.",
    ("model", "model_version", "segment", "baseline"),
)
DATASET_DRIFT_DETECTED = ResultMetric(
    "driftwatch_dataset_drift_detected",
    "1 when the drifted share reached the model's threshold in the latest check, else 0.",
    ("model", "model_version", "segment", "baseline"),
)
FEATURE_MISSING_SHARE = ResultMetric(
    "driftwatch_feature_missing_share",
    "Share of missing, NaN or infinite values of a feature in the latest check's window.",
    ("model", "feature", "model_version", "segment"),
)
FEATURE_UNSEEN_SHARE = ResultMetric(
    "driftwatch_feature_unseen_category_share",
    "Share of a categorical feature's values never seen in the reference (latest check).",
    ("model", "feature", "model_version", "segment"),
)
FEATURE_OUT_OF_RANGE_SHARE = ResultMetric(
    "driftwatch_feature_out_of_range_share",
    "Share of a numeric feature's values outside the reference min..max (latest check).",
    ("model", "feature", "model_version", "segment"),
)
FEATURE_QUALITY_BREACH = ResultMetric(
    "driftwatch_feature_quality_breach",
    "1 when the feature's measure exceeded its data-quality limit in the latest check, else 0.",
    ("model", "feature", "measure", "model_version", "segment"),
)
PREDICTION_DRIFT_SCORE = ResultMetric(
    "driftwatch_prediction_drift_score",
    "Drift score of the model's prediction column in the latest check.",
    ("model", "method", "model_version", "segment", "baseline"),
)
PREDICTION_DRIFT_DETECTED = ResultMetric(
    "driftwatch_prediction_drift_detected",
    "1 when the latest check found drift in the model's predictions, else 0.",
    ("model", "model_version", "segment", "baseline"),
)
CHECK_STATUS = ResultMetric(
    "driftwatch_check_status",
    "1 for the status of the model's latest check, 0 for the others: ok (a verdict), no_data "
    "(empty window: no drift series while so), not_enough_rows (fewer rows than window.min_rows).",
    ("model", "check", "status", "model_version", "segment"),
)
PERFORMANCE = ResultMetric(
    "driftwatch_performance",
    "Realized performance of the model over the labelled predictions of the latest check's window.",
    ("model", "metric", "model_version", "segment"),
)
ESTIMATED_PERFORMANCE = ResultMetric(
    "driftwatch_estimated_performance",
    "Performance estimated without labels (CBPE) over the latest check's window.",
    ("model", "metric", "model_version", "segment"),
)
ESTIMATED_PERFORMANCE_LOWER = ResultMetric(
    "driftwatch_estimated_performance_lower",
    "Lower edge of the estimate's sampling-error band (3 standard deviations).",
    ("model", "metric", "model_version", "segment"),
)
ESTIMATED_PERFORMANCE_UPPER = ResultMetric(
    "driftwatch_estimated_performance_upper",
    "Upper edge of the estimate's sampling-error band (3 standard deviations).",
    ("model", "metric", "model_version", "segment"),
)
MULTIVARIATE_DRIFT_VALUE = ResultMetric(
    "driftwatch_multivariate_drift_value",
    "The multivariate drift method's value over the latest check's window (reconstruction_error: the mean "
    "PCA reconstruction error of its rows; domain_classifier_auroc: the cross-validated AUROC of a "
    "classifier telling its rows from the reference's).",
    ("model", "method", "model_version", "segment"),
)
MULTIVARIATE_DRIFT_LOWER = ResultMetric(
    "driftwatch_multivariate_drift_lower_threshold",
    "The method's lower threshold for the latest check's window rows (no series: no lower threshold).",
    ("model", "method", "model_version", "segment"),
)
MULTIVARIATE_DRIFT_UPPER = ResultMetric(
    "driftwatch_multivariate_drift_upper_threshold",
    "The method's upper threshold for the latest check's window rows.",
    ("model", "method", "model_version", "segment"),
)
MULTIVARIATE_DRIFT_DETECTED = ResultMetric(
    "driftwatch_multivariate_drift_detected",
    "1 when the method's value in the latest check was outside its thresholds, else 0.",
    ("model", "method", "model_version", "segment"),
)
ESTIMATED_PERFORMANCE_ERROR = ResultMetric(
    "driftwatch_estimated_performance_error",
    "Estimate minus realized performance on the labelled predictions of the latest check's look-back: "
    "the estimator scored on the rows driftwatch_performance grades (no series without labels).",
    ("model", "metric", "model_version", "segment"),
)
ESTIMATED_PERFORMANCE_COVERED = ResultMetric(
    "driftwatch_estimated_performance_covered",
    "1 when the realized performance of the labelled predictions fell inside the band of the estimate "
    "made on them, else 0.",
    ("model", "metric", "model_version", "segment"),
)
WINDOW_LABELLED_ROWS = ResultMetric(
    "driftwatch_window_labelled_rows",
    "Labelled predictions whose prediction time is in the latest check's window.",
    ("model", "model_version", "segment"),
)
EMBEDDING_DRIFT_SCORE = ResultMetric(
    "driftwatch_embedding_drift_score",
    "Drift score of one of the model's embeddings in the latest check (method model: the ROC AUC of a "
    "classifier telling reference from window vectors).",
    ("model", "embedding", "method", "model_version", "segment"),
)
EMBEDDING_DRIFT_THRESHOLD = ResultMetric(
    "driftwatch_embedding_drift_threshold",
    "Threshold the embedding's drift score is compared with (with bootstrap: the null quantile).",
    ("model", "embedding", "method", "model_version", "segment"),
)
EMBEDDING_DRIFT_DETECTED = ResultMetric(
    "driftwatch_embedding_drift_detected",
    "1 when the latest check found drift in the embedding's vectors, else 0.",
    ("model", "embedding", "model_version", "segment"),
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
    ESTIMATED_PERFORMANCE_ERROR,
    ESTIMATED_PERFORMANCE_COVERED,
    WINDOW_LABELLED_ROWS,
    MULTIVARIATE_DRIFT_VALUE,
    MULTIVARIATE_DRIFT_LOWER,
    MULTIVARIATE_DRIFT_UPPER,
    MULTIVARIATE_DRIFT_DETECTED,
    EMBEDDING_DRIFT_SCORE,
    EMBEDDING_DRIFT_THRESHOLD,
    EMBEDDING_DRIFT_DETECTED,
)


# How many series a scoped model can have, and how many window rows it can hold (design of issue 16,
# 3.1 and 3.2): `driftwatch validate-config` prints both, the README's table and the integration test
# with 10,000 distinct segment values use them. Neither grows with the number of distinct values a
# segment column has: only the directory's members (top K, `other` and at most ceil(K / 4) retiring
# values per column) have windows and series.

TRANSITION_STATES = 4
"""States `driftwatch_alert_transitions_total` counts per alert: pending, firing, resolved, retired."""

# a scoped model has no embeddings (the config refuses both): their families have no series per scope
_UNSCOPED: frozenset[ResultMetric] = frozenset(
    {EMBEDDING_DRIFT_SCORE, EMBEDDING_DRIFT_THRESHOLD, EMBEDDING_DRIFT_DETECTED}
)
BUDGET_FAMILIES: tuple[str, ...] = (
    *(spec.name for spec in RESULT_METRICS if spec not in _UNSCOPED),
    "driftwatch_window_rows",
    "driftwatch_alert_active",
    "driftwatch_alert_transitions_total",
    "driftwatch_baseline_rows",
    "driftwatch_baseline_coverage_ratio",
    "driftwatch_segment_share",
    "driftwatch_segment_changes_total",
    "driftwatch_segment_values",
    "driftwatch_model_version_info",
    "driftwatch_challenger_difference",
    "driftwatch_challenger_difference_lower",
    "driftwatch_challenger_difference_upper",
    "driftwatch_challenger_prediction_drift_score",
)
"""The families `series_budget` counts: those with a series per scope (a counter's ``_created`` sample
is not counted). The per-model families of an unscoped model (ingest counters, check durations, label
join gauges) are not: scopes leave them as they are."""


def scope_series(
    *,
    features: int,
    prediction: bool,
    alert_ids: int,
    realized: int = 0,
    estimated: int = 0,
    quality_limits: int = 0,
    per_feature: bool = True,
    multivariate: int = 0,
) -> int:
    """The series of one scope's training-reference result and its pushed gauges.

    Summary set: window rows, dataset drift share and detected, prediction drift score and detected
    (``prediction``), check status (3), alert active and transitions per alert id, realized metrics
    and labelled rows, estimated metrics with their band, and their error and coverage once labelled,
    multivariate drift value, thresholds and detected per method (``multivariate``; its alert ids are
    counted here, not in ``alert_ids``: every scope has them). Per-feature set (``per_feature``): drift
    score, threshold and detected, missing share, unseen or out-of-range share (one of the two, by the
    feature's type), and the quality-breach gauge per configured limit (``quality_limits``)."""
    p = int(prediction)
    summary = (
        1
        + 2
        + 2 * p
        + 3
        + alert_ids * (1 + TRANSITION_STATES)
        + realized
        + (1 if realized else 0)
        + 5 * estimated
        + (4 + 1 + TRANSITION_STATES) * multivariate
    )
    return summary + (5 * features + quality_limits if per_feature else 0)


def baseline_series(*, features: int, prediction: bool) -> int:
    """The series of one rolling-baseline comparison: per-feature drift score, threshold and detected,
    dataset drift share and detected, prediction drift score and detected, check status (3), the alert
    active and transitions of ``data_drift@rolling`` (and ``prediction_drift@rolling``), baseline rows
    and coverage."""
    p = int(prediction)
    return 3 * features + 2 + 2 * p + 3 + (1 + p) * (1 + TRANSITION_STATES) + 2


def segment_scopes(top_k: Sequence[int]) -> int:
    """Segment scopes at most: per column its ``top_k`` members, ``other`` and ceil(top_k / 4) retiring."""
    return sum(k + 1 + math.ceil(k / 4) for k in top_k)


def series_budget(
    *,
    features: int,
    prediction: bool,
    alert_ids: int,
    realized: int = 0,
    estimated: int = 0,
    quality_limits: int = 0,
    versions: int = 0,
    segment_top_k: Sequence[int] = (),
    feature_series_all: bool = False,
    baseline_scopes: int = 0,
    challenger_metrics: int = 0,
    challenger_alerts: int = 0,
    multivariate: int = 0,
) -> int:
    """At most this many series of `BUDGET_FAMILIES` for one model (design 3.2)::

        (1 + V) x scope            whole model and live versions, per-feature families included
        + sum_c (K_c + 1 + D_c) x (scope [per-feature only with feature_series: all] + 1 share)
        + 4 x columns              segment changes (3) and distinct values per column
        + |baseline scopes| x baseline
        + 3 x M_cc + 1 + (1 + 4) x challenger alerts   champion/challenger difference, bounds, drift
        + V                        driftwatch_model_version_info

    ``alert_ids``: the alert ids of a scope against the training reference (data_drift,
    prediction_drift, data_quality, performance:*, estimated_performance:*); ``realized`` and
    ``estimated``: the metrics realized and CBPE-estimated; ``segment_top_k``: ``top_k`` per segment
    column; ``challenger_alerts``: the ``challenger:*`` alert ids. An unscoped model is the first line
    with V = 0."""

    def scope(per_feature: bool) -> int:
        return scope_series(
            features=features,
            prediction=prediction,
            alert_ids=alert_ids,
            realized=realized,
            estimated=estimated,
            quality_limits=quality_limits,
            per_feature=per_feature,
            multivariate=multivariate,
        )

    total = (1 + versions) * scope(True)
    total += segment_scopes(segment_top_k) * (scope(feature_series_all) + 1)
    total += 4 * len(segment_top_k)
    total += baseline_scopes * baseline_series(features=features, prediction=prediction)
    if challenger_metrics or challenger_alerts:
        total += 3 * challenger_metrics + 1 + challenger_alerts * (1 + TRANSITION_STATES)
    return total + versions


def row_budget(
    *,
    window_max_rows: int,
    versions: int = 0,
    version_max_rows: int = 0,
    segments: Sequence[tuple[int, int]] = (),
    baseline_scopes: int = 0,
    baseline_max_rows: int = 0,
) -> int:
    """At most this many rows in one model's windows (design 3.1)::

        1.1 x [W + V x W_v + sum_c (K_c + 1 + D_c) x S_c + |baseline scopes| x B]

    ``segments``: (top_k, max_rows) per segment column; 1.1: a window trims its bottom-k sample back to
    ``max_rows`` once it holds 10% more."""
    rows = window_max_rows + versions * version_max_rows
    rows += sum(segment_scopes([k]) * s for k, s in segments)
    rows += baseline_scopes * baseline_max_rows
    return -(-11 * rows // 10)  # 1.1 x rows, rounded up in integers (1.1 * 50,000 is 55,000.000000000007)


def _baseline_scopes(model: ModelSettings) -> int:
    baseline = model.baseline
    if baseline is None:
        return 0
    count = {
        "model": 1,
        "versions": 0 if model.versions is None else model.versions.max_live,
        "segments": 0
        if model.segments is None
        else segment_scopes([c.top_k or model.segments.top_k for c in model.segments.columns]),
    }
    return sum(count[scope] for scope in dict.fromkeys(baseline.scopes))


def series_budget_of(model: ModelSettings) -> int:
    """`series_budget` of a configured model."""
    from driftwatch.performance.cbpe import ESTIMATED_METRICS
    from driftwatch.performance.dle import DAEMON_METRICS
    from driftwatch.performance.metrics import METRICS

    prediction = model.prediction is not None
    limits = model.quality_limits()
    quality = sum(len(measures) for measures in limits.values())
    alert_ids = 1 + int(prediction) + int(bool(limits))
    realized = estimated = 0
    performance = model.performance
    if performance is not None:
        realized = len(METRICS[performance.task])
        dle = performance.task == "regression" and performance.estimate is True
        if dle or (performance.task == "binary_classification" and performance.estimate is not False):
            estimable = DAEMON_METRICS if dle else ESTIMATED_METRICS
            estimated = len(estimable)
            rules = performance.estimate_thresholds
            if rules is None:
                rules = {m: t for m, t in performance.thresholds.items() if m in estimable}
            alert_ids += len(rules)
        alert_ids += len(performance.thresholds)
    segments = model.segments
    versions = model.versions
    contest = None if versions is None else versions.champion_challenger
    return series_budget(
        features=len(model.features),
        prediction=prediction,
        alert_ids=alert_ids,
        realized=realized,
        estimated=estimated,
        quality_limits=quality,
        versions=0 if versions is None else versions.max_live,
        segment_top_k=[] if segments is None else [c.top_k or segments.top_k for c in segments.columns],
        feature_series_all=segments is not None and segments.feature_series == "all",
        baseline_scopes=_baseline_scopes(model),
        challenger_metrics=0 if contest is None else len(contest.metrics),
        challenger_alerts=0
        if contest is None
        else len(contest.metrics) + int(contest.alert.prediction_drift),
        multivariate=0 if model.drift.multivariate is None else len(model.drift.multivariate.methods),
    )


def row_budget_of(model: ModelSettings) -> int:
    """`row_budget` of a configured model."""
    window = model.window
    segments = model.segments
    versions = model.versions
    version_rows = 0
    if versions is not None:
        version_rows = versions.window.max_rows or min(window.max_rows, 20_000)
    columns = []
    if segments is not None:
        for index in range(len(segments.columns)):
            rule = segments.column_rule(index, window)
            columns.append((rule.top_k, rule.max_rows))
    return row_budget(
        window_max_rows=window.max_rows,
        versions=0 if versions is None else versions.max_live,
        version_max_rows=version_rows,
        segments=columns,
        baseline_scopes=_baseline_scopes(model),
        baseline_max_rows=0 if model.baseline is None else model.baseline.max_rows,
    )
