"""Performance monitoring in the daemon without a broker: predictions and labels in, metrics and alerts out."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from driftwatch.config import ConfigError, load_settings
from driftwatch.reference import ReferenceDataError
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "webhook-event.schema.json").read_text())


@dataclass
class Msg:
    value: bytes | None
    topic: str = "predictions"
    timestamp: int = int(NOW * 1000) - 1000
    partition: int = 0
    offset: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def reference(path: Path, rows: int = 3000, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=rows)
    score = 1 / (1 + np.exp(-2 * x))
    label = (rng.uniform(size=rows) < score).astype(int)
    pd.DataFrame({"x": x, "score": score, "label": label}).to_csv(path, index=False)


CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions, labels_topic: labels}}
http: {{port: 0}}
models:
  m:
    reference: ref.csv
    features: [x]
    prediction: score
    window: {{length: 1h, max_rows: 5000, min_rows: 50}}
    performance:
      task: binary_classification
      label: label
      min_labels: {min_labels}
      thresholds: {{accuracy: {{max_drop: 0.1}}, roc_auc: {{min: 0.6}}}}
{extra}
state: {{path: state.sqlite}}
labels: {{ttl: 1d, grace: {grace}}}
"""


def make(tmp_path: Path, clock: Clock, min_labels: int = 50, grace: str = "1h", extra: str = "") -> Daemon:
    if not (tmp_path / "ref.csv").exists():
        reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        CONFIG.format(min_labels=min_labels, grace=grace, extra=extra), encoding="utf-8"
    )
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)


def predictions(ids: list[str], scores: np.ndarray, labels: list[Any] | None = None) -> list[Msg]:
    out = []
    for i, (pid, s) in enumerate(zip(ids, scores, strict=True)):
        record: dict[str, Any] = {
            "model": "m",
            "prediction_id": pid,
            "timestamp": NOW - 60,
            "features": {"x": float(np.log(s / (1 - s)) / 2)},
            "prediction": float(s),
        }
        if labels is not None:
            record["label"] = labels[i]
        out.append(Msg(json.dumps(record).encode(), offset=i))
    return out


def label_messages(ids: list[str], labels: list[Any]) -> list[Msg]:
    return [
        Msg(json.dumps({"prediction_id": pid, "label": y}).encode(), topic="labels", offset=i)
        for i, (pid, y) in enumerate(zip(ids, labels, strict=True))
    ]


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    """A sample of the daemon's registry; a label left unnamed must be empty (a scope's label of the
    whole model: Prometheus treats an empty label as absent)."""
    for family in daemon.metrics.registry.collect():
        for s in family.samples:
            if s.name == name and {k: v for k, v in s.labels.items() if v} == labels:
                return float(s.value)
    return None


def window(rows: int, seed: int, flip: float = 0.0) -> tuple[list[str], np.ndarray, list[int]]:
    """Ids, calibrated scores and labels; ``flip`` of the labels inverted (a model gone wrong)."""
    rng = np.random.default_rng(seed)
    scores = 1 / (1 + np.exp(-2 * rng.normal(size=rows)))
    labels = (rng.uniform(size=rows) < scores).astype(int)
    flipped = rng.uniform(size=rows) < flip
    labels = np.where(flipped, 1 - labels, labels)
    return [f"{seed}-{i}" for i in range(rows)], scores, labels.tolist()


