"""CBPE's numpy shortcuts compute what the library calls they replace compute: the isotonic map fitted on
presorted rows is scikit-learn's IsotonicRegression, the expected roc_auc is roc_auc_score's on the rows
written twice, Mann-Whitney's U from sorted integer keys is the one from scipy's average ranks, and the
multiclass reference metrics are `realized`'s, on probabilities with and without ties."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import rankdata
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import roc_auc_score

from driftwatch.performance.cbpe import IsotonicMap
from driftwatch.performance.metrics import realized
from driftwatch.performance.multiclass_cbpe import MulticlassCBPE, _expected_auc, _mann_whitney


@pytest.mark.parametrize("decimals", [None, 2])
def test_isotonic_map_is_scikit_learns(decimals: int | None) -> None:
    rng = np.random.default_rng(0)
    scores = rng.beta(2, 3, size=5000)
    if decimals is not None:  # many ties, each with both labels
        scores = np.round(scores, decimals)
    labels = (rng.uniform(size=5000) < scores**1.5).astype(np.float64)
    order = np.lexsort((labels, scores))
    ours = IsotonicMap.fit(scores[order], labels[order])
    theirs = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(
        scores, labels
    )
    assert np.array_equal(ours.x, theirs.X_thresholds_)
    assert np.array_equal(ours.y, theirs.y_thresholds_)
    window = np.concatenate((rng.uniform(-0.1, 1.1, size=3000), scores[:500]))
    np.testing.assert_allclose(ours.predict(window), theirs.predict(window), rtol=0, atol=1e-15)


@pytest.mark.parametrize("distinct", [50, 5000, 10**9])
def test_mann_whitney_is_the_rank_sum(distinct: int) -> None:
    rng = np.random.default_rng(distinct)
    ranks = rng.integers(0, distinct, size=(30, 800)).astype(np.int32)
    positive = rng.uniform(size=ranks.shape) < 0.3
    count = positive.sum(axis=1)
    expected = np.where(positive, rankdata(ranks, axis=1), 0.0).sum(axis=1) - count * (count + 1) / 2
    assert np.array_equal(_mann_whitney(ranks, positive), expected)


@pytest.mark.parametrize("decimals", [None, 2])
def test_multiclass_reference_is_realized(decimals: int | None) -> None:
    rng = np.random.default_rng(1)
    p = rng.dirichlet([1.0, 2.0, 0.5, 1.5], size=4000)
    if decimals is not None:
        p = np.round(p, decimals) + 1e-9
    labels = (rng.uniform(size=(4000, 1)) > (p / p.sum(axis=1, keepdims=True)).cumsum(axis=1)).sum(axis=1)
    cbpe = MulticlassCBPE.fit(p, labels, classes=[0, 1, 2, 3])
    # fit reads the rows divided by their sums, and passes them to `realized`, which divides them again
    matrix = p / p.sum(axis=1, keepdims=True)
    expected = realized("multiclass_classification", labels, matrix, classes=[0, 1, 2, 3])
    assert cbpe.reference.keys() == expected.keys()
    for metric, value in expected.items():
        assert cbpe.reference[metric] == pytest.approx(value, rel=1e-12, abs=1e-15), metric


@pytest.mark.parametrize("decimals", [None, 1])
def test_expected_auc_is_scikit_learns_on_the_doubled_rows(decimals: int | None) -> None:
    rng = np.random.default_rng(2)
    scores = rng.uniform(size=3000)
    if decimals is not None:
        scores = np.round(scores, decimals)
    p = np.clip(scores + rng.normal(scale=0.2, size=3000), 0.0, 1.0)  # some exactly 0 or 1: zero weights
    order = np.argsort(scores)
    doubled = np.repeat([True, False], 3000)
    expected = roc_auc_score(
        doubled, np.concatenate((scores, scores)), sample_weight=np.concatenate((p, 1 - p))
    )
    assert _expected_auc(scores[order], p[order]) == pytest.approx(expected, rel=1e-13)
    assert np.isnan(_expected_auc(scores[order], np.zeros(3000)))
