"""The catalogue of multivariate drift methods, as the daemon, ``driftwatch check`` and the API run them.

A method is fitted once on the reference frame and then scores every window: one number for the
window (``value``), its thresholds, whether it alerts. Each method is one `MultivariateMethod` in
`METHODS` (a fit and a load from saved state), so the checks, the config and the saved profile know
every method by its name alone; adding one is a fit function, a fitted class and one line here.

Thresholds follow NannyML's rule (the mean of the reference's chunk values -+ 3 of their standard
deviations) with one change for windows: the spread of a mean over ``n`` rows shrinks as
``1/sqrt(n)``, and a daemon window holds as many rows as traffic gave it, not the reference chunks'
size. So the reference is split into chunks of ``chunk_size`` rows (the short last chunk left out),
and a window of ``n`` rows is judged against the chunks' spread scaled by ``sqrt(chunk_size / n)``:
exactly NannyML's thresholds (chunks of ``chunk_size``) when ``n == chunk_size``, and neither
blind nor jumpy for smaller or larger windows. bench/multivariate_window.py measures the false
alarms and the detection this gives.

Frames are typed by the model's column types, not by their dtypes: numeric columns are read as
numbers (text that does not parse is missing), categorical columns as the canonical keys the
per-feature tests use (`driftwatch.drift.profile.category_keys`: ``1``, ``1.0`` and ``"1"`` are one
category), with missing values imputed as the method says. A CSV reference, a Parquet one and
JSON records thus encode alike.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.drift.domain_classifier import DomainClassifierDrift, fit_domain_classifier
from driftwatch.drift.multivariate import ReconstructionDrift, fit_reconstruction_drift
from driftwatch.drift.profile import ColumnType, category_keys
from driftwatch.errors import ReferenceDataError

__all__ = [
    "DOMAIN_CLASSIFIER_ROWS",
    "METHODS",
    "FittedMultivariate",
    "MultivariateDrift",
    "MultivariateMethod",
    "MultivariateOptions",
    "MultivariateResult",
    "default_chunk_size",
    "fit_multivariate",
    "load_multivariate",
    "segment_fit_shortfall",
    "typed_frame",
]

Floats = npt.NDArray[np.float64]

# the reference gives at least this many chunks by default: NannyML's 10 estimate the chunks' spread so
# roughly that one reference gave 7% false alarms on undrifted 500-row windows and another 0.2%; with
# 100 the rate stays near 0.5% (bench/multivariate_window.py, README "Multivariate drift")
REFERENCE_CHUNKS = 100

# the domain classifier trains on the reference's rows and the window's at every check: it keeps a
# fixed-seed sample of at most this many reference rows, so that a check (5 LightGBM models) takes
# about a second (bench/domain_classifier_window.py, README "Multivariate drift")
DOMAIN_CLASSIFIER_ROWS = 10_000
DOMAIN_CLASSIFIER_SEED = 0


@dataclass(frozen=True)
class MultivariateOptions:
    """How a method is fitted: ``n_components`` (reconstruction error: a share of explained variance in
    (0, 1) or a number of components), ``chunk_size`` (rows per reference chunk for the thresholds; None:
    `default_chunk_size` of the reference's rows and ``max_chunk_size``) and ``std_multiplier`` (thresholds at the chunks' mean
    -+ this many standard deviations)."""

    n_components: int | float = 0.65
    chunk_size: int | None = None
    std_multiplier: float = 3.0
    max_chunk_size: int | None = None  # without chunk_size: the window's cap (max_rows)

    def chunk_size_for(self, reference_rows: int) -> int:
        """The rows per reference chunk for a reference of ``reference_rows`` rows."""
        return self.chunk_size or default_chunk_size(reference_rows, self.max_chunk_size)


@dataclass(frozen=True)
class MultivariateResult:
    """One method's finding on one window: its ``value`` against the thresholds for the window's rows;
    ``alert`` when the value is not strictly between them (a None threshold is open)."""

    method: str
    value: float
    lower_threshold: float | None
    upper_threshold: float | None
    alert: bool
    rows: int
    chunk_size: int  # rows per reference chunk behind the thresholds (scaled to ``rows``); 0: constant ones
    details: Mapping[str, float | int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "value": self.value if math.isfinite(self.value) else None,
            "lower_threshold": self.lower_threshold,
            "upper_threshold": self.upper_threshold,
            "alert": self.alert,
            "rows": self.rows,
            "chunk_size": self.chunk_size,
            **{key: value if math.isfinite(value) else None for key, value in self.details.items()},
        }


@dataclass(frozen=True)
class MultivariateDrift:
    """The methods' results on one window, by method (an empty mapping without a verdict)."""

    results: Mapping[str, MultivariateResult] = field(default_factory=dict)

    @property
    def alert(self) -> bool:
        return any(result.alert for result in self.results.values())

    def as_dict(self) -> dict[str, Any]:
        return {method: result.as_dict() for method, result in self.results.items()}


