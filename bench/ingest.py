"""Ingest throughput: records/s through the whole daemon vs a plain kafka-python consumer, same run.

One model with 25 numeric and 5 categorical features; its JSON records are
about 1 KB each. For every repeat the script produces ``--records`` records
round-robin to a fresh topic of ``--partitions`` partitions on a local
Kafka-protocol broker (Tansu; producing is not measured), then measures

* raw: a kafka-python ``KafkaConsumer`` with driftwatch's consumer options
  (``consumer_config``), assigned every partition from the beginning (no
  group join), polling until it has counted every message;
* raw + parse: the same raw consumer, also parsing every record with
  msgspec into a typed struct of all its features (and dropping it): what
  any consumer that reads the features pays at least, in one thread;
* daemon: driftwatch's ``Daemon`` on the same topic with a new consumer group,
  from the first record windowed until the window holds every record
  (``max_rows`` is above the record count, so every record is kept), polled
  every 20 ms; checkpoints (if the daemon takes them) run as configured, the
  drift check is scheduled hourly so it never runs during the measurement.
  With ``--max-rows`` below the record count the window samples and trims on
  every insert (the steady state under heavy traffic); the records-consumed
  counter is then watched instead;
* handle only: ``Daemon.handle`` (decode, validate, window insert) on the
  same records in batches of ``max_poll_records``, without Kafka, plus the
  checkpoints the source would take at its interval, timed apart; and the
  decode and the window insert of the same batches timed separately.

Rates exclude connection set-up and the group join: each starts at the first
non-empty poll (raw) or the first windowed record (daemon) and counts only the
records after it. The script prints per-run figures, medians, the
daemon/raw ratio and a verdict against the target (80% of raw).

    python bench/ingest.py                          # 300k records, 3 repeats
    python bench/ingest.py --records 100000 --repeats 1 --profile 25
    python bench/ingest.py --max-rows 50000         # the sampling regime
    python bench/ingest.py --reader process         # kafka-python in a child process

With ``--reader process`` the daemon's CPU figure covers its own process only;
the reader process's CPU is printed apart.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter, methodcaller
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from common import (
    FakeMessage,
    SyntheticModel,
    encode_records,
    iso_stamp,
    kafka_uses_crc32c,
    synthetic_model,
    write_config,
)
from driftwatch.cli.localbroker import LocalBroker
from driftwatch.config import Settings, load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.source.kafka import consumer_config

MODEL = "fraud-scoring"
TARGET = 0.80  # kafka.client: confluent, of the raw librdkafka consume rate
TARGET_RATE_CONFLUENT = 100_000  # and at least this many records/s end to end
TARGET_KAFKA_PYTHON = 0.70  # the default client and reader, of the raw kafka-python rate
POLL = 0.02  # seconds between looks at the daemon's window


@dataclass
class Rate:
    records: int  # counted in the timed span
    seconds: float
    setup: float  # seconds before the first record (connect + join + first fetch)
    cpu: float  # this process's CPU seconds in the timed span, all threads
    broker_cpu: float  # the broker's CPU seconds in the timed span
    reader_cpu: float = 0.0  # the daemon's reader process's CPU seconds in the timed span (reader: process)

    @property
    def per_second(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


@dataclass
class HandleRate:
    records: int
    handle: float  # seconds in Daemon.handle
    checkpoint: float  # seconds in Daemon.checkpoint (0 when the daemon has none)
    checkpoints: int
    decode: float = 0.0  # seconds decoding and validating the same records (RecordDecoder), timed apart
    insert: float = 0.0  # seconds adding the decoded records to a fresh window (Window.add_columns), apart

    @property
    def per_second(self) -> float:
        return self.records / self.handle

    @property
    def with_checkpoints(self) -> float:
        return self.records / (self.handle + self.checkpoint)


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) used so far by process ``pid``."""
    if pid is None:
        return 0.0
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def produce(bootstrap: str, topic: str, records: list[bytes], partitions: int) -> float:
    """Send every record (round-robin over the partitions); seconds taken."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=50,
        batch_size=512 * 1024,
        max_request_size=4 * 1024 * 1024,
        acks=1,
    )
    started = time.perf_counter()
    try:
        for i, value in enumerate(records):
            producer.send(topic, value=value, partition=i % partitions)
        producer.flush()
    finally:
        producer.close(timeout=10)
    return time.perf_counter() - started


def measure_raw(
    settings: Settings,
    topic: str,
    partitions: int,
    total: int,
    broker_pid: int | None,
    timeout: float,
    parse: Callable[[bytes], object] | None = None,
) -> Rate:
    """The raw client's rate: a consumer of ``settings.kafka.client`` with the daemon's options (for
    librdkafka, translated as the daemon translates them), assigned every partition from the beginning
    (no group join), consuming until it has every message; with ``parse``, each record's value is also
    parsed (and dropped)."""
    started = time.perf_counter()
    if settings.kafka.client == "confluent":
        from confluent_kafka import OFFSET_BEGINNING, Consumer
        from confluent_kafka import TopicPartition as LibPartition

        from driftwatch.source.confluent import confluent_config
        from driftwatch.source.kafka import connection_config

        config = confluent_config(settings.kafka, connection_config(settings.kafka))
        config.pop("statistics.interval.ms", None)
        lib = Consumer(config)
        lib.assign([LibPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        size = int(settings.kafka.options.get("max_poll_records", 5000))

        def poll() -> list[Any]:
            return [m for m in lib.consume(size, 0.5) if m.error() is None]

        value: Callable[[Any], bytes] = methodcaller("value")
        close: Callable[[], None] = lib.close
    else:
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(**{**consumer_config(settings.kafka), "group_id": None})
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        consumer.seek_to_beginning(*assigned)

        def poll() -> list[Any]:
            return [r for records in consumer.poll(timeout_ms=500).values() for r in records]

        value = attrgetter("value")

        def close() -> None:
            consumer.close(autocommit=False)

    try:
        count = 0
        first: tuple[float, int, float, float] | None = None
        while count < total:
            got = poll()  # the records (their values untouched unless parsed)
            if parse is not None:
                list(map(parse, map(value, got)))
            count += len(got)
            if got and first is None:
                first = (time.perf_counter(), count, time.process_time(), process_cpu(broker_pid))
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"raw consumer: {count}/{total} messages after {timeout:.0f}s")
        end = time.perf_counter()
        cpu, broker = time.process_time(), process_cpu(broker_pid)
    finally:
        close()
    assert first is not None
    return Rate(total - first[1], end - first[0], first[0] - started, cpu - first[2], broker - first[3])


def parse_floor(model: SyntheticModel) -> Callable[[bytes], object]:
    """msgspec's decoder of a record into a typed struct of every feature (numbers as int | float | None,
    categories as text): parsing every value, the least any consumer that reads the features does per
    record (the daemon's own decode is this plus validation and columns)."""
    features = msgspec.defstruct(
        "BenchFeatures",
        [(name, int | float | None, None) for name in model.numeric]
        + [(name, str | None, None) for name in model.categorical],
        gc=False,
    )
    record = msgspec.defstruct(
        "BenchRecord",
        [
            ("model", str),
            ("features", features),
            ("model_version", str | None, None),
            ("prediction_id", str | None, None),
            ("timestamp", str | None, None),
            ("prediction", float | None, None),
            ("label", int | None, None),
        ],
        gc=False,
    )
    return msgspec.json.Decoder(record).decode


def measure_daemon(settings: Settings, total: int, broker_pid: int | None, timeout: float) -> Rate:
    daemon = Daemon(settings)
    window = daemon.windows[MODEL]
    if window.max_rows >= total:  # every record stays in the window
        progress: Callable[[], float] = window.rows
    else:  # the window samples: count what was windowed instead
        registry = daemon.metrics.registry
        labels = {"model": MODEL}

        def progress() -> float:
            return registry.get_sample_value("driftwatch_records_consumed_total", labels) or 0.0

    started = time.perf_counter()
    daemon.start()
    try:
        first: tuple[float, int, float, float, float] | None = None
        reader: int | None = None
        while True:
            rows = int(progress())
            now = time.perf_counter()
            if rows and first is None:
                reader = getattr(daemon.source._consumer, "pid", None)  # the reader process, if any
                first = (now, rows, time.process_time(), process_cpu(broker_pid), process_cpu(reader))
            if rows >= total:
                break
            if now - started > timeout:
                raise TimeoutError(f"daemon: {rows}/{total} records windowed after {timeout:.0f}s")
            time.sleep(POLL)
        cpu, broker, reader_cpu = time.process_time(), process_cpu(broker_pid), process_cpu(reader)
    finally:
        daemon.stop()
    assert first is not None
    return Rate(
        total - first[1],
        now - first[0],
        first[0] - started,
        cpu - first[2],
        broker - first[3],
        reader_cpu - first[4],
    )


def message_batches(records: list[bytes], partitions: int, topic: str, size: int) -> list[list[FakeMessage]]:
    """The records as the consumer would hand them over: batches of ``size``, round-robin partitions."""
    stamp = int(time.time() * 1000)
    messages = [FakeMessage(v, stamp, topic, i % partitions, i // partitions) for i, v in enumerate(records)]
    return [messages[i : i + size] for i in range(0, len(messages), size)]


def close_idle(daemon: Daemon) -> None:
    """Release what an unstarted daemon holds (its HTTP socket, its state file)."""
    daemon.http.start()  # `stop` waits for the serving loop, so there must be one
    daemon.http.stop()
    daemon.store.close()


def run_handle(daemon: Daemon, batches: list[list[FakeMessage]], interval: float) -> HandleRate:
    """Feed the batches to ``daemon.handle``; checkpoint as the source does (every ``interval`` s)."""
    checkpoint = getattr(daemon, "checkpoint", None)
    offsets: dict[tuple[str, int], int] = {}
    handle_s = checkpoint_s = 0.0
    checkpoints = 0
    last = time.perf_counter()
    for i, batch in enumerate(batches):
        started = time.perf_counter()
        daemon.handle(batch)
        ended = time.perf_counter()
        handle_s += ended - started
        for message in batch:
            offsets[(message.topic, message.partition)] = message.offset + 1
        if checkpoint is not None and (ended - last >= interval or i == len(batches) - 1):
            checkpoint(dict(offsets))
            last = time.perf_counter()
            checkpoint_s += last - ended
            checkpoints += 1
    return HandleRate(sum(len(b) for b in batches), handle_s, checkpoint_s, checkpoints)


def split_handle(daemon: Daemon, batches: list[list[FakeMessage]]) -> tuple[float, float]:
    """Seconds decoding and seconds window-inserting ``batches``, each timed on its own (no profiler):
    the two steps of ``Daemon.handle``, on an unstarted daemon of its own. A batch the columnar fast
    path takes is decoded into columns (`RecordDecoder.decode_columns`) and added with
    `Window.add_columns`; any other through the exact path (`decode_batch`, `Window.add`)."""
    decoder = daemon.decoder
    window = daemon.windows[MODEL]
    layouts = {name: w.columns for name, w in daemon.windows.items()}
    decode_s = insert_s = 0.0
    for batch in batches:
        payloads = [m.value for m in batch]
        fallbacks = [m.timestamp / 1000.0 for m in batch]
        started = time.perf_counter()
        columns = decoder.decode_columns(payloads, fallbacks, layouts)
        decoded = decoder.decode_batch(payloads, fallbacks) if columns is None else []
        middle = time.perf_counter()
        if columns is None:
            window.add(decoded, daemon.clock())  # type: ignore[arg-type]
        else:
            for part in columns:
                window.add_columns(part.timestamps, part.columns, daemon.clock())
        insert_s += time.perf_counter() - middle
        decode_s += middle - started
    return decode_s, insert_s


def decode_breakdown(daemon: Daemon, batches: list[list[FakeMessage]]) -> dict[str, float]:
    """Microseconds per record of each step of the columnar decode (`RecordDecoder.decode_columns`),
    each timed on its own over ``batches``: the typed msgspec parse, the numeric and the categorical
    feature matrices, the category keys, the event times; and the window insert. Uses the decoder's
    internals, so it follows them (a benchmark, not an interface)."""
    from driftwatch.drift.profile import category_keys
    from driftwatch.stream import records

    decoder = daemon.decoder
    layouts = {name: w.columns for name, w in daemon.windows.items()}
    window = daemon.windows[MODEL]
    payloads = [[m.value for m in batch] for batch in batches]
    fallbacks = [[m.timestamp / 1000.0 for m in batch] for batch in batches]
    if decoder.decode_columns(payloads[0], fallbacks[0], layouts) is None:
        return {}  # not the fast path: nothing to break down
    columnar = decoder._columnar[1]  # type: ignore[index]
    parse = columnar._decoder.decode
    total = sum(map(len, payloads))
    spent: dict[str, float] = {}

    @contextlib.contextmanager
    def timed(step: str) -> Iterator[None]:
        started = time.perf_counter()
        yield
        spent[step] = spent.get(step, 0.0) + time.perf_counter() - started

    for values, fallback in zip(payloads, fallbacks, strict=True):
        with timed("parse (msgspec, typed)"):
            wires = list(map(parse, values))
        layout = columnar._models[type(wires[0])]
        features = list(map(records._FEATURES, wires))
        with timed("numeric matrix"):
            records._matrix(layout.numeric, features, floats=True)
        with timed("categorical matrix"):
            other = records._matrix(layout.other, features, floats=False)
        with timed("category keys"):
            for i in range(other.shape[1]):
                category_keys(other[:, i])
        with timed("event times"):
            records._timestamps(list(map(records._TIMESTAMP, wires)), list(range(len(wires))), fallback)
        for part in decoder.decode_columns(values, fallback, layouts) or []:
            with timed("window insert"):
                window.add_columns(part.timestamps, part.columns, daemon.clock())
    started = time.perf_counter()
    for values, fallback in zip(payloads, fallbacks, strict=True):
        decoder.decode_columns(values, fallback, layouts)
    spent["decode_columns, whole"] = time.perf_counter() - started
    return {step: 1e6 * seconds / total for step, seconds in spent.items()}


def top_functions(profile: cProfile.Profile, count: int) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(count)
    lines = out.getvalue().splitlines()
    start = next((i for i, line in enumerate(lines) if "ncalls" in line), 0)
    return "\n".join("    " + line for line in lines[start:] if line.strip())


def profile_handle(settings: Settings, batches: list[list[FakeMessage]], interval: float, count: int) -> None:
    daemon = Daemon(settings)
    profile = cProfile.Profile()
    profile.enable()
    try:
        run_handle(daemon, batches, interval)
    finally:
        profile.disable()
        close_idle(daemon)
    print(
        f"\ncProfile of Daemon.handle (+ checkpoints), top {count} by own time (cProfile adds a cost to every "
        "call, so loops of many small C calls such as dict.get and isinstance look heavier than they are; "
        "the decode/insert split above is timed without it):"
    )
    print(top_functions(profile, count))


def profile_raw(
    settings: Settings, topic: str, partitions: int, total: int, broker_pid: int | None, count: int
) -> None:
    profile = cProfile.Profile()
    profile.enable()
    try:
        measure_raw(settings, topic, partitions, total, broker_pid, timeout=600)
    finally:
        profile.disable()
    print(f"\ncProfile of the raw kafka-python consumer, top {count} by own time:")
    print(top_functions(profile, count))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=300_000, help="records per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs, each on a fresh topic and group")
    parser.add_argument("--partitions", type=int, default=4, help="partitions of each topic")
    parser.add_argument("--numeric", type=int, default=25, help="numeric features")
    parser.add_argument("--categorical", type=int, default=5, help="categorical features")
    parser.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="window max_rows (default: above --records, so every record is kept; lower it to measure "
        "the sampling regime, where every insert also trims the window)",
    )
    parser.add_argument(
        "--unmonitored",
        type=int,
        default=0,
        metavar="K",
        help="of the records' numeric features, leave the last K out of the model's config: producers "
        "often log more features than a model is monitored on",
    )
    parser.add_argument(
        "--reader",
        choices=("thread", "process"),
        default="thread",
        help="the daemon's kafka.reader: kafka-python in the daemon's process (thread) or in a child "
        "process (process); the raw consumer always runs in this process",
    )
    parser.add_argument(
        "--client",
        choices=("kafka-python", "confluent"),
        default="kafka-python",
        help="the daemon's kafka.client, and the client of the raw consumer it is compared with",
    )
    parser.add_argument(
        "--decode",
        choices=("all", "sampled"),
        default=None,
        help="the daemon's kafka.decode (default: left out of the config, i.e. all); sampled decodes the "
        "features of the records the window's sample may keep only",
    )
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds allowed per measurement")
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="after the runs, print the top N functions of Daemon.handle and of the raw consumer",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)

    import kafka

    max_rows = args.max_rows if args.max_rows is not None else args.records + 1000
    importable, used = kafka_uses_crc32c()
    model = synthetic_model(MODEL, args.numeric, args.categorical)
    started = time.perf_counter()
    records = encode_records(model, args.records, np.random.default_rng(1), iso_stamp(time.time()))
    generated = time.perf_counter() - started
    sizes = [len(r) for r in records]
    print(
        f"ingest: {args.records:,} records of {MODEL} ({args.numeric} numeric + {args.categorical} "
        f"categorical features), {statistics.mean(sizes):,.0f} bytes each on average "
        f"(min {min(sizes)}, max {max(sizes)}); {args.partitions} partitions; window max_rows {max_rows:,}; "
        f"{os.cpu_count()} CPUs; client: {args.client}; daemon reader: {args.reader}"
    )
    print(
        f"kafka-python {kafka.__version__}; crc32c importable: {'yes' if importable else 'NO'}; "
        f"record batch CRCs checked with {'crc32c (C)' if used else 'the pure-Python CRC (slow)'}"
    )
    print(f"generated the records in {generated:.1f} s; example:\n  {records[0].decode()}")
    raws: list[Rate] = []
    parses: list[Rate] = []  # the raw consumer parsing every record too
    daemons: list[Rate] = []
    handles: list[HandleRate] = []
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-ingest-") as tmp:
        workdir = Path(tmp)
        with LocalBroker(log_path=workdir / "broker.log") as broker:
            print(f"broker: Tansu on {broker.bootstrap} (pid {broker.pid})")
            settings: Settings | None = None
            topic = ""
            for run in range(args.repeats):
                topic = f"bench-ingest-{run}-{uuid.uuid4().hex[:6]}"
                broker.create_topic(topic, partitions=args.partitions)
                produced = produce(broker.bootstrap, topic, records, args.partitions)
                config = write_config(
                    workdir / f"run-{run}",
                    [model],
                    bootstrap=broker.bootstrap,
                    topic=topic,
                    group_id=f"bench-{uuid.uuid4().hex[:8]}",
                    window="1d",
                    max_rows=max_rows,
                    every="1h",
                    decode=args.decode,
                )
                if args.reader != "thread" or args.client != "kafka-python":
                    import yaml

                    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
                    if args.reader != "thread":
                        raw["kafka"]["reader"] = args.reader
                    if args.client != "kafka-python":
                        raw["kafka"]["client"] = args.client
                    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
                if args.unmonitored:
                    import yaml

                    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
                    entry = raw["models"][model.name]
                    numeric = [f for f in entry["features"] if f in model.numeric]
                    dropped = set(numeric[-args.unmonitored :])
                    entry["features"] = [f for f in entry["features"] if f not in dropped]
                    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
                settings = load_settings(config)
                interval = float(getattr(settings.state, "checkpoint_interval", 1.0))
                if run == 0:
                    print(
                        "window checkpoints: "
                        + (
                            f"every {interval:g} s"
                            if hasattr(Daemon, "checkpoint")
                            else "none in this daemon"
                        )
                    )
                raw_first = run % 2 == 0  # alternate the order, so neither always runs on a warmer broker
                for which in ("raw", "parse", "daemon") if raw_first else ("daemon", "parse", "raw"):
                    if which in ("raw", "parse"):
                        (raws if which == "raw" else parses).append(
                            measure_raw(
                                settings,
                                topic,
                                args.partitions,
                                args.records,
                                broker.pid,
                                args.timeout,
                                parse_floor(model) if which == "parse" else None,
                            )
                        )
                    else:
                        daemons.append(measure_daemon(settings, args.records, broker.pid, args.timeout))
                idle_config = write_config(
                    workdir / f"run-{run}-handle",
                    [model],
                    topic=topic,
                    max_rows=max_rows,
                    window="1d",
                    decode=args.decode,
                )
                idle_settings = load_settings(idle_config)
                batches = message_batches(
                    records, args.partitions, topic, int(consumer_config(settings.kafka)["max_poll_records"])
                )
                daemon = Daemon(idle_settings)
                try:
                    handles.append(run_handle(daemon, batches, interval))
                finally:
                    close_idle(daemon)
                daemon = Daemon(
                    load_settings(
                        write_config(
                            workdir / f"run-{run}-split",
                            [model],
                            topic=topic,
                            max_rows=max_rows,
                            window="1d",
                        )
                    )
                )
                try:
                    handles[-1].decode, handles[-1].insert = split_handle(daemon, batches)
                finally:
                    close_idle(daemon)
                del batches
                raw, parsed, pipe, handle = raws[-1], parses[-1], daemons[-1], handles[-1]
                print(
                    f"run {run + 1}: produced in {produced:5.1f} s | raw {raw.per_second:8,.0f} rec/s "
                    f"(set-up {raw.setup:.2f} s, CPU {100 * raw.cpu / raw.seconds:3.0f}%, broker "
                    f"{100 * raw.broker_cpu / raw.seconds:3.0f}%) | raw + parse {parsed.per_second:8,.0f} "
                    f"rec/s (CPU {100 * parsed.cpu / parsed.seconds:3.0f}%) | daemon {pipe.per_second:8,.0f} rec/s "
                    f"(start to first windowed record {pipe.setup:.2f} s, CPU {100 * pipe.cpu / pipe.seconds:3.0f}%"
                    + (f" + reader {100 * pipe.reader_cpu / pipe.seconds:3.0f}%" if pipe.reader_cpu else "")
                    + ", "
                    f"broker {100 * pipe.broker_cpu / pipe.seconds:3.0f}%) = {100 * pipe.per_second / raw.per_second:5.1f}% "
                    f"of raw | handle only {handle.per_second:8,.0f} rec/s, with {handle.checkpoints} "
                    f"checkpoints {handle.with_checkpoints:8,.0f} rec/s"
                    + (" (raw first)" if raw_first else " (daemon first)")
                )
            raw_rate = statistics.median(r.per_second for r in raws)
            parse_rate = statistics.median(r.per_second for r in parses)
            cpu_us = {
                name: statistics.median(1e6 * r.cpu / r.records for r in rates)
                for name, rates in (("raw", raws), ("parse", parses), ("daemon", daemons))
            }
            reader_us = statistics.median(1e6 * r.reader_cpu / r.records for r in daemons)
            pipe_rate = statistics.median(r.per_second for r in daemons)
            join = statistics.median(r.setup for r in daemons)
            handle_rate = statistics.median(h.per_second for h in handles)
            with_cp = statistics.median(h.with_checkpoints for h in handles)
            cp_share = statistics.median(h.checkpoint / (h.handle + h.checkpoint) for h in handles)
            decode_us = statistics.median(1e6 * h.decode / h.records for h in handles)
            insert_us = statistics.median(1e6 * h.insert / h.records for h in handles)
            predicted = 1 / (1 / raw_rate + 1 / with_cp)
            target = TARGET if args.client == "confluent" else TARGET_KAFKA_PYTHON
            budget = (1 / target - 1) * 1e6 / raw_rate  # us/record handling may cost at the target
            ratio = pipe_rate / raw_rate
            print(
                f"\nmedians of {args.repeats} run(s):\n"
                f"  raw {args.client} consumer{' ' * (14 - len(args.client))}{raw_rate:9,.0f} records/s\n"
                f"  raw consumer + msgspec parse  {parse_rate:9,.0f} records/s = {100 * parse_rate / raw_rate:.1f}% "
                f"of raw (every feature value parsed into a typed struct, nothing else: a ceiling for any "
                f"consumer that reads the features in one thread)\n"
                f"  driftwatch daemon, end to end {pipe_rate:9,.0f} records/s = {100 * ratio:.1f}% of raw, "
                f"{100 * pipe_rate / parse_rate:.1f}% of raw + parse "
                f"(start to first windowed record: {join:.2f} s)\n"
                f"  CPU per record (this process; librdkafka's threads included): raw {cpu_us['raw']:.1f} us, "
                f"raw + parse {cpu_us['parse']:.1f} us, daemon {cpu_us['daemon']:.1f} us"
                + (f" + reader process {reader_us:.1f} us" if reader_us else "")
                + "\n"
                f"  Daemon.handle alone           {handle_rate:9,.0f} records/s "
                f"({1e6 / handle_rate:.1f} us/record; raw consume {1e6 / raw_rate:.1f} us/record)\n"
                f"  handle + checkpoints          {with_cp:9,.0f} records/s "
                f"(checkpoints {100 * cp_share:.0f}% of that time)\n"
                f"    timed apart: decode + validate {decode_us:.1f} us/record, window insert "
                f"{insert_us:.1f} us/record\n"
                f"  consume then handle in one thread, predicted {predicted:9,.0f} records/s "
                f"= {100 * predicted / raw_rate:.1f}% of raw\n"
                f"  budget at the target: handling may cost {budget:.1f} us/record "
                f"({100 * (1 / target - 1):.0f}% of what the raw consumer spends per record), it costs "
                f"{1e6 / with_cp:.1f}"
            )
            if settings is not None:
                batches = message_batches(
                    records, args.partitions, topic, int(consumer_config(settings.kafka)["max_poll_records"])
                )
                daemon = Daemon(
                    load_settings(
                        write_config(
                            workdir / "breakdown", [model], topic=topic, max_rows=max_rows, window="1d"
                        )
                    )
                )
                try:
                    steps = decode_breakdown(daemon, batches)
                finally:
                    close_idle(daemon)
                del batches
                if steps:
                    print(
                        "  where the decode goes, us/record (each step timed on its own, one run): "
                        + ", ".join(f"{step} {us:.2f}" for step, us in steps.items())
                    )
            met = ratio >= target and (args.client != "confluent" or pipe_rate >= TARGET_RATE_CONFLUENT)
            verdict = "MEETS" if met else "MISSES"
            print(
                f"verdict: the daemon ingests {pipe_rate:,.0f} records/s of ~1 KB records, {100 * ratio:.0f}% "
                f"of the raw consume rate: {verdict} the target of >= {100 * target:.0f}%"
                + (f" and >= {TARGET_RATE_CONFLUENT:,} records/s" if args.client == "confluent" else "")
            )
            if args.profile and settings is not None:
                batches = message_batches(
                    records, args.partitions, topic, int(consumer_config(settings.kafka)["max_poll_records"])
                )
                fresh = load_settings(
                    write_config(
                        workdir / "profile",
                        [model],
                        topic=topic,
                        max_rows=max_rows,
                        window="1d",
                        decode=args.decode,
                    )
                )
                profile_handle(fresh, batches, interval, args.profile)
                profile_raw(settings, topic, args.partitions, args.records, broker.pid, args.profile)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
