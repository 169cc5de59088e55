"""False alarms and detection delays of segments, champion/challenger and the rolling baseline.

Every statistical default of a scoped model (see README "Segments, versions and rolling baselines") is
measured here on a stream that does not change (false alarms) and on one that changes (delays).
Everything runs in process, without a broker, on a simulated clock; several seeds; medians and the
spread (min..max over seeds) are printed.

1. **Segments, no drift.** A ``Daemon`` of one model (25 numeric features of `common.feature_columns` and
   a prediction) with ``segments: {columns: [region]}`` (``top_k`` 20 and every other key at its
   default), ``window: {length: 1h, max_rows: 50000}``, checks every 5 minutes (the default
   ``schedule``), fed 2,000 records a minute straight into its windows (`ScopedModel.add_columns`, the
   call ingest makes after decoding), each drawn from the generator the reference was drawn from
   (20,000 rows, a fresh sample per seed). ``region`` has 50 values with Zipf(1.1) shares (26% for the
   busiest, 0.35% for the 50th), the same in the reference, so each segment is judged against its own
   reference rows (``reference: segment``, the default) when it has ``segments.min_rows`` of them.
   Every alert event of the policy is recorded (`BreachPolicy.observe` is wrapped): the firings of
   segment scopes (``region=...``, ``region:other``) per segment-day and per model-day, and what each
   was decided on (check, method, own or whole reference). One hour of traffic before the first
   check; the first two checks promote the segments (``promote_after`` 2); firings are counted from
   then on, over ``--hours`` hours per seed. Daemon runs: ``segments.min_rows`` 500 (the old default,
   ``window.min_rows``), the default (1000) and 2000, each with the default ``max_rows`` 5000.
   Alternatives replayed on the same runs: each check's per-feature and prediction scores are
   recorded, and the decisions and the alert policy are replayed with another rule (``alert.consecutive``
   2 or 3; on the old default also p-value tests at 0.01, distance tests at 0.15, a verdict only from
   2,000 rows); the replay of the rule as run must give the daemon's own firings (checked and printed).
2. **Segments, drift in one segment.** The same runs go on for ``--drift-hours`` (1.5) after the
   stationary hours with a step change in three segments of about 26%, 4.4% and 2.1% of the traffic
   (the Zipf ranks nearest 20%, 5% and 2%): numeric features x 1.15 (count features with their rate x
   1.15) and the prediction's logit + 0.3. The delay of each segment's ``data_drift`` firing from the
   step (checks and minutes), through the same rules; "missed" when it did not fire in time.
3. **Membership churn.** The segment directory (`ScopeDirectory`, with the defaults of
   ``stability``) observing each check's sample of the model window (a `Window` of the segment column
   alone, fed the same 2,000 records a minute): promotions and demotions per day after the first
   hour, with 50 values (as above) and with 10,000 Zipf(1.1) values, ``--churn-hours`` per seed.
4. **Champion/challenger.** `ChallengerCheck` as `ScopedModel` builds it (binary classifier, accuracy,
   Newcombe's interval at ``confidence`` 0.95, ``worse_by`` 0.01: the config's defaults) run every 5
   minutes on the labelled traffic of the 1 h look-back of two versions splitting the traffic 50/50,
   with ``--labelled`` of the records labelled (default 10%: 100 labels a minute per version), both
   of accuracy 0.80; firings per day through the alert policy (``consecutive`` 1) over
   ``--challenger-days`` (5) per seed. Then the challenger drops to 0.77: the delay of the firing.
   Alternatives: ``worse_by`` 0 (the old default) with ``confidence`` 0.99 and/or ``consecutive`` 2,
   ``worse_by`` 0.02.
5. **Rolling baseline, stationary stream.** The daemon of 1. (defaults) also has ``baseline: {rolling:
   2h, lag: 30m}`` (every other key at its default: ``min_rows`` 500, ``min_coverage`` 0.5):
   ``data_drift@rolling`` and ``prediction_drift@rolling`` firings of the whole model per day, from
   the first check with a verdict (the baseline covers half its period 1.5 h after the start).

Bounds, to keep the whole bench near 10 minutes on 2 cores: 5 seeds; 6 stationary + 1.5 drift hours of
daemon checks per seed and configuration (a check of 21 scopes takes about 0.5 s), so 1.2 model-days
per configuration: a rate of one firing a week is below what it resolves (0 firings in 1.2 days
bounds the rate at 2.5 a day at 95%); the rolling baseline only over those hours; churn over 24 h
per seed; challenger 5 days per seed (25 days per setting).

    python bench/scope_false_alarms.py            # 5 seeds: 16 minutes of CPU, 8 on 2 idle cores
    python bench/scope_false_alarms.py --quick    # 3 seeds, 3 + 1 hours: about 4 minutes on 2 cores
"""

