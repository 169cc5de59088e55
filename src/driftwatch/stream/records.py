"""The prediction record contract and its fast decoder.

A record on the predictions topic is a JSON object::

    {"model": "credit-risk", "model_version": "7", "prediction_id": "a1b2",
     "timestamp": "2026-11-27T03:00:00Z",
     "features": {"age": 42, "income": 5100.5, "country": "DE"},
     "prediction": 0.83, "label": null,
     "metadata": {"app_version": "5.2", "region": "eu"}}

``metadata`` is optional: an object of scalar values (text, numbers, booleans, null) that the
producer logs beside the features, read by a model whose window keeps a column of source
``"metadata"`` (a segment of its traffic, `driftwatch.stream.windows.ColumnSpec`); such a model is
named to the decoder (``RecordDecoder(metadata_models=...)``). For that model a ``metadata`` that is
not an object, or that holds an object or array, rejects the record as ``wrong_type`` (text in it
that is not UTF-8: ``undecodable``), and `Prediction.metadata` holds the object. For any other model
``metadata`` is skipped unread, like every unknown field, and `Prediction.metadata` is None.

Decoding never raises: every message becomes either a `Prediction` or a
`Rejection` with a reason from the small closed set `REASONS` (they are
Prometheus label values). Unknown extra fields are ignored. A single feature
with a value of the wrong kind (a string where a number is expected) does not
reject the record: the value counts as missing and as a type violation of
that feature, so one bad column never throws away the others. A label is
different: a model with performance monitoring has a `LabelRule`, and a record
whose label is of the wrong kind for the model's task (``"yes"`` for a 0/1
classifier) is rejected as ``wrong_type``, since one such label among the
joined rows would break every performance computation of its window.

`RecordDecoder.decode_columns` is the fast path of the daemon: a batch of good
records decoded with per-model typed structs straight into the columns of the
windows, with no `Prediction` made; a batch it cannot take whole (any record
that would be a rejection or hold a type violation) goes the exact way.

`RecordDecoder.decode_heads` and `RecordDecoder.decode_sample` are the daemon's
``kafka.decode: sampled`` path: a batch is decoded and validated but for the
records' features (only found to be objects, their values skipped unread), and
then only the records a window's sample may keep are decoded whole into
columns. A record not kept whose text could hide a rejection in its features
(a nested value, text that is not UTF-8) is decoded whole too, so every
rejection stays exactly what the exact path finds; a value of the wrong kind in
the features of a record not decoded is not seen (not a type violation).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, Final, Generic, Protocol, TypeVar, cast

import msgspec
import numpy as np
import numpy.typing as npt

from driftwatch.drift.profile import category_keys

__all__ = [
    "REASONS",
    "ColumnBatch",
    "ColumnLayout",
    "Heads",
    "LabelRule",
    "PayloadDecoder",
    "Prediction",
    "RecordDecoder",
    "Rejection",
    "Sample",
    "classify",
    "clip",
    "read_metadata",
    "reads_metadata",
    "unusable_payload",
]

REASONS: Final = (
    "undecodable",  # not JSON, or not a JSON object
    "missing_field",  # model or features absent
    "wrong_type",  # a field of the wrong JSON type (features not an object, a label not of the model's kind, ...)
    "unknown_model",  # model not in the configuration
    "bad_timestamp",  # timestamp present but not ISO 8601 / epoch seconds
    "non_finite",  # NaN or infinity in the prediction (or in a regression model's label)
    "oversize",  # message larger than the configured limit
)

Scalar = str | int | float | bool | None

# a record's ``metadata``, captured as its JSON text unread (a model that does not read metadata
# ignores it whatever it holds); this empty one when the record has none
_NO_METADATA: Final = msgspec.Raw()


class _Wire(msgspec.Struct, frozen=True):
    model: str
    features: dict[str, Scalar]
    model_version: str | int | None = None
    prediction_id: str | int | None = None
    timestamp: str | int | float | None = None
    prediction: Scalar | dict[str, float] = None
    label: Scalar = None
    metadata: msgspec.Raw = _NO_METADATA


class _Object(msgspec.Struct, frozen=True, gc=False):
    """Any JSON object, its contents skipped by the parser unread."""


class _Head(msgspec.Struct, frozen=True, gc=False):
    """A record with its features left undecoded (only found to be an object, every time the key
    occurs: the exact path rejects a first ``features`` that is not an object, the parser keeps the last)."""

    model: str
    features: _Object
    model_version: str | int | None = None
    prediction_id: str | int | None = None
    timestamp: str | int | float | None = None
    prediction: Scalar | dict[str, float] = None
    label: Scalar = None
    metadata: msgspec.Raw = _NO_METADATA


class Prediction(msgspec.Struct, frozen=True, gc=False):
    """A decoded, validated prediction record. (A C-level struct: millions are made per minute; it never
    takes part in a reference cycle, so the garbage collector need not track it.)"""

    model: str
    model_version: str | None
    prediction_id: str | None
    timestamp: float  # event time, unix seconds
    features: dict[str, Scalar]
    prediction: Scalar | dict[str, float]
    label: Scalar
    # the record's metadata object, for a model that reads metadata (None when it has none); else None
    metadata: dict[str, Scalar] | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    detail: str


class ColumnLayout(Protocol):
    """A column a model's window keeps (`driftwatch.stream.windows.ColumnSpec`)."""

    @property
    def name(self) -> str: ...

    @property
    def type(self) -> str: ...  # "numeric" or "categorical"

    @property
    def source(self) -> str: ...  # "feature", "prediction", "metadata" or "version"


@dataclass(frozen=True, slots=True)
class ColumnBatch:
    """The records of one model in a batch, decoded straight into the columns of its window."""

    model: str
    positions: list[int]  # of its records in the batch, in order
    timestamps: npt.NDArray[np.float64]
    columns: list[npt.NDArray[np.generic]]  # one per column of the layout, in its order
    model_version: str | None  # of the model's last record in the batch


