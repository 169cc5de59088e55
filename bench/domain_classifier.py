"""driftwatch's domain classifier vs NannyML 0.13.1's DomainClassifierCalculator, timed in the same run.

Frames of 20 columns (bench/multivariate.py's: 16 numeric correlated through 4 latent factors,
2% missing in two; 4 categorical) at 10k and 100k rows by default; the analysis frame has as many
rows as the reference and drifts in its second half (a broken correlation and a shift). Both sides
use NannyML's defaults (LightGBM's 100 trees, 5 stratified folds, ten chunks, thresholds 0.45 and
0.65). "fit" is fitting on the reference, the AUROC of each of its chunks included; "evaluate"
scores the analysis frame chunk by chunk. Wall time of ``--runs`` runs each (median), and the
ratio NannyML / driftwatch. With NannyML importable the script also checks that every chunk's
AUROC agrees (max absolute difference) and every alert is the same.

False alarms: the reference's chunks and the analysis frame's first half are undrifted; the table
counts driftwatch's alerts among them (NannyML's are the same when the alerts column says so).
Before the table, ``--null-windows`` (40) fresh undrifted windows of a tenth of ``--null-rows``
(10k) rows each are scored against that reference, for a false alarm rate on more windows.

The script sets OMP_WAIT_POLICY=passive before LightGBM loads, unless set: without it NannyML's
models (two OpenMP threads each) spin against other processes on a shared machine and run up to a
hundred times slower, which would flatter driftwatch. Run it with a Python that has NannyML:

    OMP_WAIT_POLICY=passive NML_DISABLE_USAGE_LOGGING=1 PYTHONPATH=src /tmp/nml/bin/python bench/domain_classifier.py

Without NannyML it times driftwatch alone and says so.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "passive")
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import argparse
import statistics
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from driftwatch.drift.domain_classifier import fit_domain_classifier
from multivariate import CATEGORICAL, NUMERIC, frame
from peers import median_seconds, nannyml_module


def measure(rows: int, runs: int, nml: Any, columns: list[str]) -> dict[str, Any]:
    reference, analysis = frame(rows, 1, drift=False), frame(rows, 2, drift=True)
    fit_ours, model = median_seconds(lambda: fit_domain_classifier(reference, columns), runs)
    eval_ours, chunks = median_seconds(lambda: model.chunks(analysis), runs)
    undrifted = list(model.reference_chunks) + [c for c in chunks if c.end_index < rows // 2]
    drifted = [c for c in chunks if c.start_index >= rows // 2]
    line: dict[str, Any] = {
        "rows": rows,
        "fit_ours": fit_ours,
        "eval_ours": eval_ours,
        "false": sum(c.result.alert for c in undrifted),
        "undrifted": len(undrifted),
        "caught": sum(c.result.alert for c in drifted),
        "drifted": len(drifted),
        "aurocs": [round(c.result.auroc, 4) for c in chunks],
    }
    if nml is None:
        return line

    def fit_theirs() -> Any:
        return nml.DomainClassifierCalculator(feature_column_names=columns).fit(reference)

    fit_nml, calculator = median_seconds(fit_theirs, runs)
    eval_nml, result = median_seconds(lambda: calculator.calculate(analysis).to_df(), runs)
    period = result[("chunk", "period")]
    theirs = np.concatenate(
        [
            result[period == "reference"][("domain_classifier_auroc", "value")].to_numpy(),
            result[period == "analysis"][("domain_classifier_auroc", "value")].to_numpy(),
        ]
    )
    ours = np.concatenate([model.reference_aurocs, [c.result.auroc for c in chunks]])
    alerts_theirs = list(result[("domain_classifier_auroc", "alert")])
    alerts_ours = [c.result.alert for c in model.reference_chunks] + [c.result.alert for c in chunks]
    return line | {
        "fit_nml": fit_nml,
        "eval_nml": eval_nml,
        "max_abs": float(np.max(np.abs(ours - theirs))),
        "alerts_equal": alerts_ours == alerts_theirs,
    }


def null_windows(rows: int, windows: int, columns: list[str]) -> tuple[int, int, list[float]]:
    """driftwatch's alerts on ``windows`` undrifted windows of a tenth of ``rows`` (the chunk size)."""
    model = fit_domain_classifier(frame(rows, 1, drift=False), columns)
    size = rows // 10
    fresh = frame(size * windows, 3, drift=False)
    results = [model.result(fresh.iloc[i * size : (i + 1) * size]) for i in range(windows)]
    return sum(r.alert for r in results), windows, [r.auroc for r in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument(
        "--null-windows", type=int, default=40, help="undrifted windows for the false alarm rate"
    )
    parser.add_argument("--null-rows", type=int, default=10_000, help="reference rows for those")
    args = parser.parse_args()
    nml = nannyml_module()
    columns = [f"num_{j:02d}" for j in range(NUMERIC)] + [f"cat_{j:02d}" for j in range(CATEGORICAL)]
    warnings.simplefilter("ignore")
    print(f"OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, {os.cpu_count()} cores")
    if args.null_windows:
        alarms, windows, aurocs = null_windows(args.null_rows, args.null_windows, columns)
        print(
            f"false alarms on {windows} undrifted windows of {args.null_rows // 10} rows against a reference of "
            f"{args.null_rows}: {alarms} ({alarms / windows:.1%}); AUROC {min(aurocs):.4f}..{max(aurocs):.4f}, "
            f"mean {statistics.mean(aurocs):.4f}",
            flush=True,
        )
    lines = []
    for rows in args.sizes:
        lines.append(measure(rows, args.runs, nml, columns))
        print(lines[-1], flush=True)

    print(
        f"\n{NUMERIC + CATEGORICAL} columns ({NUMERIC} numeric, {CATEGORICAL} categorical), median of {args.runs}"
    )
    head = f"{'rows':>8} {'dw fit':>8} {'dw eval':>8} {'false alarms':>13} {'caught':>7}"
    if nml is not None:
        head += f" {'nml fit':>8} {'nml eval':>8} {'fit x':>6} {'eval x':>6} {'max |diff|':>10} {'alerts':>7}"
    print(head)
    for line in lines:
        text = (
            f"{line['rows']:>8} {line['fit_ours']:>7.1f}s {line['eval_ours']:>7.1f}s"
            f" {line['false']:>6}/{line['undrifted']:<6} {line['caught']:>3}/{line['drifted']:<3}"
        )
        if nml is not None:
            text += (
                f" {line['fit_nml']:>7.1f}s {line['eval_nml']:>7.1f}s"
                f" {line['fit_nml'] / line['fit_ours']:>6.1f} {line['eval_nml'] / line['eval_ours']:>6.1f}"
                f" {line['max_abs']:>10.1e} {'same' if line['alerts_equal'] else 'DIFF':>7}"
            )
        print(text)


if __name__ == "__main__":
    main()
