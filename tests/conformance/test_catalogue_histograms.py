"""psi, kl_div, hellinger, TVD, g_test and fisher_exact against Evidently 0.7.23, computed live.

Every expected value comes from Evidently on the same generated data (fixed
seeds): its stat tests called directly on the columns cleaned as its
``get_one_column_drift`` cleans them, and one ``DataDriftPreset`` report per
method end to end. Scores must agree to 1e-9 relative (1e-12 absolute),
thresholds and drift decisions exactly; where Evidently raises, driftwatch must
report the column with an ``error`` and still compute the others.

The data cover NaN and +/-inf, categories only the current window has, constant
columns, small integer columns (numpy's integer rule for Sturges bin widths),
integer reference against float current, nullable integers, booleans as
categories, references with 20 and 21 distinct values (value shares vs. a
Sturges histogram), and a rare value in a large reference (the tiny zero-fill).

Two places where Evidently's answer depends on Python's string hash seed are not
compared value for value: TVD with 3+ categories when some permutation ties the
observed distance exactly (the TVD cases here are checked to have no such tie),
and fisher_exact when both samples together hold 3+ categories (driftwatch
reports an error there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.calculations.stattests import (
    fisher_exact_test,
    g_test,
    get_stattest,
    hellinger_stat_test,
    kl_div_stat_test,
    psi_stat_test,
    tvd_test,
)
from evidently.legacy.core import ColumnType as EvidentlyType
from evidently.presets import DataDriftPreset

from driftwatch.drift import (
    CATALOGUE,
    ColumnDrift,
    ColumnOptions,
    ColumnProfile,
    ColumnType,
    ReferenceProfile,
    column_drift,
    dataset_drift,
)
from driftwatch.drift.histogram_tests import fill_zero_shares

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::FutureWarning")

EVIDENTLY_TESTS: dict[str, Any] = {
    "psi": psi_stat_test,
    "kl_div": kl_div_stat_test,
    "hellinger": hellinger_stat_test,
    "TVD": tvd_test,
    "g_test": g_test,
    "fisher_exact": fisher_exact_test,
}
METHODS = list(EVIDENTLY_TESTS)


def same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def clean(values: pd.Series) -> pd.Series:
    """What Evidently's get_one_column_drift hands to the stat test."""
    return values.replace([np.inf, -np.inf], np.nan).dropna()


def evidently_type(kind: ColumnType) -> Any:
    return EvidentlyType.Numerical if kind == "numeric" else EvidentlyType.Categorical


# --------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Pair:
    kind: ColumnType
    reference: pd.Series
    current: pd.Series


def _sprinkle(rng: np.random.Generator, values: np.ndarray, share: float, fill: list[Any]) -> np.ndarray:
    out = values.astype(object if isinstance(fill[0], str | type(None)) else np.float64, copy=True)
    hit = np.flatnonzero(rng.random(len(out)) < share)
    out[hit] = [fill[i % len(fill)] for i in range(len(hit))]
    return out


@cache
def numeric_pairs() -> dict[str, Pair]:
    rng = np.random.default_rng(20240607)
    special = [np.nan, np.inf, -np.inf]

    def pair(reference: Any, current: Any) -> Pair:
        return Pair("numeric", pd.Series(reference), pd.Series(current))

    twenty = np.r_[np.arange(20), rng.integers(0, 20, 480)].astype(np.float64)
    twenty_cur = rng.integers(0, 20, 350) + (rng.random(350) < 0.2)  # 20: a value only the window has
    twenty_one = np.r_[np.arange(21), rng.integers(0, 21, 479)].astype(np.int64)
    rare = np.r_[[9], rng.integers(0, 9, 19_999)]  # one 9 in 20000 rows: the tiny zero-fill branch
    return {
        "continuous_nan_inf": pair(
            _sprinkle(rng, rng.normal(0.0, 1.0, 800), 0.05, special),
            _sprinkle(rng, rng.normal(0.3, 1.2, 600), 0.05, special),
        ),
        "continuous_same": pair(rng.normal(5.0, 2.0, 500), rng.normal(5.0, 2.0, 700)),
        "twenty_distinct": pair(twenty, _sprinkle(rng, twenty_cur, 0.03, [np.nan])),
        "twenty_one_distinct": pair(twenty_one, rng.integers(0, 21, 420) + (rng.random(420) < 0.3)),
        "small_int": pair(rng.integers(0, 3, 400), rng.choice(3, 300, p=[0.5, 0.3, 0.2])),
        "int_ref_float_cur_subset": pair(
            rng.integers(0, 3, 400), _sprinkle(rng, rng.integers(0, 3, 300), 0.1, special)
        ),
        "int_ref_float_cur_new": pair(
            rng.integers(0, 3, 400), _sprinkle(rng, rng.integers(0, 3, 300), 0.1, [np.nan, 0.5])
        ),
        "nullable_int": pair(
            pd.array(np.where(rng.random(300) < 0.1, None, rng.integers(0, 40, 300)), dtype="Int64"),
            pd.array(np.where(rng.random(250) < 0.1, None, rng.integers(5, 45, 250)), dtype="Int64"),
        ),
        "constant_same": pair(np.full(200, 3.0), np.full(150, 3.0)),
        "constant_moved": pair(np.full(200, 3), np.full(150, 4)),
        "rare_values": pair(rare, np.r_[rng.integers(0, 9, 4990), np.full(10, 10)]),
    }


