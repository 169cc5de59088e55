"""The internal topics through which scaled-out replicas act as one monitor.

With ``kafka.scale_out.enabled``, every replica of a consumer group ``G`` reads its share of the input
partitions (stage 1) and sends each model's windowed records, as compact partials, to ``G.samples``,
partitioned by model; a second group, ``G.owners``, hands out the partitions of ``G.samples``, and the
replica holding partition ``q`` owns every model that hashes to ``q`` (it keeps their windows, runs
their checks, holds their alert state and sends their webhooks). An owner writes its state to
``G.state`` (same partitioning), from which the next owner restores it, and publishes each window's
sampling thresholds to ``G.thresholds``, which every replica reads to forward only what the owner can
keep. This module does the Kafka I/O of that exchange and nothing else: what the messages mean is in
`driftwatch.stream.partials` and `driftwatch.state.changelog`, what is done with them in
`driftwatch.service.owner`.

With a check history, every check row, alert transition and delivery update goes to ``G.history`` (same
partitioning, key the model, deleted after ``history.retention``), which every replica reads whole
(`HistoryFeed`) into its own history file.

Kafka transactions are not used: the test broker serves the records of aborted transactions to
read_committed consumers, so exactly-once comes from positions instead (an owner skips what it has
applied, by input position, and restores from a changelog that a new owner fences with a claim).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from driftwatch.config import KafkaSettings
from driftwatch.source.kafka import connection_config

__all__ = [
    "ExchangeError",
    "ExchangeProducer",
    "HistoryFeed",
    "InternalTopics",
    "OwnerConsumer",
    "StateIndex",
    "ThresholdFeed",
    "ensure_topics",
    "partition_of",
    "read_partition",
]

log = logging.getLogger(__name__)

# Group membership on the owners' group: quick to notice a dead replica (the test broker joins
# groups in about 3 s only with a short session timeout).
_OWNER_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}


_SAMPLES_RETENTION_MS = 3 * 86_400_000  # G.samples: owners may be all down this long without a loss


class ExchangeError(Exception):
    """An internal topic could not be created, written or read."""


@dataclass(frozen=True)
class InternalTopics:
    samples: str
    state: str
    thresholds: str
    owners_group: str
    history: str

    @classmethod
    def of(cls, group: str) -> InternalTopics:
        """The internal topics and the owners' group of consumer group ``group``."""
        return cls(
            f"{group}.samples", f"{group}.state", f"{group}.thresholds", f"{group}.owners", f"{group}.history"
        )


