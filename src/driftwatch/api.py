"""The Python API: drift checks, reference profiles and performance on pandas DataFrames.

What ``import driftwatch`` offers a notebook: `check` compares current data with a reference (a
DataFrame or a saved `ReferenceProfile`) and returns a `CheckReport`; `profile`, `ReferenceProfile.save`
and `load_profile` prepare a reference once; `estimate_performance` (CBPE, without labels) and
`realized_performance` (with them) score a binary classifier or any task, and `estimate_error` scores
the estimate against the labels where they exist. Each is a thin layer over the
code path of the ``driftwatch check`` command (`driftwatch.offline.check_data`,
`driftwatch.offline.performance_data`), so the API and the command give the same answer on the same
data, "not enough rows" included. Errors are `driftwatch.errors.DriftwatchError` subclasses whose
messages name the argument and the fix.
"""

from __future__ import annotations

import json
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TypeVar

import pandas as pd

from driftwatch import offline
from driftwatch import reference as references
from driftwatch.checks.embedding import EmbeddingSpec
from driftwatch.checks.window import CheckStatus
from driftwatch.defaults import MIN_LABELS_DEFAULT, MIN_ROWS_DEFAULT
from driftwatch.drift import profile as profiles
from driftwatch.drift.dataset import ColumnDrift, ColumnOptions
from driftwatch.drift.multivariate_methods import MultivariateOptions, fit_multivariate
from driftwatch.drift.profile import ColumnType
from driftwatch.drift.stattests import CATALOGUE
from driftwatch.errors import CheckError, ReferenceDataError
from driftwatch.performance.evaluation import EstimateEvaluation, MetricEvaluation

__all__ = [
    "CheckReport",
    "ColumnResult",
    "MetricEstimate",
    "PerformanceEstimate",
    "RealizedMetrics",
    "ReferenceProfile",
    "check",
    "estimate_error",
    "estimate_performance",
    "load_profile",
    "profile",
    "realized_performance",
]

Task = Literal["binary_classification", "multiclass_classification", "regression"]

# the messages of the shared code path, in the words of this API's arguments rather than the command's
_Frame = TypeVar("_Frame")

_WORDING = offline.Wording(
    reference="reference",
    current="current",
    columns="features=",
    prediction="prediction",
    label="label",
    classes="classes=",
    things="data frames",
    subject="the current data",
    min_labels="min_labels",
    segment="segment=",
    top_k="top_k=",
    segment_min_rows="segment_min_rows=",
)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


@dataclass(frozen=True)
class ColumnResult:
    """One column's drift: the ``method`` run, its ``score`` against ``threshold``, and the verdict.

    ``score`` is the method's p-value (drift when below the threshold: ks, chisquare, z, ...) or its
    distance (drift when above: psi, wasserstein, jensenshannon, ...); None when the column could not be
    checked, and then ``error`` says why. ``reference_rows`` and ``current_rows`` count the usable values.
    """

    name: str
    type: str
    method: str
    score: float | None
    threshold: float | None
    drifted: bool
    reference_rows: int
    current_rows: int
    error: str | None = None

    @classmethod
    def of(cls, column: ColumnDrift) -> ColumnResult:
        return cls(
            column.column,
            column.type,
            column.method,
            _finite(column.score),
            _finite(column.threshold),
            column.drift_detected,
            column.reference_rows,
            column.current_rows,
            column.error,
        )


