"""Which segment values get a scope of their own: the top K by traffic, held steady under noise.

A segmented model watches, per segment column, the K values with the most traffic (plus the pinned
ones) as scopes of their own; every other value counts in ``column:other``. Traffic is measured at
each scheduled check on the model-wide window's sample (`value_shares`), which is a uniform sample,
the same on every replica and after a restore, so the choice is deterministic; but it is a sample,
so the shares move a little from check to check. `ScopeDirectory` is the pure state machine that
turns these noisy shares into membership changes without flapping:

1. Pinned values are members always.
2. A free slot (members < ``top_k``) goes to the best non-member with share >= ``min_share`` once it
   has qualified for ``promote_after`` checks in a row.
3. When full, the best candidate displaces the weakest unpinned member only when its share is above
   ``(1 + margin)`` times the member's, and above it by more than ``significance`` (4) standard
   errors of the difference when the sample size is given, for ``promote_after`` checks in a row (a
   streak per candidate, reset when it stops qualifying; only the best ``top_k`` candidates keep one).
4. A member below ``min_share / (1 + margin)`` (or absent) for ``demote_after`` checks in a row leaves.
5. Ties are broken by the value's text (the missing value first), so the order is total.

A member whose alert is firing when it leaves is *retiring*: it keeps its scope (and its records)
while the alert fires, so the alert resolves by evidence; it leaves quietly when the alert stops
firing, and is *retired* (the runner sends a ``resolved`` transition with reason ``retired``) after
``retire_after`` or when more than ``ceil(top_k / 4)`` values of the column are retiring (the one
with the least traffic first). A retiring value that qualifies again is promoted back.

`ScopeDirectory.route` maps the canonical category keys of a batch to their scope per column (a
dict lookup per record); `ScopeDirectory.epoch` grows at every change so that routing done with an
older membership can be recognised. `VersionTracker` records the model versions seen at ingest, from
every record rather than from the sample, so that a new version, however rare, is announced at once.

Decisions (issue 16, open questions of the design):

- A firing segment that leaves the top K is retired with a ``resolved`` transition carrying reason
  ``retired`` (``ScopeChange`` ``retired``); one whose alert stopped firing leaves as ``demoted``.
- ``segments.per_version`` is off by default: the directory holds one membership per column, for
  every version.
- A new model version is detected at ingest from every record (`VersionTracker`, exact, bounded to
  the 100 most recently seen versions), not from the sample.
- Champion/challenger comparisons are not stratified by segment (a documented limitation).
- The missing value competes for a slot like any value (it is "its own value", ``country:missing``);
  when it has no slot its records count in ``other``, so the windows of a column stay within
  ``top_k + 1 + ceil(top_k / 4)``.
- Demotion uses ``min_share / (1 + margin)``, not ``min_share``: without that margin a value whose
  share sits at ``min_share`` would come and go every few checks.
- A displacement also needs the share difference to be significant (``significance`` standard
  errors, given the sample size): the margin alone does not hold when many values are nearly tied
  at the K-th place. With 40 values tied at 0.3% of a 50,000-row sample, the best of the
  non-members' estimates is routinely 30% above the worst of the members', and the top K flapped.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import msgspec
import numpy as np
import numpy.typing as npt

from driftwatch.scope import Scope, SegmentKey

__all__ = [
    "OTHER",
    "ScopeChange",
    "ScopeDirectory",
    "SegmentRule",
    "VersionTracker",
    "value_shares",
]

OTHER = -1  # the route code of a value without a scope of its own

ChangeKind = Literal["promoted", "demoted", "retiring", "retired", "version_appeared", "version_left"]
Value = str | None  # a canonical category key; None is the missing value


@dataclass(frozen=True)
class SegmentRule:
    """How one segment column chooses its scopes (``segments:`` settings merged for the column).

    ``significance``: standard errors of the share difference a candidate must beat the weakest
    member by (besides the margin) to displace it, when `ScopeDirectory.observe` is given the
    sample size; not a config key."""

    column: str
    top_k: int = 20
    min_share: float = 0.001
    pinned: tuple[str, ...] = ()
    promote_after: int = 2
    demote_after: int = 3
    margin: float = 0.25
    significance: float = 4.0
    retire_after: float = 86_400.0
    max_rows: int = 5000
    min_rows: int = 500
    source: Literal["feature", "metadata"] = "feature"

    def __post_init__(self) -> None:
        problems = [
            what
            for what, bad in (
                (f"top_k {self.top_k} is below 1", self.top_k < 1),
                (f"{len(self.pinned)} pinned values for top_k {self.top_k}", len(self.pinned) > self.top_k),
                ("a pinned value is given twice", len(set(self.pinned)) != len(self.pinned)),
                (f"min_share {self.min_share} is outside [0, 1)", not 0 <= self.min_share < 1),
                (f"promote_after {self.promote_after} is below 1", self.promote_after < 1),
                (f"demote_after {self.demote_after} is below 1", self.demote_after < 1),
                (f"margin {self.margin} is negative", self.margin < 0),
                (f"significance {self.significance} is negative", self.significance < 0),
                (f"retire_after {self.retire_after} is negative", self.retire_after < 0),
            )
            if bad
        ]
        if problems:
            raise ValueError(f"segment column {self.column!r}: {'; '.join(problems)}")

    @property
    def retiring_slots(self) -> int:
        """At most this many values of the column are retiring at once: ``ceil(top_k / 4)``."""
        return math.ceil(self.top_k / 4)


@dataclass(frozen=True)
class ScopeChange:
    """A scope's membership changed at ``at``.

    ``promoted``: it gets a window (or keeps it, coming back from retiring). ``demoted``: it leaves
    (its window is dropped, its records count in ``other``); its alert, if it had one, was not
    firing. ``retiring``: it left the top K while firing and keeps its window for now. ``retired``:
    a retiring scope leaves while still firing (send ``resolved`` with reason ``retired``).
    ``version_appeared`` / ``version_left``: the same for version scopes.
    """

    scope: Scope
    change: ChangeKind
    at: float


def value_shares(values: npt.NDArray[np.object_] | Sequence[Value]) -> dict[Value, float]:
    """Each canonical category key's share of ``values`` (the model window's sample of a column)."""
    items = values.tolist() if isinstance(values, np.ndarray) else list(values)
    if not items:
        return {}
    total = len(items)
    return {value: count / total for value, count in Counter(items).items()}


def _rank(shares: Mapping[Value, float]) -> Callable[[Value], tuple[float, bool, str]]:
    """Sort key, best first: the larger share, then the missing value, then the text."""

    def key(value: Value) -> tuple[float, bool, str]:
        return (-float(shares.get(value, 0.0)), value is not None, value or "")

    return key


@dataclass
class _Member:
    low: int = 0  # checks in a row below the demotion floor
    share: float = 0.0  # at the last check


@dataclass
class _Retiring:
    since: float
    share: float = 0.0


@dataclass
class _Column:
    rule: SegmentRule
    members: dict[Value, _Member]
    retiring: dict[Value, _Retiring]
    streaks: dict[Value, int]  # candidates: checks in a row they qualified


# checkpoint form (msgspec) ---------------------------------------------------------------------


class _MemberState(msgspec.Struct, array_like=True, frozen=True):
    value: Value
    low: int
    share: float


class _RetiringState(msgspec.Struct, array_like=True, frozen=True):
    value: Value
    since: float
    share: float


class _ColumnState(msgspec.Struct, frozen=True):
    column: str
    members: list[_MemberState]
    retiring: list[_RetiringState]
    streaks: list[tuple[Value, int]]


class _DirectoryState(msgspec.Struct, frozen=True, tag="scope-directory-1"):
    model: str
    epoch: int
    columns: list[_ColumnState]


def _value_order(value: Value) -> tuple[bool, str]:
    return (value is not None, value or "")


class ScopeDirectory:
    """The segment scopes of one model: per column, its members (top K and pinned) and the retiring
    values, and the route of each value. Pure: shares, alert states and the time are passed in."""

    def __init__(self, model: str, rules: Sequence[SegmentRule]) -> None:
        columns = [rule.column for rule in rules]
        if len(set(columns)) != len(columns):
            raise ValueError(f"model {model}: a segment column is given twice ({', '.join(columns)})")
        self.model = model
        self._columns = {
            rule.column: _Column(rule, {value: _Member() for value in rule.pinned}, {}, {}) for rule in rules
        }
        self._epoch = 0
        self._routes: dict[str, dict[Value, int]] = {}
        self._segments: dict[str, list[SegmentKey]] = {}
        for column in self._columns:
            self._reroute(column)

    @property
    def epoch(self) -> int:
        """Grows by one at every `observe` (or `restore`) that changed any membership."""
        return self._epoch

    @property
    def columns(self) -> list[str]:
        return list(self._columns)

    def rule(self, column: str) -> SegmentRule:
        return self._columns[column].rule

    def members(self, column: str) -> list[Value]:
        """The column's top K (pinned included), in value order (missing first, then by text)."""
        return sorted(self._columns[column].members, key=_value_order)

    def retiring(self, column: str) -> list[Value]:
        return sorted(self._columns[column].retiring, key=_value_order)

    def segments(self, column: str) -> list[SegmentKey]:
        """The column's segments with a scope (members and retiring), in route-code order: code ``i``
        of `route` is ``segments(column)[i]``, `OTHER` is ``SegmentKey.other(column)``."""
        return list(self._segments[column])

    def scopes(self) -> list[Scope]:
        """Every segment scope with a window: each column's segments, then its ``other``."""
        return [
            Scope(self.model, segment=segment)
            for column in self._columns
            for segment in [*self._segments[column], SegmentKey.other(column)]
        ]

    def route(self, column: str, values: npt.NDArray[np.object_] | Sequence[Value]) -> npt.NDArray[np.int64]:
        """The route code of each value (canonical category keys, None for missing): the index of
        its segment in `segments`, or `OTHER`."""
        table = self._routes[column]
        items = values.tolist() if isinstance(values, np.ndarray) else values
        if not table:
            return np.full(len(items), OTHER, dtype=np.int64)
        codes = map(table.get, items, itertools.repeat(OTHER))
        return np.fromiter(codes, dtype=np.int64, count=len(items))

    def observe(
        self,
        column: str,
        shares: Mapping[Value, float],
        firing: Callable[[Scope], bool],
        now: float,
        rows: int | None = None,
    ) -> list[ScopeChange]:
        """One scheduled check's shares of the column's values (`value_shares` of the model window's
        sample; an absent value has share 0) -> the membership changes, in the order they apply.
        ``firing(scope)`` says whether any alert of a segment scope is firing. ``rows``, the size of
        the sample the shares come from, makes a displacement also wait for the difference to be
        significant (see `SegmentRule.significance`)."""
        state = self._columns[column]
        rule = state.rule
        rank = _rank(shares)
        changes: list[ScopeChange] = []

        def share(value: Value) -> float:
            return float(shares.get(value, 0.0))

        def scope(value: Value) -> Scope:
            return Scope(self.model, segment=SegmentKey.of(column, value))

        def change(value: Value, kind: ChangeKind) -> None:
            changes.append(ScopeChange(scope(value), kind, now))

        def leave(value: Value) -> None:
            del state.members[value]
            if firing(scope(value)):
                state.retiring[value] = _Retiring(now, share(value))
                change(value, "retiring")
            else:
                change(value, "demoted")

        def beats(candidate: Value, member: Value) -> bool:
            """The candidate's share is above (1 + margin) x the member's, by more than
            ``significance`` standard errors of the difference when the sample size is known."""
            c, m = share(candidate), share(member)
            if c <= (1 + rule.margin) * m:
                return False
            return rows is None or c - m > rule.significance * math.sqrt((c + m) / max(rows, 1))

        def weakest() -> Value | None:
            unpinned = [v for v in state.members if v not in rule.pinned]
            return max(unpinned, key=rank) if unpinned else None

        # retiring scopes: leave once the alert is no longer firing, or when the deferral is over
        for value in sorted(state.retiring, key=rank):
            state.retiring[value].share = share(value)
            if not firing(scope(value)):
                del state.retiring[value]
                change(value, "demoted")
            elif now - state.retiring[value].since >= rule.retire_after:
                del state.retiring[value]
                change(value, "retired")

        # members too small for a scope of their own
        floor = rule.min_share / (1 + rule.margin)
        for value in sorted(state.members, key=rank):
            member = state.members[value]
            member.share = share(value)
            if value in rule.pinned:
                continue
            member.low = member.low + 1 if member.share <= 0 or member.share < floor else 0
            if member.low >= rule.demote_after:
                leave(value)

        # candidates: the best top_k non-members above min_share keep a streak while they qualify
        eligible = (v for v, s in shares.items() if v not in state.members and s > 0 and s >= rule.min_share)
        best = heapq.nsmallest(rule.top_k, eligible, key=rank)
        free = len(state.members) < rule.top_k
        bar = weakest()
        state.streaks = {
            value: state.streaks.get(value, 0) + 1
            for value in best
            if free or (bar is not None and beats(value, bar))
        }
        for value in best:
            if state.streaks.get(value, 0) < rule.promote_after:
                continue
            if len(state.members) >= rule.top_k:
                bar = weakest()
                if bar is None or not beats(value, bar):
                    break  # the next candidates have no larger share
                leave(bar)
            state.retiring.pop(value, None)
            state.members[value] = _Member(0, share(value))
            del state.streaks[value]
            change(value, "promoted")

        # too many retiring: the one with the least traffic goes first
        while len(state.retiring) > rule.retiring_slots:
            value = max(state.retiring, key=rank)
            del state.retiring[value]
            change(value, "retired")

        if changes:
            self._epoch += 1
            self._reroute(column)
        return changes

    def _reroute(self, column: str) -> None:
        state = self._columns[column]
        values = sorted([*state.members, *state.retiring], key=_value_order)
        self._segments[column] = [SegmentKey.of(column, value) for value in values]
        self._routes[column] = {value: code for code, value in enumerate(values)}

    # checkpoints -------------------------------------------------------------------------------

    def state(self) -> bytes:
        """The whole directory, for a checkpoint (`restore` takes it back)."""
        columns = []
        for column, state in self._columns.items():
            columns.append(
                _ColumnState(
                    column,
                    [
                        _MemberState(value, state.members[value].low, state.members[value].share)
                        for value in sorted(state.members, key=_value_order)
                    ],
                    [
                        _RetiringState(value, state.retiring[value].since, state.retiring[value].share)
                        for value in sorted(state.retiring, key=_value_order)
                    ],
                    [(value, state.streaks[value]) for value in sorted(state.streaks, key=_value_order)],
                )
            )
        return msgspec.msgpack.encode(_DirectoryState(self.model, self._epoch, columns))

    def restore(self, data: bytes) -> None:
        """Load a checkpointed directory. Columns no longer configured are forgotten, new ones start
        with their pinned values; pinned values are members; when ``top_k`` was lowered the members
        with the least traffic at the last check leave (and the epoch grows: membership changed)."""
        saved = msgspec.msgpack.decode(data, type=_DirectoryState)
        if saved.model != self.model:
            raise ValueError(f"directory of model {saved.model!r} restored into model {self.model!r}")
        adjusted = {c.column for c in saved.columns} != set(self._columns)
        for column_state in saved.columns:
            state = self._columns.get(column_state.column)
            if state is None:
                adjusted = True
                continue
            rule = state.rule
            members = {m.value: _Member(m.low, m.share) for m in column_state.members}
            for value in rule.pinned:
                members.setdefault(value, _Member())
            shares = {value: member.share for value, member in members.items()}
            rank = _rank(shares)
            while len(members) > rule.top_k:
                del members[max((v for v in members if v not in rule.pinned), key=rank)]
            retiring = {
                r.value: _Retiring(r.since, r.share) for r in column_state.retiring if r.value not in members
            }
            rank = _rank({value: r.share for value, r in retiring.items()})
            while len(retiring) > rule.retiring_slots:
                del retiring[max(retiring, key=rank)]
            changed = set(members) != {m.value for m in column_state.members} or len(retiring) != len(
                column_state.retiring
            )
            adjusted |= changed
            state.members, state.retiring = members, retiring
            state.streaks = {value: streak for value, streak in column_state.streaks if value not in members}
            self._reroute(column_state.column)
        self._epoch = saved.epoch + adjusted


