"""A logger wrapper that reports a recurring problem at most once per period, with a count.

Bad records and unjoinable labels can arrive thousands of times a second; the log says so once a
minute per kind of problem, with how many were left out since, instead of drowning everything else.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable

__all__ = ["RateLimitedLog"]


class RateLimitedLog:
    """Log a message at most once per key per ``period`` seconds, with the count suppressed since."""

    def __init__(self, period: float, clock: Callable[[], float], log: logging.Logger) -> None:
        self._period = period
        self._clock = clock
        self._log = log
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = defaultdict(int)

    def warning(self, key: str, message: str, *args: object) -> None:
        now = self._clock()
        if now - self._last.get(key, -1e18) >= self._period:
            suppressed = self._suppressed.pop(key, 0)
            extra = f" ({suppressed} more since the last report)" if suppressed else ""
            self._log.warning(message + extra, *args)
            self._last[key] = now
        else:
            self._suppressed[key] += 1