@dataclass(frozen=True, eq=False)  # holds the data frames: compare the results, not the reports
class CheckReport:
    """The result of `check`: dataset drift, each column's result, and the report in three formats.

    ``status`` is "ok" when there is a verdict; "not_enough_rows" (fewer current rows than ``min_rows``)
    and "no_data" (no usable value in any column) have none: ``dataset_drift`` is then None, never a
    made-up "no drift", and ``reason`` says why. ``to_dict``, ``to_json`` and ``to_html`` are the
    ``driftwatch check`` command's JSON and HTML formats.
    """

    _check: offline.OfflineCheck = field(repr=False)
    _segments: tuple[offline.SegmentCheck, ...] | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"CheckReport(status={self.status!r}, dataset_drift={self.dataset_drift!r}, "
            f"drifted={self.drifted!r}, rows={self.rows})"
        )

    @property
    def status(self) -> CheckStatus:
        return self._check.status

    @property
    def reason(self) -> str | None:
        return self._check.reason

    @property
    def rows(self) -> int:
        """Rows of the current data."""
        return self._check.rows

    @property
    def dataset_drift(self) -> bool | None:
        """Whether at least the drift share of the checked columns drifted; None without a verdict."""
        return self._check.drift.dataset_drift if self.status == "ok" else None

    @property
    def drift_share(self) -> float | None:
        return self._check.drift.drift_share if self.status == "ok" else None

    @property
    def columns(self) -> list[ColumnResult]:
        """Every column checked, then those that could not be (with their ``error``), in the JSON's order."""
        drift = self._check.drift
        return [ColumnResult.of(c) for c in drift.columns + drift.errors]

    @property
    def drifted(self) -> list[str]:
        return [c.name for c in self.columns if c.drifted]

    @property
    def prediction(self) -> ColumnResult | None:
        """The prediction column's drift, when ``prediction`` was given and there is a verdict."""
        p = self._check.prediction_drift
        return None if p is None else ColumnResult.of(p)

    @property
    def multivariate_drift(self) -> dict[str, dict[str, Any]] | None:
        """With ``multivariate=``: each method's result (value, lower_threshold, upper_threshold, alert,
        rows, ...) as the daemon's JSON result has it; None without a verdict or without ``multivariate``."""
        found: dict[str, dict[str, Any]] | None = self._check.extra.get("multivariate_drift")
        return found

    @property
    def segments(self) -> dict[str, CheckReport]:
        """With ``segment=``: each segment's report by its label ("country=DE", "country:missing",
        "country:other"), in the order of the JSON's ``segments``; empty without."""
        return {s.label: CheckReport(s.check) for s in self._segments or ()}

    @property
    def embeddings(self) -> dict[str, dict[str, Any]]:
        """With ``embeddings=``: each embedding's drift (status, rows, score, threshold, drift_detected,
        method details), as the daemon's ``embedding_drift`` result has it; empty without."""
        found: dict[str, dict[str, Any]] = self._check.extra.get("embedding_drift", {})
        return found

    @property
    def segment_notes(self) -> list[str]:
        """What the segments were compared with, when not the reference's rows of their value."""
        return offline.segment_notes(self._segments or ())

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.to_json())
        return result

    def to_json(self) -> str:
        return offline.to_json(self._check, self._segments)

    def to_html(self) -> str:
        """Evidently's HTML report of the checked columns under driftwatch's summary (needs evidently)."""
        return offline.to_html(self._check, with_performance=False, segments=self._segments)


@dataclass(frozen=True, eq=False)
class ReferenceProfile:
    """A reference prepared once: each column's cleaned, sorted values and counts, and (when built with
    ``prediction`` and ``label``) the labelled rows performance needs. Build one with `profile`, keep it
    with `save`, read it back with `load_profile`; checks give the same answers as on the raw data."""

    profile: profiles.ReferenceProfile
    labelled: pd.DataFrame | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        kept = ", labelled rows kept" if self.labelled is not None else ""
        return f"ReferenceProfile(rows={self.rows}, types={self.types!r}{kept})"

    @property
    def columns(self) -> list[str]:
        return list(self.profile.columns)

    @property
    def types(self) -> dict[str, ColumnType]:
        return {name: column.type for name, column in self.profile.columns.items()}

    @property
    def rows(self) -> int:
        return self.profile.rows

    def save(self, path: str | Path) -> None:
        """Write the profile as a directory (JSON and Parquet, never pickle), as ``driftwatch profile``."""
        references.save_profile(self.profile, Path(path), self.labelled)