def test_labels_from_the_topic_give_sklearn_metrics(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock)
    ids, scores, labels = window(400, seed=2)
    daemon.handle(predictions(ids, scores))
    daemon.handle(label_messages(ids[:300], labels[:300]))  # the last 100 have no label yet

    result = daemon.run_check("m")
    assert result.performance is not None and result.performance.realized is not None
    realized = result.performance.realized
    truth, s = np.array(labels[:300]), scores[:300]
    expected = {
        "accuracy": skm.accuracy_score(truth, s >= 0.5),
        "f1": skm.f1_score(truth, s >= 0.5),
        "roc_auc": skm.roc_auc_score(truth, s),
        "log_loss": skm.log_loss(truth, s),
    }
    for metric, value in expected.items():
        assert realized.values[metric] == pytest.approx(value, abs=1e-6)
        assert sample(daemon, "driftwatch_performance", model="m", metric=metric) == pytest.approx(
            value, abs=1e-6
        )
    assert realized.labelled_rows == 300
    assert sample(daemon, "driftwatch_window_labelled_rows", model="m") == 300
    assert sample(daemon, "driftwatch_labels_joined_total", model="m") == 300

    ref = pd.read_csv(tmp_path / "ref.csv")
    assert sample(daemon, "driftwatch_performance_reference", model="m", metric="roc_auc") == pytest.approx(
        skm.roc_auc_score(ref["label"], ref["score"])
    )
    estimated = result.performance.estimated
    assert estimated is not None
    for metric in ("accuracy", "roc_auc", "f1", "precision", "recall"):
        value = sample(daemon, "driftwatch_estimated_performance", model="m", metric=metric)
        lower = sample(daemon, "driftwatch_estimated_performance_lower", model="m", metric=metric)
        upper = sample(daemon, "driftwatch_estimated_performance_upper", model="m", metric=metric)
        assert value is not None and lower is not None and upper is not None
        assert lower <= value <= upper
    # calibrated scores: the estimate is close to the truth of the labelled rows
    assert estimated.estimates["accuracy"].value == pytest.approx(expected["accuracy"], abs=0.08)
    assert not realized.breached
    assert sample(daemon, "driftwatch_alert_active", model="m", check="performance:accuracy") == 0
    jsonschema.validate(
        {"result": result.as_dict()},
        {**SCHEMA, "required": [], "properties": {"result": SCHEMA["properties"]["result"]}},
    )
    daemon.store.close()


def test_label_rejections_are_counted_by_reason(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock, min_labels=1, grace="0s")
    ids, scores, labels = window(10, seed=3)
    daemon.handle(predictions(ids, scores))
    bad = [
        Msg(b"not json", topic="labels"),
        Msg(b'{"label": 1}', topic="labels"),  # no prediction_id
        Msg(b'{"prediction_id": "x", "label": 1, "model": "other"}', topic="labels"),
        Msg(b'{"prediction_id": "x", "label": 1, "timestamp": "yesterday"}', topic="labels"),
    ]
    daemon.handle(
        label_messages(ids[:3], labels[:3])
        + label_messages(ids[:1], labels[:1])  # duplicate
        + label_messages(["never-predicted"], [1])  # unknown id, no grace
        + label_messages(ids[3:4], [None])  # null label
        + bad
    )
    rejected = {
        reason: sample(daemon, "driftwatch_labels_rejected_total", reason=reason)
        for reason in (
            "duplicate",
            "unknown_id",
            "no_label",
            "undecodable",
            "missing_field",
            "unknown_model",
            "bad_timestamp",
        )
    }
    assert rejected == {
        "duplicate": 1,
        "unknown_id": 1,
        "no_label": 1,
        "undecodable": 1,
        "missing_field": 1,
        "unknown_model": 1,
        "bad_timestamp": 1,
    }
    assert sample(daemon, "driftwatch_labels_joined_total", model="m") == 3
    daemon.store.close()