@dataclass(frozen=True, slots=True)
class Heads:
    """The records of one model in a batch, decoded and validated but for their features
    (`RecordDecoder.decode_heads`): none of them is a rejection unless its features hold one."""

    model: str
    positions: list[int]  # of its records in the batch, in order
    timestamps: npt.NDArray[np.float64]
    # per record: its head (features unread), or the `Prediction` of a record decoded whole already
    records: list[Any]
    payloads: list[bytes]
    fallback_timestamps: list[float]
    # per record, its metadata object (None when it has none), for a model that reads metadata; else None
    metadata: list[dict[str, Scalar] | None] | None = None

    def predictions(self, keep: Sequence[bool] | None = None) -> list[Prediction]:
        """The records as predictions without features (``{}``), with their metadata for a model that
        reads it: what the label join reads of them."""
        flags = [True] * len(self.records) if keep is None else keep
        metadata = self.metadata if self.metadata is not None else [None] * len(self.records)
        return [
            Prediction(
                self.model,
                _text(record.model_version),
                _text(record.prediction_id),
                timestamp,
                {},
                record.prediction,
                record.label,
                found,
            )
            for record, timestamp, found, kept in zip(
                self.records, self.timestamps.tolist(), metadata, flags, strict=True
            )
            if kept
        ]

    def model_version(self, index: int) -> str | None:
        return _text(self.records[index].model_version)


@dataclass(frozen=True, slots=True)
class Sample:
    """The columns of one model's records with only the wanted ones' features decoded
    (`RecordDecoder.decode_sample`)."""

    # one per layout column, a value per record of the `Heads`; a record not wanted holds a missing value
    columns: list[npt.NDArray[np.generic]]
    rejected: list[tuple[int, Rejection]]  # (index among the heads' records, why): found in their features
    # wanted records decoded whole (index, prediction): their columns are `Window.to_columns`'s to make,
    # which counts their type violations
    exact: list[tuple[int, Prediction]]


def _text(value: str | int | None) -> str | None:
    return value if value is None or type(value) is str else str(value)


@dataclass(frozen=True)
class LabelRule:
    """The labels a model's performance task takes; another label is rejected at ingest.

    binary (and multiclass with configured classes): one of the classes (default 0/1, where JSON
    true/false and 0.0/1.0 count as 1/0, as the metrics read them). Multiclass without configured
    classes: a label of the type of the reference's classes (text, or a number). Regression: a finite
    number. A null label (or NaN, which JSON producers write for none) is always accepted: it is no label.
    """

    model: str
    task: str
    classes: frozenset[Scalar] | None = None  # the accepted labels; None: any of ``kind``
    kind: str | None = None  # "text" or "number": the type any label must have (when classes is None)

    @classmethod
    def of(
        cls, model: str, task: str, classes: Sequence[Scalar] | None, reference: Sequence[Scalar] = ()
    ) -> LabelRule:
        """The rule of a model's ``task`` with its configured ``classes`` and its ``reference`` labels."""
        if task == "regression":
            return cls(model, task, kind="number")
        if task == "binary_classification" or classes is not None:
            return cls(model, task, classes=frozenset(classes if classes is not None else (0, 1)))
        seen = {type(v) for v in reference if not _no_label(v)}
        kind = "text" if seen == {str} else "number" if seen and seen <= {int, float} else None
        return cls(model, task, kind=kind)

    def problem(self, label: Scalar) -> Rejection | None:
        """The rejection of a record or label message carrying ``label``; None when the label is fine."""
        if _no_label(label):
            return None
        if self.classes is not None:
            if label in self.classes:
                return None
            classes = ", ".join(sorted(map(json.dumps, self.classes)))
            return Rejection(
                "wrong_type",
                f"label {clip(json.dumps(label))} is not a class of model {clip(self.model)!r} "
                f"({self.task}, classes {classes})",
            )
        if self.kind == "text":
            if isinstance(label, str):
                return None
        elif self.kind == "number":
            if isinstance(label, int | float) and not isinstance(label, bool):
                if _finite(label):
                    return None
                return Rejection(
                    "non_finite", f"label of model {clip(self.model)!r} is infinite or beyond float range"
                )
        else:
            return None  # no type to hold it to
        kind = "a number" if self.kind == "number" else "text"
        return Rejection(
            "wrong_type",
            f"label {clip(json.dumps(label))} of model {clip(self.model)!r} is not {kind} ({self.task})",
        )

    def accepts(self, labels: set[Scalar]) -> bool:
        """Whether every one of a batch's distinct ``labels`` is fine (quick when they are: equal values
        hash alike, so 1, 1.0 and true are one element)."""
        if self.classes is not None and labels <= self._accepted:
            return True
        return all(self.problem(label) is None for label in labels)

    @property
    def _accepted(self) -> frozenset[Scalar]:
        return (self.classes or frozenset()) | {None}


def _no_label(value: object) -> bool:
    return value is None or (value.__class__ is float and value != value)  # noqa: PLR0124 - NaN test


def parse_timestamp(value: str | int | float) -> float:
    """Unix seconds from ISO 8601 text (naive means UTC) or epoch seconds/milliseconds."""
    if isinstance(value, bool):
        raise ValueError("a boolean is not a timestamp")
    if isinstance(value, int | float):
        seconds = float(value)
        if not math.isfinite(seconds):
            raise ValueError("timestamp is not finite")
        return seconds / 1000.0 if seconds > 1e11 else seconds  # > year 5138 in seconds: milliseconds
    parsed = datetime.fromisoformat(value)  # Python 3.11 reads a trailing Z as UTC
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


W = TypeVar("W")


def event_time(stamp: str | int | float | None, fallback: float) -> float | Rejection:
    """A record's event time in epoch seconds: its own timestamp, the Kafka message's when it has
    none, or the rejection of one that does not parse."""
    if stamp is None:
        return fallback
    try:
        return parse_timestamp(stamp)
    except (ValueError, OverflowError, OSError) as exc:
        return Rejection("bad_timestamp", f"timestamp {clip(str(stamp))!r}: {clip(str(exc))}")


class PayloadDecoder(Generic[W]):
    """What the prediction and label decoders share: the models they accept, the message size limit,
    the label rule of each model with performance monitoring, and a msgspec decoder of their wire shape."""

    wire: type[W]

    def __init__(
        self,
        models: frozenset[str] | set[str],
        max_bytes: int = 1_048_576,
        rules: Mapping[str, LabelRule] | None = None,
    ) -> None:
        self._models = frozenset(models)
        self._max_bytes = max_bytes
        self._rules = {name: rule for name, rule in (rules or {}).items() if name in self._models}
        self._decoder = msgspec.json.Decoder(self.wire)

    def _usable(self, payload: bytes | None) -> bytes | Rejection:
        """The payload, or the rejection of one that cannot be decoded at all."""
        return unusable_payload(payload, self._max_bytes) or cast("bytes", payload)


