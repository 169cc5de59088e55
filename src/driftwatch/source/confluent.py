"""The librdkafka client (``kafka.client: confluent``): confluent-kafka's ``Consumer`` behind the
:class:`~driftwatch.source.protocol.Consumer` protocol.

librdkafka fetches on its own threads, in C, without the interpreter lock; a poll hands over what it
has buffered. The source drives this consumer through the same protocol as kafka-python's, so every
rule (offsets, floors, rewinds, checkpoints before commits, dead letters, lag, stalled partitions) is
the same code. What differs is said here:

- Partitions are kafka-python ``TopicPartition`` values on the protocol's side (the source and its
  ledger key on them) and confluent ``TopicPartition`` values towards librdkafka.
- Records are `Record` structs with the attributes kafka-python's records have (``topic``,
  ``partition``, ``offset``, ``timestamp`` in ms, ``key``, ``value``, ``headers``).
- Rebalance callbacks run inside `poll`, on the polling thread.
- Whether a broker is up, each partition's log end, come from librdkafka's statistics (every second)
  and its error callback; so does the position of a partition nothing was handed over from since it
  was assigned (librdkafka knows no position for it; kafka-python answers with the committed offset it
  starts from, so a caught-up partition's lag is 0 after a restart rather than missing); a subscribed topic the cluster lacks, from the per-partition error librdkafka
  reports for it (once), until the statistics or an assignment show partitions of it.
- kafka-python option names under ``kafka.options`` are translated (`confluent_config`); the ones with
  no librdkafka equivalent are refused by the config check.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

import msgspec
from kafka import TopicPartition

from driftwatch.source.problems import ConsumerProblem, ConsumerProblemError

__all__ = ["ConfluentConsumer", "Record", "confluent_config"]

log = logging.getLogger(__name__)
# librdkafka's own log lines (a connection refused on every reconnect attempt, at its level 3, ERROR): a
# logger of its own, as kafka-python's are under "kafka"; the source reports what they mean (kafka_up 0)
librdkafka_log = logging.getLogger("librdkafka")

# kafka-python consumer option -> librdkafka property (ms and bytes alike on both sides)
OPTION_NAMES: Mapping[str, str] = {
    "client_id": "client.id",
    "fetch_min_bytes": "fetch.min.bytes",
    "fetch_max_wait_ms": "fetch.wait.max.ms",
    "fetch_max_bytes": "fetch.max.bytes",
    "max_partition_fetch_bytes": "max.partition.fetch.bytes",
    "request_timeout_ms": "socket.timeout.ms",
    "retry_backoff_ms": "retry.backoff.ms",
    "reconnect_backoff_ms": "reconnect.backoff.ms",
    "reconnect_backoff_max_ms": "reconnect.backoff.max.ms",
    "max_in_flight_requests_per_connection": "max.in.flight.requests.per.connection",
    "auto_offset_reset": "auto.offset.reset",
    "session_timeout_ms": "session.timeout.ms",
    "heartbeat_interval_ms": "heartbeat.interval.ms",
    "max_poll_interval_ms": "max.poll.interval.ms",
    "receive_buffer_bytes": "socket.receive.buffer.bytes",
    "send_buffer_bytes": "socket.send.buffer.bytes",
    "connections_max_idle_ms": "connections.max.idle.ms",
    "metadata_max_age_ms": "metadata.max.age.ms",
    "isolation_level": "isolation.level",
    "ssl_crlfile": "ssl.crl.location",
    "ssl_ciphers": "ssl.cipher.suites",
    "sasl_kerberos_service_name": "sasl.kerberos.service.name",
}
# kafka-python option values librdkafka spells otherwise: with no committed offset, "none" raises in
# kafka-python (NoOffsetForPartitionError); librdkafka's "error" reports it as a partition error
OPTION_VALUES: Mapping[tuple[str, Any], Any] = {("auto_offset_reset", "none"): "error"}
# handled here rather than passed to librdkafka
LOCAL_OPTIONS = frozenset({"max_poll_records", "ssl_check_hostname", "api_version_auto_timeout_ms"})

_DEFAULTS: Mapping[str, Any] = {
    "auto.offset.reset": "earliest",
    "fetch.wait.max.ms": 200,
    "fetch.max.bytes": 64 * 1024 * 1024,
    "max.partition.fetch.bytes": 8 * 1024 * 1024,
    "reconnect.backoff.max.ms": 10_000,
    "enable.partition.eof": False,
    "partition.assignment.strategy": "range",
    "statistics.interval.ms": 1000,
    # once its prefetch queue is full, librdkafka waits this long before fetching again (1 s by default):
    # a daemon that drains the queue in bursts then stalls on an empty one
    "fetch.queue.backoff.ms": 10,
    # prefetched records kept per partition queue (librdkafka's default is 64 MiB): bounds the memory
    "queued.max.messages.kbytes": 32 * 1024,
    # a subscribed topic created after the consumer started is seen at the next metadata refresh (every
    # 5 minutes by default; kafka-python asks again within a second while one is unknown)
    "topic.metadata.refresh.interval.ms": 5000,
}


def confluent_config(settings: Any, connection: Mapping[str, Any]) -> dict[str, Any]:
    """librdkafka properties for ``settings`` (a `KafkaSettings`), given the resolved connection settings
    in kafka-python's names (`driftwatch.source.kafka.connection_config`)."""
    config: dict[str, Any] = dict(_DEFAULTS)
    config["bootstrap.servers"] = ",".join(connection["bootstrap_servers"])
    config["group.id"] = settings.group_id
    config["enable.auto.commit"] = False
    config["enable.auto.offset.store"] = False
    config["security.protocol"] = connection["security_protocol"]
    names = {
        "sasl_mechanism": "sasl.mechanism",
        "sasl_plain_username": "sasl.username",
        "sasl_plain_password": "sasl.password",
        "ssl_cafile": "ssl.ca.location",
        "ssl_certfile": "ssl.certificate.location",
        "ssl_keyfile": "ssl.key.location",
        "ssl_password": "ssl.key.password",
    }
    for ours, theirs in names.items():
        if connection.get(ours) is not None:
            config[theirs] = connection[ours]
    options = settings.options
    for name, value in options.items():
        if name in OPTION_NAMES:
            config[OPTION_NAMES[name]] = OPTION_VALUES.get((name, value), value)
    if options.get("ssl_check_hostname") is False:
        config["ssl.endpoint.identification.algorithm"] = "none"
    # librdkafka refuses what kafka-python adapts or tolerates: its own bounds follow the options set
    # (the config check refuses the two options set against each other)
    if "max_poll_interval_ms" not in options and _number(options.get("session_timeout_ms")) > 300_000:
        config["max.poll.interval.ms"] = options["session_timeout_ms"]
    if "reconnect_backoff_max_ms" not in options:
        backoff = _number(options.get("reconnect_backoff_ms"))
        config["reconnect.backoff.max.ms"] = max(config["reconnect.backoff.max.ms"], backoff)
    fetch_max = _number(options.get("fetch_max_bytes"), default=None)
    if fetch_max is not None and fetch_max < 1_000_000:  # librdkafka's message.max.bytes default
        config["message.max.bytes"] = max(1000, fetch_max)
        config["fetch.max.bytes"] = max(1000, fetch_max)
    return config


