"""The Kafka clients a daemon test runs with (``kafka.client``): every guarantee holds with both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.kafkautil import update_config

__all__ = ["CLIENTS", "use_client"]

# kafka-python (the default: its configs are left as they were) and librdkafka (confluent-kafka)
CLIENTS = pytest.mark.parametrize("client", ["kafka-python", "confluent"])


def use_client(path: Path, client: str) -> Path:
    """The config at ``path`` read with ``client`` (written into it unless it is the default)."""
    if client != "kafka-python":

        def change(raw: dict[str, Any]) -> None:
            raw["kafka"]["client"] = client

        update_config(path, change)
    return path
