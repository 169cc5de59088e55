"""The messages between the daemon and its reader process (``kafka.reader: process``), as typed structs.

Each message is a msgspec struct tagged with its kind; each direction is one
union, encoded with MessagePack over the socket pair the two share
(:func:`send`, :func:`receive_from_reader`, :func:`receive_to_reader`). A message that does not fit its union fails to
decode instead of being misread by position. Child to daemon, in order:
:class:`Batch` (records of a poll, with a :class:`Status` now and then),
:class:`StatusReport`, :class:`Assigned`, :class:`Revoked` (seq 0: lost, no answer
awaited), :class:`Committed`, :class:`PollError`, :class:`Undecodable`, :class:`Failed`
(then it exits). Daemon to child: :class:`Options` (first), :class:`Subscribe`,
:class:`Credit` (one per batch polled: room for another), :class:`Commit`,
:class:`RevokeDone`, :class:`Seek`, :class:`Pause`, :class:`Resume`, :class:`Close`.
"""

from __future__ import annotations

from multiprocessing.connection import Connection
from typing import Any, Literal

import msgspec

from driftwatch.source.problems import ConsumerProblem
from driftwatch.source.undecodable import UndecodableBatch

__all__ = [
    "Assigned",
    "Batch",
    "Close",
    "Commit",
    "Committed",
    "Credit",
    "Failed",
    "FromReader",
    "Options",
    "Part",
    "PartitionOffsets",
    "Pause",
    "PollError",
    "Resume",
    "RevokeDone",
    "Revoked",
    "Seek",
    "Status",
    "StatusReport",
    "Subscribe",
    "ToReader",
    "Undecodable",
    "decode_from_reader",
    "decode_to_reader",
    "encode",
    "receive_from_reader",
    "receive_to_reader",
    "send",
]

Key = tuple[str, int]  # (topic, partition)
CommitOffsets = list[tuple[str, int, int]]  # (topic, partition, next offset)


class _Message(msgspec.Struct, tag=True, array_like=True):
    """Tagged with the class name; fields by position on the wire (smaller, as the tuples were)."""


# child to daemon


class PartitionOffsets(msgspec.Struct, frozen=True, array_like=True):
    """The log end and the consumer's position of an assigned partition, None while not known."""

    topic: str
    partition: int
    highwater: int | None
    position: int | None


class Status(msgspec.Struct, frozen=True, array_like=True):
    """What the child last saw: broker connection up, offsets, seeks carried out, subscribed topics the
    cluster's metadata lacks."""

    connected: bool
    offsets: list[PartitionOffsets]
    seeks_done: int
    missing: list[str]


class Part(msgspec.Struct, frozen=True, array_like=True):
    """One partition's records of a poll, in columns, with the log end and position read with them."""

    topic: str
    partition: int
    offsets: list[int]
    timestamps: list[int]
    keys: list[bytes | None]
    values: list[bytes | None]
    highwater: int | None
    position: int | None


class Batch(_Message):
    parts: list[Part]
    status: Status | None
    seeks_done: int


class StatusReport(_Message):
    status: Status


class Assigned(_Message):
    keys: list[Key]


class Revoked(_Message):
    seq: int  # 0: the partitions are lost, the child does not wait for an answer
    keys: list[Key]


class Committed(_Message):
    id: int
    error: str | None


class PollError(_Message):
    text: str
    problem: ConsumerProblem | None  # None: a network failure


class Undecodable(_Message):
    batch: UndecodableBatch


class Failed(_Message):
    """The child cannot go on (its consumer could not start, or its loop failed): it exits."""

    text: str
    problem: ConsumerProblem | None


FromReader = Batch | StatusReport | Assigned | Revoked | Committed | PollError | Undecodable | Failed


# daemon to child


class Options(_Message):
    options: dict[str, Any]  # KafkaConsumer keyword arguments


class Subscribe(_Message):
    topics: list[str]


class Credit(_Message):
    pass


class Commit(_Message):
    id: int
    offsets: CommitOffsets


class RevokeDone(_Message):
    seq: int
    offsets: CommitOffsets | None  # None: nothing to commit


class Seek(_Message):
    topic: str
    partition: int
    where: Literal["beginning", "end"]


class Pause(_Message):
    keys: list[Key]


class Resume(_Message):
    keys: list[Key]


class Close(_Message):
    pass


ToReader = Options | Subscribe | Credit | Commit | RevokeDone | Seek | Pause | Resume | Close

_encoder = msgspec.msgpack.Encoder()
_from_reader = msgspec.msgpack.Decoder(FromReader)
_to_reader = msgspec.msgpack.Decoder(ToReader)


def encode(message: FromReader | ToReader) -> bytes:
    return _encoder.encode(message)


def decode_from_reader(data: bytes) -> FromReader:
    return _from_reader.decode(data)


def decode_to_reader(data: bytes) -> ToReader:
    return _to_reader.decode(data)


def send(conn: Connection, message: FromReader | ToReader) -> None:
    """Send ``message`` over the pipe (raises OSError once the other end is gone)."""
    conn.send_bytes(_encoder.encode(message))


def receive_from_reader(conn: Connection) -> FromReader:
    """The child's next message (raises EOFError or OSError once it is gone)."""
    return _from_reader.decode(conn.recv_bytes())


def receive_to_reader(conn: Connection) -> ToReader:
    """The daemon's next command (raises EOFError or OSError once it is gone)."""
    return _to_reader.decode(conn.recv_bytes())
