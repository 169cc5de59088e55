"""The one way tests wait: poll a condition until it holds, or fail saying what never happened.

    wait_for(lambda: store.outbox("dead") != [], 10, "the event to be dead-lettered")
    target = wait_for(lambda: find_target(), 30, lambda: f"a healthy target (seen: {seen})")

A test waits for the thing it needs instead of sleeping a fixed time: it goes on as soon as the
condition holds, and a slow machine only makes it slower, not flaky. A fixed ``time.sleep`` stays
only where the test is about time itself (a quiet period in which nothing more may happen, a clock
that has to advance), with a comment saying so. Nothing here imports pytest, so helpers that
are libraries of their own (``tests.promstack``) use it too, raising their own error type.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

__all__ = ["wait_for"]

T = TypeVar("T")


def wait_for(
    condition: Callable[[], T],
    timeout: float = 10.0,
    message: str | Callable[[], str] = "the condition",
    *,
    interval: float = 0.05,
    error: type[Exception] = AssertionError,
) -> T:
    """Call ``condition`` every ``interval`` seconds until it returns a true value, and return that value.

    After ``timeout`` seconds (the condition is tried once more at the deadline) raise ``error``
    naming ``message``: text, or a function giving it, called only then, so it can describe the
    state at the time of the failure (a log tail, the last answer seen).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            text = message() if callable(message) else message
            raise error(f"timed out after {timeout:g}s waiting for {text}")
        time.sleep(interval)
