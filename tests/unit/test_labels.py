"""The label join: out-of-order and early labels, duplicates, the TTL, the hash sample, restarts."""

from __future__ import annotations

import math
import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from driftwatch.state.labels import (
    EXPIRE_COUNTS,
    LABEL_REASONS,
    PREDICTION_OUTCOMES,
    LabelStore,
    id_hash,
    in_sample,
)
from driftwatch.stream.records import Prediction

T0 = 1_795_000_000.0
DAY = 86400.0


def uuids(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(n)]


def store(tmp_path: Path, name: str = "labels.sqlite", **options: Any) -> LabelStore:
    settings: dict[str, Any] = {"ttl": 7 * DAY, "grace": 3600.0, "max_rows": 1_000_000} | options
    return LabelStore(tmp_path / name, **settings)


def test_out_of_order_labels_join_their_own_predictions(tmp_path: Path) -> None:
    labels = store(tmp_path)
    ids = uuids(50)
    times = [T0 + i for i in range(50)]
    assert labels.add_predictions("m", ids, times, [i / 100 for i in range(50)], now=T0 + 60) == {
        "pending": 50
    }
    order = list(range(50))
    random.Random(1).shuffle(order)
    for half in (order[:25], order[25:]):
        outcome = labels.add_labels([ids[i] for i in half], [i % 2 for i in half], now=T0 + 120)
        assert outcome == {"joined": 25}
    joined = labels.joined("m", T0, T0 + 50)
    assert joined.timestamps.tolist() == times
    assert joined.predictions.tolist() == [i / 100 for i in range(50)]
    assert joined.labels.tolist() == [i % 2 for i in range(50)]
    assert joined.labels.dtype == np.int64
    assert joined.weights.tolist() == [1.0] * 50
    assert labels.pending_count("m") == 0
    assert labels.joined_count("m") == 50


def test_label_before_its_prediction_waits_for_the_grace_and_joins(tmp_path: Path) -> None:
    labels = store(tmp_path, grace=600.0)
    ids = uuids(3)
    assert labels.add_labels(ids, ["cat", "dog", "cat"], now=T0) == {"early": 3}
    assert labels.early_count() == 3
    outcome = labels.add_predictions("m", ids[:2], [T0 - 5, T0 - 4], ["cat", "cat"], now=T0 + 300)
    assert outcome == {"joined_early": 2}
    assert labels.joined("m", 0, math.inf).labels.tolist() == ["cat", "dog"]
    assert labels.pending_count("m") == 0
    # the third label never sees its prediction: counted unknown when it leaves, the used ones are not
    assert labels.expire(now=T0 + 601) == {"early": 3, "unknown_id": 1}
    assert labels.early_count() == 0
    assert labels.add_predictions("m", ids[2:], [T0], ["cat"], now=T0 + 700) == {"pending": 1}


def test_label_without_a_prediction_is_unknown_without_grace(tmp_path: Path) -> None:
    labels = store(tmp_path, grace=0.0)
    assert labels.add_labels(uuids(4), [1, 0, 1, 1], now=T0) == {"unknown_id": 4}
    assert labels.early_count() == 0


def test_duplicate_labels_count_once_and_keep_the_first(tmp_path: Path) -> None:
    labels = store(tmp_path)
    ids = uuids(4)
    labels.add_predictions("m", ids[:2], [T0, T0 + 1], [0.2, 0.9], now=T0 + 10)
    # within one batch and across batches
    assert labels.add_labels([ids[0], ids[0], ids[1]], [0, 1, 1], now=T0 + 20) == {
        "joined": 2,
        "duplicate": 1,
    }
    assert labels.add_labels([ids[1]], [0], now=T0 + 30) == {"duplicate": 1}
    assert labels.joined("m", 0, math.inf).labels.tolist() == [0, 1]
    # a label waiting for its prediction is a first label too
    assert labels.add_labels([ids[2], ids[2]], [1, 0], now=T0 + 40) == {"early": 1, "duplicate": 1}
    assert labels.add_labels([ids[2]], [0], now=T0 + 50, model="m") == {"duplicate": 1}
    labels.add_predictions("m", [ids[2]], [T0 + 2], [0.5], now=T0 + 60)
    assert labels.joined("m", 0, math.inf).labels.tolist() == [0, 1, 1]
    # a label for an inline-labelled prediction
    labels.add_predictions("m", [ids[3]], [T0 + 3], [0.4], now=T0 + 70, labels=[0])
    assert labels.add_labels([ids[3]], [1], now=T0 + 80) == {"duplicate": 1}
    assert labels.joined("m", 0, math.inf).labels.tolist() == [0, 1, 1, 0]


