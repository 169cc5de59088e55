"""The integration lane runs its longest files first, so that its parallel workers end together.

``make test`` spreads the lane over pytest-xdist workers one file at a time, in collection order
(``--dist loadfile --no-loadscope-reorder``). A file that takes minutes started last would finish
alone long after the others, so the files below (the longest, measured on the 2-core machine)
start first; the others follow in their usual order. A file missing here only costs time.
"""

from __future__ import annotations

from pathlib import Path

import pytest

LONGEST_FIRST = (
    "test_crash_recovery.py",  # ~130-170 s: ten kill -9 restarts while 200k records are produced
    "test_scale_out_failover.py",  # ~120-150 s: a kill -9 and a rolling restart of three replicas, with each client
    "test_reader_process.py",  # ~95 s: the rebalance scenario with each reader and librdkafka
    "test_crash_recovery_confluent.py",  # ~65-80 s: five kill -9 restarts with librdkafka
    "test_compression.py",  # ~75 s
    "test_written_paths.py",  # ~50 s: three daemons under a write audit, each rendering a report
    "test_broker_outage.py",  # ~45 s: with each client
    "test_scale_out_labels.py",  # ~40 s: three replicas with each client
    "test_kafka_tls.py",  # ~40 s: TLS and mutual TLS through stunnel with each client
    "test_shutdown.py",  # ~35 s: with each client
    "test_scale_out.py",  # ~30-35 s with both clients
    "test_scale_out_monitoring.py",  # ~30 s
    "test_embeddings_scale_out.py",  # ~30 s: two replicas and a plain daemon, 384-dim vectors
    "test_sampled_decode_kafka.py",  # ~30 s: kafka.decode: sampled with each client and scaled out
    "test_alerting_e2e.py",  # ~30 s: with each client
    "test_consumer_lag.py",  # ~20 s: with each client
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    rank = {name: position for position, name in enumerate(LONGEST_FIRST)}
    here = Path(__file__).resolve().parent

    def order(item: pytest.Item) -> int:
        if item.path.resolve().parent != here:
            return len(rank)
        return rank.get(item.path.name, len(rank))

    items.sort(key=order)  # stable: every file keeps the order of its tests
