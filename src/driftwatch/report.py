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
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from driftwatch.drift.dataset import ColumnDrift, DatasetDrift
from driftwatch.drift.profile import ColumnType, ReferenceProfile

__all__ = ["evidently_html", "performance_section", "profile_frame", "summary_section", "with_section"]

Number = float | None


def evidently_html(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    types: Mapping[str, ColumnType],
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    share: float = 0.5,
    prediction: tuple[str, ColumnType] | None = None,
) -> str:
    """A standalone HTML page with Evidently's DataDriftPreset report of ``current`` against ``reference``.

    ``prediction`` (column, type) adds the drift of the model's output, as a metric of its own: it is not
    one of the features, so it stays out of the drift share, as in driftwatch's check. The drift table
    lists drifted columns first (see `_drifted_first`).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    columns = list(types)
    everything = dict(types)
    if prediction is not None and prediction[0] in reference.columns and prediction[0] in current.columns:
        everything[prediction[0]] = prediction[1]
    else:
        prediction = None
    definition = DataDefinition(
        numerical_columns=[c for c in everything if everything[c] == "numeric"],
        categorical_columns=[c for c in everything if everything[c] == "categorical"],
    )
    per_method = {c: m for c, m in (methods or {}).items() if m != "auto" and c in types}
    preset = DataDriftPreset(
        columns=columns,
        drift_share=share,
        per_column_method=per_method or None,
        per_column_threshold=dict(thresholds) if thresholds else None,
    )
    metrics: list[Any] = [preset]
    if prediction is not None:
        metrics.append(ValueDrift(column=prediction[0]))  # the auto rule, as the check's prediction drift
    # Evidently's summaries divide by a column's spread (correlations, normalised histograms): a constant
    # column makes numpy warn about 0/0 on stderr, although the page is right (those cells read NaN).
    # Silenced here, for this computation only.
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        snapshot = Report(metrics).run(
            Dataset.from_pandas(_typed(current[list(everything)], everything), data_definition=definition),
            Dataset.from_pandas(_typed(reference[list(everything)], everything), data_definition=definition),
        )
        for widget in getattr(snapshot, "_widgets", []):
            _drifted_first(widget)
        return str(snapshot.get_html_str(as_iframe=False))


# Evidently's names of the tests whose score is a p-value (low means drift); every other is a distance.
_P_VALUE_TESTS = frozenset(
    {
        "K-S p_value",
        "chi-square p_value",
        "Z-test p_value",
        "Anderson-Darling",
        "Cramer-von Mises",
        "Epps-Singleton",
        "Fisher's Exact test",
        "g_test",
        "Mann-Whitney U-rank test",
        "empirical_mmd",
        "t_test",
        "Total-Variation-Distance",
    }
)


def _drifted_first(widget: Any) -> None:
    """Evidently sorts its drift table by score, highest first: right for distances, but with p-value
    tests it lists the undrifted columns first. Reorder each drift table in place: drifted columns first,
    then the others, each group from the strongest evidence of drift (lowest p-value, largest distance)."""
    params = widget.params if isinstance(getattr(widget, "params", None), dict) else {}
    rows = params.get("data")
    if isinstance(rows, list) and rows and all(isinstance(r, dict) and "data_drift" in r for r in rows):

        def key(row: dict[str, Any]) -> tuple[bool, float]:
            score = row.get("drift_score")
            strength = float(score) if isinstance(score, int | float) and math.isfinite(score) else math.inf
            if row.get("stattest_name") not in _P_VALUE_TESTS and strength != math.inf:
                strength = -strength
            return row["data_drift"] != "Detected", strength

        params["data"] = sorted(rows, key=key)
    for child in getattr(widget, "widgets", None) or []:
        _drifted_first(child)


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
    section_id: str = "driftwatch-performance",
    evaluation: Mapping[str, Any] | None = None,
) -> str:
    """An HTML section with one row per metric: the reference, the current value and the estimate
    without labels (CBPE's, or DLE's for a regression) with its band. Evidently's drift report has no
    such table; this one is driftwatch's own numbers. ``evaluation`` (an `EstimateEvaluation`'s
    ``as_dict``, the estimate scored on the labelled rows) adds a table of its errors."""
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
    # a regression's losses are estimated by DLE, a classifier's metrics by CBPE
    method = "DLE" if set(estimated) & {"mae", "rmse", "mse", "mape", "msle", "rmsle"} else "CBPE"
    return (
        f'<section id="{html.escape(section_id)}" style="font-family: sans-serif; margin: 24px">'
        "<h2>Model performance (driftwatch)</h2>"
        '<table border="1" cellpadding="6" style="border-collapse: collapse">'
        "<thead><tr><th>metric</th><th>reference</th><th>current (realized)</th>"
        f"<th>estimated ({method}) [lower, upper]</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{_evaluation_table(evaluation)}{extra}</section>"
    )


def _evaluation_table(evaluation: Mapping[str, Any] | None) -> str:
    """The estimate on the labelled rows against their realized metrics, one row per metric ("" without
    a metric scored)."""
    metrics = (evaluation or {}).get("metrics") or {}
    if not metrics or evaluation is None:
        return ""
    inside = {True: "yes", False: "OUTSIDE", None: "no band"}
    rows = "".join(
        f"<tr><td>{html.escape(metric)}</td><td>{_cell(m['estimate'])} [{_cell(m['lower'])}, "
        f"{_cell(m['upper'])}]</td><td>{_cell(m['realized'])}</td><td>{m['error']:+.4f}</td>"
        f"<td>{inside[m['covered']]}</td></tr>"
        for metric, m in sorted(metrics.items())
    )
    return (
        f"<h3>Estimate error on the {int(evaluation['rows'])} labelled rows</h3>"
        '<table border="1" cellpadding="6" style="border-collapse: collapse">'
        "<thead><tr><th>metric</th><th>estimated [lower, upper]</th><th>realized</th>"
        "<th>error (estimate - realized)</th><th>realized inside the band</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")  # as in /api/models


def _row(key: str, label: str, value: str) -> str:
    return (
        f'<tr data-key="{key}"><th align="left">{html.escape(label)}</th><td>{html.escape(value)}</td></tr>'
    )


def _drift_text(column: ColumnDrift) -> str:
    if column.error:
        return f"{column.column}: not tested ({column.error})"
    verdict = "drift detected" if column.drift_detected else "no drift"
    return (
        f"{column.column}: {verdict} ({column.method} score {_cell(column.score)}, "
        f"threshold {_cell(column.threshold)}, {column.current_rows} values)"
    )


def summary_section(
    model: str | None,
    drift: DatasetDrift,
    prediction: ColumnDrift | None,
    rows: int,
    reference_rows: int,
    window: tuple[float, float] | None = None,
    current: str | None = None,
    status: str = "ok",
    reason: str | None = None,
    quality: Sequence[str] | None = None,
    notes: Sequence[str] = (),
    section_id: str = "driftwatch-summary",
    title: str | None = None,
    multivariate: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """An HTML section with what the check was about and its verdict, in driftwatch's own numbers: the
    model, the window (start, end; the daemon's) or the current file (the CLI's), the rows, dataset drift
    (or, with a ``status`` other than ok, that there is no verdict and its ``reason``), prediction drift,
    the breaches of the quality limits (``quality``: one line each; None when there are no limits) and
    every column, drifted ones first; then the check's notes (what its input may lack, e.g. records Kafka
    did not deliver), as /api/models gives them. ``section_id`` and ``title`` name the section (one per
    segment in a page of several). ``multivariate``: each multivariate drift method's result (as
    ``MultivariateResult.as_dict``), for a model with ``drift.multivariate``."""
    if status != "ok":
        dataset = f"no verdict ({status}): {reason}"
    else:
        verdict = "drift detected" if drift.dataset_drift else "no drift"
        dataset = (
            f"{verdict}: {drift.n_drifted} of {drift.n_columns} columns drifted "
            f"(share {drift.drift_share:.3g}, threshold {drift.share_threshold:.3g})"
        )
    if prediction is not None:
        predicted = _drift_text(prediction)
    else:
        predicted = "no verdict" if status == "not_enough_rows" else "not monitored: no prediction column"
    if quality is None:
        qualities = []
    else:
        breaches = "; ".join(quality)
        qualities = [
            _row(
                "data-quality",
                "data quality",
                f"{len(quality)} limit(s) breached: {breaches}" if quality else "within the limits",
            )
        ]
    multivariates = [
        _row(
            f"multivariate-{method}",
            f"multivariate drift ({method})",
            f"{'drift detected' if found['alert'] else 'no drift'}: {_cell(found['value'])} "
            f"(thresholds {_cell(found['lower_threshold'])} to {_cell(found['upper_threshold'])})",
        )
        for method, found in (multivariate or {}).items()
    ]
    summary = [
        _row("model", "model", model or "-"),
        *([_row("window", "window", f"{_iso(window[0])} to {_iso(window[1])}")] if window else []),
        *([_row("current", "current data", current)] if current else []),
        _row("rows", "rows" if window is None else "rows in the window", str(rows)),
        _row("reference-rows", "reference rows", str(reference_rows)),
        _row("dataset-drift", "dataset drift", dataset),
        _row("prediction-drift", "prediction drift", predicted),
        *qualities,
        *multivariates,
    ]
    columns = sorted(drift.columns, key=lambda c: not c.drift_detected) + drift.errors
    cells = "".join(
        f'<tr data-column="{html.escape(c.column)}"><td>{html.escape(c.column)}</td><td>{c.type}</td>'
        f"<td>{html.escape(c.method)}</td><td>{_cell(c.score)}</td><td>{_cell(c.threshold)}</td>"
        f"<td>{'yes' if c.drift_detected else ('not tested: ' + html.escape(c.error) if c.error else 'no')}</td></tr>"
        for c in columns
    )
    title = title or (f"Drift check of {model}" if model else "Drift check")
    table_id = "driftwatch-columns" if section_id == "driftwatch-summary" else f"{section_id}-columns"
    return (
        f'<section id="{html.escape(section_id)}" style="font-family: sans-serif; margin: 24px">'
        f"<h2>{html.escape(title)} (driftwatch)</h2>"
        f'<table cellpadding="4">{"".join(summary)}</table>'
        + "".join(f'<p class="driftwatch-note"><b>Note:</b> {html.escape(note)}</p>' for note in notes)
        + f'<h3>Columns, drifted first</h3><table id="{html.escape(table_id)}" border="1" cellpadding="6" '
        'style="border-collapse: collapse"><thead><tr><th>column</th><th>type</th><th>method</th>'
        "<th>score</th><th>threshold</th><th>drift</th></tr></thead>"
        f"<tbody>{cells}</tbody></table></section>"
    )


def with_section(page: str, section: str) -> str:
    """``page`` with ``section`` inserted at the top of its body (appended when it has no body tag)."""
    lower = page.lower()
    start = lower.find("<body")
    if start == -1:
        return page + section
    end = page.find(">", start)
    return page[: end + 1] + section + page[end + 1 :]
