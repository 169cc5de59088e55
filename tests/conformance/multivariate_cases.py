"""The data of the multivariate drift conformance cases, generated from fixed seeds.

Shared by tests/conformance/test_multivariate_nannyml.py (driftwatch's side) and
tests/conformance/regenerate_multivariate_fixture.py (NannyML's side, run once to write the
expected numbers). Each frame's `digest` is stored with the expected numbers, so a change in the
generator (or in numpy's random streams) fails the test loudly instead of comparing other data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["CASES", "Case", "digest"]


def _numeric(rng: np.random.Generator, n: int, columns: int, factors: int, loadings_seed: int) -> np.ndarray:
    """Rows of correlated features: a few latent factors through fixed loadings, plus noise."""
    loadings = np.random.default_rng(loadings_seed).normal(size=(factors, columns))
    latent = rng.normal(size=(n, factors))
    noise = rng.normal(scale=0.5, size=(n, columns))
    values: np.ndarray = latent @ loadings + noise + np.arange(columns)
    return values


def _numeric_frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({f"x{j}": values[:, j] for j in range(values.shape[1])})


def _decorrelate(
    rng: np.random.Generator, frame: pd.DataFrame, start: int, columns: list[str]
) -> pd.DataFrame:
    """Shuffle each named column independently from row ``start``: marginals kept, correlations gone."""
    frame = frame.copy()
    for column in columns:
        tail = frame[column].to_numpy()[start:].copy()
        rng.shuffle(tail)
        frame.loc[start:, column] = tail
    return frame


def _mixed(rng: np.random.Generator, n: int, shift: float = 0.0, unseen: bool = False) -> pd.DataFrame:
    frame = _numeric_frame(_numeric(rng, n, 5, 2, loadings_seed=11))
    frame["x0"] = frame["x0"] + shift
    # categories that follow the numbers, so they carry part of the joint structure
    grade = np.digitize(frame["x1"].to_numpy() + rng.normal(scale=0.7, size=n), [-1.0, 0.5, 2.0])
    frame["grade"] = np.array(["d", "c", "b", "a"])[grade]
    frame["region"] = rng.choice(
        ["north", "south", "east", "west", "centre"], size=n, p=[0.3, 0.25, 0.2, 0.15, 0.1]
    )
    if unseen:
        frame.loc[frame.index[n // 2 :: 7], "region"] = "island"
    frame["member"] = frame["x2"].to_numpy() + rng.normal(size=n) > 2.0
    return frame


def _with_missing(rng: np.random.Generator, frame: pd.DataFrame, share: float) -> pd.DataFrame:
    frame = frame.copy()
    for column in ["x0", "x3", "grade", "region"]:
        mask = rng.random(len(frame)) < share
        frame.loc[mask, column] = np.nan
    return frame


def _timestamps(rng: np.random.Generator, n: int, start: str, days: int) -> pd.DatetimeIndex:
    seconds = rng.choice(days * 86_400, size=n, replace=False)
    return pd.Timestamp(start) + pd.to_timedelta(np.sort(seconds), unit="s")


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], tuple[pd.DataFrame, pd.DataFrame]]  # (reference, analysis)
    columns: list[str]
    options: dict[str, object] = field(default_factory=dict)  # chunking, n_components, timestamp


NUMERIC = [f"x{j}" for j in range(8)]
MIXED = ["x0", "x1", "x2", "x3", "x4", "grade", "region", "member"]


def _numeric_no_drift() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(1)
    return (
        _numeric_frame(_numeric(rng, 6000, 8, 3, loadings_seed=7)),
        _numeric_frame(_numeric(rng, 6000, 8, 3, loadings_seed=7)),
    )


def _numeric_correlation_drift() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(2)
    reference = _numeric_frame(_numeric(rng, 6000, 8, 3, loadings_seed=7))
    analysis = _numeric_frame(_numeric(rng, 6000, 8, 3, loadings_seed=7))
    return reference, _decorrelate(rng, analysis, 3000, ["x1", "x4", "x6"])


def _numeric_shift_incomplete() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(3)
    reference = _numeric_frame(_numeric(rng, 5300, 8, 3, loadings_seed=7))
    analysis = _numeric_frame(_numeric(rng, 4100, 8, 3, loadings_seed=7))
    analysis.loc[2000:, "x2"] += 1.5
    return reference, analysis


def _mixed_no_drift() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(4)
    return _mixed(rng, 5003), _mixed(rng, 5003)


def _mixed_drift() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(5)
    reference = _mixed(rng, 5000)
    analysis = pd.concat([_mixed(rng, 2500), _mixed(rng, 2500, shift=1.0, unseen=True)], ignore_index=True)
    analysis = _decorrelate(rng, analysis, 2500, ["grade"])
    return reference, analysis


def _mixed_missing() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(6)
    reference = _with_missing(rng, _mixed(rng, 4000), 0.05)
    first = _with_missing(rng, _mixed(rng, 2000), 0.05)
    second = _with_missing(rng, _mixed(rng, 2000, shift=0.8, unseen=True), 0.25)
    return reference, pd.concat([first, second], ignore_index=True)


def _period() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(8)
    reference = _mixed(rng, 7000)
    reference["ts"] = _timestamps(rng, 7000, "2026-01-05", 70)
    analysis = _mixed(rng, 4200)
    analysis["ts"] = _timestamps(rng, 4200, "2026-03-16", 42)
    late = analysis["ts"] >= pd.Timestamp("2026-04-06")
    analysis.loc[late, "x3"] = analysis.loc[late, "x3"] * 2.5
    # rows arrive out of time order; both sides sort them by their timestamp
    return (
        reference.sample(frac=1.0, random_state=0).reset_index(drop=True),
        analysis.sample(frac=1.0, random_state=1).reset_index(drop=True),
    )


def _daily_with_gaps() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Time-zone-aware timestamps, some missing (their rows belong to no period), daily chunks."""
    rng = np.random.default_rng(10)
    frames = []
    for rows, start, days in ((3000, "2026-02-02", 15), (2000, "2026-02-23", 10)):
        frame = _numeric_frame(_numeric(rng, rows, 8, 3, loadings_seed=7))
        stamps = pd.Series(_timestamps(rng, rows, start, days).tz_localize("UTC").tz_convert("Europe/Berlin"))
        frame["ts"] = stamps.where(rng.random(rows) >= 0.03)
        frames.append(frame.sample(frac=1.0, random_state=2).reset_index(drop=True))
    reference, analysis = frames
    analysis["x5"] = analysis["x5"].where(
        analysis["ts"] < pd.Timestamp("2026-02-28", tz="Europe/Berlin"), 0.0
    )
    return reference, analysis


