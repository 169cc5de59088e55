"""Write NannyML's numbers for the domain classifier cases to data/domain_classifier_nannyml.json.

NannyML is not a dependency of driftwatch (see regenerate_multivariate_fixture.py), so its numbers
are computed once, here, and stored; test_domain_classifier_nannyml.py compares driftwatch with
them. The script also writes data/car_loan_slice.csv.gz, the rows of NannyML's synthetic car loan
data set the car_loan case uses. Run it from the repository root in NannyML's environment:

    OMP_WAIT_POLICY=passive NML_DISABLE_USAGE_LOGGING=1 \
        /path/to/nml/bin/python -m tests.conformance.regenerate_domain_classifier_fixture

OMP_WAIT_POLICY=passive changes no number; it keeps LightGBM's two threads per model from spinning
against each other on a busy machine (a hundred times slower there).
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
import pandas as pd

from tests.conformance.domain_classifier_cases import CAR_LOAN, CASES
from tests.conformance.multivariate_cases import Case, digest

FIXTURE = Path(__file__).parent / "data" / "domain_classifier_nannyml.json"


def _write_car_loan() -> None:
    reference, analysis, _ = nannyml.load_synthetic_car_loan_dataset()
    columns = [
        "car_value",
        "salary_range",
        "debt_to_income_ratio",
        "loan_length",
        "repaid_loan_on_prev_car",
        "size_of_downpayment",
        "driver_tenure",
        "timestamp",
    ]
    # 3000 reference rows; 4000 analysis rows around the drift that starts at its row 25000
    frame = pd.concat(
        [
            reference[columns].iloc[:3000].assign(period="reference"),
            analysis[columns].iloc[23000:27000].assign(period="analysis"),
        ],
        ignore_index=True,
    )
    frame.to_csv(CAR_LOAN, index=False, compression={"method": "gzip", "mtime": 0})


def _number(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def calculator_options(options: dict[str, Any]) -> dict[str, Any]:
    """The case's options in NannyML's names."""
    options = dict(options)
    translated: dict[str, Any] = {"timestamp_column_name": options.pop("timestamp_column", None)}
    if "cv_folds" in options:
        translated["cv_folds_num"] = options.pop("cv_folds")
    if options.pop("threshold", None) == "std":
        translated["threshold"] = nannyml.thresholds.StandardDeviationThreshold()
    return translated | options


def _expected(case: Case) -> dict[str, Any]:
    reference, analysis = case.build()
    calculator = nannyml.DomainClassifierCalculator(
        feature_column_names=case.columns, **calculator_options(case.options)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "too few chunks" and friends
        calculator.fit(reference)
        table = calculator.calculate(analysis).to_df()

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
            "aurocs": [_number(v) for v in rows[("domain_classifier_auroc", "value")]],
            "alerts": [bool(v) for v in rows[("domain_classifier_auroc", "alert")]],
        }

    return {
        "name": case.name,
        "reference_digest": digest(reference),
        "analysis_digest": digest(analysis),
        "continuous_columns": list(calculator.continuous_column_names),
        "categorical_columns": list(calculator.categorical_column_names),
        "lower_threshold": _number(calculator.lower_threshold_value),
        "upper_threshold": _number(calculator.upper_threshold_value),
        "reference": period("reference"),
        "analysis": period("analysis"),
    }


def main() -> None:
    _write_car_loan()
    payload = {
        "generated_by": "tests/conformance/regenerate_domain_classifier_fixture.py",
        "versions": {
            name: version(name) for name in ["nannyml", "lightgbm", "scikit-learn", "pandas", "numpy"]
        },
        "cases": [_expected(case) for case in CASES],
    }
    FIXTURE.parent.mkdir(exist_ok=True)
    FIXTURE.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {len(payload['cases'])} cases to {FIXTURE}")


if __name__ == "__main__":
    main()
