"""Routing of decoded records into the models' windows and the label join, and their checkpoints.

`Ingest.handle` takes one polled batch of Kafka messages: prediction records are decoded and validated,
rejected ones counted and dead-lettered with their reason, good ones added to their model's window (and
kept for the label join when the model monitors performance); label records are decoded and joined to
the predictions they grade. Scaled out (``forward`` set), a model's records, its gradable predictions
and the labels that fit it go to the model's owner instead, which windows and joins them.
With ``kafka.decode: sampled`` (`Ingest._handle_sampled`) a record's features are decoded only when
its window's sample may keep it; counts, rejections, dead letters and the label join stay exact.
`Ingest.checkpoint` stores every window's changes together with the offsets
they cover, in one transaction, and `restore_windows` reads them back at start, so a record is in a
window exactly once across restarts. Nothing here schedules checks or serves anything.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from operator import attrgetter
from typing import Any, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from driftwatch.performance.monitor import PerformanceMonitor
from driftwatch.service.log_limits import RateLimitedLog
from driftwatch.service.metrics import Metrics
from driftwatch.service.scoped import ScopedModel
from driftwatch.source.deadletter import DeadLetters
from driftwatch.source.kafka import Message
from driftwatch.state.labels import LabelStore
from driftwatch.state.store import Store
from driftwatch.stream.labels import Label, LabelDecoder
from driftwatch.stream.partials import Admission
from driftwatch.stream.records import Prediction, RecordDecoder, Rejection, clip
from driftwatch.stream.sample_keys import position_keys
from driftwatch.stream.vectors import VectorReader, Vectors
from driftwatch.stream.windows import Window

__all__ = ["Ingest"]

log = logging.getLogger(__name__)

_topic, _partition, _offset = attrgetter("topic"), attrgetter("partition"), attrgetter("offset")


def _missing(value: object) -> bool:
    """A label the join treats as none (None or NaN)."""
    return value is None or (isinstance(value, float) and value != value)  # noqa: PLR0124 - NaN test


def _sample_keys(messages: Sequence[Message]) -> npt.NDArray[np.float64]:
    """Each message's sample key, from its position in Kafka: the same record gets the same key in
    every replica and after every re-read, so windows are the same sample wherever they are built."""
    count = len(messages)
    return position_keys(
        list(map(_topic, messages)),
        np.fromiter(map(_partition, messages), dtype=np.int64, count=count),
        np.fromiter(map(_offset, messages), dtype=np.int64, count=count),
    )


class Forward(Protocol):
    """Where a scaled-out replica sends a model's records instead of its own window (the model's owner
    windows them; `driftwatch.service.owner.Forwarder`)."""

    def forward(
        self,
        model: str,
        topics: Sequence[str],
        partitions: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        timestamps: npt.NDArray[np.float64],
        columns: Sequence[npt.NDArray[Any]],
        keys: npt.NDArray[np.float64],
        now: float,
        model_version: str | None,
        decoded: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[int, list[int]]:
        """Send the records to the model's owner: how many were inside its window, and the indexes of
        those too large to send (`driftwatch.service.owner.Forwarded`)."""
        ...

    def sampled(
        self, model: str, now: float, timestamps: npt.NDArray[np.float64], keys: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.bool_]: ...

    def sampling(self) -> bool: ...

    def forward_join(
        self,
        model: str,
        topics: Sequence[str],
        partitions: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        records: Sequence[Prediction],
    ) -> None: ...

    def forward_labels(
        self,
        model: str,
        topics: Sequence[str],
        partitions: npt.NDArray[np.int64],
        offsets: npt.NDArray[np.int64],
        labels: Sequence[Label],
    ) -> None: ...


def _positions(messages: Sequence[Message]) -> tuple[list[str], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    count = len(messages)
    return (
        list(map(_topic, messages)),
        np.fromiter(map(_partition, messages), dtype=np.int64, count=count),
        np.fromiter(map(_offset, messages), dtype=np.int64, count=count),
    )


class Ingest:
    """Decoded records into windows and the label join; windows into checkpoints."""

    def __init__(
        self,
        windows: Mapping[str, Window],
        joins: Mapping[str, PerformanceMonitor],
        decoder: RecordDecoder,
        label_decoder: LabelDecoder,
        labels: LabelStore | None,
        store: Store,
        metrics: Metrics,
        clock: Callable[[], float],
        group: str,
        labels_topic: str | None,
        dead_letters: DeadLetters | None = None,
        versions: dict[str, str] | None = None,
        forward: Forward | None = None,
        decode: str = "all",
        scoped: Mapping[str, ScopedModel] | None = None,
        vectors: VectorReader | None = None,
    ) -> None:
        self.windows = windows
        # models with embeddings: their records' vectors, read (and bad ones rejected) before the rest
        self.vectors = vectors if vectors else None
        # models with segments, versions or a rolling baseline: their scope windows take what the model
        # window takes, with the same keys
        self.scoped: Mapping[str, ScopedModel] = scoped or {}
        # kafka.decode: "sampled" decodes the features of the records a window may keep only; a scope
        # window keeps more of its scope's records than the model window does, so with scoped models
        # every record is decoded
        self.sampled = decode == "sampled" and not self.scoped
        self.forward = forward  # scaled out: records go to their model's owner, not to the windows here
        # scaled out: whether this replica owns a model (it exports the label join state of those only)
        self.owns: Callable[[str], bool] | None = None
        self.joins = joins
        self.decoder = decoder
        self.label_decoder = label_decoder
        self.labels = labels
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.dead_letters = dead_letters
        self._group = group
        self._labels_topic = labels_topic
        # model -> the model_version of its latest record (shared with whoever reports on the model)
        self.versions: dict[str, str] = {} if versions is None else versions
        self._violations_exported: dict[tuple[str, str], int] = defaultdict(int)
        self._rejections = RateLimitedLog(60.0, clock, log)

    def handle(self, messages: Sequence[Message]) -> None:
        """One polled batch: predictions go to the windows (and the label join), labels to the join."""
        labels_topic = self._labels_topic
        if labels_topic is None:
            self._handle_predictions(messages)
            return
        predictions = [m for m in messages if m.topic != labels_topic]
        labels = [m for m in messages if m.topic == labels_topic]
        if predictions:
            self._handle_predictions(predictions)
        if labels:
            self._handle_labels(labels)

    def _read_vectors(self, messages: Sequence[Message]) -> tuple[Sequence[Message], Vectors | None]:
        """The embedding vectors of a batch's records (`driftwatch.stream.vectors`), and the batch without
        the records whose vector is bad (counted and dead-lettered here, as every rejection is)."""
        if self.vectors is None:
            return messages, None
        vectors, rejected = self.vectors.read([message.value for message in messages])
        if not rejected:
            return messages, vectors
        for index, rejection in sorted(rejected.items()):
            self.metrics.records_rejected.labels(rejection.reason).inc()
            self._reject(messages[index], rejection, "record")
        keep = np.ones(len(messages), dtype=np.bool_)
        keep[list(rejected)] = False
        kept = {
            model: {name: matrix[keep] for name, matrix in matrices.items()}
            for model, matrices in vectors.items()
        }
        return [m for m, k in zip(messages, keep.tolist(), strict=True) if k], kept

    @staticmethod
    def _columns_with_vectors(
        window: Window,
        columns: Sequence[npt.NDArray[Any]],
        vectors: Vectors | None,
        model: str,
        positions: Sequence[int] | npt.NDArray[np.intp] | None,
        rows: int,
    ) -> list[npt.NDArray[Any]]:
        """A model's plain columns with its embedding columns put in place: the vectors of the records at
        ``positions`` of the batch (all of it when None)."""
        if len(columns) == len(window.columns):
            return list(columns)
        found = None if vectors is None else vectors.get(model)
        if found is not None and positions is not None:
            found = {name: matrix[positions] for name, matrix in found.items()}
        return window.with_vectors(columns, found, rows)

    def _handle_predictions(self, messages: Sequence[Message]) -> None:
        """Decode a batch, count rejections, add the valid records to their models' windows."""
        messages, vectors = self._read_vectors(messages)
        if not messages:
            return
        if self.sampled and self._sampling():
            self._handle_sampled(messages, vectors)
            return
        payloads = [message.value for message in messages]
        fallbacks = [message.timestamp / 1000.0 for message in messages]
        # the fast path: a batch of good records straight into columns (no rejection, no type violation)
        columns = self.decoder.decode_columns(
            payloads, fallbacks, {name: window.plain_columns for name, window in self.windows.items()}
        )
        keys = _sample_keys(messages)
        if columns is not None:
            now = self.clock()
            for batch in columns:
                model, count = batch.model, len(batch.positions)
                window = self.windows[model]
                whole = count == len(keys)
                oversize: list[int] = []  # scaled out: records too large to send to the owner (rejected)
                try:
                    batch_columns = self._columns_with_vectors(
                        window, batch.columns, vectors, model, None if whole else batch.positions, count
                    )
                    if self.forward is not None:
                        added, oversize = self._forward(
                            model,
                            messages if whole else [messages[i] for i in batch.positions],
                            batch.timestamps,
                            batch_columns,
                            keys if whole else keys[batch.positions],
                            now,
                            batch.model_version,
                        )
                    else:
                        batch_keys = keys if whole else keys[batch.positions]
                        scoped = self.scoped.get(model)
                        if scoped is not None:
                            added = scoped.add_columns(batch.timestamps, batch_columns, now, batch_keys)
                        else:
                            added = window.add_columns(batch.timestamps, batch_columns, now, batch_keys)
                except Exception:  # a bug, not bad data: count and report it, keep consuming
                    log.exception("could not window %d records of model %s", count, model)
                    self.metrics.records_rejected.labels("internal_error").inc(count)
                    continue
                count -= len(oversize)
                self.metrics.records_consumed.labels(model).inc(count)
                if model in self.joins:
                    joined = [self.decoder.decode(payloads[i], fallbacks[i]) for i in batch.positions]
                    if self.forward is not None:
                        self._forward_join(model, [messages[i] for i in batch.positions], joined, oversize)
                    else:
                        self._keep_for_join(model, [r for r in joined if isinstance(r, Prediction)], now)
                if added < count:
                    self.metrics.records_outside_window.labels(model).inc(count - added)
                if self.forward is None:
                    self.metrics.window_rows.labels(model, "", "").set(window.rows())
                if batch.model_version is not None:
                    self.versions[model] = batch.model_version
            return
        by_model: dict[str, list[Prediction]] = defaultdict(list)
        positions: dict[str, list[int]] = defaultdict(list)
        outcomes = self.decoder.decode_batch(payloads, fallbacks)
        for index, (message, outcome) in enumerate(zip(messages, outcomes, strict=True)):
            if isinstance(outcome, Rejection):
                self.metrics.records_rejected.labels(outcome.reason).inc()
                self._reject(message, outcome, "record")
            else:
                by_model[outcome.model].append(outcome)
                positions[outcome.model].append(index)
        now = self.clock()
        for model, records in by_model.items():
            window = self.windows[model]
            whole = len(records) == len(keys)
            oversize = []  # scaled out: records too large to send to the owner (rejected)
            try:
                if self.forward is not None:
                    timestamps, values = window.to_columns(records)
                    values = self._columns_with_vectors(
                        window, values, vectors, model, None if whole else positions[model], len(records)
                    )
                    added, oversize = self._forward(
                        model,
                        messages if whole else [messages[i] for i in positions[model]],
                        timestamps,
                        values,
                        keys if whole else keys[positions[model]],
                        now,
                        records[-1].model_version,
                    )
                elif model in self.scoped:
                    model_keys = keys if whole else keys[positions[model]]
                    timestamps, values = window.to_columns(records)
                    values = self._columns_with_vectors(
                        window, values, vectors, model, None if whole else positions[model], len(records)
                    )
                    added = self.scoped[model].add_columns(timestamps, values, now, model_keys)
                else:
                    timestamps, values = window.to_columns(records)
                    values = self._columns_with_vectors(
                        window, values, vectors, model, None if whole else positions[model], len(records)
                    )
                    added = window.add_columns(
                        timestamps, values, now, keys if whole else keys[positions[model]]
                    )
            except Exception:  # a bug, not bad data: count and report it, keep consuming
                log.exception("could not window %d records of model %s", len(records), model)
                self.metrics.records_rejected.labels("internal_error").inc(len(records))
                continue
            self.metrics.records_consumed.labels(model).inc(len(records) - len(oversize))
            if model in self.joins:
                if self.forward is not None:
                    self._forward_join(model, [messages[i] for i in positions[model]], records, oversize)
                else:
                    self._keep_for_join(model, records, now)
            if added < len(records) - len(oversize):
                self.metrics.records_outside_window.labels(model).inc(len(records) - len(oversize) - added)
            if self.forward is None:
                self.metrics.window_rows.labels(model, "", "").set(window.rows())
            if records[-1].model_version is not None:
                self.versions[model] = records[-1].model_version
            self._export_violations(model, window)

    def _sampling(self) -> bool:
        """Whether any window keeps only a sample of its records (a bucket's threshold below 1); until
        one does, every record is wanted and ``kafka.decode: sampled`` decodes batches as ``all`` does."""
        if self.forward is not None:
            return self.forward.sampling()
        return any(tau < 1.0 for window in self.windows.values() for tau in window.thresholds().values())

    def _handle_sampled(self, messages: Sequence[Message], vectors: Vectors | None = None) -> None:
        """`_handle_predictions` with ``kafka.decode: sampled``: every record is decoded and validated but
        for its features; a model's records are counted in its window as always, and only those its
        window may keep (inside it, with a sample key below their bucket's threshold, read before the
        insert: thresholds only fall, so every record the insert keeps is among them) have their
        features decoded. Rejections are found in every record (`RecordDecoder.decode_sample`); type
        violations among the decoded ones only."""
        payloads = [message.value for message in messages]
        fallbacks = [message.timestamp / 1000.0 for message in messages]
        groups, rejected = self.decoder.decode_heads(payloads, fallbacks)
        for index, rejection in rejected:
            self.metrics.records_rejected.labels(rejection.reason).inc()
            self._reject(messages[index], rejection, "record")
        if not groups:
            return
        keys = _sample_keys(messages)
        layouts = {name: window.plain_columns for name, window in self.windows.items()}
        now = self.clock()
        for heads in groups:
            model = heads.model
            window = self.windows[model]
            positions = np.asarray(heads.positions, dtype=np.intp)
            group_keys = keys[positions]
            try:
                if self.forward is not None:
                    wanted = self.forward.sampled(model, now, heads.timestamps, group_keys)
                else:
                    admission = Admission(window.length, window.bucket_seconds)
                    admission.update(window.thresholds())
                    wanted = admission.decide(now, heads.timestamps, group_keys).forwarded
                sample = self.decoder.decode_sample(heads, wanted, layouts)
            except Exception:  # a bug, not bad data: count and report it, keep consuming
                log.exception("could not decode %d records of model %s", len(positions), model)
                self.metrics.records_rejected.labels("internal_error").inc(len(positions))
                continue
            keep = np.ones(len(positions), dtype=np.bool_)
            for index, rejection in sample.rejected:
                keep[index] = False
                self.metrics.records_rejected.labels(rejection.reason).inc()
                self._reject(messages[heads.positions[index]], rejection, "record")
            count = int(np.count_nonzero(keep))
            if not count:
                continue
            columns = sample.columns
            if sample.exact:  # decoded whole: the window makes their columns and counts type violations
                rows = [index for index, _ in sample.exact]
                _, values = window.to_columns([prediction for _, prediction in sample.exact])
                for column, exact in zip(columns, values, strict=True):
                    column[rows] = exact
            whole = count == len(positions)
            kept = positions if whole else positions[keep]
            timestamps = heads.timestamps if whole else heads.timestamps[keep]
            if not whole:
                columns = [column[keep] for column in columns]
            columns = self._columns_with_vectors(window, columns, vectors, model, kept, count)
            version = heads.model_version(int(np.flatnonzero(keep)[-1]))
            oversize: list[int] = []  # scaled out: records too large to send to the owner (rejected)
            try:
                if self.forward is not None:
                    added, oversize = self._forward(
                        model,
                        [messages[i] for i in kept.tolist()],
                        timestamps,
                        columns,
                        keys[kept],
                        now,
                        version,
                        wanted if whole else wanted[keep],
                    )
                else:
                    added = window.add_columns(timestamps, columns, now, keys[kept])
            except Exception:  # a bug, not bad data: count and report it, keep consuming
                log.exception("could not window %d records of model %s", count, model)
                self.metrics.records_rejected.labels("internal_error").inc(count)
                continue
            count -= len(oversize)
            self.metrics.records_consumed.labels(model).inc(count)
            if model in self.joins:
                joined = heads.predictions(None if whole else keep.tolist())
                if self.forward is not None:
                    self._forward_join(model, [messages[i] for i in kept.tolist()], joined, oversize)
                else:
                    self._keep_for_join(model, joined, now)
            if added < count:
                self.metrics.records_outside_window.labels(model).inc(count - added)
            if self.forward is None:
                self.metrics.window_rows.labels(model, "", "").set(window.rows())
            if version is not None:
                self.versions[model] = version
            if sample.exact:
                self._export_violations(model, window)

    def _export_violations(self, model: str, window: Window) -> None:
        """The window's type violations counted since the last export, into the metric."""
        for feature, count in window.type_violations().items():
            delta = count - self._violations_exported[(model, feature)]
            if delta > 0:
                self.metrics.feature_type_violations.labels(model, feature).inc(delta)
            # below what was exported: scaled out, the window moved here or away (restored or
            # cleared); counting goes on from its count
            self._violations_exported[(model, feature)] = count

    def _forward(
        self,
        model: str,
        messages: Sequence[Message],
        timestamps: npt.NDArray[np.float64],
        columns: Sequence[npt.NDArray[Any]],
        keys: npt.NDArray[np.float64],
        now: float,
        model_version: str | None,
        decoded: npt.NDArray[np.bool_] | None = None,
    ) -> tuple[int, list[int]]:
        """A model's records to its owner (scaled out), with their input positions: how many fell inside
        its window, and the indexes of those rejected as too large to send (``oversize``, counted and
        dead-lettered here)."""
        assert self.forward is not None
        inside, oversize = self.forward.forward(
            model,
            *_positions(messages),
            timestamps,
            columns,
            keys,
            now,
            model_version,
            decoded,
        )
        for index in oversize:
            self.metrics.records_rejected.labels("oversize").inc()
            self._reject(
                messages[index],
                Rejection(
                    "oversize",
                    f"model {clip(model)!r}: its decoded row (vectors, text) is larger than "
                    "kafka.scale_out.max_message_bytes, so it cannot be sent to the model's owner",
                ),
                "record",
            )
        return inside, oversize

    def _forward_join(
        self,
        model: str,
        messages: Sequence[Message],
        records: Sequence[Prediction | Rejection],
        rejected: Sequence[int] = (),
    ) -> None:
        """Scaled out: a model's gradable predictions (one per message) to its owner's label join. The
        ungradable ones and those no label can ever join (no id, no inline label) stay here, with the
        warnings `_keep_for_join` gives; so do the ``rejected`` ones (indexes: rejected as `oversize`
        when forwarded to the window, as a rejected record never joins)."""
        assert self.forward is not None
        if rejected:
            out = set(rejected)
            messages = [m for i, m in enumerate(messages) if i not in out]
            records = [r for i, r in enumerate(records) if i not in out]
        monitor = self.joins[model]
        pairs = [(m, r) for m, r in zip(messages, records, strict=True) if isinstance(r, Prediction)]
        gradable = [(m, r) for m, r in pairs if monitor.gradable(r.prediction)]
        if len(gradable) < len(pairs):  # counted as type violations of the prediction column by the window
            self._rejections.warning(
                f"ungradable:{model}",
                "model %s: %d predictions of the wrong kind for %s are not kept for the label join",
                model,
                len(pairs) - len(gradable),
                monitor.spec.task,
            )
        rows = [(m, r) for m, r in gradable if r.prediction_id is not None or not _missing(r.label)]
        if len(rows) < len(gradable):
            self._rejections.warning(
                f"no_id:{model}",
                "model %s: %d predictions have neither a prediction_id nor an inline label, so no label "
                "can ever be joined to them; log a prediction_id with each prediction",
                model,
                len(gradable) - len(rows),
            )
        if not rows:
            return
        try:
            self.forward.forward_join(model, *_positions([m for m, _ in rows]), [r for _, r in rows])
        except Exception:  # the join state is secondary: drift goes on without it
            log.exception("model %s: could not forward %d predictions for the label join", model, len(rows))

    def _keep_for_join(self, model: str, records: Sequence[Prediction], now: float) -> None:
        """Keep a model's predictions for the label join; an inline label joins at once."""
        if self.labels is None:
            return
        monitor = self.joins[model]
        ungradable = sum(not monitor.gradable(r.prediction) for r in records)
        if ungradable:  # counted as type violations of the prediction column by the window
            records = [r for r in records if monitor.gradable(r.prediction)]
            self._rejections.warning(
                f"ungradable:{model}",
                "model %s: %d predictions of the wrong kind for %s are not kept for the label join",
                model,
                ungradable,
                monitor.spec.task,
            )
        scoped = model in self.scoped  # its rows carry their version and segment values
        try:
            outcome = self.labels.add_predictions(
                model,
                [r.prediction_id for r in records],
                [r.timestamp for r in records],
                [r.prediction for r in records],
                now,
                labels=[r.label for r in records],
                versions=[r.model_version for r in records] if scoped else None,
                segments=self.labels.segment_values(model, records) if scoped else None,
                features=self.labels.feature_values(model, records),
            )
        except Exception:  # the join state is secondary: drift goes on without it
            log.exception("model %s: could not keep %d predictions for the label join", model, len(records))
            return
        joined = outcome["joined"] + outcome["joined_early"]
        if joined:
            self.metrics.labels_joined.labels(model).inc(joined)
        if outcome["duplicate"] and scoped:
            self._rejections.warning(
                f"duplicate:{model}",
                "model %s: %d predictions reuse a prediction_id already kept for the label join, so only the "
                "first is graded (two versions scoring the same request in shadow? give each version's "
                "predictions their own ids for per-version performance)",
                model,
                outcome["duplicate"],
            )
        if outcome["no_id"]:
            self._rejections.warning(
                f"no_id:{model}",
                "model %s: %d predictions have neither a prediction_id nor an inline label, so no label "
                "can ever be joined to them; log a prediction_id with each prediction",
                model,
                outcome["no_id"],
            )

    def _reject(self, message: Message, rejection: Rejection, kind: str) -> None:
        """Dead-letter a rejected message (when configured) and log it, at most once a minute per reason."""
        if self.dead_letters is not None:
            self.dead_letters.send(
                message.value,
                getattr(message, "key", None),
                rejection.reason,
                rejection.detail,
                message.topic,
                message.partition,
                message.offset,
            )
        self._rejections.warning(
            f"{kind}:{rejection.reason}",
            f"rejected {kind} at %s[%d]@%d: %s (%s)",
            message.topic,
            message.partition,
            message.offset,
            rejection.reason,
            rejection.detail,
        )

    def _handle_labels(self, messages: Sequence[Message]) -> None:
        """Decode label records and join them to the predictions they grade."""
        good: list[Label] = []
        read: list[Message] = []  # the message of each label in good
        for message in messages:
            outcome = self.label_decoder.decode(message.value, message.timestamp / 1000.0)
            if isinstance(outcome, Label):
                if outcome.fits is None:
                    good.append(outcome)
                    read.append(message)
                else:  # names no model and fits only some: it joins those, not the others
                    good.extend(
                        msgspec.structs.replace(outcome, model=name, fits=None) for name in outcome.fits
                    )
                    read.extend([message] * len(outcome.fits))
                continue
            self.metrics.labels_rejected.labels(outcome.reason).inc()
            self._reject(message, outcome, "label")
        if good and self.forward is not None:
            self._forward_labels(read, good)
            return
        if not good or self.labels is None:
            return
        per_model: Counter[str] = Counter()
        try:
            reasons = self.labels.add_labels(
                [label.prediction_id for label in good],
                [label.label for label in good],
                self.clock(),
                model=[label.model for label in good],
                timestamps=[label.timestamp for label in good],
                joined_by_model=per_model,
            )
        except Exception:
            log.exception("could not join %d labels", len(good))
            self.metrics.labels_rejected.labels("internal_error").inc(len(good))
            return
        for model, count in per_model.items():
            self.metrics.labels_joined.labels(model).inc(count)
        for reason, count in reasons.items():
            if reason not in ("joined", "early"):  # early labels wait; they count when they join or expire
                self.metrics.labels_rejected.labels(reason).inc(count)

    def _forward_labels(self, messages: Sequence[Message], labels: Sequence[Label]) -> None:
        """Scaled out: each label (read from the message beside it) to the owner of every model it may
        join: the model it names, else every model with performance monitoring."""
        assert self.forward is not None
        by_model: dict[str, list[int]] = defaultdict(list)
        everyone = list(self.joins)
        for index, label in enumerate(labels):
            for model in everyone if label.model is None else [label.model]:
                by_model[model].append(index)
        for model, indices in by_model.items():
            try:
                self.forward.forward_labels(
                    model,
                    *_positions([messages[i] for i in indices]),
                    [msgspec.structs.replace(labels[i], model=model) for i in indices],
                )
            except Exception:
                log.exception("model %s: could not forward %d labels", model, len(indices))
                self.metrics.labels_rejected.labels("internal_error").inc(len(indices))

    def expire_labels(self) -> None:
        """Drop what the label join no longer needs (run every minute); export the join state."""
        if self.labels is None:
            return
        try:
            counts = self.labels.expire(self.clock())
        except Exception:
            log.exception("could not expire the label join state")
            return
        if counts["unknown_id"]:
            self.metrics.labels_rejected.labels("unknown_id").inc(counts["unknown_id"])
        self.export_label_state()

    def export_label_state(self) -> None:
        """The label join's pending predictions and sample rate per model, as gauges."""
        if self.labels is None:
            return
        for model in self.joins:
            if self.owns is not None and not self.owns(model):
                continue  # scaled out: the model's owner exports its join state
            self.metrics.labels_pending.labels(model).set(self.labels.pending_count(model))
            self.metrics.labels_sample_rate.labels(model).set(self.labels.rate(model))

    def checkpoint(self, offsets: dict[tuple[str, int], int]) -> None:
        """Store every window's changes and the offsets they cover in one transaction."""
        self.take_checkpoint(offsets)()

    def take_checkpoint(self, offsets: dict[tuple[str, int], int]) -> Callable[[], None]:
        """Take every window's changes now (they match ``offsets``: the caller holds up handling) and
        return their write, which stores them with the offsets in one transaction and may run on
        another thread while records go on into the windows (the changes taken are never mutated). A
        write that fails makes the next checkpoint store every window whole."""
        changes = {name: (window.signature(), window.changes()) for name, window in self.windows.items()}
        dropped: list[str] = []
        blobs: dict[str, bytes] = {}
        for scoped in self.scoped.values():
            windows, gone, state = scoped.changes()
            changes.update(windows)
            dropped += gone
            blobs.update(state)

        def write() -> None:
            try:
                if self.scoped:
                    self.store.checkpoint(changes, self._group, offsets, dropped=dropped, blobs=blobs)
                else:
                    self.store.checkpoint(changes, self._group, offsets)
            except Exception:
                for window in self.windows.values():
                    window.mark_full()  # the changes taken were not stored: store everything next time
                for scoped in self.scoped.values():
                    scoped.mark_full()
                raise

        return write

    def restore_windows(self) -> None:
        """Each window's rows from the last checkpoint (windows whose columns changed start empty)."""
        now = self.clock()
        for name, window in self.windows.items():
            stored = self.store.load_window(name, window.signature())
            if stored is None:
                continue
            rows = window.restore(*stored, now=now)
            for feature, count in window.type_violations().items():  # counted by the previous process
                self._violations_exported[(name, feature)] = count
            log.info(
                "model %s: restored %d window rows from the checkpoint in %s", name, rows, self.store.path
            )
        for name, scoped in self.scoped.items():
            rows = scoped.restore(self.store.load_window, self.store.load_blob, now)
            if rows:
                log.info("model %s: restored %d rows of its scope windows and baselines", name, rows)
