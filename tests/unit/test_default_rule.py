"""Evidently's default choice of drift method, as driftwatch implements it, and column errors.

No Evidently here: these pin the boundaries of the rule (1000 reference rows
counted after dropping NaN/inf, 5 and 2 distinct values counted over reference
and current together) and what happens to a column whose test cannot run.
``test_conformance.py`` checks the same rule against Evidently itself.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwatch.drift import ColumnDrift, ColumnType, DatasetDrift, ReferenceProfile, dataset_drift

Values = Callable[[int], list[object]]


def run_column(
    reference: list[object] | np.ndarray, current: list[object] | np.ndarray, column_type: ColumnType
) -> ColumnDrift:
    frame = pd.DataFrame({"col": pd.Series(reference, dtype=None if column_type == "numeric" else object)})
    profile = ReferenceProfile.build(frame, ["col"], {"col": column_type})
    result = dataset_drift(profile, {"col": pd.Series(current)})
    assert not result.errors, result.errors
    (column,) = result.columns
    return column


def cycle(values: Sequence[object]) -> Values:
    """``n`` values cycling through ``values``: every value present once ``n >= len(values)``."""
    return lambda n: [values[i % len(values)] for i in range(n)]


def continuous(n: int) -> list[object]:
    return list(np.random.default_rng(n).normal(0.0, 1.0, n))


# kind -> (values, column type, method with <= 1000 reference rows, method with more)
KINDS: dict[str, tuple[Values, ColumnType, str, str]] = {
    "numeric continuous": (continuous, "numeric", "ks", "wasserstein"),
    "numeric 6 distinct": (cycle([0, 1, 2, 3, 4, 5]), "numeric", "ks", "wasserstein"),
    "numeric 4 distinct": (cycle([0.0, 1.5, 2.0, 7.0]), "numeric", "chisquare", "jensenshannon"),
    "numeric 2 distinct": (cycle([0, 1]), "numeric", "z", "jensenshannon"),
    "categorical 12 categories": (
        cycle([f"c{i}" for i in range(12)]),
        "categorical",
        "chisquare",
        "jensenshannon",
    ),
    "categorical 2 categories": (cycle(["no", "yes"]), "categorical", "z", "jensenshannon"),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
@pytest.mark.parametrize("rows", [999, 1000, 1001, 1002])
def test_thousand_row_boundary(kind: str, rows: int) -> None:
    values, column_type, small, large = KINDS[kind]
    column = run_column(values(rows), values(300), column_type)
    assert column.reference_rows == rows
    assert column.method == (small if rows <= 1000 else large)


MISSING_NUMERIC = {
    "nan": [math.nan],
    "inf": [math.inf],
    "-inf": [-math.inf],
    "nan, inf, -inf": [math.nan, math.inf, -math.inf],
    "50 nan": [math.nan] * 50,
}


@pytest.mark.parametrize("missing", sorted(MISSING_NUMERIC))
@pytest.mark.parametrize(
    ("kind", "expected"), [("continuous", "ks"), ("4 distinct", "chisquare"), ("2 distinct", "z")]
)
def test_nan_and_inf_reference_rows_are_not_counted(missing: str, kind: str, expected: str) -> None:
    """1000 finite reference rows plus NaN/inf rows stay on the <= 1000 side; NaN/inf are no distinct values."""
    values = {"continuous": continuous, "4 distinct": cycle([0, 1, 2, 3]), "2 distinct": cycle([0, 1])}[kind]
    extra = MISSING_NUMERIC[missing]
    reference = values(1000)
    reference[500:500] = extra
    current = [*values(200), math.nan, math.inf, -math.inf]
    column = run_column(reference, current, "numeric")
    assert len(reference) == 1000 + len(extra)
    assert column.reference_rows == 1000
    assert column.current_rows == 200
    assert column.method == expected
    control = run_column(values(1001), values(200), "numeric")
    assert control.method != expected


@pytest.mark.parametrize("missing", [None, math.nan, float("inf")])
def test_missing_categories_are_not_counted(missing: object) -> None:
    reference = cycle(["a", "b", "c"])(1000)
    reference.insert(10, missing)
    column = run_column(reference, cycle(["a", "b", "c", None])(200), "categorical")
    assert column.reference_rows == 1000
    assert column.current_rows == 150
    assert column.method == "chisquare"


# (reference values, current values, distinct values over both)
DISTINCT_CASES: dict[str, tuple[list[float], list[float], int]] = {
    "5 in both": ([0, 1, 2, 3, 4], [0, 1, 2, 3, 4], 5),
    "5 and a nan": ([0, 1, 2, 3, 4, math.nan], [0, 1, 2, 3, 4, math.inf], 5),
    "6 in both": ([0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5], 6),
    "5 plus 1 unseen": ([0, 1, 2, 3, 4], [0, 1, 5], 6),
    "3 plus 3 unseen": ([0, 1, 2], [3, 4, 5], 6),
    "6 in reference only": ([0, 1, 2, 3, 4, 5], [0], 6),
    "2 in both": ([0, 1], [0, 1], 2),
    "1 plus 1 unseen": ([7], [8], 2),
    "2 plus 1 unseen": ([0, 1], [2], 3),
    "3 in both": ([0, 1, 2], [0, 1, 2], 3),
}


@pytest.mark.parametrize("case", sorted(DISTINCT_CASES))
@pytest.mark.parametrize("rows", [1000, 1001])
def test_numeric_distinct_value_boundaries(case: str, rows: int) -> None:
    """More than 5 distinct values (reference and current together) -> ks/wasserstein; else chisquare
    for more than 2, z for at most 2 (<= 1000 rows), jensenshannon (> 1000 rows)."""
    ref_values, cur_values, distinct = DISTINCT_CASES[case]
    finite: list[object] = [v for v in ref_values if math.isfinite(v)]
    reference = cycle(finite)(rows) + [v for v in ref_values if not math.isfinite(v)]
    column = run_column(reference, cycle(cur_values)(60), "numeric")
    assert column.reference_rows == rows
    if rows <= 1000:
        expected = "ks" if distinct > 5 else "chisquare" if distinct > 2 else "z"
    else:
        expected = "wasserstein" if distinct > 5 else "jensenshannon"
    assert column.method == expected


@pytest.mark.parametrize(
    ("ref_values", "cur_values", "expected"),
    [
        (["a", "b"], ["a", "b"], "z"),
        (["a"], ["b"], "z"),
        (["a", "b", None], ["a", None], "z"),
        (["a", "b"], ["c"], "chisquare"),
        (["a", "b", "c"], ["a"], "chisquare"),
        ([f"c{i}" for i in range(8)], [f"c{i}" for i in range(8)], "chisquare"),  # never ks
    ],
)
def test_categorical_distinct_value_boundaries(
    ref_values: list[object], cur_values: list[object], expected: str
) -> None:
    assert run_column(cycle(ref_values)(300), cycle(cur_values)(100), "categorical").method == expected
    many = run_column(cycle(ref_values)(1600), cycle(cur_values)(100), "categorical")
    assert many.method == "jensenshannon"


@settings(max_examples=60, deadline=None)
@given(
    finite_rows=st.integers(990, 1010),
    missing=st.integers(0, 15),
    ref_distinct=st.integers(1, 8),
    unseen=st.integers(0, 3),
    column_type=st.sampled_from(["numeric", "categorical"]),
)
def test_rule_matches_its_statement(
    finite_rows: int, missing: int, ref_distinct: int, unseen: int, column_type: ColumnType
) -> None:
    """Any reference size near 1000, missing share and distinct count: the method is the rule's."""
    ref_numbers = [float(i % ref_distinct) for i in range(finite_rows)]
    ref_numbers += [math.nan if i % 2 else math.inf for i in range(missing)]
    cur_numbers = [float(i % (ref_distinct + unseen)) for i in range(50)]
    reference: list[object] = list(ref_numbers)
    current: list[object] = list(cur_numbers)
    if column_type == "categorical":
        reference = [f"k{v:g}" if math.isfinite(v) else None for v in ref_numbers]
        current = [f"k{v:g}" for v in cur_numbers]
    distinct = ref_distinct + min(unseen, 50)
    if finite_rows <= 1000 and column_type == "numeric" and distinct > 5:
        expected = "ks"
    elif finite_rows <= 1000:
        expected = "chisquare" if distinct > 2 else "z"
    else:
        expected = "wasserstein" if column_type == "numeric" and distinct > 5 else "jensenshannon"
    column = run_column(reference, current, column_type)
    assert column.reference_rows == finite_rows
    assert column.method == expected


