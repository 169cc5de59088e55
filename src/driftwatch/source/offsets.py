"""The offsets ledger: which records of each partition the windows hold, and what may be committed.

The exactly-once rules of the Kafka source, kept apart from Kafka: this module
does no I/O, imports no Kafka client and reads no clock, so every rule can be
checked alone (``tests/test_offsets.py``). :class:`~driftwatch.source.kafka.KafkaSource`
asks it what to keep of a polled batch, what to checkpoint, what to commit and
where to seek, and carries the answers out on the consumer.

Per partition (a ``(topic, partition)`` key) it holds:

* **handled**: the next offset after the last record handed to the windows;
* **checkpointed**: the offsets of the last checkpoint, stored with the windows
  in one local transaction (with no checkpoint store, what was handled);
* **committed**: what was last committed to Kafka, never beyond the checkpoint,
  and never for a partition given back to this process before it read it again
  (the group's committed offset may be past what it handled long ago);
* **floors**: set when a partition is assigned, from what this process handled
  and the last stored checkpoint. The group may hand out records below a floor
  again (the process died between its checkpoint and its commit, or a revocation
  committed nothing): they are in the windows already and are skipped, until a
  record at or past the floor arrives; the floor is then what the windows hold,
  to be committed (the group's committed offset was behind it). Floors rather
  than seeks: a seek back to an old local checkpoint would re-read what another
  replica handled since. (The limit: a partition revoked after a restart before
  its first fetch commits nothing, so its next owner reads again the records
  below the floor; inside a rebalance callback the group's committed offset
  cannot be asked for.)

A **recreated log** (the topic was deleted and created again) shows as offsets
going backwards: the log end is below what was handled (or below the floor, or
below the consumer's position). Then the partition starts again from 0, its
floor is void, and the consumer seeks to the beginning (or the end, as
``auto_offset_reset`` says): the one case where offsets go back.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Iterable, Mapping
from typing import Literal, Protocol

__all__ = ["Key", "OffsetSequence", "Offsets", "Rewind"]

Key = tuple[str, int]  # (topic, partition)
Rewind = Literal["beginning", "end"]  # where a recreated log is read from


class OffsetSequence(Protocol):
    """The offsets of one partition's polled records, ascending (a list, or a view over the records)."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int, /) -> int: ...


class Offsets:
    """Handled, checkpointed and committed offsets, floors and rewinds of the partitions a source reads.

    Not thread-safe: the source calls it under its own lock (kafka-python runs rebalance callbacks on
    another thread)."""

    def __init__(self, rewind: Rewind = "beginning") -> None:
        self.rewind: Rewind = rewind
        self.handled: dict[Key, int] = {}
        self.checkpointed: dict[Key, int] = {}
        self.committed: dict[Key, int] = {}
        self.floors: dict[Key, int] = {}
        self.pending = False  # records handled since the last checkpoint
        # partitions assigned again with nothing handled since: what this process handled of them is older
        # than the group's committed offset (another replica may have read on), so it is not committed
        self.stale: set[Key] = set()

    def admit(self, key: Key, offsets: OffsetSequence, highwater: int | None) -> tuple[int, int | None]:
        """A poll returned records of partition ``key`` with these ascending ``offsets`` (``highwater``: the
        log end the fetch reported, None if unknown). Returns the index of the first record to hand to the
        windows (``len(offsets)``: none) and the floor that records were skipped below (None if none were).
        Records below what was handled are already windowed (a rebalance moved the position back), so are
        records below the partition's floor; either is void when the log end is below it (recreated)."""
        count = len(offsets)
        if not count:
            return 0, None
        start = 0
        handled = self.handled.get(key, -1)
        if offsets[0] < handled:
            if highwater is not None and highwater < handled:  # the log was recreated: it starts again
                self.handled[key] = 0
                self.floors.pop(key, None)
            else:
                start = bisect_left(offsets, handled)
        skipped_below: int | None = None
        floor = self.floors.get(key)
        if floor is not None and start < count:
            if offsets[start] < floor:
                if highwater is not None and highwater < floor:  # the log was recreated: the floor is void
                    del self.floors[key]
                else:
                    start = bisect_left(offsets, floor, lo=start)
                    skipped_below = floor
                    # the group's committed offset is behind what the windows hold: commit the floor, or
                    # the partition's next owner reads these records again
                    if self.handled.get(key, -1) < floor:
                        self.handled[key] = floor
                        self.pending = True
                    self.stale.discard(key)
            else:
                del self.floors[key]  # passed it
        if start < count:
            self.handled[key] = offsets[count - 1] + 1
            self.pending = True
            self.stale.discard(key)
        return start, skipped_below

    def beyond_end(self, key: Key, position: int, highwater: int) -> Rewind | None:
        """The consumer's ``position`` against the log end: beyond it, the log was deleted and recreated, the
        partition starts again from 0 and the consumer must seek where this returns; else None."""
        if position <= highwater:
            return None
        self.floors.pop(key, None)
        self.handled[key] = 0
        self.pending = True
        self.stale.discard(key)
        return self.rewind

    def assign(self, keys: Iterable[Key], stored: Mapping[Key, int]) -> None:
        """Partitions were assigned: floors from what this process handled and from ``stored``, the offsets
        of the last checkpoint in the local store (an earlier process's, after a restart)."""
        for key in keys:
            floor = max(self.handled.get(key, -1), stored.get(key, -1))
            if floor >= 0:
                self.floors[key] = floor
            if key in self.handled:
                self.stale.add(key)

    def to_checkpoint(self) -> dict[Key, int] | None:
        """The offsets to store with the windows, or None when nothing was handled since the last checkpoint."""
        return dict(self.handled) if self.pending else None

    def taken(self) -> None:
        """The offsets :meth:`to_checkpoint` returned went into a checkpoint (its write may still run):
        records handled from now on are pending for the next one."""
        self.pending = False

    def stored(self, offsets: Mapping[Key, int]) -> None:
        """``offsets`` (from :meth:`to_checkpoint`) were stored with the windows: they may be committed."""
        self.checkpointed = dict(offsets)

    def failed(self) -> None:
        """The checkpoint taken last was not stored: what was handled is pending again."""
        self.pending = True

    def to_commit(self, partitions: Collection[Key]) -> dict[Key, int]:
        """What to commit to Kafka for ``partitions`` (those still ours): the last checkpoint's offsets, but
        not those of a partition given back to this process and not read since (the group's committed
        offset may be past them: committing them would move it back, and records would be read twice)."""
        return {
            key: offset
            for key, offset in self.checkpointed.items()
            if key in partitions and key not in self.stale
        }

    def commit_done(self, offsets: Mapping[Key, int]) -> None:
        """``offsets`` were committed to Kafka (or sent, for the asynchronous commit before a revocation)."""
        self.committed.update(offsets)
