"""One segment drifts while the model as a whole does not: only that segment's alert fires, once.

A shop model watches features x, y and country (12 values, skewed). Segments by country: the four
busiest values and the pinned country=LU get a scope each, every other country counts in
country:other. Country FR (about 13% of the traffic) has x shifted by one standard deviation: enough
to drift FR's window against the reference's FR rows, too little (x's whole-model distance is about
0.2 for a threshold of 0.3) to drift the whole model. LU's x is shifted by three, but LU has fewer
rows than ``segments.min_rows``: it reports ``not_enough_rows`` and never alerts. The daemon reads the real broker; the test runs its
checks itself and reads what a user would: the webhook receiver, ``/metrics`` and ``/api``. With each
Kafka client (``kafka.client``), and with country a feature of the records or a key of their
``metadata`` (``source: metadata``: segmented by, never drift-tested).
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.integration.scoped import (
    GROUP_OPTIONS,
    Clock,
    api_model,
    events,
    label_values,
    produce,
    write_config,
)
from tests.kafkautil import metric, scrape, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.broker

SECRET = b"segments-test-secret"
MODEL = "shop"
ROWS = 6000
REFERENCE_ROWS = 20_000
COUNTRIES = {
    "DE": 0.24,
    "FR": 0.13,
    "IT": 0.11,
    "ES": 0.10,
    "US": 0.08,
    "GB": 0.07,
    "NL": 0.06,
    "BE": 0.05,
    "PL": 0.045,
    "SE": 0.04,
    "AT": 0.03,
    "LU": 0.015,
}
SHIFTED = "FR"
SHIFT = 1.0  # standard deviations of x
SMALL_SHIFT = 3.0  # the pinned small segment's x: it would drift, had it enough rows for a verdict
THRESHOLD = 0.3  # wasserstein (normed) of x and y
SHARE = 0.3  # one drifted feature of three drifts the dataset
TOP_K = 5
PINNED = "LU"
MIN_ROWS = 150  # segments.min_rows


def countries(rng: np.random.Generator, n: int) -> np.ndarray:
    p = np.array(list(COUNTRIES.values()))
    return rng.choice(list(COUNTRIES), size=n, p=p / p.sum())


def setup(directory: Path, bootstrap: str, topic: str, port: int, hook: str, source: str) -> Path:
    rng = np.random.default_rng(20)
    pd.DataFrame(
        {
            "x": rng.normal(size=REFERENCE_ROWS),
            "y": rng.normal(size=REFERENCE_ROWS),
            "country": countries(rng, REFERENCE_ROWS),
        }
    ).to_csv(directory / "ref.csv", index=False)
    return write_config(
        directory,
        {
            "kafka": {
                "bootstrap_servers": [bootstrap],
                "topic": topic,
                "group_id": f"segments-{uuid.uuid4().hex[:8]}",
                "options": GROUP_OPTIONS,
            },
            "http": {"host": "127.0.0.1", "port": port},
            "models": {
                MODEL: {
                    "reference": "ref.csv",
                    "features": [
                        {"name": "x", "method": "wasserstein", "threshold": THRESHOLD},
                        {"name": "y", "method": "wasserstein", "threshold": THRESHOLD},
                        # a metadata column is not a feature: its segments, not its values, are watched
                        *([{"name": "country", "type": "categorical"}] if source == "feature" else []),
                    ],
                    "window": {"length": "1h", "max_rows": 50_000, "min_rows": 500},
                    "schedule": {"every": "1h"},  # the test runs the checks
                    "drift": {"share": SHARE},
                    "webhooks": ["retrain"],
                    "segments": {
                        "columns": [{"column": "country", "pinned": [PINNED], "source": source}],
                        "top_k": TOP_K,
                        "min_rows": MIN_ROWS,
                        "max_rows": 10_000,  # every record of a segment stays in its window
                        "stability": {"promote_after": 1},
                    },
                }
            },
            "webhooks": {"retrain": {"url": hook, "secret": {"env": "SEGMENTS_TEST_SECRET"}}},
            "state": {"path": str(directory / "state.sqlite")},
        },
    )


def traffic(rng: np.random.Generator, now: float, source: str) -> tuple[list[bytes], pd.DataFrame]:
    """The records, with country among the features or in the record's ``metadata`` (``source``)."""
    frame = pd.DataFrame(
        {"x": rng.normal(size=ROWS), "y": rng.normal(size=ROWS), "country": countries(rng, ROWS)}
    )
    frame.loc[frame["country"] == SHIFTED, "x"] += SHIFT
    frame.loc[frame["country"] == PINNED, "x"] += SMALL_SHIFT
    records = []
    for i, row in enumerate(frame.itertuples(index=False)):
        record: dict[str, Any] = {
            "model": MODEL,
            "prediction_id": f"p-{i}",
            "timestamp": now - 60 + i * 1e-3,
            "features": {"x": float(row.x), "y": float(row.y)},
        }
        if source == "feature":
            record["features"]["country"] = str(row.country)
        else:
            record["metadata"] = {"country": str(row.country), "region": "eu"}
        records.append(json.dumps(record).encode())
    return records, frame


