"""Conformance of driftwatch's drift engine with Evidently 0.7.23's ``DataDriftPreset``.

Every expected value is computed live by Evidently on the same generated frames:
nothing here is a hard-coded score. Per column we compare the method Evidently's
default rule picked, the score (to 1e-9 relative), the threshold and the drift
decision; per dataset the number and share of drifted columns and the dataset
drift decision, with the preset's drift share set to 0.3, 0.5 or 0.7 (one setting
per report: each extra setting costs Evidently a full pass over the columns).

The frames cover every branch of Evidently's default rule: reference sizes 200,
1000, 1001 with one missing value per column (1000 after cleaning, so still the
<= 1000 branch), 1001 clean and 5000; current windows smaller and larger than the
reference; three shift intensities (none, mild, strong); numeric columns with 2,
5, 6 (5 + one only the current window has), 12 and ~60 tied distinct values, and
continuous ones shifted and unshifted; categorical columns with 1 (+1 unseen),
2 and 15 (+2 unseen) categories; NaN and +/-inf in numeric columns, None in
categorical ones. ``test_cases_cover_every_branch_of_the_default_rule`` checks
that coverage. Explicitly configured methods and thresholds cover every method on
the side of the 1000-row boundary the default rule never uses it, and the
Jensen-Shannon binning switch at 20 distinct reference values (Sturges histogram
above). One test runs tens of thousands of rows with long runs of ties.

Known divergence (see ``test_inf_without_nan_drifted_columns_count``): for a
numeric column holding +/-inf but no NaN, Evidently's own DriftedColumnsCount
disagrees with its ValueDrift; driftwatch follows ValueDrift.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.presets import DataDriftPreset

from driftwatch.drift import ColumnOptions, ColumnType, DatasetDrift, ReferenceProfile, dataset_drift

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::FutureWarning")

EVIDENTLY_METHODS = {
    **{name: name for name in ("ks", "chisquare", "z", "jensenshannon", "wasserstein")},
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Jensen-Shannon distance": "jensenshannon",
    "Wasserstein distance (normed)": "wasserstein",
}


def same_score(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class Case:
    """One generated reference/current pair.

    ``missing`` says what the reference holds: ``sprinkle`` (NaN, +/-inf and None
    in some columns), ``one`` (exactly one NaN/None in every column) or ``none``.
    The current window always has NaN, +/-inf and None sprinkled. ``intensity``
    scales every shift: 0 (same distributions), 1 (mild) or 3 (strong).
    ``drift_share`` is the preset's dataset drift threshold.
    """

    ref_rows: int
    cur_rows: int
    seed: int
    intensity: int
    missing: str
    drift_share: float

    @property
    def id(self) -> str:
        return (
            f"ref{self.ref_rows}-{self.missing}-cur{self.cur_rows}-seed{self.seed}"
            f"-x{self.intensity}-share{self.drift_share}"
        )


# reference rows, what its missing values are, then per case (current rows / reference rows, seed,
# intensity, drift share): every reference meets a current window smaller and one larger than itself;
# across the references smaller and larger windows each meet every intensity, and every drift share
# setting meets shares of drifted columns below, equal to and above it (checked by
# test_cases_cover_every_branch_of_the_default_rule).
SCHEDULE = [
    (200, "sprinkle", [(0.4, 1, 1, 0.3), (1.5, 2, 0, 0.5)]),
    (1000, "sprinkle", [(0.4, 1, 0, 0.7), (1.5, 2, 3, 0.3)]),
    (1001, "one", [(0.4, 1, 3, 0.5), (1.5, 2, 1, 0.7)]),
    (1001, "none", [(0.4, 1, 1, 0.5), (1.5, 2, 0, 0.7)]),
    (5000, "sprinkle", [(0.4, 1, 0, 0.5), (1.5, 2, 1, 0.3), (1.5, 3, 3, 0.7)]),
]
CASES = [
    Case(ref_rows, int(ref_rows * ratio), 1000 * seed + ref_rows, intensity, missing, share)
    for ref_rows, missing, runs in SCHEDULE
    for ratio, seed, intensity, share in runs
]

NUMERIC = [
    "num_normal",
    "num_nan_inf",
    "num_binary",
    "num_five",
    "num_five_plus_new",
    "num_twelve",
    "num_many_ties",
]
CATEGORICAL = ["cat_single_ref", "cat_two", "cat_many"]
Types = dict[str, ColumnType]
TYPES: Types = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}


def _choice(rng: np.random.Generator, values: list[Any], weights: Any, n: int) -> np.ndarray:
    probs = np.asarray(weights, dtype=float)
    return rng.choice(np.array(values, dtype=object), size=n, p=probs / probs.sum())


def _side(rng: np.random.Generator, n: int, s: float, *, current: bool) -> dict[str, np.ndarray]:
    """One frame's columns; ``s`` is the shift (0 for the reference).

    num_normal: continuous, never shifted. num_nan_inf: continuous, shifted.
    num_binary: 2 values. num_five: exactly 5 values. num_five_plus_new: 5
    values, plus a 6th only the current window has (6 distinct combined).
    num_twelve: 12 values. num_many_ties: ~60 rounded values. cat_single_ref:
    one category in the reference, a second one appears in a shifted window.
    cat_two: 2 categories. cat_many: 15 categories, 2 more unseen ones in a
    shifted window.
    """
    five = _choice(rng, [0, 1, 2, 3, 4], [4, 3 + s, 2, 2, 1], n).astype(np.float64)
    five[:5] = np.arange(5)  # all five values present
    plus_new = _choice(rng, [0, 1, 2, 3, 4], [1, 2, 3, 2, 1 + 0.5 * s], n).astype(np.int64)
    plus_new[:5] = np.arange(5)
    if current:
        plus_new[5] = 5  # a sixth value only the current window has
    single = np.array(["A"] * n, dtype=object)
    if current and s > 0:
        single[rng.random(n) < 0.04 * s] = "B"
    many = [f"c{i:02d}" for i in range(15)]
    many_p = list(np.linspace(1.0, 3.0, 15) * np.exp(0.25 * s * np.sin(np.arange(15))))
    if current and s > 0:  # unseen categories; without them chisquare gets a non-trivial p-value
        many, many_p = [*many, "new_x", "new_y"], [*many_p, 0.2 + 0.1 * s, 0.1]
    return {
        "num_normal": rng.normal(0.0, 1.0, n),
        "num_nan_inf": rng.normal(0.25 * s, 1.0, n),
        "num_binary": (rng.random(n) < 0.3 + 0.06 * s).astype(np.int64),
        "num_five": five,
        "num_five_plus_new": plus_new,
        "num_twelve": rng.binomial(11, 0.5 + 0.03 * s, n).astype(np.int64),
        "num_many_ties": np.round(rng.normal(50.0 + 1.5 * s, 10.0, n)),
        "cat_single_ref": single,
        "cat_two": _choice(rng, ["no", "yes"], [0.6 - 0.06 * s, 0.4 + 0.06 * s], n),
        "cat_many": _choice(rng, many, many_p, n),
    }


def _sprinkle(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """NaN and +/-inf in two numeric columns, None in two categorical ones.

    Every column that gets an inf also gets a NaN: a column with inf and no NaN
    is tested on its own (``test_inf_without_nan_*``).
    """
    n = len(frame)
    for column in ("num_nan_inf", "num_five"):
        values = frame[column].to_numpy(dtype=np.float64, copy=True)
        values[rng.random(n) < 0.04] = np.nan
        values[0] = np.nan
        if column == "num_nan_inf":
            values[rng.random(n) < 0.01] = np.inf
            values[rng.random(n) < 0.01] = -np.inf
            values[1], values[2] = np.inf, -np.inf
        frame[column] = values
    for column in ("cat_two", "cat_many"):
        cats = frame[column].to_numpy(dtype=object, copy=True)
        cats[rng.random(n) < 0.05] = None
        cats[0] = None
        frame[column] = cats


def _one_missing(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """Exactly one missing value (NaN or None) in every column, in a different row each."""
    rows = rng.choice(len(frame), size=len(frame.columns), replace=False)
    for row, column in zip(rows, frame.columns, strict=True):
        if TYPES[column] == "numeric":
            values = frame[column].to_numpy(dtype=np.float64, copy=True)
            values[row] = np.nan
        else:
            values = frame[column].to_numpy(dtype=object, copy=True)
            values[row] = None
        frame[column] = values


@cache
def frames(case: Case) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(case.seed)
    reference = pd.DataFrame(_side(rng, case.ref_rows, 0.0, current=False))
    current = pd.DataFrame(_side(rng, case.cur_rows, float(case.intensity), current=True))
    if case.missing == "sprinkle":
        _sprinkle(rng, reference)
    elif case.missing == "one":
        _one_missing(rng, reference)
    _sprinkle(rng, current)
    return reference, current


# --------------------------------------------------------------------------- both engines


@dataclass(frozen=True)
class EvidentlyColumn:
    method: str
    score: float
    threshold: float
    drift_detected: bool


@dataclass(frozen=True)
class EvidentlyResult:
    columns: dict[str, EvidentlyColumn]  # from the ValueDrift metrics
    drift_share: float  # the setting
    count: float  # from the DriftedColumnsCount metric
    share: float
    dataset_drift: bool  # its test failed: share >= drift_share


def _failed(status: Any) -> bool:
    return bool(getattr(status, "value", status) == "FAIL")


def run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: Types,
    drift_share: float = 0.5,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> EvidentlyResult:
    """One DataDriftPreset report (one drift share setting per report: each setting costs Evidently
    a full extra pass over the columns)."""
    definition = DataDefinition(
        numerical_columns=[c for c, t in types.items() if t == "numeric"],
        categorical_columns=[c for c, t in types.items() if t == "categorical"],
    )
    preset = DataDriftPreset(
        drift_share=drift_share,
        per_column_method=dict(methods or {}) or None,
        per_column_threshold=thresholds,
    )
    report = Report([preset], include_tests=True).run(
        Dataset.from_pandas(current[list(types)], data_definition=definition),
        Dataset.from_pandas(reference[list(types)], data_definition=definition),
    )
    result = report.dict()
    status = {test["metric_config"]["metric_id"]: test["status"] for test in result["tests"]}
    columns: dict[str, EvidentlyColumn] = {}
    counts = []
    for metric in result["metrics"]:
        config = metric["config"]
        if "ValueDrift" in metric["metric_name"]:
            columns[config["column"]] = EvidentlyColumn(
                EVIDENTLY_METHODS[config["method"]],
                float(metric["value"]),
                float(config["threshold"]),
                _failed(status[metric["id"]]),
            )
        elif "DriftedColumnsCount" in metric["metric_name"]:
            assert float(config["drift_share"]) == drift_share
            counts.append(
                (
                    float(metric["value"]["count"]),
                    float(metric["value"]["share"]),
                    _failed(status[metric["id"]]),
                )
            )
    assert set(columns) == set(types), "Evidently did not report every column"
    ((count, share, dataset_drift),) = counts
    return EvidentlyResult(columns, drift_share, count, share, dataset_drift)


def run_driftwatch(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: Types,
    drift_share: float = 0.5,
    options: Mapping[str, ColumnOptions] | None = None,
) -> DatasetDrift:
    profile = ReferenceProfile.build(reference, list(types), types)
    window = {name: current[name] for name in types}
    return dataset_drift(profile, window, options, share_threshold=drift_share)


@cache
def evidently_results(case: Case) -> EvidentlyResult:
    return run_evidently(*frames(case), TYPES, case.drift_share)


@cache
def driftwatch_results(case: Case) -> DatasetDrift:
    return run_driftwatch(*frames(case), TYPES, case.drift_share)


# --------------------------------------------------------------------------- checks


def column_mismatches(evidently: EvidentlyResult, ours: DatasetDrift) -> list[str]:
    assert not ours.errors, f"driftwatch failed on {[(c.column, c.error) for c in ours.errors]}"
    assert {c.column for c in ours.columns} == set(evidently.columns)
    problems = []
    for column in ours.columns:
        expected = evidently.columns[column.column]
        got = (column.method, column.score, column.threshold, column.drift_detected)
        want = (expected.method, expected.score, expected.threshold, expected.drift_detected)
        if (
            column.method != expected.method
            or not same_score(column.score, expected.score)
            or not same_score(column.threshold, expected.threshold)
            or column.drift_detected != expected.drift_detected
        ):
            problems.append(f"{column.column}: driftwatch {got} != evidently {want}")
    return problems


def dataset_mismatches(evidently: EvidentlyResult, ours: DatasetDrift) -> list[str]:
    assert ours.share_threshold == evidently.drift_share
    got = (ours.n_drifted, ours.drift_share, ours.dataset_drift)
    want = (evidently.count, evidently.share, evidently.dataset_drift)
    if (
        ours.n_drifted != want[0]
        or not same_score(ours.drift_share, want[1])
        or ours.dataset_drift != want[2]
    ):
        return [f"drift_share={evidently.drift_share}: driftwatch {got} != evidently {want}"]
    return []


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_columns_match_evidently(case: Case) -> None:
    problems = column_mismatches(evidently_results(case), driftwatch_results(case))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_dataset_drift_matches_evidently(case: Case) -> None:
    problems = dataset_mismatches(evidently_results(case), driftwatch_results(case))
    assert not problems, "\n".join(problems)


def test_cases_cover_every_branch_of_the_default_rule() -> None:
    """The generated frames reach every (reference size, type, method) branch and both drift decisions
    of every method; every drift share setting sees shares below, equal to and above it."""
    seen: set[tuple[str, str, str]] = set()
    decisions: dict[str, set[bool]] = {}
    shares: dict[float, set[str]] = {0.3: set(), 0.5: set(), 0.7: set()}
    reference_rows: set[int] = set()
    for case in CASES:
        result = driftwatch_results(case)
        share, setting = round(result.drift_share, 9), case.drift_share
        shares[setting].add("below" if share < setting else "equal" if share == setting else "above")
        for column in result.columns:
            side = "<=1000" if column.reference_rows <= 1000 else ">1000"
            seen.add((side, column.type, column.method))
            decisions.setdefault(column.method, set()).add(column.drift_detected)
            reference_rows.add(column.reference_rows)
        if case.missing == "one":
            assert len(frames(case)[0]) == 1001
            assert {c.reference_rows for c in result.columns} == {1000}
    assert seen == {
        ("<=1000", "numeric", "ks"),
        ("<=1000", "numeric", "chisquare"),
        ("<=1000", "numeric", "z"),
        ("<=1000", "categorical", "chisquare"),
        ("<=1000", "categorical", "z"),
        (">1000", "numeric", "wasserstein"),
        (">1000", "numeric", "jensenshannon"),
        (">1000", "categorical", "jensenshannon"),
    }
    assert {1000, 1001} <= reference_rows
    assert all(found == {True, False} for found in decisions.values()), decisions
    assert all({"below", "above"} <= found for found in shares.values()), shares
    assert any("equal" in found for found in shares.values()), shares


# --------------------------------------------------------------------------- explicit methods

EXPLICIT_NUMERIC = ["num_normal", "num_twelve", "num_twenty", "num_twenty_one", "num_many_ties"]
EXPLICIT_CATEGORICAL = ["cat_two", "cat_many"]
EXPLICIT_TYPES: Types = {
    **dict.fromkeys(EXPLICIT_NUMERIC, "numeric"),
    **dict.fromkeys(EXPLICIT_CATEGORICAL, "categorical"),
}


def explicit_frames(ref_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """num_twenty has exactly 20 distinct reference values (Jensen-Shannon on value shares),
    num_twenty_one 21 (Jensen-Shannon on a Sturges histogram of both samples)."""
    rng = np.random.default_rng(seed)

    def side(n: int, s: float) -> pd.DataFrame:
        twenty = rng.integers(0, 20, n).astype(np.float64)
        twenty[:20] = np.arange(20)
        twenty_one = rng.integers(0, 21, n).astype(np.float64)
        twenty_one[:21] = np.arange(21)
        normal = rng.normal(0.2 * s, 1.0, n)
        normal[rng.random(n) < 0.03] = np.nan
        normal[:3] = [np.nan, np.inf, -np.inf]
        return pd.DataFrame(
            {
                "num_normal": normal,
                "num_twelve": rng.binomial(11, 0.5 + 0.04 * s, n).astype(np.float64),
                "num_twenty": twenty + s * (rng.random(n) < 0.3),
                "num_twenty_one": twenty_one + s * (rng.random(n) < 0.3),
                "num_many_ties": np.round(rng.normal(50.0 + 2.0 * s, 10.0, n)),
                "cat_two": _choice(rng, ["no", "yes"], [0.6 - 0.1 * s, 0.4 + 0.1 * s], n),
                "cat_many": _choice(rng, [f"c{i:02d}" for i in range(15)], np.linspace(1.0, 3.0 + s, 15), n),
            }
        )

    return side(ref_rows, 0.0), side(ref_rows * 2 // 3, 1.0)


# column -> (method, threshold or None for the method's default)
EXPLICIT_CONFIGS: dict[str, dict[str, tuple[str, float | None]]] = {
    # default thresholds; each method on the side of the 1000-row boundary the default rule never uses it
    "swapped": {
        "num_normal": ("wasserstein", None),
        "num_twelve": ("jensenshannon", None),
        "num_twenty": ("jensenshannon", None),
        "num_twenty_one": ("jensenshannon", None),
        "num_many_ties": ("ks", None),
        "cat_two": ("jensenshannon", None),
        "cat_many": ("z", None),
    },
    # custom thresholds, Jensen-Shannon again on both sides of the 20-distinct switch
    "thresholds": {
        "num_normal": ("ks", 0.2),
        "num_twelve": ("wasserstein", 0.05),
        "num_twenty": ("jensenshannon", 0.03),
        "num_twenty_one": ("jensenshannon", 0.03),
        "num_many_ties": ("jensenshannon", 0.02),
        "cat_two": ("chisquare", 0.01),
        "cat_many": ("jensenshannon", 0.05),
    },
}


@pytest.mark.parametrize(
    ("config", "ref_rows", "seed", "drift_share"), [("swapped", 300, 5, 0.3), ("thresholds", 3000, 6, 0.7)]
)
def test_explicit_methods_match_evidently(config: str, ref_rows: int, seed: int, drift_share: float) -> None:
    reference, current = explicit_frames(ref_rows, seed)
    chosen = EXPLICIT_CONFIGS[config]
    methods = {column: method for column, (method, _) in chosen.items()}
    thresholds = {column: threshold for column, (_, threshold) in chosen.items() if threshold is not None}
    evidently = run_evidently(reference, current, EXPLICIT_TYPES, drift_share, methods, thresholds or None)
    options = {column: ColumnOptions(method, threshold) for column, (method, threshold) in chosen.items()}
    ours = run_driftwatch(reference, current, EXPLICIT_TYPES, drift_share, options)
    assert {c.column: c.method for c in ours.columns} == methods
    problems = column_mismatches(evidently, ours) + dataset_mismatches(evidently, ours)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- large samples

LARGE_TYPES: Types = {
    "num_continuous": "numeric",
    "num_ties": "numeric",
    "num_eight": "numeric",
    "num_ties_js": "numeric",
    "cat_many": "categorical",
}


def test_large_samples_match_evidently() -> None:
    """Tens of thousands of rows with long runs of tied values: wasserstein on large sorted samples,
    Jensen-Shannon on a Sturges histogram of tied values (explicitly configured), NaN/inf in both."""
    rng = np.random.default_rng(41)

    def side(n: int, s: float) -> pd.DataFrame:
        continuous = rng.normal(0.05 * s, 1.0, n)
        continuous[rng.random(n) < 0.01] = np.nan
        continuous[:3] = [np.nan, np.inf, -np.inf]
        categories = [f"c{i:02d}" for i in range(30)]
        return pd.DataFrame(
            {
                "num_continuous": continuous,
                "num_ties": np.round(rng.normal(100.0 + 0.8 * s, 10.0, n)),
                "num_eight": rng.binomial(7, 0.5 + 0.01 * s, n).astype(np.int64),
                "num_ties_js": np.round(rng.normal(100.0 + 0.8 * s, 10.0, n)),
                "cat_many": _choice(rng, categories, np.linspace(1.0, 2.0 + s, 30), n),
            }
        )

    reference, current = side(17_000, 0.0), side(21_000, 1.0)  # both above wasserstein_sorted's block
    methods = {"num_ties_js": "jensenshannon"}
    evidently = run_evidently(reference, current, LARGE_TYPES, 0.5, methods)
    ours = run_driftwatch(
        reference, current, LARGE_TYPES, 0.5, {"num_ties_js": ColumnOptions("jensenshannon")}
    )
    assert {c.column: c.method for c in ours.columns} == {
        "num_continuous": "wasserstein",
        "num_ties": "wasserstein",
        "num_eight": "wasserstein",
        "num_ties_js": "jensenshannon",
        "cat_many": "jensenshannon",
    }
    problems = column_mismatches(evidently, ours) + dataset_mismatches(evidently, ours)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- inf without NaN

INF_TYPES: Types = {"x": "numeric", "y": "numeric"}


@cache
def inf_only_frames(side: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A numeric column ``x`` with +/-inf but no NaN, in the reference or in the current window.

    Reference side: 1001 reference rows, one of them inf, so 1000 finite rows
    (ks); ``x`` shifted by one standard deviation in the window.
    Current side: 2000 clean reference rows (wasserstein); ``x`` unshifted in the
    window, which holds one inf and one -inf.
    """
    rng = np.random.default_rng(99)
    rows = 1001 if side == "reference" else 2000
    reference = pd.DataFrame({"x": rng.normal(0.0, 1.0, rows), "y": rng.normal(0.0, 1.0, rows)})
    shift = 1.0 if side == "reference" else 0.0
    current = pd.DataFrame({"x": rng.normal(shift, 1.0, 400), "y": rng.normal(0.0, 1.0, 400)})
    if side == "reference":
        reference.loc[10, "x"] = np.inf
    else:
        current.loc[[3, 4], "x"] = [np.inf, -np.inf]
    return reference, current