# versions ------------------------------------------------------------------------------------


class _VersionEntry(msgspec.Struct, array_like=True, frozen=True):
    version: str
    first_seen: float
    last_seen: float


class _VersionState(msgspec.Struct, frozen=True, tag="versions-1"):
    versions: list[_VersionEntry]  # least recently seen first


class VersionTracker:
    """The model versions seen at ingest, from every record: a version seen for the first time is
    reported once by `observe`. Bounded: the ``capacity`` most recently seen versions are kept (one
    that drops out and comes back is new again). Empty and missing versions are no version."""

    def __init__(self, capacity: int = 100) -> None:
        if capacity < 1:
            raise ValueError(f"a version tracker keeps at least one version (capacity {capacity})")
        self.capacity = capacity
        self._seen: OrderedDict[str, tuple[float, float]] = OrderedDict()  # version -> (first, last)

    def observe(self, values: npt.NDArray[np.object_] | Iterable[str | None], now: float) -> list[str]:
        """Note the versions of a batch of records seen at ``now``; returns those never seen before
        (in the order they first appear in the batch)."""
        items = values.tolist() if isinstance(values, np.ndarray) else values
        new: list[str] = []
        for version in dict.fromkeys(items):
            if version is None or version == "":
                continue
            entry = self._seen.pop(version, None)
            if entry is None:
                new.append(version)
                self._seen[version] = (now, now)
            else:
                self._seen[version] = (entry[0], max(entry[1], now))
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
        return new

    def known(self) -> list[str]:
        """The versions kept, least recently seen first."""
        return list(self._seen)

    def last_seen(self, version: str) -> float | None:
        entry = self._seen.get(version)
        return None if entry is None else entry[1]

    def first_seen(self, version: str) -> float | None:
        entry = self._seen.get(version)
        return None if entry is None else entry[0]

    def live(self, now: float, named: Sequence[str], max_live: int, expire_after: float) -> list[str]:
        """The versions with a scope: the ``named`` ones always, then the most recently seen others
        seen within ``expire_after`` of ``now``, up to ``max_live`` in all (ties by text)."""
        recent = sorted(
            (v for v, (_, last) in self._seen.items() if v not in named and last >= now - expire_after),
            key=lambda v: (-self._seen[v][1], v),
        )
        return [*dict.fromkeys(named), *recent[: max(0, max_live - len(set(named)))]]

    def state(self) -> bytes:
        entries = [_VersionEntry(v, first, last) for v, (first, last) in self._seen.items()]
        return msgspec.msgpack.encode(_VersionState(entries))

    def restore(self, data: bytes) -> None:
        saved = msgspec.msgpack.decode(data, type=_VersionState)
        self._seen = OrderedDict((e.version, (e.first_seen, e.last_seen)) for e in saved.versions)
        while len(self._seen) > self.capacity:
            self._seen.popitem(last=False)