class FittedMultivariate(Protocol):
    """A method fitted on a reference: scores a typed frame, and gives its state for a saved profile."""

    @property
    def method(self) -> str: ...

    @property
    def columns(self) -> tuple[str, ...]: ...

    def result(self, frame: pd.DataFrame) -> MultivariateResult:
        """The window's value and thresholds; ``frame`` typed by `typed_frame`."""
        ...

    def state(self) -> tuple[dict[str, Any], dict[str, Floats]]:
        """JSON-ready settings and named float arrays (kept as Parquet) that `MultivariateMethod.load` reads."""
        ...


@dataclass(frozen=True)
class MultivariateMethod:
    """One method of the catalogue: what it measures, its fit on a typed reference frame, and its load
    from the state a saved profile keeps."""

    name: str
    summary: str
    fit: Callable[[pd.DataFrame, Sequence[str], MultivariateOptions], FittedMultivariate]
    load: Callable[[Mapping[str, Any], Mapping[str, Floats], MultivariateOptions], FittedMultivariate]


def default_chunk_size(reference_rows: int, max_rows: int | None = None) -> int:
    """Rows per reference chunk: the window's cap (``max_rows``), but small enough for the reference to
    give `REFERENCE_CHUNKS` chunks, and at least 2 rows."""
    size = reference_rows // REFERENCE_CHUNKS
    if max_rows is not None:
        size = min(size, max_rows)
    return max(size, 2)


# a segment's methods are fitted on the reference rows of its value when those rows give at least this
# many chunks for the reconstruction error's thresholds (NannyML's default count), at least the
# segment's min_rows, at least SEGMENT_FIT_ROWS and at least the rows of the window they judge: a PCA
# fitted on few rows rebuilds them better than new rows, so large windows of a small reference's own
# distribution breach (bench/multivariate_window.py: 9 columns, a 2,000-row reference gave 2% false
# alarms on 500-row windows and 23-38% on 2,000-row ones; 5,000 rows gave 0-1.3% on windows of up to
# 5,000 rows and 8% on 10,000; 10,000 rows 0-2% up to 20,000; README "Multivariate drift")
SEGMENT_MIN_CHUNKS = 10
SEGMENT_FIT_ROWS = 5_000


def segment_fit_shortfall(
    rows: int, min_rows: int, window_rows: int, options: MultivariateOptions, label: str
) -> str | None:
    """Why ``rows`` reference rows of the segment ``label`` are too few to fit the multivariate methods
    on for windows of up to ``window_rows`` rows (a note ending "judged by the model's fitted
    methods"), None when they are enough: at least ``min_rows``, `SEGMENT_FIT_ROWS`, ``window_rows``
    and `SEGMENT_MIN_CHUNKS` chunks of the chunk size ``options`` gives them."""
    chunk = options.chunk_size_for(rows)
    need = max(min_rows, SEGMENT_FIT_ROWS, window_rows, SEGMENT_MIN_CHUNKS * chunk)
    if rows >= need:
        return None
    return (
        f"the reference has {rows} rows of {label}, fewer than the {need} multivariate drift needs to fit "
        f"on them (at least {SEGMENT_FIT_ROWS}, the segment's window rows and min_rows, and "
        f"{SEGMENT_MIN_CHUNKS} chunks of {chunk} rows): its multivariate drift is judged by the model's "
        "fitted methods"
    )


def typed_frame(frame: pd.DataFrame, types: Mapping[str, ColumnType]) -> pd.DataFrame:
    """The columns of ``types`` as the methods read them: numeric as float64 (unparsable and infinite
    values missing), categorical as canonical keys (missing as NaN)."""
    data: dict[str, Any] = {}
    for column, kind in types.items():
        series = frame[column]
        if kind == "numeric":
            values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            values = np.array(values, dtype=np.float64)
            values[np.isinf(values)] = np.nan
            data[column] = values
        else:
            keys = category_keys(series.to_numpy(dtype=object))
            keys[pd.isna(keys)] = np.nan  # missing, imputed; not a category of its own
            data[column] = keys
    return pd.DataFrame(data, index=pd.RangeIndex(len(frame)))


def _chunk_spread(row_errors: Floats, chunk_size: int) -> tuple[float, float, int]:
    """The mean and standard deviation (ddof 0) of the means of consecutive chunks of ``chunk_size``
    reference rows (the short last chunk left out), and the number of chunks."""
    chunks = len(row_errors) // chunk_size
    if chunks < 2:
        raise ReferenceDataError(
            f"the reference's {len(row_errors)} rows give {chunks} chunk(s) of {chunk_size} rows; the "
            f"thresholds need at least 2: lower chunk_size to at most {len(row_errors) // 2} or give more rows"
        )
    means = row_errors[: chunks * chunk_size].reshape(chunks, chunk_size).mean(axis=1)
    return float(means.mean()), float(means.std()), chunks