# --------------------------------------------------------------------------- errors

EMPTY_CURRENT: dict[str, tuple[ColumnType, pd.Series | np.ndarray | None]] = {
    "numeric all nan": ("numeric", pd.Series([math.nan] * 40)),
    "numeric all inf": ("numeric", pd.Series([math.inf, -math.inf] * 20)),
    "numeric zero rows": ("numeric", pd.Series([], dtype=float)),
    "numeric missing from the window": ("numeric", None),
    "categorical all None": ("categorical", pd.Series([None] * 40, dtype=object)),
    "categorical zero rows": ("categorical", np.array([], dtype=object)),
}


def three_column_frames() -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {
            "drifted": rng.normal(0.0, 1.0, 400),
            "stable": rng.normal(0.0, 1.0, 400),
            "empty_num": rng.normal(0.0, 1.0, 400),
            "empty_cat": rng.choice(["a", "b", "c"], 400),
        }
    )
    current = {
        "drifted": pd.Series(rng.normal(3.0, 1.0, 200)),
        "stable": reference["stable"].copy(),
        "empty_num": pd.Series(rng.normal(0.0, 1.0, 200)),
        "empty_cat": pd.Series(rng.choice(["a", "b", "c"], 200)),
    }
    return reference, current


@pytest.mark.parametrize("case", sorted(EMPTY_CURRENT))
def test_empty_current_column_is_an_error_left_out_of_the_share(case: str) -> None:
    column_type, empty = EMPTY_CURRENT[case]
    name = "empty_num" if column_type == "numeric" else "empty_cat"
    reference, current = three_column_frames()
    columns = ["drifted", "stable", name]
    types: dict[str, ColumnType | None] = {"drifted": "numeric", "stable": "numeric", name: column_type}
    profile = ReferenceProfile.build(reference, columns, types)
    window: dict[str, pd.Series | np.ndarray] = {key: current[key] for key in columns}
    if empty is None:
        del window[name]
    else:
        window[name] = empty

    result = dataset_drift(profile, window, share_threshold=0.5)

    (error,) = result.errors
    assert error.column == name
    assert error.error
    assert math.isnan(error.score)
    assert not error.drift_detected
    assert error.current_rows == 0
    assert error.reference_rows == 400
    assert [c.column for c in result.columns] == ["drifted", "stable"]
    assert [c.drift_detected for c in result.columns] == [True, False]
    assert result.n_columns == 2
    assert result.n_drifted == 1
    assert result.drift_share == 0.5
    assert result.dataset_drift
    listed = result.as_dict()["columns"]
    assert isinstance(listed, list)
    assert {c["column"] for c in listed} == set(columns)

    # the other columns are computed exactly as without the broken one
    alone = dataset_drift(
        ReferenceProfile.build(reference, ["drifted", "stable"], types),
        {key: current[key] for key in ("drifted", "stable")},
    )
    assert result.columns == alone.columns


