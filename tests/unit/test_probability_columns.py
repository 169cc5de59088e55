"""Window columns of source "probability": one class's probability of a prediction map, for multiclass
CBPE (the window keeps numbers and categories, not maps)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from driftwatch.stream.records import Prediction, RecordDecoder
from driftwatch.stream.windows import ColumnSpec, Window

COLUMNS = [
    ColumnSpec("id", "numeric"),
    ColumnSpec("probs[a]", "numeric", "probability", "a"),
    ColumnSpec("probs[b]", "numeric", "probability", "b"),
]


def pred(ts: float, prediction: object, i: int) -> Prediction:
    return Prediction("m", None, None, ts, {"id": i}, prediction, None)  # type: ignore[arg-type]


def test_each_class_probability_is_a_column_of_its_own() -> None:
    window = Window(COLUMNS, length=100, max_rows=10, rng=np.random.default_rng(0))
    window.add(
        [
            pred(50.0, {"a": 0.25, "b": 0.75}, 1),
            pred(51.0, {"a": 0.9, "c": 0.1}, 2),  # b left out: probability 0
            pred(52.0, "a", 3),  # not a map: missing
            pred(53.0, None, 4),
        ],
        now=60.0,
    )
    frame = window.snapshot(60.0).frame.sort_values("id")
    assert list(frame["probs[a]"])[:2] == [0.25, 0.9]
    assert list(frame["probs[b]"])[:2] == [0.75, 0.0]
    assert all(math.isnan(v) for v in list(frame["probs[a]"])[2:])


def test_decoded_records_fill_them_on_every_path() -> None:
    """The columnar fast path does not know the source: such a model's records take the exact path."""
    decoder = RecordDecoder(models={"m"})
    payloads = [
        json.dumps(
            {
                "model": "m",
                "timestamp": 50.0 + i,
                "features": {"id": i},
                "prediction": {"a": 0.1 * i, "b": 1 - 0.1 * i},
            }
        ).encode()
        for i in range(5)
    ]
    assert decoder.decode_columns(payloads, [0.0] * 5, {"m": COLUMNS}) is None
    window = Window(COLUMNS, length=100, max_rows=10, rng=np.random.default_rng(0))
    window.add([p for p in decoder.decode_batch(payloads, [0.0] * 5) if isinstance(p, Prediction)], now=60.0)
    frame = window.snapshot(60.0).frame.sort_values("id")
    assert list(frame["probs[a]"]) == pytest.approx([0.1 * i for i in range(5)])


def test_a_probability_column_is_numeric_and_names_its_class() -> None:
    with pytest.raises(ValueError, match="names its class"):
        ColumnSpec("p", "numeric", "probability")
    with pytest.raises(ValueError, match="names its class"):
        ColumnSpec("p", "categorical", "probability", "a")
