"""When check results become alert events: consecutive breaches, cooldown, resolution.

Per (model, scope, check) an alert is ``ok``, ``pending`` (breaching, fewer than
``consecutive`` times in a row) or ``firing``. It fires after ``consecutive``
breaching checks in a row; while it keeps breaching it stays quiet for
``cooldown`` seconds after each event, then reminds once more; it resolves
after ``resolve_after`` clean checks in a row. A drifted model therefore
triggers one retraining, not one per schedule tick, and one noisy window
triggers none when ``consecutive`` > 1. The state is kept in an `AlertStore`, so a
restart in the middle changes nothing.

A scope (a segment or a version of the model, `driftwatch.scope.Scope.key`; ``""`` for the whole
model) has alert states of its own, independent of the whole model's. A scope that stops being
watched while its alert fires is *retired* (`BreachPolicy.retire`): a ``resolved`` event with reason
``retired``, so the receiver knows the alert ended without clean checks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal, Protocol

__all__ = ["AlertEvent", "AlertState", "AlertStore", "BreachPolicy", "PolicyRule", "ScopeState", "State"]

Transition = Literal["firing", "resolved"]
State = Literal["ok", "pending", "firing"]
# what `BreachPolicy`'s ``on_scope_state`` reports as the state entered: a state, or "retired" (`retire`)
ScopeState = Literal["ok", "pending", "firing", "retired"]


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
    scope: str = ""  # the scope's key (`driftwatch.scope.Scope.key`); "" for the whole model
    reason: str | None = None  # "retired": resolved because the scope is no longer watched (`retire`)


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
    """Where alert states outlive the process (the service layer's state store implements it).

    The model-wide scope's states (scope ``""``) use `load_alert`/`save_alert`, as before scopes
    existed; a segment or version scope's use the ``scope_`` methods."""

    def load_alert(self, model: str, check: str) -> AlertState | None: ...

    def save_alert(self, model: str, check: str, state: AlertState) -> None: ...

    def load_scope_alert(self, model: str, scope: str, check: str) -> AlertState | None: ...

    def save_scope_alert(self, model: str, scope: str, check: str, state: AlertState) -> None: ...

    def delete_scope_alerts(self, model: str, scope: str, check: str | None = None) -> int: ...


class BreachPolicy:
    """Applies `step` per (model, scope, check), keeping the state in memory and, when given, in an
    `AlertStore`.

    ``on_state(model, check, before, after)`` is called when a model-wide state changes (scope
    ``""``), exactly as before scopes existed; ``on_scope_state(model, scope, check, before, after)``
    when a segment or version scope's does, and with ``after == "retired"`` when `retire` ends a firing
    alert of a scope that left."""

    def __init__(
        self,
        store: AlertStore | None = None,
        clock: Callable[[], float] | None = None,
        on_state: Callable[[str, str, State, State], None] | None = None,
        on_scope_state: Callable[[str, str, str, State, ScopeState], None] | None = None,
    ) -> None:
        import time

        self._store = store
        self._clock = clock or time.time
        self._states: dict[tuple[str, str, str], AlertState] = {}  # (model, scope, check)
        self._lock = threading.Lock()
        self._on_state = on_state
        self._on_scope_state = on_scope_state

    def _load(self, model: str, check: str, scope: str) -> AlertState | None:
        if self._store is None:
            return None
        if scope == "":
            return self._store.load_alert(model, check)
        return self._store.load_scope_alert(model, scope, check)

    def _save(self, model: str, check: str, scope: str, state: AlertState) -> None:
        if self._store is None:
            return
        if scope == "":
            self._store.save_alert(model, check, state)
        else:
            self._store.save_scope_alert(model, scope, check, state)

    def _changed(self, model: str, check: str, scope: str, before: State, after: ScopeState) -> None:
        if before == after:
            return
        if scope == "":
            if self._on_state is not None and after != "retired":
                self._on_state(model, check, before, after)
        elif self._on_scope_state is not None:
            self._on_scope_state(model, scope, check, before, after)

    def state(self, model: str, check: str, scope: str = "") -> AlertState:
        key = (model, scope, check)
        with self._lock:
            if key not in self._states:
                self._states[key] = self._load(model, check, scope) or AlertState()
            return self._states[key]

    def observe(
        self,
        model: str,
        check: str,
        breaching: bool,
        window_end: float,
        rule: PolicyRule | None = None,
        scope: str = "",
    ) -> AlertEvent | None:
        current = self.state(model, check, scope)
        new, transition = step(current, breaching, self._clock(), rule or PolicyRule())
        with self._lock:
            self._states[(model, scope, check)] = new
        self._save(model, check, scope, new)
        self._changed(model, check, scope, current.state, new.state)
        return None if transition is None else AlertEvent(model, check, transition, window_end, scope)

    def restore(self, model: str, check: str, state: AlertState, scope: str = "") -> None:
        """Take a state kept elsewhere (a new owner of the model restores it from the changelog)."""
        with self._lock:
            self._states[(model, scope, check)] = state
        self._save(model, check, scope, state)

    def forget(self, model: str) -> None:
        """Drop the model's cached states, of every scope (another replica owns it now; `state`
        reloads them). The stored states stay."""
        with self._lock:
            for key in [k for k in self._states if k[0] == model]:
                del self._states[key]

    def forget_scope(self, model: str, scope: str) -> None:
        """Drop a segment or version scope's states, cached and stored: the scope is no longer watched
        (it left the top K, or its version is no longer live). Reports nothing; see `retire` for a
        scope whose alert fires."""
        if scope == "":
            raise ValueError("the model-wide scope cannot be forgotten; use forget(model)")
        with self._lock:
            for key in [k for k in self._states if k[0] == model and k[1] == scope]:
                del self._states[key]
            if self._store is not None:
                self._store.delete_scope_alerts(model, scope)

    def retire(self, model: str, scope: str, check: str, at: float) -> AlertEvent | None:
        """End the alert of ``check`` on a scope that is no longer watched on its own (design 2.5) and
        delete its state. A firing alert ends with a ``resolved`` event of reason ``retired`` (absence
        of evidence resolves nothing, but an alert on an unwatched scope could never resolve); a
        pending or ok state is deleted silently (None)."""
        if scope == "":
            raise ValueError("the model-wide scope never retires")
        current = self.state(model, check, scope)
        with self._lock:
            self._states.pop((model, scope, check), None)
            if self._store is not None:
                self._store.delete_scope_alerts(model, scope, check)
        if current.state != "firing":
            return None
        self._changed(model, check, scope, current.state, "retired")
        return AlertEvent(model, check, "resolved", at, scope, "retired")

    def firing(self, model: str, check: str, scope: str = "") -> bool:
        return self.state(model, check, scope).state == "firing"
