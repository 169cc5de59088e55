"""Conformance of driftwatch's drift engine with Evidently 0.7.23's ``DataDriftPreset``.

Every expected value is computed live by Evidently on the same generated frames:
nothing here is a hard-coded score. Per column we compare the method Evidently's
default rule picked, the score (to 1e-9 relative), the threshold and the drift
decision; per dataset the number and share of drifted columns and the dataset
drift decision at drift shares 0.3, 0.5 and 0.7.

The frames cover every branch of Evidently's default rule: reference sizes 200,
1000, 1001 with one missing value per column (1000 after cleaning, so still the
<= 1000 branch), 1001 clean and 5000; current windows smaller and larger than the
reference; numeric columns with 1, 2, 4, 5, 6 (5 + one unseen), 12 and >20
distinct values; continuous columns shifted, rescaled and unchanged; categorical
columns with 1, 2, 3 and 15 categories, unseen categories and ``None``; NaN and
+/-inf in numeric columns. Explicitly configured methods cover the Jensen-Shannon
binning switch at 20 distinct reference values (Sturges histogram above), which
the default rule never reaches for numeric columns.
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
from evidently.metrics import DriftedColumnsCount
from evidently.presets import DataDriftPreset

from driftwatch.drift import ColumnOptions, DatasetDrift, ReferenceProfile, dataset_drift

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning", "ignore::FutureWarning")

EVIDENTLY_METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Jensen-Shannon distance": "jensenshannon",
    "Wasserstein distance (normed)": "wasserstein",
}
SHARES = (0.3, 0.5, 0.7)


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
    """

    ref_rows: int
    cur_rows: int
    seed: int
    intensity: int
    missing: str

    @property
    def id(self) -> str:
        return f"ref{self.ref_rows}-{self.missing}-cur{self.cur_rows}-seed{self.seed}-x{self.intensity}"


