"""Scale-out (``kafka.scale_out``): what the internal topics cost, how fast a model moves, and what the
single replica pays for the second stage; on a local Kafka-protocol broker (Tansu, 127.0.0.1 only).

Four models with 25 numeric features each (JSON records of about 1 KB, spread round-robin over a
topic of 6 partitions, the models interleaved); internal topics of 12 partitions; every measurement
runs ``--repeats`` times, each time on a fresh broker that this script starts and stops; medians
are printed at the end.

1. traffic: half of ``--records`` records are produced first (a backlog), then 1 (and, in another
   run, 3) in-process scaled-out replicas (one group, windows 1 h / max_rows ``--max-rows``) start on
   them; once every owner has applied them and the counters have settled (the last checkpoint and
   thresholds written), the other half is produced while the replicas run. From the replicas'
   metrics registries (summed): the bytes and messages produced to each internal topic kind
   (``driftwatch_exchange_{bytes,messages}_total{kind}``: samples, state, thresholds) per input
   record, over the second half (the windows are full by then, so the owners' published thresholds
   cut what stage 1 forwards) and over the whole run; and the share of input records forwarded as
   window rows (counted from the partials stage 1 builds, whose records also give the divisor).
2. restore: one scaled-out replica fills one model's window to ``--restore-rows`` rows (max_rows the
   same, window 1 h), stops (``Daemon.stop``: its last checkpoint is written), then a fresh replica
   (new, empty state directory; same group) starts. Printed: the seconds from its ``start()`` until
   the model's window holds every row again, the owner's own restore time (``Owner.restore_seconds``:
   claim, changelog read, window restore) and the changelog messages and bytes it read (its log line).
3. failover: two replicas as subprocesses (``driftwatch run``), checks every 1 s, a little traffic
   produced before; SIGKILL the owner of a model, then poll the survivor's ``/api/models`` until it
   owns the model and shows a check whose ``window_end`` is after the kill. The group's session
   timeout (6 s, which the broker needs) is part of that time: the dead member's internal partition
   moves only once its session expires.
4. throughput: one replica, scale_out enabled vs disabled, on the same ``--throughput-records``
   backlog: records/s from the first record in a window until every record is in its model's window
   (for the scaled-out replica: applied by its owner, itself). The two alternate which goes first.

    python bench/scale_out.py                                  # 400k records, 3 repeats
    python bench/scale_out.py --records 100000 --throughput-records 100000 --repeats 1
    python bench/scale_out.py --only traffic restore

With several in-process replicas on one machine the replicas share its CPUs (and the GIL): the
traffic figures are per record and do not depend on that, the elapsed times do.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from common import TIMESTAMP_PLACEHOLDER, encode_records, iso_stamp, reference_frame, synthetic_model
from driftwatch.cli.localbroker import LocalBroker, free_port
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from driftwatch.source.exchange import partition_of

ROOT = Path(__file__).resolve().parent.parent
MODELS = ["credit-risk", "churn", "fraud-scoring", "ltv-forecast"]
NUMERIC = 25
TOPIC_PARTITIONS = 6
INTERNAL_PARTITIONS = 12
SESSION_TIMEOUT = 6.0  # seconds: kafka.options.session_timeout_ms of every config here
KINDS = ("samples", "state", "thresholds")
POLL = 0.02
RESTORED = re.compile(
    r"took internal partition (\d+) \(models ([^)]*)\) in ([\d.]+)s: (\d+) changelog message\(s\), (\d+) bytes"
)

Pool = list[tuple[str, bytes, bytes]]  # (model, record before its timestamp, record after it)


# records, configs, replicas --------------------------------------------------------------------


def record_pool(models: list[str], per_model: int, seed: int = 5) -> Pool:
    """Encoded records of ``models``, shuffled together, split around their timestamp placeholder."""
    rng = np.random.default_rng(seed)
    marker = TIMESTAMP_PLACEHOLDER.encode()
    pool: Pool = []
    for name in models:
        for record in encode_records(synthetic_model(name, NUMERIC, 0), per_model, rng):
            prefix, suffix = record.split(marker)
            pool.append((name, prefix, suffix))
    order = rng.permutation(len(pool))
    return [pool[i] for i in order]


def produce(bootstrap: str, topic: str, pool: Pool, count: int, start: int = 0) -> Counter[str]:
    """``count`` records cycled from ``pool`` (stamped now), round-robin over the partitions; sent by model."""
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=50, batch_size=512 * 1024, max_request_size=4 * 2**20, acks=1
    )
    sent: Counter[str] = Counter()
    stamp = iso_stamp(time.time()).encode()
    try:
        for i in range(start, start + count):
            model, prefix, suffix = pool[i % len(pool)]
            producer.send(topic, value=prefix + stamp + suffix, partition=i % TOPIC_PARTITIONS)
            sent[model] += 1
        producer.flush()
    finally:
        producer.close(timeout=10)
    return sent


def write_config(
    directory: Path,
    models: list[str],
    bootstrap: str,
    topic: str,
    group: str,
    *,
    scale_out: bool = True,
    replica: str | None = None,
    max_rows: int = 20_000,
    every: str = "1h",
    port: int = 0,
    log_level: str = "WARNING",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    kafka: dict[str, Any] = {
        "bootstrap_servers": [bootstrap],
        "topic": topic,
        "group_id": group,
        "options": {"session_timeout_ms": int(SESSION_TIMEOUT * 1000), "heartbeat_interval_ms": 1000},
    }
    if scale_out:
        kafka["scale_out"] = {
            "enabled": True,
            "partitions": INTERNAL_PARTITIONS,
            **({"replica": replica} if replica else {}),
        }
    config: dict[str, Any] = {
        "kafka": kafka,
        "http": {"host": "127.0.0.1", "port": port},
        "models": {},
        "state": {"path": str(directory / "state.sqlite")},
        "log_level": log_level,
    }
    for seed, name in enumerate(models):
        model = synthetic_model(name, NUMERIC, 0)
        reference = directory / f"{name}.parquet"
        reference_frame(model, 5000, seed=seed).to_parquet(reference, index=False)
        config["models"][name] = {
            "reference": reference.name,
            "features": model.features,
            "prediction": "prediction",
            "window": {"length": "1h", "max_rows": max_rows, "min_rows": min(200, max_rows)},
            "schedule": {"every": every},
        }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def wait(condition: Callable[[], bool], timeout: float, what: Callable[[], str], poll: float = POLL) -> float:
    """Wait until ``condition()``; the monotonic time it held. TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"after {timeout:.0f}s still waiting for {what()}")
        time.sleep(poll)


