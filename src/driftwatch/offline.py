"""``driftwatch check``: the one-shot form of a scheduled check, on CSV or Parquet files.

The same engine as the daemon, on a reference (a file or a saved profile) and a
current file. Without a config, every column the two share is checked, typed
from the reference's dtypes; with ``--config`` and ``--model``, the model's
features, types, methods, thresholds, drift share and prediction column apply
(and its ``performance:`` section, in the command).

The same truth in every format: a column that cannot be checked is reported
with its reason (in the words of files, not of the daemon's window) by the
table, the JSON and the HTML alike, and `incomplete` makes the command exit 2.
A current file of fewer rows than ``min_rows`` has no verdict, by the daemon's rule and in its words
(`driftwatch.checks.window.verdict_status`, `no_verdict_reason`): "not enough rows" and "no data" mean the
same here as in ``/api/models``.

The command reads the files and calls `check_data` and `performance_data` on the frames; the Python API
(`driftwatch.api`) calls the same two on the user's DataFrames, with messages worded for its arguments
(`Wording`), so the two give the same answer.
"""

from __future__ import annotations

import html
import json
import math
import unicodedata
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.checks.base import CheckInput
from driftwatch.checks.embedding import EmbeddingDriftCheck, EmbeddingSpec
from driftwatch.checks.multivariate import MultivariateDriftCheck
from driftwatch.checks.window import CheckStatus, no_verdict_reason, verdict_status
from driftwatch.defaults import MIN_ROWS_DEFAULT
from driftwatch.drift.dataset import ColumnDrift, ColumnOptions, DatasetDrift, column_drift, dataset_drift
from driftwatch.drift.multivariate_methods import FittedMultivariate
from driftwatch.drift.predicted_class import holds_probability_maps
from driftwatch.drift.profile import (
    ColumnType,
    ReferenceProfile,
    as_predicted_classes,
    category_keys,
    infer_type,
)
from driftwatch.errors import CheckError
from driftwatch.reference import (
    ReferenceDataError,
    embedding_sample,
    is_profile,
    load_frame,
    load_labelled,
    load_profile,
)
from driftwatch.scope import SegmentKey
from driftwatch.stream.windows import WindowSnapshot

if TYPE_CHECKING:
    from driftwatch.performance.evaluation import BandedEstimate

__all__ = [
    "FILES",
    "CheckError",
    "CheckFiles",
    "OfflineCheck",
    "SegmentCheck",
    "SegmentKey",
    "Wording",
    "check_data",
    "check_embeddings",
    "check_segments",
    "errors_section",
    "format_table",
    "incomplete",
    "multivariate",
    "multivariate_alert",
    "performance",
    "performance_data",
    "quality_breaches",
    "read_check_files",
    "segment_keys",
    "segment_notes",
    "segments_html",
    "segments_table",
    "shared_columns",
    "to_html",
    "to_json",
]


@dataclass(frozen=True)
class Wording:
    """How messages name the inputs: the command's flags and files, or the Python API's arguments."""

    reference: str = "--reference"
    current: str = "--current"
    columns: str = "--columns"
    prediction: str = "--prediction-column"
    label: str = "--label-column"
    classes: str = "--classes"
    things: str = "files"
    subject: str = "the current file"  # what had too few rows, in `OfflineCheck.reason`
    min_labels: str = "the model's performance.min_labels"
    segment: str = "--segment"
    top_k: str = "--top-k"
    segment_min_rows: str = "--segment-min-rows"


FILES = Wording()


@dataclass
class OfflineCheck:
    drift: DatasetDrift
    prediction_drift: ColumnDrift | None
    types: dict[str, ColumnType]
    options: dict[str, ColumnOptions]
    reference_frame: pd.DataFrame
    current_frame: pd.DataFrame
    extra: dict[str, Any] = field(default_factory=dict)
    # the reference's rows as read, prediction beside its label (None: a profile that kept none)
    labelled_reference: pd.DataFrame | None = None
    reference_name: str = ""
    # whether there is a verdict, by the daemon's rule (`verdict_status`) on the current file's rows
    status: CheckStatus = "ok"
    min_rows: int = 1
    min_rows_from: str = "min_rows"  # what set min_rows, for the reason: a flag, the config, the default
    subject: str = "the current file"  # what was checked, for the reason
    # a prediction of maps class -> probability: the model's class order its predicted class's ties go by
    classes: tuple[Hashable, ...] = ()

    @property
    def rows(self) -> int:
        return len(self.current_frame)

    @property
    def reason(self) -> str | None:
        """Why there is no verdict (None when there is one): the daemon's words, of the current file."""
        return no_verdict_reason(self.status, self.rows, self.min_rows, self.subject, self.min_rows_from)

    def as_dict(self) -> dict[str, Any]:
        # the keys and the nulls of the daemon's result (`CheckResult.as_dict`): no made-up "no drift"
        out: dict[str, Any] = {"status": self.status, "reason": self.reason, "rows": self.rows}
        out["min_rows"] = self.min_rows
        out.update(self.drift.as_dict())
        if self.status != "ok":
            out.update(dataset_drift=None, drift_share=None, n_drifted=None, n_columns=None)
        out["prediction_drift"] = None if self.prediction_drift is None else self.prediction_drift.as_dict()
        out.update(self.extra)
        return out


def _read(path: Path, role: str, text: Sequence[str] = (), prediction: str | None = None) -> pd.DataFrame:
    if not path.exists():
        raise CheckError(f"--{role} {path}: file not found")
    try:
        frame = load_frame(path, text, [prediction])
    except ReferenceDataError as exc:
        raise CheckError(f"--{role} {exc}") from None
    if len(frame) == 0:
        raise CheckError(f"--{role} {path}: no rows (only a header); there is nothing to check")
    return frame


