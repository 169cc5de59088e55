"""``driftwatch replay``: what a config would have done over a past period, nothing sent.

Reads the period's records (from the config's Kafka topics, or from JSON-lines / Parquet files), runs
each model's scheduled checks through the daemon's own code on a virtual clock
(`driftwatch.service.replay.Replay`) and prints every check's result and every alert event the policy
would have raised, with the webhook targets it would have gone to. No webhook is sent, no offset
committed, nothing listens and the configured state file is not opened.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from driftwatch.config import Settings
    from driftwatch.service.replay import RecordedCheck, ReplayedCheck, ReplayReport

__all__ = ["ReplayCommandError", "format_summary", "format_table", "parse_time", "replay_command"]

_RELATIVE = re.compile(r"^now\s*-\s*(.+)$")
_AHEAD = 300.0  # seconds a record may be stamped ahead of a check and still be in its window
_TIME_HELP = "give ISO 8601 (2026-11-29T00:00:00Z), epoch seconds, now or now-7d"


class ReplayCommandError(Exception):
    """A replay the user asked for cannot run: one line naming the flag, the value and the fix."""


def parse_time(flag: str, text: str, now: float) -> float:
    """``--from``/``--to``: ISO 8601 (naive means UTC), epoch seconds, ``now`` or ``now-DURATION``."""
    from driftwatch.config import parse_duration
    from driftwatch.stream.records import parse_timestamp

    value = text.strip()
    if value == "now":
        return now
    relative = _RELATIVE.match(value)
    try:
        if relative is not None:
            return now - parse_duration(relative.group(1))
        number: str | float = float(value) if re.fullmatch(r"\d+(\.\d+)?", value) else value
        seconds = parse_timestamp(number)
    except (ValueError, TypeError):
        raise ReplayCommandError(f"{flag} {text!r} is not a time; {_TIME_HELP}") from None
    if not math.isfinite(seconds):
        raise ReplayCommandError(f"{flag} {text!r} is not a time; {_TIME_HELP}")
    return seconds


def replay_command(
    settings: Settings,
    config: str,
    start_text: str,
    end_text: str,
    models: Sequence[str] | None,
    inputs: Sequence[str],
    labels: Sequence[str],
    output: str,
    reproduce: bool,
    idle: float = 3.0,
) -> tuple[str, str]:
    """Run a replay; its output (table or JSON) and its summary line."""
    from driftwatch.reference import ReferenceDataError
    from driftwatch.service.replay import Replay, lookback_of
    from driftwatch.source.recorded import Recorded, RecordedError, read_files, read_kafka

    now = time.time()
    start = parse_time("--from", start_text, now)
    end = parse_time("--to", end_text, now)
    if start >= end:
        raise ReplayCommandError(
            f"--from {start_text!r} is not before --to {end_text!r}; give a period that ends after it starts"
        )
    chosen = list(dict.fromkeys(models)) if models else None
    for name in chosen or []:
        if name not in settings.models:
            raise ReplayCommandError(
                f"--model {name!r} is not in {config} (models: {', '.join(settings.models)})"
            )
    labels_topic = settings.kafka.labels_topic
    if labels and not inputs:
        raise ReplayCommandError(
            "--labels reads labels from files: give the predictions as files too (--input FILE), or neither"
        )
    if labels and labels_topic is None:
        raise ReplayCommandError(
            f"--labels {labels[0]}: {config} has no kafka.labels_topic, so the daemon reads no label records; "
            "set kafka.labels_topic (labels inline in the predictions need no --labels)"
        )
    for flag, paths in (("--input", inputs), ("--labels", labels)):
        for path in paths:
            if not Path(path).is_file():
                raise ReplayCommandError(f"{flag} {path}: file not found; give a JSON-lines or Parquet file")
    selected = set(chosen or settings.models)

    def wanted(record: Recorded) -> bool:
        # the records of the models left out are not read (the daemon would reject them as unknown)
        return record.model is None or record.model in selected or record.model not in settings.models

    try:
        replay = Replay(settings, chosen)
    except (ReferenceDataError, OSError) as exc:
        raise ReplayCommandError(str(exc)) from None
    with replay:
        history = _history(settings, chosen or list(settings.models), start, end) if reproduce else []
        since = start - lookback_of(replay.settings)
        # reproducing, the records read up to the recorded positions may be stamped ahead of a check
        until = end + _AHEAD if reproduce else end
        read_started = time.perf_counter()
        try:
            if inputs:
                records = read_files([Path(p) for p in inputs], settings.kafka.topic)
                if labels:
                    assert labels_topic is not None
                    records += read_files([Path(p) for p in labels], labels_topic, labels=True)
                records = [r for r in records if since <= r.event <= until and wanted(r)]
            else:
                topics = [settings.kafka.topic] + ([labels_topic] if labels_topic else [])
                records = read_kafka(settings.kafka, topics, since, until, idle=idle, wanted=wanted)
        except RecordedError as exc:
            raise ReplayCommandError(str(exc)) from None
        read_seconds = time.perf_counter() - read_started
        if reproduce:
            report = replay.reproduce(records, history)
        else:
            report = replay.run(records, replay.schedule(start, end))
    text = (
        json.dumps([check.as_dict() for check in report.checks], indent=2)
        if output == "json"
        else format_table(report.checks, reproduce)
    )
    return text, format_summary(report, start, end, read_seconds)


def _history(settings: Settings, models: Sequence[str], start: float, end: float) -> list[RecordedCheck]:
    """The recorded checks of ``models`` from ``start`` to ``end``, from the check history file."""
    from driftwatch.state.history import HistoryStore

    path = settings.history.file(settings.state.file)
    if not path.exists():
        raise ReplayCommandError(
            f"--reproduce: no check history at {path} (history.path); the daemon writes it as it runs checks "
            "(history.enabled), or replay without --reproduce"
        )
    try:
        store = HistoryStore(path)
    except OSError as exc:
        raise ReplayCommandError(f"--reproduce: {exc}") from None
    try:
        found: list[RecordedCheck] = []
        for model in models:
            found += store.checks(model, start, end)
    finally:
        store.close()
    if not found:
        raise ReplayCommandError(
            f"--reproduce: the check history {path} has no checks of {', '.join(models)} from "
            f"{_iso(start)} to {_iso(end)}; give a period the daemon ran in"
        )
    return found


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _numbers(result: dict[str, Any]) -> str:
    """A check result's key numbers, as the table shows them."""
    parts = [f"rows={result['rows']}"]
    if result.get("n_columns") is not None:
        parts.append(f"drifted={result['n_drifted']}/{result['n_columns']}")
        parts.append(f"share={result['drift_share']:.2f}")
    prediction = result.get("prediction_drift")
    if prediction and prediction.get("score") is not None:
        parts.append(f"prediction={prediction['score']:.3g}")
    quality = result.get("data_quality")
    if quality and quality.get("breached"):
        parts.append("quality=breached")
    performance = result.get("performance")
    realized = (performance or {}).get("realized")
    if realized:
        parts.append(f"labels={realized['labelled_rows']}")
    if result.get("errors"):
        parts.append("errors=" + ",".join(result["errors"]))
    return " ".join(parts)


