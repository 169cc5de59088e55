"""False alarms of typical performance thresholds on null data, as a function of the labelled rows.

Null data: a model whose performance did not change. Each check's labelled rows
are drawn (with replacement) from the reference's (score, label) pairs, so the
model, its calibration and its base rate are exactly the reference's, and every
breach is a false alarm. Each check is scored and judged by the daemon's own
code: `realized_performance` (scikit-learn's metrics, `Threshold.breached`)
against the metrics of the whole reference, as `PerformanceMonitor` computes
them; and, for the estimate, `CBPE.fit` on the reference and
`CBPE.estimated_performance` on a window of n scores drawn the same way (the
monitor applies the thresholds to the estimates too: `estimate_thresholds`,
default the realized thresholds of the metrics CBPE estimates).

Models (binary classifiers with calibrated scores, decision threshold 0.5):

- breast_cancer: scikit-learn's bundled dataset (569 rows, offline), a
  LogisticRegression fitted on half, the reference its scores on the other half
  (37% positives, accuracy about 0.95, roc_auc about 0.99);
- synthetic: calibrated scores p = sigmoid(a + b x) and labels drawn from them,
  at base rates of 10%, 20% and 30% (accuracy 0.85-0.92, roc_auc about 0.8):
  a credit-risk or churn model, the common case.

Prints, per model, rule and n, the share of null checks that breach, and for
each rule the smallest n from which every larger n stays below the target. That
is how `performance.min_labels`' default was judged (see the README).

    python bench/performance_false_alarms.py                  # about 45 s of CPU on one core
    python bench/performance_false_alarms.py --reps 4000 --rows 100 500 1000 2000
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import numpy.typing as npt

from driftwatch.performance.cbpe import CBPE
from driftwatch.performance.metrics import Threshold, breaches, realized, realized_performance

ROWS = (20, 30, 50, 100, 200, 300, 500, 1000, 2000)
RULES: tuple[tuple[str, str, Threshold], ...] = (
    ("accuracy max_drop 0.10", "accuracy", Threshold(max_drop=0.10)),
    ("accuracy max_drop 0.05", "accuracy", Threshold(max_drop=0.05)),
    ("accuracy max_drop 0.02", "accuracy", Threshold(max_drop=0.02)),
    ("roc_auc max_drop 0.05", "roc_auc", Threshold(max_drop=0.05)),
    ("f1 max_drop 0.05", "f1", Threshold(max_drop=0.05)),
)
"""(label, metric, rule): the thresholds a user typically writes (and a loose one), each judged on its own."""

Model = tuple[str, npt.NDArray[np.float64], npt.NDArray[np.int64]]


def breast_cancer(seed: int = 0) -> Model:
    """A LogisticRegression on half of scikit-learn's bundled breast_cancer; the reference is the other half."""
    from sklearn.datasets import load_breast_cancer  # type: ignore[import-untyped]
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]
    from sklearn.model_selection import train_test_split  # type: ignore[import-untyped]
    from sklearn.pipeline import make_pipeline  # type: ignore[import-untyped]
    from sklearn.preprocessing import StandardScaler  # type: ignore[import-untyped]

    x, y = load_breast_cancer(return_X_y=True)
    # the positive class is malignant (target 0), the minority, as a fraud or default label would be
    y = 1 - y
    x_fit, x_ref, y_fit, y_ref = train_test_split(x, y, test_size=0.5, stratify=y, random_state=seed)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=1000)).fit(x_fit, y_fit)
    return "breast_cancer", model.predict_proba(x_ref)[:, 1], np.asarray(y_ref, dtype=np.int64)


