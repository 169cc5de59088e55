"""The windows of a scoped model: one `Window` per live segment scope and per live model version.

A model with segments or versions keeps its model-wide `Window` as today and, beside it, one
`ScopedWindows`: a window per segment scope of its `ScopeDirectory` (per segment column, each member
and retiring value, and the column's ``other``) and per live model version. Ingest calls
`ScopedWindows.add_columns` right after the model window's ``add_columns``, with the same arrays:
each row goes to its segment scope in every segment column (`ScopeDirectory.route`) and to its
version's scope, with its position key. A scope window is thus a bottom-k sample of the records its
scope received since the window was made, whatever the batching (the same records give the same
rows), like the model window is of the model's.

Membership is decided by the directory (`ScopedWindows.observe` gives it a check's value shares)
and by `VersionTracker.live`; `observe`, `apply` and `set_versions` make the windows follow it: a
promoted scope gets a new empty window (a retiring value promoted back keeps its window), a
demoted or retired one is dropped, and ``other`` keeps receiving every value that no member takes.
Memory is bounded: per segment column at most ``top_k + 1 + ceil(top_k / 4)`` windows of at most
1.1 x ``max_rows`` rows each, per live version one of 1.1 x the version ``max_rows``.

For checkpoints, `changes` gives each live window's `WindowChanges` under its `window_name`, and the
names of the windows dropped since the last call; `restore` loads them back. `Store.checkpoint`
has no entry for a dropped window yet (WP-D): storing it as an empty full change under an empty
signature works today (the next `Store.load_window` of that name forgets it).

Departures from the design (issue 16, 2.3 and 8):

- The constructor takes ``(model, plan, directory)``: the model-wide window is not held here (its
  columns, length and buckets are in the `ScopePlan`, made from it by `ScopePlan.for_window`), and
  the directory is the caller's (it observes the shares and checkpoints the directory itself).
  `scopes` lists the scoped windows only, not the model-wide scope.
- `add_columns` requires the position keys (the model window draws its own when given none, and
  the scopes' samples must be of the same keys). It returns nothing, as in the design.
- Segment scope windows take ``max_rows`` from their column's `SegmentRule`; version scopes take
  ``ScopePlan.version_max_rows``.
- `apply` makes the segment windows follow the directory's membership after the check (the net
  effect of its changes: a value demoted and promoted back in one check keeps its window, its
  records never stopped going to it), and drops a ``version_left`` version; live versions are set
  by `set_versions` (``version_appeared`` only announces a version). A scope the directory routes
  to before `apply` is called (the directory observed directly) gets its window at once.
- `restore` takes a loader, ``load(name, signature)`` (`Store.load_window`), rather than a mapping
  of loaded states: the names to load are known only once the windows follow the restored
  directory. The caller restores the directory (and sets the versions) first; the directory's bytes
  are not restored here.
- Seeding is a separate call, `seed_from` (the caller passes the model window), not part of
  `apply`. A seeded bucket's ``seen`` is an estimate (``rows / tau``) when the model window was
  sampling; nothing records yet which buckets were estimated (the design's result note).
- `observe` takes the snapshot frame and passes the sample size (``rows``) on, as
  `ScopeDirectory.observe` needs for its significance test (design 10.1).
- Not yet: rolling baselines per scope, ``add_partial`` (scale-out), ``thresholds``.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.scope import Scope, SegmentKey, window_name
from driftwatch.stream.baseline import RollingBaseline
from driftwatch.stream.segments import OTHER, ScopeChange, ScopeDirectory, SegmentRule, value_shares
from driftwatch.stream.windows import BucketState, ColumnSpec, Segment, Window, WindowChanges

__all__ = ["BaselinePlan", "LoadedWindow", "ScopePlan", "ScopedWindows", "SegmentColumn", "WindowEntry"]

LoadedWindow = tuple[list[BucketState], list[tuple[int, Segment]], dict[str, int]]
"""A window's checkpointed state, as `Store.load_window` returns it."""

WindowEntry = tuple[str, str, WindowChanges | None, bool]
"""(window name, signature, changes or None, dropped) of one scope window, for a checkpoint."""


