"""Two model versions on one topic: separate windows, references and results, and the challenger's
realized accuracy difference with its interval.

Split traffic: versions 7 (the champion) and 8 (the challenger) serve alternate requests of one scorer
model. Version 8 sees inputs shifted by 0.6 standard deviations and has a reference of its own drawn
like them: against the model's reference its x would drift, against its own it does not. Version 8 is
also worse: 15% of its scores are flipped. The labels come later on the labels topic. Expected values
come from independent oracles on the produced data: scikit-learn's accuracy per version on the joined
pairs, and statsmodels' Newcombe interval (``confint_proportions_2indep(method="newcomb",
compare="diff")``) on the same counts.

With each Kafka client (``kafka.client``). (Shadow traffic, both versions scoring the same request
under one prediction id, is not compared pair by pair: the label join keeps one prediction per id and
model; see the README's limits.)
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy.stats import wasserstein_distance
from sklearn.metrics import accuracy_score
from statsmodels.stats.proportion import confint_proportions_2indep

from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.clients import CLIENTS, use_client
from tests.integration.scoped import GROUP_OPTIONS, api_model, events, produce, samples_of, write_config
from tests.kafkautil import Samples, metric, scrape, wait_for
from tests.receivers import Receiver

pytestmark = pytest.mark.broker

SECRET = b"versions-test-secret"
MODEL = "scorer"
ROWS = 4000  # half per version
REFERENCE_ROWS = 5000
CHAMPION, CHALLENGER = "7", "8"
OFFSET = 0.6  # version 8's inputs (and its reference) are shifted by this many standard deviations
THRESHOLD = 0.4  # wasserstein (normed) of x
FLIPPED = 0.15  # share of version 8's scores that are flipped


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-2.0 * x)))


def reference(rng: np.random.Generator, offset: float) -> pd.DataFrame:
    x = rng.normal(loc=offset, size=REFERENCE_ROWS)
    score = sigmoid(x)
    return pd.DataFrame(
        {"x": x, "score": score, "label": (rng.uniform(size=REFERENCE_ROWS) < score).astype(int)}
    )


def setup(directory: Path, bootstrap: str, topics: dict[str, str], port: int, hook: str) -> Path:
    rng = np.random.default_rng(30)
    reference(rng, 0.0).to_csv(directory / "ref.csv", index=False)
    reference(rng, OFFSET).to_csv(directory / "ref-v8.csv", index=False)
    versions: dict[str, Any] = {
        "window": {"max_rows": 20_000},
        "champion_challenger": {
            "champion": CHAMPION,
            "challenger": CHALLENGER,
            "metrics": ["accuracy"],
            "confidence": 0.95,
            "alert": {"worse_by": 0.0},
        },
    }
    versions["references"] = {CHALLENGER: "ref-v8.csv"}
    return write_config(
        directory,
        {
            "kafka": {
                "bootstrap_servers": [bootstrap],
                "topic": topics["predictions"],
                "labels_topic": topics["labels"],
                "group_id": f"versions-{uuid.uuid4().hex[:8]}",
                "options": GROUP_OPTIONS,
            },
            "http": {"host": "127.0.0.1", "port": port},
            "models": {
                MODEL: {
                    "reference": "ref.csv",
                    "features": [{"name": "x", "method": "wasserstein", "threshold": THRESHOLD}],
                    "prediction": "score",
                    "window": {"length": "1h", "max_rows": 50_000, "min_rows": 200},
                    "schedule": {"every": "1h"},  # the test runs the checks
                    "webhooks": ["retrain"],
                    "performance": {"task": "binary_classification", "label": "label", "min_labels": 200},
                    "versions": versions,
                }
            },
            "webhooks": {"retrain": {"url": hook, "secret": {"env": "VERSIONS_TEST_SECRET"}}},
            "state": {"path": str(directory / "state.sqlite")},
        },
    )


def split_traffic(rng: np.random.Generator) -> pd.DataFrame:
    """Each request scored by one version, alternately; version 8's inputs shifted by OFFSET."""
    version = np.where(np.arange(ROWS) % 2 == 0, CHAMPION, CHALLENGER)
    x = rng.normal(size=ROWS) + np.where(version == CHALLENGER, OFFSET, 0.0)
    truth = sigmoid(x)
    label = (rng.uniform(size=ROWS) < truth).astype(int)
    flip = (version == CHALLENGER) & (rng.uniform(size=ROWS) < FLIPPED)
    score = np.where(flip, 1.0 - truth, truth)
    return pd.DataFrame(
        {"id": [f"req-{i}" for i in range(ROWS)], "version": version, "x": x, "score": score, "label": label}
    )


