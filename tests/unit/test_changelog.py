"""The changelog of a samples partition's owner state: a replay restores what the SQLite store restores.

A window driven through adds, trims and expiry is checkpointed after every step both into the SQLite
`Store` and through the changelog codec; `Window.restore` from either gives the same window. Then the
changelog's own rules: claims fence a zombie's writes, a checkpoint counts only with all its chunks,
alert states and outbox rows are the last ones written.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftwatch.alerting.policy import AlertState
from driftwatch.state.changelog import (
    MAX_BYTES,
    ChangelogError,
    Chunk,
    Claim,
    ModelCheckpoint,
    OutboxEntry,
    PartitionCheckpoint,
    Replay,
    WindowDelta,
    WindowState,
    decode_entry,
    encode_checkpoint,
    encode_claim,
)
from driftwatch.state.store import Store
from driftwatch.stream.records import Prediction
from driftwatch.stream.windows import ColumnSpec, Segment, Window

COLUMNS = [
    ColumnSpec("id", "numeric"),
    ColumnSpec("x", "numeric"),
    ColumnSpec("c", "categorical"),
    ColumnSpec("p", "numeric", source="prediction"),
]
LENGTH = 1000.0


def pred(ts: float, i: int) -> Prediction:
    features: dict[str, Any] = {"id": i, "x": i * 0.5 if i % 7 else None, "c": ["a", "b", None, 3][i % 4]}
    if i % 11 == 0:
        features["x"] = "not a number"  # a type violation, counted and restored
    return Prediction("m", None, None, ts, features, i / 10, None)


def window(max_rows: int, seed: int = 0, columns: list[ColumnSpec] = COLUMNS) -> Window:
    return Window(columns, LENGTH, max_rows, buckets=10, rng=np.random.default_rng(seed))


def add(w: Window, first: int, n: int, start: float, seconds: float = 0.0, now: float | None = None) -> None:
    stamps = start + np.sort(np.random.default_rng(first).random(n)) * seconds
    w.add([pred(float(t), first + j) for j, t in enumerate(stamps)], start + seconds if now is None else now)


class Log:
    """One changelog partition: the messages written, at consecutive offsets."""

    def __init__(self) -> None:
        self.messages: list[bytes] = []

    def claim(self, claim: str) -> int:
        self.messages.append(encode_claim(Claim(claim, f"replica-{claim}", 0.0)))
        return len(self.messages) - 1

    def write(self, messages: list[bytes]) -> None:
        self.messages += messages

    def checkpoint(
        self,
        claim: str,
        checkpoint: str,
        samples_next: int,
        models: list[ModelCheckpoint],
        max_bytes: int = MAX_BYTES,
        complete: bool = False,
    ) -> list[bytes]:
        entry = PartitionCheckpoint(claim, checkpoint, samples_next, models, complete)
        messages = encode_checkpoint(entry, max_bytes)
        self.write(messages)
        return messages

    def replay(self, until: int | None = None) -> Replay:
        replay = Replay()
        for offset, value in enumerate(self.messages[:until]):
            replay.feed(offset, value)
        return replay


def part(w: Window, model: str = "m", **more: Any) -> ModelCheckpoint:
    return ModelCheckpoint(model, w.signature(), WindowDelta.of(w.changes()), **more)


def restored_window(replay: Replay, max_rows: int, now: float, model: str = "m") -> Window:
    state = replay.restored(model)
    assert state is not None and state.window is not None
    fresh = window(max_rows, seed=99)
    assert state.signature == fresh.signature()
    fresh.restore(*state.window, now=now)
    return fresh


def assert_same_window(a: Window, b: Window, now: float) -> None:
    """Same rows with the same keys, in the same order; same counts, thresholds and violations."""
    sa, sb = a.snapshot(now, keys=True), b.snapshot(now, keys=True)
    pd.testing.assert_frame_equal(sa.frame, sb.frame)
    assert sa.records_seen == sb.records_seen
    assert sa.type_violations == sb.type_violations
    assert a.rows() == b.rows()


def by_slot(segments: list[tuple[int, Segment]]) -> dict[int, list[Segment]]:
    out: dict[int, list[Segment]] = defaultdict(list)
    for slot, segment in segments:
        out[slot].append(segment)
    return out


def assert_same_state(stored: tuple[Any, Any, Any] | None, replayed: WindowState | None) -> None:
    """The replay holds exactly the rows of the SQLite tables: buckets (with tau and seen), the segments
    of each slot in the order they were stored, type violations."""
    assert stored is not None and replayed is not None
    buckets, segments, violations = stored
    assert replayed.buckets == buckets
    assert replayed.type_violations == violations
    ours, theirs = by_slot(replayed.segments), by_slot(segments)
    assert ours.keys() == theirs.keys()
    for slot in theirs:
        assert len(ours[slot]) == len(theirs[slot]), slot
        for x, y in zip(ours[slot], theirs[slot], strict=True):
            np.testing.assert_array_equal(x.timestamps, y.timestamps)
            np.testing.assert_array_equal(x.keys, y.keys)
            for cx, cy in zip(x.columns, y.columns, strict=True):
                assert cx.dtype == cy.dtype
                np.testing.assert_array_equal(cx, cy)


# One step: (kind, n, seconds, chunks landed). add: n records over the next `seconds`; wait: let time
# pass; snapshot: expire and trim, like a scheduled check; fail: the next checkpoint's write fails after
# `landed` of its messages.
step = st.one_of(
    st.tuples(st.just("add"), st.integers(1, 400), st.floats(0, 300), st.just(0)),
    st.tuples(st.just("wait"), st.just(0), st.floats(0, 600), st.just(0)),
    st.tuples(st.just("snapshot"), st.just(0), st.just(0.0), st.just(0)),
    st.tuples(st.just("fail"), st.just(0), st.just(0.0), st.integers(0, 50)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    steps=st.lists(step, min_size=1, max_size=25),
    max_rows=st.sampled_from([50, 300, 5000]),
    max_bytes=st.sampled_from([MAX_BYTES, 4000, 600]),
)
def test_a_replay_restores_what_the_sqlite_store_restores(
    tmp_path_factory: Any, steps: list[tuple[str, int, float, int]], max_rows: int, max_bytes: int
) -> None:
    store = Store(tmp_path_factory.mktemp("changelog") / "state.sqlite")
    log = Log()
    log.claim("a")
    w = window(max_rows)
    now, next_id, failing, written = 10_000.0, 0, None, 0
    for number, (kind, n, seconds, landed) in enumerate(steps):
        if kind == "add":
            add(w, next_id, n, now, seconds)
            next_id += n
            now += seconds
        elif kind == "wait":
            now += seconds
        elif kind == "snapshot":
            w.snapshot(now)
        else:
            failing = landed
        changes = w.changes()
        messages = encode_checkpoint(
            PartitionCheckpoint(
                "a", f"a-{number}", next_id, [ModelCheckpoint("m", w.signature(), WindowDelta.of(changes))]
            ),
            max_bytes,
        )
        if failing is not None:  # some of its messages landed, not all; the SQLite transaction rolled back
            log.write(messages[: min(failing, len(messages) - 1)])
            w.mark_full()
            failing = None
            continue
        assert all(len(m) <= max_bytes for m in messages)
        log.write(messages)
        store.checkpoint({"m": (w.signature(), changes)}, "g", {("t", 0): next_id})
        written = next_id
    replay = log.replay()
    if replay.samples_next is None:  # every checkpoint failed
        assert store.load_window("m", w.signature()) is None
        return
    assert replay.samples_next == written == store.offsets("g")[("t", 0)]
    state = replay.restored("m")
    assert state is not None
    assert_same_state(store.load_window("m", w.signature()), state.window)
    from_store = window(max_rows, seed=98)
    stored = store.load_window("m", w.signature())
    assert stored is not None
    from_store.restore(*stored, now=now)
    from_log = restored_window(replay, max_rows, now)
    assert_same_window(from_log, from_store, now)
    if written == next_id:  # the last checkpoint holds everything the window has
        assert_same_window(from_log, w, now)
    stats = replay.stats
    assert stats.entries == len(log.messages)
    assert stats.read_bytes == sum(map(len, log.messages))
    assert 0 < stats.applied_bytes <= stats.read_bytes
    store.close()


def test_rewritten_buckets_replay_like_the_store(tmp_path: Path) -> None:
    """At the cap, trims lower the thresholds until a bucket is rewritten whole: both forget its old
    segments alike."""
    store = Store(tmp_path / "state.sqlite")
    log = Log()
    log.claim("a")
    w = window(max_rows=2000)
    now, rewritten = 10_000.0, 0
    for batch in range(30):
        add(w, batch * 1000, 1000, now, 0.9)
        changes = w.changes()
        rewritten += len(changes.rewritten)
        log.checkpoint(
            "a", str(batch), batch, [ModelCheckpoint("m", w.signature(), WindowDelta.of(changes))], 50_000
        )
        store.checkpoint({"m": (w.signature(), changes)}, "g", {("t", 0): batch})
        now += 1.0
    assert rewritten > 0
    replay = log.replay()
    state = replay.restored("m")
    assert state is not None
    assert_same_state(store.load_window("m", w.signature()), state.window)
    assert_same_window(restored_window(replay, 2000, now), w, now)
    store.close()


def test_a_full_delta_after_a_partly_written_checkpoint_replaces_the_window() -> None:
    log = Log()
    log.claim("a")
    w = window(max_rows=10_000)
    add(w, 0, 50, 100.0, 50.0, now=200.0)
    log.checkpoint("a", "1", 50, [part(w)])
    add(w, 1000, 30, 150.0, 30.0, now=200.0)
    lost = encode_checkpoint(PartitionCheckpoint("a", "2", 80, [part(w)]), max_bytes=800)
    assert len(lost) > 2
    log.write(lost[:-1])  # the writer died before its last chunk
    w.mark_full()
    add(w, 5000, 1, 190.0, now=200.0)
    log.checkpoint("a", "3", 81, [part(w)], max_bytes=800)
    replay = log.replay()
    assert replay.samples_next == 81
    assert replay.stats.incomplete == 1
    assert replay.stats.checkpoints == 2
    back = restored_window(replay, 10_000, 200.0)
    assert len(back.snapshot(200.0).frame) == 81
    assert_same_window(back, w, 200.0)


def test_an_unfinished_checkpoint_at_the_end_of_the_log_is_ignored() -> None:
    log = Log()
    log.claim("a")
    w = window(max_rows=10_000)
    add(w, 0, 40, 100.0, 10.0)
    log.checkpoint("a", "1", 40, [part(w)])
    kept = restored_window(log.replay(), 10_000, 110.0).snapshot(110.0, keys=True).frame
    add(w, 100, 200, 110.0, 10.0)
    messages = encode_checkpoint(PartitionCheckpoint("a", "2", 240, [part(w)]), max_bytes=2000)
    log.write([messages[0], *messages[2:]])  # one chunk in the middle is missing
    replay = log.replay()
    assert replay.samples_next == 40
    pd.testing.assert_frame_equal(
        restored_window(replay, 10_000, 110.0).snapshot(110.0, keys=True).frame, kept
    )


def test_a_zombies_writes_after_a_newer_claim_are_ignored() -> None:
    log = Log()
    w = window(max_rows=10_000)
    add(w, 0, 5, 100.0, 5.0)
    log.checkpoint("a", "before-any-claim", 5, [part(w)])  # no claim yet: ignored
    log.claim("a")
    w.mark_full()
    add(w, 100, 10, 105.0, 5.0)
    log.checkpoint("a", "a1", 15, [part(w)])  # the old owner, before the new claim: applied
    before_b = log.claim("b")
    # the new owner restores from the log up to its claim
    replay_b = log.replay(until=before_b + 1)
    assert replay_b.claim == Claim("b", "replica-b", 0.0) and replay_b.claim_offset == before_b
    assert replay_b.samples_next == 15
    b = restored_window(replay_b, 10_000, 110.0)
    assert len(b.snapshot(110.0).frame) == 15
    # the old owner has not noticed yet and writes on, whole and in chunks
    add(w, 200, 100, 110.0, 5.0)
    log.checkpoint("a", "a2", 115, [part(w)])
    add(w, 400, 100, 115.0, 5.0)
    log.checkpoint("a", "a3", 215, [part(w)], max_bytes=1500)
    add(b, 300, 7, 110.0, 5.0)
    log.checkpoint("b", "b1", 22, [part(b)])
    replay = log.replay()
    assert replay.samples_next == 22
    assert replay.stats.fenced >= 3
    assert_same_window(restored_window(replay, 10_000, 115.0), b, 115.0)
    assert len(b.snapshot(115.0).frame) == 22


def test_a_checkpoint_whose_chunks_straddle_a_newer_claim_is_ignored() -> None:
    log = Log()
    log.claim("a")
    w = window(max_rows=10_000)
    add(w, 0, 10, 100.0, 5.0)
    log.checkpoint("a", "a1", 10, [part(w)])
    add(w, 100, 200, 105.0, 5.0)
    messages = encode_checkpoint(PartitionCheckpoint("a", "a2", 210, [part(w)]), max_bytes=2000)
    assert len(messages) >= 2
    log.write(messages[:1])
    log.claim("b")
    log.write(messages[1:])
    replay = log.replay()
    assert replay.samples_next == 10
    assert len(restored_window(replay, 10_000, 110.0).snapshot(110.0).frame) == 10


def test_reading_a_message_twice_applies_it_once() -> None:
    log = Log()
    log.claim("a")
    w = window(max_rows=10_000)
    add(w, 0, 10, 100.0, 5.0)
    once = log.checkpoint("a", "a1", 10, [part(w)])
    log.write(once)  # a producer retry wrote it again
    add(w, 100, 5, 105.0, 5.0)
    log.checkpoint("a", "a2", 15, [part(w)])
    replay = Replay()
    for offset, value in enumerate(log.messages):
        replay.feed(offset, value)
        replay.feed(offset, value)  # and the consumer re-read it
    assert replay.stats.checkpoints == 2
    assert replay.stats.duplicates == len(log.messages) + 1
    assert_same_window(restored_window(replay, 10_000, 110.0), w, 110.0)


def test_alert_states_outbox_rows_and_positions_are_the_last_written() -> None:
    log = Log()
    log.claim("a")
    w = window(max_rows=100)
    add(w, 0, 10, 100.0, 5.0)
    firing = AlertState("firing", 100.0, 3, 0, 100.0)

    def row(key: str, status: str, attempts: int) -> OutboxEntry:
        return OutboxEntry(
            "hook", key, b"{}", 100.0, attempts, 100.0 + attempts, status, None, "m", "drift", "firing"
        )

    log.checkpoint(
        "a",
        "1",
        10,
        [
            part(
                w,
                positions=[("preds", 0, 4), ("preds", 1, 9)],
                alerts=[("drift", AlertState("pending", 90.0, 1, 0, None)), ("quality", AlertState())],
                outbox=[row("k1", "pending", 0)],
            )
        ],
    )
    log.checkpoint(
        "a",
        "2",
        11,
        [
            ModelCheckpoint(
                "m",
                w.signature(),
                None,  # no window change: the window stays
                positions=[("preds", 0, 7)],
                alerts=[("drift", firing)],
                outbox=[row("k2", "pending", 0), row("k1", "delivered", 1)],
            ),
            ModelCheckpoint("other", "sig", None, alerts=[("drift", AlertState())]),
        ],
    )
    replay = log.replay()
    assert replay.models() == ["m", "other"]
    state = replay.restored("m")
    assert state is not None
    assert state.positions == {("preds", 0): 7, ("preds", 1): 9}
    assert state.alerts == {"drift": firing, "quality": AlertState()}
    assert state.outbox == [row("k1", "delivered", 1), row("k2", "pending", 0)]
    assert_same_window(restored_window(replay, 100, 105.0), w, 105.0)
    other = replay.restored("other")
    assert other is not None and other.window is None and other.alerts == {"drift": AlertState()}
    assert replay.restored("unknown") is None


def test_another_signature_starts_the_window_afresh() -> None:
    log = Log()
    log.claim("a")
    old = window(max_rows=100)
    add(old, 0, 10, 100.0, 5.0)
    log.checkpoint("a", "1", 10, [part(old, alerts=[("drift", AlertState("firing", 1.0, 1, 0, 1.0))])])
    new = window(max_rows=100, columns=COLUMNS[:2])  # a feature left the config
    add(new, 100, 3, 105.0, 1.0)
    log.checkpoint("a", "2", 13, [part(new)])
    replay = log.replay()
    state = replay.restored("m")
    assert state is not None and state.window is not None
    assert state.signature == new.signature()
    assert state.alerts == {"drift": AlertState("firing", 1.0, 1, 0, 1.0)}  # alert state is not the window's
    back = window(100, columns=COLUMNS[:2])
    back.restore(*state.window, now=106.0)
    assert_same_window(back, new, 106.0)
    log.checkpoint("a", "3", 14, [ModelCheckpoint("m", old.signature(), None)])
    state = log.replay().restored("m")
    assert state is not None and state.signature == old.signature() and state.window is None


def test_chunks_stay_under_the_limit_and_reassemble() -> None:
    w = window(max_rows=10_000)
    add(w, 0, 3000, 100.0, 50.0)
    checkpoint = PartitionCheckpoint("a", "1", 3000, [part(w)])
    whole = encode_checkpoint(checkpoint)
    assert len(whole) == 1 and decode_entry(whole[0]) == checkpoint
    chunks = encode_checkpoint(checkpoint, max_bytes=10_000)
    assert len(chunks) > 1 and all(len(c) <= 10_000 for c in chunks)
    decoded = [decode_entry(c) for c in chunks]
    assert all(isinstance(c, Chunk) and c.count == len(chunks) for c in decoded)
    assert b"".join(c.payload for c in decoded if isinstance(c, Chunk)) == whole[0]
    with pytest.raises(ValueError, match="max_bytes"):
        encode_checkpoint(checkpoint, max_bytes=20)


def test_a_message_that_is_no_entry_is_an_error() -> None:
    replay = Replay()
    replay.feed(0, encode_claim(Claim("a", "r", 0.0)))
    replay.feed(1, None)  # a tombstone
    with pytest.raises(ChangelogError, match="offset 2"):
        replay.feed(2, msgspec.msgpack.encode({"type": "something-newer"}))


def test_outbox_entries_carry_the_stores_rows(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    store.outbox_add("hook", "k1", b'{"a": 1}', 100.0, "m", "drift", "firing")
    store.outbox_update("hook", "k1", "pending", 2, 160.0, "HTTP 503")
    (stored,) = store.outbox()
    entry = OutboxEntry.of(stored)
    assert entry.row(stored.id) == stored
    back = decode_entry(
        encode_checkpoint(PartitionCheckpoint("a", "1", 0, [ModelCheckpoint("m", "s", outbox=[entry])]))[0]
    )
    assert isinstance(back, PartitionCheckpoint) and back.models[0].outbox == [entry]
    store.close()


def test_a_replay_from_the_last_complete_checkpoint_gives_the_same_state() -> None:
    log = Log()
    log.claim("a")
    w, gone = window(max_rows=300), window(max_rows=300)
    add(w, 0, 200, 100.0, 50.0)
    add(gone, 10_000, 20, 100.0, 50.0)
    log.checkpoint("a", "a1", 200, [part(w), part(gone, "gone", alerts=[("drift", AlertState())])])
    b_claim = log.claim("b")
    b = restored_window(log.replay(), 300, 150.0)
    add(w, 1000, 50, 150.0, 10.0)
    log.checkpoint("a", "a2", 250, [part(w)], max_bytes=800)  # a zombie
    b.mark_full()  # the new owner writes its whole state once restored
    firing = AlertState("firing", 150.0, 1, 0, 150.0)
    log.checkpoint(
        "b", "b1", 200, [part(b, alerts=[("drift", firing)], positions=[("p", 0, 199)])], 800, True
    )
    for step in range(5):
        add(b, 2000 + 100 * step, 100, 150.0 + 10 * step, 10.0)
        log.checkpoint("b", f"b{step + 2}", 300 + 100 * step, [part(b)], max_bytes=800)
    full = log.replay()
    assert full.start_offset == b_claim
    late = Replay()
    for offset in range(b_claim, len(log.messages)):
        late.feed(offset, log.messages[offset])
    assert late.start_offset == b_claim
    assert full.samples_next == late.samples_next == 700
    assert full.models() == late.models() == ["m"]  # "gone" was not in the complete checkpoint
    for replay in (full, late):
        state = replay.restored("m")
        assert state is not None
        assert state.alerts == {"drift": firing} and state.positions == {("p", 0): 199}
        assert_same_window(restored_window(replay, 300, 200.0), b, 200.0)
    assert late.stats.read_bytes < full.stats.read_bytes


def test_a_replay_says_how_much_it_read_beyond_the_last_complete_checkpoint() -> None:
    """What an owner decides compaction on: the size of the last complete checkpoint and of the
    checkpoints after it (a replay from the index reads both)."""
    log = Log()
    log.claim("a")
    w = window(max_rows=300)
    add(w, 0, 100, 100.0, 50.0)
    log.checkpoint("a", "a1", 100, [part(w)])
    before = log.replay()
    assert before.complete_bytes == 0 and before.since_complete_bytes > 0  # no complete one yet
    w.mark_full()
    log.checkpoint("a", "a2", 100, [part(w)], complete=True)
    at_complete = log.replay()
    assert at_complete.complete_bytes > 0 and at_complete.since_complete_bytes == 0
    sizes = []
    for step in range(3):
        add(w, 1000 + 100 * step, 50, 110.0 + step, 5.0)
        sizes.append(sum(map(len, log.checkpoint("a", f"a{step + 3}", 200 + step, [part(w)]))))
    after = log.replay()
    assert after.complete_bytes == at_complete.complete_bytes
    assert after.since_complete_bytes == sum(sizes)


def test_a_complete_checkpoint_holds_full_windows() -> None:
    w = window(max_rows=100)
    add(w, 0, 10, 100.0, 5.0)
    part(w)
    add(w, 100, 10, 105.0, 5.0)
    with pytest.raises(ValueError, match="full windows"):
        encode_checkpoint(PartitionCheckpoint("a", "1", 20, [part(w)], complete=True))
