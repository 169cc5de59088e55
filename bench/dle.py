"""driftwatch's regression performance estimation (DLE) vs NannyML 0.13.1, timed in the same run.

Three tables:

speed
    Fit on a reference and estimate mae and rmse per chunk (ten chunks) of an analysis frame of as
    many rows, at 10k and 100k rows by default: the generated model of
    tests/conformance/dle_cases.py (three numeric features, one categorical, an error that grows
    with ``x0`` and by region; the analysis half shifts ``x0``). Median wall time of ``--runs`` runs.
    driftwatch's loss models each run on one thread, side by side (one Python thread per core);
    NannyML's on LightGBM's default (OpenMP threads on every core). When NannyML is importable, the
    largest difference between the two sides' chunk estimates is shown. ``lightgbm`` is the CPU time
    of LightGBM's own work for the same two models (training on the reference, predicting the
    analysis rows) on one core: at equal answers, neither side can take less than that over the cores
    it runs on.
accuracy
    The mean absolute estimation error, mean over analysis chunks of |estimate - realized|, per
    metric, ours and NannyML's, on NannyML's car price example (every third row, chunks of 2,000)
    and on the generated case (chunks of 1,000): the stored cases of the conformance test.
alarms
    What an ``estimate_thresholds: {mae: {max_drop: D}}`` rule does. On undrifted windows (fresh
    draws of the reference's distribution) the share that breach: false alarms. On windows whose
    ``x0`` moved by ``shift`` standard deviations (the model's error grows with it): the share that
    breach, and the realized mae's rise for scale. Window sizes 250 and 1,000 rows, 200 windows each.

NannyML is not a driftwatch dependency; run the script with a Python that has both, e.g.

    python3.11 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml==0.13.1 statsmodels "pandas<3.1"
    NML_DISABLE_USAGE_LOGGING=1 PYTHONPATH=src:. /tmp/nml/bin/python bench/dle.py

Without NannyML (PYTHONPATH=src:. python bench/dle.py) it times and scores driftwatch alone and
says so.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

from tests.conformance.dle_cases import CASES, heteroscedastic

from driftwatch.performance.dle import DLE, losses

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peers import median_seconds, nannyml_module

FEATURES = ["x0", "x1", "x2", "region"]


def realized(metric: str, frame: pd.DataFrame) -> float:
    loss = losses(metric, frame["y_true"].to_numpy(np.float64), frame["y_pred"].to_numpy(np.float64))
    return math.sqrt(loss.mean()) if metric in ("rmse", "rmsle") else float(loss.mean())


def chunks(frame: pd.DataFrame, size: int) -> list[pd.DataFrame]:
    return [frame.iloc[start : start + size] for start in range(0, len(frame), size)]


def nml_estimates(
    nml: Any,
    reference: pd.DataFrame,
    analysis: pd.DataFrame,
    features: list[str],
    size: int,
    metrics: list[str],
) -> pd.DataFrame:
    estimator = nml.DLE(
        feature_column_names=features, y_pred="y_pred", y_true="y_true", chunk_size=size, metrics=metrics
    )
    estimator.fit(reference)
    table = estimator.estimate(analysis).to_df()
    return table[table[("chunk", "period")] == "analysis"]


def speed(rows: int, runs: int, nml: Any) -> dict[str, Any]:
    rng = np.random.default_rng(rows)
    reference = heteroscedastic(rng, rows)
    analysis = pd.concat(
        [heteroscedastic(rng, rows // 2), heteroscedastic(rng, rows - rows // 2, shift=1.0, unseen=True)],
        ignore_index=True,
    )
    size = rows // 10

    def ours() -> list[dict[str, float]]:
        dle = DLE.fit(reference, FEATURES, "y_pred", "y_true", metrics=["mae", "rmse"])
        return [{m: e.value for m, e in dle.estimate(c).items()} for c in chunks(analysis, size)]

    seconds, estimates = median_seconds(ours, runs)
    line: dict[str, Any] = {
        "rows": rows,
        "ours": seconds,
        "lightgbm": lightgbm_work(reference, analysis, runs),
    }
    if nml is None:
        return line
    theirs_seconds, table = median_seconds(
        lambda: nml_estimates(nml, reference, analysis, FEATURES, size, ["mae", "rmse"]), runs
    )
    diff = max(
        abs(e[m] - t) / abs(t)
        for m in ("mae", "rmse")
        for e, t in zip(estimates, table[(m, "value")], strict=True)
    )
    return line | {"nml": theirs_seconds, "max_rel": diff}


def lightgbm_work(reference: pd.DataFrame, analysis: pd.DataFrame, runs: int) -> float:
    """CPU seconds of LightGBM's own work in one fit and estimate of mae and rmse, whoever calls it: two
    loss models of LightGBM's defaults (100 trees) trained on the reference on one thread, and their
    predictions of the analysis rows; the floor under either side's time, at equal answers, is this
    divided by the cores that run it."""
    import lightgbm

    def matrix(frame: pd.DataFrame) -> np.ndarray:
        region = pd.Index(sorted(reference["region"].dropna().unique())).get_indexer(frame["region"]) + 1
        columns = [frame[c].to_numpy(np.float64) for c in ("x0", "x1", "x2")]
        return np.column_stack([*columns, region.astype(np.float64), frame["y_pred"].to_numpy(np.float64)])

    params = {"objective": "regression", "verbose": -1, "num_threads": 1}
    train, window = matrix(reference), matrix(analysis)
    loss = np.abs(reference["y_true"].to_numpy(np.float64) - reference["y_pred"].to_numpy(np.float64))

    def one_model() -> Any:
        data = lightgbm.Dataset(train, loss, categorical_feature=[3], params=params)
        return lightgbm.train(params, data, num_boost_round=100).predict(window, num_threads=1)

    return 2 * median_seconds(one_model, runs)[0]


def accuracy(nml: Any) -> list[dict[str, Any]]:
    lines = []
    for case in CASES:
        reference, analysis = case.build()
        dle = DLE.fit(reference, case.features, case.prediction, case.label, metrics=case.metrics)
        parts = chunks(analysis, case.chunk_size)
        table = (
            None
            if nml is None
            else nml_estimates(nml, reference, analysis, case.features, case.chunk_size, list(case.metrics))
        )
        for metric in case.metrics:
            truth = np.array([realized(metric, c) for c in parts])
            ours = np.array([dle.estimate(c)[metric].value for c in parts])
            line: dict[str, Any] = {
                "case": case.name,
                "metric": metric,
                "realized": float(truth.mean()),
                "ours": float(np.abs(ours - truth).mean()),
            }
            if table is not None:
                line["nml"] = float(np.abs(table[(metric, "value")].to_numpy() - truth).mean())
            lines.append(line)
    return lines


def alarms(windows: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(2026)
    reference = heteroscedastic(rng, 20_000)
    dle = DLE.fit(reference, FEATURES, "y_pred", "y_true", metrics=["mae"])
    base = dle.reference["mae"]
    lines = []
    for rows in (250, 1000):
        for shift in (0.0, 0.25, 0.5, 1.0):
            values, truths = [], []
            for _ in range(windows):
                window = heteroscedastic(rng, rows, shift=shift)
                values.append(dle.estimate(window)["mae"].value)
                truths.append(realized("mae", window))
            estimates = np.array(values)
            line = {"rows": rows, "shift": shift, "realized_rise": float(np.mean(truths)) / base - 1}
            for drop in (0.05, 0.10, 0.20):
                line[f"breach_{drop:.2f}"] = float(np.mean(estimates > base * (1 + drop)))
                line[f"realized_{drop:.2f}"] = float(np.mean(np.array(truths) > base * (1 + drop)))
            lines.append(line)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--windows", type=int, default=200)
    parser.add_argument("--only", choices=["speed", "accuracy", "alarms"], nargs="+")
    args = parser.parse_args()
    nml = nannyml_module(object_strings=True)
    warnings.simplefilter("ignore")
    only = set(args.only or ["speed", "accuracy", "alarms"])

    if "speed" in only:
        print(f"\nspeed: fit + estimate mae and rmse over ten chunks, median of {args.runs}")
        print("(lightgbm: CPU time of LightGBM's own training and prediction of the two models on one core)")
        print(
            f"{'rows':>8} {'driftwatch':>11} {'lightgbm':>9}"
            + (f" {'NannyML':>9} {'x':>6} {'max rel diff':>12}" if nml else "")
        )
        for rows in args.sizes:
            line = speed(rows, args.runs, nml)
            text = f"{rows:>8} {line['ours']:>10.2f}s {line['lightgbm']:>8.2f}s"
            if nml is not None:
                text += f" {line['nml']:>8.2f}s {line['nml'] / line['ours']:>6.1f} {line['max_rel']:>12.1e}"
            print(text, flush=True)

    if "accuracy" in only:
        print("\naccuracy: mean |estimate - realized| over the analysis chunks")
        print(
            f"{'case':<16} {'metric':<6} {'realized':>10} {'driftwatch':>11}"
            + (f" {'NannyML':>10}" if nml else "")
        )
        for line in accuracy(nml):
            text = f"{line['case']:<16} {line['metric']:<6} {line['realized']:>10.4g} {line['ours']:>11.4g}"
            if nml is not None:
                text += f" {line['nml']:>10.4g}"
            print(text, flush=True)

    if "alarms" in only:
        print(f"\nalarms: share of {args.windows} windows whose estimated (realized) mae breaches max_drop D")
        print(
            f"{'rows':>6} {'x0 shift':>8} {'real rise':>9}"
            + "".join(f" {'D=' + f'{d:.2f}':>15}" for d in (0.05, 0.10, 0.20))
        )
        for line in alarms(args.windows):
            text = f"{line['rows']:>6} {line['shift']:>8.2f} {line['realized_rise']:>+8.1%}"
            for d in (0.05, 0.10, 0.20):
                text += f" {line[f'breach_{d:.2f}']:>6.1%} ({line[f'realized_{d:.2f}']:>5.1%})"
            print(text, flush=True)


if __name__ == "__main__":
    main()
