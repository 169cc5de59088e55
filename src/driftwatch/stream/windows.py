"""Per-model windows of recent traffic: time buckets holding a bounded uniform sample.

A window covers the last ``length`` seconds of event time, split into buckets.
Every record has a sample key in [0, 1). A bucket keeps its records whose key
is below the bucket's threshold ``tau`` (1.0 until the window overflows). When
the window holds more than ``max_rows`` records, the thresholds of all buckets
are lowered to the ``max_rows``-th smallest key and the records above it are
dropped. A snapshot takes the records whose key is below the smallest
threshold of the buckets in the window: each record in the window then had the
same chance of being kept (it is a bottom-k sample), and while the window has
never held more than ``max_rows`` records every record is kept. The price of
uniformity: after a traffic peak, the whole window is sampled at the peak's
rate until the peak's buckets expire; then the freed room is refilled by new
records at full rate.

The caller gives the keys: the daemon derives each record's key from its Kafka
position (`driftwatch.stream.sample_keys.position_keys`), a hash that is uniform
but deterministic. The sample is then a function of the set of records in the
window alone: the same records give the same rows whatever the batching, the
order of partitions or how many processes share them, and two windows' samples
merge exactly (the bottom k of the union of their rows, by key; `Window.snapshot`
with ``keys=True`` gives the keys). A caller with no position (the offline
check, benchmarks, tests) passes no keys and the window draws them from its
random generator, as a uniform sample needs nothing more.

Trimming back to ``max_rows`` waits until the window holds 10% more (so a window at
its cap is not re-sorted on every insert); a snapshot trims first, so it never
has more than ``max_rows`` rows. Memory per model is bounded by 1.1 x
``max_rows`` rows plus the last inserted batch.

With scale-out, the readers of the input decide which records fall inside a model's window and
forward only those whose key is below their bucket's threshold (`Window.thresholds`); the model's
owner applies what they send with `Window.add_partial`, which counts and keeps exactly what
`Window.add_columns` would have (see `driftwatch.stream.partials`).

For checkpoints, a window logs what changed since the last `Window.changes`
call (segments appended to a bucket, buckets rewritten by a trim, buckets
expired), so a checkpoint writes only the new rows; `Window.restore` rebuilds
the window from what the checkpoints stored.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Final

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.drift.predicted_class import predicted_classes
from driftwatch.drift.profile import ColumnType, category_keys
from driftwatch.stream.partials import Partial, column_rows, inside_window, time_slots
from driftwatch.stream.records import Prediction, Scalar

__all__ = ["BucketState", "ColumnSpec", "Segment", "Window", "WindowChanges", "WindowSnapshot"]


_PLAIN_NUMBERS = frozenset({float, int, type(None)})
SOURCES: Final = ("feature", "prediction", "metadata", "version", "probability", "embedding")


@dataclass(frozen=True)
class ColumnSpec:
    """A column the window keeps, by ``source``: ``"feature"`` (the record's feature ``name``; a
    categorical one the checks do not monitor can be kept to segment by), ``"prediction"`` (the
    model's prediction; in a categorical column, a map class -> probability is its predicted class), ``"metadata"`` (``record["metadata"][name]``, missing when the record has no
    metadata or not that key; its model is to be named in ``RecordDecoder(metadata_models=...)``) or
    ``"version"`` (the record's own ``model_version`` as text; 7 and "7" are one value) or
    ``"probability"`` (a numeric column named ``name`` holding class ``key``'s probability in the
    prediction's map class -> probability: 0 when the map leaves the class out, missing when the
    prediction is not a map; multiclass CBPE reads them). Metadata and version columns are categorical:
    their values are canonical category keys, as a categorical feature's. An ``"embedding"`` column holds one vector of ``dim`` float32 components per row (a
    rows x dim matrix, read from the record by `driftwatch.stream.records.read_vectors`); it is not
    in the snapshot's frame but in `WindowSnapshot.embeddings`."""

    name: str
    type: ColumnType
    source: str = "feature"
    key: str | None = None  # source "probability": the class
    # source "prediction": the model's class order, a predicted class's tie going to the first (then sorted)
    classes: tuple[str, ...] = ()
    dim: int = 0  # components of an embedding column's vectors; 0 for the other columns

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(
                f"column {self.name!r}: source {self.source!r} is not one of {', '.join(SOURCES)}"
            )
        if self.source in ("metadata", "version") and self.type != "categorical":
            raise ValueError(f"column {self.name!r}: a column of source {self.source!r} is categorical")
        if self.source == "probability" and (self.type != "numeric" or self.key is None):
            raise ValueError(f"column {self.name!r}: a probability column is numeric and names its class")
        if (self.source == "embedding") != (self.dim > 0) or (self.dim and self.type != "numeric"):
            raise ValueError(f"column {self.name!r}: an embedding column, and only one, has a dim (numeric)")

    @property
    def row_bytes(self) -> int:
        """Bytes one row of this column takes in memory (a category key: its pointer only)."""
        return 4 * self.dim if self.dim else 8


