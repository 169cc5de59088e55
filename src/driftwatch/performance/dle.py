"""Estimated performance of a regression model before its labels arrive: DLE.

A regression model gives no confidence to read, so CBPE's trick does not apply. Direct loss
estimation (DLE, from NannyML) learns the model's mistakes instead: on the labelled reference,
every row's loss (``|y - y_hat|`` for mae, ``(y - y_hat)^2`` for mse and rmse, ...) becomes the
target of a second model, a LightGBM regressor fed the monitored model's features and its
prediction. On a window without labels, that model predicts each row's loss; the mean of the
predicted losses (clipped at 0) is the estimated mae or mse, its square root the estimated rmse.

    loss_i = L(y_i, y_hat_i)          fitted on the reference: g(x_i, y_hat_i) ~ loss_i
    estimate(window) = mean_i max(0, g(x_i, y_hat_i))           (sqrt of it for rmse, rmsle)

The loss model uses LightGBM's default hyperparameters, as NannyML does without tuning; categorical
features are coded as NannyML codes them (missing values one category, an unseen category its own
code), so the estimates match NannyML's to rounding (tests/conformance/test_dle_nannyml.py).

What DLE assumes, and when it is wrong:

* No concept drift: the relation between inputs, prediction and loss, P(loss | x, y_hat), is the
  same in production as in the reference. DLE sees covariate shift (inputs moving to regions where
  the model errs more or less) and nothing else; when the target's relation to the inputs changes,
  the estimate stays put while the real error moves, and only realized performance can show it.
* The reference covers the window's inputs: the loss model is flat beyond the reference's range
  (a tree model extrapolates nothing), so a window far outside it gets the loss of the reference's
  edge.
* The loss is learnable from the features the loss model sees. Noise that no feature explains is
  averaged in correctly (the loss model predicts its mean), but a loss driven by something that is
  not monitored cannot move the estimate.
* The loss model is fitted on the very rows whose losses it learns, as NannyML does: its estimate of
  the reference itself is in-sample and a little optimistic.

Each estimate comes with a sampling-error band, value +/- 3 sigma, clipped at 0, where sigma is
NannyML's: the standard deviation of the reference's per-row loss over sqrt(rows) for the means
(mae, mse, mape, msle), and by the delta method ``std(loss) / (2 sqrt(rows * mean(loss)))`` for
their square roots (rmse, rmsle). The band answers "how far could the realized metric fall from this
estimate by chance in a window this small".

Reference: NannyML, "Direct Loss Estimation (DLE)",
https://nannyml.readthedocs.io/en/stable/how_it_works/performance_estimation.html
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.drift.profile import category_keys
from driftwatch.errors import DLEError
from driftwatch.performance.cbpe import BAND_SIGMAS, Estimate, EstimatedPerformance
from driftwatch.performance.metrics import FloatArray, Threshold, breaches

__all__ = [
    "DAEMON_METRICS",
    "DLE",
    "DLE_METRICS",
    "MIN_REFERENCE_ROWS",
    "DLEError",
    "categorical_columns",
    "losses",
]

DLE_METRICS = ("mae", "mape", "mse", "rmse", "msle", "rmsle")
"""Every metric DLE estimates, in NannyML's order."""

DAEMON_METRICS = ("mae", "rmse")
"""What the daemon estimates: one loss model each, fitted once at start-up."""

MIN_REFERENCE_ROWS = 100
"""Below this, a loss model learns nothing a constant would not (LightGBM's leaves need 20 rows each)."""

_ROOTS = {"rmse": "mse", "rmsle": "msle"}  # estimated as the square root of another metric's mean loss
_LOGARITHMIC = ("msle", "rmsle")
_EPSILON = float(np.finfo(np.float64).eps)
_MISSING = "NML_missing_value"  # NannyML's category for a missing categorical value
_PARALLEL_ROWS = 1000
"""Rows times models from which a window's losses are predicted on every core: below, starting the
threads costs about what they save."""
_THREAD_PARAMETERS = ("num_threads", "num_thread", "nthread", "nthreads", "n_jobs")  # LightGBM's aliases


