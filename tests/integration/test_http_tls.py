"""Debian's Prometheus scrapes a real daemon over TLS with basic auth, as it scrapes node_exporter.

The daemon reads its broker (the real Kafka-protocol broker) and serves with ``http.web_config_file``:
exporter-toolkit's web config with a server certificate from a throwaway CA and one bcrypt user,
``http.api: off``. Prometheus scrapes it with ``scheme: https``, the CA and the right credentials (the
target is up, driftwatch_ series are queryable) and, in a second job, with a wrong password (the
target is down with a 401, and no driftwatch_ series carries that job). Plain requests: /reports
without credentials gets 401 and no report, with them the report; /api is off (404).
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import bcrypt
import numpy as np
import pytest
import yaml
from kafka import KafkaProducer

from driftwatch.cli.demo import make_records, reference_frame
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.conftest import require
from tests.promstack import INSTALL_HINT, Prometheus, StackError, prometheus_binary, static_job
from tests.tlscerts import make_certs
from tests.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

USER = "prometheus"
PASSWORD = "scrape-me-please"
WAIT = 60.0
MODEL = "churn"
ROWS = 600  # above window.min_rows (500), so the check gives a verdict and a report


@pytest.fixture
def topic(broker: LocalBroker) -> Iterator[str]:
    if prometheus_binary() is None:
        require("Prometheus (/usr/bin/prometheus)", INSTALL_HINT)
    name = f"http-tls-{uuid.uuid4().hex[:8]}"
    broker.create_topic(name, partitions=1)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    for value in make_records(MODEL, np.random.default_rng(3), ROWS, False, time.time()):
        producer.send(name, key=MODEL.encode(), value=value)
    producer.flush()
    producer.close()
    yield name


def write_config(directory: Path, bootstrap: str, topic: str, port: int) -> Path:
    certs = make_certs(directory / "tls")
    reference_frame(MODEL, rows=1000).to_csv(directory / "ref.csv", index=False)
    web = {
        "tls_server_config": {"cert_file": "tls/server.crt", "key_file": "tls/server.key"},
        "basic_auth_users": {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()},
    }
    (directory / "web.yml").write_text(yaml.safe_dump(web), encoding="utf-8")
    assert certs.ca == directory / "tls" / "ca.crt"
    config = {
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "topic": topic,
            "group_id": f"tls-{uuid.uuid4().hex[:6]}",
        },
        "http": {"host": "127.0.0.1", "port": port, "web_config_file": "web.yml", "api": "off"},
        "models": {
            MODEL: {
                "reference": "ref.csv",
                "features": [{"name": "plan", "type": "categorical"}, "sessions_per_week", "monthly_spend"],
                "schedule": {"every": "1s"},
            }
        },
        "state": {"path": str(directory / "state.sqlite")},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def get(url: str, ca: Path, password: str | None = None) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url)
    if password is not None:
        token = base64.b64encode(f"{USER}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=str(ca))
    try:
        # a report renders in seconds, more on a loaded machine: the client waits as a browser would
        with urllib.request.urlopen(request, timeout=60, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_prometheus_scrapes_over_tls_with_basic_auth(broker: LocalBroker, topic: str, tmp_path: Path) -> None:
    port = free_port()
    target = f"127.0.0.1:{port}"
    ca = tmp_path / "tls" / "ca.crt"
    with ExitStack() as stack:
        daemon = Daemon(load_settings(write_config(tmp_path, broker.bootstrap, topic, port)))
        daemon.start()
        stack.callback(daemon.stop)
        base = f"https://{target}"

        status, headers, body = get(f"{base}/reports/{MODEL}/latest.html", ca)
        assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="driftwatch"'
        assert b"<html" not in body.lower() and "error" in json.loads(body)
        status, _, body = get(f"{base}/reports/{MODEL}/latest.html", ca, "wrong")
        assert status == 401 and b"<html" not in body.lower()
        status, _, body = get(f"{base}/reports/{MODEL}/latest.html", ca, PASSWORD)
        assert status in (200, 409), body  # past auth: the report, or "no check yet" before the first check
        last: list[Any] = []

        def reported() -> bool:
            last[:] = get(f"{base}/reports/{MODEL}/latest.html", ca, PASSWORD)[::2]
            return bool(last[0] == 200)

        wait_for(
            reported, WAIT, lambda: f"the report after the model's first check; last: {last}", interval=0.5
        )
        status, _, body = get(f"{base}/api/models", ca, PASSWORD)
        assert status == 404 and "/api/models" not in json.loads(body)["endpoints"]
        status, _, body = get(f"{base}/metrics", ca)
        assert status == 401 and b"driftwatch_" not in body
        assert get(f"{base}/healthz", ca)[0] == 200  # probes stay open for Kubernetes

        def job(name: str, password: str) -> dict[str, Any]:
            return static_job(
                name,
                [target],
                scheme="https",
                tls_config={"ca_file": str(ca)},
                basic_auth={"username": USER, "password": password},
            )

        prometheus = stack.enter_context(
            Prometheus(tmp_path / "prometheus", [job("driftwatch", PASSWORD), job("intruder", "wrong")])
        )
        try:
            prometheus.wait_for_target("driftwatch", timeout=WAIT)
            series = prometheus.wait_for('{job="driftwatch", __name__=~"driftwatch_.+"}', timeout=WAIT)
            assert any(s["metric"]["__name__"] == "driftwatch_window_rows" for s in series), series
            down = prometheus.wait_for('up{job="intruder"} == 0', timeout=WAIT)
            assert down[0]["metric"]["instance"] == target
            intruder = [t for t in prometheus.targets() if t["labels"]["job"] == "intruder"]
            assert intruder and all(t["health"] == "down" for t in intruder), intruder
            assert all("401" in t["lastError"] for t in intruder), intruder
            assert prometheus.query('{job="intruder", __name__=~"driftwatch_.+"}') == []
        except (StackError, AssertionError) as exc:
            raise AssertionError(f"{exc}\n{prometheus.log_tail()}") from None
