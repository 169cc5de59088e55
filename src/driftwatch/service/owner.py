"""Ownership of models across scaled-out replicas: stage 1 forwards, the owner windows, checks and alerts.

With ``kafka.scale_out.enabled`` the daemon runs two stages (see `driftwatch.source.exchange`):

- `Forwarder` (stage 1, every replica): the records this replica reads, decoded and validated by
  `Ingest`, become one `Partial` per model and input partition, of the records inside the model's
  window, with the rows the owner can keep (those below the thresholds its window published). They
  go to the model's partition of ``G.samples`` (in pieces of at most ``kafka.scale_out.max_message_bytes``
  each when larger); the input offsets are committed only once they are acknowledged
  (`Forwarder.flush` is the source's checkpoint).
- `Owner` (stage 2): the replica holding partition ``q`` of ``G.samples`` (the owners' group decides)
  owns the models of ``q``. Taking ``q`` over, it writes a `Claim` to ``G.state[q]``, reads the
  changelog up to it and restores each model's window, input positions, alert states and pending
  webhook deliveries, then reads ``G.samples[q]`` from where the restored state ends. It applies each
  partial once (`PositionLedger` skips what is applied), checkpoints the models' changes to
  ``G.state[q]`` every ``state.checkpoint_interval`` and before any webhook is sent (so a new owner
  never raises an alert the old one raised), and publishes its windows' thresholds.

Labels join wherever they are read: for a model with performance monitoring, stage 1 also sends the
owner every gradable prediction it reads (`JoinRows`: id, event time, prediction, inline label) and
every label record that fits the model (`LabelRows`), on the same samples partition. The owner applies
them once each (a `PositionLedger` per model and kind, checkpointed with the positions as
``join:<topic>`` and ``labels:<topic>``: a Kafka topic name holds no colon) to its own label join
(a store private to the process, never the configured state file), counts ``labels_joined`` and
``labels_rejected`` (for the join's reasons; a label record that does not decode is counted and
dead-lettered by the replica that read it) and runs the realized performance checks with it. A label
naming no model goes to the owner of every model it fits, and each judges it for its model alone:
``labels_joined`` counts as one replica counts, but each owner whose model such a label does not
join counts it rejected (``duplicate``, ``unknown_id``, ...), where one replica counts it rejected
once, and only when it joins no model.

The label join state itself (pending predictions, joined rows, waiting labels, sampling rate) can be
large, so it is not in every checkpoint: a model's whole state (`LabelStore.dump`) goes with the
checkpoint at most every minute (``LABELS_EVERY``) and with the last one before the model is given
back, and a new owner loads the last one written. Limit: after a crash of the owner, what the join
took in since the last such dump is lost (positions checkpointed later are not read again): the
predictions among it still waiting for their labels (which then count as ``unknown_id`` or
``expired``) and the labels joined since. Nothing is joined twice.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt
from kafka.errors import KafkaError

from driftwatch.alerting.policy import BreachPolicy
from driftwatch.config import Settings
from driftwatch.service.metrics import Metrics
from driftwatch.service.results import LatestResults
from driftwatch.service.webhooks import Delivery, WebhookDispatcher
from driftwatch.source.exchange import (
    ExchangeError,
    ExchangeProducer,
    InternalTopics,
    OwnerConsumer,
    StateIndex,
    ThresholdFeed,
    partition_of,
    read_partition,
)
from driftwatch.state.changelog import (
    MAX_BYTES,
    Claim,
    ModelCheckpoint,
    OutboxEntry,
    PartitionCheckpoint,
    Replay,
    WindowDelta,
    encode_checkpoint,
    encode_claim,
)
from driftwatch.state.labels import LabelStore
from driftwatch.state.store import Store
from driftwatch.stream.labels import Label
from driftwatch.stream.partials import (
    Admission,
    JoinRows,
    LabelRows,
    Partial,
    PositionLedger,
    decode_message,
    join_rows,
    label_rows,
    split_partial,
    split_rows,
)
from driftwatch.stream.records import Prediction
from driftwatch.stream.windows import Window

__all__ = ["Forwarded", "Forwarder", "Owner", "replica_name"]

log = logging.getLogger(__name__)


def replica_name(configured: str | None) -> str:
    """This replica's name: the configured one, else the host name (a pod's name) and process id."""
    return configured or f"{socket.gethostname()}-{os.getpid()}"


class _Thresholds(msgspec.Struct, frozen=True):
    slots: dict[int, float]


_COMPACT_BYTES = 16 * 1024 * 1024  # changelog bytes after which a partition's state is rewritten whole
_COMPACT_RATIO = 4  # deltas since the last complete checkpoint, in multiples of its size
_COMPACT_AGE = 3600.0  # and at least this often (seconds), well within any retention of G.state
_THRESHOLDS = msgspec.msgpack.Encoder()
_THRESHOLDS_DECODER = msgspec.msgpack.Decoder(_Thresholds)

LABELS_EVERY = 60.0  # seconds between dumps of a model's label join state into its checkpoints

# the changelog's positions of the join rows and labels applied: the topic prefixed by the kind
_JOIN, _LABELS = "join:", "labels:"


def _groups(topics: Sequence[str], partitions: npt.NDArray[np.int64]) -> dict[tuple[str, int], list[int]]:
    """The indexes of the records of each input partition, in order."""
    groups: dict[tuple[str, int], list[int]] = {}
    for index, (topic, partition) in enumerate(zip(topics, partitions.tolist(), strict=True)):
        groups.setdefault((topic, partition), []).append(index)
    return groups


class Forwarded(NamedTuple):
    """What `Forwarder.forward` did with a model's records: how many were ``inside`` its window (sent
    and counted by the owner), and the indexes of those ``oversize``: too large to send (rejected)."""

    inside: int
    oversize: list[int]


class Forwarder:
    """Stage 1: a model's records, read from one input partition, to the model's owner."""

    def __init__(
        self,
        windows: Mapping[str, Window],
        topics: InternalTopics,
        partitions: int,
        producer: ExchangeProducer,
        metrics: Metrics,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        self._windows = windows
        self._topics = topics
        self._partitions = {name: partition_of(name, partitions) for name in windows}
        self._producer = producer
        self._metrics = metrics
        self.max_bytes = max_bytes  # the largest samples message: a larger partial goes in pieces
        self.admissions = {
            name: Admission(window.length, window.bucket_seconds) for name, window in windows.items()
        }

    def forward(
        self,
        model: str,
        topics: Sequence[str],
        partitions: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.float64],
        columns: Sequence[npt.NDArray[Any]],
        keys: npt.NDArray[np.float64],
        now: float,
        model_version: str | None,
        decoded: npt.NDArray[np.bool_] | None = None,
    ) -> Forwarded:
        """Send the model's records (one per position) to its owner: how many fell inside its window,
        and which could not be sent. With ``decoded`` (one flag per record), only records whose columns
        were decoded are sent as rows (`sampled` chose them); the others are counted all the same.

        A partial larger than ``max_bytes`` encoded goes as consecutive pieces (`split_partial`), in
        order, so the owner's ledger applies each once. A record whose row alone does not fit (its
        vectors and text beyond the bound) is not sent at all: it is one of `Forwarded.oversize`,
        for the caller to reject, and not counted inside the window."""
        admission = self.admissions[model]
        inside = 0
        oversize: list[int] = []
        # one partial per input partition: the owner skips what it has applied per partition
        for (topic, partition), indices in _groups(topics, partitions).items():
            if len(indices) == len(offsets):
                take: Any = slice(None)
            else:
                take = np.asarray(indices, dtype=np.int64)
            positions = offsets[take]
            partial, outside = admission.partial(
                model,
                topic,
                partition,
                int(positions[0]),
                int(positions[-1]),
                now,
                timestamps[take],
                keys[take],
                positions,
                [column[take] for column in columns],
                model_version,
                None if decoded is None else decoded[take],
            )
            inside += len(positions) - outside
            pieces = split_partial(partial, self.max_bytes)
            for _, data in pieces.fitting:
                self._send(model, data)
            for piece in pieces.oversize:
                inside -= piece.admitted
                oversize += [indices[int(i)] for i in np.searchsorted(positions, piece.row_offsets())]
        return Forwarded(inside, sorted(oversize))

    def sampled(
        self, model: str, now: float, timestamps: npt.NDArray[np.float64], keys: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]:
        """Which of a model's records (event ``timestamps``, sample ``keys``) its owner's window may keep
        at the reader's ``now``, by the thresholds the owner last published: those `forward` sends as
        rows (``kafka.decode: sampled`` decodes the features of those only)."""
        return self.admissions[model].decide(now, timestamps, keys).forwarded

    def sampling(self) -> bool:
        """Whether any model's owner published a threshold below 1 (its window keeps only a sample)."""
        return any(
            tau < 1.0 for admission in self.admissions.values() for tau in admission.thresholds.values()
        )

    def forward_join(
        self,
        model: str,
        topics: Sequence[str],
        partitions: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        records: Sequence[Prediction],
    ) -> None:
        """Send the model's gradable predictions (one per position) to its owner's label join."""
        for (topic, partition), indices in _groups(topics, partitions).items():
            rows = [records[i] for i in indices]
            message = join_rows(
                model,
                topic,
                partition,
                offsets[indices],
                [r.prediction_id for r in rows],
                np.array([r.timestamp for r in rows], dtype=np.float64),
                [r.prediction for r in rows],
                [r.label for r in rows],
            )
            for _, data in split_rows(message, self.max_bytes):
                self._send(model, data)

    def forward_labels(
        self,
        model: str,
        topics: Sequence[str],
        partitions: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        labels: Sequence[Label],
    ) -> None:
        """Send label records (one per position) that fit ``model`` to its owner's label join."""
        for (topic, partition), indices in _groups(topics, partitions).items():
            rows = [labels[i] for i in indices]
            message = label_rows(
                model,
                topic,
                partition,
                offsets[indices],
                [r.prediction_id for r in rows],
                [r.label for r in rows],
                np.array([r.timestamp for r in rows], dtype=np.float64),
            )
            for _, data in split_rows(message, self.max_bytes):
                self._send(model, data)

    def _send(self, model: str, value: bytes) -> None:
        self._producer.send(self._topics.samples, self._partitions[model], model.encode(), value)
        self._metrics.exchange_messages.labels("samples").inc()
        self._metrics.exchange_bytes.labels("samples").inc(len(value) + len(model))

    def flush(self) -> None:
        """Wait until every partial sent is acknowledged (before the input offsets are committed)."""
        self._producer.flush(self._topics.samples)

    def thresholds(self, model: str, value: bytes) -> None:
        """A model's thresholds as its owner published them (`ThresholdFeed`)."""
        admission = self.admissions.get(model)
        if admission is not None:
            admission.update(_THRESHOLDS_DECODER.decode(value).slots)


