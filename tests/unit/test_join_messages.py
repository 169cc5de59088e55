"""The label join's messages to a model's owner: `JoinRows` and `LabelRows` next to `Partial` on the
samples topic, their codec, their cuts at a mark, one ledger per kind, and their positions in the
changelog."""

from __future__ import annotations

import random

import msgspec
import numpy as np
import pytest

from driftwatch.service.owner import _ledgers_of
from driftwatch.state.changelog import Claim, ModelCheckpoint, PartitionCheckpoint, Replay, encode_checkpoint
from driftwatch.state.changelog import encode_claim as claim_bytes
from driftwatch.state.labels import LabelStore, in_sample
from driftwatch.stream.partials import (
    Admission,
    JoinRows,
    LabelRows,
    Partial,
    PositionLedger,
    decode_message,
    decode_partial,
    encode_message,
    encode_partial,
    join_rows,
    label_rows,
)


def some_join_rows(offsets: list[int], topic: str = "predictions", partition: int = 2) -> JoinRows:
    n = len(offsets)
    predictions: list[object] = [0.25, 1, "cat", True, {"a": 0.75, "b": 0.25}, None]
    labels: list[object] = [None, 1, "dog", False, 0.5, None]
    return join_rows(
        "m",
        topic,
        partition,
        np.array(offsets, dtype=np.int64),
        [None if i % 4 == 3 else f"id-{o}" for i, o in enumerate(offsets)],
        np.array([1_800_000_000.0 + o for o in offsets]),
        [predictions[i % len(predictions)] for i in range(n)],  # type: ignore[misc]
        [labels[i % len(labels)] for i in range(n)],  # type: ignore[misc]
    )


def some_label_rows(offsets: list[int], topic: str = "labels", partition: int = 0) -> LabelRows:
    return label_rows(
        "m",
        topic,
        partition,
        np.array(offsets, dtype=np.int64),
        [f"id-{o}" for o in offsets],
        [o % 2 for o in offsets],
        np.array([1_800_000_100.0 + o for o in offsets]),
    )


def some_partial(first: int, last: int) -> Partial:
    offsets = np.arange(first, last + 1, dtype=np.int64)
    partial, _ = Admission(3600.0, 60.0).partial(
        "m",
        "predictions",
        2,
        first,
        last,
        1_800_000_000.0,
        np.full(len(offsets), 1_800_000_000.0 - 30),
        np.linspace(0.1, 0.9, len(offsets)),
        offsets,
        [np.arange(len(offsets), dtype=np.float64)],
    )
    return partial


def test_every_kind_survives_the_wire() -> None:
    rows, labels, partial = (
        some_join_rows([5, 6, 9, 12, 13, 20]),
        some_label_rows([3, 4, 8]),
        some_partial(5, 9),
    )
    for message in (rows, labels, partial):
        decoded = decode_message(encode_message(message))
        assert type(decoded) is type(message)
        assert decoded == message
    assert rows.ids[3] is None and rows.predictions[4] == {"a": 0.75, "b": 0.25}
    assert rows.row_offsets().tolist() == [5, 6, 9, 12, 13, 20]
    assert labels.row_timestamps().tolist() == [1_800_000_103.0, 1_800_000_104.0, 1_800_000_108.0]
    # a partial is written as before: an owner of this version reads an older reader's partials
    assert encode_message(partial) == encode_partial(partial)
    assert decode_partial(encode_message(partial)) == partial


def test_other_bytes_do_not_decode() -> None:
    with pytest.raises(msgspec.DecodeError):
        decode_message(b"\x93\x09\x01\x02")  # an array with an unknown tag
    with pytest.raises(msgspec.DecodeError):
        decode_partial(encode_message(some_label_rows([1])))


def test_rows_are_refused_empty_unequal_or_out_of_order() -> None:
    with pytest.raises(ValueError, match="no rows"):
        some_label_rows([])
    with pytest.raises(ValueError, match="increase"):
        some_label_rows([4, 4])
    with pytest.raises(ValueError, match="one entry per row"):
        label_rows("m", "labels", 0, np.array([1, 2]), ["a"], [1, 0], np.array([1.0, 2.0]))


