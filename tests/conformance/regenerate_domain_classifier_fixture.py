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

import os
from pathlib import Path
from typing import Any

os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")

import nannyml

from tests.conformance.domain_classifier_cases import CAR_LOAN, CAR_LOAN_FEATURES, CASES
from tests.conformance.oracle_cases import (
    Case,
    chunk_rows,
    digest,
    join_periods,
    nannyml_table,
    number,
    period_rows,
    write_fixture,
)

FIXTURE = Path(__file__).parent / "data" / "domain_classifier_nannyml.json"


def _write_car_loan() -> None:
    reference, analysis, _ = nannyml.load_synthetic_car_loan_dataset()
    columns = [*CAR_LOAN_FEATURES, "timestamp"]
    # 3000 reference rows; 4000 analysis rows around the drift that starts at its row 25000
    frame = join_periods(reference[columns].iloc[:3000], analysis[columns].iloc[23000:27000])
    frame.to_csv(CAR_LOAN, index=False, compression={"method": "gzip", "mtime": 0})


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
    table = nannyml_table(calculator, reference, analysis)

    def period(name: str) -> dict[str, Any]:
        rows = period_rows(table, name)
        return {
            "keys": [str(key) for key in rows[("chunk", "key")]],
            "rows": chunk_rows(rows),
            "aurocs": [number(v) for v in rows[("domain_classifier_auroc", "value")]],
            "alerts": [bool(v) for v in rows[("domain_classifier_auroc", "alert")]],
        }

    return {
        "name": case.name,
        "reference_digest": digest(reference),
        "analysis_digest": digest(analysis),
        "continuous_columns": list(calculator.continuous_column_names),
        "categorical_columns": list(calculator.categorical_column_names),
        "lower_threshold": number(calculator.lower_threshold_value),
        "upper_threshold": number(calculator.upper_threshold_value),
        "reference": period("reference"),
        "analysis": period("analysis"),
    }


def main() -> None:
    _write_car_loan()
    write_fixture(
        FIXTURE,
        "tests/conformance/regenerate_domain_classifier_fixture.py",
        ["nannyml", "lightgbm", "scikit-learn", "pandas", "numpy"],
        (_expected(case) for case in CASES),
    )


if __name__ == "__main__":
    main()