def _number(value: Any, default: Any = 0) -> Any:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else default


def _refused(exc: Any) -> ConsumerProblem | None:
    """The problem of a config librdkafka refused when the consumer was built (a property out of its
    range, two that contradict each other, a TLS file it cannot load, a SASL mechanism it was built
    without): no retry fixes it. None for anything else. librdkafka's text names properties and files,
    never a secret's value (the secrets are strings, which it takes as they are)."""
    from confluent_kafka import KafkaError

    error = exc.args[0] if exc.args else None
    if not isinstance(error, KafkaError) or error.code() != KafkaError._INVALID_ARG:
        return None
    return ConsumerProblem(
        "configuration",
        f"KafkaException: {error.str()}",
        "librdkafka (kafka.client: confluent) refuses these settings: correct the kafka settings it names "
        "(kafka.options, with kafka-python's names; kafka.ssl_* files) and restart driftwatch",
        broker_answered=False,
    )


class Record(msgspec.Struct, frozen=True, gc=False):
    """A consumed record with kafka-python's attribute names."""

    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]] | None = None


class ConfluentConsumer:
    """confluent-kafka's ``Consumer`` as a consumer of the protocol (auto-commit off, offsets committed
    explicitly by the source)."""

    def __init__(self, config: Mapping[str, Any], max_records: int = 5000, factory: Any = None) -> None:
        from confluent_kafka import Consumer as LibConsumer
        from confluent_kafka import KafkaException

        self._lock = threading.Lock()
        self._up: bool | None = None  # from the statistics: a broker connection is up
        self._highwater: dict[tuple[str, int], int] = {}
        self._start: dict[tuple[str, int], int] = {}  # where reading starts, while nothing was handed over
        self._missing: set[str] = set()
        self._topics: list[str] = []
        self._stats_at = 0.0
        self._listener: Any = None
        self._assignment: set[TopicPartition] = set()
        self._max_records = max_records
        self._failed: Any = None  # a poll's partition error, raised at the next poll (it returned records)
        self._no_offset: dict[tuple[str, int], Any] = {}  # partitions without an offset to start from
        try:
            self._consumer = (factory or LibConsumer)(
                {**config, "stats_cb": self._stats, "error_cb": self._error, "logger": librdkafka_log}
            )
        except KafkaException as exc:
            problem = _refused(exc)
            if problem is None:
                raise
            raise ConsumerProblemError(problem) from None

    # librdkafka's callbacks (they run inside poll/consume, on the polling thread)

    def _stats(self, text: str) -> None:
        try:
            stats = json.loads(text)
        except ValueError:
            return
        brokers = [b for b in stats.get("brokers", {}).values() if b.get("nodeid", -1) >= 0]
        up = any(b.get("state") == "UP" for b in brokers)
        highwater: dict[tuple[str, int], int] = {}
        start: dict[tuple[str, int], int] = {}
        known: set[str] = set()  # topics the cluster's metadata has partitions of
        for topic, data in stats.get("topics", {}).items():
            for partition, p in data.get("partitions", {}).items():
                if int(partition) >= 0:
                    known.add(topic)
                    if p.get("hi_offset", -1) >= 0:
                        highwater[(topic, int(partition))] = int(p["hi_offset"])
                    # fetching, nothing handed over and nothing fetched yet: the next offset to fetch is
                    # the position (the committed offset it started from, or where it was reset to)
                    if (
                        p.get("fetch_state") == "active"
                        and p.get("app_offset", -1) < 0
                        and p.get("fetchq_cnt", -1) == 0
                        and p.get("next_offset", -1) >= 0
                    ):
                        start[(topic, int(partition))] = int(p["next_offset"])
        with self._lock:
            self._up = up if brokers else self._up
            self._highwater.update(highwater)
            self._start = start
            self._missing -= known  # created since librdkafka reported it unknown (it says so once)
            self._stats_at = time.monotonic()

    def _error(self, error: Any) -> None:
        from confluent_kafka import KafkaError

        if error.code() == KafkaError._ALL_BROKERS_DOWN:
            with self._lock:
                self._up = False
        log.debug("librdkafka: %s", error)

    def _assigned(self, consumer: Any, partitions: list[Any]) -> None:
        tps = {TopicPartition(p.topic, p.partition) for p in partitions}
        with self._lock:
            self._assignment = tps
            self._missing -= {tp.topic for tp in tps}
            self._start = {}  # statistics from before the assignment
        for tp in tps:  # librdkafka looks for their committed offsets again
            self._no_offset.pop((tp.topic, tp.partition), None)
        if self._listener is not None:
            self._listener.on_partitions_assigned(tps)

    def _revoked(self, consumer: Any, partitions: list[Any]) -> None:
        tps = {TopicPartition(p.topic, p.partition) for p in partitions}
        if self._listener is not None:
            self._listener.on_partitions_revoked(tps)
        with self._lock:
            self._assignment -= tps
            self._start = {}

    # the protocol

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self._topics = list(topics)
        self._listener = listener
        self._consumer.subscribe(
            list(topics), on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._revoked
        )

    def poll(self, timeout_ms: int = 0) -> dict[Any, list[Any]]:
        from confluent_kafka import KafkaError, KafkaException

        # the first record as soon as there is one, then whatever librdkafka has queued, without waiting:
        # consume(n, timeout) alone would wait out its timeout whenever fewer than n are queued
        if self._failed is not None:  # the error of the previous poll, which returned records first
            error, self._failed = self._failed, None
            raise KafkaException(error)
        if self._no_offset:
            self._retry_no_offset()
        first = self._consumer.poll(timeout_ms / 1000.0)
        messages: list[Any] = (
            [] if first is None else [first, *self._consumer.consume(self._max_records - 1, 0)]
        )
        batches: dict[Any, list[Any]] = {}
        partitions: dict[tuple[str, int], TopicPartition] = {}
        failed: Any = None
        for message in messages:
            error = message.error()
            if error is not None:
                code = error.code()
                if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                    with self._lock:
                        self._missing.add(message.topic() or "")
                    continue
                if code == KafkaError._PARTITION_EOF or error.retriable():
                    continue
                if code == KafkaError._AUTO_OFFSET_RESET:
                    self._no_offset[(message.topic(), message.partition())] = error
                failed = failed or error
                continue
            topic, partition = message.topic(), message.partition()
            key = (topic, partition)
            tp = partitions.get(key)
            if tp is None:
                tp = partitions[key] = TopicPartition(topic, partition)
                batches[tp] = []
            batches[tp].append(
                Record(
                    topic,
                    partition,
                    message.offset(),
                    message.timestamp()[1],
                    message.key(),
                    message.value(),
                    message.headers(),
                )
            )
        if failed is not None:
            if not batches:
                raise KafkaException(failed)
            # librdkafka has moved past these records: hand them over, raise at the next poll
            self._failed = failed
        if batches:
            with self._lock:
                self._up = True
                self._missing -= {tp.topic for tp in batches}
        return batches

    def _retry_no_offset(self) -> None:
        """Partitions librdkafka found no committed offset for (``auto_offset_reset: none``): it reports
        that once and leaves them until they are assigned again, while kafka-python raises on every poll.
        Raise the same error again while one of them is still assigned. (An offset committed for the group
        meanwhile needs the group empty, driftwatch stopped: the next start reads from it.)"""
        from confluent_kafka import KafkaException

        with self._lock:
            assigned = {(tp.topic, tp.partition) for tp in self._assignment}
        for key in set(self._no_offset) - assigned:
            del self._no_offset[key]
        if self._no_offset:
            raise KafkaException(next(iter(self._no_offset.values())))

    def assignment(self) -> set[Any]:
        with self._lock:
            return set(self._assignment)

    def highwater(self, tp: Any) -> int | None:
        from confluent_kafka import TopicPartition as LibPartition

        try:
            _low, high = self._consumer.get_watermark_offsets(
                LibPartition(tp.topic, tp.partition), cached=True
            )
        except Exception:
            high = -1
        if high is not None and high >= 0:
            return int(high)
        with self._lock:
            return self._highwater.get((tp.topic, tp.partition))

    def position(self, tp: Any, timeout_ms: int = 0) -> int | None:
        from confluent_kafka import TopicPartition as LibPartition

        (answer,) = self._consumer.position([LibPartition(tp.topic, tp.partition)])
        if answer.offset >= 0:
            return int(answer.offset)
        with self._lock:  # nothing handed over since the assignment: where it starts, if known yet
            return self._start.get((tp.topic, tp.partition))

    def _lib(self, partitions: Any, offset: int | None = None) -> list[Any]:
        from confluent_kafka import TopicPartition as LibPartition

        if offset is None:
            return [LibPartition(tp.topic, tp.partition) for tp in partitions]
        return [LibPartition(tp.topic, tp.partition, offset) for tp in partitions]

    def pause(self, *partitions: Any) -> None:
        self._consumer.pause(self._lib(partitions))

    def resume(self, *partitions: Any) -> None:
        self._consumer.resume(self._lib(partitions))

    def seek_to_beginning(self, *partitions: Any) -> None:
        from confluent_kafka import OFFSET_BEGINNING

        for tp in self._lib(partitions, OFFSET_BEGINNING):
            self._consumer.seek(tp)

    def seek_to_end(self, *partitions: Any) -> None:
        from confluent_kafka import OFFSET_END

        for tp in self._lib(partitions, OFFSET_END):
            self._consumer.seek(tp)

    def _offsets(self, offsets: dict[Any, Any]) -> list[Any]:
        from confluent_kafka import TopicPartition as LibPartition

        return [LibPartition(tp.topic, tp.partition, int(meta.offset)) for tp, meta in offsets.items()]

    def commit(self, offsets: dict[Any, Any]) -> None:
        if offsets:
            self._consumer.commit(offsets=self._offsets(offsets), asynchronous=False)

    def commit_async(self, offsets: dict[Any, Any]) -> None:
        if offsets:
            self._consumer.commit(offsets=self._offsets(offsets), asynchronous=True)

    def close(self, autocommit: bool = False) -> None:
        self._consumer.close()

    def broker_connected(self) -> bool:
        with self._lock:
            return self._up is not False

    def missing_topics(self) -> list[str]:
        with self._lock:
            return sorted(self._missing & set(self._topics))

    def connecting(self) -> bool:
        return False  # librdkafka connects in the background; polls return nothing meanwhile

    def discard_failed_batch(self) -> None:
        """librdkafka reports a record it cannot decode as an error of its partition, not as a poll that
        raises for a whole batch: nothing is kept to discard."""