@dataclass
class Run:
    samples: Samples
    model: dict[str, Any]
    events: list[dict[str, Any]]


def run(broker: LocalBroker, directory: Path, frame: pd.DataFrame, client: str) -> Run:
    """The daemon reads the predictions, then their labels, and runs checks until the comparison covers
    every labelled prediction of both versions; then three more (the challenger stays worse)."""
    suffix = uuid.uuid4().hex[:8]
    topics = {name: f"versions-{name}-{suffix}" for name in ("predictions", "labels")}
    for topic in topics.values():
        broker.create_topic(topic, partitions=2)
    now = time.time()
    predictions = [
        json.dumps(
            {
                "model": MODEL,
                "model_version": row.version,
                "prediction_id": row.id,
                "timestamp": now - 30,
                "features": {"x": float(row.x)},
                "prediction": float(row.score),
            }
        ).encode()
        for row in frame.itertuples(index=False)
    ]
    labelled = frame.drop_duplicates("id")
    labels = [
        json.dumps({"prediction_id": row.id, "label": int(row.label)}).encode()
        for row in labelled.itertuples(index=False)
    ]
    rows = [int((frame["version"] == v).sum()) for v in (CHAMPION, CHALLENGER)]
    port = free_port()
    with Receiver(SECRET) as receiver:
        settings = load_settings(
            use_client(setup(directory, broker.bootstrap, topics, port, receiver.url), client)
        )
        produce(broker.bootstrap, topics["predictions"], predictions)
        daemon = Daemon(settings)
        daemon.start()
        try:
            wait_for(
                lambda: metric(scrape(port), "driftwatch_records_consumed_total", model=MODEL) == len(frame),
                60,
                "every prediction consumed",
            )
            produce(broker.bootstrap, topics["labels"], labels)
            wait_for(
                lambda: (
                    (metric(scrape(port), "driftwatch_labels_joined_total", model=MODEL) or 0) >= len(labels)
                ),
                60,
                "the labels joined",
            )
            seen: list[Any] = []

            def complete() -> bool:
                daemon.run_check(MODEL)
                comparison = api_model(port, MODEL).get("comparison")
                seen.append(comparison)
                return comparison is not None and list(comparison.get("rows", ())) == rows

            wait_for(
                complete,
                30,
                lambda: (
                    f"a comparison of {rows} labelled rows (the last: {json.dumps(seen[-1:], default=str)[:2000]})"
                ),
                interval=0.5,
            )
            wait_for(
                lambda: any(e.get("check") == "challenger:accuracy" for e in events(receiver)),
                15,
                "the challenger:accuracy webhook",
            )
            for _ in range(3):  # the challenger stays worse: no second event
                daemon.run_check(MODEL)
            samples = scrape(port)
            model = api_model(port, MODEL)
            wait_for(
                lambda: (
                    metric(
                        scrape(port),
                        "driftwatch_webhook_deliveries_total",
                        target="retrain",
                        outcome="delivered",
                    )
                    == len(receiver.received)
                    and metric(scrape(port), "driftwatch_webhook_outbox_pending", target="retrain") == 0.0
                ),
                15,
                "every webhook delivered",
            )
        finally:
            daemon.stop()
    assert all(request.valid for request in receiver.received)
    return Run(samples, model, events(receiver))


