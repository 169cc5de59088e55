"""The check history's entries as they travel between scaled-out replicas (``G.history``).

Scaled out, the replica owning a model runs its checks and sends their webhooks; the history of it all
must be complete on every replica whichever ran each check. So the owner does not write its history
file: it publishes one entry per check row, alert transition and delivery update, keyed and
partitioned by model, and every replica applies every entry to its own file (`HistoryStore.apply`).
An entry carries a globally unique ``uid`` (a transition also the ``check_uid`` of its check row), so
applying it twice stores it once, and a transition read before its check is linked when the check
comes. An entry is msgpack, zstd-compressed (a check's result is most of it: about 9 kB of JSON for
25 features, 1.3 kB compressed). Encoding and decoding only; no I/O.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
import zstandard

__all__ = [
    "CheckEntry",
    "DeliveryEntry",
    "HistoryEntry",
    "HistoryLogError",
    "TransitionEntry",
    "decode_history_entry",
    "encode_history_entry",
    "new_uid",
]


class HistoryLogError(ValueError):
    """A history message that is not an entry this version can read."""


class CheckEntry(msgspec.Struct, tag="check", frozen=True):
    """One check row (every `HistoryCheck` field but the local id, transitions and deliveries)."""

    uid: str
    ran_at: float
    model: str
    scope: str
    baseline: str
    model_version: str
    segment: str
    status: str
    answered: bool
    reason: str | None
    window_start: float
    window_end: float
    rows: int
    config_hash: str
    reference_hash: str
    driftwatch_version: str
    positions: dict[str, int]
    breaches: dict[str, bool]
    checks: list[str]
    result: dict[str, Any]  # CheckResult.as_dict()


class TransitionEntry(msgspec.Struct, tag="transition", frozen=True):
    """One alert event emitted at the check row ``check_uid`` (None: that row's write failed)."""

    uid: str
    check_uid: str | None
    model: str
    scope: str
    check: str
    transition: str
    at: float
    idempotency_key: str
    window_end: float | None = None
    reason: str | None = None


class DeliveryEntry(msgspec.Struct, tag="delivery", frozen=True):
    """How the delivery of event ``idempotency_key`` to ``target`` stood at ``at``."""

    target: str
    idempotency_key: str
    status: str
    attempts: int
    at: float
    last_status: int | None = None
    last_error: str | None = None


HistoryEntry = CheckEntry | TransitionEntry | DeliveryEntry

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(HistoryEntry)


def new_uid() -> str:
    """A globally unique id for a check row or a transition."""
    return uuid.uuid4().hex


def encode_history_entry(entry: HistoryEntry) -> bytes:
    # a compressor per call: zstandard's are not thread-safe (checks and deliveries publish at once)
    return zstandard.ZstdCompressor(level=3).compress(_encoder.encode(entry))


def decode_history_entry(value: bytes) -> HistoryEntry:
    try:
        return _decoder.decode(zstandard.ZstdDecompressor().decompress(value))
    except (zstandard.ZstdError, msgspec.DecodeError) as exc:  # ValidationError is a DecodeError
        raise HistoryLogError(f"not a history entry: {exc}") from None
