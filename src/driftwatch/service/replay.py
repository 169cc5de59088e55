"""What a config would have done over a past period: recorded traffic through the daemon's own code.

`Replay` builds a `Daemon` on a virtual clock, driven (no HTTP server, no consumer, never started), with
its state in a scratch directory and nothing delivered: alert events and the webhook deliveries they
would have caused are recorded instead of sent. Records go through the daemon's ingest
(`Daemon.handle`: decoding, validation, rejections, sample keys from each record's position), in
event-time order, each batch at the clock of its latest event time; at each check time the clock is
set to it and `Daemon.run_check` runs the model's checks and feeds the alert policy exactly as the
scheduler would. A check at time t has seen every record whose event time is at most t, and none later.

Check times come from each model's schedule (`driftwatch.service.daemon.fire_times`: an ``every:``
interval counts from the period's start, a ``cron:`` fires at its times), or, to reproduce a recorded
history (`Replay.reproduce`), are the recorded ones, each partition read up to the recorded positions.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from driftwatch.alerting.policy import AlertEvent
from driftwatch.checks.window import CheckResult
from driftwatch.config import Settings
from driftwatch.service.daemon import Daemon, fire_times
from driftwatch.service.webhooks import Delivery
from driftwatch.source.recorded import Recorded

__all__ = [
    "RecordedCheck",
    "Replay",
    "ReplayEvent",
    "ReplayReport",
    "ReplayedCheck",
    "differences",
    "lookback_of",
    "replay_settings",
]

log = logging.getLogger(__name__)

_BATCH = 5000  # records per ingest batch at most
_SPREAD = 300.0  # seconds of event time one ingest batch spans at most (and a window bucket's at most)

# result fields that differ between two runs of the same check for reasons other than its data
_VOLATILE = frozenset({"duration_seconds", "notes"})


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class ReplayEvent:
    """An alert event the policy raised, and the webhook targets it would have been delivered to."""

    model: str
    check: str
    transition: str
    scope: str
    window_end: float
    reason: str | None
    targets: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "check": self.check,
            "transition": self.transition,
            "scope": self.scope,
            "window_end": _iso(self.window_end),
            "reason": self.reason,
            "would_deliver_to": list(self.targets),
        }


@dataclass
class ReplayedCheck:
    """One result of one check run: the whole model's (scope ""), or one of its scopes'."""

    ran_at: float
    model: str
    scope: str
    baseline: str
    result: CheckResult
    breaches: dict[str, bool]
    events: list[ReplayEvent] = field(default_factory=list)
    differs: list[str] | None = None  # reproducing: the fields that differ from the recorded result

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ran_at": _iso(self.ran_at),
            "model": self.model,
            "scope": self.scope,
            "result": self.result.as_dict(),
            "breaches": dict(self.breaches),
            "events": [event.as_dict() for event in self.events],
        }
        if self.differs is not None:
            out["reproduced"] = not self.differs
            out["differs"] = list(self.differs)
        return out


@dataclass
class ReplayReport:
    checks: list[ReplayedCheck]
    records: int  # records fed through ingest
    seconds: float  # wall-clock time of the replay (reading excluded)
    rejected: dict[str, int]  # rejected records by reason
    failures: list[str]  # checks that could not run

    def count(self, transition: str) -> int:
        return sum(e.transition == transition for c in self.checks for e in c.events)


class RecordedCheck(Protocol):
    """A check as a history recorded it (`driftwatch.state.history.HistoryCheck`): when it ran, what it
    had read of each partition ("topic:partition" -> next offset), the breaches it fed to the policy and
    its result (`CheckResult.as_dict`)."""

    @property
    def ran_at(self) -> float: ...

    @property
    def model(self) -> str: ...

    @property
    def scope(self) -> str: ...

    @property
    def baseline(self) -> str: ...

    @property
    def positions(self) -> Mapping[str, int]: ...

    @property
    def breaches(self) -> Mapping[str, bool]: ...

    @property
    def result(self) -> Mapping[str, Any]: ...


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def replay_settings(settings: Settings, state_file: Path, models: Sequence[str] | None = None) -> Settings:
    """``settings`` for a replay: the state in ``state_file``, no check history, no dead-letter topic, not
    scaled out, only ``models`` (all when None). Webhook targets stay: the deliveries are prepared, never
    sent."""
    kafka = settings.kafka.model_copy(
        update={
            "dead_letter_topic": None,
            "scale_out": settings.kafka.scale_out.model_copy(update={"enabled": False}),
        }
    )
    state = settings.state.model_copy(update={"path": state_file})
    chosen = settings.models if models is None else {name: settings.models[name] for name in models}
    history = settings.history.model_copy(update={"enabled": False})
    return settings.model_copy(update={"kafka": kafka, "state": state, "history": history, "models": chosen})


def lookback_of(settings: Settings) -> float:
    """How far before a period its records are needed: the longest window, performance look-back or
    rolling baseline (with its lag) of the models."""
    longest = 0.0
    for model in settings.models.values():
        longest = max(longest, model.window.length)
        if model.performance is not None and model.performance.window is not None:
            longest = max(longest, model.performance.window)
        if model.baseline is not None:
            longest = max(longest, model.baseline.rolling + model.baseline.lag + model.window.length)
    return longest


class _ReplayDaemon(Daemon):
    """The daemon with its alert events recorded and its deliveries kept instead of queued."""

    def __init__(self, settings: Settings, clock: _Clock) -> None:
        self.recorded: list[ReplayEvent] = []
        self._pending: dict[str, list[str]] = {}  # idempotency key -> targets, for the event being notified
        super().__init__(settings, clock=clock, driven=True)

    def _notify(self, event: AlertEvent, result: CheckResult) -> None:
        self._pending.clear()
        super()._notify(event, result)  # renders each target's delivery: `_submit` keeps them
        targets = tuple(t for key in self._pending for t in self._pending[key])
        self.recorded.append(
            ReplayEvent(
                event.model,
                event.check,
                event.transition,
                event.scope,
                event.window_end,
                event.reason,
                targets,
            )
        )

    def _submit(self, delivery: Delivery) -> None:
        self._pending.setdefault(delivery.key, []).append(delivery.target)


class Replay:
    """A driven daemon for ``settings`` (its ``models``, all when None) with its state in a temporary
    directory that `close` removes. The configured state, history and webhooks are never touched."""

    def __init__(self, settings: Settings, models: Sequence[str] | None = None) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="driftwatch-replay-")
        self.settings = replay_settings(settings, Path(self._dir.name) / "state.sqlite", models)
        self.clock = _Clock()
        self.daemon = _ReplayDaemon(self.settings, self.clock)
        # a batch is fed at the clock of its latest record: its earliest is then still inside every window
        self._spread = min([_SPREAD, *(w.bucket_seconds for w in self.daemon.windows.values())])
        self._fed = 0
        self._seconds = 0.0
        self._failures: list[str] = []

    def close(self) -> None:
        daemon = self.daemon
        daemon.store.close()
        if daemon.labels is not None:
            daemon.labels.close()
        self._dir.cleanup()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def schedule(self, start: float, end: float) -> list[tuple[float, str]]:
        """Every model's check times from ``start`` to ``end``, in time order (models in config order)."""
        order = {name: i for i, name in enumerate(self.settings.models)}
        begin, stop = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
        ticks = [
            (fire.timestamp(), name)
            for name, model in self.settings.models.items()
            for fire in fire_times(model.schedule, begin, stop)
        ]
        return sorted(ticks, key=lambda tick: (tick[0], order[tick[1]]))

    def run(self, records: Iterable[Recorded], ticks: Sequence[tuple[float, str]]) -> ReplayReport:
        """Feed ``records`` in event-time order and run each check of ``ticks`` (time, model) once every
        record up to its time is in."""
        ordered = sorted(records, key=lambda r: r.event)
        started = time.perf_counter()
        checks: list[ReplayedCheck] = []
        i = 0
        for at, model in ticks:
            j = i
            while j < len(ordered) and ordered[j].event <= at:
                j += 1
            self._feed(ordered[i:j])
            i = j
            checks += self._check(at, model)
        self._seconds += time.perf_counter() - started
        return self.report(checks)

    def reproduce(self, records: Iterable[Recorded], recorded: Sequence[RecordedCheck]) -> ReplayReport:
        """Run the checks of a recorded history at their recorded times, each after every partition was
        fed up to the positions the recorded check had read (in event-time order, at the check's time);
        each result with a recorded one of the same scope and baseline is compared with it
        (`ReplayedCheck.differs`: its result's fields and its breaches)."""
        by_partition: dict[str, list[Recorded]] = {}
        for record in records:
            by_partition.setdefault(f"{record.topic}:{record.partition}", []).append(record)
        for found in by_partition.values():
            found.sort(key=lambda r: r.offset)
        done = dict.fromkeys(by_partition, 0)  # index of the next record to feed, per partition
        runs: dict[tuple[float, str], list[RecordedCheck]] = {}  # one check run and its recorded rows
        for entry in recorded:
            runs.setdefault((entry.ran_at, entry.model), []).append(entry)
        started = time.perf_counter()
        checks: list[ReplayedCheck] = []
        for (at, model), rows in sorted(runs.items()):
            positions: dict[str, int] = {}
            for row in rows:  # the model's own row holds them (a scope's window has none of its own)
                for key, upto in row.positions.items():
                    positions[key] = max(upto, positions.get(key, 0))
            batch: list[Recorded] = []
            for key, upto in positions.items():
                found = by_partition.get(key, [])
                k = done.get(key, 0)
                while k < len(found) and found[k].offset < upto:
                    batch.append(found[k])
                    k += 1
                done[key] = k
            batch.sort(key=lambda r: r.event)
            for start in range(0, len(batch), _BATCH):
                self._handle(batch[start : start + _BATCH], at)
            ran = self._check(at, model)
            wanted = {(row.scope, row.baseline): row for row in rows}
            for check in ran:
                kept = wanted.pop((check.scope, check.baseline), None)
                if kept is not None:
                    check.differs = differences(kept.result, check.result.as_dict()) + [
                        f"breaches.{name}"
                        for name in sorted(set(kept.breaches) | set(check.breaches))
                        if kept.breaches.get(name) != check.breaches.get(name)
                    ]
            for scope, baseline in wanted:
                label = f"{scope or model}" + (f"@{baseline}" if baseline else "")
                self._failures.append(f"{_iso(at)} {model}: the recorded result of {label} was not replayed")
            checks += ran
        self._seconds += time.perf_counter() - started
        return self.report(checks)

    def report(self, checks: list[ReplayedCheck]) -> ReplayReport:
        rejected: dict[str, int] = {}
        for family in self.daemon.metrics.records_rejected.collect():
            for sample in family.samples:
                if sample.name.endswith("_total") and sample.value:
                    rejected[sample.labels["reason"]] = int(sample.value)
        return ReplayReport(checks, self._fed, self._seconds, rejected, list(self._failures))

    def _feed(self, records: Sequence[Recorded]) -> None:
        """Records in event-time order into the daemon, in batches spanning little event time, each at
        the clock of its latest record (as they would have arrived)."""
        start = 0
        while start < len(records):
            first = records[start].event
            stop = start + 1
            limit = min(len(records), start + _BATCH)
            while stop < limit and records[stop].event - first <= self._spread:
                stop += 1
            self._handle(records[start:stop], records[stop - 1].event)
            start = stop

    def _handle(self, batch: Sequence[Recorded], now: float) -> None:
        if not batch:
            return
        self.clock.now = max(self.clock.now, now)
        self.daemon.handle(batch)
        self._fed += len(batch)

    def _check(self, at: float, model: str) -> list[ReplayedCheck]:
        """Run ``model``'s check at ``at``: its result and its scopes', each with its breaches and the
        events the policy raised."""
        daemon = self.daemon
        self.clock.now = at
        if daemon.labels is not None:
            daemon.expire_labels()
        daemon.recorded.clear()
        try:
            result = daemon.run_check(model)
        except Exception as exc:  # logged by the runner; the replay goes on, as the scheduler would
            self._failures.append(f"{_iso(at)} {model}: {exc}")
            return []
        if result is None:
            return []
        ran = [ReplayedCheck(at, model, "", "", result, daemon.runner.breaches.get((model, "", ""), {}))]
        for (scope, baseline), scoped in sorted(daemon.latest.scoped(model).items()):
            if (scope, baseline) == ("", "") or scoped.window_end != result.window_end:
                continue  # the whole model's (above), or a scope this check did not run
            breaches = daemon.runner.breaches.get((model, scope, baseline), {})
            ran.append(ReplayedCheck(at, model, scope, baseline, scoped, breaches))
        for event in daemon.recorded:
            home = next(
                (c for c in ran if c.scope == event.scope and event.check in c.breaches),
                next((c for c in ran if c.scope == event.scope), ran[0]),
            )
            home.events.append(event)
        daemon.recorded.clear()
        return ran


def differences(recorded: Mapping[str, Any], replayed: Mapping[str, Any], prefix: str = "") -> list[str]:
    """The fields (dotted paths) in which two results (`CheckResult.as_dict`) differ, but for the time
    the check took and its notes (which say what the consumer saw, and a replay has none)."""
    out: list[str] = []
    for key in sorted(set(recorded) | set(replayed)):
        if not prefix and key in _VOLATILE:
            continue
        a, b = recorded.get(key), replayed.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            out += differences(a, b, f"{prefix}{key}.")
        elif a != b and not (_nan(a) and _nan(b)):
            out.append(f"{prefix}{key}")
    return out


def _nan(value: Any) -> bool:
    return isinstance(value, float) and value != value  # noqa: PLR0124 - NaN test
