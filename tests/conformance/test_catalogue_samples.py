"""Conformance of the sample-based drift methods (``driftwatch.drift.sample_tests``) with Evidently 0.7.23.

Every expected value is computed live by Evidently on the same generated data: per method and
case, Evidently's stat test object is called on the columns cleaned as ``get_one_column_drift``
cleans them (NaN/inf dropped), and driftwatch's ``column_drift`` on the raw columns. Scores must
agree to 1e-9 relative (1e-12 absolute), NaN with NaN; decisions and thresholds exactly; where
Evidently raises, driftwatch must report an error. Then one ``Report([DataDriftPreset(method=...)])``
per method, compared column by column and on the drifted count.

Row order. anderson, cramer_von_mises, ed and mannw depend only on the values. empirical_mmd
(random permutations of rows), t_test and es (floating-point sums) depend on row order, and
driftwatch's profiles keep only sorted values unless they also keep an ``original`` row-order copy.
Until profile.py keeps one, these three are compared (a) on data whose rows are already sorted, and
(b) on shuffled data with a profile and sample that carry ``original`` (`row_order_kept`, which
emulates the proposed profile.py change); ``test_profiles_keep_row_order`` is a strict xfail
until then.

Evidently's empirical_mmd draws its permutations from numpy's global, unseeded generator; it is
called here right after ``np.random.seed(0)``, which is what driftwatch's private generator
reproduces.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations import stattests as evidently_stattests
from evidently.legacy.calculations.stattests import mmd_stattest
from evidently.legacy.core import ColumnType as EvidentlyColumnType
from evidently.presets import DataDriftPreset

from driftwatch.drift import (
    CATALOGUE,
    ColumnDrift,
    ColumnOptions,
    ReferenceProfile,
    column_drift,
    dataset_drift,
)
from driftwatch.drift import dataset as dataset_module
from driftwatch.drift.profile import ColumnProfile, ColumnSample

pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning", "ignore::UserWarning", "ignore::FutureWarning"
)

EVIDENTLY = {
    "anderson": evidently_stattests.anderson_darling_test,
    "cramer_von_mises": evidently_stattests.cramer_von_mises,
    "ed": evidently_stattests.energy_dist_test,
    "es": evidently_stattests.epps_singleton_test,
    "t_test": evidently_stattests.t_test,
    "mannw": evidently_stattests.mann_whitney_u_stat_test,
    "empirical_mmd": evidently_stattests.empirical_mmd,
}
METHODS = list(EVIDENTLY)
ORDER_SENSITIVE = ("t_test", "es", "empirical_mmd")
MMD_MAX_ROWS = 1200  # empirical_mmd is O(rows^2) in memory and time, in Evidently as here

Array = npt.NDArray[Any]


def _keeps_row_order() -> bool:
    """Whether profiles and samples carry an ``original`` copy of their finite values in row order."""
    raw = pd.Series([2.0, np.nan, 1.0])
    for side in (ColumnProfile.build("x", raw, "numeric"), ColumnSample(raw, "numeric")):
        original = getattr(side, "original", None)
        if original is None or list(original) != [2.0, 1.0]:
            return False
    return True


KEEPS_ROW_ORDER = _keeps_row_order()


def _finite(raw: Array) -> npt.NDArray[np.float64]:
    floats: npt.NDArray[np.float64] = pd.to_numeric(pd.Series(raw), errors="coerce").to_numpy(
        dtype=np.float64
    )
    return floats[np.isfinite(floats)]


class RowOrderSample(ColumnSample):
    """A `ColumnSample` that also keeps its finite values in row order, as proposed for profile.py."""

    def __init__(self, raw: Any, column_type: Any) -> None:
        super().__init__(raw, column_type)
        self.original = _finite(raw) if column_type == "numeric" else None


@contextmanager
def row_order_kept(enabled: bool) -> Iterator[None]:
    """While enabled, ``column_drift``/``dataset_drift`` build current samples that keep their row order."""
    if not enabled:
        yield
        return
    saved = vars(dataset_module)["ColumnSample"]
    setattr(dataset_module, "ColumnSample", RowOrderSample)  # noqa: B010
    try:
        yield
    finally:
        setattr(dataset_module, "ColumnSample", saved)  # noqa: B010


def build_profile(reference: pd.DataFrame, keep_row_order: bool) -> ReferenceProfile:
    columns = list(reference.columns)
    profile = ReferenceProfile.build(reference, columns, dict.fromkeys(columns, "numeric"))
    if keep_row_order:
        for name, column in profile.columns.items():
            object.__setattr__(column, "original", _finite(reference[name].to_numpy()))
    return profile


# --------------------------------------------------------------------------- both engines


@dataclass(frozen=True)
class Outcome:
    score: float
    drift_detected: bool
    threshold: float
    error: str | None = None


def clean(raw: Array) -> pd.Series:
    """Evidently's cleaning in ``get_one_column_drift``; the dtype stays (int64 columns stay int64)."""
    return pd.Series(raw).replace([np.inf, -np.inf], np.nan).dropna()


