"""End to end alerting: broker -> daemon -> Prometheus -> Alertmanager -> a receiver on 127.0.0.1.

Proves that the repository's alert rules (configs/prometheus/alerts.yml, expressions unchanged,
only every ``for:`` cut to 1s) fire DriftwatchDataDrift for a model whose traffic drifted and not
for one whose traffic did not, when Debian's Prometheus scrapes a running daemon fed through the
real Kafka-protocol broker, and that Alertmanager delivers the firing alert, with its severity
label and runbook link, to a webhook receiver. With each Kafka client (``kafka.client``).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver, make_records, write_demo_config
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.conftest import require
from tests.kafkautil import update_config
from tests.promstack import (
    INSTALL_HINT,
    Alertmanager,
    AlertReceiver,
    Prometheus,
    StackError,
    alertmanager_binary,
    prometheus_binary,
    rules_with_for,
    static_job,
)
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "configs" / "prometheus" / "alerts.yml"
SECRET = "alerting-e2e-secret"
PER_MODEL = 3000
WAIT = 90.0  # upper bound of every wait below


def produce(broker: LocalBroker, topic: str) -> None:
    """credit-risk traffic shifted away from its reference, churn traffic like its reference."""
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap)
    rng = np.random.default_rng(11)
    now = time.time()
    for model, shifted in (("credit-risk", True), ("churn", False)):
        for value in make_records(model, rng, PER_MODEL, shifted, now):
            producer.send(topic, key=model.encode(), value=value)
    producer.flush()
    producer.close()


def rule_label(alert: str, label: str) -> str:
    """``label`` of the rule ``alert`` in the repository's alerts.yml."""
    document = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    (rule,) = [r for g in document["groups"] for r in g["rules"] if r.get("alert") == alert]
    value: str = rule["labels"][label]
    return value


def is_data_drift(model: str) -> Callable[[dict[str, Any]], bool]:
    def match(alert: dict[str, Any]) -> bool:
        labels: dict[str, str] = alert["labels"]
        return labels.get("alertname") == "DriftwatchDataDrift" and labels.get("model") == model

    return match


@pytest.fixture
def topic(broker: LocalBroker, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if prometheus_binary() is None:
        require("Prometheus (/usr/bin/prometheus)", INSTALL_HINT)
    if alertmanager_binary() is None:
        require("Alertmanager (prometheus-alertmanager)", INSTALL_HINT)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    name = f"alerting-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name, partitions=2)
    yield name


@CLIENTS
def test_data_drift_alert_reaches_alertmanager_receiver(
    broker: LocalBroker, topic: str, tmp_path: Path, client: str
) -> None:
    port = free_port()
    started = time.monotonic()
    produce(broker, topic)
    with ExitStack() as stack:
        receiver = stack.enter_context(AlertReceiver())
        hooks = stack.enter_context(WebhookReceiver(SECRET.encode()))  # the daemon's own retrain webhook
        alertmanager = stack.enter_context(Alertmanager(tmp_path / "alertmanager", receiver.url))
        servers: list[Alertmanager | Prometheus] = [alertmanager]

        def logs() -> str:
            return "\n".join(server.log_tail() for server in servers)

        config = use_client(
            write_demo_config(
                tmp_path / "daemon", broker.bootstrap, topic, port, hooks.url, every="1s", window="1h"
            ),
            client,
        )

        def own_group(raw: dict[str, Any]) -> None:  # not the demo config's, shared by other tests
            raw["kafka"]["group_id"] = f"alerting-{uuid.uuid4().hex[:8]}"

        update_config(config, own_group)
        daemon = Daemon(load_settings(config))
        daemon.start()
        stack.callback(daemon.stop)
        # Prometheus scrapes once both windows hold all the traffic and were checked: a check of a
        # half-read window could flag churn by chance, which is not what this test is about.
        wait_for(
            lambda: all((r["latest"] or {}).get("rows") == PER_MODEL for r in daemon.results().values()),
            WAIT,
            "both windows to hold every produced record and be checked",
        )
        converged = time.monotonic()

        rules = rules_with_for(ALERTS, tmp_path / "prometheus" / "alerts.yml", "1s")
        prometheus = stack.enter_context(
            Prometheus(
                tmp_path / "prometheus",
                [static_job("driftwatch", [f"127.0.0.1:{port}"])],
                rule_files=[rules],
                alertmanager=alertmanager.address,
            )
        )
        servers.append(prometheus)
        try:
            target = prometheus.wait_for_target("driftwatch", timeout=WAIT)
            delivered = receiver.wait_for(
                lambda alert: is_data_drift("credit-risk")(alert) and alert["status"] == "firing", WAIT
            )
            fired = time.monotonic()
            # a scrape that misses its 1s timeout on a busy machine resets the alert for a moment
            wait_for(
                lambda: any(
                    is_data_drift("credit-risk")(a) and a["state"] == "firing" for a in prometheus.alerts()
                ),
                WAIT,
                "Prometheus to list DriftwatchDataDrift for credit-risk as firing",
            )
            series = prometheus.query('ALERTS{alertname="DriftwatchDataDrift", alertstate="firing"}[1h]')
            churn_drift = prometheus.query(
                'max_over_time(driftwatch_dataset_drift_detected{model="churn"}[1h])'
            )
            churn_alerts = prometheus.query('ALERTS{alertname="DriftwatchDataDrift", model="churn"}[1h]')
            received = receiver.alerts()
        except (StackError, AssertionError) as exc:
            raise AssertionError(f"{exc}\n{logs()}") from None

        context = f"received: {receiver.received}\n{logs()}"
        assert target["labels"]["instance"] == f"127.0.0.1:{port}", context

        # what Alertmanager posted to the receiver
        assert delivered["labels"].get("severity") == rule_label("DriftwatchDataDrift", "severity"), context
        assert delivered["annotations"].get("runbook_url", "").endswith("#driftwatchdatadrift"), context
        assert delivered["labels"]["job"] == "driftwatch", context
        assert not [a for a in received if is_data_drift("churn")(a)], context

        # what Prometheus evaluated: credit-risk's alert fired; churn's was never even pending
        assert [s["metric"]["model"] for s in series] == ["credit-risk"], f"{series}\n{context}"
        assert [s["value"][1] for s in churn_drift] == ["0"], f"{churn_drift}\n{context}"
        assert churn_alerts == [], f"{churn_alerts}\n{context}"
    print(
        f"daemon converged after {converged - started:.1f}s, "
        f"alert delivered {fired - converged:.1f}s after Prometheus started"
    )
