"""Poll failures that are not network failures: the broker answered, with an error that retrying cannot fix.

kafka-python raises a ``KafkaError`` from ``poll`` (or from its constructor)
for what it cannot go on with. Those it marks ``retriable`` (a connection
lost, a timeout, a leader moving, metadata not yet known) heal by themselves:
the source reports them as Kafka unreachable and backs off. The others are a
configuration or a permission to fix, and calling them an outage pages people
towards a healthy broker: :func:`classify` names them (a reason from a small
closed set, the error, and the fix), so the source keeps ``driftwatch_kafka_up``
at "the broker answers" and says what is wrong in its log, on ``/readyz`` and in
the checks' notes. A topic that does not exist is not raised at all: kafka-python
logs it and waits for it while polls return nothing, which looks like a quiet
topic; :func:`missing_topics` finds it in kafka-python's cluster metadata, and
the source names it (``unknown_topic``) once it has been missing for a while
(brokers that create topics on demand never get there).

With ``kafka.client: confluent`` the same reasons come from librdkafka's error codes (a
``KafkaException`` holding a ``KafkaError``): :func:`classify` maps them onto the same closed set.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "REASONS",
    "ConsumerProblem",
    "ConsumerProblemError",
    "classify",
    "missing_topics",
    "unknown_topics",
]

# the closed set of reasons (a word in the log and on /readyz)
REASONS = (
    "not_authorized",
    "no_offset",
    "record_too_large",
    "configuration",
    "consumer_error",
    "unknown_topic",
)


_NOT_AUTHORIZED_FIX = (
    "grant driftwatch's principal (kafka.sasl_plain_username or its certificate) Read and Describe "
    "on the topics it reads and Read on its consumer group{group}, or correct kafka.topic, "
    "kafka.labels_topic or kafka.group_id"
)
_NO_OFFSET_FIX = (
    "the consumer group{group} has no valid committed offset for these partitions and "
    "kafka.options.auto_offset_reset is none: set it to earliest (or latest), or commit a start "
    "offset for the group (kafka-consumer-groups --reset-offsets)"
)
_CONFIGURATION_FIX = "correct the kafka settings named in the error (kafka.options) and restart driftwatch"
_REFUSED_FIX = "the broker refused the consumer's request: see the error and its log"


@dataclass(frozen=True)
class ConsumerProblem:
    """A non-network poll failure: ``reason`` (one of REASONS), the error's type and text, and the fix."""

    reason: str
    error: str
    fix: str
    broker_answered: bool = True  # False for a failure before the consumer contacted the broker

    def describe(self) -> str:
        return f"consumer error ({self.reason}: {self.error}), not a network failure; fix: {self.fix}"


class ConsumerProblemError(RuntimeError):
    """Raised by the process reader's ``poll`` when its child's poll failed with a consumer problem."""

    def __init__(self, problem: ConsumerProblem) -> None:
        super().__init__(problem.describe())
        self.problem = problem


def classify(exc: BaseException, group_id: str | None = None) -> ConsumerProblem | None:
    """The problem ``exc`` (raised by kafka-python's ``poll`` or ``KafkaConsumer(...)``) is, or None for a
    network or transient failure (retriable, or not kafka-python's: the source backs off and retries)."""
    if isinstance(exc, ConsumerProblemError):
        return exc.problem
    if type(exc).__name__ == "KafkaException" and type(exc).__module__ in ("cimpl", "confluent_kafka"):
        return _classify_librdkafka(exc, group_id)
    from kafka import errors
    from kafka.consumer.fetcher import RecordTooLargeError

    if not isinstance(exc, errors.KafkaError) or exc.retriable or isinstance(exc, errors.KafkaProtocolError):
        return None  # a protocol error is a garbled connection: it is reconnected
    text = str(exc) or type(exc).__name__
    error = text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"
    group = f" {group_id!r}" if group_id else ""
    if isinstance(exc, errors.AuthorizationError):
        return ConsumerProblem("not_authorized", error, _NOT_AUTHORIZED_FIX.format(group=group))
    if isinstance(exc, errors.NoOffsetForPartitionError | errors.OffsetOutOfRangeError):
        return ConsumerProblem("no_offset", error, _NO_OFFSET_FIX.format(group=group))
    if isinstance(exc, RecordTooLargeError):
        return ConsumerProblem(
            "record_too_large",
            error,
            "a record batch is larger than kafka.options.max_partition_fetch_bytes: raise it (and "
            "fetch_max_bytes) above the topic's max.message.bytes",
        )
    if isinstance(exc, errors.KafkaConfigurationError | errors.IllegalArgumentError):
        return ConsumerProblem(
            "configuration",
            error,
            _CONFIGURATION_FIX,
            broker_answered=False,  # kafka-python checks its settings before it connects
        )
    if isinstance(exc, errors.BrokerResponseError):
        return ConsumerProblem("consumer_error", error, _REFUSED_FIX)
    return ConsumerProblem(
        "consumer_error", error, "kafka-python cannot go on by retrying: see the error and the log before it"
    )


