"""Every query of both Grafana dashboards, run against Prometheus scraping a real daemon.

The real Kafka-protocol broker feeds a daemon with drifting traffic for credit-risk (with labels on
the labels topic, so realized and estimated performance are computed) and steady traffic for churn,
plus records of each kind the daemon rejects or sets aside. Debian's Prometheus scrapes it every
second. Then every panel target of grafana/dashboards/*.json is run through Prometheus's HTTP API
the way Grafana would run it: template variables substituted ($model, $feature and $metric from
Prometheus's label values, multi-value ones as a regex alternation, $__rate_interval, $__range...),
range targets through query_range, instant ones through query. Each must be valid PromQL and
return at least one series, so a metric renamed in src/driftwatch/service/metrics.py, or a label a query
relies on, fails here; the failure lists every empty query.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from kafka import KafkaProducer

from driftwatch.cli.demo import FEATURES, SECRET_ENV, WebhookReceiver, make_records, reference_frame
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.conftest import require
from tests.promstack import INSTALL_HINT, Prometheus, StackError, prometheus_binary, static_job
from tests.waiting import wait_for

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
SECRET = "dashboards-live-secret"
PER_MODEL = 1500
EMBEDDING_DIM = 16
MODEL = "credit-risk"  # the model shown by the model dashboard: drifting, labelled, with performance
WAIT = 60.0
STEP = 2  # seconds between points of a range query: Grafana's $__interval
RATE_INTERVAL = "10s"  # Grafana: max($__interval + scrape interval, 4 x scrape interval), scrape = 1s
SCRAPES = 14  # scrapes before querying, so that rate() over $__rate_interval has samples
PERFORMANCE_METRICS = (
    "driftwatch_performance",
    "driftwatch_estimated_performance",
    "driftwatch_window_labelled_rows",
    "driftwatch_labels_",
)
# Series only a scaled-out daemon (kafka.scale_out) exports: who owns which model, the internal topics'
# traffic, ownership restores. This daemon runs alone, not scaled out, so their queries must be valid
# but may be empty; with scale_out enabled in the config below they must return series like the rest.
SCALE_OUT_METRICS = (
    "driftwatch_model_owner",
    "driftwatch_exchange_messages_total",
    "driftwatch_exchange_bytes_total",
    "driftwatch_ownership_restores_total",
)
# The rows of the model dashboard about scopes (segments:, versions:, baseline: in a model's config) and
# its variables listing them: a daemon without scoped models exports none of their series, so their
# queries must be valid but may be empty; once a model of the config below is scoped they must return
# series like the rest.
SCOPE_ROWS = ("Segments", "Versions", "Rolling baseline")
SCOPE_VARIABLES = ("$version", "$segment")
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
LABEL_VALUES = re.compile(r"^label_values\((.*),\s*(\w+)\)$")


def write_config(directory: Path, bootstrap: str, topics: dict[str, str], port: int, hook: str) -> Path:
    """Reference CSVs (features, the `score` the model logs as its prediction, the `label`) and a config."""
    rng = np.random.default_rng(5)
    models: dict[str, Any] = {}
    for model in ("credit-risk", "churn"):
        frame = reference_frame(model, rows=3000).rename(columns={"prediction": "score"})
        frame["label"] = (rng.random(len(frame)) < frame["score"]).astype(int)
        if model == MODEL:  # its embedding's reference vectors, as JSON arrays in a CSV column
            frame["vec"] = [json.dumps(v.tolist()) for v in rng.normal(size=(len(frame), EMBEDDING_DIM))]
        frame.to_csv(directory / f"{model}.csv", index=False)
        features: list[Any] = [
            {"name": name, "type": "categorical"} if name in {"country", "plan"} else name
            for name in FEATURES[model]
        ]
        models[model] = {
            "reference": f"{model}.csv",
            "features": features,
            "prediction": "score",
            "window": {"length": "1h", "max_rows": 20000},
            "schedule": {"every": "1s"},
            "webhooks": ["retrain"],
        }
    models[MODEL]["performance"] = {
        "task": "binary_classification",
        "label": "label",
        "decision_threshold": 0.5,
        "min_labels": 50,
        "thresholds": {"accuracy": {"max_drop": 0.05}, "roc_auc": {"min": 0.6}},
    }
    # an embedding, so the Embeddings row has series (its vectors drift with the features)
    models[MODEL]["embeddings"] = {"text_vec": {"field": "vec", "dim": EMBEDDING_DIM}}
    # limits on every measure, so the quality panels' limit lines and breach timeline have series
    models[MODEL]["quality"] = {"missing_share": 0.5, "unseen_share": 0.5, "out_of_range_share": 0.5}
    # both multivariate methods, so that each of the multivariate drift panels has series
    models[MODEL]["drift"] = {
        "multivariate": {"methods": ["reconstruction_error", "domain_classifier_auroc"]}
    }
    config = {
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "topic": topics["predictions"],
            "labels_topic": topics["labels"],
            "dead_letter_topic": topics["dead"],
            "group_id": f"dashboards-{uuid.uuid4().hex[:6]}",
            "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        },
        "http": {"host": "127.0.0.1", "port": port},
        "models": models,
        "webhooks": {"retrain": {"url": hook, "secret": {"env": SECRET_ENV}, "timeout": "5s"}},
        "state": {"path": str(directory / "state.sqlite")},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + "Z"


def produce(bootstrap: str, topics: dict[str, str]) -> int:
    """Traffic of both models, labels for most credit-risk predictions, and records of each kind the
    daemon counts apart; returns the number of credit-risk records that go into its window."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    rng = np.random.default_rng(13)
    now = time.time()
    topic = topics["predictions"]
    labelled: list[dict[str, Any]] = []
    for model, shifted in (("credit-risk", True), ("churn", False)):
        for value in make_records(model, rng, PER_MODEL, shifted, now):
            sent = value
            if model == MODEL:
                record = json.loads(value)
                record["vec"] = (rng.normal(size=EMBEDDING_DIM) + 0.5).tolist()
                sent = json.dumps(record).encode()
                labelled.append(record)
            producer.send(topic, key=model.encode(), value=sent)
    # a value of the wrong kind (counted as missing and as a type violation)
    for value in make_records(MODEL, rng, 20, True, now):
        record = json.loads(value)
        record["features"]["age"] = "unknown"
        record["vec"] = rng.normal(size=EMBEDDING_DIM).tolist()
        producer.send(topic, key=MODEL.encode(), value=json.dumps(record).encode())
    # valid records too old for the window, and records the daemon rejects
    for value in make_records("churn", rng, 5, False, now - 7200):
        producer.send(topic, key=b"churn", value=value)
    for value in make_records("churn", rng, 5, False, now):
        record = json.loads(value)
        record["model"] = "no-such-model"
        producer.send(topic, key=b"no-such-model", value=json.dumps(record).encode())
    for _ in range(5):
        producer.send(topic, key=b"churn", value=b"{not json")
    # labels for 90% of credit-risk's predictions, some twice, and two that cannot be decoded
    for record in labelled[: int(len(labelled) * 0.9)]:
        label = int(rng.random() < record["prediction"])
        body = json.dumps({"prediction_id": record["prediction_id"], "label": label, "timestamp": iso(now)})
        producer.send(topics["labels"], key=record["prediction_id"].encode(), value=body.encode())
    for record in labelled[:10]:
        body = json.dumps({"prediction_id": record["prediction_id"], "label": 1, "timestamp": iso(now)})
        producer.send(topics["labels"], key=record["prediction_id"].encode(), value=body.encode())
    for _ in range(2):
        producer.send(topics["labels"], value=b"\xffnot a label")
    producer.flush()
    producer.close()
    return PER_MODEL + 20


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def scope_panels(dashboard: dict[str, Any]) -> set[str]:
    """Titles of the panels under the scope rows (`SCOPE_ROWS`)."""
    titles: set[str] = set()
    row = ""
    for panel in panels(dashboard):
        if panel["type"] == "row":
            row = panel["title"]
        elif row in SCOPE_ROWS:
            titles.add(panel["title"])
    return titles


