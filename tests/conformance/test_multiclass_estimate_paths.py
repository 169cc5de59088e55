"""Multiclass CBPE through every path: the daemon (predictions with maps class -> probability on the
predictions topic, estimated_performance:<metric> checks, metrics and alerts), the offline
`driftwatch check` and the library's `estimate_performance` give the same estimate on the same rows."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest

from driftwatch import api
from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.performance.metrics import realized
from driftwatch.reference import ReferenceDataError
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "webhook-event.schema.json").read_text())
CLASSES = ["a", "b", "c"]
WEIGHTS = np.array([[1.5, 0.0], [0.0, 1.0], [-1.5, -0.5]])


@dataclass
class Msg:
    value: bytes | None
    topic: str = "predictions"
    timestamp: int = int(NOW * 1000) - 1000
    partition: int = 0
    offset: int = 0


def draw(rng: np.random.Generator, rows: int, shift: float = 0.0) -> pd.DataFrame:
    """Calibrated class probabilities of two features, labels drawn from them; ``shift`` moves the
    features towards the region where class "c" is sure (higher accuracy) or, negative, "a"."""
    x = rng.normal(size=(rows, 2)) + shift
    logits = x @ WEIGHTS.T
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    labels = np.asarray(CLASSES)[(rng.uniform(size=(rows, 1)) > p.cumsum(axis=1)).sum(axis=1)]
    maps = [dict(zip(CLASSES, row.tolist(), strict=True)) for row in p]
    return pd.DataFrame({"x": x[:, 0], "z": x[:, 1], "probs": maps, "label": labels})


CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.parquet
    features: [x, z]
    prediction: probs
    window: {{length: 1h, max_rows: 5000, min_rows: 50}}
    performance: {performance}
state: {{path: state.sqlite}}
"""


def daemon(tmp_path: Path, performance: str) -> Daemon:
    (tmp_path / "c.yaml").write_text(CONFIG.format(performance=performance), encoding="utf-8")
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)


def messages(frame: pd.DataFrame) -> list[Msg]:
    return [
        Msg(
            json.dumps(
                {
                    "model": "m",
                    "timestamp": NOW - 60,
                    "features": {"x": row.x, "z": row.z},
                    "prediction": row.probs,
                }
            ).encode(),
            offset=i,
        )
        for i, row in enumerate(frame.itertuples())
    ]


def sample(d: Daemon, name: str, **labels: str) -> float | None:
    for family in d.metrics.registry.collect():
        for s in family.samples:
            if s.name == name and {k: v for k, v in s.labels.items() if v} == labels:
                return float(s.value)
    return None


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("mc")
    rng = np.random.default_rng(7)
    reference, current = draw(rng, 4000), draw(rng, 1500, shift=-1.2)
    reference.to_parquet(directory / "ref.parquet")
    current.drop(columns="label").to_parquet(directory / "current.parquet")
    return {"dir": directory, "reference": reference, "current": current}


def test_daemon_offline_and_library_give_the_same_estimate(
    data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "ref.parquet").write_bytes((data["dir"] / "ref.parquet").read_bytes())
    d = daemon(
        tmp_path, "{task: multiclass_classification, label: label, thresholds: {accuracy: {max_drop: 0.05}}}"
    )
    assert d.joins["m"].checks == ["performance:accuracy", "estimated_performance:accuracy"]
    d.handle(messages(data["current"]))
    result = d.run_check("m").performance
    assert result is not None and result.estimated is not None
    daemon_estimates = {m: e.value for m, e in result.estimated.estimates.items()}
    d.store.close()

    code = main(
        [
            "check",
            "-r",
            str(data["dir"] / "ref.parquet"),
            "-u",
            str(data["dir"] / "current.parquet"),
            "--task",
            "multiclass_classification",
            "--prediction-column",
            "probs",
            "--label-column",
            "label",
            "-f",
            "json",
        ]
    )
    out, _ = capsys.readouterr()
    assert code in (0, 1)
    offline = json.loads(out)["estimated_performance"]
    library = api.estimate_performance(
        data["reference"],
        data["current"],
        prediction="probs",
        label="label",
        task="multiclass_classification",
    )
    for metric, value in daemon_estimates.items():
        assert offline[metric]["value"] == pytest.approx(value, abs=1e-12), metric
        assert library.estimates[metric].value == pytest.approx(value, abs=1e-12), metric
    # and the estimate is right: calibrated probabilities, covariate shift only
    current = data["current"]
    truth = realized("multiclass_classification", current["label"], list(current["probs"]), classes=CLASSES)
    for metric, value in daemon_estimates.items():
        assert abs(value - truth[metric]) < 0.03, metric


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def unsure(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """Inputs near the origin, where the classes overlap: the model is less sure, and less often right."""
    frame = draw(rng, rows)
    x = rng.normal(size=(rows, 2)) * 0.3
    logits = x @ WEIGHTS.T
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return frame.assign(x=x[:, 0], z=x[:, 1], probs=[dict(zip(CLASSES, r.tolist(), strict=True)) for r in p])


def test_a_covariate_shift_that_lowers_accuracy_fires_the_estimated_alert(
    data: dict[str, Any], tmp_path: Path
) -> None:
    (tmp_path / "ref.parquet").write_bytes((data["dir"] / "ref.parquet").read_bytes())
    (tmp_path / "c.yaml").write_text(
        CONFIG.format(
            performance="{task: multiclass_classification, label: label, "
            "estimate_thresholds: {accuracy: {max_drop: 0.05}, roc_auc: {min: 0.5}}}"
        ),
        encoding="utf-8",
    )
    clock = Clock()
    d = Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)
    rng = np.random.default_rng(8)
    d.handle(messages(draw(rng, 1000)))  # like the reference: no alert
    first = d.run_check("m").performance
    assert first is not None and first.estimated is not None
    assert first.estimated.breaches == {"accuracy": False, "roc_auc": False}
    assert sample(d, "driftwatch_alert_active", model="m", check="estimated_performance:accuracy") == 0
    clock.now += 2 * 3600  # the first window has left
    shifted = [
        Msg(m.value.replace(str(NOW - 60).encode(), str(clock.now - 60).encode()), offset=m.offset)  # type: ignore[union-attr]
        for m in messages(unsure(rng, 1000))
    ]
    d.handle(shifted)
    result = d.run_check("m").performance
    assert result is not None and result.estimated is not None
    assert result.estimated.breaches == {"accuracy": True, "roc_auc": False}
    estimate = result.estimated.estimates["accuracy"]
    assert estimate.upper < result.estimated.reference["accuracy"] * 0.95
    assert sample(d, "driftwatch_alert_active", model="m", check="estimated_performance:accuracy") == 1
    assert sample(d, "driftwatch_estimated_performance", model="m", metric="accuracy") == pytest.approx(
        estimate.value
    )
    # the webhook payload's result, as for binary CBPE
    jsonschema.validate(
        {"result": d.run_check("m").as_dict()},
        {**SCHEMA, "required": [], "properties": {"result": SCHEMA["properties"]["result"]}},
    )
    d.store.close()


