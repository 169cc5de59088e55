"""The identity of a check: its kind and, for the performance kinds, the metric it watches.

A check id is what names one alert state and one webhook event: ``data_drift``,
``prediction_drift``, ``data_quality``, ``performance:accuracy``,
``estimated_performance:roc_auc``. Its string form is the one users see (the
``check`` label of the metrics, the alert state's key in the state file, the
``check`` field of a webhook event), so `str` and `CheckId.parse` are the only
places that know how the two parts are joined; code that needs the kind or the
metric reads the fields instead of splitting the string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["CHECK_KINDS", "CheckId", "CheckKind"]

CheckKind = Literal["data_drift", "prediction_drift", "data_quality", "performance", "estimated_performance"]
CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)

# the kinds whose alert states are per metric (one threshold each)
_PER_METRIC: frozenset[CheckKind] = frozenset({"performance", "estimated_performance"})
_SEPARATOR = ":"


@dataclass(frozen=True, order=True)
class CheckId:
    """One check of a model: ``kind``, and ``metric`` for the performance kinds' per-metric checks.

    >>> str(CheckId("performance", "accuracy"))
    'performance:accuracy'
    >>> CheckId.parse("data_drift")
    CheckId(kind='data_drift', metric=None)
    """

    kind: CheckKind
    metric: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHECK_KINDS:
            raise ValueError(f"unknown check kind {self.kind!r}; one of {', '.join(CHECK_KINDS)}")
        if self.metric is not None and (self.kind not in _PER_METRIC or not self.metric):
            raise ValueError(f"check {self.kind!r} has no metric (got {self.metric!r})")

    def __str__(self) -> str:
        return self.kind if self.metric is None else f"{self.kind}{_SEPARATOR}{self.metric}"

    @classmethod
    def parse(cls, text: str) -> CheckId:
        """The check id written as ``text`` (the inverse of `str`); ValueError for an unknown kind."""
        kind, separator, metric = text.partition(_SEPARATOR)
        if kind not in CHECK_KINDS:
            raise ValueError(f"unknown check {text!r}; its kind is one of {', '.join(CHECK_KINDS)}")
        return cls(kind, metric if separator else None)