from __future__ import annotations

import argparse
import collections
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from common import feature_columns, synthetic_model

MODEL = "credit-risk"
START = 1_795_000_000.0  # a fixed simulated start
PER_MINUTE = 2000
EVERY = 300.0  # the default schedule: every 5 minutes
VALUES = 50
ZIPF = 1.1
REFERENCE_ROWS = 20_000
TARGETS = (0.20, 0.05, 0.02)  # shares of the segments that drift
SCALE = 1.15  # the moderate shift: numeric features x 1.15
LOGIT = 0.3  # ... and the prediction's logit + 0.3
DRIFT_HOURS = 1.5
DAY = 86_400.0


# the stream ---------------------------------------------------------------------------------------


def zipf_weights(values: int, exponent: float = ZIPF) -> np.ndarray:
    weights = np.arange(1, values + 1, dtype=float) ** -exponent
    return weights / weights.sum()


def region_names(values: int) -> np.ndarray:
    return np.array([f"r{i:05d}" for i in range(values)], dtype=object)


def drifting_values(weights: np.ndarray) -> list[int]:
    """The ranks whose shares are nearest each of `TARGETS`."""
    return [int(np.argmin(np.abs(weights - target))) for target in TARGETS]


def rows_of(model: Any, n: int, rng: np.random.Generator, shifted: bool = False) -> dict[str, np.ndarray]:
    """``n`` rows from the reference's generator; ``shifted``: the moderate step change."""
    if not shifted:
        return feature_columns(model, n, rng)
    columns: dict[str, np.ndarray] = {}
    for i, name in enumerate(model.numeric):  # as `feature_columns`, each scale x SCALE
        scale = 10.0 ** (i % 6)
        if i % 3 == 0:
            columns[name] = rng.poisson((1 + scale / 10) * SCALE, n).astype(np.int64)
        else:
            columns[name] = (rng.lognormal(0.0, 0.75, n) * scale * SCALE).round(4)
    columns["prediction"] = 1 / (1 + np.exp(-(rng.normal(0, 1.5, n) + LOGIT)))
    return columns


# 1, 2, 5: the daemon ---------------------------------------------------------------------------------


CONFIGS: dict[str, dict[str, Any]] = {
    "min_rows 500 (old default)": {"min_rows": 500},  # max_rows 5000 by default, as now
    "defaults (min_rows 1000)": {},
    "min_rows 2000": {"min_rows": 2000, "max_rows": 5000},
}
OLD = "min_rows 500 (old default)"
DEFAULTS = "defaults (min_rows 1000)"


