"""A rolling baseline: the stream's own trailing period, to compare the current window with.

Besides the training reference, a model (or one of its scopes) may compare its window with its own
past: ``baseline: {rolling: 7d, lag: 1d}`` compares with ``[now - lag - rolling, now - lag)``. A
`RollingBaseline` keeps that period as a bounded bottom-k sample: a `Window` of length ``rolling +
lag`` plus one bucket, with coarser buckets than the live window (``window_bucket x m``, about 192
of them over ``rolling + lag``, and at least 8 over ``rolling``). It is fed the rows and position
keys its scope's window admits, so it holds at most 1.1 x ``max_rows`` rows whatever the traffic,
and is checkpointed and restored like any window.

A baseline keeps no embedding vectors: given its scope's columns, it keeps those without a ``dim``
(and takes the arrays of all of them, dropping the embeddings'), as the rolling comparison is of the
features and the prediction; a model's embeddings are compared with the training reference only.
So a baseline costs its ``max_rows`` rows of plain columns whatever the model's embeddings.

`RollingBaseline.snapshot` takes the buckets wholly inside the period, ending at the last bucket
boundary at or before ``now - lag`` (so the effective lag is up to one bucket longer) and starting
as many whole buckets of ``rolling`` before it, below the smallest threshold of those buckets: a
uniform sample of that period. Its ``coverage`` is the share of the period after the first bucket
the baseline was ever fed: a baseline started two days ago covers 1d of a 7d period one day lagged,
and a verdict should wait (``min_coverage``). The first fed time is not part of the window's
checkpoint (`first_fed`, to be stored beside it); restored without it, the earliest restored bucket
stands in.

Decisions (issue 16, open questions of the design):

- A firing segment that leaves the top K is retired with a ``resolved`` transition carrying reason
  ``retired``.
- ``segments.per_version`` is off by default.
- A new model version is detected at ingest from every record, not from the sample.
- Champion/challenger comparisons are not stratified by segment (a documented limitation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from driftwatch.stream.windows import BucketState, ColumnSpec, Segment, Window, WindowChanges

__all__ = ["BaselineSnapshot", "RollingBaseline"]

_TARGET_BUCKETS = 192
_MIN_ROLLING_BUCKETS = 8


@dataclass(frozen=True)
class BaselineSnapshot:
    """The baseline's sample of ``[start, end)`` and how much of that period the stream covered."""

    frame: pd.DataFrame
    start: float
    end: float
    rows: int
    records_seen: int  # records of the period, sampled or not
    coverage: float  # share of [start, end) after the first bucket the baseline was fed


def _whole(x: float, up: bool = False) -> int:
    """``floor(x)`` (``ceil`` with ``up``), with ``x`` a hair off an integer (a ratio's rounding)
    taken as that integer."""
    nearest = round(x)
    if math.isclose(x, nearest, rel_tol=1e-12, abs_tol=1e-12):
        return int(nearest)
    return math.ceil(x) if up else math.floor(x)