def test_a_model_gone_wrong_breaches_and_recovers_through_the_policy(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock)
    ids, scores, labels = window(400, seed=4, flip=0.6)  # accuracy far below the reference's
    daemon.handle(predictions(ids, scores))
    daemon.handle(label_messages(ids, labels))
    result = daemon.run_check("m")
    assert result.performance is not None and result.performance.realized is not None
    assert result.performance.realized.breaches["accuracy"]
    assert sample(daemon, "driftwatch_alert_active", model="m", check="performance:accuracy") == 1
    assert (
        sample(
            daemon,
            "driftwatch_alert_transitions_total",
            model="m",
            check="performance:accuracy",
            state="firing",
        )
        == 1
    )
    # the estimate cannot see a change in the labels alone (CBPE assumes no concept drift): no breach
    assert sample(daemon, "driftwatch_alert_active", model="m", check="estimated_performance:accuracy") == 0

    clock.now += 7200  # those predictions leave the look-back; good ones come
    ids, scores, labels = window(400, seed=5)
    daemon.handle(
        [
            Msg(m.value.replace(str(NOW - 60).encode(), str(clock.now - 60).encode()))
            for m in predictions(ids, scores)
        ]
    )  # type: ignore[union-attr]
    daemon.handle(label_messages(ids, labels))
    result = daemon.run_check("m")
    assert result.performance is not None and result.performance.realized is not None
    assert not result.performance.realized.breached
    assert sample(daemon, "driftwatch_alert_active", model="m", check="performance:accuracy") == 0
    daemon.store.close()


def test_too_few_labels_reports_the_state_and_leaves_alerts_alone(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock, min_labels=200)
    ids, scores, labels = window(300, seed=6, flip=0.6)
    daemon.handle(predictions(ids, scores))
    daemon.handle(label_messages(ids[:150], labels[:150]))
    result = daemon.run_check("m")
    assert result.performance is not None and result.performance.realized is not None
    assert result.performance.realized.status == "not enough labels"
    assert result.as_dict()["performance"]["realized"]["values"] == {}
    assert sample(daemon, "driftwatch_performance", model="m", metric="accuracy") is None
    assert sample(daemon, "driftwatch_window_labelled_rows", model="m") == 150
    assert sample(daemon, "driftwatch_alert_active", model="m", check="performance:accuracy") == 0
    daemon.handle(label_messages(ids[150:], labels[150:]))
    result = daemon.run_check("m")
    assert result.performance is not None and result.performance.realized is not None
    assert result.performance.realized.status == "breach"
    daemon.store.close()


def test_inline_labels_and_early_labels_join(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock, min_labels=1)
    ids, scores, labels = window(40, seed=7)
    daemon.handle(label_messages(ids[20:], labels[20:]))  # labels first: they wait (grace 1h)
    assert sample(daemon, "driftwatch_labels_joined_total", model="m") == 0
    daemon.handle(predictions(ids[:20], scores[:20], labels=labels[:20]))  # inline
    daemon.handle(predictions(ids[20:], scores[20:]))
    assert sample(daemon, "driftwatch_labels_joined_total", model="m") == 40
    result = daemon.run_check("m")
    assert result.performance is not None and result.performance.realized is not None
    assert result.performance.realized.labelled_rows == 40
    assert result.performance.realized.values["accuracy"] == pytest.approx(
        skm.accuracy_score(labels, scores >= 0.5)
    )
    daemon.store.close()


def test_the_join_state_survives_a_restart(tmp_path: Path) -> None:
    clock = Clock()
    first = make(tmp_path, clock, min_labels=1)
    ids, scores, labels = window(50, seed=8)
    first.handle(predictions(ids, scores))
    first.handle(label_messages(ids[:10], labels[:10]))
    first.stop()

    second = make(tmp_path, clock, min_labels=1)
    assert sample(second, "driftwatch_labels_pending_predictions", model="m") == 40
    second.handle(label_messages(ids[10:], labels[10:]))
    second.handle(label_messages(ids[:1], labels[:1]))  # already joined before the restart
    assert sample(second, "driftwatch_labels_rejected_total", reason="duplicate") == 1
    result = second.run_check("m")
    assert result.performance is not None and result.performance.realized is not None
    assert result.performance.realized.labelled_rows == 50
    second.store.close()


def test_waiting_labels_that_expire_count_as_unknown(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock, min_labels=1)
    daemon.handle(label_messages(["a", "b"], [1, 0]))
    clock.now += 3601
    daemon.expire_labels()
    assert sample(daemon, "driftwatch_labels_rejected_total", reason="unknown_id") == 2
    daemon.store.close()