def test_duplicate_prediction_keeps_the_first(tmp_path: Path) -> None:
    labels = store(tmp_path)
    (pid,) = uuids(1)
    outcome = labels.add_predictions("m", [pid, pid], [T0, T0 + 5], [0.1, 0.7], now=T0 + 10)
    assert outcome == {"pending": 1, "duplicate": 1}
    assert labels.add_predictions("m", [pid], [T0 + 9], [0.3], now=T0 + 10) == {"duplicate": 1}
    labels.add_labels([pid], [1], now=T0 + 20)
    joined = labels.joined("m", 0, math.inf)
    assert (joined.timestamps.tolist(), joined.predictions.tolist()) == ([T0], [0.1])


def test_late_labels_beyond_the_ttl_are_expired(tmp_path: Path) -> None:
    ttl = 7 * DAY
    labels = store(tmp_path, ttl=ttl, tombstones_for=2 * DAY)
    ids = uuids(200)
    labels.add_predictions("m", ids, [T0] * 200, [0.5] * 200, now=T0)
    # past the TTL but before expire ran: the row is still there, the label still too late
    assert labels.add_labels(ids[:10], [1] * 10, now=T0 + ttl + 1) == {"expired": 10}
    assert labels.expire(now=T0 + ttl + 1) == {"pending": 200}
    assert labels.pending_count("m") == 0
    # after expire: the ids are tombstoned, so a label is expired, not unknown
    assert labels.add_labels(ids[10:], [1] * 190, now=T0 + ttl + 60) == {"expired": 190}
    # a prediction arriving already older than the TTL is not kept
    assert labels.add_predictions("m", uuids(2, seed=9), [T0] * 2, [0.1, 0.2], now=T0 + ttl + 60) == {
        "expired": 2
    }
    # an id never seen, whose label is itself older than the TTL: its prediction cannot be within it
    assert labels.add_labels(uuids(1, seed=5), [1], now=T0 + ttl + 60, timestamps=[T0 - 1]) == {"expired": 1}
    # an id never seen, with a recent label: waits for its prediction (no false tombstone hit is
    # likely for one id at a 1% error; the seed is fixed)
    assert labels.add_labels(uuids(1, seed=6), [1], now=T0 + ttl + 60) == {"early": 1}
    # tombstones are forgotten tombstones_for after the slice of prediction time left the store
    labels.expire(now=T0 + ttl + 3 * DAY)
    assert labels.add_labels(ids[:50], [1] * 50, now=T0 + ttl + 3 * DAY, model="m") == {"early": 50}


def test_expired_label_is_recognised_for_most_of_many_ids(tmp_path: Path) -> None:
    """The Bloom filters: every expired id is recognised, ids never seen rarely are (about 1%)."""
    labels = store(tmp_path, ttl=100.0, grace=0.0)
    ids = uuids(5000)
    for start in range(0, 5000, 1000):  # spread over several slices of prediction time
        chunk = ids[start : start + 1000]
        labels.add_predictions("m", chunk, [T0 + start / 100] * 1000, [0.5] * 1000, now=T0 + 50)
    labels.add_labels(ids[:1000], [1] * 1000, now=T0 + 60)  # some leave joined, after the retention
    labels.expire(now=T0 + 200)
    assert labels.add_labels(ids, [1] * 5000, now=T0 + 201) == {"expired": 5000}
    strangers = labels.add_labels(uuids(5000, seed=3), [1] * 5000, now=T0 + 201)
    assert strangers["expired"] < 5000 * 0.03
    assert strangers["expired"] + strangers["unknown_id"] == 5000