def partition_of(model: str, partitions: int) -> int:
    """The internal partition of a model: a stable hash of its name (the same in every replica)."""
    digest = hashlib.blake2b(model.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % partitions


def ensure_topics(
    settings: KafkaSettings,
    topics: InternalTopics,
    partitions: int,
    admin_factory: Callable[..., Any] = KafkaAdminClient,
    timeout: float = 30.0,
    replication_factor: int = 1,
    history_retention: float | None = None,
) -> None:
    """Create the internal topics when missing; refuse ones with another partition count (models
    would hash to other partitions than their state). ``history_retention`` (seconds): the check
    history is kept, and ``G.history`` is created with that retention (an existing one keeps its own)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            admin = admin_factory(**connection_config(settings, shared_only=True))
            break
        except Exception as exc:
            if time.monotonic() > deadline:
                raise ExchangeError(f"cannot reach the brokers to create the internal topics: {exc}") from exc
            time.sleep(0.5)
    try:
        wanted = {
            # what readers forwarded and owners have not applied yet; a checkpoint makes it history
            topics.samples: {"retention.ms": str(_SAMPLES_RETENTION_MS)},
            topics.state: {},
            topics.thresholds: {"cleanup.policy": "compact"},
        }
        if history_retention is not None:
            # every replica's check history, read whole by a replica that starts with an empty file
            wanted[topics.history] = {
                "cleanup.policy": "delete",
                "retention.ms": str(int(history_retention * 1000)),
            }
        existing = set(admin.list_topics())
        missing = [
            NewTopic(name, partitions, replication_factor, topic_configs=configs)
            for name, configs in wanted.items()
            if name not in existing
        ]
        if missing:
            try:
                admin.create_topics(missing)
                log.info("created the internal topics %s", ", ".join(t.name for t in missing))
            except TopicAlreadyExistsError:  # another replica created them meanwhile
                pass
        for description in admin.describe_topics(list(wanted)):
            count = len(description.get("partitions") or [])
            if count and count != partitions:
                raise ExchangeError(
                    f"internal topic {description['topic']} has {count} partitions but "
                    f"kafka.scale_out.partitions is {partitions}; set kafka.scale_out.partitions: {count} "
                    "(every replica of the group must use the same value)"
                )
    finally:
        admin.close()


class ExchangeProducer:
    """One producer for the internal topics; ordered per partition (one request in flight)."""

    def __init__(
        self, settings: KafkaSettings, factory: Callable[..., Any] = KafkaProducer, lazy: bool = False
    ) -> None:
        self._settings = settings
        self._factory = factory
        self._producer: Any = None
        self._lock = threading.Lock()
        self._failed: dict[str, BaseException] = {}  # topic -> the last failed send since its flush
        self.bytes_sent = 0
        self.records_sent = 0
        if not lazy:
            self._get()

    def _get(self) -> Any:
        """The producer, connected on first use (the brokers may be down when the daemon starts)."""
        with self._lock:
            if self._producer is None:
                self._producer = self._factory(
                    **connection_config(self._settings, shared_only=True),
                    acks="all",
                    linger_ms=5,
                    max_in_flight_requests_per_connection=1,  # retries must not reorder a partition
                    retries=2147483647,
                    delivery_timeout_ms=120_000,
                    max_request_size=8 * 1024 * 1024,
                    batch_size=256 * 1024,
                    max_block_ms=10_000,
                )
            return self._producer

    def send(
        self,
        topic: str,
        partition: int,
        key: bytes,
        value: bytes,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """Queue a message; `flush` says whether everything queued arrived (a message that could not
        even be queued counts as failed there too). With ``on_error``, a send failing after it was
        queued is reported there instead (a caller that never flushes)."""
        try:
            future = self._get().send(topic, value=value, key=key, partition=partition)
        except Exception as exc:  # no broker for too long, buffer full: the next flush must fail
            if on_error is None:
                self._errback(topic, exc)
            raise
        future.add_errback(on_error if on_error is not None else lambda exc: self._errback(topic, exc))
        with self._lock:
            self.bytes_sent += len(value) + len(key)
            self.records_sent += 1

    def _errback(self, topic: str, exc: BaseException) -> None:
        with self._lock:
            self._failed[topic] = exc

    def send_sync(self, topic: str, partition: int, key: bytes, value: bytes, timeout: float = 30.0) -> int:
        """Produce one message and wait for it; its offset."""
        future = self._get().send(topic, value=value, key=key, partition=partition)
        with self._lock:
            self.bytes_sent += len(value) + len(key)
            self.records_sent += 1
        try:
            metadata = future.get(timeout=timeout)
        except Exception as exc:
            raise ExchangeError(f"writing to {topic}[{partition}] failed: {exc}") from exc
        return int(metadata.offset)

    def flush(self, topic: str, timeout: float = 30.0) -> None:
        """Wait until everything queued is acknowledged; raise if a send to ``topic`` failed since its
        last flush (each user of the producer learns of its own failures: a reader must not commit
        input offsets after a lost partial, whoever flushed first)."""
        try:
            self._get().flush(timeout=timeout)
        except Exception as exc:  # not acknowledged yet (the brokers are away): still queued, not lost
            raise TimeoutError(f"{topic}: messages not acknowledged within {timeout:g}s: {exc}") from exc
        with self._lock:
            failed = self._failed.pop(topic, None)
        if failed is not None:
            raise ExchangeError(f"sending to {topic} failed: {failed}")

    def close(self, timeout: float = 5.0) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.close(timeout=timeout)
        except Exception as exc:
            log.warning("closing the internal topics' producer: %s", exc)


def read_partition(
    settings: KafkaSettings,
    topic: str,
    partition: int,
    until: int,
    timeout: float = 120.0,
    start: int = 0,
    factory: Callable[..., Any] = KafkaConsumer,
) -> Iterator[tuple[int, bytes]]:
    """Every message of ``topic[partition]`` from ``start`` through offset ``until`` (inclusive), in
    order. The broker's end offsets are not trusted: ``until`` is an offset the caller knows exists."""
    consumer = factory(
        **connection_config(settings),
        enable_auto_commit=False,
        group_id=None,
        max_partition_fetch_bytes=16 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024,
        fetch_max_wait_ms=100,
    )
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline:
                raise ExchangeError(f"reading {topic}[{partition}] up to offset {until} timed out")
            batches = consumer.poll(timeout_ms=500, max_records=10_000)
            for record in batches.get(tp, []):
                if record.offset > until:
                    return
                if record.value is not None:
                    yield record.offset, record.value
                if record.offset == until:
                    return
    finally:
        consumer.close(autocommit=False)


class OwnerConsumer:
    """The owners' group on the samples topic: which samples partitions (so which models) this replica
    owns, and their partials. Assignment changes are queued for the owner's loop, which restores a
    partition before reading it; a revocation calls ``on_revoke`` at once (the owner's last checkpoint
    must be written before the next owner claims the partition)."""

    def __init__(
        self,
        settings: KafkaSettings,
        topics: InternalTopics,
        on_revoke: Callable[[set[int]], None],
        factory: Callable[..., Any] = KafkaConsumer,
    ) -> None:
        options = {k: v for k, v in settings.options.items() if k in ("client_id", "request_timeout_ms")}
        self._consumer = factory(
            **connection_config(settings),
            **options,
            **_OWNER_GROUP,
            group_id=topics.owners_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=2000,
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_wait_ms=200,
        )
        self._topic = topics.samples
        self._on_revoke = on_revoke
        self._lock = threading.Lock()
        self._assigned: set[int] = set()
        self._new: set[int] = set()
        self.joined = False  # an assignment (perhaps empty) was received since the last revocation

        from kafka import ConsumerRebalanceListener

        owner = self

        class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
            def on_partitions_revoked(self, revoked: Any) -> None:
                lost = {tp.partition for tp in revoked}
                owner.joined = False
                with owner._lock:
                    owner._assigned -= lost
                    owner._new -= lost
                if lost:
                    owner._on_revoke(lost)

            def on_partitions_assigned(self, assigned: Any) -> None:
                gained = {tp.partition for tp in assigned}
                with owner._lock:
                    owner._new |= gained - owner._assigned
                    owner._assigned = gained
                    owner.joined = True
                if gained:
                    owner._consumer.pause(*assigned)  # read nothing until restored and positioned

        self._consumer.subscribe([self._topic], listener=_Listener())

    def poll(self, timeout: float) -> dict[int, list[Any]]:
        batches = self._consumer.poll(timeout_ms=int(timeout * 1000))
        return {tp.partition: records for tp, records in batches.items() if tp.topic == self._topic}

    def take_new(self) -> set[int]:
        """Partitions assigned since the last call (paused until `start_reading`)."""
        with self._lock:
            new, self._new = self._new, set()
            return new & self._assigned

    def pending(self) -> set[int]:
        """Partitions assigned and not yet handed to the owner by `take_new`."""
        with self._lock:
            return set(self._new)

    def assigned(self) -> set[int]:
        with self._lock:
            return set(self._assigned)

    def start_reading(self, partition: int, offset: int | None) -> None:
        """Read ``partition`` from ``offset`` (the beginning when None) on."""
        tp = TopicPartition(self._topic, partition)
        if offset is None:
            self._consumer.seek_to_beginning(tp)
        else:
            self._consumer.seek(tp, offset)
        self._consumer.resume(tp)

    def close(self) -> None:
        try:
            self._consumer.close(autocommit=False)
        except Exception as exc:
            log.warning("closing the owners' consumer: %s", exc)


class ThresholdFeed:
    """Reads ``G.thresholds`` (every partition, from the beginning, no group) on a thread of its own and
    hands each (model, thresholds) message to ``apply``: stage 1 then forwards only what owners keep."""

    def __init__(
        self,
        settings: KafkaSettings,
        topics: InternalTopics,
        apply: Callable[[str, bytes], None],
        factory: Callable[..., Any] = KafkaConsumer,
    ) -> None:
        self._settings = settings
        self._topic = topics.thresholds
        self._apply = apply
        self._factory = factory
        self._thread = threading.Thread(target=self._run, name="driftwatch-thresholds", daemon=True)
        self._stop = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        consumer: Any = None
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._factory(
                        **connection_config(self._settings), enable_auto_commit=False, group_id=None
                    )
                    partitions = consumer.partitions_for_topic(self._topic) or set()
                    if not partitions:
                        consumer.close(autocommit=False)
                        consumer = None
                        self._stop.wait(1.0)
                        continue
                    tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
                    consumer.assign(tps)
                    consumer.seek_to_beginning(*tps)
                for records in consumer.poll(timeout_ms=500).values():
                    for record in records:
                        if record.key is not None and record.value is not None:
                            try:
                                self._apply(record.key.decode(), record.value)
                            except Exception:
                                log.exception("ignoring an unreadable threshold message")
            except Exception as exc:
                log.warning("reading %s: %s; retrying", self._topic, exc)
                if consumer is not None:
                    with contextlib.suppress(Exception):  # already broken
                        consumer.close(autocommit=False)
                    consumer = None
                self._stop.wait(1.0)
        if consumer is not None:
            consumer.close(autocommit=False)


class HistoryFeed:
    """Reads ``G.history`` (every partition, no group) on a thread of its own and hands each batch of
    messages to ``apply`` with the positions it brings the reader to; ``apply`` keeps them with what it
    stored (the broker's end offsets and timestamps are not relied on). It starts where ``positions``
    says, the beginning of a partition it has no position for (or whose position the topic no longer
    has: recreated, or past its retention)."""

    def __init__(
        self,
        settings: KafkaSettings,
        topics: InternalTopics,
        positions: Callable[[], dict[int, int]],
        apply: Callable[[list[tuple[int, int, bytes]], dict[int, int]], None],
        factory: Callable[..., Any] = KafkaConsumer,
        poll_timeout: float = 0.5,
    ) -> None:
        self._settings = settings
        self.topic = topics.history
        self._positions = positions
        self._apply = apply
        self._factory = factory
        self._poll_ms = int(poll_timeout * 1000)
        self._thread = threading.Thread(target=self._run, name="driftwatch-history", daemon=True)
        self._stop = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _open(self) -> Any:
        """A consumer positioned where the history file says (None: the topic is not there yet)."""
        consumer = self._factory(
            **connection_config(self._settings),
            enable_auto_commit=False,
            group_id=None,
            auto_offset_reset="earliest",
            max_partition_fetch_bytes=16 * 1024 * 1024,
            fetch_max_wait_ms=200,
        )
        partitions = consumer.partitions_for_topic(self.topic) or set()
        if not partitions:
            consumer.close(autocommit=False)
            return None
        tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        known = self._positions()
        for tp in tps:
            # offset 0 rather than the broker's earliest offset (not relied on); one the topic no longer
            # has is reset to its earliest (auto_offset_reset)
            consumer.seek(tp, known.get(tp.partition, 0))
        return consumer

    def _run(self) -> None:
        consumer: Any = None
        while not self._stop.is_set():
            try:
                if consumer is None:
                    consumer = self._open()
                    if consumer is None:
                        self._stop.wait(1.0)
                        continue
                batch: list[tuple[int, int, bytes]] = []
                positions: dict[int, int] = {}
                for tp, records in consumer.poll(timeout_ms=self._poll_ms, max_records=5000).items():
                    for record in records:
                        if record.value is not None:
                            batch.append((tp.partition, record.offset, record.value))
                        positions[tp.partition] = record.offset + 1
                if positions:
                    self._apply(batch, positions)
            except Exception as exc:  # the brokers are away, or the file could not be written
                log.warning("reading %s: %s; retrying", self.topic, exc)
                if consumer is not None:
                    with contextlib.suppress(Exception):  # already broken
                        consumer.close(autocommit=False)
                    consumer = None  # reopened at the positions last stored
                self._stop.wait(1.0)
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False)


class StateIndex:
    """Where a replay of each ``G.state`` partition may start: the offset of the claim that opens its
    latest complete checkpoint, kept as the committed offset of group ``G.state-index`` (a group with
    no members, used only to keep these offsets). Everything before it is no longer needed."""

    def __init__(
        self, settings: KafkaSettings, topics: InternalTopics, factory: Callable[..., Any] = KafkaConsumer
    ) -> None:
        self._settings = settings
        self._topic = topics.state
        self._group = f"{topics.state}-index"
        self._factory = factory
        self._consumer: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        if self._consumer is None:
            self._consumer = self._factory(
                **connection_config(self._settings), group_id=self._group, enable_auto_commit=False
            )
        return self._consumer

    def get(self, partition: int) -> int | None:
        with self._lock:
            offset = self._get().committed(TopicPartition(self._topic, partition))
        return None if offset is None else int(offset)

    def set(self, partition: int, offset: int) -> None:
        from kafka.structs import OffsetAndMetadata

        with self._lock:
            self._get().commit({TopicPartition(self._topic, partition): OffsetAndMetadata(offset, None, -1)})

    def close(self) -> None:
        with self._lock:
            consumer, self._consumer = self._consumer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False)
