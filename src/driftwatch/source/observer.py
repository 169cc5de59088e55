"""What the Kafka source reports as it consumes, for the service layer to export.

The source decides when Kafka is up, what a partition's lag is, which batches
could not be decoded, how commits and dead letters went; it does not know how
that is exported. It reports through a :class:`SourceObserver` it is given, so
the source layer does not import the service layer's metrics:
:class:`driftwatch.service.metrics.Metrics` is one (it turns each report into the same
Prometheus series as before), a test may pass its own.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["SourceObserver"]


class SourceObserver(Protocol):
    """Reports of the Kafka source and the dead-letter queue."""

    def set_kafka_up(self, up: bool) -> None:
        """Whether the broker answered the last poll."""

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        """Records of an assigned partition not yet consumed."""

    def drop_consumer_lag(self, topic: str, partition: int) -> None:
        """The partition is no longer this replica's: its lag is not reported any more."""

    def count_undecodable_batches(self, reason: str, count: int = 1) -> None:
        """Fetched batches that could not be decoded (``count`` 0: declare the reason, at zero)."""

    def count_offset_commit(self, outcome: str) -> None:
        """An offset commit to Kafka, ``ok`` or ``error``."""

    def count_dead_letters(self, outcome: str, count: int = 1) -> None:
        """A rejected record sent to the dead-letter topic: ``produced``, ``failed`` or ``skipped``
        (``count`` 0: declare the outcome, at zero)."""