def _object_columns() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Object columns holding None and NaN, a pandas categorical with an unused category, an int column."""

    def build(rng: np.random.Generator, n: int, unseen: bool) -> pd.DataFrame:
        x = rng.normal(size=n)
        frame = pd.DataFrame({"x": x, "y": x + rng.normal(size=n), "count": rng.integers(0, 5, size=n)})
        frame["channel"] = pd.Series(rng.choice(["web", "app", "shop"], size=n), dtype=object)
        frame.loc[rng.random(n) < 0.08, "channel"] = None  # None: a category of its own in NannyML
        frame.loc[rng.random(n) < 0.04, "channel"] = np.nan  # NaN: imputed
        if unseen:
            frame.loc[n // 2 :: 5, "channel"] = "phone"
        frame["tier"] = pd.Categorical(rng.choice(["s", "m", "l"], size=n), categories=["s", "m", "l", "xl"])
        frame.loc[rng.random(n) < 0.05, "tier"] = np.nan
        frame["flag"] = pd.Series(x > 0.5, dtype=object)
        frame.loc[rng.random(n) < 0.05, "flag"] = None
        return frame

    rng = np.random.default_rng(9)
    return build(rng, 4000, unseen=False), build(rng, 3000, unseen=True)


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


def digest(frame: pd.DataFrame) -> str:
    """A fingerprint of the frame's values (numbers to 12 significant digits), stable across libraries."""
    hasher = hashlib.sha256()
    for column in frame.columns:
        series = frame[column]
        hasher.update(f"{column}:{series.dtype.kind}:".encode())
        if pd.api.types.is_float_dtype(series.dtype):
            text = "|".join("nan" if np.isnan(v) else f"{v:.12g}" for v in series.to_numpy())
        else:
            text = "|".join(
                "none" if v is None else "nan" if pd.isna(v) else f"{type(v).__name__}:{v}"
                for v in series.astype(object)
            )
        hasher.update(text.encode())
    return hasher.hexdigest()
