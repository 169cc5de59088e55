"""How close CBPE's estimates come to realized performance, on data with known probabilities.

The bar is NannyML 0.13's CBPE, whose estimates of accuracy, roc_auc and f1
were off from realized by 0.0033 on average and 0.019 at worst on real census
windows. Real labels cannot tell how much of an error is the estimator's and
how much is chance, so this study generates its data: three normal features,
a true probability p = sigmoid(w.x + b), labels drawn as Bernoulli(p), a
reference of 20,000 rows from N(0, I), and windows whose feature mean slides
along w and whose spread varies (covariate shift, the change CBPE is meant
for). The model's scores are p itself or a monotone distortion of it
(overconfident, underconfident, skewed), so calibration has something to do.

For each scenario it fits `CBPE` on the reference (calibration "auto"),
estimates every window, and prints per metric the mean and worst absolute
error against the realized metric, and how often the realized value lies in
the 3-sigma band. Two more rows put those figures in context:

* oracle: the same estimate computed with the true p, i.e. a perfect
  calibrator. Its error is chance alone (which way the label coins fell), a
  floor no estimator beats on average. It shrinks as 1/sqrt(rows), so errors
  are comparable only at equal window sizes and shifts: hence the
  window-size sweep, and the caution in reading the census figures above.
* NannyML: NannyML 0.13's CBPE on the very same reference and windows, when
  nannyml is importable (it is not a driftwatch dependency); run with

    PYTHONPATH=src /path/to/venv-with-nannyml/bin/python bench/cbpe_study.py

An ablation runs the miscalibrated scenarios with calibration off.

    python bench/cbpe_study.py                       # 100 windows of 5,000 rows per scenario
    python bench/cbpe_study.py --windows 30 --jobs 4
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from driftwatch.performance import CBPE, ESTIMATED_METRICS, realized

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

NANNYML_MEAN = 0.0033
NANNYML_WORST = 0.019
HEADLINE_METRICS = ("accuracy", "roc_auc", "f1")
WEIGHTS = np.array([1.5, -1.0, 0.8])
SHIFT_DIRECTION = WEIGHTS / np.linalg.norm(WEIGHTS)
REFERENCE_ROWS = 20_000


def sigmoid(z: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-z)))


def logit(p: FloatArray) -> FloatArray:
    q = np.clip(p, 1e-12, 1 - 1e-12)
    return np.asarray(np.log(q / (1 - q)))


SCORES: dict[str, Callable[[FloatArray], FloatArray]] = {
    "calibrated": lambda p: p,
    "overconfident": lambda p: sigmoid(2.0 * logit(p)),  # too sure both ways, right at 0.5
    "underconfident": lambda p: sigmoid(0.5 * logit(p)),
    "skewed": lambda p: p**2,  # too low everywhere: 0.5 on this scale is p = 0.71
}


@dataclass(frozen=True)
class Scenario:
    name: str
    scores: str = "calibrated"
    bias: float = -0.3  # about 45% positives on the reference
    shift: float = 0.75  # window means slide from -shift to +shift along w (logit +/- 1.5)
    spread: tuple[float, float] = (0.6, 1.4)  # window standard deviations, in shuffled order
    rows: int = 5_000
    threshold: float = 0.5
    calibration: Literal["auto", "none"] = "auto"


SCENARIOS = [
    Scenario("calibrated, mild shift", shift=0.3, spread=(0.85, 1.15)),
    Scenario("calibrated, strong shift"),
    Scenario("overconfident scores", scores="overconfident"),
    Scenario("underconfident scores", scores="underconfident"),
    Scenario("skewed scores (p**2)", scores="skewed"),
    # rare positives: a milder shift keeps some in every window
    Scenario("10% positives, t=0.3", bias=-3.2, shift=0.4, spread=(0.8, 1.2), threshold=0.3),
    Scenario("10% positives, overconfident", "overconfident", -3.2, 0.4, (0.8, 1.2), threshold=0.3),
    Scenario("2% positives, t=0.2", bias=-5.5, shift=0.4, spread=(0.8, 1.2), threshold=0.2),
]
ABLATION = [
    replace(s, name=f"{s.name}, no calibration", calibration="none")
    for s in SCENARIOS
    if s.scores != "calibrated"
]
SWEEP = [
    replace(SCENARIOS[1], name=f"calibrated, strong shift, {n:,} rows", rows=n)
    for n in (1_000, 2_000, 20_000)
]


@dataclass(frozen=True)
class Errors:
    """One estimator over a scenario's windows: estimate - realized, and whether realized was in the band."""

    errors: dict[str, FloatArray]
    covered: dict[str, FloatArray] | None

    def abs(self, metrics: tuple[str, ...]) -> FloatArray:
        return np.asarray(np.abs(np.concatenate([self.errors[m] for m in metrics])))


