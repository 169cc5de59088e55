"""Record batches the consumer fetched but cannot decode: their own error class, not a broker outage.

kafka-python decompresses and checks a fetched batch only when its records are
taken, inside ``poll``; a batch it cannot decode (its codec library is missing,
its CRC or structure is corrupt, decompression fails) makes ``poll`` raise, and
the partition's position stays on that batch: the partition is stalled behind it
while the broker answers normally. :func:`undecodable` tells such a failure from
the others and names the batch (topic, partition, offset, codec), so the source
can count it, say what to do about it, keep exporting the partition's lag and
retry it, instead of reporting the broker as unreachable.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "REASONS",
    "UndecodableBatch",
    "UndecodableBatchError",
    "discard_failed_batch",
    "stalled_notes",
    "undecodable",
]

REASONS = ("unsupported_codec", "corrupt", "decode_error")  # the metric's closed label set

# Kafka's codec ids (the low bits of a batch's attributes) and the package kafka-python decodes each with
_CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}
_PACKAGES = {"snappy": "python-snappy", "lz4": "lz4", "zstd": "zstandard"}
_MISSING = re.compile(r"Libraries for (\w+) compression codec not found")


@dataclass(frozen=True)
class UndecodableBatch:
    """A fetched batch that could not be decoded; ``None`` for what could not be found out."""

    topic: str | None
    partition: int | None
    offset: int | None  # the batch's base offset: the partition's position stays there
    reason: str  # one of REASONS
    codec: str | None
    error: str  # the exception's type and text

    @property
    def key(self) -> tuple[str, int] | None:
        if self.topic is None or self.partition is None:
            return None
        return self.topic, self.partition

    def where(self) -> str:
        place = f"{self.topic}[{self.partition}]" if self.key is not None else "a partition"
        return place + (f" at offset {self.offset}" if self.offset is not None else "")

    def fix(self) -> str:
        if self.reason == "unsupported_codec":
            package = _PACKAGES.get(self.codec or "")
            library = f"the {self.codec} codec library ({package})" if package else "its codec library"
            return (
                f"install {library} in driftwatch's environment (driftwatch depends on it: reinstall "
                "driftwatch with its dependencies) and restart driftwatch; the partition resumes at this "
                "batch, no record is lost"
            )
        return (
            "the batch is damaged where it is stored or was written wrongly: check the producer and the "
            "broker's log; to skip it, stop driftwatch and move its consumer group's offset of this "
            "partition past the batch (its records are lost to the windows)"
        )

    def describe(self) -> str:
        codec = f", codec {self.codec}" if self.codec else ""
        return (
            f"undecodable record batch in {self.where()} ({self.reason}{codec}: {self.error}); the "
            f"partition is stalled behind it and retried, its lag keeps growing; fix: {self.fix()}"
        )


class UndecodableBatchError(RuntimeError):
    """Raised by the process reader's ``poll`` when its child could not decode a batch."""

    def __init__(self, batch: UndecodableBatch) -> None:
        super().__init__(batch.describe())
        self.batch = batch


def undecodable(exc: BaseException) -> UndecodableBatch | None:
    """The batch ``exc`` failed to decode, if it is such a failure of kafka-python's ``poll``; else None.

    The failure is recognized by where it was raised (kafka-python's unpacking of fetched records) or by
    its type; the partition and offset come from that frame's locals when this kafka-python has them."""
    if isinstance(exc, UndecodableBatchError):
        return exc.batch
    from kafka.errors import CorruptRecordError, UnsupportedCodecError

    frame = _unpacking_frame(exc)
    if frame is None and not isinstance(exc, UnsupportedCodecError | CorruptRecordError):
        return None
    if isinstance(exc, UnsupportedCodecError):
        reason = "unsupported_codec"
    elif isinstance(exc, CorruptRecordError):
        reason = "corrupt"
    else:
        reason = "decode_error"
    topic: str | None = None
    partition: int | None = None
    offset: int | None = None
    codec: str | None = None
    if frame is not None:
        tp = frame.get("tp")
        topic, partition = getattr(tp, "topic", None), getattr(tp, "partition", None)
        batch = frame.get("batch")
        offset = _int(getattr(batch, "base_offset", None))
        if offset is None:
            offset = _int(getattr(frame.get("self"), "next_fetch_offset", None))
        codec = _CODECS.get(_int(getattr(batch, "compression_type", None)) or -1)
    missing = _MISSING.search(str(exc))
    if missing:
        codec = missing.group(1)
    text = str(exc) or type(exc).__name__
    return UndecodableBatch(
        topic if isinstance(topic, str) else None,
        _int(partition),
        offset,
        reason,
        codec if codec != "none" else None,
        f"{type(exc).__name__}: {text}" if not text.startswith(type(exc).__name__) else text,
    )


def stalled_notes(stalls: Iterable[tuple[UndecodableBatch, float]]) -> list[str]:
    """What a check's result says about partitions stalled behind an undecodable batch (each with the
    wall-clock time it stalled): one note per topic and cause, naming the partitions, since when, why,
    and the fix; the check ran without their records from then on."""
    groups: dict[tuple[str | None, str, str | None], list[tuple[UndecodableBatch, float]]] = {}
    for batch, since in stalls:
        groups.setdefault((batch.topic, batch.reason, batch.codec), []).append((batch, since))
    notes = []
    for (topic, reason, codec), members in sorted(groups.items(), key=lambda g: (g[0][0] or "", g[0][1])):
        members.sort(key=lambda m: m[0].partition if m[0].partition is not None else -1)
        where = (
            ", ".join(m[0].where() for m in members)
            if topic is not None
            else "a partition whose batch could not be located"
        )
        stalled = datetime.fromtimestamp(min(m[1] for m in members), UTC).isoformat(timespec="milliseconds")
        stalled = stalled.replace("+00:00", "Z")  # as the other notes say it
        first = members[0][0]
        notes.append(
            f"Kafka {where} stalled since {stalled} behind an undecodable record batch ({reason}"
            + (f", codec {codec}" if codec else "")
            + f": {first.error}): this check ran without the records behind it (this model's among them, "
            f"if it has traffic there); fix: {first.fix()}"
        )
    return notes


def discard_failed_batch(consumer: Any) -> None:
    """Drop what kafka-python keeps of the fetch whose batch failed to decode, so that its next poll
    fetches the partition again from its position (the failed batch): kafka-python 3.0 keeps the spent
    records of that fetch as the next in line, and its next ``poll`` loops on them forever."""
    part = getattr(getattr(consumer, "_fetcher", None), "_next_partition_records", None)
    drain = getattr(part, "drain", None)
    if callable(drain):
        drain()


def _unpacking_frame(exc: BaseException) -> dict[str, Any] | None:
    """The locals of kafka-python's record unpacking frame in ``exc``'s traceback, if it is there."""
    tb = exc.__traceback__
    found = None
    while tb is not None:
        code = tb.tb_frame.f_code
        if code.co_name == "_unpack_records" and "kafka" in code.co_filename:
            found = tb.tb_frame.f_locals
        tb = tb.tb_next
    return found


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
