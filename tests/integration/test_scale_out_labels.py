"""Labels join wherever they are read: on the real broker, three scaled-out replicas join every label
of a model to its predictions at the model's owner, as one plain replica joins them.

The predictions (with prediction ids) are spread over six partitions, their labels over the three
partitions of a separate labels topic, both unkeyed: the replicas that read a prediction and its label
are most often neither the same one nor the model's owner. The three replicas run with
``kafka.client: confluent`` too (librdkafka reads both topics; what it read is forwarded to the owner).
"""

from __future__ import annotations

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
from tests.integration.scaleout import produce_labelled, write_config
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

LABELLED = "credit-a"
PREDICTIONS = 1500


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[WebhookReceiver]:
    monkeypatch.setenv(SECRET_ENV, "scale-out-secret")
    with WebhookReceiver(b"scale-out-secret") as server:
        yield server


def _joined(daemon: Daemon) -> int:
    return int(daemon.metrics.labels_joined.labels(LABELLED)._value.get())


def _rejected(daemon: Daemon) -> dict[str, float]:
    """labels_rejected by reason (the non-zero ones)."""
    return {
        sample.labels["reason"]: sample.value
        for metric in daemon.metrics.labels_rejected.collect()
        for sample in metric.samples
        if sample.name.endswith("_total") and sample.value
    }


@pytest.mark.parametrize(
    ("scaled", "client"),
    [(True, "kafka-python"), (False, "kafka-python"), (True, "confluent")],
    ids=["three-replicas", "one-plain-replica", "three-replicas-confluent"],
)
def test_every_label_joins_at_the_models_owner(
    broker: LocalBroker, tmp_path: Path, receiver: WebhookReceiver, scaled: bool, client: str
) -> None:
    topic, labels_topic = f"preds-{uuid.uuid4().hex[:8]}", f"labels-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=6)
    broker.create_topic(labels_topic, partitions=3)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    sent = produce_labelled(producer, topic, labels_topic, LABELLED, np.random.default_rng(3), PREDICTIONS)
    producer.close()
    assert sent == PREDICTIONS

    group = f"g-{uuid.uuid4().hex[:8]}"
    daemons = [
        Daemon(
            load_settings(
                write_config(
                    tmp_path / f"r{i}",
                    broker.bootstrap,
                    topic,
                    group,
                    free_port(),
                    receiver.url,
                    scale_out=scaled,
                    replica=f"r{i}",
                    labels_topic=labels_topic,
                    labelled=LABELLED,
                    client=client,
                )
            )
        )
        for i in range(3 if scaled else 1)
    ]
    for daemon in daemons:
        daemon.start()
    try:

        def owners() -> list[Daemon]:
            return [d for d in daemons if d.owner is None or d.owner.owns(LABELLED)]

        wait_for(
            lambda: len(owners()) == 1 and _joined(owners()[0]) == sent,
            120,
            lambda: (
                f"every label joined at the one owner of {LABELLED}: "
                f"{[(d.owner is None or d.owner.owns(LABELLED), _joined(d)) for d in daemons]}, "
                f"rejected {[_rejected(d) for d in daemons]}"
            ),
        )
        (owner,) = owners()
        assert owner.windows[LABELLED].seen() == PREDICTIONS
        assert [_rejected(d) for d in daemons] == [{} for _ in daemons]
        assert sum(_joined(d) for d in daemons) == sent  # joined once, at the owner only
        if scaled:
            # the labels were read (and the predictions windowed) by more than the owner alone
            assert (
                sum(d.metrics.records_consumed.labels(LABELLED)._value.get() for d in daemons) == PREDICTIONS
            )
            assert owner.labels is not None
            assert owner.labels.pending_count(LABELLED) == 0
            assert owner.labels.path != str(owner.settings.state.file)  # private to the process
        # realized performance runs, on the owner only, with every label
        results = [d.run_check(LABELLED) for d in daemons]
        ran = [r for r in results if r is not None]
        assert len(ran) == 1
        performance = ran[0].performance
        assert performance is not None and performance.realized is not None, performance
        assert performance.realized.labelled_rows == sent
        assert performance.realized.status != "not enough labels"
        assert "accuracy" in performance.realized.values
    finally:
        for daemon in daemons:
            daemon.stop(timeout=10.0)


def test_the_join_state_moves_with_the_model(
    broker: LocalBroker, tmp_path: Path, receiver: WebhookReceiver
) -> None:
    """The owner stops: the replica that takes the model over has its joined rows (from the last
    checkpoint, written as the owner left), and its realized performance reads them all."""
    topic, labels_topic = f"preds-{uuid.uuid4().hex[:8]}", f"labels-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=6)
    broker.create_topic(labels_topic, partitions=3)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20)
    sent = produce_labelled(producer, topic, labels_topic, LABELLED, np.random.default_rng(4), PREDICTIONS)
    producer.close()
    group = f"g-{uuid.uuid4().hex[:8]}"
    daemons = [
        Daemon(
            load_settings(
                write_config(
                    tmp_path / f"r{i}",
                    broker.bootstrap,
                    topic,
                    group,
                    free_port(),
                    receiver.url,
                    replica=f"r{i}",
                    labels_topic=labels_topic,
                    labelled=LABELLED,
                )
            )
        )
        for i in range(2)
    ]
    for daemon in daemons:
        daemon.start()
    try:

        def owners() -> list[Daemon]:
            return [d for d in daemons if d.owner is not None and d.owner.owns(LABELLED)]

        wait_for(
            lambda: len(owners()) == 1 and _joined(owners()[0]) == sent,
            120,
            lambda: f"every label joined: {[(d.replica, _joined(d)) for d in daemons]}",
        )
        (first,) = owners()
        first.stop(timeout=10.0)
        daemons.remove(first)
        (second,) = daemons
        assert second.labels is not None
        labels = second.labels
        wait_for(
            lambda: (
                second.owner is not None
                and second.owner.owns(LABELLED)
                and labels.joined_count(LABELLED) == sent
            ),
            120,
            lambda: (
                f"{second.replica} to own {LABELLED} with every joined row: {labels.joined_count(LABELLED)}"
            ),
        )
        assert _joined(second) == 0  # restored, not joined again
        result = second.run_check(LABELLED)
        assert result is not None and result.performance is not None
        assert result.performance.realized is not None
        assert result.performance.realized.labelled_rows == sent
    finally:
        for daemon in daemons:
            daemon.stop(timeout=10.0)
