"""The source layer reports through a SourceObserver: it imports neither the service layer's metrics nor
the daemon, and Metrics turns its reports into the same series as before."""

from __future__ import annotations

import ast
from pathlib import Path

import driftwatch.source
from driftwatch.service.metrics import Metrics
from driftwatch.source.observer import SourceObserver

SERVICE = (
    "driftwatch.service.metrics",
    "driftwatch.service.daemon",
    "driftwatch.service.http",
    "driftwatch.service.webhooks",
)


def test_no_source_module_imports_the_service_layer() -> None:
    found = []
    for path in Path(driftwatch.source.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            found += [f"{path.name}: {name}" for name in names if name.startswith(SERVICE)]
    assert found == []


def test_metrics_exports_what_the_source_reports() -> None:
    metrics = Metrics()
    observer: SourceObserver = metrics
    sample = metrics.registry.get_sample_value
    observer.set_kafka_up(True)
    assert sample("driftwatch_kafka_up") == 1.0
    observer.set_kafka_up(False)
    assert sample("driftwatch_kafka_up") == 0.0
    observer.set_consumer_lag("predictions", 3, 42)
    labels = {"topic": "predictions", "partition": "3"}
    assert sample("driftwatch_consumer_lag_records", labels) == 42.0
    observer.drop_consumer_lag("predictions", 3)
    assert sample("driftwatch_consumer_lag_records", labels) is None
    observer.count_undecodable_batches("corrupt", 0)
    assert sample("driftwatch_kafka_undecodable_batches_total", {"reason": "corrupt"}) == 0.0
    observer.count_undecodable_batches("corrupt")
    assert sample("driftwatch_kafka_undecodable_batches_total", {"reason": "corrupt"}) == 1.0
    observer.count_offset_commit("ok")
    assert sample("driftwatch_offset_commits_total", {"outcome": "ok"}) == 1.0
    observer.count_dead_letters("skipped", 0)
    assert sample("driftwatch_dead_letters_total", {"outcome": "skipped"}) == 0.0
    observer.count_dead_letters("produced")
    assert sample("driftwatch_dead_letters_total", {"outcome": "produced"}) == 1.0