def test_inline_labels_join_at_once(tmp_path: Path) -> None:
    labels = store(tmp_path)
    ids = uuids(4)
    outcome = labels.add_predictions(
        "m", [*ids, None], [T0, T0 + 1, T0 + 2, T0 + 3, T0 + 4], [0.1, 0.2, 0.3, 0.4, 0.5], now=T0 + 10,
        labels=[1, None, 0, None, 1],
    )  # fmt: skip
    # the id-less record is joined too: it has its label and needs no id to find it
    assert outcome == {"joined": 3, "pending": 2}
    joined = labels.joined("m", 0, math.inf)
    assert joined.timestamps.tolist() == [T0, T0 + 2, T0 + 4]
    assert joined.labels.tolist() == [1, 0, 1]
    assert labels.add_predictions("m", [None], [T0], [0.1], now=T0 + 10) == {"no_id": 1}
    assert labels.add_predictions("m", ["x", "y"], [T0, T0], [None, math.nan], now=T0 + 10) == {
        "no_prediction": 2
    }
    assert labels.add_labels([ids[1], ids[3]], [None, math.nan], now=T0 + 20) == {"no_label": 2}


def test_records_of_several_models_and_labels_naming_no_model(tmp_path: Path) -> None:
    labels = store(tmp_path)
    ids = uuids(3)

    def record(model: str, pid: str, prediction: float, label: int | None = None) -> Prediction:
        return Prediction(model, "1", pid, T0, {}, prediction, label)

    outcome = labels.add_records(
        [
            record("champion", ids[0], 0.9),
            record("challenger", ids[0], 0.4),  # the same request, scored by both
            record("champion", ids[1], 0.2),
            record("challenger", ids[2], 0.7, label=1),
        ],
        now=T0 + 10,
    )
    assert outcome == {"pending": 3, "joined": 1}
    # a label naming no model grades every model's prediction with that id
    assert labels.add_labels([ids[0]], [1], now=T0 + 20) == {"joined": 1}
    assert labels.joined("champion", 0, math.inf).predictions.tolist() == [0.9]
    assert labels.joined("challenger", 0, math.inf).predictions.tolist() == [0.4, 0.7]
    # a label naming a model grades only that model's
    assert labels.add_labels([ids[1], ids[1]], [0, 0], now=T0 + 30, model=["challenger", "champion"]) == {
        "early": 1,
        "joined": 1,
    }
    assert labels.joined("champion", 0, math.inf).labels.tolist() == [1, 0]


def test_joined_selects_rows_by_prediction_time(tmp_path: Path) -> None:
    labels = store(tmp_path)
    ids = uuids(100)
    probabilities = [{"a": i / 100, "b": 1 - i / 100} for i in range(100)]
    labels.add_predictions("m", ids, [T0 + i for i in range(100)], probabilities, now=T0 + 100)
    labels.add_predictions("other", ids, [T0 + i for i in range(100)], [0.5] * 100, now=T0 + 100)
    # labels arrive in reverse order of prediction time; every third prediction stays unlabelled
    chosen = [i for i in reversed(range(100)) if i % 3]
    labels.add_labels(
        [ids[i] for i in chosen], ["a" if i % 2 else "b" for i in chosen], now=T0 + 500, model="m"
    )
    joined = labels.joined("m", T0 + 10, T0 + 20)
    expected = [i for i in range(10, 20) if i % 3]
    assert joined.timestamps.tolist() == [T0 + i for i in expected]
    assert joined.predictions.tolist() == [probabilities[i] for i in expected]
    assert joined.labels.tolist() == ["a" if i % 2 else "b" for i in expected]
    assert joined.predictions.dtype == object and joined.labels.dtype == object
    assert len(labels.joined("m", T0 + 100, T0 + 200).timestamps) == 0
    assert len(labels.joined("other", 0, math.inf).timestamps) == 0
    assert len(labels.joined("nobody", 0, math.inf).timestamps) == 0


