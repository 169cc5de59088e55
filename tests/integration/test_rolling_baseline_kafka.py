"""A rolling baseline catches a step change that the training reference misses, and stops alerting
once the baseline has absorbed it.

A model with one feature x compares its 20 s window with the training reference (wasserstein,
threshold 1.0: loose) and with its own stream's ``[now - 10 s - 60 s, now - 10 s)`` (threshold 0.1).
The test moves the daemon's clock in 5 s steps; at each step it produces the step's records (event
times inside the step) through the real broker, waits until they are read, and runs one check. At T
x steps up by half a standard deviation. The training reference never alerts (0.5 < 1.0); the
rolling comparison breaches from the first check after T and stops once the baseline is mostly new
data: after about ``lag + (1 - threshold / d) x rolling`` (design 5.2).

The oracle replays every check on the produced data: the window is the records of the last 20 s, the
baseline those of the period, and the score scipy's Wasserstein distance over the baseline's standard
deviation. Nothing is sampled (every max_rows is above the records), so the daemon must agree with it
check by check; the alert's transitions follow from the oracle's breaches with the alert rule.
A second run restarts the daemon in the middle of the episode: the baseline, restored from the state
file, continues, and the alert still fires once and resolves once. With each Kafka client.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance

from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import Settings, load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.integration.scoped import (
    GROUP_OPTIONS,
    Clock,
    api_model,
    events,
    produce,
    samples_of,
    write_config,
)
from tests.kafkautil import Samples, metric, scrape, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.broker

SECRET = b"rolling-test-secret"
MODEL = "stepper"
STEP = 5.0  # seconds between checks: one window bucket
WINDOW = 20.0
ROLLING = 60.0
LAG = 10.0
PER_STEP = 800
BEFORE = 16  # steps before the change
AFTER = 18  # steps after it
SHIFT = 0.5  # standard deviations
THRESHOLD = 0.1  # the baseline's (wasserstein, normed)
TRAINING_THRESHOLD = 1.0
MIN_ROWS = 200
MIN_COVERAGE = 0.5
ROLLING_CHECK = "data_drift@rolling"


def setup(directory: Path, bootstrap: str, topic: str, port: int, hook: str, client: str) -> Settings:
    rng = np.random.default_rng(40)
    pd.DataFrame({"x": rng.normal(size=5000)}).to_csv(directory / "ref.csv", index=False)
    path = write_config(
        directory,
        {
            "kafka": {
                "bootstrap_servers": [bootstrap],
                "topic": topic,
                "group_id": f"rolling-{uuid.uuid4().hex[:8]}",
                "options": GROUP_OPTIONS,
            },
            "http": {"host": "127.0.0.1", "port": port},
            "models": {
                MODEL: {
                    "reference": "ref.csv",
                    "features": [{"name": "x", "method": "wasserstein", "threshold": TRAINING_THRESHOLD}],
                    "window": {"length": "20s", "buckets": 4, "max_rows": 20_000, "min_rows": MIN_ROWS},
                    "schedule": {"every": "1h"},  # the test runs the checks
                    "webhooks": ["retrain"],
                    "alert": {"consecutive": 1, "resolve_after": 1},
                    "baseline": {
                        "rolling": "60s",
                        "lag": "10s",
                        "max_rows": 50_000,
                        "min_rows": MIN_ROWS,
                        "min_coverage": MIN_COVERAGE,
                        "features": {"x": {"method": "wasserstein", "threshold": THRESHOLD}},
                        "alert": {"consecutive": 1, "resolve_after": 1},
                    },
                }
            },
            "webhooks": {"retrain": {"url": hook, "secret": {"env": "ROLLING_TEST_SECRET"}}},
            "state": {"path": str(directory / "state.sqlite")},
        },
    )
    return load_settings(use_client(path, client))


@dataclass(frozen=True)
class Expected:
    """What the check at ``now`` must find, computed from the produced records alone."""

    now: float
    window_rows: int
    baseline_rows: int
    coverage: float
    score: float | None  # None: no verdict (too few rows or too little coverage)

    @property
    def breach(self) -> bool:
        return self.score is not None and bool(self.score >= THRESHOLD)


def oracle(times: np.ndarray, x: np.ndarray, now: float, first: float) -> Expected:
    window = x[(times > now - WINDOW) & (times <= now)]
    end = math.floor((now - LAG) / STEP) * STEP
    start = end - ROLLING
    baseline = x[(times >= start) & (times < end)]
    coverage = max(0.0, min(1.0, (end - max(start, first)) / ROLLING))
    answered = coverage >= MIN_COVERAGE and len(baseline) >= MIN_ROWS and len(window) >= MIN_ROWS
    score = wasserstein_distance(baseline, window) / max(float(np.std(baseline)), 0.001) if answered else None
    return Expected(now, len(window), len(baseline), coverage, score)


def transitions(expected: list[Expected]) -> list[tuple[int, str]]:
    """(check index, transition) under consecutive 1 / resolve_after 1; a check without a verdict
    changes nothing."""
    firing = False
    out = []
    for i, check in enumerate(expected):
        if check.score is None:
            continue
        if check.breach and not firing:
            firing = True
            out.append((i, "firing"))
        elif not check.breach and firing:
            firing = False
            out.append((i, "resolved"))
    return out


def rolling_score(samples: Samples) -> float | None:
    found = samples_of(
        samples, "driftwatch_feature_drift_score", model=MODEL, feature="x", baseline="rolling"
    )
    assert len(found) <= 1, found
    return next(iter(found.values()), None)


@CLIENTS
@pytest.mark.parametrize("restart", [False, True], ids=["steady", "restarted"])
def test_step_caught_then_absorbed(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restart: bool, client: str
) -> None:
    monkeypatch.setenv("ROLLING_TEST_SECRET", SECRET.decode())
    topic = f"rolling-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    rng = np.random.default_rng(41)
    start = math.floor((time.time() - 80.0) / STEP) * STEP  # the clock stays near real time (signatures)
    steps = BEFORE + AFTER
    change = start + BEFORE * STEP  # T
    # step k (1-based) holds the records of (start + (k-1) STEP, start + k STEP), checked at its end
    times = np.concatenate(
        [start + (k - 1) * STEP + rng.uniform(0.01, STEP - 0.01, size=PER_STEP) for k in range(1, steps + 1)]
    )
    x = rng.normal(size=len(times)) + np.where(times >= change, SHIFT, 0.0)
    expected = [oracle(times, x, start + k * STEP, start) for k in range(1, steps + 1)]
    plan = transitions(expected)
    # the premise: the step is caught, then absorbed, each once; the training reference never breaches
    assert [t for _, t in plan] == ["firing", "resolved"], plan
    assert all(abs(e.score - THRESHOLD) > 1e-6 for e in expected if e.score is not None)
    fired_at, resolved_at = (expected[i].now for i, _ in plan)
    assert change < fired_at <= change + 2 * STEP
    formula = LAG + (1 - THRESHOLD / SHIFT) * ROLLING
    assert abs(resolved_at - change - formula) <= 2 * STEP, (resolved_at - change, formula)
    restart_after = BEFORE + 6 if restart else None  # mid-episode: the alert is firing

    clock = Clock(start)
    port = free_port()
    seen: list[tuple[float | None, ...]] = []
    with Receiver(SECRET) as receiver:
        settings = setup(tmp_path, broker.bootstrap, topic, port, receiver.url, client)
        daemon = Daemon(settings, clock=clock)
        daemon.start()
        base = 0  # steps read by the daemons before this one
        try:
            for k in range(1, steps + 1):
                now = start + k * STEP
                clock.set(now)
                chunk = slice((k - 1) * PER_STEP, k * PER_STEP)
                produce(
                    broker.bootstrap,
                    topic,
                    (
                        json.dumps(
                            {
                                "model": MODEL,
                                "prediction_id": f"r-{k}-{i}",
                                "timestamp": float(t),
                                "features": {"x": float(v)},
                            }
                        ).encode()
                        for i, (t, v) in enumerate(zip(times[chunk], x[chunk], strict=True))
                    ),
                )
                read = (k - base) * PER_STEP  # a restarted daemon counts from zero
                wait_for(
                    lambda read=read: (
                        (metric(scrape(port), "driftwatch_records_consumed_total", model=MODEL) or 0) >= read
                    ),
                    30,
                    f"the records of step {k} consumed",
                )
                daemon.run_check(MODEL)
                samples = scrape(port)
                seen.append(
                    (
                        rolling_score(samples),
                        metric(samples, "driftwatch_baseline_rows", model=MODEL),
                        metric(samples, "driftwatch_baseline_coverage_ratio", model=MODEL),
                        metric(samples, "driftwatch_alert_active", model=MODEL, check=ROLLING_CHECK),
                        metric(samples, "driftwatch_dataset_drift_detected", model=MODEL, baseline="rolling"),
                        metric(
                            samples, "driftwatch_check_status", model=MODEL, check=ROLLING_CHECK, status="ok"
                        ),
                    )
                )
                assert metric(samples, "driftwatch_alert_active", model=MODEL, check="data_drift") == 0.0
                if k == restart_after:
                    daemon.stop()
                    daemon = Daemon(settings, clock=clock)
                    daemon.start()
                    base = k
            model = api_model(port, MODEL)
            wait_for(lambda: len(receiver.received) >= 2, 15, "the firing and the resolved webhooks")
            wait_for(
                lambda: metric(scrape(port), "driftwatch_webhook_outbox_pending", target="retrain") == 0.0,
                15,
                "the outbox to be empty",
            )
        finally:
            daemon.stop()

    # check by check, the daemon's rolling comparison is the oracle's
    for k, (check, (score, rows, coverage, active, detected, ok)) in enumerate(
        zip(expected, seen, strict=True), start=1
    ):
        where = f"check {k} at T{check.now - change:+.0f}s"
        assert ok == float(check.score is not None), where  # a verdict, or why not (status)
        if check.score is None:
            assert score is None and detected is None, where
        else:
            assert score == pytest.approx(check.score, abs=1e-9), where
            assert detected == float(check.breach), where
            assert rows == check.baseline_rows, where
        if coverage is not None or check.score is not None:
            assert coverage == pytest.approx(check.coverage, abs=1e-9), where
        should = 0.0  # the alert's state after this check, by the oracle's transitions
        for i, transition in plan:
            if i < k:
                should = 1.0 if transition == "firing" else 0.0
        assert active == should, where

    # /api: the whole model's rolling comparison beside its result against the training reference
    last = expected[-1]
    rolling = model["rolling"][""]
    assert (rolling["check"], rolling["baseline"], rolling["status"]) == (ROLLING_CHECK, "rolling", "ok")
    assert rolling["dataset_drift"] is last.breach is False
    assert rolling["rows"] == last.window_rows == model["latest"]["rows"]
    assert model["latest"]["dataset_drift"] is False

    got = events(receiver)
    assert all(request.valid for request in receiver.received)
    assert [(e["check"], e["transition"]) for e in got] == [
        (ROLLING_CHECK, "firing"),
        (ROLLING_CHECK, "resolved"),
    ]
    for event in got:
        assert event["model"] == MODEL and event["baseline"] == "rolling" and event["segment"] is None
    ends = [datetime.fromisoformat(e["window_end"].replace("Z", "+00:00")).timestamp() for e in got]
    assert ends == pytest.approx([fired_at, resolved_at], abs=1e-3)
