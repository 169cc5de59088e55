"""Exactly-once window contents across kill -9 with ``kafka.client: confluent`` (librdkafka).

The scenario of ``test_crash_recovery.py`` (a subprocess daemon killed at random moments while records
are produced; at the end each window holds every record once), bounded: 5 kills while 2 x 30k records
are produced over ~50 s, so that each kill still lands mid-stream. (A restarted librdkafka consumer
takes ~10 s to be assigned its partitions again, the killed member's session timing out first.) It is
a file of its own so that the integration lane, which spreads its files over parallel workers, runs it
beside the kafka-python run rather than after it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from driftwatch.cli.localbroker import LocalBroker
from tests.integration.test_crash_recovery import Run, kill_9_and_count

pytestmark = pytest.mark.broker

CONFLUENT = Run("confluent", 30_000, 50.0, 5)


def test_windows_hold_every_record_exactly_once_across_kill_9_with_librdkafka(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kill_9_and_count(broker, tmp_path, monkeypatch, CONFLUENT)
