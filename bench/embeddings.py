"""Embedding drift: driftwatch's four methods against Evidently 0.7.23's, speed and accuracy.

Speed: for each method (Evidently's defaults, plus the bootstrap variants of model and distance),
reference and current sets of N rows x D components (10k and 100k rows, 384 components by
default), driftwatch and Evidently timed in the same run on the same arrays, medians of ``--runs``,
with the ratio; each pair of scores is checked to agree to 1e-9 relative and the decisions to be
equal. driftwatch's peak of traced memory (numpy's arrays included) during its runs is shown too.
Evidently's mmd holds the whole (2N)^2 kernel matrix in memory (320 GB at 100k rows): it is not run
above ``--evidently-mmd-max-rows``, and its bootstrap (minutes at 10k rows) runs once. driftwatch's
mmd sums the kernel in blocks but is still O(N^2) work: above ``--mmd-single-run-rows`` it is timed
once, not ``--runs`` times, and above ``--mmd-max-rows`` not at all (at 100k rows x 384 it takes
tens of minutes: run it alone with ``--sizes 100000 --variants mmd --mmd-max-rows 100000``). Both
mmds run with ``--mmd-blas-threads`` BLAS threads (default 1): with 2 threads, the OpenBLAS of numpy
2.4 wheels (0.3.31) segfaults in the ``X @ X.T`` (syrk) Evidently's kernel does on 20,000 x 384
(numpy issue 19685 describes the same crash at larger sizes).

Accuracy (driftwatch only; its numbers are Evidently's, see tests/conformance/
test_embeddings_evidently.py): over ``--seeds`` seeds at ``--accuracy-rows`` rows, the share of
checks that say drift on undrifted data (a fresh draw of the same distribution: false alarms),
after a small shift of every component's mean by 0.04 of its std ("small shift"), and after a
shift of 0.2 std in 1 component of 8 ("sparse shift"). The vectors are correlated like embeddings: a
rank-16 latent factor model plus isotropic noise.

    python bench/embeddings.py                        # 10k and 100k rows, 384 components
    python bench/embeddings.py --skip-accuracy --sizes 10000 --variants ratio mmd --runs 5
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from driftwatch.drift.embeddings import distance_drift, mmd_drift, model_drift, ratio_drift

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import median_seconds

Matrix = np.ndarray[Any, np.dtype[np.float64]]

VARIANTS: dict[str, tuple[str, Callable[..., Any], dict[str, Any]]] = {
    "model": ("model", model_drift, {}),
    "model bootstrap": ("model", model_drift, {"bootstrap": True}),
    "ratio": ("ratio", ratio_drift, {}),
    "distance": ("distance", distance_drift, {}),
    "distance bootstrap": ("distance", distance_drift, {"bootstrap": True}),
    "mmd": ("mmd", mmd_drift, {}),
    "mmd bootstrap": ("mmd", mmd_drift, {"bootstrap": True}),
}
SPEED_VARIANTS = [
    "model",
    "model bootstrap",
    "ratio",
    "distance",
    "distance bootstrap",
    "mmd",
    "mmd bootstrap",
]


def embeddings(rows: int, dims: int, seed: int, latent: int = 16) -> tuple[Matrix, Matrix, Matrix]:
    """Reference, current (same distribution) and the per-component std, from one factor model."""
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(12345).normal(size=(latent, dims)) / math.sqrt(latent)

    def draw(n: int) -> Matrix:
        return np.asarray(rng.normal(size=(n, latent)) @ loadings + 0.5 * rng.normal(size=(n, dims)))

    std = np.sqrt((loadings**2).sum(axis=0) + 0.25)
    return draw(rows), draw(rows), std


def evidently_method(name: str, parameters: dict[str, Any]) -> Callable[[Matrix, Matrix], tuple[float, bool]]:
    from evidently.legacy.metrics.data_drift import embedding_drift_methods as methods

    method = getattr(methods, name)(**parameters)

    def run(ref: Matrix, cur: Matrix) -> tuple[float, bool]:
        score, drifted, _ = method(pd.DataFrame(cur), pd.DataFrame(ref))
        return float(score), bool(drifted)

    return run


def traced(call: Callable[[], Any], runs: int) -> tuple[float, Any, float]:
    """Median seconds of ``runs`` calls, the last result, and the peak traced memory in MiB."""
    tracemalloc.start()
    try:
        seconds, result = median_seconds(call, runs)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    return seconds, result, peak


def speed_row(
    variant: str, rows: int, ref: Matrix, cur: Matrix, runs: int, evidently_mmd_max: int, mmd_single: int
) -> str:
    """One row of the speed table: driftwatch's and Evidently's medians on the same arrays."""
    name, ours, parameters = VARIANTS[variant]
    our_runs = 1 if name == "mmd" and rows > mmd_single else runs
    our_time, result, peak = traced(lambda: ours(ref, cur, **parameters), our_runs)
    note = "" if our_runs == runs else " (1 run)"
    if name == "mmd" and rows > evidently_mmd_max:
        gigabytes = (2 * rows) ** 2 * 8 / 1e9
        return (
            f"| {variant} | {rows:,} | {our_time:.3f}{note} | {peak:,.0f} | "
            f"not run ({gigabytes:,.0f} GB kernel) | - | - |"
        )
    their_runs = 1 if variant == "mmd bootstrap" else runs
    their_time, (score, drifted) = median_seconds(
        lambda: evidently_method(name, parameters)(ref, cur), their_runs
    )
    their_note = "" if their_runs == runs else " (1 run)"
    agree = math.isclose(result.score, score, rel_tol=1e-9, abs_tol=1e-12) and result.drifted == drifted
    return (
        f"| {variant} | {rows:,} | {our_time:.3f}{note} | {peak:,.0f} | {their_time:.3f}{their_note} | "
        f"{their_time / our_time:.1f}x | {'yes' if agree else f'NO ({result.score} vs {score})'} |"
    )


def speed(
    sizes: list[int],
    dims: int,
    runs: int,
    evidently_mmd_max: int,
    mmd_single: int,
    mmd_max: int,
    variants: list[str] | None = None,
    mmd_blas_threads: int = 1,
) -> None:
    print(
        f"\n## Speed: reference and current of N rows x {dims} components (median of {runs} runs, seconds)\n"
    )
    print(
        "| method | rows | driftwatch s | driftwatch peak MiB | Evidently s | Evidently / driftwatch | "
        "scores and decisions agree |"
    )
    print("|---|---:|---:|---:|---:|---:|---|")
    for rows in sizes:
        ref, cur, std = embeddings(rows, dims, seed=1)
        cur = cur + 0.05 * std
        for variant in variants or SPEED_VARIANTS:
            mmd = VARIANTS[variant][0] == "mmd"
            if mmd and rows > mmd_max:
                print(
                    f"| {variant} | {rows:,} | not run (--mmd-max-rows {mmd_max:,}) | - | not run | - | - |"
                )
                continue
            with threadpool_limits(mmd_blas_threads, user_api="blas") if mmd else nullcontext():
                print(speed_row(variant, rows, ref, cur, runs, evidently_mmd_max, mmd_single), flush=True)


def accuracy(rows: int, dims: int, seeds: int) -> None:
    print(f"\n## Accuracy: {rows:,} rows x {dims} components, {seeds} seeds, share of checks saying drift\n")
    print(
        "| method | false alarms (no drift) | small shift (0.04 std, all) | sparse shift (0.2 std, 1 in 8) | s/check |"
    )
    print("|---|---:|---:|---:|---:|")
    sparse = np.zeros(dims)
    sparse[::8] = 1.0
    for variant, (_, ours, parameters) in VARIANTS.items():
        counts = {"none": 0, "small": 0, "sparse": 0}
        elapsed = 0.0
        for seed in range(seeds):
            ref, cur, std = embeddings(rows, dims, seed=1000 + seed)
            for scenario, current in (
                ("none", cur),
                ("small", cur + 0.04 * std),
                ("sparse", cur + 0.2 * std * sparse),
            ):
                start = time.perf_counter()
                counts[scenario] += ours(ref, current, **parameters).drifted
                elapsed += time.perf_counter() - start
        shares = {key: value / seeds for key, value in counts.items()}
        print(
            f"| {variant} | {shares['none']:.0%} | {shares['small']:.0%} | {shares['sparse']:.0%} | "
            f"{elapsed / (3 * seeds):.3f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dims", type=int, default=384)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--accuracy-rows", type=int, default=1000)
    parser.add_argument("--evidently-mmd-max-rows", type=int, default=10_000)
    parser.add_argument("--mmd-single-run-rows", type=int, default=20_000)
    parser.add_argument("--mmd-max-rows", type=int, default=20_000, help="skip driftwatch's mmd above this")
    parser.add_argument(
        "--variants", nargs="+", choices=SPEED_VARIANTS, help="speed rows to run (default: all)"
    )
    parser.add_argument("--mmd-blas-threads", type=int, default=1, help="BLAS threads for both mmds")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    if not args.skip_accuracy:
        accuracy(args.accuracy_rows, args.dims, args.seeds)
    if not args.skip_speed:
        speed(
            args.sizes,
            args.dims,
            args.runs,
            args.evidently_mmd_max_rows,
            args.mmd_single_run_rows,
            args.mmd_max_rows,
            args.variants,
            args.mmd_blas_threads,
        )


if __name__ == "__main__":
    main()
