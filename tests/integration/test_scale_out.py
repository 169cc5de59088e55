"""N replicas act as one driftwatch: on the real broker, the windows three scaled-out replicas build
are the windows one plain replica builds from the same input, each model owned by exactly one of them.

Six input partitions, four models: two keyed by model name (each on one partition, so one reader
holds all of it), two unkeyed (spread over every partition). Two models overflow max_rows, so their
windows are bottom-k samples that must merge exactly across partitions and replicas.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS
from tests.integration.scaleout import MODELS, produce, write_config
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

PER_MODEL = 3000
WINDOWS = {"credit-a": ("1h", 1000), "churn-b": ("1h", 700)}  # below PER_MODEL: sampled


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    monkeypatch.setenv(SECRET_ENV, "scale-out-secret")
    with WebhookReceiver(b"scale-out-secret") as server:
        yield server


def _daemon(path: Path) -> Daemon:
    daemon = Daemon(load_settings(path))
    daemon.start()
    return daemon


def _window(daemon: Daemon, model: str) -> tuple[set[float], int]:
    snapshot = daemon.windows[model].snapshot(time.time(), keys=True)
    return set(snapshot.frame["__key"].tolist()), snapshot.records_seen


@CLIENTS
def test_three_replicas_build_the_windows_one_replica_builds(
    broker: LocalBroker, tmp_path: Path, receiver: WebhookReceiver, client: str
) -> None:
    topic = f"scale-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=6)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    sent = produce(producer, topic, np.random.default_rng(1), PER_MODEL, junk=25)
    producer.close()

    group = f"g-{uuid.uuid4().hex[:8]}"
    single = _daemon(
        write_config(
            tmp_path / "single",
            broker.bootstrap,
            topic,
            f"{group}-single",
            free_port(),
            receiver.url,
            scale_out=False,
            windows=WINDOWS,
            client=client,
        )
    )
    replicas = [
        _daemon(
            write_config(
                tmp_path / f"r{i}",
                broker.bootstrap,
                topic,
                group,
                free_port(),
                receiver.url,
                replica=f"r{i}",
                windows=WINDOWS,
                client=client,
            )
        )
        for i in range(3)
    ]
    try:

        def owners() -> dict[str, list[Daemon]]:
            return {m: [d for d in replicas if d.owner is not None and d.owner.owns(m)] for m in MODELS}

        wait_for(
            lambda: all(single.windows[m].seen() == sent[m] for m in MODELS),
            90,
            lambda: f"the single replica to window everything: {[single.windows[m].seen() for m in MODELS]}",
        )
        wait_for(
            lambda: all(len(o) == 1 and o[0].windows[m].seen() == sent[m] for m, o in owners().items()),
            120,
            lambda: (
                "one owner per model with every record: "
                + str({m: [(d.replica, d.windows[m].seen()) for d in o] for m, o in owners().items()})
            ),
        )
        # every replica has a part of the input (three readers of six partitions) ...
        assert all(
            sum(d.metrics.records_consumed.labels(m)._value.get() for m in MODELS) > 0 for d in replicas
        )
        for model in MODELS:
            (owner,) = owners()[model]
            keys, seen = _window(owner, model)
            expected_keys, expected_seen = _window(single, model)
            assert seen == expected_seen == sent[model]
            assert len(keys) == min(sent[model], dict(WINDOWS).get(model, ("", 10**9))[1])
            assert keys == expected_keys, f"{model}: the owner's window differs from the single replica's"
        # ... and each counted its part once: together, every record once
        for model in MODELS:
            assert (
                sum(d.metrics.records_consumed.labels(m)._value.get() for d in replicas for m in [model])
                == sent[model]
            )
        # the model's checks run on its owner only
        for model in MODELS:
            results = [d.run_check(model) for d in replicas]
            ran = [r for r in results if r is not None]
            assert len(ran) == 1
            assert ran[0].records_seen == sent[model]
    finally:
        for daemon in [*replicas, single]:
            daemon.stop(timeout=10.0)
