"""Fetching and parsing Kafka records in a child process (``kafka.reader: process``).

kafka-python parses record batches in pure Python, which costs about as much
CPU per record as the daemon's own handling; in one process both share one
GIL. With this reader a child process runs the ``KafkaConsumer`` (fetching,
parsing, the group membership) and ships each poll's records over a pipe,
so parsing runs on another core while the daemon windows what it received.

The daemon keeps every decision: :class:`ProcessConsumer` offers the part of
the ``KafkaConsumer`` interface that :class:`~driftwatch.source.kafka.KafkaSource`
uses, so the source's bookkeeping (handled offsets, floors, recreated-log
detection, lag, reachability) is the same code for both readers. The child
commits offsets only when told (after the daemon's checkpoint); when the
group takes partitions away, the child's rebalance listener tells the daemon,
which checkpoints what it handled and answers with the offsets to commit.
The child ignores SIGINT and SIGTERM (the daemon stops it) and exits as soon
as the daemon is gone (its end of the pipe closes, or its parent changes).

The messages both ways are typed structs, MessagePack on the pipe: see
:mod:`driftwatch.source.messages`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Literal

from kafka import ConsumerRebalanceListener, TopicPartition

from driftwatch.source import messages as m
from driftwatch.source.problems import ConsumerProblem, ConsumerProblemError, classify, missing_topics
from driftwatch.source.undecodable import UndecodableBatchError, discard_failed_batch, undecodable

__all__ = ["ProcessConsumer", "ReaderExitedError"]

log = logging.getLogger(__name__)

Key = tuple[str, int]
Reported = dict[Key, tuple[int | None, int | None]]  # (highwater, position) per partition

_QUEUE_BATCHES = 4  # polled batches the child may have sent ahead of the daemon's polls (credits)
_STATUS_EVERY = 0.5  # seconds between the child's highwater/position/connection reports
_REVOKE_WAIT = 5.0  # seconds the child's rebalance listener waits for the daemon's checkpoint
_COMMIT_WAIT = 5.0  # seconds the daemon waits for the child to confirm a commit
_CLOSE_WAIT = 3.0  # seconds the daemon gives the child to close its consumer and exit


class ReaderExitedError(RuntimeError):
    """The reader process is gone (crashed, killed, or could not connect)."""

    reader_exited = True  # KafkaSource starts another reader when its poll raises this

    def __init__(self, text: str, crashed: bool = True, problem: ConsumerProblem | None = None) -> None:
        super().__init__(text)
        self.crashed = crashed  # False: it reported why it stopped (e.g. no broker to connect to)
        self.problem = problem  # why it stopped, when that is not a network failure (e.g. a setting)


class Record:
    """What the pipeline reads of a record, rebuilt in the daemon from the child's columns."""

    __slots__ = ("key", "offset", "partition", "timestamp", "topic", "value")

    def __init__(
        self, topic: str, partition: int, offset: int, timestamp: int, key: bytes | None, value: bytes | None
    ) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value


# the daemon's side ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Fetched:
    """A batch as queued for poll(): each part with the partition's revocation count when it arrived."""

    parts: list[tuple[m.Part, int]]


@dataclass(frozen=True)
class _Gone:
    """The reader process is gone: every later poll raises ``error``."""

    error: ReaderExitedError


_Queued = _Fetched | m.PollError | m.Undecodable | _Gone


