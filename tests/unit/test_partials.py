"""Partials: one model's records carried from stage-1 readers to the model's owner, exactly once.

The key property: however a stream is split among readers, batched, re-read after crashes and
interleaved at the owner, the owner's window ends as one window fed every record once.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field

import msgspec
import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftwatch.stream.partials import (
    Admission,
    Partial,
    PositionLedger,
    decode_partial,
    encode_partial,
    inside_window,
    time_slots,
)
from driftwatch.stream.sample_keys import position_keys
from driftwatch.stream.windows import ColumnSpec, Window

NOW = 1_800_000_000.0
LENGTH = 3600.0
BUCKETS = 12
BUCKET = LENGTH / BUCKETS
TOPIC = "predictions"
MODEL = "m"
COLUMNS = [ColumnSpec("x", "numeric"), ColumnSpec("c", "categorical")]


@dataclass
class Records:
    """This model's records in one input partition (other models' records sit at the missing offsets)."""

    partition: int
    size: int  # offsets 0..size-1 exist in the partition
    offsets: npt.NDArray[np.int64]
    timestamps: npt.NDArray[np.float64]
    x: npt.NDArray[np.float64]
    c: npt.NDArray[np.object_]

    @property
    def keys(self) -> npt.NDArray[np.float64]:
        return position_keys(TOPIC, self.partition, self.offsets)

    def between(self, first: int, last: int) -> Records:
        mask = (self.offsets >= first) & (self.offsets <= last)
        return Records(
            self.partition, self.size, self.offsets[mask], self.timestamps[mask], self.x[mask], self.c[mask]
        )


def make_records(rnd: random.Random, partition: int, size: int, ours: float) -> Records:
    offsets, stamps = [], []
    for offset in range(size):
        if rnd.random() >= ours:
            continue  # another model's record
        kind = rnd.random()
        if kind < 0.08:  # too old
            stamps.append(NOW - LENGTH - rnd.uniform(0, 5000))
        elif kind < 0.12:  # too far ahead
            stamps.append(NOW + 300.5 + rnd.uniform(0, 5000))
        else:  # inside, edges included
            stamps.append(rnd.choice([NOW - LENGTH + 0.5, NOW + 300.0, NOW - rnd.uniform(-300, LENGTH - 1)]))
        offsets.append(offset)
    count = len(offsets)
    c = np.empty(count, dtype=object)
    c[:] = [rnd.choice(["a", "b", None]) for _ in range(count)]
    return Records(
        partition,
        size,
        np.array(offsets, dtype=np.int64),
        np.array(stamps, dtype=np.float64),
        np.array([rnd.uniform(-1, 1) for _ in range(count)], dtype=np.float64),
        c,
    )


@dataclass
class Reader:
    """A stage-1 reader of one partition from ``start``, in batches of its own; a crash stops it."""

    records: Records
    batches: deque[tuple[int, int]]
    admission: Admission = field(default_factory=lambda: Admission(LENGTH, BUCKET))
    queue: deque[tuple[Partial | None, int]] = field(default_factory=deque)  # produced, not yet appended
    committable: list[int] = field(default_factory=list)  # offsets it may commit (all before appended)

    @classmethod
    def start(cls, rnd: random.Random, records: Records, start: int) -> Reader:
        batches: deque[tuple[int, int]] = deque()
        first = start
        while first < records.size:
            last = min(records.size - 1, first + rnd.randint(0, 12))
            batches.append((first, last))
            first = last + 1
        return cls(records, batches)

    def read(self) -> None:
        first, last = self.batches.popleft()
        mine = self.records.between(first, last)
        partial = None
        if len(mine.offsets):
            partial, outside = self.admission.partial(
                MODEL,
                TOPIC,
                mine.partition,
                first,
                last,
                NOW,
                mine.timestamps,
                mine.keys,
                mine.offsets,
                [mine.x, mine.c],
                model_version=f"v{last}",
            )
            assert outside == np.count_nonzero(~inside_window(mine.timestamps, NOW, LENGTH, BUCKET))
        self.queue.append((partial, last + 1))
        self._settle()

    def append(self) -> Partial:
        """The oldest produced partial, appended to the samples log (as the owner will read it)."""
        partial, end = self.queue.popleft()
        assert partial is not None
        self.committable.append(end)
        self._settle()
        return decode_partial(encode_partial(partial))

    def _settle(self) -> None:
        while self.queue and self.queue[0][0] is None:
            self.committable.append(self.queue.popleft()[1])


@dataclass
class Owner:
    window: Window
    ledger: PositionLedger = field(default_factory=PositionLedger)
    counted: int = 0

    def apply(self, partial: Partial) -> None:
        admitted = self.ledger.admit(partial)
        if admitted is not None:
            self.counted += self.window.add_partial(admitted, NOW)


def snapshot(window: Window) -> tuple[pd.DataFrame, int]:
    snap = window.snapshot(NOW, keys=True)
    return snap.frame.sort_values("__key").reset_index(drop=True), snap.records_seen


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rnd=st.randoms(use_true_random=False),
    partitions=st.integers(1, 3),
    max_rows=st.sampled_from([2, 7, 25, 1000]),
)
def test_an_owner_fed_partials_has_the_window_of_one_reader_of_every_record(
    rnd: random.Random, partitions: int, max_rows: int
) -> None:
    streams = [
        make_records(rnd, p, rnd.randint(0, 70), rnd.choice([0.3, 0.8, 1.0])) for p in range(partitions)
    ]
    reference = Window(COLUMNS, LENGTH, max_rows, buckets=BUCKETS)
    counted = reference.add_columns(
        np.concatenate([s.timestamps for s in streams]),
        [np.concatenate([s.x for s in streams]), np.concatenate([s.c for s in streams])],
        NOW,
        np.concatenate([s.keys for s in streams]),
    )

    owner = Owner(Window(COLUMNS, LENGTH, max_rows, buckets=BUCKETS))
    readers = {p: [Reader.start(rnd, s, 0)] for p, s in enumerate(streams)}
    restarts = 0
    while True:
        active = [r for rs in readers.values() for r in rs]
        moves: list[tuple[str, Reader]] = [("read", r) for r in active if r.batches]
        moves += [("append", r) for r in active if r.queue]
        if not moves:
            break
        moves += [("publish", r) for r in active if r.batches]
        if restarts < 4:
            moves += [("crash", r) for r in active if r.batches]
        move, reader = rnd.choice(moves)
        if move == "read":
            reader.read()
        elif move == "append":
            owner.apply(reader.append())
        elif move == "publish":
            reader.admission.update(owner.window.thresholds())
        else:  # a new reader from an offset committed by any reader of the partition, other batches
            restarts += 1
            partition = reader.records.partition
            start = rnd.choice([0, *(o for r in readers[partition] for o in r.committable)])
            if rnd.random() < 0.7:
                reader.batches.clear()  # crashed; what it produced may still be appended (else a zombie)
            readers[partition].append(Reader.start(rnd, streams[partition], start))

    assert owner.counted == counted
    want_frame, want_seen = snapshot(reference)
    got_frame, got_seen = snapshot(owner.window)
    assert got_seen == want_seen
    pd.testing.assert_frame_equal(got_frame, want_frame)
    restored = Window(COLUMNS, LENGTH, max_rows, buckets=BUCKETS)
    changes = owner.window.changes()
    restored.restore(changes.buckets, changes.segments, changes.type_violations, NOW)
    assert snapshot(restored)[1] == want_seen
    pd.testing.assert_frame_equal(snapshot(restored)[0], want_frame)


def one_partial(
    offsets: list[int] | npt.NDArray[np.int64],
    timestamps: list[float] | npt.NDArray[np.float64],
    first: int | None = None,
    last: int | None = None,
    thresholds: dict[int, float] | None = None,
) -> tuple[Partial, int]:
    where = np.asarray(offsets, dtype=np.int64)
    c = np.empty(len(where), dtype=object)
    c[:] = [["a", None, "b"][offset % 3] for offset in where.tolist()]
    admission = Admission(LENGTH, BUCKET)
    admission.update(thresholds or {})
    return admission.partial(
        MODEL,
        TOPIC,
        0,
        int(where[0]) if first is None else first,
        int(where[-1]) if last is None else last,
        NOW,
        np.asarray(timestamps, dtype=np.float64),
        position_keys(TOPIC, 0, where),
        where,
        [where.astype(np.float64), c],
        model_version="v1",
    )


def test_a_partial_survives_the_wire() -> None:
    stamps = [NOW - 10, NOW - 400, NOW - 5000, NOW - 20, NOW + 100]
    partial, outside = one_partial([3, 4, 5, 8, 9], stamps, first=0, last=11)
    assert outside == 1
    again = decode_partial(encode_partial(partial))
    assert again == partial
    assert again.model_version == "v1"
    assert again.row_columns()[1].tolist() == ["a", None, "b", "a"]
    np.testing.assert_array_equal(again.row_offsets(), [3, 4, 8, 9])
    np.testing.assert_array_equal(again.row_columns()[0], [3.0, 4.0, 8.0, 9.0])
    starts, lengths, slots = again.run_arrays()
    slot = time_slots(np.array(stamps), BUCKET)
    np.testing.assert_array_equal(starts, [3, 4, 8, 9])  # 5 is outside: it breaks the run
    np.testing.assert_array_equal(lengths, [1, 1, 1, 1])
    np.testing.assert_array_equal(slots, slot[[0, 1, 3, 4]])
    assert again.admitted == 4
    with pytest.raises(msgspec.DecodeError):
        decode_partial(b"\x93\x01\x02\x03")


def test_runs_cost_next_to_nothing_for_a_partition_of_one_model() -> None:
    """Measured: 500 records of one model over two time slots make 2 runs, 6 integers in 13 bytes of
    msgpack (the first slot, epoch / 300 s, takes 5), the whole partial without rows 58 bytes;
    interleaved with another model record by record, each record is a run of its own: 3.03 bytes a
    record (gap 1, length 1, slot step 0, one byte each)."""
    offsets = np.arange(1000, 1500)
    stamps = NOW - 450 + np.arange(500) * 0.6  # ordered, crosses one bucket boundary
    alone, _ = one_partial(offsets, stamps, thresholds={int(s): 0.0 for s in time_slots(stamps, BUCKET)})
    assert len(alone.runs) == 6
    assert alone.forwarded == 0 and alone.admitted == 500
    runs_size = len(msgspec.msgpack.encode(alone.runs))
    assert runs_size == 13
    shared, _ = one_partial(
        offsets[::2], stamps[::2], thresholds={int(s): 0.0 for s in time_slots(stamps, BUCKET)}
    )
    assert len(shared.runs) == 3 * 250
    per_record = len(msgspec.msgpack.encode(shared.runs)) / 250
    assert per_record <= 3.1
    # a whole partial without rows is the runs plus names and the offset range
    assert len(encode_partial(alone)) < 64


def test_the_ledger_cuts_a_partial_read_again_exactly_at_its_mark() -> None:
    stamps = NOW - 100 - (np.arange(40) // 10) * BUCKET  # four slots of ten records
    first, _ = one_partial(np.arange(0, 27), stamps[:27])
    again, _ = one_partial(np.arange(20, 40), stamps[20:40], first=18)
    ledger = PositionLedger()
    assert ledger.admit(first) is first
    assert ledger.mark(TOPIC, 0) == 26
    cut = ledger.admit(again)
    assert cut is not None
    assert cut.first == 27 and cut.last == 39
    starts, lengths, slots = cut.run_arrays()
    np.testing.assert_array_equal(starts, [27, 30])
    np.testing.assert_array_equal(lengths, [3, 10])
    np.testing.assert_array_equal(slots, time_slots(stamps[[27, 30]], BUCKET))
    np.testing.assert_array_equal(cut.row_offsets(), np.arange(27, 40))
    np.testing.assert_array_equal(cut.row_columns()[0], np.arange(27, 40, dtype=np.float64))
    assert cut.row_columns()[1].tolist() == [["a", None, "b"][offset % 3] for offset in range(27, 40)]
    assert cut.admitted == 13 and cut.model_version == "v1"
    assert ledger.admit(again) is None  # wholly at or below the mark now
    assert ledger.admit(first) is None
    # the cut partial applied after the first gives the window of all forty records once
    owner, reference = Window(COLUMNS, LENGTH, 1000, BUCKETS), Window(COLUMNS, LENGTH, 1000, BUCKETS)
    assert owner.add_partial(first, NOW) + owner.add_partial(cut, NOW) == 40
    everything, _ = one_partial(np.arange(40), stamps)
    reference.add_partial(everything, NOW)
    assert snapshot(owner)[1] == snapshot(reference)[1] == 40
    pd.testing.assert_frame_equal(snapshot(owner)[0], snapshot(reference)[0])


def test_a_cut_partial_without_its_records_still_moves_the_mark() -> None:
    partial, _ = one_partial([5, 6], [NOW - 1, NOW - 2], last=20)
    ledger = PositionLedger.from_state([(TOPIC, 0, 10)])
    cut = ledger.admit(partial)
    assert cut is not None and cut.admitted == 0 and cut.forwarded == 0 and cut.first == 11
    assert ledger.to_state() == [(TOPIC, 0, 20)]
    assert Window(COLUMNS, LENGTH, 10, BUCKETS).add_partial(cut, NOW) == 0


def test_the_ledger_state_survives_msgpack() -> None:
    ledger = PositionLedger()
    for partition, last in [(2, 30), (0, 7)]:
        partial, _ = one_partial([last], [NOW - 1])
        ledger.admit(msgspec.structs.replace(partial, partition=partition))
    state = ledger.to_state()
    assert state == [(TOPIC, 0, 7), (TOPIC, 2, 30)]
    again = PositionLedger.from_state(msgspec.msgpack.decode(msgspec.msgpack.encode(state)))
    assert again.to_state() == state
    assert again.mark(TOPIC, 2) == 30 and again.mark(TOPIC, 1) is None


def test_records_all_outside_make_a_partial_that_counts_nothing() -> None:
    partial, outside = one_partial([1, 2, 3], [NOW - LENGTH, NOW - 2 * LENGTH, NOW + 301])
    assert outside == 3 and partial.runs == [] and partial.forwarded == 0
    window = Window(COLUMNS, LENGTH, 10, BUCKETS)
    assert window.add_partial(decode_partial(encode_partial(partial)), NOW) == 0
    assert snapshot(window)[1] == 0 and window.changes().empty


def test_records_none_forwarded_still_count_as_seen() -> None:
    stamps = np.array([NOW - 10, NOW - 20, NOW - 700])
    slots = time_slots(stamps, BUCKET)
    partial, outside = one_partial([1, 2, 3], stamps, thresholds={int(s): 0.0 for s in slots})
    assert outside == 0 and partial.forwarded == 0 and partial.admitted == 3
    window = Window(COLUMNS, LENGTH, 10, BUCKETS)
    assert window.add_partial(partial, NOW) == 3
    frame, seen = snapshot(window)
    assert seen == 3 and frame.empty
    assert {b.slot: b.seen for b in window.changes().buckets} == {int(slots[0]): 2, int(slots[2]): 1}


def test_a_threshold_forwards_only_keys_below_it_in_its_slot() -> None:
    offsets = np.arange(200)
    stamps = np.where(offsets < 100, NOW - 10, NOW - 1000)
    keys = position_keys(TOPIC, 0, offsets)
    slot = int(time_slots(stamps, BUCKET)[0])
    partial, _ = one_partial(offsets, stamps, thresholds={slot: 0.5})
    want = offsets[(offsets >= 100) | (keys < 0.5)]
    np.testing.assert_array_equal(partial.row_offsets(), want)
    np.testing.assert_array_equal(partial.row_keys(), keys[want])


def test_the_owner_drops_slots_expired_by_its_own_clock_only() -> None:
    stamps = np.array([NOW - 3500, NOW - 10, NOW + 250])
    partial, _ = one_partial([1, 2, 3], stamps)
    window = Window(COLUMNS, LENGTH, 10, BUCKETS)
    later = NOW + 600  # the owner's clock is ahead: the first record's bucket has expired
    assert window.add_partial(partial, later) == 2
    snap = window.snapshot(later)
    assert snap.records_seen == 2 and sorted(snap.frame["x"]) == [2.0, 3.0]
    earlier = Window(COLUMNS, LENGTH, 10, BUCKETS)  # behind: what the reader admitted is taken as is
    assert earlier.add_partial(partial, NOW - 400) == 3


def test_a_partial_cut_for_another_bucket_layout_is_refused() -> None:
    partial, _ = one_partial([1], [NOW - 1])
    with pytest.raises(ValueError, match="slots"):
        Window(COLUMNS, LENGTH, 10, buckets=6).add_partial(partial, NOW)
    with pytest.raises(ValueError, match="columns"):
        Window(COLUMNS[:1], LENGTH, 10, BUCKETS).add_partial(partial, NOW)
    with pytest.raises(ValueError, match="lengths"):
        Window(COLUMNS, LENGTH, 10, BUCKETS).add_partial(msgspec.structs.replace(partial, keys=b""), NOW)
    with pytest.raises(ValueError, match="outside its runs"):
        Window(COLUMNS, LENGTH, 10, BUCKETS).add_partial(msgspec.structs.replace(partial, runs=[]), NOW)


def test_offsets_out_of_order_are_refused() -> None:
    with pytest.raises(ValueError, match="increase"):
        one_partial([3, 2], [NOW - 1, NOW - 2])
    with pytest.raises(ValueError, match="increase"):
        one_partial([3, 4], [NOW - 1, NOW - 2], first=4)


def test_the_window_publishes_its_thresholds() -> None:
    window = Window(COLUMNS, LENGTH, 5, BUCKETS)
    assert window.thresholds() == {}
    offsets = np.arange(50)
    stamps = NOW - 10 - (offsets % 2) * BUCKET
    window.add_columns(
        stamps,
        [offsets.astype(np.float64), np.full(50, "a", dtype=object)],
        NOW,
        position_keys(TOPIC, 0, offsets),
    )
    taus = window.thresholds()
    assert set(taus) == set(time_slots(stamps, BUCKET).tolist())
    assert all(0 < tau < 1 for tau in taus.values())