def regex_escape(value: str) -> str:
    """Grafana's escaping of a value inside a Prometheus regex."""
    return re.sub(r"([\\^$*+?.()|{}\[\]])", r"\\\\\1", value)


class Substitution:
    """Grafana's interpolation of template variables into a Prometheus query."""

    def __init__(self, builtins: dict[str, str]) -> None:
        self.builtins = builtins
        self.values: dict[str, list[str]] = {}
        self.multi: set[str] = set()

    def set(self, variable: dict[str, Any], values: list[str]) -> None:
        self.values[variable["name"]] = values
        if variable.get("multi") or variable.get("includeAll"):
            self.multi.add(variable["name"])

    def set_raw(self, variable: dict[str, Any], value: str) -> None:
        """A custom all value: Grafana puts it in the query as it is, unescaped."""
        self.values[variable["name"]] = [value]
        self.multi.discard(variable["name"])

    def __call__(self, text: str) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2) or match.group(3)
            if name in self.builtins:
                return self.builtins[name]
            if name not in self.values:
                raise AssertionError(f"{text!r} uses ${name}, which is neither a variable nor a built-in")
            values = self.values[name]
            if name not in self.multi:
                return values[0]
            escaped = [regex_escape(v) for v in values]
            return escaped[0] if len(escaped) == 1 else f"({'|'.join(escaped)})"

        return VARIABLE.sub(one, text)