@dataclass
class Forwarded:
    """What one replica's stage 1 built: records inside a window (admitted) and rows forwarded."""

    admitted: int = 0
    rows: int = 0


def count_forwarded(daemon: Daemon) -> Forwarded:
    """Count the partials ``daemon``'s stage 1 builds (wraps each model's `Admission.partial`)."""
    tally = Forwarded()
    assert daemon.forwarder is not None
    for admission in daemon.forwarder.admissions.values():
        original = admission.partial

        def partial(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            built, outside = _original(*args, **kwargs)
            tally.admitted += built.admitted
            tally.rows += built.forwarded
            return built, outside

        admission.partial = partial  # type: ignore[method-assign]
    return tally


def metric(daemon: Daemon, name: str, labels: dict[str, str]) -> float:
    return daemon.metrics.registry.get_sample_value(name, labels) or 0.0


def consumed(daemons: list[Daemon], models: list[str]) -> int:
    return int(
        sum(metric(d, "driftwatch_records_consumed_total", {"model": m}) for d in daemons for m in models)
    )


def owned_seen(daemons: list[Daemon], model: str) -> int:
    """Records in ``model``'s window at its owner (-1 unless exactly one replica owns it)."""
    owners = [d for d in daemons if d.owner is not None and d.owner.owns(model)]
    return owners[0].windows[model].seen() if len(owners) == 1 else -1


@dataclass
class Snapshot:
    consumed: int
    bytes: dict[str, float]
    messages: dict[str, float]
    admitted: int
    forwarded: int


def snapshot(daemons: list[Daemon], tallies: list[Forwarded], models: list[str]) -> Snapshot:
    return Snapshot(
        consumed(daemons, models),
        {k: sum(metric(d, "driftwatch_exchange_bytes_total", {"kind": k}) for d in daemons) for k in KINDS},
        {
            k: sum(metric(d, "driftwatch_exchange_messages_total", {"kind": k}) for d in daemons)
            for k in KINDS
        },
        sum(t.admitted for t in tallies),
        sum(t.rows for t in tallies),
    )


def stop_all(daemons: list[Daemon]) -> None:
    threads = [threading.Thread(target=d.stop, kwargs={"timeout": 15.0}) for d in daemons]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)


