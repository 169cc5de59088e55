"""The multivariate drift check: methods that see the features together, one alert state per method.

Per-feature tests miss a change in how features move together (a correlation that breaks while each
feature keeps its histogram). `MultivariateDriftCheck` runs each configured method of
`driftwatch.drift.multivariate_methods` on the window's sampled rows: prepared once with the methods
fitted on the reference (or loaded from a saved profile), run on every snapshot, one breach per
method (``multivariate_drift:reconstruction_error``). A window of fewer than ``min_rows`` rows gets no
verdict, as for the per-feature tests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from driftwatch.checks.base import CheckInput, PartResult
from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.checks.window import no_verdict_reason, verdict_status
from driftwatch.drift.multivariate_methods import FittedMultivariate, MultivariateDrift, typed_frame
from driftwatch.drift.profile import ColumnType

__all__ = ["MultivariateDriftCheck"]

log = logging.getLogger(__name__)


class MultivariateDriftCheck:
    """Multivariate drift of the ``columns`` (name -> type) of a model by each of ``methods``, prepared
    on the fitted methods (method -> `FittedMultivariate`); no verdict on fewer than ``min_rows`` rows."""

    kind: CheckKind = "multivariate_drift"

    def __init__(
        self, model: str, methods: Sequence[str], columns: Mapping[str, ColumnType], min_rows: int
    ) -> None:
        self.model = model
        self.methods = list(methods)
        self.columns = dict(columns)
        self.min_rows = min_rows
        self.fitted: dict[str, FittedMultivariate] = {}

    @property
    def alert_ids(self) -> list[CheckId]:
        return [CheckId(self.kind, method) for method in self.methods]

    def prepare(self, reference: Mapping[str, FittedMultivariate]) -> None:
        missing = [method for method in self.methods if method not in reference]
        if missing:
            raise ValueError(f"no fitted model for the multivariate method(s) {', '.join(missing)}")
        self.fitted = {method: reference[method] for method in self.methods}

    def run(self, snapshot: CheckInput) -> PartResult[MultivariateDrift]:
        check, frame = CheckId(self.kind), snapshot.window.frame
        status = verdict_status(len(frame), self.min_rows)
        if status != "ok":  # no verdict: nothing is scored, so nothing can pass for one
            return PartResult(
                check,
                "no_data" if status == "no_data" else "not_enough_data",
                MultivariateDrift(),
                note=no_verdict_reason(status, len(frame), self.min_rows),
            )
        absent = [column for column in self.columns if column not in frame.columns]
        if absent:
            return PartResult(
                check, "no_data", MultivariateDrift(), note=f"the window has no column(s) {', '.join(absent)}"
            )
        typed = typed_frame(frame, self.columns)
        results = {method: fitted.result(typed) for method, fitted in self.fitted.items()}
        drift = MultivariateDrift(results)
        return PartResult(
            check,
            "drift" if drift.alert else "ok",
            drift,
            breaches={CheckId(self.kind, method): result.alert for method, result in results.items()},
        )
