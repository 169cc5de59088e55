"""False alarms, detection, AUROC spread and cost of the daemon's ``domain_classifier_auroc`` check.

The daemon keeps a fixed-seed sample of at most 10,000 reference rows (``DOMAIN_CLASSIFIER_ROWS``) and,
at every check, trains NannyML's domain classifier (5 cross-validated LightGBM models) on that sample
and the window's rows; the window alerts when the AUROC leaves NannyML's constant thresholds (0.45,
0.65), whatever its number of rows. This measures, per window size: the share of undrifted windows
that alert (false alarms), the AUROC's spread on them (mean and standard deviation), the share of
windows with a correlation break that alert (detection) and the seconds one check takes.

Data: bench/multivariate_window.py's (8 correlated numeric features and a categorical one; the break
shuffles f1 against the others on ``--broken`` of the rows, every marginal unchanged) plus
``--shift``: f0 moved by that many standard deviations on every row. Each line is ``--windows``
windows per kind; a 95% Wilson interval follows each rate. Keep ``--windows`` small: each check
trains 5 models (default run: under a minute on 2 busy cores).

    PYTHONPATH=src python bench/domain_classifier_window.py [--windows 10] [--sizes 100,500,2000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from driftwatch.drift.multivariate_methods import fit_multivariate, typed_frame
from multivariate_window import TYPES, frame, wilson


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference-rows", type=int, default=50_000)
    parser.add_argument("--sizes", default="100,500,2000")
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument("--broken", type=float, default=0.3)
    parser.add_argument("--shift", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    reference = frame(args.reference_rows, rng)
    started = time.perf_counter()
    fitted = fit_multivariate("domain_classifier_auroc", reference, TYPES)
    print(
        f"reference {args.reference_rows} rows (sample kept: "
        f"{fitted.result(typed_frame(reference.iloc[:10], TYPES)).details['reference_sample_rows']}); "
        f"fit {time.perf_counter() - started:.2f}s; {args.windows} windows per size and kind; "
        f"break on {args.broken:.0%} of the rows; shift {args.shift} sd on f0"
    )
    print(
        f"{'rows':>6}  {'false alarms':>28}  {'AUROC mean/sd':>14}  {'break detected':>12}  {'shift detected':>14}  s/check"
    )
    n = args.windows
    for size in [int(s) for s in args.sizes.split(",")]:
        alerts = {"none": 0, "break": 0, "shift": 0}
        undrifted: list[float] = []
        elapsed = 0.0
        for _ in range(n):
            for kind in alerts:
                window = frame(size, rng, args.broken if kind == "break" else 0.0)
                if kind == "shift":
                    window["f0"] = window["f0"] + args.shift
                started = time.perf_counter()
                result = fitted.result(typed_frame(window, TYPES))
                elapsed += time.perf_counter() - started
                alerts[kind] += int(result.alert)
                if kind == "none":
                    undrifted.append(result.value)
        lo, hi = wilson(alerts["none"], n)
        print(
            f"{size:>6}  {alerts['none']:>3}/{n} = {alerts['none'] / n:6.1%} [{lo:5.1%}, {hi:5.1%}]  "
            f"{np.mean(undrifted):6.3f}/{np.std(undrifted, ddof=1):6.3f}  "
            f"{alerts['break']:>5}/{n} = {alerts['break'] / n:4.0%}  {alerts['shift']:>7}/{n} = {alerts['shift'] / n:4.0%}"
            f"  {elapsed / (3 * n):7.2f}"
        )


if __name__ == "__main__":
    main()
