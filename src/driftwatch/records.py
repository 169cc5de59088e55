"""The prediction record contract and its fast decoder.

A record on the predictions topic is a JSON object::

    {"model": "credit-risk", "model_version": "7", "prediction_id": "a1b2",
     "timestamp": "2026-11-27T03:00:00Z",
     "features": {"age": 42, "income": 5100.5, "country": "DE"},
     "prediction": 0.83, "label": null}

Decoding never raises: every message becomes either a `Prediction` or a
`Rejection` with a reason from the small closed set `REASONS` (they are
Prometheus label values). Unknown extra fields are ignored. A single feature
with a value of the wrong kind (a string where a number is expected) does not
reject the record: the value counts as missing and as a type violation of
that feature, so one bad column never throws away the others.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

import msgspec

__all__ = ["REASONS", "Prediction", "RecordDecoder", "Rejection"]

REASONS: Final = (
    "undecodable",  # not JSON, or not a JSON object
    "missing_field",  # model or features absent
    "wrong_type",  # a field of the wrong JSON type (features not an object, ...)
    "unknown_model",  # model not in the configuration
    "bad_timestamp",  # timestamp present but not ISO 8601 / epoch seconds
    "non_finite",  # NaN or infinity in the prediction
    "oversize",  # message larger than the configured limit
)

Scalar = str | int | float | bool | None


class _Wire(msgspec.Struct, frozen=True):
    model: str
    features: dict[str, Scalar]
    model_version: str | int | None = None
    prediction_id: str | int | None = None
    timestamp: str | int | float | None = None
    prediction: Scalar | dict[str, float] = None
    label: Scalar = None


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


@dataclass(frozen=True, slots=True)
class Rejection:
    reason: str
    detail: str


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


class RecordDecoder:
    """Decode raw messages into `Prediction` or `Rejection`; reusable and cheap per message."""

    def __init__(self, models: frozenset[str] | set[str], max_bytes: int = 1_048_576) -> None:
        self._models = frozenset(models)
        self._max_bytes = max_bytes
        self._decoder = msgspec.json.Decoder(_Wire)

    def decode_batch(
        self, payloads: Sequence[bytes | None], fallback_timestamps: Sequence[float]
    ) -> list[Prediction | Rejection]:
        """`decode` for many messages at once, with the same outcome per message.

        The common case, a batch of single-line JSON documents, is parsed by one
        ``decode_lines`` call (each line on its own, so one message can never run
        into the next); any problem in the batch sends it through `decode` one
        message at a time, which finds and classifies the bad ones.
        """
        if not payloads:
            return []
        fast = all(
            p is not None and len(p) <= self._max_bytes and b"\n" not in p and b"\r" not in p
            for p in payloads
        )
        if fast:
            try:
                wires = self._decoder.decode_lines(b"\n".join(payloads))  # type: ignore[arg-type]
            except (
                msgspec.ValidationError,
                msgspec.DecodeError,
                RecursionError,
                UnicodeDecodeError,
                ValueError,
            ):
                wires = None
            if wires is not None and len(wires) == len(payloads):
                return [self._validate(w, t) for w, t in zip(wires, fallback_timestamps, strict=True)]
        return [self.decode(p, t) for p, t in zip(payloads, fallback_timestamps, strict=True)]

    def decode(self, payload: bytes | None, fallback_timestamp: float) -> Prediction | Rejection:
        if payload is None:
            return Rejection("undecodable", "empty message (tombstone)")
        if len(payload) > self._max_bytes:
            return Rejection("oversize", f"{len(payload)} bytes exceeds the {self._max_bytes}-byte limit")
        try:
            wire = self._decoder.decode(payload)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            if not _may_hold_non_finite(exc, payload):
                return _classify(str(exc)) if isinstance(exc, msgspec.ValidationError) else _undecodable(exc)
            # NaN / Infinity tokens (Python's json.dumps writes them) or numbers beyond float range:
            # the slow, lenient parser reads them; a non-finite feature then counts as missing.
            try:
                loose = json.loads(payload)
                msgspec.json.encode(loose)  # refuses what msgspec refused: lone UTF-16 surrogates
                wire = msgspec.convert(loose, _Wire)
            except msgspec.ValidationError as retry:
                return _classify(str(retry))
            except (ValueError, RecursionError, UnicodeDecodeError, UnicodeEncodeError) as retry:
                return _undecodable(retry)
        except (RecursionError, UnicodeDecodeError, ValueError) as exc:
            return _undecodable(exc)
        return self._validate(wire, fallback_timestamp)

    def _validate(self, wire: _Wire, fallback_timestamp: float) -> Prediction | Rejection:
        if wire.model not in self._models:
            return Rejection("unknown_model", f"model {_clip(wire.model)!r} is not configured")
        if isinstance(wire.prediction, int | float) and not _finite(wire.prediction):
            return Rejection("non_finite", "prediction is NaN, infinite or beyond float range")
        if isinstance(wire.prediction, dict) and not all(math.isfinite(v) for v in wire.prediction.values()):
            return Rejection("non_finite", "a class probability is NaN or infinite")
        timestamp = fallback_timestamp
        if wire.timestamp is not None:
            try:
                timestamp = parse_timestamp(wire.timestamp)
            except (ValueError, OverflowError, OSError) as exc:
                return Rejection(
                    "bad_timestamp", f"timestamp {_clip(str(wire.timestamp))!r}: {_clip(str(exc))}"
                )
        version, pid = wire.model_version, wire.prediction_id
        return Prediction(
            wire.model,
            version if version is None or type(version) is str else str(version),
            pid if pid is None or type(pid) is str else str(pid),
            timestamp,
            wire.features,
            wire.prediction,
            wire.label,
        )


def _finite(value: float) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer with hundreds of digits
        return False


def _may_hold_non_finite(exc: Exception, payload: bytes) -> bool:
    text = str(exc)
    if text.startswith("Number out of range"):
        return True
    return isinstance(exc, msgspec.DecodeError) and (b"NaN" in payload or b"Infinity" in payload)


def _undecodable(exc: BaseException) -> Rejection:
    return Rejection("undecodable", _clip(str(exc)))


def _classify(message: str) -> Rejection:
    if message.startswith("Object missing required field"):
        return Rejection("missing_field", _clip(message))
    if message.startswith("Number out of range"):
        return Rejection("non_finite", _clip(message))
    if "Expected `object`, got" in message and "- at `$" not in message:
        return Rejection("undecodable", "the message is JSON but not an object")
    return Rejection("wrong_type", _clip(message))


def _clip(text: str, limit: int = 200) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