def losses(metric: str, truth: FloatArray, predicted: FloatArray) -> FloatArray:
    """Per-row loss whose mean is ``metric`` (whose mean's square root, for rmse and rmsle)."""
    error: FloatArray = truth - predicted
    if metric == "mae":
        return np.abs(error)
    if metric == "mape":  # scikit-learn's: a true 0 divides by machine epsilon
        return np.abs(error) / np.maximum(_EPSILON, np.abs(truth))
    if metric in ("mse", "rmse"):
        return np.square(error)
    if metric in _LOGARITHMIC:
        logged: FloatArray = np.log1p(truth) - np.log1p(predicted)
        return np.square(logged)
    raise DLEError(f"DLE has no metric {metric!r}; it estimates {', '.join(DLE_METRICS)}")


def _lightgbm() -> Any:
    try:
        import lightgbm
    except ImportError:  # pragma: no cover - a declared dependency
        raise DLEError(
            "regression estimates need lightgbm: install it (pip install 'lightgbm>=4.5')"
        ) from None
    return lightgbm


@dataclass(frozen=True)
class _Coding:
    """How one categorical feature becomes numbers for LightGBM: NannyML's ordinal codes plus one, so
    that 0 is the code of a category the reference never had (and -1, LightGBM's missing, never
    appears); a missing value is a category of its own."""

    codes: dict[object, float]

    @classmethod
    def fit(cls, values: pd.Series) -> _Coding:
        keys = _keys(values)
        return cls({key: float(code + 1) for code, key in enumerate(sorted(set(keys.tolist())))})

    @cached_property
    def _index(self) -> pd.Index:
        # the keys in code order: a key's position plus one is its code, -1 + 1 = 0 an unseen key's
        return pd.Index(list(self.codes), dtype=object)

    def apply(self, values: pd.Series) -> FloatArray:
        coded: FloatArray = (self._index.get_indexer(pd.Index(_keys(values), dtype=object)) + 1).astype(
            np.float64
        )
        return coded


def _keys(values: pd.Series) -> npt.NDArray[np.object_]:
    keys = category_keys(values.to_numpy(dtype=object))
    keys[pd.isna(keys)] = _MISSING
    return keys


def _numbers(values: pd.Series, what: str) -> FloatArray:
    """A column as float64, missing values NaN; `DLEError` quoting a value that is not a number."""
    if pd.api.types.is_bool_dtype(values) or _plain_numbers(values):
        return values.to_numpy(dtype=np.float64)
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna()
    if bad.any():
        raise DLEError(
            f"{what} holds {values[bad].iloc[0]!r}, not a number; log numbers there, or declare the "
            "column categorical"
        )
    array: FloatArray = numbers.to_numpy(dtype=np.float64)
    return array


def _plain_numbers(values: pd.Series) -> bool:
    """Whether the column is numpy floats or integers: every value a number (or NaN), nothing to coerce."""
    return isinstance(values.dtype, np.dtype) and values.dtype.kind in "fiu"


def categorical_columns(frame: pd.DataFrame, features: Sequence[str]) -> list[str]:
    """NannyML's rule: a feature is categorical when its dtype is text, category or bool."""
    return [
        c
        for c in features
        if frame[c].dtype == object
        or isinstance(frame[c].dtype, pd.CategoricalDtype | pd.StringDtype)
        or pd.api.types.is_bool_dtype(frame[c])
    ]