@pytest.mark.parametrize(
    ("extra_yaml", "message"),
    [
        (
            "kafka: {bootstrap_servers: x, topic: p, labels_topic: p}",
            "labels_topic 'p' is the predictions topic",
        ),
        ("kafka: {bootstrap_servers: x, topic: p, labels_topic: l}", "no model has a 'performance:' section"),
    ],
)
def test_labels_topic_config_errors(tmp_path: Path, extra_yaml: str, message: str) -> None:
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        extra_yaml + "\nmodels: {m: {reference: ref.csv, features: [x]}}\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path / "c.yaml")


@pytest.mark.parametrize(
    ("performance", "message"),
    [
        ("{task: binary_classification}", "performance needs the model's prediction column"),
        ("{task: regression, thresholds: {accuracy: {min: 0.9}}}", "accuracy is not a metric of regression"),
        ("{task: binary_classification, thresholds: {f1: {}}}", "give min, max and/or max_drop"),
        (
            "{task: regression, estimate: true, estimate_thresholds: {mape: {max: 1}}}",
            "mape is not a metric of regression that DLE estimates; use mae, rmse",
        ),
    ],
)
def test_performance_config_errors_name_the_fix(tmp_path: Path, performance: str, message: str) -> None:
    reference(tmp_path / "ref.csv")
    prediction = "" if "prediction column" in message else "prediction: score, "
    (tmp_path / "c.yaml").write_text(
        "kafka: {bootstrap_servers: x, topic: p}\n"
        f"models: {{m: {{reference: ref.csv, features: [x], {prediction}performance: {performance}}}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=message):
        load_settings(tmp_path / "c.yaml")


def test_reference_without_the_label_column_is_refused_at_start(tmp_path: Path) -> None:
    reference(tmp_path / "ref.csv")
    pd.read_csv(tmp_path / "ref.csv").drop(columns="label").to_csv(tmp_path / "ref.csv", index=False)
    with pytest.raises(ReferenceDataError, match=r"has no column\(s\) label"):
        make(tmp_path, Clock())


def test_the_readme_performance_example_is_a_valid_configuration(tmp_path: Path) -> None:
    import yaml

    from driftwatch.config import Settings

    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = text.index("```yaml\nkafka:\n  topic: predictions\n  labels_topic")
    block = text[start + len("```yaml\n") : text.index("```", start + 7)]
    raw = yaml.safe_load(block)
    raw["kafka"]["bootstrap_servers"] = ["127.0.0.1:9092"]
    raw["models"]["credit-risk"].update({"reference": "ref.csv", "features": ["x"]})
    settings = Settings.model_validate(raw)
    performance = settings.models["credit-risk"].performance
    assert performance is not None and performance.window == 7 * 86400
    assert performance.thresholds["accuracy"].max_drop == 0.05
    assert settings.labels.grace == 3600 and settings.labels.max_rows == 1_000_000


def test_the_model_report_shows_performance(tmp_path: Path) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock)
    ids, scores, labels = window(300, seed=9)
    daemon.handle(predictions(ids, scores))
    daemon.handle(label_messages(ids, labels))
    result = daemon.run_check("m")
    page = daemon.report_html("m")
    assert page is not None and result.performance is not None and result.performance.realized is not None
    section = page[page.index('<section id="driftwatch-performance"') :]
    accuracy = result.performance.realized.values["accuracy"]
    assert (
        f"<td>accuracy</td><td>{daemon.joins['m'].reference['accuracy']:.4g}</td><td>{accuracy:.4g}</td>"
        in section
    )
    assert "300 labelled predictions in the look-back (ok)" in section
    daemon.store.close()


