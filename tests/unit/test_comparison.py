"""Champion/challenger comparison: Newcombe's split interval against statsmodels, the paired interval
against a published example and by coverage, the seeded bootstrap, the design choice and the outcomes
with too little data."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from statsmodels.stats.proportion import (  # type: ignore[import-untyped]
    confint_proportions_2indep,
    proportion_confint,
)

from driftwatch.checks.base import Labelled
from driftwatch.performance.comparison import (
    PAIRED_SHARE,
    Interval,
    VersionComparison,
    VersionRows,
    bootstrap_difference,
    bootstrap_seed,
    compare_versions,
    newcombe_paired,
    newcombe_split,
    wilson,
)
from driftwatch.performance.metrics import correct, realized
from driftwatch.performance.monitor import PerformanceSpec

BINARY = PerformanceSpec("binary_classification", "score", min_labels=1)


def _statsmodels(k1: int, n1: int, k2: int, n2: int, confidence: float) -> tuple[float, float]:
    """statsmodels' Newcombe interval of challenger - champion: it computes count1 - count2, so the
    challenger (k2 of n2) goes first."""
    lower, upper = confint_proportions_2indep(
        k2, n2, k1, n1, method="newcomb", compare="diff", alpha=1 - confidence
    )
    return float(lower), float(upper)


def _close(interval: Interval, expected: tuple[float, float], tolerance: float = 1e-12) -> None:
    assert interval.lower == pytest.approx(expected[0], abs=tolerance)
    assert interval.upper == pytest.approx(expected[1], abs=tolerance)


# Newcombe's split interval ------------------------------------------------------------------------


@pytest.mark.parametrize("confidence", [0.8, 0.9, 0.95, 0.99])
@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (1, 7), (5, 5), (17, 40), (60, 23)])
def test_split_interval_equals_statsmodels_over_a_grid(n1: int, n2: int, confidence: float) -> None:
    for k1 in range(n1 + 1):
        for k2 in range(n2 + 1):
            interval = newcombe_split(k1, n1, k2, n2, confidence)
            _close(interval, _statsmodels(k1, n1, k2, n2, confidence))
            assert interval.estimate == pytest.approx(k2 / n2 - k1 / n1, abs=1e-15)
            assert -1.0 <= interval.lower <= interval.estimate <= interval.upper <= 1.0


@settings(max_examples=300, deadline=None)
@given(
    st.integers(1, 10**6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.integers(1, 10**6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
    st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]),
)
def test_split_interval_equals_statsmodels_on_generated_counts(
    champion: tuple[int, int], challenger: tuple[int, int], confidence: float
) -> None:
    (k1, n1), (k2, n2) = champion, challenger
    _close(newcombe_split(k1, n1, k2, n2, confidence), _statsmodels(k1, n1, k2, n2, confidence))


def test_wilson_equals_statsmodels() -> None:
    for k in range(31):
        lower, upper = wilson(k, 30, 0.95)
        assert (lower, upper) == pytest.approx(proportion_confint(k, 30, 0.05, "wilson"), abs=1e-12)


def test_the_difference_is_challenger_minus_champion() -> None:
    better = newcombe_split(70, 100, 90, 100)
    assert better.estimate == pytest.approx(0.2)
    assert better.above(0.0) and not better.below(0.0)
    worse = newcombe_split(90, 100, 70, 100)
    assert (worse.lower, worse.estimate, worse.upper) == pytest.approx(
        (-better.upper, -better.estimate, -better.lower)
    )
    assert worse.below(-0.02)
    paired = newcombe_paired(60, 5, 25, 10)  # the challenger fixes 25 rows and breaks 5
    assert paired.estimate == pytest.approx(0.2) and paired.above(0.0)


@pytest.mark.parametrize(
    "counts",
    [(0, 1, 0, 1), (1, 1, 1, 1), (0, 50, 50, 50), (50, 50, 0, 50), (0, 3, 3, 3), (3, 3, 0, 3)],
)
def test_split_interval_is_defined_for_all_right_all_wrong_and_tiny_n(counts: tuple[int, ...]) -> None:
    interval = newcombe_split(*counts)
    assert all(math.isfinite(v) for v in (interval.lower, interval.estimate, interval.upper))
    assert -1.0 <= interval.lower <= interval.estimate <= interval.upper <= 1.0


@pytest.mark.parametrize(("k1", "n1", "k2", "n2"), [(0, 0, 1, 1), (2, 1, 0, 1), (-1, 3, 0, 3)])
def test_split_interval_refuses_impossible_counts(k1: int, n1: int, k2: int, n2: int) -> None:
    with pytest.raises(ValueError, match="n positive"):
        newcombe_split(k1, n1, k2, n2)


@pytest.mark.parametrize("confidence", [0.0, 1.0, 95.0])
def test_confidence_must_be_a_fraction(confidence: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        newcombe_split(1, 2, 1, 2, confidence)


def test_split_interval_covers_near_nominal() -> None:
    """2,000 simulated A/B tests per cell: the 95% interval holds the true difference in 93-97% of them
    (below 0.93 nowhere; the upper bound is asserted where each version expects >= 10 right and wrong
    answers: with fewer the Wilson intervals are conservative, as they should be at accuracies near 1)."""
    rng = np.random.default_rng(20261206)
    for p1, p2 in [(0.8, 0.85), (0.9, 0.9), (0.5, 0.6), (0.95, 0.9)]:
        for n in (50, 200, 500):
            k1, k2 = rng.binomial(n, p1, 2000), rng.binomial(n, p2, 2000)
            hits = [
                (i := newcombe_split(int(a), n, int(b), n)).lower <= p2 - p1 <= i.upper
                for a, b in zip(k1, k2, strict=True)
            ]
            coverage = float(np.mean(hits))
            assert coverage >= 0.93, (p1, p2, n, coverage)
            if min(p1, 1 - p1, p2, 1 - p2) * n >= 10:
                assert coverage <= 0.97, (p1, p2, n, coverage)


# Newcombe's paired interval -----------------------------------------------------------------------


def test_paired_interval_matches_the_published_example() -> None:
    """Fagerland, Lydersen and Laake, Statistical Analysis of Contingency Tables (2017), chapter 8:
    complete response before and after consolidation therapy (Cavo et al. 2012), table [[59, 6], [16,
    80]]: Newcombe's square-and-add interval of p1+ - p+1 is -0.0621 (-0.1186 to -0.0046). Read with
    the before column as the champion, the challenger - champion interval is its mirror image."""
    interval = newcombe_paired(59, 6, 16, 80)
    assert round(interval.estimate, 4) == 0.0621
    assert (round(interval.lower, 4), round(interval.upper, 4)) == (0.0046, 0.1186)
    # the same table read the other way round: the published orientation
    mirrored = newcombe_paired(59, 16, 6, 80)
    assert (round(mirrored.lower, 4), round(mirrored.estimate, 4), round(mirrored.upper, 4)) == (
        -0.1186,
        -0.0621,
        -0.0046,
    )


@pytest.mark.parametrize(
    ("counts", "half_width"),
    # at 90%, from R's contingencytables (Newcombe_square_and_add_CI_paired_2x2)
    [
        ((50, 0, 0, 50), 0.016230441),
        ((100, 0, 0, 0), 0.026342721),
        ((0, 0, 0, 100), 0.026342721),
        ((0, 50, 50, 0), 0.162304408),
    ],
)
def test_paired_interval_known_answers(counts: tuple[int, int, int, int], half_width: float) -> None:
    interval = newcombe_paired(*counts, confidence=0.9)
    assert interval.estimate == 0.0
    assert (interval.lower, interval.upper) == pytest.approx((-half_width, half_width), abs=1e-9)


def test_phi_is_zero_when_a_margin_is_zero() -> None:
    """Every pair right for both versions: no correlation to estimate, each half width is the Wilson
    distance of p = 1 to its lower bound (the other distance is 0)."""
    lower, _ = wilson(100, 100, 0.9)
    interval = newcombe_paired(100, 0, 0, 0, confidence=0.9)
    assert (interval.lower, interval.upper) == pytest.approx((-(1 - lower), 1 - lower), abs=1e-15)


@pytest.mark.parametrize(
    "counts",
    [
        (1, 0, 0, 0),
        (0, 1, 0, 0),
        (0, 0, 1, 0),
        (0, 0, 0, 1),
        (0, 7, 0, 0),
        (0, 0, 7, 0),
        (5, 0, 3, 0),
        (3, 2, 0, 0),
    ],
)
def test_paired_interval_is_defined_with_a_zero_margin_and_tiny_n(counts: tuple[int, int, int, int]) -> None:
    interval = newcombe_paired(*counts)
    assert all(math.isfinite(v) for v in (interval.lower, interval.estimate, interval.upper))
    assert -1.0 <= interval.lower <= interval.estimate <= interval.upper <= 1.0


@settings(max_examples=300, deadline=None)
@given(st.tuples(*[st.integers(0, 400)] * 4).filter(lambda t: sum(t) > 0))
def test_paired_interval_is_ordered_bounded_and_mirrors(counts: tuple[int, int, int, int]) -> None:
    a, b, c, d = counts
    interval = newcombe_paired(a, b, c, d)
    assert -1.0 <= interval.lower <= interval.estimate <= interval.upper <= 1.0
    assert interval.estimate == pytest.approx((c - b) / (a + b + c + d))
    swapped = newcombe_paired(a, c, b, d)  # the roles exchanged
    assert (swapped.lower, swapped.upper) == pytest.approx((-interval.upper, -interval.lower), abs=1e-12)


def test_paired_interval_refuses_an_empty_or_negative_table() -> None:
    with pytest.raises(ValueError, match="n > 0"):
        newcombe_paired(0, 0, 0, 0)
    with pytest.raises(ValueError, match="non-negative"):
        newcombe_paired(3, -1, 0, 0)


def test_paired_interval_covers_near_nominal() -> None:
    """2,000 simulated shadow deployments per cell (true probabilities of both right, only the champion
    right, only the challenger right, both wrong; n = 50..500): the 95% interval holds the true
    difference in at least 93% of them everywhere, and at most 97% where at least 20 discordant pairs
    are expected (with fewer, Newcombe's method is conservative: up to ~99% with 3 expected)."""
    rng = np.random.default_rng(16)
    for cells in [
        (0.80, 0.05, 0.08, 0.07),
        (0.60, 0.10, 0.10, 0.20),
        (0.85, 0.04, 0.02, 0.09),
        (0.70, 0.15, 0.05, 0.10),
    ]:
        truth = cells[2] - cells[1]
        for n in (50, 200, 500):
            tables = rng.multinomial(n, cells, size=2000)
            hits = [(i := newcombe_paired(*map(int, t))).lower <= truth <= i.upper for t in tables]
            coverage = float(np.mean(hits))
            assert coverage >= 0.93, (cells, n, coverage)
            if n * (cells[1] + cells[2]) >= 20:
                assert coverage <= 0.97, (cells, n, coverage)


def test_pairing_narrows_the_interval_when_versions_agree_on_most_rows() -> None:
    # 1,000 requests, both versions right on 880 and wrong on 80: they disagree on 40
    paired = newcombe_paired(880, 15, 25, 80)
    split = newcombe_split(895, 1000, 905, 1000)
    assert paired.estimate == pytest.approx(split.estimate)
    assert (paired.upper - paired.lower) < 0.5 * (split.upper - split.lower)


# the bootstrap -------------------------------------------------------------------------------------


def _scored(rng: np.random.Generator, n: int, skill: float) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    labels = rng.integers(0, 2, n)
    scores = np.clip(labels * skill + rng.random(n) * (1 - skill), 0.0, 1.0)
    return labels, scores


def test_bootstrap_is_deterministic_given_its_seed() -> None:
    rng = np.random.default_rng(3)
    labels, first = _scored(rng, 300, 0.3)
    _, second = _scored(rng, 300, 0.4)
    champion, challenger = Labelled(labels, first), Labelled(labels, second)

    def run(seed: tuple[str, ...]) -> Interval | None:
        return bootstrap_difference(
            "f1", champion, challenger, spec=BINARY, paired=True, resamples=200, seed=seed
        )

    once, again = run(("credit-risk", "7", "8", "1700000000")), run(("credit-risk", "7", "8", "1700000000"))
    other = run(("credit-risk", "7", "8", "1700003600"))
    assert once is not None and again is not None and other is not None
    assert (once.lower, once.upper) == (again.lower, again.upper)
    assert (once.lower, once.upper) != (other.lower, other.upper)
    assert once.estimate == other.estimate  # the rows' own difference does not depend on the seed
    assert bootstrap_seed(("a", "bc")) != bootstrap_seed(("ab", "c"))  # parts are separated


@pytest.mark.parametrize("paired", [False, True])
def test_bootstrap_of_accuracy_agrees_with_newcombe_at_large_n(paired: bool) -> None:
    rng = np.random.default_rng(8)
    n = 3000
    labels = rng.integers(0, 2, n)
    right1 = rng.random(n) < 0.85
    # the challenger agrees with the champion on most rows when paired, independently otherwise
    right2 = np.where(rng.random(n) < 0.7, right1, rng.random(n) < 0.88) if paired else rng.random(n) < 0.88
    champion = Labelled(labels, np.where(right1, labels, 1 - labels))
    challenger = Labelled(labels, np.where(right2, labels, 1 - labels))
    boot = bootstrap_difference(
        "accuracy", champion, challenger, spec=BINARY, paired=paired, resamples=1000, seed=("s",)
    )
    a = int((right1 & right2).sum())
    b, c = int((right1 & ~right2).sum()), int((~right1 & right2).sum())
    closed = (
        newcombe_paired(a, b, c, n - a - b - c)
        if paired
        else newcombe_split(int(right1.sum()), n, int(right2.sum()), n)
    )
    assert boot is not None
    assert boot.estimate == pytest.approx(closed.estimate, abs=1e-12)
    assert (boot.upper - boot.lower) == pytest.approx(closed.upper - closed.lower, rel=0.1)
    assert boot.lower == pytest.approx(closed.lower, abs=0.01)
    assert boot.upper == pytest.approx(closed.upper, abs=0.01)


def test_bootstrap_of_a_regression_error() -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(size=400)
    spec = PerformanceSpec("regression", "y")
    champion = Labelled(truth, truth + rng.normal(scale=1.0, size=400))
    challenger = Labelled(truth, truth + rng.normal(scale=0.5, size=400))
    interval = bootstrap_difference(
        "mae", champion, challenger, spec=spec, paired=True, resamples=300, seed=("r",)
    )
    assert interval is not None
    assert interval.upper < 0.0  # the challenger's error is lower: a negative difference, better for mae
    assert interval.method == "bootstrap-paired"


def test_bootstrap_gives_no_interval_for_an_undefined_metric() -> None:
    labels = np.ones(50, dtype=int)  # one class: roc_auc is undefined
    champion = Labelled(labels, np.full(50, 0.7))
    challenger = Labelled(labels, np.full(50, 0.9))
    assert (
        bootstrap_difference("roc_auc", champion, challenger, spec=BINARY, paired=True, resamples=50) is None
    )


# the comparison -------------------------------------------------------------------------------------


def _rows(version: str, labels: Any, predictions: Any, ids: Any, weights: Any = None) -> VersionRows:
    return VersionRows(version, Labelled(labels, predictions, weights), ids)


def test_shadow_traffic_is_compared_paired_and_ab_traffic_split() -> None:
    rng = np.random.default_rng(11)
    labels, first = _scored(rng, 400, 0.3)
    _, second = _scored(rng, 400, 0.35)
    ids = np.arange(400)
    shadow = compare_versions(
        _rows("7", labels, first, ids),
        _rows("8", labels, second, ids),
        spec=BINARY,
        metrics=("accuracy", "f1"),
        resamples=200,
    )
    assert (shadow.design, shadow.rows, shadow.shared, shadow.status) == ("paired", (400, 400), 1.0, "ok")
    assert shadow.metrics["accuracy"].interval is not None
    assert shadow.metrics["accuracy"].interval.method == "newcombe-paired"
    f1 = shadow.metrics["f1"].interval
    assert f1 is not None and f1.method == "bootstrap-paired"
    ab = compare_versions(
        _rows("7", labels[:200], first[:200], ids[:200]),
        _rows("8", labels[200:], second[200:], ids[200:]),
        spec=BINARY,
    )
    assert (ab.design, ab.rows, ab.shared) == ("split", (200, 200), 0.0)
    accuracy = ab.metrics["accuracy"]
    assert accuracy.interval is not None and accuracy.interval.method == "newcombe"
    assert accuracy.champion is not None and accuracy.challenger is not None
    assert accuracy.interval.estimate == pytest.approx(accuracy.challenger - accuracy.champion)


def test_the_design_threshold_is_the_share_of_shared_ids() -> None:
    labels = np.array([1, 0] * 50)
    predictions = labels.copy()
    # 100 ids each; sharing s of them gives s / (200 - s) of the distinct ids: 88 / 112 < 0.8 <= 89 / 111
    for shared, design in [(88, "split"), (89, "paired")]:
        champion = _rows("7", labels, predictions, np.arange(100))
        challenger = _rows("8", labels, predictions, np.arange(100 - shared, 200 - shared))
        result = compare_versions(champion, challenger, spec=BINARY)
        assert result.design == design
        assert (result.shared >= PAIRED_SHARE) == (design == "paired")
        assert result.rows == ((shared, shared) if design == "paired" else (100, 100))


def test_pairs_are_matched_by_id_not_by_position() -> None:
    labels = np.array([1, 1, 0, 0])
    champion = _rows("7", labels, np.array([1, 0, 0, 1]), ["a", "b", "c", "d"])
    # the same requests in another order: the challenger is right exactly where the champion is
    challenger = _rows("8", labels[::-1], np.array([1, 0, 0, 1])[::-1], ["d", "c", "b", "a"])
    result = compare_versions(champion, challenger, spec=BINARY)
    interval = result.metrics["accuracy"].interval
    assert result.design == "paired" and interval is not None
    assert interval.estimate == 0.0
    assert interval.lower == pytest.approx(newcombe_paired(2, 0, 0, 2).lower)


@pytest.mark.parametrize("rows", [0, 1, 9])
def test_too_few_labels_is_an_outcome_with_a_reason(rows: int) -> None:
    labels = np.ones(rows, dtype=int)
    result = compare_versions(
        _rows("7", labels, labels, np.arange(rows)),
        _rows("8", np.ones(50, dtype=int), np.ones(50, dtype=int), np.arange(100, 150)),
        spec=BINARY,
        metrics=("accuracy", "f1"),
        min_labels=10,
    )
    assert result.status == "not_enough_data"
    assert result.metrics == {}
    assert result.note is not None
    assert f"version 7 has {rows} labelled predictions, fewer than min_labels 10" in result.note
    assert result.as_dict()["status"] == "not_enough_data"


def test_too_few_pairs_in_the_paired_design() -> None:
    labels = np.ones(5, dtype=int)
    ids = np.arange(5)
    result = compare_versions(
        _rows("7", labels, labels, ids), _rows("8", labels, labels, ids), spec=BINARY, min_labels=6
    )
    assert (result.status, result.design) == ("not_enough_data", "paired")
    assert result.note is not None and "labelled pairs" in result.note and "version 8 has 5" in result.note


def test_min_labels_defaults_to_the_spec() -> None:
    spec = PerformanceSpec("binary_classification", "score", min_labels=100)
    labels = np.ones(60, dtype=int)
    result = compare_versions(
        _rows("7", labels, labels, np.arange(60)), _rows("8", labels, labels, np.arange(60)), spec=spec
    )
    assert result.status == "not_enough_data"


@pytest.mark.parametrize(("first", "second"), [(1, 1), (1, 0), (0, 1), (0, 0)])
def test_all_right_and_all_wrong_versions_compare(first: int, second: int) -> None:
    labels = np.ones(30, dtype=int)
    ids = np.arange(30)
    for champion_ids, challenger_ids in [(ids, ids), (ids, ids + 30)]:
        result = compare_versions(
            _rows("7", labels, np.full(30, first), champion_ids),
            _rows("8", labels, np.full(30, second), challenger_ids),
            spec=BINARY,
        )
        interval = result.metrics["accuracy"].interval
        assert interval is not None
        assert interval.estimate == second - first
        assert all(math.isfinite(v) for v in (interval.lower, interval.upper))
        assert interval.lower <= interval.estimate <= interval.upper


def test_a_metric_the_rows_cannot_give_has_no_interval() -> None:
    labels = np.array([0, 1] * 20)
    ids = np.arange(40)
    hard = compare_versions(
        _rows("7", labels, labels, ids),
        _rows("8", labels, 1 - labels, ids),
        spec=BINARY,
        metrics=("roc_auc",),
    )
    difference = hard.metrics["roc_auc"]  # labels only: no scores to rank
    assert difference.interval is None and difference.champion is None
    assert difference.note is not None and "not defined" in difference.note
    with pytest.raises(ValueError, match="not a metric of binary_classification"):
        compare_versions(
            _rows("7", labels, labels, ids), _rows("8", labels, labels, ids), spec=BINARY, metrics=("mae",)
        )


def test_equal_weights_change_nothing_and_unequal_weights_use_kish_n() -> None:
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 500)
    first = np.where(rng.random(500) < 0.8, labels, 1 - labels)
    second = np.where(rng.random(500) < 0.85, labels, 1 - labels)
    ids = np.arange(500)
    plain = compare_versions(
        _rows("7", labels[:250], first[:250], ids[:250]),
        _rows("8", labels[250:], second[250:], ids[250:]),
        spec=BINARY,
    )
    equal = compare_versions(
        _rows("7", labels[:250], first[:250], ids[:250], np.full(250, 4.0)),
        _rows("8", labels[250:], second[250:], ids[250:], np.full(250, 4.0)),
        spec=BINARY,
    )
    assert equal.metrics["accuracy"] == plain.metrics["accuracy"]
    weights = np.where(np.arange(250) < 125, 1.0, 2.0)  # the rate halved half-way through the window
    weighted = compare_versions(
        _rows("7", labels[:250], first[:250], ids[:250], weights),
        _rows("8", labels[250:], second[250:], ids[250:], weights),
        spec=BINARY,
    )
    difference = weighted.metrics["accuracy"]
    assert difference.interval is not None and difference.interval.method == "newcombe-kish"
    accuracies = [
        realized("binary_classification", labels[s], p[s], sample_weight=weights)["accuracy"]
        for s, p in [(slice(0, 250), first), (slice(250, 500), second)]
    ]
    assert (difference.champion, difference.challenger) == pytest.approx(accuracies)
    assert difference.interval.estimate == pytest.approx(accuracies[1] - accuracies[0])
    kish = 250 * (0.5 + 0.5 * 2.0) ** 2 / (0.5 + 0.5 * 4.0)  # (sum w)^2 / sum w^2
    expected = newcombe_split(accuracies[0] * kish, kish, accuracies[1] * kish, kish)  # type: ignore[arg-type]
    assert difference.interval.lower == pytest.approx(expected.lower, abs=1e-12)
    assert difference.interval.upper == pytest.approx(expected.upper, abs=1e-12)