def test_hash_sample_keeps_the_same_ids_for_predictions_and_labels(tmp_path: Path) -> None:
    n, max_rows = 20_000, 2_000
    ids = uuids(n, seed=11)
    labels = store(tmp_path, max_rows=max_rows)
    dropped = 0
    for start in range(0, n, 2_500):
        outcome = labels.add_predictions(
            "m", ids[start : start + 2_500], [T0 + start / 1000] * 2_500, [0.5] * 2_500, now=T0 + 60
        )
        dropped += outcome["evicted"] + outcome["not_sampled"]
    rate = labels.rate("m")
    assert rate in (1 / 8, 1 / 16)  # halved until at most max_rows rows are left
    kept = [pid for pid in ids if in_sample(pid, rate)]
    assert labels.pending_count("m") == len(kept) <= max_rows
    # kept fraction matches the rate (binomial, 4 standard deviations)
    assert abs(len(kept) / n - rate) < 4 * math.sqrt(rate * (1 - rate) / n)
    # a prediction is kept iff its label joins; every other label is not_sampled
    outside = [pid for pid in ids if not in_sample(pid, rate)]
    assert labels.add_labels(outside, [1] * len(outside), now=T0 + 120) == {"not_sampled": len(outside)}
    assert labels.add_labels(kept, [1] * len(kept), now=T0 + 120) == {"joined": len(kept)}
    # kept, or dropped by a rate cut, or refused on arrival by a cut rate: nothing else
    assert dropped == n - len(kept)
    # deterministic: another store fed in another order keeps exactly the same ids
    other = store(tmp_path, "other.sqlite", max_rows=max_rows)
    shuffled = ids[::-1]
    other.add_predictions("m", shuffled, [T0] * n, [0.5] * n, now=T0 + 60)
    assert other.rate("m") == rate
    assert other.add_labels(kept, [1] * len(kept), now=T0 + 120) == {"joined": len(kept)}


def test_sampled_join_is_unbiased_when_label_delay_depends_on_the_label(tmp_path: Path) -> None:
    """Positives are labelled at once, negatives only at the end: a store that kept whatever came first,
    or dropped the oldest pending rows, would over-represent positives. The hash sample does not."""
    n, max_rows = 40_000, 3_000
    rng = np.random.default_rng(5)
    ids = uuids(n, seed=12)
    truth = (rng.random(n) < 0.3).astype(int).tolist()
    labels = store(tmp_path, max_rows=max_rows)
    for start in range(0, n, 4_000):
        batch = range(start, start + 4_000)
        labels.add_predictions(
            "m", ids[start : start + 4_000], [T0 + start] * 4_000, [0.5] * 4_000, now=T0 + n
        )
        positives = [i for i in batch if truth[i]]
        labels.add_labels([ids[i] for i in positives], [1] * len(positives), now=T0 + n)
    negatives = [i for i in range(n) if not truth[i]]
    labels.add_labels([ids[i] for i in negatives], [0] * len(negatives), now=T0 + n + 1)
    joined = labels.joined("m", 0, math.inf)
    rate = labels.rate("m")
    sample = [truth[i] for i in range(n) if in_sample(ids[i], rate)]
    assert len(joined.labels) == len(sample)
    assert float(joined.labels.mean()) == pytest.approx(float(np.mean(sample)))
    full = float(np.mean(truth))
    assert abs(float(joined.labels.mean()) - full) < 4 * math.sqrt(full * (1 - full) / len(sample))
    assert set(joined.weights.tolist()) == {1 / rate}