@dataclass(frozen=True)
class Outcome:
    scenario: Scenario
    calibration: str
    prevalence: float
    realized_accuracy: tuple[float, float]
    estimators: dict[str, Errors]


def draw(
    rng: np.random.Generator, rows: int, bias: float, shift: float = 0.0, spread: float = 1.0
) -> tuple[FloatArray, BoolArray]:
    features = rng.normal(size=(rows, 3)) * spread + shift * SHIFT_DIRECTION
    p = sigmoid(features @ WEIGHTS + bias)
    return p, rng.uniform(size=rows) < p


def expected_with(p: FloatArray, scores: FloatArray, threshold: float) -> dict[str, float]:
    """CBPE's estimate had it known the true probabilities: each row a positive of weight p and a
    negative of weight 1 - p, ranked by the model's own scores."""
    return realized(
        "binary_classification",
        np.repeat([1, 0], len(p)),
        np.concatenate((scores, scores)),
        threshold=threshold,
        sample_weight=np.concatenate((p, 1.0 - p)),
    )


def nannyml_estimates(
    reference: tuple[FloatArray, BoolArray], windows: list[FloatArray], scenario: Scenario
) -> dict[str, tuple[FloatArray, FloatArray, FloatArray]]:
    """NannyML's CBPE (default isotonic calibration) on the same data: value, lower, upper per window."""
    os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")  # NannyML reports usage over the network
    import nannyml as nml  # type: ignore[import-not-found, unused-ignore]
    import pandas as pd

    def frame(scores: FloatArray, labels: BoolArray | None = None) -> Any:
        columns: dict[str, Any] = {"score": scores, "prediction": (scores >= scenario.threshold).astype(int)}
        if labels is not None:
            columns["label"] = labels.astype(int)
        return pd.DataFrame(columns)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator = nml.CBPE(
            metrics=list(ESTIMATED_METRICS),
            y_pred_proba="score",
            y_pred="prediction",
            y_true="label",
            problem_type="classification_binary",
            chunk_size=scenario.rows,
        )
        estimator.fit(frame(*reference))
        result = estimator.estimate(frame(np.concatenate(windows))).filter(period="analysis").to_df()
    return {
        metric: (
            result[(metric, "value")].to_numpy(dtype=np.float64),
            result[(metric, "lower_confidence_boundary")].to_numpy(dtype=np.float64),
            result[(metric, "upper_confidence_boundary")].to_numpy(dtype=np.float64),
        )
        for metric in ESTIMATED_METRICS
    }


def run(scenario: Scenario, windows: int, seed: int, with_nannyml: bool) -> Outcome:
    rng = np.random.default_rng(seed)
    transform = SCORES[scenario.scores]
    p, y = draw(rng, REFERENCE_ROWS, scenario.bias)
    reference = (transform(p), y)
    cbpe = CBPE.fit(*reference, threshold=scenario.threshold, calibration=scenario.calibration)
    shifts = np.linspace(-scenario.shift, scenario.shift, windows)
    spreads = rng.permutation(np.linspace(*scenario.spread, windows))
    names = ["driftwatch", "oracle"]
    errors: dict[str, dict[str, list[float]]] = {name: {m: [] for m in ESTIMATED_METRICS} for name in names}
    covered: dict[str, list[bool]] = {m: [] for m in ESTIMATED_METRICS}
    actuals: list[dict[str, float]] = []
    window_scores = []
    for shift, spread in zip(shifts, spreads, strict=True):
        p, y = draw(rng, scenario.rows, scenario.bias, float(shift), float(spread))
        scores = transform(p)
        actual = realized("binary_classification", y, scores, threshold=scenario.threshold)
        estimates = cbpe.estimate(scores)
        perfect = expected_with(p, scores, scenario.threshold)
        for m in ESTIMATED_METRICS:
            errors["driftwatch"][m].append(estimates[m].value - actual[m])
            errors["oracle"][m].append(perfect[m] - actual[m])
            covered[m].append(estimates[m].lower <= actual[m] <= estimates[m].upper)
        actuals.append(actual)
        window_scores.append(scores)

    def arrays(values: dict[str, list[Any]]) -> dict[str, FloatArray]:
        return {m: np.asarray(v, dtype=np.float64) for m, v in values.items()}

    estimators = {
        "driftwatch": Errors(arrays(errors["driftwatch"]), arrays(covered)),
        "oracle": Errors(arrays(errors["oracle"]), None),
    }
    if with_nannyml:
        theirs = nannyml_estimates(reference, window_scores, scenario)
        truth = {m: np.array([a[m] for a in actuals]) for m in ESTIMATED_METRICS}
        estimators["NannyML 0.13"] = Errors(
            {m: theirs[m][0] - truth[m] for m in ESTIMATED_METRICS},
            {
                m: ((theirs[m][1] <= truth[m]) & (truth[m] <= theirs[m][2])).astype(np.float64)
                for m in ESTIMATED_METRICS
            },
        )
    accuracy = [a["accuracy"] for a in actuals]
    return Outcome(
        scenario,
        cbpe.calibration.method,
        float(reference[1].mean()),
        (min(accuracy), max(accuracy)),
        estimators,
    )