def _class_probability(prediction: Scalar | dict[str, float], key: str | None) -> Scalar:
    """Class ``key``'s probability in a prediction map (0 when the map leaves it out); None otherwise."""
    if isinstance(prediction, dict):
        return prediction.get(key, 0.0) if key is not None else None
    return None


@dataclass
class _Bucket:
    start: float
    tau: float = 1.0
    timestamps: list[npt.NDArray[np.float64]] = field(default_factory=list)
    keys: list[npt.NDArray[np.float64]] = field(default_factory=list)
    columns: list[list[npt.NDArray[np.generic]]] = field(default_factory=list)
    seen: int = 0
    stored: int = 0  # rows in its checkpointed segments, trimmed ones included

    def compact(self) -> None:
        if len(self.keys) > 1:
            self.timestamps = [np.concatenate(self.timestamps)]
            self.keys = [np.concatenate(self.keys)]
            self.columns = [[np.concatenate(parts) for parts in zip(*self.columns, strict=True)]]

    @property
    def size(self) -> int:
        return sum(len(k) for k in self.keys)

    def keep_below(self, tau: float) -> None:
        self.compact()
        self.tau = min(self.tau, tau)
        if not self.keys:
            return
        mask = self.keys[0] < self.tau
        self.timestamps = [self.timestamps[0][mask]]
        self.keys = [self.keys[0][mask]]
        self.columns = [[column[mask] for column in self.columns[0]]]


@dataclass(frozen=True)
class Segment:
    """Rows kept in one bucket by one insert (or all of a bucket after a rewrite). Never mutated."""

    timestamps: npt.NDArray[np.float64]
    keys: npt.NDArray[np.float64]
    columns: list[npt.NDArray[np.generic]]


@dataclass(frozen=True)
class BucketState:
    slot: int
    start: float
    tau: float
    seen: int


@dataclass(frozen=True)
class WindowChanges:
    """What changed in a window since the previous `Window.changes` call.

    Apply in this order: forget the ``dropped`` slots; forget every stored segment
    of the ``rewritten`` slots (their full contents are in ``segments``); store
    ``segments``; upsert ``buckets``. With ``full``, forget everything stored first.
    """

    full: bool
    dropped: list[int]
    rewritten: list[int]
    segments: list[tuple[int, Segment]]
    buckets: list[BucketState]
    type_violations: dict[str, int]

    @property
    def empty(self) -> bool:
        return not (self.full or self.dropped or self.rewritten or self.segments or self.buckets)


@dataclass(frozen=True)
class WindowSnapshot:
    """The sampled rows of a window at one moment, as a DataFrame, with what it stands for."""

    frame: pd.DataFrame
    start: float
    end: float
    records_seen: int  # records in the window, sampled or not
    type_violations: dict[str, int]
    # each embedding column's vectors (rows x dim, float32), row for row with the frame
    embeddings: dict[str, npt.NDArray[np.float32]] = field(default_factory=dict)