def evidently_outcome(method: str, reference: Array, current: Array, threshold: float | None) -> Outcome:
    np.random.seed(0)  # empirical_mmd draws from numpy's global generator
    try:
        result = EVIDENTLY[method](clean(reference), clean(current), EvidentlyColumnType.Numerical, threshold)
    except Exception as exc:  # whatever Evidently raises, driftwatch must report an error
        return Outcome(math.nan, False, math.nan, f"{type(exc).__name__}: {exc}")
    return Outcome(float(result.drift_score), bool(result.drifted), float(result.actual_threshold))


def driftwatch_outcome(
    method: str, reference: Array, current: Array, threshold: float | None, keep_row_order: bool = False
) -> Outcome:
    profile = build_profile(pd.DataFrame({"x": reference}), keep_row_order)
    with row_order_kept(keep_row_order):
        drift = column_drift(profile["x"], pd.Series(current), ColumnOptions(method, threshold))
    assert drift.method == method
    return Outcome(drift.score, drift.drift_detected, drift.threshold, drift.error)


def same_score(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def mismatch(evidently: Outcome, ours: Outcome) -> str | None:
    if evidently.error or ours.error:
        if evidently.error and ours.error:
            return None
        return f"errors differ: evidently {evidently.error!r}, driftwatch {ours.error!r}"
    if (
        not same_score(evidently.score, ours.score)
        or evidently.drift_detected != ours.drift_detected
        or not same_score(evidently.threshold, ours.threshold)
    ):
        return f"evidently {evidently} != driftwatch {ours}"
    return None


# --------------------------------------------------------------------------- cases


def _sprinkle(rng: np.random.Generator, values: Array) -> npt.NDArray[np.float64]:
    """NaN (~4%), +inf and -inf (~1% each) at random rows, at least one of each."""
    out = np.asarray(values, dtype=np.float64).copy()
    n = len(out)
    out[rng.random(n) < 0.04] = np.nan
    out[rng.random(n) < 0.01] = np.inf
    out[rng.random(n) < 0.01] = -np.inf
    spots = rng.choice(n, size=min(n, 3), replace=False)
    out[spots] = [np.nan, np.inf, -np.inf][: len(spots)]
    return out


def _case_normal_same(rng: np.random.Generator) -> tuple[Array, Array]:
    return _sprinkle(rng, rng.normal(0.0, 1.0, 400)), _sprinkle(rng, rng.normal(0.0, 1.0, 300))


def _case_normal_up(rng: np.random.Generator) -> tuple[Array, Array]:
    return _sprinkle(rng, rng.normal(0.0, 1.0, 400)), _sprinkle(rng, rng.normal(0.3, 1.0, 250))


def _case_normal_down(rng: np.random.Generator) -> tuple[Array, Array]:
    # mannw is one-sided: it only flags current values moving up
    return _sprinkle(rng, rng.normal(0.0, 1.0, 400)), _sprinkle(rng, rng.normal(-0.3, 1.0, 250))


def _case_scale(rng: np.random.Generator) -> tuple[Array, Array]:
    return rng.normal(5.0, 1.0, 300), rng.normal(5.0, 2.0, 300)


def _case_int_ties(rng: np.random.Generator) -> tuple[Array, Array]:
    # int64 columns with 6-7 distinct values: ties everywhere, Evidently sees int64 data
    return rng.integers(0, 6, 500), rng.integers(0, 6, 400) + (rng.random(400) < 0.2)


def _case_binary(rng: np.random.Generator) -> tuple[Array, Array]:
    return (rng.random(300) < 0.3).astype(np.int64), (rng.random(200) < 0.4).astype(np.int64)


def _case_binary_large(rng: np.random.Generator) -> tuple[Array, Array]:
    # two values only: es's covariance matrix is singular and its p-value pure rounding noise
    return (rng.random(2000) < 0.3).astype(np.int64), (rng.random(1000) < 0.301).astype(np.int64)


def _case_lognormal(rng: np.random.Generator) -> tuple[Array, Array]:
    return _sprinkle(rng, rng.lognormal(0.0, 2.0, 300)), _sprinkle(rng, rng.lognormal(0.2, 2.0, 300))


def _case_big_offset(rng: np.random.Generator) -> tuple[Array, Array]:
    # ill-conditioned sums: 1e6 +/- 1e-3
    return rng.normal(1e6, 1e-3, 200), rng.normal(1e6 + 2e-4, 1e-3, 150)


def _case_few_ints(rng: np.random.Generator) -> tuple[Array, Array]:
    # 7 integers against 5 values shifted by one: es's p-value deep in the tail (~1e-50 and below)
    return rng.integers(0, 7, 1000), rng.integers(0, 7, 5) + 1


def _case_constant_same(rng: np.random.Generator) -> tuple[Array, Array]:
    reference, current = np.full(30, 2.0), np.full(20, 2.0)
    reference[3], current[5] = np.nan, np.inf
    return reference, current


def _case_constant_different(rng: np.random.Generator) -> tuple[Array, Array]:
    return np.full(30, 2.0), np.full(25, 3.0)


def _case_exact_equal(rng: np.random.Generator) -> tuple[Array, Array]:
    # cramer_von_mises exact p-value (both <= 20), float16/float32 frequency table
    return rng.normal(0.0, 1.0, 12), rng.normal(0.8, 1.0, 12)


def _case_exact_10_5(rng: np.random.Generator) -> tuple[Array, Array]:
    return rng.normal(0.0, 1.0, 10), rng.normal(1.0, 1.0, 5)


def _case_exact_3_4(rng: np.random.Generator) -> tuple[Array, Array]:
    # Evidently's exact Cramer-von Mises fails here (unsigned integer table under numpy 2)
    return rng.normal(0.0, 1.0, 3), rng.normal(0.5, 1.0, 4)


def _case_tiny_ties(rng: np.random.Generator) -> tuple[Array, Array]:
    return np.array([1.0, 2.0, 2.0, 3.0, 3.0, 4.0]), np.array([2.0, 3.0, 3.0, 5.0, 5.0])


def _case_single_current(rng: np.random.Generator) -> tuple[Array, Array]:
    return rng.normal(0.0, 1.0, 50), np.array([np.nan, 0.5, np.inf, np.nan])


def _case_single_both(rng: np.random.Generator) -> tuple[Array, Array]:
    return np.array([1.0, np.nan]), np.array([2.0, np.inf])


def _case_three_values(rng: np.random.Generator) -> tuple[Array, Array]:
    return np.array([1.0, 2.0]), np.array([3.0])


def _case_large(rng: np.random.Generator) -> tuple[Array, Array]:
    # cramer_von_mises asymptotic, mannw normal approximation, long tie runs
    return np.round(rng.normal(50.0, 10.0, 3000)), _sprinkle(rng, np.round(rng.normal(50.5, 10.0, 2000)))


CASE_MAKERS: dict[str, Callable[[np.random.Generator], tuple[Array, Array]]] = {
    "normal-same": _case_normal_same,
    "normal-up": _case_normal_up,
    "normal-down": _case_normal_down,
    "scale": _case_scale,
    "int-ties": _case_int_ties,
    "binary": _case_binary,
    "binary-large": _case_binary_large,
    "lognormal": _case_lognormal,
    "big-offset": _case_big_offset,
    "few-ints": _case_few_ints,
    "constant-same": _case_constant_same,
    "constant-different": _case_constant_different,
    "exact-12-12": _case_exact_equal,
    "exact-10-5": _case_exact_10_5,
    "exact-3-4": _case_exact_3_4,
    "tiny-ties": _case_tiny_ties,
    "single-current": _case_single_current,
    "single-both": _case_single_both,
    "three-values": _case_three_values,
    "large": _case_large,
}


@cache
def case_data(case: str) -> tuple[Array, Array]:
    seed = zlib.crc32(case.encode())  # stable per case, whatever the order of CASE_MAKERS
    return CASE_MAKERS[case](np.random.default_rng(seed))


def sorted_rows(values: Array) -> Array:
    """The same values with the finite ones in ascending order (NaN/inf stay where they were)."""
    out = np.array(values, copy=True)
    finite = np.isfinite(out.astype(np.float64))
    out[finite] = np.sort(out[finite])
    return out


def runs(method: str, case: str) -> bool:
    reference, current = case_data(case)
    return method != "empirical_mmd" or len(reference) + len(current) <= MMD_MAX_ROWS


PAIRS = [(method, case) for method in METHODS for case in CASE_MAKERS if runs(method, case)]


# --------------------------------------------------------------------------- per-method checks


def test_catalogue_entries_match_evidently() -> None:
    """Same default thresholds and column types as Evidently's StatTest objects."""
    for name, stat_test in EVIDENTLY.items():
        method = CATALOGUE[name]
        assert stat_test.name == name
        assert method.default_threshold == stat_test.default_threshold, name
        assert stat_test.allowed_feature_types == [EvidentlyColumnType.Numerical], name
        assert method.column_types == ("numeric",), name


@pytest.mark.parametrize(("method", "case"), PAIRS, ids=[f"{m}-{c}" for m, c in PAIRS])
def test_matches_evidently(method: str, case: str) -> None:
    """Shuffled rows; order-sensitive methods through samples that keep their row order."""
    reference, current = case_data(case)
    keep = method in ORDER_SENSITIVE and not KEEPS_ROW_ORDER
    evidently = evidently_outcome(method, reference, current, None)
    problem = mismatch(evidently, driftwatch_outcome(method, reference, current, None, keep))
    assert problem is None, problem


SORTED_PAIRS = [(m, c) for m, c in PAIRS if m in ORDER_SENSITIVE]


@pytest.mark.parametrize(("method", "case"), SORTED_PAIRS, ids=[f"{m}-{c}" for m, c in SORTED_PAIRS])
def test_sorted_rows_match_evidently(method: str, case: str) -> None:
    """Order-sensitive methods with today's sorted-only profiles, on data already in sorted order."""
    reference, current = (sorted_rows(side) for side in case_data(case))
    problem = mismatch(
        evidently_outcome(method, reference, current, None),
        driftwatch_outcome(method, reference, current, None),
    )
    assert problem is None, problem


DIRECTION_CASES = {
    "anderson": "normal-up",
    "cramer_von_mises": "normal-up",
    "ed": "normal-up",
    "es": "scale",
    "t_test": "normal-up",
    "mannw": "normal-up",
    "empirical_mmd": "exact-12-12",
}


@pytest.mark.parametrize("method", METHODS)
def test_threshold_direction_matches_evidently(method: str) -> None:
    """Custom thresholds at, just above and just below Evidently's score: < vs <= vs > as Evidently."""
    reference, current = case_data(DIRECTION_CASES[method])
    keep = method in ORDER_SENSITIVE and not KEEPS_ROW_ORDER
    score = evidently_outcome(method, reference, current, None).score
    assert 0.0 < score < 1.0
    for threshold in (score, np.nextafter(score, 1.0), np.nextafter(score, 0.0), 0.5, 0.01):
        evidently = evidently_outcome(method, reference, current, float(threshold))
        ours = driftwatch_outcome(method, reference, current, float(threshold), keep)
        problem = mismatch(evidently, ours)
        assert problem is None, f"threshold {threshold}: {problem}"


def test_categorical_columns_are_refused() -> None:
    profile = ReferenceProfile.build(pd.DataFrame({"c": ["a", "b", "a"]}), ["c"], {"c": "categorical"})
    for method in METHODS:
        drift = column_drift(profile["c"], pd.Series(["a", "b"]), ColumnOptions(method))
        assert drift.error == f"method {method} does not apply to categorical columns"


def test_profiles_keep_row_order() -> None:
    """Shuffled rows through today's sorted-only profiles: empirical_mmd permutes other rows than
    Evidently (p-values off by several hundredths), t_test's sums on ill-conditioned data round
    differently (~4e-6 relative here), and es on two-valued data inverts a singular covariance
    matrix whose rounding noise depends on row order (p-values off by far more than 1e-9)."""
    problems = []
    for method, case in [
        ("empirical_mmd", "normal-up"),
        ("t_test", "big-offset"),
        ("es", "binary-large"),
    ]:
        reference, current = case_data(case)
        problem = mismatch(
            evidently_outcome(method, reference, current, None),
            driftwatch_outcome(method, reference, current, None),
        )
        if problem:
            problems.append(f"{method} {case}: {problem}")
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- end to end


def report_frames(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four numeric columns: unchanged, shifted up, rescaled, and small integers with ties (int64);
    NaN/inf sprinkled in two."""
    rng = np.random.default_rng(seed)

    def side(n: int, s: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "same": _sprinkle(rng, rng.normal(0.0, 1.0, n)),
                "up": _sprinkle(rng, rng.normal(0.4 * s, 1.0, n)),
                "wider": rng.normal(0.0, 1.0 + s, n),
                "ties": rng.integers(0, 6, n) + (rng.random(n) < 0.15 * s),
            }
        )

    return side(300, 0.0), side(220, 1.0)


def evidently_report(
    method: str, reference: pd.DataFrame, current: pd.DataFrame
) -> tuple[dict[str, Outcome], float]:
    definition = DataDefinition(numerical_columns=list(reference.columns))
    report = Report([DataDriftPreset(method=method)], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = report.dict()
    status = {test["metric_config"]["metric_id"]: test["status"] for test in result["tests"]}
    columns: dict[str, Outcome] = {}
    count = math.nan
    for metric in result["metrics"]:
        config = metric["config"]
        if "ValueDrift" in metric["metric_name"]:
            assert config["method"] == method
            failed = getattr(status[metric["id"]], "value", status[metric["id"]]) == "FAIL"
            columns[config["column"]] = Outcome(float(metric["value"]), failed, float(config["threshold"]))
        elif "DriftedColumnsCount" in metric["metric_name"]:
            count = float(metric["value"]["count"])
    return columns, count


@pytest.mark.parametrize("method", METHODS)
def test_report_matches_evidently(method: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Report([DataDriftPreset(method=...)])`` against ``dataset_drift`` with that method everywhere;
    order-sensitive methods through a profile and samples that keep their row order."""
    keep = method in ORDER_SENSITIVE and not KEEPS_ROW_ORDER
    reference, current = report_frames(3)
    original_pval = mmd_stattest.mmd_pval

    def seeded_pval(x: Array, y: Array) -> Any:
        # a Report runs each column's test twice (ValueDrift and DriftedColumnsCount); seed every run
        np.random.seed(0)
        return original_pval(x, y)

    monkeypatch.setattr(mmd_stattest, "mmd_pval", seeded_pval)
    expected, count = evidently_report(method, reference, current)
    profile = build_profile(reference, keep_row_order=keep)
    options = dict.fromkeys(reference.columns, ColumnOptions(method))
    with row_order_kept(keep):
        ours = dataset_drift(profile, {name: current[name] for name in current.columns}, options)
    assert not ours.errors, [(c.column, c.error) for c in ours.errors]
    got: dict[str, ColumnDrift] = {c.column: c for c in ours.columns}
    assert set(got) == set(expected)
    problems = [
        f"{name}: {problem}"
        for name, outcome in expected.items()
        if (
            problem := mismatch(
                outcome, Outcome(got[name].score, got[name].drift_detected, got[name].threshold)
            )
        )
    ]
    assert not problems, "\n".join(problems)
    assert ours.n_drifted == count