# 1. internal traffic ---------------------------------------------------------------------------


@dataclass
class Traffic:
    replicas: int
    half: dict[str, tuple[float, float]]  # kind -> (bytes, messages) per input record, second half
    whole: dict[str, tuple[float, float]]  # the same over the whole run
    share_half: float  # input records forwarded as rows, second half
    share_whole: float
    seconds: float  # from start() until every owner applied the first half (a backlog)
    second: float  # from producing the second half until every owner applied it
    owners: dict[str, str] = field(default_factory=dict)


def settle(daemons: list[Daemon], tallies: list[Forwarded], quiet: float = 2.5) -> Snapshot:
    """The counters once they stayed put for ``quiet`` seconds (the last checkpoints and thresholds
    written: the checkpoint interval is 1 s), or after 30 s."""
    last = snapshot(daemons, tallies, MODELS)
    still = time.monotonic()
    deadline = still + 30
    while time.monotonic() - still < quiet and time.monotonic() < deadline:
        time.sleep(0.25)
        now = snapshot(daemons, tallies, MODELS)
        if now != last:
            last, still = now, time.monotonic()
    return last


def measure_traffic(args: argparse.Namespace, pool: Pool, replicas: int, workdir: Path) -> Traffic:
    """The first half of the input is a backlog the replicas start on; once every owner has applied it
    and the counters settled, the second half is produced while they run."""
    workdir.mkdir(parents=True, exist_ok=True)
    first_half = args.records // 2
    with LocalBroker(log_path=workdir / "broker.log") as broker:
        topic = f"traffic-{uuid.uuid4().hex[:6]}"
        broker.create_topic(topic, partitions=TOPIC_PARTITIONS)
        sent = produce(broker.bootstrap, topic, pool, first_half)
        group = f"bench-{uuid.uuid4().hex[:8]}"
        daemons = [
            Daemon(
                load_settings(
                    write_config(
                        workdir / f"r{i}",
                        MODELS,
                        broker.bootstrap,
                        topic,
                        group,
                        replica=f"r{i}",
                        max_rows=args.max_rows,
                    )
                )
            )
            for i in range(replicas)
        ]
        tallies = [count_forwarded(d) for d in daemons]

        def applied() -> bool:
            return all(owned_seen(daemons, m) == sent[m] for m in MODELS)

        def where() -> str:
            return f"every record at its owner: { ({m: owned_seen(daemons, m) for m in MODELS}) } of {dict(sent)}"

        started = time.monotonic()
        for daemon in daemons:
            daemon.start()
        try:
            done = wait(applied, args.timeout, where)
            mid = settle(daemons, tallies)
            producing = time.monotonic()
            sent += produce(broker.bootstrap, topic, pool, args.records - first_half, start=first_half)
            second = wait(applied, args.timeout, where)
            end = settle(daemons, tallies)
            owners = {
                m: next((d.replica for d in daemons if d.owner is not None and d.owner.owns(m)), "?")
                for m in MODELS
            }
        finally:
            stop_all(daemons)
    if end.admitted != args.records:
        print(f"  note: stage 1 admitted {end.admitted:,} records of {args.records:,}")
    # per input record: divided by the records stage 1 put in partials (all of them: every record is
    # inside its window), counted in the same call as the rows forwarded
    records = end.admitted - mid.admitted
    half = {
        k: ((end.bytes[k] - mid.bytes[k]) / records, (end.messages[k] - mid.messages[k]) / records)
        for k in KINDS
    }
    whole = {k: (end.bytes[k] / end.admitted, end.messages[k] / end.admitted) for k in KINDS}
    return Traffic(
        replicas,
        half,
        whole,
        (end.forwarded - mid.forwarded) / records,
        end.forwarded / end.admitted,
        done - started,
        second - producing,
        owners,
    )