def variable_values(prometheus: Prometheus, query: str, substitute: Substitution, start: float) -> list[str]:
    """What a Prometheus query variable lists: ``label_values(selector, label)``."""
    match = LABEL_VALUES.match(query.strip())
    assert match, f"unsupported variable query {query!r}"
    selector, label = substitute(match.group(1)), match.group(2)
    values: list[str] = prometheus.api(
        f"label/{label}/values", **{"match[]": selector, "start": f"{start:.3f}", "end": f"{time.time():.3f}"}
    )
    return values


def run_dashboard(
    prometheus: Prometheus, dashboard: dict[str, Any], start: float, chosen: dict[str, list[str]]
) -> tuple[list[str], list[str], int]:
    """Run every target of ``dashboard``; return (invalid queries, empty queries, queries run)."""
    end = time.time()
    window = f"{int(end - start)}s"
    substitute = Substitution(
        {
            "__rate_interval": RATE_INTERVAL,
            "__interval": f"{STEP}s",
            "__interval_ms": str(STEP * 1000),
            "__range": window,
            "__range_s": window[:-1],
            "__range_ms": str(int(end - start) * 1000),
        }
    )
    invalid: list[str] = []
    empty: list[str] = []
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "datasource":
            substitute.set(variable, ["prometheus"])
        elif variable["type"] in {"constant", "textbox"}:
            substitute.set(variable, [variable["query"]])
        elif variable["type"] == "query":
            values = variable_values(prometheus, variable["query"], substitute, start)
            if not values:
                empty.append(f"{dashboard['uid']}: variable ${variable['name']}: {variable['query']}")
                values = [".+"] if variable.get("multi") else [""]
            if variable["name"] in chosen:
                missing = set(chosen[variable["name"]]) - set(values)
                assert not missing, f"variable ${variable['name']} does not list {missing}: {values}"
                values = chosen[variable["name"]]
            elif variable.get("allValue") and variable.get("current", {}).get("value") in (
                "$__all",
                ["$__all"],
            ):
                substitute.set_raw(variable, variable["allValue"])  # "All" with a custom all value
                continue
            substitute.set(variable, values)
        else:
            raise AssertionError(f"variable type {variable['type']} is not handled by this test")
    count = 0
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            count += 1
            expr = substitute(target["expr"])
            where = f"{dashboard['uid']}: {panel['title']} [{target['refId']}]: {expr}"
            try:
                if target.get("instant"):
                    result = prometheus.query(expr, at=end)
                else:
                    result = prometheus.api(
                        "query_range", query=expr, start=f"{start:.3f}", end=f"{end:.3f}", step=str(STEP)
                    )["result"]
            except StackError as exc:
                invalid.append(f"{where}\n    {exc}")
                continue
            if not result:
                empty.append(where)
    return invalid, empty, count


