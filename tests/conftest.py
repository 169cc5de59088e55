"""The test lanes, the real Kafka-protocol broker, and a rule for missing components.

Every test lives in one lane, a folder, and is marked with the folder's name:

- ``tests/unit``: no broker, no Prometheus, no server process, no Evidently or scikit-learn
  oracle; seconds in all (``make test-fast``).
- ``tests/conformance``: driftwatch's numbers against live Evidently and scikit-learn, and against
  NannyML's numbers stored in tests/conformance/data (NannyML is not installed with driftwatch).
- ``tests/integration``: the broker, Prometheus and Alertmanager, subprocess daemons, HTTP
  receivers, the dashboards' type check, the deployment files, the demo.

A test file outside the three folders is an error, so none is left out of every lane. The unit
lane refuses the broker and the Prometheus servers (tests/unit/conftest.py). A test that needs a
real component (the broker) fails loudly when it is missing under CI=true, and is skipped with the
reason elsewhere.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from driftwatch.cli.localbroker import BrokerUnavailableError, LocalBroker

TESTS = Path(__file__).resolve().parent
LANES = ("unit", "conformance", "integration")


def require(component: str, reason: str) -> None:
    message = f"{component} is required but unavailable: {reason}"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


def lane_of(path: Path) -> str | None:
    """The lane of a test file: the first folder under tests/, when it is one of the lanes."""
    try:
        parts = path.resolve().relative_to(TESTS).parts
    except ValueError:
        return None
    return parts[0] if len(parts) > 1 and parts[0] in LANES else None


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
    """Mark each test with its lane; a test that uses the broker is a broker test, marked or not."""
    stray: set[str] = set()
    for item in items:
        lane = lane_of(item.path)
        if lane is not None:
            item.add_marker(lane)
        elif item.path.resolve().is_relative_to(TESTS):
            stray.add(str(item.path.resolve().relative_to(TESTS.parent)))
        if "broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)
    if stray:
        raise pytest.UsageError(
            "test files outside the lanes (tests/unit, tests/conformance, tests/integration; see "
            "tests/conftest.py): " + ", ".join(sorted(stray)) + ". Move each into the lane it belongs to "
            "with git mv."
        )
