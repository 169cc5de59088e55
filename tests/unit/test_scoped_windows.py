"""Scope windows: each is the bottom k of its scope's records whatever the batching and membership
changes, windows follow the directory and the live versions, checkpoints restore them through the
store, and memory stays bounded with thousands of segment values."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from driftwatch.scope import Scope, SegmentKey, window_name
from driftwatch.state.store import Store
from driftwatch.stream.scopes import ScopedWindows, ScopePlan, SegmentColumn
from driftwatch.stream.segments import ScopeChange, ScopeDirectory, SegmentRule, value_shares
from driftwatch.stream.windows import ColumnSpec, Window, WindowChanges

MODEL = "m"
COLUMNS = (
    ColumnSpec("x", "numeric"),
    ColumnSpec("country", "categorical"),
    ColumnSpec("model_version", "categorical", source="version"),
)
COUNTRIES: list[str | None] = ["a", "b", "c", "d", None]
VERSIONS: list[str | None] = ["1", "2", "3", None, ""]
NOW = 1_000.0  # every record is stamped in [0, 100): nothing expires from the 1000 s windows


def rule(
    top_k: int = 2, max_rows: int = 5, retire_after: float = 86_400.0, pinned: tuple[str, ...] = ()
) -> SegmentRule:
    """Changes at every check: no streaks, margins or significance to wait for."""
    return SegmentRule(
        "country",
        top_k=top_k,
        min_share=0.0,
        pinned=pinned,
        promote_after=1,
        demote_after=1,
        margin=0.0,
        significance=0.0,
        retire_after=retire_after,
        max_rows=max_rows,
    )


def make(segment_rule: SegmentRule | None = None, version_max_rows: int = 7) -> ScopedWindows:
    segment_rule = segment_rule or rule()
    plan = ScopePlan(
        COLUMNS,
        length=1_000.0,
        buckets=4,
        segments=(SegmentColumn(segment_rule, 1),),
        version_column=2,
        version_max_rows=version_max_rows,
    )
    return ScopedWindows(MODEL, plan, ScopeDirectory(MODEL, [segment_rule]))


def batch(
    countries: Sequence[str | None], versions: Sequence[str | None], rng: np.random.Generator
) -> tuple[npt.NDArray[np.float64], list[npt.NDArray[np.generic]], npt.NDArray[np.float64]]:
    n = len(countries)
    timestamps = rng.random(n) * 100.0
    values: list[npt.NDArray[np.generic]] = [
        rng.random(n),
        np.array(list(countries), dtype=object),
        np.array(list(versions), dtype=object),
    ]
    return timestamps, values, rng.random(n)


def segment(value: str | None) -> Scope:
    return Scope(MODEL, segment=SegmentKey.of("country", value))


OTHER_SCOPE = Scope(MODEL, segment=SegmentKey.other("country"))


def snapshot_keys(window: Window) -> list[float]:
    return sorted(window.snapshot(NOW, keys=True).frame["__key"].tolist())


class BruteForce:
    """Every record each scope received since its window was made."""

    def __init__(self) -> None:
        self.keys: dict[Scope, list[float]] = {}

    def follow(self, scoped: ScopedWindows) -> None:
        live = set(scoped.directory.scopes()) | {Scope(MODEL, version=v) for v in scoped.versions()}
        self.keys = {scope: self.keys.get(scope, []) for scope in live}

    def add(
        self, scoped: ScopedWindows, values: list[npt.NDArray[np.generic]], keys: npt.NDArray[np.float64]
    ) -> None:
        taken = set(scoped.directory.members("country")) | set(scoped.directory.retiring("country"))
        live = set(scoped.versions())
        for country, version, key in zip(values[1].tolist(), values[2].tolist(), keys.tolist(), strict=True):
            self.keys[segment(country) if country in taken else OTHER_SCOPE].append(key)
            if version in live:
                self.keys[Scope(MODEL, version=version)].append(key)

    def check(self, scoped: ScopedWindows) -> None:
        assert set(scoped.scopes()) == set(self.keys)
        for scope, keys in self.keys.items():
            window = scoped.window(scope)
            assert snapshot_keys(window) == sorted(keys)[: window.max_rows], scope
            assert window.seen() == len(keys)


STEP = st.tuples(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=30),  # records
    st.none()
    | st.tuples(  # a check after the batch: shares, firing values, live versions
        st.lists(st.integers(0, 20), min_size=5, max_size=5),
        st.sets(st.integers(0, 4)),
        st.sets(st.sampled_from(["1", "2", "3"])),
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(STEP, min_size=1, max_size=12), st.integers(0, 2**32 - 1))
def test_each_scope_window_is_the_bottom_k_of_its_records(
    steps: list[tuple[object, object]], seed: int
) -> None:
    """Any batching, any membership changes between batches (promotions, demotions, retiring values
    coming back, versions coming and going): each scope window holds exactly the smallest keys of the
    records its scope received since its window was made, and counts them all."""
    scoped = make(rule(retire_after=30.0))
    brute = BruteForce()
    brute.follow(scoped)
    rng = np.random.default_rng(seed)
    for minute, (records, check) in enumerate(steps):
        assert isinstance(records, list)
        timestamps, values, keys = batch(
            [COUNTRIES[c] for c, _ in records], [VERSIONS[v] for _, v in records], rng
        )
        brute.add(scoped, values, keys)
        scoped.add_columns(timestamps, values, NOW, keys)
        if check is not None:
            assert isinstance(check, tuple)
            weights, firing, live = check
            total = sum(weights) or 1
            shares = {COUNTRIES[i]: w / total for i, w in enumerate(weights) if w}
            burning = {COUNTRIES[i] for i in firing}
            changes = scoped.directory.observe(
                "country",
                shares,
                lambda s, burning=burning: s.segment is not None and s.segment.value in burning,
                60.0 * minute,
            )
            scoped.apply(changes)
            scoped.set_versions(sorted(live))
            brute.follow(scoped)
        brute.check(scoped)


def test_windows_follow_membership_changes() -> None:
    scoped = make(rule(top_k=2, max_rows=100))
    assert scoped.scopes() == [OTHER_SCOPE]
    rng = np.random.default_rng(1)
    scoped.add_columns(*batch(["a", "b", "c"], ["1", "1", "1"], rng)[:2], NOW, rng.random(3))
    assert scoped.window(OTHER_SCOPE).seen() == 3
    scoped.changes()

    changes = scoped.directory.observe("country", {"a": 0.5, "b": 0.3, "c": 0.2}, lambda s: False, 0.0)
    scoped.apply(changes)
    assert scoped.scopes() == [segment("a"), segment("b"), OTHER_SCOPE]
    assert scoped.window(segment("a")).seen() == 0  # a promoted scope starts empty
    timestamps, values, keys = batch(["a", "b", "c", "c"], ["1"] * 4, rng)
    scoped.add_columns(timestamps, values, NOW, keys)
    assert [scoped.window(s).seen() for s in scoped.scopes()] == [1, 1, 5]
    entries = {name: (changes, dropped) for name, _, changes, dropped in scoped.changes()}
    new = entries[window_name(segment("a"))][0]
    assert new is not None and new.full  # replaces whatever a checkpoint held under its name

    # b leaves while firing: retiring, it keeps its window and its records
    fire_b = lambda s: s == segment("b")  # noqa: E731
    changes = scoped.directory.observe("country", {"a": 0.5, "c": 0.4, "b": 0.1}, fire_b, 60.0)
    assert [(c.scope, c.change) for c in changes] == [
        (segment("b"), "retiring"),
        (segment("c"), "promoted"),
    ]
    scoped.apply(changes)
    assert scoped.scopes() == [segment("a"), segment("b"), segment("c"), OTHER_SCOPE]
    assert scoped.window(segment("b")).seen() == 1
    # ... and is promoted back with its window, displacing c, which is not firing: c is dropped
    changes = scoped.directory.observe("country", {"b": 0.6, "a": 0.3, "c": 0.1}, fire_b, 120.0)
    assert [(c.scope, c.change) for c in changes] == [
        (segment("c"), "demoted"),
        (segment("b"), "promoted"),
    ]
    scoped.apply(changes)
    assert scoped.window(segment("b")).seen() == 1
    assert scoped.scopes() == [segment("a"), segment("b"), OTHER_SCOPE]
    with pytest.raises(KeyError):
        scoped.window(segment("c"))
    # c's records count in other from then on
    before = scoped.window(OTHER_SCOPE).seen()
    scoped.add_columns(*batch(["c"], ["1"], rng)[:2], NOW, rng.random(1))
    assert scoped.window(OTHER_SCOPE).seen() == before + 1
    entries = {name: (changes, dropped) for name, _, changes, dropped in scoped.changes()}
    assert entries[window_name(segment("c"))] == (None, True)
    assert not any(dropped for _, _, _, dropped in scoped.changes())  # said once


def test_a_scope_promoted_before_apply_gets_its_window_at_once() -> None:
    """The directory observed (the runner) but the windows were not told yet (ingest runs first)."""
    scoped = make(rule(max_rows=100))
    scoped.directory.observe("country", {"a": 1.0}, lambda s: False, 0.0)
    rng = np.random.default_rng(2)
    scoped.add_columns(*batch(["a", "b"], ["1", "1"], rng)[:2], NOW, rng.random(2))
    assert scoped.window(segment("a")).seen() == 1
    scoped.apply([ScopeChange(segment("a"), "promoted", 0.0)])
    assert scoped.window(segment("a")).seen() == 1  # not replaced


def test_versions() -> None:
    scoped = make()
    rng = np.random.default_rng(3)
    scoped.set_versions(["1", "2", "", "1"])
    assert scoped.versions() == ["1", "2"]
    timestamps, values, keys = batch(["a"] * 6, ["1", "2", "2", None, "", "3"], rng)
    scoped.add_columns(timestamps, values, NOW, keys)
    v1, v2, v3 = (Scope(MODEL, version=v) for v in "123")
    assert [scoped.window(v).seen() for v in (v1, v2)] == [1, 2]  # unversioned and "3": no version scope
    scoped.set_versions(["2", "3"])
    assert [s for s in scoped.scopes() if s.version] == [v2, v3]
    assert scoped.window(v2).seen() == 2 and scoped.window(v3).seen() == 0
    scoped.apply([ScopeChange(v3, "version_left", 0.0)])
    assert scoped.versions() == ["2"] and v3 not in scoped.scopes()
    dropped = sorted(name for name, _, _, gone in scoped.changes() if gone)
    assert dropped == sorted([window_name(v1), window_name(v3)])
    assert scoped.window(v2).max_rows == 7 and scoped.window(OTHER_SCOPE).max_rows == 5

    unversioned = ScopePlan(COLUMNS, 1_000.0, 4, (SegmentColumn(rule(), 1),))
    plain = ScopedWindows(MODEL, unversioned, ScopeDirectory(MODEL, [rule()]))
    with pytest.raises(ValueError, match="no version column"):
        plain.set_versions(["1"])


def test_plan_and_directory_must_agree() -> None:
    whole = Window(list(COLUMNS), length=600.0, max_rows=100, buckets=12)
    plan = ScopePlan.for_window(whole, [rule()], "model_version", version_max_rows=50)
    assert (plan.length, plan.buckets, plan.version_column, plan.segments[0].index) == (600.0, 12, 2, 1)
    scoped = ScopedWindows(MODEL, plan, ScopeDirectory(MODEL, [rule()]))
    assert scoped.window(OTHER_SCOPE).signature() == whole.signature()
    with pytest.raises(KeyError, match="region"):
        ScopePlan.for_window(whole, [SegmentRule("region")])
    with pytest.raises(ValueError, match="'x' is not categorical"):
        ScopePlan(COLUMNS, 600.0, 12, (SegmentColumn(rule(), 0),))
    with pytest.raises(ValueError, match="outside the 3 columns"):
        ScopePlan(COLUMNS, 600.0, 12, version_column=3)
    with pytest.raises(ValueError, match="segment columns"):
        ScopedWindows(MODEL, plan, ScopeDirectory(MODEL, [SegmentRule("region")]))
    with pytest.raises(ValueError, match="model 'other'"):
        ScopedWindows(MODEL, plan, ScopeDirectory("other", [rule()]))
    with pytest.raises(ValueError, match="2 keys"):
        rng = np.random.default_rng(0)
        timestamps, values, _ = batch(["a"], ["1"], rng)
        scoped.add_columns(timestamps, values, NOW, np.zeros(2))


def checkpoint(store: Store, scoped: ScopedWindows, step: int) -> None:
    """A dropped window is stored as an empty full change with no signature: loading it under any
    real signature forgets it."""
    entries: dict[str, tuple[str, WindowChanges]] = {}
    for name, signature, changes, dropped in scoped.changes():
        if dropped:
            entries[name] = ("", WindowChanges(True, [], [], [], [], {}))
        else:
            assert changes is not None
            entries[name] = (signature, changes)
    store.checkpoint(entries, "g", {("t", 0): step})


def test_restore_through_changes_and_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.sqlite")
    segment_rule = rule(top_k=2, max_rows=40, retire_after=1e9)
    live = make(segment_rule, version_max_rows=60)
    rng = np.random.default_rng(4)
    firing: set[str | None] = {"c"}
    for step in range(30):
        n = int(rng.integers(0, 80))
        countries = [COUNTRIES[i] for i in rng.integers(0, 5, n)]
        versions = [VERSIONS[i] for i in rng.integers(0, 5, n)]
        timestamps, values, keys = batch(countries, versions, rng)
        live.add_columns(timestamps, values, NOW, keys)
        if step % 6 == 2:  # a check: membership moves, versions come and go
            shares = value_shares(values[1])
            changes = live.directory.observe(
                "country", shares, lambda s: s.segment is not None and s.segment.value in firing, 60.0 * step
            )
            live.apply(changes)
            live.set_versions(["1", "2"] if step % 12 == 2 else ["2", "3"])
        if step == 17:
            live.mark_full()
        checkpoint(store, live, step)

    back = make(segment_rule, version_max_rows=60)
    back.directory.restore(live.directory.state())
    back.set_versions(live.versions())
    assert back.restore(store.load_window, NOW) > 0
    assert back.scopes() == live.scopes()
    assert len(live.scopes()) >= 4  # members, other, versions
    for scope in live.scopes():
        a, b = live.window(scope).snapshot(NOW, keys=True), back.window(scope).snapshot(NOW, keys=True)
        pd.testing.assert_frame_equal(
            a.frame.sort_values("__key").reset_index(drop=True),
            b.frame.sort_values("__key").reset_index(drop=True),
        )
        assert a.records_seen == b.records_seen
    # the windows of scopes that left are forgotten by the store
    assert live.versions() == ["1", "2"]
    assert (
        store.load_window(window_name(Scope(MODEL, version="3")), live.window(OTHER_SCOPE).signature())
        is None
    )

    back.clear()
    assert back.stored_rows() == 0
    assert all(
        changes is not None and changes.full for _, _, changes, dropped in back.changes() if not dropped
    )


def test_a_window_with_no_checkpoint_is_restored_empty_and_written_in_full() -> None:
    scoped = make(rule(pinned=("a",)))
    rng = np.random.default_rng(5)
    scoped.add_columns(*batch(["a", "b"], ["1", "1"], rng)[:2], NOW, rng.random(2))
    assert scoped.restore(lambda name, signature: None, NOW) == 0
    assert scoped.stored_rows() == 0
    entries = scoped.changes()
    assert [name for name, _, _, _ in entries] == [window_name(segment("a")), window_name(OTHER_SCOPE)]
    assert all(changes is not None and changes.full for _, _, changes, _ in entries)
    scoped.changes()
    scoped.mark_full()
    assert all(changes is not None and changes.full for _, _, changes, _ in scoped.changes())


def test_memory_is_bounded_with_ten_thousand_segment_values() -> None:
    """10,000 distinct values whose ranks keep changing, some scopes firing as they leave: the column
    never has more than top_k + 1 + ceil(top_k / 4) windows, nor the windows more than 1.1 x their
    max_rows rows."""
    segment_rule = SegmentRule(
        "country", top_k=20, min_share=0.001, promote_after=1, demote_after=1, max_rows=500
    )
    scoped = make(segment_rule, version_max_rows=1_000)
    whole = Window(list(COLUMNS), length=1_000.0, max_rows=5_000, buckets=4)
    rng = np.random.default_rng(6)
    values_pool = np.array([f"v{i}" for i in range(10_000)], dtype=object)
    bound = segment_rule.top_k + 1 + segment_rule.retiring_slots
    most = 0
    for step in range(40):
        # Zipf-like traffic whose head moves every check
        ranks = np.minimum(rng.zipf(1.3, 4_000), 10_000) - 1
        countries = values_pool[(ranks + 37 * step) % 10_000]
        versions = [VERSIONS[i] for i in rng.integers(0, 5, 4_000)]
        timestamps, values, keys = batch(list(countries), versions, rng)
        whole.add_columns(timestamps, values, NOW, keys)
        scoped.add_columns(timestamps, values, NOW, keys)
        shares = value_shares(whole.snapshot(NOW).frame["country"].to_numpy())
        changes = scoped.directory.observe("country", shares, lambda s: s.key[-1] in "037", 60.0 * step)
        scoped.apply(changes)
        scoped.set_versions(["1", "2", "3"])
        windows = [scoped.window(s) for s in scoped.scopes()]
        segment_windows = [s for s in scoped.scopes() if s.segment is not None]
        most = max(most, len(segment_windows))
        assert len(segment_windows) <= bound
        assert scoped.stored_rows() <= 1.1 * sum(w.max_rows for w in windows)
    assert most > segment_rule.top_k  # retiring scopes were held


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=40), min_size=1, max_size=8),
    st.integers(0, 8),
    st.integers(3, 60),
    st.integers(2, 15),
    st.integers(0, 2**32 - 1),
)
def test_a_seeded_window_is_the_window_built_from_the_start(
    batches: list[list[tuple[int, int]]], seed_at: int, whole_rows: int, scope_rows: int, seed: int
) -> None:
    """A segment and a version promoted after some batches and seeded from the model window hold, at
    every later point, the bottom k of their records below the model window's threshold at seeding:
    the very window built from the start whenever the model window had kept at least that many of
    them (and with the same records seen while it kept every record)."""
    whole = Window(list(COLUMNS), length=1_000.0, max_rows=whole_rows, buckets=4)
    from_start = make(rule(pinned=("a",), max_rows=scope_rows), version_max_rows=scope_rows)
    from_start.set_versions(["1"])
    seeded = make(rule(top_k=1, max_rows=scope_rows), version_max_rows=scope_rows)
    rng = np.random.default_rng(seed)
    keys_of: dict[Scope, list[float]] = {segment("a"): [], Scope(MODEL, version="1"): []}
    threshold: float | None = None
    for step, records in enumerate([*batches, []]):
        if step == min(seed_at, len(batches)):
            seeded.apply(seeded.directory.observe("country", {"a": 1.0}, lambda s: False, 0.0))
            seeded.set_versions(["1"])
            threshold = min(whole.thresholds().values(), default=1.0)
            for scope in keys_of:
                seeded.seed_from(whole, scope, NOW)
        timestamps, values, keys = batch(
            [COUNTRIES[c] for c, _ in records], [VERSIONS[v] for _, v in records], rng
        )
        timestamps = rng.random(len(records)) * 990.0 + 5.0  # every bucket of the window
        whole.add_columns(timestamps, values, NOW, keys)
        from_start.add_columns(timestamps, values, NOW, keys)
        seeded.add_columns(timestamps, values, NOW, keys)
        for country, version, key in zip(values[1].tolist(), values[2].tolist(), keys.tolist(), strict=True):
            if country == "a":
                keys_of[segment("a")].append(key)
            if version == "1":
                keys_of[Scope(MODEL, version="1")].append(key)
        if threshold is None:
            continue
        for scope, all_keys in keys_of.items():
            built, seeded_window = from_start.window(scope), seeded.window(scope)
            below = sorted(k for k in all_keys if k < threshold)
            assert snapshot_keys(seeded_window) == below[:scope_rows]
            assert snapshot_keys(built) == sorted(all_keys)[:scope_rows]
            if len(below) >= min(scope_rows, len(all_keys)):
                assert snapshot_keys(seeded_window) == snapshot_keys(built)
            if threshold >= 1.0:
                assert seeded_window.seen() == built.seen()


def test_seeding_takes_the_model_window_rows_and_estimates_what_they_stand_for(tmp_path: Path) -> None:
    whole = Window(list(COLUMNS), length=1_000.0, max_rows=100, buckets=4)
    scoped = make(rule(top_k=1, max_rows=1_000))
    rng = np.random.default_rng(7)
    timestamps, values, keys = batch(["a", "b"] * 500, ["1"] * 1_000, rng)
    whole.add_columns(timestamps, values, NOW, keys)
    scoped.apply(scoped.directory.observe("country", {"a": 1.0}, lambda s: False, 0.0))
    rows = scoped.seed_from(whole, segment("a"), NOW)
    frame = whole.snapshot(NOW).frame
    assert rows == int((frame["country"] == "a").sum()) > 20
    (tau,) = whole.thresholds().values()
    assert scoped.window(segment("a")).seen() == round(rows / tau)
    assert abs(scoped.window(segment("a")).seen() - 500) < 150
    # a seeded window is checkpointed like any other
    store = Store(tmp_path / "state.sqlite")
    checkpoint(store, scoped, 0)
    back = make(rule(top_k=1, max_rows=1_000))
    back.directory.restore(scoped.directory.state())
    assert back.restore(store.load_window, NOW) == rows
    assert snapshot_keys(back.window(segment("a"))) == snapshot_keys(scoped.window(segment("a")))
    assert back.window(segment("a")).seen() == scoped.window(segment("a")).seen()
    with pytest.raises(ValueError, match="not seeded"):
        scoped.seed_from(whole, OTHER_SCOPE, NOW)
    with pytest.raises(KeyError, match="no window"):
        scoped.seed_from(whole, segment("b"), NOW)
    with pytest.raises(ValueError, match="same columns"):
        scoped.window(segment("a")).seed_from(Window(list(COLUMNS[:2]), 1_000.0, 10, 4), "country", "a", NOW)
    with pytest.raises(ValueError, match="only an empty window"):
        scoped.window(segment("a")).seed_from(whole, "country", "a", NOW)


def test_observe_takes_the_shares_of_the_model_window_snapshot() -> None:
    segment_rule = SegmentRule("country", top_k=1, min_share=0.1, promote_after=1, significance=0.0)
    scoped = make(segment_rule)
    frame = pd.DataFrame(
        {"x": [1.0] * 10, "country": ["a"] * 6 + ["b"] * 3 + [None], "model_version": ["1"] * 10}
    )
    changes = scoped.observe(frame, lambda s: False, 60.0)
    assert changes == [ScopeChange(segment("a"), "promoted", 60.0)]
    assert scoped.scopes() == [segment("a"), OTHER_SCOPE]
    # b displaces a: the windows follow in the same call
    frame["country"] = ["b"] * 8 + ["a"] * 2
    assert [(c.scope, c.change) for c in scoped.observe(frame, lambda s: False, 120.0)] == [
        (segment("a"), "demoted"),
        (segment("b"), "promoted"),
    ]
    assert scoped.scopes() == [segment("b"), OTHER_SCOPE]


def test_each_segment_column_routes_every_row() -> None:
    """Two segment columns: a row goes to one scope of each, so each column's windows partition the
    model's records."""
    columns = (*COLUMNS, ColumnSpec("device", "categorical"))
    rules = [
        SegmentRule("country", pinned=("a",), max_rows=1_000),
        SegmentRule("device", pinned=("ios", "web"), max_rows=1_000),
    ]
    plan = ScopePlan(columns, 1_000.0, 4, (SegmentColumn(rules[0], 1), SegmentColumn(rules[1], 3)))
    scoped = ScopedWindows(MODEL, plan, ScopeDirectory(MODEL, rules))
    rng = np.random.default_rng(8)
    timestamps, values, keys = batch(["a", "b", "a", None, "c"], ["1"] * 5, rng)
    values.append(np.array(["ios", "web", "android", "ios", None], dtype=object))
    scoped.add_columns(timestamps, values, NOW, keys)
    seen = {scope.segment.label: scoped.window(scope).seen() for scope in scoped.scopes() if scope.segment}
    assert seen == {
        "country=a": 2,
        "country:other": 3,
        "device=ios": 2,
        "device=web": 1,
        "device:other": 2,
    }