def profile(
    data: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    types: Mapping[str, ColumnType] | None = None,
    prediction: str | None = None,
    label: str | None = None,
    embeddings: Mapping[str, str] | None = None,
    classes: Sequence[Hashable] | None = None,
) -> ReferenceProfile:
    """Profile ``data`` as a reference: ``features`` (default: every column but ``label`` and the
    embeddings'), typed by ``types`` or else by their dtypes, and the ``prediction`` column (maps
    class -> probability: their predicted classes, a tie going to the first of ``classes``); with
    ``prediction`` and ``label`` the labelled rows are kept for `estimate_performance` and
    `realized_performance`. ``embeddings`` maps an embedding's name to the column holding its vectors
    (lists or arrays): a bounded sample of them is kept (`driftwatch.reference.embedding_sample`)."""
    if len(data) == 0:
        raise ReferenceDataError("reference has no rows (only columns); there is nothing to profile")
    data = _maps(data, prediction, "reference", ReferenceDataError)
    vectors = dict(embeddings or {})
    columns = (
        list(features)
        if features is not None
        else [str(c) for c in data.columns if c != label and c not in vectors.values()]
    )
    if prediction and prediction not in columns:
        columns.append(prediction)  # prediction drift needs its profile too
    wanted = list(dict.fromkeys([*columns, *([label] if label else [])]))
    missing = [c for c in wanted if c not in data.columns]
    if missing:
        raise ReferenceDataError(
            f"reference has no column(s) {', '.join(missing)}; it has {', '.join(map(str, data.columns))}"
        )
    order = [str(c) for c in classes or ()]  # the maps' keys are text
    built = profiles.ReferenceProfile.build(data, columns, dict(types or {}), order)
    if vectors:
        built = replace(built, embeddings=_reference_vectors(data, vectors, "reference"))
    return ReferenceProfile(built, data[[prediction, label]] if prediction and label else None)


def _dim(values: pd.Series, where: str) -> int:
    """The length of the first vector of a column of vectors."""
    for cell in values.tolist():
        if cell is not None and not (isinstance(cell, float) and math.isnan(cell)):
            return len(json.loads(cell) if isinstance(cell, str) else cell)
    raise CheckError(f"{where} column {values.name!r} holds no vector")


def _reference_vectors(data: pd.DataFrame, columns: Mapping[str, str], where: str) -> dict[str, Any]:
    """Each embedding's reference vectors from ``data``'s columns (a bounded sample, as the daemon's)."""
    out = {}
    for name, column in columns.items():
        if column not in data.columns:
            raise CheckError(f"{where} has no column {column!r} for embedding {name!r}")
        out[name] = references.embedding_sample(data[column], _dim(data[column], where), f"{where} {name!r}")
    return out


def load_profile(path: str | Path) -> ReferenceProfile:
    """Read a profile saved by `ReferenceProfile.save` or ``driftwatch profile``."""
    directory = Path(path)
    if not references.is_profile(directory):
        raise ReferenceDataError(
            f"{directory}: not a driftwatch profile (no profile.json); build one with driftwatch.profile(df)"
            ".save(path) or `driftwatch profile`"
        )
    return ReferenceProfile(references.load_profile(directory), references.load_labelled(directory))


def _options(
    columns: Sequence[str], method: str | Mapping[str, str], threshold: float | Mapping[str, float] | None
) -> dict[str, ColumnOptions]:
    methods = method if isinstance(method, Mapping) else dict.fromkeys(columns, method)
    thresholds = threshold if isinstance(threshold, Mapping) else dict.fromkeys(columns, threshold)
    for name in [*methods, *thresholds]:
        if name not in columns:
            raise CheckError(
                f"method/threshold for {name!r}, which is not checked; checked: {', '.join(columns)}"
            )
    for name, value in methods.items():
        if value != "auto" and value not in CATALOGUE:
            raise CheckError(
                f"method {value!r} for {name!r} is unknown; use auto or one of {', '.join(sorted(CATALOGUE))}"
            )
    for name, limit in thresholds.items():
        if limit is not None and not (math.isfinite(limit) and limit > 0):
            raise CheckError(
                f"threshold {limit} for {name!r} must be a finite number above 0: a p-value (e.g. 0.05) "
                "for tests, a distance (e.g. 0.1) for psi, wasserstein and the like"
            )
    return {c: ColumnOptions(methods.get(c, "auto"), thresholds.get(c)) for c in columns}