class ReconstructionError:
    """PCA reconstruction error (`driftwatch.drift.multivariate`): the window's mean error against the
    reference chunks' spread scaled to the window's rows. ``row_errors``: the reference rows' errors,
    in row order; ``n_components``: the setting the model was fitted with."""

    method = "reconstruction_error"

    def __init__(
        self,
        model: ReconstructionDrift,
        row_errors: Floats,
        chunk_size: int,
        n_components: int | float,
        std_multiplier: float = 3.0,
    ) -> None:
        self.model = model
        self.row_errors = row_errors
        self.chunk_size = chunk_size
        self.n_components = n_components
        self.std_multiplier = std_multiplier
        self._centre, self._spread, self._chunks = _chunk_spread(row_errors, chunk_size)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.model.columns

    def thresholds(self, rows: int) -> tuple[float | None, float]:
        """The thresholds for a window of ``rows`` rows (None: no lower threshold, as an error is >= 0)."""
        spread = self._spread * math.sqrt(self.chunk_size / rows) * self.std_multiplier
        lower = self._centre - spread
        return (lower if lower > 0.0 else None), self._centre + spread

    def result(self, frame: pd.DataFrame) -> MultivariateResult:
        errors = self.model.row_errors(frame)
        rows = int(errors.size)
        if rows == 0:
            raise ValueError("the window has no rows; a reconstruction error needs at least one")
        value = float(errors.mean())
        lower, upper = self.thresholds(rows)
        alert = not ((-math.inf if lower is None else lower) < value < upper)
        sampling = float(errors.std(ddof=1) / math.sqrt(rows)) if rows > 1 else math.nan
        return MultivariateResult(
            self.method,
            value,
            lower,
            upper,
            alert,
            rows,
            self.chunk_size,
            {
                "sampling_error": sampling,
                "n_components": self.model.n_components,
                "explained_variance": self.model.explained_variance,
                "reference_chunks": self._chunks,
            },
        )

    def state(self) -> tuple[dict[str, Any], dict[str, Floats]]:
        return {"n_components": self.n_components, "model": self.model.state()}, {
            "row_errors": self.row_errors
        }


def _fit_reconstruction(
    reference: pd.DataFrame, columns: Sequence[str], options: MultivariateOptions
) -> ReconstructionError:
    chunk_size = options.chunk_size_for(len(reference))
    model = fit_reconstruction_drift(reference, columns, n_components=options.n_components)
    return ReconstructionError(
        model, model.row_errors(reference), chunk_size, options.n_components, options.std_multiplier
    )


def _load_reconstruction(
    meta: Mapping[str, Any], arrays: Mapping[str, Floats], options: MultivariateOptions
) -> ReconstructionError:
    if meta["n_components"] != options.n_components:
        raise ReferenceDataError(
            f"the saved profile's reconstruction model was fitted with n_components {meta['n_components']}, "
            f"not {options.n_components}; rebuild the profile with `driftwatch profile --config ... --model ...` "
            "or set n_components to the profile's"
        )
    model = ReconstructionDrift.from_state(dict(meta["model"]))
    row_errors = np.asarray(arrays["row_errors"], dtype=np.float64)
    chunk_size = options.chunk_size_for(len(row_errors))
    return ReconstructionError(model, row_errors, chunk_size, options.n_components, options.std_multiplier)


class DomainClassifierAuroc:
    """NannyML's domain classifier (`driftwatch.drift.domain_classifier`): the cross-validated AUROC of
    LightGBM telling the window's rows from the reference's, against NannyML's constant thresholds
    (0.45, 0.65), which do not depend on the window's rows. ``sample``: the typed reference rows the
    classifier trains on (at most `DOMAIN_CLASSIFIER_ROWS`, see `_reference_sample`);
    ``reference_rows``: the reference's rows before sampling."""

    method = "domain_classifier_auroc"

    def __init__(self, sample: pd.DataFrame, columns: Sequence[str], reference_rows: int) -> None:
        self.sample = sample
        self.reference_rows = reference_rows
        # the thresholds are constant: the reference's own chunks are not scored
        self.model: DomainClassifierDrift = fit_domain_classifier(sample, columns, score_reference=False)

    @property
    def columns(self) -> tuple[str, ...]:
        return self.model.columns

    def result(self, frame: pd.DataFrame) -> MultivariateResult:
        if len(frame) == 0:
            raise ValueError("the window has no rows; a domain classifier needs at least one")
        found = self.model.result(frame)
        return MultivariateResult(
            self.method,
            found.auroc,
            found.lower_threshold,
            found.upper_threshold,
            found.alert,
            found.rows,
            0,  # constant thresholds: no reference chunks behind them
            {"reference_rows": self.reference_rows, "reference_sample_rows": found.reference_rows},
        )

    def state(self) -> tuple[dict[str, Any], dict[str, Floats]]:
        """The sampled rows: numeric columns as numbers, categorical ones as positions in their sorted
        distinct values (kept in the settings), missing as NaN."""
        categories: dict[str, list[str]] = {}
        arrays: dict[str, Floats] = {}
        for i, column in enumerate(self.sample.columns):
            values = self.sample[column]
            if not pd.api.types.is_numeric_dtype(values.dtype):
                keys = values.to_numpy(dtype=object)
                present = pd.notna(keys)
                distinct = sorted({str(key) for key in keys[present]})
                position = {key: float(k) for k, key in enumerate(distinct)}
                codes = np.full(len(keys), np.nan)
                codes[present] = [position[str(key)] for key in keys[present]]
                categories[str(column)] = distinct
                arrays[f"column{i}"] = codes
            else:
                arrays[f"column{i}"] = values.to_numpy(dtype=np.float64)
        meta = {
            "columns": [str(column) for column in self.sample.columns],
            "categories": categories,
            "reference_rows": self.reference_rows,
        }
        return meta, arrays


