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
