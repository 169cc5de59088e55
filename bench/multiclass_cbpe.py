"""driftwatch's multiclass CBPE vs NannyML 0.13.1: speed in the same run, estimation error, false alarms.

Speed: a three-class model whose probabilities are sharper than the truth (so both sides calibrate),
reference and analysis of 10k and 100k rows each (the analysis drifts in its second half), ten
chunks. "fit" is fitting on the labelled reference (calibration, reference metrics, sampling error;
NannyML's ``fit`` also estimates the reference's own chunks), "estimate" is every analysis chunk's
accuracy, f1, precision, recall and roc_auc. Median wall time of ``--runs`` runs.

Accuracy: mean absolute estimation error (|estimate - realized| per chunk, averaged over the analysis
chunks) of driftwatch and NannyML on the cases of tests/conformance/multiclass_cases.py (NannyML's
numbers stored in tests/conformance/data/multiclass_cbpe_nannyml.json) and, when NannyML is
importable, on the speed frames too.

False alarms and band coverage: windows drawn like the reference (no shift) from a calibrated model;
the share whose estimated accuracy breaches ``max_drop: 0.05`` (a rule given as an
``estimate_thresholds`` example), and the share of windows whose realized metric falls inside the
estimate's 3-sigma band, per window size.

NannyML is not a driftwatch dependency; run the script with a Python that has both, e.g.

    NML_DISABLE_USAGE_LOGGING=1 PYTHONPATH=src:. /path/to/nml/bin/python bench/multiclass_cbpe.py

Without NannyML it times driftwatch alone and says so (the stored accuracy table is still printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftwatch.performance.cbpe import ESTIMATED_METRICS
from driftwatch.performance.metrics import realized
from driftwatch.performance.multiclass_cbpe import MulticlassCBPE

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import median_seconds, nannyml_module

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "conformance" / "data" / "multiclass_cbpe_nannyml.json"
CLASSES = ["a", "b", "c"]
WEIGHTS = np.array([[1.5, 0.0], [0.0, 1.0], [-1.5, -0.5]])
METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")


def draw(
    rng: np.random.Generator, rows: int, drift: bool = False, sharpen: float = 1.6
) -> tuple[np.ndarray, np.ndarray]:
    """The model's probabilities (the truth's, sharpened) and labels drawn from the truth."""
    x = rng.normal(size=(rows, 2))
    if drift:
        x[rows // 2 :] = x[rows // 2 :] * 0.5 + np.array([0.6, -0.3])
    logits = x @ WEIGHTS.T
    truth = np.exp(logits - logits.max(axis=1, keepdims=True))
    truth /= truth.sum(axis=1, keepdims=True)
    labels = (rng.uniform(size=(rows, 1)) > truth.cumsum(axis=1)).sum(axis=1)
    model = np.exp(sharpen * (logits - logits.max(axis=1, keepdims=True)))
    model /= model.sum(axis=1, keepdims=True)
    return model, np.asarray(CLASSES)[labels]


def nml_frame(probabilities: np.ndarray, labels: np.ndarray) -> pd.DataFrame:
    frame = pd.DataFrame({f"p_{c}": probabilities[:, k] for k, c in enumerate(CLASSES)})
    frame["y_pred"] = np.asarray(CLASSES)[probabilities.argmax(axis=1)]
    frame["y_true"] = labels
    return frame


def mae(estimates: list[float], truth: list[float]) -> float:
    return float(np.mean(np.abs(np.asarray(estimates) - np.asarray(truth))))


def measure(rows: int, runs: int, nml: Any) -> dict[str, Any]:
    rng = np.random.default_rng(rows)
    reference, reference_labels = draw(rng, rows)
    analysis, analysis_labels = draw(rng, rows, drift=True)
    chunks = np.array_split(np.arange(rows), 10)

    fit_ours, cbpe = median_seconds(
        lambda: MulticlassCBPE.fit(reference, reference_labels, classes=CLASSES), runs
    )
    estimate_ours, estimates = median_seconds(
        lambda: [{m: e.value for m, e in cbpe.estimate(analysis[c]).items()} for c in chunks], runs
    )
    truth = [
        realized("multiclass_classification", analysis_labels[c], analysis[c], classes=CLASSES, only=METRICS)
        for c in chunks
    ]
    line: dict[str, Any] = {
        "rows": rows,
        "fit_ours": fit_ours,
        "estimate_ours": estimate_ours,
        "mae_ours": {m: mae([e[m] for e in estimates], [t[m] for t in truth]) for m in METRICS},
    }
    if nml is None:
        return line
    reference_frame = nml_frame(reference, reference_labels)
    analysis_frame = nml_frame(analysis, analysis_labels)

    def fit_theirs() -> Any:
        estimator = nml.CBPE(
            problem_type="classification_multiclass",
            y_pred_proba={c: f"p_{c}" for c in CLASSES},
            y_pred="y_pred",
            y_true="y_true",
            metrics=list(METRICS),
            chunk_number=10,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return estimator.fit(reference_frame.copy())

    fit_nml, estimator = median_seconds(fit_theirs, runs)

    def estimate_theirs() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return estimator.estimate(analysis_frame).to_df()

    estimate_nml, table = median_seconds(estimate_theirs, runs)
    table = table[table[("chunk", "period")] == "analysis"]
    line.update(
        fit_nml=fit_nml,
        estimate_nml=estimate_nml,
        mae_nml={m: mae(list(table[(m, "value")]), list(table[(m, "realized")])) for m in METRICS},
    )
    return line


def stored_accuracy() -> list[tuple[str, str, float, float]]:
    """(case, metric, driftwatch MAE, NannyML MAE) on the conformance cases, NannyML's from the fixture."""
    sys.path.insert(0, str(ROOT))
    from tests.conformance.multiclass_cases import CASES

    stored = {c["name"]: c for c in json.loads(FIXTURE.read_text(encoding="utf-8"))["cases"]}
    out = []
    for case in CASES:
        data = case.build()
        expected = stored[case.name]
        cbpe = MulticlassCBPE.fit(data.reference, data.reference_labels, classes=data.classes)
        chunks = [slice(s, e + 1) for s, e in zip(expected["starts"], expected["ends"], strict=True)]
        estimates = [cbpe.estimate(data.analysis[c]) for c in chunks]
        for metric in METRICS:
            truth = expected["metrics"][metric]["realized"]
            out.append(
                (
                    case.name,
                    metric,
                    mae([e[metric].value for e in estimates], truth),
                    mae(expected["metrics"][metric]["estimate"], truth),
                )
            )
    return out


