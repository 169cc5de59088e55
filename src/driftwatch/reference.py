"""Loading a model's reference data and preparing its profile once.

References are Parquet or CSV files (never pickle: a reference file must not be
able to run code). The profile is built when the daemon starts and reused by
every scheduled check.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from driftwatch.config import ModelSettings
from driftwatch.drift.profile import ColumnType, ReferenceProfile, infer_type

__all__ = ["ReferenceError", "load_frame", "load_reference"]


class ReferenceError(Exception):
    """A reference file cannot be read or lacks a configured column."""


def load_frame(path: Path) -> pd.DataFrame:
    """A DataFrame from a Parquet or CSV file, with a one-line error naming the file."""
    suffix = path.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
    except FileNotFoundError:
        raise ReferenceError(f"{path}: file not found") from None
    except Exception as exc:  # pyarrow and the CSV parser raise many types; all mean "unreadable"
        raise ReferenceError(
            f"{path}: cannot read as {suffix.lstrip('.')}: {str(exc).splitlines()[0]}"
        ) from None
    raise ReferenceError(f"{path}: unsupported file type {suffix!r}; use .parquet or .csv")


def column_types(model: ModelSettings, frame: pd.DataFrame) -> dict[str, ColumnType]:
    """Feature types from the config, else from the reference's dtypes."""
    types: dict[str, ColumnType] = {}
    for feature in model.features:
        if feature.type is not None:
            types[feature.name] = feature.type
        elif feature.name in frame.columns:
            types[feature.name] = infer_type(frame[feature.name])
    if model.prediction and model.prediction in frame.columns:
        types[model.prediction] = infer_type(frame[model.prediction])
    return types


def load_reference(name: str, model: ModelSettings) -> tuple[ReferenceProfile, dict[str, ColumnType]]:
    """Read a model's reference and profile its features (and prediction column, when present)."""
    frame = load_frame(model.reference)
    wanted = [f.name for f in model.features]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise ReferenceError(
            f"models.{name}.reference: {model.reference} has no column(s) {', '.join(missing)} "
            f"(it has {', '.join(map(str, frame.columns))}); fix the feature names or the file"
        )
    if len(frame) == 0:
        raise ReferenceError(f"models.{name}.reference: {model.reference} has no rows")
    types = column_types(model, frame)
    columns = wanted + ([model.prediction] if model.prediction and model.prediction in frame.columns else [])
    return ReferenceProfile.build(frame, columns, types), types
