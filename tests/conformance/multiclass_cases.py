"""The data of the multiclass CBPE conformance cases.

Shared by tests/conformance/test_multiclass_cbpe_nannyml.py (driftwatch's side) and
tests/conformance/regenerate_multiclass_fixture.py (NannyML's side, run once to write NannyML's
per-chunk estimates). Each case's `digest` is stored with those numbers, so a change in the data
fails the test loudly instead of comparing other rows.

* ``nannyml_synthetic``: NannyML's bundled multiclass dataset (credit card offers: prepaid, highstreet,
  upmarket; 60,000 reference and 60,000 analysis rows whose second half drifts), its probabilities
  (two decimals in the original) and labels copied by the regenerate script into
  data/multiclass_synthetic.npz, so that driftwatch's tests read it without NannyML.
* ``overconfident_shift``: four classes from a softmax of two gaussian features; the model's
  probabilities are sharper than the truth (logits times 1.8, so calibration matters), and the
  analysis data's features move halfway through towards a region where the classes overlap more.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CASES", "Case", "Data", "digest"]

SYNTHETIC = Path(__file__).parent / "data" / "multiclass_synthetic.npz"


@dataclass(frozen=True)
class Data:
    classes: list[str]
    reference: np.ndarray  # (rows, classes) probabilities, columns in ``classes`` order
    reference_labels: np.ndarray  # class names
    analysis: np.ndarray
    analysis_labels: np.ndarray


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Data]
    chunk_size: int


def digest(data: Data) -> str:
    """A hash of the probabilities (rounded to 1e-9) and labels of both periods."""
    h = hashlib.sha256()
    for array in (data.reference, data.analysis):
        h.update(np.round(array, 9).astype("<f8").tobytes())
    for labels in (data.reference_labels, data.analysis_labels):
        h.update("\n".join(map(str, labels.tolist())).encode())
    return h.hexdigest()


def _nannyml_synthetic() -> Data:
    stored = np.load(SYNTHETIC)
    classes = [str(c) for c in stored["classes"]]
    names = np.asarray(classes)
    return Data(
        classes,
        stored["reference"].astype(np.float64) / 100.0,
        names[stored["reference_labels"]],
        stored["analysis"].astype(np.float64) / 100.0,
        names[stored["analysis_labels"]],
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _overconfident_shift() -> Data:
    rng = np.random.default_rng(21)
    classes = ["a", "b", "c", "d"]
    weights = np.array([[2.0, 0.0], [0.0, 2.0], [-2.0, 0.0], [0.0, -2.0]])
    bias = np.array([0.3, 0.0, -0.2, 0.1])

    def period(n: int, shift: bool) -> tuple[np.ndarray, np.ndarray]:
        x = rng.normal(size=(n, 2)) * 1.2
        if shift:  # the second half moves towards the origin, where the classes overlap
            x[n // 2 :] *= 0.45
        truth = _softmax(x @ weights.T + bias)
        labels = np.array([rng.choice(4, p=row) for row in truth])
        model = _softmax(1.8 * (x @ weights.T + bias))
        return np.round(model, 6), np.asarray(classes)[labels]

    reference, reference_labels = period(20_000, shift=False)
    analysis, analysis_labels = period(20_000, shift=True)
    return Data(classes, reference, reference_labels, analysis, analysis_labels)


CASES = [
    Case("nannyml_synthetic", _nannyml_synthetic, 6000),
    Case("overconfident_shift", _overconfident_shift, 2000),
]
