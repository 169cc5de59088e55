"""The daemon consumes through a real TLS endpoint with each Kafka client: the kafka.ssl_* settings proven.

The test broker (Tansu) listens in plain text on 127.0.0.1:P but advertises 127.0.0.1:T, where Debian's
stunnel terminates TLS with a certificate from a throwaway CA (tests/tlscerts.py) and forwards to P.
Every client therefore speaks TLS to T, for the bootstrap and for every connection after the metadata.
The records are produced over TLS too (librdkafka), the daemon (``security_protocol: SSL``,
``ssl_cafile``, and ``ssl_certfile``/``ssl_keyfile`` when stunnel requires client certificates) windows
every one of them and commits their offsets. Given another CA, the daemon does not crash: it says that
Kafka is down (``driftwatch_kafka_up 0``, ``/readyz`` 503 naming Kafka) and keeps serving ``/healthz``.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from driftwatch.cli.demo import make_records, write_demo_config
from driftwatch.cli.localbroker import BrokerUnavailableError, free_port, tansu_binary
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS
from tests.conftest import require
from tests.kafkautil import get, metric, scrape, update_config, wait_for
from tests.tlscerts import Certs, make_certs

pytestmark = [pytest.mark.broker, pytest.mark.slow]

MODELS = ("credit-risk", "churn")
PER_MODEL = 150
STUNNEL_HINT = "install Debian's stunnel4 (sudo apt-get install stunnel4; `make test` does it as root)"


def stunnel_binary() -> str | None:
    return shutil.which("stunnel4") or shutil.which("stunnel")


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a process this test started (by its handle, so by its PID)."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


def refused_without_client_certificate(port: int, certs: Certs) -> bool:
    """Whether the endpoint ends a TLS connection that trusts its CA but shows no client certificate."""
    context = ssl.create_default_context(cafile=str(certs.ca))
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
        ):
            # TLS 1.3 finishes the client's handshake first: the refusal comes with the first read
            tls.sendall(b"\0\0\0\0")
            return tls.recv(1) == b""
    except TimeoutError:  # the connection was let through to the broker, which waits for the rest
        return False
    except (ssl.SSLError, ConnectionError):
        return True


@dataclass(frozen=True)
class TlsBroker:
    bootstrap: str  # the TLS endpoint, the only address the broker advertises
    certs: Certs
    mutual: bool  # stunnel requires a client certificate signed by the CA
    log: Path

    def ssl(self, ca: Path | None = None) -> dict[str, Any]:
        """kafka-python's TLS settings for a client of this endpoint (with a client certificate when mutual)."""
        config: dict[str, Any] = {"security_protocol": "SSL", "ssl_cafile": str(ca or self.certs.ca)}
        if self.mutual:
            config |= {"ssl_certfile": str(self.certs.client_cert), "ssl_keyfile": str(self.certs.client_key)}
        return config