class ProcessConsumer:
    """The subset of ``KafkaConsumer`` that ``KafkaSource`` uses, backed by a reader process.

    A receiver thread reads the pipe: batches are queued for :meth:`poll`; assignments and revocations
    are passed to the rebalance listener at once (as kafka-python calls it on its own thread), so a
    revocation is checkpointed and answered even while the daemon's consumer thread backs off."""

    def __init__(self, options: dict[str, Any]) -> None:
        # a fresh interpreter (not a fork of the threaded daemon, not multiprocessing's spawn, which
        # would run the daemon's __main__ again); the pipe is a socket pair it inherits
        ours, theirs = socket.socketpair()
        levels = [str(logging.getLogger(name).getEffectiveLevel()) for name in ("driftwatch", "kafka")]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(theirs.fileno()), str(os.getpid()), *levels],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._sending = threading.Lock()
        self._state = threading.Condition()  # guards what the receiver thread updates
        self._listener: Any = None
        # unbounded: the child sends a batch only against a credit, given back here as each is polled
        self._batches: queue.Queue[_Queued] = queue.Queue()
        self._assigned: set[Key] = set()
        self._revocations: dict[Key, int] = {}  # revocations per partition: queued batches before are void
        self._connected: bool | None = None
        self._reported_offsets: Reported = {}
        self._missing: list[str] = []  # subscribed topics the cluster's metadata lacks, as the child reported
        self._seeks = 0
        self._seeking: dict[Key, int] = {}  # partition -> its latest seek, until the child reports it done
        self._answers: dict[int, str | None] = {}  # commit id -> error (None: committed)
        self._commits = 0
        self._revoking: int | None = None  # set while the listener runs for a revocation the child awaits
        self._gone: str | None = None  # why the reader process is gone
        self._error_queued = False  # a poll error waits in the queue: the child's repeats of it are dropped
        self._closed = False
        self._send(m.Options(options))
        self._receiver = threading.Thread(target=self._receive_loop, name="kafka-reader-pipe", daemon=True)
        log.info("kafka: reader process %d started", self._process.pid)

    @property
    def pid(self) -> int:
        return self._process.pid

    # KafkaConsumer interface

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self._listener = listener
        self._send(m.Subscribe(list(topics)))
        self._receiver.start()

    def poll(self, timeout_ms: int = 0) -> dict[TopicPartition, list[Record]]:
        try:
            item = self._batches.get(timeout=timeout_ms / 1000)
        except queue.Empty:
            return {}
        if isinstance(item, _Fetched):
            self._send(m.Credit())
            return self._records(item.parts)
        if isinstance(item, m.PollError):
            self._error_queued = False
            if item.problem is not None:
                raise ConsumerProblemError(item.problem)
            raise RuntimeError(item.text)
        if isinstance(item, m.Undecodable):
            raise UndecodableBatchError(item.batch)
        self._batches.put(item)  # the reader is gone: say so to every later poll too
        raise item.error

    def assignment(self) -> set[TopicPartition]:
        with self._state:
            return {TopicPartition(t, p) for t, p in self._assigned}

    def highwater(self, tp: TopicPartition) -> int | None:
        return self._reported(tp)[0]

    def position(self, tp: TopicPartition, timeout_ms: int = 0) -> int | None:
        return self._reported(tp)[1]

    def broker_connected(self) -> bool:
        """Whether the child has a broker connection up, as it last reported."""
        return self._connected is True

    def missing_topics(self) -> list[str]:
        """Subscribed topics the cluster's metadata lacks, as the child last reported."""
        return list(self._missing)

    def connecting(self) -> bool:
        """True until the child first reports on its broker connections (it may still be bootstrapping)."""
        return self._connected is None and self._gone is None

    def discard_failed_batch(self) -> None:
        """Nothing to do here: the child has discarded the failed fetch before it reported it."""

    def pause(self, *partitions: TopicPartition) -> None:
        """Have the child stop fetching ``partitions`` (one stalled behind an undecodable batch)."""
        self._send(m.Pause([(tp.topic, tp.partition) for tp in partitions]))

    def resume(self, *partitions: TopicPartition) -> None:
        self._send(m.Resume([(tp.topic, tp.partition) for tp in partitions]))

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self._seek(tp, "beginning")

    def seek_to_end(self, *partitions: TopicPartition) -> None:
        for tp in partitions:
            self._seek(tp, "end")

    def commit(self, offsets: dict[TopicPartition, Any]) -> None:
        """Have the child commit ``offsets`` and wait for its answer; raises if it failed."""
        with self._state:
            self._commits += 1
            ident = self._commits
        self._send(m.Commit(ident, _plain(offsets)))
        deadline = time.monotonic() + _COMMIT_WAIT
        with self._state:
            while ident not in self._answers:
                left = deadline - time.monotonic()
                if self._gone is not None:
                    raise ReaderExitedError(self._gone)
                if left <= 0:
                    raise TimeoutError(f"the reader process did not confirm the commit in {_COMMIT_WAIT:g}s")
                self._state.wait(left)
            error = self._answers.pop(ident)
        if error is not None:
            raise RuntimeError(error)

    def commit_async(self, offsets: dict[TopicPartition, Any]) -> None:
        """Only used before partitions are revoked: the answer the child's listener waits for."""
        if self._revoking is not None:
            self._send(m.RevokeDone(self._revoking, _plain(offsets)))
            self._revoking = None

    def close(self, autocommit: bool = False) -> None:
        """Stop the child (it closes its consumer without committing) and wait for it; kill it if need be."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + _CLOSE_WAIT
        with contextlib.suppress(ReaderExitedError):
            self._send(m.Close())
        try:
            self._process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.warning("kafka: reader process %d did not exit; killing it", self._process.pid)
            self._process.kill()
            self._process.wait()
        if self._receiver.is_alive():
            self._receiver.join(1.0)
        self._conn.close()

    # internals

    def _seek(self, tp: TopicPartition, where: Literal["beginning", "end"]) -> None:
        with self._state:
            self._seeks += 1
            self._seeking[(tp.topic, tp.partition)] = self._seeks
        self._send(m.Seek(tp.topic, tp.partition, where))

    def _send(self, message: m.ToReader) -> None:
        try:
            with self._sending:
                m.send(self._conn, message)
        except OSError as exc:
            raise ReaderExitedError(
                f"reader process {self._process.pid} is gone (exit code {self._process.poll()})"
            ) from exc

    def _receive_loop(self) -> None:
        """The receiver thread: until the pipe closes."""
        why: str | None = None
        problem: ConsumerProblem | None = None
        try:
            while True:
                item = m.receive_from_reader(self._conn)
                if isinstance(item, m.Batch):
                    self._update(item.status, item.seeks_done)
                    with self._state:
                        revocations = self._revocations.copy()
                    parts = [(part, revocations.get((part.topic, part.partition), 0)) for part in item.parts]
                    self._queue(_Fetched(parts))
                elif isinstance(item, m.StatusReport):
                    self._update(item.status, item.status.seeks_done)
                elif isinstance(item, m.Assigned):
                    self._on_assigned(item.keys)
                elif isinstance(item, m.Revoked):
                    self._on_revoked(item.seq, item.keys)
                elif isinstance(item, m.Committed):
                    with self._state:
                        if item.id == self._commits:  # the commit waiting (an earlier one timed out)
                            self._answers[item.id] = item.error
                            self._state.notify_all()
                elif isinstance(item, m.PollError):
                    # the child polls again at once, the daemon after a back-off: one waiting is enough
                    if not self._error_queued:
                        self._error_queued = True
                        self._queue(item)
                elif isinstance(item, m.Undecodable):
                    self._queue(item)
                elif isinstance(item, m.Failed):
                    why, problem = item.text, item.problem
        except (EOFError, OSError):
            pass
        except Exception:  # a bug here must not leave the daemon waiting for batches forever
            log.exception("kafka: reading from the reader process failed")
        crashed = why is None
        if why is None:
            try:
                code = self._process.wait(2.0)
            except subprocess.TimeoutExpired:  # half gone (its pipe closed): make sure it is
                self._process.kill()
                code = self._process.wait()
            why = f"reader process {self._process.pid} exited (exit code {code})"
        with self._state:
            self._gone = why
            self._state.notify_all()
        if not self._closed:
            self._queue(_Gone(ReaderExitedError(why, crashed=crashed, problem=problem)))

    def _queue(self, item: _Queued) -> None:
        if not self._closed:
            self._batches.put(item)

    def _reported(self, tp: TopicPartition) -> tuple[int | None, int | None]:
        key = (tp.topic, tp.partition)
        with self._state:
            if key in self._seeking:  # what the child reported predates the seek
                return None, None
            return self._reported_offsets.get(key, (None, None))

    def _update(self, status: m.Status | None, seeks_done: int) -> None:
        with self._state:
            if status is not None:
                self._connected = status.connected
                self._reported_offsets = {
                    (o.topic, o.partition): (o.highwater, o.position) for o in status.offsets
                }
                self._missing = list(status.missing)
            if self._seeking:
                self._seeking = {key: seek for key, seek in self._seeking.items() if seek > seeks_done}

    def _records(self, parts: list[tuple[m.Part, int]]) -> dict[TopicPartition, list[Record]]:
        """The records of a batch, without partitions revoked since it was fetched; the (highwater,
        position) the child read with them replace older ones."""
        out: dict[TopicPartition, list[Record]] = {}
        with self._state:
            revocations = self._revocations.copy()
        for part, revoked in parts:
            topic, partition = part.topic, part.partition
            if revocations.get((topic, partition), 0) != revoked:
                continue  # fetched before a revocation: the next owner reads them from the commit
            with self._state:
                if (topic, partition) not in self._seeking:
                    self._reported_offsets[(topic, partition)] = (part.highwater, part.position)
            n = len(part.offsets)
            out[TopicPartition(topic, partition)] = list(
                map(
                    Record,
                    [topic] * n,
                    [partition] * n,
                    part.offsets,
                    part.timestamps,
                    part.keys,
                    part.values,
                )
            )
        return out

    def _on_assigned(self, keys: list[Key]) -> None:
        with self._state:
            self._assigned |= set(keys)
        if self._listener is not None:
            self._listener.on_partitions_assigned({TopicPartition(t, p) for t, p in keys})

    def _on_revoked(self, seq: int, keys: list[Key]) -> None:
        """``seq`` 0: the partitions are lost (no commit possible), the child does not wait."""
        revoked = {TopicPartition(t, p) for t, p in keys}
        with self._state:
            self._assigned -= set(keys)
            for key in keys:
                self._revocations[key] = self._revocations.get(key, 0) + 1
        self._revoking = seq or None
        try:
            if self._listener is not None:
                self._listener.on_partitions_revoked(revoked)
        except Exception:
            log.exception("kafka: checkpoint before a rebalance failed")
        finally:
            if self._revoking is not None:  # the listener committed nothing: let the child go on
                self._revoking = None
                self._send(m.RevokeDone(seq, None))


def _plain(offsets: dict[TopicPartition, Any]) -> m.CommitOffsets:
    return [(tp.topic, tp.partition, int(getattr(o, "offset", o))) for tp, o in offsets.items()]


# the child's side -------------------------------------------------------------------------------


def main(argv: list[str]) -> None:
    """Entry point of the reader process: ``python -m driftwatch.source.reader FD PARENT_PID LEVEL
    KAFKA_LEVEL`` (the daemon's log levels for its own loggers and for kafka-python's)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when this process stops
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    fd, parent, level, kafka_level = (int(arg) for arg in argv[:4])
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s[reader]: %(message)s")
    logging.getLogger("kafka").setLevel(kafka_level)
    conn = Connection(fd)
    try:
        first = m.receive_to_reader(conn)
    except (EOFError, OSError):
        return
    if not isinstance(first, m.Options):
        raise SystemExit(f"the reader process expected its options first, not {type(first).__name__}")
    _Reader(conn, first.options, parent).run()


