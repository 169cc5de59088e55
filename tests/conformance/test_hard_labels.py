"""CBPE needs scores: hard 0/1 predictions get a note and no estimate in the daemon, never an estimate of 1.0."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from driftwatch.service.daemon import Daemon
from tests.conformance.test_daemon_performance import NOW, Clock, Msg, label_messages, make, sample, window


def hard_predictions(ids: list[str], predicted: list[int], seed: int) -> list[Msg]:
    rng = np.random.default_rng(seed)
    return [
        Msg(
            json.dumps(
                {
                    "model": "m",
                    "prediction_id": pid,
                    "timestamp": NOW - 60,
                    "features": {"x": float(rng.normal())},
                    "prediction": value,
                }
            ).encode(),
            offset=i,
        )
        for i, (pid, value) in enumerate(zip(ids, predicted, strict=True))
    ]


def hard_reference(path: Path, rows: int = 3000) -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=rows)
    score = 1 / (1 + np.exp(-2 * x))
    label = (rng.uniform(size=rows) < score).astype(int)
    pd.DataFrame({"x": x, "score": (score >= 0.5).astype(int), "label": label}).to_csv(path, index=False)


def no_estimate(daemon: Daemon) -> None:
    for metric in ("accuracy", "roc_auc"):
        assert sample(daemon, "driftwatch_estimated_performance", model="m", metric=metric) is None
        assert not sample(
            daemon, "driftwatch_alert_active", model="m", check=f"estimated_performance:{metric}"
        )


def test_a_reference_of_hard_labels_gives_a_note_and_no_estimate(tmp_path: Path) -> None:
    hard_reference(tmp_path / "ref.csv")
    daemon = make(tmp_path, Clock())
    monitor = daemon.joins["m"]
    assert monitor.cbpe is None
    assert not [c for c in monitor.checks if c.startswith("estimated_performance")]
    ids, scores, labels = window(300, seed=2)
    predicted = (scores >= 0.5).astype(int).tolist()
    result = monitor.run(labels, predicted, None, pd.Series(predicted))
    assert result.estimated is None and result.realized is not None
    assert result.estimate_note is not None and "hard labels" in result.estimate_note

    daemon.handle(hard_predictions(ids, predicted, seed=2))
    daemon.handle(label_messages(ids, labels))
    checked = daemon.run_check("m")
    assert checked.performance is not None
    assert checked.as_dict()["performance"]["estimated"] is None
    assert "hard labels" in checked.as_dict()["performance"]["estimate_note"]
    assert checked.performance.realized is not None and checked.performance.realized.values["accuracy"] < 1.0
    no_estimate(daemon)
    daemon.store.close()


def test_a_window_of_hard_labels_against_a_scored_reference_gives_a_note_and_no_estimate(
    tmp_path: Path,
) -> None:
    daemon = make(tmp_path, Clock())  # the helper's reference holds calibrated scores
    monitor = daemon.joins["m"]
    assert monitor.cbpe is not None
    ids, scores, _ = window(300, seed=3, flip=0.6)  # a model gone wrong: its estimate would breach
    predicted = (scores >= 0.5).astype(int).tolist()
    result = monitor.run([], [], None, pd.Series(predicted))
    assert result.estimated is None
    assert result.estimate_note is not None and "hard labels" in result.estimate_note

    daemon.handle(hard_predictions(ids, predicted, seed=3))
    for _ in range(3):  # more than the policy's consecutive breaches needed to fire
        checked = daemon.run_check("m")
        assert checked.performance is not None and checked.performance.estimated is None
        assert "hard labels" in (checked.performance.estimate_note or "")
    no_estimate(daemon)
    daemon.store.close()
