"""The thread reader (``kafka.reader: thread``, the default): kafka-python's ``KafkaConsumer`` in the
daemon's own process, behind the :class:`~driftwatch.source.protocol.Consumer` protocol.

Most of the protocol is ``KafkaConsumer``'s own interface and is passed through;
what kafka-python only keeps in its client (are brokers connected, which
subscribed topics the cluster lacks) is read from there, as the process reader's
child does before it reports it.
"""

from __future__ import annotations

from typing import Any

from driftwatch.source.problems import missing_topics
from driftwatch.source.undecodable import discard_failed_batch

__all__ = ["ThreadConsumer"]


class ThreadConsumer:
    """A ``KafkaConsumer`` (or a stand-in with its interface, in tests) as a consumer of the protocol."""

    def __init__(self, consumer: Any) -> None:
        self.consumer = consumer
        self._topics: list[str] = []

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        self._topics = list(topics)
        self.consumer.subscribe(topics, listener=listener)

    def poll(self, timeout_ms: int = 0) -> dict[Any, list[Any]]:
        batches: dict[Any, list[Any]] = self.consumer.poll(timeout_ms=timeout_ms)
        return batches

    def assignment(self) -> set[Any]:
        return set(self.consumer.assignment())

    def highwater(self, tp: Any) -> int | None:
        highwater: int | None = self.consumer.highwater(tp)
        return highwater

    def position(self, tp: Any, timeout_ms: int = 0) -> int | None:
        position: int | None = self.consumer.position(tp, timeout_ms=timeout_ms)
        return position

    def pause(self, *partitions: Any) -> None:
        self.consumer.pause(*partitions)

    def resume(self, *partitions: Any) -> None:
        self.consumer.resume(*partitions)

    def seek_to_beginning(self, *partitions: Any) -> None:
        self.consumer.seek_to_beginning(*partitions)

    def seek_to_end(self, *partitions: Any) -> None:
        self.consumer.seek_to_end(*partitions)

    def commit(self, offsets: dict[Any, Any]) -> None:
        self.consumer.commit(offsets)

    def commit_async(self, offsets: dict[Any, Any]) -> None:
        self.consumer.commit_async(offsets)

    def close(self, autocommit: bool = False) -> None:
        self.consumer.close(autocommit=autocommit)

    def broker_connected(self) -> bool:
        """Asks kafka-python's client; raises if this kafka-python has no such client (the source then
        relies on poll errors alone)."""
        client = self.consumer._client
        return any(client.connected(broker.node_id) for broker in client.cluster.brokers())

    def missing_topics(self) -> list[str]:
        return missing_topics(self.consumer, self._topics)

    def connecting(self) -> bool:
        return False  # the constructor bootstrapped: the client answers from the first poll

    def discard_failed_batch(self) -> None:
        discard_failed_batch(self.consumer)
