"""The check history end to end: a real broker, the daemon, a restart, a webhook receiver.

Shifted records drift credit-risk and fire its alerts; the daemon is stopped and a new one started on
the same state; once the shifted records have left the window, records like the reference resolve the
episode. Then ``GET /api/models/credit-risk/history`` (while the daemon runs) and ``driftwatch history``
(while it runs, and after it stopped) list every check both daemons ran, in ran_at order, and their
transitions and deliveries are exactly what the receiver got: the same idempotency keys and
transitions, each delivered once. The last check's Kafka positions are the offsets of every record. Replaying the period from the
topic with ``driftwatch replay --reproduce`` gives every recorded result and the recorded alert events.
"""

from __future__ import annotations

import json
import time
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.state.history import HistoryStore
from tests.kafkautil import update_config
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

SECRET = "history-test-secret"
RECORDS = 3000
WINDOW = 15.0  # seconds: the shifted records must have left the window before the episode can resolve
MODEL = "credit-risk"


def produce(broker: LocalBroker, topic: str, shifted: bool, seed: int) -> float:
    """``RECORDS`` credit-risk records stamped now; the stamp."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    now = time.time()
    for value in make_records(MODEL, np.random.default_rng(seed), RECORDS, shifted, now):
        producer.send(topic, key=MODEL.encode(), value=value)
    producer.flush()
    producer.close()
    return now


def api_history(port: int, query: str = "") -> list[dict[str, Any]]:
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/api/models/{MODEL}/history{query}", timeout=10
    ) as r:
        rows: list[dict[str, Any]] = json.loads(r.read())
    return rows


def check_runs(daemon: Daemon) -> int:
    """The model's scheduled checks that ran to a result (each one a history row)."""
    for family in daemon.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "driftwatch_check_runs_total" and sample.labels == {
                "model": MODEL,
                "check": "data_drift",
                "outcome": "ok",
            }:
                return int(sample.value)
    return 0


