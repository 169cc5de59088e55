"""The changelog of a samples partition's owner state: its entries, their encoding, and their replay.

With ``kafka.scale_out``, the owner of samples partition q keeps the state of the models hashing to q
(windows, input positions applied, alert states, outbox rows) in partition q of the changelog topic
``G.state``, so that whoever owns q next rebuilds it from Kafka alone. Two kinds of entry are written:
a `Claim` when an owner takes the partition, and a `PartitionCheckpoint` per checkpoint, split into
`Chunk` messages when it is larger than a Kafka message may be. `Replay` reads the entries back in log
order and holds the state they describe. This module only encodes and replays (no Kafka, no clock); the
service layer produces and consumes the messages.

Fencing: an entry counts only when its claim is the latest `Claim` read so far. A former owner that has
not yet noticed it lost the partition (a zombie) writes after the newer claim, and those writes are
ignored; what it wrote before the newer claim stands. A chunked checkpoint counts once its last chunk
is read, and only if every chunk carried the latest claim.

The writer's rules, which replay relies on:

1. A new owner writes a `Claim` with a fresh unique id, reads the partition up to that claim's offset
   into a `Replay` and restores from it before it applies any sample.
2. Every checkpoint has a fresh unique id and carries its writer's claim; its chunks are produced before
   the next checkpoint's (one producer with ``enable.idempotence``, so the log keeps their order).
3. Window deltas chain: each `WindowChanges` holds what changed since the previous one. A checkpoint that
   failed or may have been written in part (some chunks landed, the writer died or timed out) is
   ignored by replay, so the next one must not build on it: after such a write call
   `Window.mark_full()` on the windows it carried (as ingest does when a SQLite checkpoint fails), so
   their next `WindowChanges` has ``full`` set and replay forgets the model's window before applying
   it. Positions, alert states and outbox rows are upserts (a checkpoint holds those it names): the
   next checkpoint must name again everything the failed one named.
4. A window that was not restored from the replay (no state, or another signature) starts empty; the
   first `Window.changes()` of a fresh window holds all it has, and replay resets a model's window when
   the signature changes. A window that is rebuilt any other way must be marked full.

The partition grows with every checkpoint. To bound what a new owner reads, an owner may write a
``complete`` checkpoint (every model, every window full, every position, alert state and outbox row)
right after a claim of its own (after restoring, or later under a fresh claim id); replay then forgets
everything before it, and `Replay.start_offset` says from where a replay gives the same state, so the
records before it may be deleted.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import astuple, dataclass, field
from typing import NamedTuple

import msgspec

from driftwatch.alerting.policy import AlertState
from driftwatch.state.store import OutboxRow, _decode_segment, _encode_segment
from driftwatch.stream.windows import BucketState, Segment, WindowChanges

__all__ = [
    "MAX_BYTES",
    "ChangelogError",
    "Chunk",
    "Claim",
    "Entry",
    "ModelCheckpoint",
    "OutboxEntry",
    "PartitionCheckpoint",
    "Replay",
    "ReplayStats",
    "RestoredModel",
    "WindowDelta",
    "WindowState",
    "decode_entry",
    "encode_checkpoint",
    "encode_claim",
]

MAX_BYTES = 900_000  # under Kafka's default message limit (1 MiB) with room for the record's overhead
_RECENT_IDS = 1024  # checkpoint ids remembered per claim, to skip a checkpoint read twice


class ChangelogError(ValueError):
    """A changelog message that is not an entry this version can read (the offset is in the message)."""


class Claim(msgspec.Struct, tag="claim", frozen=True):
    """A new owner took the partition: entries of older claims written after this one are a zombie's."""

    claim: str  # unique per claim (a new one each time an owner takes the partition)
    replica: str
    at: float


class WindowDelta(msgspec.Struct, frozen=True):
    """A `WindowChanges` as written to the changelog: segments in the SQLite store's codec, buckets as
    (slot, start, tau, seen)."""

    full: bool
    dropped: list[int]
    rewritten: list[int]
    segments: list[tuple[int, bytes]]
    buckets: list[tuple[int, float, float, int]]
    type_violations: dict[str, int]

    @classmethod
    def of(cls, changes: WindowChanges) -> WindowDelta:
        return cls(
            changes.full,
            list(changes.dropped),
            list(changes.rewritten),
            [(slot, _encode_segment(segment)) for slot, segment in changes.segments],
            [(b.slot, b.start, b.tau, b.seen) for b in changes.buckets],
            dict(changes.type_violations),
        )

    def changes(self) -> WindowChanges:
        return WindowChanges(
            self.full,
            list(self.dropped),
            list(self.rewritten),
            [(slot, _decode_segment(data)) for slot, data in self.segments],
            [BucketState(*b) for b in self.buckets],
            dict(self.type_violations),
        )