def test_estimate_true_needs_probability_maps(tmp_path: Path) -> None:
    frame = draw(np.random.default_rng(9), 500)
    frame["probs"] = [max(m, key=m.get) for m in frame["probs"]]  # the predicted classes instead
    frame.to_parquet(tmp_path / "ref.parquet")
    with pytest.raises(ReferenceDataError, match="map class -> probability"):
        daemon(tmp_path, "{task: multiclass_classification, label: label, estimate: true}")
    d = daemon(tmp_path, "{task: multiclass_classification, label: label, thresholds: {f1: {min: 0.5}}}")
    assert d.joins["m"].cbpe is None and d.joins["m"].checks == ["performance:f1"]  # classes: as before
    d.store.close()


def close(a: object, b: object, where: str) -> None:
    """``a`` and ``b`` equal, floats to 1e-9 (relative), recursively; the path says where they differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), f"{where}: keys {sorted(a)} vs {sorted(b)}"
        for key in a:
            close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-12), where
    else:
        assert a == b, f"{where}: {a!r} vs {b!r}"


def test_the_daemon_the_command_and_the_api_score_the_estimate_on_the_same_labelled_rows(
    data: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Half of the current rows carry their label inline: the daemon's label join grades them and
    scores multiclass CBPE's estimate of exactly those rows; `driftwatch check` on the same rows (the
    unlabelled ones with an empty label) and `driftwatch.estimate_error` give the same evaluation."""
    (tmp_path / "ref.parquet").write_bytes((data["dir"] / "ref.parquet").read_bytes())
    current = data["current"].copy()
    current.loc[current.index[1::2], "label"] = None  # labels came for half of the rows
    d = daemon(tmp_path, "{task: multiclass_classification, label: label, min_labels: 30}")
    try:
        d.handle(
            [
                Msg(
                    json.dumps(
                        {
                            "model": "m",
                            "prediction_id": f"p{i}",
                            "timestamp": NOW - 60,
                            "features": {"x": row.x, "z": row.z},
                            "prediction": row.probs,
                            "label": row.label,
                        }
                    ).encode(),
                    offset=i,
                )
                for i, row in enumerate(current.itertuples())
            ]
        )
        result = d.run_check("m")
        latest = d.results()["m"]["latest"]["performance"]["estimate_error"]
        status, history = d.history_api("m", {})
    finally:
        d.store.close()
        if d.labels is not None:
            d.labels.close()
    assert result.performance is not None
    scored = result.performance.estimate_error
    assert scored is not None and scored.rows == 750
    assert set(scored.metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert latest == scored.as_dict()
    assert status == 200 and isinstance(history, list)
    assert history[-1]["result"]["performance"]["estimate_error"] == scored.as_dict()
    for metric in scored.metrics:
        assert sample(d, "driftwatch_estimated_performance_error", model="m", metric=metric) == pytest.approx(
            scored.metrics[metric].error, rel=1e-12
        )
    # calibrated probabilities under a covariate shift: the estimator's assumptions hold (the macro
    # averages of classes predicted a dozen times are noisier than the reference's band, measured on
    # its own class balance, says: accuracy is the steady one)
    assert scored.metrics["accuracy"].covered, scored.as_dict()

    current.to_parquet(tmp_path / "labelled.parquet")
    code = main(
        [
            *("check", "-r", str(tmp_path / "ref.parquet"), "-u", str(tmp_path / "labelled.parquet")),
            *("--task", "multiclass_classification", "--prediction-column", "probs"),
            *("--label-column", "label", "-f", "json"),
        ]
    )
    out, _ = capsys.readouterr()
    assert code in (0, 1)
    close(scored.as_dict(), json.loads(out)["estimate_error"], "estimate_error")
    main(
        [
            *("check", "-r", str(tmp_path / "ref.parquet"), "-u", str(tmp_path / "labelled.parquet")),
            *("--task", "multiclass_classification", "--prediction-column", "probs"),
            *("--label-column", "label"),
        ]
    )
    assert f"estimate error f1: {scored.metrics['f1'].error:+.4f}" in capsys.readouterr().out
    library = api.estimate_error(
        data["reference"],
        current,
        prediction="probs",
        label="label",
        task="multiclass_classification",
        min_labels=30,
    )
    close(scored.as_dict(), library.as_dict(), "api")