def print_traffic(run: int, t: Traffic) -> None:
    def per(kinds: dict[str, tuple[float, float]]) -> str:
        return ", ".join(f"{k} {b:,.2f} B {1000 * m:.2f} msg" for k, (b, m) in kinds.items())

    print(
        f"  run {run + 1}, {t.replicas} replica(s) (owners {t.owners}), first half (backlog) applied {t.seconds:.1f} s after start(), second half {t.second:.1f} s after its production began\n"
        f"    per input record, second half: {per(t.half)} (per 1k records); forwarded {100 * t.share_half:.2f}%\n"
        f"    per input record, whole run:   {per(t.whole)}; forwarded {100 * t.share_whole:.2f}%"
    )


# 2. restore ------------------------------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@dataclass
class Restore:
    rows: int
    fill: float  # seconds for the first replica to window every row
    stop: float  # seconds of its Daemon.stop (with the last checkpoint)
    written: float  # changelog bytes it wrote
    seconds: float  # the fresh replica: start() until the window holds every row
    owned: float  # start() until it owns the model (its restore done: the owners' group joined before)
    owner: float  # Owner.restore_seconds of the model's partition
    messages: int  # changelog messages read
    read: int  # changelog bytes read


def measure_restore(args: argparse.Namespace, workdir: Path) -> Restore:
    model = MODELS[0]
    rows = args.restore_rows
    pool = record_pool([model], min(rows, 20_000), seed=11)
    lines = Lines()
    owner_log = logging.getLogger("driftwatch.service.owner")
    owner_log.addHandler(lines)
    level = owner_log.level
    owner_log.setLevel(logging.INFO)
    owner_log.propagate = False
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        with LocalBroker(log_path=workdir / "broker.log") as broker:
            topic = f"restore-{uuid.uuid4().hex[:6]}"
            broker.create_topic(topic, partitions=TOPIC_PARTITIONS)
            produce(broker.bootstrap, topic, pool, rows)
            group = f"bench-{uuid.uuid4().hex[:8]}"

            def replica(name: str) -> Daemon:
                path = write_config(
                    workdir / name, [model], broker.bootstrap, topic, group, replica=name, max_rows=rows
                )
                return Daemon(load_settings(path))

            first = replica("first")
            started = time.monotonic()
            first.start()
            try:
                filled = wait(
                    lambda: first.windows[model].rows() >= rows,
                    args.timeout,
                    lambda: f"the first replica's window: {first.windows[model].rows():,} rows of {rows:,}",
                )
            finally:
                stopping = time.monotonic()
                first.stop(timeout=30.0)
                stopped = time.monotonic()
            written = metric(first, "driftwatch_exchange_bytes_total", {"kind": "state"})
            lines.messages.clear()
            second = replica("second")
            begun = time.monotonic()
            second.start()
            try:
                owned = wait(
                    lambda: second.owner is not None and second.owner.owns(model),
                    args.timeout,
                    lambda: "the fresh replica to own the model",
                )
                back = wait(
                    lambda: second.windows[model].rows() >= rows,
                    args.timeout,
                    lambda: f"the fresh replica's window: {second.windows[model].rows():,} rows of {rows:,}",
                )
                owner = second.owner
                assert owner is not None
                partition = partition_of(model, INTERNAL_PARTITIONS)
                wait(  # set at the end of the take, just after the window is restored
                    lambda: partition in owner.restore_seconds,
                    args.timeout,
                    lambda: "the owner's restore time",
                )
                owner_seconds = owner.restore_seconds[partition]
            finally:
                second.stop(timeout=15.0)
    finally:
        owner_log.removeHandler(lines)
        owner_log.propagate = True
        owner_log.setLevel(level)
    found = [m for m in map(RESTORED.search, lines.messages) if m and model in m.group(2).split(", ")]
    messages, read = (int(found[0].group(4)), int(found[0].group(5))) if found else (-1, -1)
    return Restore(
        rows,
        filled - started,
        stopped - stopping,
        written,
        back - begun,
        owned - begun,
        owner_seconds,
        messages,
        read,
    )