REFERENCES = [(200, "sprinkle"), (1000, "sprinkle"), (1001, "one"), (1001, "none"), (5000, "sprinkle")]
SEEDS_AND_INTENSITIES = [(11, 0), (23, 1), (37, 3)]
CASES = [
    Case(ref_rows, cur_rows, seed + ref_rows, intensity, missing)
    for ref_rows, missing in REFERENCES
    for cur_rows in (ref_rows * 2 // 5, ref_rows * 3 // 2)
    for seed, intensity in SEEDS_AND_INTENSITIES
]

NUMERIC = [
    "num_normal",
    "num_shifted",
    "num_scaled",
    "num_nan_inf",
    "num_constant",
    "num_binary",
    "num_four",
    "num_five",
    "num_five_plus_new",
    "num_twelve",
    "num_many_ties",
]
CATEGORICAL = ["cat_single_ref", "cat_two", "cat_three_none", "cat_many", "cat_unseen"]
TYPES = {**dict.fromkeys(NUMERIC, "numeric"), **dict.fromkeys(CATEGORICAL, "categorical")}


def _choice(rng: np.random.Generator, values: list[Any], probs: npt_like, n: int) -> np.ndarray:
    probs = np.asarray(probs, dtype=float)
    return rng.choice(np.array(values, dtype=object), size=n, p=probs / probs.sum())


npt_like = Any


def _side(rng: np.random.Generator, n: int, s: float, *, current: bool) -> dict[str, np.ndarray]:
    """One frame's columns; ``s`` is the shift (0 for the reference)."""
    many = [f"c{i:02d}" for i in range(15)]
    many_p = np.linspace(1.0, 3.0, 15) * (1.0 + s * np.sin(np.arange(15)))
    five = rng.integers(0, 5, n).astype(np.int64)
    five[:5] = np.arange(5)  # all five values present
    plus_new = rng.integers(0, 5, n).astype(np.int64)
    plus_new[:5] = np.arange(5)
    if current:
        plus_new[5] = 5  # a sixth value only the current window has
    unseen_values = ["a", "b", "c", "d", "e", *(["new_x", "new_y"] if current else [])]
    unseen_probs = [5, 4, 3, 2, 1, *([0.3 + 0.2 * s, 0.2] if current else [])]
    single = np.array(["A"] * n, dtype=object)
    if current and s > 0:
        single[rng.random(n) < 0.04 * s] = "B"
    constant = np.full(n, 7.0)
    if current and s > 0:
        constant[rng.random(n) < 0.03 * s] = 8.0
    return {
        "num_normal": rng.normal(0.0, 1.0, n),
        "num_shifted": rng.normal(0.25 * s, 1.0, n),
        "num_scaled": rng.normal(5.0, 2.0 * (1.0 + 0.2 * s), n),
        "num_nan_inf": rng.normal(0.15 * s, 1.0, n),
        "num_constant": constant,
        "num_binary": (rng.random(n) < 0.3 + 0.06 * s).astype(np.int64),
        "num_four": _choice(rng, [0, 1, 2, 3], [4, 3 + s, 2, 1], n).astype(np.float64),
        "num_five": five,
        "num_five_plus_new": plus_new,
        "num_twelve": rng.binomial(11, 0.5 + 0.03 * s, n).astype(np.int64),
        "num_many_ties": np.round(rng.normal(50.0 + 1.5 * s, 10.0, n)),
        "cat_single_ref": single,
        "cat_two": _choice(rng, ["no", "yes"], [0.6 - 0.06 * s, 0.4 + 0.06 * s], n),
        "cat_three_none": _choice(rng, ["red", "green", "blue"], [5, 3 + 0.5 * s, 2], n),
        "cat_many": _choice(rng, many, many_p, n),
        "cat_unseen": _choice(rng, unseen_values, unseen_probs, n),
    }


def _sprinkle(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    """NaN and +/-inf in two numeric columns, None in a categorical one.

    Every column that gets an inf also gets a NaN: see ``test_inf_without_nan``
    for why a column with inf and no NaN is tested on its own.
    """
    n = len(frame)
    for column in ("num_nan_inf", "num_four"):
        values = frame[column].to_numpy(dtype=np.float64, copy=True)
        values[rng.random(n) < 0.04] = np.nan
        values[0] = np.nan
        if column == "num_nan_inf":
            values[rng.random(n) < 0.01] = np.inf
            values[rng.random(n) < 0.01] = -np.inf
            values[1], values[2] = np.inf, -np.inf
        frame[column] = values
    cats = frame["cat_three_none"].to_numpy(dtype=object, copy=True)
    cats[rng.random(n) < 0.05] = None
    cats[0] = None
    frame["cat_three_none"] = cats


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
    columns: dict[str, EvidentlyColumn]
    count: dict[float, float]  # drift_share setting -> number of drifted columns
    share: dict[float, float]  # drift_share setting -> share of drifted columns
    dataset_drift: dict[float, bool]  # drift_share setting -> dataset drift


def _failed(status: Any) -> bool:
    return getattr(status, "value", status) == "FAIL"


def run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: Mapping[str, str],
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> EvidentlyResult:
    definition = DataDefinition(
        numerical_columns=[c for c, t in types.items() if t == "numeric"],
        categorical_columns=[c for c, t in types.items() if t == "categorical"],
    )
    preset = DataDriftPreset(
        drift_share=0.5, per_column_method=dict(methods or {}) or None, per_column_threshold=thresholds
    )
    extra = [
        DriftedColumnsCount(
            drift_share=share, per_column_method=dict(methods or {}) or None, per_column_threshold=thresholds
        )
        for share in SHARES
        if share != 0.5
    ]
    report = Report([preset, *extra], include_tests=True).run(
        Dataset.from_pandas(current[list(types)], data_definition=definition),
        Dataset.from_pandas(reference[list(types)], data_definition=definition),
    )
    result = report.dict()
    status = {test["metric_config"]["metric_id"]: test["status"] for test in result["tests"]}
    columns: dict[str, EvidentlyColumn] = {}
    count: dict[float, float] = {}
    share: dict[float, float] = {}
    drift: dict[float, bool] = {}
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
            setting = float(config["drift_share"])
            count[setting] = float(metric["value"]["count"])
            share[setting] = float(metric["value"]["share"])
            drift[setting] = _failed(status[metric["id"]])
    assert set(columns) == set(types), "Evidently did not report every column"
    assert set(share) == set(SHARES), "Evidently did not report every drift share setting"
    return EvidentlyResult(columns, count, share, drift)


def run_driftwatch(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: Mapping[str, str],
    options: Mapping[str, ColumnOptions] | None = None,
) -> dict[float, DatasetDrift]:
    profile = ReferenceProfile.build(reference, list(types), types)  # type: ignore[arg-type]
    window = {name: current[name] for name in types}
    return {share: dataset_drift(profile, window, options, share_threshold=share) for share in SHARES}


@cache
def default_results(case: Case) -> tuple[EvidentlyResult, dict[float, DatasetDrift]]:
    reference, current = frames(case)
    return run_evidently(reference, current, TYPES), run_driftwatch(reference, current, TYPES)


# --------------------------------------------------------------------------- checks


def column_mismatches(evidently: EvidentlyResult, ours: DatasetDrift) -> list[str]:
    assert not ours.errors, f"driftwatch failed on {[(c.column, c.error) for c in ours.errors]}"
    assert [c.column for c in ours.columns] == list(evidently.columns) or set(
        c.column for c in ours.columns
    ) == set(evidently.columns)
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


def dataset_mismatches(evidently: EvidentlyResult, ours: Mapping[float, DatasetDrift]) -> list[str]:
    problems = []
    for setting in SHARES:
        result = ours[setting]
        got = (result.n_drifted, result.drift_share, result.dataset_drift)
        want = (evidently.count[setting], evidently.share[setting], evidently.dataset_drift[setting])
        if (
            result.n_drifted != want[0]
            or not same_score(result.drift_share, want[1])
            or result.dataset_drift != want[2]
        ):
            problems.append(f"drift_share={setting}: driftwatch {got} != evidently {want}")
    return problems


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_columns_match_evidently(case: Case) -> None:
    evidently, ours = default_results(case)
    problems = column_mismatches(evidently, ours[0.5])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_dataset_drift_matches_evidently(case: Case) -> None:
    evidently, ours = default_results(case)
    problems = dataset_mismatches(evidently, ours)
    assert not problems, "\n".join(problems)


def test_cases_cover_every_branch_of_the_default_rule() -> None:
    """The generated frames reach every (reference size, type, distinct values) branch, both decisions."""
    seen: set[tuple[str, str, str]] = set()
    decisions: dict[str, set[bool]] = {}
    dataset_decisions: dict[float, set[bool]] = {share: set() for share in SHARES}
    reference_rows: set[int] = set()
    for case in CASES:
        reference, current = frames(case)
        results = run_driftwatch(reference, current, TYPES)
        for share, result in results.items():
            dataset_decisions[share].add(result.dataset_drift)
        for column in results[0.5].columns:
            side = "<=1000" if column.reference_rows <= 1000 else ">1000"
            seen.add((side, column.type, column.method))
            decisions.setdefault(column.method, set()).add(column.drift_detected)
            reference_rows.add(column.reference_rows)
        if case.missing == "one":
            assert len(reference) == 1001
            assert {c.reference_rows for c in results[0.5].columns} == {1000}
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
    assert all(found == {True, False} for found in dataset_decisions.values()), dataset_decisions


# --------------------------------------------------------------------------- explicit methods

EXPLICIT_NUMERIC = ["num_normal", "num_twelve", "num_twenty", "num_twenty_one", "num_many_ties"]
EXPLICIT_CATEGORICAL = ["cat_two", "cat_many"]
EXPLICIT_TYPES = {**dict.fromkeys(EXPLICIT_NUMERIC, "numeric"), **dict.fromkeys(EXPLICIT_CATEGORICAL, "categorical")}


def explicit_frames(ref_rows: int, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def side(n: int, s: float) -> pd.DataFrame:
        twenty = rng.integers(0, 20, n).astype(np.float64)
        twenty[:20] = np.arange(20)  # exactly 20 distinct reference values: value shares
        twenty_one = rng.integers(0, 21, n).astype(np.float64)
        twenty_one[:21] = np.arange(21)  # 21: Sturges histogram
        frame = pd.DataFrame(
            {
                "num_normal": rng.normal(0.2 * s, 1.0, n),
                "num_twelve": rng.binomial(11, 0.5 + 0.04 * s, n).astype(np.float64),
                "num_twenty": twenty + s * (rng.random(n) < 0.3),
                "num_twenty_one": twenty_one + s * (rng.random(n) < 0.3),
                "num_many_ties": np.round(rng.normal(50.0 + 2.0 * s, 10.0, n)),
                "cat_two": _choice(rng, ["no", "yes"], [0.6 - 0.1 * s, 0.4 + 0.1 * s], n),
                "cat_many": _choice(rng, [f"c{i:02d}" for i in range(15)], np.linspace(1.0, 3.0 + s, 15), n),
            }
        )
        _sprinkle_explicit(rng, frame)
        return frame

    return side(ref_rows, 0.0), side(ref_rows * 2 // 3, 1.0)


def _sprinkle_explicit(rng: np.random.Generator, frame: pd.DataFrame) -> None:
    values = frame["num_normal"].to_numpy(copy=True)
    values[rng.random(len(frame)) < 0.03] = np.nan
    values[0], values[1], values[2] = np.nan, np.inf, -np.inf
    frame["num_normal"] = values


EXPLICIT_CONFIGS = {
    # the default rule's methods swapped across the 1000-row boundary, Jensen-Shannon on numeric columns
    "swapped": (
        {
            "num_normal": ("wasserstein", None),
            "num_twelve": ("jensenshannon", None),
            "num_twenty": ("jensenshannon", None),
            "num_twenty_one": ("jensenshannon", None),
            "num_many_ties": ("ks", None),
            "cat_two": ("jensenshannon", None),
            "cat_many": ("z", None),
        }
    ),
    # custom thresholds, including Jensen-Shannon both sides of the 20-distinct switch
    "thresholds": (
        {
            "num_normal": ("ks", 0.2),
            "num_twelve": ("wasserstein", 0.05),
            "num_twenty": ("jensenshannon", 0.03),
            "num_twenty_one": ("jensenshannon", 0.03),
            "num_many_ties": ("jensenshannon", 0.02),
            "cat_two": ("chisquare", 0.01),
            "cat_many": ("jensenshannon", 0.05),
        }
    ),
}


@pytest.mark.parametrize("config", sorted(EXPLICIT_CONFIGS))
@pytest.mark.parametrize(("ref_rows", "seed"), [(300, 5), (3000, 6)])
def test_explicit_methods_match_evidently(config: str, ref_rows: int, seed: int) -> None:
    reference, current = explicit_frames(ref_rows, seed)
    chosen = EXPLICIT_CONFIGS[config]
    methods = {column: method for column, (method, _) in chosen.items()}
    thresholds = {column: threshold for column, (_, threshold) in chosen.items() if threshold is not None}
    evidently = run_evidently(reference, current, EXPLICIT_TYPES, methods, thresholds or None)
    options = {column: ColumnOptions(method, threshold) for column, (method, threshold) in chosen.items()}
    ours = run_driftwatch(reference, current, EXPLICIT_TYPES, options)
    assert {c.column: c.method for c in ours[0.5].columns} == methods
    problems = column_mismatches(evidently, ours[0.5]) + dataset_mismatches(evidently, ours)
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------- inf without NaN


def _inf_only_frames(side: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A numeric column with +/-inf but no NaN, in the reference or in the current window.

    The reference has 1001 rows, 1000 of them finite; the current window is
    shifted by one standard deviation, so ks (1000 finite rows) finds drift.
    """
    rng = np.random.default_rng(99)
    reference = pd.DataFrame({"x": rng.normal(0.0, 1.0, 1001), "y": rng.normal(0.0, 1.0, 1001)})
    current = pd.DataFrame({"x": rng.normal(1.0, 1.0, 400), "y": rng.normal(0.0, 1.0, 400)})
    if side == "reference":
        reference.loc[10, "x"] = np.inf
    else:
        reference = reference.iloc[:1000].copy()
        current.loc[[3, 4], "x"] = [np.inf, -np.inf]
    return reference, current


@pytest.mark.parametrize("side", ["reference", "current"])
def test_inf_without_nan_matches_value_drift(side: str) -> None:
    """Per column, driftwatch drops inf exactly as Evidently's ValueDrift does."""
    reference, current = _inf_only_frames(side)
    types = {"x": "numeric", "y": "numeric"}
    evidently = run_evidently(reference, current, types)
    ours = run_driftwatch(reference, current, types)
    problems = column_mismatches(evidently, ours[0.5])
    assert not problems, "\n".join(problems)
    assert evidently.columns["x"].drift_detected


@pytest.mark.xfail(
    strict=True,
    reason=(
        "Evidently 0.7.23 quirk: DriftedColumnsCount (legacy get_drift_for_columns) drops NaN/inf only "
        "from columns where isna().any(), so a column with inf but no NaN keeps its inf there "
        "(reference: 1001 rows -> wasserstein with inf -> NaN score -> not drifted) while ValueDrift "
        "drops it (ks, drifted). driftwatch follows ValueDrift, so its count differs from the preset's."
    ),
)
@pytest.mark.parametrize("side", ["reference", "current"])
def test_inf_without_nan_drifted_columns_count(side: str) -> None:
    reference, current = _inf_only_frames(side)
    types = {"x": "numeric", "y": "numeric"}
    evidently = run_evidently(reference, current, types)
    ours = run_driftwatch(reference, current, types)
    problems = dataset_mismatches(evidently, ours)
    assert not problems, "\n".join(problems)