def synthetic(base_rate: float, rows: int = 5000, seed: int = 0) -> Model:
    """Calibrated scores p = sigmoid(a + 1.6 x), x standard normal, a set for the base rate; labels ~ p."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(rows)
    slope = 1.6
    # the intercept giving the base rate, by bisection on a large sample of x
    grid = rng.standard_normal(200_000)
    low, high = -10.0, 10.0
    for _ in range(60):
        mid = (low + high) / 2
        if np.mean(1 / (1 + np.exp(-(mid + slope * grid)))) < base_rate:
            low = mid
        else:
            high = mid
    scores = 1 / (1 + np.exp(-(low + slope * x)))
    labels = (rng.random(rows) < scores).astype(np.int64)
    return f"synthetic {100 * base_rate:.0f}%", scores, labels


def models(seed: int) -> list[Model]:
    return [breast_cancer(seed), *(synthetic(rate, seed=seed + i) for i, rate in enumerate((0.1, 0.2, 0.3)))]


def realized_rates(
    model: Model,
    rows: list[int],
    reps: int,
    seed: int,
    current_labels: npt.NDArray[np.int64] | None = None,
) -> dict[int, tuple[dict[str, float], int]]:
    """{n: ({rule label: share of null checks whose realized metric breaches}, checks)}.

    Each check's metrics are computed once (`realized_performance`, as the monitor does) and every rule
    judged on them by `breaches`, the daemon's own rule evaluation. ``current_labels`` (default the
    reference's: null data) are the labels the checks' rows carry, for a model that got worse.
    """
    _, scores, labels = model
    reference = realized("binary_classification", labels, scores)
    if current_labels is not None:
        labels = current_labels
    rng = np.random.default_rng(seed)
    out: dict[int, tuple[dict[str, float], int]] = {}
    for n in rows:
        counts = {label: 0 for label, _, _ in RULES}
        for _ in range(reps):
            index = rng.integers(0, len(scores), n)
            result = realized_performance(
                "binary_classification",
                labels[index],
                scores[index],
                reference=reference,
                rules={},
                min_labels=1,
            )
            for label, metric, rule in RULES:
                counts[label] += breaches(result.values, reference, {metric: rule})[metric]
        out[n] = ({label: count / reps for label, count in counts.items()}, reps)
    return out


def estimated_rates(
    model: Model, rows: list[int], reps: int, seed: int
) -> dict[int, tuple[dict[str, float], int]]:
    """{n: ({rule label: share of null windows whose CBPE estimate breaches}, windows)}."""
    _, scores, labels = model
    cbpe = CBPE.fit(scores, labels)
    rules = {label: (metric, rule) for label, metric, rule in RULES}
    rng = np.random.default_rng(seed)
    out: dict[int, tuple[dict[str, float], int]] = {}
    for n in rows:
        counts = dict.fromkeys(rules, 0)
        for _ in range(reps):
            window = scores[rng.integers(0, len(scores), n)]
            # the monitor's call (`estimated_performance(scores, estimate_rules)`) judges the estimates with
            # `breaches` against the CBPE reference; estimated once, every rule judged the same way
            estimate = cbpe.estimated_performance(window)
            values = {name: e.value for name, e in estimate.estimates.items()}
            for label, (metric, rule) in rules.items():
                counts[label] += breaches(values, cbpe.reference, {metric: rule})[metric]
        out[n] = ({label: count / reps for label, count in counts.items()}, reps)
    return out


def smallest_quiet(rates: dict[int, tuple[dict[str, float], int]], rule: str, target: float) -> int | None:
    """The smallest n from which every larger measured n stays below ``target`` for ``rule``."""
    quiet = None
    for n in sorted(rates, reverse=True):
        if rates[n][0][rule] >= target:
            break
        quiet = n
    return quiet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(ROWS), help="labelled rows per check")
    parser.add_argument("--reps", type=int, default=100, help="null checks per model, rule and n")
    parser.add_argument("--target", type=float, default=0.01, help="false-alarm target")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--no-estimate", action="store_true", help="realized performance only")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    results = []
    for i, model in enumerate(models(args.seed)):
        name, scores, labels = model
        reference = realized("binary_classification", labels, scores)
        real = realized_rates(model, args.rows, args.reps, args.seed + 10 * i)
        est = (
            None if args.no_estimate else estimated_rates(model, args.rows, args.reps, args.seed + 10 * i + 1)
        )
        results.append((name, len(scores), float(labels.mean()), reference, real, est))
        print(f"  {name} done ({time.perf_counter() - started:.0f} s)", file=sys.stderr)

    print(
        f"Share of null checks that breach (the model unchanged: rows resampled from its reference), "
        f"{args.reps} checks per cell; columns: labelled rows (predictions, for the estimate)."
    )
    for name, size, positives, reference, real, est in results:
        print(
            f"\n{name}: {size} reference rows, {100 * positives:.0f}% positives, accuracy "
            f"{reference['accuracy']:.3f}, f1 {reference['f1']:.3f}, roc_auc {reference['roc_auc']:.3f}"
        )
        head = (
            f"{'rule':<34}"
            + "".join(f"{n:>7}" for n in args.rows)
            + f"{'<' + format(100 * args.target, 'g') + '% from':>12}"
        )
        print(head)
        print("-" * len(head))
        for kind, rates in (("realized", real), ("estimated", est)):
            if rates is None:
                continue
            for label, _, _ in RULES:
                cells = "".join(f"{100 * rates[n][0][label]:>6.1f}%" for n in args.rows)
                quiet = smallest_quiet(rates, label, args.target)
                print(f"{kind + ' ' + label:<34}{cells}{quiet if quiet is not None else 'never':>12}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
