"""Consuming prediction logs from Kafka with kafka-python.

The consumer joins a consumer group, so replicas share a topic's partitions
(records are keyed by model, so a model's traffic stays on one replica).
Auto-commit is off: offsets are committed only after the records of a batch
have been handed to the pipeline and checkpointed, and once more on shutdown
and before a rebalance takes partitions away.

Exactly-once window contents: the ``checkpoint`` hook stores the windows and
the offsets they cover in one local transaction *before* the offsets are
committed to Kafka. When partitions are assigned, the checkpointed offsets
become floors: a record below its partition's floor is already in a window
(the process died between the checkpoint and the commit) and is skipped, so no
record is counted twice and none is lost. (Floors rather than seeks: a seek
back to an old local checkpoint would re-read records another replica handled
since, and kafka-python cannot ask for committed offsets inside a rebalance
callback.) A partition whose position is beyond its log end (the topic was
deleted and recreated) starts again from the beginning. Those rules live in
the offsets ledger (``driftwatch.source.offsets``, no I/O); this module carries
its answers out on the consumer. The consumer is either reader behind one
protocol (``driftwatch.source.protocol``): kafka-python in this process
(``driftwatch.source.thread_reader``), or with ``kafka.reader: process`` in a
child process (``driftwatch.source.reader``); every decision above stays here,
and what the source sees is reported to a ``SourceObserver``
(``driftwatch.source.observer``). An unreachable broker is not fatal: the
source keeps retrying with backoff, reports ``driftwatch_kafka_up 0`` and the
daemon goes on serving metrics and running checks on what it already has.
A fetched batch that cannot be decoded (a codec library missing, a corrupt
batch) is not an outage: the broker answered. The source counts it, names it
(``undecodable``, shown on ``/readyz``), pauses that partition and retries it
every few seconds while the others go on, and keeps exporting its lag, which
grows while it is stalled; once the batch decodes, its records are consumed.
A poll that fails with an error retrying cannot fix (not authorized, no
offset to start from, a setting kafka-python refuses: see
``driftwatch.source.problems``) is not an outage either: the source names it
(``problem``, on ``/readyz`` and in the checks' notes) with its fix, keeps
``driftwatch_kafka_up`` at "the broker answers", and retries every few seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Literal, Protocol

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from driftwatch.config import KafkaSettings, resolve_secret
from driftwatch.source.observer import SourceObserver
from driftwatch.source.offsets import Offsets
from driftwatch.source.problems import ConsumerProblem, classify, unknown_topics
from driftwatch.source.protocol import Consumer
from driftwatch.source.thread_reader import ThreadConsumer
from driftwatch.source.undecodable import REASONS, UndecodableBatch, undecodable

__all__ = ["KafkaSource", "Message", "connection_config", "consumer_config"]

log = logging.getLogger(__name__)


class Message(Protocol):
    """The parts of a kafka-python ``ConsumerRecord`` the pipeline reads."""

    @property
    def value(self) -> bytes | None: ...

    @property
    def timestamp(self) -> int: ...

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...

    @property
    def offset(self) -> int: ...


Handler = Callable[[Sequence[Message]], None]

_UNDECODABLE_RETRY = 5.0  # seconds a partition stalled behind an undecodable batch waits between retries
_PROBLEM_RETRY = 5.0  # seconds between polls while they fail with a consumer problem (not an outage)
_PROBLEM_OVER = 10.0  # seconds of polls without it (or records arriving) before a consumer problem is over
_MISSING_GRACE = 30.0  # seconds a subscribed topic is missing from the cluster's metadata before it is said

# Throughput defaults (overridable under kafka.options): large fetches, big poll batches.
_DEFAULTS: dict[str, Any] = {
    "auto_offset_reset": "earliest",
    "max_poll_records": 5000,
    "fetch_max_bytes": 64 * 1024 * 1024,
    "max_partition_fetch_bytes": 8 * 1024 * 1024,
    "fetch_max_wait_ms": 200,
    "reconnect_backoff_max_ms": 10_000,
}


# Options under kafka.options that also apply to a producer (the dead-letter queue's).
_SHARED_OPTIONS = frozenset(
    {
        "client_id",
        "request_timeout_ms",
        "retry_backoff_ms",
        "reconnect_backoff_ms",
        "reconnect_backoff_max_ms",
        "receive_buffer_bytes",
        "send_buffer_bytes",
        "connections_max_idle_ms",
        "metadata_max_age_ms",
        "api_version_auto_timeout_ms",
        "ssl_check_hostname",
        "ssl_crlfile",
        "ssl_ciphers",
        "sasl_kerberos_service_name",
        "sasl_kerberos_domain_name",
    }
)


def consumer_config(settings: KafkaSettings) -> dict[str, Any]:
    """kafka-python ``KafkaConsumer`` keyword arguments for these settings (secrets resolved)."""
    return {
        **_DEFAULTS,
        **settings.options,
        **connection_config(settings),
        "group_id": settings.group_id,
        "enable_auto_commit": False,
    }


def connection_config(settings: KafkaSettings, shared_only: bool = False) -> dict[str, Any]:
    """Broker addresses and security settings (secrets resolved), for a consumer or a producer."""
    config: dict[str, Any] = {
        **({k: v for k, v in settings.options.items() if k in _SHARED_OPTIONS} if shared_only else {}),
        "bootstrap_servers": settings.bootstrap_servers,
        "security_protocol": settings.security_protocol,
    }
    if settings.sasl_mechanism:
        config["sasl_mechanism"] = settings.sasl_mechanism
    if settings.sasl_plain_username:
        config["sasl_plain_username"] = settings.sasl_plain_username
    if settings.sasl_plain_password:
        secret = resolve_secret(settings.sasl_plain_password, "kafka.sasl_plain_password")
        config["sasl_plain_password"] = secret.get_secret_value()
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        value = getattr(settings, name)
        if value is not None:
            config[name] = str(value)
    if settings.ssl_password:
        config["ssl_password"] = resolve_secret(
            settings.ssl_password, "kafka.ssl_password"
        ).get_secret_value()
    return config


class KafkaSource:
    """Polls the predictions topic and hands each batch to ``handler`` before committing it."""

    def __init__(
        self,
        settings: KafkaSettings,
        handler: Handler,
        observer: SourceObserver,
        poll_timeout: float = 0.5,
        consumer_factory: Callable[..., Any] | None = None,
        checkpoint: Callable[[dict[tuple[str, int], int]], Callable[[], None] | None] | None = None,
        checkpointed: Callable[[], dict[tuple[str, int], int]] | None = None,
        checkpoint_interval: float = 1.0,
    ) -> None:
        """``checkpoint(offsets)`` must durably store what ``handler`` did up to ``offsets`` (next offset
        per (topic, partition)) before they are committed: at once (returning None), or by taking it at
        once and returning its write, which the source runs on a writer thread (`commit`);
        ``checkpointed()`` returns the offsets of the last stored checkpoint. Checkpoints are taken at
        most every ``checkpoint_interval`` seconds."""
        self._settings = settings
        self._handler = handler
        self._checkpoint = checkpoint
        self._checkpointed = checkpointed
        self._checkpoint_interval = checkpoint_interval
        self._last_checkpoint = 0.0
        self._in_flight: tuple[Future[None], dict[tuple[str, int], int]] | None = None  # a write running
        self._pool: ThreadPoolExecutor | None = None  # runs the checkpoint writes the hook defers
        self._unsent = False  # a stored checkpoint not committed to Kafka yet
        self._observer = observer
        self._poll_ms = int(poll_timeout * 1000)
        self._factory = consumer_factory
        self._consumer: Any = None  # a Consumer (the protocol), while connected
        self.connected = False
        self.last_error: str | None = None
        self.down_since: float | None = None  # wall-clock time of the first failure of an outage
        self._lag_exported = 0.0
        self._lag_series: set[tuple[str, str]] = set()
        # what the windows hold of each partition, what may be committed, where to seek (no I/O)
        self._offsets = Offsets(
            "beginning" if settings.options.get("auto_offset_reset", "earliest") == "earliest" else "end"
        )
        self._handling = threading.RLock()  # guards _offsets
        self._unreachable_since: float | None = None
        # partitions stalled behind a batch that cannot be decoded, and when each paused one is retried
        self.undecodable: dict[tuple[str, int], UndecodableBatch] = {}
        self._stalled_since: dict[tuple[str, int], float] = {}  # wall-clock time each one stalled
        self._paused: dict[tuple[str, int], float] = {}
        # a poll failure that is not an outage (the broker answered; retrying does not fix it), since when
        self.problem: ConsumerProblem | None = None
        self.problem_since: float | None = None
        self._problem_clean: float | None = None  # monotonic time of the first poll without it
        self._missing_since: float | None = None  # monotonic time a subscribed topic was first found missing
        for reason in REASONS:  # so increase() sees the first one
            observer.count_undecodable_batches(reason, 0)

    def _connect(self) -> Consumer:
        """The reader ``kafka.reader`` names, subscribed; the source uses either through one protocol."""
        consumer: Consumer
        if self._settings.client == "confluent":
            from driftwatch.source.confluent import ConfluentConsumer, confluent_config

            consumer = ConfluentConsumer(
                confluent_config(self._settings, connection_config(self._settings)),
                max_records=int(
                    self._settings.options.get("max_poll_records", _DEFAULTS["max_poll_records"])
                ),
            )
        elif self._settings.reader == "process":
            from driftwatch.source.reader import ProcessConsumer

            consumer = ProcessConsumer(consumer_config(self._settings))
        else:
            consumer = ThreadConsumer((self._factory or KafkaConsumer)(**consumer_config(self._settings)))
        consumer.subscribe(self._topics(), listener=_CommitOnRevoke(self))
        return consumer

    def _topics(self) -> list[str]:
        """The predictions topic, and the labels topic when one is configured."""
        labels = self._settings.labels_topic
        return [self._settings.topic] + ([labels] if labels else [])

    def run(self, stop: threading.Event) -> None:
        """Consume until ``stop`` is set, then commit what was handled and close the consumer."""
        backoff = 0.5
        while not stop.is_set():
            if self._consumer is None:
                try:
                    self._consumer = self._connect()
                except Exception as exc:  # kafka-python raises KafkaTimeoutError, KafkaError, ValueError...
                    problem = classify(exc, self._settings.group_id)
                    if problem is not None:  # e.g. a setting it refuses: no retry fixes it, say what to fix
                        self._problem(problem)
                        stop.wait(_PROBLEM_RETRY)
                        continue
                    self._down(f"cannot connect to {', '.join(self._settings.bootstrap_servers)}: {exc}")
                    stop.wait(backoff)
                    backoff = min(backoff * 2, 30.0)
                    continue
                backoff = 0.5
            self._resume_due()
            try:
                batches = self._consumer.poll(timeout_ms=self._poll_ms)
            except Exception as exc:  # a poll error is transient: keep what is windowed, retry
                batch = undecodable(exc)
                if batch is not None:  # the broker answered: a stalled partition, not an outage
                    self._undecodable(batch, stop)
                    backoff = 0.5
                    continue
                problem = getattr(exc, "problem", None) or classify(exc, self._settings.group_id)
                if getattr(exc, "reader_exited", False):  # the reader process is gone: start another
                    if getattr(exc, "crashed", True):
                        log.error("kafka: %s; restarting it", exc)
                    self._drop_consumer()
                    if problem is None:
                        self._down(str(exc))
                if problem is not None:  # the broker answered (or was not asked): not an outage
                    self._problem(problem)
                    if getattr(exc, "reader_exited", False):  # its consumer could not start: a new process
                        stop.wait(max(backoff, _PROBLEM_RETRY))  # each time, so back off as for an outage
                        backoff = min(backoff * 2, 30.0)
                    else:
                        stop.wait(_PROBLEM_RETRY)
                        backoff = 0.5
                    continue
                if not getattr(exc, "reader_exited", False):
                    self._down(f"poll failed: {exc}")
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            self._unstall(("", -1))  # an unlocated undecodable batch: this poll went through
            if not batches and self._consumer.connecting():
                continue  # the reader process has not reported a connection yet (poll waited)
            if not batches and not self._reachable():
                self._down("no broker reachable (all connections down)")
                stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)
                continue
            self._up()
            self._problem_over(bool(batches))
            backoff = 0.5
            self._export_lag()
            # kafka-python may run rebalance callbacks on its own thread while a batch is handled;
            # the lock keeps "handled up to" and the windows in step for them
            try:
                self._handle(batches)
            except Exception:  # a bug, or a partition taken away meanwhile: log it, keep consuming
                log.exception("processing a polled batch failed; continuing")
                stop.wait(0.5)
                continue
            if self._written():
                self._commit_stored()  # the checkpoint written meanwhile: its offsets may go to Kafka
            if time.monotonic() - self._last_checkpoint >= self._checkpoint_interval:
                self.commit()
        self.close()

    def _handle(self, batches: dict[Any, list[Any]]) -> None:
        with self._handling:
            # a rebalance may have run on kafka-python's thread since poll() returned: records of
            # partitions no longer ours, or below what the windows already hold, are dropped
            assigned = set(self._consumer.assignment())
            messages: list[Any] = []
            for tp, records in batches.items():
                if tp not in assigned or not records:
                    continue
                key = (tp.topic, tp.partition)
                start, floor = self._offsets.admit(key, _RecordOffsets(records), self._highwater(tp))
                if floor is not None:
                    log.info(
                        "kafka: %s[%d] skipping records below %d, already windowed before a restart",
                        tp.topic,
                        tp.partition,
                        floor,
                    )
                if start < len(records):
                    kept = records[start:] if start else records
                    self._decoded(key, kept[-1].offset)
                    messages.extend(kept)
            if messages:
                try:
                    self._handler(messages)
                except Exception:  # never let one batch stop consumption; the handler counts what it can
                    log.exception("handling a batch of %d records failed; skipping it", len(messages))

    def _highwater(self, tp: Any) -> int | None:
        try:
            highwater: int | None = self._consumer.highwater(tp)
        except Exception:  # no longer assigned
            return None
        return highwater

    def _reachable(self, grace: float = 3.0) -> bool:
        """False once no broker connection has been up for ``grace`` seconds. kafka-python's poll does
        not fail when the brokers go away (it returns nothing), so ask its client."""
        try:
            up = self._consumer.broker_connected()
        except Exception:  # another kafka-python version: rely on poll errors alone
            return True
        if up:
            self._unreachable_since = None
            return True
        now = time.monotonic()
        if self._unreachable_since is None:
            self._unreachable_since = now
        return now - self._unreachable_since < grace

    def _export_lag(self) -> None:
        """Lag per assigned partition, from the high watermark of the latest fetch response (a broker's
        ``end_offsets`` answer can lag behind it), at most once a second."""
        now = time.monotonic()
        if now - self._lag_exported < 1.0:
            return
        self._lag_exported = now
        self._check_topics()
        try:
            assignment = self._consumer.assignment()
        except Exception:
            return
        for tp in assignment:
            try:
                highwater = self._consumer.highwater(tp)
            except Exception:  # taken away since assignment() answered
                continue
            if highwater is None:
                continue
            try:
                position = self._consumer.position(tp, timeout_ms=0)
            except Exception:  # no position yet (not fetched since the assignment)
                continue
            if position is None:
                continue
            self._decoded((tp.topic, tp.partition), position - 1, by_position=True)
            if position > highwater:  # the log is shorter than what we read: deleted and recreated
                self._rewind(tp, position, highwater)
                continue
            self._observer.set_consumer_lag(tp.topic, tp.partition, max(0, highwater - position))
            self._lag_series.add((tp.topic, str(tp.partition)))

    def _rewind(self, tp: Any, position: int, highwater: int) -> None:
        """Read a recreated log again from where the ledger says (the beginning, or the end)."""
        with self._handling:
            rewind = self._offsets.beyond_end((tp.topic, tp.partition), position, highwater)
            log.warning(
                "kafka: %s[%d] position %d is beyond the log end %d (topic recreated?); reading it from the %s",
                tp.topic,
                tp.partition,
                position,
                highwater,
                rewind,
            )
            try:
                if rewind == "beginning":
                    self._consumer.seek_to_beginning(tp)
                elif rewind == "end":
                    self._consumer.seek_to_end(tp)
            except Exception as exc:
                log.warning("kafka: could not rewind %s[%d]: %s", tp.topic, tp.partition, exc)

    def _check_topics(self) -> None:
        """A subscribed topic the cluster does not have: kafka-python waits for it silently (its polls
        return nothing, as for a quiet topic), so look at its metadata; said after a grace period (the
        first metadata answer may predate the subscription), over once the topic is there."""
        try:
            missing = self._consumer.missing_topics()
        except Exception:
            return
        if not missing:
            self._missing_since = None
            if self.problem is not None and self.problem.reason == "unknown_topic":
                log.info("kafka: the topics are there now")
                self.problem = self.problem_since = self._problem_clean = None
            return
        now = time.monotonic()
        if self._missing_since is None:
            self._missing_since = now
        if now - self._missing_since >= _MISSING_GRACE:
            self._problem(unknown_topics(missing))

    def _undecodable(self, batch: UndecodableBatch, stop: threading.Event) -> None:
        """A fetched batch could not be decoded: count and name it, pause its partition until the next
        retry (the others go on meanwhile), and keep the lag exported. The broker answered: Kafka is up."""
        if self._consumer is not None:
            self._consumer.discard_failed_batch()  # the process reader's child has done so itself
        key = batch.key
        if key is not None and key in self._paused:  # fetched before the pause took effect: counted
            return
        self._observer.count_undecodable_batches(batch.reason)
        if key is None:  # no partition to pause: wait before the next try, all partitions alike
            if self.undecodable.get(("", -1)) != batch:
                log.error("kafka: %s", batch.describe())
            self.undecodable[("", -1)] = batch
            self._stalled_since.setdefault(("", -1), time.time())
            self._up()
            self._export_lag()
            stop.wait(_UNDECODABLE_RETRY)
            return
        if self.undecodable.get(key) != batch:
            log.error("kafka: %s", batch.describe())
        else:
            log.debug("kafka: %s still cannot be decoded", batch.where())
        self.undecodable[key] = batch
        self._stalled_since.setdefault(key, time.time())
        try:
            self._consumer.pause(TopicPartition(*key))
            self._paused[key] = time.monotonic() + _UNDECODABLE_RETRY
        except Exception as exc:  # no longer assigned: nothing to retry here
            log.debug("kafka: could not pause %s[%d]: %s", key[0], key[1], exc)
            stop.wait(0.5)
        self._up()
        self._export_lag()

    def _resume_due(self) -> None:
        """Fetch again the partitions paused behind an undecodable batch whose retry time has come."""
        if not self._paused:
            return
        now = time.monotonic()
        for key, due in list(self._paused.items()):
            if due > now:
                continue
            del self._paused[key]
            try:
                self._consumer.resume(TopicPartition(*key))
            except Exception as exc:  # taken away meanwhile: its next owner reads it
                log.debug("kafka: could not resume %s[%d]: %s", key[0], key[1], exc)

    def _decoded(self, key: tuple[str, int], offset: int, by_position: bool = False) -> None:
        """Records up to ``offset`` of a partition were read: a batch it was stalled behind is passed.
        (A batch of unknown offset is passed once records arrive, not by the position, which stays put.)"""
        batch = self.undecodable.get(key)
        if batch is None or (batch.offset is None and by_position):
            return
        if batch.offset is None or offset >= batch.offset:
            self._unstall(key)
            self._unstall(("", -1))
            log.info("kafka: %s[%d] is read again past the batch that could not be decoded", *key)

    def _unstall(self, key: tuple[str, int]) -> None:
        self.undecodable.pop(key, None)
        self._stalled_since.pop(key, None)

    @contextmanager
    def holding(self) -> Iterator[dict[str, int]]:
        """Hold up the handling of polled batches (one in progress finishes first) and yield, for each
        partition read, ``"topic:partition"`` -> the next offset after the last record handed to the
        windows: what a window snapshot taken meanwhile holds."""
        with self._handling:
            yield {
                f"{topic}:{partition}": offset
                for (topic, partition), offset in sorted(self._offsets.handled.items())
            }

    def stalls(self) -> list[tuple[UndecodableBatch, float]]:
        """The batches partitions are stalled behind, each with the wall-clock time it stalled."""
        since = dict(self._stalled_since)
        return [(batch, since.get(key, time.time())) for key, batch in list(self.undecodable.items())]

    def _problem(self, problem: ConsumerProblem) -> None:
        """A poll (or the consumer's creation) failed with an error that is not an outage: name it once
        with its fix; Kafka is up when the broker answered (kafka-python refuses some settings before)."""
        if problem != self.problem:
            log.error("kafka: %s; retrying every %gs", problem.describe(), _PROBLEM_RETRY)
        if self.problem is None:
            self.problem_since = time.time()
        self.problem = problem
        self._problem_clean = None
        if problem.broker_answered:  # not _up(): that would log "consuming"
            self.connected = True
            self.last_error = None
            self.down_since = None
            self._observer.set_kafka_up(True)

    def _problem_over(self, records: bool) -> None:
        """A poll went through: a consumer problem is over once records arrive, or after polls without it
        for a while (a fetch-time error may take a poll or two to come back)."""
        if (
            self.problem is None or self.problem.reason == "unknown_topic"
        ):  # _check_topics says when it is over
            return
        now = time.monotonic()
        if self._problem_clean is None:
            self._problem_clean = now
        if records or now - self._problem_clean >= _PROBLEM_OVER:
            log.info("kafka: the consumer error is over (%s)", self.problem.reason)
            self.problem = self.problem_since = self._problem_clean = None

    def forget_lag(self, partitions: Any) -> None:
        """Drop the lag series of partitions this replica no longer owns."""
        for tp in partitions:
            self._unstall((tp.topic, tp.partition))
            self._paused.pop((tp.topic, tp.partition), None)
            series = (tp.topic, str(tp.partition))
            if series in self._lag_series:
                self._lag_series.discard(series)
                self._observer.drop_consumer_lag(tp.topic, tp.partition)

    def commit(self, wait: bool = False) -> None:
        """Checkpoint what was handled, then commit to Kafka what the stored checkpoints cover.

        The checkpoint hook takes the windows' changes at once (with the offsets, under the lock, so they
        match) and may hand back their durable write, which then runs on a writer thread while consuming
        goes on: one write at a time, the next checkpoint is taken once it is done. Its offsets are
        committed to Kafka only after it is stored (on a later pass of the loop), never before; a write
        that fails leaves the records pending for the next checkpoint. With ``wait`` (shutdown) the write
        in flight and this checkpoint complete before the commit."""
        if self._consumer is None:
            return
        if not self._settle(wait):
            return  # the last write still runs: the next pass takes the checkpoint
        with self._handling:
            offsets = self._offsets.to_checkpoint()
            write = None if offsets is None else self._take(offsets)
            if offsets is not None and write is not False:
                self._last_checkpoint = time.monotonic()
                if write is not None and wait and not self._write(write):
                    write = False
                elif write is not None and not wait:
                    self._in_flight = (self._writer().submit(write), offsets)
                else:
                    self._offsets.stored(offsets)
                    self._unsent = True
        self._commit_stored()  # what is stored now, a write settled above included

    def _take(self, offsets: dict[tuple[str, int], int]) -> Callable[[], None] | Literal[False] | None:
        """Take a checkpoint of what was handled up to ``offsets`` (under the lock): the write still to run,
        None when the hook stored it already, False when it failed."""
        write = None
        if self._checkpoint is not None:
            try:
                write = self._checkpoint(offsets)
            except Exception:  # not stored: do not commit either, the records will be redelivered
                log.exception("checkpoint failed; offsets not committed (records stay pending)")
                return False
        self._offsets.taken()
        return write

    def _write(self, write: Callable[[], None]) -> bool:
        try:
            write()
        except Exception:
            log.exception("checkpoint failed; offsets not committed (records stay pending)")
            self._offsets.failed()
            return False
        return True

    def _written(self) -> bool:
        """Whether a checkpoint write has finished and waits to be settled."""
        flight = self._in_flight
        return flight is not None and flight[0].done()

    def _settle(self, wait: bool) -> bool:
        """Settle the checkpoint write in flight, if it is done (or once it is, with ``wait``): its offsets
        count as stored, or its records as pending again if it failed. True when no write is left."""
        with self._handling:
            if self._in_flight is None:
                return True
            future, offsets = self._in_flight
            if not wait and not future.done():
                return False
            self._in_flight = None
            try:
                future.result()
            except Exception:
                log.exception("checkpoint failed; offsets not committed (records stay pending)")
                self._offsets.failed()
                return True
            self._offsets.stored(offsets)
            self._unsent = True
            return True

    def _commit_stored(self) -> None:
        """Commit to Kafka the offsets of the last stored checkpoint (of the partitions still ours)."""
        self._settle(wait=False)
        if self._consumer is None or not self._unsent:
            return
        try:
            with self._handling:
                commit = self._offsets.to_commit(_keys(self._consumer.assignment()))
                self._unsent = False
            self._consumer.commit(_kafka_offsets(commit))
            with self._handling:
                self._offsets.commit_done(commit)
            self._observer.count_offset_commit("ok")
        except Exception as exc:  # the records stay uncommitted: the checkpoint decides on restart
            self._observer.count_offset_commit("error")
            log.warning("offset commit failed (the local checkpoint keeps the position): %s", exc)

    def _writer(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="driftwatch-checkpoint")
        return self._pool

    def set_floors(self, assigned: Any) -> None:
        """On assignment: records below what this process handled, or below the local checkpoint of an
        earlier process, are already in the windows; the group may hand them out again."""
        self._settle(wait=True)  # the floors count the checkpoint being written
        stored = self._checkpointed() if self._checkpointed is not None else {}
        with self._handling:
            self._offsets.assign(_keys(assigned), stored)

    def checkpoint_on_revoke(self, revoked: Any = ()) -> None:
        """Before partitions go: store what was handled; commit without blocking (kafka-python runs
        this callback where a blocking commit is not allowed); the checkpoint is what counts."""
        if self._consumer is None:
            return
        try:
            with self._handling:
                self._settle(wait=True)
                offsets = self._offsets.to_checkpoint()
                if offsets is not None:
                    write = self._take(offsets)
                    if write is False or (write is not None and not self._write(write)):
                        raise RuntimeError("the checkpoint was not stored")
                    self._offsets.stored(offsets)
                commit = self._offsets.to_commit(_keys([*self._consumer.assignment(), *revoked]))
                self._unsent = False
            self._consumer.commit_async(_kafka_offsets(commit))
            with self._handling:
                self._offsets.commit_done(commit)
        except Exception as exc:
            log.warning("checkpoint before a rebalance failed (records may be read again): %s", exc)

    def _drop_consumer(self) -> None:
        """Forget a consumer that cannot be used any more (its reader process died); nothing to commit."""
        self._settle(wait=True)  # what it stores counts as the floors of the next consumer
        consumer, self._consumer = self._consumer, None
        self._paused.clear()  # a new consumer fetches every partition: a stalled one is retried at once
        try:
            consumer.close(autocommit=False)
        except Exception as exc:
            log.warning("closing the Kafka consumer: %s", exc)
        self.connected = False
        self._observer.set_kafka_up(False)  # no connection now: as connected says

    def close(self) -> None:
        if self._consumer is not None:
            self.commit(wait=True)
        self._settle(wait=True)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._consumer is None:
            return
        try:
            self._consumer.close(autocommit=False)
        except Exception as exc:
            log.warning("closing the Kafka consumer: %s", exc)
        self._consumer = None
        self.connected = False
        self._observer.set_kafka_up(False)

    def _up(self) -> None:
        if not self.connected:
            log.info(
                "kafka: consuming %s from %s",
                self._settings.topic,
                ", ".join(self._settings.bootstrap_servers),
            )
        self.connected = True
        self.last_error = None
        self.down_since = None
        self._observer.set_kafka_up(True)

    def _down(self, error: str) -> None:
        if self.problem is not None and self.problem.broker_answered:  # the outage is what is true now
            self.problem = self.problem_since = self._problem_clean = None
        if self.connected or self.last_error is None:
            log.warning("kafka: %s; retrying (check kafka.bootstrap_servers and that the broker runs)", error)
        self.connected = False
        self.last_error = error
        if self.down_since is None:
            self.down_since = time.time()
        self._observer.set_kafka_up(False)


class _RecordOffsets:
    """The offsets of one partition's polled records, read in place (no copy per batch)."""

    __slots__ = ("_records",)

    def __init__(self, records: Sequence[Message]) -> None:
        self._records = records

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index: int) -> int:
        return self._records[index].offset


def _keys(partitions: Any) -> set[tuple[str, int]]:
    return {(tp.topic, tp.partition) for tp in partitions}


def _kafka_offsets(offsets: dict[tuple[str, int], int]) -> dict[TopicPartition, OffsetAndMetadata]:
    return {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for (t, p), o in offsets.items()}


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commit handled records before a rebalance hands their partitions to another replica."""

    def __init__(self, source: KafkaSource) -> None:
        self._source = source

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._source.checkpoint_on_revoke(revoked)
        self._source.forget_lag(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("kafka: assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))
        self._source.set_floors(assigned)
