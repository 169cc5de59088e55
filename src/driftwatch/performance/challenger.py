"""The champion/challenger check: is the challenger version worse (or better) than the champion?

Two versions of one model served side by side are compared on the labelled traffic of the same
look-back (`driftwatch.performance.comparison.compare_versions`): per metric, the realized difference
**challenger - champion** with a confidence interval (Newcombe's score intervals for accuracy, a seeded
percentile bootstrap for the others). Optionally, the two versions' window predictions are compared as
distributions (the challenger's against a profile of the champion's, with the ``auto`` method of the
prediction drift check), which needs no label.

Alerts, one state per metric, ``challenger:<metric>`` (`CheckId("challenger", metric)`):

- **worse_by**: breaching when the whole interval lies on the worse side of ``worse_by``: below
  ``-worse_by`` for a metric that is better high (accuracy, f1, roc_auc, r2...), above ``+worse_by`` for
  one that is better low (log_loss, mae, rmse, mape). ``worse_by: 0``: any significant degradation.
- **better_by** (when set): breaching as well when the whole interval lies on the better side of it, to
  be told when a challenger is ready for promotion.
- ``challenger:prediction_drift`` breaches when the prediction distributions differ, only with
  ``prediction_drift`` on.

Too little evidence feeds no breach: fewer labelled rows than ``min_labels`` for either version (pairs,
in the paired design) gives status ``not_enough_data`` and no metric breach (the absence of evidence
neither raises nor resolves an alert); a metric undefined on the rows (roc_auc with one class) feeds no
breach either. The prediction-distribution comparison needs no label: it runs on the window predictions
whenever both versions have at least ``spec.min_predictions`` of them, whatever the label count.

Deterministic: the bootstrap is seeded from the model, the two version names and the window end
(`driftwatch.performance.comparison.bootstrap_seed`), so every replica and every re-run of a window gives
the same bounds and the same alert transitions.

Limits: the comparison is not stratified by segment (a canary routed by country confounds the
difference); each version's labelled rows are those the label join kept for it, so shadow traffic under
one model name and one prediction id reaches the paired design only when the caller passes the rows of
both versions with their ids (`VersionTraffic.ids`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.checks.base import Labelled, PartResult, PartStatus, part_error
from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.defaults import CHALLENGER_WORSE_BY_DEFAULT
from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, column_drift
from driftwatch.drift.profile import ColumnProfile
from driftwatch.performance.comparison import (
    Interval,
    VersionComparison,
    VersionRows,
    compare_versions,
)
from driftwatch.performance.metrics import METRICS, direction
from driftwatch.performance.monitor import PerformanceSpec

__all__ = ["PREDICTION_DRIFT", "ChallengerCheck", "ChallengerSettings", "VersionTraffic", "breaching"]

log = logging.getLogger(__name__)

PREDICTION_DRIFT = "prediction_drift"
"""The metric of the ``challenger:prediction_drift`` check: the two versions' prediction distributions."""

_CONFIDENCE = (0.5, 0.999)


@dataclass(frozen=True)
class ChallengerSettings:
    """A model's champion/challenger comparison (``versions.champion_challenger`` of its configuration).

    ``metrics``: the performance metrics compared (each one of the model's task). ``confidence``: of the
    intervals, 0.5 to 0.999. ``bootstrap``: resamples for the metrics without a closed-form interval.
    ``worse_by`` / ``better_by``: the alert margins (None: no such alert), in the metric's units.
    ``prediction_drift``: alert on ``challenger:prediction_drift``. ``min_labels``: labelled rows each
    version needs for a verdict (None: the model's ``performance.min_labels``).
    """

    champion: str
    challenger: str
    metrics: tuple[str, ...] = ("accuracy",)
    confidence: float = 0.95
    bootstrap: int = 1000
    worse_by: float | None = CHALLENGER_WORSE_BY_DEFAULT
    better_by: float | None = None
    prediction_drift: bool = False
    min_labels: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.champion == self.challenger:
            problems.append(f"champion and challenger are both version {self.champion!r}")
        if not self.metrics:
            problems.append("metrics is empty")
        if len(set(self.metrics)) != len(self.metrics):
            problems.append(f"metrics {list(self.metrics)} repeat a metric")
        if not _CONFIDENCE[0] <= self.confidence <= _CONFIDENCE[1]:
            problems.append(
                f"confidence {self.confidence} is not between {_CONFIDENCE[0]} and {_CONFIDENCE[1]}"
            )
        if self.bootstrap < 1:
            problems.append(f"bootstrap {self.bootstrap} is not a positive number of resamples")
        for name, margin in (("worse_by", self.worse_by), ("better_by", self.better_by)):
            if margin is not None and not (math.isfinite(margin) and margin >= 0):
                problems.append(f"{name} {margin} is not a finite margin >= 0")
        if self.min_labels is not None and self.min_labels < 1:
            problems.append(f"min_labels {self.min_labels} is not positive")
        if problems:
            raise ValueError("champion_challenger: " + "; ".join(problems))


@dataclass(frozen=True)
class VersionTraffic:
    """What one version brings to the comparison.

    ``labelled``: its labelled predictions of the look-back (`driftwatch.state.labels.LabelStore.joined`
    with ``version=``: labels, predictions, sampling weights). ``ids``: one prediction id per labelled
    row, to pair shadow traffic by (None: the rows count as distinct requests, the split design).
    ``predictions``: its window's predictions, for the prediction-distribution comparison (None: not
    compared).
    """

    labelled: Labelled
    ids: npt.ArrayLike | None = None
    predictions: npt.ArrayLike | pd.Series | None = None