def cli_history(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["history", MODEL, "-c", str(config), "-f", "json", "--limit", "100000"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def test_history_lists_every_check_and_what_the_receiver_got_across_a_restart(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    topic = f"predictions-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    port = free_port()
    with WebhookReceiver(SECRET.encode()) as receiver:
        config = write_demo_config(
            tmp_path, broker.bootstrap, topic, port, receiver.url, every="1s", window=f"{WINDOW:g}s"
        )
        update_config(config, lambda raw: raw["kafka"].update(group_id=f"history-{uuid.uuid4().hex[:8]}"))
        settings = load_settings(config)

        def events(transition: str) -> list[dict[str, Any]]:
            return [
                h["json"]
                for h in receiver.received
                if h["json"]["model"] == MODEL and h["json"]["transition"] == transition
            ]

        # a drift episode begins
        shifted_at = produce(broker, topic, shifted=True, seed=1)
        first = Daemon(settings)
        first.start()
        try:
            wait_for(
                lambda: any(e["check"] == "data_drift" for e in events("firing")), 60, "the firing event"
            )
            wait_for(
                lambda: all(
                    d["status"] == "delivered" for row in api_history(port) for d in row["deliveries"]
                ),
                15,
                "the firing deliveries recorded as delivered",
            )
        finally:
            first.stop()
        runs = check_runs(first)

        # a row past history.retention (90 days) is forgotten at start, and hourly after that
        old = HistoryStore(settings.history.file(settings.state.file))
        old.record_check(
            ran_at=time.time() - 91 * 86400, result={}, model="churn", status="ok", answered=True, reason=None,
            window_start=0.0, window_end=0.0, rows=0, config_hash="", reference_hash="", driftwatch_version="",
        )  # fmt: skip
        old.close()

        # a restart on the same state; the episode resolves once the window holds traffic like the reference
        second = Daemon(settings)
        second.start()
        try:
            assert (
                second.history is not None
                and second.history.store.checks("churn", until=time.time() - 86400) == []
            )
            prune = second.scheduler.get_job("history:prune")
            assert prune is not None and prune.trigger.interval.total_seconds() == 3600
            wait_for(
                lambda: (
                    time.time() > shifted_at + WINDOW + 1
                    and (second.latest.get(MODEL) is not None and second.latest.get(MODEL).rows == 0)
                ),  # type: ignore[union-attr]
                WINDOW + 30,
                "the shifted records to leave the window",
            )
            produce(broker, topic, shifted=False, seed=2)
            wait_for(
                lambda: {e["check"] for e in events("resolved")} == {e["check"] for e in events("firing")},
                60,
                lambda: (
                    f"every alert to resolve (received: {[h['json']['transition'] for h in receiver.received]})"
                ),
            )
            wait_for(
                lambda: (
                    (rows := api_history(port))
                    and sum(rows[-1]["positions"].values()) == 2 * RECORDS
                    and rows[-1]["rows"] == RECORDS
                    and all(d["status"] == "delivered" for row in rows for d in row["deliveries"])
                ),
                30,
                "a check of every record with its positions, and every delivery done",
            )
            served = api_history(port)
            while_running = cli_history(config, capsys)
        finally:
            second.stop()
        runs += check_runs(second)
    history = cli_history(config, capsys)

    # every check of both daemons, in ran_at order; what was read while they ran is a prefix of it
    assert len(history) == runs
    assert [row["ran_at"] for row in history] == sorted(row["ran_at"] for row in history)
    assert served == history[: len(served)] and while_running == history[: len(while_running)]
    assert len({row["driftwatch_version"] for row in history}) == 1
    assert len({(row["config_hash"], row["reference_hash"]) for row in history}) == 1
    assert all(row["result"]["model"] == MODEL and row["scope"] == "" for row in history)
    last = history[-1]
    assert last["positions"] and all(key.startswith(f"{topic}:") for key in last["positions"])
    assert sum(last["positions"].values()) == 2 * RECORDS

    # the transitions and deliveries are exactly what the receiver got
    received = [(h["key"], h["json"]["check"], h["json"]["transition"]) for h in receiver.received]
    transitions = [
        (t["idempotency_key"], t["check"], t["transition"]) for row in history for t in row["transitions"]
    ]
    assert sorted(transitions) == sorted(received)
    assert {transition for _, _, transition in transitions} == {"firing", "resolved"}
    assert all(h["valid"] and h["status"] == 200 for h in receiver.received)
    deliveries = [d for row in history for d in row["deliveries"]]
    assert sorted(d["idempotency_key"] for d in deliveries) == sorted(key for key, _, _ in received)
    assert {(d["target"], d["status"], d["attempts"], d["last_status"]) for d in deliveries} == {
        ("retrain", "delivered", 1, 200)
    }
    # a firing transition is at a check that fed a breach of its check, a resolved one at a clean check
    for row in history:
        for t in row["transitions"]:
            assert row["breaches"][t["check"]] is (t["transition"] == "firing")
    firing = [
        row["ran_at"] for row in history if any(t["transition"] == "firing" for t in row["transitions"])
    ]
    resolved = [
        row["ran_at"] for row in history if any(t["transition"] == "resolved" for t in row["transitions"])
    ]
    assert max(firing) < min(resolved)

    # the file on disk holds the same (the store read directly)
    store = HistoryStore(settings.history.file(settings.state.file))
    try:
        assert [row.id for row in store.checks(MODEL)] == [row["id"] for row in history]
    finally:
        store.close()

    # replaying the period from the topic reproduces every recorded check of both daemons, each at its
    # time and positions, and raises exactly the recorded alert events (the restart included)
    capsys.readouterr()
    code = main(
        [
            "replay",
            "-c",
            str(config),
            "--model",
            MODEL,
            "--from",
            f"{history[0]['ran_at'] - 0.5:.3f}",
            "--to",
            f"{history[-1]['ran_at'] + 0.5:.3f}",
            "--reproduce",
            "-f",
            "json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    replayed = json.loads(out)
    assert [datetime.fromisoformat(c["ran_at"]).timestamp() for c in replayed] == pytest.approx(
        [row["ran_at"] for row in history], abs=1e-5
    ), err
    assert [c["differs"] for c in replayed] == [[]] * len(history), out
    assert f"{len(history)}/{len(history)} reproduced" in err
    assert [(e["check"], e["transition"]) for c in replayed for e in c["events"]] == [
        (t["check"], t["transition"]) for row in history for t in row["transitions"]
    ]
