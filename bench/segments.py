"""Segments, versions and a rolling baseline: check time, series, memory and ingest cost of a scoped model.

One model, ``credit-risk``: 25 numeric features and a prediction; a categorical segment column
``region`` (a field of the record's features, not monitored itself, present in the reference so each
segment is judged against the reference's rows of its value) with ``--values`` values and ``top_k``
50 (``--top-k``), so 50 segment scopes plus ``region:other``; two versions ("7" and "8", interleaved
50/50); a rolling baseline on the model (``rolling`` 1h, ``lag`` 30m). Windows: the model's 1 h with
``max_rows`` 50,000, each segment's ``max_rows`` 5,000, each version's 20,000.

Everything runs in process, without a broker: ``Daemon(settings, clock=...)`` is fed batches of
5,000 JSON records through ``Daemon.handle`` (kafka-python-like messages, as the consumer hands
them over), each batch stamped with a simulated clock that is also the daemon's. The timeline:

1. warm-up: 30 simulated minutes of traffic (``--warmup`` records), then two scheduled checks
   (``Daemon.run_check``: segment values are promoted after ``stability.promote_after`` = 2 checks
   and seeded from the model window);
2. steady state: one more hour of traffic (``--records``; by default 250,000, so every one of the
   50 equally busy values has about 5,000 records in the window, the model 300,000 of which its
   window keeps 50,000), timed as the ingest figure (records/s of ``Daemon.handle`` alone; the
   messages are built before the clock starts, checkpoints are taken every 10 batches, timed apart);
3. ``--checks`` scheduled checks of the model, timed one by one (median reported), then the model's
   Prometheus series counted on a scrape of the daemon's registry (``generate_latest``: every
   sample line with ``model="credit-risk"``), the scopes' window rows read from
   ``driftwatch_window_rows``, and the RSS.

Each measurement runs in a fresh child process (so RSS is that configuration's), ``--repeats``
times, interleaved; medians are reported. The ingest cost of segments is also measured paired: one
child process holds a daemon of each of ``scoped``, ``no-segments`` and ``plain`` and hands every
batch to each of them in turn (the order rotating), so a slower spell of a shared machine costs all
three alike; its difference ``scoped`` - ``no-segments`` per record is the figure reported. The
configurations:

* ``scoped``: segments + versions + rolling baseline, as above;
* ``no-segments``: the same model without ``segments:`` (versions and baseline kept): the ingest
  cost of segments is the difference per record between the two, over the same batches;
* ``plain``: the model without any of the three sections (today's model);
* ``10k-values``: ``scoped`` with 10,000 distinct values of ``region`` (each seen once during the
  warm-up, then Zipf(1.1) distributed), the segment column judged against the model's reference
  (``reference: model``: most values are not in the reference): series count and RSS must not grow
  with the number of values.

    python bench/segments.py                 # 3 repeats, about 5 minutes on 2 cores
    python bench/segments.py --quick         # 1 repeat, a fifth of the rows: about a minute
    python bench/segments.py --only scoped --repeats 1
    python bench/segments.py --only scoped --repeats 1 --multivariate   # + reconstruction_error per scope

``--run NAME`` (internal) runs one configuration and prints its figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from common import FakeMessage, feature_columns, iso_stamp, mib, rss_bytes, synthetic_model

MODEL = "credit-risk"
TOPIC = "predictions"
START = 1_795_000_000.0  # 2026-11-18, a fixed simulated start
BATCH = 5000
CONFIGS = ("scoped", "no-segments", "plain", "10k-values")
PAIRED = ("scoped", "no-segments", "plain")  # the configurations of the paired ingest run
CHECK_TARGET_S = 3.0
INGEST_TARGET_US = 0.5  # per segment column per record


@dataclass(frozen=True)
class Plan:
    whole_rows: int  # window.max_rows
    segment_rows: int  # segments.max_rows
    version_rows: int  # versions.window.max_rows
    baseline_rows: int  # baseline.max_rows
    min_rows: int  # window.min_rows and segments.min_rows
    warmup: int  # records over the first 30 simulated minutes
    records: int  # records over the next hour (the measured ingest)
    checks: int  # timed scheduled checks
    values: int  # distinct values of the segment column
    top_k: int
    zipf: float  # 0: every value equally busy
    multivariate: bool = False  # drift.multivariate: reconstruction_error on every feature


def plan_of(args: argparse.Namespace, config: str) -> Plan:
    scale = 5 if args.quick else 1
    values = 10_000 if config == "10k-values" else args.values
    return Plan(
        whole_rows=50_000 // scale,
        segment_rows=5_000 // scale,
        version_rows=20_000 // scale,
        baseline_rows=20_000 // scale,
        min_rows=500 // scale,
        warmup=(args.warmup if args.warmup is not None else 50_000) // scale,
        records=(args.records if args.records is not None else 250_000) // scale,
        checks=args.checks,
        values=values,
        top_k=args.top_k,
        zipf=1.1 if config == "10k-values" else 0.0,
        multivariate=args.multivariate,
    )


def region_names(count: int) -> list[str]:
    return [f"r{i:05d}" for i in range(count)]


def write_config(directory: Path, config: str, plan: Plan) -> Path:
    model = synthetic_model(MODEL, 25, 0)
    rng = np.random.default_rng(7)
    columns = feature_columns(model, 20_000, rng)
    # the reference holds the segment column with the first (at most 50) values, 400 rows each
    columns["region"] = rng.choice(region_names(min(plan.values, 50)), 20_000)
    import pandas as pd

    pd.DataFrame(columns).to_parquet(directory / "ref.parquet", index=False)
    section: dict[str, Any] = {
        "reference": "ref.parquet",
        "features": model.numeric,
        "prediction": "prediction",
        "window": {"length": "1h", "max_rows": plan.whole_rows, "min_rows": plan.min_rows},
        "schedule": {"every": "1h"},
    }
    if plan.multivariate:  # fitted on the reference once, and once per segment on its value's rows
        section["drift"] = {"multivariate": {"methods": ["reconstruction_error"]}}
    if config != "plain":
        section["versions"] = {"max_live": 3, "window": {"max_rows": plan.version_rows}}
        section["baseline"] = {"rolling": "1h", "lag": "30m", "max_rows": plan.baseline_rows}
    if config in ("scoped", "10k-values"):
        section["segments"] = {
            "top_k": plan.top_k,
            "max_rows": plan.segment_rows,
            "min_rows": plan.min_rows,
            "columns": [{"column": "region", "reference": "model" if config == "10k-values" else "segment"}],
        }
    raw = {
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "topic": TOPIC, "group_id": "driftwatch-bench"},
        "http": {"host": "127.0.0.1", "port": 0},
        "models": {MODEL: section},
        "state": {"path": str(directory / "state.sqlite")},
        "log_level": "WARNING",
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


class Records:
    """Encoded records from a pool of feature values; each message gets its version (alternating by
    offset), its segment value (drawn per message) and the batch's timestamp spliced in."""

    def __init__(self, plan: Plan, pool: int = 20_000, seed: int = 3) -> None:
        model = synthetic_model(MODEL, 25, 0)
        rng = np.random.default_rng(seed)
        columns = {name: values.tolist() for name, values in feature_columns(model, pool, rng).items()}
        ids = rng.bytes(16 * pool)
        encoder = json.JSONEncoder()
        self.parts: list[tuple[bytes, bytes, bytes]] = []
        for i in range(pool):
            features = encoder.encode({name: columns[name][i] for name in model.numeric})[1:-1]
            prediction_id = uuid.UUID(bytes=ids[16 * i : 16 * i + 16], version=4)
            self.parts.append(
                (
                    f'", "prediction_id": "{prediction_id}", "timestamp": "'.encode(),
                    f'", "features": {{{features}, "region": "'.encode(),
                    f'"}}, "prediction": {columns["prediction"][i]!r}, "label": null}}'.encode(),
                )
            )
        self.head = f'{{"model": "{MODEL}", "model_version": "'.encode()
        self.values = [name.encode() for name in region_names(plan.values)]
        ranks = np.arange(1, plan.values + 1, dtype=float)
        weights = ranks**-plan.zipf  # zipf 0: every value equally busy
        self.weights = weights / weights.sum()
        self.rng = np.random.default_rng(seed + 1)
        self.cursor = 0
        self.offset = 0
        self.unseen = list(range(plan.values)) if plan.zipf else []  # each value once, then Zipf

    def batch(self, count: int, now: float) -> list[FakeMessage]:
        stamp = iso_stamp(now).encode()
        millis = int(now * 1000)
        drawn = self.rng.choice(len(self.values), size=count, p=self.weights)
        if self.unseen:
            take = self.unseen[:count]
            drawn[: len(take)] = take
            del self.unseen[:count]
        messages = []
        for i in range(count):
            a, b, tail = self.parts[self.cursor]
            self.cursor = (self.cursor + 1) % len(self.parts)
            version = b"7" if self.offset % 2 else b"8"
            value = self.head + version + a + stamp + b + self.values[drawn[i]] + tail
            messages.append(FakeMessage(value, millis, TOPIC, 0, self.offset))
            self.offset += 1
        return messages


class SimClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def scrape(daemon: Any) -> dict[str, Any]:
    """The model's series in the daemon's /metrics text, and the rows of each scope's window."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    text = generate_latest(daemon.metrics.registry).decode()
    series = sum(1 for line in text.splitlines() if not line.startswith("#") and f'model="{MODEL}"' in line)
    segments: set[str] = set()
    versions: set[str] = set()
    rows: dict[tuple[str, str], float] = {}
    try:
        from driftwatch.service.metrics import BUDGET_FAMILIES
    except ImportError:
        families: frozenset[str] | None = None
    else:
        families = frozenset(BUDGET_FAMILIES)
    budgeted = 0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("model") != MODEL:
                continue
            budgeted += families is not None and sample.name in families
            segments.add(sample.labels.get("segment", ""))
            versions.add(sample.labels.get("model_version", ""))
            if sample.name == "driftwatch_window_rows":
                rows[(sample.labels.get("model_version", ""), sample.labels.get("segment", ""))] = (
                    sample.value
                )
    segment_rows = [v for (version, segment), v in rows.items() if segment and not segment.endswith(":other")]
    return {
        "series": series,  # every sample line naming the model (histogram buckets, _created included)
        "budgeted_series": budgeted if families is not None else None,  # of the families series_budget bounds
        "segment_labels": len(segments - {""}),
        "version_labels": len(versions - {""}),
        "whole_rows": rows.get(("", ""), 0.0),
        "total_rows": sum(rows.values()),
        "version_rows": sorted(v for (version, segment), v in rows.items() if version and not segment),
        "segment_rows": [min(segment_rows), statistics.median(segment_rows), max(segment_rows)]
        if segment_rows
        else [],
    }


def budgets(settings: Any) -> tuple[int | None, int | None]:
    """The design's bounds on the model's series and window rows (`series_budget_of`, `row_budget_of`
    of `driftwatch.service.metrics`), when this version has them."""
    try:
        from driftwatch.service.metrics import row_budget_of, series_budget_of
    except ImportError:
        return None, None
    model = settings.models[MODEL]
    return int(series_budget_of(model)), int(row_budget_of(model))


def run_one(config: str, plan: Plan) -> dict[str, Any]:
    """One configuration in this (fresh) process: the figures as a dict."""
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    from driftwatch.config import load_settings
    from driftwatch.service.daemon import Daemon

    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-segments-") as tmp:
        settings = load_settings(write_config(Path(tmp), config, plan))
        clock = SimClock(START)
        daemon = Daemon(settings, clock=clock)
        records = Records(plan)
        rss_started = rss_bytes()

        def feed(count: int, seconds: float) -> tuple[float, float]:
            """``count`` records over ``seconds`` simulated: (Daemon.handle seconds, checkpoint seconds)."""
            batches = -(-count // BATCH)
            step = seconds / batches
            handle_s = checkpoint_s = 0.0
            for index in range(batches):
                messages = records.batch(min(BATCH, count - index * BATCH), clock.now)
                clock.now += step
                t0 = time.perf_counter()
                daemon.handle(messages)
                t1 = time.perf_counter()
                handle_s += t1 - t0
                if index % 10 == 9 or index == batches - 1:
                    daemon.checkpoint({(TOPIC, 0): records.offset})
                    checkpoint_s += time.perf_counter() - t1
            return handle_s, checkpoint_s

        feed(plan.warmup, 1800.0)
        warmup_checks = []
        for _ in range(2):  # promotions need stability.promote_after checks in a row
            t0 = time.perf_counter()
            daemon.run_check(MODEL)
            warmup_checks.append(time.perf_counter() - t0)
            clock.now += 1.0
        handle_s, checkpoint_s = feed(plan.records, 3600.0)
        checks = []
        for _ in range(plan.checks):
            t0 = time.perf_counter()
            result = daemon.run_check(MODEL)
            checks.append(time.perf_counter() - t0)
            clock.now += 1.0
        figures = scrape(daemon)
        rss = rss_bytes()
        budget, row_budget = budgets(settings)
        daemon.http.start()  # `stop` waits for a serving loop
        daemon.stop()
    return {
        "config": config,
        "records": plan.records,
        "handle_s": handle_s,
        "records_per_s": plan.records / handle_s,
        "us_per_record": 1e6 * handle_s / plan.records,
        "checkpoint_s": checkpoint_s,
        "warmup_checks_s": warmup_checks,
        "checks_s": checks,
        "check_s": statistics.median(checks),
        "status": None if result is None else str(getattr(result, "status", "")),
        "rss_started": rss_started,
        "rss": rss,
        "budget": budget,
        "row_budget": row_budget,
        **figures,
    }


def run_paired(plan: Plan) -> dict[str, Any]:
    """The ingest cost of each of `PAIRED` on the very same batches, in one process: one daemon per
    configuration, each batch handed to every daemon in turn (the order rotating per batch), so a
    slower spell of the machine costs every configuration alike. Warm-up and its two checks as in
    `run_one`; checkpoints are not taken (the same for every daemon)."""
    logging.basicConfig(level=logging.WARNING, format="  %(levelname)s %(name)s: %(message)s")
    from driftwatch.config import load_settings
    from driftwatch.service.daemon import Daemon

    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-segments-") as tmp:
        clock = SimClock(START)
        daemons = {}
        for config in PAIRED:
            directory = Path(tmp) / config
            directory.mkdir()
            daemons[config] = Daemon(load_settings(write_config(directory, config, plan)), clock=clock)
        records = Records(plan)
        spent = dict.fromkeys(PAIRED, 0.0)

        def feed(count: int, seconds: float, timed: bool) -> None:
            batches = -(-count // BATCH)
            step = seconds / batches
            for index in range(batches):
                messages = records.batch(min(BATCH, count - index * BATCH), clock.now)
                clock.now += step
                order = PAIRED[index % len(PAIRED) :] + PAIRED[: index % len(PAIRED)]
                for config in order:
                    t0 = time.perf_counter()
                    daemons[config].handle(messages)
                    if timed:
                        spent[config] += time.perf_counter() - t0

        feed(plan.warmup, 1800.0, timed=False)
        for _ in range(2):
            for daemon in daemons.values():
                daemon.run_check(MODEL)
            clock.now += 1.0
        feed(plan.records, 3600.0, timed=True)
        for daemon in daemons.values():
            daemon.http.start()
            daemon.stop()
    return {config: 1e6 * seconds / plan.records for config, seconds in spent.items()}


def child(config: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--run", config, "--checks", str(args.checks)]
    command += ["--values", str(args.values), "--top-k", str(args.top_k)]
    for flag, value in (("--records", args.records), ("--warmup", args.warmup)):
        if value is not None:
            command += [flag, str(value)]
    if args.quick:
        command.append("--quick")
    if args.multivariate:
        command.append("--multivariate")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"{config}: the child process failed ({done.returncode})")
    if done.stderr.strip():
        sys.stderr.write(done.stderr)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3, help="child processes per configuration")
    parser.add_argument("--checks", type=int, default=5, help="timed scheduled checks per run")
    parser.add_argument(
        "--values", type=int, default=50, help="values of the segment column (not 10k-values)"
    )
    parser.add_argument("--top-k", type=int, default=50, help="segments.top_k")
    parser.add_argument("--records", type=int, default=None, help="records of the measured hour (250,000)")
    parser.add_argument("--warmup", type=int, default=None, help="records of the warm-up half hour (50,000)")
    parser.add_argument("--only", choices=CONFIGS, action="append", help="run only these configurations")
    parser.add_argument("--quick", action="store_true", help="a fifth of every size, 1 repeat")
    parser.add_argument(
        "--multivariate",
        action="store_true",
        help="add drift.multivariate (reconstruction_error on the 25 features) to the model and its scopes",
    )
    parser.add_argument("--run", choices=(*CONFIGS, "paired"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run == "paired":
        print(json.dumps(run_paired(plan_of(args, "scoped"))))
        return 0
    if args.run is not None:
        print(json.dumps(run_one(args.run, plan_of(args, args.run))))
        return 0
    if args.quick:
        args.repeats = 1
    configs = args.only or list(CONFIGS)
    plan = plan_of(args, "scoped")
    print(
        f"segments: model {MODEL}, 25 numeric features + prediction; segment column region with "
        f"{plan.values} values (10k-values: 10,000, Zipf 1.1), top_k {plan.top_k}; versions 7 and 8 "
        f"interleaved; rolling baseline 1h, lag 30m. Windows: model {plan.whole_rows:,} rows, segments "
        f"{plan.segment_rows:,}, versions {plan.version_rows:,}, baseline {plan.baseline_rows:,}. "
        f"{plan.warmup:,} records over 30 simulated minutes + 2 checks, then {plan.records:,} over one "
        f"hour (timed), then {plan.checks} timed checks; {args.repeats} repeat(s), {os.cpu_count()} CPUs"
    )
    runs: dict[str, list[dict[str, Any]]] = {config: [] for config in configs}
    paired: list[dict[str, Any]] = []
    for repeat in range(args.repeats):
        if "scoped" in configs and "no-segments" in configs:
            paired.append(child("paired", args))
            print(
                f"  [{repeat + 1}] paired ingest, same batches in one process: "
                + ", ".join(f"{config} {us:.2f} us/record" for config, us in paired[-1].items())
            )
        for config in configs:  # interleaved, so a slower spell of the machine hits every configuration
            run = child(config, args)
            runs[config].append(run)
            print(
                f"  [{repeat + 1}] {config:<12} ingest {run['records_per_s']:>9,.0f} records/s "
                f"({run['us_per_record']:.2f} us/record)  check {run['check_s']:.3f} s "
                f"(warm-up checks, scopes' references built: {', '.join(f'{s:.2f}' for s in run['warmup_checks_s'])}) "
                f"(each {', '.join(f'{s:.2f}' for s in run['checks_s'])})  series {run['series']:>5,}  "
                f"scopes: {run['segment_labels']} segment labels, {run['version_labels']} versions  "
                f"RSS {mib(run['rss'])}"
            )
    print("\nmedians")
    print(
        f"{'configuration':<13} {'records/s':>10} {'us/record':>10} {'check s':>8} {'series':>7} "
        f"{'budget':>7} {'RSS':>9} {'RSS growth':>11}  window rows (model; versions; segments min/median/max)"
    )
    for config, done in runs.items():
        last = done[-1]
        budget = "-" if last["budget"] is None else f"{last['budget']:,}"
        growth = statistics.median(run["rss"] - run["rss_started"] for run in done)
        segment_rows = "/".join(f"{v:,.0f}" for v in last["segment_rows"]) or "-"
        version_rows = ", ".join(f"{v:,.0f}" for v in last["version_rows"]) or "-"
        print(
            f"{config:<13} {median(done, 'records_per_s'):>10,.0f} {median(done, 'us_per_record'):>10.2f} "
            f"{median(done, 'check_s'):>8.3f} {median(done, 'series'):>7,.0f} {budget:>7} "
            f"{mib(median(done, 'rss')):>9} {mib(growth):>11}  {last['whole_rows']:,.0f}; {version_rows}; "
            f"{segment_rows}"
        )
    for config, done in runs.items():
        last = done[-1]
        if last["row_budget"] is not None:
            print(
                f"{config}: window rows of every scope {last['total_rows']:,.0f} (row_budget {last['row_budget']:,}), "
                f"series of the budgeted families {last['budgeted_series']:,} (series_budget {last['budget']:,}; "
                f"{last['series']:,} series name the model in all)"
            )
    wired = any(run["segment_labels"] > 0 for done in runs.values() for run in done)
    if not wired:
        print(
            "\nnote: no series carries a segment label: this version of the daemon does not run scopes "
            "yet (the sections are read but not wired); the figures are those of the unscoped model"
        )
    verdicts = []
    if "scoped" in runs:
        check = median(runs["scoped"], "check_s")
        verdicts.append(
            f"scheduled check {check:.2f} s ({'meets' if check < CHECK_TARGET_S else 'MISSES'} < {CHECK_TARGET_S:g} s)"
        )
    if paired:
        costs = [run["scoped"] - run["no-segments"] for run in paired]
        print(
            "paired ingest (median us/record): "
            + ", ".join(f"{config} {median(paired, config):.2f}" for config in PAIRED)
            + f"; segments on - off per run: {', '.join(f'{c:+.2f}' for c in costs)} us"
        )
        cost = statistics.median(costs)
        verdicts.append(
            f"segments add {cost:.2f} us per record for 1 column "
            f"({'meets' if cost < INGEST_TARGET_US else 'MISSES'} < {INGEST_TARGET_US:g} us per column)"
        )
    if "scoped" in runs and "10k-values" in runs:
        verdicts.append(
            f"10,000 values: {median(runs['10k-values'], 'series'):,.0f} series vs "
            f"{median(runs['scoped'], 'series'):,.0f} with {plan.values}; RSS {mib(median(runs['10k-values'], 'rss'))} "
            f"vs {mib(median(runs['scoped'], 'rss'))}"
        )
    if verdicts:
        print("verdict: " + "; ".join(verdicts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
