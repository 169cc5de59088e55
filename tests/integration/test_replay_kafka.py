"""``driftwatch replay`` from the real broker: six hours of past traffic with a drift step, produced with
their own (past) timestamps over two partitions, replayed from the topic with each client. The replay
reads the period back by event time (this broker answers 0 to offsets_for_times: it scans each
partition), gives the same results and events as replaying the same records from a JSON-lines file,
and the alert the policy says: it fires once, after the step, and resolves once the step is over.
Nothing is committed: the config's consumer group has no offsets afterwards. And the check history of a
daemon that consumed a topic live is reproduced, check by check, by ``replay --reproduce``.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.service.replay import differences
from driftwatch.state.history import HistoryStore
from tests.clients import CLIENTS, use_client
from tests.integration.test_daemon_kafka import committed_total
from tests.kafkautil import update_config
from tests.unit.test_replay import BASE, HOUR, T1, T2, iso, records, write_config, write_jsonl
from tests.waiting import wait_for

pytestmark = pytest.mark.broker


def produce(broker: LocalBroker, topic: str) -> int:
    """The records in time order, alternating partitions, each with its own event time as the Kafka
    timestamp (as a producer logging them then would have)."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    rows = records()
    for i, row in enumerate(rows):
        stamp = int((BASE + 5 + 10 * i) * 1000)
        producer.send(topic, value=json.dumps(row).encode(), partition=i % 2, timestamp_ms=stamp)
    producer.send(topic, value=b"not json", partition=0, timestamp_ms=int((T1 + 60) * 1000))
    producer.flush()
    producer.close()
    return len(rows)


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[list[dict[str, object]], str]:
    code = main(
        ["replay", "-c", str(config), "--from", iso(T1), "--to", iso(T2), "-m", "m", "-f", "json", *args]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out), err


@CLIENTS
def test_replay_from_kafka_matches_the_file_and_the_expected_alert(
    broker: LocalBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str], client: str
) -> None:
    topic = f"replay-{uuid.uuid4().hex[:8]}"
    group = f"replay-group-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    produced = produce(broker, topic)
    config = write_config(tmp_path)

    def to_broker(raw: dict[str, object]) -> None:
        raw["kafka"] = {"bootstrap_servers": [broker.bootstrap], "topic": topic, "group_id": group}

    update_config(config, to_broker)
    use_client(config, client)
    from_kafka, summary = run(config, capsys)
    from_file, _ = run(config, capsys, "--input", str(write_jsonl(tmp_path / "p.jsonl", records())))

    assert f"{produced + 1:,} records read" in summary and "1 rejected (undecodable 1)" in summary, summary
    assert len(from_kafka) == len(from_file) == 11
    for a, b in zip(from_kafka, from_file, strict=True):
        assert a["ran_at"] == b["ran_at"]
        assert differences(a["result"], b["result"]) == [], a["ran_at"]  # type: ignore[arg-type]
        assert (a["breaches"], a["events"]) == (b["breaches"], b["events"])
    events = [(c["ran_at"], e["transition"]) for c in from_kafka for e in c["events"]]  # type: ignore[attr-defined]
    assert events == [(iso(BASE + 4 * HOUR), "firing"), (iso(BASE + 6 * HOUR), "resolved")]
    assert (tmp_path / "state.sqlite").exists() is False

    # an assigned consumer: nothing committed under the config's group
    assert committed_total(broker, topic, group) == 0


def now_records(rows: list[dict[str, object]], now: float) -> list[bytes]:
    return [json.dumps({**row, "timestamp": now}).encode() for row in rows]


def test_a_live_daemons_history_is_reproduced_from_the_topic(
    broker: LocalBroker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A daemon consumes the topic live, checking every second, while traffic like the reference and then
    shifted traffic arrive; its check history is then replayed with --reproduce from the same topic: every
    recorded check (of the empty window, of the first traffic, the one that fired) gives the recorded result
    and breaches, and the replay raises the recorded event."""
    topic = f"replay-live-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    config = write_config(tmp_path)

    def live(raw: dict[str, Any]) -> None:
        raw["kafka"] = {
            "bootstrap_servers": [broker.bootstrap],
            "topic": topic,
            "group_id": f"replay-live-{uuid.uuid4().hex[:8]}",
            "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        }
        raw["http"]["port"] = free_port()
        raw["models"]["m"]["schedule"] = {"every": "1s"}
        del raw["models"]["other"]

    update_config(config, live)
    settings = load_settings(config)
    rows = records()
    shifted = [r for r in rows if r["features"]["c"] == "z"]  # type: ignore[index]
    normal = [r for r in rows if r["features"]["c"] != "z"]  # type: ignore[index]
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    daemon = Daemon(settings)
    daemon.start()
    try:
        assert daemon.history is not None
        store = daemon.history.store

        def checked(count: int) -> bool:
            return any(
                sum(c.positions.values()) == count and c.rows == count for c in store.checks("m", scope="")
            )

        for i, value in enumerate(now_records(normal[:600], time.time())):
            producer.send(topic, value=value, partition=i % 2)
        producer.flush()
        wait_for(lambda: checked(600), 60, "a check of the 600 records like the reference")
        for i, value in enumerate(now_records(shifted[:600], time.time())):
            producer.send(topic, value=value, partition=i % 2)
        producer.flush()
        wait_for(
            lambda: any(t.transition == "firing" for c in store.checks("m") for t in c.transitions),
            60,
            "the data drift alert to fire",
        )
    finally:
        producer.close()
        daemon.stop()
    path = settings.history.file(settings.state.file)
    history = HistoryStore(path)
    try:
        recorded = history.checks("m", scope="")
    finally:
        history.close()
    first, last = recorded[0].ran_at, recorded[-1].ran_at
    code = main(
        [
            "replay",
            "-c",
            str(config),
            "--from",
            f"{first - 0.5:.3f}",
            "--to",
            f"{last + 0.5:.3f}",
            "--reproduce",
            "-f",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    checks = json.loads(out)
    assert len(checks) == len(recorded) >= 3, err
    assert [c["differs"] for c in checks] == [[]] * len(checks), out
    assert f"{len(checks)}/{len(checks)} reproduced" in err
    replayed = [(c["ran_at"], e["transition"]) for c in checks for e in c["events"]]
    assert [t for _, t in replayed] == ["firing"]
    assert [t.transition for c in recorded for t in c.transitions] == ["firing"]