def _reference_sample(reference: pd.DataFrame) -> pd.DataFrame:
    """At most `DOMAIN_CLASSIFIER_ROWS` rows of ``reference``, drawn with a fixed seed and kept in their
    order (the folds follow it), renumbered from 0."""
    if len(reference) <= DOMAIN_CLASSIFIER_ROWS:
        return reference.reset_index(drop=True)
    rows = np.random.default_rng(DOMAIN_CLASSIFIER_SEED).choice(
        len(reference), size=DOMAIN_CLASSIFIER_ROWS, replace=False
    )
    return reference.iloc[np.sort(rows)].reset_index(drop=True)


def _fit_domain_classifier(
    reference: pd.DataFrame, columns: Sequence[str], options: MultivariateOptions
) -> DomainClassifierAuroc:
    return DomainClassifierAuroc(_reference_sample(reference[list(columns)]), columns, len(reference))


def _load_domain_classifier(
    meta: Mapping[str, Any], arrays: Mapping[str, Floats], options: MultivariateOptions
) -> DomainClassifierAuroc:
    columns = [str(column) for column in meta["columns"]]
    categories = dict(meta["categories"])
    data: dict[str, Any] = {}
    for i, column in enumerate(columns):
        values = np.asarray(arrays[f"column{i}"], dtype=np.float64)
        if column in categories:
            distinct = np.array([*categories[column], np.nan], dtype=object)
            codes = np.where(np.isnan(values), len(distinct) - 1, values).astype(np.intp)
            data[column] = distinct[codes]
        else:
            data[column] = values
    sample = pd.DataFrame(data, index=pd.RangeIndex(len(next(iter(arrays.values()), []))))
    return DomainClassifierAuroc(sample, columns, int(meta["reference_rows"]))


METHODS: dict[str, MultivariateMethod] = {
    "reconstruction_error": MultivariateMethod(
        "reconstruction_error",
        "mean PCA reconstruction error of the window's rows (NannyML's data reconstruction drift)",
        _fit_reconstruction,
        _load_reconstruction,
    ),
    "domain_classifier_auroc": MultivariateMethod(
        "domain_classifier_auroc",
        "cross-validated AUROC of a LightGBM classifier telling the window's rows from a sample of the "
        "reference's (NannyML's domain classifier); trains 5 models at every check",
        _fit_domain_classifier,
        _load_domain_classifier,
    ),
}


def _method(name: str) -> MultivariateMethod:
    try:
        return METHODS[name]
    except KeyError:
        raise ReferenceDataError(
            f"unknown multivariate drift method {name!r}; use one of {', '.join(METHODS)}"
        ) from None


def fit_multivariate(
    method: str,
    reference: pd.DataFrame,
    types: Mapping[str, ColumnType],
    options: MultivariateOptions | None = None,
) -> FittedMultivariate:
    """Fit ``method`` on the columns of ``types`` (name -> numeric or categorical) of ``reference``."""
    absent = [column for column in types if column not in reference.columns]
    if absent:
        raise ReferenceDataError(
            f"the reference lacks the column(s) {absent}; name columns it has ({list(reference.columns)})"
        )
    return _method(method).fit(typed_frame(reference, types), list(types), options or MultivariateOptions())


def load_multivariate(
    method: str,
    meta: Mapping[str, Any],
    arrays: Mapping[str, Floats],
    options: MultivariateOptions | None = None,
) -> FittedMultivariate:
    """The fitted ``method`` from the state `FittedMultivariate.state` gave; thresholds for ``options``."""
    return _method(method).load(meta, arrays, options or MultivariateOptions())
