"""Where prediction records come from: Kafka in production."""

from driftwatch.source.kafka import KafkaSource, Message, consumer_config

__all__ = ["KafkaSource", "Message", "consumer_config"]
