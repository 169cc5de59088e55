"""How far to trust CBPE's estimate: its error against the labels, while its assumptions hold and when not.

Each check is scored by the daemon's own code: `PerformanceMonitor.realized_part` on a check's labelled
rows and `PerformanceMonitor.estimate_error` (CBPE's estimate on exactly those rows' scores, against the
metrics realized on them), the numbers behind ``driftwatch_estimated_performance_error`` and
``driftwatch_estimated_performance_covered``.

The model: calibrated scores p = sigmoid(a + 1.6 x), x standard normal, labels ~ p, 20% positives; the
reference is 5,000 of its rows (CBPE fitted there, as the monitor does). Scenarios, each ``--reps`` checks
of n labelled rows drawn afresh:

- stable: the reference's distribution (CBPE's assumptions hold);
- covariate shift: x ~ N(1, 1), the same P(y | x): more confident scores, realized performance moves, CBPE
  should follow (its assumptions still hold);
- sampled: stable data with the negatives kept at a 25% sampling rate and weighted 4 (a sampled stream's
  inverse sampling rates): the weighted band should cover as the unweighted one does;
- concept drift k: the same scores, labels ~ sigmoid(a' + 1.6 k x) (the relation between inputs and
  label weakens to k of its strength, base rate unchanged): CBPE's assumption "P(y | score) unchanged" is
  false, its estimate stays put while the realized metrics fall.

Prints, per scenario, n and metric: the mean error (estimate - realized), the mean and 95th percentile of
its absolute value, the share of checks whose realized value fell inside the estimate's band, and the
share of checks with any metric outside (what a "realized outside the band" alert would fire on), and the
time one evaluation takes.

    python bench/estimate_error.py                    # about a minute of CPU on one core
    python bench/estimate_error.py --reps 2000 --rows 1000
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.checks.base import Labelled
from driftwatch.performance.cbpe import ESTIMATED_METRICS
from driftwatch.performance.monitor import PerformanceMonitor, PerformanceSpec

SLOPE = 1.6
BASE_RATE = 0.2
Rows = tuple[npt.NDArray[np.float64], npt.NDArray[np.int64], npt.NDArray[np.float64] | None]
Draw = Callable[[np.random.Generator, int], Rows]


def sigmoid(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 1 / (1 + np.exp(-z))  # type: ignore[no-any-return]


def intercept(slope: float, base_rate: float = BASE_RATE) -> float:
    """The intercept giving ``base_rate`` positives at x ~ N(0, 1), by bisection on a large sample."""
    grid = np.random.default_rng(99).standard_normal(200_000)
    low, high = -10.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        low, high = (mid, high) if np.mean(sigmoid(mid + slope * grid)) < base_rate else (low, mid)
    return (low + high) / 2


A = intercept(SLOPE)


def stable(rng: np.random.Generator, n: int, shift: float = 0.0) -> Rows:
    scores = sigmoid(A + SLOPE * rng.normal(shift, 1.0, n))
    return scores, (rng.random(n) < scores).astype(np.int64), None


def sampled(rng: np.random.Generator, n: int) -> Rows:
    """n kept rows of a stream whose negatives are kept at 25% (weight 4), positives all (weight 1)."""
    kept_scores: list[float] = []
    kept_labels: list[int] = []
    while len(kept_scores) < n:
        scores, labels, _ = stable(rng, 4 * n)
        keep = (labels == 1) | (rng.random(len(labels)) < 0.25)
        kept_scores += scores[keep].tolist()
        kept_labels += labels[keep].tolist()
    labels_out = np.asarray(kept_labels[:n], dtype=np.int64)
    return np.asarray(kept_scores[:n]), labels_out, np.where(labels_out == 1, 1.0, 4.0)


def concept(strength: float) -> Draw:
    """The model's scores are unchanged, but the labels follow x with ``strength`` x the slope."""
    a = intercept(SLOPE * strength)

    def draw(rng: np.random.Generator, n: int) -> Rows:
        x = rng.standard_normal(n)
        truth = sigmoid(a + SLOPE * strength * x)
        return sigmoid(A + SLOPE * x), (rng.random(n) < truth).astype(np.int64), None

    return draw


SCENARIOS: dict[str, Draw] = {
    "stable": stable,
    "covariate shift (x ~ N(1, 1))": lambda rng, n: stable(rng, n, shift=1.0),
    "sampled (negatives at 25%, weighted)": sampled,
    "concept drift k=0.75": concept(0.75),
    "concept drift k=0.5": concept(0.5),
    "concept drift k=0.25": concept(0.25),
}


def monitor(seed: int = 0) -> PerformanceMonitor:
    scores, labels, _ = stable(np.random.default_rng(seed), 5000)
    spec = PerformanceSpec("binary_classification", "score", min_labels=1)
    return PerformanceMonitor("bench", spec, pd.DataFrame({"score": scores, "label": labels}))


def evaluate(
    fitted: PerformanceMonitor, draw: Draw, n: int, reps: int, seed: int
) -> tuple[dict[str, list[tuple[float, bool | None]]], list[bool], float]:
    """({metric: [(error, covered) per check]}, [any metric outside per check], seconds per evaluation)."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[float, bool | None]]] = {metric: [] for metric in ESTIMATED_METRICS}
    outside: list[bool] = []
    spent = 0.0
    for _ in range(reps):
        scores, labels, weights = draw(rng, n)
        labelled = Labelled(labels, scores, weights)
        realized = fitted.realized_part(labelled).value
        started = time.perf_counter()
        scored = fitted.estimate_error(labelled, realized)
        spent += time.perf_counter() - started
        assert scored is not None
        for metric, m in scored.metrics.items():
            out[metric].append((m.error, m.covered))
        outside.append(any(m.covered is False for m in scored.metrics.values()))
    return out, outside, spent / reps


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=300, help="checks per scenario and n (default 300)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 5000], help="labelled rows per check")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    fitted = monitor()
    assert fitted.cbpe is not None
    print(
        f"model: calibrated, {BASE_RATE:.0%} positives; CBPE calibration {fitted.cbpe.calibration.method}; "
        f"reference accuracy {fitted.reference['accuracy']:.3f}, roc_auc {fitted.reference['roc_auc']:.3f}"
    )
    print(
        f"{'scenario':38} {'n':>5} {'metric':9} {'mean err':>9} {'mean |err|':>10} {'p95 |err|':>9} "
        f"{'inside band':>11}"
    )
    for index, (name, draw) in enumerate(SCENARIOS.items()):
        for n in args.rows:
            errors, outside, seconds = evaluate(fitted, draw, n, args.reps, args.seed + 100 * index + n)
            for metric, values in errors.items():
                err = np.array([e for e, _ in values])
                covered = [c for _, c in values if c is not None]
                print(
                    f"{name:38} {n:>5} {metric:9} {err.mean():>+9.4f} {np.abs(err).mean():>10.4f} "
                    f"{np.quantile(np.abs(err), 0.95):>9.4f} {np.mean(covered):>11.1%}"
                )
            print(
                f"{name:38} {n:>5} any metric outside its band in {np.mean(outside):.1%} of {args.reps} "
                f"checks; {1000 * seconds:.1f} ms per evaluation"
            )
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
