"""Bounded label join state: ground-truth labels paired with the predictions they grade, in SQLite.

Labels come on a second topic as ``{"prediction_id", "label", "timestamp"}`` records, the model
optional, minutes to weeks after the prediction they grade; sometimes before it (the two topics are
read at different lags), sometimes twice. A prediction record may carry its label inline. Realized
performance needs (prediction, label) pairs by prediction time; this store keeps what it takes to
make them, and no more:

pending predictions
    (model, prediction time, id, prediction) waiting for a label, for ``ttl`` seconds of prediction
    time. A label that comes later is *expired*: it is counted, not joined.
joined rows
    the pair and when the label came, kept for ``retention`` seconds of prediction time;
    `LabelStore.joined` reads them by prediction time, as a performance check does.
early labels
    a label whose prediction has not come yet waits ``grace`` seconds of arrival time for it; one
    that waits in vain counts as ``unknown_id`` when it is dropped (`LabelStore.expire`).

Why the id is stored as a hash
    A prediction id is stored as the top 63 bits of its BLAKE2b digest (an SQLite integer), never as
    text: a UUID costs 36 bytes and an index entry, the hash 8, and the same number decides the
    sample below. Two of a million ids collide with probability ~5e-8, and a collision only makes
    one label look like a duplicate.

Why a hash sample, and why per model
    Above ``max_rows`` rows (pending and joined together) a model keeps only the ids whose hash is
    below ``rate * 2**63``. The rate halves while the model is over the limit, and the rows above the
    new bound are dropped; every row kept at the lower rate would have been kept at the higher one,
    so what stays is the sample the lower rate would have drawn from the start. Predictions and
    labels use the same rule, so a kept prediction never misses its label to sampling, and the
    joined rows are a uniform sample of the labelled traffic: no bias towards early or late labels,
    or towards any class. Labels for ids outside the sample count as ``not_sampled``. Rates are per
    model so that a busy model does not thin out the labels of a quiet one.

    The rate rises again (one step per `LabelStore.expire`) once a model holds no more than a quarter
    of ``max_rows``: a spike should not leave a model sampled for ever. A window that spans such a
    change holds rows drawn at different rates, so `LabelStore.joined` returns, per row, the weight
    ``1 / rate`` under which the row was kept (its inclusion probability, inverted); passing it as
    ``sample_weight`` keeps metrics unbiased across rate changes. While the rate never changed every
    weight is the same and can be ignored.

How a late label is recognised
    When predictions leave the store by age, their id hashes go into Bloom filters (one per model
    and slice of prediction time, ~1.2 bytes per id at a 1% false-positive rate) that are kept for
    ``tombstones_for`` seconds more. A label whose id is in neither table but in such a filter is
    ``expired``; one whose own timestamp is already older than ``ttl`` is too (its prediction came
    before it). A false positive only files an unknown id under ``expired``: counts are diagnostics,
    nothing is joined on a filter's word. Without the filters a late label, the commonest failure of a
    label pipeline, would be indistinguishable from a label for an id that never existed.

Per version and per segment
    Each kept prediction also stores its model version (``version``) and the values of up to three
    segment columns of its model (``seg0``..``seg2``, configured per model with the ``segments``
    argument: a record's feature or metadata field), as canonical category keys
    (`driftwatch.drift.profile.category_keys`: ``1``, ``1.0`` and ``"1"`` are one value; NULL for a
    missing one). `LabelStore.joined` then reads the realized rows of one version, of one value of a
    segment column, or of its ``other`` bucket (every value that is not one of the given members). A
    state file made before these columns existed gains them with ``ALTER TABLE ADD COLUMN`` (no rebuild);
    its rows hold NULLs: they belong to no version and to the missing value of every segment column.

    Limit: rows are still unique per (model, prediction id). Shadow traffic, where two versions of one
    model score the same request under the same prediction id, keeps the first version's prediction and
    counts the second as a ``duplicate``: the paired champion/challenger design needs them in two models
    (or distinct ids). An empty model version names no version (stored as NULL), as for scopes.

Features for a regression's estimate
    A regression estimated by DLE (`driftwatch.performance.dle`) has its estimate scored on the
    labelled rows, and DLE reads each row's features. For the models named in the ``features``
    argument, each kept prediction also stores the values of those features (the DLE model's, nothing
    else) as one JSON list (``features`` BLOB; NULL for every other model), and
    `LabelStore.joined_features` returns them by column beside the joined rows. What it costs, measured
    with 100,000 joined rows of four features (three numbers and a short text): 154 bytes a row on
    disk instead of 75, so at most ``max_rows`` times that per model (about 80 MB more at the default
    1,000,000), twice the time to add a batch, and a look-back read of 100,000 rows that takes about
    1 s more and peaks at about 47 MB instead of 20 MB (object arrays, one Python value per feature
    and row). Rows stored without them (before the model kept features, or forwarded by a
    scaled-out replica, whose join messages carry no features) give no features, and the estimate of
    those look-backs is not scored.

Durability
    Everything lives in SQLite (WAL, ``synchronous=NORMAL``, like `driftwatch.state.store.Store`), and each
    batch is one transaction: a restart continues with the same pending predictions, early labels,
    rates and filters, and a failed batch leaves nothing half-written. The tables are prefixed
    ``label_``, so the store may share the daemon's state file.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, NamedTuple

import msgspec
import numpy as np
import numpy.typing as npt

from driftwatch.drift.profile import category_keys
from driftwatch.state.store import open_state_db
from driftwatch.stream.records import Prediction, Scalar

__all__ = [
    "EXPIRE_COUNTS",
    "LABEL_REASONS",
    "PREDICTION_OUTCOMES",
    "SEGMENT_COLUMNS",
    "SEGMENT_SOURCES",
    "Joined",
    "LabelStore",
    "id_hash",
    "in_sample",
]

LABEL_REASONS: Final = (
    "joined",  # paired with its pending prediction (with every model's, when the label names none)
    "early",  # no prediction yet: waits up to `grace` for it
    "duplicate",  # the id already has a label (joined or waiting); the first one stays
    "unknown_id",  # no prediction, none expected: grace is 0 (waiting labels that expire count in `expire`)
    "expired",  # the prediction is older than the TTL (or was dropped for age)
    "not_sampled",  # the id is outside the model's hash sample
    "no_label",  # the label is null or NaN
)
"""What `LabelStore.add_labels` did with each label: a closed set, usable as Prometheus label values."""

PREDICTION_OUTCOMES: Final = (
    "pending",  # kept, waiting for its label
    "joined",  # carried its label inline: joined at once
    "joined_early",  # its label had come first and was waiting
    "duplicate",  # the model already has a prediction with this id; the first one stays
    "expired",  # older than the TTL on arrival (older than the retention when labelled inline)
    "not_sampled",  # the id is outside the model's hash sample
    "no_id",  # neither an id nor an inline label: nothing could ever be joined to it
    "no_prediction",  # the prediction is null or NaN: nothing to grade
    "evicted",  # not an outcome of the batch: kept rows (of any batch) that a lowered rate dropped
)
"""What `LabelStore.add_predictions` did with each prediction, and how many rows a rate cut evicted."""

EXPIRE_COUNTS: Final = (
    "pending",  # predictions dropped unlabelled after the TTL
    "joined",  # joined rows dropped after the retention
    "early",  # waiting labels dropped after the grace
    "unknown_id",  # of those, the ones whose prediction never came
)
"""The keys of the counts `LabelStore.expire` returns."""

Value = Scalar | Mapping[str, float]
"""A prediction (a number, a class name, or a map class -> probability) or a label."""

SEGMENT_COLUMNS: Final = 3
"""Segment columns a model may have in the join (``seg0``..``seg2``)."""

SEGMENT_SOURCES: Final = ("feature", "metadata")
"""Where a segment column's value is read: ``record.features[column]`` or ``record.metadata[column]``."""