class OutboxEntry(msgspec.Struct, frozen=True):
    """An outbox row (`OutboxRow` without the SQLite rowid); replay keeps the last one per (target, key)."""

    target: str
    key: str
    body: bytes
    created_at: float
    attempts: int
    next_at: float
    status: str  # pending | delivered | dead
    last_error: str | None = None
    model: str | None = None
    check: str | None = None
    transition: str | None = None
    scope: str | None = None  # a segment or version scope's key (`OutboxRow.scope`)

    @classmethod
    def of(cls, row: OutboxRow) -> OutboxEntry:
        return cls(*astuple(row)[1:])  # the same fields in the same order, less the rowid

    def row(self, id: int = 0) -> OutboxRow:
        return OutboxRow(id, *msgspec.structs.astuple(self))


class ModelCheckpoint(msgspec.Struct, frozen=True):
    """One model's part of a checkpoint: its window delta (None when only other state changed), the
    highest input offset applied per (topic, partition), its alert states per check, its outbox rows,
    and now and then its whole label join state (`driftwatch.state.labels.LabelStore.dump`; None: the
    last one written stands)."""

    model: str
    signature: str  # Window.signature()
    window: WindowDelta | None = None
    positions: list[tuple[str, int, int]] = []  # (topic, partition, highest offset applied)
    alerts: list[tuple[str, AlertState]] = []  # (check, state)
    outbox: list[OutboxEntry] = []
    labels: bytes | None = None


class PartitionCheckpoint(msgspec.Struct, tag="checkpoint", frozen=True):
    """The owner's state changes for one samples partition, and the next samples offset they cover.

    ``complete``: it holds the whole state of the partition (every model, each window full, every
    position, alert state and outbox row kept, and the label join state of every model that has one), so replay forgets all it had before applying it, and a
    replay may start at its claim (see `Replay.start_offset`)."""

    claim: str
    checkpoint: str  # unique per checkpoint
    samples_next: int
    models: list[ModelCheckpoint]
    complete: bool = False


class Chunk(msgspec.Struct, tag="chunk", frozen=True):
    """Part ``index`` of ``count`` of an encoded `PartitionCheckpoint` too large for one message."""

    claim: str
    checkpoint: str
    index: int
    count: int
    payload: bytes


Entry = Claim | PartitionCheckpoint | Chunk

_encoder = msgspec.msgpack.Encoder()
_entry = msgspec.msgpack.Decoder(Entry)
_checkpoint = msgspec.msgpack.Decoder(PartitionCheckpoint)


def encode_claim(claim: Claim) -> bytes:
    return _encoder.encode(claim)


def encode_checkpoint(checkpoint: PartitionCheckpoint, max_bytes: int = MAX_BYTES) -> list[bytes]:
    """The messages to write for ``checkpoint``, in order: one when it fits in ``max_bytes``, else chunks
    of at most ``max_bytes`` each. Replay counts the checkpoint only when it has read all of them."""
    if checkpoint.complete:
        partial = [m.model for m in checkpoint.models if m.window is not None and not m.window.full]
        if partial:
            raise ValueError(f"a complete checkpoint holds full windows; not so for {', '.join(partial)}")
    data = _encoder.encode(checkpoint)
    if len(data) <= max_bytes:
        return [data]
    widest = 2**63 - 1  # the chunk header at its largest: msgpack ints grow with their value
    header = len(_encoder.encode(Chunk(checkpoint.claim, checkpoint.checkpoint, widest, widest, b"")))
    piece = max_bytes - header - 4  # a bin32 length takes 4 bytes more than the empty payload's bin8
    if piece <= 0:
        raise ValueError(f"max_bytes={max_bytes} leaves no room for a chunk's payload")
    count = math.ceil(len(data) / piece)
    return [
        _encoder.encode(
            Chunk(checkpoint.claim, checkpoint.checkpoint, i, count, data[i * piece : (i + 1) * piece])
        )
        for i in range(count)
    ]


def decode_entry(value: bytes) -> Entry:
    """One changelog message; raises `msgspec.DecodeError` when it is not an entry."""
    return _entry.decode(value)


