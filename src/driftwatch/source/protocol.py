"""The consumer protocol: what :class:`~driftwatch.source.kafka.KafkaSource` asks of a Kafka consumer.

Two readers implement it: the thread reader
(:class:`~driftwatch.source.thread_reader.ThreadConsumer`, kafka-python's
``KafkaConsumer`` in the daemon's process) and the process reader
(:class:`~driftwatch.source.reader.ProcessConsumer`, the same consumer in a child
process). The source drives either through these methods alone, so every
decision (offsets, floors, rewinds, lag, reachability, stalled partitions) is
the same code for both; ``kafka.reader`` only picks which one is built. The
methods are the part of ``KafkaConsumer``'s interface the source uses, with
the same meaning, plus three answers kafka-python keeps in its client
(:meth:`Consumer.broker_connected`, :meth:`Consumer.missing_topics`,
:meth:`Consumer.connecting`) and :meth:`Consumer.discard_failed_batch`.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["Consumer"]


class Consumer(Protocol):
    """A Kafka consumer in a consumer group, with auto-commit off. Partitions are kafka-python
    ``TopicPartition`` values (``.topic``, ``.partition``); records have ``topic``, ``partition``,
    ``offset``, ``timestamp``, ``key`` and ``value``."""

    def subscribe(self, topics: list[str], listener: Any = None) -> None:
        """Join the group for ``topics``; ``listener`` is told of revoked and assigned partitions
        (``on_partitions_revoked``/``on_partitions_assigned``, possibly on another thread)."""

    def poll(self, timeout_ms: int = 0) -> dict[Any, list[Any]]:
        """Records per partition, waiting up to ``timeout_ms`` for some; raises what the fetch raised."""
        ...

    def assignment(self) -> set[Any]:
        """The partitions assigned to this consumer now."""
        ...

    def highwater(self, tp: Any) -> int | None:
        """The log end of ``tp`` as the latest fetch reported it, None if not known."""

    def position(self, tp: Any, timeout_ms: int = 0) -> int | None:
        """The offset of the next record to fetch from ``tp``, None if not known."""

    def pause(self, *partitions: Any) -> None:
        """Stop fetching ``partitions`` until resumed."""

    def resume(self, *partitions: Any) -> None:
        """Fetch paused ``partitions`` again."""

    def seek_to_beginning(self, *partitions: Any) -> None:
        """Fetch ``partitions`` from their log start next."""

    def seek_to_end(self, *partitions: Any) -> None:
        """Fetch ``partitions`` from their log end next."""

    def commit(self, offsets: dict[Any, Any]) -> None:
        """Commit ``offsets`` (``OffsetAndMetadata`` per partition) and wait; raises if it failed."""

    def commit_async(self, offsets: dict[Any, Any]) -> None:
        """Commit ``offsets`` without waiting (inside a revocation callback)."""

    def close(self, autocommit: bool = False) -> None:
        """Leave the group and release the connections, committing nothing."""

    def broker_connected(self) -> bool:
        """Whether a broker connection is up (kafka-python's poll returns nothing when none is)."""
        ...

    def missing_topics(self) -> list[str]:
        """Subscribed topics the cluster's metadata lacks ([] when it cannot tell)."""
        ...

    def connecting(self) -> bool:
        """True while the consumer has not reported on its broker connections yet."""
        ...

    def discard_failed_batch(self) -> None:
        """After a poll raised for a batch it could not decode: drop what is kept of that fetch, so the
        next poll fetches the partition again."""
