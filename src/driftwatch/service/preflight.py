"""What can be checked about a model against its reference before start-up, beyond the config file itself.

The config loader checks the file (keys, types, that the reference exists); this module checks the
config against the reference's columns: the prediction and label columns exist, and each feature's
drift method applies to the feature's type. A misfit would otherwise surface only at run time, as a
missing prediction drift or a column error in every check. Each problem is one line in the format of
`driftwatch.config.ConfigError` (the key, the value, the fix), so `validate-config` and the daemon's
start-up report them alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from driftwatch.config import ModelSettings
from driftwatch.drift.profile import ColumnType, ReferenceProfile
from driftwatch.drift.stattests import CATALOGUE
from driftwatch.reference import load_reference

__all__ = ["load_model_reference", "method_problems", "reference_columns", "reference_problems"]


def load_model_reference(name: str, model: ModelSettings) -> tuple[ReferenceProfile, dict[str, ColumnType]]:
    """Profile model ``name``'s reference as its config says (`driftwatch.reference.load_reference`):
    its features with their configured types, its prediction column; errors name its config keys."""
    types = {feature.name: feature.type for feature in model.features}
    return load_reference(model.reference, types, model.prediction, key=f"models.{name}")


def reference_columns(path: Path) -> list[str]:
    """The column names of a reference file or profile directory, read without loading its data.

    Raises OSError or ValueError when the file cannot be read (the loader reports those)."""
    if path.is_dir():
        meta = json.loads((path / "profile.json").read_text(encoding="utf-8"))
        return [str(entry["name"]) for entry in meta["columns"]]
    if path.suffix.lower() == ".csv":
        import pandas as pd

        return [str(c) for c in pd.read_csv(path, nrows=0).columns]
    import pyarrow.parquet as pq

    return [str(name) for name in pq.read_schema(path).names]


def reference_problems(name: str, model: ModelSettings, columns: list[str], labels: bool = True) -> list[str]:
    """The prediction and (``labels``) label columns the config names but the reference lacks."""
    problems = []
    kind = "profile" if model.reference.is_dir() else "file"
    has = ", ".join(columns)
    if model.prediction and model.prediction not in columns:
        fix = (
            "rebuild the profile with `driftwatch profile --config ... --model ...`"
            if kind == "profile"
            else "set prediction to the reference column holding the model's output"
        )
        problems.append(
            f"  - models.{name}.prediction: the reference {kind} {model.reference} has no column "
            f"{model.prediction!r} (got {model.prediction!r}; it has {has}); {fix}"
        )
    performance = model.performance
    if labels and performance is not None and performance.label not in columns:
        problems.append(
            f"  - models.{name}.performance.label: the reference {kind} {model.reference} has no column "
            f"{performance.label!r} (got {performance.label!r}; it has {has}); set performance.label to the "
            "reference column holding the ground truth"
            + (", and point reference at the labelled Parquet or CSV file" if kind == "profile" else "")
        )
    return problems


def method_problems(name: str, model: ModelSettings, types: Mapping[str, ColumnType]) -> list[str]:
    """Features whose configured drift method does not apply to their type (configured or inferred)."""
    problems = []
    for feature in model.features:
        kind = types.get(feature.name)
        if feature.method == "auto" or kind is None:
            continue
        if kind in CATALOGUE[feature.method].column_types:
            continue
        fitting = sorted(m for m, method in CATALOGUE.items() if kind in method.column_types)
        source = "configured" if feature.type is not None else "inferred from the reference"
        problems.append(
            f"  - models.{name}.features.{feature.name}.method: {feature.method} does not apply to "
            f"{kind} features (got {feature.method!r}; the type is {source}); use auto or one of "
            f"{', '.join(fitting)}"
        )
    return problems