def print_restore(run: int, r: Restore) -> None:
    print(
        f"  run {run + 1}: filled {r.rows:,} rows in {r.fill:.1f} s; stop with the last checkpoint {r.stop:.2f} s "
        f"(changelog written {r.written / 2**20:,.1f} MiB); fresh replica: window whole again "
        f"{r.seconds:.2f} s after start() (owned after {r.owned:.2f} s; the owner's restore {r.owner:.2f} s), read {r.messages} changelog "
        f"message(s), {r.read / 2**20:,.1f} MiB"
    )


# 3. failover -----------------------------------------------------------------------------------


def api_models(port: int) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/models", timeout=2) as answer:
            body: dict[str, Any] = json.loads(answer.read())
            return body
    except (OSError, ValueError):
        return {}


def stamp_seconds(value: Any) -> float | None:
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return None


@dataclass
class Failover:
    seconds: float  # from the SIGKILL to the survivor's first check of the model
    owned: float  # from the SIGKILL until the survivor says it owns the model (restored)
    restore: float  # the survivor's restore of the model's partition (its log line), -1 if not found
    model: str


def measure_failover(args: argparse.Namespace, pool: Pool, workdir: Path) -> Failover:
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    with LocalBroker(log_path=workdir / "broker.log") as broker:
        topic = f"failover-{uuid.uuid4().hex[:6]}"
        broker.create_topic(topic, partitions=TOPIC_PARTITIONS)
        produce(broker.bootstrap, topic, pool, 4 * 2000)
        group = f"bench-{uuid.uuid4().hex[:8]}"
        replicas: dict[str, tuple[subprocess.Popen[bytes], int, Path]] = {}
        try:
            for name in ("a", "b"):
                port = free_port()
                directory = workdir / name
                config = write_config(
                    directory,
                    MODELS,
                    broker.bootstrap,
                    topic,
                    group,
                    replica=name,
                    every="1s",
                    port=port,
                    log_level="INFO",
                )
                log = directory / "daemon.log"
                with log.open("ab") as out:
                    process = subprocess.Popen(
                        [sys.executable, "-m", "driftwatch", "run", "--config", str(config)],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        env=env,
                    )
                replicas[name] = (process, port, log)

            def owners() -> dict[str, list[str]]:
                out: dict[str, list[str]] = {m: [] for m in MODELS}
                for name, (_, port, _) in replicas.items():
                    for model, state in api_models(port).items():
                        if state.get("owned") and state.get("latest") is not None:
                            out[model].append(name)
                return out

            wait(
                lambda: all(len(o) == 1 for o in owners().values()),
                args.timeout,
                lambda: f"one owner with a check per model: {owners()}",
                poll=0.2,
            )
            model = MODELS[0]
            (victim,) = owners()[model]
            (survivor,) = [name for name in replicas if name != victim]
            process, _, _ = replicas[victim]
            _, port, log = replicas[survivor]
            killed_at = time.time()
            killed = time.monotonic()
            process.send_signal(signal.SIGKILL)
            process.wait(10)

            def owned() -> bool:
                return bool((api_models(port).get(model) or {}).get("owned"))

            taken = wait(owned, args.timeout, lambda: f"{survivor} to own {model}", poll=0.05)

            def checked() -> bool:
                state = api_models(port).get(model) or {}
                latest = state.get("latest") or {}
                end = stamp_seconds(latest.get("window_end"))
                return bool(state.get("owned")) and end is not None and end > killed_at

            back = wait(checked, args.timeout, lambda: f"{survivor} to check {model}", poll=0.05)
            found = [
                m
                for m in map(RESTORED.search, log.read_text(errors="replace").splitlines())
                if m and model in m.group(2).split(", ")
            ]
            restore = float(found[-1].group(3)) if found else -1.0
        finally:
            for process, _, _ in replicas.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process, _, _ in replicas.values():
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)
    return Failover(back - killed, taken - killed, restore, model)


