"""The daemon's side of the check history (`driftwatch.state.history`): what it records, and reading it.

`CheckHistory` records each scheduled check's rows, the alert events they caused and their webhook
deliveries in the history file, with what a row was computed from: the model's config (a hash of its
settings, so editing another model changes nothing) and reference (a hash of the file or profile
directory it loaded), the driftwatch version, and the Kafka positions its window held. A write that
fails is logged and counted (``driftwatch_history_write_errors_total``), never raised: the history
must not fail a check or an alert. `driftwatch.service.history_query` reads it for the API and the CLI.

Scaled out (``publish`` set), nothing is written here: each check row, transition and delivery update is
published as an entry of ``G.history`` (`driftwatch.state.history_log`), and every replica's
`HistoryFeed` applies every entry to its own file (`CheckHistory.apply`), so each replica's history is
complete whichever replica ran a check. A send that fails is counted and logged like a failed write.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from driftwatch import __version__
from driftwatch.alerting.policy import AlertEvent
from driftwatch.checks.window import CheckResult
from driftwatch.config import ModelSettings
from driftwatch.service.metrics import Metrics
from driftwatch.service.webhooks import Delivery, idempotency_key, safe_url, version_key
from driftwatch.state.history import HistoryStore
from driftwatch.state.history_log import (
    CheckEntry,
    DeliveryEntry,
    HistoryEntry,
    HistoryLogError,
    TransitionEntry,
    decode_history_entry,
    encode_history_entry,
    new_uid,
)

__all__ = ["CheckHistory", "config_hash", "reference_hash"]

log = logging.getLogger(__name__)


def config_hash(model: ModelSettings) -> str:
    """sha256 of a model's settings as canonical JSON (sorted keys, paths as resolved)."""
    text = json.dumps(model.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def reference_hash(path: Path) -> str:
    """sha256 of a reference file's content; of a profile directory, of its files' names and contents."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\x00")
        with file.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


# scaled out: sends (model, encoded entry) to G.history; a send failing later calls the callback given
Publish = Callable[[str, bytes, Callable[[BaseException], None]], None]


class CheckHistory:
    """Records checks, transitions and deliveries in a `HistoryStore` (or publishes them, with
    ``publish``); every method swallows (logs and counts) a failed write."""

    def __init__(
        self,
        store: HistoryStore,
        metrics: Metrics,
        models: Mapping[str, ModelSettings],
        clock: Callable[[], float],
        publish: Publish | None = None,
    ) -> None:
        self.store = store
        self.publish = publish
        self._closed = False  # publishing stopped (the producer is closing)
        self._metrics = metrics
        self._models = models
        self._clock = clock
        self._configs = {name: config_hash(model) for name, model in models.items()}
        self._references: dict[Path, str] = {}
        self._rows = 0
        try:
            self._rows = store.count()
        except Exception:
            self._failed("counting the stored checks")
        metrics.history_checks.set(self._rows)

    def check(
        self,
        result: CheckResult,
        ran_at: float,
        breaches: Mapping[str, bool],
        checks: Sequence[str],
        positions: Mapping[str, int],
    ) -> str | None:
        """Store one check result; its row's uid (None when the write failed)."""
        uid = new_uid()
        try:
            entry = CheckEntry(
                uid=uid,
                ran_at=ran_at,
                model=result.model,
                scope=result.scope,
                baseline=result.baseline,
                model_version=result.model_version,
                segment=result.segment,
                status=result.status,
                answered=result.answered,
                reason=result.reason,
                window_start=result.window_start,
                window_end=result.window_end,
                rows=result.rows,
                config_hash=self._configs.get(result.model, ""),
                reference_hash=self._reference(result.model, result.model_version),
                driftwatch_version=__version__,
                positions=dict(positions),
                breaches={str(k): bool(v) for k, v in breaches.items()},
                checks=list(checks),
                result=result.as_dict(),
            )
            if self.publish is not None:
                self._send(entry.model, entry)
                return uid
            self.store.record_check(
                ran_at=entry.ran_at,
                result=entry.result,
                model=entry.model,
                scope=entry.scope,
                baseline=entry.baseline,
                model_version=entry.model_version,
                segment=entry.segment,
                status=entry.status,
                answered=entry.answered,
                reason=entry.reason,
                window_start=entry.window_start,
                window_end=entry.window_end,
                rows=entry.rows,
                config_hash=entry.config_hash,
                reference_hash=entry.reference_hash,
                driftwatch_version=entry.driftwatch_version,
                positions=entry.positions,
                breaches=entry.breaches,
                checks=entry.checks,
                uid=uid,
            )
        except Exception:
            self._failed(f"storing a check of model {result.model}")
            return None
        self._rows += 1
        self._metrics.history_checks.set(self._rows)
        return uid

    def transition(self, event: AlertEvent, check_uid: str | None) -> None:
        """Store an alert event the policy emitted at the check row ``check_uid``."""
        key = idempotency_key(event.model, event.check, event.window_end, event.transition, event.scope)
        entry = TransitionEntry(
            uid=new_uid(),
            check_uid=check_uid,
            model=event.model,
            scope=event.scope,
            check=event.check,
            transition=event.transition,
            at=self._clock(),
            idempotency_key=key,
            window_end=event.window_end,
            reason=event.reason,
        )
        try:
            self._transition(entry)
        except Exception:
            self._failed(f"storing the {event.transition} event of {event.model}/{event.check}")

    def new_version(self, model: str, version: str, check_uid: str | None) -> None:
        """Store the announcement of a new version of ``model`` seen at the check row ``check_uid``."""
        entry = TransitionEntry(
            uid=new_uid(),
            check_uid=check_uid,
            model=model,
            scope="",
            check="model_version",
            transition="new_version",
            at=self._clock(),
            idempotency_key=version_key(model, version),
            reason=f"version {version}",
        )
        try:
            self._transition(entry)
        except Exception:
            self._failed(f"storing the new_version event of {model}")

    def _transition(self, entry: TransitionEntry) -> None:
        if self.publish is not None:
            self._send(entry.model, entry)
            return
        self.store.record_transition(
            check_uid=entry.check_uid,
            model=entry.model,
            scope=entry.scope,
            check=entry.check,
            transition=entry.transition,
            at=entry.at,
            idempotency_key=entry.idempotency_key,
            window_end=entry.window_end,
            reason=entry.reason,
            uid=entry.uid,
        )

    def delivery(self, delivery: Delivery, status: str, last_status: int | None, error: str | None) -> None:
        """A webhook delivery was queued (``pending``, no attempt yet) or an attempt of it finished."""
        try:
            entry = DeliveryEntry(
                target=delivery.target,
                idempotency_key=delivery.key,
                status=status,
                attempts=delivery.attempts,
                at=self._clock(),
                last_status=last_status or None,
                # the dispatcher's texts name no URL; one that did (a client library's message) would
                # lose its credentials and query string here, as the logs do
                last_error=None if error is None else error.replace(delivery.url, safe_url(delivery.url)),
            )
            if self.publish is not None:
                self._send(delivery.model or "", entry)
                return
            self.store.record_delivery(
                target=entry.target,
                idempotency_key=entry.idempotency_key,
                status=entry.status,
                attempts=entry.attempts,
                at=entry.at,
                last_status=entry.last_status,
                last_error=entry.last_error,
            )
        except Exception:
            self._failed(f"storing delivery {delivery.key} to {delivery.target}")

    def apply(self, entries: Sequence[HistoryEntry], positions: Mapping[tuple[str, int], int]) -> None:
        """Scaled out, `HistoryFeed`: store entries read from ``G.history`` up to ``positions`` (raises
        when the file cannot be written: the feed reads them again)."""
        added = self.store.apply(entries, positions)
        if added:
            self._rows += added
            self._metrics.history_checks.set(self._rows)

    def apply_messages(
        self, topic: str, messages: Sequence[tuple[int, int, bytes]], positions: Mapping[int, int]
    ) -> None:
        """`apply` the (partition, offset, value) messages of ``topic`` read up to ``positions``
        (partition -> next offset); one that is no entry is logged and skipped."""
        entries: list[HistoryEntry] = []
        for partition, offset, value in messages:
            try:
                entries.append(decode_history_entry(value))
            except HistoryLogError as exc:
                log.warning("history: skipping %s[%d] offset %d: %s", topic, partition, offset, exc)
        self.apply(entries, {(topic, partition): offset for partition, offset in positions.items()})

    def stop_publishing(self) -> None:
        """The producer is closing: what would be published from now on is counted as lost."""
        self._closed = True

    def send_failed(self, exc: BaseException) -> None:
        """A published entry did not reach the brokers."""
        self._metrics.history_write_errors.inc()
        log.error("history: an entry could not be sent to the history topic (the check goes on): %s", exc)

    def _send(self, model: str, entry: HistoryEntry) -> None:
        assert self.publish is not None
        if self._closed:  # a delivery finishing while the daemon stops
            self._metrics.history_write_errors.inc()
            log.warning("history: the daemon is stopping; an entry of model %s is not recorded", model)
            return
        self.publish(model, encode_history_entry(entry), self.send_failed)

    def prune(self) -> None:
        """Forget what is past the retention or beyond max_checks (run hourly and at start)."""
        try:
            gone = self.store.prune(self._clock())
            self._rows = self.store.count()
            self._metrics.history_checks.set(self._rows)
            self._metrics.history_size.set(self.store.size_bytes())
        except Exception:
            self._failed("pruning")
            return
        if gone:
            log.info("history: forgot %d check rows past history.retention or history.max_checks", gone)

    def close(self) -> None:
        try:
            self.store.close()
        except Exception:
            log.exception("history: closing %s failed", self.store.path)

    def _reference(self, model: str, version: str) -> str:
        settings = self._models.get(model)
        if settings is None:
            return ""
        path = settings.reference
        if version and settings.versions is not None and version in settings.versions.references:
            path = settings.versions.references[version]
        digest = self._references.get(path)
        if digest is None:
            try:
                digest = reference_hash(path)
            except OSError as exc:
                log.warning("history: cannot hash the reference %s of model %s: %s", path, model, exc)
                digest = ""
            self._references[path] = digest
        return digest

    def _failed(self, what: str) -> None:
        self._metrics.history_write_errors.inc()
        log.exception("history: %s failed (the check and its alerts go on)", what)