@CLIENTS
@pytest.mark.parametrize("source", ["feature", "metadata"])
def test_only_the_drifting_segment_alerts_once(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str, source: str
) -> None:
    monkeypatch.setenv("SEGMENTS_TEST_SECRET", SECRET.decode())
    topic = f"segments-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    records, frame = traffic(np.random.default_rng(21), time.time(), source)
    counts = Counter(frame["country"])
    # the oracle of the top K: the pinned value and the busiest others (ties by text)
    busiest = sorted((c for c in counts if c != PINNED), key=lambda c: (-counts[c], c))[: TOP_K - 1]
    members = {*busiest, PINNED}
    assert SHIFTED in members and counts[PINNED] < MIN_ROWS <= min(counts[c] for c in busiest)
    others = sorted(set(counts) - members)
    expected_rows = {f"country={c}": counts[c] for c in members} | {
        "country:other": sum(counts[c] for c in others)
    }
    # the premise, from the data alone: FR's x is far from the reference, the whole model's x is not
    rng = np.random.default_rng(20)
    reference_x = rng.normal(size=REFERENCE_ROWS)
    whole_distance = wasserstein_distance(reference_x, frame["x"]) / np.std(reference_x)
    for country in (SHIFTED, PINNED):
        distance = wasserstein_distance(reference_x, frame.loc[frame["country"] == country, "x"])
        assert whole_distance < THRESHOLD < distance / np.std(reference_x), country

    port = free_port()
    with Receiver(SECRET) as receiver:
        settings = load_settings(
            use_client(setup(tmp_path, broker.bootstrap, topic, port, receiver.url, source), client)
        )
        produce(broker.bootstrap, topic, records)
        daemon = Daemon(settings)
        daemon.start()
        try:
            wait_for(
                lambda: metric(scrape(port), "driftwatch_records_consumed_total", model=MODEL) == ROWS,
                60,
                "every record consumed",
            )

            def fr_firing() -> bool:
                value = metric(
                    scrape(port),
                    "driftwatch_alert_active",
                    model=MODEL,
                    check="data_drift",
                    segment=f"country={SHIFTED}",
                )
                return value == 1.0

            checks = 0
            while not fr_firing():
                assert checks < 4, (
                    f"no data_drift alert for country={SHIFTED} after {checks} checks: "
                    f"{json.dumps(api_model(port, MODEL).get('scopes'), default=str)[:2000]}"
                )
                daemon.run_check(MODEL)
                checks += 1
            receiver.wait_for(1, 15)
            for _ in range(5):  # the drift persists: no second event
                daemon.run_check(MODEL)
            wait_for(
                lambda: metric(scrape(port), "driftwatch_webhook_outbox_pending", target="retrain") == 0.0,
                15,
                "the outbox to be empty",
            )
            samples = scrape(port)
            model = api_model(port, MODEL)
        finally:
            daemon.stop()

    got = events(receiver)
    assert all(request.valid for request in receiver.received)
    assert len(got) == 1, [(e.get("check"), e.get("segment"), e.get("transition")) for e in got]
    (event,) = got
    assert event["type"] == "driftwatch.alert" and event["transition"] == "firing"
    assert (event["model"], event["check"]) == (MODEL, "data_drift")
    assert event["segment"] == f"country={SHIFTED}"
    assert event["baseline"] == "reference"
    assert f"segment country={SHIFTED}" in event["summary"], event["summary"]
    assert event["result"]["dataset_drift"] is True
    assert "x" in event["drifted_features"]

    # series: one per scope, the whole model's without the scope labels
    segments = label_values(samples, "driftwatch_window_rows", "segment", model=MODEL)
    assert segments == set(expected_rows)
    assert metric(samples, "driftwatch_window_rows", model=MODEL) == ROWS
    for segment, rows in expected_rows.items():
        assert metric(samples, "driftwatch_window_rows", model=MODEL, segment=segment) == rows, segment
    assert metric(samples, "driftwatch_alert_active", model=MODEL, check="data_drift") == 0.0
    for segment in expected_rows:
        active = metric(samples, "driftwatch_alert_active", model=MODEL, check="data_drift", segment=segment)
        assert active == (1.0 if segment == f"country={SHIFTED}" else 0.0), segment
    assert metric(samples, "driftwatch_dataset_drift_detected", model=MODEL) == 0.0
    assert (
        metric(samples, "driftwatch_dataset_drift_detected", model=MODEL, segment=f"country={SHIFTED}") == 1.0
    )
    for segment in sorted(set(expected_rows) - {f"country={SHIFTED}", f"country={PINNED}"}):
        detected = metric(samples, "driftwatch_dataset_drift_detected", model=MODEL, segment=segment)
        assert detected == 0.0, segment
    status = {
        s: metric(
            samples,
            "driftwatch_check_status",
            model=MODEL,
            check="data_drift",
            status="not_enough_rows",
            segment=s,
        )
        for s in expected_rows
    }
    assert status == {s: float(s == f"country={PINNED}") for s in expected_rows}
    assert (
        metric(
            samples,
            "driftwatch_check_status",
            model=MODEL,
            check="data_drift",
            status="ok",
            segment="country=FR",
        )
        == 1.0
    )
    shares = {s: metric(samples, "driftwatch_segment_share", model=MODEL, segment=s) for s in expected_rows}
    assert shares == pytest.approx({s: rows / ROWS for s, rows in expected_rows.items()}, abs=1e-6)

    # /api: the whole model as before, and every scope's own result
    latest: dict[str, Any] = model["latest"]
    assert latest["rows"] == ROWS and latest["dataset_drift"] is False
    scopes: dict[str, dict[str, Any]] = model["scopes"]
    assert set(scopes) == set(expected_rows)
    for segment, rows in expected_rows.items():
        assert scopes[segment]["rows"] == rows, segment
    assert scopes[f"country={PINNED}"]["status"] == "not_enough_rows"
    assert scopes[f"country={PINNED}"]["dataset_drift"] is None
    assert scopes[f"country={SHIFTED}"]["status"] == "ok"
    assert scopes[f"country={SHIFTED}"]["dataset_drift"] is True
    assert [s for s, r in scopes.items() if r["dataset_drift"]] == [f"country={SHIFTED}"]


