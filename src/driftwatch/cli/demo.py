"""``driftwatch demo``: the whole pipeline on this machine, with drift you can watch happen.

Starts a local Kafka-protocol broker, a webhook receiver that verifies
signatures, a producer of prediction logs for two models (``credit-risk``
starts drifting after ``shift_after`` seconds, ``churn`` never does) and the
daemon itself, then reports what the daemon sees until drift is detected and
the signed webhook arrives. Everything it starts, it stops (Ctrl-C included).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "DEMO_MODELS",
    "WebhookReceiver",
    "make_record",
    "reference_frame",
    "run_demo",
    "write_demo_config",
]

SECRET_ENV = "DRIFTWATCH_DEMO_WEBHOOK_SECRET"
DEMO_MODELS = ("credit-risk", "churn")
COUNTRIES = np.array(["DE", "FR", "ES", "IT", "NL"])
PLANS = np.array(["free", "basic", "pro"])


def _credit(rng: np.random.Generator, n: int, shifted: bool) -> dict[str, Any]:
    age = rng.normal(48 if shifted else 40, 10, n).round()
    income = rng.lognormal(8.9 if shifted else 8.5, 0.4, n).round(2)
    country_p = [0.1, 0.1, 0.2, 0.2, 0.4] if shifted else [0.4, 0.25, 0.15, 0.1, 0.1]
    country = rng.choice(COUNTRIES, n, p=country_p)
    tenure = rng.integers(1, 120, n)
    score = 1 / (1 + np.exp(-(0.03 * (age - 40) - 0.0002 * (income - 5000) + rng.normal(0, 1, n))))
    return {"age": age, "income": income, "country": country, "tenure_months": tenure, "prediction": score}


def _churn(rng: np.random.Generator, n: int, shifted: bool) -> dict[str, Any]:
    sessions = rng.poisson(12, n)
    spend = rng.gamma(2.0, 15.0, n).round(2)
    plan = rng.choice(PLANS, n, p=[0.5, 0.3, 0.2])
    score = 1 / (1 + np.exp(-(0.5 - 0.08 * sessions + rng.normal(0, 1, n))))
    return {"sessions_per_week": sessions, "monthly_spend": spend, "plan": plan, "prediction": score}


_GENERATORS: dict[str, Callable[[np.random.Generator, int, bool], dict[str, Any]]] = {
    "credit-risk": _credit,
    "churn": _churn,
}
FEATURES = {
    "credit-risk": ["age", "income", "country", "tenure_months"],
    "churn": ["sessions_per_week", "monthly_spend", "plan"],
}


def reference_frame(model: str, rows: int = 5000, seed: int = 7) -> pd.DataFrame:
    """The demo reference of ``model``: what its traffic looked like at training time."""
    return pd.DataFrame(_GENERATORS[model](np.random.default_rng(seed), rows, False))


def make_records(model: str, rng: np.random.Generator, n: int, shifted: bool, now: float) -> Iterator[bytes]:
    """``n`` JSON prediction records of ``model`` stamped ``now``, following the record contract."""
    columns = _GENERATORS[model](rng, n, shifted)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"
    for i in range(n):
        features = {name: _plain(columns[name][i]) for name in FEATURES[model]}
        yield json.dumps(
            {
                "model": model,
                "model_version": "3",
                "prediction_id": secrets.token_hex(8),
                "timestamp": stamp,
                "features": features,
                "prediction": float(columns["prediction"][i]),
                "label": None,
            }
        ).encode()


LABELLED_MODEL = "credit-risk"
LABEL_DELAY = 2.0  # seconds between a demo prediction and its label


def demo_labels(rng: np.random.Generator, scores: np.ndarray, shifted: bool) -> np.ndarray:
    """Outcomes drawn from the scores (a calibrated model); once ``shifted``, the world changed its mind
    for a third of the cases (concept drift: only labels can show it)."""
    outcome = (rng.uniform(size=len(scores)) < scores).astype(int)
    if shifted:
        outcome = np.where(rng.uniform(size=len(scores)) < 1 / 3, 1 - outcome, outcome)
    return outcome


def make_record(model: str, rng: np.random.Generator, shifted: bool, now: float) -> bytes:
    return next(make_records(model, rng, 1, shifted, now))


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def write_demo_config(
    directory: Path,
    bootstrap: str,
    topic: str,
    http_port: int,
    webhook_url: str,
    every: str = "5s",
    window: str = "20s",
    labels_topic: str | None = None,
) -> Path:
    """Write reference files and a config for the demo models into ``directory``; return the config path.
    With ``labels_topic``, credit-risk's reference gets labels and the model a performance section."""
    directory.mkdir(parents=True, exist_ok=True)
    models: dict[str, Any] = {}
    for model in DEMO_MODELS:
        frame = reference_frame(model)
        if labels_topic and model == LABELLED_MODEL:
            frame["label"] = demo_labels(np.random.default_rng(8), frame["prediction"].to_numpy(), False)
        frame.to_parquet(directory / f"{model}.parquet", index=False)
        models[model] = {
            "reference": f"{model}.parquet",
            "features": FEATURES[model],
            "prediction": "prediction",
            "window": {"length": window, "max_rows": 20000},
            "schedule": {"every": every},
            "webhooks": ["retrain"],
        }
        if labels_topic and model == LABELLED_MODEL:
            models[model]["performance"] = {
                "task": "binary_classification",
                "label": "label",
                "min_labels": 200,
                "window": window,
                "thresholds": {"accuracy": {"max_drop": 0.1}},
            }
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "topic": topic,
            "group_id": "driftwatch-demo",
            "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        },
        "http": {"host": "127.0.0.1", "port": http_port},
        "models": models,
        "webhooks": {"retrain": {"url": webhook_url, "secret": {"env": SECRET_ENV}, "timeout": "5s"}},
        "state": {"path": str(directory / "state.sqlite")},
    }
    if labels_topic:
        config["kafka"]["labels_topic"] = labels_topic
    path = directory / "driftwatch.yaml"
    import yaml

    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records POSTs and checks their driftwatch signature."""

    def __init__(self, secret: bytes, status: Callable[[int], int] | None = None) -> None:
        from driftwatch.service.webhooks import SIGNATURE_HEADER, verify

        self.received: list[dict[str, Any]] = []
        self.event = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                valid = verify(secret, body, self.headers.get(SIGNATURE_HEADER, ""), time.time())
                attempt = len(receiver.received) + 1
                code = status(attempt) if status else 200
                receiver.received.append(
                    {
                        "body": body,
                        "json": json.loads(body) if body else None,
                        "valid": valid,
                        "key": self.headers.get("Idempotency-Key"),
                        "status": code,
                    }
                )
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.event.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        from driftwatch.service.http import LoggingHTTPServer

        # a delivery that times out mid-request must not print a traceback into the demo's output
        self._server = LoggingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks/retrain"

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextmanager
def _producer(
    bootstrap: str,
    topic: str,
    shift_at: float,
    stop: threading.Event,
    rate: int,
    labels_topic: str | None = None,
) -> Iterator[None]:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    rng = np.random.default_rng()
    due: list[tuple[float, bytes]] = []  # labels to send once their outcome is "known"

    def loop() -> None:
        while not stop.is_set():
            tick = time.time()
            for model in DEMO_MODELS:
                shifted = model == "credit-risk" and tick >= shift_at
                for value in make_records(model, rng, rate // 10, shifted, tick):
                    producer.send(topic, key=model.encode(), value=value)
                    if labels_topic and model == LABELLED_MODEL and rng.uniform() < 0.8:
                        record = json.loads(value)
                        (outcome,) = demo_labels(rng, np.array([record["prediction"]]), shifted)
                        label = {"prediction_id": record["prediction_id"], "label": int(outcome)}
                        due.append((tick + LABEL_DELAY, json.dumps(label).encode()))
            while labels_topic and due and due[0][0] <= tick:
                producer.send(labels_topic, value=due.pop(0)[1])
            producer.flush()
            stop.wait(max(0.0, 0.1 - (time.time() - tick)))

    thread = threading.Thread(target=loop, name="demo-producer", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)
        producer.close(timeout=5)


def run_demo(seconds: float = 90.0, shift_after: float = 30.0, linger: float = 10.0, rate: int = 200) -> int:
    """Run the demo; 0 when drift was detected and the signed webhook arrived within ``seconds``."""
    from driftwatch.cli.localbroker import BrokerUnavailableError, LocalBroker, free_port
    from driftwatch.config import load_settings
    from driftwatch.service.daemon import Daemon

    logging.basicConfig(level=logging.WARNING, format="  daemon %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.CRITICAL)
    logging.getLogger("librdkafka").setLevel(logging.CRITICAL)
    os.environ.setdefault(SECRET_ENV, secrets.token_hex(16))
    secret = os.environ[SECRET_ENV].encode()
    started = time.time()

    def say(text: str) -> None:
        print(f"[{time.time() - started:5.1f}s] {text}", flush=True)

    workdir = Path(tempfile.mkdtemp(prefix="driftwatch-demo-"))
    stop = threading.Event()
    try:
        with LocalBroker(log_path=workdir / "broker.log") as broker, WebhookReceiver(secret) as receiver:
            say(f"Kafka-protocol broker on {broker.bootstrap} (pid {broker.pid})")
            broker.create_topic("predictions", partitions=2)
            broker.create_topic("labels", partitions=1)
            port = free_port()
            config = write_demo_config(
                workdir, broker.bootstrap, "predictions", port, receiver.url, labels_topic="labels"
            )
            say(f"config and reference data in {workdir}")
            say(f"webhook receiver on {receiver.url}")
            daemon = Daemon(load_settings(config))
            daemon.start()
            say(f"daemon up: metrics on http://127.0.0.1:{port}/metrics, results on /api/models")
            say(
                f"producing {rate} records/s per model; credit-risk shifts after {shift_after:.0f}s, churn never; "
                f"credit-risk's labels follow {LABEL_DELAY:.0f}s later on the labels topic"
            )
            with _producer(broker.bootstrap, "predictions", started + shift_after, stop, rate, "labels"):
                outcome = _watch(daemon, receiver, say, started + seconds)
                if outcome == 0:
                    say(
                        f"looking around for {linger:.0f}s more; try: curl -s http://127.0.0.1:{port}/metrics"
                    )
                    _sleep(linger)
            daemon.stop()
            say("stopped broker, receiver, producer and daemon")
            return outcome
    except BrokerUnavailableError as exc:
        print(f"driftwatch demo: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        stop.set()
        print("\ninterrupted; everything the demo started is stopped", file=sys.stderr)
        return 130


def _sleep(seconds: float) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        time.sleep(0.2)


def _watch(daemon: Any, receiver: WebhookReceiver, say: Callable[[str], None], deadline: float) -> int:
    reported: dict[str, str] = {}
    drift_seen = False
    while time.time() < deadline:
        for model, state in daemon.results().items():
            latest = state["latest"]
            if latest is None or reported.get(model) == latest["window_end"]:
                continue
            reported[model] = latest["window_end"]
            drifted = [c["column"] for c in latest["columns"] if c["drift_detected"]]
            verdict = "DATASET DRIFT" if latest["dataset_drift"] else "no drift"
            if latest.get("status", "ok") != "ok":  # no verdict: say why instead of made-up numbers
                say(f"check {model:<11} rows={latest['rows']:>5} no verdict: {latest['reason']}")
            else:
                say(
                    f"check {model:<11} rows={latest['rows']:>5} drifted {latest['n_drifted']}/{latest['n_columns']}"
                    f" share={latest['drift_share']:.2f} -> {verdict}"
                    + (f" ({', '.join(drifted)})" if drifted else "")
                )
            performance = latest.get("performance")
            if performance is not None:
                say(f"      {model:<11} {_performance_line(performance)}")
            drift_seen = drift_seen or (model == "credit-risk" and latest["dataset_drift"])
        for hook in receiver.received:
            if not hook.get("shown"):
                hook["shown"] = True
                event = hook["json"]
                say(
                    f"webhook received: model={event['model']} check={event['check']} "
                    f"transition={event['transition']} "
                    + (
                        f"features={','.join(event['drifted_features'])} "
                        if event["drifted_features"]
                        else ""
                    )
                    + f"signature={'VALID' if hook['valid'] else 'INVALID'} key={hook['key']}"
                )
        if drift_seen and any(h["valid"] for h in receiver.received):
            say("drift detected on credit-risk and the signed retraining webhook delivered: demo OK")
            return 0
        time.sleep(0.25)
    say("demo FAILED: no drift detected and delivered within the time limit")
    return 1


def _performance_line(performance: dict[str, Any]) -> str:
    """Accuracy realized over the labelled predictions, CBPE's estimate, and the reference's."""
    parts = []
    realized = performance.get("realized") or {}
    if realized.get("status") == "not enough labels":
        parts.append(f"labels {realized['labelled_rows']} (not enough yet)")
    elif realized:
        accuracy = realized["values"].get("accuracy")
        verdict = " -> ACCURACY DROP" if realized["breaches"].get("accuracy") else ""
        parts.append(
            f"accuracy {accuracy:.3f} over {realized['labelled_rows']} labels "
            f"(reference {realized['reference']['accuracy']:.3f}){verdict}"
        )
    estimate = ((performance.get("estimated") or {}).get("estimates") or {}).get("accuracy")
    if estimate and estimate.get("value") is not None:
        parts.append(f"estimated without labels {estimate['value']:.3f}")
    return "; ".join(parts) or "performance: waiting for data"