def test_empty_reference_column_is_an_error() -> None:
    reference = pd.DataFrame({"ok": np.arange(100.0), "gone": [math.nan] * 50 + [math.inf] * 50})
    profile = ReferenceProfile.build(reference, ["ok", "gone"], {"ok": "numeric", "gone": "numeric"})
    result = dataset_drift(profile, {"ok": pd.Series(np.arange(100.0)), "gone": pd.Series(np.arange(100.0))})
    (error,) = result.errors
    assert error.column == "gone"
    assert error.error
    assert error.reference_rows == 0
    assert [c.column for c in result.columns] == ["ok"]
    assert result.drift_share == 0.0
    assert not result.dataset_drift


def test_every_column_broken_means_no_dataset_drift() -> None:
    reference = pd.DataFrame({"x": np.arange(100.0)})
    profile = ReferenceProfile.build(reference, ["x"], {"x": "numeric"})
    result = dataset_drift(profile, {"x": pd.Series([math.nan] * 10)}, share_threshold=0.0)
    assert result.columns == []
    assert len(result.errors) == 1
    assert result.n_columns == 0
    assert result.drift_share == 0.0
    assert not result.dataset_drift


@pytest.mark.parametrize(("threshold", "expected"), [(0.49, True), (0.5, True), (0.51, False)])
def test_share_equal_to_the_threshold_is_dataset_drift(threshold: float, expected: bool) -> None:
    reference, current = three_column_frames()
    profile = ReferenceProfile.build(
        reference, ["drifted", "stable"], {"drifted": "numeric", "stable": "numeric"}
    )
    result = dataset_drift(profile, current, share_threshold=threshold)
    assert isinstance(result, DatasetDrift)
    assert result.drift_share == 0.5
    assert result.dataset_drift is expected