class WindowState(NamedTuple):
    """A window as `Window.restore` takes it: ``window.restore(*state, now=now)``."""

    buckets: list[BucketState]
    segments: list[tuple[int, Segment]]
    type_violations: dict[str, int]


@dataclass(frozen=True)
class RestoredModel:
    """A model's owner state as of the last checkpoint replayed."""

    signature: str
    window: WindowState | None  # None: no window recorded under this signature
    positions: dict[tuple[str, int], int]  # (topic, partition) -> highest input offset applied
    alerts: dict[str, AlertState]  # check -> state
    outbox: list[OutboxEntry]  # one per (target, key), in the order they were first written
    labels: bytes | None = None  # the last label join state written (LabelStore.dump), if any


@dataclass
class ReplayStats:
    """What a replay read and applied, for reporting restore volume."""

    entries: int = 0  # messages fed
    read_bytes: int = 0
    claims: int = 0
    checkpoints: int = 0  # checkpoints applied
    applied_bytes: int = 0  # bytes of the messages of the checkpoints applied
    fenced: int = 0  # entries ignored: before any claim, or of a claim older than the latest
    incomplete: int = 0  # chunked checkpoints abandoned before all their chunks were read
    duplicates: int = 0  # entries read again (an offset not after the last, a checkpoint id seen)


@dataclass
class _Model:
    signature: str
    has_window: bool = False
    buckets: dict[int, tuple[float, float, int]] = field(default_factory=dict)
    segments: dict[int, list[bytes]] = field(default_factory=dict)
    type_violations: dict[str, int] = field(default_factory=dict)
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    alerts: dict[str, AlertState] = field(default_factory=dict)
    outbox: dict[tuple[str, str], OutboxEntry] = field(default_factory=dict)
    labels: bytes | None = None

    def forget_window(self) -> None:
        self.has_window = False
        self.buckets.clear()
        self.segments.clear()
        self.type_violations = {}

    def apply(self, delta: WindowDelta) -> None:
        """As `Store.checkpoint` applies a `WindowChanges` to its tables."""
        if delta.full:
            self.buckets.clear()
            self.segments.clear()
        for slot in delta.dropped:
            self.segments.pop(slot, None)
            self.buckets.pop(slot, None)
        for slot in delta.rewritten:
            self.segments.pop(slot, None)
        for slot, data in delta.segments:
            self.segments.setdefault(slot, []).append(data)
        for slot, start, tau, seen in delta.buckets:
            self.buckets[slot] = (start, tau, seen)
        self.type_violations = dict(delta.type_violations)
        self.has_window = True


@dataclass
class _Pending:
    count: int
    parts: dict[int, bytes] = field(default_factory=dict)
    size: int = 0