def _reference(
    reference: pd.DataFrame | ReferenceProfile,
) -> tuple[pd.DataFrame | profiles.ReferenceProfile, pd.DataFrame | None, list[str]]:
    if isinstance(reference, ReferenceProfile):
        return reference.profile, reference.labelled, reference.columns
    if not isinstance(reference, pd.DataFrame):
        raise CheckError(
            f"reference must be a pandas DataFrame or a driftwatch.ReferenceProfile, not {type(reference).__name__}"
        )
    if len(reference) == 0:
        raise CheckError("reference has no rows (only columns); there is nothing to compare with")
    return reference, reference, [str(c) for c in reference.columns]


def check(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    *,
    features: Sequence[str] | None = None,
    types: Mapping[str, ColumnType] | None = None,
    method: str | Mapping[str, str] = "auto",
    threshold: float | Mapping[str, float] | None = None,
    drift_share: float = 0.5,
    prediction: str | None = None,
    min_rows: int = MIN_ROWS_DEFAULT,
    segment: str | Sequence[str] | None = None,
    top_k: int = offline.SEGMENT_TOP_K_DEFAULT,
    segment_min_rows: int | None = None,
    multivariate: str | Sequence[str] | None = None,
    n_components: int | float = 0.65,
    embeddings: Mapping[str, str] | None = None,
    embedding_method: Literal["model", "ratio", "distance", "mmd"] = "model",
    classes: Sequence[Hashable] | None = None,
) -> CheckReport:
    """Check ``current`` for drift against ``reference``, as ``driftwatch check`` does.

    ``features``: the columns to check (default: every column both have, but ``prediction``).
    ``types``: "numeric" or "categorical" per column (default: from the reference's dtypes).
    ``method`` and ``threshold``: one for every column, or a mapping column -> value ("auto": the
    method Evidently would pick; threshold None: the method's default). ``drift_share``: dataset drift
    when at least this share of the columns drifts. ``prediction``: also check the prediction column's
    drift (a multiclass model's maps class -> probability: their predicted classes, the most probable,
    a tie going to the first of ``classes``, then sorted). Below ``min_rows`` current rows there is no verdict (``status`` "not_enough_rows").
    ``segment``: also check each segment of this categorical column (or of each of up to 3), as
    ``driftwatch check --segment``: the current data's ``top_k`` most frequent values, its rows missing
    the column and every other value, each against the reference's rows of the same value, with
    ``segment_min_rows`` (default ``min_rows``); see `CheckReport.segments`.
    ``multivariate``: also check the checked columns together with this multivariate drift method (or
    these), "reconstruction_error" (PCA with ``n_components``) or "domain_classifier_auroc" (a
    LightGBM classifier, 5 models per call), as the daemon's
    ``drift.multivariate`` does; the reference must be a DataFrame; see `CheckReport.multivariate_drift`.
    ``embeddings``: also check the drift of these embeddings, each name mapped to the column holding its
    vectors in ``current`` (and in ``reference``, unless it is a profile built with them), with
    ``embedding_method`` and its defaults (the daemon's embedding_drift check); see
    `CheckReport.embeddings`.
    """
    if not isinstance(current, pd.DataFrame):
        raise CheckError(f"current must be a pandas DataFrame, not {type(current).__name__}")
    if not 0 < drift_share <= 1:
        raise CheckError(f"drift_share {drift_share} must be in (0, 1], e.g. 0.5")
    if min_rows < 1:
        raise CheckError(f"min_rows {min_rows} must be at least 1 (1: a verdict on any number of rows)")
    reference, current = _maps(reference, prediction, "reference"), _maps(current, prediction, "current")
    data, labelled, available = _reference(reference)
    vectors = dict(embeddings or {})
    columns = (
        list(features)
        if features is not None
        else [
            c
            for c in offline.shared_columns(available, current, prediction, None)
            if c not in vectors.values()
        ]
    )
    result = offline.check_data(
        data,
        current,
        columns,
        dict(types or {}),
        _options(columns, method, threshold),
        drift_share,
        prediction,
        min_rows=min_rows,
        min_rows_from="min_rows",
        labelled=labelled,
        wording=_WORDING,
        classes=classes,
    )
    if multivariate is not None:
        methods = [multivariate] if isinstance(multivariate, str) else list(multivariate)
        if not isinstance(data, pd.DataFrame):
            raise CheckError(
                "multivariate drift is fitted on the reference's rows: pass the reference DataFrame, "
                "not a ReferenceProfile"
            )
        try:
            fitted = {
                m: fit_multivariate(m, data, result.types, MultivariateOptions(n_components=n_components))
                for m in methods
            }
        except ReferenceDataError as exc:
            raise CheckError(f"multivariate: {exc}") from None
        offline.multivariate(result, fitted, result.types)
    if vectors:
        if isinstance(reference, ReferenceProfile):
            absent = [name for name in vectors if name not in reference.profile.embeddings]
            if absent:
                raise CheckError(
                    f"the reference profile has no vectors of embedding(s) {', '.join(absent)}; build it "
                    "with driftwatch.profile(df, embeddings={name: column})"
                )
            found = {name: reference.profile.embeddings[name] for name in vectors}
        else:
            found = _reference_vectors(reference, vectors, "reference")
        offline.check_embeddings(
            result,
            found,
            current,
            {name: (column, found[name].shape[1]) for name, column in vectors.items()},
            [EmbeddingSpec(name, embedding_method) for name in vectors],
            min_rows,
            _WORDING,
        )
    if segment is None:
        return CheckReport(result)
    segment_columns = [segment] if isinstance(segment, str) else list(segment)
    if not 1 <= len(segment_columns) <= offline.SEGMENT_COLUMNS_MAX or len(set(segment_columns)) != len(
        segment_columns
    ):
        raise CheckError(
            f"segment {segment!r} must name 1 to {offline.SEGMENT_COLUMNS_MAX} distinct columns, e.g. "
            'segment="country"'
        )
    if not 1 <= top_k <= 200:
        raise CheckError(f"top_k {top_k} must be from 1 to 200 (default {offline.SEGMENT_TOP_K_DEFAULT})")
    if segment_min_rows is not None and segment_min_rows < 1:
        raise CheckError(f"segment_min_rows {segment_min_rows} must be at least 1 (default: min_rows)")
    segments: list[offline.SegmentCheck] = []
    for column in segment_columns:
        segments += offline.check_segments(
            data,
            current,
            column,
            top_k,
            min_rows if segment_min_rows is None else segment_min_rows,
            columns=columns,
            types=dict(types or {}),
            options=_options(columns, method, threshold),
            share=drift_share,
            prediction=prediction,
            min_rows_from="min_rows" if segment_min_rows is None else "segment_min_rows",
            labelled=labelled,
            wording=_WORDING,
            classes=classes,
        )
    return CheckReport(result, tuple(segments))


