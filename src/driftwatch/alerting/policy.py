"""When check results become alert events: consecutive breaches, cooldown, resolution.

Per (model, check) an alert is ``ok``, ``pending`` (breaching, fewer than
``consecutive`` times in a row) or ``firing``. It fires after ``consecutive``
breaching checks in a row; while it keeps breaching it stays quiet for
``cooldown`` seconds after each event, then reminds once more; it resolves
after ``resolve_after`` clean checks in a row. A drifted model therefore
triggers one retraining, not one per schedule tick, and one noisy window
triggers none when ``consecutive`` > 1. The state is kept in an `AlertStore`, so a
restart in the middle changes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

__all__ = ["AlertEvent", "AlertState", "AlertStore", "BreachPolicy", "PolicyRule"]

Transition = Literal["firing", "resolved"]
State = Literal["ok", "pending", "firing"]


@dataclass(frozen=True)
class PolicyRule:
    consecutive: int = 1
    cooldown: float = 0.0  # seconds of quiet after an event while still breaching; 0 = never remind
    resolve_after: int = 1


@dataclass(frozen=True)
class AlertState:
    state: State = "ok"
    since: float = 0.0
    breaches: int = 0  # breaching checks in a row
    cleans: int = 0  # clean checks in a row
    last_event_at: float | None = None


@dataclass(frozen=True)
class AlertEvent:
    model: str
    check: str
    transition: Transition
    window_end: float


def step(
    state: AlertState, breaching: bool, now: float, rule: PolicyRule
) -> tuple[AlertState, Transition | None]:
    """The pure state machine: the next state and the event to send, if any."""
    if breaching:
        breaches = state.breaches + 1
        if state.state == "firing":
            quiet = rule.cooldown <= 0 or (
                state.last_event_at is not None and now - state.last_event_at < rule.cooldown
            )
            if quiet:
                return replace(state, breaches=breaches, cleans=0), None
            return replace(state, breaches=breaches, cleans=0, last_event_at=now), "firing"
        if breaches >= rule.consecutive:
            return AlertState("firing", now, breaches, 0, now), "firing"
        since = state.since if state.state == "pending" else now
        return AlertState("pending", since, breaches, 0, state.last_event_at), None
    cleans = state.cleans + 1
    if state.state == "firing":
        if cleans >= rule.resolve_after:
            return AlertState("ok", now, 0, cleans, now), "resolved"
        return replace(state, breaches=0, cleans=cleans), None
    since = state.since if state.state == "ok" else now
    return AlertState("ok", since, 0, cleans, state.last_event_at), None


class AlertStore(Protocol):
    """Where alert states outlive the process (the service layer's state store implements it)."""

    def load_alert(self, model: str, check: str) -> AlertState | None: ...

    def save_alert(self, model: str, check: str, state: AlertState) -> None: ...


class BreachPolicy:
    """Applies `step` per (model, check), keeping the state in memory and, when given, in an `AlertStore`."""

    def __init__(
        self,
        store: AlertStore | None = None,
        clock: Callable[[], float] | None = None,
        on_state: Callable[[str, str, State, State], None] | None = None,
    ) -> None:
        import time

        self._store = store
        self._clock = clock or time.time
        self._states: dict[tuple[str, str], AlertState] = {}
        self._lock = threading.Lock()
        self._on_state = on_state

    def state(self, model: str, check: str) -> AlertState:
        key = (model, check)
        with self._lock:
            if key not in self._states:
                loaded = self._store.load_alert(model, check) if self._store else None
                self._states[key] = loaded or AlertState()
            return self._states[key]

    def observe(
        self, model: str, check: str, breaching: bool, window_end: float, rule: PolicyRule | None = None
    ) -> AlertEvent | None:
        current = self.state(model, check)
        new, transition = step(current, breaching, self._clock(), rule or PolicyRule())
        with self._lock:
            self._states[(model, check)] = new
        if self._store is not None:
            self._store.save_alert(model, check, new)
        if self._on_state is not None and new.state != current.state:
            self._on_state(model, check, current.state, new.state)
        return None if transition is None else AlertEvent(model, check, transition, window_end)

    def restore(self, model: str, check: str, state: AlertState) -> None:
        """Take a state kept elsewhere (a new owner of the model restores it from the changelog)."""
        with self._lock:
            self._states[(model, check)] = state
        if self._store is not None:
            self._store.save_alert(model, check, state)

    def forget(self, model: str) -> None:
        """Drop the model's cached states (another replica owns it now; `state` reloads them)."""
        with self._lock:
            for key in [k for k in self._states if k[0] == model]:
                del self._states[key]

    def firing(self, model: str, check: str) -> bool:
        return self.state(model, check).state == "firing"
