"""The label record contract and its decoder.

A record on the labels topic is a JSON object::

    {"prediction_id": "a1b2", "label": 1, "timestamp": "2026-11-28T09:00:00Z", "model": "credit-risk"}

``prediction_id`` and ``label`` are required (a null label is counted as ``no_label`` by the join);
``timestamp`` (when the outcome was known; default: the Kafka message time) and ``model`` (default:
every model that logged the id) are optional, and extra fields are ignored. Like prediction records,
decoding never raises: each message becomes a `Label` or a `driftwatch.stream.records.Rejection`.

A label must be of the kind its model's task takes (`driftwatch.stream.records.LabelRule`): ``"yes"`` for a 0/1
classifier is rejected as ``wrong_type``, as it is inline in a prediction record. A label naming no
model must fit at least one model with performance monitoring, and joins only the models it fits.
"""

from __future__ import annotations

import msgspec

from driftwatch.stream.records import (
    PayloadDecoder,
    Rejection,
    Scalar,
    classify,
    clip,
    event_time,
)

__all__ = ["Label", "LabelDecoder"]


class _Wire(msgspec.Struct, frozen=True):
    prediction_id: str | int
    label: Scalar
    timestamp: str | int | float | None = None
    model: str | None = None


class Label(msgspec.Struct, frozen=True, gc=False):
    prediction_id: str
    label: Scalar
    timestamp: float  # unix seconds
    model: str | None
    # a label naming no model that fits only some models' tasks: the models it may join (None: any)
    fits: tuple[str, ...] | None = None


class LabelDecoder(PayloadDecoder[_Wire]):
    """Decode label messages for the models in ``models`` (those with performance monitoring)."""

    wire = _Wire

    def decode(self, payload: bytes | None, fallback_timestamp: float) -> Label | Rejection:
        usable = self._usable(payload)
        if isinstance(usable, Rejection):
            return usable
        try:
            wire = self._decoder.decode(usable)
        except (
            msgspec.ValidationError,
            msgspec.DecodeError,
            RecursionError,
            UnicodeDecodeError,
            ValueError,
        ) as exc:
            return classify(exc)
        if wire.model is not None and wire.model not in self._models:
            return Rejection(
                "unknown_model", f"label for model {clip(wire.model)!r}, which has no performance monitoring"
            )
        timestamp = event_time(wire.timestamp, fallback_timestamp)
        if isinstance(timestamp, Rejection):
            return timestamp
        fits: tuple[str, ...] | None = None
        if self._rules and wire.label is not None:
            if wire.model is not None:
                rule = self._rules.get(wire.model)
                wrong = rule.problem(wire.label) if rule is not None else None
                if wrong is not None:
                    return wrong
            else:
                problems = {name: rule.problem(wire.label) for name, rule in self._rules.items()}
                fitting = tuple(name for name, wrong in problems.items() if wrong is None)
                if not fitting:
                    first = next(p for p in problems.values() if p is not None)
                    if len(problems) == 1:
                        return first
                    return Rejection(
                        first.reason,
                        f"label {clip(repr(wire.label))} names no model and fits none of the models with "
                        f"performance monitoring ({first.detail}; ...)",
                    )
                if len(fitting) < len(problems):
                    fits = fitting
        pid = wire.prediction_id
        return Label(pid if type(pid) is str else str(pid), wire.label, timestamp, wire.model, fits)