@dataclass(frozen=True)
class MetricEstimate:
    """An estimated metric and its sampling-error band [lower, upper], clipped to [0, 1]."""

    value: float
    lower: float
    upper: float


@dataclass(frozen=True)
class PerformanceEstimate:
    """CBPE's estimate of a binary classifier's performance on unlabelled current data.

    ``estimates`` maps each metric (accuracy, precision, recall, f1, roc_auc) to its estimate, and
    ``reference`` to the realized value on the reference; ``calibration`` is how the reference's scores
    became probabilities ("isotonic" or "none"). With fewer than ``min_rows`` current predictions there
    is no estimate: ``estimates`` is empty and ``note`` says why.
    """

    estimates: dict[str, MetricEstimate]
    reference: dict[str, float]
    rows: int
    calibration: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class RealizedMetrics:
    """Performance measured from labels: ``values`` on the current data's labelled rows, ``reference``
    on the reference's. Below ``min_labels`` labelled rows ``values`` is empty and ``note`` says why."""

    task: str
    values: dict[str, float]
    reference: dict[str, float]
    labelled_rows: int
    min_labels: int
    note: str | None = None

    @property
    def enough_labels(self) -> bool:
        return self.labelled_rows >= self.min_labels


def _maps(frame: _Frame, prediction: str | None, whose: str, error: type[Exception] = CheckError) -> _Frame:
    """``frame`` with its ``prediction`` column's maps class -> probability as dicts, as a reference file's
    are read (`driftwatch.reference.probability_maps`: lists of (class, probability) pairs, JSON text);
    ``frame`` itself when there is nothing to convert (or it is not a DataFrame)."""
    if not isinstance(frame, pd.DataFrame) or prediction is None or prediction not in frame.columns:
        return frame
    values = frame[prediction]
    try:
        found = references.probability_maps(values, f"{whose} column {prediction!r}")
    except ReferenceDataError as exc:
        raise error(str(exc)) from None
    if found is values:
        return frame
    out = frame.copy()
    out[prediction] = found
    return out


