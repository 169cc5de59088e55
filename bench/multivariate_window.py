"""False alarms and detection of the daemon's multivariate drift check at several window sizes.

The daemon judges a window of ``n`` sampled rows (``n`` up to window.max_rows, fewer when traffic is
low) against thresholds from reference chunks of ``chunk_size`` rows (default: min(max_rows,
reference rows / 100)). The spread of a mean error shrinks as 1/sqrt(rows), so the check scales the
chunks' spread by sqrt(chunk_size / n) (``scaled``, the daemon's rule). The ``unscaled`` columns use
the chunks' thresholds as they are (NannyML's numbers with chunk_size), to show what scaling fixes.

Data: 8 numeric features driven by 2 latent factors (pairwise correlations 0.5-0.8) plus a
categorical feature following the first factor; the reference has ``--reference-rows`` rows
(default 50,000: chunks of 500 rows; `--chunk-size 5000` gives NannyML's ten chunks). For each window size,
``--windows`` undrifted windows are drawn from the same distribution (false alarm rate), and as many
with a correlation break: feature f1 shuffled against the others on ``--broken`` of the rows
(default 30%), every column's marginal unchanged (detection rate). Each line says how many windows
alerted of how many; a 95% Wilson interval follows the rate.

    PYTHONPATH=src python bench/multivariate_window.py [--windows 300] [--broken 0.3]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import pandas as pd

from driftwatch.drift.multivariate_methods import MultivariateOptions, fit_multivariate, typed_frame
from driftwatch.drift.profile import ColumnType

NUMERIC = 8
TYPES: dict[str, ColumnType] = {**{f"f{i}": "numeric" for i in range(NUMERIC)}, "c": "categorical"}


def frame(rows: int, rng: np.random.Generator, broken: float = 0.0) -> pd.DataFrame:
    factors = rng.normal(0, 1, (rows, 2))
    loadings = np.array(
        [[0.9, 0.1], [0.8, 0.3], [0.7, 0.0], [0.2, 0.9], [0.1, 0.8], [0.5, 0.5], [0.0, 0.7], [0.6, 0.2]]
    )
    noise = rng.normal(0, 1, (rows, NUMERIC)) * np.sqrt(1 - (loadings**2).sum(axis=1).clip(max=0.95))
    values = factors @ loadings.T + noise
    if broken:
        chosen = rng.random(rows) < broken
        values[chosen, 1] = rng.permutation(values[chosen, 1])  # same marginal, link to the others gone
    data = {f"f{i}": values[:, i] for i in range(NUMERIC)}
    data["c"] = np.where(factors[:, 0] + rng.normal(0, 0.5, rows) > 0.3, "high", "low")
    return pd.DataFrame(data)


def wilson(k: int, n: int) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p, z = k / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--max-rows", type=int, default=50_000, help="the window's max_rows")
    parser.add_argument("--sizes", default="500,1000,2000,5000,20000")
    parser.add_argument("--windows", type=int, default=300)
    parser.add_argument("--broken", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--chunk-size", type=int, default=None, help="default: the daemon's")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    reference = frame(args.reference_rows, rng)
    started = time.perf_counter()
    fitted = fit_multivariate(
        "reconstruction_error",
        reference,
        TYPES,
        MultivariateOptions(chunk_size=args.chunk_size, max_chunk_size=args.max_rows),
    )
    fit_seconds = time.perf_counter() - started
    chunk = fitted.result(typed_frame(reference.iloc[:10], TYPES)).chunk_size
    print(
        f"reference {args.reference_rows} rows, chunks of {chunk} rows; fit {fit_seconds:.2f}s; "
        f"{args.windows} windows per size; correlation break on {args.broken:.0%} of the rows"
    )
    print(
        f"{'rows':>6}  {'false alarms (scaled)':>30}  {'unscaled':>9}  {'detected (scaled)':>28}  {'unscaled':>9}  ms/window"
    )
    for size in [int(s) for s in args.sizes.split(",")]:
        counts = {"fa": 0, "fa_raw": 0, "det": 0, "det_raw": 0}
        lower_raw, upper_raw = _unscaled(fitted, chunk)
        elapsed = 0.0
        for _ in range(args.windows):
            for key, broken in (("fa", 0.0), ("det", args.broken)):
                window = typed_frame(frame(size, rng, broken), TYPES)
                started = time.perf_counter()
                result = fitted.result(window)
                elapsed += time.perf_counter() - started
                counts[key] += int(result.alert)
                counts[f"{key}_raw"] += int(not (lower_raw < result.value < upper_raw))
        n = args.windows
        lo, hi = wilson(counts["fa"], n)
        dlo, dhi = wilson(counts["det"], n)
        print(
            f"{size:>6}  {counts['fa']:>4}/{n} = {counts['fa'] / n:6.1%} [{lo:5.1%}, {hi:5.1%}]  "
            f"{counts['fa_raw'] / n:>9.1%}  {counts['det']:>4}/{n} = {counts['det'] / n:6.1%} [{dlo:5.1%}, {dhi:5.1%}]"
            f"  {counts['det_raw'] / n:>9.1%}  {1000 * elapsed / (2 * n):8.2f}"
        )


def _unscaled(fitted: object, chunk: int) -> tuple[float, float]:
    """The thresholds of chunks of ``chunk`` rows, not scaled to the window (NannyML's, chunk_size)."""
    lower, upper = fitted.thresholds(chunk)  # type: ignore[attr-defined]
    return (-math.inf if lower is None else lower), upper


if __name__ == "__main__":
    main()
