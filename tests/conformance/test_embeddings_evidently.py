"""Conformance of embedding drift (``driftwatch.drift.embeddings``) with Evidently 0.7.23.

Every expected value is computed live by Evidently on the same generated vectors: its drift method
objects (``evidently.legacy.metrics.data_drift.embedding_drift_methods``) are called on DataFrames
of the reference and current sets, and driftwatch's functions on the numpy arrays. Per data set
(no drift, small and large shifts, clustered and unit-norm vectors, 8 to 128 components, 50 to
3000 rows, with and without PCA) and parameter set, the score and, with bootstrap, the null
quantile must agree to 1e-9 relative (1e-12 absolute), and the drift decision exactly.

Randomness. Evidently's randomness is all seeded, and driftwatch draws the same streams:
``train_test_split(random_state=42)`` and ``SGDClassifier(random_state=42)`` for ``model``, the
legacy global generator seeded 0..99 for the bootstraps (``np.random.seed(i)``), pandas'
``sample(random_state=0)`` for the mmd bandwidth, ``PCA(random_state=0)``. So nothing is compared
with a looser tolerance: the remaining differences are float summation orders (pandas column means,
block sums of the mmd kernel), far below 1e-9 except where the score itself is rounding noise.
That is the one case left out: ``cosine`` distance after PCA, where the projected reference is
centred, its mean vector is ~1e-17 and the cosine of it is noise in both engines.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from evidently import DataDefinition, Dataset, Report
from evidently.legacy.metrics.data_drift import embedding_drift_methods as evidently_methods
from evidently.legacy.metrics.data_drift import embeddings_drift as evidently_metric_module
from evidently.metrics import EmbeddingsDrift

from driftwatch.drift.embeddings import (
    EmbeddingDrift,
    distance_drift,
    embedding_drift,
    mmd_drift,
    model_drift,
    ratio_drift,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::RuntimeWarning", "ignore::UserWarning", "ignore::FutureWarning"
)

Matrix = npt.NDArray[np.float64]
RTOL = 1e-9
ATOL = 1e-12


@dataclass(frozen=True)
class Case:
    name: str
    reference_rows: int
    current_rows: int
    dims: int
    shift: float
    kind: str = "gaussian"  # gaussian | clusters | unit
    pca_components: int | None = None


CASES = [
    Case("tiny-no-drift", 50, 60, 8, 0.0),
    Case("small-shift", 300, 200, 16, 0.1),
    Case("large-shift", 800, 1000, 32, 1.0),
    Case("clusters-small-shift", 1200, 900, 24, 0.05, "clusters"),
    Case("unit-no-drift", 1000, 1000, 48, 0.0, "unit"),
    Case("pca-no-drift", 2000, 1500, 64, 0.0, pca_components=10),
    Case("pca-shift", 600, 700, 128, 0.2, pca_components=16),
    Case("wide-small-shift", 3000, 2500, 128, 0.03),
]


@cache
def vectors(case: Case) -> tuple[Matrix, Matrix]:
    rng = np.random.default_rng(zlib.crc32(case.name.encode()))
    if case.kind == "clusters":
        centres = rng.normal(scale=3.0, size=(5, case.dims))
        ref = centres[rng.integers(0, 5, case.reference_rows)] + rng.normal(
            size=(case.reference_rows, case.dims)
        )
        cur = centres[rng.integers(0, 5, case.current_rows)] + rng.normal(size=(case.current_rows, case.dims))
    else:
        scales = np.linspace(0.5, 2.0, case.dims)
        ref = rng.normal(size=(case.reference_rows, case.dims)) * scales
        cur = rng.normal(size=(case.current_rows, case.dims)) * scales
    cur = cur + case.shift
    if case.kind == "unit":
        ref /= np.linalg.norm(ref, axis=1, keepdims=True)
        cur /= np.linalg.norm(cur, axis=1, keepdims=True)
    return ref, cur


# method name -> (Evidently factory, driftwatch function, parameter sets)
METHODS: dict[str, tuple[Callable[..., Any], Callable[..., EmbeddingDrift], list[dict[str, Any]]]] = {
    "model": (
        evidently_methods.model,
        model_drift,
        [
            {},
            {"bootstrap": True},
            {"threshold": 0.6, "bootstrap": False},
            {"bootstrap": True, "quantile_probability": 0.8},
        ],
    ),
    "ratio": (
        evidently_methods.ratio,
        ratio_drift,
        [
            {},
            {"component_stattest": "ks"},
            {"component_stattest": "psi", "component_stattest_threshold": 0.05, "threshold": 0.1},
            {"component_stattest": "jensenshannon"},
        ],
    ),
    "distance": (
        evidently_methods.distance,
        distance_drift,
        [
            {},
            {"dist": "cosine"},
            {"dist": "cityblock", "threshold": 1.0},
            {"dist": "chebyshev"},
            {"bootstrap": True},
            {"dist": "cityblock", "bootstrap": True, "quantile_probability": 0.9},
        ],
    ),
    "mmd": (
        evidently_methods.mmd,
        mmd_drift,
        [{}, {"threshold": 0.001}, {"bootstrap": True}, {"bootstrap": True, "quantile_probability": 0.5}],
    ),
}
MMD_BOOTSTRAP_MAX_ROWS = (
    1000  # Evidently's mmd bootstrap indexes the kernel row by row: seconds per call above that
)

PARAMS = [
    pytest.param(case, method, index, id=f"{case.name}-{method}-{index}")
    for case in CASES
    for method, (_, _, parameter_sets) in METHODS.items()
    for index in range(len(parameter_sets))
    if not (case.pca_components and parameter_sets[index].get("dist") == "cosine")
    and not (
        method == "mmd"
        and parameter_sets[index].get("bootstrap")
        and case.reference_rows > MMD_BOOTSTRAP_MAX_ROWS
    )
]


class RecordingNumpy:
    """numpy, as seen by Evidently's module, recording the last ``percentile`` it computes: Evidently
    returns only the decision of a bootstrap, this gives its null quantile too."""

    def __init__(self) -> None:
        self.last_percentile: float | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    def percentile(self, values: Any, q: float) -> Any:
        result = np.percentile(values, q)
        self.last_percentile = float(result)
        return result


def evidently_result(
    case: Case, method: str, parameters: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> tuple[float, bool, float | None]:
    """Evidently's score, decision and (with bootstrap) the null quantile it compared the score with."""
    ref, cur = vectors(case)
    factory = METHODS[method][0]
    recording = RecordingNumpy()
    with monkeypatch.context() as patch:
        patch.setattr(evidently_methods, "np", recording)
        score, drifted, name = factory(pca_components=case.pca_components, **parameters)(
            pd.DataFrame(cur.copy()), pd.DataFrame(ref.copy())
        )
    assert name == method
    return float(score), bool(drifted), recording.last_percentile