def _labelled(reference: pd.DataFrame | ReferenceProfile) -> pd.DataFrame:
    if isinstance(reference, ReferenceProfile):
        if reference.labelled is None:
            raise CheckError(
                "the reference profile keeps no labelled rows, which performance needs; build it with "
                "driftwatch.profile(df, prediction=..., label=...) or pass the reference DataFrame"
            )
        return reference.labelled
    if not isinstance(reference, pd.DataFrame):
        raise CheckError(
            f"reference must be a pandas DataFrame or a driftwatch.ReferenceProfile, not {type(reference).__name__}"
        )
    return reference


def estimate_performance(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    *,
    prediction: str,
    label: str,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
    calibration: Literal["auto", "isotonic", "none"] = "auto",
    min_rows: int = MIN_ROWS_DEFAULT,
    task: Literal["binary_classification", "multiclass_classification"] = "binary_classification",
) -> PerformanceEstimate:
    """Estimate a classifier's performance on ``current`` without its labels (CBPE).

    CBPE is fitted on the reference's ``prediction`` scores (the probability of the positive class) and
    ``label`` column, then estimates accuracy, precision, recall, f1 and roc_auc from the current scores
    alone. ``classes`` is (negative, positive), default (0, 1); a prediction >= ``threshold`` is positive.
    With ``task="multiclass_classification"`` each prediction is a map class -> probability (precision,
    recall and f1 are macro averages, roc_auc one-vs-rest; ``classes`` default: every class named).
    Raises `CheckError` when CBPE cannot estimate (hard labels instead of scores, too small a reference).
    """
    reference, current = _maps(reference, prediction, "reference"), _maps(current, prediction, "current")
    scores = current[prediction].dropna() if prediction in current.columns else current.iloc[:0]
    out = offline.performance_data(
        _labelled(reference),
        current.drop(columns=[label], errors="ignore"),  # an estimate: the current labels are not read
        task,
        prediction,
        label,
        threshold,
        classes,
        estimate=True,
        calibration=calibration,
        min_predictions=min_rows,
        wording=_WORDING,
    )
    return PerformanceEstimate(
        {metric: MetricEstimate(**values) for metric, values in out.get("estimated_performance", {}).items()},
        out["reference_performance"],
        len(scores),
        out["calibration"]["method"] if "calibration" in out else None,
        out.get("estimate_note"),
    )


