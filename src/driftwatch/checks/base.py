"""The one shape of a check: prepared once on the reference, run on every window snapshot.

Every kind of check (data drift, prediction drift, data quality, realized performance, estimated
performance, and those still to come) implements `Check`: ``prepare(reference)`` does the work that
depends on the reference alone (profiles, reference metrics, a CBPE fit) once; ``run(snapshot)`` reads
one `CheckInput` (the window's sampled rows and, for the performance kinds, the labelled predictions
of the look-back) and returns a `PartResult`: its `CheckId`, its status in one vocabulary, a typed
value, and the breaches it feeds to the alert policy. The runner drives them all alike; nothing here
reads the configuration file, talks to Kafka or knows the clock.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.stream.windows import WindowSnapshot

__all__ = [
    "STATUS_VALUES",
    "Check",
    "CheckInput",
    "Labelled",
    "PartResult",
    "PartStatus",
    "part_error",
    "run_checks",
]

log = logging.getLogger(__name__)

# What one check found. "ok": compared, no breach. "drift": compared, a breach (drift, a quality limit, a
# performance threshold). "no_data": nothing to compare (an empty window, no usable value). "not_enough_data":
# too few rows or labels to tell a change from noise. "error": the check could not compute its value.
# Without a comparison ("no_data", "not_enough_data", "error") a check feeds no breach to the policy: the
# absence of evidence neither raises nor resolves an alert.
PartStatus = Literal["ok", "drift", "no_data", "not_enough_data", "error"]
STATUS_VALUES: tuple[PartStatus, ...] = ("ok", "drift", "no_data", "not_enough_data", "error")

ValueT_co = TypeVar("ValueT_co", covariant=True)
ReferenceT_contra = TypeVar("ReferenceT_contra", contravariant=True)


@dataclass(frozen=True)
class Labelled:
    """The labelled predictions of a look-back: labels, the predictions they grade, sampling weights,
    and, for an estimator that reads them (DLE), the rows' values of its features by column (None
    when the join keeps none)."""

    labels: npt.ArrayLike
    predictions: npt.ArrayLike
    weights: npt.NDArray[np.float64] | None = None
    features: Mapping[str, npt.ArrayLike] | None = None


@dataclass(frozen=True)
class CheckInput:
    """What a check runs on: the window's snapshot and, for models with a label join, a reader of the
    labelled predictions of the look-back (None without one). The reader is called by the checks that
    grade predictions, so a join state that cannot be read fails those checks only."""

    window: WindowSnapshot
    labelled: Callable[[], Labelled] | None = None


@dataclass(frozen=True)
class PartResult(Generic[ValueT_co]):
    """One check's result. ``value`` is its typed finding (a `DatasetDrift`, a `ColumnDrift`, ...; None
    when there is none); ``breaches`` the alert states it feeds, each breaching or not; ``note`` why there
    is no value or what to know about it; ``failure`` an unexpected failure (a bug, not the data: it was
    logged, is counted and is listed in the model's result's errors)."""

    check: CheckId
    status: PartStatus
    value: ValueT_co | None = None
    breaches: Mapping[CheckId, bool] = field(default_factory=dict)
    note: str | None = None
    failure: str | None = None

    @property
    def completed(self) -> bool:
        """Whether the check ran to an answer, a verdict or a "no data" one (it updates last-success)."""
        return self.status != "error"

    @classmethod
    def failed(cls, check: CheckId, exc: BaseException, value: Any = None) -> PartResult[Any]:
        """The result of a check that raised: status error, the failure noted."""
        return cls(check, "error", value, note=part_error(exc), failure=part_error(exc))


class Check(Protocol[ReferenceT_contra, ValueT_co]):
    """A check of one kind: ``prepare`` once on the reference, then ``run`` on every snapshot."""

    @property
    def kind(self) -> CheckKind: ...

    @property
    def alert_ids(self) -> list[CheckId]:
        """The alert states this check can feed (one per metric for the performance kinds)."""
        ...

    def prepare(self, reference: ReferenceT_contra) -> None: ...

    def run(self, snapshot: CheckInput) -> PartResult[ValueT_co]:
        """The check's result on ``snapshot``; problems in the data become a status, never an exception."""
        ...


def part_error(exc: BaseException) -> str:
    """The error note of a failed check: what failed, not a traceback (that is in the log)."""
    return f"failed: {type(exc).__name__}: {str(exc)[:300]}"


def run_checks(
    checks: Sequence[Check[Any, Any]], snapshot: CheckInput, model: str
) -> dict[CheckKind, PartResult[Any]]:
    """Every check's result on ``snapshot``, by kind, in the checks' order. A check that raises gets an
    ``error`` result (logged with its traceback) and the others still run."""
    parts: dict[CheckKind, PartResult[Any]] = {}
    for check in checks:
        try:
            parts[check.kind] = check.run(snapshot)
        except Exception as exc:
            log.exception("check %s of model %s failed", check.kind, model)
            parts[check.kind] = PartResult.failed(CheckId(check.kind), exc)
    return parts
