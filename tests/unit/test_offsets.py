"""The offsets ledger alone: each rule on a table of cases, then exactly-once across any sequence of
polls, checkpoints, commits, crashes and rebalances (a hypothesis state machine over two replicas)."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from driftwatch.source.offsets import Key, Offsets

P0: Key = ("predictions", 0)
P1: Key = ("predictions", 1)


def admit(ledger: Offsets, offsets: list[int], highwater: int | None = None, key: Key = P0) -> list[int]:
    start, _ = ledger.admit(key, offsets, highwater)
    return offsets[start:]


# the rules, one at a time ---------------------------------------------------------------------------


def test_records_are_handled_once_and_the_next_offset_is_kept() -> None:
    ledger = Offsets()
    assert admit(ledger, [0, 1, 2]) == [0, 1, 2]
    assert ledger.handled == {P0: 3} and ledger.pending
    assert admit(ledger, [1, 2, 3, 4], highwater=10) == [3, 4]  # a rebalance moved the position back
    assert admit(ledger, [0, 1], highwater=10) == []
    assert ledger.handled == {P0: 5}


def test_an_empty_batch_changes_nothing() -> None:
    ledger = Offsets()
    assert ledger.admit(P0, [], 5) == (0, None)
    assert ledger.handled == {} and not ledger.pending


def test_a_floor_skips_what_an_earlier_process_windowed_until_a_record_passes_it() -> None:
    ledger = Offsets()
    ledger.assign([P0, P1], stored={P0: 5})
    assert ledger.floors == {P0: 5}  # nothing known of P1: no floor
    assert ledger.admit(P0, [2, 3, 4, 5, 6], 10) == (3, 5)
    assert ledger.floors == {P0: 5}  # kept until a record at or past it arrives first
    assert admit(ledger, [7, 8], highwater=10) == [7, 8]
    assert ledger.floors == {}


def test_a_floor_is_the_higher_of_what_was_handled_and_what_was_stored() -> None:
    ledger = Offsets()
    admit(ledger, [0, 1, 2, 3])
    ledger.assign([P0], stored={P0: 2})
    assert ledger.floors == {P0: 4}
    ledger.assign([P0], stored={P0: 9})
    assert ledger.floors == {P0: 9}


def test_a_batch_starting_at_the_floor_passes_it() -> None:
    ledger = Offsets()
    ledger.assign([P0], stored={P0: 3})
    assert ledger.admit(P0, [3, 4], 10) == (0, None)
    assert ledger.floors == {}


@pytest.mark.parametrize("handled_first", [True, False])
def test_a_recreated_log_starts_again_from_zero(handled_first: bool) -> None:
    """The log end below what was handled (or below the floor): the topic was recreated."""
    ledger = Offsets()
    if handled_first:
        admit(ledger, list(range(50)))
    else:
        ledger.assign([P0], stored={P0: 50})
    assert admit(ledger, [0, 1, 2], highwater=3) == [0, 1, 2]
    assert ledger.handled[P0] == 3
    assert ledger.floors == {}


def test_a_position_beyond_the_log_end_rewinds_as_auto_offset_reset_says() -> None:
    ledger = Offsets("end")
    admit(ledger, [0, 1, 2, 3])
    checkpoint = ledger.to_checkpoint() or {}
    ledger.taken()
    ledger.stored(checkpoint)
    ledger.assign([P0], stored={P0: 4})
    assert ledger.beyond_end(P0, position=4, highwater=4) is None
    assert ledger.beyond_end(P0, position=4, highwater=1) == "end"
    assert ledger.handled == {P0: 0} and ledger.floors == {} and ledger.pending
    assert Offsets().beyond_end(P0, position=4, highwater=1) == "beginning"


def test_only_what_was_checkpointed_is_committed_and_only_for_partitions_still_ours() -> None:
    ledger = Offsets()
    assert ledger.to_checkpoint() is None  # nothing handled: no checkpoint
    admit(ledger, [0, 1])
    admit(ledger, [0, 1, 2], key=P1)
    offsets = ledger.to_checkpoint()
    assert offsets == {P0: 2, P1: 3}
    ledger.taken()
    assert ledger.to_checkpoint() is None  # nothing handled since it was taken
    assert ledger.to_commit({P0, P1}) == {}  # taken, not stored yet (its write runs): nothing to commit
    admit(ledger, [2, 3])  # handled while the checkpoint was written: not committed with it
    ledger.stored(offsets)
    assert ledger.pending is True  # but pending for the next checkpoint
    assert ledger.to_commit({P0}) == {P0: 2}
    ledger.commit_done({P0: 2})
    assert ledger.committed == {P0: 2}
    assert ledger.to_checkpoint() == {P0: 4, P1: 3}
    ledger.taken()
    ledger.stored({P0: 4, P1: 3})
    assert ledger.to_checkpoint() is None
    admit(ledger, [4])
    assert ledger.to_checkpoint() == {P0: 5, P1: 3}


def test_a_failed_checkpoint_keeps_the_records_pending() -> None:
    ledger = Offsets()
    admit(ledger, [0, 1])
    assert ledger.to_checkpoint() == {P0: 2}
    ledger.taken()  # its write failed: never stored
    ledger.failed()
    assert ledger.pending and ledger.to_commit({P0}) == {}
    assert ledger.to_checkpoint() == {P0: 2}


def test_records_handed_out_below_the_floor_make_the_floor_the_offset_to_commit() -> None:
    """A crash between the checkpoint (at 6) and the commit (at 2): after the restart the group hands out
    2..; once it does, 6 is committed, so that the partition's next owner does not read 2..5 again."""
    ledger = Offsets()
    ledger.assign([P0], stored={P0: 6})
    assert ledger.to_checkpoint() is None
    assert ledger.admit(P0, [2, 3], 10) == (2, 6)
    assert ledger.handled == {P0: 6} and ledger.pending
    checkpoint = ledger.to_checkpoint() or {}
    ledger.taken()
    ledger.stored(checkpoint)
    assert ledger.to_commit({P0}) == {P0: 6}


