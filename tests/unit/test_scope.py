"""Scopes: keys round-trip through parse for any text, label values stay bounded and distinct."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from driftwatch.scope import Scope, SegmentKey, label_value, window_name

DE = SegmentKey("country", "DE")


@pytest.mark.parametrize(
    ("scope", "key", "labels"),
    [
        (Scope("m"), "", ("", "")),
        (Scope("m", "7"), "v=7", ("7", "")),
        (Scope("m", segment=DE), "country=DE", ("", "country=DE")),
        (Scope("m", segment=SegmentKey.of("country", None)), "country:missing", ("", "country:missing")),
        (Scope("m", "7", SegmentKey.other("country")), "v=7;country:other", ("7", "country:other")),
        (Scope("m", segment=SegmentKey("country", "missing")), "country=missing", ("", "country=missing")),
        (Scope("m", segment=SegmentKey("c", "a=b;c:d%")), "c=a%3Db%3Bc%3Ad%25", ("", "c=a=b;c:d%")),
        (Scope("m", segment=SegmentKey("v", "7")), "%76=7", ("", "v=7")),
        (Scope("m", segment=SegmentKey("app", "")), "app=", ("", "app=")),
        (Scope("m", "a\x1fb"), "v=a%1Fb", ("a\\x1fb", "")),
    ],
)
def test_keys_and_labels(scope: Scope, key: str, labels: tuple[str, str]) -> None:
    assert scope.key == key
    assert Scope.parse("m", key) == scope
    assert scope.labels() == labels
    assert scope.whole == (key == "")


@pytest.mark.parametrize(
    "key",
    ["country", "country:gone", "v=7;a=1;b=2", "c=%41", "c=%3d", "c=50%", "v=7;v=8", "v="],
)
def test_keys_that_name_no_scope_are_refused(key: str) -> None:
    with pytest.raises(ValueError, match=r"scope key|empty model_version"):
        Scope.parse("m", key)


def test_segment_key_kinds_are_checked() -> None:
    with pytest.raises(ValueError, match="take no value"):
        SegmentKey("c", "x", "other")
    with pytest.raises(ValueError, match="needs kind 'value'"):
        SegmentKey("c", None)
    with pytest.raises(ValueError, match="one of value"):
        SegmentKey("c", None, "gone")  # type: ignore[arg-type]


def test_ordering_is_total_with_the_whole_model_first() -> None:
    scopes = [
        Scope("m", "8"),
        Scope("m", "7", DE),
        Scope("m", segment=SegmentKey.other("country")),
        Scope("m", segment=SegmentKey.of("country", None)),
        Scope("m", segment=DE),
        Scope("m"),
        Scope("m", "7"),
    ]
    assert sorted(scopes) == [
        Scope("m"),
        Scope("m", segment=DE),
        Scope("m", segment=SegmentKey.of("country", None)),
        Scope("m", segment=SegmentKey.other("country")),
        Scope("m", "7"),
        Scope("m", "7", DE),
        Scope("m", "8"),
    ]


def test_window_names() -> None:
    assert window_name(Scope("credit-risk")) == "credit-risk"
    assert window_name(Scope("credit-risk", segment=DE)) == "credit-risk\x1fcountry=DE"
    assert window_name(Scope("credit-risk"), rolling=True) == "credit-risk\x1f\x1f@rolling"
    assert window_name(Scope("credit-risk", "7"), rolling=True) == "credit-risk\x1fv=7\x1f@rolling"


def test_label_value_escapes_and_cuts() -> None:
    assert label_value("DE") == "DE"
    assert label_value("a\nb\\c\x85") == "a\\x0ab\\\\c\\x85"
    exact = "x" * 64
    assert label_value(exact) == exact
    long_a, long_b = "y" * 100 + "a", "y" * 100 + "b"
    assert len(label_value(long_a)) == 64
    assert label_value(long_a).startswith("y" * 57 + "~")
    assert label_value(long_a) != label_value(long_b)
    assert label_value(long_a) == label_value(long_a)  # deterministic (no process-seeded hash)


TEXT = st.text(max_size=20)
SEGMENTS = st.one_of(
    st.builds(SegmentKey, TEXT, TEXT),
    st.builds(SegmentKey.of, TEXT, st.none()),
    st.builds(SegmentKey.other, TEXT),
)
SCOPES = st.builds(Scope, st.just("m"), st.none() | TEXT.filter(bool), st.none() | SEGMENTS)


@given(SCOPES)
def test_key_round_trip(scope: Scope) -> None:
    key = scope.key
    assert Scope.parse("m", key) == scope
    assert "\x1f" not in key
    assert not any(ord(c) < 0x20 for c in key)
    assert window_name(scope, rolling=True) != window_name(scope)


@given(SCOPES, SCOPES)
def test_distinct_scopes_have_distinct_keys_and_names(a: Scope, b: Scope) -> None:
    assert (a.key == b.key) == (a == b)
    assert (window_name(a) == window_name(b)) == (a == b)


@given(TEXT)
def test_label_value_is_bounded_and_printable(text: str) -> None:
    label = label_value(text)
    assert len(label) <= 64
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in label)
    if len(text) <= 16:  # short enough never to be cut, even with every character escaped
        assert label.replace("\\\\", "").count("\\") == sum(
            1 for c in text if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0
        )
