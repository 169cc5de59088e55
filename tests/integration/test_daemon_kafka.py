"""End to end against the real broker and a real webhook receiver on 127.0.0.1.

Two models: credit-risk receives shifted traffic, churn receives traffic like
its reference. The daemon runs its scheduled checks; we read what it exports
over HTTP exactly as Prometheus would, what the receiver got, and what offsets
the consumer group committed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.kafkautil import update_config
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

SECRET = "integration-test-secret"
PER_MODEL = 3000
BAD = [b"not json", b'{"model": "credit-risk"}', b'{"model": "nope", "features": {}}', b"[1, 2, 3]"]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted((k, v) for k, v in sample.labels.items() if v))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def produce(broker: LocalBroker, topic: str) -> int:
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    rng = np.random.default_rng(11)
    now = time.time()
    sent = 0
    for model, shifted in (("credit-risk", True), ("churn", False)):
        for value in make_records(model, rng, PER_MODEL, shifted, now):
            producer.send(topic, key=model.encode(), value=value)
            sent += 1
    for value in BAD:
        producer.send(topic, key=b"bad", value=value)
        sent += 1
    producer.flush()
    producer.close()
    return sent


@pytest.fixture
def setup(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Path, str, int]]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    topic = f"predictions-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    yield tmp_path, topic, free_port()


def own_group(config: Path) -> str:
    """A consumer group of the test's own (the demo config's group is shared by every test writing one)."""
    group = f"daemon-{uuid.uuid4().hex[:8]}"

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"]["group_id"] = group

    update_config(config, change)
    return group


def committed_total(broker: LocalBroker, topic: str, group: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False)
    try:
        return sum(consumer.committed(TopicPartition(topic, p)) or 0 for p in (0, 1))
    finally:
        consumer.close()


@CLIENTS
def test_daemon_detects_drift_for_the_shifted_model_only(
    broker: LocalBroker, setup: tuple[Path, str, int], client: str
) -> None:
    directory, topic, port = setup
    with WebhookReceiver(SECRET.encode()) as receiver:
        config = use_client(
            write_demo_config(
                directory, broker.bootstrap, topic, port, receiver.url, every="1s", window="1h"
            ),
            client,
        )
        own_group(config)
        settings = load_settings(config)
        sent = produce(broker, topic)
        daemon = Daemon(settings)
        daemon.start()
        try:
            wait_for(
                lambda: all((r["latest"] or {}).get("rows") == PER_MODEL for r in daemon.results().values()),
                60,
                "both windows to hold every produced record and be checked",
            )
            wait_for(lambda: len(receiver.received) >= 1, 15, "the webhook")
            time.sleep(2.5)  # two more checks: a drift that persists must not fire again
            metrics = scrape(port)
            report = urllib.request.urlopen(
                f"http://127.0.0.1:{port}/reports/credit-risk/latest.html", timeout=180
            )
            html = report.read().decode()
            with pytest.raises(urllib.error.HTTPError) as unknown:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/reports/nope/latest.html", timeout=10)
        finally:
            daemon.stop()
        group = settings.kafka.group_id

    def value(name: str, **labels: str) -> float | None:
        return metrics.get((name, tuple(sorted(labels.items()))))

    assert value("driftwatch_dataset_drift_detected", model="credit-risk") == 1.0
    assert value("driftwatch_dataset_drift_detected", model="churn") == 0.0
    assert value("driftwatch_dataset_drift_share", model="churn") == 0.0
    assert value("driftwatch_records_consumed_total", model="credit-risk") == PER_MODEL
    assert value("driftwatch_records_consumed_total", model="churn") == PER_MODEL
    assert value("driftwatch_window_rows", model="credit-risk") == PER_MODEL
    rejected = {
        dict(labels)["reason"]: v
        for (name, labels), v in metrics.items()
        if name == "driftwatch_records_rejected_total"
    }
    assert rejected == {"undecodable": 2.0, "missing_field": 1.0, "unknown_model": 1.0}
    for feature in ("age", "income", "country"):
        assert value("driftwatch_feature_drift_detected", model="credit-risk", feature=feature) == 1.0
        scores = [
            v
            for (name, labels), v in metrics.items()
            if name == "driftwatch_feature_drift_score" and ("feature", feature) in labels
        ]
        assert scores and all(s > 0.1 for s in scores)
    assert value("driftwatch_check_last_success_timestamp_seconds", model="churn", check="data_drift")
    assert value("driftwatch_check_duration_seconds_count", model="churn", check="data_drift") >= 1
    assert value("driftwatch_build_info", version=__import__("driftwatch").__version__) == 1.0
    # consumer lag per partition, from the fetch high watermarks: everything was consumed
    lag = {labels: v for (name, labels), v in metrics.items() if name == "driftwatch_consumer_lag_records"}
    assert {dict(labels)["partition"] for labels in lag} == {"0", "1"}
    assert set(lag.values()) == {0.0}
    delivered = value("driftwatch_webhook_deliveries_total", target="retrain", outcome="delivered")
    assert delivered == len(receiver.received)

    # Evidently's own report of the latest check, served by the daemon
    assert report.status == 200 and report.headers["Content-Type"].startswith("text/html")
    assert "<html" in html.lower() and "income" in html
    assert unknown.value.code == 404

    # one signed event per breached check (data drift, and the shifted predictions), all for the
    # drifted model, none repeated by the later checks
    events = [hook["json"] for hook in receiver.received]
    assert all(hook["valid"] for hook in receiver.received), "a webhook signature did not verify"
    assert all(hook["json"]["id"] == hook["key"] for hook in receiver.received)
    assert sorted(e["check"] for e in events) in (["data_drift"], ["data_drift", "prediction_drift"])
    assert {(e["model"], e["transition"]) for e in events} == {("credit-risk", "firing")}
    (event,) = [e for e in events if e["check"] == "data_drift"]
    assert event["type"] == "driftwatch.alert" and event["schema_version"] == 1
    assert {"age", "income", "country"} <= set(event["drifted_features"])
    assert event["result"]["dataset_drift"] is True

    # offsets were committed for everything processed, bad records included
    assert committed_total(broker, topic, group) == sent


@CLIENTS
def test_run_command_stops_cleanly_on_sigterm(
    broker: LocalBroker, setup: tuple[Path, str, int], client: str
) -> None:
    directory, topic, port = setup
    config = use_client(
        write_demo_config(directory, broker.bootstrap, topic, port, "http://127.0.0.1:9/hook", every="1s"),
        client,
    )
    group = own_group(config)
    sent = produce(broker, topic)
    env = {**os.environ, SECRET_ENV: SECRET}
    process = subprocess.Popen(
        [sys.executable, "-m", "driftwatch", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:

        def consumed() -> bool:
            try:
                metrics = scrape(port)
            except OSError:
                return False
            return (
                sum(v for (n, _), v in metrics.items() if n == "driftwatch_records_consumed_total")
                == 2 * PER_MODEL
            )

        wait_for(consumed, 60, "the subprocess daemon to consume every record")
        ready = urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
        assert json.loads(ready.read())["ready"] is True
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(15)
        elapsed = time.monotonic() - started
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = process.stdout.read().decode() if process.stdout else ""
    assert code == 0, output
    assert elapsed < 10, f"shutdown took {elapsed:.1f}s"
    assert "Traceback" not in output
    assert committed_total(broker, topic, group) == sent
