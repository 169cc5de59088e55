"""Embedding vectors read from prediction records, checked before a record reaches a window.

A model may log an embedding beside its features: a top-level field of the record holding a JSON
array of ``dim`` numbers (``{"model": "support-bot", ..., "text_vec": [0.12, -0.5, ...]}``). The
model's configuration names the field and its length (`VectorField`); `VectorReader.read` reads
every such field of a batch of records once, in C (one msgspec struct with the union of the
configured fields, each kept as raw JSON text, then the arrays of the batch parsed together), and
returns a float32 matrix per model and embedding, row for row with the batch.

A vector that is not an array of numbers (text, booleans, null inside it, a nested array), has
another length than configured, or holds NaN, an infinity or a number beyond float32 range rejects
its record (``wrong_type`` or ``non_finite``, reasons of `driftwatch.stream.records.REASONS`), so
one bad vector never reaches a window nor poisons a check. A record without the field (or with
``null``) is kept: its row holds NaN, which the embedding check leaves out as missing. A message
this reader cannot parse (not JSON, oversize, ...) is left to the record decoder, which rejects it
with its own reason; its row holds NaN too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import msgspec
import numpy as np
import numpy.typing as npt

from driftwatch.stream.records import Rejection, clip

__all__ = ["VectorField", "VectorReader"]

_NONE: Final = msgspec.Raw()
_FLOAT32_MAX: Final = float(np.finfo(np.float32).max)
_MAX_DEPTH: Final = 64


@dataclass(frozen=True)
class VectorField:
    """One embedding of a model: its window column ``name``, the record's ``field`` holding it, and
    the vector's length ``dim``."""

    name: str
    field: str
    dim: int


Vectors = dict[str, dict[str, npt.NDArray[np.float32]]]  # model -> embedding -> rows x dim


