"""Sample keys from Kafka positions: stable, uniform, independent; bottom-k samples merge exactly."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import chisquare, kstest

from driftwatch.stream.sample_keys import bottom_k, position_keys, topic_hash

N = 100_000


def test_keys_are_the_same_in_every_process() -> None:
    here = position_keys("predictions", [0, 3, 7], [0, 1, 123_456_789])
    code = (
        "import json; from driftwatch.stream.sample_keys import position_keys;"
        "print(json.dumps(position_keys('predictions', [0, 3, 7], [0, 1, 123_456_789]).tolist()))"
    )
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert json.loads(out.stdout) == here.tolist()


def test_keys_do_not_change_between_versions() -> None:
    # checkpoints keep the keys, and windows built by different versions merge: the keys are a format
    assert topic_hash("predictions") == 0x9AFA40918D76A8C4
    keys = position_keys("predictions", [0, 0, 1], [0, 1, 0])
    assert keys.tolist() == [0.8241101366233032, 0.8322869766258946, 0.14819262915653186]


def test_keys_are_in_the_unit_interval_and_uniform() -> None:
    keys = position_keys("predictions", np.zeros(N, dtype=np.int64), np.arange(N))
    assert keys.dtype == np.float64 and keys.shape == (N,)
    assert keys.min() >= 0.0 and keys.max() < 1.0
    counts = np.bincount((keys * 100).astype(int), minlength=100)
    assert chisquare(counts).pvalue > 0.001  # the keys are fixed: this cannot flake
    assert kstest(keys, "uniform").pvalue > 0.001


def test_consecutive_offsets_are_uncorrelated() -> None:
    keys = position_keys("predictions", 2, np.arange(N))
    assert abs(np.corrcoef(keys[:-1], keys[1:])[0, 1]) < 0.02  # sd of the estimate: 1/sqrt(N) ~ 0.003
    assert abs(np.corrcoef(keys[:-2], keys[2:])[0, 1]) < 0.02
    assert len(np.unique(keys)) == N


def test_partitions_and_topics_give_independent_keys() -> None:
    offsets = np.arange(N)
    base = position_keys("predictions", 0, offsets)
    for other in (
        position_keys("predictions", 1, offsets),
        position_keys("predictions", 1000, offsets),
        position_keys("predictions-2", 0, offsets),
    ):
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.02
        assert not np.isin(base, other).any()


def test_a_topic_per_record_equals_one_topic_for_all() -> None:
    offsets = np.arange(50)
    mixed = position_keys(["a", "b"] * 25, np.zeros(50, dtype=np.int64), offsets)
    assert mixed[0::2].tolist() == position_keys("a", 0, offsets[0::2]).tolist()
    assert mixed[1::2].tolist() == position_keys("b", 0, offsets[1::2]).tolist()
    assert position_keys(["a"] * 50, 0, offsets).tolist() == position_keys("a", 0, offsets).tolist()


def test_bottom_k_takes_the_smallest_keys_in_order() -> None:
    keys = np.array([0.5, 0.1, 0.9, 0.3, 0.7])
    assert bottom_k(keys, 3).tolist() == [1, 3, 0]
    assert bottom_k(keys, 10).tolist() == [1, 3, 0, 4, 2]
    assert bottom_k(keys, 0).tolist() == []


@given(
    st.lists(st.integers(0, 10_000), unique=True, max_size=300),
    st.integers(0, 4),
    st.integers(0, 120),
)
def test_the_bottom_k_of_the_union_is_the_bottom_k_of_the_samples(
    offsets: list[int], split: int, k: int
) -> None:
    partitions = np.array([o % 5 for o in offsets], dtype=np.int64)
    keys = position_keys("t", partitions, offsets)
    ids = np.array(offsets)
    whole = set(ids[bottom_k(keys, k)].tolist())
    mine = partitions <= split  # one reader holds partitions 0..split, the other the rest
    parts = [(keys[m], ids[m]) for m in (mine, ~mine)]
    samples = [(k_[bottom_k(k_, k)], i_[bottom_k(k_, k)]) for k_, i_ in parts]
    merged_keys = np.concatenate([s[0] for s in samples])
    merged_ids = np.concatenate([s[1] for s in samples])
    assert set(merged_ids[bottom_k(merged_keys, k)].tolist()) == whole
    assert len(whole) == min(k, len(offsets))
