"""Write NannyML's numbers for the multivariate drift cases to data/multivariate_nannyml.json.

NannyML is not a dependency of driftwatch (it pulls some thirty packages, among them lightgbm, FLAML
and cloud file systems, and imports statsmodels without declaring it), so its numbers are computed
once, here, and stored; test_multivariate_nannyml.py compares driftwatch with the stored numbers.
Run it from the repository root in a separate environment:

    python3.11 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml==0.13.1 statsmodels "pandas<3.1"
    NML_DISABLE_USAGE_LOGGING=1 /tmp/nml/bin/python -m tests.conformance.regenerate_multivariate_fixture
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

import nannyml

from tests.conformance.multivariate_cases import CASES, Case, digest

FIXTURE = Path(__file__).parent / "data" / "multivariate_nannyml.json"


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def _expected(case: Case) -> dict[str, Any]:
    reference, analysis = case.build()
    options = dict(case.options)
    timestamp = options.pop("timestamp_column", None)
    calculator = nannyml.DataReconstructionDriftCalculator(
        column_names=case.columns, timestamp_column_name=timestamp, **options
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few chunks" and friends
        calculator.fit(reference)
        table = calculator.calculate(analysis).to_df()
    pca = calculator._pca

    def period(name: str) -> dict[str, Any]:
        rows = table[table[("chunk", "period")] == name]
        return {
            "keys": [str(key) for key in rows[("chunk", "key")]],
            "rows": [
                int(end - start + 1)
                for start, end in zip(
                    rows[("chunk", "start_index")], rows[("chunk", "end_index")], strict=True
                )
            ],
            "errors": [_number(v) for v in rows[("reconstruction_error", "value")]],
            "sampling_errors": [_number(v) for v in rows[("reconstruction_error", "sampling_error")]],
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
        "lower_threshold": _number(calculator.lower_threshold_value),
        "upper_threshold": _number(calculator.upper_threshold_value),
        "reference": period("reference"),
        "analysis": period("analysis"),
    }


def main() -> None:
    payload = {
        "generated_by": "tests/conformance/regenerate_multivariate_fixture.py",
        "versions": {
            name: version(name)
            for name in ["nannyml", "scikit-learn", "category-encoders", "pandas", "numpy"]
        },
        "cases": [_expected(case) for case in CASES],
    }
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(payload['cases'])} cases to {FIXTURE}")


if __name__ == "__main__":
    main()