# librdkafka error codes (confluent_kafka.KafkaError names) that are a network failure or transient: the
# source backs off and retries, as for kafka-python's retriable errors (librdkafka reconnects by itself)
_LIBRDKAFKA_TRANSIENT = frozenset(
    {
        "_TRANSPORT",
        "_ALL_BROKERS_DOWN",
        "_RESOLVE",
        "_TIMED_OUT",
        "_TIMED_OUT_QUEUE",
        "_MSG_TIMED_OUT",
        "_SSL",
        "_DESTROY",
        "_WAIT_COORD",
        "_UNKNOWN_TOPIC",
        "UNKNOWN_TOPIC_OR_PART",
        "REQUEST_TIMED_OUT",
        "NETWORK_EXCEPTION",
        "LEADER_NOT_AVAILABLE",
        "NOT_LEADER_FOR_PARTITION",
        "COORDINATOR_NOT_AVAILABLE",
        "NOT_COORDINATOR",
        "COORDINATOR_LOAD_IN_PROGRESS",
    }
)
_LIBRDKAFKA_NOT_AUTHORIZED = frozenset(
    {"TOPIC_AUTHORIZATION_FAILED", "GROUP_AUTHORIZATION_FAILED", "CLUSTER_AUTHORIZATION_FAILED"}
)
_LIBRDKAFKA_NO_OFFSET = frozenset({"_AUTO_OFFSET_RESET", "OFFSET_OUT_OF_RANGE"})


def _classify_librdkafka(exc: BaseException, group_id: str | None) -> ConsumerProblem | None:
    """:func:`classify` for confluent-kafka's ``KafkaException`` (raised by `ConfluentConsumer.poll` for a
    partition error, or by ``Consumer(...)`` for a property librdkafka refuses)."""
    error: Any = exc.args[0] if exc.args else None
    try:
        name, code, text = str(error.name()), int(error.code()), str(error.str())
        retriable, fatal = bool(error.retriable()), bool(error.fatal())
    except AttributeError:  # not a KafkaError inside: nothing known about it
        return None
    if not fatal and (retriable or name in _LIBRDKAFKA_TRANSIENT):
        return None
    said = f"{name}: {text}"
    group = f" {group_id!r}" if group_id else ""
    if name in _LIBRDKAFKA_NOT_AUTHORIZED:
        return ConsumerProblem("not_authorized", said, _NOT_AUTHORIZED_FIX.format(group=group))
    if name in _LIBRDKAFKA_NO_OFFSET:
        return ConsumerProblem("no_offset", said, _NO_OFFSET_FIX.format(group=group))
    if name == "_INVALID_ARG":
        return ConsumerProblem("configuration", said, _CONFIGURATION_FIX, broker_answered=False)
    if code >= 0:  # the broker's error code
        return ConsumerProblem("consumer_error", said, _REFUSED_FIX)
    return ConsumerProblem(
        "consumer_error", said, "librdkafka cannot go on by retrying: see the error and the log before it"
    )


def missing_topics(consumer: Any, topics: Iterable[str]) -> list[str]:
    """The topics among ``topics`` that the cluster metadata held by kafka-python ``consumer`` lacks
    (kafka-python asks for them again and again without raising); [] when it cannot tell."""
    try:
        known = set(consumer._client.cluster.topics(exclude_internal_topics=False))
    except Exception:  # another kafka-python version
        return []
    return sorted(set(topics) - known)


def unknown_topics(topics: list[str]) -> ConsumerProblem:
    """The problem of subscribed topics the cluster does not have."""
    return ConsumerProblem(
        "unknown_topic",
        f"UnknownTopicOrPartitionError: topic {', '.join(map(repr, topics))} is not in the cluster's metadata",
        "create the topic (this broker does not create topics on demand), or correct kafka.topic or "
        "kafka.labels_topic",
    )