@pytest.fixture
def topics(broker: LocalBroker, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    if prometheus_binary() is None:
        require("Prometheus (/usr/bin/prometheus)", INSTALL_HINT)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    suffix = uuid.uuid4().hex[:8]
    names = {
        "predictions": f"dash-{suffix}",
        "labels": f"dash-labels-{suffix}",
        "dead": f"dash-dead-{suffix}",
    }
    broker.create_topic(names["predictions"], partitions=2)
    broker.create_topic(names["labels"], partitions=1)
    broker.create_topic(names["dead"], partitions=1)
    return names


def test_every_dashboard_query_returns_series(
    broker: LocalBroker, topics: dict[str, str], tmp_path: Path
) -> None:
    began = time.monotonic()
    port = free_port()
    with ExitStack() as stack:
        hooks = stack.enter_context(WebhookReceiver(SECRET.encode()))
        daemon_dir = tmp_path / "daemon"
        daemon_dir.mkdir()
        config = write_config(daemon_dir, broker.bootstrap, topics, port, hooks.url)
        settings = load_settings(config)
        daemon = Daemon(settings)
        daemon.start()
        stack.callback(daemon.stop)
        windowed = produce(broker.bootstrap, topics)

        def converged() -> bool:
            results = daemon.results()
            latest = results[MODEL]["latest"] or {}
            return (
                latest.get("rows") == windowed
                and (results["churn"]["latest"] or {}).get("rows") == PER_MODEL
                and bool(hooks.received)
            )

        wait_for(
            converged,
            WAIT,
            lambda: f"the daemon to window and check every record: {daemon.results()}",
            interval=0.2,
        )

        prometheus = stack.enter_context(
            Prometheus(tmp_path / "prometheus", [static_job("driftwatch", [f"127.0.0.1:{port}"])])
        )
        try:
            prometheus.wait_for_target("driftwatch", timeout=WAIT)
            start = time.time()
            prometheus.wait_for(
                "count(count_over_time(driftwatch_window_rows[1m]) >= 2)", timeout=WAIT
            )  # two scrapes: a series for every gauge
            time.sleep(max(0.0, SCRAPES - (time.time() - start)))  # about time: SCRAPES seconds of samples
            results = [
                run_dashboard(
                    prometheus, json.loads((DASHBOARDS / name).read_text(encoding="utf-8")), start, chosen
                )
                for name, chosen in (
                    ("driftwatch-overview.json", {}),
                    ("driftwatch-model.json", {"model": [MODEL]}),
                )
            ]
        except (StackError, AssertionError) as exc:
            raise AssertionError(f"{exc}\n{prometheus.log_tail()}") from None
    invalid = [line for result in results for line in result[0]]
    empty = [line for result in results for line in result[1]]
    ran = sum(result[2] for result in results)
    scale_out = [line for line in empty if any(name in line for name in SCALE_OUT_METRICS)]
    if not settings.kafka.scale_out.enabled:
        empty = [line for line in empty if line not in scale_out]
        assert scale_out, "the scale-out panels were not run"
    if not any(model.scoped for model in settings.models.values()):
        titles = scope_panels(json.loads((DASHBOARDS / "driftwatch-model.json").read_text(encoding="utf-8")))
        scoped = [
            line
            for line in empty
            if any(f": {title} [" in line for title in titles)
            or any(f"variable {name}:" in line for name in SCOPE_VARIABLES)
        ]
        empty = [line for line in empty if line not in scoped]
        assert scoped, "the scope panels were not run"
    performance = [line for line in empty if any(name in line for name in PERFORMANCE_METRICS)]
    other = [line for line in empty if line not in performance]
    report = (
        f"{ran} queries in {time.monotonic() - began:.0f}s; {len(invalid)} invalid, {len(empty)} without series"
        + "".join(f"\n  INVALID {line}" for line in invalid)
        + "".join(f"\n  NO SERIES {line}" for line in other)
        + (
            "\n  NO SERIES from the performance metrics (labels joined from the labels topic, "
            "realized and CBPE-estimated performance):" + "".join(f"\n    {line}" for line in performance)
            if performance
            else ""
        )
    )
    print(report)
    assert not invalid and not empty, report