class RecordDecoder(PayloadDecoder["_Wire"]):
    """Decode raw messages into `Prediction` or `Rejection`; reusable and cheap per message. ``rules``
    holds the label rule of each model with performance monitoring (inline labels are checked by it);
    ``metadata_models`` the models whose window reads the records' ``metadata`` (`reads_metadata`):
    only their records have it checked and kept. (A model whose layout, given to `decode_columns` or
    `decode_sample`, reads metadata is added to them then: name it here so that the records decoded
    before that, by `decode` or `decode_heads`, are checked too.)"""

    wire = _Wire
    _columnar: tuple[object, _Columnar] | None = None
    _heads: msgspec.json.Decoder[_Head] | None = None

    def __init__(
        self,
        models: frozenset[str] | set[str],
        max_bytes: int = 1_048_576,
        rules: Mapping[str, LabelRule] | None = None,
        metadata_models: Collection[str] = (),
    ) -> None:
        super().__init__(models, max_bytes, rules)
        self._metadata_models = frozenset(metadata_models) & self._models

    def decode_columns(
        self,
        payloads: Sequence[bytes | None],
        fallback_timestamps: Sequence[float],
        layouts: Mapping[str, Sequence[ColumnLayout]],
    ) -> list[ColumnBatch] | None:
        """The batch decoded straight into window columns, one `ColumnBatch` per model; or None.

        The fast path of `decode_batch` for a batch of good records: None unless
        every message of the batch would become a `Prediction` of a model in
        ``layouts`` with no value counted as a type violation, and then the
        columns hold exactly what `driftwatch.stream.windows.Window.add` would make of
        those predictions. Each model's feature object is decoded into a typed
        struct of the window's features. A feature the window does not keep is
        skipped (when no message holds a nested value); a value of another
        type, a bad timestamp or any other problem makes the whole batch take
        the exact path (`decode_batch`), which classifies it.
        """
        if not payloads:
            return []
        columnar = self._columnar_for(layouts)
        plain = _plain(payloads, self._max_bytes)
        return None if plain is None else columnar.decode(plain, fallback_timestamps)

    def decode_batch(
        self, payloads: Sequence[bytes | None], fallback_timestamps: Sequence[float]
    ) -> list[Prediction | Rejection]:
        """`decode` for many messages at once, with the same outcome per message.

        The common case, a batch of good messages, is parsed message by message in
        one C loop (each message on its own, so one message can never run into
        the next: `decode_lines` on the joined messages would read a message
        holding two documents next to an empty one as two good records); any
        problem in the batch sends it through `decode` one message at a time,
        which finds and classifies the bad ones.
        """
        if not payloads:
            return []
        plain = _plain(payloads, self._max_bytes)
        if plain is not None:
            try:
                wires = list(map(self._decoder.decode, plain))
            except (
                msgspec.ValidationError,
                msgspec.DecodeError,
                RecursionError,
                UnicodeDecodeError,
                ValueError,
            ):
                wires = None
            if wires is not None:
                return [self._validate(w, t) for w, t in zip(wires, fallback_timestamps, strict=True)]
        return [self.decode(p, t) for p, t in zip(payloads, fallback_timestamps, strict=True)]

    def decode(self, payload: bytes | None, fallback_timestamp: float) -> Prediction | Rejection:
        usable = self._usable(payload)
        if isinstance(usable, Rejection):
            return usable
        try:
            wire = self._decoder.decode(usable)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            if not _may_hold_non_finite(exc, usable):
                return classify(exc)
            # NaN / Infinity tokens (Python's json.dumps writes them) or numbers beyond float range:
            # the slow, lenient parser reads them; a non-finite feature then counts as missing. It
            # recurses: a record nested deeper than any record can be is refused before it, so that
            # the reason does not depend on how deep the calling thread's stack already is.
            if _nested_deeper(usable, _LENIENT_DEPTH):
                return Rejection("undecodable", f"JSON nested deeper than {_LENIENT_DEPTH} levels")
            try:
                loose = json.loads(usable)
                msgspec.json.encode(loose)  # refuses what msgspec refused: lone UTF-16 surrogates
                if isinstance(loose, dict) and "metadata" in loose:  # kept as JSON text, non-finite as null
                    loose["metadata"] = msgspec.Raw(msgspec.json.encode(loose["metadata"]))
                wire = msgspec.convert(loose, _Wire)
            except msgspec.ValidationError as retry:
                return _classify(str(retry))
            except (ValueError, RecursionError, UnicodeDecodeError, UnicodeEncodeError) as retry:
                return _undecodable(retry)
        except (RecursionError, UnicodeDecodeError, ValueError) as exc:
            return _undecodable(exc)
        return self._validate(wire, fallback_timestamp)

    def _validate(self, wire: _Wire, fallback_timestamp: float) -> Prediction | Rejection:
        timestamp = self._check(wire, fallback_timestamp)
        if isinstance(timestamp, Rejection):
            return timestamp
        metadata = (
            read_metadata(wire.metadata)
            if self._metadata_models and wire.model in self._metadata_models
            else None
        )
        if isinstance(metadata, Rejection):
            return metadata
        return Prediction(
            wire.model,
            _text(wire.model_version),
            _text(wire.prediction_id),
            timestamp,
            wire.features,
            wire.prediction,
            wire.label,
            metadata,
        )

    def _metadata_of(self, record: _Head | Prediction) -> dict[str, Scalar] | Rejection | None:
        """The metadata of a record (a head, or decoded whole already) of a model that reads it."""
        return record.metadata if isinstance(record, Prediction) else read_metadata(record.metadata)

    def _check(self, wire: _Wire | _Head, fallback_timestamp: float) -> float | Rejection:
        """A decoded record's event time, or the rejection of what its fields but the features hold."""
        if wire.model not in self._models:
            return Rejection("unknown_model", f"model {clip(wire.model)!r} is not configured")
        if isinstance(wire.prediction, int | float) and not _finite(wire.prediction):
            return Rejection("non_finite", "prediction is NaN, infinite or beyond float range")
        if isinstance(wire.prediction, dict):
            wrong_map = _probability_map_problem(wire.prediction)
            if wrong_map is not None:
                return wrong_map
        timestamp = event_time(wire.timestamp, fallback_timestamp)
        if isinstance(timestamp, Rejection):
            return timestamp
        rule = self._rules.get(wire.model)
        if rule is not None and wire.label is not None:
            wrong = rule.problem(wire.label)
            if wrong is not None:
                return wrong
        return timestamp

    # kafka.decode: sampled ----------------------------------------------------------------------

    def decode_heads(
        self, payloads: Sequence[bytes | None], fallback_timestamps: Sequence[float]
    ) -> tuple[list[Heads], list[tuple[int, Rejection]]]:
        """The batch decoded and validated but for the records' features: one `Heads` per model (in
        order of first appearance) and the rejections found, by position in the batch.

        A record is rejected here exactly as `decode` rejects it for what its model, model_version,
        prediction_id, timestamp, prediction, label and (for a model that reads it) metadata hold, or
        for not being a JSON object with a ``features`` value at all; a problem inside its features is
        `decode_sample`'s to find. A record the head decoder cannot read on its own (NaN tokens,
        numbers beyond float range) is decoded whole by `decode`. For a model that reads metadata,
        `Heads.metadata` holds every record's."""
        if not payloads:
            return [], []
        if self._heads is None:
            self._heads = msgspec.json.Decoder(_Head)
        heads: list[Any] | None = None
        plain = _plain(payloads, self._max_bytes)
        if plain is not None:
            try:
                heads = list(map(self._heads.decode, plain))
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError):
                heads = None
        rejected: list[tuple[int, Rejection]] = []
        if heads is None:  # record by record: a record the heads cannot take is decoded whole
            heads = []
            for index, (payload, fallback) in enumerate(zip(payloads, fallback_timestamps, strict=True)):
                if self._usable(payload) is payload:
                    try:
                        heads.append(self._heads.decode(payload))
                        continue
                    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError):
                        pass
                outcome = self.decode(payload, fallback)
                if isinstance(outcome, Rejection):
                    rejected.append((index, outcome))
                    heads.append(None)
                else:
                    heads.append(outcome)
        groups: dict[str, list[int]] = {}
        models = set(map(_MODEL, heads)) if not rejected else set()
        if len(models) == 1:  # the common case: one model's records, every one with a head
            groups[next(iter(models))] = list(range(len(heads)))
        else:
            for index, head in enumerate(heads):
                if head is not None:
                    groups.setdefault(head.model, []).append(index)
        out: list[Heads] = []
        for model, members in groups.items():
            positions = members
            whole = len(positions) == len(heads)
            records = heads if whole else [heads[i] for i in positions]
            fallbacks = list(fallback_timestamps) if whole else [fallback_timestamps[i] for i in positions]
            reads = model in self._metadata_models
            timestamps = self._head_times(model, records, fallbacks)
            metadata: list[Any] | None = None
            if timestamps is not None and reads:  # every record a head: its metadata as text
                texts = list(map(_METADATA, records))
                metadata = list(map(read_metadata, texts)) if any(map(len, texts)) else [None] * len(texts)
                if Rejection in set(map(type, metadata)):
                    timestamps = None
            if timestamps is None:  # one by one: which records are rejected, and why
                times: list[float] = []
                kept: list[int] = []
                metadata = [] if reads else None
                for index, record, fallback in zip(positions, records, fallbacks, strict=True):
                    when: float | Rejection = (
                        record.timestamp if isinstance(record, Prediction) else self._check(record, fallback)
                    )
                    found = None
                    if reads and not isinstance(when, Rejection):
                        found = self._metadata_of(record)
                        if isinstance(found, Rejection):
                            when = found
                    if isinstance(when, Rejection):
                        rejected.append((index, when))
                    else:
                        times.append(when)
                        kept.append(index)
                        if metadata is not None:
                            metadata.append(found)
                if not kept:
                    continue
                positions = kept
                whole = len(positions) == len(heads)
                records = [heads[i] for i in positions]
                fallbacks = [fallback_timestamps[i] for i in positions]
                timestamps = np.array(times, dtype=np.float64)
            out.append(
                Heads(
                    model,
                    positions,
                    timestamps,
                    records,
                    cast("list[bytes]", list(payloads))
                    if whole
                    else [cast("bytes", payloads[i]) for i in positions],
                    fallbacks,
                    metadata,
                )
            )
        rejected.sort(key=_FIRST)
        return out, rejected

    def _head_times(
        self, model: str, records: list[Any], fallbacks: list[float]
    ) -> npt.NDArray[np.float64] | None:
        """The event times of a model's records when none of them is rejected for its head; else None."""
        if model not in self._models or set(map(type, records)) != {_Head}:
            return None
        try:
            timestamps = _timestamps(list(map(_TIMESTAMP, records)), list(range(len(records))), fallbacks)
        except _ExactPathError:
            return None
        if not _all_finite(list(map(_PREDICTION, records))):
            return None
        rule = self._rules.get(model)
        if rule is not None and not rule.accepts(set(map(_LABEL, records))):
            return None
        return timestamps

    def decode_sample(
        self,
        heads: Heads,
        wanted: npt.NDArray[np.bool_],
        layouts: Mapping[str, Sequence[ColumnLayout]],
    ) -> Sample:
        """The columns of ``heads``' model (its layout in ``layouts``) with the ``wanted`` records
        (one flag per record) decoded whole, as `decode_columns` (or else `decode`) makes them.

        The records not wanted are looked at, not parsed: one whose text could hide a rejection in its
        features (an object or array beyond the record, its features and a class-probability
        prediction, or text that is not UTF-8, which the parser does not check in what it skips) is
        decoded whole too, so `Sample.rejected` holds every rejection the exact path would find among
        the heads. The others keep a missing value in every feature and prediction column (a window
        never keeps them), and a value of the wrong kind in their features goes uncounted. Columns of
        source ``"version"`` and ``"metadata"`` come from the heads: they hold every record's value."""
        columnar = self._columnar_for(layouts)
        layout = layouts[heads.model]
        records, payloads, fallbacks = heads.records, heads.payloads, heads.fallback_timestamps
        count = len(records)
        columns: list[npt.NDArray[np.generic]] = [
            np.full(count, np.nan) if column.type == "numeric" else np.full(count, None, dtype=object)
            for column in layout
        ]
        for i, spec in enumerate(layout):
            if spec.source == "version":
                columns[i] = _version_keys(records)
            elif spec.source == "metadata":
                found = heads.metadata if heads.metadata is not None else [None] * count
                columns[i] = category_keys([None if m is None else m.get(spec.name) for m in found])
        rejected: list[tuple[int, Rejection]] = []
        exact: list[tuple[int, Prediction]] = []
        others = np.flatnonzero(~wanted).tolist()
        flat = _flat_records([records[i] for i in others], [payloads[i] for i in others])
        for index, skip in zip(others, flat, strict=True):
            if skip:
                continue
            record = records[index]
            outcome = (
                record if isinstance(record, Prediction) else self.decode(payloads[index], fallbacks[index])
            )
            if isinstance(outcome, Rejection):
                rejected.append((index, outcome))
        rows = np.flatnonzero(wanted).tolist()
        if rows:
            decoded = columnar.decode([payloads[i] for i in rows], [fallbacks[i] for i in rows])
            if decoded is not None and len(decoded) == 1:
                for column, values in zip(columns, decoded[0].columns, strict=True):
                    column[rows] = values
            else:  # record by record: the exact path's columns and rejections
                for index in rows:
                    record = records[index]
                    outcome = (
                        record
                        if isinstance(record, Prediction)
                        else self.decode(payloads[index], fallbacks[index])
                    )
                    if isinstance(outcome, Rejection):
                        rejected.append((index, outcome))
                    else:
                        exact.append((index, outcome))
        rejected.sort(key=_FIRST)
        return Sample(columns, rejected, exact)

    def _columnar_for(self, layouts: Mapping[str, Sequence[ColumnLayout]]) -> _Columnar:
        key = tuple(
            (model, tuple((c.name, c.type, c.source) for c in columns))
            for model, columns in layouts.items()
            if model in self._models
        )
        if self._columnar is None or self._columnar[0] != key:
            # a model whose window reads metadata though the decoder was not told: from now on its
            # records have their metadata read and checked on every path (`metadata_models` makes that
            # so from the first record, before any layout is seen)
            self._metadata_models |= {
                model
                for model, columns in layouts.items()
                if model in self._models and reads_metadata(columns)
            }
            self._columnar = (key, _Columnar(layouts, self._models, self._rules, self._metadata_models))
        return self._columnar[1]