@pytest.fixture(params=[False, True], ids=["tls", "mutual-tls"])
def tls_broker(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TlsBroker]:
    """Tansu on a plain port behind stunnel, which accepts TLS (and, mutual, requires a client certificate)."""
    mutual: bool = request.param
    stunnel = stunnel_binary()
    if stunnel is None:
        require("stunnel (Debian's stunnel4)", STUNNEL_HINT)
        raise AssertionError("unreachable")
    try:
        tansu = str(tansu_binary())
    except BrokerUnavailableError as exc:
        require("the Tansu Kafka-protocol broker", str(exc))
        raise
    certs = make_certs(tmp_path / "certs")
    plain, tls = free_port(), free_port()
    broker_log = open(tmp_path / "tansu.log", "ab")  # noqa: SIM115 (closed below)
    broker = subprocess.Popen(
        [
            tansu,
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{plain}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{tls}",
        ],
        stdout=broker_log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    processes = [broker]
    try:
        wait_for(
            lambda: broker.poll() is not None or listening(plain),
            15,
            f"the broker listening on 127.0.0.1:{plain}",
        )
        assert broker.poll() is None, (tmp_path / "tansu.log").read_text(errors="replace")
        config = tmp_path / "stunnel.conf"
        lines = [
            "foreground = yes",
            "debug = info",
            f"output = {tmp_path / 'stunnel.log'}",
            "[kafka]",
            f"accept = 127.0.0.1:{tls}",
            f"connect = 127.0.0.1:{plain}",
            f"cert = {certs.server_cert}",
            f"key = {certs.server_key}",
        ]
        if mutual:
            lines += [f"CAfile = {certs.ca}", "requireCert = yes", "verifyChain = yes"]
        config.write_text("\n".join(lines) + "\n", encoding="utf-8")
        terminator = subprocess.Popen(
            [stunnel, str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
        )
        processes.append(terminator)
        wait_for(
            lambda: terminator.poll() is not None or listening(tls),
            15,
            f"stunnel listening on 127.0.0.1:{tls}",
        )
        stunnel_log = tmp_path / "stunnel.log"
        assert terminator.poll() is None, (
            stunnel_log.read_text(errors="replace") if stunnel_log.exists() else ""
        )
        if mutual:
            assert refused_without_client_certificate(tls, certs), (
                "stunnel let a client in without a certificate"
            )
        yield TlsBroker(f"127.0.0.1:{tls}", certs, mutual, stunnel_log)
    finally:
        for process in reversed(processes):
            stop(process)
        broker_log.close()


def create_topic(broker: TlsBroker, topic: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10_000, **broker.ssl())
    try:
        admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        admin.close()


def produce(broker: TlsBroker, topic: str) -> int:
    """Records of both models, produced over TLS by librdkafka; how many."""
    from confluent_kafka import Producer

    config: dict[str, Any] = {
        "bootstrap.servers": broker.bootstrap,
        "security.protocol": "SSL",
        "ssl.ca.location": str(broker.certs.ca),
        "linger.ms": 5,
    }
    if broker.mutual:
        config |= {
            "ssl.certificate.location": str(broker.certs.client_cert),
            "ssl.key.location": str(broker.certs.client_key),
        }
    producer = Producer(config)
    rng = np.random.default_rng(11)
    sent = 0
    for model in MODELS:
        for value in make_records(model, rng, PER_MODEL, False, time.time()):
            producer.produce(topic, key=model.encode(), value=value)
            sent += 1
    assert producer.flush(30) == 0, "records left unsent over TLS"
    return sent


def committed(broker: TlsBroker, group: str, topic: str) -> int | None:
    consumer = KafkaConsumer(
        bootstrap_servers=broker.bootstrap, group_id=group, enable_auto_commit=False, **broker.ssl()
    )
    try:
        return consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close()


def daemon_config(
    tmp_path: Path, broker: TlsBroker, topic: str, group: str, port: int, client: str, tls: dict[str, Any]
) -> Path:
    config = write_demo_config(
        tmp_path, broker.bootstrap, topic, port, "http://127.0.0.1:9/unused", every="1h"
    )

    def change(raw: dict[str, Any]) -> None:
        raw["kafka"].update(tls)
        raw["kafka"]["group_id"] = group
        raw["kafka"]["client"] = client
        raw.pop("webhooks")
        for model in raw["models"].values():
            model["webhooks"] = []

    update_config(config, change)
    return config


def consumed(port: int) -> dict[str, float | None]:
    samples = scrape(port)
    return {model: metric(samples, "driftwatch_records_consumed_total", model=model) for model in MODELS}


@CLIENTS
def test_the_daemon_consumes_through_the_tls_endpoint(
    tls_broker: TlsBroker, tmp_path: Path, client: str
) -> None:
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    group = f"tls-{uuid.uuid4().hex[:8]}"
    create_topic(tls_broker, topic)
    total = produce(tls_broker, topic)
    port = free_port()
    config = daemon_config(tmp_path, tls_broker, topic, group, port, client, tls_broker.ssl())
    daemon = Daemon(load_settings(config))
    daemon.start()
    try:
        wait_for(
            lambda: consumed(port) == dict.fromkeys(MODELS, float(PER_MODEL)),
            45,
            lambda: (
                f"{PER_MODEL} records per model consumed over TLS (now {consumed(port)}); stunnel's log "
                f"ends: {tls_broker.log.read_text(errors='replace')[-2000:]}"
            ),
        )
        assert {model: daemon.windows[model].rows() for model in MODELS} == dict.fromkeys(MODELS, PER_MODEL)
        assert metric(scrape(port), "driftwatch_kafka_up") == 1
        wait_for(
            lambda: committed(tls_broker, group, topic) == total,
            20,
            lambda: f"offset {total} committed (now {committed(tls_broker, group, topic)})",
        )
    finally:
        daemon.stop()


@CLIENTS
def test_another_ca_keeps_the_daemon_out_and_says_so(
    tls_broker: TlsBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    client: str,
) -> None:
    caplog.set_level(logging.WARNING)
    topic = f"tls-{uuid.uuid4().hex[:8]}"
    create_topic(tls_broker, topic)
    produce(tls_broker, topic)
    other = make_certs(tmp_path / "other-ca")
    port = free_port()
    tls = tls_broker.ssl(ca=other.ca)
    config = daemon_config(tmp_path, tls_broker, topic, f"tls-{uuid.uuid4().hex[:8]}", port, client, tls)
    daemon = Daemon(load_settings(config))
    daemon.start()
    try:

        def down() -> bool:
            status, body = get(port, "/readyz")
            return (
                status == 503
                and b"kafka" in body.lower()
                and metric(scrape(port), "driftwatch_kafka_up") == 0
            )

        wait_for(down, 30, lambda: f"kafka_up 0 and /readyz 503 naming Kafka (now {get(port, '/readyz')})")
        assert get(port, "/healthz")[0] == 200
        assert consumed(port) == dict.fromkeys(MODELS, 0.0)
        assert {model: daemon.windows[model].rows() for model in MODELS} == dict.fromkeys(MODELS, 0)
        assert daemon._consumer_thread.is_alive()
    finally:
        daemon.stop()
    # the client's own log line says why (kafka-python: CERTIFICATE_VERIFY_FAILED; librdkafka: SSL handshake)
    lines = [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    assert any("certificate verify failed" in line.lower() for line in lines), lines[-10:]