class Replay:
    """The owner state of one changelog partition, from its messages fed in log order.

    Feed every message of the partition from its start with `feed`; then `samples_next` is the samples
    offset to resume from and `restored` gives each model's state. Feeding an offset again (or an
    earlier one) changes nothing."""

    def __init__(self) -> None:
        self._claim: Claim | None = None
        self._claim_offset: int | None = None
        self._start: int | None = None
        self._offset: int | None = None
        self._samples_next: int | None = None
        self._models: dict[str, _Model] = {}
        self._pending: dict[str, _Pending] = {}  # chunked checkpoints of the latest claim, by id
        self._done: OrderedDict[str, None] = OrderedDict()  # checkpoint ids of the latest claim, recent
        self._stats = ReplayStats()

    complete_bytes = 0  # the size of the last complete checkpoint applied (0: none)
    since_complete_bytes = 0  # the bytes of the checkpoints applied after it (all of them without one)

    @property
    def claim(self) -> Claim | None:
        """The latest claim read (the partition's owner as far as the log goes)."""
        return self._claim

    @property
    def claim_offset(self) -> int | None:
        return self._claim_offset

    @property
    def start_offset(self) -> int | None:
        """Where a replay of this partition may start and still give this state: the offset of the claim
        of the last complete checkpoint applied (None: there was none, a replay starts at the beginning).
        What lies before it may be deleted from the topic."""
        return self._start

    @property
    def offset(self) -> int | None:
        """The last offset fed."""
        return self._offset

    @property
    def samples_next(self) -> int | None:
        """The samples partition's next offset as of the last checkpoint applied (None: none was)."""
        return self._samples_next

    @property
    def stats(self) -> ReplayStats:
        return ReplayStats(**vars(self._stats))

    def models(self) -> list[str]:
        return sorted(self._models)

    def feed(self, offset: int, value: bytes | None) -> None:
        """Apply the message at ``offset`` (a None value, a tombstone, is skipped); raises
        `ChangelogError` for a message that is no entry."""
        stats = self._stats
        if self._offset is not None and offset <= self._offset:
            stats.duplicates += 1
            return
        self._offset = offset
        if value is None:
            return
        stats.entries += 1
        stats.read_bytes += len(value)
        try:
            entry = decode_entry(value)
        except msgspec.DecodeError as exc:
            raise ChangelogError(f"changelog offset {offset}: not a changelog entry ({exc})") from None
        if isinstance(entry, Claim):
            stats.claims += 1
            if self._claim is None or entry.claim != self._claim.claim:
                stats.incomplete += len(self._pending)
                self._pending.clear()
                self._done.clear()
            self._claim, self._claim_offset = entry, offset
            return
        if self._claim is None or entry.claim != self._claim.claim:
            stats.fenced += 1
            return
        if entry.checkpoint in self._done:
            stats.duplicates += 1
            return
        # a sequential writer starts a checkpoint only after the previous one: an unfinished one is dead
        for stale in [c for c in self._pending if c != entry.checkpoint]:
            self._retire(stale)
            stats.incomplete += 1
        if isinstance(entry, PartitionCheckpoint):
            self._retire(entry.checkpoint)
            self._apply(entry, len(value))
            return
        pending = self._pending.setdefault(entry.checkpoint, _Pending(entry.count))
        if entry.count != pending.count or not 0 <= entry.index < entry.count:
            raise ChangelogError(
                f"changelog offset {offset}: chunk {entry.index} of {entry.count} of checkpoint "
                f"{entry.checkpoint} does not fit its other chunks ({pending.count})"
            )
        if entry.index in pending.parts:
            stats.duplicates += 1
            return
        pending.parts[entry.index] = entry.payload
        pending.size += len(value)
        if len(pending.parts) < pending.count:
            return
        self._retire(entry.checkpoint)
        data = b"".join(pending.parts[i] for i in range(pending.count))
        try:
            checkpoint = _checkpoint.decode(data)
        except msgspec.DecodeError as exc:
            raise ChangelogError(
                f"changelog offset {offset}: checkpoint {entry.checkpoint} does not decode ({exc})"
            ) from None
        if checkpoint.claim != entry.claim or checkpoint.checkpoint != entry.checkpoint:
            raise ChangelogError(
                f"changelog offset {offset}: the chunks of checkpoint {entry.checkpoint} of claim "
                f"{entry.claim} hold checkpoint {checkpoint.checkpoint} of claim {checkpoint.claim}"
            )
        self._apply(checkpoint, pending.size)

    def _retire(self, checkpoint: str) -> None:
        self._pending.pop(checkpoint, None)
        self._done[checkpoint] = None
        if len(self._done) > _RECENT_IDS:
            self._done.popitem(last=False)

    def _apply(self, checkpoint: PartitionCheckpoint, size: int) -> None:
        self._stats.checkpoints += 1
        self._stats.applied_bytes += size
        self._samples_next = checkpoint.samples_next
        if checkpoint.complete:
            self._models.clear()
            self._start = self._claim_offset
            self.complete_bytes, self.since_complete_bytes = size, 0
        else:
            self.since_complete_bytes += size
        for part in checkpoint.models:
            model = self._models.get(part.model)
            if model is None:
                model = self._models[part.model] = _Model(part.signature)
            elif model.signature != part.signature:  # other columns or buckets: the old window is void
                model.forget_window()
                model.signature = part.signature
            if part.window is not None:
                model.apply(part.window)
            for topic, partition, position in part.positions:
                model.positions[(topic, partition)] = position
            for check, state in part.alerts:
                model.alerts[check] = state
            for row in part.outbox:
                model.outbox[(row.target, row.key)] = row
            if part.labels is not None:
                model.labels = part.labels

    def restored(self, model: str) -> RestoredModel | None:
        """``model``'s state (None when no checkpoint applied named it). Segments are decoded here."""
        state = self._models.get(model)
        if state is None:
            return None
        window = None
        if state.has_window:
            window = WindowState(
                [BucketState(slot, *state.buckets[slot]) for slot in sorted(state.buckets)],
                [
                    (slot, _decode_segment(data))
                    for slot in sorted(state.segments)
                    for data in state.segments[slot]
                ],
                dict(state.type_violations),
            )
        return RestoredModel(
            state.signature,
            window,
            dict(state.positions),
            dict(state.alerts),
            list(state.outbox.values()),
            state.labels,
        )
