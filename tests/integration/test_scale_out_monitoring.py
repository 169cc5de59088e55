"""The alert rules and the dashboards' scale-out queries on three real scaled-out replicas.

Debian's Prometheus scrapes three replicas of one group (one job, three instances) and evaluates
configs/prometheus/alerts.yml (with every `for:` at 1s). On the real series: each model has one
owner, no ownership alert fires, a model's records add up over the replicas, the internal traffic is
counted. Then the owner of a drifting model stops: another replica restores the model from the
changelog, and its data-drift alert, which moved from one instance to another, keeps firing as the
same alert (same labels, same activeAt: it did not resolve and fire again).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.conftest import require
from tests.integration.scaleout import MODELS, produce, write_config
from tests.promstack import (
    INSTALL_HINT,
    Prometheus,
    StackError,
    prometheus_binary,
    rules_with_for,
    static_job,
)
from tests.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "configs" / "prometheus" / "alerts.yml"
OVERVIEW = ROOT / "grafana" / "dashboards" / "driftwatch-overview.json"
PER_MODEL = 1500
DRIFTING = "credit-b"  # keyed: all its records on one input partition
WAIT = 120.0


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    monkeypatch.setenv(SECRET_ENV, "scale-out-secret")
    with WebhookReceiver(b"scale-out-secret") as server:
        yield server


def rule(name: str) -> str:
    for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]:
        for found in group["rules"]:
            if found.get("alert") == name:
                expr: str = found["expr"]
                return expr
    raise AssertionError(f"no rule {name}")


def panel_query(title: str) -> str:
    for panel in json.loads(OVERVIEW.read_text(encoding="utf-8"))["panels"]:
        if panel["title"] == title:
            expr: str = panel["targets"][0]["expr"]
            return expr.replace('model=~"$model"', 'model=~".+"').replace("$__rate_interval", "10s")
    raise AssertionError(f"no panel {title}")


def per_model_queries() -> list[tuple[str, str]]:
    """(panel title, query) of the overview's targets drawn per model, variables filled in."""
    found = []
    for panel in json.loads(OVERVIEW.read_text(encoding="utf-8"))["panels"]:
        for target in panel.get("targets", []):
            if "{{model}}" in target.get("legendFormat", ""):
                expr = target["expr"].replace('"$model"', '".+"').replace('"$metric"', '".+"')
                found.append(
                    (panel["title"], expr.replace("$__rate_interval", "10s").replace("$__range", "60s"))
                )
    assert len(found) > 10
    return found


def firing(prometheus: Prometheus, alertname: str, model: str) -> list[dict[str, Any]]:
    return [
        alert
        for alert in prometheus.alerts()
        if alert["labels"].get("alertname") == alertname
        and alert["labels"].get("model") == model
        and alert["state"] == "firing"
    ]


def evaluated(prometheus: Prometheus, alertname: str) -> float:
    """When Prometheus last evaluated the rule (Unix time)."""
    for group in prometheus.api("rules", type="alert")["groups"]:
        for found in group["rules"]:
            if found["name"] == alertname:
                stamp = re.sub(r"(\.\d{6})\d*", r"\1", found["lastEvaluation"]).replace("Z", "+00:00")
                return datetime.fromisoformat(stamp).timestamp()
    raise AssertionError(f"Prometheus has no rule {alertname}")