def test_regression_and_multiclass_models_through_the_daemon(tmp_path: Path) -> None:
    rng = np.random.default_rng(10)
    x = rng.normal(size=500)
    classes = np.array(["a", "b", "c"])
    pd.DataFrame(
        {
            "x": x,
            "y_hat": 2 * x,
            "y": 2 * x + rng.normal(scale=0.1, size=500),
            "cls_hat": classes[rng.integers(0, 3, 500)],
            "cls": classes[rng.integers(0, 3, 500)],
        }
    ).to_csv(tmp_path / "ref.csv", index=False)
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  reg:
    reference: ref.csv
    features: [x]
    prediction: y_hat
    performance: {task: regression, label: y, min_labels: 10, thresholds: {rmse: {max: 0.5}}}
  multi:
    reference: ref.csv
    features: [x]
    prediction: cls_hat
    performance: {task: multiclass_classification, label: cls, min_labels: 10, thresholds: {f1: {min: 0.9}}}
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=Clock())
    xs = rng.normal(size=100)
    truth_reg = 2 * xs + 1.0  # biased by 1: rmse ~1 breaches max 0.5
    probabilities = rng.dirichlet([1, 1, 1], size=100)
    truth_cls = classes[rng.integers(0, 3, 100)]
    msgs = []
    for i in range(100):
        common = {"timestamp": NOW - 60, "features": {"x": float(xs[i])}}
        msgs.append(
            Msg(
                json.dumps(
                    {**common, "model": "reg", "prediction": 2 * xs[i], "label": truth_reg[i]}
                ).encode()
            )
        )
        probs = dict(zip(classes.tolist(), probabilities[i].tolist(), strict=True))
        msgs.append(
            Msg(
                json.dumps(
                    {**common, "model": "multi", "prediction_id": f"m{i}", "prediction": probs, "label": None}
                ).encode()
            )
        )
    daemon.handle(msgs)
    daemon.handle(
        [
            Msg(json.dumps({"prediction_id": f"m{i}", "label": truth_cls[i]}).encode(), topic="labels")
            for i in range(100)
        ]
    )  # no labels topic configured: read as (bad) predictions, never as labels
    assert sample(daemon, "driftwatch_records_rejected_total", reason="missing_field") == 100
    inline = [
        Msg(
            json.dumps(
                {
                    "model": "multi",
                    "prediction_id": f"n{i}",
                    "timestamp": NOW - 60,
                    "features": {"x": float(xs[i])},
                    "prediction": dict(zip(classes.tolist(), probabilities[i].tolist(), strict=True)),
                    "label": str(truth_cls[i]),
                }
            ).encode()
        )
        for i in range(100)
    ]
    daemon.handle(inline)  # new ids, labelled inline: joined at once
    reg = daemon.run_check("reg").performance
    assert reg is not None and reg.realized is not None
    assert reg.realized.values["rmse"] == pytest.approx(
        float(np.sqrt(skm.mean_squared_error(truth_reg, 2 * xs))), rel=1e-6
    )
    assert reg.realized.breaches == {"rmse": True}
    assert sample(daemon, "driftwatch_alert_active", model="reg", check="performance:rmse") == 1
    assert reg.estimated is None and "performance:rmse" in daemon.joins["reg"].checks
    multi = daemon.run_check("multi").performance
    assert multi is not None and multi.realized is not None
    assert multi.realized.labelled_rows == 100
    predicted = classes[probabilities.argmax(axis=1)]
    assert multi.realized.values["f1"] == pytest.approx(skm.f1_score(truth_cls, predicted, average="macro"))
    assert multi.realized.values["roc_auc"] == pytest.approx(
        skm.roc_auc_score(truth_cls, probabilities, multi_class="ovr", labels=classes)
    )
    assert multi.realized.breaches == {"f1": True}
    daemon.store.close()