class VectorReader:
    """Reads the configured embedding fields of a batch of records (see the module's docstring)."""

    def __init__(self, fields: Mapping[str, Sequence[VectorField]], max_bytes: int = 1_048_576) -> None:
        self.fields = {model: list(specs) for model, specs in fields.items() if specs}
        self._max_bytes = max_bytes
        names = sorted({spec.field for specs in self.fields.values() for spec in specs} - {"model"})
        self._slot = {name: f"v{i}" for i, name in enumerate(names)}
        struct = msgspec.defstruct(
            "_VectorFields",
            [("model", Any, None), *[(slot, msgspec.Raw, _NONE) for slot in self._slot.values()]],
            rename={slot: name for name, slot in self._slot.items()},
            gc=False,
        )
        self._decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(struct)
        self._arrays = msgspec.json.Decoder(list[list[float] | None])
        self._array = msgspec.json.Decoder(list[float] | None)

    def __bool__(self) -> bool:
        return bool(self.fields)

    def read(self, payloads: Sequence[bytes | None]) -> tuple[Vectors, dict[int, Rejection]]:
        """Each embedding model's vectors of the batch (rows of the other messages: NaN) and the
        rejections of the records whose vector is bad, by position in the batch."""
        count = len(payloads)
        vectors: Vectors = {
            model: {spec.name: np.full((count, spec.dim), np.nan, dtype=np.float32) for spec in specs}
            for model, specs in self.fields.items()
        }
        rejected: dict[int, Rejection] = {}
        # per (model, embedding): the batch positions and raw JSON texts of the vectors found
        found: dict[tuple[str, int], tuple[list[int], list[bytes]]] = {}
        loose: dict[int, dict[str, Any]] = {}  # records parsed by Python's lenient parser (NaN tokens)
        for index, payload in enumerate(payloads):
            if payload is None or len(payload) > self._max_bytes:
                continue  # the record decoder rejects it
            try:
                record = self._decoder.decode(payload)
            except (
                msgspec.ValidationError,
                msgspec.DecodeError,
                RecursionError,
                UnicodeDecodeError,
                ValueError,
            ):
                parsed = _lenient(payload)
                if parsed is None or parsed.get("model") not in self.fields:
                    continue
                loose[index] = parsed
                continue
            model = record.model
            if type(model) is not str or model not in self.fields:
                continue
            for k, spec in enumerate(self.fields[model]):
                raw = getattr(record, self._slot[spec.field]) if spec.field != "model" else _NONE
                if len(raw):
                    positions, texts = found.setdefault((model, k), ([], []))
                    positions.append(index)
                    texts.append(bytes(raw))
        for (model, k), (positions, texts) in found.items():
            spec = self.fields[model][k]
            out = vectors[model][spec.name]
            try:  # the common case: every vector of the batch a good array, parsed at once
                arrays = self._arrays.decode(b"[" + b",".join(texts) + b"]")
            except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError):
                arrays = None
            if arrays is not None and all(a is None or len(a) == spec.dim for a in arrays):
                present = [i for i, a in enumerate(arrays) if a is not None]
                if present:
                    matrix = np.asarray([arrays[i] for i in present], dtype=np.float64)
                    bad = ~np.isfinite(matrix).all(axis=1) | (np.abs(matrix) > _FLOAT32_MAX).any(axis=1)
                    for i in np.flatnonzero(bad).tolist():
                        rejected[positions[present[i]]] = _non_finite(model, spec)
                    good = np.flatnonzero(~bad).tolist()
                    out[[positions[present[i]] for i in good]] = matrix[good].astype(np.float32)
                continue
            for position, text in zip(positions, texts, strict=True):
                vector = self._one(model, spec, text)
                if isinstance(vector, Rejection):
                    rejected[position] = vector
                elif vector is not None:
                    out[position] = vector
        for index, record in loose.items():
            model = record["model"]
            for spec in self.fields[model]:
                vector = _checked(model, spec, record.get(spec.field))
                if isinstance(vector, Rejection):
                    rejected[index] = vector
                    break
                if vector is not None:
                    vectors[model][spec.name][index] = vector
        for index in rejected:  # a rejected record keeps no vector of any embedding
            for by_name in vectors.values():
                for block in by_name.values():
                    block[index] = np.nan
        return vectors, rejected

    def _one(self, model: str, spec: VectorField, text: bytes) -> npt.NDArray[np.float32] | Rejection | None:
        """One vector's JSON text, checked: the vector, None for null, or why it is rejected."""
        try:
            values = self._array.decode(text)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError, ValueError):
            try:
                value = json.loads(text)
            except (ValueError, RecursionError):
                return _wrong(model, spec, "not a JSON array of numbers")
            return _checked(model, spec, value)
        return _checked(model, spec, values)


def _lenient(payload: bytes) -> dict[str, Any] | None:
    """A record msgspec refused, read by Python's parser (NaN and Infinity tokens); None if that fails."""
    if payload.count(b"[") + payload.count(b"{") > 10_000:
        return None  # nested or long beyond any record: the record decoder rejects it
    try:
        value = json.loads(payload)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _checked(model: str, spec: VectorField, value: object) -> npt.NDArray[np.float32] | Rejection | None:
    """A decoded JSON value as a vector of ``spec``: None for null, or the rejection of a bad one."""
    if value is None:
        return None
    if not isinstance(value, list):
        return _wrong(model, spec, f"{_kind(value)}, not an array of numbers")
    if len(value) != spec.dim:
        return _wrong(model, spec, f"{len(value)} numbers, not {spec.dim}")
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            return _wrong(model, spec, f"an array holding {_kind(item)} {clip(json.dumps(item), 40)}")
        try:
            number = float(item)
        except OverflowError:
            return _non_finite(model, spec)
        if not math.isfinite(number) or abs(number) > _FLOAT32_MAX:
            return _non_finite(model, spec)
    return np.asarray(value, dtype=np.float32)


def _wrong(model: str, spec: VectorField, what: str) -> Rejection:
    return Rejection(
        "wrong_type",
        f"embedding {spec.name!r} of model {clip(model)!r}: field {spec.field!r} is {what} "
        f"(the model's embeddings.{spec.name}.dim is {spec.dim})",
    )


def _non_finite(model: str, spec: VectorField) -> Rejection:
    return Rejection(
        "non_finite",
        f"embedding {spec.name!r} of model {clip(model)!r}: field {spec.field!r} holds NaN, an infinity "
        "or a number beyond float32 range",
    )


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "text"
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    return "a number"