@cache
def categorical_pairs() -> dict[str, Pair]:
    rng, rng3, rng2 = np.random.default_rng(77), np.random.default_rng(3), np.random.default_rng(2)
    rng144 = np.random.default_rng(144)
    rng144.integers(100, 260, 2)  # the sizes it was found with
    many = [f"k{i}" for i in range(7)]

    def pair(reference: Any, current: Any) -> Pair:
        return Pair("categorical", pd.Series(reference), pd.Series(current))

    def strings(cats: list[str], n: int, weights: Any = None) -> np.ndarray:
        p = None if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
        return rng.choice(np.array(cats, dtype=object), n, p=p)

    binary_ref = strings(["no", "yes"], 130)
    binary_ref[rng.choice(130, 10, replace=False)] = None  # 120 values left on both sides
    binary_cur = strings(["no", "yes"], 125, [0.45, 0.55])
    binary_cur[rng.choice(125, 5, replace=False)] = np.nan
    bool_cur = (rng.random(160) < 0.45).astype(object)
    bool_cur[:7] = None
    return {
        "strings_two_shifted": pair(
            strings(["no", "yes"], 240, [0.6, 0.4]), strings(["no", "yes"], 170, [0.45, 0.55])
        ),
        "strings_many_unseen": pair(
            _sprinkle(rng, strings(many, 230, np.arange(1, 8)), 0.04, [None, np.nan]),
            _sprinkle(rng, strings([*many, "new1", "new2"], 187, [*range(1, 8), 1, 1]), 0.04, [None]),
        ),
        # own generators, seeds picked so that no permutation ties the observed TVD (see tvd_exact_ties)
        "strings_many_same": pair(
            rng3.choice(np.array(many, dtype=object), 271), rng3.choice(np.array(many, dtype=object), 189)
        ),
        "booleans": pair(rng.random(200) < 0.3, rng.random(150) < 0.4),
        "booleans_with_none": pair(rng.random(180) < 0.5, bool_cur),
        # permutations whose TVD ties the observed one mathematically but not in floating point:
        # Evidently's float comparison gives p = 0.127, an exact one would give 0.151
        "booleans_rounded_ties": pair(rng144.random(150) < 0.3, rng144.random(170) < 0.35),
        "small_int_categories": pair(
            rng2.integers(1, 5, 213), rng2.choice([1, 2, 3, 4], 167, p=[0.3, 0.3, 0.2, 0.2])
        ),
        "constant": pair(["A"] * 60, ["A"] * 45),
        "constant_unseen": pair(["A"] * 60, strings(["A", "B"], 45, [0.8, 0.2])),
        "binary_equal_after_cleaning": pair(binary_ref, binary_cur),
        "booleans_equal": pair(rng.random(150) < 0.3, rng.random(150) < 0.45),
        "many_equal": pair(strings(many[:5], 140), strings(many[:5], 140, [3, 1, 1, 1, 1])),
        "constant_equal": pair(["A"] * 40, ["A"] * 40),
    }


def all_pairs() -> dict[str, Pair]:
    return {**numeric_pairs(), **categorical_pairs()}


# Evidently's TVD costs about 2 s a column whatever its size: skip the equal-size variants made for
# g_test and fisher_exact, and the constant column (constant_unseen covers it)
EQUAL_SIZES = {"binary_equal_after_cleaning", "booleans_equal", "many_equal", "constant", "constant_equal"}
CASES = [
    (method, name)
    for method in METHODS
    for name, pair in {**numeric_pairs(), **categorical_pairs()}.items()
    if pair.kind in CATALOGUE[method].column_types and not (method == "TVD" and name in EQUAL_SIZES)
]


# --------------------------------------------------------------------------- both engines


@dataclass(frozen=True)
class Outcome:
    score: float
    drift_detected: bool
    threshold: float
    error: str | None = None


