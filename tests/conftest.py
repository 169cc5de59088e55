"""Shared fixtures: the real Kafka-protocol broker, and a rule for missing components.

A test that needs a real component (the broker) fails loudly when it is missing
under CI=true, and is skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from driftwatch.localbroker import BrokerUnavailableError, LocalBroker


def require(component: str, reason: str) -> None:
    message = f"{component} is required but unavailable: {reason}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    try:
        local = LocalBroker(log_path=log).start()
    except BrokerUnavailableError as exc:
        require("the Tansu Kafka-protocol broker", str(exc))
        raise
    try:
        yield local
    finally:
        local.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that uses the broker is a broker test, marked or not, so `make test-fast` can leave it out."""
    for item in items:
        if "broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)
