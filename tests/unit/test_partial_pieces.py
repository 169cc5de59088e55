"""A partial cut to fit the internal topics' message size: every record in exactly one piece, in order.

With embeddings a batch's partial is large (500 records of 384 float32 components: ~770 kB, near
Kafka's default 1 MiB message limit), so stage 1 sends it as consecutive pieces (`split_partial`)
of at most ``kafka.scale_out.max_message_bytes``. The owner applies each once through its ledger,
and its window ends as the window fed the whole partial, vectors bit for bit.
"""

from __future__ import annotations

import itertools
import random

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from driftwatch.stream.partials import (
    Admission,
    Partial,
    PositionLedger,
    decode_message,
    encode_message,
    join_rows,
    label_rows,
    slice_partial,
    split_partial,
    split_rows,
)
from driftwatch.stream.sample_keys import position_keys
from driftwatch.stream.windows import ColumnSpec, Window

NOW = 1_800_000_000.0
LENGTH = 3600.0
BUCKET = LENGTH / 12
DIM = 384


def columns(dim: int = DIM) -> list[ColumnSpec]:
    return [
        ColumnSpec("x", "numeric"),
        ColumnSpec("c", "categorical"),
        ColumnSpec("text_vec", "numeric", "embedding", dim=dim),
    ]


def batch(
    rng: np.random.Generator, first: int, last: int, share: float = 1.0, dim: int = DIM
) -> tuple[Partial, npt.NDArray[np.float32]]:
    """The partial of one model's records among input offsets ``first``..``last`` (``share`` of them
    are the model's; a few too old for the window), and the vectors of the records."""
    offsets = np.array([o for o in range(first, last + 1) if rng.uniform() < share], dtype=np.int64)
    count = len(offsets)
    stamps = NOW - rng.uniform(0, LENGTH - 1, size=count)
    stamps[rng.uniform(size=count) < 0.05] = NOW - LENGTH - 10  # outside the window: counted, not sent
    c = np.empty(count, dtype=object)
    categories = ["a", "b", "a much longer category", None]
    c[:] = [categories[i] for i in rng.integers(len(categories), size=count).tolist()]
    vectors = rng.normal(size=(count, dim)).astype(np.float32)
    vectors[rng.uniform(size=count) < 0.05] = np.nan  # records without the field
    partial, _ = Admission(LENGTH, BUCKET).partial(
        "bot",
        "predictions",
        0,
        first,
        last,
        NOW,
        stamps,
        position_keys("predictions", 0, offsets),
        offsets,
        [rng.normal(size=count), c, vectors],
    )
    return partial, vectors


def applied(*partials: Partial, max_rows: int = 100_000, dim: int = DIM) -> tuple[Window, int]:
    """A window fed ``partials`` through one ledger (as the owner applies them), and what it counted."""
    window = Window(columns(dim), LENGTH, max_rows, rng=np.random.default_rng(0))
    ledger = PositionLedger()
    counted = 0
    for partial in partials:
        fresh = ledger.admit(decode_message(encode_message(partial)))  # as read from the topic
        if fresh is not None:
            assert isinstance(fresh, Partial)
            counted += window.add_partial(fresh, NOW)
    return window, counted


def contents(window: Window) -> tuple[list[float], bytes, bytes, int]:
    """A window's rows by sample key: their keys, numeric values and vectors (bytes: bit for bit)."""
    snapshot = window.snapshot(NOW, keys=True)
    order = np.argsort(snapshot.frame["__key"].to_numpy())
    return (
        snapshot.frame["__key"].to_numpy()[order].tolist(),
        snapshot.frame["x"].to_numpy()[order].tobytes(),
        snapshot.embeddings["text_vec"][order].tobytes(),
        snapshot.records_seen,
    )


def test_a_batch_of_500_vectors_of_384_goes_in_pieces_below_the_bound_with_every_record_once() -> None:
    partial, _ = batch(np.random.default_rng(1), 1000, 1499)
    whole = len(encode_message(partial))
    assert 700_000 < whole < 1_048_576  # the case at hand: near Kafka's default limit
    pieces = split_partial(partial, 100_000)
    assert not pieces.oversize
    assert len(pieces.fitting) >= 8
    assert all(len(data) <= 100_000 for _, data in pieces.fitting)
    assert all(data == encode_message(piece) for piece, data in pieces.fitting)
    # consecutive ranges covering the partial's, in order
    ranges = [(piece.first, piece.last) for piece, _ in pieces.fitting]
    assert ranges[0][0] == partial.first and ranges[-1][1] == partial.last
    assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
    # every record counted once, every row carried once, vectors bit for bit
    assert sum(piece.admitted for piece, _ in pieces.fitting) == partial.admitted
    assert b"".join(piece.offsets for piece, _ in pieces.fitting) == partial.offsets
    vectors = [piece.row_columns()[2] for piece, _ in pieces.fitting]
    assert np.concatenate(vectors).tobytes() == partial.row_columns()[2].tobytes()
    assert contents(applied(*(piece for piece, _ in pieces.fitting))[0]) == contents(applied(partial)[0])


def test_a_partial_that_fits_is_sent_whole_as_it_is_encoded() -> None:
    partial, _ = batch(np.random.default_rng(2), 0, 99)
    pieces = split_partial(partial, 900_000)
    assert pieces.fitting == [(partial, encode_message(partial))]
    assert pieces.oversize == []