def test_paired_weights_take_the_larger_of_each_pair() -> None:
    labels = np.array([1, 0] * 100)
    ids = np.arange(200)
    first = np.where(np.arange(200) % 10 == 0, 1 - labels, labels)
    second = np.where(np.arange(200) % 7 == 0, 1 - labels, labels)
    low, high = np.ones(200), np.where(np.arange(200) < 100, 1.0, 3.0)
    result = compare_versions(
        _rows("7", labels, first, ids, low), _rows("8", labels, second, ids, high), spec=BINARY
    )
    interval = result.metrics["accuracy"].interval
    assert result.design == "paired" and interval is not None and interval.method == "newcombe-paired-kish"
    right1, right2 = first == labels, second == labels
    expected = (np.sum(high * right2) - np.sum(high * right1)) / high.sum()
    assert interval.estimate == pytest.approx(expected)


def test_the_result_serialises() -> None:
    labels = np.array([0, 1] * 30)
    ids = np.arange(60)
    result = compare_versions(_rows("7", labels, labels, ids), _rows("8", labels, labels, ids), spec=BINARY)
    assert isinstance(result, VersionComparison)
    body = result.as_dict()
    assert body["design"] == "paired" and body["rows"] == [60, 60]
    accuracy = body["metrics"]["accuracy"]  # type: ignore[index]
    assert accuracy["interval"]["method"] == "newcombe-paired"


