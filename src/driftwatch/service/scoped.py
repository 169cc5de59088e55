"""A scoped model at run time: its segment and version scopes, its rolling baselines, and their checks.

A model with ``segments:``, ``versions:`` or ``baseline:`` keeps its model-wide window, checks, results
and alerts exactly as an unscoped model does; `ScopedModel` adds, beside them:

- **the scope windows** (`ScopedWindows`): ingest gives them the arrays it gave the model window
  (`add_columns`), and each row goes to its segment scope in every segment column and to its version's
  scope; the model-wide rolling baseline takes every row too;
- **membership**: at each scheduled check the segment directory observes the value shares of the model
  window's snapshot (top K with hysteresis, `driftwatch.stream.segments`), the live versions follow
  the versions seen at ingest (`VersionTracker`: the named ones and the ``max_live`` most recent), a
  scope that enters is seeded from the model window (a verdict at once when it has enough rows), one
  that leaves loses its window, results, series and alert states (a firing one is retired);
- **references per scope**: a segment is judged against the reference's rows of its value (when the
  reference has the column and enough of them; otherwise the model's reference, said in a note), a
  version against its own reference file when the config gives one; ``other`` against the reference
  rows of no member value, rebuilt when the membership changes. The multivariate drift methods are
  fitted with the scope's reference, once: a segment's on the rows of its value when they are enough
  (`segment_fit_shortfall`), else the model's fit (said in a note); a version's on its own file;
- **the rolling comparison**: for each baseline scope, the scope's window against the stream's own
  trailing period ``[now - lag - rolling, now - lag)``, with the baseline's methods, thresholds and
  alert rule, as checks ``data_drift@rolling`` and ``prediction_drift@rolling``; no verdict while the
  baseline has fewer than its ``min_rows`` rows or covers less than ``min_coverage`` of the period.

`ScopedModel.run` returns one `ScopedOutcome` per scope result; the runner stores, exports and feeds
them to the alert policy exactly as it does the model's own result.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.alerting.policy import PolicyRule
from driftwatch.checks.base import Check, CheckInput, Labelled, PartResult, run_checks
from driftwatch.checks.ids import CheckId, CheckKind
from driftwatch.checks.window import (
    CheckResult,
    DataDriftCheck,
    PredictionDriftCheck,
    check_result,
    no_verdict_reason,
)
from driftwatch.config import ModelSettings
from driftwatch.drift.dataset import ColumnOptions
from driftwatch.drift.multivariate_methods import (
    FittedMultivariate,
    fit_multivariate,
    segment_fit_shortfall,
)
from driftwatch.drift.profile import ColumnType, ReferenceProfile, category_keys
from driftwatch.performance.challenger import ChallengerCheck, ChallengerSettings, VersionTraffic
from driftwatch.performance.monitor import PerformanceMonitor, PerformanceSpec
from driftwatch.reference import (
    ReferenceDataError,
    embedding_sample,
    is_profile,
    load_embeddings,
    load_frame,
    load_reference,
)
from driftwatch.scope import Scope, SegmentKey, window_name
from driftwatch.service.model_checks import (
    ModelCheck,
    multivariate_columns,
    multivariate_options,
    multivariate_reference,
    performance_monitor,
)
from driftwatch.service.preflight import class_order
from driftwatch.state.labels import LabelStore
from driftwatch.stream.baseline import BaselineSnapshot, RollingBaseline
from driftwatch.stream.scopes import BaselinePlan, LoadedWindow, ScopedWindows, ScopePlan
from driftwatch.stream.segments import ScopeChange, ScopeDirectory, VersionTracker
from driftwatch.stream.windows import ColumnSpec, Window, WindowChanges, WindowSnapshot

__all__ = ["VERSION_COLUMN", "ScopedModel", "ScopedOutcome", "scope_columns"]

log = logging.getLogger(__name__)

VERSION_COLUMN = "@model_version"
"""The model window's column of each record's ``model_version`` (a name no feature can take: a feature
name never starts with '@' in a JSON record's features... and if one did, the config says so)."""

_EXPIRE_FACTOR = 2.0  # a version absent this many window lengths leaves, unless versions.expire_after


def scope_columns(settings: ModelSettings, features: list[ColumnSpec]) -> list[ColumnSpec]:
    """The columns a scoped model's window keeps beyond its features and prediction: segment columns that
    are not monitored features (from the record's features or its metadata), and the version column."""
    names = {spec.name for spec in features}
    extra: list[ColumnSpec] = []
    if settings.segments is not None:
        for column in settings.segments.columns:
            if column.source == "feature" and column.column in names:
                continue
            extra.append(ColumnSpec(column.column, "categorical", source=column.source))
    if settings.versions is not None:
        extra.append(ColumnSpec(VERSION_COLUMN, "categorical", source="version"))
    return extra


@dataclass(frozen=True)
class ScopedOutcome:
    """One scope's result of a scheduled check, what its checks breached (check id -> breaching) and
    the alert rule of those breaches."""

    result: CheckResult
    parts: dict[CheckKind, PartResult[Any]]
    breaches: dict[str, bool]
    rule: PolicyRule
    store: bool = True  # the scope's latest result (the champion/challenger comparison is not one)


@dataclass
class _Reference:
    """A scope's checks, and what they were built for (``epoch``: the membership ``other`` was built for)."""

    checks: ModelCheck
    epoch: int = -1
    note: str | None = None


@dataclass
class ScopeEvents:
    """What a scheduled check changed: membership changes, versions seen for the first time, scopes that
    left (their results, series and alert states are to go), and firing scopes retired."""

    changes: list[ScopeChange] = field(default_factory=list)
    new_versions: list[tuple[str, float]] = field(default_factory=list)  # (version, first seen)
    left: list[Scope] = field(default_factory=list)
    retired: list[Scope] = field(default_factory=list)


class ScopedModel:
    """One scoped model's scope windows, baselines, references and checks (see the module docstring)."""

    def __init__(
        self,
        name: str,
        settings: ModelSettings,
        whole: Window,
        checks: ModelCheck,
        types: dict[str, ColumnType],
        labels: LabelStore | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.whole = whole
        self.checks = checks
        self.types = types
        self._labels = labels if checks.monitor is not None else None
        self._lock = threading.RLock()
        self._feed = (
            threading.RLock()
        )  # ingest's batch into every window vs a check seeding from the model window
        window = settings.window
        segments = settings.segments
        rules = (
            [segments.column_rule(i, window) for i in range(len(segments.columns))]
            if segments is not None
            else []
        )
        self.rules = {rule.column: rule for rule in rules}
        self.directory = ScopeDirectory(name, rules)
        versions = settings.versions
        self.tracker: VersionTracker | None = VersionTracker() if versions is not None else None
        baseline = settings.baseline
        plan = None
        if baseline is not None:
            plan = BaselinePlan(
                baseline.rolling,
                baseline.lag,
                baseline.max_rows,
                versions="versions" in baseline.scopes,
                segments="segments" in baseline.scopes,
            )
        version_rows = min(window.max_rows, 20_000)
        if versions is not None and versions.window.max_rows is not None:
            version_rows = versions.window.max_rows
        self.plan = ScopePlan.for_window(
            whole,
            rules,
            version_column=VERSION_COLUMN if versions is not None else None,
            version_max_rows=version_rows,
            baseline=plan,
        )
        self.windows = ScopedWindows(name, self.plan, self.directory)
        # the model-wide rolling baseline (the scopes' own are in `windows`)
        self.baseline: RollingBaseline | None = None
        if baseline is not None and "model" in baseline.scopes:
            self.baseline = RollingBaseline(
                whole.columns, baseline.rolling, baseline.lag, baseline.max_rows, whole.bucket_seconds
            )
            self.baseline.mark_full()
        self._version_index = (
            next(i for i, spec in enumerate(whole.columns) if spec.name == VERSION_COLUMN)
            if (versions is not None)
            else None
        )
        self._announce: list[tuple[str, float]] = []  # versions seen for the first time, not yet announced
        self._references: dict[Scope, _Reference] = {}
        self._frame: pd.DataFrame | None = None  # the reference's rows, for segment references (lazy)
        self._keys: dict[str, list[str | None]] = {}  # a segment column's canonical keys in the reference
        self._version_checks: dict[str, ModelCheck] = {}
        self._seeded: dict[Scope, float] = {}  # scope -> when it was seeded from the model window
        self.live_versions: list[str] = []
        self.shares: dict[
            Scope, float
        ] = {}  # each segment scope's share of the model window at the last check
        self.values: dict[str, int] = {}  # distinct values of each segment column at the last check
        # the latest champion/challenger comparison, as /api shows it; its differences (metric ->
        # difference, lower, upper) and the prediction distributions' (method, score)
        self.comparison: dict[str, Any] | None = None
        self.differences: dict[str, tuple[float, float, float]] = {}
        self.prediction_difference: tuple[str, float] | None = None
        self.failures: dict[str, str] = {}  # scope key -> why its checks could not run at the last check

    # ingest ------------------------------------------------------------------------------------

    def add_columns(
        self,
        timestamps: npt.NDArray[np.float64],
        values: list[npt.NDArray[np.generic]],
        now: float,
        keys: npt.NDArray[np.float64],
    ) -> int:
        """A batch of the model's records: into the model window, then the scope windows, the model's
        baseline, and the versions seen, under the lock that seeding takes (a scope seeded from the
        model window never gets a row twice). Returns the rows the model window added."""
        with self._feed:
            added = self.whole.add_columns(timestamps, values, now, keys)
            self._add_scoped(timestamps, values, now, keys)
        return added

    def _add_scoped(
        self,
        timestamps: npt.NDArray[np.float64],
        values: list[npt.NDArray[np.generic]],
        now: float,
        keys: npt.NDArray[np.float64],
    ) -> None:
        if len(timestamps) == 0:
            return
        if self.tracker is not None and self._version_index is not None:
            new = self.tracker.observe(values[self._version_index], now)
            if new:
                with self._lock:
                    self._announce += [(version, now) for version in new]
        self.windows.add_columns(timestamps, values, now, keys)
        if self.baseline is not None:
            self.baseline.add_columns(timestamps, values, now, keys)

    # checkpoints -------------------------------------------------------------------------------

    def changes(self) -> tuple[dict[str, tuple[str, WindowChanges]], list[str], dict[str, bytes]]:
        """The scope and baseline windows' changes by window name, the window names dropped since the
        last call, and the named state blobs (directory, versions, baseline coverage) to store with them."""
        windows: dict[str, tuple[str, WindowChanges]] = {}
        dropped: list[str] = []
        for name, signature, changes, gone in self.windows.changes():
            if gone:
                dropped.append(name)
            elif changes is not None:
                windows[name] = (signature, changes)
        if self.baseline is not None:
            windows[window_name(Scope(self.name), rolling=True)] = (
                self.baseline.signature(),
                self.baseline.changes(),
            )
        return windows, dropped, self.blobs()

    def blobs(self) -> dict[str, bytes]:
        blobs = {f"{self.name}\x1fdirectory": self.directory.state()}
        if self.tracker is not None:
            blobs[f"{self.name}\x1fversions"] = self.tracker.state()
        first = self.windows.first_fed()
        if self.baseline is not None and self.baseline.first_fed is not None:
            first[window_name(Scope(self.name), rolling=True)] = self.baseline.first_fed
        if first:
            import msgspec

            blobs[f"{self.name}\x1ffirst_fed"] = msgspec.msgpack.encode(first)
        return blobs

    def mark_full(self) -> None:
        self.windows.mark_full()
        if self.baseline is not None:
            self.baseline.mark_full()

    def restore(
        self,
        load: Callable[[str, str], LoadedWindow | None],
        load_blob: Callable[[str], bytes | None],
        now: float,
    ) -> int:
        """Directory, versions and every scope and baseline window from the last checkpoint."""
        import msgspec

        directory = load_blob(f"{self.name}\x1fdirectory")
        if directory is not None:
            try:
                self.directory.restore(directory)
            except Exception:
                log.exception(
                    "model %s: the stored segment directory cannot be read; starting anew", self.name
                )
        if self.tracker is not None:
            versions = load_blob(f"{self.name}\x1fversions")
            if versions is not None:
                self.tracker.restore(versions)
            self._follow_versions(now, seed=False)
        first_blob = load_blob(f"{self.name}\x1ffirst_fed")
        first: dict[str, float] = (
            {} if first_blob is None else msgspec.msgpack.decode(first_blob, type=dict[str, float])
        )
        rows = self.windows.restore(load, now, first)
        if self.baseline is not None:
            name = window_name(Scope(self.name), rolling=True)
            loaded = load(name, self.baseline.signature())
            if loaded is not None:
                rows += self.baseline.restore(*loaded, now=now, first_fed=first.get(name))
        return rows

    # membership --------------------------------------------------------------------------------

    def _follow_versions(self, now: float, seed: bool = True) -> tuple[list[str], list[str]]:
        """Make the version windows follow the live versions; returns (entered, left)."""
        versions = self.settings.versions
        if versions is None or self.tracker is None:
            return [], []
        expire = versions.expire_after or _EXPIRE_FACTOR * self.settings.window.length
        live = self.tracker.live(now, versions.named(), versions.max_live, expire)
        before = self.windows.versions()
        self.windows.set_versions(live)
        entered = [v for v in live if v not in before]
        left = [v for v in before if v not in live]
        if seed:
            for version in entered:
                scope = Scope(self.name, version=version)
                if self.windows.window(scope).rows() == 0 and self.whole.rows():
                    self.windows.seed_from(self.whole, scope, now)
                    self._seeded[scope] = now
        self.live_versions = live
        return entered, left

    def follow(self, frame: pd.DataFrame, firing: Callable[[Scope], bool], now: float) -> ScopeEvents:
        """One scheduled check's membership: versions, then segments (from the model window's snapshot
        ``frame``); scopes that enter are seeded from the model window."""
        events = ScopeEvents()
        with self._lock:
            events.new_versions, self._announce = self._announce, []
        with self._feed:
            return self._follow(frame, firing, now, events)

    def _follow(
        self, frame: pd.DataFrame, firing: Callable[[Scope], bool], now: float, events: ScopeEvents
    ) -> ScopeEvents:
        _, left = self._follow_versions(now)
        events.left += [Scope(self.name, version=v) for v in left]
        if self.rules:
            changes = self.windows.observe(frame, firing, now)
            events.changes = changes
            for change in changes:
                scope = change.scope
                if (
                    change.change == "promoted"
                    and scope.segment is not None
                    and scope.segment.kind != "other"
                ):
                    if scope in self.windows.scopes() and self.windows.window(scope).rows() == 0:
                        self.windows.seed_from(self.whole, scope, now)
                        self._seeded[scope] = now
                elif change.change in ("demoted", "retired"):
                    events.left.append(scope)
                    if change.change == "retired":
                        events.retired.append(scope)
            for column in dict.fromkeys(
                c.scope.segment.column
                for c in changes
                if c.scope.segment is not None and c.change in ("promoted", "demoted", "retired")
            ):
                other = Scope(self.name, segment=SegmentKey.other(column))
                self.windows.reseed_other(self.whole, column, now)
                self._seeded[other] = now
            for column in self.rules:
                values = (
                    frame[column].to_numpy(dtype=object) if column in frame else np.empty(0, dtype=object)
                )
                self.values[column] = len(pd.unique(values))
            self._shares(frame)
        for scope in events.left:
            self._references.pop(scope, None)
            self._seeded.pop(scope, None)
        return events

    def _shares(self, frame: pd.DataFrame) -> None:
        """Each segment scope's share of the model window's sample (``other`` included)."""
        shares: dict[Scope, float] = {}
        rows = len(frame)
        for column in self.rules:
            if not rows or column not in frame:
                continue
            codes = self.directory.route(column, frame[column].to_numpy(dtype=object))
            segments = self.directory.segments(column)
            counts = np.bincount(np.where(codes < 0, len(segments), codes), minlength=len(segments) + 1)
            for i, segment in enumerate(segments):
                shares[Scope(self.name, segment=segment)] = float(counts[i]) / rows
            shares[Scope(self.name, segment=SegmentKey.other(column))] = float(counts[len(segments)]) / rows
        self.shares = shares

    def info(self) -> dict[str, Any]:
        """What /api shows of the model's scopes beyond their results: per segment column its members,
        retiring values, distinct values and each scope's traffic share; the live and known versions;
        the rolling baseline's period; the latest champion/challenger comparison."""
        out: dict[str, Any] = {"epoch": self.directory.epoch}
        if self.rules:
            out["segments"] = {
                column: {
                    "top_k": rule.top_k,
                    "members": self.directory.members(column),
                    "retiring": self.directory.retiring(column),
                    "values": self.values.get(column),
                    "shares": {
                        scope.key: round(share, 6)
                        for scope, share in self.shares.items()
                        if scope.segment is not None and scope.segment.column == column
                    },
                }
                for column, rule in self.rules.items()
            }
        if self.tracker is not None:
            out["versions"] = {
                "live": list(self.live_versions),
                "seen": [
                    {
                        "version": version,
                        "first_seen": self.tracker.first_seen(version),
                        "last_seen": self.tracker.last_seen(version),
                        "role": self.role(version) or None,
                    }
                    for version in reversed(self.tracker.known())
                ],
            }
        baseline = self.settings.baseline
        if baseline is not None:
            out["baseline"] = {
                "rolling": baseline.rolling,
                "lag": baseline.lag,
                "scopes": list(baseline.scopes),
            }
        if self.comparison is not None:
            out["comparison"] = self.comparison
        if self.failures:
            out["failures"] = dict(self.failures)
        return out

    # checks ------------------------------------------------------------------------------------

    def scopes(self) -> list[Scope]:
        return self.windows.scopes()

    def run(
        self, now: float, lookback: float, whole_snapshot: WindowSnapshot | None = None
    ) -> Iterator[ScopedOutcome]:
        """Every scope's checks, then every rolling comparison (the model-wide one first)."""
        if self.baseline is not None and whole_snapshot is not None:
            yield self._rolling(
                Scope(self.name), whole_snapshot, self.baseline, now, self.settings.window.min_rows
            )
        versions: dict[str, tuple[WindowSnapshot, CheckResult]] = {}
        for scope in self.scopes():
            window = self.windows.window(scope)
            snapshot = window.snapshot(now)
            try:
                outcome = self._scope_checks(scope, snapshot, now, lookback)
            except Exception as exc:  # a scope's reference or check that cannot be built: the others go on
                log.exception("model %s: the checks of scope %s failed", self.name, scope.key)
                self.failures[scope.key] = f"{type(exc).__name__}: {exc}"
                continue
            self.failures.pop(scope.key, None)
            if scope.version is not None and scope.segment is None:
                versions[scope.version] = (snapshot, outcome.result)
            yield outcome
            baseline = self.windows.baseline(scope)
            if baseline is not None:
                yield self._rolling(scope, snapshot, baseline, now, self._min_rows(scope))
        contest = self._contest(versions, lookback)
        if contest is not None:
            yield contest

    def _contest(
        self, versions: dict[str, tuple[WindowSnapshot, CheckResult]], lookback: float
    ) -> ScopedOutcome | None:
        """The champion/challenger comparison on the same look-back of labelled traffic, and of the two
        versions' window predictions; its alerts are the challenger version scope's."""
        settings = self.settings.versions
        contest = None if settings is None else settings.champion_challenger
        if contest is None or contest.champion not in versions or contest.challenger not in versions:
            return None
        monitor = self.checks.monitor
        champion_snapshot, _ = versions[contest.champion]
        challenger_snapshot, challenger_result = versions[contest.challenger]
        end = max(champion_snapshot.end, challenger_snapshot.end)
        prediction = self.settings.prediction

        def traffic(version: str, snapshot: WindowSnapshot) -> VersionTraffic:
            read = self._labelled(Scope(self.name, version=version), end - lookback)
            labelled = read() if read is not None else Labelled(np.array([]), np.array([]))
            frame = snapshot.frame
            predictions = frame[prediction] if prediction and prediction in frame else None
            return VersionTraffic(labelled, None, predictions)

        if monitor is None or not contest.metrics:
            spec = PerformanceSpec(
                task="regression" if self._numeric_prediction() else "multiclass_classification",
                prediction=prediction or "",
                min_predictions=self.settings.window.min_rows,
            )
            metrics: tuple[str, ...] = ("mae",) if spec.task == "regression" else ("accuracy",)
            margins: tuple[float | None, float | None] = (None, None)
        else:
            spec = monitor.spec
            metrics = tuple(contest.metrics)
            margins = (contest.alert.worse_by, contest.alert.better_by)
        check = ChallengerCheck(
            self.name,
            spec,
            ChallengerSettings(
                contest.champion,
                contest.challenger,
                metrics=metrics,
                confidence=contest.confidence,
                bootstrap=contest.bootstrap,
                worse_by=margins[0],
                better_by=margins[1],
                prediction_drift=contest.alert.prediction_drift,
            ),
            self.checks.prediction_profile,
        )
        part = check.run(
            traffic(contest.champion, champion_snapshot),
            traffic(contest.challenger, challenger_snapshot),
            end,
        )
        comparison = part.value
        shown: dict[str, Any] = {"status": part.status, "note": part.note}
        if comparison is not None:
            shown.update(comparison.as_dict())
            if monitor is None or not contest.metrics:
                shown["metrics"] = {}
        shown["status"] = part.status
        self.comparison = shown
        self.differences = {}
        if comparison is not None and monitor is not None and contest.metrics:
            self.differences = {
                metric: (d.interval.estimate, d.interval.lower, d.interval.upper)
                for metric, d in comparison.metrics.items()
                if d.interval is not None
            }
        drift = None if comparison is None else comparison.prediction_drift
        self.prediction_difference = (
            None if drift is None or drift.error is not None else (drift.method, drift.score)
        )
        breaches = {str(c): b for c, b in part.breaches.items()}
        result = replace(
            challenger_result,
            check="challenger",
            notes=(*challenger_result.notes, *([part.note] if part.note else [])),
        )
        return ScopedOutcome(result, {"challenger": part}, breaches, self._rule(), store=False)

    def _numeric_prediction(self) -> bool:
        profile = self.checks.prediction_profile
        return profile is not None and profile.type == "numeric"

    def _min_rows(self, scope: Scope) -> int:
        if scope.segment is not None:
            return self.rules[scope.segment.column].min_rows
        return self.settings.window.min_rows

    def _scope_settings(self, scope: Scope) -> ModelSettings:
        min_rows = self._min_rows(scope)
        window = self.settings.window
        if min_rows == window.min_rows:
            return self.settings
        return self.settings.model_copy(update={"window": window.model_copy(update={"min_rows": min_rows})})

    def _scope_checks(
        self, scope: Scope, snapshot: WindowSnapshot, now: float, lookback: float
    ) -> ScopedOutcome:
        reference = self._reference(scope)
        labelled = self._labelled(scope, snapshot.end - lookback)
        parts, result = reference.checks.run_parts(snapshot, labelled)
        version, segment = scope.labels()
        notes = list(result.notes)
        if reference.note:
            notes.append(reference.note)
        seeded = self._seeded.get(scope)
        if seeded is not None and snapshot.start < seeded:
            notes.append(
                "this scope entered at "
                + pd.Timestamp(seeded, unit="s", tz="UTC").isoformat()
                + ": its rows before then were taken from the model window, and its records_seen before then "
                "is estimated"
            )
        result = replace(
            result,
            scope=scope.key,
            model_version=version,
            segment=segment,
            notes=tuple(notes),
        )
        breaches = {str(c): b for part in parts.values() for c, b in part.breaches.items()}
        return ScopedOutcome(result, parts, breaches, self._rule())

    def _labelled(self, scope: Scope, start: float) -> Callable[[], Labelled] | None:
        """Reads the scope's labelled predictions since ``start`` (its version's, its segment value's, or
        those of no member value for ``other``), for the checks that grade."""
        labels = self._labels
        if labels is None:
            return None
        filters: dict[str, Any] = {}
        if scope.version is not None:
            filters["version"] = scope.version
        segment = scope.segment
        if segment is not None:
            index = self._column_index(segment.column)
            if segment.kind == "other":
                filters["other"] = (index, [s.value for s in self.directory.segments(segment.column)])
            else:
                filters["segment"] = (index, segment.value)

        def read() -> Labelled:
            joined = labels.joined(self.name, start, math.inf, **filters)
            return Labelled(joined.labels, joined.predictions, joined.weights)

        return read

    def _rule(self) -> PolicyRule:
        alert = self.settings.alert
        return PolicyRule(alert.consecutive, alert.cooldown or 0.0, alert.resolve_after)

    def alert_ids(self, scope: Scope) -> list[str]:
        ids = [str(c) for c in self._reference(scope).checks.alert_ids]
        versions = self.settings.versions
        contest = None if versions is None else versions.champion_challenger
        if contest is not None and scope.segment is None and scope.version == contest.challenger:
            if self.checks.monitor is not None and (
                contest.alert.worse_by is not None or contest.alert.better_by is not None
            ):
                ids += [f"challenger:{metric}" for metric in contest.metrics]
            if contest.alert.prediction_drift:
                ids.append("challenger:prediction_drift")
        return ids

    def role(self, version: str) -> str:
        """``champion``, ``challenger`` or ``""``: a version's part in the champion/challenger comparison."""
        versions = self.settings.versions
        contest = None if versions is None else versions.champion_challenger
        if contest is not None and version == contest.champion:
            return "champion"
        if contest is not None and version == contest.challenger:
            return "challenger"
        return ""

    def rolling_ids(self, scope: Scope) -> list[str]:
        """The rolling-baseline alerts of ``scope``: none unless the baseline covers its kind of scope."""
        plan = self.plan.baseline
        covered = self.baseline is not None if scope.whole else plan is not None and plan.covers(scope)
        if not covered:
            return []
        ids = ["data_drift@rolling"]
        if (
            self.settings.prediction
            and self.settings.baseline is not None
            and self.settings.baseline.prediction
        ):
            ids.append("prediction_drift@rolling")
        return ids

    # references --------------------------------------------------------------------------------

    def _reference(self, scope: Scope) -> _Reference:
        cached = self._references.get(scope)
        epoch = self.directory.epoch
        if cached is not None and (cached.epoch == epoch or not _is_other(scope)):
            return cached
        built = self._build_reference(scope)
        built.epoch = epoch
        self._references[scope] = built
        return built

    def _build_reference(self, scope: Scope) -> _Reference:
        name, settings = self.name, self._scope_settings(scope)
        if scope.version is not None and scope.segment is None:
            versions = self.settings.versions
            path = None if versions is None else versions.references.get(scope.version)
            if path is not None:
                checks = self._version_checks.get(scope.version)
                if checks is None:
                    version_settings = settings.model_copy(update={"reference": path})
                    key = f"models.{name}.versions.references.{scope.version}"
                    profile, _ = load_reference(
                        path, self.types, settings.prediction, key=key, classes=class_order(settings)
                    )
                    if settings.embeddings:  # the version's own reference vectors
                        fields = {e: (spec.field, spec.dim) for e, spec in settings.embeddings.items()}
                        profile = replace(profile, embeddings=load_embeddings(path, fields, key))
                    monitor = (
                        performance_monitor(name, version_settings)
                        if settings.performance is not None
                        else None
                    )
                    joint = (
                        multivariate_reference(name, version_settings, self.types)
                        if settings.drift.multivariate is not None
                        else None
                    )
                    checks = ModelCheck(name, version_settings, profile, monitor, joint)
                    self._version_checks[scope.version] = checks
                return _Reference(checks)
            return _Reference(self._with(settings, self.checks.profile))
        segment = scope.segment
        if segment is None:
            return _Reference(self._with(settings, self.checks.profile))
        column = (
            self.settings.segments.columns[self._column_index(segment.column)]
            if self.settings.segments
            else None
        )
        if column is None or column.reference == "model":
            return _Reference(self._with(settings, self.checks.profile))
        frame = self._reference_frame()
        if frame is None or segment.column not in frame.columns:
            return _Reference(
                self._with(settings, self.checks.profile),
                note=f"the reference has no column {segment.column!r}: this segment is judged against the whole reference",
            )
        keys = self._keys.get(segment.column)
        if keys is None:
            keys = self._keys[segment.column] = category_keys(
                frame[segment.column].to_numpy(dtype=object)
            ).tolist()
        if segment.kind == "other":
            members = {s.value for s in self.directory.segments(segment.column)}
            mask = np.fromiter((k not in members for k in keys), dtype=bool, count=len(keys))
        else:
            mask = np.fromiter((k == segment.value for k in keys), dtype=bool, count=len(keys))
        rows = int(mask.sum())
        if rows < max(self._min_rows(scope), 1):
            return _Reference(
                self._with(settings, self.checks.profile),
                note=(
                    f"the reference has {rows} rows of {segment.label}, fewer than {self._min_rows(scope)}: this "
                    "segment is judged against the whole reference"
                ),
            )
        columns = list(self.checks.profile.columns)
        types = {c: self.types.get(c) for c in columns}
        profile = ReferenceProfile.build(frame.loc[mask], columns, types, class_order(self.settings))
        vectors, note = self._segment_vectors(frame.loc[mask], scope)
        own_joint, joint_note = self._segment_multivariate(frame.loc[mask], scope)
        notes = [n for n in (note, joint_note) if n]
        return _Reference(
            self._with(settings, replace(profile, embeddings=vectors), own_joint),
            note="; ".join(notes) or None,
        )

    def _segment_multivariate(
        self, rows: pd.DataFrame, scope: Scope
    ) -> tuple[Mapping[str, FittedMultivariate] | None, str | None]:
        """The multivariate methods fitted on a segment's reference rows, once per scope reference: when
        those rows are enough (`segment_fit_shortfall`); otherwise (or when the fit fails) the model's fitted methods,
        said in the note."""
        whole = self.checks.multivariate
        settings = self.settings.drift.multivariate
        if whole is None or settings is None:
            return None, None
        options = multivariate_options(self.settings)
        segment = scope.segment
        label = segment.label if segment is not None else scope.key
        window_rows = self.rules[segment.column].max_rows if segment is not None else 0
        short = segment_fit_shortfall(len(rows), self._min_rows(scope), window_rows, options, label)
        if short is not None:
            return whole, short
        types = multivariate_columns(self.settings, self.types)
        try:
            fitted: dict[str, FittedMultivariate] = {
                m: fit_multivariate(m, rows, types, options) for m in settings.methods
            }
        except (ReferenceDataError, ValueError) as exc:
            return whole, (
                f"the multivariate drift methods cannot be fitted on the reference rows of {label} ({exc}): "
                "its multivariate drift is judged by the model's fitted methods"
            )
        return fitted, None

    def _segment_vectors(
        self, rows: pd.DataFrame, scope: Scope
    ) -> tuple[dict[str, npt.NDArray[np.float32]], str | None]:
        """Each embedding's reference vectors for a segment: those of the reference rows of its value
        (a bounded sample, as the model's), or the model's when those rows hold fewer than the
        segment's min_rows vectors (said in the note)."""
        whole = dict(self.checks.profile.embeddings)
        found: dict[str, npt.NDArray[np.float32]] = {}
        few: list[str] = []
        for name, spec in self.settings.embeddings.items():
            vectors = None
            if spec.field in rows.columns:
                vectors = embedding_sample(
                    rows[spec.field], spec.dim, f"models.{self.name}.embeddings.{name}"
                )
            if vectors is None or len(vectors) < max(self._min_rows(scope), 2):
                few.append(name)
                found[name] = whole[name]
            else:
                found[name] = vectors
        if not few:
            return found, None
        segment = scope.segment
        label = segment.label if segment is not None else scope.key
        return found, (
            f"the reference has fewer than {self._min_rows(scope)} vectors of embedding(s) {', '.join(few)} "
            f"in the rows of {label}: those are judged against the whole reference's vectors"
        )

    def _with(
        self,
        settings: ModelSettings,
        profile: ReferenceProfile,
        multivariate: Mapping[str, FittedMultivariate] | None = None,
    ) -> ModelCheck:
        """The checks of ``settings`` on ``profile``, with the ``multivariate`` methods (default: the
        model's fitted ones)."""
        joint = self.checks.multivariate if multivariate is None else multivariate
        if settings is self.settings and profile is self.checks.profile and joint is self.checks.multivariate:
            return self.checks
        monitor: PerformanceMonitor | None = self.checks.monitor
        return ModelCheck(self.name, settings, profile, monitor, joint)

    def _column_index(self, column: str) -> int:
        assert self.settings.segments is not None
        return next(i for i, c in enumerate(self.settings.segments.columns) if c.column == column)

    def _reference_frame(self) -> pd.DataFrame | None:
        if self._frame is None and not is_profile(self.settings.reference):
            text = [f.name for f in self.settings.features if f.type == "categorical"]
            if self.settings.segments is not None:
                text += [c.column for c in self.settings.segments.columns]
            self._frame = load_frame(self.settings.reference, text=text, maps=[self.settings.prediction])
        return self._frame

    # the rolling comparison --------------------------------------------------------------------

    def _rolling(
        self,
        scope: Scope,
        snapshot: WindowSnapshot,
        baseline: RollingBaseline,
        now: float,
        window_min_rows: int,
    ) -> ScopedOutcome:
        settings = self.settings.baseline
        assert settings is not None
        started = pd.Timestamp.now().value
        base = baseline.snapshot(now)
        features = [f.name for f in self.settings.features]
        min_rows = settings.min_rows or self.settings.window.min_rows
        share = (settings.drift or self.settings.drift).share
        why = _baseline_shortfall(base, min_rows, settings.min_coverage, settings.rolling)
        version, segment = scope.labels()
        options = {
            f.name: ColumnOptions(
                (settings.features.get(f.name) and settings.features[f.name].method) or f.method,
                (settings.features.get(f.name) and settings.features[f.name].threshold) or f.threshold,
            )
            for f in self.settings.features
        }
        checks: list[Check[ReferenceProfile, Any]] = []
        drift = DataDriftCheck(self.name, features, options, share, window_min_rows)
        checks.append(drift)
        prediction = self.settings.prediction if settings.prediction else None
        if prediction:
            checks.append(PredictionDriftCheck(self.name, prediction, window_min_rows))
        if why is None:
            columns = [
                c for c in [*features, *([prediction] if prediction else [])] if c in base.frame.columns
            ]
            profile = ReferenceProfile.build(base.frame, columns, {c: self.types.get(c) for c in columns})
            for check in checks:
                check.prepare(profile)
            parts = run_checks(checks, CheckInput(snapshot), self.name)
        else:
            parts = {
                check.kind: PartResult(CheckId(check.kind), "not_enough_data", note=why) for check in checks
            }
        result = check_result(
            self.name,
            snapshot,
            parts,
            share,
            window_min_rows,
            (pd.Timestamp.now().value - started) / 1e9,
        )
        if why is not None:
            result = replace(result, status="not_enough_rows", why=why)
        result = replace(
            result,
            check="data_drift@rolling",
            scope=scope.key,
            model_version=version,
            segment=segment,
            baseline="rolling",
            notes=(
                *result.notes,
                f"compared with the stream's own {_span(base.start, base.end)} from "
                f"{pd.Timestamp(base.start, unit='s', tz='UTC').isoformat()} ({base.rows} rows, coverage "
                f"{base.coverage:.0%})",
            ),
            baseline_rows=base.rows,
            baseline_coverage=base.coverage,
        )
        breaches = {f"{c}@rolling": b for part in parts.values() for c, b in part.breaches.items()}
        alert = settings.alert or self.settings.alert
        rule = PolicyRule(alert.consecutive, alert.cooldown or 0.0, alert.resolve_after)
        return ScopedOutcome(result, dict(parts), breaches, rule)


def _is_other(scope: Scope) -> bool:
    return scope.segment is not None and scope.segment.kind == "other"


def _span(start: float, end: float) -> str:
    seconds = end - start
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


def _baseline_shortfall(
    base: BaselineSnapshot, min_rows: int, min_coverage: float, rolling: float
) -> str | None:
    """Why the baseline gives no verdict (None when it does)."""
    if base.coverage < min_coverage:
        covered = base.coverage * (base.end - base.start)
        return (
            f"the rolling baseline covers {_span(0.0, covered) if covered > 0 else '0s'} of "
            f"{_span(0.0, rolling)} (baseline.min_coverage {min_coverage:g}): too little of the stream's past "
            "to compare with yet"
        )
    if base.rows < min_rows:
        return no_verdict_reason(
            "not_enough_rows", base.rows, min_rows, "the rolling baseline", "baseline.min_rows"
        )
    return None