@pytest.mark.parametrize(("case", "method", "index"), PARAMS)
def test_score_and_decision_match_evidently(
    case: Case, method: str, index: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    parameters = METHODS[method][2][index]
    expected_score, expected_drift, expected_quantile = evidently_result(
        case, method, parameters, monkeypatch
    )
    ref, cur = vectors(case)
    result = METHODS[method][1](ref, cur, pca_components=case.pca_components, **parameters)
    assert result.method == method
    assert math.isclose(result.score, expected_score, rel_tol=RTOL, abs_tol=ATOL), (
        result.score,
        expected_score,
    )
    assert result.drifted == expected_drift, (result, expected_score, expected_drift)
    if parameters.get("bootstrap"):
        assert expected_quantile is not None
        assert math.isclose(result.threshold, expected_quantile, rel_tol=RTOL, abs_tol=ATOL), (
            result.threshold,
            expected_quantile,
        )
    else:
        assert expected_quantile is None
        assert result.threshold == parameters.get("threshold", result.threshold)


def test_cases_cover_drift_and_no_drift() -> None:
    """The data sets exercise both decisions for every method (so the decision checks mean something)."""
    decisions: dict[str, set[bool]] = {method: set() for method in METHODS}
    for case in CASES[:5]:
        for method in METHODS:
            ref, cur = vectors(case)
            decisions[method].add(METHODS[method][1](ref, cur).drifted)
    assert all(seen == {True, False} for seen in decisions.values()), decisions


class FirstTwoComponents:
    """Stands in for the t-SNE map Evidently's metric draws for its widget (10+ s, no part of the score)."""

    def __init__(self, **_: Any) -> None:
        pass

    def fit_transform(self, frame: pd.DataFrame) -> Matrix:
        return np.asarray(frame, dtype=np.float64)[:, :2]


def test_default_method_matches_evidently_metric(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a method, ``embedding_drift`` is Evidently's ``EmbeddingsDrift`` metric default (model,
    bootstrap below 1000 reference rows), checked through a Report on both sides of 1000 rows."""
    monkeypatch.setattr(evidently_metric_module, "TSNE", FirstTwoComponents)
    for case in (CASES[1], CASES[3]):
        ref, cur = vectors(case)
        columns = [f"e{i}" for i in range(case.dims)]
        definition = DataDefinition(numerical_columns=columns, embeddings={"emb": columns})
        report = Report([EmbeddingsDrift(embeddings_name="emb")])
        snapshot = report.run(
            Dataset.from_pandas(pd.DataFrame(cur, columns=columns), data_definition=definition),
            Dataset.from_pandas(pd.DataFrame(ref, columns=columns), data_definition=definition),
        )
        expected = float(snapshot.dict()["metrics"][0]["value"])
        result = embedding_drift(ref, cur)
        assert result.method == "model"
        assert result.details["bootstrap"] == (case.reference_rows < 1000)
        assert math.isclose(result.score, expected, rel_tol=RTOL, abs_tol=ATOL), (result.score, expected)


def test_invalid_input_is_refused() -> None:
    ref = np.zeros((10, 3))
    with pytest.raises(ValueError, match="components"):
        distance_drift(ref, np.zeros((10, 4)))
    with pytest.raises(ValueError, match="finite"):
        mmd_drift(ref, np.full((10, 3), np.nan))
    with pytest.raises(ValueError, match="unknown distance"):
        distance_drift(ref, ref, dist="manhattan")
    with pytest.raises(ValueError, match="unknown embedding drift method"):
        embedding_drift(ref, ref, method="pca")  # type: ignore[arg-type]
