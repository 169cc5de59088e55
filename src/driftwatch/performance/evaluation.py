"""How far an estimate was from the truth, once the labels came: an estimator scored on its own rows.

An estimate of performance without labels (CBPE for a binary or multiclass classifier, DLE for a
regression, or any estimator that can estimate a given set of predictions) rests on assumptions no
window can check by itself: calibrated scores (for DLE, loss models that learnt where the model errs)
and no concept drift, above all. Labels arrive later for some predictions; for those rows both numbers exist,
and their difference is the estimator's track record. `evaluate_estimate` compares the estimate made on
exactly the labelled rows' predictions with the metric realized on the same rows (same rows, same
sampling weights), so the difference is the estimator's error and nothing else: not the difference
between two windows, not the labels' delay.

For each metric it reports ``error = estimate - realized`` (positive: the estimate was too optimistic
for a metric where higher is better), its absolute value, and whether the realized value fell inside
the estimate's sampling-error band (``covered``). While the estimator's assumptions hold, the error is
sampling noise: within the band about as often as the band promises (99.7% for CBPE's 3 sigma). When
they stop holding (a concept drift: the same scores, other labels), the error grows and the realized
values leave the band, which no drift check of the scores can see.

A metric without a value on either side (roc_auc when the labelled rows hold a single class, an
estimate that is NaN) has no error: it is left out, so there is no series for it rather than a NaN.

>>> from driftwatch.performance.cbpe import Estimate
>>> evaluation = evaluate_estimate(
...     {"accuracy": Estimate(0.90, 0.85, 0.95, 0.0167), "roc_auc": Estimate(0.93, 0.88, 0.98, 0.0167)},
...     {"accuracy": 0.80, "roc_auc": float("nan")},
...     rows=400,
... )
>>> sorted(evaluation.metrics), round(evaluation.metrics["accuracy"].error, 2)
(['accuracy'], 0.1)
>>> evaluation.metrics["accuracy"].covered
False
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

__all__ = ["BandedEstimate", "EstimateEvaluation", "MetricEvaluation", "evaluate_estimate"]


class BandedEstimate(Protocol):
    """What an estimator gives per metric: a value and its band (CBPE's `Estimate` is one)."""

    @property
    def value(self) -> float: ...

    @property
    def lower(self) -> float: ...

    @property
    def upper(self) -> float: ...


@dataclass(frozen=True)
class MetricEvaluation:
    """One metric's estimate on the labelled rows, its band, and the value realized on those rows."""

    estimate: float
    lower: float
    upper: float
    realized: float

    @property
    def error(self) -> float:
        """estimate - realized: positive when the estimate was above the truth."""
        return self.estimate - self.realized

    @property
    def absolute_error(self) -> float:
        return abs(self.error)

    @property
    def covered(self) -> bool | None:
        """Whether the realized value fell inside the estimate's band (None without a band)."""
        if math.isnan(self.lower) or math.isnan(self.upper):
            return None
        return self.lower <= self.realized <= self.upper

    def as_dict(self) -> dict[str, float | bool | None]:
        return {
            "estimate": self.estimate,
            "lower": _finite(self.lower),
            "upper": _finite(self.upper),
            "realized": self.realized,
            "error": self.error,
            "absolute_error": self.absolute_error,
            "covered": self.covered,
        }


@dataclass(frozen=True)
class EstimateEvaluation:
    """An estimate scored against the realized metrics of the ``rows`` labelled predictions it was made
    on: one `MetricEvaluation` per metric that has both."""

    rows: int
    metrics: dict[str, MetricEvaluation]

    @property
    def errors(self) -> dict[str, float]:
        """estimate - realized per metric."""
        return {metric: m.error for metric, m in self.metrics.items()}

    def as_dict(self) -> dict[str, object]:
        return {"rows": self.rows, "metrics": {metric: m.as_dict() for metric, m in self.metrics.items()}}


def evaluate_estimate(
    estimates: Mapping[str, BandedEstimate], realized: Mapping[str, float], rows: int
) -> EstimateEvaluation:
    """``estimates`` (made on the ``rows`` labelled predictions) against ``realized`` (the metrics of the
    same rows), per metric present and finite in both."""
    metrics = {}
    for metric, estimate in estimates.items():
        truth = realized.get(metric)
        if truth is None or not math.isfinite(truth) or not math.isfinite(estimate.value):
            continue
        metrics[metric] = MetricEvaluation(estimate.value, estimate.lower, estimate.upper, float(truth))
    return EstimateEvaluation(rows, metrics)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None