@dataclass(frozen=True)
class SegmentColumn:
    """A segment column of the model: its rule and its index among the model window's columns."""

    rule: SegmentRule
    index: int


@dataclass(frozen=True)
class BaselinePlan:
    """The rolling baselines of a model's scopes: which kinds of scope have one (``versions``,
    ``segments``), the trailing period and lag, and each baseline's ``max_rows``."""

    rolling: float
    lag: float
    max_rows: int
    versions: bool = False
    segments: bool = False

    def covers(self, scope: Scope) -> bool:
        return self.segments if scope.segment is not None else self.versions


@dataclass(frozen=True)
class ScopePlan:
    """What a model's scope windows are made of: the model window's columns, length and bucket count
    (every scope window has the same layout), the segment columns and the version column (indexes
    into those columns), and the version windows' ``max_rows``."""

    columns: tuple[ColumnSpec, ...]
    length: float
    buckets: int
    segments: tuple[SegmentColumn, ...] = ()
    version_column: int | None = None
    version_max_rows: int = 20_000
    baseline: BaselinePlan | None = None

    def __post_init__(self) -> None:
        problems = []
        names = [s.rule.column for s in self.segments]
        if len(set(names)) != len(names):
            problems.append(f"a segment column is given twice ({', '.join(names)})")
        indexes = [s.index for s in self.segments]
        if self.version_column is not None:
            indexes.append(self.version_column)
        for index in indexes:
            if not 0 <= index < len(self.columns):
                problems.append(f"column index {index} is outside the {len(self.columns)} columns")
            elif self.columns[index].type != "categorical":
                problems.append(f"column {self.columns[index].name!r} is not categorical")
        if self.version_max_rows < 1:
            problems.append(f"version max_rows {self.version_max_rows} is below 1")
        if self.buckets < 1 or not self.length > 0:
            problems.append(f"a window of {self.length}s in {self.buckets} buckets")
        if problems:
            raise ValueError(f"scope plan: {'; '.join(problems)}")

    @classmethod
    def for_window(
        cls,
        whole: Window,
        rules: Sequence[SegmentRule],
        version_column: str | None = None,
        version_max_rows: int = 20_000,
        baseline: BaselinePlan | None = None,
    ) -> ScopePlan:
        """The plan of a model window: the segment and version columns found by name among its
        columns (KeyError naming the column when one is not there)."""
        index = {spec.name: i for i, spec in enumerate(whole.columns)}
        missing = [
            c for c in [*(r.column for r in rules), version_column] if c is not None and c not in index
        ]
        if missing:
            raise KeyError(f"columns {missing} are not columns of the model window")
        return cls(
            columns=tuple(whole.columns),
            length=whole.length,
            buckets=round(whole.length / whole.bucket_seconds),
            segments=tuple(SegmentColumn(rule, index[rule.column]) for rule in rules),
            version_column=None if version_column is None else index[version_column],
            version_max_rows=version_max_rows,
            baseline=baseline,
        )


_Rows = tuple[npt.NDArray[np.float64], list[npt.NDArray[np.generic]], npt.NDArray[np.float64]]


def _groups(
    codes: npt.NDArray[np.int64],
    timestamps: npt.NDArray[np.float64],
    values: Sequence[npt.NDArray[np.generic]],
    keys: npt.NDArray[np.float64],
) -> list[tuple[int, _Rows]]:
    """The rows of each route code, in batch order within a code: one stable sort and a slice per code
    (views), so splitting a batch among S scopes costs one pass over its columns, not S."""
    first = int(codes[0])
    if (codes == first).all():
        return [(first, (timestamps, list(values), keys))]
    order = np.argsort(codes, kind="stable")
    ordered = codes[order]
    cuts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    bounds = [0, *cuts.tolist(), len(codes)]
    timestamps, keys = timestamps[order], keys[order]
    columns = [v[order] for v in values]
    return [
        (int(ordered[a]), (timestamps[a:b], [c[a:b] for c in columns], keys[a:b]))
        for a, b in itertools.pairwise(bounds)
    ]


