"""Window columns as msgpack-ready values: the one wire form of a numeric or categorical column.

A numeric column (float64) travels as its raw little-endian bytes, a categorical one (canonical
category keys, an object array) as a list of ``str | None``, an embedding column (a rows x dim
float32 matrix) as a map ``{"dim": dim, "f4": its raw little-endian bytes}``. The SQLite store writes window segments
this way and the scale-out daemon ships partials this way, so both read what the other writes.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["EncodedColumn", "decode_column", "encode_column", "float_bytes", "from_float_bytes"]

EncodedColumn = bytes | list[str | None] | dict[str, int | bytes]


def float_bytes(values: npt.ArrayLike) -> bytes:
    """Float64 values as raw bytes (little-endian)."""
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


def from_float_bytes(data: bytes) -> npt.NDArray[np.float64]:
    """What `float_bytes` wrote: a read-only float64 array over ``data`` (no copy)."""
    return np.frombuffer(data, dtype="<f8").astype(np.float64, copy=False)


def encode_column(column: npt.NDArray[np.generic]) -> EncodedColumn:
    """A window column in its wire form: bytes for numeric, a list of category keys for categorical."""
    if column.dtype == object:
        values: list[str | None] = column.tolist()
        return values
    if column.ndim == 2:
        return {"dim": int(column.shape[1]), "f4": np.ascontiguousarray(column, dtype="<f4").tobytes()}
    return float_bytes(column)


def decode_column(data: EncodedColumn) -> npt.NDArray[np.generic]:
    """The column `encode_column` encoded: float64 for bytes, an object array for a list, a float32
    matrix for an embedding's map."""
    if isinstance(data, bytes):
        return from_float_bytes(data)
    if isinstance(data, dict):
        dim, raw = data["dim"], data["f4"]
        if not isinstance(dim, int) or not isinstance(raw, bytes):
            raise ValueError("an embedding column is {dim: int, f4: bytes}")
        return np.frombuffer(raw, dtype="<f4").astype(np.float32, copy=False).reshape(-1, dim)
    out = np.empty(len(data), dtype=object)
    out[:] = data
    return out