class _Reader:
    def __init__(self, conn: Connection, options: dict[str, Any], parent: int) -> None:
        self._conn = conn
        self._options = options
        self._parent = parent
        self._out: queue.Queue[m.FromReader | None] = queue.Queue()  # batches in it and in flight: credits
        self._credits = threading.Semaphore(_QUEUE_BATCHES)  # batches the daemon has room for
        self._send_lock = threading.Lock()
        self._commands: queue.SimpleQueue[m.ToReader] = queue.SimpleQueue()
        self._revoke_lock = threading.Lock()
        self._revoke_seq = 0
        self._revoke_answer: m.RevokeDone | None = None
        self._revoke_done = threading.Event()
        self._consumer: Any = None
        self._closing = False
        self._seeks_done = 0

    def run(self) -> None:
        threading.Thread(target=self._send_loop, name="reader-send", daemon=True).start()
        threading.Thread(target=self._command_loop, name="reader-commands", daemon=True).start()
        from kafka import KafkaConsumer

        try:
            self._consumer = KafkaConsumer(**self._options)
        except Exception as exc:
            problem = classify(exc, self._options.get("group_id"))
            if problem is not None:
                self._fail(f"cannot start its consumer: {exc}", problem)
            else:
                self._fail(f"cannot connect to {', '.join(self._options['bootstrap_servers'])}: {exc}")
            return
        try:
            self._loop()
        except Exception as exc:
            log.exception("kafka reader failed")
            self._fail(f"failed: {exc}")
            return
        try:
            self._consumer.close(autocommit=False)
        except Exception as exc:
            log.warning("closing the Kafka consumer: %s", exc)
        self._out.put(None)  # the sender exits once everything before is sent

    def _fail(self, text: str, problem: ConsumerProblem | None = None) -> None:
        self._out.put(m.Failed(text, problem))
        self._out.put(None)
        time.sleep(0.5)  # let the sender deliver it
        os._exit(1)

    def _loop(self) -> None:
        consumer = self._consumer
        subscribed = False
        last_status = 0.0
        while not self._closing:
            if os.getppid() != self._parent:  # the daemon died without closing the pipe
                os._exit(0)
            for command in self._pending_commands():
                if isinstance(command, m.Subscribe):
                    consumer.subscribe(command.topics, listener=_Listener(self))
                    subscribed = True
                else:
                    self._command(command)
            if not subscribed:
                time.sleep(0.02)
                continue
            try:
                batches = consumer.poll(timeout_ms=100)
            except Exception as exc:  # transient: the daemon reports it and backs off, as in one process
                batch = undecodable(exc)
                if batch is not None:  # the daemon pauses the partition; the others go on meanwhile
                    discard_failed_batch(consumer)
                    self._out.put(m.Undecodable(batch))
                    time.sleep(0.1)
                    continue
                self._out.put(m.PollError(str(exc), classify(exc, self._options.get("group_id"))))
                time.sleep(0.5)
                continue
            now = time.monotonic()
            status = None
            if now - last_status >= _STATUS_EVERY:
                status = self._status()
                last_status = now
            if batches:
                parts = [
                    m.Part(
                        tp.topic,
                        tp.partition,
                        [r.offset for r in records],
                        [r.timestamp for r in records],
                        [r.key for r in records],
                        [r.value for r in records],
                        *self._offsets(tp),
                    )
                    for tp, records in batches.items()
                    if records
                ]
                self._put_batch(m.Batch(parts, status, self._seeks_done))
            elif status is not None:
                self._out.put(m.StatusReport(status))

    def _pending_commands(self) -> list[m.ToReader]:
        commands = []
        while True:
            try:
                commands.append(self._commands.get_nowait())
            except queue.Empty:
                return commands

    def _put_batch(self, item: m.Batch) -> None:
        """Queue a batch for the daemon once it has room for it (a credit); meanwhile carry out its
        commands (a commit must not wait behind records the daemon has no room for yet)."""
        while not self._credits.acquire(timeout=0.05):
            for command in self._pending_commands():
                self._command(command)
            if self._closing:
                return
        self._out.put(item)

    def _command(self, command: m.ToReader) -> None:
        from kafka.structs import OffsetAndMetadata

        if isinstance(command, m.Close):
            self._closing = True
        elif isinstance(command, m.Commit):
            offsets = {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for t, p, o in command.offsets}
            try:
                if offsets:
                    self._consumer.commit(offsets)
                error = None
            except Exception as exc:
                error = f"commit failed: {exc}"
            self._reply(m.Committed(command.id, error))
        elif isinstance(command, m.Pause | m.Resume):
            partitions = [TopicPartition(t, p) for t, p in command.keys]
            kind = "pause" if isinstance(command, m.Pause) else "resume"
            try:
                if kind == "pause":
                    self._consumer.pause(*partitions)
                else:
                    self._consumer.resume(*partitions)
            except Exception as exc:  # no longer assigned
                log.debug("kafka: could not %s %s: %s", kind, command.keys, exc)
        elif isinstance(command, m.Seek):
            self._seeks_done += 1
            tp = TopicPartition(command.topic, command.partition)
            try:
                if command.where == "beginning":
                    self._consumer.seek_to_beginning(tp)
                else:
                    self._consumer.seek_to_end(tp)
            except Exception as exc:
                log.warning("kafka: could not rewind %s[%d]: %s", tp.topic, tp.partition, exc)

    def _status(self) -> m.Status:
        consumer = self._consumer
        try:
            client = consumer._client
            up = any(client.connected(broker.node_id) for broker in client.cluster.brokers())
        except Exception:
            up = True
        reported = [
            m.PartitionOffsets(tp.topic, tp.partition, *self._offsets(tp)) for tp in consumer.assignment()
        ]
        try:
            subscribed = consumer.subscription() or ()
        except Exception:
            subscribed = ()
        return m.Status(up, reported, self._seeks_done, missing_topics(consumer, subscribed))

    def _offsets(self, tp: TopicPartition) -> tuple[int | None, int | None]:
        """(highwater, position) of an assigned partition, None for what is not known (yet)."""
        try:
            highwater = self._consumer.highwater(tp)
        except Exception:
            highwater = None
        try:
            position = self._consumer.position(tp, timeout_ms=0)
        except Exception:
            position = None
        return highwater, position

    def _send_loop(self) -> None:
        while True:
            item = self._out.get()
            if item is None:
                return
            self._reply(item)

    def _reply(self, item: m.FromReader) -> None:
        """Send ``item`` now (answers need no order with the records; the sender thread uses this too)."""
        try:
            with self._send_lock:
                m.send(self._conn, item)
        except OSError:  # the daemon is gone
            os._exit(0)

    def _command_loop(self) -> None:
        while True:
            try:
                command = m.receive_to_reader(self._conn)
            except (EOFError, OSError):  # the daemon is gone: commit nothing, leave
                os._exit(0)
            if isinstance(command, m.Close) and self._consumer is None:  # still connecting: nothing to close
                os._exit(0)
            if isinstance(command, m.Credit):
                self._credits.release()
            elif isinstance(command, m.RevokeDone):
                with self._revoke_lock:
                    if command.seq == self._revoke_seq:
                        self._revoke_answer = command
                        self._revoke_done.set()
            else:
                self._commands.put(command)

    def assigned(self, assigned: Any) -> None:
        self._out.put(m.Assigned([(tp.topic, tp.partition) for tp in assigned]))

    def lost(self, lost: Any) -> None:
        """Taken away without a revocation (the membership expired): nothing can be committed, the
        daemon checkpoints and stops handling them; no answer to wait for."""
        keys = [(tp.topic, tp.partition) for tp in lost]
        if keys and not self._closing:
            self._out.put(m.Revoked(0, keys))

    def revoked(self, revoked: Any) -> None:
        """Runs on kafka-python's IO thread: the daemon checkpoints, then answers with what to commit."""
        keys = [(tp.topic, tp.partition) for tp in revoked]
        if not keys or self._closing:  # closing: the daemon committed what it checkpointed already
            return
        with self._revoke_lock:
            self._revoke_seq += 1
            seq = self._revoke_seq
            self._revoke_answer = None
            self._revoke_done.clear()
        deadline = time.monotonic() + _REVOKE_WAIT
        self._out.put(m.Revoked(seq, keys))
        if not self._revoke_done.wait(max(0.0, deadline - time.monotonic())):
            log.warning("kafka: no checkpoint from the daemon before %s were revoked; not committing", keys)
            return
        answer = self._revoke_answer
        if answer is None or answer.offsets is None:
            return
        from kafka.structs import OffsetAndMetadata

        try:
            self._consumer.commit_async(
                {TopicPartition(t, p): OffsetAndMetadata(o, "", -1) for t, p, o in answer.offsets}
            )
        except Exception as exc:
            log.warning("kafka: commit before a rebalance failed (records may be read again): %s", exc)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, reader: _Reader) -> None:
        self._reader = reader

    def on_partitions_revoked(self, revoked: Any) -> None:
        self._reader.revoked(revoked)

    def on_partitions_assigned(self, assigned: Any) -> None:
        self._reader.assigned(assigned)

    def on_partitions_lost(self, lost: Any) -> None:
        self._reader.lost(lost)


if __name__ == "__main__":
    main(sys.argv[1:])
