"""``driftwatch check``: the one-shot form of a scheduled check, on CSV or Parquet files.

The same engine as the daemon, on a reference (a file or a saved profile) and a
current file. Without a config, every column the two share is checked, typed
from the reference's dtypes; with ``--config`` and ``--model``, the model's
features, types, methods, thresholds, drift share and prediction column apply.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, DatasetDrift, column_drift, dataset_drift
from driftwatch.drift.profile import ColumnType, ReferenceProfile, infer_type
from driftwatch.reference import ReferenceError, is_profile, load_frame, load_profile

__all__ = ["OfflineCheck", "OfflineError", "format_table", "performance", "run_offline_check"]


class OfflineError(Exception):
    """Bad input to an offline check; the message names the file or column and the fix."""


@dataclass
class OfflineCheck:
    drift: DatasetDrift
    prediction_drift: ColumnDrift | None
    types: dict[str, ColumnType]
    options: dict[str, ColumnOptions]
    reference_frame: pd.DataFrame
    current_frame: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = self.drift.as_dict()
        out["prediction_drift"] = None if self.prediction_drift is None else self.prediction_drift.as_dict()
        out.update(self.extra)
        return out


def _read(path: Path, role: str) -> pd.DataFrame:
    if not path.exists():
        raise OfflineError(f"--{role} {path}: file not found")
    try:
        return load_frame(path)
    except ReferenceError as exc:
        raise OfflineError(f"--{role} {exc}") from None


def run_offline_check(
    reference: Path,
    current: Path,
    columns: list[str] | None = None,
    types: dict[str, ColumnType] | None = None,
    options: dict[str, ColumnOptions] | None = None,
    share: float = 0.5,
    prediction: str | None = None,
    default: ColumnOptions | None = None,
    label: str | None = None,
) -> OfflineCheck:
    """Check ``current`` against ``reference``; ``default`` (if given) overrides ``options`` for every column."""
    current_frame = _read(current, "current")
    if is_profile(reference):
        try:
            profile = load_profile(reference)
        except ReferenceError as exc:
            raise OfflineError(f"--reference {exc}") from None
        reference_frame: pd.DataFrame | None = None
        available = list(profile.columns)
    else:
        reference_frame = _read(reference, "reference")
        available = [str(c) for c in reference_frame.columns]
    wanted = columns or [c for c in available if c in current_frame.columns and c not in (prediction, label)]
    if not wanted:
        raise OfflineError(
            f"--reference {reference} and --current {current} share no columns; "
            "check the files or name the columns with --columns"
        )
    for role, have in (("reference", available), ("current", list(map(str, current_frame.columns)))):
        missing = [c for c in wanted + ([prediction] if prediction else []) if c not in have]
        if missing:
            raise OfflineError(f"--{role} has no column(s) {', '.join(missing)}; it has {', '.join(have)}")
    types = dict(types or {})
    profiled = wanted + ([prediction] if prediction else [])
    if reference_frame is not None:
        for column in profiled:
            types.setdefault(column, infer_type(reference_frame[column]))
        profile = ReferenceProfile.build(reference_frame, profiled, types)
    else:
        types = {c: profile.columns[c].type for c in profiled}
        from driftwatch.report import profile_frame

        reference_frame = profile_frame(profile)
    options = {c: default or (options or {}).get(c, ColumnOptions()) for c in wanted}
    features = ReferenceProfile({c: profile.columns[c] for c in wanted}, profile.rows)
    drift = dataset_drift(features, {c: current_frame[c] for c in wanted}, options, share)
    prediction_drift = (
        column_drift(profile.columns[prediction], current_frame[prediction], ColumnOptions())
        if prediction
        else None
    )
    return OfflineCheck(
        drift,
        prediction_drift,
        {c: types[c] for c in wanted},
        options,
        reference_frame,
        current_frame,
        {"reference_rows": profile.rows, "current_rows": len(current_frame)},
    )


def performance(
    check: OfflineCheck, task: str, prediction: str, label: str, threshold: float = 0.5
) -> dict[str, Any]:
    """Realized performance where the labels exist; for a binary classifier whose current file has no
    labels, CBPE's estimate from the reference's labelled scores. Rows missing a prediction or a label
    are left out."""
    from driftwatch.performance.cbpe import CBPE, CBPEError
    from driftwatch.performance.metrics import realized

    reference, current = check.reference_frame, check.current_frame
    if label not in reference.columns:
        raise OfflineError(f"--reference has no label column {label!r}; name it with --label-column")
    if prediction not in reference.columns or prediction not in current.columns:
        raise OfflineError(f"--prediction-column {prediction!r} must be in both files")

    def labelled(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[[prediction, label]].dropna()

    out: dict[str, Any] = {}
    ref = labelled(reference)
    try:
        out["reference_performance"] = realized(
            task,  # type: ignore[arg-type]
            ref[label].to_numpy(),
            ref[prediction].to_numpy(),
            threshold=threshold,
        )
        if label in current.columns and current[label].notna().any():
            cur = labelled(current)
            out["performance"] = realized(
                task,  # type: ignore[arg-type]
                cur[label].to_numpy(),
                cur[prediction].to_numpy(),
                threshold=threshold,
            )
        if task == "binary_classification":
            scores = current[prediction].dropna().to_numpy(dtype=float)
            cbpe = CBPE.fit(ref[prediction].to_numpy(dtype=float), ref[label].to_numpy(), threshold=threshold)
            out["estimated_performance"] = {
                metric: {"value": e.value, "lower": e.lower, "upper": e.upper}
                for metric, e in cbpe.estimate(scores).items()
            }
            out["calibration"] = cbpe.calibration.as_dict()
    except (ValueError, CBPEError) as exc:
        raise OfflineError(
            f"performance ({task}, --prediction-column {prediction}, --label-column {label}): {exc}"
        ) from None
    return out


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.4g}"


def format_table(check: OfflineCheck) -> str:
    """A terminal table, drifted columns first, then the verdict."""
    drift = check.drift
    rows = sorted(drift.columns, key=lambda c: (not c.drift_detected, c.column)) + drift.errors
    header = ("column", "type", "method", "score", "threshold", "drift", "missing", "ref rows", "cur rows")
    body = [
        (
            c.column,
            c.type,
            c.method,
            _number(c.score),
            _number(c.threshold),
            "DRIFT" if c.drift_detected else ("error" if c.error else "-"),
            _number(c.quality.missing_share) if c.quality else "-",
            str(c.reference_rows),
            str(c.current_rows),
        )
        for c in rows
    ]
    widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for c in drift.errors:
        lines.append(f"! {c.column}: {c.error}")
    if check.prediction_drift is not None:
        p = check.prediction_drift
        state = "DRIFT" if p.drift_detected else ("error: " + p.error if p.error else "no drift")
        lines.append(f"prediction {p.column}: {p.method} score {_number(p.score)} -> {state}")
    realized_now = check.extra.get("performance", {})
    reference_values = check.extra.get("reference_performance", {})
    estimated = check.extra.get("estimated_performance", {})
    for metric in sorted(set(realized_now) | set(reference_values) | set(estimated)):
        parts = [f"reference {_number(reference_values.get(metric))}"]
        if metric in realized_now:
            parts.append(f"current {_number(realized_now[metric])}")
        if metric in estimated:
            e = estimated[metric]
            parts.append(f"estimated {_number(e['value'])} [{_number(e['lower'])}, {_number(e['upper'])}]")
        lines.append(f"performance {metric}: " + ", ".join(parts))
    for breach in check.extra.get("data_quality", {}).get("breaches", []):
        lines.append(
            f"quality {breach['feature']}: {breach['measure']} {_number(breach['value'])} "
            f"above its limit {_number(breach['limit'])}"
        )
    verdict = "DATASET DRIFT" if drift.dataset_drift else "no dataset drift"
    lines.append(
        f"{verdict}: {drift.n_drifted} of {drift.n_columns} columns drifted "
        f"(share {drift.drift_share:.2f}, threshold {drift.share_threshold:.2f})"
    )
    return "\n".join(lines)


def to_json(check: OfflineCheck) -> str:
    return json.dumps(_json_safe(check.as_dict()), indent=2, allow_nan=False)


def _json_safe(node: Any) -> Any:
    """NaN (an undefined metric) becomes null."""
    if isinstance(node, float) and not math.isfinite(node):
        return None
    if isinstance(node, dict):
        return {k: _json_safe(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_safe(v) for v in node]
    return node