def run_evidently(method: str, pair: Pair, threshold: float | None = None) -> Outcome:
    try:
        result = EVIDENTLY_TESTS[method](
            clean(pair.reference), clean(pair.current), evidently_type(pair.kind), threshold
        )
    except ValueError as exc:
        return Outcome(math.nan, False, math.nan, str(exc))
    return Outcome(float(result.drift_score), bool(result.drifted), float(result.actual_threshold))


def run_driftwatch(method: str, pair: Pair, threshold: float | None = None) -> ColumnDrift:
    profile = ColumnProfile.build("x", pair.reference, pair.kind)
    return column_drift(profile, pair.current, ColumnOptions(method, threshold))


def mismatch(method: str, evidently: Outcome, ours: ColumnDrift) -> str | None:
    if evidently.error is not None:
        return None if ours.error else f"Evidently raised {evidently.error!r}, driftwatch gave {ours}"
    if ours.error:
        return f"driftwatch failed: {ours.error}; Evidently gave {evidently}"
    if (
        ours.method != method
        or not same(ours.score, evidently.score)
        or ours.threshold != evidently.threshold
        or ours.drift_detected != evidently.drift_detected
    ):
        return f"driftwatch {(ours.score, ours.drift_detected, ours.threshold)} != Evidently {evidently}"
    return None


# --------------------------------------------------------------------------- TVD tie guard


def tvd_exact_ties(pair: Pair) -> int:
    """Permutations (Evidently's 1000 splits) whose TVD equals the observed one exactly, in integers.

    With 3+ categories Evidently sums the TVD terms in set-iteration order, which
    for strings depends on the hash seed; only tied distances can then compare
    differently, so a case without ties has one Evidently answer in every process.
    """
    reference, current = clean(pair.reference).tolist(), clean(pair.current).tolist()
    codes, _ = pd.factorize(pd.Series(reference + current, dtype=object))
    n, m, k = len(reference), len(current), int(codes.max()) + 1
    total = np.bincount(codes, minlength=k)

    def scaled_tvd(ref_counts: np.ndarray) -> int:
        return int(np.abs(ref_counts * m - (total - ref_counts) * n).sum())

    observed = scaled_tvd(np.bincount(codes[:n], minlength=k))
    random = np.random.RandomState(0)
    ties = 0
    for _ in range(1000):
        ties += scaled_tvd(np.bincount(codes[random.permutation(n + m)[:n]], minlength=k)) == observed
    return ties


# --------------------------------------------------------------------------- per column, direct


@pytest.mark.parametrize(("method", "case"), CASES, ids=[f"{m}-{c}" for m, c in CASES])
def test_method_matches_evidently(method: str, case: str) -> None:
    pair = all_pairs()[case]
    if method == "TVD" and pd.concat([clean(pair.reference), clean(pair.current)]).nunique() > 2:
        assert tvd_exact_ties(pair) == 0, "test data must not tie Evidently's hash-order-dependent sums"
    evidently = run_evidently(method, pair)
    ours = run_driftwatch(method, pair)
    problem = mismatch(method, evidently, ours)
    assert problem is None, problem
    assert ours.threshold == CATALOGUE[method].default_threshold or ours.error


def test_cases_reach_every_branch() -> None:
    """Both decisions per method, Evidently's errors, both binnings and both zero-fill branches."""
    decisions: dict[str, set[bool]] = {method: set() for method in METHODS}
    errors: set[str] = set()
    for method, case in CASES:
        ours = run_driftwatch(method, all_pairs()[case])
        if ours.error:
            errors.add(method)
        else:
            decisions[method].add(ours.drift_detected)
    assert all(found == {True, False} for found in decisions.values()), decisions
    assert errors == {"g_test", "fisher_exact"}
    numeric = numeric_pairs()
    distinct = {name: clean(pair.reference).nunique() for name, pair in numeric.items()}
    assert distinct["twenty_distinct"] == 20 and distinct["twenty_one_distinct"] == 21
    tiny = clean(numeric["rare_values"].reference).value_counts(normalize=True).min()
    assert tiny <= 0.0001  # the smallest reference share is divided by 10**6


def test_fill_zero_shares_is_evidentlys() -> None:
    shares = np.array([0.5, 0.0, 0.25, 0.25, 0.0])
    assert fill_zero_shares(shares).tolist() == [0.5, 0.0001, 0.25, 0.25, 0.0001]
    tiny = np.array([0.99995, 0.00005, 0.0])
    assert fill_zero_shares(tiny)[2] == 0.00005 / 10**6
    assert fill_zero_shares(shares) is not shares and shares[1] == 0.0