@dataclass(frozen=True)
class CheckFiles:
    """A one-shot check's inputs read from files: the reference (a frame, or a saved profile), the
    reference's labelled rows when it has them, and the current frame."""

    reference: pd.DataFrame | ReferenceProfile
    labelled: pd.DataFrame | None
    current: pd.DataFrame


def read_check_files(
    reference: Path, current: Path, types: dict[str, ColumnType] | None = None, prediction: str | None = None
) -> CheckFiles:
    """Read what `check_data` checks; `CheckError` naming the flag and the file when one cannot be read.
    Columns ``types`` calls categorical are read as written ("02134" stays text); the ``prediction``
    column's maps class -> probability as dicts, however written (`driftwatch.reference.load_frame`)."""
    text = [c for c, t in (types or {}).items() if t == "categorical"]
    current_frame = _read(current, "current", text, prediction)
    if is_profile(reference):
        try:
            return CheckFiles(load_profile(reference), load_labelled(reference), current_frame)
        except ReferenceDataError as exc:
            raise CheckError(f"--reference {exc}") from None
    frame = _read(reference, "reference", text, prediction)
    return CheckFiles(frame, frame, current_frame)


def shared_columns(
    reference_columns: Sequence[str], current: pd.DataFrame, prediction: str | None, label: str | None
) -> list[str]:
    """The columns a check looks at when none are named: those both sides have, but the prediction and
    the label."""
    return [c for c in reference_columns if c in current.columns and c not in (prediction, label)]


def check_data(
    reference: pd.DataFrame | ReferenceProfile,
    current_frame: pd.DataFrame,
    columns: list[str] | None = None,
    types: dict[str, ColumnType] | None = None,
    options: dict[str, ColumnOptions] | None = None,
    share: float = 0.5,
    prediction: str | None = None,
    default: ColumnOptions | None = None,
    label: str | None = None,
    min_rows: int = MIN_ROWS_DEFAULT,
    min_rows_from: str = "the default min_rows",
    labelled: pd.DataFrame | None = None,
    names: tuple[str, str] = ("", ""),
    wording: Wording = FILES,
    classes: Sequence[Hashable] | None = None,
) -> OfflineCheck:
    """The one-shot check on data already read (`read_check_files` reads it from files): a reference frame or profile, and the current frame.

    ``labelled`` is the reference's rows with each prediction beside its label, for `performance` (a
    reference frame is its own); ``names`` name the reference and the current data in messages, as
    ``wording`` does the arguments (the command's flags, or the Python API's). A prediction of maps
    class -> probability is checked as its predicted classes, a tie going to the first of ``classes``
    (the model's class order; then sorted).
    """
    order = tuple(str(c) for c in classes or ())  # the maps' keys are text
    if isinstance(reference, ReferenceProfile):
        profile = reference
        reference_frame: pd.DataFrame | None = None
        available = list(profile.columns)
    else:
        reference_frame = reference
        labelled = reference_frame if labelled is None else labelled
        available = [str(c) for c in reference_frame.columns]
    wanted = columns or shared_columns(available, current_frame, prediction, label)
    if not wanted:
        reference_name, current_name = (f" {name}" if name else "" for name in names)
        raise CheckError(
            f"{wording.reference}{reference_name} and {wording.current}{current_name} share no columns; "
            f"check the {wording.things} or name the columns with {wording.columns}"
        )
    for role, have in (
        (wording.reference, available),
        (wording.current, list(map(str, current_frame.columns))),
    ):
        missing = [c for c in wanted + ([prediction] if prediction else []) if c not in have]
        if missing:
            raise CheckError(f"{role} has no column(s) {', '.join(missing)}; it has {', '.join(have)}")
    types = dict(types or {})
    profiled = wanted + ([prediction] if prediction else [])
    if reference_frame is not None:
        for column in profiled:
            types.setdefault(column, infer_type(reference_frame[column]))
        profile = ReferenceProfile.build(reference_frame, profiled, types, order)
    else:
        types = {c: profile.columns[c].type for c in profiled}
        from driftwatch.report import profile_frame

        reference_frame = profile_frame(profile)
    options = {c: default or (options or {}).get(c, ColumnOptions()) for c in wanted}
    status = verdict_status(len(current_frame), min_rows)
    prediction_drift = None
    if status != "ok":  # no verdict: the tests are not run at all, so nothing can pass for one
        drift = DatasetDrift([], share)
    else:
        features = ReferenceProfile({c: profile.columns[c] for c in wanted}, profile.rows)
        drift = dataset_drift(features, {c: current_frame[c] for c in wanted}, options, share)
        drift = replace(drift, errors=[_explained(c, current_frame[c.column]) for c in drift.errors])
        # rows, but no column could be tested: "no data", never a "no drift" made of zero columns
        status = "ok" if drift.columns else "no_data"
        if prediction:
            prediction_drift = column_drift(
                profile.columns[prediction],
                as_predicted_classes(current_frame[prediction], order),
                ColumnOptions(),
            )
            if prediction_drift.error:
                prediction_drift = _explained(prediction_drift, current_frame[prediction])
    return OfflineCheck(
        drift,
        prediction_drift,
        {c: types[c] for c in wanted},
        options,
        reference_frame,
        current_frame,
        {"reference_rows": profile.rows, "current_rows": len(current_frame)},
        labelled,
        names[0],
        status,
        min_rows,
        min_rows_from,
        wording.subject,
        order,
    )


