"""Embeddings in segment and version scopes: the memory their windows take, against the documented bound.

A daemon (in process, no broker) watches one model with a 384-number embedding, segmented by a
country column (``top_k`` 10 of 40 values with Zipf-like shares, segment ``max_rows`` 2,000) and by
version (``max_live`` 3 of 4 versions served, version ``max_rows`` 5,000). It takes ``--records``
records in batches of 5,000, with a scheduled check (method ``distance``, the cheapest: the memory
is the question here) after each batch, which promotes and retires segments as the shares move;
the shares rotate halfway, so scopes leave and enter. Reported after each check: the rows and
`Window.memory_bytes` of every scope window together, and the bound

    (top_k + 1 + ceil(top_k / 4)) segment windows x 1.1 x segment max_rows
    + max_live version windows x 1.1 x version max_rows          (rows; x 1,568 bytes a row at 384)

plus the model-wide window (1.1 x its max_rows), which the scopes come beside.

    python bench/embeddings_scopes.py                 # 100,000 records (~2 minutes on 2 cores)
    python bench/embeddings_scopes.py --records 30000
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon

DIM = 384
NOW = 1_800_000_000.0
TOP_K, SEGMENT_ROWS, VERSION_ROWS, MAX_LIVE, WHOLE_ROWS = 10, 2000, 5000, 3, 20_000
VALUES = [f"c{i:02d}" for i in range(40)]


@dataclass
class Msg:
    value: bytes | None
    offset: int
    timestamp: int = int(NOW * 1000) - 1000
    topic: str = "predictions"
    partition: int = 0


def shares(rotate: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(VALUES) + 1) ** 1.1
    return np.roll(weights / weights.sum(), rotate)


def batch(rng: np.random.Generator, rows: int, offset: int, rotate: int) -> list[Msg]:
    countries = rng.choice(VALUES, size=rows, p=shares(rotate))
    versions = rng.choice(["v1", "v2", "v3", "v4"], size=rows, p=[0.4, 0.3, 0.2, 0.1])
    vectors = rng.normal(size=(rows, DIM)).round(4)
    return [
        Msg(
            json.dumps(
                {
                    "model": "m",
                    "timestamp": NOW - 1,
                    "model_version": str(versions[i]),
                    "features": {"x": float(rng.normal()), "country": str(countries[i])},
                    "vec": vectors[i].tolist(),
                }
            ).encode(),
            offset + i,
        )
        for i in range(rows)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        rng = np.random.default_rng(0)
        pd.DataFrame(
            {
                "x": rng.normal(size=3000),
                "country": rng.choice(VALUES, size=3000, p=shares(0)),
                "vec": list(rng.normal(size=(3000, DIM)).astype(np.float32)),
            }
        ).to_parquet(folder / "ref.parquet")
        (folder / "c.yaml").write_text(
            f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.parquet
    features: [x, {{name: country, type: categorical}}]
    window: {{length: 1h, max_rows: {WHOLE_ROWS}, min_rows: 200}}
    embeddings: {{text: {{field: vec, dim: {DIM}, method: distance}}}}
    segments: {{columns: [country], top_k: {TOP_K}, max_rows: {SEGMENT_ROWS}, min_rows: 500,
               stability: {{promote_after: 1}}}}
    versions: {{max_live: {MAX_LIVE}, window: {{max_rows: {VERSION_ROWS}}}}}
state: {{path: {folder / "state.sqlite"}}}
""",
            encoding="utf-8",
        )
        daemon = Daemon(load_settings(folder / "c.yaml"), clock=lambda: NOW)
        row_bytes = 4 * DIM + 8 * 3 + 8  # vector, x, time, key; a categorical cell is a shared reference
        windows = TOP_K + 1 + math.ceil(TOP_K / 4)
        bound_rows = windows * 1.1 * SEGMENT_ROWS + MAX_LIVE * 1.1 * VERSION_ROWS
        print(
            f"bound: {windows} segment windows x 1.1 x {SEGMENT_ROWS} + {MAX_LIVE} version windows x 1.1 x "
            f"{VERSION_ROWS} = {bound_rows:,.0f} rows, {bound_rows * row_bytes / 1e6:.1f} MB at "
            f"{row_bytes} bytes a row (+ the model window: {1.1 * WHOLE_ROWS * row_bytes / 1e6:.1f} MB)"
        )
        print("records  scopes  scope rows  scope MB  most rows in one segment window  model window MB")
        peak_rows, peak_bytes = 0, 0
        sent = 0
        while sent < args.records:
            rotate = 0 if sent < args.records // 2 else 7
            daemon.handle(batch(rng, 5000, sent, rotate))
            sent += 5000
            daemon.run_check("m")
            scoped = daemon.scoped["m"]
            scopes = scoped.scopes()
            rows = sum(scoped.windows.window(s).stored_rows() for s in scopes)
            used = sum(scoped.windows.window(s).memory_bytes() for s in scopes)
            widest = max(
                (scoped.windows.window(s).stored_rows() for s in scopes if s.segment is not None), default=0
            )
            peak_rows, peak_bytes = max(peak_rows, rows), max(peak_bytes, used)
            print(
                f"{sent:7,d}  {len(scopes):6d}  {rows:10,d}  {used / 1e6:8.1f}  {widest:31,d}  "
                f"{daemon.windows['m'].memory_bytes() / 1e6:15.1f}"
            )
        print(
            f"peak: {peak_rows:,d} rows in the scope windows ({peak_rows / bound_rows:.0%} of the bound), "
            f"{peak_bytes / 1e6:.1f} MB ({peak_bytes / max(peak_rows, 1):,.0f} bytes a row)"
        )
        daemon.stop(timeout=1.0)


if __name__ == "__main__":
    main()