class DeadLetterRecorder:
    """Stands in for `driftwatch.source.deadletter.DeadLetters`: keeps what would be produced."""

    def __init__(self) -> None:
        self.sent: list[tuple[bytes | None, str, str, str]] = []

    def send(self, value: bytes | None, key: Any, reason: str, detail: str, topic: str, *_: Any) -> None:
        self.sent.append((value, reason, detail, topic))


def test_a_label_of_the_wrong_kind_is_rejected_at_ingest_and_the_model_stays_checkable(
    tmp_path: Path,
) -> None:
    """One inline ``"label": "yes"`` for a 0/1 model used to make every check of the model raise
    TypeError until the record left the window. It is a wrong_type rejection, dead-lettered, on
    either decode path; the labels topic rejects the same way."""
    clock = Clock()
    daemon = make(tmp_path, clock)
    letters = DeadLetterRecorder()
    daemon.dead_letters = letters  # type: ignore[assignment]
    ids, scores, labels = window(200, seed=2)
    bad_labels: list[Any] = ["yes", 2, "1", 0.5, [1]]
    mixed = list(labels)
    for i, bad in enumerate(bad_labels):
        mixed[i] = bad
    # labels of the right kind in every spelling the metrics read as 0/1
    mixed[10:14] = [True, False, 1.0, 0.0]
    daemon.handle(predictions(ids[:100], scores[:100], mixed[:100]))  # the exact path (bad records in it)
    daemon.handle(predictions(ids[100:], scores[100:], labels[100:]))  # a clean batch: the fast path
    daemon.handle(predictions(["late-bad"], scores[:1], ["no"]))  # alone in its batch
    wrong = sample(daemon, "driftwatch_records_rejected_total", reason="wrong_type")
    assert wrong == len(bad_labels) + 1
    assert [reason for _, reason, _, _ in letters.sent] == ["wrong_type"] * (len(bad_labels) + 1)
    assert "label \"yes\" is not a class of model 'm'" in letters.sent[0][2]
    assert sample(daemon, "driftwatch_records_consumed_total", model="m") == 200 - len(bad_labels)

    daemon.handle(
        [
            *label_messages(["x1", "x2"], ["yes", 3]),
            Msg(b'{"prediction_id": "x3", "label": "no", "model": "m"}', topic="labels"),
        ]
    )
    assert sample(daemon, "driftwatch_labels_rejected_total", reason="wrong_type") == 3
    assert [reason for _, reason, _, topic in letters.sent[-3:]] == ["wrong_type"] * 3
    assert {topic for _, _, _, topic in letters.sent[-3:]} == {"labels"}

    result = daemon.run_check("m")  # raised TypeError before the fix
    assert result.performance is not None and result.performance.error is None
    realized = result.performance.realized
    assert realized is not None and realized.labelled_rows == 200 - len(bad_labels)
    truth = np.array([int(v) for v in mixed[len(bad_labels) : 100]] + labels[100:])
    assert realized.values["accuracy"] == pytest.approx(
        skm.accuracy_score(truth, scores[len(bad_labels) :] >= 0.5)
    )
    assert result.drift.columns and sample(daemon, "driftwatch_dataset_drift_share", model="m") is not None
    daemon.store.close()


def test_labels_of_regression_and_multiclass_models_must_fit_the_task(tmp_path: Path) -> None:
    """Regression takes finite numbers; multiclass takes the type of the reference's classes (or one of
    the configured classes). A label naming no model joins only the models it fits."""
    rng = np.random.default_rng(12)
    x = rng.normal(size=300)
    classes = np.array(["a", "b", "c"])
    pd.DataFrame(
        {"x": x, "y_hat": 2 * x, "y": 2 * x, "cls_hat": classes[rng.integers(0, 3, 300)], "cls": "a"}
    ).to_csv(tmp_path / "ref.csv", index=False)
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions, labels_topic: labels}
http: {port: 0}
models:
  reg:
    reference: ref.csv
    features: [x]
    prediction: y_hat
    performance: {task: regression, label: y, min_labels: 1}
  multi:
    reference: ref.csv
    features: [x]
    prediction: cls_hat
    performance: {task: multiclass_classification, label: cls, min_labels: 1}
  fixed:
    reference: ref.csv
    features: [x]
    prediction: cls_hat
    performance: {task: multiclass_classification, label: cls, min_labels: 1, classes: [a, b, c]}