def reads_metadata(layout: Sequence[ColumnLayout]) -> bool:
    """Whether a window of this layout reads the records' ``metadata`` (a column of that source): its
    model is to be named in ``RecordDecoder(metadata_models=...)``."""
    return any(column.source == "metadata" for column in layout)


def read_metadata(raw: msgspec.Raw) -> dict[str, Scalar] | Rejection | None:
    """A record's ``metadata`` (its JSON text; empty when the record has none) for a model that reads
    it: None when absent or null, else an object of scalar values, or the rejection of what is not. A
    number beyond float range is read as infinite (a missing value, as in the features)."""
    if not len(raw):
        return None
    try:  # the common case, in C: an object of scalars (msgspec never makes a non-finite float)
        return _METADATA_JSON.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError):
        pass
    try:
        value = _ANY_JSON.decode(raw)
    except msgspec.ValidationError as exc:  # "Number out of range": Python's parser reads it as infinite
        try:
            value = json.loads(bytes(raw))
        except (ValueError, RecursionError):
            return _undecodable(exc)
    except (msgspec.DecodeError, RecursionError, ValueError) as exc:  # text that is not UTF-8
        return _undecodable(exc)
    if value is None:
        return None
    if type(value) is not dict:
        return Rejection("wrong_type", f"metadata is {_json_kind(value)}, not an object of scalar values")
    for name, item in value.items():
        kind = type(item)
        if kind is dict or kind is list:
            return Rejection(
                "wrong_type",
                f"metadata.{clip(name, 100)} is {_json_kind(item)}: metadata values are text, numbers, "
                "booleans or null",
            )
        if kind is float and not math.isfinite(item):
            value[name] = None
    return cast("dict[str, Scalar]", value)