@pytest.mark.parametrize("kind", ["join", "labels"])
def test_a_cut_keeps_exactly_the_rows_after_the_mark(kind: str) -> None:
    offsets = [5, 6, 9, 12, 13, 20]
    message = some_join_rows(offsets) if kind == "join" else some_label_rows(offsets)
    assert message.after(4) is message
    for mark in range(4, 22):
        cut = message.after(mark)
        kept = [i for i, o in enumerate(offsets) if o > mark]
        assert cut.row_offsets().tolist() == [offsets[i] for i in kept]
        assert cut.ids == [message.ids[i] for i in kept]
        assert cut.labels == [message.labels[i] for i in kept]
        assert cut.row_timestamps().tolist() == [message.row_timestamps()[i] for i in kept]
        if isinstance(cut, JoinRows):
            assert isinstance(message, JoinRows)
            assert cut.predictions == [message.predictions[i] for i in kept]
        assert cut.last == message.last
        assert len(cut) == len(kept)
        assert decode_message(encode_message(cut)) == cut


def _deliver(
    rng: random.Random,
    ledger: PositionLedger,
    applied: list[int],
    inflight: list[list[LabelRows]],
    own: list[LabelRows],
    count: int,
) -> None:
    """``count`` of ``own`` messages to the owner, in order, mixed with the in-flight ones (each
    queue in order); the offsets of the rows the ledger lets through go to ``applied``."""
    while count:
        queues = [q for q in inflight if q]
        if queues and rng.random() < 0.5:
            message = rng.choice(queues).pop(0)
        else:
            message, count = own.pop(0), count - 1
        fresh = ledger.admit(message)
        if fresh is not None:
            applied += fresh.row_offsets().tolist()


def test_the_ledger_applies_each_row_once_whatever_the_batches_read_again() -> None:
    """A reader commits its input offsets once what it forwarded is acknowledged, then dies; its
    successor reads again from the last commit, in other batches, while the dead reader's last
    messages (sent, not committed) may still reach the owner, interleaved with the successor's.
    Every row is applied exactly once."""
    rng = random.Random(4)
    offsets = sorted(rng.sample(range(1000), 300))
    for _ in range(100):
        ledger, applied = PositionLedger(), []
        inflight: list[list[LabelRows]] = []  # each earlier reader's messages not yet at the owner
        start = 0
        while start < len(offsets):
            batches, at = [], start
            while at < len(offsets):
                size = rng.randint(1, 30)
                batches.append(some_label_rows(offsets[at : at + size]))
                at += size
            sent = rng.randint(1, len(batches))  # then it dies (or reaches the end)
            committed = len(batches) if sent == len(batches) else rng.randint(1, sent)
            mine = batches[:sent]
            _deliver(rng, ledger, applied, inflight, mine, committed)
            inflight.append(mine)
            start = offsets.index(int(batches[committed - 1].last)) + 1
        for queue in inflight:
            while queue:
                fresh = ledger.admit(queue.pop(0))
                if fresh is not None:
                    applied += fresh.row_offsets().tolist()
        assert applied == offsets


def test_a_partial_and_join_rows_of_one_range_need_a_ledger_each() -> None:
    partial, rows = some_partial(5, 20), some_join_rows([5, 6, 9, 12, 13, 20])
    shared = PositionLedger()
    assert shared.admit(partial) is partial
    assert shared.admit(rows) is None  # one ledger for both kinds would lose the join rows
    windows, joins = PositionLedger(), PositionLedger()
    assert windows.admit(partial) is partial
    assert joins.admit(rows) is rows
    assert joins.admit(rows) is None  # read again: applied once


def test_positions_of_every_kind_survive_the_changelog() -> None:
    """The owner checkpoints the ledgers of join rows and labels as topics prefixed by their kind (a
    Kafka topic name holds no colon); a checkpoint written before holds the partials' only."""
    positions = [
        ("predictions", 0, 41),
        ("join:predictions", 0, 40),
        ("join:predictions", 3, 7),
        ("labels:labels", 1, 99),
    ]
    replay = Replay()
    replay.feed(0, claim_bytes(Claim("c", "r0", 1.0)))
    for offset, chunk in enumerate(
        encode_checkpoint(
            PartitionCheckpoint("c", "k", 12, [ModelCheckpoint("m", "sig", positions=positions)])
        ),
        start=1,
    ):
        replay.feed(offset, chunk)
    restored = replay.restored("m")
    assert restored is not None
    windows, joins, labels = _ledgers_of(restored.positions)
    assert windows.to_state() == [("predictions", 0, 41)]
    assert joins.to_state() == [("predictions", 0, 40), ("predictions", 3, 7)]
    assert labels.to_state() == [("labels", 1, 99)]
    windows, joins, labels = _ledgers_of({("predictions", 0): 41})
    assert windows.to_state() == [("predictions", 0, 41)]
    assert joins.to_state() == labels.to_state() == []


