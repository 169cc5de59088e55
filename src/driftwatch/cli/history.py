"""``driftwatch history MODEL``: a model's check history as a table, JSON or CSV.

It reads the history file (``history.path``) directly, so it works next to a running daemon (the file
is in WAL mode: a reader never blocks the daemon's writes). JSON rows are those of
``GET /api/models/<name>/history``; the table has one line per check and the CSV one row per check with
the key numbers, the breaching checks, the alert transitions and the deliveries flattened.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from driftwatch.config import Settings
from driftwatch.errors import DriftwatchError
from driftwatch.service.history_query import HistoryQuery
from driftwatch.state.history import HistoryCheck, HistoryStore

__all__ = ["HistoryCommandError", "read_history", "render"]

FORMATS = ("table", "json", "csv")
CSV_COLUMNS = (
    "id",
    "ran_at",
    "model",
    "scope",
    "baseline",
    "model_version",
    "segment",
    "status",
    "answered",
    "reason",
    "window_start",
    "window_end",
    "rows",
    "dataset_drift",
    "drift_share",
    "n_drifted",
    "n_columns",
    "performance",
    "breaching",
    "transitions",
    "deliveries",
    "positions",
    "config_hash",
    "reference_hash",
    "driftwatch_version",
)


class HistoryCommandError(DriftwatchError):
    """A problem the user can fix: the message names the option, its value and the fix."""


def read_history(settings: Settings, model: str, query: HistoryQuery) -> list[HistoryCheck] | str:
    """The rows of ``model`` the query selects, or a sentence saying why there are none to read."""
    if model not in settings.models:
        known = ", ".join(settings.models)
        raise HistoryCommandError(f"model {model!r} is not in the config (models: {known}); give one of them")
    path = settings.history.file(settings.state.file)
    if not path.exists():
        off = "" if settings.history.enabled else " and history.enabled is false"
        return f"no check history: history file {path} does not exist yet (history.path){off}"
    try:
        store = HistoryStore(path)
    except OSError as exc:
        raise HistoryCommandError(str(exc)) from None
    try:
        return query.run(store, model)
    finally:
        store.close()


def render(rows: Sequence[HistoryCheck], form: str) -> str:
    if form == "json":
        return json.dumps([row.as_dict() for row in rows], indent=1, allow_nan=False)
    if form == "csv":
        return _csv(rows)
    return _table(rows)


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _drift(result: dict[str, Any]) -> tuple[str, str, str]:
    """(drifted/columns, drift share, the dataset verdict) of a stored result; '-' without a verdict."""
    if result.get("dataset_drift") is None:
        return "-", "-", "-"
    drifted, columns, share = result.get("n_drifted"), result.get("n_columns"), result.get("drift_share")
    return (
        "-" if drifted is None or columns is None else f"{drifted}/{columns}",
        "-" if share is None else f"{share:.2f}",
        "DRIFT" if result["dataset_drift"] else "no",
    )


def _performance(result: dict[str, Any]) -> str:
    """The realized (else estimated) performance values of a stored result: ``accuracy=0.912``."""
    performance = result.get("performance") or {}
    for kind, mark in (("realized", ""), ("estimated", "~")):
        part = performance.get(kind) or {}
        values = {k: v for k, v in (part.get("values") or {}).items() if v is not None}
        if values:
            return " ".join(f"{name}={mark}{value:.3g}" for name, value in sorted(values.items()))
    return "-"


def _scope(row: HistoryCheck) -> str:
    scope = row.scope or "(model)"
    return f"{scope} [rolling]" if row.baseline == "rolling" else scope


def _transitions(row: HistoryCheck) -> str:
    return "; ".join(
        f"{t.transition} {t.check}" + (f" [{t.scope}]" if t.scope and t.scope != row.scope else "")
        for t in row.transitions
    )


def _deliveries(row: HistoryCheck) -> str:
    return "; ".join(f"{d.target} {d.status} x{d.attempts}" for d in row.deliveries)


def _table(rows: Sequence[HistoryCheck]) -> str:
    if not rows:
        return "no checks recorded in that period"
    header = (
        "TIME",
        "SCOPE",
        "STATUS",
        "ROWS",
        "DRIFTED",
        "SHARE",
        "DATASET",
        "PERFORMANCE",
        "BREACHING",
        "EVENTS",
        "DELIVERIES",
    )
    lines = [header]
    for row in rows:
        drifted, share, dataset = _drift(row.result)
        breaching = ",".join(check for check, breach in row.breaches.items() if breach)
        status = row.status if not row.result.get("errors") else f"{row.status}+errors"
        lines.append(
            (
                _time(row.ran_at),
                _scope(row),
                status,
                str(row.rows),
                drifted,
                share,
                dataset,
                _performance(row.result),
                breaching or "-",
                _transitions(row) or "-",
                _deliveries(row) or "-",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    return "\n".join(
        "  ".join(
            [*(cell.ljust(width) for cell, width in zip(line[:-1], widths, strict=True)), line[-1]]
        ).rstrip()
        for line in lines
    )


def _csv(rows: Sequence[HistoryCheck]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        result = row.result
        writer.writerow(
            [
                row.id,
                _time(row.ran_at),
                row.model,
                row.scope,
                row.baseline,
                row.model_version,
                row.segment,
                row.status,
                str(row.answered).lower(),
                row.reason or "",
                _time(row.window_start),
                _time(row.window_end),
                row.rows,
                "" if result.get("dataset_drift") is None else str(result["dataset_drift"]).lower(),
                "" if result.get("drift_share") is None else result["drift_share"],
                "" if result.get("n_drifted") is None else result["n_drifted"],
                "" if result.get("n_columns") is None else result["n_columns"],
                "" if _performance(result) == "-" else _performance(result),
                ";".join(check for check, breach in row.breaches.items() if breach),
                ";".join(f"{t.check}:{t.transition}:{t.scope}:{t.idempotency_key}" for t in row.transitions),
                ";".join(f"{d.target}:{d.status}:{d.attempts}:{d.idempotency_key}" for d in row.deliveries),
                json.dumps(row.positions, sort_keys=True, separators=(",", ":")),
                row.config_hash,
                row.reference_hash,
                row.driftwatch_version,
            ]
        )
    return buffer.getvalue().rstrip("\n")
