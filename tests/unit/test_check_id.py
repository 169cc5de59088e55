"""Check ids: typed values whose string form is the one in metrics labels, state rows and webhooks."""

from __future__ import annotations

import pytest

from driftwatch.checks.ids import CHECK_KINDS, CheckId


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("data_drift", CheckId("data_drift")),
        ("prediction_drift", CheckId("prediction_drift")),
        ("data_quality", CheckId("data_quality")),
        ("performance", CheckId("performance")),
        ("estimated_performance", CheckId("estimated_performance")),
        ("performance:accuracy", CheckId("performance", "accuracy")),
        ("estimated_performance:roc_auc", CheckId("estimated_performance", "roc_auc")),
    ],
)
def test_the_string_form_is_todays_and_parses_back(text: str, check: CheckId) -> None:
    assert str(check) == text
    assert CheckId.parse(text) == check
    assert CheckId.parse(str(check)) == check


@pytest.mark.parametrize("kind", CHECK_KINDS)
def test_every_kind_round_trips(kind: str) -> None:
    check = CheckId.parse(kind)
    assert check.kind == kind and check.metric is None and str(check) == kind


@pytest.mark.parametrize("text", ["", "drift", "performance:", "data_drift:accuracy", "Performance:f1"])
def test_unknown_or_malformed_ids_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="check"):
        CheckId.parse(text)


def test_ids_are_hashable_and_ordered_values() -> None:
    ids = {CheckId("performance", "f1"), CheckId.parse("performance:f1"), CheckId("data_drift")}
    assert len(ids) == 2
    assert sorted(ids)[0] == CheckId("data_drift")


@pytest.mark.parametrize(
    ("text", "check"),
    [
        ("data_drift@rolling", CheckId("data_drift", baseline="rolling")),
        ("prediction_drift@rolling", CheckId("prediction_drift", baseline="rolling")),
        ("challenger", CheckId("challenger")),
        ("challenger:accuracy", CheckId("challenger", "accuracy")),
        ("challenger:roc_auc", CheckId("challenger", "roc_auc")),
        ("challenger:prediction_drift", CheckId("challenger", "prediction_drift")),
    ],
)
def test_baselines_and_challenger_checks_round_trip(text: str, check: CheckId) -> None:
    assert str(check) == text
    assert CheckId.parse(text) == check
    assert CheckId.parse(str(check)) == check


def test_the_baseline_and_the_metric_are_fields() -> None:
    rolling = CheckId.parse("data_drift@rolling")
    assert (rolling.kind, rolling.metric, rolling.baseline) == ("data_drift", None, "rolling")
    challenger = CheckId.parse("challenger:prediction_drift")
    assert (challenger.kind, challenger.metric, challenger.baseline) == (
        "challenger",
        "prediction_drift",
        None,
    )
    assert CheckId("data_drift") != rolling and CheckId.parse("data_drift").baseline is None


@pytest.mark.parametrize(
    "text",
    [
        "data_drift@",
        "data_drift@weekly",
        "data_quality@rolling",
        "performance:accuracy@rolling",
        "challenger:accuracy@rolling",
        "estimated_performance@rolling",
        "challenger:",
        "challenger:accuracy:f1",
        "data_drift@rolling@rolling",
        "prediction_drift:accuracy@rolling",
    ],
)
def test_baselines_only_on_the_drift_kinds(text: str) -> None:
    with pytest.raises(ValueError, match=r"check|baseline"):
        CheckId.parse(text)


def test_a_baseline_outside_the_drift_kinds_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="baseline"):
        CheckId("performance", "accuracy", baseline="rolling")
    with pytest.raises(ValueError, match="baseline"):
        CheckId("data_drift", baseline="weekly")  # type: ignore[arg-type]


def test_ids_with_and_without_metric_or_baseline_sort_together() -> None:
    ids = [
        CheckId("prediction_drift", baseline="rolling"),
        CheckId("challenger", "accuracy"),
        CheckId("data_drift", baseline="rolling"),
        CheckId("performance", "f1"),
        CheckId("data_drift"),
        CheckId("performance"),
        CheckId("prediction_drift"),
        CheckId("challenger"),
    ]
    assert [str(c) for c in sorted(ids)] == [
        "challenger",
        "challenger:accuracy",
        "data_drift",
        "data_drift@rolling",
        "performance",
        "performance:f1",
        "prediction_drift",
        "prediction_drift@rolling",
    ]
    assert (
        CheckId("data_drift")
        < CheckId("data_drift", baseline="rolling")
        <= CheckId.parse("data_drift@rolling")
    )