class Owner:
    """Stage 2: the models of the internal partitions this replica holds."""

    def __init__(
        self,
        settings: Settings,
        topics: InternalTopics,
        replica: str,
        windows: Mapping[str, Window],
        alert_checks: Mapping[str, Sequence[str]],
        policy: BreachPolicy,
        store: Store,
        dispatcher: WebhookDispatcher,
        latest: LatestResults,
        metrics: Metrics,
        producer: ExchangeProducer,
        forwarder: Forwarder,
        clock: Callable[[], float] = time.time,
        consumer_factory: Callable[..., Any] | None = None,
        on_own: Callable[[str], None] | None = None,
        on_disown: Callable[[str], None] | None = None,
        labels: LabelStore | None = None,
    ) -> None:
        self._on_own = on_own  # the daemon's per-model series that only the owner exports
        self._on_disown = on_disown
        self._settings = settings
        self._kafka = settings.kafka
        self.topics = topics
        self.replica = replica
        self.partitions = settings.kafka.scale_out.partitions
        self._windows = windows
        self._alert_checks = alert_checks
        self._policy = policy
        self._store = store
        self._dispatcher = dispatcher
        self._latest = latest
        self._metrics = metrics
        self._producer = producer
        self._forwarder = forwarder
        self._clock = clock
        self._consumer_factory = consumer_factory
        self.models_of: dict[int, list[str]] = {}
        for name in windows:
            self.models_of.setdefault(partition_of(name, self.partitions), []).append(name)
        self._owned: set[str] = set()
        self._labels = labels  # the label join of the owned models (private to this process)
        self._ledgers: dict[str, PositionLedger] = {}  # partials (windows)
        self._join_ledgers: dict[str, PositionLedger] = {}  # join rows
        self._label_ledgers: dict[str, PositionLedger] = {}  # labels
        self._next: dict[int, int | None] = {}  # internal partition -> next samples offset to apply
        self._claims: dict[int, str] = {}
        self._dirty: set[int] = set()  # partitions with changes since their last checkpoint
        self._lock = threading.RLock()  # windows' change logs, checkpoints, ownership
        self._held = threading.local()  # the deliveries of the check running on this thread
        self._consumer: OwnerConsumer | None = None
        self._taking: set[int] = set()  # assigned, not restored yet (paused)
        self._published: dict[str, dict[int, float]] = {}  # model -> thresholds last published
        # changelog compaction: bytes written since the partition's last complete checkpoint, its size,
        # and when it was written; where a replay starts (`StateIndex`)
        self._since_complete: dict[int, int] = {}
        self._complete_bytes: dict[int, int] = {}
        self._complete_at: dict[int, float] = {}
        self._index = StateIndex(self._kafka, topics)
        self._last_checkpoint = time.monotonic()
        self._labels_dumped: dict[int, float] = {}  # partition -> when its label join was last dumped
        self.restore_seconds: dict[int, float] = {}
        self.feed = ThresholdFeed(self._kafka, topics, forwarder.thresholds)

    # ownership ---------------------------------------------------------------------------------

    def owns(self, model: str) -> bool:
        with self._lock:
            return model in self._owned

    def owned(self) -> set[str]:
        with self._lock:
            return set(self._owned)

    def partition(self, model: str) -> int:
        return partition_of(model, self.partitions)

    def problems(self) -> list[str]:
        """Why this replica is not ready as an owner (for /readyz): it has not joined the owners' group
        yet, or has partitions to restore. A rolling restart waits for it before the next replica."""
        consumer = self._consumer
        if consumer is None or not consumer.joined:
            return [f"scale-out: joining the owners' group {self.topics.owners_group}"]
        with self._lock:
            taking = sorted(self._taking | consumer.pending())
        if taking:
            return [f"scale-out: restoring internal partition(s) {', '.join(map(str, taking))}"]
        return []

    @contextmanager
    def holding(self, model: str) -> Iterator[list[Delivery]]:
        """Around one check of ``model``: ownership cannot change meanwhile, and the deliveries its
        alerts cause are held (`hold`) for the caller to checkpoint before they are sent."""
        held: list[Delivery] = []
        with self._lock:
            self._held.deliveries = held
            try:
                yield held
            finally:
                self._held.deliveries = None

    def hold(self, delivery: Delivery) -> bool:
        """Keep a delivery back when this thread is inside `holding` (False: send it as usual)."""
        held: list[Delivery] | None = getattr(self._held, "deliveries", None)
        if held is None:
            return False
        held.append(delivery)
        return True

    # the loop ----------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Hold internal partitions, restore them, apply partials, checkpoint, until ``stop``."""
        backoff = 0.5
        while not stop.is_set():
            try:
                if self._consumer is None:
                    kwargs = {} if self._consumer_factory is None else {"factory": self._consumer_factory}
                    self._consumer = OwnerConsumer(self._kafka, self.topics, self._revoked, **kwargs)
                batches = self._consumer.poll(0.5)
                self._taking |= self._consumer.take_new()
                self._taking &= self._consumer.assigned()
                for partition in sorted(self._taking):
                    self._take(partition)  # on failure it stays to take, at the next turn
                    self._taking.discard(partition)
                self._apply(batches)
                if time.monotonic() - self._last_checkpoint >= self._settings.state.checkpoint_interval:
                    self.checkpoint_all()
                backoff = 0.5
            except (KafkaError, ExchangeError, TimeoutError) as exc:  # the brokers are away: no traceback
                log.warning("owner: %s; retrying in %.1fs", exc, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            except Exception:
                log.exception("owner loop failed; retrying in %.1fs", backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        self.close()

    def close(self) -> None:
        """Checkpoint what is owned and leave the owners' group (its partitions move at once)."""
        consumer, self._consumer = self._consumer, None
        if consumer is None:
            return
        try:
            self.checkpoint_all(force=True)
        except Exception:
            log.exception("final checkpoint of the owned models failed")
        consumer.close()
        self._index.close()
        with self._lock:
            for partition in list(self._claims):
                self._disown(partition)

    def _apply(self, batches: Mapping[int, Sequence[Any]]) -> None:
        now = self._clock()
        with self._lock:
            for partition, records in batches.items():
                if partition not in self._claims:
                    continue  # not restored yet (or given back): read again once it is
                position = self._next.get(partition)
                for record in records:
                    if position is not None and record.offset < position:
                        continue
                    position = record.offset + 1
                    if record.value is None:
                        continue
                    try:
                        message = decode_message(record.value)
                    except Exception:
                        log.exception("skipping an unreadable partial at %d", record.offset)
                        continue
                    model = message.model
                    if model not in self._owned:
                        continue  # a model no longer configured
                    if isinstance(message, Partial):
                        fresh = self._ledgers[model].admit(message)
                        if fresh is None:
                            continue
                        window = self._windows[model]
                        window.add_partial(fresh, now)
                        self._metrics.window_rows.labels(model, "", "").set(window.rows())
                    elif isinstance(message, JoinRows):
                        rows = self._join_ledgers[model].admit(message)
                        if rows is not None and len(rows):
                            self._join(rows, now)
                    else:
                        labels = self._label_ledgers[model].admit(message)
                        if labels is not None and len(labels):
                            self._join_labels(labels, now)
                self._next[partition] = position
                self._dirty.add(partition)

    def _join(self, rows: JoinRows, now: float) -> None:
        """Keep a model's predictions for its label join; inline labels join at once."""
        if self._labels is None:
            return
        model = rows.model
        try:
            outcome = self._labels.add_predictions(
                model, rows.ids, rows.row_timestamps().tolist(), rows.predictions, now, labels=rows.labels
            )
        except Exception:  # the join state is secondary: drift goes on without it
            log.exception("model %s: could not keep %d predictions for the label join", model, len(rows))
            return
        joined = outcome["joined"] + outcome["joined_early"]
        if joined:
            self._metrics.labels_joined.labels(model).inc(joined)

    def _join_labels(self, rows: LabelRows, now: float) -> None:
        """Join labels to the predictions of their model (counted as `Ingest` counts them)."""
        if self._labels is None:
            return
        per_model: Counter[str] = Counter()
        try:
            reasons = self._labels.add_labels(
                rows.ids,
                rows.labels,
                now,
                model=rows.model,
                timestamps=rows.row_timestamps().tolist(),
                joined_by_model=per_model,
            )
        except Exception:
            log.exception("could not join %d labels", len(rows))
            self._metrics.labels_rejected.labels("internal_error").inc(len(rows))
            return
        for model, count in per_model.items():
            self._metrics.labels_joined.labels(model).inc(count)
        for reason, count in reasons.items():
            if reason not in ("joined", "early"):  # early labels wait; they count when they join or expire
                self._metrics.labels_rejected.labels(reason).inc(count)

    # taking a partition over -------------------------------------------------------------------

    def _take(self, partition: int) -> None:
        """Claim ``partition`` in the changelog, restore its models from it, start reading its partials."""
        started = time.monotonic()
        claim = uuid.uuid4().hex
        models = self.models_of.get(partition, [])
        try:
            at = self._producer.send_sync(
                self.topics.state,
                partition,
                b"claim",
                encode_claim(Claim(claim, self.replica, self._clock())),
            )
            start = self._index.get(partition) or 0
            replay = Replay()
            for offset, value in read_partition(self._kafka, self.topics.state, partition, at, start=start):
                replay.feed(offset, value)
        except Exception:
            self._metrics.ownership_restores.labels("failed").inc()
            raise
        now = self._clock()
        with self._lock:
            for model in models:
                window = self._windows[model]
                restored = replay.restored(model)
                self._ledgers[model] = PositionLedger()
                self._join_ledgers[model] = PositionLedger()
                self._label_ledgers[model] = PositionLedger()
                if self._labels is not None:
                    self._labels.forget(model)  # a stale copy never stays
                    if restored is not None and restored.labels is not None:
                        try:
                            self._labels.load(model, restored.labels)
                        except Exception:  # the join state is secondary: drift goes on without it
                            log.exception("model %s: could not restore its label join state", model)
                if restored is not None:
                    if restored.window is not None and restored.signature == window.signature():
                        window.restore(*restored.window, now=now)
                    self._ledgers[model], self._join_ledgers[model], self._label_ledgers[model] = _ledgers_of(
                        restored.positions
                    )
                    for check, state in restored.alerts.items():
                        self._policy.restore(model, check, state)
                    for entry in restored.outbox:
                        self._store.outbox_put(entry.row())
                self._owned.add(model)
                self._metrics.model_owner.labels(model, self.replica).set(1)
                if self._on_own is not None:
                    self._on_own(model)
                self._metrics.window_rows.labels(model, "", "").set(window.rows())
                for check in self._alert_checks.get(model, ()):
                    self._metrics.alert_active.labels(model, check, "", "").set(
                        int(self._policy.firing(model, check))
                    )
            self._claims[partition] = claim
            self._labels_dumped[partition] = time.monotonic()  # what was restored is in the changelog
            self._next[partition] = replay.samples_next
            self._dirty.add(partition)
            self._published = {m: t for m, t in self._published.items() if m not in models}
            # what a replay from the index reads now: compacted when it outgrew the state it describes
            # (not at every takeover: a rebalance that hands partitions back then costs a read, no write)
            self._complete_bytes[partition] = replay.complete_bytes
            self._since_complete[partition] = replay.since_complete_bytes
            self._complete_at[partition] = time.monotonic()
            if self._compaction_due(partition):
                self._compact(partition)
        self._dispatcher.wake()
        assert self._consumer is not None
        self._consumer.start_reading(partition, replay.samples_next)
        seconds = time.monotonic() - started
        self.restore_seconds[partition] = seconds
        self._metrics.ownership_restores.labels("ok").inc()
        log.info(
            "owner: took internal partition %d (models %s) in %.2fs: %d changelog message(s), %d bytes",
            partition,
            ", ".join(models) or "none",
            seconds,
            replay.stats.entries,
            replay.stats.read_bytes,
        )

    def _revoked(self, partitions: Iterable[int]) -> None:
        """Partitions given back: write their last checkpoint, then forget their models."""
        for partition in partitions:
            with self._lock:
                if partition not in self._claims:
                    continue
                try:
                    self.checkpoint(partition, force=True)
                except Exception:
                    log.exception(
                        "checkpoint of internal partition %d before giving it back failed", partition
                    )
                self._disown(partition)

    def _disown(self, partition: int) -> None:
        self._claims.pop(partition, None)
        self._labels_dumped.pop(partition, None)
        self._next.pop(partition, None)
        self._dirty.discard(partition)
        for model in self.models_of.get(partition, []):
            if model not in self._owned:
                continue
            self._owned.discard(model)
            self._ledgers.pop(model, None)
            self._join_ledgers.pop(model, None)
            self._label_ledgers.pop(model, None)
            if self._labels is not None:
                try:
                    self._labels.forget(model)
                except Exception:
                    log.exception("model %s: could not forget its label join state", model)
                with suppress(KeyError):
                    self._metrics.labels_pending.remove(model)
                with suppress(KeyError):
                    self._metrics.labels_sample_rate.remove(model)
            window = self._windows[model]
            window.clear()
            self._policy.forget(model)
            self._dispatcher.forget(model)
            self._latest.remove(model)
            self._metrics.model_owner.remove(model, self.replica)
            if self._on_disown is not None:
                self._on_disown(model)
            for check in self._alert_checks.get(model, ()):
                with suppress(KeyError):
                    self._metrics.alert_active.remove(model, check, "", "")
            with suppress(KeyError):
                self._metrics.window_rows.remove(model, "", "")
        log.info("owner: gave internal partition %d back", partition)

    # checkpoints -------------------------------------------------------------------------------

    def checkpoint_all(self, force: bool = False) -> None:
        with self._lock:
            partitions = sorted(self._claims) if force else sorted(self._dirty & set(self._claims))
            for partition in partitions:
                self.checkpoint(partition, force=force)
        self._last_checkpoint = time.monotonic()

    def checkpoint(
        self, partition: int, force: bool = False, held: Sequence[Delivery] = (), complete: bool = False
    ) -> None:
        """Write the changes of ``partition``'s models since its last checkpoint to the changelog (and
        ``held`` deliveries, not yet in the outbox, as pending); then publish their thresholds. A
        ``complete`` checkpoint holds their whole state (a replay may start at it)."""
        with self._lock:
            claim = self._claims.get(partition)
            if claim is None:
                return
            if partition not in self._dirty and not force and not held:
                return
            now = self._clock()
            models = [m for m in self.models_of.get(partition, []) if m in self._owned]
            dump_labels = self._labels is not None and (
                force or time.monotonic() - self._labels_dumped.get(partition, 0.0) >= LABELS_EVERY
            )
            entries = []
            for model in models:
                window = self._windows[model]
                if complete:
                    window.mark_full()
                rows = [OutboxEntry.of(row) for row in self._store.outbox_of(model)]
                rows += [_held_entry(d, now) for d in held if d.model == model]
                entries.append(
                    ModelCheckpoint(
                        model=model,
                        signature=window.signature(),
                        window=WindowDelta.of(window.changes()),
                        positions=self._positions(model),
                        alerts=[
                            (check, self._policy.state(model, check))
                            for check in self._alert_checks.get(model, ())
                        ],
                        outbox=rows,
                        labels=self._dump_labels(model) if dump_labels else None,
                    )
                )
            checkpoint = PartitionCheckpoint(
                claim=claim,
                checkpoint=uuid.uuid4().hex,
                samples_next=self._next.get(partition) or 0,
                models=entries,
                complete=complete,
            )
            written = 0
            try:
                for chunk in encode_checkpoint(checkpoint, self._settings.kafka.scale_out.max_message_bytes):
                    self._producer.send(self.topics.state, partition, b"checkpoint", chunk)
                    written += len(chunk)
                    self._metrics.exchange_messages.labels("state").inc()
                    self._metrics.exchange_bytes.labels("state").inc(len(chunk))
                self._producer.flush(self.topics.state)
            except Exception:
                for model in models:
                    self._windows[model].mark_full()  # the next checkpoint must not build on a lost one
                raise
            self._dirty.discard(partition)
            if dump_labels:
                self._labels_dumped[partition] = time.monotonic()
            for model in models:
                self._publish_thresholds(model)
            if complete:
                self._complete_bytes[partition] = written
                self._since_complete[partition] = 0
                self._complete_at[partition] = time.monotonic()
            else:
                self._since_complete[partition] = self._since_complete.get(partition, 0) + written
                if self._compaction_due(partition):
                    self._compact(partition)

    def _compaction_due(self, partition: int) -> bool:
        """A replay from the partition's index would read more than ``_COMPACT_RATIO`` times the state
        it restores (and at least ``_COMPACT_BYTES``), or the last complete checkpoint is old."""
        since = self._since_complete.get(partition, 0)
        due = max(_COMPACT_BYTES, _COMPACT_RATIO * self._complete_bytes.get(partition, 0))
        age = time.monotonic() - self._complete_at.get(partition, time.monotonic())
        return since > due or (age > _COMPACT_AGE and since > 0)

    def _compact(self, partition: int) -> None:
        """Open a new claim with a complete checkpoint, and move the partition's replay start to it: a
        restore then reads one complete state and what followed, not the partition's whole history."""
        with self._lock:
            if partition not in self._claims:
                return
            claim = uuid.uuid4().hex
            at = self._producer.send_sync(
                self.topics.state,
                partition,
                b"claim",
                encode_claim(Claim(claim, self.replica, self._clock())),
            )
            self._claims[partition] = claim
            self.checkpoint(partition, force=True, complete=True)
            self._index.set(partition, at)

    def _dump_labels(self, model: str) -> bytes | None:
        assert self._labels is not None
        try:
            return self._labels.dump(model)
        except Exception:
            log.exception("model %s: could not dump its label join state", model)
            return None

    def _positions(self, model: str) -> list[tuple[str, int, int]]:
        """The model's input positions applied, of every kind, as the changelog stores them."""
        positions = self._ledgers[model].to_state()
        for prefix, ledgers in ((_JOIN, self._join_ledgers), (_LABELS, self._label_ledgers)):
            positions += [(prefix + topic, p, mark) for topic, p, mark in ledgers[model].to_state()]
        return positions

    def _publish_thresholds(self, model: str) -> None:
        slots = self._windows[model].thresholds()
        if self._published.get(model) == slots:
            return
        self._published[model] = slots
        self._forwarder.thresholds(model, _THRESHOLDS.encode(_Thresholds(slots)))  # this replica at once
        value = _THRESHOLDS.encode(_Thresholds(slots))
        self._producer.send(self.topics.thresholds, self.partition(model), model.encode(), value)
        self._metrics.exchange_messages.labels("thresholds").inc()
        self._metrics.exchange_bytes.labels("thresholds").inc(len(value) + len(model))


def _ledgers_of(
    positions: Mapping[tuple[str, int], int],
) -> tuple[PositionLedger, PositionLedger, PositionLedger]:
    """The ledgers of partials, join rows and labels from a checkpoint's positions (`Owner._positions`;
    a checkpoint written before join rows and labels were forwarded holds partials' positions only)."""
    kinds: dict[str, list[tuple[str, int, int]]] = {"": [], _JOIN: [], _LABELS: []}
    for (topic, partition), mark in positions.items():
        prefix = next((p for p in (_JOIN, _LABELS) if topic.startswith(p)), "")
        kinds[prefix].append((topic[len(prefix) :], partition, mark))
    return (
        PositionLedger.from_state(kinds[""]),
        PositionLedger.from_state(kinds[_JOIN]),
        PositionLedger.from_state(kinds[_LABELS]),
    )


def _held_entry(delivery: Delivery, now: float) -> OutboxEntry:
    return OutboxEntry(
        target=delivery.target,
        key=delivery.key,
        body=delivery.body,
        created_at=now,
        attempts=0,
        next_at=now,
        status="pending",
        last_error=None,
        model=delivery.model,
        check=delivery.check,
        transition=delivery.transition,
        scope=delivery.scope,
    )
