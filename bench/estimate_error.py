"""How far to trust a performance estimate: its error against the labels, while the estimator's
assumptions hold and when not, for binary CBPE, multiclass CBPE and DLE (regression).

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

Multiclass CBPE (``--estimators multiclass``): a calibrated softmax model of two normal inputs over
three classes (reference 5,000 rows); stable data, a covariate shift (inputs ~ N(-1, 1): the model is
surer, accuracy rises), sampled (class "a" kept at 25%, weight 4), and concept drift k (labels drawn
from softmax(k x the model's logits): the same probabilities, labels that follow them less).

DLE (``--estimators dle``): a regression whose error grows with |x| and doubles for kind "w" (features
x, z, kind; loss models fitted on 5,000 reference rows, the daemon's mae and rmse); stable data, a
covariate shift (x ~ N(1, 1): the model errs more, DLE should follow), sampled (kind "w" kept at 25%,
weight 4), and two concept drifts the inputs cannot show: the noise 1.5 times larger, and the target
moved by +1.5 (a bias the model never had).

Prints, per scenario, n and metric: the mean error (estimate - realized), the mean and 95th percentile of
its absolute value, the share of checks whose realized value fell inside the estimate's band, and the
share of checks with any metric outside (what a "realized outside the band" alert would fire on), and the
time one evaluation takes.

    python bench/estimate_error.py                    # about 20 minutes on a busy 2-core machine
    python bench/estimate_error.py --reps 2000 --rows 1000 --estimators binary
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
from driftwatch.performance.evaluation import EstimateEvaluation
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


# multiclass CBPE -----------------------------------------------------------------------------------

CLASSES = ["a", "b", "c"]
LOGIT_WEIGHTS = np.array([[1.5, 0.0], [0.0, 1.0], [-1.5, -0.5]])
LabelledDraw = Callable[[np.random.Generator, int], Labelled]


def softmax(logits: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]


def class_rows(
    rng: np.random.Generator, n: int, shift: float = 0.0, strength: float = 1.0
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.object_]]:
    """The model's probabilities and labels drawn from softmax(strength x its logits)."""
    logits = (rng.normal(size=(n, 2)) + shift) @ LOGIT_WEIGHTS.T
    truth = softmax(strength * logits)
    labels = np.asarray(CLASSES, dtype=object)[(rng.uniform(size=(n, 1)) > truth.cumsum(axis=1)).sum(axis=1)]
    return softmax(logits), labels


def _maps(p: npt.NDArray[np.float64]) -> npt.NDArray[np.object_]:
    out = np.empty(len(p), dtype=object)
    out[:] = [dict(zip(CLASSES, row, strict=True)) for row in p.tolist()]
    return out


def multiclass_draw(shift: float = 0.0, strength: float = 1.0) -> LabelledDraw:
    def draw(rng: np.random.Generator, n: int) -> Labelled:
        p, labels = class_rows(rng, n, shift, strength)
        return Labelled(labels, _maps(p))

    return draw


def multiclass_sampled(rng: np.random.Generator, n: int) -> Labelled:
    """n kept rows of a stream whose class "a" rows are kept at 25% (weight 4), the others all."""
    p, labels = class_rows(rng, 4 * n)
    keep = (labels != "a") | (rng.random(len(labels)) < 0.25)
    p, labels = p[keep][:n], labels[keep][:n]
    return Labelled(labels, _maps(p), np.where(labels == "a", 4.0, 1.0))


MULTICLASS: dict[str, LabelledDraw] = {
    "stable": multiclass_draw(),
    "covariate shift (x ~ N(-1, 1))": multiclass_draw(shift=-1.0),
    "sampled (class a at 25%, weighted)": multiclass_sampled,
    "concept drift k=0.75": multiclass_draw(strength=0.75),
    "concept drift k=0.5": multiclass_draw(strength=0.5),
}


def multiclass_monitor(seed: int = 0) -> PerformanceMonitor:
    p, labels = class_rows(np.random.default_rng(seed), 5000)
    spec = PerformanceSpec("multiclass_classification", "probs", min_labels=1)
    return PerformanceMonitor("bench", spec, pd.DataFrame({"probs": _maps(p), "label": labels}))


# DLE --------------------------------------------------------------------------------------------------

DLE_FEATURES = ("x", "z", "kind")


def regression_rows(
    rng: np.random.Generator, n: int, shift: float = 0.0, noise: float = 1.0, bias: float = 0.0
) -> pd.DataFrame:
    """A model y_hat = 10 + 2x + z whose error grows with |x| and doubles for kind "w"; ``noise`` and
    ``bias`` change the target at fixed inputs (a concept drift)."""
    x = rng.normal(loc=shift, size=n)
    z = rng.normal(size=n)
    kind = np.where(rng.random(n) < 0.3, "w", "v").astype(object)
    scale = noise * (1 + np.abs(x)) * np.where(kind == "w", 2.0, 1.0)
    y_hat = 10 + 2 * x + z
    y = y_hat + bias + 0.3 * z**2 + rng.normal(size=n) * scale
    return pd.DataFrame({"x": x, "z": z, "kind": kind, "y_hat": y_hat, "y": y})


