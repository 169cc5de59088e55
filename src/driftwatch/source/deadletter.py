"""The dead-letter topic: every rejected record, produced unchanged, with why and where it came from.

Headers on each dead letter:

``driftwatch-reason``     one of `driftwatch.stream.records.REASONS` (the ``reason`` label of
                          ``driftwatch_records_rejected_total``)
``driftwatch-detail``     a human-readable explanation (at most 1000 bytes)
``driftwatch-topic``, ``driftwatch-partition``, ``driftwatch-offset``
                          where the record was read

The dead-letter topic is best effort by design: a record is counted as
rejected whether or not its dead letter could be written, and an unavailable
dead-letter topic never stops or slows consumption of the predictions topic.
After a failure, sending pauses for ``pause`` seconds (those records are
counted as ``skipped``) so a dead broker does not cost a timeout per record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kafka import KafkaProducer

from driftwatch.config import KafkaSettings
from driftwatch.source.kafka import connection_config
from driftwatch.source.observer import SourceObserver

__all__ = ["DeadLetters"]

log = logging.getLogger(__name__)

_DETAIL_LIMIT = 1000


class DeadLetters:
    def __init__(
        self,
        settings: KafkaSettings,
        observer: SourceObserver,
        producer_factory: Callable[..., Any] | None = None,
        pause: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert settings.dead_letter_topic is not None
        self.topic = settings.dead_letter_topic
        self._settings = settings
        self._observer = observer
        self._factory = producer_factory or KafkaProducer
        self._pause = pause
        self._clock = clock
        self._producer: Any = None
        self._paused_until = 0.0
        self._lock = threading.Lock()
        for outcome in ("produced", "failed", "skipped"):
            observer.count_dead_letters(outcome, 0)

    def _connect(self) -> Any:
        return self._factory(
            **connection_config(self._settings, shared_only=True),
            acks="all",
            linger_ms=50,
            max_block_ms=1000,  # never hold the consumer for long when the topic is unavailable
            max_request_size=16 * 1024 * 1024,  # dead letters are as large as what was read
            retries=3,
        )

    def send(
        self,
        value: bytes | None,
        key: bytes | None,
        reason: str,
        detail: str,
        topic: str,
        partition: int,
        offset: int,
    ) -> None:
        if self._clock() < self._paused_until:
            self._observer.count_dead_letters("skipped")
            return
        headers = [
            ("driftwatch-reason", reason.encode()),
            ("driftwatch-detail", detail.encode("utf-8", "replace")[:_DETAIL_LIMIT]),
            ("driftwatch-topic", topic.encode()),
            ("driftwatch-partition", str(partition).encode()),
            ("driftwatch-offset", str(offset).encode()),
        ]
        try:
            with self._lock:
                if self._producer is None:
                    self._producer = self._connect()
                future = self._producer.send(self.topic, value=value, key=key, headers=headers)
        except Exception as exc:  # no broker, topic metadata not available in time, buffer full...
            self._failed(exc, immediate=True)
            return
        future.add_callback(lambda _: self._observer.count_dead_letters("produced"))
        future.add_errback(lambda exc: self._failed(exc, immediate=False))

    def _failed(self, exc: BaseException, immediate: bool) -> None:
        self._observer.count_dead_letters("failed")
        now = self._clock()
        if now >= self._paused_until:
            log.warning(
                "dead-letter topic %s unavailable (%s); rejected records are still counted; "
                "pausing dead letters for %.0fs",
                self.topic,
                exc,
                self._pause,
            )
        self._paused_until = now + self._pause

    def flush(self, timeout: float = 2.0) -> None:
        with self._lock:
            producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            producer.flush(timeout=timeout)
            producer.close(timeout=timeout)
        except Exception as exc:
            log.warning("dead-letter topic %s: flushing on shutdown failed: %s", self.topic, exc)