SegmentValues = tuple[str | None, ...]
"""One row's segment values, canonical category keys in the order of its model's segment columns."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS label_model (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    level INTEGER NOT NULL DEFAULT 0  -- the hash-sample rate is 2 ** -level
);
CREATE TABLE IF NOT EXISTS label_rate_change (
    model INTEGER NOT NULL,
    at REAL NOT NULL,
    level INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS label_prediction (
    model INTEGER NOT NULL,
    ts REAL NOT NULL,               -- prediction time, unix seconds
    id_hash INTEGER NOT NULL,
    prediction NOT NULL,            -- REAL or INTEGER, TEXT (a class), BLOB (JSON map of probabilities)
    label,                          -- NULL while pending
    joined_at REAL,                 -- NULL while pending; whole seconds (stored in 4 bytes, not 8)
    version TEXT,                   -- the model version; NULL: none (added to older files, _ADDED)
    seg0 TEXT,                      -- canonical keys of the model's segment columns; NULL: missing
    seg1 TEXT,
    seg2 TEXT,
    features BLOB,                  -- JSON list of the values of the model's kept features; NULL: none
    PRIMARY KEY (model, ts, id_hash)
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS label_prediction_id ON label_prediction (id_hash, model);
CREATE TABLE IF NOT EXISTS label_early (
    id_hash INTEGER NOT NULL,
    model INTEGER NOT NULL,         -- 0: the label names no model
    label NOT NULL,
    received_at REAL NOT NULL,      -- whole seconds
    used INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (id_hash, model)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS label_early_received ON label_early (received_at);
CREATE TABLE IF NOT EXISTS label_tombstone (
    model INTEGER NOT NULL,
    ts_start REAL NOT NULL,
    ts_end REAL NOT NULL,
    bits BLOB NOT NULL,
    PRIMARY KEY (model, ts_start)
);
"""

# columns of label_prediction an older state file lacks: added in place, NULL in its existing rows
_ADDED: Final = (
    ("version", "TEXT"),
    ("seg0", "TEXT"),
    ("seg1", "TEXT"),
    ("seg2", "TEXT"),
    ("features", "BLOB"),
)
_SCOPE_COLUMNS: Final = "version, seg0, seg1, seg2"
_NO_SCOPE: Final = (None, None, None, None)
_NO_SEGMENTS: Mapping[str, Sequence[tuple[str, str]]] = MappingProxyType({})
_NO_FEATURES: Mapping[str, Sequence[str]] = MappingProxyType({})

_HASH_BITS: Final = 63  # an SQLite INTEGER is signed 64-bit: 63 bits keep every hash non-negative
_MAX_LEVEL: Final = 40  # a rate of 2**-40: far below any useful sample
_CHUNK: Final = 999  # bound parameters per IN (...) list: SQLite's historical minimum limit
_RISE_FRACTION: Final = 4  # the rate rises when a model holds at most max_rows / 4 rows
_TOMBSTONE_SLICES: Final = 8  # Bloom filters per TTL of prediction time
_NO_MODEL: Final = 0
# Hash functions per Bloom filter: optimal for a 1% error. A constant, not derived from the configured
# error: a stored filter must be read with the k it was written with, whatever the next config says.
# (With the size rule of `_Tombstones.sized`, k = 7 stays near the target for errors from 0.1% to 5%.)
_BLOOM_K: Final = 7