# a firing segment that leaves the top K ------------------------------------------------------------

STEP = 5.0  # seconds between checks: one window bucket
RETIRE_AFTER = 20.0
PER_STEP = 400
BEFORE = 4  # steps with FR's traffic
STEPS = 20
LOUD = {"DE": 0.45, "FR": 0.3, "IT": 0.15, "ES": 0.1}  # FR's x shifted by RETIRING_SHIFT
QUIET = {"DE": 0.55, "IT": 0.3, "ES": 0.15}  # FR's traffic has stopped
RETIRING_SHIFT = 1.2
RETIRING_THRESHOLD = 0.5  # x's whole-model distance is 0.3 x 1.2 = 0.36 while FR drifts: below it


def retiring_config(directory: Path, bootstrap: str, port: int, hook: str, topic: str) -> Path:
    rng = np.random.default_rng(60)
    countries = rng.choice(list(LOUD), size=4000, p=list(LOUD.values()))
    pd.DataFrame({"x": rng.normal(size=4000), "country": countries}).to_csv(
        directory / "ref.csv", index=False
    )
    return write_config(
        directory,
        {
            "kafka": {
                "bootstrap_servers": [bootstrap],
                "topic": topic,
                "group_id": f"retiring-{uuid.uuid4().hex[:8]}",
                "options": GROUP_OPTIONS,
            },
            "http": {"host": "127.0.0.1", "port": port},
            "models": {
                MODEL: {
                    "reference": "ref.csv",
                    # country: a column of the records and the reference, segmented by, not drift-tested
                    "features": [{"name": "x", "method": "wasserstein", "threshold": RETIRING_THRESHOLD}],
                    "window": {"length": "30s", "buckets": 6, "max_rows": 20_000, "min_rows": 100},
                    "schedule": {"every": "1h"},  # the test runs the checks
                    "webhooks": ["retrain"],
                    "segments": {
                        "columns": [{"column": "country", "reference": "model"}],
                        "top_k": 2,
                        "min_rows": 50,
                        "min_share": 0.05,
                        "max_rows": 10_000,
                        "stability": {"promote_after": 1, "demote_after": 1, "retire_after": "20s"},
                    },
                }
            },
            "webhooks": {"retrain": {"url": hook, "secret": {"env": "SEGMENTS_TEST_SECRET"}}},
            "state": {"path": str(directory / "state.sqlite")},
        },
    )


