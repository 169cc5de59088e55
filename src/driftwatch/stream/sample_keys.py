"""Deterministic sample keys: a record's key in [0, 1) from where it sits in Kafka.

A window keeps the records with the smallest keys (a bottom-k sample, see
`driftwatch.stream.windows`). When the key is a function of the record's position
(topic, partition, offset) rather than a random draw, the sample is a function of
the set of records alone: the same records give the same window whatever the
batching, the interleaving of partitions or the number of processes that read
them, and two windows' samples merge exactly (`bottom_k`: the bottom k of the
union is the bottom k of the union of the bottom k's).

The key is a 64-bit hash: a stable hash of the topic (BLAKE2b, never Python's
salted ``hash``) and the partition are mixed into a per-partition seed, and the
offset steps a SplitMix64 sequence from that seed (seed + offset x golden gamma,
then the SplitMix64 finalizer), whose outputs are uniform and uncorrelated for
consecutive offsets. The top 53 bits make a float64 in [0, 1). All in numpy
uint64 arithmetic (wrapping), vectorized over a batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import numpy.typing as npt

__all__ = ["bottom_k", "position_keys", "topic_hash"]

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S31, _S11 = np.uint64(30), np.uint64(27), np.uint64(31), np.uint64(11)
_UNIT = 2.0**-53


def _mix(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The SplitMix64 finalizer, in place on a fresh array."""
    x ^= x >> _S30
    x *= _M1
    x ^= x >> _S27
    x *= _M2
    x ^= x >> _S31
    return x


@lru_cache(maxsize=1024)
def topic_hash(topic: str) -> int:
    """A 64-bit hash of a topic name, the same in every process and on every platform."""
    return int.from_bytes(hashlib.blake2b(topic.encode(), digest_size=8).digest(), "little")


def position_keys(
    topics: str | Sequence[str],
    partitions: npt.ArrayLike,
    offsets: npt.ArrayLike,
) -> npt.NDArray[np.float64]:
    """The sample key in [0, 1) of each record at (topic, partition, offset).

    ``topics`` is one topic for all records or one per record; ``partitions`` and
    ``offsets`` are integers (one per record, or a scalar for all).
    """
    where = np.atleast_1d(np.asarray(offsets, dtype=np.int64)).astype(np.uint64)
    parts = np.atleast_1d(np.asarray(partitions, dtype=np.int64)).astype(np.uint64)
    if isinstance(topics, str):
        tops = np.full(1, topic_hash(topics), dtype=np.uint64)
    else:
        names = {name: np.uint64(topic_hash(name)) for name in set(topics)}
        if len(names) == 1:
            tops = np.full(1, next(iter(names.values())), dtype=np.uint64)
        else:
            tops = np.fromiter(map(names.__getitem__, topics), dtype=np.uint64, count=len(topics))
    seeds = _mix(tops ^ _mix((parts + np.uint64(1)) * _GAMMA))
    keys = _mix(seeds + where * _GAMMA)
    return (keys >> _S11).astype(np.float64) * _UNIT


def bottom_k(keys: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.intp]:
    """Positions of the ``k`` smallest keys (all of them if there are fewer), in key order.

    Merge two bottom-k samples by concatenating their rows and keys and taking
    `bottom_k` of the result: it is the bottom k of the union of their inputs.
    """
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    if len(keys) > k:
        part = np.argpartition(keys, k - 1)[:k]
        return part[np.argsort(keys[part], kind="stable")]
    return np.argsort(keys, kind="stable")
