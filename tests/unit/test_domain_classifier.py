"""The domain classifier's input errors and result shape (its numbers: tests/conformance)."""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftwatch.drift.domain_classifier import (
    ConstantThreshold,
    DomainClassifierResult,
    fit_domain_classifier,
)
from driftwatch.errors import CheckError, ReferenceDataError


def _frame(rows: int, seed: int = 0, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(size=rows) + shift,
            "b": rng.normal(size=rows),
            "colour": rng.choice(["red", "green", "blue"], size=rows),
        }
    )


SMALL = {"chunk_number": 2, "hyperparameters": {"n_estimators": 5, "random_state": 13}}


@pytest.mark.parametrize(
    ("columns", "options", "message"),
    [
        ([], {}, "no columns given"),
        (["a", "a"], {}, "columns repeat in ['a', 'a']"),
        (["a", "zz"], {}, "the reference lacks the column(s) ['zz']"),
        (["a"], {"treat_as_categorical": ["b"]}, "treat_as_categorical names ['b']"),
        (["a"], {"cv_folds": 1}, "cv_folds is 1; give at least 2"),
        (["a"], {"chunk_size": 0}, "chunk_size is 0"),
        (["a"], {"chunk_number": -2}, "chunk_number is -2"),
        (["a"], {"chunk_size": 10, "chunk_number": 2}, "at most one of chunk_size"),
        (["a"], {"chunk_period": "D"}, "chunk_period 'D' needs timestamp_column"),
        (["a"], {"timestamp_column": "when"}, "timestamp column 'when' is not in the data"),
        (["a"], {"hyperparameters": {"class_weight": "balanced"}}, "class_weight is 'balanced'"),
        (["a"], {"hyperparameters": {"n_estimators": 0}}, "n_estimators is 0"),
        (["a"], {"hyperparameters": {"n_jobs": 0}}, "n_jobs is 0"),
    ],
)
def test_fit_errors_name_the_field_value_and_fix(
    columns: list[str], options: dict[str, object], message: str
) -> None:
    with pytest.raises(ReferenceDataError) as error:
        fit_domain_classifier(_frame(60), columns, **options)  # type: ignore[arg-type]
    assert message in str(error.value)


def test_too_few_reference_rows_for_the_folds() -> None:
    with pytest.raises(ReferenceDataError, match=r"has 3 row\(s\), fewer than cv_folds \(5\)"):
        fit_domain_classifier(_frame(3), ["a"])


def test_too_few_rows_for_the_chunks() -> None:
    with pytest.raises(ReferenceDataError, match="cannot be split into chunks"):
        fit_domain_classifier(_frame(8), ["a"], cv_folds=2, chunk_number=20)


def test_a_column_neither_numeric_nor_categorical() -> None:
    frame = _frame(40).assign(when=pd.date_range("2026-01-01", periods=40, freq="h"))
    with pytest.raises(ReferenceDataError, match="column 'when' has dtype datetime64"):
        fit_domain_classifier(frame, ["a", "when"])


def test_window_errors() -> None:
    model = fit_domain_classifier(_frame(80), ["a", "colour"], **SMALL)  # type: ignore[arg-type]
    with pytest.raises(CheckError, match=r"lacks the column\(s\) \['colour'\]"):
        model.result(_frame(20).drop(columns="colour"))
    with pytest.raises(CheckError, match="the window has no rows"):
        model.result(_frame(20).iloc[:0])


def test_result_shape_thresholds_and_alerts() -> None:
    model = fit_domain_classifier(_frame(400), ["a", "b", "colour"], **SMALL)  # type: ignore[arg-type]
    assert (model.lower_threshold, model.upper_threshold) == (0.45, 0.65)  # NannyML's constant default
    assert model.categorical_columns == ("colour",) and model.numeric_columns == ("a", "b")
    assert len(model.reference_chunks) == 2 and model.reference_keys == ("[0:199]", "[200:399]")
    drifted = model.result(_frame(200, seed=1, shift=3.0))
    assert isinstance(drifted, DomainClassifierResult)
    assert drifted.auroc > 0.9 and drifted.alert
    assert drifted.rows == 200 and drifted.reference_rows == 400
    assert drifted.as_dict() == {
        "auroc": drifted.auroc,
        "lower_threshold": 0.45,
        "upper_threshold": 0.65,
        "alert": True,
        "rows": 200,
        "reference_rows": 400,
    }
    chunks = model.chunks(_frame(300, seed=2))
    assert [chunk.key for chunk in chunks] == ["[0:149]", "[150:299]"]
    assert [chunk.result.rows for chunk in chunks] == [150, 150]


def test_thresholds_are_held_to_the_auroc_range() -> None:
    model = fit_domain_classifier(
        _frame(100),
        ["a"],
        threshold=ConstantThreshold(lower=-0.2, upper=1.5),
        **SMALL,  # type: ignore[arg-type]
    )
    assert (model.lower_threshold, model.upper_threshold) == (0.0, 1.0)


def test_a_single_reference_chunk_has_no_auroc() -> None:
    model = fit_domain_classifier(_frame(50), ["a"], chunk_number=1, hyperparameters={"n_estimators": 5})
    assert math.isnan(model.reference_aurocs[0])
    assert not model.reference_chunks[0].result.alert
    assert model.reference_chunks[0].result.as_dict()["auroc"] is None


def test_unseen_categories_and_text_in_a_numeric_column() -> None:
    model = fit_domain_classifier(_frame(200), ["a", "colour"], chunk_number=2)
    window = _frame(100, seed=3).astype({"a": object})
    window.loc[::2, "colour"] = "purple"
    window.loc[1, "a"] = "not a number"
    result = model.result(window)
    assert result.auroc > 0.65 and result.alert  # half the window's colours are new


def test_result_takes_a_window_in_time_order_like_its_chunk() -> None:
    reference = _frame(300).assign(ts=pd.date_range("2026-01-01", periods=300, freq="h"))
    model = fit_domain_classifier(reference, ["a", "colour"], timestamp_column="ts", chunk_number=2)
    window = _frame(150, seed=4, shift=0.3).assign(ts=pd.date_range("2026-02-01", periods=150, freq="h"))
    shuffled = window.sample(frac=1.0, random_state=0)
    assert model.result(shuffled).auroc == model.result(window).auroc
    [chunk] = fit_domain_classifier(reference, ["a", "colour"], timestamp_column="ts", chunk_size=150).chunks(
        shuffled
    )
    assert chunk.result.auroc == model.result(window).auroc


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = re.split(r"\n##+ ", readme.split("\n### Domain classifier (library)\n", 1)[1], maxsplit=1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    assert re.search(r"^assert .*alert", block, re.M)  # the example asserts what it shows
    exec(compile(block, "README.md domain classifier example", "exec"), {"__name__": "__readme__"})
