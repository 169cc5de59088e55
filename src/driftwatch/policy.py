"""When a check result becomes an alert event.

An alert fires when a check starts breaching (clean -> breach) and resolves
when it is clean again; a result that keeps breaching raises no new event, so a
drifted model triggers one retraining, not one per schedule tick.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal

__all__ = ["AlertEvent", "BreachPolicy"]

Transition = Literal["firing", "resolved"]


@dataclass(frozen=True)
class AlertEvent:
    model: str
    check: str
    transition: Transition
    window_end: float


class BreachPolicy:
    """Edge-triggered alert state per (model, check)."""

    def __init__(self) -> None:
        self._firing: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def observe(self, model: str, check: str, breaching: bool, window_end: float) -> AlertEvent | None:
        key = (model, check)
        with self._lock:
            if breaching and key not in self._firing:
                self._firing.add(key)
                return AlertEvent(model, check, "firing", window_end)
            if not breaching and key in self._firing:
                self._firing.discard(key)
                return AlertEvent(model, check, "resolved", window_end)
        return None

    def firing(self, model: str, check: str) -> bool:
        with self._lock:
            return (model, check) in self._firing
