"""One model's windowed records on their way from a stage-1 reader to the model's owner, exactly once.

With scale-out, every replica reads input partitions (stage 1) but a model's window lives with one
owner. A reader decides for each record of a poll batch what the owner's window would do with it
(`Admission`): whether it falls inside the window (by event time, against the reader's clock) and,
if so, whether its sample key is below the threshold the owner published for its time slot (the
bucket's ``tau``; a record at or above it would not be kept). It ships one `Partial` per (poll batch,
model, input topic, input partition): which input offsets it covers, the slot of every record inside
the window (as runs of consecutive offsets, so a partition holding one model costs a few bytes per
partial), and the rows of the forwarded records. The owner counts every inside record in its bucket's
``seen`` and keeps the forwarded rows as `driftwatch.stream.windows.Window.add_partial` does, which
gives the same window as if the owner had read every record itself (the sample keys come from the
records' Kafka positions, so the sample is a function of the set of records alone).

A reader that crashes is replaced by one that reads again from the last committed offset, with other
batch boundaries, and the old reader's partials may still arrive. The owner keeps, per model, a
`PositionLedger`: the highest input offset applied per (topic, partition). A partial wholly at or
below the mark is skipped; one that overlaps it is cut exactly at the mark (the runs, so the seen
counts, and the rows), so every record is counted once. A stale threshold is never too low (a
bucket's ``tau`` only falls), so a late partial from an old reader forwards at least the rows needed.

For a model with performance monitoring, two more kinds travel the same way, so that labels join
at the owner wherever they are read: `JoinRows` (the model's gradable predictions of a batch, with
their ids, event times, predictions and inline labels: every one, not only the window's sampled rows,
as the label join samples by itself) and `LabelRows` (the label records of a batch that fit the
model). Both carry their input offsets and are cut at a mark exactly as a partial is; the owner keeps
one ledger per model and kind, since a partial and a `JoinRows` of the same input range are
different messages about the same positions.

A `Partial` is a msgspec struct encoded as a compact msgpack array; float columns travel as raw
bytes, embedding vectors as raw float32 bytes (bit for bit) and categorical ones as lists of category
keys (`driftwatch.stream.column_codec`, the form the window checkpoints use). A partial larger than
the internal topics' message bound (``kafka.scale_out.max_message_bytes``; with embeddings a batch
easily is) goes as consecutive pieces (`split_partial`), each a `slice_partial` of a range of input
offsets: the ledger applies them once each, in order, as it applies partials of smaller batches. `encode_message` and `decode_message` handle any of the three kinds
(tagged 1, 2, 3).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import TypeVar

import msgspec
import numpy as np
import numpy.typing as npt

from driftwatch.stream.column_codec import (
    EncodedColumn,
    decode_column,
    encode_column,
    float_bytes,
    from_float_bytes,
)
from driftwatch.stream.records import Scalar

__all__ = [
    "Admission",
    "Decision",
    "JoinRows",
    "LabelRows",
    "Partial",
    "Pieces",
    "PositionLedger",
    "SampleMessage",
    "column_rows",
    "cut_partial",
    "decode_message",
    "decode_partial",
    "encode_message",
    "encode_partial",
    "inside_window",
    "join_rows",
    "label_rows",
    "slice_partial",
    "split_partial",
    "split_rows",
    "time_slots",
]

_AHEAD = 300.0  # seconds a record may be stamped ahead of now (producer clock skew), at least a bucket


def time_slots(timestamps: npt.NDArray[np.float64], bucket_seconds: float) -> npt.NDArray[np.int64]:
    """The window bucket (slot) of each event time: ``floor(timestamp / bucket_seconds)``."""
    return np.floor(timestamps / bucket_seconds).astype(np.int64)


def inside_window(
    timestamps: npt.NDArray[np.float64], now: float, length: float, bucket_seconds: float
) -> npt.NDArray[np.bool_]:
    """Which event times a window of ``length`` seconds takes at ``now``: after ``now - length`` and not
    ahead of ``now`` by more than a bucket or 5 minutes (beyond that it is a wrong clock or epoch
    milliseconds, not skew; kept, such a record would open buckets that never expire)."""
    return (timestamps > now - length) & (timestamps <= now + max(bucket_seconds, _AHEAD))


class Partial(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """One model's records from one poll batch of one input partition, as its owner needs them.

    ``first``..``last`` is the input offset range the partial stands for (the batch's range in that
    partition; other models' records in it are simply not here). ``runs`` holds, for the records of
    this model inside the window, one run per maximal sequence of consecutive input offsets in one
    time slot, delta-coded as flat triples (gap since the previous run's end, or since ``first``;
    length; slot minus the previous run's slot) so msgpack writes small numbers in one byte; read
    them with `run_arrays`. ``offsets``, ``timestamps`` and ``keys`` (int64 / float64 bytes) and
    ``columns`` (one per `driftwatch.stream.windows.ColumnSpec` of the model, in the window's order)
    are the forwarded rows, in offset order. ``model_version`` is that of the model's last record in
    the batch. ``bucket_seconds`` is the slot width the runs were cut with; the owner's window must
    have the same.
    """

    model: str
    topic: str
    partition: int
    first: int
    last: int
    bucket_seconds: float
    runs: list[int]
    offsets: bytes
    timestamps: bytes
    keys: bytes
    columns: list[EncodedColumn]
    model_version: str | None = None

    def run_arrays(self) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """The runs as (first offset, length, slot) arrays, in offset order."""
        return _decode_runs(self.first, self.runs)

    @property
    def admitted(self) -> int:
        """Records of the model inside the window in this partial (the ``seen`` they add)."""
        return sum(self.runs[1::3])

    @property
    def forwarded(self) -> int:
        """Rows carried (records inside the window whose key was below their slot's threshold)."""
        return len(self.offsets) // 8

    def row_offsets(self) -> npt.NDArray[np.int64]:
        return np.frombuffer(self.offsets, dtype="<i8").astype(np.int64, copy=False)

    def row_timestamps(self) -> npt.NDArray[np.float64]:
        return from_float_bytes(self.timestamps)

    def row_keys(self) -> npt.NDArray[np.float64]:
        return from_float_bytes(self.keys)

    def row_columns(self) -> list[npt.NDArray[np.generic]]:
        return [decode_column(column) for column in self.columns]

    def after(self, mark: int) -> Partial:
        """The part after input offset ``mark`` (`cut_partial`)."""
        return cut_partial(self, mark)


Value = Scalar | dict[str, float]
"""A prediction as the label join keeps it (a number, a class, or a map class -> probability)."""


class JoinRows(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """One model's gradable predictions from one poll batch of one input partition, for the label
    join at its owner: per row its input offset (int64 bytes), ``ids`` (the prediction_id, None when
    the record has none but an inline label), event ``timestamps`` (float64 bytes), ``predictions``
    and inline ``labels`` (None where a record has none). ``first``..``last`` is the offset range the
    rows lie in (the owner's ledger marks ``last``)."""

    model: str
    topic: str
    partition: int
    first: int
    last: int
    offsets: bytes
    ids: list[str | None]
    timestamps: bytes
    predictions: list[Value]
    labels: list[Scalar]

    def __len__(self) -> int:
        return len(self.ids)

    def row_offsets(self) -> npt.NDArray[np.int64]:
        return np.frombuffer(self.offsets, dtype="<i8").astype(np.int64, copy=False)

    def row_timestamps(self) -> npt.NDArray[np.float64]:
        return from_float_bytes(self.timestamps)

    def after(self, mark: int) -> JoinRows:
        """The rows after input offset ``mark``."""
        if mark < self.first:
            return self
        keep = self.row_offsets() > mark
        return msgspec.structs.replace(
            self,
            first=mark + 1,
            offsets=_take_offsets(self.row_offsets(), keep),
            ids=_take(self.ids, keep),
            timestamps=float_bytes(self.row_timestamps()[keep]),
            predictions=_take(self.predictions, keep),
            labels=_take(self.labels, keep),
        )

    def between(self, first: int, last: int) -> JoinRows:
        """The rows at input offsets ``first``..``last``, standing for that range (`split_rows`)."""
        offsets = self.row_offsets()
        keep = (offsets >= first) & (offsets <= last)
        return msgspec.structs.replace(
            self,
            first=int(first),
            last=int(last),
            offsets=_take_offsets(offsets, keep),
            ids=_take(self.ids, keep),
            timestamps=float_bytes(self.row_timestamps()[keep]),
            predictions=_take(self.predictions, keep),
            labels=_take(self.labels, keep),
        )


class LabelRows(msgspec.Struct, frozen=True, array_like=True, tag=3):
    """The label records of one poll batch of one labels-topic partition that fit one model, for the
    label join at the model's owner: per record its input offset (int64 bytes), ``ids``
    (prediction_id), ``labels`` and ``timestamps`` (float64 bytes: when the outcome was known)."""

    model: str
    topic: str
    partition: int
    first: int
    last: int
    offsets: bytes
    ids: list[str]
    labels: list[Scalar]
    timestamps: bytes

    def __len__(self) -> int:
        return len(self.ids)

    def row_offsets(self) -> npt.NDArray[np.int64]:
        return np.frombuffer(self.offsets, dtype="<i8").astype(np.int64, copy=False)

    def row_timestamps(self) -> npt.NDArray[np.float64]:
        return from_float_bytes(self.timestamps)

    def after(self, mark: int) -> LabelRows:
        """The records after input offset ``mark``."""
        if mark < self.first:
            return self
        keep = self.row_offsets() > mark
        return msgspec.structs.replace(
            self,
            first=mark + 1,
            offsets=_take_offsets(self.row_offsets(), keep),
            ids=_take(self.ids, keep),
            labels=_take(self.labels, keep),
            timestamps=float_bytes(self.row_timestamps()[keep]),
        )

    def between(self, first: int, last: int) -> LabelRows:
        """The records at input offsets ``first``..``last``, standing for that range (`split_rows`)."""
        offsets = self.row_offsets()
        keep = (offsets >= first) & (offsets <= last)
        return msgspec.structs.replace(
            self,
            first=int(first),
            last=int(last),
            offsets=_take_offsets(offsets, keep),
            ids=_take(self.ids, keep),
            labels=_take(self.labels, keep),
            timestamps=float_bytes(self.row_timestamps()[keep]),
        )


SampleMessage = Partial | JoinRows | LabelRows
"""What a stage-1 reader sends a model's owner on the samples topic."""

_T = TypeVar("_T")


def _take(values: list[_T], keep: npt.NDArray[np.bool_]) -> list[_T]:
    return [value for value, kept in zip(values, keep.tolist(), strict=True) if kept]


def _take_offsets(offsets: npt.NDArray[np.int64], keep: npt.NDArray[np.bool_]) -> bytes:
    return np.ascontiguousarray(offsets[keep], dtype="<i8").tobytes()


def _rows_range(offsets: npt.NDArray[np.int64], columns: Sequence[Sized]) -> tuple[int, int]:
    if len(offsets) == 0:
        raise ValueError("no rows: send nothing rather than an empty message")
    if any(len(column) != len(offsets) for column in columns):
        raise ValueError("every column must have one entry per row")
    if np.any(np.diff(offsets) <= 0):
        raise ValueError("offsets must increase strictly")
    return int(offsets[0]), int(offsets[-1])


def join_rows(
    model: str,
    topic: str,
    partition: int,
    offsets: npt.NDArray[np.int64],
    ids: Sequence[str | None],
    timestamps: npt.NDArray[np.float64],
    predictions: Sequence[Value],
    labels: Sequence[Scalar],
) -> JoinRows:
    """The `JoinRows` of ``model``'s rows at ``offsets`` (strictly increasing) of ``topic``/``partition``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    first, last = _rows_range(offsets, [ids, timestamps, predictions, labels])
    return JoinRows(
        model,
        topic,
        int(partition),
        first,
        last,
        np.ascontiguousarray(offsets, dtype="<i8").tobytes(),
        list(ids),
        float_bytes(np.asarray(timestamps, dtype=np.float64)),
        list(predictions),
        list(labels),
    )


def label_rows(
    model: str,
    topic: str,
    partition: int,
    offsets: npt.NDArray[np.int64],
    ids: Sequence[str],
    labels: Sequence[Scalar],
    timestamps: npt.NDArray[np.float64],
) -> LabelRows:
    """The `LabelRows` of the label records at ``offsets`` (strictly increasing) of ``topic``/``partition``
    that fit ``model``."""
    offsets = np.asarray(offsets, dtype=np.int64)
    first, last = _rows_range(offsets, [ids, labels, timestamps])
    return LabelRows(
        model,
        topic,
        int(partition),
        first,
        last,
        np.ascontiguousarray(offsets, dtype="<i8").tobytes(),
        list(ids),
        list(labels),
        float_bytes(np.asarray(timestamps, dtype=np.float64)),
    )


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Partial)
_message_decoder = msgspec.msgpack.Decoder(SampleMessage)


def encode_partial(partial: Partial) -> bytes:
    """A partial as msgpack bytes (for the samples topic)."""
    return _encoder.encode(partial)


def decode_partial(data: bytes) -> Partial:
    """The partial `encode_partial` wrote; raises `msgspec.DecodeError` (a `ValueError`) on other bytes."""
    return _decoder.decode(data)


def encode_message(message: SampleMessage) -> bytes:
    """Any message for the samples topic as msgpack bytes (a `Partial` as `encode_partial` writes it)."""
    return _encoder.encode(message)


def decode_message(data: bytes) -> SampleMessage:
    """The message `encode_message` (or `encode_partial`) wrote; raises `msgspec.DecodeError` (a
    `ValueError`) on other bytes."""
    return _message_decoder.decode(data)


def _encode_runs(
    first: int, starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]
) -> list[int]:
    if len(starts) == 0:
        return []
    previous_ends = np.empty_like(starts)
    previous_ends[0] = first
    previous_ends[1:] = starts[:-1] + lengths[:-1]
    slot_steps = np.diff(slots, prepend=np.int64(0))
    runs: list[int] = np.column_stack((starts - previous_ends, lengths, slot_steps)).ravel().tolist()
    return runs


def _decode_runs(
    first: int, runs: Sequence[int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    triples = np.array(runs, dtype=np.int64).reshape(-1, 3)
    gaps, lengths, slot_steps = triples[:, 0], triples[:, 1], triples[:, 2]
    starts = first + np.cumsum(gaps) + np.cumsum(lengths) - lengths
    return starts, np.ascontiguousarray(lengths), np.cumsum(slot_steps)


def _runs_of(
    offsets: npt.NDArray[np.int64], slots: npt.NDArray[np.int64]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Maximal runs of consecutive ``offsets`` (increasing) with one slot: (starts, lengths, slots)."""
    if len(offsets) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, empty
    breaks = np.flatnonzero((np.diff(offsets) != 1) | (np.diff(slots) != 0)) + 1
    heads = np.concatenate((np.zeros(1, dtype=np.intp), breaks))
    lengths = np.diff(np.append(heads, len(offsets))).astype(np.int64)
    return offsets[heads], lengths, slots[heads]


def _filter_column(column: EncodedColumn, mask: npt.NDArray[np.bool_]) -> EncodedColumn:
    if isinstance(column, bytes):
        return float_bytes(from_float_bytes(column)[mask])
    if isinstance(column, dict):  # an embedding's vectors: rows x dim float32, kept bit for bit
        return encode_column(np.asarray(decode_column(column))[mask])
    return [value for value, keep in zip(column, mask.tolist(), strict=True) if keep]


def column_rows(column: EncodedColumn) -> int:
    """Rows of a column in its wire form (`driftwatch.stream.column_codec`)."""
    if isinstance(column, bytes):
        return len(column) // 8
    if isinstance(column, dict):
        dim, raw = column.get("dim"), column.get("f4")
        if not isinstance(dim, int) or dim <= 0 or not isinstance(raw, bytes) or len(raw) % (4 * dim):
            raise ValueError("an embedding column is {dim: int > 0, f4: bytes of rows x dim float32}")
        return len(raw) // (4 * dim)
    return len(column)


@dataclass(frozen=True)
class Decision:
    """What a window does with each record of a batch: its time ``slots``, which are ``inside`` the
    window, which of those are ``forwarded`` (key below the slot's threshold), and how many are
    ``outside`` (counted as records_outside_window)."""

    slots: npt.NDArray[np.int64]
    inside: npt.NDArray[np.bool_]
    forwarded: npt.NDArray[np.bool_]
    outside: int


class Admission:
    """The stage-1 side of one model's window: which records of a batch the owner's window counts and
    which rows it could keep, decided as `driftwatch.stream.windows.Window.add_columns` decides.

    ``thresholds`` maps a time slot to the sampling threshold (``tau``) the owner published for it;
    a slot without one forwards every record inside the window (threshold 1.0).
    """

    def __init__(self, length: float, bucket_seconds: float) -> None:
        self.length = float(length)
        self.bucket_seconds = float(bucket_seconds)
        self.thresholds: dict[int, float] = {}

    def update(self, thresholds: Mapping[int, float]) -> None:
        """Take the owner's latest thresholds (replacing the previous ones). A threshold only falls at
        the owner, so an old one forwards more rows than needed, never fewer."""
        self.thresholds = {int(slot): float(tau) for slot, tau in thresholds.items()}

    def decide(
        self, now: float, timestamps: npt.NDArray[np.float64], keys: npt.NDArray[np.float64]
    ) -> Decision:
        """The fate of each record (event ``timestamps``, sample ``keys``) at the reader's ``now``."""
        if len(keys) != len(timestamps):
            raise ValueError(f"{len(keys)} sample keys for {len(timestamps)} records")
        slots = time_slots(timestamps, self.bucket_seconds)
        inside = inside_window(timestamps, now, self.length, self.bucket_seconds)
        outside = len(timestamps) - int(np.count_nonzero(inside))
        if not self.thresholds:
            return Decision(slots, inside, inside, outside)
        unique, where = np.unique(slots, return_inverse=True)
        taus = np.array([self.thresholds.get(int(slot), 1.0) for slot in unique.tolist()], dtype=np.float64)
        return Decision(slots, inside, inside & (keys < taus[where.reshape(-1)]), outside)

    def partial(
        self,
        model: str,
        topic: str,
        partition: int,
        first: int,
        last: int,
        now: float,
        timestamps: npt.NDArray[np.float64],
        keys: npt.NDArray[np.float64],
        offsets: npt.NDArray[np.int64],
        columns: Sequence[npt.NDArray[np.generic]],
        model_version: str | None = None,
        decoded: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[Partial, int]:
        """The partial of ``model``'s records of one batch of ``topic``/``partition`` covering input
        offsets ``first``..``last``, and how many records were outside the window.

        ``offsets`` (strictly increasing), ``timestamps``, ``keys`` and each of ``columns`` (one per
        `ColumnSpec` of the model's window, as `Window.add_columns` takes them) describe the model's
        records in that range; ``model_version`` is that of the last one. With ``decoded`` (one flag
        per record: its columns hold its values), only decoded records are forwarded: the reader
        decided which records to decode by an earlier `decide`, and thresholds it received since
        then (only ever lower for a slot) must not forward a row it did not decode."""
        offsets = np.asarray(offsets, dtype=np.int64)
        if len(offsets) != len(timestamps) or any(len(column) != len(offsets) for column in columns):
            raise ValueError("offsets, timestamps and every column must have one entry per record")
        if len(offsets) and (offsets[0] < first or offsets[-1] > last or np.any(np.diff(offsets) <= 0)):
            raise ValueError(f"offsets must increase strictly within {first}..{last}")
        if last < first:
            raise ValueError(f"an offset range {first}..{last} is empty")
        decision = self.decide(now, timestamps, keys)
        starts, lengths, slots = _runs_of(offsets[decision.inside], decision.slots[decision.inside])
        rows = decision.forwarded if decoded is None else decision.forwarded & decoded
        partial = Partial(
            model=model,
            topic=topic,
            partition=int(partition),
            first=int(first),
            last=int(last),
            bucket_seconds=self.bucket_seconds,
            runs=_encode_runs(int(first), starts, lengths, slots),
            offsets=np.ascontiguousarray(offsets[rows], dtype="<i8").tobytes(),
            timestamps=float_bytes(timestamps[rows]),
            keys=float_bytes(keys[rows]),
            columns=[encode_column(np.asarray(column)[rows]) for column in columns],
            model_version=model_version,
        )
        return partial, decision.outside


def cut_partial(partial: Partial, mark: int) -> Partial:
    """The part of ``partial`` after input offset ``mark``: runs and rows at or below it dropped."""
    if mark < partial.first:
        return partial
    first = mark + 1
    starts, lengths, slots = partial.run_arrays()
    ends = starts + lengths
    keep = ends > first
    starts = np.maximum(starts[keep], first)
    lengths, slots = ends[keep] - starts, slots[keep]
    rows = partial.row_offsets() > mark
    if rows.all():
        offsets, timestamps, keys, columns = (
            partial.offsets,
            partial.timestamps,
            partial.keys,
            partial.columns,
        )
    else:
        offsets = np.ascontiguousarray(partial.row_offsets()[rows], dtype="<i8").tobytes()
        timestamps = float_bytes(partial.row_timestamps()[rows])
        keys = float_bytes(partial.row_keys()[rows])
        columns = [_filter_column(column, rows) for column in partial.columns]
    return msgspec.structs.replace(
        partial,
        first=first,
        runs=_encode_runs(first, starts, lengths, slots),
        offsets=offsets,
        timestamps=timestamps,
        keys=keys,
        columns=columns,
    )


def slice_partial(partial: Partial, first: int, last: int) -> Partial:
    """The part of ``partial`` covering input offsets ``first``..``last`` (within its range): the runs
    clipped to it, the rows inside it. Consecutive slices that cover the range are, applied in order,
    the partial itself (a `PositionLedger` admits each after the previous one)."""
    if first < partial.first or last > partial.last or last < first:
        raise ValueError(f"offsets {first}..{last} are not within {partial.first}..{partial.last}")
    starts, lengths, slots = partial.run_arrays()
    ends = np.minimum(starts + lengths, last + 1)
    starts = np.maximum(starts, first)
    keep = ends > starts
    offsets = partial.row_offsets()
    rows = (offsets >= first) & (offsets <= last)
    if rows.all():
        row_offsets, timestamps, keys, columns = (
            partial.offsets,
            partial.timestamps,
            partial.keys,
            partial.columns,
        )
    else:
        row_offsets = np.ascontiguousarray(offsets[rows], dtype="<i8").tobytes()
        timestamps = float_bytes(partial.row_timestamps()[rows])
        keys = float_bytes(partial.row_keys()[rows])
        columns = [_filter_column(column, rows) for column in partial.columns]
    return msgspec.structs.replace(
        partial,
        first=int(first),
        last=int(last),
        runs=_encode_runs(int(first), starts[keep], (ends - starts)[keep], slots[keep]),
        offsets=row_offsets,
        timestamps=timestamps,
        keys=keys,
        columns=columns,
    )


@dataclass(frozen=True)
class Pieces:
    """A partial cut to fit a message size (`split_partial`): the ``fitting`` pieces with their encoded
    bytes, in offset order, and the ``oversize`` ones: a single row (one record) whose piece alone is
    larger than the bound, which no cut makes smaller."""

    fitting: list[tuple[Partial, bytes]]
    oversize: list[Partial]


def split_partial(partial: Partial, max_bytes: int) -> Pieces:
    """``partial`` as consecutive pieces (`slice_partial`) of at most ``max_bytes`` encoded each, in
    offset order: halved by rows until each piece fits, so every record of the partial is in exactly
    one piece. A piece holding a single row that does not fit is cut once more around that row (its
    neighbours' runs go in pieces of their own) and returned as ``oversize``; nothing else is
    dropped. Most partials fit whole: one encoding, no copy."""
    if max_bytes <= 0:
        raise ValueError(f"max_bytes={max_bytes} must be positive")
    pieces = Pieces([], [])
    pending = [partial]  # a stack, last piece first: pieces come out in offset order
    while pending:
        piece = pending.pop()
        data = encode_message(piece)
        if len(data) <= max_bytes:
            pieces.fitting.append((piece, data))
            continue
        offsets = piece.row_offsets()
        if len(offsets) >= 2:
            cut = int(offsets[len(offsets) // 2]) - 1  # the first half of the rows up to ``cut``
            pending += [slice_partial(piece, cut + 1, piece.last), slice_partial(piece, piece.first, cut)]
        elif len(offsets) == 1 and piece.first < piece.last:  # isolate the row from its neighbours' runs
            row = int(offsets[0])
            around = [(row + 1, piece.last), (row, row), (piece.first, row - 1)]
            pending += [slice_partial(piece, lo, hi) for lo, hi in around if lo <= hi]
        elif len(offsets) == 1:
            pieces.oversize.append(piece)
        else:  # runs alone beyond the bound (a bound below any real batch's bookkeeping): halve the range
            if piece.first == piece.last:
                raise ValueError(f"max_bytes={max_bytes} is too small for a partial of one record")
            middle = (piece.first + piece.last) // 2
            pending += [
                slice_partial(piece, middle + 1, piece.last),
                slice_partial(piece, piece.first, middle),
            ]
    return pieces


_R = TypeVar("_R", JoinRows, LabelRows)


def split_rows(message: _R, max_bytes: int) -> list[tuple[_R, bytes]]:
    """A `JoinRows` or `LabelRows` as consecutive pieces of at most ``max_bytes`` encoded each, with
    their bytes, in offset order: halved by rows until each fits, every row in exactly one piece.
    A single row larger than the bound (ids and labels of many kilobytes) goes alone all the same."""
    if max_bytes <= 0:
        raise ValueError(f"max_bytes={max_bytes} must be positive")
    pieces: list[tuple[_R, bytes]] = []
    pending = [message]
    while pending:
        piece = pending.pop()
        data = encode_message(piece)
        offsets = piece.row_offsets()
        if len(data) <= max_bytes or len(offsets) < 2:
            pieces.append((piece, data))
            continue
        cut = int(offsets[len(offsets) // 2]) - 1
        pending += [piece.between(cut + 1, piece.last), piece.between(piece.first, cut)]
    return pieces


_P = TypeVar("_P", Partial, JoinRows, LabelRows)


class PositionLedger:
    """For one model (and one kind of message) at its owner: the highest input offset applied per
    (topic, partition), so a message read again (a stage-1 reader replaced after a crash, with other
    batch boundaries) is applied once. Keep one ledger per kind: a `Partial` and a `JoinRows` of the
    same input range must both be applied.

    Offsets are assumed to only grow within a partition. A topic deleted and recreated (offsets
    starting again from 0, far below the mark) is out of scope: its partials are skipped until its
    offsets pass the old mark; forget the partition (`forget`) when that happens.
    """

    def __init__(self) -> None:
        self._marks: dict[tuple[str, int], int] = {}

    def mark(self, topic: str, partition: int) -> int | None:
        """The highest offset applied from ``topic``/``partition`` (None before any)."""
        return self._marks.get((topic, partition))

    def admit(self, partial: _P) -> _P | None:
        """What of ``partial`` (or another message) is still to apply: None when it is wholly at or
        below the mark, the part after the mark when it overlaps it, else the message itself. The mark
        moves to its ``last``."""
        key = (partial.topic, partial.partition)
        mark = self._marks.get(key)
        if mark is not None and partial.last <= mark:
            return None
        self._marks[key] = partial.last
        if mark is None or mark < partial.first:
            return partial
        cut: _P = partial.after(mark)
        return cut

    def forget(self, topic: str, partition: int) -> None:
        """Drop the mark of ``topic``/``partition`` (its offsets start again)."""
        self._marks.pop((topic, partition), None)

    def to_state(self) -> list[tuple[str, int, int]]:
        """The marks, for a checkpoint: (topic, partition, highest offset applied), sorted."""
        return [(topic, partition, mark) for (topic, partition), mark in sorted(self._marks.items())]

    @classmethod
    def from_state(cls, state: Iterable[Sequence[str | int]]) -> PositionLedger:
        """The ledger `to_state` described (triples, or lists as msgpack gives them back)."""
        ledger = cls()
        for topic, partition, mark in state:
            ledger._marks[(str(topic), int(partition))] = int(mark)
        return ledger