def write_config(directory: Path, config: str, seed: int) -> Path:
    model = synthetic_model(MODEL, 25, 0)
    rng = np.random.default_rng(1000 + seed)
    columns = feature_columns(model, REFERENCE_ROWS, rng)
    columns["region"] = rng.choice(region_names(VALUES), REFERENCE_ROWS, p=zipf_weights(VALUES))
    pd.DataFrame(columns).to_parquet(directory / "ref.parquet", index=False)
    section: dict[str, Any] = {
        "reference": "ref.parquet",
        "features": model.numeric,
        "prediction": "prediction",
        "window": {"length": "1h", "max_rows": 50_000},
        "segments": {"columns": ["region"], **CONFIGS[config]},
    }
    if config == DEFAULTS:
        section["baseline"] = {"rolling": "2h", "lag": "30m"}
    raw = {
        "kafka": {"bootstrap_servers": ["127.0.0.1:9"], "topic": "predictions"},
        "http": {"host": "127.0.0.1", "port": 0},
        "models": {MODEL: section},
        "state": {"path": str(directory / "state.sqlite")},
        "log_level": "WARNING",
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


class SimClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Verdict:
    """What one scope's check decided on, to replay other decision rules: its rows, each feature's
    (method, score) and the prediction's."""

    rows: int
    status: str
    features: list[tuple[str, float | None]]
    prediction: tuple[str, float | None] | None
    share: float


def verdict_of(result: Any) -> Verdict:
    drift = result.drift
    if drift is None:
        return Verdict(int(result.rows), str(result.status), [], None, 0.5)
    features = [(c.method, c.score) for c in drift.columns]
    p = result.prediction_drift
    prediction = None if p is None or p.error else (p.method, p.score)
    return Verdict(int(result.rows), str(result.status), features, prediction, drift.share_threshold)


P_LE = {"ks", "cramer_von_mises"}  # drift when p <= t
P_LT = {
    "chisquare",
    "z",
    "anderson",
    "es",
    "t_test",
    "mannw",
    "empirical_mmd",
    "TVD",
    "g_test",
    "fisher_exact",
}


def drifted(method: str, score: float | None, threshold: float) -> bool:
    if score is None or math.isnan(score):
        return False
    if method in P_LE:
        return score <= threshold
    if method in P_LT:
        return score < threshold
    return score >= threshold  # distances (ed: >, the same on continuous scores)


@dataclass(frozen=True)
class Rule:
    """A replayed decision rule: p-value threshold, distance threshold, verdict floor, consecutive."""

    name: str
    p: float = 0.05
    distance: float = 0.1
    floor: int = 500
    consecutive: int = 1

    def threshold(self, method: str) -> float:
        return self.p if method in P_LE | P_LT else self.distance

    def breaches(self, verdict: Verdict) -> dict[str, bool]:
        """The breaches a check feeds the policy (none without a verdict)."""
        if verdict.status != "ok" or verdict.rows < self.floor:
            return {}
        flags = [drifted(m, s, self.threshold(m)) for m, s in verdict.features if s is not None]
        out = {"data_drift": bool(flags) and sum(flags) / len(flags) >= verdict.share}
        if verdict.prediction is not None:
            method, score = verdict.prediction
            out["prediction_drift"] = drifted(method, score, self.threshold(method))
        return out


REPLAYS = (
    Rule("as run"),
    Rule("consecutive 2", consecutive=2),
    Rule("consecutive 3", consecutive=3),
    Rule("p-value tests at 0.01", p=0.01),
    Rule("distance tests at 0.15", distance=0.15),
    Rule("verdict from 2000 rows", floor=2000),
)


def replay(history: dict[str, list[tuple[float, Verdict]]], rule: Rule, floor: int) -> dict[str, list[float]]:
    """{scope: times of `firing` events} under ``rule`` (consecutive breaches, resolve after 1 clean)."""
    from driftwatch.alerting.policy import AlertState, PolicyRule, step

    policy = PolicyRule(rule.consecutive, 0.0, 1)
    effective = Rule(rule.name, rule.p, rule.distance, max(rule.floor, floor), rule.consecutive)
    fired: dict[str, list[float]] = {}
    for scope, checks in history.items():
        states: dict[str, AlertState] = {}
        for now, verdict in checks:
            for check, breaching in effective.breaches(verdict).items():
                state, transition = step(states.get(check, AlertState()), breaching, now, policy)
                states[check] = state
                if transition == "firing":
                    fired.setdefault(scope, []).append(now)
    return fired


def run_daemon(config: str, seed: int, hours: float, drift_hours: float) -> dict[str, Any]:
    """One daemon run: stationary ``hours`` of checks, then ``drift_hours`` with the step change."""
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("driftwatch").setLevel(logging.ERROR)
    from driftwatch.config import load_settings
    from driftwatch.service.daemon import Daemon

    model = synthetic_model(MODEL, 25, 0)
    weights = zipf_weights(VALUES)
    names = region_names(VALUES)
    drifting = drifting_values(weights)
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory(prefix="driftwatch-bench-scope-fa-") as tmp:
        settings = load_settings(write_config(Path(tmp), config, seed))
        clock = SimClock(START)
        daemon = Daemon(settings, clock=clock)
        scoped = daemon.scoped[MODEL]
        specs = [spec.name for spec in scoped.whole.columns]
        events: list[tuple[float, str, str, bool, str | None]] = []
        observe = daemon.policy.observe

        def recording(
            model_: str, check: str, breaching: bool, end: float, rule: Any = None, scope: str = ""
        ) -> Any:
            event = observe(model_, check, breaching, end, rule, scope)
            events.append((clock.now, scope, check, breaching, None if event is None else event.transition))
            return event

        daemon.policy.observe = recording  # type: ignore[method-assign]
        step_at = START + 3600.0 + hours * 3600.0

        def feed(minutes: int) -> None:
            for _ in range(minutes):
                region = rng.choice(VALUES, PER_MINUTE, p=weights)
                columns = rows_of(model, PER_MINUTE, rng)
                if clock.now >= step_at:
                    for value in drifting:
                        mask = region == value
                        shifted = rows_of(model, int(mask.sum()), rng, shifted=True)
                        for name, values in shifted.items():
                            columns[name] = columns[name].astype(np.float64)
                            columns[name][mask] = values
                stamps = clock.now + np.sort(rng.random(PER_MINUTE)) * 60.0
                clock.now += 60.0
                arrays = [
                    names[region] if name == "region" else np.asarray(columns[name], dtype=np.float64)
                    for name in specs
                ]
                scoped.add_columns(stamps, arrays, clock.now, rng.random(PER_MINUTE))

        feed(60)
        history: dict[str, list[tuple[float, Verdict]]] = collections.defaultdict(list)
        scopes_seen: list[int] = []
        checks = 0
        started = time.perf_counter()
        end = step_at + drift_hours * 3600.0
        while clock.now < end:
            daemon.run_check(MODEL)
            checks += 1
            for scope in scoped.scopes():
                result = daemon.latest.get(MODEL, scope.key)
                if result is not None and result.window_end == clock.now:
                    history[scope.key].append((clock.now, verdict_of(result)))
            scopes_seen.append(sum(1 for s in scoped.scopes() if s.segment is not None))
            feed(int(EVERY // 60))
        seconds = time.perf_counter() - started
        references = {  # each segment scope's reference rows (the whole reference's when it has too few)
            scope.key: scoped._reference(scope).checks.profile.rows
            for scope in scoped.scopes()
            if scope.segment
        }
        floor = scoped.rules["region"].min_rows
        daemon.http.start()
        daemon.stop()
    counted_from = START + 3600.0 + 2 * EVERY  # after the two checks that promote
    stationary = [e for e in events if counted_from <= e[0] < step_at]
    segment_firings = [e for e in stationary if e[1].startswith("region") and e[4] == "firing"]
    whole_firings = [e for e in stationary if e[1] == "" and "@" not in e[2] and e[4] == "firing"]
    rolling_checks = [e for e in stationary if e[1] == "" and e[2].endswith("@rolling")]
    rolling_firings = [e for e in rolling_checks if e[4] == "firing"]
    segment_scopes = statistics.median(scopes_seen[2:]) if len(scopes_seen) > 2 else 0
    stationary_history = {
        scope: [(t, v) for t, v in checks_ if counted_from <= t < step_at]
        for scope, checks_ in history.items()
    }
    replays = {}
    for rule in REPLAYS:
        fired = replay(stationary_history, rule, floor)
        replays[rule.name] = sum(len(times) for scope, times in fired.items() if scope.startswith("region"))
    # delays: each drifting segment's first data_drift firing after the step, through the daemon, and
    # under each replayed rule
    delays: dict[str, list[float | None]] = {}
    after = {scope: [(t, v) for t, v in checks_ if t > step_at] for scope, checks_ in history.items()}
    for rule in REPLAYS:
        row: list[float | None] = []
        for value in drifting:
            scope = f"region={names[value]}"
            fired = replay({scope: after.get(scope, [])}, rule, floor).get(scope, [])
            row.append(fired[0] - step_at if fired else None)
        delays[rule.name] = row
    daemon_delays: list[float | None] = []
    for value in drifting:
        scope = f"region={names[value]}"
        times = [
            e[0]
            for e in events
            if e[1] == scope and e[2] == "data_drift" and e[4] == "firing" and e[0] > step_at
        ]
        daemon_delays.append(times[0] - step_at if times else None)
    by_check = collections.Counter(e[2] for e in segment_firings)
    fired_on = []  # what each stationary segment firing was decided on: scope, check, method, rows
    for now, scope, check, _, _ in segment_firings:
        verdict = next((v for t, v in history[scope] if t == now), None)
        method, score, rows = "-", None, -1
        if verdict is not None:
            rows = verdict.rows
            if check == "prediction_drift" and verdict.prediction is not None:
                method, score = verdict.prediction
        fired_on.append((scope, check, method, score, rows, references.get(scope, -1), now - counted_from))
    return {
        "config": config,
        "seed": seed,
        "days": (step_at - counted_from) / DAY,
        "checks": checks,
        "check_s": seconds / max(checks, 1),
        "segment_scopes": segment_scopes,
        "segment_firings": len(segment_firings),
        "by_check": dict(by_check),
        "firing_scopes": len({e[1] for e in segment_firings}),
        "whole_firings": len(whole_firings),
        "rolling_checks": len(rolling_checks),
        "rolling_firings": len(rolling_firings),
        "replays": replays,
        "fired_on": fired_on,
        "delays": delays,
        "daemon_delays": daemon_delays,
        "shares": [float(weights[v]) for v in drifting],
    }


# 3: membership churn --------------------------------------------------------------------------------


def run_churn(values: int, seed: int, hours: float) -> dict[str, Any]:
    from driftwatch.config import SegmentSettings, WindowSettings
    from driftwatch.stream.segments import ScopeDirectory, value_shares
    from driftwatch.stream.windows import ColumnSpec, Window

    rule = SegmentSettings(columns=["region"]).column_rule(0, WindowSettings(length=3600.0, max_rows=50_000))
    directory = ScopeDirectory(MODEL, [rule])
    window = Window([ColumnSpec("region", "categorical")], 3600.0, 50_000)
    weights = zipf_weights(values)
    names = region_names(values)
    rng = np.random.default_rng(seed)
    now = START
    changes: collections.Counter[str] = collections.Counter()
    counted_from = START + 3600.0 + 2 * EVERY
    end = START + 3600.0 + hours * 3600.0

    def feed(minutes: int) -> None:
        nonlocal now
        count = minutes * PER_MINUTE
        stamps = now + np.sort(rng.random(count)) * 60.0 * minutes
        now += 60.0 * minutes
        window.add_columns(stamps, [names[rng.choice(values, count, p=weights)]], now, rng.random(count))

    feed(60)
    while now < end:
        frame = window.snapshot(now).frame
        column = frame["region"].to_numpy(dtype=object)
        for change in directory.observe(
            "region", value_shares(column), lambda scope: False, now, rows=len(column)
        ):
            if now >= counted_from:
                changes[change.change] += 1
        feed(int(EVERY // 60))
    return {
        "values": values,
        "seed": seed,
        "days": (end - counted_from) / DAY,
        "promoted": changes["promoted"],
        "demoted": changes["demoted"] + changes["retired"],
        "members": len(directory.members("region")),
        "top_k": rule.top_k,
    }


# 4: champion/challenger -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Contest:
    name: str
    confidence: float = 0.95
    worse_by: float = 0.0
    consecutive: int = 1


CONTESTS = (
    Contest("worse_by 0 (old default)"),
    Contest("worse_by 0, confidence 0.99", confidence=0.99),
    Contest("worse_by 0, consecutive 2", consecutive=2),
    Contest("worse_by 0, confidence 0.99, consecutive 2", confidence=0.99, consecutive=2),
    Contest("defaults (0.95, worse_by 0.01)", worse_by=0.01),
    Contest("worse_by 0.02", worse_by=0.02),
)


@dataclass
class _Arm:
    minutes: collections.deque[tuple[np.ndarray, np.ndarray]] = field(default_factory=collections.deque)


def run_challenger(seed: int, days: float, labelled: float, worse: float = 0.03) -> dict[str, Any]:
    from driftwatch.alerting.policy import AlertState, PolicyRule, step
    from driftwatch.checks.base import Labelled
    from driftwatch.defaults import MIN_LABELS_DEFAULT
    from driftwatch.performance.challenger import ChallengerCheck, ChallengerSettings, VersionTraffic
    from driftwatch.performance.monitor import PerformanceSpec

    spec = PerformanceSpec(
        task="binary_classification", prediction="prediction", min_labels=MIN_LABELS_DEFAULT
    )
    checks = {
        c.name: ChallengerCheck(
            MODEL, spec, ChallengerSettings("7", "8", confidence=c.confidence, worse_by=c.worse_by)
        )
        for c in CONTESTS
    }
    rng = np.random.default_rng(seed)
    per_minute = max(1, round(PER_MINUTE * labelled / 2))
    arms = {"7": _Arm(), "8": _Arm()}
    accuracy = {"7": 0.80, "8": 0.80}

    def minute() -> None:
        for version, arm in arms.items():
            labels = rng.integers(0, 2, per_minute)
            right = rng.random(per_minute) < accuracy[version]
            predicted = np.where(right, labels, 1 - labels)
            arm.minutes.append((labels, np.where(predicted == 1, 0.75, 0.25)))
            if len(arm.minutes) > 60:
                arm.minutes.popleft()

    def traffic(version: str) -> VersionTraffic:
        minutes = arms[version].minutes
        return VersionTraffic(
            Labelled(np.concatenate([m[0] for m in minutes]), np.concatenate([m[1] for m in minutes]))
        )

    states = {c.name: AlertState() for c in CONTESTS}
    fired = {c.name: 0 for c in CONTESTS}
    delays: dict[str, float | None] = {c.name: None for c in CONTESTS}
    now = START
    for _ in range(60):
        minute()
        now += 60.0
    total = int(days * DAY // EVERY)
    drift_checks = int(2 * 3600 // EVERY)
    step_at: float | None = None
    for index in range(total + drift_checks):
        if index == total:
            step_at = now
            states = {c.name: AlertState() for c in CONTESTS}
            accuracy["8"] = 0.80 - worse
        champion, challenger = traffic("7"), traffic("8")
        for contest in CONTESTS:
            part = checks[contest.name].run(champion, challenger, now)
            for breaching in part.breaches.values():
                state, transition = step(
                    states[contest.name], breaching, now, PolicyRule(contest.consecutive)
                )
                states[contest.name] = state
                if transition == "firing":
                    if step_at is None:
                        fired[contest.name] += 1
                    elif delays[contest.name] is None:
                        delays[contest.name] = now - step_at
        for _ in range(int(EVERY // 60)):
            minute()
            now += 60.0
    return {"seed": seed, "days": total * EVERY / DAY, "fired": fired, "delays": delays, "labels": per_minute}


# the report -----------------------------------------------------------------------------------------


def spread(values: Iterable[float], fmt: str = "{:.2f}") -> str:
    data = sorted(values)
    if not data:
        return "-"
    low, mid, high = data[0], statistics.median(data), data[-1]
    return f"{fmt.format(mid)} ({fmt.format(low)}..{fmt.format(high)})"


def delay_text(delays: list[float | None]) -> str:
    """Median delay over the seeds in checks and minutes, the range, and how many seeds missed."""
    hit = sorted(d for d in delays if d is not None)
    missed = len(delays) - len(hit)
    if not hit:
        return f"- ({missed} missed)"
    mid = statistics.median(hit)
    text = f"{mid / EVERY:.0f} ch / {mid / 60:.0f} min ({hit[0] / 60:.0f}..{hit[-1] / 60:.0f})"
    return text + (f", {missed} missed" if missed else "")


def per_day(count: float, days: float) -> float:
    return count / days if days else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--hours", type=float, default=6.0, help="stationary hours of daemon checks per seed")
    parser.add_argument("--drift-hours", type=float, default=DRIFT_HOURS)
    parser.add_argument("--churn-hours", type=float, default=24.0)
    parser.add_argument("--challenger-days", type=float, default=5.0)
    parser.add_argument("--labelled", type=float, default=0.10, help="share of records labelled")
    parser.add_argument("--configs", nargs="+", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    parser.add_argument(
        "--quick", action="store_true", help="3 seeds, 3 + 1 hours, churn 6 h, challenger 1 day"
    )
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.hours, args.drift_hours = 3, 3.0, 1.0
        args.churn_hours, args.challenger_days = 6.0, 1.0
    seeds = list(range(1, args.seeds + 1))
    started = time.perf_counter()
    weights = zipf_weights(VALUES)
    print(
        f"scope false alarms: {MODEL}, 25 numeric features + prediction, {PER_MINUTE:,} records/min, window 1h "
        f"(50,000 rows), a check every {EVERY / 60:.0f} min; segment column region: {VALUES} values, "
        f"Zipf({ZIPF}) shares {100 * weights[0]:.1f}%..{100 * weights[-1]:.2f}%, top_k 20; "
        f"{len(seeds)} seeds, {args.hours:g} stationary + {args.drift_hours:g} drift hours per seed; "
        f"median (min..max over seeds)"
    )
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        daemon_jobs = {
            (config, seed): pool.submit(run_daemon, config, seed, args.hours, args.drift_hours)
            for seed in seeds
            for config in args.configs
        }
        churn_jobs = {
            (values, seed): pool.submit(run_churn, values, seed, args.churn_hours)
            for values in (VALUES, 10_000)
            for seed in seeds
        }
        contest_jobs = [
            pool.submit(run_challenger, seed, args.challenger_days, args.labelled) for seed in seeds
        ]
        runs = {key: job.result() for key, job in daemon_jobs.items()}
        churns = {key: job.result() for key, job in churn_jobs.items()}
        contests = [job.result() for job in contest_jobs]

    print("\n1. Segments, stationary stream equal to the reference: segment alert firings")
    print(f"{'setting':<52}{'per segment-day':>22}{'per model-day':>22}{'pooled per model-week':>23}")
    rows: list[tuple[str, list[dict[str, Any]], str]] = []
    for config in args.configs:
        done = [runs[(config, s)] for s in seeds]
        for rule in REPLAYS:
            if config != OLD and rule.name not in ("as run", "consecutive 2", "consecutive 3"):
                continue
            label = config if rule.name == "as run" else f"{config}, {rule.name}"
            rows.append((label, done, rule.name))
    for label, done, rule_name in rows:
        model_day = [per_day(r["replays"][rule_name], r["days"]) for r in done]
        segment_day = [m / max(r["segment_scopes"], 1) for m, r in zip(model_day, done, strict=True)]
        pooled = 7 * sum(r["replays"][rule_name] for r in done) / sum(r["days"] for r in done)
        print(f"{label:<52}{spread(segment_day, '{:.3f}'):>22}{spread(model_day):>22}{pooled:>23.1f}")
    for config in args.configs:
        done = [runs[(config, s)] for s in seeds]
        checks = collections.Counter()
        for r in done:
            checks.update(r["by_check"])
        agree = all(r["replays"]["as run"] == r["segment_firings"] for r in done)
        print(
            f"  {config}: {sum(r['days'] for r in done):.2f} model-days, {statistics.median(r['segment_scopes'] for r in done):.0f} "
            f"segment scopes; daemon firings by check {dict(checks)}; scopes that fired per run "
            f"{[r['firing_scopes'] for r in done]}; whole-model firings {sum(r['whole_firings'] for r in done)}; "
            f"check {statistics.median(r['check_s'] for r in done):.2f} s; replay of the run "
            f"{'matches' if agree else 'DIFFERS from'} the daemon's firings"
        )
        kinds = collections.Counter(
            f"{check} {method} vs {'whole' if reference == REFERENCE_ROWS else 'own'} reference"
            + (f" of {reference}" if reference != REFERENCE_ROWS else "")
            for r in done
            for _, check, method, _, _, reference, _ in r["fired_on"]
        )
        print(f"    what fired: {dict(kinds) or 'nothing'}")

    print(
        "\n2. Segments, step change in one segment (features x 1.15, prediction logit + 0.3): "
        "data_drift firing delay, median checks / minutes (min..max)"
    )
    shares = runs[(args.configs[0], seeds[0])]["shares"]
    print(f"{'setting':<52}" + "".join(f"{f'segment {100 * s:.1f}%':>30}" for s in shares))
    for label, done, rule_name in rows:
        print(
            f"{label:<52}"
            + "".join(
                f"{delay_text([r['delays'][rule_name][i] for r in done]):>30}" for i in range(len(shares))
            )
        )

    print(
        "\n3. Membership churn, stationary mix (stability defaults: promote_after 2, demote_after 3, margin 0.25)"
    )
    print(f"{'values':>8}{'promotions/day':>22}{'demotions/day':>22}{'members at the end':>22}")
    for values in (VALUES, 10_000):
        done = [churns[(values, s)] for s in seeds]
        print(
            f"{values:>8,}{spread([per_day(r['promoted'], r['days']) for r in done]):>22}"
            f"{spread([per_day(r['demoted'], r['days']) for r in done]):>22}"
            f"{spread([r['members'] for r in done], '{:.0f}'):>22}"
        )

    print(
        f"\n4. Champion/challenger, accuracy 0.80 vs 0.80, {contests[0]['labels']} labels/min per version, "
        f"1 h look-back: challenger:accuracy firings; then the challenger at 0.77"
    )
    print(f"{'setting':<44}{'firings per day':>22}{'pooled per week':>17}{'delay at -3 points':>32}")
    for contest in CONTESTS:
        day = [per_day(r["fired"][contest.name], r["days"]) for r in contests]
        pooled = 7 * sum(r["fired"][contest.name] for r in contests) / sum(r["days"] for r in contests)
        print(
            f"{contest.name:<44}{spread(day):>22}{pooled:>17.1f}  "
            f"{delay_text([r['delays'][contest.name] for r in contests]):>32}"
        )

    if DEFAULTS in args.configs:
        done = [runs[(DEFAULTS, s)] for s in seeds]
        print("\n5. Rolling baseline (rolling 2h, lag 30m, defaults), stationary stream: whole-model firings")
        checks = sum(r["rolling_checks"] for r in done)
        fired = sum(r["rolling_firings"] for r in done)
        days = sum(r["days"] for r in done)
        print(
            f"  data_drift@rolling + prediction_drift@rolling: {fired} firings in {checks} verdicts "
            f"({days:.2f} model-days: {per_day(fired, days):.2f} per day)"
        )
    print(f"\n({time.perf_counter() - started:.0f} s, {args.workers} workers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
