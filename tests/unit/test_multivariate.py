"""Multivariate drift (``driftwatch.drift.multivariate``): what it catches, its inputs and its errors.

Its numbers are checked against NannyML in tests/conformance/test_multivariate_nannyml.py; these
tests pin the behaviour around them.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import driftwatch
from driftwatch.drift import ConstantThreshold, StandardDeviationThreshold, fit_reconstruction_drift
from driftwatch.errors import CheckError, ReferenceDataError


def _correlated(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=n)
    return pd.DataFrame(
        {
            "income": latent + rng.normal(scale=0.3, size=n),
            "spend": latent + rng.normal(scale=0.3, size=n),
            "age": rng.normal(size=n),
            "segment": rng.choice(["a", "b", "c"], size=n),
        }
    )


def test_a_broken_correlation_alerts_where_per_feature_tests_see_nothing() -> None:
    reference = _correlated(0, 5000)
    window = _correlated(1, 2000)
    # each column keeps its distribution; only income and spend stop moving together
    window["spend"] = np.random.default_rng(2).permutation(window["spend"].to_numpy())

    per_feature = driftwatch.check(reference, window)
    assert per_feature.drifted == []

    model = fit_reconstruction_drift(reference, ["income", "spend", "age", "segment"], chunk_size=500)
    result = model.result(window)
    assert model.upper_threshold is not None and result.error > model.upper_threshold
    assert result.alert
    assert not model.result(_correlated(3, 2000)).alert


def test_result_fields() -> None:
    model = fit_reconstruction_drift(_correlated(0, 3000), ["income", "spend", "age", "segment"])
    result = model.result(_correlated(1, 500))
    assert len(model.reference_errors) == 10 and len(model.reference_keys) == 10  # the default chunking
    assert result.rows == 500
    assert result.n_components == model.n_components == model.components.shape[1]
    assert 0.65 < result.explained_variance <= 1.0
    assert result.error == pytest.approx(model.error(_correlated(1, 500)))
    assert result.error == pytest.approx(float(model.row_errors(_correlated(1, 500)).mean()))
    assert model.numeric_columns == ("income", "spend", "age")
    assert model.categorical_columns == ("segment",)
    errors = np.asarray(model.reference_errors)
    assert model.upper_threshold == pytest.approx(errors.mean() + 3 * errors.std())
    assert json.loads(json.dumps(result.as_dict()))["rows"] == 500


def test_missing_values_take_the_reference_mean_and_mode() -> None:
    reference = _correlated(0, 3000)
    model = fit_reconstruction_drift(reference, ["income", "spend", "age", "segment"])
    window = _correlated(1, 200)
    holes = window.copy()
    holes.loc[::3, "income"] = np.nan
    holes.loc[::4, "segment"] = None
    filled = window.copy()
    filled.loc[::3, "income"] = reference["income"].mean()
    filled.loc[::4, "segment"] = reference["segment"].mode().min()
    np.testing.assert_allclose(model.row_errors(holes), model.row_errors(filled), rtol=1e-12)


def test_an_unseen_category_encodes_as_never_seen() -> None:
    model = fit_reconstruction_drift(_correlated(0, 3000), ["income", "spend", "age", "segment"])
    window = _correlated(1, 200)
    unseen = window.assign(segment="z")
    assert model.error(unseen) > model.error(window)


def test_thresholds() -> None:
    reference = _correlated(0, 3000)
    columns = ["income", "spend", "age"]
    fixed = fit_reconstruction_drift(reference, columns, threshold=ConstantThreshold(lower=-1.0, upper=0.5))
    assert fixed.lower_threshold is None  # at or below 0: no lower threshold, as in NannyML
    assert fixed.upper_threshold == 0.5
    wide = fit_reconstruction_drift(reference, columns, threshold=StandardDeviationThreshold(None, 100.0))
    assert wide.lower_threshold is None
    assert not wide.result(_correlated(1, 300)).alert
    one_sided = fit_reconstruction_drift(reference, columns, threshold=ConstantThreshold(upper=1e-9))
    assert one_sided.result(_correlated(1, 300)).alert


def test_n_components_as_a_count() -> None:
    model = fit_reconstruction_drift(_correlated(0, 2000), ["income", "spend", "age"], n_components=3)
    assert model.n_components == 3
    assert model.explained_variance == pytest.approx(1.0)
    assert model.error(_correlated(1, 100)) == pytest.approx(0.0, abs=1e-9)  # every direction kept


def test_chunks_split_like_nannyml() -> None:
    reference = _correlated(0, 2500)
    model = fit_reconstruction_drift(reference, ["income", "spend", "age"], chunk_size=1000)
    assert model.reference_keys == ("[0:999]", "[1000:1999]", "[2000:2499]")  # the short last chunk kept
    chunks = model.chunks(_correlated(1, 1200))
    assert [(chunk.start_index, chunk.end_index, chunk.result.rows) for chunk in chunks] == [
        (0, 999, 1000),
        (1000, 1199, 200),
    ]


def test_weekly_chunks_follow_the_timestamps() -> None:
    reference = _correlated(0, 2100)
    reference["ts"] = pd.date_range("2026-01-05", periods=2100, freq="h")
    shuffled = reference.sample(frac=1.0, random_state=0)
    model = fit_reconstruction_drift(
        shuffled, ["income", "spend", "age"], chunk_period="W", timestamp_column="ts"
    )
    assert model.reference_keys[0] == "2026-01-05/2026-01-11"
    assert len(model.reference_keys) == math.ceil(2100 / (7 * 24))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_components": 1.5}, "n_components"),
        ({"n_components": 0}, "n_components"),
        ({"n_components": 9}, "n_components"),
        ({"chunk_size": 10, "chunk_number": 3}, "at most one"),
        ({"chunk_size": 0}, "chunk_size"),
        ({"chunk_period": "W"}, "timestamp_column"),
        ({"chunk_number": 5000}, "chunks"),
    ],
)
def test_bad_options_name_the_option(options: dict[str, object], message: str) -> None:
    with pytest.raises(ReferenceDataError, match=message):
        fit_reconstruction_drift(_correlated(0, 300), ["income", "spend", "age"], **options)  # type: ignore[arg-type]


def test_bad_reference_columns() -> None:
    reference = _correlated(0, 300)
    with pytest.raises(ReferenceDataError, match="'wage'"):
        fit_reconstruction_drift(reference, ["income", "wage"])
    with pytest.raises(ReferenceDataError, match="'when'"):
        fit_reconstruction_drift(reference.assign(when=pd.Timestamp("2026-01-01")), ["income", "when"])
    with pytest.raises(ReferenceDataError, match="'empty'"):
        fit_reconstruction_drift(reference.assign(empty=np.nan), ["income", "empty"])


def test_bad_windows() -> None:
    model = fit_reconstruction_drift(_correlated(0, 300), ["income", "spend", "age"])
    with pytest.raises(CheckError, match="'age'"):
        model.result(_correlated(1, 50).drop(columns="age"))
    with pytest.raises(CheckError, match="no rows"):
        model.result(_correlated(1, 50).iloc[:0])
    text = _correlated(1, 50).astype({"age": str})
    text.loc[0, "age"] = "not a number"  # parsed; what cannot be parsed counts as missing
    assert math.isfinite(model.error(text))


def test_the_readme_example_runs() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = re.split(r"\n##+ ", readme.split("\n### Multivariate drift (library)\n", 1)[1], maxsplit=1)[0]
    (block,) = re.findall(r"```python\n(.*?)```", section, re.S)
    assert re.search(r"^assert .*alert", block, re.M)  # the example asserts what it shows
    exec(compile(block, "README.md multivariate example", "exec"), {"__name__": "__readme__"})


def test_a_pickled_model_scores_the_same() -> None:
    reference = _correlated(0, 2000)
    reference["channel"] = pd.Series(
        np.where(reference["age"] > 0, "web", None), dtype=object
    )  # None: a category
    model = fit_reconstruction_drift(reference, ["income", "spend", "age", "channel"])
    window = reference.iloc[:300]
    loaded = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(loaded.row_errors(window), model.row_errors(window))
    assert loaded.result(window) == model.result(window)
