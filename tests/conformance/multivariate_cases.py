"""The data of the multivariate drift conformance cases, generated from fixed seeds.

Shared by tests/conformance/test_multivariate_nannyml.py (driftwatch's side) and
tests/conformance/regenerate_multivariate_fixture.py (NannyML's side, run once to write the
expected numbers). The generators are oracle_cases.py's; each frame's `digest` is stored with the
expected numbers, so a change in the generator (or in numpy's random streams) fails the test loudly
instead of comparing other data.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from tests.conformance.oracle_cases import (
    MIXED,
    NUMERIC,
    Case,
    Pair,
    digest,
    mixed,
    mixed_drift,
    mixed_missing,
    numeric,
    numeric_correlation_drift,
    numeric_frame,
    numeric_pair,
    object_columns,
    timestamps,
    weekly_periods,
)

__all__ = ["CASES", "Case", "digest"]


def _numeric_shift_incomplete() -> Pair:
    rng = np.random.default_rng(3)
    reference = numeric_frame(numeric(rng, 5300, 8, 3, loadings_seed=7))
    analysis = numeric_frame(numeric(rng, 4100, 8, 3, loadings_seed=7))
    analysis.loc[2000:, "x2"] += 1.5
    return reference, analysis


def _mixed_no_drift() -> Pair:
    rng = np.random.default_rng(4)
    return mixed(rng, 5003), mixed(rng, 5003)


def _daily_with_gaps() -> Pair:
    """Time-zone-aware timestamps, some missing (their rows belong to no period), daily chunks."""
    rng = np.random.default_rng(10)
    frames = []
    for rows, start, days in ((3000, "2026-02-02", 15), (2000, "2026-02-23", 10)):
        frame = numeric_frame(numeric(rng, rows, 8, 3, loadings_seed=7))
        stamps = pd.Series(timestamps(rng, rows, start, days).tz_localize("UTC").tz_convert("Europe/Berlin"))
        frame["ts"] = stamps.where(rng.random(rows) >= 0.03)
        frames.append(frame.sample(frac=1.0, random_state=2).reset_index(drop=True))
    reference, analysis = frames
    analysis["x5"] = analysis["x5"].where(
        analysis["ts"] < pd.Timestamp("2026-02-28", tz="Europe/Berlin"), 0.0
    )
    return reference, analysis


_numeric_no_drift = partial(numeric_pair, 1, 6000)
_numeric_correlation_drift = partial(numeric_correlation_drift, 2, 6000)
_mixed_drift = partial(mixed_drift, 5, 5000, 2500)
_mixed_missing = partial(mixed_missing, 6, 4000, 2000)
_period = partial(weekly_periods, 8, (7000, 70), (4200, 42))
_object_columns = partial(object_columns, 9, 4000, 3000, flag_missing=True)  # flag: object, with None

CASES = [
    Case("numeric_no_drift", _numeric_no_drift, NUMERIC, {"chunk_size": 500}),
    Case("numeric_correlation_drift", _numeric_correlation_drift, NUMERIC, {"chunk_size": 750}),
    Case("numeric_shift_incomplete_chunk", _numeric_shift_incomplete, NUMERIC, {"chunk_size": 1000}),
    Case(
        "numeric_three_components",
        _numeric_correlation_drift,
        NUMERIC,
        {"chunk_size": 400, "n_components": 3},
    ),
    Case("numeric_cut_0.9", _numeric_shift_incomplete, NUMERIC, {"chunk_number": 9, "n_components": 0.9}),
    Case("mixed_no_drift", _mixed_no_drift, MIXED, {"chunk_number": 8}),
    Case("mixed_drift", _mixed_drift, MIXED, {"chunk_size": 625}),
    Case("mixed_missing_default_chunks", _mixed_missing, MIXED, {}),
    Case("mixed_missing_chunk_size", _mixed_missing, MIXED, {"chunk_size": 333}),
    Case("period_weekly", _period, MIXED, {"chunk_period": "W", "timestamp_column": "ts"}),
    Case(
        "period_daily_tz_missing_times",
        _daily_with_gaps,
        NUMERIC,
        {"chunk_period": "D", "timestamp_column": "ts"},
    ),
    Case(
        "object_none_and_nan",
        _object_columns,
        ["x", "y", "count", "channel", "tier", "flag"],
        {"chunk_size": 500},
    ),
]