def _explained(column: ColumnDrift, current: pd.Series) -> ColumnDrift:
    """A column that could not be checked, with the reason in the words of files (the engine speaks of
    the daemon's window): no values in the current file, or text where the reference has numbers."""
    quality = column.quality
    if column.reference_rows == 0:
        reason = "the reference has no values in this column (all missing)"
    elif column.current_rows == 0 and quality is not None and quality.type_violations:
        text = current.dropna()
        example = next(
            (v for v in text.tolist() if pd.isna(pd.to_numeric(pd.Series([v]), errors="coerce")).all()), None
        )
        reason = (
            f"numeric in the reference but text in the current file (e.g. {example!r}); "
            "fix the file, or type the column as categorical in the config"
        )
    elif column.current_rows == 0:
        reason = "the current file has no values in this column (all missing)"
    else:
        return column
    return replace(column, error=reason)


def multivariate(
    check: OfflineCheck, fitted: Mapping[str, FittedMultivariate], columns: Mapping[str, ColumnType]
) -> None:
    """Multivariate drift of ``check``'s current rows by each fitted method (method -> fitted on the
    reference's ``columns``), by the daemon's own check on a window of those rows: the same numbers and
    the same no-verdict rule. Kept in ``check.extra["multivariate_drift"]`` (null without a verdict)."""
    joint = MultivariateDriftCheck("", list(fitted), columns, check.min_rows)
    joint.prepare(fitted)
    frame = check.current_frame.reset_index(drop=True)
    part = joint.run(CheckInput(WindowSnapshot(frame, 0.0, 0.0, len(frame), {})))
    check.extra["multivariate_drift"] = (part.value.as_dict() or None) if part.value is not None else None


def multivariate_alert(check: OfflineCheck) -> bool:
    """Whether a multivariate drift method alerted on ``check``'s current rows."""
    found = check.extra.get("multivariate_drift") or {}
    return any(bool(result["alert"]) for result in found.values())


def check_embeddings(
    check: OfflineCheck,
    reference: Mapping[str, npt.NDArray[np.float32]],
    current: pd.DataFrame,
    columns: Mapping[str, tuple[str, int]],
    specs: Sequence[EmbeddingSpec],
    min_rows: int,
    wording: Wording = FILES,
) -> bool:
    """Each embedding's drift (`driftwatch.checks.embedding`, the daemon's check): ``reference`` holds
    each embedding's reference vectors (`driftwatch.reference.load_embeddings`), ``columns`` maps it to
    the current data's column of vectors and its dim. The results go to ``check.extra["embedding_drift"]``
    (the JSON's key, as in the daemon's result); returns whether any embedding drifted."""
    vectors = {}
    for name, (column, dim) in columns.items():
        if column not in current.columns:
            raise CheckError(
                f"{wording.current} has no column {column!r} holding the vectors of embedding {name!r}; "
                f"it has {', '.join(map(str, current.columns))}"
            )
        try:
            vectors[name] = embedding_sample(current[column], dim, f"{wording.current}", rows=len(current))
        except ReferenceDataError as exc:
            raise CheckError(str(exc)) from None
    embeddings = EmbeddingDriftCheck("offline", list(specs), min_rows)
    try:
        embeddings.prepare(ReferenceProfile({}, 0, reference))
    except ValueError as exc:
        raise CheckError(f"{wording.reference}: {exc}") from None
    part = embeddings.run_vectors(vectors, len(current))
    results = part.value or {}
    check.extra["embedding_drift"] = {name: result.as_dict() for name, result in results.items()}
    return any(result.drifted for result in results.values())


def incomplete(check: OfflineCheck) -> str | None:
    """Why the check is incomplete (columns it could not check), or None. Every format prints the same
    report; the command then exits 2 with this line, since "no drift" would claim more than was checked."""
    failed = [*check.drift.errors]
    if check.prediction_drift is not None and check.prediction_drift.error:
        failed.append(check.prediction_drift)
    if not failed:
        return None
    return f"{len(failed)} column(s) could not be checked: " + "; ".join(
        f"{c.column}: {c.error}" for c in failed
    )


SEGMENT_TOP_K_DEFAULT = 20  # per segment column: the current file's busiest values, as the daemon's top_k
SEGMENT_COLUMNS_MAX = 3  # each column adds top_k + 1 checks


@dataclass
class SegmentCheck:
    """The check of one segment's current rows: the same `OfflineCheck` a whole file gets, of the rows of
    ``key``, against the reference's rows of the same value (``notes`` say when it was another reference,
    and that the segment column itself is not checked)."""

    key: SegmentKey
    check: OfflineCheck
    share: float  # of the current rows
    notes: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return self.key.label

    @property
    def breached(self) -> bool:
        """Whether a quality limit is breached (the model's limits, when the command applied them)."""
        return bool(quality_breaches(self.check))

    @property
    def alarm(self) -> bool:
        """Drift or a quality breach, with a verdict: what makes the command exit 1."""
        return self.check.status == "ok" and (bool(self.check.drift.dataset_drift) or self.breached)

    @property
    def verdict(self) -> str:
        if self.check.status != "ok":
            return "no verdict"
        text = "DRIFT" if self.check.drift.dataset_drift else "no drift"
        return text + (", quality breach" if self.breached else "")

    def as_dict(self) -> dict[str, Any]:
        return {"segment": self.label, "share_of_rows": self.share, **self.check.as_dict()}


def segment_keys(values: pd.Series, top_k: int) -> tuple[list[str], npt.NDArray[np.object_]]:
    """The ``top_k`` most frequent values of ``values`` (canonical category keys, ties broken by their
    text; missing values are not among them) and every row's key (None: missing)."""
    keys = category_keys(values.to_numpy(dtype=object))
    counts = pd.Series(keys[pd.notna(keys)]).value_counts(sort=False)
    ranked = sorted(zip(counts.index.tolist(), counts.tolist(), strict=True), key=lambda kv: (-kv[1], kv[0]))
    return [str(value) for value, _ in ranked[:top_k]], keys