def test_forgetting_a_model_drops_its_join_state_only() -> None:
    store = LabelStore(":memory:", ttl=3600.0, grace=600.0)
    now = 1_800_000_000.0
    for model in ("m", "other"):
        store.add_predictions(model, ["a", "b", "c"], [now - 10] * 3, [0.1, 0.9, 0.5], now)
    store.add_labels(["a"], [1], now, model="m")
    store.add_labels(["a"], [0], now, model="other")
    store.add_labels(["zz"], [1], now, model="m")  # waits for its prediction
    store.add_labels(["yy"], [1], now)  # names no model: waits too
    assert store.early_count() == 2
    store.forget("m")
    assert store.pending_count("m") == store.joined_count("m") == 0
    assert len(store.joined("m", 0, np.inf).labels) == 0
    assert store.early_count() == 1
    assert store.pending_count("other") == 2 and store.joined_count("other") == 1
    # the model starts again as new: its predictions join their labels
    store.add_predictions("m", ["a"], [now - 5], [0.3], now)
    assert store.add_labels(["a"], [1], now, model="m")["joined"] == 1
    store.forget("never-seen")
    store.close()


def _store_state(store: LabelStore, model: str) -> tuple[object, ...]:
    rows = store.joined(model, 0, np.inf)
    return (
        store.pending_count(model),
        store.joined_count(model),
        store.rate(model),
        store.early_count(),
        rows.timestamps.tolist(),
        rows.predictions.tolist(),
        rows.labels.tolist(),
        rows.weights.tolist(),
    )


def test_a_models_join_state_loads_where_it_was_dumped() -> None:
    """Rows pending and joined (a sampled model, so a rate with a history), a label waiting for its
    prediction, tombstones of expired ids: another store loading the dump answers as the first."""
    now = 1_800_000_000.0
    first = LabelStore(":memory:", ttl=3600.0, grace=600.0, max_rows=50)
    ids = [f"id-{i}" for i in range(200)]
    first.add_predictions("m", ids[:100], [now - 4000] * 100, [0.5] * 100, now - 3000)
    first.expire(now)  # past the TTL: their ids go to the tombstones
    first.add_predictions("m", ids[100:], [now - 60.0 + i % 7 for i in range(100)], ["a", "b"] * 50, now)
    first.add_labels(ids[100:140], [1] * 40, now, model="m")
    first.add_labels(["early"], [0], now, model="m")
    first.add_predictions("other", ["x"], [now], [1.0], now)
    assert first.joined("m", 0, np.inf).weights.max() == 2.0  # rows kept at a rate of 1/2
    data = first.dump("m")
    assert data is not None and first.dump("never-seen") is None

    second = LabelStore(":memory:", ttl=3600.0, grace=600.0, max_rows=50)
    second.add_predictions("m", ["stale"], [now], [0.1], now)  # replaced by the load
    second.load("m", data)
    assert _store_state(second, "m") == _store_state(first, "m")
    # both go on alike: a late label, a label for a pending id, the waiting label's prediction
    late = [store.add_labels(ids[:100], [1] * 100, now, model="m") for store in (first, second)]
    assert late[0] == late[1] and late[0]["expired"] > 20
    pending = [i for i in ids[140:] if in_sample_at(first, "m", i)][:5]
    outcomes = [store.add_labels(pending, [0] * len(pending), now, model="m") for store in (first, second)]
    assert outcomes[0] == outcomes[1]
    outcomes = [store.add_predictions("m", ["early"], [now], ["a"], now) for store in (first, second)]
    assert outcomes[0] == outcomes[1]
    assert _store_state(second, "m") == _store_state(first, "m")
    with pytest.raises(ValueError):
        second.load("m", b"not a dump")


def in_sample_at(store: LabelStore, model: str, prediction_id: str) -> bool:
    return in_sample(prediction_id, store.rate(model))


def test_replay_keeps_the_last_join_state_written() -> None:
    replay = Replay()
    replay.feed(0, claim_bytes(Claim("c", "r0", 1.0)))
    offset = 1
    for number, labels in enumerate([b"first", None, b"second", None]):
        checkpoint = PartitionCheckpoint(
            "c", f"k{number}", number, [ModelCheckpoint("m", "sig", labels=labels)]
        )
        for chunk in encode_checkpoint(checkpoint):
            replay.feed(offset, chunk)
            offset += 1
    restored = replay.restored("m")
    assert restored is not None and restored.labels == b"second"