class Window:
    """The sampled recent traffic of one model. Thread-safe: the consumer adds, checks snapshot."""

    def __init__(
        self,
        columns: Sequence[ColumnSpec],
        length: float,
        max_rows: int,
        buckets: int = 12,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.columns = list(columns)
        self.length = float(length)
        self.max_rows = int(max_rows)
        self.bucket_seconds = self.length / buckets
        self._rng = rng or np.random.default_rng()
        self._buckets: dict[int, _Bucket] = {}
        self._lock = threading.Lock()
        self._type_violations: dict[str, int] = {c.name: 0 for c in self.columns}
        self._size = 0
        self._trim_at = self.max_rows + max(1, self.max_rows // 10)
        # change log since the last `changes()` call
        self._full = False
        self._dropped: set[int] = set()
        self._rewritten: set[int] = set()
        self._appended: dict[int, list[Segment]] = {}
        self._touched: set[int] = set()

    def add(
        self,
        records: Sequence[Prediction],
        now: float,
        keys: npt.NDArray[np.float64] | None = None,
        vectors: Mapping[str, npt.NDArray[np.float32]] | None = None,
    ) -> int:
        """Add decoded records of this model at wall-clock ``now``, with their sample keys in [0, 1)
        (one per record; drawn from the window's generator when None) and the vectors of each
        embedding column (rows x dim, row for row with the records; missing when None).

        Returns how many fell inside the window; older ones are not kept.
        """
        if not records:
            return 0
        timestamps, values = self.to_columns(records)
        return self.add_columns(timestamps, self.with_vectors(values, vectors, len(records)), now, keys)

    @property
    def plain_columns(self) -> list[ColumnSpec]:
        """The columns decoded from a record's features, prediction, metadata and version: all but the
        embedding columns (`driftwatch.stream.vectors` reads those)."""
        return [spec for spec in self.columns if not spec.dim]

    def with_vectors(
        self,
        values: Sequence[npt.NDArray[np.generic]],
        vectors: Mapping[str, npt.NDArray[np.float32]] | None,
        rows: int,
    ) -> list[npt.NDArray[np.generic]]:
        """The columns of `plain_columns` (``values``) with each embedding column's vectors put in
        place, as `add_columns` takes them: all columns in the window's order. An embedding missing
        from ``vectors`` is all NaN (missing)."""
        plain = iter(values)
        out: list[npt.NDArray[np.generic]] = []
        for spec in self.columns:
            if not spec.dim:
                out.append(next(plain))
                continue
            matrix = None if vectors is None else vectors.get(spec.name)
            if matrix is None:
                matrix = np.full((rows, spec.dim), np.nan, dtype=np.float32)
            elif matrix.shape != (rows, spec.dim):
                raise ValueError(
                    f"embedding {spec.name!r}: {matrix.shape} vectors for {rows} rows of {spec.dim}"
                )
            out.append(matrix)
        return out

    def to_columns(
        self, records: Sequence[Prediction]
    ) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.generic]]]:
        """Decoded records as `add_columns` takes them but for the vectors (`with_vectors` adds them):
        their event times and one array per column of `plain_columns` (values of the wrong kind become
        missing and are counted as type violations)."""
        timestamps = np.fromiter((r.timestamp for r in records), dtype=np.float64, count=len(records))
        features = [spec.name for spec in self.columns if spec.source == "feature"]
        # one pass over the records, the per-field lookups in C; then one tuple per column
        rows = [tuple(map(r.features.get, features)) for r in records]
        by_name = dict(zip(features, zip(*rows, strict=True), strict=True)) if rows else {}
        values = [
            self._column_values(
                spec,
                by_name.get(spec.name, ())
                if spec.source == "feature"
                else [r.prediction for r in records]
                if spec.source == "prediction"
                else [r.model_version for r in records]
                if spec.source == "version"
                else [_class_probability(r.prediction, spec.key) for r in records]
                if spec.source == "probability"
                else [None if r.metadata is None else r.metadata.get(spec.name) for r in records],
            )
            for spec in self.plain_columns
        ]
        return timestamps, values

    def add_columns(
        self,
        timestamps: npt.NDArray[np.float64],
        values: Sequence[npt.NDArray[np.generic]],
        now: float,
        keys: npt.NDArray[np.float64] | None = None,
    ) -> int:
        """`add` for records already in columns: their event times, and one array per `ColumnSpec`
        (float64 for numeric columns, canonical category keys for categorical ones) holding what `add`
        would make of the records, and their sample keys (drawn when None). Returns how many fell
        inside the window."""
        if len(timestamps) == 0:
            return 0
        if keys is None:
            keys = self._rng.random(len(timestamps))
        elif len(keys) != len(timestamps):
            raise ValueError(f"{len(keys)} sample keys for {len(timestamps)} records")
        slots = time_slots(timestamps, self.bucket_seconds)
        with self._lock:
            self._expire(now - self.length)
            inside = inside_window(timestamps, now, self.length, self.bucket_seconds)
            added = 0
            for slot in np.unique(slots[inside]).tolist():
                mask = inside & (slots == slot)
                seen = int(np.count_nonzero(mask))
                self._insert(slot, seen, mask, timestamps, keys, values)
                added += seen
            if self._size > self._trim_at:
                self._trim()
            return added

    def add_partial(self, partial: Partial, now: float) -> int:
        """Apply a partial (already admitted by the model's `PositionLedger`) at wall-clock ``now``: each
        slot's ``seen`` grows by the records its runs count, and the forwarded rows are kept as
        `add_columns` keeps rows, so the window ends as if `add_columns` had had all the records.

        The reader decided which records are inside the window; that is not decided again here (the
        clocks may differ), except that a slot already expired at ``now`` is dropped, as an expiry
        would drop it. Returns the records counted."""
        if partial.bucket_seconds != self.bucket_seconds:
            raise ValueError(
                f"partial of model {partial.model} cut into {partial.bucket_seconds}s slots, "
                f"the window has {self.bucket_seconds}s buckets"
            )
        if len(partial.columns) != len(self.columns):
            raise ValueError(
                f"partial of model {partial.model} has {len(partial.columns)} columns, "
                f"the window {len(self.columns)}"
            )
        starts, lengths, run_slots = partial.run_arrays()
        if len(starts) == 0 and not partial.forwarded:
            return 0
        slots, first_run = np.unique(run_slots, return_inverse=True)
        seen = np.bincount(first_run.reshape(-1), weights=lengths, minlength=len(slots)).astype(np.int64)
        offsets = partial.row_offsets()
        row_runs = np.searchsorted(starts, offsets, side="right") - 1
        if len(offsets) and (row_runs[0] < 0 or np.any(offsets >= starts[row_runs] + lengths[row_runs])):
            raise ValueError(f"partial of model {partial.model} has rows outside its runs")
        if not (len(partial.timestamps) == len(partial.keys) == len(partial.offsets)) or any(
            column_rows(column) != len(offsets) for column in partial.columns
        ):
            raise ValueError(f"partial of model {partial.model} has columns of different lengths")
        row_slots = run_slots[row_runs]
        timestamps, keys, values = partial.row_timestamps(), partial.row_keys(), partial.row_columns()
        for spec, column in zip(self.columns, values, strict=True):
            if (column.ndim == 2) != bool(spec.dim) or (spec.dim and column.shape[1] != spec.dim):
                raise ValueError(
                    f"partial of model {partial.model}: column {spec.name!r} is not the window's "
                    + (f"embedding of dim {spec.dim}" if spec.dim else "plain column")
                )
        with self._lock:
            horizon = now - self.length
            self._expire(horizon)
            added = 0
            for slot, count in zip(slots.tolist(), seen.tolist(), strict=True):
                if float(slot) * self.bucket_seconds + self.bucket_seconds <= horizon:
                    continue  # expired already: `_expire` would drop it at once
                self._insert(slot, count, row_slots == slot, timestamps, keys, values)
                added += count
            if self._size > self._trim_at:
                self._trim()
            return added

    def add_rows(
        self,
        timestamps: npt.NDArray[np.float64],
        keys: npt.NDArray[np.float64],
        values: Sequence[npt.NDArray[np.generic]],
        seen: Mapping[int, int],
        now: float,
    ) -> int:
        """Rows sampled elsewhere, with the records they stand for: ``seen`` maps each slot to its
        records counted, of which these rows (their event times, keys and one array per `ColumnSpec`)
        are the ones forwarded. Like `add_partial` without the wire form: each slot's ``seen`` grows,
        the rows below the bucket's threshold are kept; a slot already expired at ``now`` is
        dropped. Returns the records counted."""
        if len(keys) != len(timestamps) or len(values) != len(self.columns):
            raise ValueError(
                f"{len(timestamps)} rows with {len(keys)} keys and {len(values)} columns "
                f"for a window of {len(self.columns)} columns"
            )
        if any(len(column) != len(timestamps) for column in values):
            raise ValueError("rows with columns of different lengths")
        slots = time_slots(timestamps, self.bucket_seconds)
        present, counts = np.unique(slots, return_counts=True)
        short = [
            slot
            for slot, rows in zip(present.tolist(), counts.tolist(), strict=True)
            if seen.get(slot, 0) < rows
        ]
        if short:
            raise ValueError(f"slots {short[:5]} hold more rows than the records counted for them")
        with self._lock:
            horizon = now - self.length
            self._expire(horizon)
            added = 0
            for slot, count in sorted(seen.items()):
                if float(slot) * self.bucket_seconds + self.bucket_seconds <= horizon or count <= 0:
                    continue  # expired already: `_expire` would drop it at once
                self._insert(slot, int(count), slots == slot, timestamps, keys, values)
                added += int(count)
            if self._size > self._trim_at:
                self._trim()
            return added

    def seed_from(
        self,
        source: Window,
        column: str,
        value: str | None,
        now: float,
        others: Collection[str | None] | None = None,
    ) -> int:
        """Fill this empty window with ``source``'s rows whose ``column`` holds ``value`` (a canonical
        category key, None for missing): a scope promoted now starts with what the model window kept
        of its records. Each bucket takes the source bucket's threshold, so it holds exactly the
        scope's records of that bucket below it (a threshold sample, as if the scope had been fed
        from the start and sampled at the source's rate); its ``seen`` is estimated as ``rows /
        tau`` (exact while the source kept every record). The two windows must have the same
        columns and buckets. With ``others``, the rows whose ``column`` holds none of those values
        (``value`` is then ignored): a column's ``other`` scope after its membership changed. Returns
        the rows kept."""
        if source is self or source.signature() != self.signature():
            raise ValueError("a window is seeded from another window of the same columns and buckets")
        index = next((i for i, spec in enumerate(self.columns) if spec.name == column), None)
        if index is None:
            raise KeyError(f"column {column!r} is not a column of the window")
        with source._lock:
            source._expire(now - source.length)
            copied: list[tuple[int, float, float, Segment | None]] = []
            for slot, bucket in sorted(source._buckets.items()):
                bucket.compact()
                rows = None
                if bucket.keys:
                    cells = bucket.columns[0][index].tolist()
                    if others is not None:
                        excluded = set(others)
                        mask = np.fromiter((c not in excluded for c in cells), dtype=bool, count=len(cells))
                    else:
                        mask = np.fromiter(
                            ((c is None) if value is None else (c == value) for c in cells),
                            dtype=bool,
                            count=len(cells),
                        )
                    if mask.any():
                        parts = [c[mask] for c in bucket.columns[0]]
                        rows = Segment(bucket.timestamps[0][mask], bucket.keys[0][mask], parts)
                copied.append((slot, bucket.start, bucket.tau, rows))
        with self._lock:
            if self._buckets:
                raise ValueError("only an empty window is seeded")
            for slot, start, tau, rows in copied:
                kept = 0 if rows is None else len(rows.keys)
                seen = kept if tau >= 1.0 else round(kept / tau)
                bucket = self._buckets[slot] = _Bucket(start=start, tau=tau, seen=seen)
                self._touched.add(slot)
                if rows is not None:
                    bucket.timestamps.append(rows.timestamps)
                    bucket.keys.append(rows.keys)
                    bucket.columns.append(rows.columns)
                    self._appended.setdefault(slot, []).append(rows)
                    bucket.stored += kept
                    self._size += kept
            if self._size > self._trim_at:
                self._trim()
            return self._size

    def _insert(
        self,
        slot: int,
        seen: int,
        rows: npt.NDArray[np.bool_],
        timestamps: npt.NDArray[np.float64],
        keys: npt.NDArray[np.float64],
        values: Sequence[npt.NDArray[np.generic]],
    ) -> None:
        """Count ``seen`` records in ``slot``'s bucket and keep those of ``rows`` whose key is below its
        threshold, logging the new segment for the next checkpoint. Under the lock."""
        bucket = self._buckets.get(slot)
        if bucket is None:
            bucket = self._buckets[slot] = _Bucket(start=float(slot) * self.bucket_seconds)
        bucket.seen += seen
        self._touched.add(slot)
        kept = rows & (keys < bucket.tau)
        if not kept.any():
            return
        segment = Segment(timestamps[kept], keys[kept], [column[kept] for column in values])
        bucket.timestamps.append(segment.timestamps)
        bucket.keys.append(segment.keys)
        bucket.columns.append(segment.columns)
        if slot not in self._rewritten:
            self._appended.setdefault(slot, []).append(segment)
            bucket.stored += len(segment.keys)
        self._size += len(segment.keys)

    def _column_values(
        self, spec: ColumnSpec, raw: Sequence[Scalar | dict[str, float]]
    ) -> npt.NDArray[np.generic]:
        if spec.type == "categorical":
            if spec.source == "prediction" and any(isinstance(v, dict) for v in raw):
                # class probabilities: the predicted class, as the reference's maps are read
                classes = predicted_classes(raw, spec.classes)
                return category_keys(
                    c if isinstance(v, dict) else v for v, c in zip(raw, classes, strict=True)
                )
            return category_keys(None if isinstance(v, dict) else v for v in raw)
        if set(map(type, raw)) <= _PLAIN_NUMBERS:  # the common case, converted in C (None -> NaN)
            try:
                return np.array(raw, dtype=np.float64)
            except OverflowError:  # an integer beyond float range: per value below
                pass
        out = np.empty(len(raw), dtype=np.float64)
        violations = 0
        for i, value in enumerate(raw):
            if isinstance(value, int | float) and not isinstance(value, bool):
                try:
                    out[i] = value
                except OverflowError:  # an integer beyond float range: not a usable number
                    out[i] = np.nan
                    violations += 1
            else:
                out[i] = np.nan
                violations += value is not None
        if violations:
            with self._lock:
                self._type_violations[spec.name] += violations
        return out

    def _expire(self, horizon: float) -> None:
        for slot in [s for s, b in self._buckets.items() if b.start + self.bucket_seconds <= horizon]:
            self._size -= self._buckets.pop(slot).size
            self._dropped.add(slot)
            self._rewritten.discard(slot)
            self._appended.pop(slot, None)
            self._touched.discard(slot)

    def _trim(self) -> None:
        all_keys = np.concatenate([k for b in self._buckets.values() for k in b.keys])
        tau = float(np.partition(all_keys, self.max_rows)[self.max_rows])
        for slot, bucket in self._buckets.items():
            bucket.keep_below(tau)  # a checkpoint stores the new tau, not the rows (see `changes`)
            self._touched.add(slot)
        self._size = sum(b.size for b in self._buckets.values())

    # checkpoints -------------------------------------------------------------------------------

    def changes(self) -> WindowChanges:
        """What changed since the last call (everything, the first time after `mark_full`).

        A trim only lowers thresholds: the checkpoint stores a bucket's new ``tau``
        and keeps its rows, and a restore drops the rows at or above it. A bucket is
        rewritten only once most of its stored rows are gone, so checkpoints stay
        small while the window is at its cap."""
        with self._lock:
            full = self._full
            for slot, bucket in self._buckets.items():
                if bucket.stored > 1000 and 2 * bucket.size < bucket.stored:
                    self._rewritten.add(slot)
                    self._appended.pop(slot, None)
            rewritten = sorted(self._buckets) if full else sorted(self._rewritten)
            segments: list[tuple[int, Segment]] = []
            for slot in rewritten:
                bucket = self._buckets[slot]
                bucket.stored = bucket.size
                bucket.compact()
                if bucket.keys:
                    segments.append((slot, Segment(bucket.timestamps[0], bucket.keys[0], bucket.columns[0])))
            if not full:
                segments += [(slot, seg) for slot, segs in sorted(self._appended.items()) for seg in segs]
            touched = set(self._buckets) if full else self._touched | self._rewritten
            buckets = [
                BucketState(
                    slot, self._buckets[slot].start, self._buckets[slot].tau, self._buckets[slot].seen
                )
                for slot in sorted(touched)
                if slot in self._buckets
            ]
            changes = WindowChanges(
                full, sorted(self._dropped), rewritten, segments, buckets, dict(self._type_violations)
            )
            self._full = False
            self._dropped, self._rewritten, self._appended, self._touched = set(), set(), {}, set()
            return changes

    def mark_full(self) -> None:
        """The next `changes` returns the whole window (after a checkpoint that failed to be stored)."""
        with self._lock:
            self._full = True

    def restore(
        self,
        buckets: Sequence[BucketState],
        segments: Sequence[tuple[int, Segment]],
        type_violations: dict[str, int],
        now: float,
    ) -> int:
        """Load a checkpointed window (before any `add`); returns the rows restored after expiry."""
        with self._lock:
            self._buckets = {b.slot: _Bucket(start=b.start, tau=b.tau, seen=b.seen) for b in buckets}
            for slot, segment in segments:
                bucket = self._buckets.get(slot)
                if bucket is None:
                    continue
                bucket.timestamps.append(segment.timestamps)
                bucket.keys.append(segment.keys)
                bucket.columns.append(segment.columns)
                bucket.stored += len(segment.keys)
            for bucket in self._buckets.values():
                bucket.keep_below(bucket.tau)  # rows trimmed after they were stored
            self._size = sum(b.size for b in self._buckets.values())
            for name in self._type_violations:
                self._type_violations[name] = int(type_violations.get(name, 0))
            self._dropped, self._rewritten, self._appended, self._touched = set(), set(), {}, set()
            self._full = False
            self._expire(now - self.length)
            if self._size > self.max_rows:  # max_rows was lowered in the config since
                self._trim()
            return self._size

    def seen(self) -> int:
        """Records in the window's live buckets, sampled or not."""
        with self._lock:
            return sum(bucket.seen for bucket in self._buckets.values())

    def clear(self) -> None:
        """Forget every row (the model moved to another replica); the next `changes` is a full one."""
        with self._lock:
            self._buckets = {}
            self._size = 0
            self._type_violations = {c.name: 0 for c in self.columns}
            self._dropped, self._rewritten, self._appended, self._touched = set(), set(), {}, set()
            self._full = True

    def thresholds(self) -> dict[int, float]:
        """Each live bucket's sampling threshold by slot: a record of that slot with a key at or above
        it would not be kept (thresholds only fall, so a stale copy keeps more, never less)."""
        with self._lock:
            return {slot: bucket.tau for slot, bucket in self._buckets.items()}

    def signature(self) -> str:
        """What a checkpoint must match to be restored: the columns and the bucket layout."""
        columns = ";".join(
            f"{c.name}:{c.type}:{c.source}" + (f":{c.dim}" if c.dim else "") for c in self.columns
        )
        return f"v1|{self.bucket_seconds!r}|{columns}"

    def type_violations(self) -> dict[str, int]:
        """Values of the wrong kind seen per column since start (counted as missing)."""
        with self._lock:
            return dict(self._type_violations)

    def memory_bytes(self) -> int:
        """Bytes the kept rows take in memory now: their columns (vectors included), keys and times.
        At most ``1.1 x max_rows`` rows plus the last inserted batch (see the module's docstring)."""
        with self._lock:
            return sum(
                array.nbytes
                for bucket in self._buckets.values()
                for array in chain(
                    bucket.timestamps, bucket.keys, (column for part in bucket.columns for column in part)
                )
            )

    def stored_rows(self) -> int:
        """Rows held in memory now (a snapshot trims the slack above ``max_rows`` first)."""
        with self._lock:
            return self._size

    def rows(self) -> int:
        """Rows a snapshot would hold now: kept records below the window's sampling threshold."""
        with self._lock:
            tau = min((b.tau for b in self._buckets.values()), default=1.0)
            if tau >= 1.0:
                return min(self._size, self.max_rows)
            kept = sum(int(np.count_nonzero(k < tau)) for b in self._buckets.values() for k in b.keys)
            return min(kept, self.max_rows)  # a snapshot trims the slack first

    def snapshot(
        self, now: float, keys: bool = False, start: float | None = None, end: float | None = None
    ) -> WindowSnapshot:
        """The window's sample at wall-clock ``now`` as a frame: a column per `ColumnSpec`, plus
        ``__timestamp`` (and ``__key``, the sample keys, with ``keys``). Records stamped slightly in
        the future (producer clock skew) are included.

        With ``start`` and/or ``end``, only the buckets wholly inside ``[start, end)`` are taken,
        below the smallest threshold *of those buckets*: a uniform sample of that period (the
        records of a period with a bucket of lower threshold elsewhere in the window keep more rows).
        ``records_seen`` then counts the records of those buckets, and the snapshot's start and end
        are the ones given."""
        with self._lock:
            horizon = now - self.length
            self._expire(horizon)
            if self._size > self.max_rows:
                self._trim()
            live = list(self._buckets.values())
            if start is not None or end is not None:
                first = -math.inf if start is None else _slot_bound(start, self.bucket_seconds, up=True)
                stop = math.inf if end is None else _slot_bound(end, self.bucket_seconds, up=False)
                live = [b for slot, b in self._buckets.items() if first <= slot < stop]
            period = (horizon if start is None else start, now if end is None else end)
            for bucket in live:
                bucket.compact()
            tau = min((b.tau for b in live), default=1.0)
            parts_ts, parts_cols, parts_keys = [], [], []
            seen = 0
            for bucket in live:
                seen += bucket.seen
                if not bucket.keys:
                    continue
                mask = (bucket.keys[0] < tau) & (bucket.timestamps[0] > horizon)
                parts_ts.append(bucket.timestamps[0][mask])
                if keys:
                    parts_keys.append(bucket.keys[0][mask])
                parts_cols.append([column[mask] for column in bucket.columns[0]])
            violations = dict(self._type_violations)
        data: dict[str, npt.NDArray[np.generic]] = {}
        embeddings: dict[str, npt.NDArray[np.float32]] = {}
        for i, spec in enumerate(self.columns):
            if spec.dim:
                empty_vectors = np.empty((0, spec.dim), dtype=np.float32)
                embeddings[spec.name] = (
                    np.concatenate([p[i] for p in parts_cols]) if parts_cols else empty_vectors
                )
                continue
            empty = np.empty(0, dtype=np.float64 if spec.type == "numeric" else object)
            data[spec.name] = np.concatenate([p[i] for p in parts_cols]) if parts_cols else empty
        data["__timestamp"] = np.concatenate(parts_ts) if parts_ts else np.empty(0)
        if keys:
            data["__key"] = np.concatenate(parts_keys) if parts_keys else np.empty(0)
        return WindowSnapshot(pd.DataFrame(data), period[0], period[1], seen, violations, embeddings)


def _slot_bound(t: float, bucket_seconds: float, up: bool) -> int:
    """The first slot starting at or after ``t`` (``up``), or the first slot not ending at or before
    ``t``: ``t / bucket_seconds`` rounded, exact when ``t`` is a bucket boundary up to rounding."""
    q = t / bucket_seconds
    nearest = round(q)
    if math.isclose(q, nearest, rel_tol=1e-12, abs_tol=1e-12):
        return int(nearest)
    return math.ceil(q) if up else math.floor(q)