# --------------------------------------------------------------------------- thresholds and direction


BOUNDARY = [
    ("psi", "continuous_nan_inf"),
    ("kl_div", "twenty_one_distinct"),
    ("hellinger", "continuous_nan_inf"),
    ("TVD", "booleans"),
    ("g_test", "booleans_equal"),
    ("fisher_exact", "booleans_equal"),
]


@pytest.mark.parametrize(("method", "case"), BOUNDARY)
def test_threshold_equal_to_the_score(method: str, case: str) -> None:
    """Distances drift when score >= threshold, p-values when p < threshold: a threshold equal to the
    score (bit for bit the same on these cases) gives Evidently's decision, as do thresholds just off it."""
    pair = all_pairs()[case]
    score = run_driftwatch(method, pair).score
    thresholds = [score, np.nextafter(score, 1.0)]
    if method != "TVD":  # Evidently's TVD is slow, and its p-values are multiples of 0.001 anyway
        thresholds += [np.nextafter(score, 0.0), 0.5, 0.01]
    for threshold in thresholds:
        evidently = run_evidently(method, pair, float(threshold))
        assert threshold != score or evidently.score == score
        ours = run_driftwatch(method, pair, float(threshold))
        problem = mismatch(method, evidently, ours)
        assert problem is None, f"threshold {threshold}: {problem}"
    distance = method in {"psi", "kl_div", "hellinger"}
    assert run_driftwatch(method, pair, score).drift_detected is distance


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("method", ["TVD", "g_test", "fisher_exact"])
def test_categorical_only_methods_refuse_numeric_columns(method: str) -> None:
    pair = numeric_pairs()["small_int"]
    with pytest.raises(ValueError, match="isn't applicable"):
        get_stattest(clean(pair.reference), clean(pair.current), EvidentlyType.Numerical, method)
    ours = run_driftwatch(method, pair)
    assert ours.error and "does not apply to numeric" in ours.error
    assert math.isnan(ours.score) and not ours.drift_detected


def test_fisher_exact_refuses_three_categories_in_both_samples_together() -> None:
    """Evidently maps set-ordered categories to 0/1 there, so its p-value follows the hash seed
    (e.g. 1.0, 0.0169, 0.0002 or 0.27 for the data below): driftwatch reports an error instead."""
    pair = Pair("categorical", pd.Series(list("aaaaabbbbbbbbbb")), pd.Series(list("aaaaaaaaacccccc")))
    fisher_exact_test(clean(pair.reference), clean(pair.current), EvidentlyType.Categorical, None)  # runs
    ours = run_driftwatch("fisher_exact", pair)
    assert ours.error and "at most 2 categories in both samples together" in ours.error


@pytest.mark.parametrize(
    ("method", "case", "message"),
    [
        ("g_test", "strings_two_shifted", "as many current values as reference values"),
        ("fisher_exact", "strings_two_shifted", "as many current values"),
        ("fisher_exact", "many_equal", "needs binary columns"),
    ],
)
def test_errors_leave_other_columns_computed(method: str, case: str, message: str) -> None:
    """A column Evidently cannot test gets an error; the other columns of the check are still tested."""
    failing = all_pairs()[case]
    good = categorical_pairs()["booleans_equal"]
    assert run_evidently(method, failing).error is not None
    reference = {"bad": failing.reference, "good": good.reference}
    profile = ReferenceProfile(
        {name: ColumnProfile.build(name, values, "categorical") for name, values in reference.items()},
        len(good.reference),
    )
    result = dataset_drift(
        profile,
        {"bad": failing.current, "good": good.current},
        {"bad": ColumnOptions(method), "good": ColumnOptions(method)},
    )
    assert [c.column for c in result.errors] == ["bad"]
    error = result.errors[0].error
    assert error is not None and message in error
    (column,) = result.columns
    assert column.column == "good"
    problem = mismatch(method, run_evidently(method, good), column)
    assert problem is None, problem


# --------------------------------------------------------------------------- end to end


