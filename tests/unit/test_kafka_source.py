"""KafkaSource without a broker: consumer lag from fetch high watermarks, and its series lifecycle."""

from __future__ import annotations

import threading
from collections import namedtuple
from typing import Any

from driftwatch.config import KafkaSettings
from driftwatch.service.metrics import Metrics
from driftwatch.source.kafka import KafkaSource

TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    """Two partitions; the broker's high watermarks are 100 and 7, the consumer is at 40 and 7."""

    def __init__(self, stop: threading.Event, **config: Any) -> None:
        self.stop = stop
        self.config = config
        self.listener: Any = None
        self.partitions = [TP("predictions", 0), TP("predictions", 1)]
        self.highwaters = {self.partitions[0]: 100, self.partitions[1]: 7}
        self.positions = {self.partitions[0]: 40, self.partitions[1]: 7}

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.listener = listener

    def poll(self, timeout_ms: int) -> dict[Any, list[Any]]:
        self.stop.set()  # one poll is enough
        return {}

    def assignment(self) -> set[TP]:
        return set(self.partitions)

    def highwater(self, tp: TP) -> int | None:
        return self.highwaters.get(tp)

    def position(self, tp: TP, timeout_ms: int | None = None) -> int:
        return self.positions[tp]

    def commit(self, offsets: Any = None) -> None:
        pass

    def close(self, autocommit: bool = False) -> None:
        pass


def lag(metrics: Metrics, partition: int) -> float | None:
    return metrics.registry.get_sample_value(
        "driftwatch_consumer_lag_records", {"topic": "predictions", "partition": str(partition)}
    )


def test_lag_is_the_fetch_high_watermark_minus_the_position_and_is_dropped_on_revoke() -> None:
    metrics = Metrics()
    stop = threading.Event()
    consumers: list[FakeConsumer] = []

    def factory(**config: Any) -> FakeConsumer:
        consumers.append(FakeConsumer(stop, **config))
        return consumers[-1]

    settings = KafkaSettings(bootstrap_servers=["127.0.0.1:9"], topic="predictions", group_id="g")
    source = KafkaSource(settings, lambda batch: None, metrics, consumer_factory=factory)
    source.run(stop)
    assert lag(metrics, 0) == 60.0
    assert lag(metrics, 1) == 0.0
    consumers[0].listener.on_partitions_revoked([TP("predictions", 0)])
    assert lag(metrics, 0) is None, "a partition given to another replica must not keep reporting lag"
    assert lag(metrics, 1) == 0.0
