"""Write NannyML's numbers for the multivariate drift cases to data/multivariate_nannyml.json.

NannyML is not a dependency of driftwatch (it pulls some thirty packages, among them lightgbm, FLAML
and cloud file systems, and imports statsmodels without declaring it), so its numbers are computed
once, here, and stored; test_multivariate_nannyml.py compares driftwatch with the stored numbers.
Run it from the repository root in a separate environment:

    python3.11 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml==0.13.1 statsmodels "pandas<3.1"
    NML_DISABLE_USAGE_LOGGING=1 /tmp/nml/bin/python -m tests.conformance.regenerate_multivariate_fixture
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml

from tests.conformance.multivariate_cases import CASES
from tests.conformance.oracle_cases import (
    Case,
    chunk_rows,
    digest,
    nannyml_table,
    number,
    period_rows,
    write_fixture,
)

FIXTURE = Path(__file__).parent / "data" / "multivariate_nannyml.json"


def _expected(case: Case) -> dict[str, Any]:
    reference, analysis = case.build()
    options = dict(case.options)
    timestamp = options.pop("timestamp_column", None)
    calculator = nannyml.DataReconstructionDriftCalculator(
        column_names=case.columns, timestamp_column_name=timestamp, **options
    )
    table = nannyml_table(calculator, reference, analysis)
    pca = calculator._pca

    def period(name: str) -> dict[str, Any]:
        rows = period_rows(table, name)
        return {
            "keys": [str(key) for key in rows[("chunk", "key")]],
            "rows": chunk_rows(rows),
            "errors": [number(v) for v in rows[("reconstruction_error", "value")]],
            "sampling_errors": [number(v) for v in rows[("reconstruction_error", "sampling_error")]],
            "alerts": [bool(v) for v in rows[("reconstruction_error", "alert")]],
        }

    return {
        "name": case.name,
        "reference_digest": digest(reference),
        "analysis_digest": digest(analysis),
        "continuous_columns": list(calculator.continuous_column_names),
        "categorical_columns": list(calculator.categorical_column_names),
        "n_components": int(pca.n_components_),
        "explained_variance": float(pca.explained_variance_ratio_.sum()),
        "lower_threshold": number(calculator.lower_threshold_value),
        "upper_threshold": number(calculator.upper_threshold_value),
        "reference": period("reference"),
        "analysis": period("analysis"),
    }


def main() -> None:
    write_fixture(
        FIXTURE,
        "tests/conformance/regenerate_multivariate_fixture.py",
        ["nannyml", "scikit-learn", "category-encoders", "pandas", "numpy"],
        (_expected(case) for case in CASES),
    )


if __name__ == "__main__":
    main()