_ANY_JSON: Final = msgspec.json.Decoder()
_METADATA_JSON: Final = msgspec.json.Decoder(dict[str, Scalar] | None)


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"


def _version_keys(records: Sequence[Any]) -> npt.NDArray[np.object_]:
    """The records' model_version as canonical category keys (7 and "7" are one value; None missing)."""
    return category_keys(np.array([_text(r.model_version) for r in records], dtype=object))


def _plain(payloads: Sequence[bytes | None], max_bytes: int) -> Sequence[bytes] | None:
    """``payloads`` when none is a tombstone or oversize."""
    try:
        longest = max(map(len, payloads))  # type: ignore[arg-type]
    except TypeError:  # len(None): a tombstone
        return None
    return cast("Sequence[bytes]", payloads) if longest <= max_bytes else None


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer with hundreds of digits
        return False


def _probability_map_problem(probabilities: dict[str, float]) -> Rejection | None:
    """Why a class-probability map cannot be a prediction, or None: a NaN or infinite probability
    (``non_finite``), or a negative one, or no class with a probability above 0 (``wrong_type``: the
    predicted class and every metric of the row would be undefined, and one such row would fail the
    window's performance check)."""
    values = probabilities.values()
    if not all(math.isfinite(v) for v in values):
        return Rejection("non_finite", "a class probability is NaN or infinite")
    if any(v < 0 for v in values):
        return Rejection(
            "wrong_type", "prediction: a class probability is negative; log probabilities in [0, 1]"
        )
    if not any(v > 0 for v in values):
        return Rejection(
            "wrong_type",
            "prediction: the class-probability map gives no class a probability above 0; log the model's "
            "probability of each class",
        )
    return None


def _may_hold_non_finite(exc: Exception, payload: bytes) -> bool:
    text = str(exc)
    if text.startswith("Number out of range"):
        return True
    return isinstance(exc, msgspec.DecodeError) and (b"NaN" in payload or b"Infinity" in payload)