def test_rules_and_panels_hold_on_three_replicas_and_an_alert_survives_its_owner_stopping(
    broker: LocalBroker, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    if prometheus_binary() is None:
        require("Prometheus (/usr/bin/prometheus)", INSTALL_HINT)
    topic = f"scale-mon-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=6)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    sent = produce(producer, topic, np.random.default_rng(3), PER_MODEL, shifted={DRIFTING})
    producer.close()

    group = f"g-{uuid.uuid4().hex[:8]}"
    ports = [free_port() for _ in range(3)]
    replicas: dict[str, Daemon] = {}
    prometheus: Prometheus | None = None
    try:
        for i, port in enumerate(ports):
            config = write_config(
                tmp_path / f"r{i}",
                broker.bootstrap,
                topic,
                group,
                port,
                receiver.url,
                replica=f"r{i}",
                every="1s",
            )
            daemon = Daemon(load_settings(config))
            daemon.start()
            replicas[f"127.0.0.1:{port}"] = daemon

        def owners(model: str) -> list[str]:
            return [i for i, d in replicas.items() if d.owner is not None and d.owner.owns(model)]

        def settled() -> bool:
            return all(
                len(owners(m)) == 1 and replicas[owners(m)[0]].windows[m].seen() == sent[m] for m in MODELS
            )

        wait_for(
            settled,
            WAIT,
            lambda: f"one owner per model with every record: { {m: owners(m) for m in MODELS} }",
        )

        rules = rules_with_for(ALERTS, tmp_path / "rules" / "alerts.yml", "1s")
        prom = Prometheus(tmp_path / "prometheus", [static_job("driftwatch", list(replicas))], [rules])
        prometheus = prom.start()
        wait_for(
            lambda: len([t for t in prom.targets() if t["health"] == "up"]) == 3,
            WAIT,
            "Prometheus to scrape the three replicas",
        )
        wait_for(
            lambda: bool(firing(prom, "DriftwatchDataDrift", DRIFTING)),
            WAIT,
            lambda: f"DriftwatchDataDrift to fire for {DRIFTING}: {prom.alerts()}",
        )

        # one owner per model, no ownership alert, records added up over the readers
        owned = prom.query("count by (model) (driftwatch_model_owner == 1)")
        assert {s["metric"]["model"]: s["value"][1] for s in owned} == dict.fromkeys(MODELS, "1")
        assert prom.query(rule("DriftwatchModelUnowned")) == []
        assert prom.query(rule("DriftwatchModelOwnedTwice")) == []
        consumed = prom.query("sum by (model) (driftwatch_records_consumed_total)")
        assert {s["metric"]["model"]: float(s["value"][1]) for s in consumed} == {
            m: float(sent[m]) for m in MODELS
        }
        readers = prom.query("count(sum by (instance) (driftwatch_records_consumed_total) > 0)")
        assert readers[0]["value"][1] == "3", "every replica reads a share of the six partitions"
        table = prom.query(panel_query("Ownership"))
        assert sorted(s["metric"]["model"] for s in table) == sorted(MODELS)
        assert {s["metric"]["replica"] for s in table} <= {"r0", "r1", "r2"}
        # the overview shows one line per model, whatever the number of replicas
        for title, expr in per_model_queries():
            series = prom.query(expr)
            keys = [tuple(sorted(s["metric"].items())) for s in series]
            assert all("instance" not in s["metric"] for s in series), (title, expr, series)
            assert len(keys) == len(set(keys)), (title, expr, series)
        rows = prom.query(panel_query("Rows in window"))
        assert sorted(s["metric"]["model"] for s in rows) == sorted(MODELS)
        traffic = prom.query("sum by (kind) (driftwatch_exchange_bytes_total)")
        assert {"samples", "state"} <= {s["metric"]["kind"] for s in traffic if float(s["value"][1]) > 0}

        # the drift alert: one alert, without an instance, from the owner
        (before,) = firing(prom, "DriftwatchDataDrift", DRIFTING)
        assert "instance" not in before["labels"]
        (first,) = owners(DRIFTING)

        # its owner stops: another replica restores the model, and the alert goes on
        replicas.pop(first).stop(timeout=10.0)
        wait_for(
            lambda: (
                len(owners(DRIFTING)) == 1
                and replicas[owners(DRIFTING)[0]].windows[DRIFTING].seen() == sent[DRIFTING]
            ),
            WAIT,
            lambda: f"another replica to own {DRIFTING}: {owners(DRIFTING)}",
        )
        (second,) = owners(DRIFTING)
        query = f'driftwatch_alert_active{{model="{DRIFTING}", check="data_drift"}} == 1'
        wait_for(
            lambda: [s["metric"]["instance"] for s in prom.query(query)] == [second],
            WAIT,
            lambda: f"the alert state to come from {second}: {prom.query(query)}",
        )
        moved = time.time()
        wait_for(
            lambda: evaluated(prom, "DriftwatchDataDrift") > moved + 1.0,
            WAIT,
            "Prometheus to evaluate the rule again after the move",
        )
        (after,) = firing(prom, "DriftwatchDataDrift", DRIFTING)
        assert after["labels"] == before["labels"]
        assert after["activeAt"] == before["activeAt"], "the alert resolved and fired again during the move"
    except StackError as exc:
        raise AssertionError(f"{exc}\n{prometheus.log_tail() if prometheus else ''}") from None
    finally:
        if prometheus is not None:
            prometheus.stop()
        for daemon in replicas.values():
            daemon.stop(timeout=10.0)
