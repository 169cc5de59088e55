"""What the scale-out tests share: four models' configs and records, replicas, and what they hold."""

from __future__ import annotations

import json
import secrets
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from kafka import KafkaProducer

from driftwatch.cli.demo import _GENERATORS as GENERATORS
from driftwatch.cli.demo import FEATURES, SECRET_ENV, demo_labels, reference_frame

# four models on one topic: two keyed by model (each on one partition), two unkeyed (spread over all)
MODELS = {"credit-a": "credit-risk", "credit-b": "credit-risk", "churn-a": "churn", "churn-b": "churn"}
KEYED = {"credit-b", "churn-b"}


def write_config(
    directory: Path,
    bootstrap: str,
    topic: str,
    group: str,
    port: int,
    webhook_url: str,
    *,
    scale_out: bool = True,
    replica: str | None = None,
    every: str = "1h",
    windows: dict[str, tuple[str, int]] | None = None,
    checkpoint_interval: str = "0.5s",
    min_rows: int = 200,
    labels_topic: str | None = None,
    labelled: str | None = None,
    min_labels: int = 200,
    client: str = "kafka-python",
) -> Path:
    """A config for the four models; ``windows`` gives a model's (length, max_rows) (default 1h, 100k).
    With ``labels_topic``, the ``labelled`` model (a credit one) monitors its performance: its
    reference gets labels (`demo_labels`) and it a performance section, as the demo's credit-risk.
    ``client`` is ``kafka.client`` (written only when it is not the default)."""
    directory.mkdir(parents=True, exist_ok=True)
    models: dict[str, Any] = {}
    for model, kind in MODELS.items():
        with_labels = labels_topic is not None and model == labelled
        reference = directory / (f"{model}.parquet" if with_labels else f"{kind}.parquet")
        if not reference.exists():
            frame = reference_frame(kind)
            if with_labels:
                frame["label"] = demo_labels(np.random.default_rng(8), frame["prediction"].to_numpy(), False)
            frame.to_parquet(reference, index=False)
        length, max_rows = (windows or {}).get(model, ("1h", 100_000))
        models[model] = {
            "reference": reference.name,
            "features": FEATURES[kind],
            "prediction": "prediction",
            "window": {"length": length, "max_rows": max_rows, "min_rows": min(min_rows, max_rows)},
            "schedule": {"every": every},
            "webhooks": ["retrain"],
        }
        if with_labels:
            models[model]["performance"] = {
                "task": "binary_classification",
                "label": "label",
                "min_labels": min_labels,
                "thresholds": {"accuracy": {"max_drop": 0.1}},
            }
    kafka: dict[str, Any] = {
        "bootstrap_servers": [bootstrap],
        "topic": topic,
        "group_id": group,
        "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
    }
    if labels_topic is not None:
        kafka["labels_topic"] = labels_topic
    if client != "kafka-python":
        kafka["client"] = client
    if scale_out:
        kafka["scale_out"] = {"enabled": True, "partitions": 12, **({"replica": replica} if replica else {})}
    config = {
        "kafka": kafka,
        "http": {"host": "127.0.0.1", "port": port},
        "models": models,
        "webhooks": {"retrain": {"url": webhook_url, "secret": {"env": SECRET_ENV}, "timeout": "5s"}},
        "state": {"path": str(directory / "state.sqlite"), "checkpoint_interval": checkpoint_interval},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def records(model: str, rng: np.random.Generator, n: int, shifted: bool, now: float) -> Iterator[bytes]:
    kind = MODELS[model]
    columns = GENERATORS[kind](rng, n, shifted)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    for i in range(n):
        yield json.dumps(
            {
                "model": model,
                "prediction_id": secrets.token_hex(8),
                "timestamp": stamp,
                "features": {name: _plain(columns[name][i]) for name in FEATURES[kind]},
                "prediction": float(columns["prediction"][i]),
            }
        ).encode()


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def produce(
    producer: KafkaProducer,
    topic: str,
    rng: np.random.Generator,
    per_model: int,
    shifted: set[str] | None = None,
    junk: int = 0,
) -> Counter[str]:
    """``per_model`` records of each model (keyed models keyed by name, the others unkeyed), with
    ``junk`` undecodable records among them; what was sent, by model."""
    sent: Counter[str] = Counter()
    now = time.time()
    for model in MODELS:
        key = model.encode() if model in KEYED else None
        for value in records(model, rng, per_model, model in (shifted or set()), now):
            producer.send(topic, key=key, value=value)
        sent[model] += per_model
    for _ in range(junk):
        producer.send(topic, value=b"{not json")
    producer.flush()
    return sent


def produce_labelled(
    producer: KafkaProducer, topic: str, labels_topic: str, model: str, rng: np.random.Generator, n: int
) -> int:
    """``n`` predictions of ``model`` (unkeyed, so spread over every partition), then a label for each
    (unkeyed, naming no model) drawn from its score; how many labels were sent."""
    sent = 0
    labels: list[bytes] = []
    for value in records(model, rng, n, False, time.time()):
        producer.send(topic, value=value)
        record = json.loads(value)
        (outcome,) = demo_labels(rng, np.array([record["prediction"]]), False)
        labels.append(json.dumps({"prediction_id": record["prediction_id"], "label": int(outcome)}).encode())
    producer.flush()
    for value in labels:
        producer.send(labels_topic, value=value)
        sent += 1
    producer.flush()
    return sent


def api_models(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=2) as answer:
            body: dict[str, Any] = json.loads(answer.read())
            return body
    except (OSError, ValueError):
        return None


def owned_rows(ports: list[int]) -> dict[str, list[tuple[int, int]]]:
    """model -> [(port, records in its window)] over the replicas that say they own it."""
    out: dict[str, list[tuple[int, int]]] = {}
    for port in ports:
        body = api_models(port) or {}
        for name, state in body.items():
            if state.get("owned"):
                out.setdefault(name, []).append((port, int(state.get("records_seen") or 0)))
    return out
