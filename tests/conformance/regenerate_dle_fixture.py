"""Write NannyML's DLE numbers for the cases of dle_cases.py to data/dle_nannyml.json.

NannyML is not a dependency of driftwatch (see regenerate_multivariate_fixture.py), so its numbers
are computed once, here, and stored; test_dle_nannyml.py compares driftwatch with them. The car price
rows come from NannyML's package and are written to data/car_price_nannyml.parquet first (every third
row of its reference and of its analysis data joined with the analysis targets). Run it from the
repository root in a separate environment (lightgbm comes with NannyML):

    python3.11 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml==0.13.1 statsmodels "pandas<3.1"
    NML_DISABLE_USAGE_LOGGING=1 /tmp/nml/bin/python -m tests.conformance.regenerate_dle_fixture

NannyML 0.13.1 predates pandas 3's text dtype (its categorical coding reshapes the column, which an
Arrow string array cannot): text is read as object columns here, as NannyML expects.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import pandas as pd

pd.set_option("future.infer_string", False)

import nannyml  # noqa: E402  (after the pandas option above)

from tests.conformance.dle_cases import CAR_FEATURES, CAR_PRICE_FILE, CASES, DLECase, digest  # noqa: E402

FIXTURE = Path(__file__).parent / "data" / "dle_nannyml.json"


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def write_car_price() -> None:
    reference, analysis, targets = nannyml.load_synthetic_car_price_dataset()
    analysis = analysis.merge(targets, on="id")
    columns = [*CAR_FEATURES, "y_pred", "y_true"]
    frame = pd.concat(
        [
            reference[columns].iloc[::3].assign(period="reference"),
            analysis[columns].iloc[::3].assign(period="analysis"),
        ],
        ignore_index=True,
    )
    frame.to_parquet(CAR_PRICE_FILE, index=False, compression="zstd")


def _expected(case: DLECase) -> dict[str, Any]:
    reference, analysis = case.build()
    estimator = nannyml.DLE(
        feature_column_names=case.features,
        y_pred=case.prediction,
        y_true=case.label,
        chunk_size=case.chunk_size,
        metrics=list(case.metrics),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimator.fit(reference)
        table = estimator.estimate(analysis).to_df()

    def period(name: str) -> dict[str, Any]:
        rows = table[table[("chunk", "period")] == name]
        out: dict[str, Any] = {
            "rows": [
                int(end - start + 1)
                for start, end in zip(
                    rows[("chunk", "start_index")], rows[("chunk", "end_index")], strict=True
                )
            ]
        }
        for metric in case.metrics:
            out[metric] = {
                key: [_number(v) for v in rows[(metric, column)]]
                for key, column in (
                    ("estimated", "value"),
                    ("realized", "realized"),
                    ("sampling_error", "sampling_error"),
                    ("lower", "lower_confidence_boundary"),
                    ("upper", "upper_confidence_boundary"),
                )
            }
        return out

    return {
        "name": case.name,
        "reference_digest": digest(reference),
        "analysis_digest": digest(analysis),
        "categorical_columns": list(estimator.metrics[0].categorical_column_names),
        "reference": period("reference"),
        "analysis": period("analysis"),
    }


def main() -> None:
    write_car_price()
    payload = {
        "generated_by": "tests/conformance/regenerate_dle_fixture.py",
        "versions": {
            name: version(name) for name in ("nannyml", "lightgbm", "scikit-learn", "numpy", "pandas")
        },
        "cases": [_expected(case) for case in CASES],
    }
    FIXTURE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {FIXTURE}")


if __name__ == "__main__":
    main()