def test_a_partition_given_back_is_not_committed_until_it_is_read_again() -> None:
    """Handled up to 4, revoked (another replica reads on and commits 8), assigned again: committing 4
    would move the group back, and a restart would read 4..7 again (they are in the other's windows)."""
    ledger = Offsets()
    admit(ledger, [0, 1, 2, 3])
    admit(ledger, [0], key=P1)
    checkpoint = ledger.to_checkpoint() or {}
    ledger.taken()
    ledger.stored(checkpoint)
    ledger.assign([P0], stored={P0: 4})
    assert ledger.to_commit({P0, P1}) == {P1: 1}
    assert admit(ledger, [8, 9], highwater=10) == [8, 9]
    checkpoint = ledger.to_checkpoint() or {}
    ledger.taken()
    ledger.stored(checkpoint)
    assert ledger.to_commit({P0, P1}) == {P0: 10, P1: 1}


def test_a_rebalance_and_a_crash_do_not_window_records_twice() -> None:
    """Steps of the state machine below that windowed records twice: a partition back with the replica that
    read it before, a commit of its old offset (moving the group back), a crash."""
    m = ExactlyOnce()
    m.assign((0, 0))
    m.produce(0, 4)
    m.poll(0, 4)
    m.checkpoint(0, commit=True)
    m.rebalance(0, to=1)
    m.produce(0, 4)
    m.poll(0, 4)
    m.rebalance(0, to=0)
    m.produce(1, 1)
    m.poll(1, 1)
    m.checkpoint(0, commit=True)
    assert m.group[0] == 8
    m.crash(0)
    m.poll(0, 4)
    m.no_record_is_windowed_twice()
    m.teardown()


# exactly once, across any sequence ------------------------------------------------------------------

PARTITIONS = (0, 1)
REPLICAS = (0, 1)


class Replica:
    """A daemon: its ledger, its consumer's positions, its windows and its local store."""

    def __init__(self) -> None:
        self.ledger = Offsets()
        self.positions: dict[int, int] = {}
        self.windows: Counter[tuple[int, int]] = Counter()
        self.stored_windows: Counter[tuple[int, int]] = Counter()
        self.stored_offsets: dict[Key, int] = {}

    def checkpoint(self) -> None:
        offsets = self.ledger.to_checkpoint()
        if offsets is not None:
            self.stored_windows = self.windows.copy()  # windows and offsets in one transaction
            self.stored_offsets.update(offsets)  # the store upserts per partition
            self.ledger.taken()
            self.ledger.stored(offsets)


def key(partition: int) -> Key:
    return ("predictions", partition)