@cache
def inf_only_results(side: str) -> tuple[EvidentlyResult, DatasetDrift]:
    reference, current = inf_only_frames(side)
    return run_evidently(reference, current, INF_TYPES), run_driftwatch(reference, current, INF_TYPES)


@pytest.mark.parametrize(("side", "method"), [("reference", "ks"), ("current", "wasserstein")])
def test_inf_without_nan_matches_value_drift(side: str, method: str) -> None:
    """Per column, driftwatch drops inf exactly as Evidently's ValueDrift does (inf not counted as a row)."""
    evidently, ours = inf_only_results(side)
    problems = column_mismatches(evidently, ours)
    assert not problems, "\n".join(problems)
    assert evidently.columns["x"].method == method


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Evidently 0.7.23: DriftedColumnsCount (legacy get_drift_for_columns) drops NaN/inf only from "
        "columns where isna().any(), so a column with inf and no NaN keeps its inf there, unlike "
        "ValueDrift. Reference side: 1001 rows -> wasserstein with inf -> NaN -> not drifted "
        "(ValueDrift: ks on 1000 rows, drifted). Current side: wasserstein -> inf -> drifted "
        "(ValueDrift: not drifted). driftwatch follows ValueDrift, so its count differs from the preset's."
    ),
)
@pytest.mark.parametrize("side", ["reference", "current"])
def test_inf_without_nan_drifted_columns_count(side: str) -> None:
    evidently, ours = inf_only_results(side)
    problems = dataset_mismatches(evidently, ours)
    assert not problems, "\n".join(problems)
