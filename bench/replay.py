"""How fast ``driftwatch replay`` goes through a past period, from JSON-lines and from the broker.

A synthetic model (20 numeric and 5 categorical features, a float prediction) with a day of traffic,
``--records`` records spread evenly over 24 hours, checked every hour on a one-hour window (24
checks). Each run builds a fresh replay (`driftwatch.service.replay.Replay`) and times, separately:

* read: the records read back (the JSON-lines file parsed; or the topic scanned by event time with an
  assigned consumer; this includes the ``--idle`` seconds the read waits to be sure the log has ended);
* replay: the records fed through the daemon's ingest and the 24 checks run;

and prints records/s for each and end to end, per run and the median of ``--runs`` runs. The broker is
a local one started as the tests start theirs (`driftwatch.cli.localbroker`), one topic of
``--partitions`` partitions, read with kafka-python (``--client confluent`` for librdkafka).

    python bench/replay.py                          # 200,000 records, 3 runs
    python bench/replay.py --records 50000 --runs 1 --no-broker
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from common import TIMESTAMP_PLACEHOLDER, encode_records, iso_stamp, synthetic_model, write_config
from driftwatch.cli.localbroker import LocalBroker
from driftwatch.config import load_settings
from driftwatch.service.replay import Replay, lookback_of
from driftwatch.source.recorded import Recorded, read_files, read_kafka

DAY = 86_400.0
START = 1_800_000_000.0 - 1_800_000_000.0 % DAY  # a midnight


def stamped(records: int) -> tuple[list[bytes], list[float]]:
    """``records`` JSON records spread evenly over the day before ``START + DAY``."""
    model = synthetic_model("bench", 20, 5)
    values = encode_records(model, records, np.random.default_rng(3))
    times = [START + DAY * i / records for i in range(records)]
    placeholder = TIMESTAMP_PLACEHOLDER.encode()
    return [
        v.replace(placeholder, iso_stamp(t).encode(), 1) for v, t in zip(values, times, strict=True)
    ], times


def one_run(config: Path, read: Callable[[float, float], list[Recorded]]) -> tuple[int, float, float, int]:
    """(records, read seconds, replay seconds, checks) of one replay of the day."""
    settings = load_settings(config)
    with Replay(settings) as replay:
        start, end = START + 3600, START + DAY
        began = time.perf_counter()
        records = read(start - lookback_of(replay.settings), end)
        read_seconds = time.perf_counter() - began
        report = replay.run(records, replay.schedule(start, end))
    return report.records, read_seconds, report.seconds, len(report.checks)


def show(name: str, runs: list[tuple[int, float, float, int]]) -> None:
    for i, (records, read_s, replay_s, checks) in enumerate(runs, 1):
        print(
            f"  {name} run {i}: {records:,} records, {checks} checks; read {records / read_s:,.0f}/s "
            f"({read_s:.2f} s), replay {records / replay_s:,.0f}/s ({replay_s:.2f} s), "
            f"end to end {records / (read_s + replay_s):,.0f}/s"
        )
    read = statistics.median(r[0] / r[1] for r in runs)
    replay = statistics.median(r[0] / r[2] for r in runs)
    total = statistics.median(r[0] / (r[1] + r[2]) for r in runs)
    print(
        f"{name}: median read {read:,.0f} records/s, replay {replay:,.0f} records/s, end to end {total:,.0f} records/s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds without records that end a read")
    parser.add_argument("--client", choices=["kafka-python", "confluent"], default="kafka-python")
    parser.add_argument("--no-broker", action="store_true", help="JSON-lines only")
    args = parser.parse_args()
    values, times = stamped(args.records)
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-replay-") as tmp:
        workdir = Path(tmp)
        model = synthetic_model("bench", 20, 5)
        config = write_config(workdir / "files", [model], window="1h", every="1h", max_rows=50_000)
        jsonl = workdir / "day.jsonl"
        jsonl.write_bytes(b"".join(v + b"\n" for v in values))
        print(
            f"{args.records:,} records over 24 h, 24 hourly checks on a 1 h window, {sys.version.split()[0]}"
        )

        def from_file(since: float, until: float) -> list[Recorded]:
            return [r for r in read_files([jsonl], "predictions") if since <= r.event <= until]

        show("json-lines", [one_run(config, from_file) for _ in range(args.runs)])
        if args.no_broker:
            return 0
        with LocalBroker(log_path=workdir / "broker.log") as broker:
            from kafka import KafkaProducer

            broker.create_topic("day", partitions=args.partitions)
            producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=20, batch_size=1 << 20)
            for i, (value, t) in enumerate(zip(values, times, strict=True)):
                producer.send("day", value=value, partition=i % args.partitions, timestamp_ms=int(t * 1000))
            producer.flush()
            producer.close()
            config = write_config(
                workdir / "broker",
                [model],
                bootstrap=broker.bootstrap,
                topic="day",
                window="1h",
                every="1h",
                max_rows=50_000,
            )
            kafka = load_settings(config).kafka.model_copy(update={"client": args.client})

            def from_broker(since: float, until: float) -> list[Recorded]:
                return read_kafka(kafka, ["day"], since, until, idle=args.idle)

            show(
                f"broker ({args.client}, {args.partitions} partitions)",
                [one_run(config, from_broker) for _ in range(args.runs)],
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
