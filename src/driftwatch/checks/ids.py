"""The identity of a check: its kind, the metric it watches and, for the drift kinds, its baseline.

A check id is what names one alert state and one webhook event: ``data_drift``,
``prediction_drift``, ``data_quality``, ``performance:accuracy``,
``estimated_performance:roc_auc``; a drift check against the stream's own rolling baseline rather
than the reference is ``data_drift@rolling`` / ``prediction_drift@rolling``, and a champion/challenger
comparison of two model versions is ``challenger:accuracy`` (a performance metric) or
``challenger:prediction_drift`` (the two versions' prediction distributions); a multivariate drift
check names its method, ``multivariate_drift:reconstruction_error``; the drift of one of a model's
embeddings is ``embedding_drift:text_vec`` (the embedding's name). Its string form is the
one users see (the ``check`` label of the metrics, the alert state's key in the state file, the
``check`` field of a webhook event), so `str` and `CheckId.parse` are the only places that know how
the parts are joined; code that needs the kind, the metric or the baseline reads the fields instead of
splitting the string.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal, cast, get_args

__all__ = ["BASELINES", "CHECK_KINDS", "Baseline", "CheckId", "CheckKind"]

CheckKind = Literal[
    "data_drift",
    "prediction_drift",
    "data_quality",
    "performance",
    "estimated_performance",
    "challenger",
    "multivariate_drift",
    "embedding_drift",
]
CHECK_KINDS: tuple[CheckKind, ...] = get_args(CheckKind)

Baseline = Literal["rolling"]
BASELINES: tuple[Baseline, ...] = get_args(Baseline)

# the kinds whose alert states are per metric (one threshold each)
_PER_METRIC: frozenset[CheckKind] = frozenset(
    {"performance", "estimated_performance", "challenger", "multivariate_drift", "embedding_drift"}
)
# the kinds that may compare with another baseline than the reference
_WITH_BASELINE: frozenset[CheckKind] = frozenset({"data_drift", "prediction_drift"})
_SEPARATOR = ":"
_AT = "@"


@functools.total_ordering
@dataclass(frozen=True)
class CheckId:
    """One check of a model: ``kind``; ``metric`` for the per-metric checks of the performance kinds and
    of ``challenger``; ``baseline`` (``"rolling"``) for a drift check against the stream's own past.

    >>> str(CheckId("performance", "accuracy"))
    'performance:accuracy'
    >>> CheckId.parse("data_drift")
    CheckId(kind='data_drift', metric=None, baseline=None)
    >>> str(CheckId("prediction_drift", baseline="rolling"))
    'prediction_drift@rolling'
    >>> CheckId.parse("challenger:accuracy").metric
    'accuracy'

    Ids are ordered by kind, then metric, then baseline, a missing metric or baseline first.
    """

    kind: CheckKind
    metric: str | None = None
    baseline: Baseline | None = None

    def __post_init__(self) -> None:
        if self.kind not in CHECK_KINDS:
            raise ValueError(f"unknown check kind {self.kind!r}; one of {', '.join(CHECK_KINDS)}")
        if self.metric is not None and (
            self.kind not in _PER_METRIC or not self.metric or _AT in self.metric or _SEPARATOR in self.metric
        ):
            raise ValueError(f"check {self.kind!r} has no metric (got {self.metric!r})")
        if self.baseline is not None and (self.kind not in _WITH_BASELINE or self.baseline not in BASELINES):
            raise ValueError(
                f"check {self.kind!r} has no baseline {self.baseline!r}; only "
                f"{' and '.join(sorted(_WITH_BASELINE))} take one of {', '.join(BASELINES)}"
            )

    def __str__(self) -> str:
        text = self.kind if self.metric is None else f"{self.kind}{_SEPARATOR}{self.metric}"
        return text if self.baseline is None else f"{text}{_AT}{self.baseline}"

    def _key(self) -> tuple[str, bool, str, bool, str]:
        return (
            self.kind,
            self.metric is not None,
            self.metric or "",
            self.baseline is not None,
            self.baseline or "",
        )

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, CheckId):
            return NotImplemented
        return self._key() < other._key()

    @classmethod
    def parse(cls, text: str) -> CheckId:
        """The check id written as ``text`` (the inverse of `str`); ValueError for an unknown kind, a
        metric on a kind without metrics or a baseline on a kind without baselines."""
        head, at, baseline = text.partition(_AT)
        kind, separator, metric = head.partition(_SEPARATOR)
        if kind not in CHECK_KINDS:
            raise ValueError(f"unknown check {text!r}; its kind is one of {', '.join(CHECK_KINDS)}")
        if at and baseline not in BASELINES:
            raise ValueError(f"unknown baseline in check {text!r}; one of {', '.join(BASELINES)}")
        return cls(kind, metric if separator else None, cast(Baseline, baseline) if at else None)