def test_a_firing_segment_that_leaves_the_top_k_is_retired(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FR drifts and fires, then its traffic stops: once its records have left the window it leaves the
    top 2 while still firing, keeps its scope (retiring) without rows to resolve on, and after
    ``retire_after`` is retired: one ``resolved`` event with reason ``retired``, and its scope goes.
    IT takes the free place and stays quiet."""
    monkeypatch.setenv("SEGMENTS_TEST_SECRET", SECRET.decode())
    topic = f"retiring-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    rng = np.random.default_rng(61)
    start = math.floor((time.time() - 60.0) / STEP) * STEP  # the clock stays near real time (signatures)
    clock = Clock(start)
    port = free_port()
    scopes_seen: list[set[str]] = []
    retiring: list[bool] = []  # per check: FR has left the top 2 but keeps its scope while it fires
    fr_series: list[tuple[float | None, float | None]] = []  # per check: FR's alert active, retired count
    with Receiver(SECRET) as receiver:
        settings = load_settings(retiring_config(tmp_path, broker.bootstrap, port, receiver.url, topic))
        daemon = Daemon(settings, clock=clock)
        daemon.start()
        try:
            for k in range(1, STEPS + 1):
                now = start + k * STEP
                clock.set(now)
                shares = LOUD if k <= BEFORE else QUIET
                country = rng.choice(list(shares), size=PER_STEP, p=list(shares.values()))
                x = rng.normal(size=PER_STEP) + np.where(country == "FR", RETIRING_SHIFT, 0.0)
                times = now - STEP + rng.uniform(0.01, STEP - 0.01, size=PER_STEP)
                produce(
                    broker.bootstrap,
                    topic,
                    (
                        json.dumps(
                            {
                                "model": MODEL,
                                "timestamp": float(t),
                                "features": {"x": float(v), "country": str(c)},
                            }
                        ).encode()
                        for t, v, c in zip(times, x, country, strict=True)
                    ),
                )
                wait_for(
                    lambda k=k: (
                        metric(scrape(port), "driftwatch_records_consumed_total", model=MODEL) == k * PER_STEP
                    ),
                    30,
                    f"the records of step {k} consumed",
                )
                daemon.run_check(MODEL)
                model = api_model(port, MODEL)
                scopes_seen.append(set(model.get("scopes", {})))
                retiring.append("FR" in model["segments"]["country"]["retiring"])
                samples = scrape(port)
                fr = {"model": MODEL, "check": "data_drift", "segment": "country=FR"}
                fr_series.append(
                    (
                        metric(samples, "driftwatch_alert_active", **fr),
                        metric(samples, "driftwatch_alert_transitions_total", **fr, state="retired"),
                    )
                )
            wait_for(lambda: len(receiver.received) >= 2, 15, "the firing and the retired webhooks")
            wait_for(
                lambda: metric(scrape(port), "driftwatch_webhook_outbox_pending", target="retrain") == 0.0,
                15,
                "the outbox to be empty",
            )
            samples = scrape(port)
        finally:
            daemon.stop()

    got = events(receiver)
    assert [(e["check"], e.get("segment"), e["transition"], e.get("reason")) for e in got] == [
        ("data_drift", "country=FR", "firing", None),
        ("data_drift", "country=FR", "resolved", "retired"),
    ]
    fired, retired = (
        datetime.fromisoformat(e["occurred_at"].replace("Z", "+00:00")).timestamp() for e in got
    )
    assert fired <= start + BEFORE * STEP  # while FR's traffic drifted
    # FR leaves the top 2 after its traffic stops (displaced by IT, or gone from the window), keeps its
    # scope while its alert fires with no rows to resolve on, and is retired RETIRE_AFTER later
    assert True in retiring, retiring
    left = start + (retiring.index(True) + 1) * STEP
    assert left > start + BEFORE * STEP
    assert left + RETIRE_AFTER <= retired <= left + RETIRE_AFTER + STEP, (retired - left, retiring)
    assert "country=FR" in scopes_seen[BEFORE] and "country=FR" not in scopes_seen[-1]
    assert {"country=DE", "country=IT", "country:other"} <= scopes_seen[-1]
    # the check that retired it shows the alert over and the retirement counted
    (at,) = [i for i in range(STEPS) if start + (i + 1) * STEP == retired]
    assert fr_series[at] == (0.0, 1.0), fr_series
    assert fr_series[at - 1][0] == 1.0 and fr_series[at - 1][1] in (None, 0.0), fr_series
    assert (
        metric(samples, "driftwatch_alert_active", model=MODEL, check="data_drift", segment="country=IT")
        == 0.0
    )
    assert metric(samples, "driftwatch_alert_active", model=MODEL, check="data_drift") == 0.0