_LENIENT_DEPTH: Final = 64  # a record is an object of flat features and a flat prediction: 3 levels
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET = re.compile(rb"[\[\]{}]")


def _nested_deeper(payload: bytes, limit: int) -> bool:
    """Whether the JSON text nests arrays and objects deeper than ``limit`` (brackets inside strings
    do not count)."""
    if payload.count(b"[") + payload.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', payload)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > limit:
            return True
    return False


def _undecodable(exc: BaseException) -> Rejection:
    return Rejection("undecodable", clip(str(exc)))


def unusable_payload(payload: bytes | None, max_bytes: int) -> Rejection | None:
    """The rejection of a message that cannot be decoded at all: a tombstone, or larger than the limit."""
    if payload is None:
        return Rejection("undecodable", "empty message (tombstone)")
    if len(payload) > max_bytes:
        return Rejection("oversize", f"{len(payload)} bytes exceeds the {max_bytes}-byte limit")
    return None


def classify(exc: Exception) -> Rejection:
    """The rejection for a msgspec decoding error (or another parser's) of a message."""
    if isinstance(exc, msgspec.ValidationError):
        return _classify(str(exc))
    return _undecodable(exc)


def _classify(message: str) -> Rejection:
    if message.startswith("Object missing required field"):
        return Rejection("missing_field", clip(message))
    if message.startswith("Number out of range"):
        return Rejection("non_finite", clip(message))
    if "Expected `object`, got" in message and "- at `$" not in message:
        return Rejection("undecodable", "the message is JSON but not an object")
    return Rejection("wrong_type", clip(message))


def clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# the fast path: whole batches of good records straight into columns ------------------------------

_NUMBER = int | float | None  # what a numeric column takes as is (bool and text are type violations)
# msgspec never decodes a non-finite float: it refuses NaN and Infinity tokens and numbers out of range
_IMPLIED_FINITE = frozenset({float, str, bool, type(None)})
_FEATURES = attrgetter("features")
_TIMESTAMP = attrgetter("timestamp")
_PREDICTION = attrgetter("prediction")
_LABEL = attrgetter("label")
_METADATA = attrgetter("metadata")


class _ExactPathError(Exception):
    """The batch needs the exact path."""


@dataclass(frozen=True)
class _ModelColumns:
    model: str
    numeric: tuple[attrgetter[Any], int] | None  # the numeric features' fields of the struct, and how many
    other: tuple[attrgetter[Any], int] | None  # the categorical features' fields, and how many
    # per layout column: ("numeric" or "other", index among those fields), ("prediction", numeric),
    # ("metadata", index among the metadata keys) or ("version", 0)
    sources: list[tuple[str, int]]
    labels: LabelRule | None  # of a model with performance monitoring
    # of a model that reads metadata (its records' ``metadata`` is a struct of the keys its window
    # keeps, None when absent): the keys' fields of that struct and how many (None: no key kept)
    metadata: tuple[attrgetter[Any], int] | None = None


