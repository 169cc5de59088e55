"""Recorded traffic read back for a replay: from Kafka by event time, or from JSON-lines and Parquet files.

Each record comes back as a `Recorded` message (the parts of a Kafka record the daemon's ingest reads,
with its position) plus its event time: the record's own ``timestamp`` field, else the Kafka timestamp,
as the daemon's decoder takes it (`driftwatch.stream.records.event_time`). Nothing here commits,
joins a consumer group or writes anything.

Kafka (`read_kafka`): an assigned consumer (no group) per topic's partitions starts at the offset
``offsets_for_times`` gives for the period's start (less `_EARLY`, for records produced late), or at
the beginning of the partition when the broker has no usable answer (some answer 0 for every time);
records are kept when their event time is in the period. A partition is done once a record's event
time is past the period's end by ``margin`` (later records are not read), or when the whole read is
idle for ``idle`` seconds (the end of the log: some brokers under-report ``end_offsets``, so it is
not trusted; before the first records come, it waits 10 seconds). Both clients are supported (``kafka.client``), configured as the daemon's consumers
are, TLS and SASL included, with no group id on kafka-python.

Files: JSON-lines (one record per line, as on the topic: predictions or labels) and Parquet, one row
per record in the columns ``model, model_version, prediction_id, timestamp, prediction, label,
metadata`` and the features in a ``features`` struct (or map) column; any of them but ``model`` may be
missing. A Parquet row is turned back into the JSON record it stands for, so the daemon's decoder reads
both kinds alike. A file's records get positions for their sample keys: the topic given (the config's
predictions or labels topic), partition 0 and their index among the records of all the files of that
kind, in the order given; the same records give the same sample whatever the file format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import msgspec

from driftwatch.config import KafkaSettings
from driftwatch.source.kafka import connection_config, consumer_config
from driftwatch.stream.records import event_time

__all__ = ["Recorded", "RecordedError", "event_of", "read_files", "read_kafka"]

log = logging.getLogger(__name__)

_EARLY = 3600.0  # seconds before the period a record may have been produced and still be stamped in it
_POLL_MS = 500
_FIRST = 10.0  # seconds the read waits for its first records (then ``idle`` seconds between them)


class RecordedError(Exception):
    """Recorded traffic cannot be read (a file, a topic): the message names what and how to fix it."""


class Recorded(msgspec.Struct, frozen=True, gc=False):
    """A recorded message with kafka-python's attribute names, its event time (unix seconds) and the
    model it names (None when it names none or cannot be read)."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # the Kafka timestamp, milliseconds (0 for a file's records)
    value: bytes | None
    event: float
    model: str | None = None
    key: bytes | None = None


class _Head(msgspec.Struct):
    timestamp: Any = None
    model: Any = None


_head = msgspec.json.Decoder(_Head)


def event_of(value: bytes | None, kafka_ms: int) -> tuple[float, str | None]:
    """A message's event time and model, as the daemon's decoder would take them; a message it cannot
    read is placed at its Kafka time (the daemon rejects it and counts it)."""
    fallback = kafka_ms / 1000.0
    if value is None:
        return fallback, None
    try:
        head = _head.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return fallback, None
    when = event_time(head.timestamp, fallback)
    model = head.model if isinstance(head.model, str) else None
    return (when if isinstance(when, float) else fallback), model


# files ---------------------------------------------------------------------------------------------


def read_files(paths: Sequence[Path], topic: str, labels: bool = False) -> list[Recorded]:
    """The records of JSON-lines or Parquet files (by extension: .parquet, .pq; else JSON-lines), as
    recorded on ``topic``, partition 0, at their index among all of them; ``labels``: label records
    (in Parquet: ``prediction_id``, ``label``, ``timestamp`` and ``model``, the last two optional)."""
    out: list[Recorded] = []
    for path in paths:
        parquet = path.suffix.lower() in (".parquet", ".pq")
        values = _parquet_values(path, labels) if parquet else _lines(path)
        for value in values:
            when, model = event_of(value, 0)
            out.append(Recorded(topic, 0, len(out), 0, value, when, model))
    return out


def _lines(path: Path) -> list[bytes]:
    try:
        with path.open("rb") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError as exc:
        raise RecordedError(
            f"{path}: cannot read ({exc.strerror}); give a readable JSON-lines file"
        ) from None


_COLUMNS = ("model", "model_version", "prediction_id", "timestamp", "prediction", "label", "metadata")


