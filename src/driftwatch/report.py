"""Evidently's own HTML drift report for the frames and settings of a check.

driftwatch computes the numbers itself; for drill-down, users get the report
they already know, made by Evidently from the same frames with the same
methods, thresholds and drift share. Evidently is imported here only, on
demand: its import costs seconds, which neither ``driftwatch --help`` nor the
daemon's start should pay.
"""

from __future__ import annotations

import html
import math
import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from driftwatch.drift.profile import ColumnType, ReferenceProfile

__all__ = ["evidently_html", "performance_section", "profile_frame", "with_section"]

Number = float | None


def evidently_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: Mapping[str, ColumnType],
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    share: float = 0.5,
) -> str:
    """A standalone HTML page with Evidently's DataDriftPreset report of ``current`` against ``reference``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    columns = list(types)
    definition = DataDefinition(
        numerical_columns=[c for c in columns if types[c] == "numeric"],
        categorical_columns=[c for c in columns if types[c] == "categorical"],
    )
    per_method = {c: m for c, m in (methods or {}).items() if m != "auto" and c in types}
    preset = DataDriftPreset(
        columns=columns,
        drift_share=share,
        per_column_method=per_method or None,
        per_column_threshold=dict(thresholds) if thresholds else None,
    )
    # Evidently's summaries divide by a column's spread (correlations, normalised histograms): a constant
    # column makes numpy warn about 0/0 on stderr, although the page is right (those cells read NaN).
    # Silenced here, for this computation only.
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = Report([preset]).run(
            Dataset.from_pandas(_typed(current[columns], types), data_definition=definition),
            Dataset.from_pandas(_typed(reference[columns], types), data_definition=definition),
        )
        return str(snapshot.get_html_str(as_iframe=False))


def _typed(frame: pd.DataFrame, types: Mapping[str, ColumnType]) -> pd.DataFrame:
    out = frame.copy()
    for column, kind in types.items():
        if kind == "numeric":
            # infinities are missing values to driftwatch's checks (and to Evidently's tests); left in,
            # they turn Evidently's means, histograms and plots into NaN and numpy RuntimeWarnings
            out[column] = pd.to_numeric(out[column], errors="coerce").replace([math.inf, -math.inf], math.nan)
        else:
            out[column] = out[column].astype(object)
    return out


def profile_frame(profile: ReferenceProfile) -> pd.DataFrame:
    """A reference frame rebuilt from a profile (columns padded with NaN to one length).

    Evidently drops NaN per column before every test, so its report on this
    frame matches the report on the raw reference.
    """
    length = max((c.rows for c in profile.columns.values()), default=0)
    data = {}
    for name, column in profile.columns.items():
        # numeric values in row order, as the raw reference has them (``values`` is sorted): Evidently's
        # sampling and permutation methods see the same sequence either way
        kept = column.original if column.original is not None else column.values
        series = pd.Series(kept, dtype="float64" if column.type == "numeric" else object)
        data[name] = series.reindex(range(length))
    return pd.DataFrame(data)


def _cell(value: Number) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.4g}"


def performance_section(
    reference: Mapping[str, Number],
    current: Mapping[str, Number],
    estimated: Mapping[str, Mapping[str, Number]],
    notes: list[str] | None = None,
) -> str:
    """An HTML section with one row per metric: the reference, the current value and CBPE's estimate with
    its band. Evidently's drift report has no such table; this one is driftwatch's own numbers."""
    metrics = [m for m in (*reference, *current, *estimated) if m]
    rows = []
    for metric in dict.fromkeys(metrics):
        e = estimated.get(metric)
        estimate = (
            "-"
            if e is None
            else f"{_cell(e.get('value'))} [{_cell(e.get('lower'))}, {_cell(e.get('upper'))}]"
        )
        rows.append(
            f"<tr><td>{html.escape(metric)}</td><td>{_cell(reference.get(metric))}</td>"
            f"<td>{_cell(current.get(metric))}</td><td>{html.escape(estimate)}</td></tr>"
        )
    extra = "".join(f"<p>{html.escape(note)}</p>" for note in notes or [])
    return (
        '<section id="driftwatch-performance" style="font-family: sans-serif; margin: 24px">'
        "<h2>Model performance (driftwatch)</h2>"
        '<table border="1" cellpadding="6" style="border-collapse: collapse">'
        "<thead><tr><th>metric</th><th>reference</th><th>current (realized)</th>"
        "<th>estimated (CBPE) [lower, upper]</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{extra}</section>"
    )


def with_section(page: str, section: str) -> str:
    """``page`` with ``section`` inserted at the top of its body (appended when it has no body tag)."""
    lower = page.lower()
    start = lower.find("<body")
    if start == -1:
        return page + section
    end = page.find(">", start)
    return page[: end + 1] + section + page[end + 1 :]
