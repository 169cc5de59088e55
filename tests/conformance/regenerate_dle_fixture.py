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

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import pandas as pd

pd.set_option("future.infer_string", False)

import nannyml  # noqa: E402  (after the pandas option above)

from tests.conformance.dle_cases import CAR_FEATURES, CAR_PRICE_FILE, CASES, DLECase  # noqa: E402
from tests.conformance.oracle_cases import (  # noqa: E402
    chunk_rows,
    digest,
    join_periods,
    nannyml_table,
    number,
    period_rows,
    write_fixture,
)

FIXTURE = Path(__file__).parent / "data" / "dle_nannyml.json"


def write_car_price() -> None:
    reference, analysis, targets = nannyml.load_synthetic_car_price_dataset()
    analysis = analysis.merge(targets, on="id")
    columns = [*CAR_FEATURES, "y_pred", "y_true"]
    frame = join_periods(reference[columns].iloc[::3], analysis[columns].iloc[::3])
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
    table = nannyml_table(estimator, reference, analysis)

    def period(name: str) -> dict[str, Any]:
        rows = period_rows(table, name)
        out: dict[str, Any] = {"rows": chunk_rows(rows)}
        for metric in case.metrics:
            out[metric] = {
                key: [number(v) for v in rows[(metric, column)]]
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
    write_fixture(
        FIXTURE,
        "tests/conformance/regenerate_dle_fixture.py",
        ("nannyml", "lightgbm", "scikit-learn", "numpy", "pandas"),
        (_expected(case) for case in CASES),
    )


if __name__ == "__main__":
    main()