# 4. throughput ---------------------------------------------------------------------------------


def measure_rate(settings_path: Path, sent: Counter[str], timeout: float) -> float:
    daemon = Daemon(load_settings(settings_path))
    total = sum(sent.values())

    def windowed() -> int:
        return sum(daemon.windows[m].seen() for m in MODELS)

    daemon.start()
    try:
        first = wait(lambda: windowed() > 0, timeout, lambda: "a first record in a window")
        at_first = windowed()
        end = wait(
            lambda: windowed() >= total,
            timeout,
            lambda: f"every record in its window ({windowed():,} of {total:,})",
        )
    finally:
        daemon.stop(timeout=15.0)
    return (total - at_first) / (end - first)


def measure_throughput(args: argparse.Namespace, pool: Pool, run: int, workdir: Path) -> dict[str, float]:
    workdir.mkdir(parents=True, exist_ok=True)
    with LocalBroker(log_path=workdir / "broker.log") as broker:
        topic = f"rate-{uuid.uuid4().hex[:6]}"
        broker.create_topic(topic, partitions=TOPIC_PARTITIONS)
        sent = produce(broker.bootstrap, topic, pool, args.throughput_records)
        rates = {}
        order = ("disabled", "enabled") if run % 2 == 0 else ("enabled", "disabled")
        for which in order:
            path = write_config(
                workdir / which,
                MODELS,
                broker.bootstrap,
                topic,
                f"bench-{uuid.uuid4().hex[:8]}",
                scale_out=which == "enabled",
                replica="solo",
                max_rows=args.max_rows,
            )
            rates[which] = measure_rate(path, sent, args.timeout)
    return rates


