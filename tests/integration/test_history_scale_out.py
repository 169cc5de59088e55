"""The check history of scaled-out replicas is complete on every replica, whichever replica ran each
check: on the real broker, three replicas share four models; a drift episode of one fires and, once
the owner of that model is killed (SIGKILL) and another replica took it over, resolves, with a webhook
receiver. Then every replica's ``GET /api/models/<m>/history`` lists the same checks of every model,
in ran_at order, none twice, at least every check the replicas counted (the killed one's included); the
transitions and deliveries are what the receiver got; ``driftwatch history`` on a replica's file says
the same; and a replica started afterwards with an empty state directory has the same history.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.request
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftwatch.cli.demo import SECRET_ENV, WebhookReceiver
from driftwatch.cli.localbroker import LocalBroker
from driftwatch.cli.main import main
from tests.integration.scaleout import MODELS
from tests.integration.test_scale_out_failover import DRIFTING, Replica, Traffic, _events, _owners, _ready
from tests.waiting import wait_for

pytestmark = pytest.mark.broker

SECRET = "history-scale-out-secret"


def history(replica: Replica, model: str, until: float) -> list[dict[str, Any]] | None:
    """The model's history rows ran by ``until`` as the replica serves them (None: no answer)."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{replica.port}/api/models/{model}/history?to={until}&limit=100000", timeout=5
        ) as answer:
            rows: list[dict[str, Any]] = json.loads(answer.read())
    except (OSError, ValueError):
        return None
    return rows


def past(replica: Replica, model: str, until: float) -> bool:
    """The replica lists a check of ``model`` ran after ``until``."""
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{replica.port}/api/models/{model}/history?limit=1", timeout=5
        ) as answer:
            rows: list[dict[str, Any]] = json.loads(answer.read())
    except (OSError, ValueError):
        return False
    return bool(rows) and rows[-1]["ran_at"] > until