class ExactlyOnce(RuleBasedStateMachine):
    """Two replicas share two partitions of one log; a record is in the windows of one replica, once."""

    def __init__(self) -> None:
        super().__init__()
        self.logs = dict.fromkeys(PARTITIONS, 0)  # records per partition
        self.group: dict[int, int] = {}  # the consumer group's committed offsets
        self.owner: dict[int, int] = {}
        self.replicas = [Replica() for _ in REPLICAS]
        self.unfetched: set[int] = set()  # partitions of a restarted replica it has not fetched yet

    @initialize(owners=st.tuples(st.sampled_from(REPLICAS), st.sampled_from(REPLICAS)))
    def assign(self, owners: tuple[int, int]) -> None:
        for partition, replica in zip(PARTITIONS, owners, strict=True):
            self._assign(partition, replica)

    def _assign(self, partition: int, replica: int) -> None:
        r = self.replicas[replica]
        self.owner[partition] = replica
        self.unfetched.discard(partition)
        r.ledger.assign([key(partition)], r.stored_offsets)
        r.positions[partition] = self.group.get(partition, 0)

    def _owned(self, replica: int) -> set[Key]:
        return {key(p) for p, owner in self.owner.items() if owner == replica}

    @rule(partition=st.sampled_from(PARTITIONS), count=st.integers(1, 5))
    def produce(self, partition: int, count: int) -> None:
        self.logs[partition] += count

    @rule(partition=st.sampled_from(PARTITIONS), count=st.integers(1, 4))
    def poll(self, partition: int, count: int) -> None:
        r = self.replicas[self.owner[partition]]
        position = r.positions[partition]
        batch = list(range(position, min(position + count, self.logs[partition])))
        r.positions[partition] = position + len(batch)
        if batch:
            self.unfetched.discard(partition)
        start, _ = r.ledger.admit(key(partition), batch, self.logs[partition])
        r.windows.update((partition, offset) for offset in batch[start:])

    @rule(replica=st.sampled_from(REPLICAS), commit=st.booleans())
    def checkpoint(self, replica: int, commit: bool) -> None:
        """A checkpoint, then the commit (or not: the process died in between, or the commit failed)."""
        r = self.replicas[replica]
        r.checkpoint()
        if commit:
            offsets = r.ledger.to_commit(self._owned(replica))
            self.group.update({partition: offset for (_, partition), offset in offsets.items()})
            r.ledger.commit_done(offsets)

    @rule(replica=st.sampled_from(REPLICAS))
    def crash(self, replica: int) -> None:
        """kill -9, then a restart: the windows and offsets of the last checkpoint; the group gives the
        same partitions back, from its committed offsets."""
        r = self.replicas[replica]
        r.windows = r.stored_windows.copy()
        r.ledger = Offsets()
        for _, partition in self._owned(replica):
            self._assign(partition, replica)
            self.unfetched.add(partition)

    @precondition(lambda self: len(REPLICAS) > 1)
    @rule(partition=st.sampled_from(PARTITIONS), to=st.sampled_from(REPLICAS))
    def rebalance(self, partition: int, to: int) -> None:
        """The group revokes the partition (checkpoint, then commit) and assigns it (to the same replica, or
        to the other), from the committed offset. A restarted replica has fetched the partition once by
        then (the limit: revoked before, it commits nothing, and records below its floor are read again)."""
        if partition in self.unfetched:
            self.poll(partition, 1)
        r = self.replicas[self.owner[partition]]
        r.checkpoint()
        offsets = r.ledger.to_commit(self._owned(self.owner[partition]))
        self.group.update({p: o for (_, p), o in offsets.items()})
        r.ledger.commit_done(offsets)
        self._assign(partition, to)

    @invariant()
    def no_record_is_windowed_twice(self) -> None:
        seen = sum((r.windows for r in self.replicas), Counter())
        twice = sorted(record for record, count in seen.items() if count > 1)
        assert not twice, f"records windowed twice: {twice}"

    @invariant()
    def nothing_is_committed_beyond_the_checkpoint(self) -> None:
        for r in self.replicas:
            for k, offset in r.ledger.committed.items():
                assert offset <= r.ledger.checkpointed.get(k, -1)
                assert offset <= r.stored_offsets.get(k, -1)

    def teardown(self) -> None:
        """Once every replica read everything: each record is in one window, once."""
        for partition in PARTITIONS:
            while self.replicas[self.owner[partition]].positions[partition] < self.logs[partition]:
                self.poll(partition, 4)
        seen = sum((r.windows for r in self.replicas), Counter())
        expected = Counter((p, offset) for p in PARTITIONS for offset in range(self.logs[p]))
        assert seen == expected


TestExactlyOnce = ExactlyOnce.TestCase
TestExactlyOnce.settings = settings(max_examples=500, stateful_step_count=40, deadline=None)