def format_table(checks: Sequence[ReplayedCheck], reproduce: bool = False) -> str:
    """One line per check: time, model, scope, status, key numbers, breaches and alert events."""
    lines = []
    for check in checks:
        result = check.result.as_dict()
        breached = sorted(name for name, breaching in check.breaches.items() if breaching)
        events = [
            f"{e.transition.upper()} {e.check}" + (f" -> {','.join(e.targets)}" if e.targets else "")
            for e in check.events
        ]
        scope = check.scope or "-"
        if check.baseline:
            scope += f"@{check.baseline}"
        line = (
            f"{_iso(check.ran_at)}  {check.model}  {scope}  {result['status']}  {_numbers(result)}"
            f"  breaches={','.join(breached) or '-'}"
        )
        if events:
            line += "  " + "; ".join(events)
        if reproduce and check.differs is not None:
            line += "  reproduced" if not check.differs else "  DIFFERS: " + ",".join(check.differs)
        lines.append(line)
    return "\n".join(lines) if lines else "no checks in the period"


def format_summary(report: ReplayReport, start: float, end: float, read_seconds: float) -> str:
    rate = report.records / report.seconds if report.seconds > 0 else 0.0
    rejected = sum(report.rejected.values())
    text = (
        f"replay {_iso(start)} .. {_iso(end)}: {len(report.checks)} check(s); "
        f"alerts: {report.count('firing')} would have fired, {report.count('resolved')} resolved; "
        f"{report.records:,} records read in {read_seconds:.1f} s, replayed in {report.seconds:.1f} s "
        f"({rate:,.0f} records/s)"
    )
    if rejected:
        text += (
            f"; {rejected:,} rejected ("
            + ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items()))
            + ")"
        )
    if report.failures:
        text += f"; {len(report.failures)} check(s) failed: " + "; ".join(report.failures[:3])
    reproduced = [c for c in report.checks if c.differs is not None]
    if reproduced:
        text += f"; {sum(not c.differs for c in reproduced)}/{len(reproduced)} reproduced"
    return text