def test_rate_rises_when_there_is_room_and_weights_follow(tmp_path: Path) -> None:
    labels = store(tmp_path, ttl=100.0, retention=10_000.0, max_rows=1_200)
    ids = uuids(5_000, seed=13)
    labels.add_predictions("m", ids[:4_000], [T0] * 4_000, [0.5] * 4_000, now=T0)
    assert labels.rate("m") == 0.25
    kept = [pid for pid in ids[:4_000] if in_sample(pid, 0.25)]
    labels.add_labels(kept[:100], [1] * 100, now=T0 + 10)  # these stay (joined, long retention)
    # the unlabelled ones leave after the TTL: 100 rows left, a quarter of max_rows or less
    assert labels.expire(now=T0 + 150) == {"pending": len(kept) - 100}
    assert labels.rate("m") == 0.5
    outcome = labels.add_predictions("m", ids[4_000:], [T0 + 200] * 1_000, [0.5] * 1_000, now=T0 + 200,
                                     labels=[1] * 1_000)  # fmt: skip
    assert labels.rate("m") == 0.5
    joined = labels.joined("m", 0, math.inf)
    assert outcome["joined"] == sum(in_sample(pid, 0.5) for pid in ids[4_000:])
    # rows kept at a quarter weigh 4, rows kept at a half weigh 2
    assert joined.weights[joined.timestamps == T0].tolist() == [4.0] * 100
    assert set(joined.weights[joined.timestamps == T0 + 200].tolist()) == {2.0}
    # an id sampled out at a quarter before the rise is still not_sampled (by its label's time)
    dropped = next(pid for pid in ids[:4_000] if in_sample(pid, 0.5) and not in_sample(pid, 0.25))
    assert labels.add_labels([dropped], [1], now=T0 + 300, timestamps=[T0 + 5]) == {"not_sampled": 1}
    # predictions are sampled by their own time: one made while the rate was a quarter, arriving late,
    # meets that rate; one made after the rise meets a half
    between = [pid for pid in uuids(200, seed=16) if in_sample(pid, 0.5) and not in_sample(pid, 0.25)]
    assert labels.add_predictions("m", between[:1], [T0 + 140], [0.5], now=T0 + 220) == {"not_sampled": 1}
    assert labels.add_predictions("m", between[1:2], [T0 + 160], [0.5], now=T0 + 220) == {"pending": 1}


def test_restart_keeps_pending_early_labels_rate_and_tombstones(tmp_path: Path) -> None:
    ids = uuids(3_000, seed=14)
    first = store(tmp_path, ttl=1_000.0, grace=500.0, max_rows=1_000)
    first.add_predictions("m", ids[:2_000], [T0] * 2_000, [0.5] * 2_000, now=T0)
    rate = first.rate("m")
    assert rate < 1
    future = [pid for pid in ids[2_000:2_100] if in_sample(pid, rate)]
    assert first.add_labels(future, [1] * len(future), now=T0 + 10) == {"early": len(future)}
    pending = first.pending_count("m")
    first.close()

    second = store(tmp_path, ttl=1_000.0, grace=500.0, max_rows=1_000)
    assert (second.rate("m"), second.pending_count("m"), second.early_count()) == (rate, pending, len(future))
    outcome = second.add_predictions("m", ids[2_000:2_100], [T0 + 20] * 100, [0.5] * 100, now=T0 + 20)
    assert outcome["joined_early"] == len(future)
    kept = [pid for pid in ids[:2_000] if in_sample(pid, rate)]
    assert second.add_labels(kept[:10], [0] * 10, now=T0 + 30) == {"joined": 10}
    second.expire(now=T0 + 1_500)
    second.close()

    third = store(tmp_path, ttl=1_000.0, grace=500.0, max_rows=1_000)
    assert third.add_labels(kept[10:], [1] * (len(kept) - 10), now=T0 + 1_600) == {"expired": len(kept) - 10}
    assert third.early_count() == 0


def script(ids: list[str]) -> list[tuple[str, Callable[[LabelStore], Counter[str]]]]:
    """A stream with every case in it, as steps that can be replayed on any store."""
    rng = random.Random(21)
    later = ids[3_000:3_600]
    shuffled = ids[:3_000]
    rng.shuffle(shuffled)
    return [
        ("predictions", lambda s: s.add_predictions("m", ids[:3_000], [T0 + i for i in range(3_000)],
                                                    [i / 3_000 for i in range(3_000)], now=T0 + 3_000)),
        ("labels", lambda s: s.add_labels(shuffled[:1_000], [1] * 1_000, now=T0 + 3_100)),
        ("early", lambda s: s.add_labels(later[:300], [0] * 300, now=T0 + 3_200)),
        ("expire", lambda s: s.expire(now=T0 + 3_300)),
        ("late predictions", lambda s: s.add_predictions("m", later, [T0 + 3_000] * 600, [0.5] * 600,
                                                         now=T0 + 3_400)),
        ("duplicates", lambda s: s.add_labels(shuffled[500:1_500], [0] * 1_000, now=T0 + 3_500)),
        ("expire past ttl", lambda s: s.expire(now=T0 + 10_000)),
        ("late labels", lambda s: s.add_labels(shuffled[1_500:], [1] * 1_500, now=T0 + 10_100)),
        ("more", lambda s: s.add_predictions("m", ids[3_600:], [T0 + 10_000] * 400, [0.1] * 400,
                                             now=T0 + 10_200, labels=[1] * 400)),
    ]  # fmt: skip