def realized_performance(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    *,
    task: Task,
    prediction: str,
    label: str,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
    min_labels: int = MIN_LABELS_DEFAULT,
) -> RealizedMetrics:
    """Measure performance on ``current``'s labelled rows and on the reference's, for ``task``.

    Rows missing the prediction or the label are left out. A binary classifier's predictions are scores
    (positive when >= ``threshold``) or labels; ``classes`` is (negative, positive), or a multiclass
    model's classes. Below ``min_labels`` labelled current rows there is no figure (too few to tell a drop
    from noise): ``values`` is empty and ``note`` says so.
    """
    if label not in current.columns:
        raise CheckError(
            f"current has no label column {label!r} (it has {', '.join(map(str, current.columns))}); "
            "realized performance needs the labels: name the column with label=, or use estimate_performance"
        )
    if min_labels < 1:
        raise CheckError(f"min_labels {min_labels} must be at least 1")
    reference, current = _maps(reference, prediction, "reference"), _maps(current, prediction, "current")
    out = offline.performance_data(
        _labelled(reference),
        current,
        task,
        prediction,
        label,
        threshold,
        classes,
        estimate=False,
        min_labels=min_labels,
        wording=_WORDING,
    )
    labelled_rows = len(current[[prediction, label]].dropna())
    note = out.get("performance_note")
    if not labelled_rows:
        note = f"no labelled rows: no row of the current data has both {prediction!r} and {label!r}"
    return RealizedMetrics(
        task, out.get("performance", {}), out["reference_performance"], labelled_rows, min_labels, note
    )


def estimate_error(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    *,
    prediction: str,
    label: str,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
    calibration: Literal["auto", "isotonic", "none"] = "auto",
    min_labels: int = MIN_LABELS_DEFAULT,
    task: Task = "binary_classification",
    features: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> EstimateEvaluation:
    """How far the performance estimate is from the truth on ``current``'s labelled rows: the estimate
    made on exactly those rows against the metrics realized on them (``error = estimate - realized``,
    and whether the realized value fell inside the estimate's band), per metric, as ``driftwatch check``
    prints it and the daemon exports it (``driftwatch_estimated_performance_error``).

    The estimator is the daemon's for ``task``: CBPE on the scores of a binary classifier, multiclass
    CBPE on maps class -> probability (``task="multiclass_classification"``), DLE on ``features``
    (``categorical``: those declared so) beside the prediction of a regression
    (``task="regression"``; mae and rmse).

    ``metrics`` is empty when there are fewer than ``min_labels`` labelled rows (``rows`` says how many)
    or a metric is undefined on them (roc_auc on rows of a single class). Raises `CheckError` when the
    estimator cannot estimate at all (hard labels instead of scores, too small a reference, a regression
    without features).
    """
    if label not in current.columns:
        raise CheckError(
            f"current has no label column {label!r} (it has {', '.join(map(str, current.columns))}); "
            "scoring the estimate needs the labels of some of its rows"
        )
    if min_labels < 1:
        raise CheckError(f"min_labels {min_labels} must be at least 1")
    reference, current = _maps(reference, prediction, "reference"), _maps(current, prediction, "current")
    out = offline.performance_data(
        _labelled(reference),
        current,
        task,
        prediction,
        label,
        threshold,
        classes,
        estimate=True,
        calibration=calibration,
        min_labels=min_labels,
        wording=_WORDING,
        features=features,
        categorical=categorical,
    )
    labelled_rows = len(current[[prediction, label]].dropna())
    scored = out.get("estimate_error", {"metrics": {}})["metrics"]
    return EstimateEvaluation(
        labelled_rows,
        {
            metric: MetricEvaluation(
                m["estimate"],
                math.nan if m["lower"] is None else m["lower"],
                math.nan if m["upper"] is None else m["upper"],
                m["realized"],
            )
            for metric, m in scored.items()
        },
    )
