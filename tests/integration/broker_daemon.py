"""One in-process daemon against the real broker, as the single-model check tests run it.

`running_daemon` creates the test's topics (named by role: ``predictions``, ``labels``, ``dead``),
writes a config of the given models around them (a consumer group that forms in about a second, the
HTTP server on a free port, one signed webhook target ``retrain`` pointing at a `Receiver`, the state
in the test's directory), starts the daemon and stops it on the way out. The `BrokerDaemon` it gives
sends records, reads /metrics and /api, and waits for what the tests wait for: records consumed,
scheduled checks run, a webhook naming a check.

    with running_daemon(broker, tmp_path, monkeypatch, "model-secret", {"bot": {...}}) as run:
        run.send("predictions", records)
        fired = run.webhook("embedding_drift:text_vec")
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import use_client
from tests.integration.scoped import GROUP_OPTIONS, api_model, events, write_config
from tests.kafkautil import Samples, metric, scrape, wait_for
from tests.receivers import Receiver

__all__ = ["BrokerDaemon", "running_daemon", "send"]

# a topic's role -> the kafka setting naming it
TOPIC_KEYS = {"predictions": "topic", "labels": "labels_topic", "dead": "dead_letter_topic"}


def send(bootstrap: str, topic: str, values: Iterable[bytes]) -> None:
    """Send every value to ``topic`` and wait until the broker has them."""
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    for value in values:
        producer.send(topic, value=value)
    producer.flush()
    producer.close()


@dataclass
class BrokerDaemon:
    daemon: Daemon
    port: int
    bootstrap: str
    topics: dict[str, str]  # role -> topic name
    receiver: Receiver

    def send(self, role: str, values: Iterable[bytes]) -> None:
        send(self.bootstrap, self.topics[role], values)

    def samples(self) -> Samples:
        return scrape(self.port)

    def value(self, name: str, **labels: str) -> float | None:
        """The sample of ``name`` with exactly ``labels`` on /metrics now (None: no such series)."""
        return metric(scrape(self.port), name, **labels)

    def api(self, model: str) -> dict[str, Any]:
        """``/api/models/<model>``."""
        return api_model(self.port, model)

    def events(self) -> list[dict[str, Any]]:
        """The webhook bodies received so far, in arrival order."""
        return events(self.receiver)

    def consumed(self, model: str, rows: int, timeout: float = 30.0) -> None:
        """Wait until the daemon has consumed at least ``rows`` records of ``model``."""
        wait_for(
            lambda: (self.value("driftwatch_records_consumed_total", model=model) or 0) >= rows,
            timeout,
            f"{rows} records of {model} consumed",
        )

    def checks(self, model: str, check: str = "data_drift") -> float:
        """How many scheduled runs of ``check`` on ``model`` have ended ok."""
        return self.value("driftwatch_check_runs_total", model=model, check=check, outcome="ok") or 0.0

    def more_checks(self, model: str, count: int, timeout: float = 30.0) -> None:
        """Wait for ``count`` more scheduled checks of ``model`` than have run now."""
        runs = self.checks(model)
        wait_for(lambda: self.checks(model) >= runs + count, timeout, f"{count} more checks of {model}")

    def webhook(self, check: str, timeout: float = 60.0) -> dict[str, Any]:
        """The first webhook body naming ``check``, once it has arrived."""

        def first() -> dict[str, Any] | None:
            return next((event for event in self.events() if event.get("check") == check), None)

        found = wait_for(first, timeout, f"the {check} webhook")
        assert found is not None  # wait_for returns a true value
        return found

    def outbox_empty(self, timeout: float = 15.0) -> None:
        """Wait until the ``retrain`` target has nothing left to deliver."""
        wait_for(
            lambda: self.value("driftwatch_webhook_outbox_pending", target="retrain") == 0.0,
            timeout,
            "the outbox to be empty",
        )


@contextmanager
def running_daemon(
    broker: LocalBroker,
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    secret: str,
    models: Mapping[str, Any],
    *,
    topics: Sequence[str] = ("predictions",),
    partitions: Mapping[str, int] | None = None,
    kafka: Mapping[str, Any] | None = None,
    client: str | None = None,
    clock: Callable[[], float] | None = None,
) -> Iterator[BrokerDaemon]:
    """A daemon watching ``models`` (their config sections, references under ``directory``) on fresh
    topics of the given roles (one partition each unless ``partitions`` says), with ``kafka`` settings
    added to its kafka section, read with ``client`` (`tests.clients.use_client`) and on ``clock``
    when given; its webhooks are signed with ``secret``."""
    monkeypatch.setenv(SECRET_ENV, secret)
    suffix = uuid.uuid4().hex[:8]
    names = {role: f"{role}-{suffix}" for role in topics}
    for role, topic in names.items():
        broker.create_topic(topic, partitions=(partitions or {}).get(role, 1))
    port = free_port()
    with Receiver(secret.encode()) as receiver:
        path = write_config(
            directory,
            {
                "kafka": {
                    "bootstrap_servers": [broker.bootstrap],
                    **{TOPIC_KEYS[role]: topic for role, topic in names.items()},
                    "group_id": f"group-{suffix}",
                    "options": GROUP_OPTIONS,
                    **(kafka or {}),
                },
                "http": {"host": "127.0.0.1", "port": port},
                "models": dict(models),
                "webhooks": {
                    "retrain": {"url": receiver.url, "secret": {"env": SECRET_ENV}, "timeout": "5s"}
                },
                "state": {"path": str(directory / "state.sqlite")},
            },
        )
        if client is not None:
            use_client(path, client)
        settings = load_settings(path)
        daemon = Daemon(settings) if clock is None else Daemon(settings, clock=clock)
        daemon.start()
        try:
            yield BrokerDaemon(daemon, port, broker.bootstrap, names, receiver)
        finally:
            daemon.stop()