def _masks(
    column: str, top: Sequence[str], keys: npt.NDArray[np.object_]
) -> list[tuple[SegmentKey, npt.NDArray[np.bool_]]]:
    missing = pd.isna(keys)
    known = pd.Series(keys).isin(list(top)).to_numpy()
    out = [(SegmentKey(column, value), np.asarray(keys == value, dtype=bool)) for value in top]
    out.append((SegmentKey.of(column, None), np.asarray(missing, dtype=bool)))
    out.append((SegmentKey.other(column), ~known & ~missing))
    return out


def check_segments(
    reference: pd.DataFrame | ReferenceProfile,
    current: pd.DataFrame,
    column: str,
    top_k: int = SEGMENT_TOP_K_DEFAULT,
    min_rows: int = MIN_ROWS_DEFAULT,
    *,
    columns: list[str] | None = None,
    types: dict[str, ColumnType] | None = None,
    options: dict[str, ColumnOptions] | None = None,
    share: float = 0.5,
    prediction: str | None = None,
    default: ColumnOptions | None = None,
    label: str | None = None,
    min_rows_from: str = "the default min_rows",
    labelled: pd.DataFrame | None = None,
    names: tuple[str, str] = ("", ""),
    wording: Wording = FILES,
    classes: Sequence[Hashable] | None = None,
) -> list[SegmentCheck]:
    """`check_data` of each segment of ``column``: the current data's ``top_k`` most frequent values, its
    rows missing the column (``column:missing``) and the rows of every other value (``column:other``),
    each listed when the current data has rows of it.

    Each segment's rows are checked against the reference's rows of the same value (``other``: of a
    value not among the ``top_k``), with the arguments of `check_data` and ``min_rows`` of its own;
    against the whole reference when the reference has no such column or rows, or is a saved profile
    (the segment's ``notes`` say so). ``column`` is left out of the checked columns: it is constant
    within a segment. A column absent from the current data, or a numeric feature, is a `CheckError`
    naming ``wording.segment``.
    """
    have = [str(c) for c in current.columns]
    if column not in have:
        raise CheckError(
            f"{wording.segment} {column!r}: {wording.subject} has no such column (it has {', '.join(have)}); "
            "fix the name"
        )
    if isinstance(reference, ReferenceProfile):
        frame: pd.DataFrame | None = None
        available = list(reference.columns)
    else:
        frame = reference
        available = [str(c) for c in reference.columns]
    wanted = list(columns or shared_columns(available, current, prediction, label))
    notes: list[str] = []
    if column in wanted:
        if isinstance(reference, ReferenceProfile) and column in reference.columns:
            kind = reference.columns[column].type
        elif frame is not None and column in frame.columns:
            kind = (types or {}).get(column) or infer_type(frame[column])
        else:
            kind = (types or {}).get(column) or infer_type(current[column])
        if kind == "numeric":
            raise CheckError(
                f"{wording.segment} {column!r} is a numeric feature; segments need a categorical column: "
                f"type it categorical (a config's features: type: categorical), leave it out of the checked "
                f"columns ({wording.columns}), or segment by a binned column"
            )
        wanted.remove(column)
        notes.append(f"{column} is not drift-checked within its own segments (it is constant there)")
    if not wanted:
        raise CheckError(
            f"{wording.segment} {column!r} is the only column checked, and within a segment it is "
            f"constant: nothing would be left to check; check more columns ({wording.columns})"
        )
    reference_keys: npt.NDArray[np.object_] | None = None
    if frame is None:
        notes.append(
            f"{wording.reference} is a saved profile, which keeps no rows to split by {column}: "
            f"each {column} segment is checked against the whole reference"
        )
    elif column not in frame.columns:
        notes.append(
            f"{wording.reference} has no column {column!r}: each {column} segment is checked against "
            "the whole reference"
        )
    else:
        reference_keys = category_keys(frame[column].to_numpy(dtype=object))
    top, keys = segment_keys(current[column], top_k)
    reference_masks = dict(_masks(column, top, reference_keys)) if reference_keys is not None else {}
    out = []
    for key, mask in _masks(column, top, keys):
        if not mask.any():
            continue
        rows = current[mask].reset_index(drop=True)
        own = list(notes)
        against: pd.DataFrame | ReferenceProfile = reference
        against_labelled = labelled
        if frame is not None and key in reference_masks:
            if reference_masks[key].any():
                against = frame[reference_masks[key]].reset_index(drop=True)
                against_labelled = against
            else:
                own.append(
                    f"{wording.reference} has no rows of {key.label}: that segment is checked against the whole reference"
                )
        check = check_data(
            against,
            rows,
            wanted,
            types,
            options,
            share,
            prediction,
            default,
            label=label,
            min_rows=min_rows,
            min_rows_from=min_rows_from,
            labelled=against_labelled,
            names=names,
            wording=replace(wording, subject=f"{wording.subject}'s segment {key.label}"),
            classes=classes,
        )
        out.append(SegmentCheck(key, check, len(rows) / len(current), tuple(own)))
    return out


def segment_notes(segments: Sequence[SegmentCheck]) -> list[str]:
    """The segments' notes, each once, in order."""
    return list(dict.fromkeys(note for segment in segments for note in segment.notes))