class _Columnar:
    """Typed msgspec structs for the models of some layouts, and the batch decode with them."""

    def __init__(
        self,
        layouts: Mapping[str, Sequence[ColumnLayout]],
        models: frozenset[str],
        labels: Mapping[str, LabelRule],
        metadata_models: frozenset[str] = frozenset(),
    ) -> None:
        self._models: dict[type, _ModelColumns] = {}
        types: dict[str, list[Any]] = {"strict": [], "lenient": []}
        for n, (model, columns) in enumerate(layouts.items()):
            features: dict[str, bool] = {}
            keys: dict[str, int] = {}  # metadata key -> its field
            # (feature field index, -1 for the prediction, -2 - i for metadata key i, or None for the
            # version; numeric)
            sources: list[tuple[int | None, bool]] = []
            prediction_numeric: bool | None = None
            clash = False
            for column in columns:
                numeric = column.type == "numeric"
                if column.source == "prediction":
                    if prediction_numeric is not None:
                        clash = True
                    prediction_numeric = numeric
                    sources.append((-1, numeric))
                    continue
                if column.source == "version":
                    sources.append((None, False))
                    continue
                if column.source == "metadata":
                    sources.append((-2 - keys.setdefault(column.name, len(keys)), False))
                    continue
                if column.name in features or column.source != "feature":
                    clash = True
                features[column.name] = numeric
                sources.append((list(features).index(column.name), numeric))
            if model not in models or clash:
                continue  # its records take the exact path
            reads = model in metadata_models
            names = list(features)
            prediction: Any = (
                Scalar | dict[str, float]
                if prediction_numeric is None
                else _NUMBER
                if prediction_numeric
                else Scalar
            )
            # two struct families: strict (a feature the window does not keep is an error, so the batch
            # goes the exact way, which checks it) and lenient (such features are skipped unseen, used
            # only for batches `_flat_text` cleared)
            record_types = []
            for strict in (True, False):
                # a model that reads metadata: a struct of the keys its window keeps (strict: another key
                # is an error; lenient: skipped, `_flat_beside_metadata` checks what it holds); any other
                # model: the text, skipped unread
                metadata: Any = (
                    msgspec.defstruct(
                        f"_Metadata{n}{'s' if strict else 'l'}",
                        [(f"m{i}", Scalar, None) for i in range(len(keys))],
                        rename={f"m{i}": key for key, i in keys.items()},
                        forbid_unknown_fields=strict,
                        gc=False,
                    )
                    | None
                    if reads
                    else msgspec.Raw
                )
                features_type = msgspec.defstruct(
                    f"_Features{n}{'s' if strict else 'l'}",
                    [(f"f{i}", _NUMBER if features[name] else Scalar, None) for i, name in enumerate(names)],
                    rename={f"f{i}": name for i, name in enumerate(names)},
                    forbid_unknown_fields=strict,
                    gc=False,
                )
                record_types.append(
                    msgspec.defstruct(
                        f"_Record{n}{'s' if strict else 'l'}",
                        [
                            ("features", features_type),
                            ("model_version", str | int | None, None),
                            ("prediction_id", str | int | None, None),
                            ("timestamp", str | int | float | None, None),
                            ("prediction", prediction, None),
                            ("label", Scalar, None),
                            ("metadata", metadata, None if reads else _NO_METADATA),
                        ],
                        tag_field="model",
                        tag=model,
                        gc=False,
                    )
                )
            numeric_fields = [f"f{i}" for i, name in enumerate(names) if features[name]]
            other_fields = [f"f{i}" for i, name in enumerate(names) if not features[name]]
            layout = _ModelColumns(
                model,
                (attrgetter(*numeric_fields), len(numeric_fields)) if numeric_fields else None,
                (attrgetter(*other_fields), len(other_fields)) if other_fields else None,
                [
                    ("version", 0)
                    if i is None
                    else ("metadata", -2 - i)
                    if i < -1
                    else ("prediction", int(numeric))
                    if i < 0
                    else ("numeric", numeric_fields.index(f"f{i}"))
                    if numeric
                    else ("other", other_fields.index(f"f{i}"))
                    for i, numeric in sources
                ],
                labels.get(model),
                (attrgetter(*(f"m{i}" for i in range(len(keys)))), len(keys)) if keys else None,
            )
            for kind, record_type in zip(("strict", "lenient"), record_types, strict=True):
                self._models[record_type] = layout
                types[kind].append(record_type)
        self._decoder: msgspec.json.Decoder[Any] | None = None
        self._lenient: msgspec.json.Decoder[Any] | None = None
        if types["strict"]:
            self._decoder = msgspec.json.Decoder(_union(types["strict"]))
            self._lenient = msgspec.json.Decoder(_union(types["lenient"]))

    def decode(
        self, payloads: Sequence[bytes], fallback_timestamps: Sequence[float]
    ) -> list[ColumnBatch] | None:
        if self._decoder is None or self._lenient is None:
            return None
        try:  # message by message (in C): one message can never run into the next
            wires = list(map(self._decoder.decode, payloads))
        except msgspec.ValidationError as exc:
            # features the window does not keep (producers often log more than is monitored): skip them
            # when no message can hide a nested value or bad UTF-8 in them
            if not str(exc).startswith("Object contains unknown field"):
                return None
            flat = _flat_text(payloads)  # (it counts once the lenient structs decoded the batch)
            if not flat and not any(b'"metadata"' in payload for payload in payloads):
                return None
            try:
                wires = list(map(self._lenient.decode, payloads))
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError):
                return None
            # records with a metadata object: what a model's holds that it skips unread does not count
            if not flat and not _flat_beside_metadata(payloads, wires):
                return None
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError, ValueError):
            return None
        count = len(wires)
        kinds = dict.fromkeys(map(type, wires))
        if len(kinds) == 1:
            groups = {next(iter(kinds)): list(range(count))}
        else:
            groups = {kind: [] for kind in kinds}
            for i, wire in enumerate(wires):
                groups[type(wire)].append(i)
        try:
            return [
                self._columns(
                    self._models[kind],
                    wires if len(groups) == 1 else [wires[i] for i in positions],
                    payloads if len(groups) == 1 else [payloads[i] for i in positions],
                    positions,
                    fallback_timestamps,
                )
                for kind, positions in groups.items()
            ]
        except (_ExactPathError, OverflowError):
            return None

    def _columns(
        self,
        model: _ModelColumns,
        wires: list[Any],
        payloads: Sequence[bytes],
        positions: list[int],
        fallback_timestamps: Sequence[float],
    ) -> ColumnBatch:
        timestamps = _timestamps(list(map(_TIMESTAMP, wires)), positions, fallback_timestamps)
        predictions = list(map(_PREDICTION, wires))
        if not _all_finite(predictions):
            raise _ExactPathError
        if model.labels is not None and not model.labels.accepts(set(map(_LABEL, wires))):
            raise _ExactPathError  # a label of the wrong kind: a rejection there
        features = list(map(_FEATURES, wires))
        # record by record, the attribute lookups in C: one pass over the structs (column by column
        # passes over a batch larger than the CPU caches cost more than the lookups)
        numeric = _matrix(model.numeric, features, floats=True)
        other = _matrix(model.other, features, floats=False)
        metadata: npt.NDArray[Any] | None = None
        columns: list[npt.NDArray[np.generic]] = []
        for source, index in model.sources:
            if source == "numeric":
                columns.append(numeric[:, index])
            elif source == "other":
                columns.append(category_keys(other[:, index]))
            elif source == "metadata":
                if metadata is None:
                    metadata = _metadata_matrix(model.metadata, list(map(_METADATA, wires)))
                columns.append(category_keys(metadata[:, index]))
            elif source == "version":
                columns.append(_version_keys(wires))
            elif index:  # a numeric prediction
                columns.append(_floats(predictions))
            else:
                columns.append(category_keys(np.array(predictions, dtype=object)))
        version = wires[-1].model_version
        return ColumnBatch(
            model.model,
            positions,
            timestamps,
            columns,
            version if version is None or type(version) is str else str(version),
        )


_FIRST = itemgetter(0)
_MODEL = attrgetter("model")


def _flat(payload: bytes, dict_prediction: bool, metadata: msgspec.Raw = _NO_METADATA) -> bool:
    """Whether a record (whose features the head decoder found to be an object) holds no object or
    array but itself, its features and, with ``dict_prediction``, its prediction's class probabilities,
    and is valid UTF-8: then its features, decoded, hold no rejection whatever their values (a nested
    value is one; a brace or bracket inside a string only sends the record the whole way). What its
    ``metadata`` holds does not count: a model that reads it had it checked with the head, any other
    skips it unread."""
    if len(metadata):
        text = bytes(metadata)
        return (
            payload.count(b"{") - text.count(b"{") <= 2 + dict_prediction
            and payload.count(b"[") == text.count(b"[")
            and (payload.isascii() or _utf8(payload))
        )
    at = payload.find(b"{", payload.find(b"{", 1) + 1)
    if dict_prediction:
        at = payload.find(b"{", at + 1)
    return at < 0 and b"[" not in payload and (payload.isascii() or _utf8(payload))


