"""The embedding drift check: each of a model's embeddings compared with the reference's vectors.

`EmbeddingDriftCheck` implements `driftwatch.checks.base.Check` for the kind ``embedding_drift``: one
alert state per embedding (``embedding_drift:text_vec``), each fed by one of
`driftwatch.drift.embeddings`' methods run on the window's vectors (`WindowSnapshot.embeddings`)
against the reference's bounded sample (`ReferenceProfile.embeddings`). Rows whose vector is missing
(the record had none) are left out; fewer usable vectors than ``min_rows`` (the model's
window.min_rows) is ``not_enough_data``, none at all ``no_data``: no verdict, no breach, the alert
state left as it is. The part's value maps each embedding to its `EmbeddingResult`.

The window's vectors are taken in `canonical_order` (sorted by their bytes), so a set of vectors
gives one result whatever order the window holds them in: one daemon, a scaled-out owner fed by
several readers, a restored window and ``driftwatch check`` on the same rows agree.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from driftwatch.checks.base import CheckInput, PartResult, PartStatus, part_error
from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.drift.embeddings import EmbeddingDrift, embedding_drift
from driftwatch.drift.profile import ReferenceProfile

__all__ = ["EmbeddingDriftCheck", "EmbeddingResult", "EmbeddingSpec", "canonical_order"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingSpec:
    """How one embedding is checked: the method of `driftwatch.drift.embeddings` and its keyword
    arguments (empty: the method's defaults; ``model`` bootstraps below 1000 reference vectors)."""

    name: str
    method: str = "model"
    parameters: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class EmbeddingResult:
    """One embedding's finding: its status, the vectors compared and, with a verdict, the drift."""

    name: str
    method: str
    status: PartStatus
    rows: int  # window rows with a vector
    reference_rows: int
    drift: EmbeddingDrift | None = None
    note: str | None = None

    @property
    def drifted(self) -> bool | None:
        return None if self.drift is None else self.drift.drifted

    def as_dict(self) -> dict[str, Any]:
        drift = self.drift
        return {
            "embedding": self.name,
            "method": self.method,
            "status": self.status,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "score": None if drift is None else drift.score,
            "threshold": None if drift is None else drift.threshold,
            "drift_detected": None if drift is None else drift.drifted,
            "details": {} if drift is None else dict(drift.details),
            "note": self.note,
        }


_RANK: dict[PartStatus, int] = {"drift": 4, "ok": 3, "error": 2, "not_enough_data": 1, "no_data": 0}


class EmbeddingDriftCheck:
    """Drift of each of a model's embeddings (see the module's docstring)."""

    kind: CheckKind = "embedding_drift"

    def __init__(self, model: str, embeddings: list[EmbeddingSpec], min_rows: int) -> None:
        self.model = model
        self.embeddings = list(embeddings)
        self.min_rows = min_rows
        self.reference: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def alert_ids(self) -> list[CheckId]:
        return [CheckId(self.kind, spec.name) for spec in self.embeddings]

    def prepare(self, reference: ReferenceProfile) -> None:
        missing = [spec.name for spec in self.embeddings if spec.name not in reference.embeddings]
        if missing:
            raise ValueError(f"the reference has no vectors of embedding(s) {', '.join(missing)}")
        self.reference = {spec.name: np.asarray(reference.embeddings[spec.name]) for spec in self.embeddings}

    def run(self, snapshot: CheckInput) -> PartResult[dict[str, EmbeddingResult]]:
        return self.run_vectors(snapshot.window.embeddings, len(snapshot.window.frame))

    def run_vectors(
        self, vectors: Mapping[str, npt.NDArray[np.float32]], rows: int
    ) -> PartResult[dict[str, EmbeddingResult]]:
        """`run` on each embedding's current vectors (rows x dim; a row of NaN is a row without a vector)
        out of ``rows`` rows: what ``driftwatch check`` and the Python API run on their data frames."""
        results = {spec.name: self._one(spec, vectors.get(spec.name), rows) for spec in self.embeddings}
        breaches = {
            CheckId(self.kind, name): bool(result.drifted)
            for name, result in results.items()
            if result.status in ("ok", "drift")
        }
        # the part's status: drift if any embedding drifted, else the best of the others' statuses
        statuses: list[PartStatus] = [r.status for r in results.values()]
        status: PartStatus = max(statuses, key=_RANK.__getitem__, default="no_data")
        failures = [f"{name}: {r.note}" for name, r in results.items() if r.status == "error"]
        notes = [f"{name}: {r.note}" for name, r in results.items() if r.note]
        return PartResult(
            CheckId(self.kind),
            status,
            results,
            breaches=breaches,
            note="; ".join(notes) or None,
            failure="; ".join(failures) or None,
        )

    def _one(
        self, spec: EmbeddingSpec, found: npt.NDArray[np.float32] | None, window_rows: int
    ) -> EmbeddingResult:
        reference = self.reference[spec.name]
        vectors = np.empty((0, reference.shape[1]), dtype=np.float32) if found is None else found
        vectors = vectors[np.isfinite(vectors).all(axis=1)]  # rows without a vector are missing
        vectors = canonical_order(vectors)
        rows = len(vectors)

        def result(
            status: PartStatus, drift: EmbeddingDrift | None = None, note: str | None = None
        ) -> EmbeddingResult:
            return EmbeddingResult(spec.name, spec.method, status, rows, len(reference), drift, note)

        if rows == 0:
            note = (
                "the window is empty: no prediction records in it"
                if window_rows == 0
                else f"none of the window's {window_rows} rows has a vector of embedding {spec.name!r}"
            )
            return result("no_data", note=note)
        if rows < self.min_rows:
            return result(
                "not_enough_data",
                note=f"the window has {rows} vectors of embedding {spec.name!r}, fewer than window.min_rows "
                f"{self.min_rows}: too few to tell drift from sampling noise",
            )
        try:
            drift = embedding_drift(
                reference.astype(np.float64),
                vectors.astype(np.float64),
                spec.method,  # type: ignore[arg-type]
                **_with_default_bootstrap(spec, len(reference)),
            )
        except Exception as exc:  # a bug or data no method can take: this embedding only
            log.exception("check embedding_drift:%s of model %s failed", spec.name, self.model)
            return result("error", note=part_error(exc))
        return result("drift" if drift.drifted else "ok", drift)


def canonical_order(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """The rows of ``vectors`` in an order of their own: sorted by their bytes (float32, little-endian).

    The methods split or subsample the current rows by position (``model``'s 50/50 split, ``mmd``'s
    sample of at most 1000 rows), so their score depends on the rows' order, and a window's order is
    how it came to hold them: the batches of one process, the pieces several stage-1 readers forward
    to a scaled-out owner, a restore, a file read by ``driftwatch check``. In this order one set of
    vectors gives one result on every path (identical rows are interchangeable)."""
    if len(vectors) < 2:
        return vectors
    rows = np.ascontiguousarray(vectors, dtype="<f4")
    keys = rows.view(np.dtype((np.void, rows.itemsize * rows.shape[1]))).reshape(-1)
    ordered: npt.NDArray[np.float32] = rows[np.argsort(keys, kind="stable")]
    return ordered


def _with_default_bootstrap(spec: EmbeddingSpec, reference_rows: int) -> dict[str, object]:
    """The method's arguments; ``model`` with neither a bootstrap nor a threshold setting bootstraps
    below 1000 reference rows, as Evidently's EmbeddingsDrift metric (and `embedding_drift` without a
    method) does."""
    parameters = dict(spec.parameters)
    if spec.method == "model" and "bootstrap" not in parameters and "threshold" not in parameters:
        parameters["bootstrap"] = reference_rows < 1000
    return parameters