def test_a_record_larger_than_the_bound_alone_is_set_apart_and_the_rest_kept_in_order() -> None:
    rng = np.random.default_rng(3)
    partial, _ = batch(rng, 0, 40, dim=DIM)
    # a bound below one row (384 x 4 bytes of vector): every row that carries a vector is oversize
    pieces = split_partial(partial, 1_200)
    rows = partial.row_offsets()
    assert [int(p.row_offsets()[0]) for p in pieces.oversize] == rows.tolist()
    assert all(p.first == p.last == p.row_offsets()[0] and p.admitted == 1 for p in pieces.oversize)
    assert all(len(data) <= 1_200 and piece.forwarded == 0 for piece, data in pieces.fitting)
    # the other records are still counted (those outside the sample: their runs), once, in order
    assert sum(p.admitted for p, _ in pieces.fitting) == partial.admitted - len(rows)
    firsts = [p.first for p, _ in pieces.fitting]
    assert firsts == sorted(firsts)
    # a bound between one row and two: each row goes alone, and fits
    one = max(len(encode_message(slice_partial(partial, int(o), int(o)))) for o in rows)
    pieces = split_partial(partial, one)
    assert not pieces.oversize
    assert sum(p.forwarded for p, _ in pieces.fitting) == len(rows)
    assert contents(applied(*(p for p, _ in pieces.fitting))[0]) == contents(applied(partial)[0])


def test_a_bound_too_small_for_any_piece_is_an_error() -> None:
    partial, _ = batch(np.random.default_rng(4), 0, 0)
    with pytest.raises(ValueError, match="max_bytes"):
        split_partial(partial, 0)


def test_an_embedding_partial_cut_at_a_mark_keeps_the_vectors_after_it() -> None:
    partial, _ = batch(np.random.default_rng(5), 0, 199)
    mark = int(partial.row_offsets()[len(partial.row_offsets()) // 3])
    cut = partial.after(mark)
    keep = partial.row_offsets() > mark
    assert cut.row_columns()[2].tobytes() == partial.row_columns()[2][keep].tobytes()
    assert cut.row_columns()[1].tolist() == partial.row_columns()[1][keep].tolist()


def test_a_partial_whose_vectors_have_another_dim_than_the_window_is_refused() -> None:
    partial, _ = batch(np.random.default_rng(6), 0, 20, dim=8)
    window = Window(columns(), LENGTH, 1000)
    with pytest.raises(ValueError, match="embedding of dim 384"):
        window.add_partial(partial, NOW)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rnd=st.randoms(use_true_random=False), bound=st.sampled_from([2_000, 5_000, 20_000, 10**6]))
def test_pieces_read_again_with_other_boundaries_give_the_window_of_every_record_once(
    rnd: random.Random, bound: int
) -> None:
    """A reader replaced after a crash reads the same input again in other batches, cut at another
    bound; the old reader's pieces (some) and the new one's interleave at the owner as the samples
    log orders them: the window is the one fed every record once."""
    size = rnd.randint(1, 120)
    first_batches = [(0, size // 2), (size // 2 + 1, size - 1)] if size > 1 else [(0, 0)]
    seed = rnd.randint(0, 2**32)

    def read(first: int, last: int) -> Partial:  # the same records whatever the batch
        whole, _ = batch(np.random.default_rng(seed), 0, size - 1, share=0.7, dim=16)
        return slice_partial(whole, first, last)

    reference, counted = applied(read(0, size - 1), max_rows=50, dim=16)
    log: list[Partial] = []
    for first, last in first_batches[:1]:  # the old reader gets one batch out, then dies
        log += [p for p, _ in split_partial(read(first, last), bound).fitting]
    start = rnd.randint(0, first_batches[0][1])  # its last commit: somewhere before what it sent
    for first in range(start, size, 37):
        again_bound = rnd.choice([bound, 3_000])
        log += [p for p, _ in split_partial(read(first, min(size - 1, first + 36)), again_bound).fitting]
    window, again = applied(*log, max_rows=50, dim=16)
    assert again == counted
    assert contents(window) == contents(reference)


def test_join_rows_and_labels_go_in_pieces_below_the_bound_every_row_once_in_order() -> None:
    rng = np.random.default_rng(7)
    offsets = np.sort(rng.choice(20_000, size=3000, replace=False)).astype(np.int64)
    ids = [f"request-{i:08d}-{'x' * 40}" for i in range(3000)]
    stamps = NOW - rng.uniform(0, 100, size=3000)
    joins = join_rows(
        "bot", "predictions", 0, offsets, ids, stamps, [{"a": 0.25, "b": 0.75}] * 3000, [None] * 3000
    )
    labels = label_rows("bot", "labels", 1, offsets, ids, [1] * 3000, stamps)
    for message in (joins, labels):
        whole = len(encode_message(message))
        pieces = split_rows(message, 50_000)
        assert whole > 100_000 and len(pieces) >= whole // 50_000
        assert all(len(data) <= 50_000 and data == encode_message(piece) for piece, data in pieces)
        assert [i for piece, _ in pieces for i in piece.ids] == ids
        ranges = [(piece.first, piece.last) for piece, _ in pieces]
        assert ranges[0][0] == message.first and ranges[-1][1] == message.last
        assert all(b[0] == a[1] + 1 for a, b in itertools.pairwise(ranges))
        # the owner's ledger takes every piece once, and a piece read again not at all
        ledger = PositionLedger()
        admitted = [ledger.admit(decode_message(data)) for _, data in pieces]
        assert all(a is not None for a in admitted)
        assert all(ledger.admit(piece) is None for piece, _ in pieces)
    one = split_rows(joins.between(int(offsets[0]), int(offsets[0])), 100)  # a row beyond any bound
    assert len(one) == 1 and one[0][0].ids == ids[:1]