class DLE:
    """Estimated mae, rmse (and mse, mape, msle, rmsle) of a regression model from its inputs alone.

    Build it with `DLE.fit` on a labelled reference frame, then call `estimate` or
    `estimated_performance` on each window's frame (features and prediction; labels are not read).
    See the module docstring for the method and its assumptions.

    >>> rng = np.random.default_rng(0)
    >>> x = rng.uniform(0, 4, size=5_000)
    >>> reference = pd.DataFrame({"x": x, "y_hat": np.zeros(5_000), "y": rng.normal(scale=x)})
    >>> dle = DLE.fit(reference, ["x"], "y_hat", "y")  # the model errs more where x is large
    >>> round(dle.reference["mae"], 2)
    1.59
    >>> window = pd.DataFrame({"x": rng.uniform(3, 4, size=1_000), "y_hat": np.zeros(1_000)})
    >>> mae = dle.estimate(window)["mae"]
    >>> round(mae.value, 1), mae.lower < mae.value < mae.upper
    (2.8, True)
    """

    def __init__(
        self,
        features: tuple[str, ...],
        categorical: tuple[str, ...],
        prediction: str,
        codings: dict[str, _Coding],
        models: dict[str, Any],
        reference: dict[str, float],
        reference_rows: int,
        sigma_parts: dict[str, tuple[float, float]],
        threads: Mapping[str, Any] | None = None,
    ) -> None:
        self.features = features
        self.categorical = categorical
        self.prediction = prediction
        self._codings = codings
        self._models = models
        self.reference = reference
        self.reference_rows = reference_rows
        self._sigma_parts = sigma_parts
        self._threads = dict(threads or {"num_threads": 1})

    @property
    def metrics(self) -> tuple[str, ...]:
        return tuple(self.reference)

    @classmethod
    def fit(
        cls,
        reference: pd.DataFrame,
        features: Sequence[str],
        prediction: str,
        label: str,
        *,
        metrics: Sequence[str] = DAEMON_METRICS,
        categorical: Sequence[str] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
    ) -> DLE:
        """One loss model per metric, fitted on the reference rows that have both a prediction and a label.

        ``features`` feed the loss models with the ``prediction``; ``categorical`` names the categorical
        ones (default: NannyML's rule, text, category and bool columns). ``hyperparameters`` are LightGBM
        parameters (``lightgbm.train``'s; LGBMRegressor's names are aliases of them, ``n_estimators``
        included); by default LightGBM's own, as NannyML's, on one thread. Raises `DLEError` naming
        the column and the fix when a column is missing or not numeric, when fewer than
        `MIN_REFERENCE_ROWS` rows are labelled, or when msle/rmsle meet a value below -1.
        """
        unknown = [m for m in metrics if m not in DLE_METRICS]
        if unknown or not metrics:
            raise DLEError(
                f"DLE has no metric {', '.join(map(repr, unknown)) or '(none given)'}; "
                f"it estimates {', '.join(DLE_METRICS)}"
            )
        features = tuple(dict.fromkeys(f for f in features if f not in (prediction, label)))
        missing = [c for c in (*features, prediction, label) if c not in reference.columns]
        if missing:
            raise DLEError(
                f"the reference has no column(s) {', '.join(missing)} (it has "
                f"{', '.join(map(str, reference.columns))}); DLE fits on the features, the prediction "
                "and the label of the same rows"
            )
        rows = reference[[*features, prediction, label]]
        truth_all = _numbers(rows[label], f"the reference's label column {label!r}")
        predicted_all = _numbers(rows[prediction], f"the reference's prediction column {prediction!r}")
        labelled = np.isfinite(truth_all) & np.isfinite(predicted_all)
        count = int(labelled.sum())
        if count < MIN_REFERENCE_ROWS:
            raise DLEError(
                f"the reference has {count} rows with both a prediction in {prediction!r} and a label in "
                f"{label!r}; DLE needs at least {MIN_REFERENCE_ROWS} labelled rows to learn the model's "
                "loss"
            )
        rows = rows.loc[labelled]
        truth, predicted = truth_all[labelled], predicted_all[labelled]
        if any(m in _LOGARITHMIC for m in metrics) and min(truth.min(), predicted.min()) <= -1:
            raise DLEError(
                f"msle and rmsle take log(1 + value), and {label!r} or {prediction!r} holds values at or "
                "below -1; estimate mae, rmse, mse or mape instead"
            )
        chosen = tuple(categorical) if categorical is not None else tuple(categorical_columns(rows, features))
        chosen = tuple(c for c in features if c in chosen)
        codings = {c: _Coding.fit(rows[c]) for c in chosen}
        matrix = _matrix(rows, features, codings, prediction, predicted)
        lightgbm = _lightgbm()
        # one thread: the same trees (histogram sums differ in the last bits at most), and on a machine
        # whose cores are busy, OpenMP's threads wait for each other: 1.4 s instead of 41 s to fit six
        # loss models on 20,000 rows with two busy cores (bench/dle.py times it)
        # LightGBM's native API with LGBMRegressor's defaults (which are LightGBM's own: 100 trees of 31
        # leaves, learning rate 0.1, 20 rows a leaf): the sklearn wrapper adds nothing here, and
        # lightgbm 4.5's breaks with scikit-learn 1.6+ on numpy input
        params = {"objective": "regression", "verbose": -1, "num_threads": 1, **(hyperparameters or {})}
        positions = [features.index(c) for c in chosen]
        reference_values: dict[str, float] = {}
        sigma_parts: dict[str, tuple[float, float]] = {}
        targets: dict[str, FloatArray] = {}  # one loss model per loss: rmse's is mse's, rmsle's msle's
        for metric in metrics:
            loss = losses(metric, truth, predicted)
            targets.setdefault(_ROOTS.get(metric, metric), loss)
            mean = float(loss.mean())
            reference_values[metric] = math.sqrt(mean) if metric in _ROOTS else mean
            sigma_parts[metric] = (float(np.std(loss)), mean)
        threads = {key: value for key, value in params.items() if key in _THREAD_PARAMETERS}
        # one-thread models trained side by side, one Python thread per core (LightGBM lets go of the GIL
        # while it trains): the same trees, in a fraction of the time, and no OpenMP threads spinning on
        # busy cores; a thread count of the caller's trains them one after the other
        workers = min(len(targets), _cores()) if threads == {"num_threads": 1} else 1
        groups = [list(targets)[start::workers] for start in range(workers)]

        def train(group: list[str]) -> dict[str, Any]:
            return _train(lightgbm, params, matrix, positions, {loss: targets[loss] for loss in group})

        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                trained = {loss: model for part in pool.map(train, groups) for loss, model in part.items()}
        else:
            trained = train(groups[0])
        models = {metric: trained[_ROOTS.get(metric, metric)] for metric in metrics}
        # predictions on the training's threads (by default one: LightGBM's predict would otherwise start
        # a thread per core for every window, and on busy cores they wait for each other)
        return cls(
            features, chosen, prediction, codings, models, reference_values, count, sigma_parts, threads
        )

    def sigma(self, metric: str, rows: int) -> float:
        """NannyML's sampling error of ``metric`` over windows of ``rows`` reference-like rows."""
        return self._sigma(metric, rows)

    def _sigma(self, metric: str, rows: float) -> float:
        std, mean = self._sigma_parts[metric]
        if metric in _ROOTS:
            return math.sqrt(std**2 / (4 * rows * mean)) if mean > 0 else 0.0
        return std / math.sqrt(rows)

    def row_losses(self, window: pd.DataFrame) -> dict[str, FloatArray]:
        """Each metric's predicted loss of every row of ``window`` that has a prediction (clipped at 0)."""
        missing = [c for c in (*self.features, self.prediction) if c not in window.columns]
        if missing:
            raise DLEError(
                f"the window has no column(s) {', '.join(missing)}; DLE reads the features it was "
                "fitted on and the prediction"
            )
        predicted = _numbers(window[self.prediction], f"the prediction column {self.prediction!r}")
        kept = np.isfinite(predicted)
        matrix = _matrix(window, self.features, self._codings, self.prediction, predicted, lenient=True)
        if not kept.all():
            matrix = matrix[kept]
        if not len(matrix):
            return {metric: np.empty(0) for metric in self._models}
        distinct = {id(model): model for model in self._models.values()}  # rmse's model is mse's
        predicted_losses = self._predict(list(distinct.values()), matrix)
        return {metric: predicted_losses[id(model)] for metric, model in self._models.items()}

    def _predict(self, models: list[Any], matrix: FloatArray) -> dict[int, FloatArray]:
        """Each model's predicted losses (clipped at 0) of the matrix's rows, by the model's id.

        With one-thread models and a large window, the models, and blocks of rows, are predicted side by
        side, one Python thread per core (LightGBM lets go of the GIL while it predicts; every row is
        predicted on its own, so the blocks give the same numbers as the whole)."""
        workers = _cores() if self._threads == {"num_threads": 1} else 1
        if workers == 1 or len(matrix) * len(models) < _PARALLEL_ROWS:
            parts = [(model, [matrix]) for model in models]
            predicted = {
                id(model): [np.asarray(model.predict(block, **self._threads)) for block in blocks]
                for model, blocks in parts
            }
        else:
            per_model = -(-workers // len(models))
            blocks = np.array_split(matrix, per_model)
            tasks = [(model, block) for model in models for block in blocks]
            with ThreadPoolExecutor(workers) as pool:
                done = list(
                    pool.map(lambda task: np.asarray(task[0].predict(task[1], **self._threads)), tasks)
                )
            predicted = {
                id(model): done[i * per_model : (i + 1) * per_model] for i, model in enumerate(models)
            }
        return {
            key: np.maximum(0.0, np.concatenate(parts).astype(np.float64)) for key, parts in predicted.items()
        }

    def estimate(
        self, window: pd.DataFrame, sample_weight: npt.ArrayLike | None = None
    ) -> dict[str, Estimate]:
        """Each fitted metric for the window's rows with a prediction, with its band (lower clipped at 0).

        ``sample_weight`` (one per row of ``window``: a sampled stream's inverse sampling rates, as
        realized performance takes them) makes each estimate the weighted mean of the predicted losses,
        as the realized metric is the weighted mean of the losses; sigma is then scaled to the weights'
        effective size (sum w)^2 / sum w^2 of the rows with a prediction."""
        return self._estimate(window, sample_weight)[1]

    def _estimate(
        self, window: pd.DataFrame, sample_weight: npt.ArrayLike | None = None
    ) -> tuple[int, dict[str, Estimate]]:
        predicted = self.row_losses(window)
        rows = len(next(iter(predicted.values())))
        if not rows:
            raise DLEError(f"the window has no values in {self.prediction!r} to estimate from")
        w = np.ones(rows)
        size = float(rows)
        if sample_weight is not None:
            given = np.asarray(sample_weight, dtype=np.float64)
            if given.shape != (len(window),) or not np.isfinite(given).all() or (given < 0).any():
                raise DLEError(f"sample_weight must be {len(window)} finite weights >= 0")
            kept = np.isfinite(pd.to_numeric(window[self.prediction], errors="coerce").to_numpy(np.float64))
            w = given[kept]
            if not w.sum() > 0:
                raise DLEError("sample_weight is 0 on every row with a prediction")
            size = float(w.sum() ** 2 / (w**2).sum())  # Kish's effective sample size
        result = {}
        for metric, loss in predicted.items():
            mean = float(np.average(loss, weights=w))
            value = math.sqrt(mean) if metric in _ROOTS else mean
            sigma = self._sigma(metric, size)
            band = BAND_SIGMAS * sigma
            result[metric] = Estimate(value, max(0.0, value - band), value + band, sigma)
        return rows, result

    def estimated_performance(
        self, window: pd.DataFrame, rules: Mapping[str, Threshold] | None = None
    ) -> EstimatedPerformance:
        """`estimate` for a window, with each estimate checked against ``rules`` and the reference."""
        unknown = set(rules or {}) - set(self.metrics)
        if unknown:
            raise ValueError(
                f"DLE was fitted for {', '.join(self.metrics)}; it has no {', '.join(sorted(unknown))}"
            )
        rows, estimates = self._estimate(window)
        values = {metric: estimate.value for metric, estimate in estimates.items()}
        flagged = breaches(values, self.reference, rules or {})
        return EstimatedPerformance(rows, estimates, dict(self.reference), flagged, None)


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


def _train(
    lightgbm: Any,
    params: dict[str, Any],
    matrix: FloatArray,
    positions: list[int],
    targets: dict[str, FloatArray],
) -> dict[str, Any]:
    """One LightGBM loss model per target, fitted one after the other on one Dataset of ``matrix``.

    Its bins are the features' alone (the same parameters bin the same matrix the same way), so every
    model gets the same trees as from a Dataset of its own, and the matrix is binned once. Each model is
    kept as trained rather than written to text and read back (lightgbm.train's default, which gives the
    same trees). The raw matrix stays with the Dataset until the last model is fitted, as lightgbm 4.5's
    train needs to see the categorical features again.
    """
    data = lightgbm.Dataset(
        matrix, categorical_feature=positions or "auto", params=params, free_raw_data=False
    )
    models = {}
    for name, target in targets.items():
        data.set_label(target)
        models[name] = lightgbm.train(params, data, num_boost_round=100, keep_training_booster=True)
    for model in models.values():
        model.free_dataset()
    return models


def _matrix(
    rows: pd.DataFrame,
    features: tuple[str, ...],
    codings: Mapping[str, _Coding],
    prediction: str,
    predicted: FloatArray,
    lenient: bool = False,
) -> FloatArray:
    """The loss model's inputs: features in order (categorical ones coded), then the prediction.
    ``lenient``: a value of a numeric feature that is not a number is missing (a window's bad record
    is the quality check's business), rather than an error (the reference's)."""
    columns = []
    for feature in features:
        values = rows[feature]
        if feature in codings:
            columns.append(codings[feature].apply(values))
        elif lenient and not _plain_numbers(values):
            columns.append(pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64))
        elif lenient:
            columns.append(values.to_numpy(dtype=np.float64))
        else:
            columns.append(_numbers(values, f"the reference's feature {feature!r}"))
    columns.append(predicted)
    return np.column_stack(columns) if len(rows) else np.empty((0, len(features) + 1))
