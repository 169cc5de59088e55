"""Write NannyML's multiclass CBPE estimates for the cases of multiclass_cases.py to
data/multiclass_cbpe_nannyml.json (and NannyML's bundled multiclass dataset to
data/multiclass_synthetic.npz, which the first case reads).

NannyML is not a dependency of driftwatch (see regenerate_multivariate_fixture.py), so its numbers are
computed once, here, and stored; test_multiclass_cbpe_nannyml.py compares driftwatch's estimation
error with NannyML's on the same chunks. Run it from the repository root in NannyML's environment:

    NML_DISABLE_USAGE_LOGGING=1 /path/to/nml/bin/python -m tests.conformance.regenerate_multiclass_fixture
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml
import numpy as np
import pandas as pd

from tests.conformance.multiclass_cases import CASES, SYNTHETIC, Case, Data, digest
from tests.conformance.oracle_cases import nannyml_table, number, period_rows, write_fixture

FIXTURE = Path(__file__).parent / "data" / "multiclass_cbpe_nannyml.json"
METRICS = ["accuracy", "f1", "precision", "recall", "roc_auc"]


def write_synthetic() -> None:
    """NannyML's bundled dataset, probabilities as hundredths (they have two decimals) and label codes."""
    reference, analysis, targets = nannyml.load_synthetic_multiclass_classification_dataset()
    analysis = analysis.merge(targets, on="id")
    classes = sorted(
        c.removeprefix("y_pred_proba_") for c in reference.columns if c.startswith("y_pred_proba_")
    )

    def hundredths(frame: pd.DataFrame) -> np.ndarray:
        values = frame[[f"y_pred_proba_{c}" for c in classes]].to_numpy() * 100.0
        assert np.allclose(values, np.round(values), atol=1e-6)
        return np.round(values).astype(np.uint8)

    def codes(frame: pd.DataFrame) -> np.ndarray:
        return frame["y_true"].map({c: k for k, c in enumerate(classes)}).to_numpy().astype(np.uint8)

    np.savez_compressed(
        SYNTHETIC,
        classes=np.asarray(classes),
        reference=hundredths(reference),
        reference_labels=codes(reference),
        analysis=hundredths(analysis),
        analysis_labels=codes(analysis),
    )


def frame(data: Data, probabilities: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    out = pd.DataFrame({f"p_{c}": probabilities[:, k] for k, c in enumerate(data.classes)})
    out["y_pred"] = np.asarray(data.classes)[probabilities.argmax(axis=1)]
    out["y_true"] = labels
    return out


def _expected(case: Case) -> dict[str, Any]:
    data = case.build()
    estimator = nannyml.CBPE(
        problem_type="classification_multiclass",
        y_pred_proba={c: f"p_{c}" for c in data.classes},
        y_pred="y_pred",
        y_true="y_true",
        metrics=METRICS,
        chunk_size=case.chunk_size,
    )
    table = nannyml_table(
        estimator,
        frame(data, data.reference, data.reference_labels),
        frame(data, data.analysis, data.analysis_labels),
    )
    rows = period_rows(table, "analysis")
    return {
        "name": case.name,
        "digest": digest(data),
        "chunk_size": case.chunk_size,
        "starts": [int(v) for v in rows[("chunk", "start_index")]],
        "ends": [int(v) for v in rows[("chunk", "end_index")]],
        "metrics": {
            metric: {
                "estimate": [number(v) for v in rows[(metric, "value")]],
                "sampling_error": [number(v) for v in rows[(metric, "sampling_error")]],
                "realized": [number(v) for v in rows[(metric, "realized")]],
            }
            for metric in METRICS
        },
    }


def main() -> None:
    write_synthetic()
    write_fixture(
        FIXTURE,
        "tests/conformance/regenerate_multiclass_fixture.py",
        ["nannyml", "scikit-learn", "pandas", "numpy"],
        (_expected(case) for case in CASES),
    )


if __name__ == "__main__":
    main()