state: {path: state.sqlite}
labels: {grace: 0s}
""",
        encoding="utf-8",
    )
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=Clock())

    def record(model: str, pid: str, prediction: Any, label: Any) -> Msg:
        body = {"model": model, "prediction_id": pid, "timestamp": NOW - 60, "features": {"x": 0.1}}
        return Msg(json.dumps({**body, "prediction": prediction, "label": label}).encode())

    good = [record("reg", "r1", 1.0, 1.5), record("reg", "r2", 1.0, 2), record("multi", "m1", "a", "z")]
    good += [
        record("fixed", "f1", "a", "b"),
        record("reg", "r3", 1.0, None),
        record("multi", "m3", "a", None),
    ]
    bad = [record("reg", "r4", 1.0, "1.5"), record("reg", "r5", 1.0, True), record("multi", "m2", "a", 1)]
    bad += [record("fixed", "f2", "a", "z")]
    daemon.handle(good)
    assert sample(daemon, "driftwatch_records_rejected_total", reason="wrong_type") is None
    daemon.handle(bad + good[:1])
    assert sample(daemon, "driftwatch_records_rejected_total", reason="wrong_type") == len(bad)
    beyond_floats = b'{"prediction_id": "r1", "model": "reg", "label": 1%s}' % (b"0" * 400)
    daemon.handle([Msg(beyond_floats, topic="labels")])
    assert sample(daemon, "driftwatch_labels_rejected_total", reason="non_finite") == 1
    # naming no model: "b" fits the multiclass models only, 2.5 fits none of the class-typed ones
    daemon.handle(label_messages(["m3", "r3", "nobody"], ["b", 2.5, True]))
    assert sample(daemon, "driftwatch_labels_rejected_total", reason="wrong_type") == 1  # true: fits none
    assert sample(daemon, "driftwatch_labels_joined_total", model="multi") == 2  # m1 inline, m3 by topic
    assert sample(daemon, "driftwatch_labels_joined_total", model="reg") == 3  # r1, r2 inline, r3
    for model in ("reg", "multi", "fixed"):
        performance = daemon.run_check(model).performance
        assert performance is not None and performance.error is None, model
    daemon.store.close()


def _boom(*_: Any, **__: Any) -> Any:
    raise RuntimeError("injected failure")


@pytest.mark.parametrize(
    "failing", ["performance", "estimated_performance", "prediction_drift", "data_drift", "label_join"]
)
def test_a_failing_part_of_a_check_does_not_stop_the_others(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Each part of a check runs guarded: the failing one is logged, counted under its check and noted
    in the result; the others export their metrics and feed their alerts as usual."""
    clock = Clock()
    daemon = make(tmp_path, clock)
    monitor = daemon.joins["m"]
    if failing == "performance":
        monkeypatch.setattr("driftwatch.performance.monitor.realized_performance", _boom)
    elif failing == "label_join":  # the join state cannot be read: realized performance cannot run
        assert daemon.labels is not None
        monkeypatch.setattr(daemon.labels, "joined", _boom)
    elif failing == "estimated_performance":
        assert monitor.cbpe is not None
        monkeypatch.setattr(monitor.cbpe, "estimated_performance", _boom)
    elif failing == "prediction_drift":
        monkeypatch.setattr("driftwatch.checks.window.column_drift", _boom)
    else:
        monkeypatch.setattr("driftwatch.checks.window.dataset_drift", _boom)
    ids, scores, labels = window(400, seed=6, flip=0.6)  # accuracy far below the reference's
    shifted = predictions(ids, scores)
    for message in shifted:  # the feature moves far from the reference: data drift
        record = json.loads(message.value or b"")
        record["features"]["x"] += 3.0
        message.value = json.dumps(record).encode()
    daemon.handle(shifted)
    daemon.handle(label_messages(ids, labels))

    result = daemon.run_check("m")  # raised before: one failing part failed the whole check
    # the estimate reads the window's scores, not the join: it runs when the join cannot be read
    failed = {"performance"} if failing == "label_join" else {failing}
    assert set(result.errors) == failed
    assert daemon.results()["m"]["latest"]["errors"] == result.errors

    def last_success(check: str) -> float | None:
        return sample(daemon, "driftwatch_check_last_success_timestamp_seconds", model="m", check=check)

    def active(check: str) -> float | None:
        return sample(daemon, "driftwatch_alert_active", model="m", check=check)

    for part in failed:
        assert "injected failure" in result.errors[part]
        assert sample(daemon, "driftwatch_check_runs_total", model="m", check=part, outcome="error") == 1
        assert last_success(part) is None  # so the stale-checks alert sees the part failing
    if "data_drift" not in failed:
        assert result.drift.dataset_drift and active("data_drift") == 1
        assert sample(daemon, "driftwatch_dataset_drift_detected", model="m") == 1
        assert last_success("data_drift") == NOW
        assert sample(daemon, "driftwatch_check_runs_total", model="m", check="data_drift", outcome="ok") == 1
    else:
        assert active("data_drift") == 0
        assert sample(daemon, "driftwatch_dataset_drift_detected", model="m") is None
    if "performance" not in failed:
        assert active("performance:accuracy") == 1
        assert sample(daemon, "driftwatch_performance", model="m", metric="accuracy") is not None
    else:
        assert active("performance:accuracy") == 0
        assert result.performance is None or result.performance.realized is None
    if "estimated_performance" not in failed:
        assert last_success("estimated_performance") == NOW
    if "prediction_drift" not in failed:
        assert result.prediction_drift is not None and result.prediction_drift.error is None
        assert last_success("prediction_drift") == NOW
    daemon.store.close()


