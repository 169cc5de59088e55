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
from dataclasses import replace
from pathlib import Path

from driftwatch.config import ModelSettings
from driftwatch.drift.profile import ColumnType, ReferenceProfile
from driftwatch.drift.stattests import CATALOGUE
from driftwatch.reference import load_embeddings, load_reference

__all__ = [
    "class_order",
    "load_model_reference",
    "method_problems",
    "reference_columns",
    "reference_problems",
    "scope_problems",
]


def class_order(model: ModelSettings) -> tuple[str, ...]:
    """A multiclass model's configured classes (``performance.classes``), as the keys of its maps
    class -> probability (text, as JSON has them): a predicted class's tie goes to the first of them,
    as performance grades it. Empty for any other model (ties: the first class in sorted order)."""
    performance = model.performance
    if performance is None or performance.task != "multiclass_classification" or not performance.classes:
        return ()
    return tuple(str(c) for c in performance.classes)


def load_model_reference(name: str, model: ModelSettings) -> tuple[ReferenceProfile, dict[str, ColumnType]]:
    """Profile model ``name``'s reference as its config says (`driftwatch.reference.load_reference`):
    its features with their configured types, its prediction column, its embeddings' vectors
    (`driftwatch.reference.load_embeddings`); errors name its config keys."""
    types = {feature.name: feature.type for feature in model.features}
    key = f"models.{name}"
    profile, found = load_reference(
        model.reference, types, model.prediction, key=key, classes=class_order(model)
    )
    if model.embeddings:
        columns = {embedding: (e.field, e.dim) for embedding, e in model.embeddings.items()}
        profile = replace(profile, embeddings=load_embeddings(model.reference, columns, key))
    return profile, found


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


def scope_problems(
    name: str, model: ModelSettings, columns: list[str], types: Mapping[str, ColumnType]
) -> list[str]:
    """What the model's ``segments:``, ``versions:`` and ``baseline:`` sections ask of its reference:
    a feature-sourced segment column must be a feature of the model or a column of its reference, and
    categorical; a segment judged against its own rows of the reference needs the reference's rows."""
    problems: list[str] = []
    segments = model.segments
    features = [f.name for f in model.features]
    where = f"models.{name}"
    if segments is not None:
        for i, column in enumerate(segments.columns):
            key = f"{where}.segments.columns[{i}]"
            if column.source == "feature":
                if column.column not in features and column.column not in columns:
                    problems.append(
                        f"  - {key}.column: {column.column!r} is not a feature of the model (features: "
                        f"{', '.join(features)}) nor a column of its reference; fix the name, or add "
                        'source: metadata if records carry it under "metadata"'
                    )
                    continue
                if types.get(column.column) == "numeric":
                    problems.append(
                        f"  - {key}.column: {column.column!r} is a numeric feature; segments need a categorical "
                        "column: set the feature's type: categorical, or segment by a binned column the "
                        "producer logs"
                    )
            if column.reference == "segment" and model.reference.is_dir() and column.column in columns:
                problems.append(
                    f"  - {key}.reference: segment needs the reference's rows, but {where}.reference is a saved "
                    "profile; set reference: model, or point reference at the Parquet or CSV file"
                )
    versions = model.versions
    if versions is not None:
        for version, path in versions.references.items():
            try:
                found = reference_columns(path)
            except (OSError, ValueError) as exc:
                problems.append(
                    f"  - {where}.versions.references.{version}: cannot read {path} ({exc}); give a Parquet "
                    "or CSV file of that version's reference data"
                )
                continue
            missing = [f for f in features if f not in found]
            if model.prediction and model.prediction not in found:
                missing.append(model.prediction)
            if model.performance is not None and model.performance.label not in found:
                missing.append(model.performance.label)
            if missing:
                problems.append(
                    f"  - {where}.versions.references.{version}: {path} has no column {', '.join(map(repr, missing))} "
                    f"(it has {', '.join(found)}); give version {version}'s reference with the model's features "
                    "and prediction column (and its label column with a performance: section)"
                )
    return problems