def table(outcomes: list[Outcome]) -> None:
    metrics = "".join(f"{m:>15}" for m in ESTIMATED_METRICS)
    print(f"{'scenario':<44}{'estimator':>14}{metrics}{'band cover':>12}")
    print(f"{'':<58}" + f"{'mean / max':>15}" * len(ESTIMATED_METRICS))
    for outcome in outcomes:
        low, high = outcome.realized_accuracy
        notes = [
            outcome.scenario.name,
            f"  {outcome.prevalence:.0%} positives, t={outcome.scenario.threshold}",
            f"  calibration: {outcome.calibration}",
            f"  accuracy {low:.3f}-{high:.3f}",
        ]
        for index, (name, found) in enumerate(outcome.estimators.items()):
            cells = "".join(
                f"{np.mean(np.abs(found.errors[m])):>8.4f} /{np.max(np.abs(found.errors[m])):.3f}"
                for m in ESTIMATED_METRICS
            )
            cover = f"{np.mean([found.covered[m] for m in ESTIMATED_METRICS]):.1%}" if found.covered else "-"
            print(f"{notes[index] if index < len(notes) else '':<44}{name:>14}{cells}{cover:>12}")
        for note in notes[len(outcome.estimators) :]:
            print(note)


def headline(outcomes: list[Outcome], label: str) -> None:
    windows = sum(len(o.estimators["driftwatch"].errors["accuracy"]) for o in outcomes)
    rows = outcomes[0].scenario.rows
    print(f"\n{label}: |estimate - realized| of accuracy, roc_auc and f1, {windows} windows of {rows:,} rows")
    print(f"{'':<18}{'mean':>8}{'worst':>8}{'all five: mean':>16}{'worst':>8}{'band cover':>12}")
    for name in outcomes[0].estimators:
        errors = np.concatenate([o.estimators[name].abs(HEADLINE_METRICS) for o in outcomes])
        every = np.concatenate([o.estimators[name].abs(ESTIMATED_METRICS) for o in outcomes])
        bands = [o.estimators[name].covered for o in outcomes]
        cover = (
            f"{np.mean([np.mean(c[m]) for c in bands if c for m in ESTIMATED_METRICS]):.1%}"
            if bands[0]
            else "-"
        )
        print(
            f"{name:<18}{errors.mean():>8.4f}{errors.max():>8.4f}{every.mean():>16.4f}{every.max():>8.4f}{cover:>12}"
        )
    print(
        f"{'NannyML, census':<18}{NANNYML_MEAN:>8.4f}{NANNYML_WORST:>8.4f}   (real windows, size not stated)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--windows", type=int, default=100, help="windows per scenario (default 100)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="scenarios run in parallel")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with_nannyml = importlib.util.find_spec("nannyml") is not None

    everything = [*SCENARIOS, *ABLATION, *SWEEP]
    started = time.perf_counter()
    with ProcessPoolExecutor(max(1, args.jobs)) as pool:
        count = len(everything)
        outcomes = pool.map(
            run,
            everything,
            [args.windows] * count,
            range(args.seed, args.seed + count),
            # NannyML always calibrates: the ablation has nothing to compare it with
            [with_nannyml and scenario not in ABLATION for scenario in everything],
        )
        found = dict(zip(everything, outcomes, strict=True))

    print(
        f"CBPE on synthetic windows: {args.windows} windows per scenario, reference {REFERENCE_ROWS:,} rows"
    )
    print("errors are |estimate - realized|; band cover: how often realized lies within the estimate's band")
    if not with_nannyml:
        print("(nannyml is not importable here: no same-windows comparison with it)")
    print()
    table([found[s] for s in SCENARIOS])
    balanced = [found[s] for s in SCENARIOS if s.bias == Scenario.bias]
    headline(balanced, f"headline, the {len(balanced)} scenarios with 45% positives")
    headline([found[s] for s in SCENARIOS], f"all {len(SCENARIOS)} scenarios")
    print("\nablation: the miscalibrated scenarios with calibration off\n")
    table([found[s] for s in ABLATION])
    print("\nwindow size: calibrated, strong shift\n")
    table([found[s] for s in [*SWEEP[:2], SCENARIOS[1], SWEEP[2]]])
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