def breaching(metric: str, interval: Interval, worse_by: float | None, better_by: float | None) -> bool:
    """Whether ``interval`` (challenger - champion of ``metric``) lies wholly beyond a margin: on the
    worse side of ``worse_by`` or on the better side of ``better_by`` (None: no such margin)."""
    higher_is_better = direction(metric)
    worse = worse_by is not None and (
        interval.below(-worse_by) if higher_is_better else interval.above(worse_by)
    )
    better = better_by is not None and (
        interval.above(better_by) if higher_is_better else interval.below(-better_by)
    )
    return bool(worse or better)


class ChallengerCheck:
    """The champion/challenger comparison of one model (see the module docstring).

    ``spec``: the model's `PerformanceSpec` (task, decision threshold, classes, ``min_labels``,
    ``min_predictions``). ``prediction``: the profile of the model's prediction column (its name and
    type; the reference's), needed for the prediction-distribution comparison (None: not compared).
    ValueError for settings that do not fit the model (a metric of another task).
    """

    kind: CheckKind = "challenger"

    def __init__(
        self,
        model: str,
        spec: PerformanceSpec,
        settings: ChallengerSettings,
        prediction: ColumnProfile | None = None,
    ) -> None:
        for metric in settings.metrics:
            if metric not in METRICS[spec.task]:
                raise ValueError(
                    f"champion_challenger: {metric!r} is not a metric of {spec.task}; "
                    f"use one of {', '.join(METRICS[spec.task])}"
                )
        self.model = model
        self.spec = spec
        self.settings = settings
        self.prediction = prediction
        self.min_labels = spec.min_labels if settings.min_labels is None else settings.min_labels

    @property
    def alert_ids(self) -> list[CheckId]:
        """``challenger:<metric>`` per metric with a margin, and ``challenger:prediction_drift`` when it
        alerts."""
        s = self.settings
        ids = (
            [CheckId(self.kind, m) for m in s.metrics]
            if s.worse_by is not None or s.better_by is not None
            else []
        )
        if s.prediction_drift and self.prediction is not None:
            ids.append(CheckId(self.kind, PREDICTION_DRIFT))
        return ids

    def seed(self, window_end: float) -> tuple[str, ...]:
        """The text parts seeding the bootstrap of the window ending at ``window_end``."""
        return (self.model, self.settings.champion, self.settings.challenger, repr(float(window_end)))

    def run(
        self, champion: VersionTraffic, challenger: VersionTraffic, window_end: float
    ) -> PartResult[VersionComparison]:
        """The comparison over the look-back ending at ``window_end`` (unix seconds; it seeds the
        bootstrap). Problems in the data (a label outside the classes) are an ``error`` status with the
        reason in the note, never an exception."""
        check, s = CheckId(self.kind), self.settings
        try:
            comparison = compare_versions(
                VersionRows(s.champion, champion.labelled, _ids(champion, 0)),
                VersionRows(s.challenger, challenger.labelled, _ids(challenger, 1)),
                spec=self.spec,
                metrics=s.metrics,
                confidence=s.confidence,
                resamples=s.bootstrap,
                seed=self.seed(window_end),
                min_labels=self.min_labels,
            )
        except ValueError as exc:
            return PartResult(check, "error", note=f"champion/challenger: {exc}")
        except Exception as exc:  # a bug, not the data
            log.exception("check challenger of model %s failed", self.model)
            return PartResult.failed(check, exc)
        breaches: dict[CheckId, bool] = {}
        margins = s.worse_by is not None or s.better_by is not None
        if comparison.status == "ok" and margins:
            for metric, difference in comparison.metrics.items():
                if difference.interval is not None:
                    breaches[CheckId(self.kind, metric)] = breaching(
                        metric, difference.interval, s.worse_by, s.better_by
                    )
        notes = [comparison.note] if comparison.note else []
        drift, drift_note, failure = self._prediction_drift(champion, challenger)
        if drift is not None:
            comparison = replace(comparison, prediction_drift=drift)
            if s.prediction_drift and drift.error is None:
                breaches[CheckId(self.kind, PREDICTION_DRIFT)] = drift.drift_detected
        if drift_note:
            notes.append(drift_note)
        status: PartStatus = (
            "drift" if any(breaches.values()) else "not_enough_data" if comparison.status != "ok" else "ok"
        )
        return PartResult(check, status, comparison, breaches, "; ".join(notes) or None, failure)

    def _prediction_drift(
        self, champion: VersionTraffic, challenger: VersionTraffic
    ) -> tuple[ColumnDrift | None, str | None, str | None]:
        """(the drift of the challenger's window predictions against the champion's, a note, a failure)."""
        profile = self.prediction
        if profile is None or champion.predictions is None or challenger.predictions is None:
            return None, None, None
        try:
            reference = ColumnProfile.build(profile.name, _series(champion.predictions), profile.type)
            current = _series(challenger.predictions)
            least = self.spec.min_predictions
            if reference.rows < least or current.notna().sum() < least:
                note = (
                    f"prediction distributions not compared: {reference.rows} champion and "
                    f"{int(current.notna().sum())} challenger predictions, fewer than {least}"
                )
                return None, note, None
            drift = column_drift(reference, current.to_numpy(), ColumnOptions())
        except Exception as exc:
            log.exception("check challenger:prediction_drift of model %s failed", self.model)
            return None, part_error(exc), part_error(exc)
        return drift, drift.error, None


def _ids(traffic: VersionTraffic, version: int) -> Any:
    """The prediction ids of a version's labelled rows; without them, ids no row of the other version
    has (the champion's 0, 1, ...; the challenger's -1, -2, ...)."""
    if traffic.ids is not None:
        return traffic.ids
    rows = len(np.asarray(traffic.labelled.labels))
    return np.arange(rows) if version == 0 else -1 - np.arange(rows)


def _series(values: npt.ArrayLike | pd.Series) -> pd.Series:
    return values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