def test_a_failing_performance_section_leaves_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock()
    daemon = make(tmp_path, clock)
    ids, scores, labels = window(200, seed=7)
    daemon.handle(predictions(ids, scores, labels))
    daemon.run_check("m")
    monkeypatch.setattr("driftwatch.report.performance_section", _boom)
    html = daemon.report_html("m")
    assert html is not None and "<html" in html.lower()
    assert sample(daemon, "driftwatch_check_runs_total", model="m", check="report", outcome="error") == 1
    daemon.store.close()


def test_a_prediction_of_the_wrong_kind_is_not_kept_for_the_label_join(tmp_path: Path) -> None:
    """The same defect on the prediction side: one text or out-of-range score among a scorer's joined
    predictions made every realized metric of the look-back fail. Such a prediction still counts as a
    type violation of the prediction column in drift, but is not kept for the join."""
    clock = Clock()
    daemon = make(tmp_path, clock)
    ids, scores, labels = window(200, seed=8)
    messages = predictions(ids, scores, labels)
    for i, bad in enumerate(["yes", 1.5, -0.1, {"a": 0.5}]):
        record = json.loads(messages[i].value or b"")
        record["prediction"] = bad
        messages[i].value = json.dumps(record).encode()
    daemon.handle(messages)
    result = daemon.run_check("m")
    assert result.performance is not None and result.performance.error is None
    realized = result.performance.realized
    assert realized is not None and realized.labelled_rows == 196
    assert realized.values["roc_auc"] == pytest.approx(skm.roc_auc_score(labels[4:], scores[4:]))
    monitor = daemon.joins["m"]
    assert [monitor.gradable(v) for v in (0.5, 0, 1, True, None, math.nan, "yes", 2, float("inf"))] == [
        True,
        True,
        True,
        True,
        True,
        True,
        False,
        False,
        False,
    ]
    daemon.store.close()
