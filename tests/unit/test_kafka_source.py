"""KafkaSource without a broker: consumer lag from fetch high watermarks, and its series lifecycle."""

from __future__ import annotations

import json
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


def _partition_stats(**fields: Any) -> str:
    """librdkafka's statistics JSON with partition 0 of "predictions" and the given fields."""
    partition = {"fetch_state": "active", "fetchq_cnt": 0, "app_offset": -1001, "hi_offset": 1500, **fields}
    return json.dumps({"topics": {"predictions": {"partitions": {"0": partition, "-1": {}}}}})


def test_librdkafka_positions_a_partition_nothing_was_handed_over_from_where_it_starts_reading() -> None:
    """kafka.client: confluent: librdkafka knows no position for a partition until a record of it was
    handed over; kafka-python answers with the committed offset it starts from. After a restart with every
    record committed, the position (so the lag, 0) comes from the next offset librdkafka fetches, while
    nothing is fetched yet; unknown otherwise, as before any statistics or after a rebalance."""
    from confluent_kafka import TopicPartition as LibPartition

    from driftwatch.source.confluent import ConfluentConsumer

    tp = TP("predictions", 0)
    consumer = ConfluentConsumer({"bootstrap.servers": "127.0.0.1:1", "group.id": "g"})
    try:
        assert consumer.position(tp) is None  # no statistics yet
        consumer._stats(_partition_stats(next_offset=1500, committed_offset=1500))
        assert consumer.position(tp) == 1500
        consumer._stats(_partition_stats(next_offset=1500, fetchq_cnt=3))  # fetched, not handed over
        assert consumer.position(tp) is None
        consumer._stats(_partition_stats(next_offset=-1001, fetch_state="offset-query"))
        assert consumer.position(tp) is None
        consumer._stats(_partition_stats(next_offset=0))  # no committed offset: reset to the beginning
        assert consumer.position(tp) == 0
        consumer._assigned(None, [LibPartition("predictions", 0)])  # statistics from before it
        assert consumer.position(tp) is None
    finally:
        consumer.close()
