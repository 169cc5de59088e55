"""Telling a batch that cannot be decoded from other poll failures, on kafka-python's own parsing.

Real record batches (kafka-python's builder, snappy-compressed) are parsed by
kafka-python's fetcher code as a fetch response would be: a missing codec, a
failed CRC and a damaged compressed payload are each an undecodable batch with
its reason, partition, offset and codec; a connection error is not one. The
end-to-end behaviour against the broker is in test_compression.py. And the
project's dependencies give kafka-python every codec, so none of this happens
out of the box.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path

import kafka.codec
import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import Fetcher
from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from kafka.record.memory_records import MemoryRecords, MemoryRecordsBuilder

from driftwatch.source import messages as m
from driftwatch.source.undecodable import (
    UndecodableBatch,
    UndecodableBatchError,
    discard_failed_batch,
    undecodable,
)

TP = TopicPartition("predictions", 3)
SNAPPY = 2
HEADER = 61  # bytes of a v2 batch header before its (compressed) records


def batch() -> bytearray:
    """A snappy batch of 50 records at offsets 40-89, as the broker stores it."""
    builder = MemoryRecordsBuilder(magic=2, compression_type=SNAPPY, batch_size=1 << 20)
    for i in range(50):
        builder.append(timestamp=None, key=None, value=b'{"model": "churn", "n": %d}' % i, headers=[])
    builder.close()
    data = bytearray(builder.buffer())
    data[:8] = (40).to_bytes(8, "big")  # the base offset the broker assigns (outside the CRC)
    return data


def parse(data: bytes, check_crcs: bool = True) -> BaseException:
    """What kafka-python's fetcher raises taking the records of a fetch of ``data`` at offset 40."""
    part = Fetcher.PartitionRecords(40, TP, MemoryRecords(bytes(data)), check_crcs=check_crcs)
    with pytest.raises(Exception) as raised:
        part.take(100)
    return raised.value


def test_the_batch_parses_with_every_library_present() -> None:
    part = Fetcher.PartitionRecords(40, TP, MemoryRecords(bytes(batch())))
    assert [r.offset for r in part.take(100)] == list(range(40, 90))


def test_a_missing_codec_library(monkeypatch: pytest.MonkeyPatch) -> None:
    data = batch()
    monkeypatch.setattr(kafka.codec, "has_snappy", lambda: False)
    found = undecodable(parse(data))
    assert found == UndecodableBatch(
        "predictions",
        3,
        40,
        "unsupported_codec",
        "snappy",
        "UnsupportedCodecError: Libraries for snappy compression codec not found",
    )
    text = found.describe()
    assert "predictions[3] at offset 40" in text and "python-snappy" in text and "restart" in text


def test_a_failed_crc_and_a_damaged_payload() -> None:
    damaged = batch()
    damaged[HEADER + 5] ^= 0xFF  # inside the compressed records: the CRC no longer matches
    found = undecodable(parse(damaged))
    assert found is not None
    assert (found.reason, found.key, found.offset, found.codec) == (
        "corrupt",
        ("predictions", 3),
        40,
        "snappy",
    )
    assert "move its consumer group's offset" in found.describe()
    # the same damage with CRC checks off: decompression itself fails
    found = undecodable(parse(damaged, check_crcs=False))
    assert found is not None
    assert (found.reason, found.key, found.offset) == ("decode_error", ("predictions", 3), 40)


@pytest.mark.parametrize(
    "make",
    [
        lambda: KafkaConnectionError("111 ECONNREFUSED"),
        lambda: KafkaTimeoutError("poll"),
        lambda: RuntimeError("x"),
    ],
)
def test_other_poll_failures_are_not_undecodable_batches(make: Callable[[], BaseException]) -> None:
    try:
        raise make()
    except Exception as exc:
        assert undecodable(exc) is None


def test_the_process_reader_ships_it_whole() -> None:
    found = UndecodableBatch("p", 0, 7, "unsupported_codec", "zstd", "UnsupportedCodecError: ...")
    message = m.decode_from_reader(m.encode(m.Undecodable(found)))  # as over the reader's pipe
    assert isinstance(message, m.Undecodable)
    shipped = message.batch
    assert undecodable(UndecodableBatchError(shipped)) == found
    assert "zstandard" in found.fix()


def test_discarding_the_failed_fetch_lets_the_next_poll_fetch_again() -> None:
    """kafka-python keeps the spent records of the failed fetch as next in line (and its next poll would
    loop on them); discarding drains them."""

    class Consumer:
        def __init__(self, part: object) -> None:
            self._fetcher = type("F", (), {"_next_partition_records": part})()

    data = batch()
    data[HEADER + 5] ^= 0xFF
    part = Fetcher.PartitionRecords(40, TP, MemoryRecords(bytes(data)))
    with pytest.raises(Exception):  # noqa: B017 - whichever kafka-python raises
        part.take(100)
    assert part  # still next in line: a poll would take nothing from it, forever
    discard_failed_batch(Consumer(part))
    assert not part
    discard_failed_batch(object())  # another kafka-python: nothing to do, no error


def test_the_dependencies_give_kafka_python_every_codec() -> None:
    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    declared = {
        re.split(r"[<>=!~\[; ]", d, maxsplit=1)[0].lower() for d in pyproject["project"]["dependencies"]
    }
    assert {"python-snappy", "lz4", "zstandard"} <= declared  # the image installs these too
    assert (
        kafka.codec.has_gzip()
        and kafka.codec.has_snappy()
        and kafka.codec.has_lz4()
        and kafka.codec.has_zstd()
    )
