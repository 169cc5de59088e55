"""driftwatch's multivariate drift (PCA reconstruction error) vs NannyML 0.13.1, timed in the same run.

Frames of 20 columns (16 numeric, correlated through 4 latent factors, with 2% missing values in
two of them; 4 categorical, one following a numeric column) at 10k and 100k rows by default; the
analysis frame has as many rows as the reference and drifts in its second half (a broken
correlation and a shift). Both sides use the defaults (0.65 explained variance, ten chunks,
mean -+ 3 std). "fit" is fitting on the reference, thresholds from its chunks included;
"evaluate" scores the analysis frame chunk by chunk (driftwatch's ``model.chunks``, NannyML's
``calculate``). Median wall time of ``--runs`` runs each, and the ratio NannyML / driftwatch. When
NannyML is importable the script also checks that every chunk's error agrees to 1e-6 relative and
every alert is the same.

NannyML is not a driftwatch dependency; run the script with a Python that has both, e.g.

    python3.11 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml==0.13.1 statsmodels "pandas<3.1"
    NML_DISABLE_USAGE_LOGGING=1 PYTHONPATH=src /tmp/nml/bin/python bench/multivariate.py

Without NannyML it times driftwatch alone and says so.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftwatch.drift import fit_reconstruction_drift

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import median_seconds, nannyml_module

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")
NUMERIC = 16
CATEGORICAL = 4


def frame(rows: int, seed: int, drift: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    loadings = np.random.default_rng(99).normal(size=(4, NUMERIC))
    values = rng.normal(size=(rows, 4)) @ loadings + rng.normal(scale=0.6, size=(rows, NUMERIC))
    data = pd.DataFrame({f"num_{j:02d}": values[:, j] for j in range(NUMERIC)})
    data["cat_00"] = np.array(["low", "mid", "high"])[np.digitize(data["num_00"].to_numpy(), [-1.0, 1.0])]
    for j in range(1, CATEGORICAL):
        data[f"cat_{j:02d}"] = rng.choice([f"v{k}" for k in range(3 + 2 * j)], size=rows)
    for column in ("num_03", "num_07"):
        data.loc[rng.random(rows) < 0.02, column] = np.nan
    if drift:
        half = rows // 2
        tail = data["num_01"].to_numpy()[half:].copy()
        rng.shuffle(tail)
        data.loc[half:, "num_01"] = tail
        data.loc[half:, "num_05"] += 0.5
    return data


def measure(rows: int, runs: int, nml: Any, columns: list[str]) -> dict[str, Any]:
    """Median times of both sides at ``rows`` rows, and how far apart their numbers are."""
    reference, analysis = frame(rows, 1, drift=False), frame(rows, 2, drift=True)
    fit_ours, model = median_seconds(lambda: fit_reconstruction_drift(reference, columns), runs)
    eval_ours, chunks = median_seconds(lambda: model.chunks(analysis), runs)
    line: dict[str, Any] = {"rows": rows, "fit_ours": fit_ours, "eval_ours": eval_ours}
    if nml is None:
        return line

    def fit_theirs() -> Any:
        return nml.DataReconstructionDriftCalculator(column_names=columns).fit(reference)

    fit_nml, calculator = median_seconds(fit_theirs, runs)
    eval_nml, result = median_seconds(lambda: calculator.calculate(analysis).to_df(), runs)
    theirs = result[result[("chunk", "period")] == "analysis"]
    errors = theirs[("reconstruction_error", "value")].to_numpy()
    ours = np.array([chunk.result.error for chunk in chunks])
    return line | {
        "fit_nml": fit_nml,
        "eval_nml": eval_nml,
        "max_rel": float(np.max(np.abs(ours - errors) / np.abs(errors))),
        "alerts_equal": [c.result.alert for c in chunks] == list(theirs[("reconstruction_error", "alert")]),
        "alerts": sum(c.result.alert for c in chunks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    nml = nannyml_module()
    columns = [f"num_{j:02d}" for j in range(NUMERIC)] + [f"cat_{j:02d}" for j in range(CATEGORICAL)]
    warnings.simplefilter("ignore")

    lines = [measure(rows, args.runs, nml, columns) for rows in args.sizes]

    print(
        f"\n{NUMERIC + CATEGORICAL} columns ({NUMERIC} numeric, {CATEGORICAL} categorical), median of {args.runs}"
    )
    head = f"{'rows':>8} {'dw fit':>9} {'dw eval':>9}"
    if nml is not None:
        head += (
            f" {'nml fit':>9} {'nml eval':>9} {'fit x':>7} {'eval x':>7} {'max rel diff':>12} {'alerts':>10}"
        )
    print(head)
    for line in lines:
        text = f"{line['rows']:>8} {line['fit_ours'] * 1e3:>7.1f}ms {line['eval_ours'] * 1e3:>7.1f}ms"
        if nml is not None:
            text += (
                f" {line['fit_nml'] * 1e3:>7.1f}ms {line['eval_nml'] * 1e3:>7.1f}ms"
                f" {line['fit_nml'] / line['fit_ours']:>7.1f} {line['eval_nml'] / line['eval_ours']:>7.1f}"
                f" {line['max_rel']:>12.1e} {str(line['alerts']) + (' same' if line['alerts_equal'] else ' DIFF'):>10}"
            )
        print(text)


if __name__ == "__main__":
    main()
