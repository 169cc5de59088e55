"""driftwatch's drift check vs Evidently's DataDriftPreset on the same frames, in the same run.

Frames: 20 numeric columns (3 shifted) and 5 categorical columns with 10
categories (1 shifted), at 10k, 100k and 1M rows by default. For each size the
script runs Evidently 0.7.23's DataDriftPreset and driftwatch's dataset drift
on identical reference/current frames, checks that every column's method and
decision agree and every score agrees to 1e-9 (relative), and prints median
wall time, peak memory and the ratios. Memory is measured in a forked child
per run two ways: RSS growth above the process's size before the call (which
includes ~15 MiB of shared-library pages any child faults back in), and the
peak of memory allocated through Python's allocator, numpy and pandas
included (tracemalloc, one extra run each). driftwatch's reference
profile is prepared once, outside the timed check, as the daemon does.

    python bench/drift_vs_evidently.py                     # 10k, 100k, 1M
    python bench/drift_vs_evidently.py --sizes 100000 --runs 5 --wide 500
"""

from __future__ import annotations

import argparse
import math
import multiprocessing as mp
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from driftwatch.drift import ReferenceProfile, dataset_drift

NUMERIC = 20
CATEGORICAL = 5
EVIDENTLY_NAMES = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Jensen-Shannon distance": "jensenshannon",
    "Wasserstein distance (normed)": "wasserstein",
}