class ScopedWindows:
    """One model's scope windows. Thread-safe: ingest adds while the runner applies changes."""

    def __init__(self, model: str, plan: ScopePlan, directory: ScopeDirectory) -> None:
        if directory.model != model:
            raise ValueError(f"the scope directory of model {directory.model!r} given to model {model!r}")
        planned = sorted(s.rule.column for s in plan.segments)
        if planned != sorted(directory.columns):
            raise ValueError(
                f"model {model}: the plan has segment columns {planned}, "
                f"the directory {sorted(directory.columns)}"
            )
        self.model = model
        self.plan = plan
        self.directory = directory
        self._max_rows = {s.rule.column: s.rule.max_rows for s in plan.segments}
        self._lock = threading.RLock()
        self._windows: dict[Scope, Window] = {}
        self._baselines: dict[Scope, RollingBaseline] = {}
        self._versions: list[str] = []
        self._dropped: set[str] = set()  # window names dropped since the last `changes`
        with self._lock:
            self._follow_directory()

    # scopes ------------------------------------------------------------------------------------

    def scopes(self) -> list[Scope]:
        """The scopes with a window, in scope order (segment scopes, then versions)."""
        with self._lock:
            return sorted(self._windows)

    def window(self, scope: Scope) -> Window:
        """The window of a live scope (KeyError otherwise)."""
        with self._lock:
            return self._windows[scope]

    def baseline(self, scope: Scope) -> RollingBaseline | None:
        """The rolling baseline of a live scope (None when its kind of scope has none)."""
        with self._lock:
            return self._baselines.get(scope)

    def versions(self) -> list[str]:
        """The live versions, as last set."""
        with self._lock:
            return list(self._versions)

    def _new(self, scope: Scope) -> Window:
        """A new empty window for ``scope``; its first `changes` is a full one, so whatever a
        checkpoint still holds under its name is replaced. Under the lock."""
        if scope.segment is not None:
            max_rows = self._max_rows[scope.segment.column]
        else:
            max_rows = self.plan.version_max_rows
        window = Window(self.plan.columns, self.plan.length, max_rows, self.plan.buckets)
        window.mark_full()
        self._windows[scope] = window
        self._dropped.discard(window_name(scope))
        plan = self.plan.baseline
        if plan is not None and plan.covers(scope) and scope not in self._baselines:
            baseline = RollingBaseline(
                self.plan.columns, plan.rolling, plan.lag, plan.max_rows, window.bucket_seconds
            )
            baseline.mark_full()
            self._baselines[scope] = baseline
            self._dropped.discard(window_name(scope, rolling=True))
        return window

    def _drop(self, scope: Scope) -> None:
        if self._windows.pop(scope, None) is not None:
            self._dropped.add(window_name(scope))
        if self._baselines.pop(scope, None) is not None:
            self._dropped.add(window_name(scope, rolling=True))

    def _follow_directory(self) -> None:
        """A window for every segment scope of the directory, none for a scope it no longer has.
        Under the lock."""
        wanted = set(self.directory.scopes())
        for scope in [s for s in self._windows if s.segment is not None and s not in wanted]:
            self._drop(scope)
        for scope in wanted:
            if scope not in self._windows:
                self._new(scope)

    def apply(self, changes: Iterable[ScopeChange]) -> None:
        """Follow the membership changes of a check: the segment windows are made to match the
        directory (a ``promoted`` scope gets a new empty window, a ``demoted`` or ``retired`` one is
        dropped, a ``retiring`` one keeps its window, and so does one that leaves and comes back in
        the same check, since its records never stopped going to it); a ``version_left`` version is
        dropped. ``version_appeared`` changes no window (`set_versions` does)."""
        with self._lock:
            for change in changes:
                scope = change.scope
                if scope.model != self.model:
                    raise ValueError(f"a change of model {scope.model!r} applied to model {self.model!r}")
                if change.change == "version_left" and scope.version is not None:
                    self._drop(scope)
                    self._versions = [v for v in self._versions if v != scope.version]
            self._follow_directory()

    def observe(self, frame: pd.DataFrame, firing: Callable[[Scope], bool], now: float) -> list[ScopeChange]:
        """One scheduled check: each segment column's value shares in ``frame`` (the model window's
        snapshot) go to `ScopeDirectory.observe` (with the sample size), and the windows follow
        the changes, under the lock that ingest's routing takes, so no batch is routed with one
        membership and added with another. Returns the changes, column by column."""
        changes: list[ScopeChange] = []
        with self._lock:
            for column in self.plan.segments:
                name = column.rule.column
                values = frame[name].to_numpy(dtype=object) if name in frame else np.empty(0, dtype=object)
                shares = value_shares(values)
                changes += self.directory.observe(name, shares, firing, now, rows=len(frame))
            self.apply(changes)
        return changes

    def set_versions(self, live: Sequence[str]) -> None:
        """The live versions (`VersionTracker.live`): a new one gets an empty window, one no longer
        live is dropped."""
        if self.plan.version_column is None and live:
            raise ValueError(f"model {self.model} has no version column: no version scopes")
        with self._lock:
            self._versions = list(dict.fromkeys(v for v in live if v))
            wanted = {Scope(self.model, version=v) for v in self._versions}
            for scope in [s for s in self._windows if s.version is not None and s not in wanted]:
                self._drop(scope)
            for scope in wanted:
                if scope not in self._windows:
                    self._new(scope)

    def seed_from(self, whole: Window, scope: Scope, now: float) -> int:
        """Give a live scope a new window seeded from the model window (`Window.seed_from`): the
        model window's rows of the scope's value (or version), at the model window's thresholds,
        so a scope promoted now has a verdict at once if it has enough rows. Meant right after the
        scope got its window (`apply`, `set_versions`): rows it received since are in the model
        window too. Not for ``other``, whose values change with the membership. Returns the rows."""
        if scope.segment is not None and scope.version is None and scope.segment.kind != "other":
            column, value = scope.segment.column, scope.segment.value
        elif scope.segment is None and scope.version is not None and self.plan.version_column is not None:
            column, value = self.plan.columns[self.plan.version_column].name, scope.version
        else:
            raise ValueError(f"scope {scope.key!r} of model {self.model} is not seeded from the model window")
        with self._lock:
            if scope not in self._windows:
                raise KeyError(f"scope {scope.key!r} of model {self.model} has no window")
            window = self._new(scope)
            return window.seed_from(whole, column, value, now)

    def reseed_other(self, whole: Window, column: str, now: float) -> int:
        """Rebuild ``column``'s ``other`` window from the model window after its membership changed: the
        model window's rows of every value without a scope of its own, at the model window's thresholds.
        (Its old rows include values promoted since, which no longer belong to it, and miss those of
        values demoted since.) Returns the rows."""
        scope = Scope(self.model, segment=SegmentKey.other(column))
        with self._lock:
            if scope not in self._windows:
                raise KeyError(f"scope {scope.key!r} of model {self.model} has no window")
            members = [segment.value for segment in self.directory.segments(column)]
            window = self._new(scope)
            return window.seed_from(whole, column, None, now, others=members)

    # ingest ------------------------------------------------------------------------------------

    def add_columns(
        self,
        timestamps: npt.NDArray[np.float64],
        values: Sequence[npt.NDArray[np.generic]],
        now: float,
        keys: npt.NDArray[np.float64],
    ) -> None:
        """The arrays the model window was given (event times, one array per column, position keys):
        each row is added, with its key, to its segment scope in every segment column (``other``
        when no member takes its value) and to its version's scope when that version is live."""
        if len(timestamps) == 0:
            return
        if len(keys) != len(timestamps) or len(values) != len(self.plan.columns):
            raise ValueError(
                f"{len(timestamps)} records with {len(keys)} keys and {len(values)} columns "
                f"for scope windows of {len(self.plan.columns)} columns"
            )
        with self._lock:
            for column in self.plan.segments:
                name = column.rule.column
                codes = self.directory.route(name, cast("npt.NDArray[np.object_]", values[column.index]))
                segments = self.directory.segments(name)
                for code, rows in _groups(codes, timestamps, values, keys):
                    segment = SegmentKey.other(name) if code == OTHER else segments[code]
                    self._add(Scope(self.model, segment=segment), rows, now)
            if self.plan.version_column is not None and self._versions:
                table = {v: i for i, v in enumerate(self._versions)}
                items = values[self.plan.version_column].tolist()
                codes = np.fromiter((table.get(v, -1) for v in items), dtype=np.int64, count=len(items))
                for code, rows in _groups(codes, timestamps, values, keys):
                    if code >= 0:
                        self._add(Scope(self.model, version=self._versions[code]), rows, now)

    def _add(self, scope: Scope, rows: _Rows, now: float) -> None:
        timestamps, values, keys = rows
        window = self._windows.get(scope)
        if window is None:  # routed by a membership not applied yet: promoted meanwhile
            window = self._new(scope)
        window.add_columns(timestamps, values, now, keys)
        baseline = self._baselines.get(scope)
        if baseline is not None:
            baseline.add_columns(timestamps, values, now, keys)

    # checkpoints -------------------------------------------------------------------------------

    def changes(self) -> list[WindowEntry]:
        """Per live window ``(name, signature, changes, False)``, then per window dropped since the
        last call ``(name, "", None, True)``: its stored state is to be forgotten."""
        with self._lock:
            live: list[WindowEntry] = [
                (window_name(scope), window.signature(), window.changes(), False)
                for scope, window in sorted(self._windows.items())
            ]
            live += [
                (window_name(scope, rolling=True), baseline.signature(), baseline.changes(), False)
                for scope, baseline in sorted(self._baselines.items())
            ]
            dropped: list[WindowEntry] = [(name, "", None, True) for name in sorted(self._dropped)]
            self._dropped = set()
        return live + dropped

    def first_fed(self) -> dict[str, float]:
        """Per baseline window name, the start of the first bucket it was ever fed (its coverage
        starts there): stored beside the windows, given back to `restore`."""
        with self._lock:
            return {
                window_name(scope, rolling=True): first
                for scope, baseline in self._baselines.items()
                if (first := baseline.first_fed) is not None
            }

    def restore(
        self,
        load: Callable[[str, str], LoadedWindow | None],
        now: float,
        first_fed: dict[str, float] | None = None,
    ) -> int:
        """Load the checkpointed scope windows, after the directory was restored and the versions
        set: the windows follow the directory, then each is loaded with ``load(name, signature)``
        (`Store.load_window`: None when nothing, or something of another layout, is stored). A
        window with no state stays empty and is written in full at the next checkpoint. Returns the
        rows restored."""
        restored = 0
        with self._lock:
            self._follow_directory()
            for scope, window in sorted(self._windows.items()):
                loaded = load(window_name(scope), window.signature())
                if loaded is None:
                    window.clear()
                    continue
                buckets, segments, violations = loaded
                restored += window.restore(buckets, segments, violations, now)
            for scope, baseline in sorted(self._baselines.items()):
                name = window_name(scope, rolling=True)
                loaded = load(name, baseline.signature())
                if loaded is None:
                    baseline.clear()
                    continue
                buckets, segments, violations = loaded
                restored += baseline.restore(buckets, segments, violations, now, (first_fed or {}).get(name))
        return restored

    def mark_full(self) -> None:
        """The next `changes` gives every window in full (a checkpoint failed to be stored)."""
        with self._lock:
            for window in self._windows.values():
                window.mark_full()
            for baseline in self._baselines.values():
                baseline.mark_full()

    def clear(self) -> None:
        """Forget every row of every scope window (the model moved to another replica); the
        windows stay, and the next `changes` gives them in full."""
        with self._lock:
            for window in self._windows.values():
                window.clear()
            for baseline in self._baselines.values():
                baseline.clear()

    def stored_rows(self) -> int:
        """Rows held in memory by all the scope windows."""
        with self._lock:
            return sum(window.stored_rows() for window in self._windows.values()) + sum(
                baseline.stored_rows() for baseline in self._baselines.values()
            )
