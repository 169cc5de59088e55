"""The segment directory: table-driven membership transitions, no flapping under sampling noise,
routing, checkpoints; the version tracker."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from driftwatch.scope import Scope, SegmentKey
from driftwatch.stream.segments import (
    OTHER,
    ScopeChange,
    ScopeDirectory,
    SegmentRule,
    VersionTracker,
    value_shares,
)

SYMBOL = {"promoted": "+", "demoted": "-", "retiring": "~", "retired": "x"}
RULE = SegmentRule("c", top_k=2, min_share=0.01, retire_after=600)

# a step: (minute, shares, values whose alert fires); expected: the changes of that check, in order,
# as "+a" promoted, "-a" demoted, "~a" retiring, "xa" retired
Step = tuple[int, dict[str | None, float], set[str | None]]
FILL = [(0, {"a": 0.5, "b": 0.3, "c": 0.2}, set()), (1, {"a": 0.5, "b": 0.3, "c": 0.2}, set())]
FILLED: list[list[str]] = [[], ["+a", "+b"]]

CASES = [
    pytest.param(RULE, FILL, FILLED, ["a", "b"], id="free slots fill after promote_after checks"),
    pytest.param(
        RULE,
        [*FILL, *[(2 + i, {"a": 0.5, "b": 0.3, "c": 0.36}, set()) for i in range(5)]],
        [*FILLED, *[[]] * 5],
        ["a", "b"],
        id="a candidate within the margin never displaces",
    ),
    pytest.param(
        RULE,
        [
            *FILL,
            (2, {"a": 0.5, "b": 0.3, "c": 0.4}, set()),
            (3, {"a": 0.5, "b": 0.3, "c": 0.36}, set()),
            (4, {"a": 0.5, "b": 0.3, "c": 0.4}, set()),
            (5, {"a": 0.5, "b": 0.3, "c": 0.4}, set()),
        ],
        [*FILLED, [], [], [], ["-b", "+c"]],
        ["a", "c"],
        id="displacement needs the margin for promote_after checks in a row",
    ),
    pytest.param(
        SegmentRule("c", top_k=2, min_share=0.01, pinned=("p",)),
        [
            (0, {"a": 0.5, "b": 0.3}, set()),
            (1, {"a": 0.5, "b": 0.3}, set()),
            *[(2 + i, {"a": 0.5, "b": 0.3}, set()) for i in range(5)],
        ],
        [[], ["+a"], *[[]] * 5],
        ["a", "p"],
        id="a pinned value is a member without traffic and counts in top_k",
    ),
    pytest.param(
        RULE,
        [
            *FILL,
            (2, {"a": 0.99, "b": 0.005}, set()),
            (3, {"a": 0.99, "b": 0.005}, set()),
            (4, {"a": 0.99, "b": 0.02}, set()),
            (5, {"a": 0.99, "b": 0.005}, set()),
            (6, {"a": 0.99}, set()),
            (7, {"a": 0.99, "b": 0.007}, set()),
        ],
        [*FILLED, [], [], [], [], [], ["-b"]],
        ["a"],
        id="demotion after demote_after checks in a row below the floor (absent counts)",
    ),
    pytest.param(
        RULE,
        [*FILL, *[(2 + i, {"a": 0.99, "b": 0.009}, set()) for i in range(6)]],
        [*FILLED, *[[]] * 6],
        ["a", "b"],
        id="between min_share / (1 + margin) and min_share a member stays",
    ),
    pytest.param(
        RULE,
        [(i, {"a": 0.995, "b": 0.005}, set()) for i in range(4)],
        [[], ["+a"], [], []],
        ["a"],
        id="below min_share no scope even with a free slot",
    ),
    pytest.param(
        RULE,
        [
            *FILL,
            *[(2 + i, {"a": 0.99}, {"b"}) for i in range(3)],
            (5, {"a": 0.99}, {"b"}),
            (6, {"a": 0.99}, set()),
        ],
        [*FILLED, [], [], ["~b"], [], ["-b"]],
        ["a"],
        id="a firing member retires, and leaves quietly once its alert resolves",
    ),
    pytest.param(
        RULE,
        [
            *FILL,
            *[(2 + i, {"a": 0.99}, {"b"}) for i in range(3)],
            (13, {"a": 0.99}, {"b"}),
            (14, {"a": 0.99}, {"b"}),
        ],
        [*FILLED, [], [], ["~b"], [], ["xb"]],
        ["a"],
        id="a retiring scope still firing after retire_after is retired",
    ),
    pytest.param(
        RULE,
        [
            *FILL,
            *[(2 + i, {"a": 0.5, "b": 0.1, "c": 0.4}, {"b"}) for i in range(2)],
            *[(4 + i, {"a": 0.5, "b": 0.3, "c": 0.4}, {"b"}) for i in range(2)],
        ],
        [*FILLED, [], ["~b", "+c"], [], []],
        ["a", "c"],
        id="a displaced firing member retires and keeps its scope",
    ),
    pytest.param(
        RULE,
        [
            *FILL,
            *[(2 + i, {"a": 0.5, "b": 0.1, "c": 0.4}, {"b"}) for i in range(2)],
            *[(4 + i, {"a": 0.4, "b": 0.5, "c": 0.1}, {"b"}) for i in range(2)],
        ],
        [*FILLED, [], ["~b", "+c"], [], ["-c", "+b"]],
        ["a", "b"],
        id="a retiring value that qualifies again is promoted back",
    ),
    pytest.param(
        SegmentRule("c", top_k=4, min_share=0.01, retire_after=600),
        [
            (0, {v: 0.25 for v in "abcd"}, set()),
            (1, {v: 0.25 for v in "abcd"}, set()),
            *[(2 + i, {"e": 0.4, "f": 0.6}, {"a", "b", "c", "d"}) for i in range(3)],
        ],
        [[], ["+a", "+b", "+c", "+d"], [], ["~d", "+f", "~c", "+e", "xd"], ["~a", "~b", "xc", "xb"]],
        ["e", "f"],
        id="at most ceil(top_k / 4) retiring: the least traffic (ties by text: last) goes first",
    ),
    pytest.param(
        SegmentRule("c", top_k=1, min_share=0.01),
        [(0, {"b": 0.5, "a": 0.5}, set()), (1, {"b": 0.5, "a": 0.5}, set())],
        [[], ["+a"]],
        ["a"],
        id="ties are broken by the text",
    ),
    pytest.param(
        SegmentRule("c", top_k=1, min_share=0.01),
        [(0, {"a": 0.5, None: 0.5}, set()), (1, {"a": 0.5, None: 0.5}, set())],
        [[], ["+None"]],
        [None],
        id="the missing value competes like any value and wins ties",
    ),
    pytest.param(
        SegmentRule("c", top_k=2, min_share=0.01, promote_after=1, demote_after=1, margin=0.0),
        [(0, {"a": 0.5, "b": 0.3}, set()), (1, {"a": 0.5, "c": 0.3}, set())],
        [["+a", "+b"], ["-b", "+c"]],
        ["a", "c"],
        id="without hysteresis every change acts at once",
    ),
]


def run(directory: ScopeDirectory, steps: Sequence[Step], rows: int | None = None) -> list[list[str]]:
    out = []
    for minute, shares, firing in steps:

        def fires(scope: Scope, firing: set[str | None] = firing) -> bool:
            return scope.segment is not None and scope.segment.value in firing

        changes = directory.observe("c", shares, fires, 60.0 * minute, rows)
        assert all(change.at == 60.0 * minute for change in changes)
        out.append([f"{SYMBOL[c.change]}{c.scope.segment.value if c.scope.segment else ''}" for c in changes])
    return out


@pytest.mark.parametrize(("rule", "steps", "expected", "members"), CASES)
def test_transitions(
    rule: SegmentRule, steps: list[Step], expected: list[list[str]], members: list[str | None]
) -> None:
    directory = ScopeDirectory("m", [rule])
    epochs = []
    got = []
    for step in steps:
        got += run(directory, [step])
        epochs.append(directory.epoch)
    assert got == expected
    assert directory.members("c") == members
    assert epochs == list(np.cumsum([bool(changes) for changes in expected]))
    assert len(directory.members("c")) <= rule.top_k
    assert len(directory.retiring("c")) <= rule.retiring_slots


@pytest.mark.parametrize(("rule", "steps", "expected", "members"), CASES)
def test_restore_in_the_middle_changes_nothing(
    rule: SegmentRule, steps: list[Step], expected: list[list[str]], members: list[str | None]
) -> None:
    half = len(steps) // 2
    first = ScopeDirectory("m", [rule])
    got = run(first, steps[:half])
    second = ScopeDirectory("m", [rule])
    second.restore(first.state())
    assert second.epoch == first.epoch
    assert second.state() == first.state()
    assert got + run(second, steps[half:]) == expected
    assert second.members("c") == members


def test_a_displacement_waits_for_a_significant_difference() -> None:
    """c at 0.4 against b at 0.3 is beyond the margin; from 100 rows that is 1.5 standard errors of
    the difference, from 10,000 rows 15."""
    steps = [*FILL, *[(2 + i, {"a": 0.3, "b": 0.3, "c": 0.4}, set()) for i in range(3)]]
    assert run(ScopeDirectory("m", [RULE]), steps, rows=100) == [*FILLED, [], [], []]
    assert run(ScopeDirectory("m", [RULE]), steps, rows=10_000) == [*FILLED, [], ["-b", "+c"], []]


def test_scope_changes_name_the_segment_scope() -> None:
    directory = ScopeDirectory("credit-risk", [SegmentRule("country", top_k=1, promote_after=1)])
    changes = directory.observe("country", {"DE": 0.7, "FR": 0.3}, lambda s: False, 5.0)
    assert changes == [
        ScopeChange(Scope("credit-risk", segment=SegmentKey("country", "DE")), "promoted", 5.0)
    ]


def test_route_codes_follow_segments() -> None:
    directory = ScopeDirectory("m", [SegmentRule("c", top_k=3, promote_after=1, pinned=("z",))])
    directory.observe("c", {"a": 0.5, None: 0.3, "b": 0.001}, lambda s: False, 0.0)
    assert directory.segments("c") == [SegmentKey.of("c", None), SegmentKey("c", "a"), SegmentKey("c", "z")]
    values = np.array(["a", None, "b", "z", "zz", "a"], dtype=object)
    codes = directory.route("c", values)
    assert codes.tolist() == [1, 0, OTHER, 2, OTHER, 1]
    assert directory.route("c", np.array([], dtype=object)).tolist() == []
    assert [s.segment for s in directory.scopes()] == [*directory.segments("c"), SegmentKey.other("c")]


def test_route_before_any_member_is_all_other() -> None:
    directory = ScopeDirectory("m", [SegmentRule("c")])
    assert directory.route("c", ["a", None]).tolist() == [OTHER, OTHER]


def test_value_shares() -> None:
    assert value_shares(np.array(["a", None, "a", "b"], dtype=object)) == {"a": 0.5, None: 0.25, "b": 0.25}
    assert value_shares([]) == {}


def test_ten_thousand_values_stay_within_the_budget() -> None:
    rng = np.random.default_rng(0)
    values = np.array([f"store-{i}" for i in range(10_000)], dtype=object)
    weights = 1.0 / np.arange(1, 10_001) ** 1.1
    directory = ScopeDirectory("m", [SegmentRule("store", top_k=20)])
    for check in range(20):
        sample = values[rng.choice(10_000, size=50_000, p=weights / weights.sum())]
        directory.observe("store", value_shares(sample), lambda s: False, float(check))
        assert len(directory.members("store")) <= 20
        assert len(directory._columns["store"].streaks) <= 20  # candidates kept: bounded by top_k
    members = set(directory.members("store"))
    assert {f"store-{i}" for i in range(15)} <= members <= {f"store-{i}" for i in range(25)}
    codes = directory.route("store", sample)
    assert set(codes.tolist()) == {OTHER, *range(20)}


def test_restore_reconciles_a_changed_config() -> None:
    rule = SegmentRule("c", top_k=3, promote_after=1)
    old = ScopeDirectory("m", [rule, SegmentRule("gone")])
    old.observe("c", {"a": 0.5, "b": 0.3, "d": 0.2}, lambda s: False, 0.0)
    new = ScopeDirectory("m", [SegmentRule("c", top_k=2, promote_after=1, pinned=("p",))])
    new.restore(old.state())
    assert new.members("c") == ["a", "p"]  # d and b (the least traffic) leave for the pinned value
    assert new.epoch == old.epoch + 1
    with pytest.raises(ValueError, match="restored into model"):
        ScopeDirectory("other", [rule]).restore(old.state())


def test_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="2 pinned values for top_k 1"):
        SegmentRule("c", top_k=1, pinned=("a", "b"))
    with pytest.raises(ValueError, match=r"min_share 1\.5"):
        SegmentRule("c", min_share=1.5)
    with pytest.raises(ValueError, match="given twice"):
        ScopeDirectory("m", [SegmentRule("c"), SegmentRule("c")])
    assert SegmentRule("c", top_k=20).retiring_slots == 5
    assert SegmentRule("c", top_k=1).retiring_slots == 1


# sampling noise ------------------------------------------------------------------------------

DISTRIBUTIONS = st.lists(st.floats(1.0, 100.0), min_size=21, max_size=60)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(DISTRIBUTIONS, st.integers(0, 2**32 - 1))
@example([100.0] * 10 + [1.0] * 50, 0)  # 50 values tied at 0.3%: 10 members, 40 candidates
def test_no_flapping_under_sampling_noise_and_a_real_change_acts_after_promote_after(
    weights: list[float], seed: int
) -> None:
    """Shares estimated from 50,000-row samples of a fixed distribution (every value at least 0.3%):
    with the defaults no value leaves and comes back over 100 checks, the members end as the top K up
    to the margin; then a non-member whose share doubles past the weakest member takes its place at
    exactly the promote_after-th check after the change."""
    rule = SegmentRule("c")  # defaults: top_k 20, min_share 0.001, promote 2, demote 3, margin 0.25
    values = np.array([f"v{i:02d}" for i in range(len(weights))], dtype=object)
    w = np.array(weights)
    p = 0.003 + (1 - 0.003 * len(w)) * w / w.sum()
    rng = np.random.default_rng(seed)
    directory = ScopeDirectory("m", [rule])

    def check(probabilities: np.ndarray, at: float) -> list[ScopeChange]:
        counts = rng.multinomial(50_000, probabilities)
        shares = {v: c / 50_000 for v, c in zip(values.tolist(), counts.tolist(), strict=True) if c}
        return directory.observe("c", shares, lambda s: False, at, rows=50_000)

    left: set[str | None] = set()
    for t in range(100):
        for change in check(p, float(t)):
            value = change.scope.segment.value if change.scope.segment else None
            if change.change == "promoted":
                assert value not in left, f"{value} came back at check {t}"
            else:
                left.add(value)
    members = directory.members("c")
    assert len(members) == 20
    true = dict(zip(values.tolist(), p.tolist(), strict=True))
    weakest = min(true[m] for m in members if m is not None)
    assert all(true[v] <= (1 + rule.margin) * weakest for v in true if v not in members)

    # a real change of rank: the best non-member's share becomes twice the weakest member's
    weakest_member = min(members, key=lambda m: (true[m], m))
    newcomer = max((v for v in true if v not in members), key=lambda v: (true[v], v))
    q = p.copy()
    q[values.tolist().index(newcomer)] = 2 * true[weakest_member]
    q /= q.sum()
    acted = [check(q, 100.0 + t) for t in range(rule.promote_after + 3)]
    assert [[c.change for c in changes] for changes in acted[: rule.promote_after - 1]] == [[]] * (
        rule.promote_after - 1
    )
    moves = {
        c.change: c.scope.segment.value if c.scope.segment else None for c in acted[rule.promote_after - 1]
    }
    assert moves.keys() == {"demoted", "promoted"}
    assert moves["promoted"] == newcomer
    assert true[moves["demoted"]] <= (1 + rule.margin) * true[weakest_member]
    assert all(changes == [] for changes in acted[rule.promote_after :])


# versions ------------------------------------------------------------------------------------


def test_a_new_version_is_reported_once_from_any_record() -> None:
    tracker = VersionTracker()
    assert tracker.observe(np.array(["7"] * 999 + ["8"], dtype=object), 10.0) == ["7", "8"]
    assert tracker.observe(["8", "7", None, ""], 20.0) == []
    assert tracker.observe(["9", "7", "9"], 30.0) == ["9"]
    assert tracker.known() == ["8", "9", "7"]  # least recently seen first
    assert (tracker.first_seen("7"), tracker.last_seen("7")) == (10.0, 30.0)
    assert tracker.last_seen("nope") is None


def test_the_version_tracker_keeps_the_most_recently_seen() -> None:
    tracker = VersionTracker(capacity=100)
    for i in range(150):
        tracker.observe([str(i), "0"], float(i))  # "0" is seen again and again: kept
    assert len(tracker.known()) == 100
    assert "0" in tracker.known() and "1" not in tracker.known()
    assert tracker.observe(["1"], 200.0) == ["1"]  # forgotten, so new again


def test_live_versions() -> None:
    tracker = VersionTracker()
    tracker.observe(["5"], 0.0)
    tracker.observe(["6"], 100.0)
    tracker.observe(["7", "8"], 200.0)
    assert tracker.live(250.0, named=["5"], max_live=3, expire_after=1000) == ["5", "7", "8"]
    assert tracker.live(250.0, named=[], max_live=3, expire_after=1000) == ["7", "8", "6"]
    assert tracker.live(250.0, named=[], max_live=3, expire_after=100) == ["7", "8"]
    assert tracker.live(250.0, named=["x", "y"], max_live=1, expire_after=100) == ["x", "y"]


def test_version_tracker_state_round_trip() -> None:
    tracker = VersionTracker()
    tracker.observe(["a", "b"], 1.0)
    tracker.observe(["a"], 2.0)
    restored = VersionTracker()
    restored.restore(tracker.state())
    assert restored.known() == ["b", "a"]
    assert restored.first_seen("a") == 1.0 and restored.last_seen("a") == 2.0
    assert restored.observe(["a", "c"], 3.0) == ["c"]
    small = VersionTracker(capacity=1)
    small.restore(tracker.state())
    assert small.known() == ["a"]