def frames(
    rows: int, numeric: int = NUMERIC, categorical: int = CATEGORICAL, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    categories = np.array([f"c{i}" for i in range(10)])

    def make(shifted: bool) -> pd.DataFrame:
        data: dict[str, Any] = {}
        for i in range(numeric):
            shift = 0.3 if shifted and i < 3 else 0.0
            data[f"num_{i}"] = rng.normal(shift, 1.0 + i / 10, rows)
        for i in range(categorical):
            p = np.full(10, 0.1)
            if shifted and i == 0:
                p = np.array([0.3, 0.2, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.05, 0.05])
            data[f"cat_{i}"] = rng.choice(categories, rows, p=p)
        return pd.DataFrame(data)

    return make(False), make(True)


def types_of(frame: pd.DataFrame) -> dict[str, str]:
    return {c: ("numeric" if c.startswith("num_") else "categorical") for c in frame.columns}


def run_evidently(reference: pd.DataFrame, current: pd.DataFrame) -> dict[str, tuple[str, float]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    types = types_of(reference)
    definition = DataDefinition(
        numerical_columns=[c for c, t in types.items() if t == "numeric"],
        categorical_columns=[c for c, t in types.items() if t == "categorical"],
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    out: dict[str, tuple[str, float]] = {}
    for metric in snapshot.dict()["metrics"]:
        if "ValueDrift" in metric["metric_name"]:
            config = metric["config"]
            out[config["column"]] = (
                EVIDENTLY_NAMES.get(config["method"], config["method"]),
                float(metric["value"]),
            )
    return out


def run_driftwatch(profile: ReferenceProfile, current: pd.DataFrame) -> dict[str, tuple[str, float]]:
    result = dataset_drift(profile, {c: current[c] for c in current.columns})
    return {c.column: (c.method, c.score) for c in result.columns}


def _rss_kb(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def _child(fn: Callable[[], Any], queue: Any, trace: bool) -> None:
    if trace:
        tracemalloc.start()
        result = fn()
        queue.put((0.0, tracemalloc.get_traced_memory()[1], result))
        return
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
            refs.write("5")  # reset the peak-RSS counter of this process
    except OSError:
        pass
    before = _rss_kb("VmRSS:")
    started = time.perf_counter()
    result = fn()
    elapsed = time.perf_counter() - started
    peak = _rss_kb("VmHWM:")
    queue.put((elapsed, max(0, peak - before) * 1024, result))


def measure(fn: Callable[[], Any], trace: bool = False) -> tuple[float, int, Any]:
    """Run ``fn`` once in a forked child: (seconds, peak RSS growth in bytes, result).

    With ``trace``, the peak is of memory allocated through Python's allocator
    (numpy and pandas included; tracemalloc), and the time is not measured.
    """
    context = mp.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(fn, queue, trace))
    process.start()
    elapsed, peak, result = queue.get()
    process.join()
    return elapsed, peak, result


def compare(evidently: dict[str, tuple[str, float]], ours: dict[str, tuple[str, float]]) -> tuple[int, float]:
    """Columns whose method differs or score disagrees beyond 1e-9 relative; and the worst relative error."""
    mismatches = 0
    worst = 0.0
    for column, (method, score) in evidently.items():
        our_method, our_score = ours[column]
        error = abs(score - our_score) / max(abs(score), 1e-300) if score != our_score else 0.0
        worst = max(worst, error)
        if method != our_method or not math.isclose(score, our_score, rel_tol=1e-9, abs_tol=1e-12):
            mismatches += 1
            print(
                f"  MISMATCH {column}: evidently {method} {score!r} vs driftwatch {our_method} {our_score!r}"
            )
    return mismatches, worst


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated row counts")
    parser.add_argument("--runs", type=int, default=5, help="driftwatch runs per size (median reported)")
    parser.add_argument("--evidently-runs", default="3,3,1", help="Evidently runs per size, comma-separated")
    parser.add_argument(
        "--wide",
        type=int,
        default=500,
        help="also time driftwatch at 100k rows x this many columns (0: skip)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    evidently_runs = [int(r) for r in args.evidently_runs.split(",")]
    evidently_runs += [evidently_runs[-1]] * (len(sizes) - len(evidently_runs))
    import evidently  # imported once, outside every timing

    print(
        f"driftwatch vs Evidently {evidently.__version__} DataDriftPreset; {NUMERIC} numeric + {CATEGORICAL} "
        f"categorical columns; {os.cpu_count()} CPUs; medians"
    )
    # Warm both up once on small frames, as a running daemon is: lazy imports and thread pools are then
    # part of the baseline, and peaks measure the check itself.
    warm_reference, warm_current = frames(2000, seed=9)
    run_evidently(warm_reference, warm_current)
    run_driftwatch(
        ReferenceProfile.build(warm_reference, list(warm_reference.columns), types_of(warm_reference)),
        warm_current,
    )
    failures = 0
    for rows, e_runs in zip(sizes, evidently_runs, strict=True):
        reference, current = frames(rows)
        started = time.perf_counter()
        profile = ReferenceProfile.build(reference, list(reference.columns), types_of(reference))
        prepare = time.perf_counter() - started
        ours = [measure(lambda p=profile, c=current: run_driftwatch(p, c)) for _ in range(args.runs)]
        theirs = [measure(lambda r=reference, c=current: run_evidently(r, c)) for _ in range(e_runs)]
        allocated_ours = measure(lambda p=profile, c=current: run_driftwatch(p, c), trace=True)[1]
        allocated_theirs = measure(lambda r=reference, c=current: run_evidently(r, c), trace=True)[1]
        mismatches, worst = compare(theirs[0][2], ours[0][2])
        failures += mismatches
        t_ours = statistics.median(r[0] for r in ours)
        t_theirs = statistics.median(r[0] for r in theirs)
        m_ours = statistics.median(r[1] for r in ours)
        m_theirs = statistics.median(r[1] for r in theirs)
        print(
            f"{rows:>9,} rows: evidently {t_theirs:8.3f} s {mib(m_theirs):>10} | driftwatch {t_ours:7.3f} s "
            f"{mib(m_ours):>9} (profile once {prepare:.2f} s) | {t_theirs / t_ours:6.1f}x faster, "
            f"RSS {100 * m_ours / max(m_theirs, 1):4.1f}%, allocated {mib(allocated_ours)} vs "
            f"{mib(allocated_theirs)} = {100 * allocated_ours / max(allocated_theirs, 1):4.1f}% | "
            f"columns agree: {len(theirs[0][2]) - mismatches}/"
            f"{len(theirs[0][2])}, worst relative score difference {worst:.1e}"
        )
    if args.wide:
        reference, current = frames(100_000, numeric=args.wide * 4 // 5, categorical=args.wide // 5, seed=1)
        profile = ReferenceProfile.build(reference, list(reference.columns), types_of(reference))
        runs = [measure(lambda: run_driftwatch(profile, current)) for _ in range(3)]
        print(
            f"  100,000 rows x {reference.shape[1]} columns: driftwatch {statistics.median(r[0] for r in runs):.2f} s, "
            f"{mib(statistics.median(r[1] for r in runs))}"
        )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
