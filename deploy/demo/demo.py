"""Demo traffic for deploy/docker-compose.yml, run with the driftwatch image's Python.

    python demo.py reference --out DIR        # reference CSVs with the features, `score` and `label`
    python demo.py produce --bootstrap kafka:9092 [--rate 50] [--shift-after 300]
    python demo.py receive --port 8080         # logs the retraining webhooks and checks signatures

`produce` sends prediction records of the two demo models to the `predictions` topic (keyed by
model) and, a minute later, the ground-truth label of most credit-risk predictions to the `labels`
topic, so realized performance has labels to join; credit-risk's inputs shift after
--shift-after seconds, churn's never do. The traffic comes from driftwatch's own demo generator.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from driftwatch.cli.demo import DEMO_MODELS, make_records, reference_frame

log = logging.getLogger("demo")
SECRET_ENV = "DRIFTWATCH_WEBHOOK_SECRET"
PREDICTIONS_TOPIC = "predictions"
LABELS_TOPIC = "labels"
LABEL_DELAY = 60.0  # seconds between a prediction and its label


def write_reference(out: Path, rows: int = 5000) -> list[Path]:
    """One CSV per model: its features, the score the model logs as `prediction`, and the label."""
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    written = []
    for model in DEMO_MODELS:
        frame = reference_frame(model, rows).rename(columns={"prediction": "score"})
        frame["label"] = (rng.random(len(frame)) < frame["score"]).astype(int)
        path = out / f"{model}.csv"
        frame.to_csv(path, index=False)
        path.chmod(0o644)
        written.append(path)
    return written


def produce(bootstrap: str, rate: int, shift_after: float, labels_share: float) -> None:
    from kafka import KafkaProducer
    from kafka.errors import NoBrokersAvailable

    while True:
        try:
            producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
            break
        except NoBrokersAvailable:
            log.info("waiting for Kafka at %s", bootstrap)
            time.sleep(2)
    rng = np.random.default_rng()
    started = time.time()
    pending: deque[tuple[float, str, int]] = deque()  # (due, prediction_id, label)
    log.info(
        "producing %d records/s per model to %s; credit-risk shifts after %.0fs", rate, bootstrap, shift_after
    )
    while True:
        tick = time.time()
        for model in DEMO_MODELS:
            shifted = model == "credit-risk" and tick - started >= shift_after
            for value in make_records(model, rng, rate, shifted, tick):
                producer.send(PREDICTIONS_TOPIC, key=model.encode(), value=value)
                if model == "credit-risk" and rng.random() < labels_share:
                    record = json.loads(value)
                    label = int(rng.random() < record["prediction"])
                    pending.append((tick + LABEL_DELAY, record["prediction_id"], label))
        while pending and pending[0][0] <= tick:
            _, prediction_id, label = pending.popleft()
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(tick))
            body = {"prediction_id": prediction_id, "label": label, "timestamp": stamp}
            producer.send(LABELS_TOPIC, key=prediction_id.encode(), value=json.dumps(body).encode())
        producer.flush()
        time.sleep(max(0.0, 1.0 - (time.time() - tick)))


def receive(port: int) -> None:
    from driftwatch.service.webhooks import SIGNATURE_HEADER, verify

    secret = os.environ.get(SECRET_ENV, "").encode()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            valid = verify(secret, body, self.headers.get(SIGNATURE_HEADER, ""), time.time())
            event = json.loads(body) if body else {}
            log.info(
                "webhook: model=%s check=%s transition=%s signature=%s: %s",
                event.get("model"),
                event.get("check"),
                event.get("transition"),
                "valid" if valid else "INVALID",
                event.get("summary"),
            )
            self.send_response(200 if valid else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    log.info("receiving webhooks on :%d", port)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    ref = sub.add_parser("reference", help="write the reference CSVs")
    ref.add_argument("--out", type=Path, required=True)
    prod = sub.add_parser("produce", help="produce predictions and labels for ever")
    prod.add_argument("--bootstrap", default="kafka:9092")
    prod.add_argument("--rate", type=int, default=50, help="records per second per model")
    prod.add_argument("--shift-after", type=float, default=300.0, help="seconds before credit-risk drifts")
    prod.add_argument("--labels-share", type=float, default=0.8, help="share of predictions that get a label")
    rec = sub.add_parser("receive", help="log the webhooks driftwatch sends")
    rec.add_argument("--port", type=int, default=8080)
    args = parser.parse_args(argv)
    if args.command == "reference":
        for path in write_reference(args.out):
            log.info("wrote %s", path)
    elif args.command == "produce":
        produce(args.bootstrap, args.rate, args.shift_after, args.labels_share)
    else:
        receive(args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