def assert_versions_and_comparison(
    result: Run, frame: pd.DataFrame, design: str, lower: float, upper: float
) -> None:
    """What both designs share: windows and realized accuracy per version, the difference and its
    bounds as the oracle says, one announcement per version, one challenger alert."""
    samples, model, got = result.samples, result.model, result.events
    per_version = {v: frame[frame["version"] == v] for v in (CHAMPION, CHALLENGER)}
    accuracy = {v: accuracy_score(f["label"], f["score"] >= 0.5) for v, f in per_version.items()}
    # windows: one per version, their rows summing to the whole model's
    assert metric(samples, "driftwatch_window_rows", model=MODEL) == len(frame)
    for version, rows in per_version.items():
        assert metric(samples, "driftwatch_window_rows", model=MODEL, model_version=version) == len(rows)
    scopes: dict[str, dict[str, Any]] = model["scopes"]
    assert {f"v={CHAMPION}", f"v={CHALLENGER}"} <= set(scopes)
    assert (
        scopes[f"v={CHAMPION}"]["rows"] + scopes[f"v={CHALLENGER}"]["rows"]
        == model["latest"]["rows"]
        == len(frame)
    )
    # realized accuracy per version: scikit-learn's on the joined pairs
    for version in (CHAMPION, CHALLENGER):
        realized = metric(
            samples, "driftwatch_performance", model=MODEL, metric="accuracy", model_version=version
        )
        assert realized == pytest.approx(accuracy[version], abs=1e-12), version
    # the difference challenger - champion and its interval
    labels_of = {"model": MODEL, "model_version": CHALLENGER, "metric": "accuracy"}
    difference = accuracy[CHALLENGER] - accuracy[CHAMPION]
    assert metric(samples, "driftwatch_challenger_difference", **labels_of) == pytest.approx(
        difference, abs=1e-12
    )
    assert metric(samples, "driftwatch_challenger_difference_lower", **labels_of) == pytest.approx(
        lower, abs=1e-9
    )
    assert metric(samples, "driftwatch_challenger_difference_upper", **labels_of) == pytest.approx(
        upper, abs=1e-9
    )
    comparison: dict[str, Any] = model["comparison"]
    assert (comparison["champion"], comparison["challenger"]) == (CHAMPION, CHALLENGER)
    assert comparison["design"] == design
    shown = comparison["metrics"]["accuracy"]
    bounds = shown.get("interval") or shown  # the bounds beside the difference, or in its interval
    assert (bounds["lower"], bounds["upper"]) == pytest.approx((lower, upper), abs=1e-9)
    # events: a scope's alert names its segment and baseline, the whole model's is as it was (neither key)
    for event in got:
        if event.get("type") == "driftwatch.alert":
            assert ("segment" in event) == ("baseline" in event), event
            assert ("segment" in event) == (event["summary"].count("(version ") == 1), event["summary"]
    # one new_version per version, one challenger:accuracy firing
    announced = [e for e in got if e.get("type") == "driftwatch.version"]
    assert sorted(e["model_version"] for e in announced) == [CHAMPION, CHALLENGER], announced
    assert {(e["model"], e["transition"]) for e in announced} == {(MODEL, "new_version")}
    challenger = [e for e in got if e.get("check") == "challenger:accuracy"]
    assert [(e["transition"], e["model_version"]) for e in challenger] == [("firing", CHALLENGER)], challenger
    assert challenger[0]["segment"] is None and challenger[0]["model"] == MODEL
    active = samples_of(samples, "driftwatch_alert_active", model=MODEL, check="challenger:accuracy")
    assert list(active.values()) == [1.0], active


@CLIENTS
def test_interleaved_versions_windows_references_and_comparison(
    broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: str
) -> None:
    monkeypatch.setenv("VERSIONS_TEST_SECRET", SECRET.decode())
    frame = split_traffic(np.random.default_rng(31))
    # the oracle: Newcombe's hybrid score interval of two independent proportions (statsmodels)
    right = {
        v: int(((f["score"] >= 0.5).astype(int) == f["label"]).sum()) for v, f in frame.groupby("version")
    }
    rows = frame["version"].value_counts()
    lower, upper = confint_proportions_2indep(
        right[CHALLENGER],
        rows[CHALLENGER],
        right[CHAMPION],
        rows[CHAMPION],
        method="newcomb",
        compare="diff",
        alpha=0.05,
    )
    assert upper < 0.0, "the challenger is meant to be worse beyond doubt"

    result = run(broker, tmp_path, frame, client=client)

    assert_versions_and_comparison(result, frame, "split", lower, upper)
    # version 8 is checked against its own reference: no drift there, though the model's would say so
    model_reference = pd.read_csv(tmp_path / "ref.csv")
    x8 = frame.loc[frame["version"] == CHALLENGER, "x"]
    assert wasserstein_distance(model_reference["x"], x8) / np.std(model_reference["x"]) > THRESHOLD
    scope = result.model["scopes"][f"v={CHALLENGER}"]
    assert scope["status"] == "ok" and scope["dataset_drift"] is False
    assert (
        metric(result.samples, "driftwatch_dataset_drift_detected", model=MODEL, model_version=CHALLENGER)
        == 0.0
    )
    assert not [
        e for e in result.events if e.get("check") == "data_drift" and e.get("model_version") == CHALLENGER
    ]