def test_restart_in_the_middle_changes_nothing(tmp_path: Path) -> None:
    """The same stream, once straight through and once with a close and reopen between every step."""
    ids = uuids(4_000, seed=15)
    options: dict[str, Any] = {"ttl": 5_000.0, "grace": 1_000.0, "max_rows": 1_500}
    straight = store(tmp_path, "straight.sqlite", **options)
    outcomes = [step(straight) for _, step in script(ids)]
    restarted_outcomes = []
    for _, step in script(ids):
        restarted = store(tmp_path, "restarted.sqlite", **options)
        restarted_outcomes.append(step(restarted))
        restarted.close()
    assert restarted_outcomes == outcomes
    restarted = store(tmp_path, "restarted.sqlite", **options)
    a, b = straight.joined("m", 0, math.inf), restarted.joined("m", 0, math.inf)
    for x, y in zip(a, b, strict=True):
        assert x.tolist() == y.tolist()
    assert (restarted.rate("m"), restarted.pending_count("m")) == (
        straight.rate("m"),
        straight.pending_count("m"),
    )
    # the stream did exercise every case
    seen = Counter[str]()
    for outcome in outcomes:
        seen.update(outcome)
    for key in (
        "joined",
        "early",
        "duplicate",
        "expired",
        "not_sampled",
        "joined_early",
        "evicted",
        "pending",
    ):
        assert seen[key] > 0, key


def test_a_failed_batch_writes_nothing(tmp_path: Path) -> None:
    labels = store(tmp_path)
    ids = uuids(3)
    labels.add_predictions("m", ids[:1], [T0], [0.5], now=T0)
    with pytest.raises(Exception):  # noqa: B017 - whichever error sqlite3 raises for a list
        labels.add_predictions("m", ids[1:], [T0, T0], [0.5, [1, 2]], now=T0)  # type: ignore[list-item]
    assert labels.pending_count("m") == 1
    labels.close()
    assert store(tmp_path).add_labels(ids, [1, 1, 1], now=T0 + 1) == {"joined": 1, "early": 2}


def test_concurrent_batches(tmp_path: Path) -> None:
    labels = store(tmp_path)
    errors: list[BaseException] = []

    def work(model: str) -> None:
        try:
            ids = uuids(2_000, seed=hash(model) % 1000)
            for start in range(0, 2_000, 200):
                chunk = ids[start : start + 200]
                labels.add_predictions(model, chunk, [T0] * 200, [0.5] * 200, now=T0)
                labels.add_labels(chunk[::2], [1] * 100, now=T0 + 1, model=model)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"m{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    for i in range(4):
        assert (labels.pending_count(f"m{i}"), labels.joined_count(f"m{i}")) == (1_000, 1_000)


def test_reason_sets_and_hash() -> None:
    assert len(set(LABEL_REASONS)) == len(LABEL_REASONS)
    assert len(set(PREDICTION_OUTCOMES)) == len(PREDICTION_OUTCOMES)
    assert set(EXPIRE_COUNTS) == {"pending", "joined", "early", "unknown_id"}
    assert id_hash("a1b2") == id_hash("a1b2") and 0 <= id_hash("a1b2") < 2**63
    assert in_sample("a1b2", 1.0) and not in_sample("a1b2", 0.0)
    with pytest.raises(ValueError):
        LabelStore(":memory:", ttl=100.0, retention=50.0)
    in_memory = LabelStore(":memory:")
    in_memory.add_predictions("m", ["a"], [T0], [0.5], now=T0)
    assert in_memory.size_bytes() > 0 and in_memory.pending_count("m") == 1