def id_hash(prediction_id: str) -> int:
    """The stored form of a prediction id: the top 63 bits of its 8-byte BLAKE2b digest.

    BLAKE2b rather than Python's ``hash``: it is the same in every process and release, which the
    sample must be (a restarted daemon keeps the ids it kept before) and spreads any id format evenly.
    """
    digest = hashlib.blake2b(prediction_id.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> (64 - _HASH_BITS)


def _bound(level: int) -> int:
    return 1 << (_HASH_BITS - level)


def in_sample(prediction_id: str, rate: float) -> bool:
    """Whether a hash sample at ``rate`` keeps ``prediction_id``: the rule the store applies."""
    return id_hash(prediction_id) < rate * 2.0**_HASH_BITS


class Joined(NamedTuple):
    """Joined rows in prediction-time order, as arrays a performance check passes to scikit-learn.

    ``predictions`` and ``labels`` are int64 when every value is an integer, float64 when every value
    is a number, else object arrays (class names; for predictions also maps class -> probability).
    ``weights`` is ``1 / rate`` of the sample each row was kept under: all equal unless the model's rate
    changed during the window (see the module docstring); pass it as ``sample_weight``.
    """

    timestamps: npt.NDArray[np.float64]
    predictions: npt.NDArray[Any]
    labels: npt.NDArray[Any]
    weights: npt.NDArray[np.float64]


# value encoding ------------------------------------------------------------------------------------


def _missing(value: object) -> bool:
    return value is None or (value.__class__ is float and value != value)  # noqa: PLR0124 - NaN test


def _encode(value: Value) -> float | int | str | bytes:
    """A prediction or label as SQLite stores it compactly: numbers as numbers (8 bytes or less), a class
    name as TEXT, a map of class probabilities as a JSON BLOB (the storage class tells it from a name)."""
    kind = value.__class__
    if kind is float or kind is str:  # the common cases first: this runs once per row
        return value  # type: ignore[return-value]
    if isinstance(value, Mapping):
        return msgspec.json.encode(dict(value))
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        return float(value)  # beyond SQLite's integers
    if value is None:
        raise ValueError("a missing value is not stored")
    return value


def _decode(value: Any) -> Any:
    return msgspec.json.decode(value) if isinstance(value, bytes) else value


def _column(values: list[Any]) -> npt.NDArray[Any]:
    kinds = {type(v) for v in values}
    if kinds <= {int}:
        return np.asarray(values, dtype=np.int64)
    if kinds <= {int, float}:
        return np.asarray(values, dtype=np.float64)
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


# Bloom filters of expired ids --------------------------------------------------------------------

_M1: Final = np.uint64(0xBF58476D1CE4E5B9)
_M2: Final = np.uint64(0x94D049BB133111EB)


def _mix(hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
    """SplitMix64's finalizer. The stored hashes of a sampled model all have zero top bits (that is
    the sample), so they are remixed before their halves serve as the filter's two hash functions."""
    x = hashes.astype(np.uint64)
    x = (x ^ (x >> np.uint64(30))) * _M1
    x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


@dataclass
class _Tombstones:
    """A Bloom filter of the ids of one model whose prediction time fell in [start, end) and that left
    the store for age. Double hashing (Kirsch-Mitzenmacher): k positions from two 32-bit halves."""

    start: float
    end: float
    bits: npt.NDArray[np.uint8]
    dirty: bool = False

    @staticmethod
    def sized(start: float, end: float, capacity: int, error: float) -> _Tombstones:
        m = math.ceil(capacity * -math.log(error) / math.log(2) ** 2)
        return _Tombstones(start, end, np.zeros(max(8, (m + 7) // 8), dtype=np.uint8))

    def _positions(self, hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.uint64]:
        x = _mix(hashes)
        low, high = x & np.uint64(0xFFFFFFFF), (x >> np.uint64(32)) | np.uint64(1)
        steps = np.arange(_BLOOM_K, dtype=np.uint64)[:, None]
        return (low[None, :] + steps * high[None, :]) % np.uint64(self.bits.size * 8)

    def add(self, hashes: npt.NDArray[np.int64]) -> None:
        positions = self._positions(hashes).ravel()
        masks = np.left_shift(np.uint8(1), (positions & np.uint64(7)).astype(np.uint8))
        np.bitwise_or.at(self.bits, (positions >> np.uint64(3)).astype(np.intp), masks)
        self.dirty = True

    def contains(self, hashes: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        positions = self._positions(hashes)
        bytes_ = self.bits[(positions >> np.uint64(3)).astype(np.intp)]
        bits = (bytes_ >> (positions & np.uint64(7)).astype(np.uint8)) & 1
        return np.asarray(bits.all(axis=0), dtype=np.bool_)


# the store ---------------------------------------------------------------------------------------


class _ModelState(msgspec.Struct, array_like=True, frozen=True):
    """One model's part of the store, as `LabelStore.dump` writes it."""

    level: int
    history: list[tuple[float, int]]  # (at, level)
    rows: list[tuple[float, int, Any, Any, float | None]]  # (ts, id hash, prediction, label, joined_at)
    early: list[tuple[int, Any, float, int]]  # (id hash, label, received_at, used)
    tombstones: list[tuple[float, float, bytes]]  # (start, end, bits)
    # one (version, seg0, seg1, seg2) per row of ``rows``, in its order; empty when every row has none
    # (a trailing field with a default: a dump written before it existed loads with NULLs, and a reader
    # that predates it ignores it)
    scopes: list[tuple[str | None, str | None, str | None, str | None]] = []


_STATE_ENCODER = msgspec.msgpack.Encoder()
_STATE_DECODER = msgspec.msgpack.Decoder(_ModelState)


@dataclass(slots=True)
class _Row:
    model: int
    ts: float
    joined: bool


class LabelStore:
    """Pending predictions, joined rows and waiting labels of every model, in one SQLite file.

    ``ttl``: how long (prediction time) a prediction waits for its label. ``grace``: how long (arrival
    time) a label waits for its prediction; 0 turns waiting off. ``max_rows``: rows (pending and
    joined) per model above which the model is hash-sampled. ``retention``: how long (prediction time)
    joined rows are kept for `joined`, default ``ttl``. ``tombstones_for``: how long after leaving
    the store an id is still recognised as expired, default ``ttl``. ``tombstone_error``: the Bloom
    filters' false-positive rate. ``segments``: per model, up to `SEGMENT_COLUMNS` segment columns as
    ``(column, source)`` pairs, source ``"feature"`` (the record's ``features[column]``) or
    ``"metadata"`` (its ``metadata[column]``), in the order of ``seg0``..``seg2``; `add_records` reads
    their values from the records (`segment_values`), `add_predictions` takes them from the caller.

    Thread-safe: one lock around the connection; each call is one transaction. Times are unix seconds;
    ``now`` is passed in (the daemon's clock) so that tests and replays control it.
    """

    def __init__(
        self,
        path: Path | str,
        *,
        ttl: float = 7 * 86400.0,
        grace: float = 3600.0,
        max_rows: int = 1_000_000,
        retention: float | None = None,
        tombstones_for: float | None = None,
        tombstone_error: float = 0.01,
        segments: Mapping[str, Sequence[tuple[str, str]]] = _NO_SEGMENTS,
        features: Mapping[str, Sequence[str]] = _NO_FEATURES,
    ) -> None:
        self.features: dict[str, tuple[str, ...]] = {
            name: tuple(map(str, columns)) for name, columns in features.items() if columns
        }
        for name, columns in segments.items():
            if len(columns) > SEGMENT_COLUMNS or any(source not in SEGMENT_SOURCES for _, source in columns):
                raise ValueError(
                    f"labels: model {name!r} has segment columns {list(columns)}: at most "
                    f"{SEGMENT_COLUMNS} (column, source) pairs, source one of {', '.join(SEGMENT_SOURCES)}"
                )
        self.segments: dict[str, tuple[tuple[str, str], ...]] = {
            name: tuple((str(column), str(source)) for column, source in columns)
            for name, columns in segments.items()
            if columns
        }
        if ttl <= 0 or grace < 0 or max_rows < 1 or not 0 < tombstone_error < 1:
            raise ValueError("labels: ttl and max_rows must be positive, grace >= 0, 0 < tombstone_error < 1")
        self.ttl = float(ttl)
        self.grace = float(grace)
        self.max_rows = int(max_rows)
        self.retention = self.ttl if retention is None else float(retention)
        self.tombstones_for = self.ttl if tombstones_for is None else float(tombstones_for)
        if self.retention < self.ttl or self.tombstones_for < 0:
            # a label may join any prediction within the TTL: a shorter retention would drop it at once
            raise ValueError("labels: retention must be at least the ttl, and tombstones_for >= 0")
        self.tombstone_error = float(tombstone_error)
        self._slice = self.ttl / _TOMBSTONE_SLICES
        self.path = str(path)
        try:
            self._db = open_state_db(self.path, _SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(label_prediction)")}
            for name, kind in _ADDED:
                if name not in present:
                    self._db.execute(f"ALTER TABLE label_prediction ADD COLUMN {name} {kind}")
        except sqlite3.Error as exc:
            raise OSError(
                f"labels: cannot open SQLite state file {self.path} ({exc}); point it at a writable location"
            ) from None
        self._lock = threading.Lock()
        self._load()

    def _load(self) -> None:
        """(Re)read the small state kept in memory: models, rates, row counts, filters. Also run after a
        failed transaction, so memory never holds what the database rolled back."""
        db = self._db
        self._models: dict[str, int] = {}
        self._levels: dict[int, int] = {}
        for mid, name, level in db.execute("SELECT id, name, level FROM label_model"):
            self._models[str(name)] = int(mid)
            self._levels[int(mid)] = int(level)
        self._pending: Counter[int] = Counter()
        self._joined: Counter[int] = Counter()
        for mid, joined, count in db.execute(
            "SELECT model, joined_at IS NOT NULL, COUNT(*) FROM label_prediction GROUP BY 1, 2"
        ):
            (self._joined if joined else self._pending)[int(mid)] = int(count)
        self._early: int = int(db.execute("SELECT COUNT(*) FROM label_early").fetchone()[0])
        self._history: dict[int, list[tuple[float, int]]] = {mid: [] for mid in self._levels}
        for mid, at, level in db.execute("SELECT model, at, level FROM label_rate_change ORDER BY model, at"):
            self._history.setdefault(int(mid), []).append((float(at), int(level)))
        self._tombstones: dict[int, list[_Tombstones]] = {}
        for mid, start, end, bits in db.execute(
            "SELECT model, ts_start, ts_end, bits FROM label_tombstone ORDER BY model, ts_start"
        ):
            self._tombstones.setdefault(int(mid), []).append(
                _Tombstones(float(start), float(end), np.frombuffer(bits, dtype=np.uint8).copy())
            )
        # prediction time below which a model has no pending (or joined) rows left: expire scans from here
        self._expired_to: dict[tuple[int, bool], float] = {}

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._load()
            raise

    def _model_id(self, name: str) -> int:
        mid = self._models.get(name)
        if mid is None:
            cursor = self._db.execute("INSERT INTO label_model (name) VALUES (?)", (name,))
            mid = int(cursor.lastrowid or 0)
            self._db.execute("INSERT INTO label_rate_change (model, at, level) VALUES (?, 0, 0)", (mid,))
            self._models[name], self._levels[mid], self._history[mid] = mid, 0, [(0.0, 0)]
        return mid

    def _any_bound(self) -> int:
        """The bound for a label that names no model: the most permissive model's, so that it is called
        not_sampled only when no model could have kept its id."""
        return _bound(min(self._levels.values(), default=0))

    # predictions -------------------------------------------------------------------------------

    def add_predictions(
        self,
        model: str,
        ids: Sequence[str | int | None],
        timestamps: Sequence[float],
        predictions: Sequence[Value],
        now: float,
        labels: Sequence[Scalar] | None = None,
        versions: Sequence[str | None] | None = None,
        segments: Sequence[Sequence[object]] | None = None,
        features: Sequence[Sequence[object]] | None = None,
    ) -> Counter[str]:
        """Keep a batch of one model's predictions for the join; ``labels`` are inline labels (None where
        a record has none). Returns how many had each outcome (`PREDICTION_OUTCOMES`).

        ``versions``: each prediction's model version (None or ``""``: none). ``segments``: each
        prediction's values of the model's segment columns, in their order (at most `SEGMENT_COLUMNS`;
        fewer: the rest are missing), raw or canonical: they are stored as canonical category keys
        (`segment_values` reads them from records). Without them the rows have no version and missing
        segment values. ``features``: each prediction's values of the model's kept features (the
        ``features`` argument of the store), in their order (`feature_values` reads them from records);
        without them, or for a model without kept features, none are stored.

        A prediction with an inline label is joined at once, one whose label came first is joined with
        it, the others wait. Inline-labelled rows obey the hash sample too: otherwise, under sampling,
        they would outweigh the rows labelled through the label topic.
        """
        if (
            not len(ids) == len(timestamps) == len(predictions)
            or (labels is not None and len(labels) != len(ids))
            or (versions is not None and len(versions) != len(ids))
            or (segments is not None and len(segments) != len(ids))
            or (features is not None and len(features) != len(ids))
        ):
            raise ValueError(
                "add_predictions: ids, timestamps, predictions (and labels, versions, segments) differ in length"
            )
        scopes = _scopes(len(ids), versions, segments)
        outcome: Counter[str] = Counter()
        with self._lock, self._transaction():
            self._add_predictions(model, ids, timestamps, predictions, labels, scopes, now, outcome, features)
        return +outcome

    def feature_values(self, model: str, records: Sequence[Prediction]) -> list[list[object]] | None:
        """The values of ``model``'s kept features in ``records`` (of that model), one list per record,
        None when the model keeps none: what `add_records` stores, for callers of `add_predictions`."""
        columns = self.features.get(model)
        if not columns:
            return None
        return [[r.features.get(column) for column in columns] for r in records]

    def segment_values(self, model: str, records: Sequence[Prediction]) -> list[SegmentValues]:
        """The values of ``model``'s segment columns in ``records`` (of that model), one tuple per record
        (empty without segment columns): what `add_records` stores, for callers of `add_predictions`.
        A feature or metadata field the record lacks is missing (None)."""
        columns = self.segments.get(model, ())
        if not columns:
            return [() for _ in records]
        keys = []
        for column, source in columns:
            if source == "feature":
                raw = [r.features.get(column) for r in records]
            else:
                raw = [_metadata(r).get(column) for r in records]
            keys.append(category_keys(raw).tolist())
        return list(zip(*keys, strict=True))

    def add_records(self, records: Iterable[Prediction], now: float) -> Counter[str]:
        """`add_predictions` for decoded prediction records of any models, in one transaction."""
        by_model: dict[str, list[Prediction]] = {}
        for record in records:
            by_model.setdefault(record.model, []).append(record)
        outcome: Counter[str] = Counter()
        with self._lock, self._transaction():
            for model, batch in by_model.items():
                scopes = _scopes(
                    len(batch), [r.model_version for r in batch], self.segment_values(model, batch)
                )
                self._add_predictions(
                    model,
                    [r.prediction_id for r in batch],
                    [r.timestamp for r in batch],
                    [r.prediction for r in batch],
                    [r.label for r in batch],
                    scopes,
                    now,
                    outcome,
                    self.feature_values(model, batch),
                )
        return +outcome

    def _add_predictions(
        self,
        model: str,
        ids: Sequence[str | int | None],
        timestamps: Sequence[float],
        predictions: Sequence[Value],
        labels: Sequence[Scalar] | None,
        scopes: Sequence[_Scope] | None,
        now: float,
        outcome: Counter[str],
        features: Sequence[Sequence[object]] | None = None,
    ) -> None:
        mid = self._model_id(model)
        kept = features if features is not None and self.features.get(model) else None
        history = self._history[mid]
        bound, changed = _bound(self._levels[mid]), history[-1][0]
        # never below what expire already dropped (should a caller's clock step back)
        oldest_pending = max(now - self.ttl, self._expired_to.get((mid, False), -math.inf))
        oldest_joined = max(now - self.retention, self._expired_to.get((mid, True), -math.inf))
        rows: list[tuple[int, float, float | int | str | bytes, Scalar, _Scope, bytes | None]] = []
        for i, prediction in enumerate(predictions):
            if _missing(prediction):
                outcome["no_prediction"] += 1
                continue
            label = None if labels is None or _missing(labels[i]) else labels[i]
            pid, ts = ids[i], float(timestamps[i])
            if pid is None:
                if label is None:
                    outcome["no_id"] += 1
                    continue
                # nothing will ever be joined to it, but it still needs a stable place in the sample
                pid = msgspec.json.encode([ts, prediction, label]).decode()
            h = id_hash(pid if type(pid) is str else str(pid))
            # the sample is defined by prediction time: a prediction made before a rate change but
            # arriving after it meets the rates its contemporaries met (almost always the current one)
            if h >= (bound if ts >= changed else _bound(_level_since(history, ts))):
                outcome["not_sampled"] += 1
            elif ts < (oldest_pending if label is None else oldest_joined):
                outcome["expired"] += 1
            else:
                scope = _NO_SCOPE if scopes is None else scopes[i]
                rows.append(
                    (h, ts, _encode(prediction), label, scope, None if kept is None else _pack(kept[i]))
                )
        if not rows:
            return
        waiting: dict[int, tuple[int, Any]] = {}
        if self._early:
            for chunk in _chunks([row[0] for row in rows]):
                for h, owner, waiting_label in self._db.execute(
                    f"SELECT id_hash, model, label FROM label_early WHERE id_hash IN ({_marks(chunk)}) "
                    "AND model IN (?, ?)",
                    [*chunk, mid, _NO_MODEL],
                ):
                    if h not in waiting or owner == mid:  # a label naming this model wins
                        waiting[h] = (int(owner), waiting_label)
        pending, inline, early, used = [], [], [], []
        joined_at = float(round(now))
        for h, ts, stored, inline_label, scope, packed in rows:
            if h in waiting:
                used.append((h, waiting[h][0]))
            if inline_label is not None:  # it wins over a waiting label, which then counts as used
                inline.append((mid, ts, h, stored, _encode(inline_label), joined_at, *scope, packed))
            elif h in waiting:
                early.append((mid, ts, h, stored, waiting[h][1], joined_at, *scope, packed))
            else:
                pending.append((mid, ts, h, stored, *scope, packed))
        db = self._db
        # INSERT OR IGNORE on the unique (id_hash, model) index: a repeated id keeps its first prediction
        added = db.executemany(
            "INSERT OR IGNORE INTO label_prediction "
            f"(model, ts, id_hash, prediction, {_SCOPE_COLUMNS}, features) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            pending,
        ).rowcount
        outcome["pending"] += added
        self._pending[mid] += added
        inserted = added
        for kind, batch in (("joined", inline), ("joined_early", early)):
            added = db.executemany(
                "INSERT OR IGNORE INTO label_prediction "
                f"(model, ts, id_hash, prediction, label, joined_at, {_SCOPE_COLUMNS}, features) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                batch,
            ).rowcount
            outcome[kind] += added
            self._joined[mid] += added
            inserted += added
        outcome["duplicate"] += len(rows) - inserted
        db.executemany("UPDATE label_early SET used = 1 WHERE id_hash = ? AND model = ?", used)
        outcome["evicted"] += self._fit_sample(mid, now)

    def _fit_sample(self, mid: int, now: float) -> int:
        """Halve the model's rate until it holds at most max_rows rows, dropping the rows (and waiting
        labels) above each new bound: the rows left are exactly those the lower rate would have kept.
        Returns how many rows were dropped."""
        evicted = 0
        while self._pending[mid] + self._joined[mid] > self.max_rows and self._levels[mid] < _MAX_LEVEL:
            level = self._levels[mid] + 1
            bound = _bound(level)
            db = self._db
            for joined, counts in ((False, self._pending), (True, self._joined)):
                dropped = db.execute(
                    "DELETE FROM label_prediction WHERE id_hash >= ? AND model = ? AND joined_at IS "
                    + ("NOT NULL" if joined else "NULL"),
                    (bound, mid),
                ).rowcount
                counts[mid] -= dropped
                evicted += dropped
            self._set_level(mid, level, now)
            self._early -= db.execute(
                "DELETE FROM label_early WHERE id_hash >= ? AND model = ?", (bound, mid)
            ).rowcount
            self._early -= db.execute(
                "DELETE FROM label_early WHERE id_hash >= ? AND model = ?", (self._any_bound(), _NO_MODEL)
            ).rowcount
        return evicted

    def _set_level(self, mid: int, level: int, now: float) -> None:
        self._levels[mid] = level
        self._history[mid].append((now, level))
        self._db.execute("UPDATE label_model SET level = ? WHERE id = ?", (level, mid))
        self._db.execute(
            "INSERT INTO label_rate_change (model, at, level) VALUES (?, ?, ?)", (mid, now, level)
        )

    # labels ------------------------------------------------------------------------------------

    def add_labels(
        self,
        ids: Sequence[str | int],
        labels: Sequence[Scalar],
        now: float,
        model: str | Sequence[str | None] | None = None,
        timestamps: Sequence[float] | None = None,
        joined_by_model: Counter[str] | None = None,
    ) -> Counter[str]:
        """Join a batch of labels to their predictions; returns how many had each reason (`LABEL_REASONS`).
        ``joined_by_model``, when given, is incremented with the rows joined per model name.

        ``model`` is one model name for the whole batch, or one per label (None where a label names
        none); a label naming no model joins the pending prediction of every model with its id (a
        champion and a challenger that share request ids). ``timestamps`` are the labels' own times:
        a label older than the TTL cannot have a prediction within it, so it is expired even when its
        id left no tombstone. Labels are taken in order: a second label for an id in the same batch
        is a duplicate.
        """
        if len(labels) != len(ids) or (timestamps is not None and len(timestamps) != len(ids)):
            raise ValueError("add_labels: ids, labels (and timestamps) differ in length")
        names = [model] * len(ids) if model is None or isinstance(model, str) else list(model)
        if len(names) != len(ids):
            raise ValueError("add_labels: one model per label, or one for all")
        outcome: Counter[str] = Counter()
        with self._lock, self._transaction():
            moved = self._add_labels(ids, labels, names, timestamps, now, outcome)
            if joined_by_model is not None:
                names_by_id = {mid: name for name, mid in self._models.items()}
                joined_by_model.update({names_by_id[mid]: count for mid, count in moved.items()})
        return +outcome

    def _add_labels(
        self,
        ids: Sequence[str | int],
        labels: Sequence[Scalar],
        names: Sequence[str | None],
        timestamps: Sequence[float] | None,
        now: float,
        outcome: Counter[str],
    ) -> Counter[int]:
        """Returns the rows joined per model id."""
        db = self._db
        hashes = [id_hash(i if type(i) is str else str(i)) for i in ids]
        known = {name: _NO_MODEL if name is None else self._model_id(name) for name in set(names)}
        owners = [known[name] for name in names]
        found: dict[int, list[_Row]] = {}
        waiting: dict[int, set[int]] = {}
        for chunk in _chunks(sorted(set(hashes))):
            for h, mid, ts, joined in db.execute(
                "SELECT id_hash, model, ts, joined_at IS NOT NULL FROM label_prediction "
                f"WHERE id_hash IN ({_marks(chunk)})",
                chunk,
            ):
                found.setdefault(h, []).append(_Row(int(mid), float(ts), bool(joined)))
            if self._early:
                for h, owner in db.execute(
                    f"SELECT id_hash, model FROM label_early WHERE id_hash IN ({_marks(chunk)})", chunk
                ):
                    waiting.setdefault(h, set()).add(int(owner))
        oldest = now - self.ttl
        any_bound = self._any_bound()
        updates: list[tuple[float | int | str | bytes, float, int, float, int]] = []
        unmatched: list[int] = []  # indexes of labels with no row in the store
        joined_at = float(round(now))
        joins = 0
        for i, h in enumerate(hashes):
            label, owner = labels[i], owners[i]
            if _missing(label):
                outcome["no_label"] += 1
                continue
            rows = found.get(h, [])
            if owner != _NO_MODEL:
                rows = [r for r in rows if r.model == owner]
            live = [r for r in rows if not r.joined and r.ts >= oldest]
            if live:
                stored = _encode(label)
                for row in live:
                    updates.append((stored, joined_at, row.model, row.ts, h))
                    row.joined = True
                joins += 1
            elif any(r.joined for r in rows):
                outcome["duplicate"] += 1
            elif rows:
                outcome["expired"] += 1  # still pending but past the TTL: expire has not run yet
            elif h >= (
                self._sampled_bound(owner, float(timestamps[i]))
                if timestamps is not None
                else any_bound
                if owner == _NO_MODEL
                else _bound(self._levels[owner])
            ):
                outcome["not_sampled"] += 1
            elif timestamps is not None and float(timestamps[i]) < oldest:
                outcome["expired"] += 1
            else:
                unmatched.append(i)
        outcome["joined"] += joins
        db.executemany(
            "UPDATE label_prediction SET label = ?, joined_at = ? WHERE model = ? AND ts = ? AND id_hash = ?",
            updates,
        )
        moved = Counter(u[2] for u in updates)
        self._pending.subtract(moved)
        self._joined.update(moved)
        if not unmatched:
            return moved
        late = self._tombstoned(
            np.array([hashes[i] for i in unmatched], dtype=np.int64), [owners[i] for i in unmatched]
        )
        early = []
        for i, is_late in zip(unmatched, late.tolist(), strict=True):
            h, owner = hashes[i], owners[i]
            others = waiting.setdefault(h, set())
            if is_late:
                outcome["expired"] += 1
            elif owner in others or (others and (owner == _NO_MODEL or _NO_MODEL in others)):
                outcome["duplicate"] += 1
            elif self.grace > 0:
                early.append((h, owner, _encode(labels[i]), float(round(now))))
                others.add(owner)
                outcome["early"] += 1
            else:
                outcome["unknown_id"] += 1
        self._early += db.executemany(
            "INSERT OR IGNORE INTO label_early (id_hash, model, label, received_at) VALUES (?, ?, ?, ?)",
            early,
        ).rowcount
        return moved

    def _sampled_bound(self, owner: int, since: float) -> int:
        """The bound an id must be below for its prediction, made before ``since`` (the label's time), to
        be in the store now: it had to pass every rate in force from then on. This keeps a rate that has
        just risen from passing off labels of ids sampled out before as labels waiting for their
        prediction. (Predictions are sampled by their own time in the same way, so this holds even when the
        prediction topic lags.) For a label naming no model, the most permissive model's bound."""
        mids = list(self._levels) if owner == _NO_MODEL else [owner]
        if not mids:
            return _bound(0)
        return max(_bound(_level_since(self._history[mid], since)) for mid in mids)

    def _tombstoned(self, hashes: npt.NDArray[np.int64], owners: list[int]) -> npt.NDArray[np.bool_]:
        """Which ids are in a Bloom filter of expired ids (of the label's model, or of any model)."""
        hit = np.zeros(len(hashes), dtype=np.bool_)
        owner_array = np.asarray(owners)
        for mid, filters in self._tombstones.items():
            mine = (owner_array == mid) | (owner_array == _NO_MODEL)
            for tombstones in filters:
                if mine.any():
                    hit[mine] |= tombstones.contains(hashes[mine])
        return hit

    # expiry ------------------------------------------------------------------------------------

    def expire(self, now: float) -> Counter[str]:
        """Drop pending predictions older than the TTL, joined rows older than the retention (both by
        prediction time; their ids go into the tombstone filters) and labels that waited longer than the
        grace; forget filters past ``tombstones_for``; let a rate rise where a model has room again.
        Returns the counts dropped (`EXPIRE_COUNTS`). Call it periodically, e.g. with the checks."""
        counts: Counter[str] = Counter()
        with self._lock, self._transaction() as db:
            for mid in list(self._levels):
                for joined, age in ((False, self.ttl), (True, self.retention)):
                    dropped = self._expire_rows(mid, joined, now - age)
                    counts["joined" if joined else "pending"] += dropped
                self._expire_tombstones(mid, now)
                self._expire_history(mid, now)
                if self._levels[mid] > 0 and (
                    self._pending[mid] + self._joined[mid] <= self.max_rows // _RISE_FRACTION
                ):
                    self._set_level(mid, self._levels[mid] - 1, now)
            early, unused = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(used = 0), 0) FROM label_early WHERE received_at < ?",
                (now - self.grace,),
            ).fetchone()
            if early:
                db.execute("DELETE FROM label_early WHERE received_at < ?", (now - self.grace,))
                self._early -= early
                counts["early"] += early
                counts["unknown_id"] += unused
        return +counts

    def _expire_rows(self, mid: int, joined: bool, cutoff: float) -> int:
        low = self._expired_to.get((mid, joined), -math.inf)
        if cutoff <= low:
            return 0
        state = "joined_at IS " + ("NOT NULL" if joined else "NULL")
        where = f"model = ? AND ts >= ? AND ts < ? AND {state}"
        rows = self._db.execute(
            f"SELECT ts, id_hash FROM label_prediction WHERE {where}", (mid, low, cutoff)
        ).fetchall()
        if rows:
            times = np.array([ts for ts, _ in rows], dtype=np.float64)
            self._bury(mid, times, np.array([h for _, h in rows], dtype=np.int64))
        dropped = self._db.execute(f"DELETE FROM label_prediction WHERE {where}", (mid, low, cutoff)).rowcount
        (self._joined if joined else self._pending)[mid] -= dropped
        self._expired_to[mid, joined] = cutoff
        return int(dropped)

    def _bury(self, mid: int, times: npt.NDArray[np.float64], hashes: npt.NDArray[np.int64]) -> None:
        """Add expiring ids to the filter of their slice of prediction time. A new filter is sized for
        every row of its slice still in the store (all of them are bound to leave for age, and few
        arrive after a slice starts expiring: they would be past the TTL)."""
        filters = self._tombstones.setdefault(mid, [])
        slices = np.floor(times / self._slice)
        for index in np.unique(slices).tolist():
            start = index * self._slice
            # the filter holding this slice (one made under another TTL may span it: it is used as is)
            target = next((t for t in filters if t.start <= start < t.end), None)
            if target is None:
                (rows,) = self._db.execute(
                    "SELECT COUNT(*) FROM label_prediction WHERE model = ? AND ts >= ? AND ts < ?",
                    (mid, start, start + self._slice),
                ).fetchone()
                target = _Tombstones.sized(
                    start, start + self._slice, int(rows * 1.25) + 64, self.tombstone_error
                )
                filters.append(target)
            target.add(hashes[slices == index])
        for tombstones in filters:
            if tombstones.dirty:
                self._db.execute(
                    "INSERT OR REPLACE INTO label_tombstone (model, ts_start, ts_end, bits) VALUES (?, ?, ?, ?)",
                    (mid, tombstones.start, tombstones.end, tombstones.bits.tobytes()),
                )
                tombstones.dirty = False

    def _expire_tombstones(self, mid: int, now: float) -> None:
        horizon = now - max(self.ttl, self.retention) - self.tombstones_for
        filters = self._tombstones.get(mid, [])
        if any(t.end < horizon for t in filters):
            self._tombstones[mid] = [t for t in filters if t.end >= horizon]
            self._db.execute("DELETE FROM label_tombstone WHERE model = ? AND ts_end < ?", (mid, horizon))

    def _expire_history(self, mid: int, now: float) -> None:
        """Forget rate changes no stored row predates, keeping the one in force at the horizon."""
        history = self._history[mid]
        horizon = now - max(self.ttl, self.retention)
        before = [at for at, _ in history if at < horizon]
        if len(before) > 1:
            self._history[mid] = [(at, level) for at, level in history if at >= before[-1]]
            self._db.execute("DELETE FROM label_rate_change WHERE model = ? AND at < ?", (mid, before[-1]))

    def dump(self, model: str) -> bytes | None:
        """Everything kept for ``model`` (rows, labels waiting for it, tombstones, sampling rate and its
        history), as bytes `load` takes back (None: nothing kept). For a scaled-out owner's changelog."""
        with self._lock:
            mid = self._models.get(model)
            if mid is None:
                return None
            db = self._db
            rows, scopes = [], []
            for ts, h, prediction, label, at, *scope in db.execute(
                f"SELECT ts, id_hash, prediction, label, joined_at, {_SCOPE_COLUMNS} FROM label_prediction "
                "WHERE model = ? ORDER BY ts, id_hash",
                (mid,),
            ):
                rows.append((float(ts), int(h), prediction, label, None if at is None else float(at)))
                scopes.append((scope[0], scope[1], scope[2], scope[3]))
            if all(scope == _NO_SCOPE for scope in scopes):
                scopes = []
            state = _ModelState(
                self._levels[mid],
                list(self._history[mid]),
                rows,
                [
                    (int(h), label, float(at), int(used))
                    for h, label, at, used in db.execute(
                        "SELECT id_hash, label, received_at, used FROM label_early WHERE model = ?", (mid,)
                    )
                ],
                [(t.start, t.end, t.bits.tobytes()) for t in self._tombstones.get(mid, [])],
                scopes,
            )
        return _STATE_ENCODER.encode(state)

    def load(self, model: str, data: bytes) -> None:
        """Replace what is kept for ``model`` with what `dump` gave (of this store or another one with
        the same settings); raises `ValueError` on other bytes."""
        state = _STATE_DECODER.decode(data)
        if state.scopes and len(state.scopes) != len(state.rows):
            raise ValueError(f"labels: a dump of {len(state.rows)} rows with {len(state.scopes)} scopes")
        scopes = state.scopes or [_NO_SCOPE] * len(state.rows)
        self.forget(model)
        with self._lock:
            with self._transaction() as db:
                mid = self._model_id(model)
                db.execute("UPDATE label_model SET level = ? WHERE id = ?", (state.level, mid))
                db.execute("DELETE FROM label_rate_change WHERE model = ?", (mid,))
                db.executemany(
                    "INSERT INTO label_rate_change (model, at, level) VALUES (?, ?, ?)",
                    [(mid, at, level) for at, level in state.history],
                )
                db.executemany(
                    "INSERT OR IGNORE INTO label_prediction "
                    f"(model, ts, id_hash, prediction, label, joined_at, {_SCOPE_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [(mid, *row, *scope) for row, scope in zip(state.rows, scopes, strict=True)],
                )
                db.executemany(
                    "INSERT OR IGNORE INTO label_early (id_hash, model, label, received_at, used) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(h, mid, label, at, used) for h, label, at, used in state.early],
                )
                db.executemany(
                    "INSERT OR REPLACE INTO label_tombstone (model, ts_start, ts_end, bits) VALUES (?, ?, ?, ?)",
                    [(mid, *tombstone) for tombstone in state.tombstones],
                )
            self._load()

    def forget(self, model: str) -> None:
        """Drop everything kept for ``model``: its pending and joined rows, the labels waiting for it,
        its tombstones and its sampling rate (as if it had never been seen). Labels naming no model
        stay. For a scaled-out replica that stops owning the model."""
        with self._lock:
            mid = self._models.get(model)
            if mid is None:
                return
            with self._transaction() as db:
                for table in ("label_prediction", "label_early", "label_tombstone", "label_rate_change"):
                    db.execute(f"DELETE FROM {table} WHERE model = ?", (mid,))
                db.execute("DELETE FROM label_model WHERE id = ?", (mid,))
            self._load()

    # reading -----------------------------------------------------------------------------------

    def joined(
        self,
        model: str,
        start: float,
        end: float,
        version: str | None = None,
        segment: tuple[int, str | None] | None = None,
        other: tuple[int, Sequence[str | None]] | None = None,
    ) -> Joined:
        """The model's joined rows whose prediction time is in [start, end), oldest first.

        ``version``: only that model version's rows (None: every row, versioned or not). ``segment``:
        ``(index, value)``, only the rows whose segment column ``index`` (0..2, in the order of the
        model's ``segments``) holds ``value``, a canonical category key, or None for the rows missing it.
        ``other``: ``(index, members)``, the column's ``other`` bucket: the rows whose value is none of
        ``members`` (canonical keys; a missing value counts as other unless None is a member). Filters
        combine (a version's segment). Each row keeps its own weight.
        """
        return self._read(model, start, end, version, segment, other)[0]

    def joined_features(
        self, model: str, start: float, end: float
    ) -> tuple[Joined, dict[str, npt.NDArray[Any]] | None]:
        """`joined`, and the rows' values of the model's kept features (the store's ``features``) by
        column, as object arrays (None where a row had no value); None when the model keeps none or a
        row was stored without them (before the model kept them)."""
        joined, blobs = self._read(model, start, end)
        return joined, _features(self.features.get(model, ()), blobs)

    def _read(
        self,
        model: str,
        start: float,
        end: float,
        version: str | None = None,
        segment: tuple[int, str | None] | None = None,
        other: tuple[int, Sequence[str | None]] | None = None,
    ) -> tuple[Joined, list[bytes | None]]:
        """`joined`, and each row's stored feature values (None: none kept)."""
        conditions, parameters, members = self._scope_filter(version, segment, other)
        with self._lock:
            mid = self._models.get(model)
            rows = (
                []
                if mid is None
                else self._db.execute(
                    "SELECT ts, prediction, label, features"
                    + ("" if members is None else f", seg{members[0]}")
                    + " FROM label_prediction WHERE model = ? AND ts >= ? AND ts < ? "
                    "AND joined_at IS NOT NULL" + conditions + " ORDER BY ts, id_hash",
                    (mid, start, end, *parameters),
                ).fetchall()
            )
            history = list(self._history.get(mid, [])) if mid is not None else []
        if members is not None:  # too many members for one IN list: the other bucket is cut here
            rows = [row for row in rows if row[4] not in members[1]]
        timestamps = np.array([r[0] for r in rows], dtype=np.float64)
        joined = Joined(
            timestamps,
            _column([_decode(r[1]) for r in rows]),
            _column([_decode(r[2]) for r in rows]),
            _weights(history, timestamps),
        )
        return joined, [r[3] for r in rows]

    @staticmethod
    def _scope_filter(
        version: str | None,
        segment: tuple[int, str | None] | None,
        other: tuple[int, Sequence[str | None]] | None,
    ) -> tuple[str, list[str], tuple[int, frozenset[str | None]] | None]:
        """The SQL conditions and parameters of `joined`'s filters, and the members of an ``other``
        bucket too large for one ``IN`` list (column index, members), to exclude while reading."""
        conditions, parameters = "", []
        if version is not None:
            conditions += " AND version = ?"
            parameters.append(version)
        for index, _ in [x for x in (segment, other) if x is not None]:
            if not (isinstance(index, int) and 0 <= index < SEGMENT_COLUMNS):
                raise ValueError(f"labels: segment column index {index!r}: one of 0..{SEGMENT_COLUMNS - 1}")
        if segment is not None:
            index, value = segment
            if value is None:
                conditions += f" AND seg{index} IS NULL"
            else:
                conditions += f" AND seg{index} = ?"
                parameters.append(value)
        if other is None:
            return conditions, parameters, None
        index, given = other
        values = sorted({m for m in given if m is not None})
        missing_is_member = len(values) < len(set(given))
        if len(values) > _CHUNK - len(parameters):
            return conditions, parameters, (index, frozenset(given))
        column = f"seg{index}"
        kept = f"{column} NOT IN ({_marks(values)})" if values else None
        if missing_is_member:
            conditions += f" AND {column} IS NOT NULL" + (f" AND {kept}" if kept else "")
        elif kept:
            conditions += f" AND ({column} IS NULL OR {kept})"
        parameters.extend(values)
        return conditions, parameters, None

    def rate(self, model: str) -> float:
        """The model's current hash-sample rate (1.0 until it first exceeds max_rows)."""
        with self._lock:
            mid = self._models.get(model)
            return 1.0 if mid is None else 2.0 ** -self._levels[mid]

    def pending_count(self, model: str) -> int:
        with self._lock:
            mid = self._models.get(model)
            return 0 if mid is None else self._pending[mid]

    def joined_count(self, model: str) -> int:
        with self._lock:
            mid = self._models.get(model)
            return 0 if mid is None else self._joined[mid]

    def early_count(self) -> int:
        """Labels waiting for their prediction."""
        with self._lock:
            return int(self._early)

    def size_bytes(self) -> int:
        """Bytes on disk: the database file plus its write-ahead log (pages of both), or the pages in
        memory for ``:memory:``. Space freed by expiry is reused, not returned: the file keeps its peak."""
        with self._lock:
            if self.path == ":memory:":
                (pages,) = self._db.execute("PRAGMA page_count").fetchone()
                (size,) = self._db.execute("PRAGMA page_size").fetchone()
                return int(pages) * int(size)
        wal = Path(self.path + "-wal")
        return Path(self.path).stat().st_size + (wal.stat().st_size if wal.exists() else 0)

    def close(self) -> None:
        with self._lock:
            self._db.close()


_Scope = tuple[str | None, str | None, str | None, str | None]  # (version, seg0, seg1, seg2)


def _scopes(
    rows: int, versions: Sequence[str | None] | None, segments: Sequence[Sequence[object]] | None
) -> list[_Scope] | None:
    """Each row's stored (version, seg0, seg1, seg2), the segment values as canonical keys; None when
    neither is given (every row has none)."""
    if versions is None and segments is None:
        return None
    texts = [None] * rows if versions is None else [None if not v else str(v) for v in versions]
    columns: list[list[Any]] = [[None] * rows for _ in range(SEGMENT_COLUMNS)]
    if segments is not None:
        width = max((len(values) for values in segments), default=0)
        if width > SEGMENT_COLUMNS:
            raise ValueError(f"labels: at most {SEGMENT_COLUMNS} segment values per prediction, got {width}")
        for j in range(width):
            raw = [values[j] if j < len(values) else None for values in segments]
            columns[j] = category_keys(raw).tolist()
    return list(zip(texts, *columns, strict=True))


def _pack(values: Sequence[object]) -> bytes:
    """One row's kept feature values as a JSON list (a value JSON cannot hold, e.g. a numpy number,
    as its text)."""
    return msgspec.json.encode(
        list(values), enc_hook=lambda value: value.item() if hasattr(value, "item") else str(value)
    )


def _features(columns: Sequence[str], blobs: Sequence[bytes | None]) -> dict[str, npt.NDArray[Any]] | None:
    """The joined rows' kept feature values by column, None without kept features or when a row has
    none (stored before the model kept them)."""
    if not columns or any(blob is None for blob in blobs):
        return None
    values: list[list[Any]] = msgspec.json.decode(b"[" + b",".join(blobs) + b"]")  # type: ignore[arg-type]  # one decode
    out: dict[str, npt.NDArray[Any]] = {}
    width = len(columns)
    rows = [row if len(row) == width else [*row[:width], *[None] * (width - len(row))] for row in values]
    for column, kept in zip(columns, zip(*rows, strict=True) if rows else [()] * width, strict=True):
        array = np.empty(len(values), dtype=object)
        array[:] = kept
        out[column] = array
    return out


def _metadata(record: Prediction) -> Mapping[str, Any]:
    metadata = getattr(record, "metadata", None)  # a field of newer records
    return metadata if isinstance(metadata, Mapping) else {}


def _level_since(history: list[tuple[float, int]], since: float) -> int:
    """The highest sampling level in force at any time from ``since`` on."""
    current = [level for at, level in history if at <= since][-1:] or [0]
    return max([current[0]] + [level for at, level in history if at > since])


def _weights(
    history: list[tuple[float, int]], timestamps: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """1 / inclusion probability per row. A row from time t survived every rate in force from t on (a
    lower rate evicted what it would not have kept), so its level is the highest one since t."""
    if not history:
        return np.ones(len(timestamps))
    times = np.array([at for at, _ in history], dtype=np.float64)
    levels = np.array([level for _, level in history], dtype=np.int64)
    highest_since = np.maximum.accumulate(levels[::-1])[::-1]
    index = np.clip(np.searchsorted(times, timestamps, side="right") - 1, 0, None)
    return np.ldexp(1.0, highest_since[index]).astype(np.float64)


def _chunks(values: list[int]) -> Iterator[list[int]]:
    for i in range(0, len(values), _CHUNK):
        yield values[i : i + _CHUNK]


def _marks(chunk: Sequence[object]) -> str:
    return ",".join("?" * len(chunk))