def false_alarms(windows: int, sizes: list[int]) -> list[dict[str, Any]]:
    """Undrifted windows of a calibrated model: estimated-accuracy breaches of max_drop 0.05, and the
    share of (window, metric) pairs whose realized value is inside the band."""
    rng = np.random.default_rng(5)
    reference, labels = draw(rng, 20_000, sharpen=1.0)
    cbpe = MulticlassCBPE.fit(reference, labels, classes=CLASSES)
    bound = cbpe.reference["accuracy"] * 0.95
    out = []
    for size in sizes:
        breaches = inside = total = 0
        for _ in range(windows):
            window, truth_labels = draw(rng, size, sharpen=1.0)
            estimates = cbpe.estimate(window)
            breaches += estimates["accuracy"].value < bound
            truth = realized("multiclass_classification", truth_labels, window, classes=CLASSES)
            for metric in ESTIMATED_METRICS:
                if np.isfinite(truth[metric]):
                    total += 1
                    inside += estimates[metric].lower <= truth[metric] <= estimates[metric].upper
        out.append({"rows": size, "false_alarms": breaches / windows, "coverage": inside / total})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=200, help="undrifted windows per size")
    args = parser.parse_args()
    nml = nannyml_module()

    lines = [measure(rows, args.runs, nml) for rows in args.sizes]
    print("\nSpeed (median of", args.runs, "runs; ten analysis chunks)")
    header = f"{'rows':>8} {'dw fit':>9} {'dw estimate':>11}"
    if nml is not None:
        header += f" {'nml fit':>9} {'nml estimate':>12} {'fit x':>6} {'estimate x':>10}"
    print(header)
    for line in lines:
        text = f"{line['rows']:>8} {line['fit_ours'] * 1e3:>7.0f}ms {line['estimate_ours'] * 1e3:>9.0f}ms"
        if nml is not None:
            text += (
                f" {line['fit_nml'] * 1e3:>7.0f}ms {line['estimate_nml'] * 1e3:>10.0f}ms"
                f" {line['fit_nml'] / line['fit_ours']:>6.1f} {line['estimate_nml'] / line['estimate_ours']:>10.1f}"
            )
        print(text)

    print("\nMean absolute estimation error per chunk (driftwatch / NannyML)")
    print(f"{'case':<28} {'metric':<10} {'driftwatch':>10} {'NannyML':>10}")
    for case, metric, ours, theirs in stored_accuracy():
        print(f"{case:<28} {metric:<10} {ours:>10.4f} {theirs:>10.4f}")
    for line in lines:
        for metric in METRICS:
            theirs = f"{line['mae_nml'][metric]:>10.4f}" if nml is not None else f"{'-':>10}"
            print(
                f"{'speed frame ' + str(line['rows']):<28} {metric:<10} {line['mae_ours'][metric]:>10.4f} {theirs}"
            )

    print(f"\nUndrifted windows ({args.windows} per size, calibrated model)")
    print(f"{'rows':>6} {'accuracy max_drop 0.05 breaches':>32} {'realized inside the band':>25}")
    for row in false_alarms(args.windows, [200, 500, 2000]):
        print(f"{row['rows']:>6} {row['false_alarms']:>32.3f} {row['coverage']:>25.3f}")


if __name__ == "__main__":
    main()