def _parquet_values(path: Path, labels: bool = False) -> list[bytes]:
    """A Parquet file's rows as the JSON records they stand for (``labels``: label records)."""
    try:
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - pyarrow is a dependency of the reference readers
        raise RecordedError(f"{path}: reading Parquet needs pyarrow; give JSON-lines instead") from None
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise RecordedError(
            f"{path}: not a readable Parquet file ({exc}); give Parquet or JSON-lines"
        ) from None
    names = set(table.column_names)
    if labels:
        return _label_values(path, table)
    if "model" not in names:
        raise RecordedError(
            f"{path}: no 'model' column; a Parquet file of records has the columns {', '.join(_COLUMNS)} "
            "and a 'features' struct column (see README 'Replay')"
        )
    if "features" not in names:
        raise RecordedError(f"{path}: no 'features' column; give the features as a struct (or map) column")
    columns = [c for c in (*_COLUMNS, "features") if c in names]
    rows = table.select(columns).to_pylist()
    encoder = msgspec.json.Encoder(enc_hook=_plain)
    values = []
    for row in rows:
        features = row["features"]
        if isinstance(features, list):  # a map column: (key, value) pairs
            row["features"] = dict(features)
        elif features is None:
            row["features"] = {}
        stamp = row.get("timestamp")
        if isinstance(stamp, datetime):
            row["timestamp"] = (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()
        record = {k: v for k, v in row.items() if v is not None or k in ("label", "features")}
        values.append(encoder.encode(record))
    return values


_LABEL_COLUMNS = ("prediction_id", "label", "timestamp", "model")


def _label_values(path: Path, table: Any) -> list[bytes]:
    missing = [c for c in _LABEL_COLUMNS[:2] if c not in table.column_names]
    if missing:
        raise RecordedError(
            f"{path}: no {', '.join(repr(c) for c in missing)} column; a Parquet file of labels has the "
            f"columns {', '.join(_LABEL_COLUMNS)} (the last two optional)"
        )
    columns = [c for c in _LABEL_COLUMNS if c in table.column_names]
    encoder = msgspec.json.Encoder(enc_hook=_plain)
    return [
        encoder.encode({k: v for k, v in row.items() if v is not None or k == "label"})
        for row in table.select(columns).to_pylist()
    ]


def _plain(value: Any) -> Any:
    """What JSON holds of a Parquet value msgspec does not encode itself."""
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return value.isoformat()
    raise NotImplementedError(f"cannot write {type(value).__name__} as JSON")


# Kafka ---------------------------------------------------------------------------------------------


def read_kafka(
    settings: KafkaSettings,
    topics: Sequence[str],
    start: float,
    end: float,
    margin: float = 600.0,
    idle: float = 3.0,
    wanted: Callable[[Recorded], bool] | None = None,
) -> list[Recorded]:
    """The records of ``topics`` whose event time is in [start, end] (and that ``wanted`` keeps)."""
    reader = _ConfluentReader if settings.client == "confluent" else _KafkaPythonReader
    found: list[Recorded] = []
    with reader(settings) as consumer:
        partitions = consumer.partitions(topics)
        starts = consumer.start_offsets(partitions, start - _EARLY)
        consumer.assign(starts)
        live = set(partitions)
        quiet_since = time.monotonic()
        wait = max(idle, _FIRST)  # the first records may take a while: connecting, fetching metadata
        while live:
            batch = consumer.poll()
            if not batch:
                if time.monotonic() - quiet_since >= wait:
                    break
                continue
            quiet_since, wait = time.monotonic(), idle
            done: set[tuple[str, int]] = set()
            for record in batch:
                key = (record.topic, record.partition)
                if key not in live:
                    continue
                if record.event > end + margin:
                    done.add(key)
                    continue
                if start <= record.event <= end and (wanted is None or wanted(record)):
                    found.append(record)
            if done:
                live -= done
                consumer.pause(done)
    return found


class _KafkaPythonReader:
    def __init__(self, settings: KafkaSettings) -> None:
        from kafka import KafkaConsumer

        config = {**consumer_config(settings), "group_id": None, "enable_auto_commit": False}
        try:
            self._consumer = KafkaConsumer(**config)
        except Exception as exc:
            raise RecordedError(
                f"kafka.bootstrap_servers {','.join(settings.bootstrap_servers)}: cannot connect ({exc}); "
                "check the broker is up and reachable, or replay from files with --input"
            ) from None

    def __enter__(self) -> _KafkaPythonReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._consumer.close(autocommit=False)

    def partitions(self, topics: Iterable[str]) -> list[tuple[str, int]]:
        out = []
        for topic in topics:
            found = self._consumer.partitions_for_topic(topic)
            if not found:
                raise RecordedError(f"topic {topic!r}: not found on the broker; check kafka.topic")
            out += [(topic, p) for p in sorted(found)]
        return out

    def start_offsets(
        self, partitions: list[tuple[str, int]], since: float
    ) -> dict[tuple[str, int], int | None]:
        from kafka import TopicPartition

        tps = {TopicPartition(t, p): (t, p) for t, p in partitions}
        try:
            answer = self._consumer.offsets_for_times({tp: max(0, int(since * 1000)) for tp in tps})
        except Exception as exc:  # not supported by the broker: read from the beginning
            log.info("kafka: offsets_for_times failed (%s); reading from the beginning", exc)
            answer = {}
        return {key: _usable(answer.get(tp)) for tp, key in tps.items()}

    def assign(self, starts: dict[tuple[str, int], int | None]) -> None:
        from kafka import TopicPartition

        tps = {key: TopicPartition(*key) for key in starts}
        self._consumer.assign(list(tps.values()))
        for key, offset in starts.items():
            if offset is None:
                self._consumer.seek_to_beginning(tps[key])
            else:
                self._consumer.seek(tps[key], offset)

    def poll(self) -> list[Recorded]:
        batches = self._consumer.poll(timeout_ms=_POLL_MS, max_records=5000)
        out = []
        for records in batches.values():
            for r in records:
                when, model = event_of(r.value, r.timestamp)
                out.append(Recorded(r.topic, r.partition, r.offset, r.timestamp, r.value, when, model, r.key))
        return out

    def pause(self, keys: Iterable[tuple[str, int]]) -> None:
        from kafka import TopicPartition

        self._consumer.pause(*[TopicPartition(*key) for key in keys])


class _ConfluentReader:
    def __init__(self, settings: KafkaSettings) -> None:
        from confluent_kafka import Consumer

        from driftwatch.source.confluent import confluent_config

        config = confluent_config(settings, connection_config(settings))
        config.pop("statistics.interval.ms", None)
        self._consumer = Consumer(config)

    def __enter__(self) -> _ConfluentReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self._consumer.close()

    def partitions(self, topics: Iterable[str]) -> list[tuple[str, int]]:
        out = []
        for topic in topics:
            try:
                metadata = self._consumer.list_topics(topic, timeout=10)
            except Exception as exc:
                raise RecordedError(
                    f"topic {topic!r}: cannot read its metadata ({exc}); check kafka.*"
                ) from None
            found = metadata.topics.get(topic)
            if found is None or found.error is not None or not found.partitions:
                raise RecordedError(f"topic {topic!r}: not found on the broker; check kafka.topic")
            out += [(topic, p) for p in sorted(found.partitions)]
        return out

    def start_offsets(
        self, partitions: list[tuple[str, int]], since: float
    ) -> dict[tuple[str, int], int | None]:
        from confluent_kafka import TopicPartition

        asked = [TopicPartition(t, p, max(0, int(since * 1000))) for t, p in partitions]
        try:
            answer = {
                (tp.topic, tp.partition): tp.offset for tp in self._consumer.offsets_for_times(asked, 10)
            }
        except Exception as exc:
            log.info("kafka: offsets_for_times failed (%s); reading from the beginning", exc)
            answer = {}
        return {key: _usable(answer.get(key)) for key in partitions}

    def assign(self, starts: dict[tuple[str, int], int | None]) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        self._consumer.assign(
            [TopicPartition(t, p, OFFSET_BEGINNING if o is None else o) for (t, p), o in starts.items()]
        )

    def poll(self) -> list[Recorded]:
        out = []
        for m in self._consumer.consume(num_messages=5000, timeout=_POLL_MS / 1000):
            if m.error() is not None:
                continue  # the end of a partition, a transient error: the idle time ends the read
            ms = m.timestamp()[1]
            when, model = event_of(m.value(), ms)
            out.append(
                Recorded(
                    str(m.topic()),
                    int(m.partition() or 0),
                    int(m.offset() or 0),
                    ms,
                    m.value(),
                    when,
                    model,
                    m.key(),
                )
            )
        return out

    def pause(self, keys: Iterable[tuple[str, int]]) -> None:
        from confluent_kafka import TopicPartition

        self._consumer.pause([TopicPartition(t, p) for t, p in keys])


def _usable(answer: Any) -> int | None:
    """The offset of an ``offsets_for_times`` answer, None when it gives nothing to start from (no
    answer, no record that late, or 0: the beginning, or a broker answering 0 for every time)."""
    offset = getattr(answer, "offset", answer)
    if not isinstance(offset, int) or offset <= 0:
        return None
    return offset
