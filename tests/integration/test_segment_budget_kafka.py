"""Series counts stay within the budget with 10,000 distinct segment values.

A model segmented by store_id, a column with 10,000 distinct values whose traffic follows a Zipf law
(exponent 1.1: a few busy stores and a long tail), ``top_k: 20``. Only the directory's members (at
most K + ceil(K / 4) per column, retiring ones included) and ``store_id:other`` may have windows and
series: the number of distinct values must not show in the scrape. The traffic arrives in rounds
through the real broker with a check after each: after a warm-up the membership no longer changes
although every round moves the window's sample (no flapping), and the rows held by all the model's
windows stay within the design's memory bound (design 3.1), as ``series_budget_of`` and
``row_budget_of`` (what ``validate-config`` prints) compute them for this model.
"""

from __future__ import annotations

import itertools
import json
import math
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.service.metrics import BUDGET_FAMILIES, row_budget_of, series_budget_of
from tests.integration.scoped import GROUP_OPTIONS, api_model, label_values, produce, samples_of, write_config
from tests.kafkautil import get, metric, scrape, wait_for

pytestmark = pytest.mark.broker

MODEL = "stores"
VALUES = 10_000
EXPONENT = 1.1
TOP_K = 20
ROUNDS = 25
PER_ROUND = 8_000  # 200,000 records in all
WARM_UP = 6  # rounds after which the membership must hold still
WINDOW_ROWS = 20_000  # window.max_rows: the window samples once it holds more
SEGMENT_ROWS = 500  # segments.max_rows
FEATURES = ("x", "y")


def stores(rng: np.random.Generator, n: int, names: np.ndarray) -> np.ndarray:
    weights = np.arange(1, VALUES + 1, dtype=float) ** -EXPONENT
    return names[rng.choice(VALUES, size=n, p=weights / weights.sum())]


def setup(directory: Path, bootstrap: str, topic: str, port: int, names: np.ndarray) -> Path:
    rng = np.random.default_rng(50)
    rows = 20_000
    pd.DataFrame(
        {"x": rng.normal(size=rows), "y": rng.normal(size=rows), "store_id": stores(rng, rows, names)}
    ).to_csv(directory / "ref.csv", index=False)
    return write_config(
        directory,
        {
            "kafka": {
                "bootstrap_servers": [bootstrap],
                "topic": topic,
                "group_id": f"budget-{uuid.uuid4().hex[:8]}",
                "options": GROUP_OPTIONS,
            },
            "http": {"host": "127.0.0.1", "port": port},
            "models": {
                MODEL: {
                    "reference": "ref.csv",
                    "features": list(FEATURES),
                    "window": {"length": "1h", "max_rows": WINDOW_ROWS, "min_rows": 500},
                    "schedule": {"every": "1h"},  # the test runs the checks
                    "segments": {
                        # judged against the whole reference: the tail stores have few reference rows
                        "columns": [{"column": "store_id", "reference": "model"}],
                        "top_k": TOP_K,
                        "min_rows": 50,
                        "max_rows": SEGMENT_ROWS,
                    },
                }
            },
            "state": {"path": str(directory / "state.sqlite")},
        },
    )


def budget_series(port: int) -> int:
    """The model's series in the families the series budget counts (`BUDGET_FAMILIES`: those with a
    series per scope; a counter's ``_created`` sample is not one)."""
    status, body = get(port, "/metrics")
    assert status == 200
    return sum(
        1
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.name in BUDGET_FAMILIES and sample.labels.get("model") == MODEL
    )


def test_series_within_budget_with_10000_values(broker: LocalBroker, tmp_path: Path) -> None:
    topic = f"budget-{uuid.uuid4().hex[:8]}"
    broker.create_topic(topic, partitions=2)
    rng = np.random.default_rng(51)
    names = np.array([f"store-{i:05d}" for i in rng.permutation(VALUES)], dtype=object)  # rank != name order
    total = ROUNDS * PER_ROUND
    # every value at least once, the rest of the traffic Zipf-distributed, in random order
    column = np.concatenate([names, stores(rng, total - VALUES, names)])
    rng.shuffle(column)
    assert len(set(column)) == VALUES
    x, y = rng.normal(size=total), rng.normal(size=total)
    now = time.time()

    def record(i: int) -> bytes:
        features: dict[str, Any] = {"x": float(x[i]), "y": float(y[i]), "store_id": str(column[i])}
        return json.dumps({"model": MODEL, "timestamp": now - 60, "features": features}).encode()

    port = free_port()
    settings = load_settings(setup(tmp_path, broker.bootstrap, topic, port, names))
    model_settings = settings.models[MODEL]
    series_budget, row_budget = series_budget_of(model_settings), row_budget_of(model_settings)
    retiring = math.ceil(TOP_K / 4)
    most_segments = TOP_K + 1 + retiring
    daemon = Daemon(settings)
    daemon.start()
    memberships: list[frozenset[str]] = []
    series: list[int] = []
    rows: list[float] = []
    try:
        for r in range(ROUNDS):
            produce(broker.bootstrap, topic, (record(i) for i in range(r * PER_ROUND, (r + 1) * PER_ROUND)))
            wait_for(
                lambda r=r: (
                    metric(scrape(port), "driftwatch_records_consumed_total", model=MODEL)
                    == (r + 1) * PER_ROUND
                ),
                30,
                f"round {r + 1} consumed",
            )
            daemon.run_check(MODEL)
            samples = scrape(port)
            segments = label_values(samples, "driftwatch_window_rows", "segment", model=MODEL)
            assert len(segments) <= most_segments, sorted(segments)
            scopes = set(api_model(port, MODEL)["scopes"])
            assert scopes == segments, (sorted(scopes), sorted(segments))
            memberships.append(frozenset(segments))
            series.append(budget_series(port))
            rows.append(sum(samples_of(samples, "driftwatch_window_rows", model=MODEL).values()))
    finally:
        daemon.stop()

    # the scopes: the busiest stores and other, never more than K + 1 + D, whatever the 10,000 values
    final = memberships[-1]
    assert "store_id:other" in final
    assert TOP_K + 1 <= len(final) <= most_segments, sorted(final)
    counts = pd.Series(column).value_counts()
    busiest = {f"store_id={name}" for name in counts.index[:5]}
    assert busiest <= final, sorted(busiest - final)
    # no flapping: after the warm-up every check keeps the same members, though each round moved the
    # window's sample (the model window samples 20,000 of up to 200,000 records)
    changes = [  # (the check that changed it, the scopes that came or went)
        (check, sorted(a ^ b))
        for check, (a, b) in enumerate(itertools.pairwise(memberships), start=2)
        if a != b
    ]
    assert all(check <= WARM_UP for check, _ in changes), changes
    # series and rows within the budgets, at every check
    assert max(series) <= series_budget, (series, series_budget)
    assert min(series[WARM_UP:]) >= len(final), series  # every live scope has series of its own
    assert max(rows) <= row_budget, (rows, row_budget)
    assert rows[-1] >= WINDOW_ROWS  # the model window is full: the bound is not met by an empty model
