"""Memory: peak RSS while millions of records pass through the daemon's data path.

Builds a ``Daemon`` for ``--models`` models (8 numeric + 2 categorical
features and a prediction each; windows of 1 h with ``max_rows`` 100k and the
default buckets) and feeds ``Daemon.handle`` batches of 5,000 JSON records,
as the Kafka consumer does, without a broker. Records come from a pool
encoded once; each batch gets the timestamp of a simulated clock (the
daemon's clock too) that advances per batch so that the whole run spans
``--span`` window lengths: windows fill, trim their samples and expire
buckets as they would under steady traffic. If the daemon takes window
checkpoints, they are taken at its configured interval (wall time), as its
Kafka source does.

RSS (``VmRSS`` from /proc) is sampled after every batch. Reported: RSS before
feeding, at warm-up (after ``--warmup`` records, by default 1M: the windows
are full by then), peak and final RSS, growth after warm-up, records/s, and
separately RSS after one drift check per model at the end.

``--client`` is the daemon's ``kafka.client``: with ``confluent`` the config
says so, confluent-kafka (librdkafka) is loaded as a daemon with that client
loads it, and the batches are the ``Record`` structs its consumer hands over
instead of kafka-python-like records. librdkafka's own prefetch buffers
(bounded by ``queued.max.messages.kbytes``) need a broker and are not part
of this figure.

    python bench/memory.py                    # 5M records, 5 models (a few minutes)
    python bench/memory.py --quick            # 600k records, max_rows 20k
    python bench/memory.py --quick --client confluent
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from common import (
    TIMESTAMP_PLACEHOLDER,
    FakeMessage,
    encode_records,
    iso_stamp,
    mib,
    rss_bytes,
    synthetic_model,
    write_config,
)
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon

NAMES = ["credit-risk", "churn", "fraud-scoring", "ltv-forecast", "next-best-offer"]
GROWTH_TARGET = 0.10
TOTAL_TARGET = 600 * 2**20
TOPIC = "predictions"
START = 1_795_000_000.0  # 2026-11-18, a fixed simulated start


class SimClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def reset_peak() -> bool:
    """Reset this process's peak-RSS counter (``VmHWM``); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def record_pool(models: list[str], per_model: int, seed: int = 3) -> list[tuple[bytes, bytes]]:
    """Encoded records of every model, shuffled together, split around their timestamp."""
    rng = np.random.default_rng(seed)
    marker = TIMESTAMP_PLACEHOLDER.encode()
    pool: list[tuple[bytes, bytes]] = []
    for name in models:
        for record in encode_records(synthetic_model(name, 8, 2), per_model, rng):
            prefix, suffix = record.split(marker)
            pool.append((prefix, suffix))
    order = rng.permutation(len(pool))
    return [pool[i] for i in order]


def kafka_python_record(value: bytes, millis: int, offset: int) -> Any:
    """A record as kafka-python's consumer hands it over (the attributes the pipeline reads)."""
    return FakeMessage(value, millis, TOPIC, 0, offset)


