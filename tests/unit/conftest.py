"""The unit lane runs without servers: asking for the broker or Prometheus here is an error.

Such a test belongs in tests/integration; failing it here, with that said, keeps the unit lane
(``make test-fast``) fast and runnable on a machine that has neither.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, NoReturn

import pytest

from driftwatch.cli.localbroker import LocalBroker
from tests import promstack

MOVE = "move the test to tests/integration (see tests/conftest.py)"


@pytest.fixture(scope="session")
def broker() -> NoReturn:
    pytest.fail(f"the unit lane has no Kafka broker: {MOVE}", pytrace=False)


@pytest.fixture(autouse=True)
def _no_servers(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Starting the broker, Prometheus or Alertmanager from a unit test fails, naming the lane."""

    def refuse(what: str) -> Any:
        def start(*args: Any, **kwargs: Any) -> NoReturn:
            pytest.fail(f"the unit lane starts no {what}: {MOVE}", pytrace=False)

        return start

    monkeypatch.setattr(LocalBroker, "start", refuse("Kafka broker"))
    monkeypatch.setattr(promstack.Prometheus, "start", refuse("Prometheus"))
    monkeypatch.setattr(promstack.Alertmanager, "start", refuse("Alertmanager"))
    yield