# main ------------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=400_000, help="input records of the traffic runs")
    parser.add_argument("--max-rows", type=int, default=20_000, help="window max_rows (traffic, throughput)")
    parser.add_argument("--restore-rows", type=int, default=100_000, help="rows of the restored window")
    parser.add_argument(
        "--throughput-records", type=int, default=200_000, help="input records of the throughput runs"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each measurement (medians printed)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per wait")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=("traffic", "restore", "failover", "throughput"),
        default=["traffic", "restore", "failover", "throughput"],
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)

    started = time.perf_counter()
    pool = record_pool(MODELS, 5000)
    average = statistics.mean(len(p) + len(s) + len(TIMESTAMP_PLACEHOLDER) for _, p, s in pool)
    print(
        f"scale-out: {len(MODELS)} models x {NUMERIC} numeric features, records {average:,.0f} bytes on "
        f"average (pool of {len(pool):,}, encoded in {time.perf_counter() - started:.1f} s); input topic of "
        f"{TOPIC_PARTITIONS} partitions, internal topics of {INTERNAL_PARTITIONS}; internal partitions of the "
        f"models { ({m: partition_of(m, INTERNAL_PARTITIONS) for m in MODELS}) }; {os.cpu_count()} CPUs; "
        f"{args.repeats} run(s) each, a fresh broker per run"
    )
    traffic: dict[int, list[Traffic]] = {1: [], 3: []}
    restores: list[Restore] = []
    failovers: list[Failover] = []
    rates: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-scale-out-") as tmp:
        workdir = Path(tmp)
        if "traffic" in args.only:
            print(
                f"\n1. internal traffic: {args.records:,} records, windows 1 h / max_rows {args.max_rows:,}"
            )
            for run in range(args.repeats):
                for replicas in (1, 3):
                    t = measure_traffic(args, pool, replicas, workdir / f"traffic-{run}-{replicas}")
                    traffic[replicas].append(t)
                    print_traffic(run, t)
        if "restore" in args.only:
            print(f"\n2. restore of a {args.restore_rows:,}-row window ({NUMERIC} features)")
            for run in range(args.repeats):
                restores.append(measure_restore(args, workdir / f"restore-{run}"))
                print_restore(run, restores[-1])
        if "failover" in args.only:
            print(
                f"\n3. failover: 2 replicas (subprocesses), checks every 1 s, session timeout {SESSION_TIMEOUT:g} s"
            )
            for run in range(args.repeats):
                f = measure_failover(args, pool, workdir / f"failover-{run}")
                failovers.append(f)
                print(
                    f"  run {run + 1}: SIGKILL of {f.model}'s owner -> first check on the survivor "
                    f"{f.seconds:.2f} s (it owned the model after {f.owned:.2f} s; its restore of the partition "
                    f"{f.restore:.2f} s)"
                )
        if "throughput" in args.only:
            print(
                f"\n4. single-replica throughput: {args.throughput_records:,} records, max_rows {args.max_rows:,}"
            )
            for run in range(args.repeats):
                rates.append(measure_throughput(args, pool, run, workdir / f"rate-{run}"))
                r = rates[-1]
                print(
                    f"  run {run + 1}: scale_out disabled {r['disabled']:,.0f} records/s, "
                    f"enabled {r['enabled']:,.0f} records/s"
                )

    print(f"\nmedians of {args.repeats} run(s):")
    for replicas, runs in traffic.items():
        if not runs:
            continue
        print(f"  traffic, {replicas} replica(s), per input record (bytes | messages per 1k records):")
        print(f"    {'kind':<12}{'2nd half':>22}{'whole run':>22}")
        for kind in KINDS:
            hb = median([t.half[kind][0] for t in runs])
            hm = median([1000 * t.half[kind][1] for t in runs])
            wb = median([t.whole[kind][0] for t in runs])
            wm = median([1000 * t.whole[kind][1] for t in runs])
            print(f"    {kind:<12}{hb:>10,.2f} B {hm:>8.2f} msg{wb:>10,.2f} B {wm:>8.2f} msg")
        hb = median([sum(t.half[k][0] for k in KINDS) for t in runs])
        wb = median([sum(t.whole[k][0] for k in KINDS) for t in runs])
        print(f"    {'all':<12}{hb:>10,.2f} B {'':>12}{wb:>10,.2f} B")
        print(
            f"    forwarded as rows: {100 * median([t.share_half for t in runs]):.2f}% of the input records "
            f"(2nd half), {100 * median([t.share_whole for t in runs]):.2f}% (whole run); "
            f"first half applied {median([t.seconds for t in runs]):.1f} s after start(), second half "
            f"{median([t.second for t in runs]):.1f} s after its production began"
        )
    if restores:
        print(
            f"  restore of {args.restore_rows:,} rows: window whole again "
            f"{median([r.seconds for r in restores]):.2f} s after start() (owned after "
            f"{median([r.owned for r in restores]):.2f} s; the owner's restore "
            f"{median([r.owner for r in restores]):.2f} s); read {median([r.messages for r in restores]):.0f} "
            f"changelog message(s), {median([r.read for r in restores]) / 2**20:,.1f} MiB"
        )
    if failovers:
        seconds = median([f.seconds for f in failovers])
        print(
            f"  failover: SIGKILL to the first check on the survivor {seconds:.2f} s, of which the session "
            f"timeout {SESSION_TIMEOUT:g} s is the floor (beyond it {seconds - SESSION_TIMEOUT:.2f} s; "
            f"owned after {median([f.owned for f in failovers]):.2f} s; restore "
            f"{median([f.restore for f in failovers]):.2f} s)"
        )
    if rates:
        off = median([r["disabled"] for r in rates])
        on = median([r["enabled"] for r in rates])
        print(
            f"  single replica: scale_out disabled {off:,.0f} records/s, enabled {on:,.0f} records/s "
            f"(enabled/disabled x{on / off:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