def portable(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows without the ids local to one replica's file."""
    out = []
    for row in rows:
        kept = {k: v for k, v in row.items() if k != "id"}
        kept["transitions"] = [
            {k: v for k, v in t.items() if k not in ("id", "check_id")} for t in row["transitions"]
        ]
        out.append(kept)
    return out


def histories(replicas: list[Replica], until: float) -> dict[str, list[list[dict[str, Any]] | None]]:
    """model -> each replica's portable history up to ``until``."""
    out: dict[str, list[list[dict[str, Any]] | None]] = {}
    for model in MODELS:
        out[model] = []
        for replica in replicas:
            rows = history(replica, model, until)
            out[model].append(None if rows is None else portable(rows))
    return out


def differences(
    found: dict[str, list[list[dict[str, Any]] | None]], agreed: dict[str, list[dict[str, Any]]]
) -> str:
    """What one replica's history has other than the agreed one (for a failure message)."""
    out = []
    for model, rows in agreed.items():
        (mine,) = found[model]
        if mine is None:
            out.append(f"{model}: no answer")
            continue
        out.append(f"{model}: {len(mine)} rows, {len(rows)} agreed")
        for a, b in zip(mine, rows, strict=False):
            if a != b:
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                out.append(f"  first difference at {b['ran_at']}: {[(k, a.get(k), b.get(k)) for k in keys]}")
                break
    return "\n".join(out)


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def check_runs(replica: Replica) -> Counter[str]:
    """model -> its data_drift checks the replica ran to a result (a history row each)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{replica.port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    runs: Counter[str] = Counter()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name == "driftwatch_check_runs_total"
                and labels.get("check") == "data_drift"
                and labels.get("outcome") == "ok"
            ):
                runs[labels["model"]] += int(sample.value)
    return runs


def cli_history(replica: Replica, model: str, capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    config = replica.logs[-1].parent / "driftwatch.yaml"
    capsys.readouterr()
    assert main(["history", model, "-c", str(config), "-f", "json", "--limit", "100000"]) == 0
    rows: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return rows


def test_every_replica_has_every_check_whoever_ran_it(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    topic = f"history-so-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=6)
    group = f"g-{uuid.uuid4().hex[:8]}"
    with WebhookReceiver(SECRET.encode()) as receiver:
        replicas = [
            Replica(tmp_path, f"r{i}", broker.bootstrap, topic, group, receiver.url, "kafka-python")
            for i in range(3)
        ]
        everyone = list(replicas)
        for replica in replicas:
            replica.start()
        traffic = Traffic(broker.bootstrap, topic)
        traffic.start()
        try:
            wait_for(
                lambda: (
                    all(len(o) == 1 for o in _owners(replicas).values())
                    and len({o[0].name for o in _owners(replicas).values()}) > 1
                ),
                120,
                lambda: (
                    "the models spread over the replicas, one owner each: "
                    + str({m: [r.name for r in o] for m, o in _owners(replicas).items()})
                ),
            )
            # the episode starts: the drifting model's owner fires, and the receiver gets it
            wait_for(
                lambda: any(
                    h["status"] == 200 and (h["json"] or {}).get("transition") == "firing"
                    for h in receiver.received
                ),
                120,
                lambda: "a firing event delivered; " + "\n".join(r.tail() for r in replicas),
            )
            (owner,) = _owners(replicas)[DRIFTING]
            # what it ran is in the history topic before it dies: counted now, a second before the kill
            killed_runs = check_runs(owner)
            time.sleep(1.0)
            owner.signal(signal.SIGKILL)
            replicas.remove(owner)
            wait_for(
                lambda: len(_owners(replicas)[DRIFTING]) == 1,
                90,
                lambda: (
                    "another replica to take the drifting model over: "
                    + "\n".join(r.tail() for r in replicas)
                ),
            )
            traffic.calm.set()  # the drift ends; the window (12 s) forgets it
            wait_for(
                lambda: any(
                    h["status"] == 200 and (h["json"] or {}).get("transition") == "resolved"
                    for h in receiver.received
                ),
                120,
                lambda: (
                    f"a resolved event delivered (events {_events(receiver)}); "
                    + "\n".join(r.tail() for r in replicas)
                ),
            )
            time.sleep(2.0)  # the resolved delivery's last update goes to the history topic
            survivors_runs = [check_runs(r) for r in replicas]
            until = time.time()
            runs = killed_runs + sum(survivors_runs, Counter())

            def agreed() -> dict[str, list[dict[str, Any]]] | None:
                # a check running at ``until`` is published when it ends: once every replica has a later
                # check of every model (a model's checks run one after another, and its entries are read
                # in order), what ran by ``until`` is all there
                if not all(past(r, m, until) for r in replicas for m in MODELS):
                    return None
                by_model = histories(replicas, until)
                for rows in by_model.values():
                    if rows[0] is None or any(r != rows[0] for r in rows[1:]):
                        return None
                return {m: rows[0] for m, rows in by_model.items() if rows[0] is not None}

            agreed_rows = wait_for(
                lambda: (
                    (found := agreed()) is not None
                    and all(len(found[m]) >= runs[m] for m in MODELS)
                    and found
                ),
                60,
                lambda: (
                    f"every replica to list the same checks, at least {dict(runs)}: "
                    + str(
                        {
                            m: [None if r is None else len(r) for r in rows]
                            for m, rows in histories(replicas, until).items()
                        }
                    )
                ),
            )
            assert isinstance(agreed_rows, dict)

            # a replica started now, with an empty state directory, reads the same history
            newcomer = Replica(tmp_path, "r3", broker.bootstrap, topic, group, receiver.url, "kafka-python")
            newcomer.start()
            everyone.append(newcomer)
            wait_for(lambda: _ready(newcomer), 90, lambda: f"the new replica to be ready: {newcomer.tail()}")
            wait_for(
                lambda: histories([newcomer], until) == {m: [rows] for m, rows in agreed_rows.items()},
                60,
                lambda: (
                    "the new replica to list the same checks: "
                    + differences(histories([newcomer], until), agreed_rows)
                ),
            )
            # driftwatch history on a replica's file lists the same
            for model, rows in agreed_rows.items():
                served = portable(
                    [row for row in cli_history(replicas[0], model, capsys) if row["ran_at"] <= until]
                )
                assert served == rows
        finally:
            traffic.stop.set()
            traffic.join(30)
            for replica in everyone:
                if replica.process is not None and replica.process.poll() is None:
                    replica.process.send_signal(signal.SIGTERM)
                    try:
                        replica.process.wait(20)
                    except subprocess.TimeoutExpired:
                        replica.process.kill()
                        replica.process.wait(5)
    assert traffic.error is None, f"producing failed: {traffic.error!r}"

    # every check of every model once, in ran_at order, at least every check the replicas ran
    for model, rows in agreed_rows.items():
        ran = [row["ran_at"] for row in rows]
        assert ran == sorted(ran), model
        assert len(set(ran)) == len(ran), f"{model}: a check listed twice"
        assert all(row["result"]["model"] == model for row in rows)
        assert len(rows) >= runs[model] > 0, (model, len(rows), runs)
        # at most what ran meanwhile on the killed replica (in its last second) and after the counts
        assert len(rows) <= runs[model] + 10, (model, len(rows), runs)
    # the drifting model's checks ran on more than one replica: its rows cover the whole episode
    assert agreed_rows[DRIFTING]

    # the transitions and deliveries are what the receiver got
    # (the events of checks ran by then: an event's window ends when its check runs)
    hooks = [h for h in receiver.received if h["json"] and stamp(h["json"]["window_end"]) <= until]
    received = {(h["key"], h["json"]["check"], h["json"]["transition"]) for h in hooks}
    transitions = [
        (t["idempotency_key"], t["check"], t["transition"])
        for rows in agreed_rows.values()
        for row in rows
        for t in row["transitions"]
    ]
    assert sorted(transitions) == sorted(received)
    assert {transition for _, _, transition in transitions} >= {"firing", "resolved"}
    assert all(h["valid"] for h in receiver.received)
    delivered = {h["key"] for h in hooks if h["status"] == 200}
    deliveries = [d for rows in agreed_rows.values() for row in rows for d in row["deliveries"]]
    assert sorted(d["idempotency_key"] for d in deliveries) == sorted(key for key, _, _ in received)
    assert {d["idempotency_key"] for d in deliveries if d["status"] == "delivered"} == delivered
    assert all(d["last_status"] == 200 for d in deliveries if d["status"] == "delivered")
    # a firing transition is at a check that fed a breach of its check, a resolved one at a clean check
    for rows in agreed_rows.values():
        for row in rows:
            for t in row["transitions"]:
                assert row["breaches"][t["check"]] is (t["transition"] == "firing")

    for replica in everyone:
        if replica is owner:
            continue
        for log in replica.logs:
            text = log.read_text(errors="replace")
            assert "Traceback" not in text, f"{log}:\n{text[-3000:]}"
