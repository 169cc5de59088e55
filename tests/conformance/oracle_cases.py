"""What the NannyML conformance cases share: their frames and the reading of NannyML's tables.

The case modules (multivariate_cases.py, domain_classifier_cases.py, dle_cases.py) build their
frames from the generators here, from fixed seeds: correlated numeric features, mixed frames whose
categories follow the numbers, missing values, timestamps, and the reference/analysis pairs several
methods are checked on (`numeric_pair`, `numeric_correlation_drift`, `mixed_drift`, `mixed_missing`,
`weekly_periods`, `object_columns`), each at the sizes and seed its case module gives. Rows copied
from NannyML's own data sets are stored as one file with a ``period`` column (`join_periods` in the
regenerate scripts, `split_periods` in the case modules). The regenerate scripts (run in NannyML's
environment) get NannyML's result tables with `nannyml_table`, read them with `period_rows`,
`chunk_rows` and `number`, and write
their fixture with `write_fixture`. Each frame's `digest` is stored with NannyML's numbers, so a
change in a generator (or in numpy's random streams) fails the tests loudly instead of comparing
other data.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "MIXED",
    "NUMERIC",
    "Case",
    "Pair",
    "chunk_rows",
    "decorrelate",
    "digest",
    "join_periods",
    "mixed",
    "mixed_drift",
    "mixed_missing",
    "nannyml_table",
    "number",
    "numeric",
    "numeric_correlation_drift",
    "numeric_frame",
    "numeric_pair",
    "object_columns",
    "period_rows",
    "split_periods",
    "timestamps",
    "weekly_periods",
    "with_missing",
    "write_fixture",
]

Pair = tuple[pd.DataFrame, pd.DataFrame]  # (reference, analysis)

NUMERIC = [f"x{j}" for j in range(8)]  # the columns of `numeric_pair`'s frames
MIXED = ["x0", "x1", "x2", "x3", "x4", "grade", "region", "member"]  # `mixed`'s, the flag included


@dataclass(frozen=True)
class Case:
    """A case of a drift calculator: its frames, the columns it watches and its options."""

    name: str
    build: Callable[[], Pair]
    columns: list[str]
    options: dict[str, object] = field(default_factory=dict)  # chunking, n_components, timestamp


# --- generators


def numeric(rng: np.random.Generator, n: int, columns: int, factors: int, loadings_seed: int) -> np.ndarray:
    """Rows of correlated features: a few latent factors through fixed loadings, plus noise."""
    loadings = np.random.default_rng(loadings_seed).normal(size=(factors, columns))
    latent = rng.normal(size=(n, factors))
    noise = rng.normal(scale=0.5, size=(n, columns))
    values: np.ndarray = latent @ loadings + noise + np.arange(columns)
    return values


def numeric_frame(values: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({f"x{j}": values[:, j] for j in range(values.shape[1])})


def decorrelate(
    rng: np.random.Generator, frame: pd.DataFrame, start: int, columns: list[str]
) -> pd.DataFrame:
    """Shuffle each named column independently from row ``start``: marginals kept, correlations gone."""
    frame = frame.copy()
    for column in columns:
        tail = frame[column].to_numpy()[start:].copy()
        rng.shuffle(tail)
        frame.loc[start:, column] = tail
    return frame


def mixed(rng: np.random.Generator, n: int, shift: float = 0.0, unseen: bool = False) -> pd.DataFrame:
    frame = numeric_frame(numeric(rng, n, 5, 2, loadings_seed=11))
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


def with_missing(rng: np.random.Generator, frame: pd.DataFrame, share: float) -> pd.DataFrame:
    frame = frame.copy()
    for column in ["x0", "x3", "grade", "region"]:
        mask = rng.random(len(frame)) < share
        frame.loc[mask, column] = np.nan
    return frame


def timestamps(rng: np.random.Generator, n: int, start: str, days: int) -> pd.DatetimeIndex:
    seconds = rng.choice(days * 86_400, size=n, replace=False)
    return pd.Timestamp(start) + pd.to_timedelta(np.sort(seconds), unit="s")


# --- reference/analysis pairs, at the sizes a case module gives


def _numeric_pair(rng: np.random.Generator, rows: int) -> Pair:
    return (
        numeric_frame(numeric(rng, rows, 8, 3, loadings_seed=7)),
        numeric_frame(numeric(rng, rows, 8, 3, loadings_seed=7)),
    )


def numeric_pair(seed: int, rows: int) -> Pair:
    """Eight correlated numeric features (x0..x7), ``rows`` each side, no drift."""
    return _numeric_pair(np.random.default_rng(seed), rows)


def numeric_correlation_drift(seed: int, rows: int) -> Pair:
    """`numeric_pair` with x1, x4 and x6 shuffled in the analysis' second half."""
    rng = np.random.default_rng(seed)
    reference, analysis = _numeric_pair(rng, rows)
    return reference, decorrelate(rng, analysis, rows // 2, ["x1", "x4", "x6"])


def mixed_drift(seed: int, reference_rows: int, half: int) -> Pair:
    """Mixed frames; the analysis' second half (``half`` rows each) shifts x0, brings an unseen region
    and breaks grade's link to the numbers."""
    rng = np.random.default_rng(seed)
    reference = mixed(rng, reference_rows)
    analysis = pd.concat([mixed(rng, half), mixed(rng, half, shift=1.0, unseen=True)], ignore_index=True)
    analysis = decorrelate(rng, analysis, half, ["grade"])
    return reference, analysis


def mixed_missing(seed: int, reference_rows: int, half: int) -> Pair:
    """Mixed frames with 5% missing values; the analysis' second half has 25%, a shift and an unseen
    region."""
    rng = np.random.default_rng(seed)
    reference = with_missing(rng, mixed(rng, reference_rows), 0.05)
    first = with_missing(rng, mixed(rng, half), 0.05)
    second = with_missing(rng, mixed(rng, half, shift=0.8, unseen=True), 0.25)
    return reference, pd.concat([first, second], ignore_index=True)


def weekly_periods(seed: int, reference: tuple[int, int], analysis: tuple[int, int]) -> Pair:
    """Mixed frames with a timestamp ``ts``: (rows, days) from 2026-01-05 for the reference and from
    2026-03-16 for the analysis, whose second half of the days scales x3 by 2.5."""
    rng = np.random.default_rng(seed)
    (reference_rows, reference_days), (analysis_rows, analysis_days) = reference, analysis
    before = mixed(rng, reference_rows)
    before["ts"] = timestamps(rng, reference_rows, "2026-01-05", reference_days)
    after = mixed(rng, analysis_rows)
    after["ts"] = timestamps(rng, analysis_rows, "2026-03-16", analysis_days)
    late = after["ts"] >= pd.Timestamp("2026-03-16") + pd.Timedelta(days=analysis_days // 2)
    after.loc[late, "x3"] = after.loc[late, "x3"] * 2.5
    # rows arrive out of time order; both sides sort them by their timestamp
    return (
        before.sample(frac=1.0, random_state=0).reset_index(drop=True),
        after.sample(frac=1.0, random_state=1).reset_index(drop=True),
    )


def object_columns(seed: int, reference_rows: int, analysis_rows: int, flag_missing: bool) -> Pair:
    """Object columns holding None (a category of its own to NannyML) and NaN (missing), a pandas
    categorical with an unused category and an int column; the analysis has an unseen channel.
    ``flag``: a boolean, or (``flag_missing``) an object column with some None."""

    def build(rng: np.random.Generator, n: int, unseen: bool) -> pd.DataFrame:
        x = rng.normal(size=n)
        frame = pd.DataFrame({"x": x, "y": x + rng.normal(size=n), "count": rng.integers(0, 5, size=n)})
        frame["channel"] = pd.Series(rng.choice(["web", "app", "shop"], size=n), dtype=object)
        frame.loc[rng.random(n) < 0.08, "channel"] = None
        frame.loc[rng.random(n) < 0.04, "channel"] = np.nan
        if unseen:
            frame.loc[n // 2 :: 5, "channel"] = "phone"
        frame["tier"] = pd.Categorical(rng.choice(["s", "m", "l"], size=n), categories=["s", "m", "l", "xl"])
        frame.loc[rng.random(n) < 0.05, "tier"] = np.nan
        if flag_missing:
            frame["flag"] = pd.Series(x > 0.5, dtype=object)
            frame.loc[rng.random(n) < 0.05, "flag"] = None
        else:
            frame["flag"] = x > 0.5
        return frame

    rng = np.random.default_rng(seed)
    return build(rng, reference_rows, unseen=False), build(rng, analysis_rows, unseen=True)


# --- rows of NannyML's data sets, stored as one file


def join_periods(reference: pd.DataFrame, analysis: pd.DataFrame) -> pd.DataFrame:
    """Both periods in one frame, told apart by a ``period`` column (reference first)."""
    return pd.concat(
        [reference.assign(period="reference"), analysis.assign(period="analysis")], ignore_index=True
    )


def split_periods(frame: pd.DataFrame) -> Pair:
    """The reference and the analysis rows of a `join_periods` frame, without the ``period`` column."""
    reference = frame[frame["period"] == "reference"].drop(columns="period").reset_index(drop=True)
    analysis = frame[frame["period"] == "analysis"].drop(columns="period").reset_index(drop=True)
    return reference, analysis


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


# --- NannyML's result tables, read by the regenerate scripts


def nannyml_table(calculator: Any, reference: pd.DataFrame, analysis: pd.DataFrame) -> pd.DataFrame:
    """NannyML's result table of ``calculator`` (a calculator, or an estimator: it ``estimate``s) fitted
    on ``reference`` and run on ``analysis``, its warnings ("too few chunks" and friends) silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        calculator.fit(reference)
        run = calculator.estimate if hasattr(calculator, "estimate") else calculator.calculate
        table: pd.DataFrame = run(analysis).to_df()
    return table


def number(value: Any) -> float | None:
    """A table's number as JSON stores it: None for missing and NaN."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def period_rows(table: pd.DataFrame, name: str) -> pd.DataFrame:
    """The chunks of one period (``reference`` or ``analysis``) of a NannyML result table."""
    return table[table[("chunk", "period")] == name]


def chunk_rows(rows: pd.DataFrame) -> list[int]:
    """The number of rows of each chunk."""
    return [
        int(end - start + 1)
        for start, end in zip(rows[("chunk", "start_index")], rows[("chunk", "end_index")], strict=True)
    ]


def write_fixture(path: Path, script: str, packages: Sequence[str], cases: Iterable[dict[str, Any]]) -> None:
    """Write the expected numbers of ``cases`` to ``path``, with the script and the package versions
    that computed them."""
    payload = {
        "generated_by": script,
        "versions": {name: version(name) for name in packages},
        "cases": list(cases),
    }
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(payload['cases'])} cases to {path}")