def segments_table(segments: Sequence[SegmentCheck]) -> str:
    """The "Segments" table under the whole file's: one row per segment, then the notes and the columns
    a segment could not check."""
    header = ("segment", "rows", "status", "drifted", "share", "verdict")
    body = [
        (
            s.label,
            str(s.check.rows),
            s.check.status,
            f"{s.check.drift.n_drifted}/{s.check.drift.n_columns}" if s.check.status == "ok" else "-",
            f"{100 * s.share:.1f}%",
            s.verdict,
        )
        for s in segments
    ]
    widths = [max(_width(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(v + " " * (w - _width(v)) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.insert(0, "Segments")
    lines += [f"note: {note}" for note in segment_notes(segments)]
    for s in segments:
        problem = incomplete(s.check)
        if problem is not None:
            lines.append(f"! {s.label}: {problem}")
        lines += [f"quality {s.label}: {line}" for line in quality_breaches(s.check) or []]
        lines += multivariate_lines(s.check, s.label)
    return "\n".join(lines)


def multivariate_lines(check: OfflineCheck, label: str | None = None) -> list[str]:
    """One table line per multivariate drift method of ``check`` (a segment's named by ``label``)."""
    whose = "" if label is None else f" {label}"
    return [
        f"multivariate drift{whose} {method}: {_number(m['value'])} "
        f"[{_number(m['lower_threshold'])}, {_number(m['upper_threshold'])}] -> "
        + ("DRIFT" if m["alert"] else "no drift")
        for method, m in (check.extra.get("multivariate_drift") or {}).items()
    ]


def performance(
    check: OfflineCheck,
    task: str,
    prediction: str,
    label: str,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
    estimate: bool | None = None,
    calibration: str = "auto",
    min_labels: int = 1,
    min_predictions: int = 1,
    features: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> dict[str, Any]:
    """Realized performance where the labels exist; for a binary classifier, CBPE's estimate from the
    reference's labelled scores (``estimate`` None: when the predictions are scores; False: never).
    Rows missing a prediction or a label are left out. When CBPE cannot estimate (hard labels instead
    of scores, too few reference rows), ``estimate_note`` says why and there is no estimate. Below
    ``min_labels`` (a model's performance.min_labels) labelled rows there is no realized figure, and below
    ``min_predictions`` (the check's min_rows) predictions no estimate, as in the daemon:
    ``performance_note`` and ``estimate_note`` say so. A regression with ``estimate`` True gets DLE's
    estimate, fitted on the reference's ``features`` (``categorical``: those declared so) beside each
    prediction and label, as the daemon's."""
    reference = check.labelled_reference
    if reference is None:
        raise CheckError(
            f"--reference {check.reference_name} is a saved profile without the labelled rows performance "
            f"needs (each prediction beside its label); rebuild it with `driftwatch profile -r REFERENCE "
            f"-o {check.reference_name} --prediction-column {prediction} --label-column {label}`, "
            "or pass the reference file"
        )
    kept = "the profile keeps " if check.labelled_reference is not check.reference_frame else "it has "
    return performance_data(
        reference,
        check.current_frame,
        task,
        prediction,
        label,
        threshold,
        classes,
        estimate,
        calibration,
        min_labels,
        min_predictions,
        kept=kept,
        features=features,
        categorical=categorical,
    )


def performance_data(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    task: str,
    prediction: str,
    label: str,
    threshold: float = 0.5,
    classes: Sequence[Hashable] | None = None,
    estimate: bool | None = None,
    calibration: str = "auto",
    min_labels: int = 1,
    min_predictions: int = 1,
    kept: str = "it has ",
    wording: Wording = FILES,
    features: Sequence[str] = (),
    categorical: Sequence[str] = (),
) -> dict[str, Any]:
    """`performance` on the reference's labelled rows and the current frame (``kept``: how the message
    of a missing label column introduces the reference's columns; ``wording``: how it names arguments)."""
    from driftwatch.performance.cbpe import CBPE, CBPEError
    from driftwatch.performance.metrics import realized

    if label not in reference.columns:
        raise CheckError(
            f"{wording.reference} has no label column {label!r} ({kept}{', '.join(map(str, reference.columns))}); "
            f"name it with {wording.label}"
        )
    if prediction not in reference.columns or prediction not in current.columns:
        raise CheckError(f"{wording.prediction} {prediction!r} must be in both {wording.things}")

    def labelled(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[[prediction, label]].dropna()

    def measured(rows: pd.DataFrame) -> dict[str, float]:
        return realized(
            task,  # type: ignore[arg-type]
            rows[label].to_numpy(),
            rows[prediction].to_numpy(),
            threshold=threshold,
            classes=classes,
        )

    out: dict[str, Any] = {}
    ref = labelled(reference)
    where = f"performance ({task}, {wording.prediction} {prediction}, {wording.label} {label})"
    try:
        out["reference_performance"] = measured(ref)
        cur = labelled(current) if label in current.columns else current.iloc[:0]
        if len(cur) and len(cur) < min_labels:  # the daemon's "not enough labels"
            out["performance_note"] = (
                f"not enough labels: {len(cur)} labelled rows in {wording.subject}, fewer than "
                f"{wording.min_labels} {min_labels}: too few to tell a drop from noise"
            )
        elif len(cur):
            out["performance"] = measured(cur)
    except ValueError as exc:
        # the metrics' advice names the Python argument; the command's is a flag
        message = (
            str(exc)
            .replace("pass classes=", f"pass {wording.classes}")
            .replace("needs classes=", f"needs {wording.classes}")
        )
        raise CheckError(f"{where}: {message}") from None
    if task == "multiclass_classification" and estimate is not False:
        out.update(
            _multiclass_estimate(
                ref,
                current,
                prediction,
                label,
                classes,
                estimate,
                calibration,
                min_predictions,
                where,
                wording,
                cur if "performance" in out else None,
                out.get("performance", {}),
            )
        )
    if task == "regression" and estimate:
        out.update(
            _dle_estimate(
                reference,
                current,
                prediction,
                label,
                features,
                categorical,
                min_predictions,
                current.loc[cur.index] if "performance" in out else None,
                out.get("performance", {}),
            )
        )
        return out
    if task == "binary_classification" and estimate is not False:
        positive = classes[1] if classes is not None else 1
        try:
            cbpe = CBPE.fit(
                _as_scores(ref[prediction], "the reference's"),
                (ref[label] == positive).to_numpy(),
                threshold=threshold,
                calibration=calibration,  # type: ignore[arg-type]
            )
            if "performance" in out:  # the estimate on the labelled rows, scored against their labels
                graded = cur[prediction]
                out["estimate_error"] = _estimate_error(
                    lambda: cbpe.estimate(_as_scores(graded, "the labelled rows'")),
                    len(graded),
                    out["performance"],
                )
            scores = _as_scores(current[prediction].dropna(), f"{wording.subject}'s")
            if not len(scores):
                raise CBPEError(f"{wording.subject} has no values in {prediction!r} to estimate from")
            if len(scores) < min_predictions:  # the daemon's rule, in the words of files
                out["estimate_note"] = (
                    f"not enough predictions: {len(scores)} in {wording.subject}, fewer than min_rows "
                    f"{min_predictions}"
                )
                return out
            estimates = cbpe.estimate(scores)
        except CBPEError as exc:
            if estimate:
                raise CheckError(f"{where}: estimate: {exc}") from None
            out["estimate_note"] = f"no CBPE estimate: {exc}"
        else:
            out["estimated_performance"] = {
                metric: {"value": e.value, "lower": e.lower, "upper": e.upper}
                for metric, e in estimates.items()
            }
            out["calibration"] = cbpe.calibration.as_dict()
    return out


def _multiclass_estimate(
    ref: pd.DataFrame,
    current: pd.DataFrame,
    prediction: str,
    label: str,
    classes: Sequence[Hashable] | None,
    estimate: bool | None,
    calibration: str,
    min_predictions: int,
    where: str,
    wording: Wording,
    labelled: pd.DataFrame | None = None,
    realized: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """Multiclass CBPE from the reference's maps class -> probability, as the daemon fits it: by default
    only when the reference holds maps (a model that logs classes gets no estimate and no note). With
    the ``labelled`` rows of the current data and their ``realized`` metrics, the estimate on exactly
    those rows scored against them (``estimate_error``)."""
    from driftwatch.performance.cbpe import CBPEError
    from driftwatch.performance.multiclass_cbpe import MulticlassCBPE

    def maps(values: pd.Series) -> list[Any]:
        return [v for v in values.dropna().tolist() if isinstance(v, Mapping)]

    reference_maps = maps(ref[prediction])
    if len(reference_maps) < len(ref) or not reference_maps:
        if estimate:
            raise CheckError(
                f"{where}: estimate: CBPE needs a map class -> probability per row in {prediction!r} "
                "(predict_proba's), but the reference holds classes"
            )
        return {}
    try:
        cbpe = MulticlassCBPE.fit(
            reference_maps,
            ref[label].to_numpy(),
            classes=classes,
            calibration=calibration,  # type: ignore[arg-type]
        )
        scored: dict[str, Any] = {}
        if labelled is not None and realized:
            rows = labelled[prediction].tolist()

            def on_rows() -> dict[str, Any]:
                if not all(isinstance(v, Mapping) for v in rows):
                    raise CBPEError("the labelled predictions are not all maps class -> probability")
                return cbpe.estimate(rows)

            scored["estimate_error"] = _estimate_error(on_rows, len(rows), realized)
        window = maps(current[prediction])
        if not window:
            raise CBPEError(f"{wording.subject} has no maps of class probabilities in {prediction!r}")
        if len(window) < min_predictions:
            return {
                **scored,
                "estimate_note": f"not enough predictions: {len(window)} in {wording.subject}, fewer than "
                f"min_rows {min_predictions}",
            }
        estimates = cbpe.estimate(window)
    except CBPEError as exc:
        if estimate:
            raise CheckError(f"{where}: estimate: {exc}") from None
        return {"estimate_note": f"no CBPE estimate: {exc}"}
    return {
        **scored,
        "estimated_performance": {
            metric: {"value": e.value, "lower": e.lower, "upper": e.upper} for metric, e in estimates.items()
        },
        "calibration": cbpe.calibration.as_dict(),
    }


def _dle_estimate(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    prediction: str,
    label: str,
    features: Sequence[str],
    categorical: Sequence[str],
    min_predictions: int,
    labelled: pd.DataFrame | None = None,
    realized: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    """DLE's estimate of a regression on ``current``, fitted on the reference as the daemon fits it
    (`driftwatch.performance.monitor.PerformanceMonitor`); `CheckError` when it cannot fit. With the
    ``labelled`` rows of the current data (features, prediction) and their ``realized`` metrics, the
    estimate on exactly those rows scored against them (``estimate_error``)."""
    from driftwatch.performance.dle import DLE, DLEError, categorical_columns

    wanted = [f for f in features if f not in (prediction, label)]
    absent = [f for f in wanted if f not in reference.columns]
    if not wanted or absent:
        raise CheckError(
            "performance estimate (regression, DLE): the reference's labelled rows have no feature "
            f"column(s) {', '.join(absent) or '(none monitored)'}; DLE learns the loss from each row's "
            "features beside its prediction and label: rebuild the profile with `driftwatch profile "
            "--config CONFIG --model NAME`, or pass the reference file"
        )
    try:
        dle = DLE.fit(
            reference,
            wanted,
            prediction,
            label,
            categorical=[*categorical, *categorical_columns(reference, wanted)],
        )
        scored: dict[str, Any] = {}
        if labelled is not None and realized:
            rows = labelled
            scored["estimate_error"] = _estimate_error(lambda: dle.estimate(rows), len(rows), realized)
        predictions = int(pd.to_numeric(current[prediction], errors="coerce").notna().sum())
        if predictions < max(min_predictions, 1):
            return {
                **scored,
                "estimate_note": f"not enough predictions: {predictions} in the current data, fewer than "
                f"min_rows {min_predictions}",
            }
        estimates = dle.estimate(current)
    except DLEError as exc:
        raise CheckError(f"performance estimate (regression, DLE): {exc}") from None
    return {
        **scored,
        "estimated_performance": {
            metric: {"value": e.value, "lower": e.lower, "upper": e.upper} for metric, e in estimates.items()
        },
    }


def _estimate_error(
    estimate: Callable[[], Mapping[str, BandedEstimate]], rows: int, realized: Mapping[str, float]
) -> dict[str, object]:
    """The estimator's estimate on the ``rows`` labelled rows (``estimate`` makes it) against their
    ``realized`` metrics (`driftwatch.performance.evaluation`): no metric when the rows cannot be
    estimated from (binary or multiclass CBPE, or DLE)."""
    from driftwatch.performance.cbpe import CBPEError
    from driftwatch.performance.dle import DLEError
    from driftwatch.performance.evaluation import EstimateEvaluation, evaluate_estimate

    try:
        estimates = estimate()
    except (CBPEError, DLEError):
        return EstimateEvaluation(rows, {}).as_dict()
    return evaluate_estimate(estimates, realized, rows).as_dict()


def _as_scores(values: pd.Series, whose: str) -> npt.NDArray[np.float64]:
    """Predictions as float scores for CBPE, or `CBPEError` saying they are not scores."""
    from driftwatch.performance.cbpe import CBPEError

    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any() or pd.api.types.is_bool_dtype(values):
        raise CBPEError(
            f"{whose} predictions are not numbers (e.g. {values.iloc[0]!r}); CBPE needs the model's "
            "probability of the positive class"
        )
    return numbers.to_numpy(dtype=np.float64)


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
    widths = [max(_width(str(r[i])) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(str(v) + " " * (w - _width(str(v))) for v, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    if not body:  # no column was tested (too few rows): the verdict line says why, without an empty table
        lines = []
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
    evaluation = check.extra.get("estimate_error", {"metrics": {}})
    for metric, e in sorted(evaluation["metrics"].items()):
        inside = {True: "inside its band", False: "OUTSIDE its band", None: "no band"}[e["covered"]]
        lines.append(
            f"estimate error {metric}: {e['error']:+.4f} (estimated {_number(e['estimate'])} "
            f"[{_number(e['lower'])}, {_number(e['upper'])}] on the {evaluation['rows']} labelled rows, "
            f"realized {_number(e['realized'])}: {inside})"
        )
    if "performance_note" in check.extra:
        lines.append(f"performance: {check.extra['performance_note']}")
    if "estimate_note" in check.extra:
        lines.append(f"performance estimate: {check.extra['estimate_note']}")
    lines += [f"quality {line}" for line in quality_breaches(check) or []]
    lines += multivariate_lines(check)
    for name, found in check.extra.get("embedding_drift", {}).items():
        if found["score"] is None:
            lines.append(f"embedding {name}: no verdict ({found['status']}): {found['note']}")
        else:
            state = "DRIFT" if found["drift_detected"] else "no drift"
            lines.append(
                f"embedding {name}: {found['method']} score {_number(found['score'])}, threshold "
                f"{_number(found['threshold'])} ({found['rows']} vectors) -> {state}"
            )
    if check.status != "ok":
        lines.append(f"no verdict ({check.status}): {check.reason}")
    else:
        verdict = "DATASET DRIFT" if drift.dataset_drift else "no dataset drift"
        lines.append(
            f"{verdict}: {drift.n_drifted} of {drift.n_columns} columns drifted "
            f"(share {drift.drift_share:.2f}, threshold {drift.share_threshold:.2f})"
        )
    return "\n".join(lines)


def quality_breaches(check: OfflineCheck) -> list[str] | None:
    """Each breach of the model's quality limits, in words (the table and the HTML say the same); None
    when no limits were applied."""
    quality = check.extra.get("data_quality")
    if quality is None:
        return None
    from driftwatch.drift.quality import QualityBreach

    return [QualityBreach(**b).text for b in quality["breaches"]]


def _width(text: str) -> int:
    """Terminal columns ``text`` takes: East Asian wide and fullwidth characters (CJK, most emoji) take
    two, combining marks none; len() would misalign every column after such a name."""
    return sum(
        0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        for ch in text
    )


def errors_section(check: OfflineCheck) -> str:
    """An HTML section listing the columns the check could not check, and why ("" when there are none):
    the HTML format says what the table and the JSON say."""
    failed = [*check.drift.errors]
    if check.prediction_drift is not None and check.prediction_drift.error:
        failed.append(check.prediction_drift)
    if not failed:
        return ""
    items = "".join(f"<li><b>{html.escape(c.column)}</b>: {html.escape(c.error or '')}</li>" for c in failed)
    return (
        '<section id="driftwatch-errors" style="font-family: sans-serif; margin: 24px">'
        "<h2>Columns not checked (driftwatch)</h2>"
        f"<p>The check is incomplete: these columns are left out of the drift share.</p><ul>{items}</ul>"
        "</section>"
    )


def embeddings_section(check: OfflineCheck) -> str:
    """An HTML section with each embedding's drift ("" without embeddings): the HTML format says what
    the table and the JSON say."""
    found = check.extra.get("embedding_drift", {})
    if not found:
        return ""
    rows = "".join(
        f"<tr><td><b>{html.escape(name)}</b></td><td>{html.escape(r['method'])}</td><td>{r['rows']}</td>"
        f"<td>{r['reference_rows']}</td><td>{_number(r['score'])}</td><td>{_number(r['threshold'])}</td>"
        f"<td>{html.escape(_embedding_state(r))}</td></tr>"
        for name, r in found.items()
    )
    return (
        '<section id="driftwatch-embeddings" style="font-family: sans-serif; margin: 24px">'
        "<h2>Embedding drift (driftwatch)</h2><table><tr><th>embedding</th><th>method</th><th>vectors</th>"
        f"<th>reference vectors</th><th>score</th><th>threshold</th><th>drift</th></tr>{rows}</table>"
        "</section>"
    )


def _embedding_state(found: Mapping[str, Any]) -> str:
    if found["score"] is None:
        return f"no verdict ({found['status']}): {found['note']}"
    return "DRIFT" if found["drift_detected"] else "no drift"


def to_html(
    check: OfflineCheck,
    with_performance: bool,
    model: str | None = None,
    current: str | None = None,
    segments: Sequence[SegmentCheck] | None = None,
) -> str:
    """Evidently's report of the checked columns, with driftwatch's sections on top: the summary of the
    check, the columns it could not check (Evidently would fail on them), the performance table and,
    with ``segments``, a section per segment (driftwatch's summary and performance table of its rows)."""
    from driftwatch.report import evidently_html, summary_section, with_section

    checked = {c.column for c in check.drift.columns}
    types = {c: t for c, t in check.types.items() if c in checked}
    output = check.prediction_drift
    before, after = check.reference_frame, check.current_frame
    if output is not None and output.column in before.columns and output.column in after.columns:
        # class probabilities: Evidently compares the predicted classes, as the check does
        column = output.column
        if holds_probability_maps(before[column]) or holds_probability_maps(after[column]):
            before, after = before.copy(), after.copy()
            before[column] = as_predicted_classes(before[column], check.classes)
            after[column] = as_predicted_classes(after[column], check.classes)
    if types:
        text = evidently_html(
            before,
            after,
            types,
            {c: o.method for c, o in check.options.items() if c in checked},
            {c: o.threshold for c, o in check.options.items() if o.threshold is not None and c in checked},
            check.drift.share_threshold,
            prediction=None
            if output is None or output.error is not None
            else (output.column, "categorical" if output.type == "categorical" else "numeric"),
        )
    else:
        text = '<!DOCTYPE html><html><head><meta charset="utf-8"></head><body></body></html>'
    if segments:
        text = with_section(text, segments_html(segments, with_performance, model, current))
    if with_performance:
        text = with_section(text, _performance_html(check))
    for section in (embeddings_section(check), errors_section(check)):
        text = with_section(text, section) if section else text
    return with_section(
        text,
        summary_section(
            model,
            check.drift,
            output,
            len(check.current_frame),
            int(check.extra.get("reference_rows", len(check.reference_frame))),
            current=current,
            status=check.status,
            reason=check.reason,
            quality=quality_breaches(check),
            multivariate=check.extra.get("multivariate_drift"),
        ),
    )


def _performance_html(check: OfflineCheck, section_id: str = "driftwatch-performance") -> str:
    from driftwatch.report import performance_section

    extra = check.extra
    notes = [f"calibration: {extra['calibration']['method']}"] if "calibration" in extra else []
    notes += [extra[key] for key in ("performance_note", "estimate_note") if key in extra]
    return performance_section(
        extra.get("reference_performance", {}),
        extra.get("performance", {}),
        extra.get("estimated_performance", {}),
        notes,
        section_id=section_id,
        evaluation=extra.get("estimate_error"),
    )


def segments_html(
    segments: Sequence[SegmentCheck],
    with_performance: bool,
    model: str | None = None,
    current: str | None = None,
) -> str:
    """The segments in HTML: the table of `segments_table` and its notes (each once), then one section
    per segment (``data-segment`` its label) with the summary of the whole file's check, of the segment's
    rows, and its performance table."""
    from driftwatch.report import summary_section

    rows = "".join(
        f'<tr data-segment="{html.escape(s.label)}"><td>{html.escape(s.label)}</td><td>{s.check.rows}</td>'
        f"<td>{s.check.status}</td>"
        f"<td>{f'{s.check.drift.n_drifted}/{s.check.drift.n_columns}' if s.check.status == 'ok' else '-'}</td>"
        f"<td>{100 * s.share:.1f}%</td><td>{html.escape(s.verdict)}</td></tr>"
        for s in segments
    )
    notes = "".join(f"<p>{html.escape(note)}</p>" for note in segment_notes(segments))
    parts = [
        '<section id="driftwatch-segments" style="font-family: sans-serif; margin: 24px">'
        "<h2>Segments (driftwatch)</h2>"
        '<table border="1" cellpadding="6" style="border-collapse: collapse"><thead><tr><th>segment</th>'
        "<th>rows</th><th>status</th><th>drifted</th><th>share</th><th>verdict</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{notes}</section>"
    ]
    for index, segment in enumerate(segments):
        check = segment.check
        body = summary_section(
            model,
            check.drift,
            check.prediction_drift,
            check.rows,
            int(check.extra.get("reference_rows", len(check.reference_frame))),
            current=current,
            status=check.status,
            reason=check.reason,
            quality=quality_breaches(check),
            section_id=f"driftwatch-segment-{index}-summary",
            title=f"Segment {segment.label}",
        )
        if with_performance:
            body += _performance_html(check, f"driftwatch-segment-{index}-performance")
        parts.append(
            f'<section id="driftwatch-segment-{index}" class="driftwatch-segment" '
            f'data-segment="{html.escape(segment.label)}">{body}</section>'
        )
    return "".join(parts)


def to_json(check: OfflineCheck, segments: Sequence[SegmentCheck] | None = None) -> str:
    """The check as JSON; with ``segments``, also ``segments`` (each segment's result, as the whole
    file's, with ``segment`` and ``share_of_rows``) and ``segment_notes``."""
    out = check.as_dict()
    if segments is not None:
        out["segments"] = [segment.as_dict() for segment in segments]
        out["segment_notes"] = segment_notes(segments)
    return json.dumps(_json_safe(out), indent=2, allow_nan=False)


def _json_safe(node: Any) -> Any:
    """NaN (an undefined metric) becomes null."""
    if isinstance(node, float) and not math.isfinite(node):
        return None
    if isinstance(node, dict):
        return {k: _json_safe(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_json_safe(v) for v in node]
    return node