def confluent_records() -> Callable[[bytes, int, int], Any]:
    """Records as the librdkafka consumer hands them over (``kafka.client: confluent``), with
    confluent-kafka loaded as in a daemon consuming with it."""
    import confluent_kafka  # noqa: F401

    from driftwatch.source.confluent import Record

    def record(value: bytes, millis: int, offset: int) -> Any:
        return Record(TOPIC, 0, offset, millis, None, value, None)

    return record


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=5_000_000, help="records fed in all")
    parser.add_argument("--models", type=int, default=5, help="models (records spread evenly)")
    parser.add_argument("--max-rows", type=int, default=100_000, help="window max_rows of each model")
    parser.add_argument("--window", type=float, default=3600.0, help="window length in seconds")
    parser.add_argument("--span", type=float, default=2.0, help="window lengths the run spans")
    parser.add_argument("--batch", type=int, default=5000, help="records per Daemon.handle call")
    parser.add_argument("--pool", type=int, default=10_000, help="distinct encoded records per model")
    parser.add_argument(
        "--warmup", type=int, default=None, help="records before the warm-up sample (default: 1M, or 20%%)"
    )
    parser.add_argument(
        "--no-checkpoint",
        action="store_true",
        help="never call Daemon.checkpoint (the window change log grows)",
    )
    parser.add_argument("--quick", action="store_true", help="600k records, max_rows 20k: about a minute")
    parser.add_argument(
        "--client",
        choices=("kafka-python", "confluent"),
        default="kafka-python",
        help="the daemon's kafka.client (the library loaded and the records its consumer hands over)",
    )
    args = parser.parse_args()
    if args.quick:
        args.records, args.max_rows = 600_000, 20_000
    warmup = args.warmup if args.warmup is not None else min(1_000_000, args.records // 5)
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    names = [NAMES[i] if i < len(NAMES) else f"model-{i + 1}" for i in range(args.models)]

    batches = -(-args.records // args.batch)
    step = args.span * args.window / batches  # simulated seconds per batch
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-memory-") as tmp:
        config = write_config(
            Path(tmp),
            [synthetic_model(name, 8, 2) for name in names],
            window=f"{args.window:g}s",
            max_rows=args.max_rows,
        )
        message: Callable[[bytes, int, int], Any] = kafka_python_record
        if args.client != "kafka-python":
            import yaml

            raw = yaml.safe_load(config.read_text(encoding="utf-8"))
            raw["kafka"]["client"] = args.client
            config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
            message = confluent_records()
        settings = load_settings(config)
        clock = SimClock(START)
        daemon = Daemon(settings, clock=clock)
        checkpoint = None if args.no_checkpoint else getattr(daemon, "checkpoint", None)
        interval = float(getattr(settings.state, "checkpoint_interval", 1.0))
        started_rss = rss_bytes()
        started = time.perf_counter()
        pool = record_pool(names, args.pool)
        prepared = time.perf_counter() - started
        average = statistics.mean(len(p) + len(s) + len(TIMESTAMP_PLACEHOLDER) for p, s in pool)
        print(
            f"memory ({args.client}): {args.records:,} records through {args.models} models (8 numeric + 2 categorical "
            f"features + prediction), windows {args.window:.0f} s / max_rows {args.max_rows:,}; batches of "
            f"{args.batch:,}; the run spans {args.span:g} window lengths ({step:.2f} simulated s per batch); "
            f"records {average:,.0f} bytes on average, from a pool of {len(pool):,} encoded in {prepared:.1f} s"
        )
        if checkpoint is None:
            print(
                "checkpoints: none"
                + (" (--no-checkpoint)" if args.no_checkpoint else " (this daemon has no checkpoints)")
            )
        else:
            print(f"checkpoints: Daemon.checkpoint every {interval:g} s of wall time, as the Kafka source")
        can_reset = reset_peak()
        baseline = rss_bytes()
        print(
            f"RSS of the started-up daemon (interpreter, libraries, references): {mib(started_rss)}; "
            f"with this script's record pool: {mib(baseline)}"
        )

        rss: list[int] = []
        done: list[int] = []
        filled_at: int | None = None
        handle_s = checkpoint_s = build_s = 0.0
        checkpoints = 0
        fed = 0
        offset = 0
        cursor = 0
        report_every = max(1, batches // 10)
        last_checkpoint = time.perf_counter()
        loop_started = time.perf_counter()
        for index in range(batches):
            count = min(args.batch, args.records - fed)
            t0 = time.perf_counter()
            stamp = iso_stamp(clock.now).encode()
            millis = int(clock.now * 1000)
            messages = []
            for _ in range(count):
                prefix, suffix = pool[cursor]
                cursor = cursor + 1 if cursor + 1 < len(pool) else 0
                messages.append(message(prefix + stamp + suffix, millis, offset))
                offset += 1
            clock.now += step
            t1 = time.perf_counter()
            daemon.handle(messages)
            t2 = time.perf_counter()
            build_s += t1 - t0
            handle_s += t2 - t1
            fed += count
            if checkpoint is not None and (t2 - last_checkpoint >= interval or index == batches - 1):
                checkpoint({(TOPIC, 0): offset})
                last_checkpoint = time.perf_counter()
                checkpoint_s += last_checkpoint - t2
                checkpoints += 1
            del messages
            rss.append(rss_bytes())
            done.append(fed)
            if filled_at is None and all(w.rows() >= args.max_rows for w in daemon.windows.values()):
                filled_at = fed
            if (index + 1) % report_every == 0 or index == batches - 1:
                elapsed = time.perf_counter() - loop_started
                rows = sum(w.rows() for w in daemon.windows.values())
                print(
                    f"  {fed:>10,} records  sim {(clock.now - START) / 60:6.1f} min  RSS {mib(rss[-1]):>9}  "
                    f"window rows {rows:>9,}  {fed / elapsed:8,.0f} records/s"
                )
        elapsed = time.perf_counter() - loop_started
        peak_stream = rss_bytes("VmHWM:") if can_reset else max(rss)
        warm_index = next((i for i, n in enumerate(done) if n >= warmup), len(done) - 1)
        warm = rss[warm_index]
        after = rss[warm_index:]
        peak_after = max(after)
        final = rss[-1]
        growth = (peak_after - warm) / warm

        reset_peak()
        check_started = time.perf_counter()
        rows_checked = {name: daemon.run_check(name).rows for name in names}
        check_s = time.perf_counter() - check_started
        after_checks = rss_bytes()
        peak_checks = rss_bytes("VmHWM:") if can_reset else after_checks
        state_size = sum(f.stat().st_size for f in Path(tmp).glob("state.sqlite*"))
        daemon.http.start()  # `stop` waits for a serving loop
        daemon.stop()

    daemon_s = handle_s + checkpoint_s
    print(
        f"\nfed {args.records:,} records in {elapsed:.1f} s; through the daemon {args.records / daemon_s:,.0f} "
        f"records/s (Daemon.handle {handle_s:.1f} s = {args.records / handle_s:,.0f} records/s"
        + (f", {checkpoints} checkpoints {checkpoint_s:.1f} s" if checkpoint is not None else "")
        + f"); this script building the messages {build_s:.1f} s"
    )
    print(
        "windows first all full after "
        + (f"{filled_at:,} records" if filled_at is not None else "never (raise --records)")
        + f"; warm-up sample after {done[warm_index]:,} records"
    )
    print(f"RSS before feeding {mib(baseline):>9} (daemon {mib(started_rss)} + record pool)")
    print(f"RSS at warm-up     {mib(warm):>9}")
    print(f"RSS peak           {mib(peak_stream):>9}" + ("" if can_reset else " (of the samples)"))
    print(f"RSS final          {mib(final):>9}")
    print(f"growth after warm-up: {100 * growth:+.1f}% (peak after warm-up {mib(peak_after)} vs {mib(warm)})")
    print(
        f"drift check of every model ({', '.join(f'{n} {r:,} rows' for n, r in rows_checked.items())}): "
        f"{check_s:.1f} s; RSS after {mib(after_checks)}, peak during the checks {mib(peak_checks)}"
    )
    if checkpoint is not None:
        print(f"state file with the checkpointed windows: {mib(state_size)}")
    ok_growth = growth < GROWTH_TARGET
    ok_total = max(peak_stream, peak_checks) < TOTAL_TARGET
    print(
        f"verdict: growth after warm-up {100 * growth:+.1f}% ({'meets' if ok_growth else 'MISSES'} < "
        f"{100 * GROWTH_TARGET:.0f}%); peak {mib(max(peak_stream, peak_checks))} with the checks "
        f"({'meets' if ok_total else 'MISSES'} < {mib(TOTAL_TARGET)}); {os.cpu_count()} CPUs"
    )
    return 0 if ok_growth and ok_total else 1


if __name__ == "__main__":
    sys.exit(main())
