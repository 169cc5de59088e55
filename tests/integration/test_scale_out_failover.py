"""Replicas are disposable: SIGKILL the owner of a drifting model mid-episode, then restart every
replica one by one, each time with an empty state directory; on the real broker, three replicas.

- one ``firing`` and one ``resolved`` event for the episode at the receiver (distinct Idempotency-Keys),
  however ownership moved meanwhile; the firing event, still pending (the receiver was down) when
  its owner was killed, is delivered by the next owner;
- every record counted into its model's window exactly once (the windows hold more than was sent);
- after a move, the new owner's first check equals the old owner's last one (same window, restored
  from the changelog, not from a local file);
- no replica logs a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kafka import KafkaProducer

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker, free_port
from tests.clients import CLIENTS
from tests.integration.scaleout import MODELS, api_models, produce, write_config
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

SECRET = "failover-secret"
DRIFTING = "credit-a"
RATE = 150  # records per model per second
WINDOWS = {DRIFTING: ("12s", 100_000)}


class Replica:
    def __init__(
        self, root: Path, name: str, bootstrap: str, topic: str, group: str, url: str, client: str
    ) -> None:
        self.root, self.name, self.port = root, name, free_port()
        self.args = (bootstrap, topic, group, url)
        self.client = client
        self.generation = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.logs: list[Path] = []

    def start(self) -> None:
        """Start with a new, empty state directory."""
        self.generation += 1
        directory = self.root / f"{self.name}-{self.generation}"
        bootstrap, topic, group, url = self.args
        config = write_config(
            directory,
            bootstrap,
            topic,
            group,
            self.port,
            url,
            replica=self.name,
            every="1s",
            windows=WINDOWS,
            checkpoint_interval="0.3s",
            client=self.client,
        )
        log = directory / "daemon.log"
        self.logs.append(log)
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "driftwatch", "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def signal(self, signum: int) -> None:
        assert self.process is not None
        self.process.send_signal(signum)
        self.process.wait(30)

    def owned(self) -> dict[str, Any]:
        body = api_models(self.port) or {}
        return {name: state for name, state in body.items() if state.get("owned")}

    def tail(self) -> str:
        return "\n".join(
            f"--- {log}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-30:])
            for log in self.logs[-2:]
        )


class Traffic(threading.Thread):
    """RATE records per model per second; the drifting model shifted until ``calm`` is set."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic = bootstrap, topic
        self.stop, self.calm = threading.Event(), threading.Event()
        self.sent: Counter[str] = Counter()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            producer = KafkaProducer(bootstrap_servers=self.bootstrap, linger_ms=10)
            rng = np.random.default_rng(3)
            while not self.stop.is_set():
                shifted = set() if self.calm.is_set() else {DRIFTING}
                self.sent += produce(producer, self.topic, rng, RATE // 4, shifted)
                self.stop.wait(0.25)
            producer.close()
        except BaseException as exc:  # reported by the test
            self.error = exc


def _events(receiver: WebhookReceiver) -> dict[str, set[str]]:
    """transition -> distinct Idempotency-Keys of the drifting model's data_drift events."""
    out: dict[str, set[str]] = {}
    for hook in list(receiver.received):
        event = hook["json"] or {}
        if event.get("model") == DRIFTING and event.get("check") == "data_drift":
            out.setdefault(event["transition"], set()).add(hook["key"])
    return out


def _owners(replicas: list[Replica]) -> dict[str, list[Replica]]:
    owners: dict[str, list[Replica]] = {model: [] for model in MODELS}
    for replica in replicas:
        for model in replica.owned():
            owners[model].append(replica)
    return owners


def _seen(replicas: list[Replica]) -> dict[str, int]:
    """Each model's records in its window, from its one owner (-1 while it has none or two)."""
    out = {}
    for model, owners in _owners(replicas).items():
        state = owners[0].owned().get(model) if len(owners) == 1 else None
        out[model] = int(state["records_seen"]) if state else -1
    return out


def _ready(replica: Replica) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{replica.port}/readyz", timeout=2) as answer:
            return bool(answer.status == 200)
    except (OSError, ValueError):
        return False


def _latest(replica: Replica, model: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{replica.port}/api/models", timeout=2) as answer:
            body = json.loads(answer.read())
    except (OSError, ValueError):
        return None
    state = body.get(model) or {}
    return state.get("latest") if state.get("owned") else None


@CLIENTS
def test_owner_killed_mid_episode_and_rolling_restart(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    topic = f"failover-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    # the receiver is down when the episode starts: the firing event is still pending in the owner's
    # outbox when the owner is killed, and its next owner must deliver it
    receiver_down = threading.Event()
    receiver_down.set()
    with WebhookReceiver(
        SECRET.encode(), status=lambda _: 503 if receiver_down.is_set() else 200
    ) as receiver:
        replicas = [
            Replica(tmp_path, f"r{i}", broker.bootstrap, topic, group, receiver.url, client) for i in range(3)
        ]
        for replica in replicas:
            replica.start()
        traffic = Traffic(broker.bootstrap, topic)
        traffic.start()
        try:
            # the episode starts: the drifting model's owner fires
            wait_for(
                lambda: "firing" in _events(receiver),
                120,
                lambda: "a firing event; " + "\n".join(r.tail() for r in replicas),
            )
            (owner,) = _owners(replicas)[DRIFTING]
            owner.signal(signal.SIGKILL)  # mid-episode, mid-traffic, its firing event undelivered
            assert not [h for h in receiver.received if h["status"] == 200]
            receiver_down.clear()
            owner.start()  # empty state directory
            wait_for(
                lambda: any(
                    h["status"] == 200 and (h["json"] or {}).get("transition") == "firing"
                    for h in receiver.received
                ),
                120,
                lambda: (
                    "the pending firing event delivered by the new owner; "
                    + "\n".join(r.tail() for r in replicas)
                ),
            )
            time.sleep(4.0)  # the dead member's partitions move once its session times out (6 s)
            traffic.calm.set()  # the drift ends; the window (12 s) forgets it
            wait_for(
                lambda: "resolved" in _events(receiver),
                120,
                lambda: (
                    f"a resolved event (events {_events(receiver)}); " + "\n".join(r.tail() for r in replicas)
                ),
            )
            traffic.stop.set()
            traffic.join(30)
            assert traffic.error is None, f"producing failed: {traffic.error!r}"
            exact = {m: n for m, n in traffic.sent.items() if m != DRIFTING}  # 1 h windows: nothing expires
            wait_for(
                lambda: {m: _seen(replicas)[m] for m in exact} == exact,
                120,
                lambda: f"the windows to hold exactly {exact} (now {_seen(replicas)})",
            )

            # rolling restart, each replica with an empty state directory: nothing lost, nothing twice
            for replica in replicas:
                # its models' last checks, once they ran on every record (a check just after a restore
                # may have run before the owner caught up with what followed its last checkpoint)
                before = {
                    m: wait_for(
                        lambda r=replica, m=m: (  # type: ignore[misc]
                            (latest := _latest(r, m)) is not None
                            and latest["records_seen"] == exact[m]
                            and latest
                        ),
                        30,
                        f"a check of {m} on all its records",
                    )
                    for m in replica.owned()
                    if m != DRIFTING
                }
                replica.signal(signal.SIGTERM)
                assert replica.process is not None and replica.process.returncode == 0
                replica.start()
                # as a rolling update does: the next replica goes once this one is ready (it has joined
                # the owners' group and restored what it was given)
                wait_for(
                    lambda r=replica: _ready(r),  # type: ignore[misc]
                    90,
                    lambda r=replica: f"{r.name} to be ready: {r.tail()}",  # type: ignore[misc]
                )
                wait_for(
                    lambda: all(len(o) == 1 for o in _owners(replicas).values()),
                    90,
                    lambda: (
                        "one owner per model again: "
                        + str({m: [r.name for r in o] for m, o in _owners(replicas).items()})
                    ),
                )
                wait_for(
                    lambda: {m: _seen(replicas)[m] for m in exact} == exact,
                    60,
                    lambda: f"the windows to hold exactly {exact} after a restart (now {_seen(replicas)})",
                )
                # a model that moved: its new owner's first check gives the old owner's last answer
                for model, result in before.items():
                    if result is None:
                        continue
                    (new_owner,) = _owners(replicas)[model]
                    wait_for(
                        lambda o=new_owner, m=model: _latest(o, m) is not None,  # type: ignore[misc]
                        30,
                        f"a check of {model}",
                    )
                    again = _latest(new_owner, model)
                    assert again is not None
                    for field in ("rows", "records_seen", "status", "drift_share", "columns"):
                        assert again.get(field) == result.get(field), (model, field, again, result)
            events = _events(receiver)
            assert {t: len(k) for t, k in events.items()} == {"firing": 1, "resolved": 1}, events
            assert all(hook["valid"] for hook in receiver.received)
            delivered = Counter(
                (h["json"] or {}).get("transition") for h in receiver.received if h["status"] == 200
            )
            assert delivered["firing"] >= 1 and delivered["resolved"] >= 1, delivered
        finally:
            traffic.stop.set()
            for replica in replicas:
                if replica.process is not None and replica.process.poll() is None:
                    replica.process.send_signal(signal.SIGTERM)
                    try:
                        replica.process.wait(20)
                    except subprocess.TimeoutExpired:
                        replica.process.kill()
                        replica.process.wait(5)
    for replica in replicas:
        for log in replica.logs:
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log}:\n{text[-3000:]}"
