"""The reader process's messages: each kind comes out of the pipe's encoding as it went in, and what is
not a message of the direction is refused rather than misread."""

from __future__ import annotations

import socket
from multiprocessing.connection import Connection

import msgspec
import pytest

from driftwatch.source import messages as m
from driftwatch.source.problems import ConsumerProblem
from driftwatch.source.undecodable import UndecodableBatch

PROBLEM = ConsumerProblem("not_authorized", "TopicAuthorizationFailedError: x", "grant Read", True)
BATCH = UndecodableBatch("predictions", 3, 70, "unsupported_codec", "zstd", "UnsupportedCodecError: ...")
STATUS = m.Status(True, [m.PartitionOffsets("p", 0, 10, 7), m.PartitionOffsets("p", 1, None, None)], 2, ["l"])

FROM_READER: list[m.FromReader] = [
    m.Batch(
        [m.Part("p", 0, [5, 6], [1700000000000, 1700000000001], [b"k", None], [b"{}", None], 10, 7)],
        STATUS,
        2,
    ),
    m.Batch([], None, 0),
    m.StatusReport(STATUS),
    m.Assigned([("p", 0), ("labels", 2)]),
    m.Revoked(4, [("p", 1)]),
    m.Revoked(0, []),
    m.Committed(9, None),
    m.Committed(10, "commit failed: CommitFailedError"),
    m.PollError("KafkaConnectionError: refused", None),
    m.PollError(PROBLEM.describe(), PROBLEM),
    m.Undecodable(BATCH),
    m.Undecodable(UndecodableBatch(None, None, None, "decode_error", None, "ValueError: x")),
    m.Failed("cannot start its consumer", ConsumerProblem("configuration", "e", "fix", False)),
    m.Failed("failed: boom", None),
]

TO_READER: list[m.ToReader] = [
    m.Options({"bootstrap_servers": ["127.0.0.1:9092"], "group_id": "g", "enable_auto_commit": False}),
    m.Subscribe(["predictions", "labels"]),
    m.Credit(),
    m.Commit(3, [("p", 0, 11), ("p", 1, 0)]),
    m.RevokeDone(2, [("p", 0, 11)]),
    m.RevokeDone(2, None),
    m.Seek("p", 0, "beginning"),
    m.Seek("p", 1, "end"),
    m.Pause([("p", 0)]),
    m.Resume([("p", 0)]),
    m.Close(),
]


@pytest.mark.parametrize("message", FROM_READER, ids=lambda msg: type(msg).__name__)
def test_a_message_from_the_reader_round_trips(message: m.FromReader) -> None:
    assert m.decode_from_reader(m.encode(message)) == message


@pytest.mark.parametrize("message", TO_READER, ids=lambda msg: type(msg).__name__)
def test_a_command_to_the_reader_round_trips(message: m.ToReader) -> None:
    assert m.decode_to_reader(m.encode(message)) == message


def test_every_kind_is_covered() -> None:
    assert {type(msg) for msg in FROM_READER} == set(m.FromReader.__args__)  # type: ignore[attr-defined]
    assert {type(msg) for msg in TO_READER} == set(m.ToReader.__args__)  # type: ignore[attr-defined]


def test_a_message_of_the_other_direction_or_a_wrong_shape_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        m.decode_from_reader(m.encode(m.Close()))
    with pytest.raises(msgspec.ValidationError):
        m.decode_to_reader(m.encode(m.Assigned([("p", 0)])))
    with pytest.raises(msgspec.ValidationError):
        m.decode_to_reader(msgspec.msgpack.encode(["Seek", "p", "zero", "beginning"]))
    with pytest.raises(msgspec.ValidationError):
        m.decode_to_reader(msgspec.msgpack.encode(("commit", 1, [])))  # the old positional tuples


def test_messages_cross_a_socket_pair() -> None:
    left, right = socket.socketpair()
    daemon, child = Connection(left.detach()), Connection(right.detach())
    try:
        for command in TO_READER:
            m.send(daemon, command)
            assert m.receive_to_reader(child) == command
        for message in FROM_READER:
            m.send(child, message)
            assert m.receive_from_reader(daemon) == message
        child.close()
        with pytest.raises(EOFError):
            m.receive_from_reader(daemon)
    finally:
        daemon.close()
        child.close()