def _frames(ref_rows: int, cur_rows: int, seed: int, clean_only: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Columns of every kind; ``clean_only`` for g_test/fisher_exact, which need as many values on both sides."""
    rng = np.random.default_rng(seed)

    def side(n: int, s: float) -> pd.DataFrame:
        frame = {
            "cat_two": rng.choice(np.array(["no", "yes"], dtype=object), n, p=[0.6 - 0.1 * s, 0.4 + 0.1 * s]),
            "cat_bool": rng.random(n) < 0.3 + 0.1 * s,
        }
        if clean_only:
            return pd.DataFrame(frame)
        many = np.array([f"c{i}" for i in range(6)] + ["late"], dtype=object)
        weights = np.r_[np.linspace(1.0, 2.0, 6), s]
        twenty = rng.integers(0, 20, n).astype(np.float64)
        twenty[:20] = np.arange(20)
        return pd.DataFrame(
            {
                "num_normal": _sprinkle(rng, rng.normal(0.3 * s, 1.0, n), 0.04, [np.nan, np.inf, -np.inf]),
                "num_twenty": twenty + s * (rng.random(n) < 0.2),
                "num_twenty_one": rng.integers(0, 21, n) + int(s) * (rng.random(n) < 0.2),
                "num_small_int": rng.choice(3, n, p=[0.5 - 0.1 * s, 0.3, 0.2 + 0.1 * s]),
                **frame,
                "cat_many": _sprinkle(rng, rng.choice(many, n, p=weights / weights.sum()), 0.05, [None]),
            }
        )

    return side(ref_rows, 0.0), side(cur_rows, 1.0)


def _report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: dict[str, ColumnType],
    method: str,
    threshold: float | None,
) -> dict[str, Outcome]:
    definition = DataDefinition(
        numerical_columns=[c for c, t in types.items() if t == "numeric"],
        categorical_columns=[c for c, t in types.items() if t == "categorical"],
    )
    report = Report([DataDriftPreset(method=method, threshold=threshold)], include_tests=True).run(
        Dataset.from_pandas(current[list(types)], data_definition=definition),
        Dataset.from_pandas(reference[list(types)], data_definition=definition),
    )
    result = report.dict()
    failed = {test["metric_config"]["metric_id"]: test["status"] for test in result["tests"]}
    columns = {}
    for metric in result["metrics"]:
        if "ValueDrift" in metric["metric_name"]:
            config = metric["config"]
            assert config["method"] == method
            status = getattr(failed[metric["id"]], "value", failed[metric["id"]])
            columns[config["column"]] = Outcome(
                float(metric["value"]), status == "FAIL", float(config["threshold"])
            )
    assert set(columns) == set(types)
    return columns


REPORTS = [
    ("psi", None, False),
    ("kl_div", 0.05, False),
    ("hellinger", None, False),
    ("TVD", 0.2, False),
    ("g_test", None, True),
    ("fisher_exact", 0.3, True),
]


@pytest.mark.parametrize(("method", "threshold", "clean_only"), REPORTS, ids=[r[0] for r in REPORTS])
def test_data_drift_preset_matches(method: str, threshold: float | None, clean_only: bool) -> None:
    if clean_only:
        reference, current = _frames(300, 300, 11, clean_only)
    else:  # Evidently's TVD runs 1000 permutations in Python: keep its frames small
        reference, current = (
            _frames(200, 150, 11, clean_only) if method == "TVD" else _frames(500, 380, 11, False)
        )
    allowed = CATALOGUE[method].column_types
    types: dict[str, ColumnType] = {
        column: kind
        for column in reference.columns
        if (kind := "numeric" if column.startswith("num_") else "categorical") in allowed
        and (method != "fisher_exact" or column != "cat_many")
        and (method != "TVD" or column == "cat_many")  # Evidently's TVD: ~2 s a column, twice per report
    }
    if method == "TVD":
        assert tvd_exact_ties(Pair("categorical", reference["cat_many"], current["cat_many"])) == 0
    evidently = _report(reference, current, types, method, threshold)
    profile = ReferenceProfile.build(reference, list(types), types)
    ours = dataset_drift(
        profile, {c: current[c] for c in types}, dict.fromkeys(types, ColumnOptions(method, threshold))
    )
    assert not ours.errors, [(c.column, c.error) for c in ours.errors]
    problems = [
        f"{c.column}: {problem}"
        for c in ours.columns
        if (problem := mismatch(method, evidently[c.column], c)) is not None
    ]
    assert not problems, "\n".join(problems)


def test_tvd_is_faster_than_evidently_and_the_same() -> None:
    """The vectorised permutations give Evidently's p-value on a few thousand rows, much faster."""
    import time

    rng = np.random.default_rng(3)
    pair = Pair(
        "categorical",
        pd.Series(rng.random(1500) < 0.3),
        pd.Series(rng.random(1200) < 0.32),
    )
    start = time.perf_counter()
    ours = run_driftwatch("TVD", pair)
    ours_seconds = time.perf_counter() - start
    start = time.perf_counter()
    evidently = run_evidently("TVD", pair)
    evidently_seconds = time.perf_counter() - start
    assert mismatch("TVD", evidently, ours) is None
    assert 0.0 < ours.score < 1.0
    assert ours_seconds * 5 < evidently_seconds
