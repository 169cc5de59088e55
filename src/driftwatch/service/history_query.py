"""Reading the check history: the query of ``GET /api/models/<name>/history`` and ``driftwatch history``.

Kept apart from `driftwatch.service.history` (the daemon's recording), so that the CLI reads the history
file without importing the checks (pandas, scipy).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from driftwatch.config import parse_duration
from driftwatch.state.history import HistoryCheck, HistoryStore

__all__ = [
    "API_LIMIT",
    "HistoryQuery",
    "HistoryQueryError",
    "api_history",
    "parse_limit",
    "parse_since",
    "parse_time",
]

API_LIMIT = 1000  # rows an API answer holds unless ``limit`` says otherwise
MAX_LIMIT = 100_000


class HistoryQueryError(ValueError):
    """A bad query parameter: the message names it, its value and the fix."""


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_time(name: str, value: str) -> float:
    """Unix seconds from ``value``: a number of seconds, or an RFC 3339 time (``2026-12-06T10:00:00Z``;
    without an offset, UTC). Raises `HistoryQueryError` naming ``name``."""
    text = value.strip()
    if _NUMBER.match(text):
        seconds = float(text)
    else:
        try:
            stamp = datetime.fromisoformat(text.replace("z", "Z"))
        except ValueError:
            raise HistoryQueryError(
                f"{name}: {value!r} is not a time; give unix seconds or RFC 3339, e.g. 2026-12-06T10:00:00Z"
            ) from None
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        seconds = stamp.timestamp()
    if not math.isfinite(seconds) or seconds < 0:
        raise HistoryQueryError(f"{name}: {value!r} is not a time; give unix seconds or RFC 3339")
    return seconds


@dataclass(frozen=True)
class HistoryQuery:
    """What to read of one model's history."""

    since: float | None = None
    until: float | None = None
    check: str | None = None
    scope: str | None = None
    limit: int | None = None

    def run(self, store: HistoryStore, model: str) -> list[HistoryCheck]:
        return store.checks(model, self.since, self.until, self.check, self.scope, self.limit)

    @classmethod
    def of_params(cls, params: Mapping[str, Sequence[str]]) -> HistoryQuery:
        """From the API's query parameters (``from``, ``to``, ``check``, ``scope``, ``limit``)."""
        known = ("from", "to", "check", "scope", "limit")
        for name, values in params.items():
            if name not in known:
                raise HistoryQueryError(f"{name}: unknown parameter; use {', '.join(known)}")
            if len(values) > 1:
                raise HistoryQueryError(f"{name}: given {len(values)} times; give it once")
        value = {name: values[0] for name, values in params.items()}
        since = parse_time("from", value["from"]) if "from" in value else None
        until = parse_time("to", value["to"]) if "to" in value else None
        if since is not None and until is not None and until < since:
            raise HistoryQueryError(f"to: {value['to']!r} is before from {value['from']!r}; swap them")
        limit = parse_limit("limit", value["limit"]) if "limit" in value else API_LIMIT
        return cls(since, until, value.get("check") or None, value.get("scope"), limit)


def parse_limit(name: str, value: str) -> int:
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise HistoryQueryError(
            f"{name}: {value!r} is not a row count; give a whole number from 1 to {MAX_LIMIT}"
        )
    return limit


def parse_since(value: str, now: float) -> float:
    """``--since 7d``: the time that long before ``now``."""
    try:
        return now - parse_duration(value)
    except ValueError:
        raise HistoryQueryError(f"--since: {value!r} is not a duration; write e.g. 30m, 12h or 7d") from None


def api_history(
    store: HistoryStore | None, models: Sequence[str], name: str, params: Mapping[str, Sequence[str]]
) -> tuple[int, object]:
    """``GET /api/models/<name>/history``: (HTTP status, JSON body). 404 for a model not in the config
    (or with the history off), 400 naming the parameter for a bad one, else the check rows in ran_at
    order with their transitions and deliveries."""
    if name not in models:
        return 404, {"error": f"no model named {name!r}", "models": sorted(models)}
    if store is None:
        return 404, {
            "error": "the check history is off (history.enabled: false); set it to true to record checks"
        }
    try:
        query = HistoryQuery.of_params(params)
    except HistoryQueryError as exc:
        return 400, {"error": str(exc)}
    return 200, [row.as_dict() for row in query.run(store, name)]