def _labelled(rows: pd.DataFrame, weights: npt.NDArray[np.float64] | None = None) -> Labelled:
    features = {c: np.asarray(rows[c].tolist(), dtype=object) for c in DLE_FEATURES}  # JSON values
    return Labelled(rows["y"].to_numpy(), rows["y_hat"].to_numpy(), weights, features)


def dle_draw(shift: float = 0.0, noise: float = 1.0, bias: float = 0.0) -> LabelledDraw:
    def draw(rng: np.random.Generator, n: int) -> Labelled:
        return _labelled(regression_rows(rng, n, shift, noise, bias))

    return draw


def dle_sampled(rng: np.random.Generator, n: int) -> Labelled:
    """n kept rows of a stream whose kind "w" rows are kept at 25% (weight 4), the others all."""
    rows = regression_rows(rng, 4 * n)
    rows = rows[(rows["kind"] != "w") | (rng.random(len(rows)) < 0.25)].iloc[:n]
    return _labelled(rows, np.where(rows["kind"] == "w", 4.0, 1.0))


DLE_SCENARIOS: dict[str, LabelledDraw] = {
    "stable": dle_draw(),
    "covariate shift (x ~ N(1, 1))": dle_draw(shift=1.0),
    "sampled (kind w at 25%, weighted)": dle_sampled,
    "concept drift: noise x1.5": dle_draw(noise=1.5),
    "concept drift: target +1.5": dle_draw(bias=1.5),
}


def dle_monitor(seed: int = 0) -> PerformanceMonitor:
    spec = PerformanceSpec(
        "regression",
        "y_hat",
        label="y",
        min_labels=1,
        estimate=True,
        features=DLE_FEATURES,
        categorical=("kind",),
    )
    return PerformanceMonitor("bench", spec, regression_rows(np.random.default_rng(seed), 5000))


def evaluate_labelled(
    fitted: PerformanceMonitor, draw: LabelledDraw, n: int, reps: int, seed: int
) -> tuple[dict[str, list[tuple[float, bool | None]]], list[bool], float]:
    """`evaluate` for draws of labelled rows (any estimator): the daemon's evaluation of each."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[tuple[float, bool | None]]] = {}
    outside: list[bool] = []
    spent = 0.0
    for _ in range(reps):
        labelled = draw(rng, n)
        realized = fitted.realized_part(labelled).value
        started = time.perf_counter()
        scored: EstimateEvaluation | None = fitted.estimate_error(labelled, realized)
        spent += time.perf_counter() - started
        assert scored is not None
        for metric, m in scored.metrics.items():
            out.setdefault(metric, []).append((m.error, m.covered))
        outside.append(any(m.covered is False for m in scored.metrics.values()))
    return out, outside, spent / reps


def report(
    name: str,
    n: int,
    errors: dict[str, list[tuple[float, bool | None]]],
    outside: list[bool],
    seconds: float,
    reps: int,
    width: int = 38,
) -> None:
    for metric, values in errors.items():
        err = np.array([e for e, _ in values])
        covered = [c for _, c in values if c is not None]
        print(
            f"{name:{width}} {n:>5} {metric:9} {err.mean():>+9.4f} {np.abs(err).mean():>10.4f} "
            f"{np.quantile(np.abs(err), 0.95):>9.4f} {np.mean(covered):>11.1%}"
        )
    print(
        f"{name:{width}} {n:>5} any metric outside its band in {np.mean(outside):.1%} of {reps} "
        f"checks; {1000 * seconds:.1f} ms per evaluation"
    )


def header(width: int = 38) -> None:
    print(
        f"{'scenario':{width}} {'n':>5} {'metric':9} {'mean err':>9} {'mean |err|':>10} {'p95 |err|':>9} "
        f"{'inside band':>11}"
    )


def run_labelled(
    title: str, fitted: PerformanceMonitor, scenarios: dict[str, LabelledDraw], args: argparse.Namespace
) -> None:
    print()
    print(title)
    header()
    for index, (name, draw) in enumerate(scenarios.items()):
        for n in args.rows:
            errors, outside, seconds = evaluate_labelled(
                fitted, draw, n, args.reps, args.seed + 100 * index + n
            )
            report(name, n, errors, outside, seconds, args.reps)
        sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=300, help="checks per scenario and n (default 300)")
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 5000], help="labelled rows per check")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--estimators",
        nargs="+",
        choices=("binary", "multiclass", "dle"),
        default=["binary", "multiclass", "dle"],
        help="which estimators to measure (default all three)",
    )
    args = parser.parse_args(argv)
    if "binary" in args.estimators:
        run_binary(args)
    if "multiclass" in args.estimators:
        fitted = multiclass_monitor()
        reference = fitted.reference
        run_labelled(
            f"multiclass CBPE: calibrated softmax, 3 classes; reference accuracy {reference['accuracy']:.3f}, "
            f"roc_auc {reference['roc_auc']:.3f}",
            fitted,
            MULTICLASS,
            args,
        )
    if "dle" in args.estimators:
        fitted = dle_monitor()
        reference = fitted.reference
        run_labelled(
            f"DLE (regression): reference mae {reference['mae']:.3f}, rmse {reference['rmse']:.3f}",
            fitted,
            DLE_SCENARIOS,
            args,
        )
    return 0


def run_binary(args: argparse.Namespace) -> None:
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


if __name__ == "__main__":
    sys.exit(main())