# the per-row answers accuracy averages ---------------------------------------------------------------


def test_correct_rows_average_to_the_realized_accuracy() -> None:
    rng = np.random.default_rng(2)
    labels, scores = _scored(rng, 200, 0.3)
    weights = rng.uniform(1, 3, 200)
    right = correct("binary_classification", labels, scores, threshold=0.4)
    assert right.mean() == realized("binary_classification", labels, scores, threshold=0.4)["accuracy"]
    assert np.average(right, weights=weights) == pytest.approx(
        realized("binary_classification", labels, scores, threshold=0.4, sample_weight=weights)["accuracy"]
    )
    classes = ["a", "b", "c"]
    truth = rng.choice(classes, 150)
    maps = [dict(zip(classes, p, strict=True)) for p in rng.dirichlet([1, 1, 1], 150)]
    right = correct("multiclass_classification", truth, maps)
    assert right.mean() == pytest.approx(realized("multiclass_classification", truth, maps)["accuracy"])
    with pytest.raises(ValueError, match="not right or wrong"):
        correct("regression", [1.0], [2.0])


def test_realized_of_only_some_metrics_equals_the_full_computation() -> None:
    rng = np.random.default_rng(6)
    labels, scores = _scored(rng, 120, 0.3)
    weights = rng.uniform(1, 2, 120)
    full = realized("binary_classification", labels, scores, sample_weight=weights)
    for metric, value in full.items():
        assert (
            realized("binary_classification", labels, scores, sample_weight=weights, only=(metric,))[metric]
            == value
        )
    assert realized("binary_classification", labels, scores, only=("f1",)).keys() == {
        "precision",
        "recall",
        "f1",
    }
    truth = rng.normal(size=50)
    predicted = truth + rng.normal(size=50)
    regression = realized("regression", truth, predicted)
    for metric, value in regression.items():
        assert realized("regression", truth, predicted, only=(metric,)) == {metric: value}
    classes = ["a", "b", "c"]
    names = rng.choice(classes, 90)
    maps = [dict(zip(classes, p, strict=True)) for p in rng.dirichlet([1, 1, 1], 90)]
    multiclass = realized("multiclass_classification", names, maps)
    for metric, value in multiclass.items():
        assert realized("multiclass_classification", names, maps, only=(metric,))[metric] == value