def _flat_records(records: list[Any], payloads: list[bytes]) -> list[bool]:
    """`_flat` of each record's payload (False for a record decoded whole already, a `Prediction`):
    brackets and UTF-8 looked for in the whole batch at once, braces record by record."""
    text = b"".join(payloads)
    if (
        b"[" not in text
        and (text.isascii() or _utf8(text))
        and set(map(type, records)) == {_Head}
        and dict not in set(map(type, map(_PREDICTION, records)))
        and not any(map(len, map(_METADATA, records)))
    ):
        return [p.find(b"{", p.find(b"{", 1) + 1) < 0 for p in payloads]
    return [
        type(r) is _Head and _flat(p, type(r.prediction) is dict, r.metadata)
        for r, p in zip(records, payloads, strict=True)
    ]


def _utf8(text: bytes) -> bool:
    try:
        text.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _union(types: list[Any]) -> Any:
    union = types[0]
    for more in types[1:]:
        union = union | more
    return union


def _flat_text(payloads: Sequence[bytes]) -> bool:
    """Whether the messages are valid UTF-8 and hold no object or array but each record and its features
    (a brace or bracket inside a string only sends the batch the exact way). Then the typed structs,
    which skip features the window does not keep without looking into them, see everything the exact
    path would: a nested value in any feature is a rejection there, and a skipped string is not checked
    for UTF-8 by msgspec. Producers commonly log more features than a model's window keeps: this keeps
    their records on the fast path. Counted over the batch at once: it counts only for a batch the
    lenient structs decoded, whose every message holds at least a record and its features."""
    text = b"".join(payloads)
    return b"[" not in text and _count(text, b"{") == 2 * len(payloads) and (text.isascii() or _utf8(text))


def _flat_beside_metadata(payloads: Sequence[bytes], wires: list[Any]) -> bool:
    """`_flat_text` for a batch decoded by the lenient structs whose records may hold a metadata object:
    valid UTF-8, and no object or array but each record, its features and, for a model that reads
    metadata, its metadata and a class-probability prediction. What the metadata of a model that does
    not read it holds (its text, skipped unread on every path) does not count; a model that reads it
    has its struct skip the keys its window does not keep, so their values must be scalars too. Then
    nothing the lenient structs skipped holds a rejection. Counted over the batch at once (each record
    holds at least the objects counted for it, so equal totals mean equal counts record by record);
    a brace or bracket inside a string only sends the batch the exact way."""
    text = b"".join(payloads)
    if not (text.isascii() or _utf8(text)):
        return False
    skipped = b"".join(bytes(w.metadata) for w in wires if type(w.metadata) is msgspec.Raw)
    objects = 2 * len(wires) + _count(skipped, b"{")
    for wire in wires:
        if type(wire.metadata) is not msgspec.Raw:  # a model that reads metadata
            objects += (wire.metadata is not None) + (type(wire.prediction) is dict)
    return _count(text, b"[") == _count(skipped, b"[") and _count(text, b"{") == objects


def _count(text: bytes, byte: bytes) -> int:
    """How many times ``byte`` occurs in ``text`` (vectorized: `bytes.count` is slow for one byte)."""
    return int(np.count_nonzero(np.frombuffer(text, dtype=np.uint8) == ord(byte)))


def _metadata_matrix(fields: tuple[attrgetter[Any], int] | None, structs: list[Any]) -> npt.NDArray[Any]:
    """The kept metadata keys of every record as a (records, keys) object array (None where a record
    has no metadata)."""
    if fields is None:
        return np.empty((len(structs), 0), dtype=object)
    getter, width = fields
    absent: Any = None if width == 1 else (None,) * width
    rows = [absent if struct is None else getter(struct) for struct in structs]
    values = rows if width == 1 else chain.from_iterable(rows)
    return np.fromiter(values, dtype=object, count=width * len(structs)).reshape(-1, width)


def _floats(values: list[Any]) -> npt.NDArray[np.float64]:
    """A numeric column as `Window.add` makes it of ints, floats and None (the struct types admit
    nothing else): None becomes NaN; an int beyond float range (a type violation there) raises
    OverflowError."""
    try:
        return np.fromiter(values, dtype=np.float64, count=len(values))
    except TypeError:  # None among them
        return np.array(values, dtype=np.float64)


def _matrix(fields: tuple[attrgetter[Any], int] | None, structs: list[Any], floats: bool) -> npt.NDArray[Any]:
    """The ``fields`` of every struct as a (structs, fields) array: floats as `_floats` makes them, or
    the values themselves."""
    if fields is None:
        return np.empty((len(structs), 0), dtype=np.float64 if floats else object)
    getter, width = fields
    rows = map(getter, structs)  # a value per struct when there is one field, else a tuple
    values = rows if width == 1 else chain.from_iterable(rows)
    if not floats:
        return np.fromiter(values, dtype=object, count=width * len(structs)).reshape(-1, width)
    try:
        return np.fromiter(values, dtype=np.float64, count=width * len(structs)).reshape(-1, width)
    except TypeError:  # None among them
        return np.array(list(map(getter, structs)), dtype=np.float64).reshape(-1, width)


def _timestamps(
    stamps: Sequence[str | int | float | None], positions: list[int], fallback: Sequence[float]
) -> npt.NDArray[np.float64]:
    """Event times as `RecordDecoder.decode` reads them; each distinct value parsed once (a batch of
    busy traffic holds many records of the same millisecond)."""
    parsed: dict[str | int | float | None, float | None] = dict.fromkeys(stamps)
    for stamp in parsed:
        if stamp is not None:
            try:
                parsed[stamp] = parse_timestamp(stamp)
            except (ValueError, OverflowError, OSError) as exc:
                raise _ExactPathError from exc
    if None in parsed:
        return np.array(
            [fallback[i] if s is None else parsed[s] for s, i in zip(stamps, positions, strict=True)],
            dtype=np.float64,
        )
    return np.fromiter(map(parsed.__getitem__, stamps), dtype=np.float64, count=len(stamps))


def _all_finite(predictions: Sequence[Scalar | dict[str, float]]) -> bool:
    """`RecordDecoder._check`'s checks of the predictions (non-finite numbers, class-probability maps
    without a predicted class) over a batch's predictions: True when none is rejected."""
    if set(map(type, predictions)) <= _IMPLIED_FINITE:
        return True
    for value in predictions:
        if isinstance(value, int) and not _finite(value):
            return False
        if isinstance(value, dict) and _probability_map_problem(value) is not None:
            return False
    return True