class RollingBaseline:
    """A trailing period ``[now - lag - rolling, now - lag)`` of one scope's stream, sampled."""

    def __init__(
        self,
        columns: Sequence[ColumnSpec],
        rolling: float,
        lag: float,
        max_rows: int,
        window_bucket: float,
        rng: np.random.Generator | None = None,
    ) -> None:
        if not window_bucket > 0:
            raise ValueError(f"window bucket of {window_bucket}s: must be positive")
        if rolling < window_bucket:
            raise ValueError(f"rolling {rolling}s is shorter than a window bucket ({window_bucket}s)")
        if lag < 0:
            raise ValueError(f"lag {lag}s is negative")
        if max_rows < 1:
            raise ValueError(f"max_rows {max_rows} is below 1")
        self.rolling = float(rolling)
        self.lag = float(lag)
        # the columns kept: not the embeddings (see the module's docstring)
        self._kept = [i for i, spec in enumerate(columns) if not spec.dim]
        self._given = len(columns)
        columns = [columns[i] for i in self._kept]
        coarse = _whole((rolling + lag) / window_bucket / _TARGET_BUCKETS, up=True)
        self.slots_per_bucket = max(1, min(coarse, _whole(rolling / window_bucket / _MIN_ROLLING_BUCKETS)))
        bucket = window_bucket * self.slots_per_bucket
        buckets = _whole((rolling + lag) / bucket, up=True) + 1
        self.window = Window(columns, length=buckets * bucket, max_rows=max_rows, buckets=buckets, rng=rng)
        self.bucket_seconds = self.window.bucket_seconds
        self._first: float | None = None

    @property
    def first_fed(self) -> float | None:
        """Start of the first bucket ever fed (None: never fed); store it with the window's state."""
        return self._first

    def _fed(self) -> None:
        slots = self.window.thresholds()
        if slots:
            start = min(slots) * self.bucket_seconds
            self._first = start if self._first is None else min(self._first, start)

    def add_columns(
        self,
        timestamps: npt.NDArray[np.float64],
        values: Sequence[npt.NDArray[np.generic]],
        now: float,
        keys: npt.NDArray[np.float64] | None = None,
    ) -> int:
        """`Window.add_columns`: the scope's records (with their position keys) at ``now``; ``values`` as
        the scope's window takes them (its embeddings' are dropped here)."""
        added = self.window.add_columns(timestamps, self._plain(values), now, keys)
        if added:
            self._fed()
        return added

    def add_rows(
        self,
        timestamps: npt.NDArray[np.float64],
        keys: npt.NDArray[np.float64],
        values: Sequence[npt.NDArray[np.generic]],
        seen: Mapping[int, int],
        now: float,
    ) -> int:
        """`Window.add_rows`: rows forwarded from a partial, ``seen`` counted per baseline slot (a
        live window slot ``s`` is baseline slot ``s // slots_per_bucket``)."""
        added = self.window.add_rows(timestamps, keys, self._plain(values), seen, now)
        if added:
            self._fed()
        return added

    def _plain(self, values: Sequence[npt.NDArray[np.generic]]) -> Sequence[npt.NDArray[np.generic]]:
        """The arrays of the kept columns, of one array per column of the scope (or per kept one)."""
        if len(values) == len(self._kept) or len(values) != self._given:
            return values
        return [values[i] for i in self._kept]

    def period(self, now: float) -> tuple[float, float]:
        """``[start, end)`` compared at ``now``: ``end`` the last bucket boundary at or before
        ``now - lag``, ``start`` the whole buckets of ``rolling`` before it."""
        last = math.floor((now - self.lag) / self.bucket_seconds)
        first = last - _whole(self.rolling / self.bucket_seconds)
        return float(first) * self.bucket_seconds, float(last) * self.bucket_seconds

    def snapshot(self, now: float, keys: bool = False) -> BaselineSnapshot:
        """The sample of the period (`period`) at ``now`` (``__key`` too with ``keys``)."""
        start, end = self.period(now)
        snapshot = self.window.snapshot(now, keys=keys, start=start, end=end)
        covered = 0.0 if self._first is None else (end - max(start, self._first)) / (end - start)
        coverage = min(1.0, max(0.0, covered))
        return BaselineSnapshot(
            snapshot.frame, start, end, len(snapshot.frame), snapshot.records_seen, coverage
        )

    # delegated to the window -------------------------------------------------------------------

    def changes(self) -> WindowChanges:
        return self.window.changes()

    def mark_full(self) -> None:
        self.window.mark_full()

    def restore(
        self,
        buckets: Sequence[BucketState],
        segments: Sequence[tuple[int, Segment]],
        type_violations: dict[str, int],
        now: float,
        first_fed: float | None = None,
    ) -> int:
        """`Window.restore`, and the first fed time stored beside it (the earliest restored bucket
        when not given). Returns the rows restored after expiry."""
        restored = self.window.restore(buckets, segments, type_violations, now)
        earliest = min((b.start for b in buckets), default=None)
        candidates = [t for t in (first_fed, earliest) if t is not None]
        self._first = min(candidates) if candidates else None
        return restored

    def thresholds(self) -> dict[int, float]:
        return self.window.thresholds()

    def clear(self) -> None:
        self.window.clear()
        self._first = None

    def stored_rows(self) -> int:
        return self.window.stored_rows()

    def signature(self) -> str:
        """What a checkpoint must match to be restored: the period, and the window's layout."""
        return f"rolling|{self.rolling!r}|{self.lag!r}|{self.window.signature()}"