def test_multiclass_versions_logging_class_probabilities() -> None:
    rng = np.random.default_rng(9)
    classes = ["a", "b", "c"]
    truth = rng.choice(classes, 120).tolist()
    champion_maps = [dict(zip(classes, p, strict=True)) for p in rng.dirichlet([1, 1, 1], 120)]
    challenger_maps = [dict(zip(classes, p, strict=True)) for p in rng.dirichlet([1, 1, 1], 120)]
    spec = PerformanceSpec("multiclass_classification", "p")
    ids = [f"id-{i}" for i in range(120)]
    result = compare_versions(
        _rows("7", truth, champion_maps, ids),
        _rows("8", truth, challenger_maps, ids),
        spec=spec,
        metrics=("accuracy", "log_loss"),
        resamples=50,
        seed=("m",),
    )
    accuracy, log_loss = result.metrics["accuracy"], result.metrics["log_loss"]
    expected = [
        realized("multiclass_classification", truth, maps)["accuracy"]
        for maps in (champion_maps, challenger_maps)
    ]
    assert (accuracy.champion, accuracy.challenger) == pytest.approx(expected)
    assert accuracy.interval is not None and accuracy.interval.method == "newcombe-paired"
    assert (
        log_loss.interval is not None
        and log_loss.interval.lower <= log_loss.interval.estimate <= log_loss.interval.upper
    )
