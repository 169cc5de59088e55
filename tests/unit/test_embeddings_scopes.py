"""Embeddings in segment and version scopes: each scope window keeps its own bounded vectors, judged
against the reference vectors of its slice (a segment's value, a version's own reference file), and
restored after a restart; a rolling baseline keeps no vectors (it compares the features)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from driftwatch.alerting.policy import AlertEvent
from driftwatch.checks.window import CheckResult
from driftwatch.config import load_settings
from driftwatch.scope import Scope
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0
DIM = 8
COUNTRIES = ["DE", "FR", "IT", "ES", "PL"]
SHARES = [0.35, 0.25, 0.2, 0.12, 0.08]
OFFSET = {"FR": 1.0}  # French texts sit elsewhere in the embedding space, in the reference and live
SEGMENT_ROWS = 400


@dataclass
class Msg:
    value: bytes | None
    timestamp: int = int(NOW * 1000) - 1000
    topic: str = "predictions"
    partition: int = 0
    offset: int = 0


def reference(
    path: Path, seed: int = 1, rows: int = 4000, shift: float = 0.0, without: frozenset[str] = frozenset()
) -> None:
    """A reference of ``rows``; the rows of the countries ``without`` have no vector."""
    rng = np.random.default_rng(seed)
    countries = rng.choice(COUNTRIES, size=rows, p=SHARES)
    offsets = np.array([OFFSET.get(c, 0.0) for c in countries])[:, None]
    vectors = (rng.normal(size=(rows, DIM)) + offsets + shift).astype(np.float32)
    column = [None if c in without else v for c, v in zip(countries, vectors, strict=True)]
    pd.DataFrame({"x": rng.normal(size=rows), "country": countries, "vec": column}).to_parquet(path)


def make(tmp_path: Path, scopes: str, without: frozenset[str] = frozenset()) -> Daemon:
    reference(tmp_path / "ref.parquet", without=without)
    (tmp_path / "c.yaml").write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.parquet
    features: [x, {{name: country, type: categorical}}]
    window: {{length: 1h, max_rows: 20000, min_rows: 200}}
    embeddings:
      text: {{field: vec, dim: {DIM}}}
{scopes}
state: {{path: state.sqlite}}
""",
        encoding="utf-8",
    )
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)


SEGMENTS = f"""    segments:
      columns: [country]
      top_k: 3
      max_rows: {SEGMENT_ROWS}
      min_rows: 200
      stability: {{promote_after: 1}}
"""


def records(
    rows: int,
    seed: int,
    shift: dict[str, float] | None = None,
    offset: int = 0,
    version: Any = None,
    at: float = NOW - 1,
) -> list[Msg]:
    rng = np.random.default_rng(seed)
    countries = rng.choice(COUNTRIES, size=rows, p=SHARES)
    out = []
    for i in range(rows):
        c = str(countries[i])
        vector = rng.normal(size=DIM) + OFFSET.get(c, 0.0) + (shift or {}).get(c, 0.0)
        record: dict[str, Any] = {
            "model": "m",
            "timestamp": at,
            "features": {"x": float(rng.normal()), "country": c},
            "vec": vector.tolist(),
        }
        if version is not None:
            record["model_version"] = version(i)
        out.append(Msg(json.dumps(record).encode(), offset=offset + i))
    return out


def events(daemon: Daemon) -> list[tuple[AlertEvent, CheckResult]]:
    captured: list[tuple[AlertEvent, CheckResult]] = []
    daemon._notify = lambda event, result: captured.append((event, result))  # type: ignore[method-assign]
    return captured


def scope_vectors(daemon: Daemon) -> dict[str, bytes]:
    """Each scope window's vectors, by sample key (bytes: bit for bit)."""
    scoped = daemon.scoped["m"]
    out = {}
    for scope in scoped.scopes():
        snapshot = scoped.windows.window(scope).snapshot(NOW, keys=True)
        order = np.argsort(snapshot.frame["__key"].to_numpy())
        out[scope.key] = snapshot.embeddings["text"][order].tobytes()
    return out


def test_only_the_segment_whose_vectors_moved_alerts_each_against_its_own_reference_vectors(
    tmp_path: Path,
) -> None:
    daemon = make(tmp_path, SEGMENTS)
    sent = events(daemon)
    daemon.handle(records(6000, 1))
    daemon.run_check("m")  # promotes the top 3 and seeds them from the model window
    scoped = daemon.scoped["m"]
    assert [s.key for s in scoped.scopes()] == ["country=DE", "country=FR", "country=IT", "country:other"]
    daemon.handle(records(6000, 2, shift={"IT": 0.6}, offset=6000))
    for _ in range(2):
        daemon.run_check("m")
    results = daemon.latest.scoped("m")
    status = {
        key: r.embedding_drift["text"].status for (key, _), r in results.items() if key and r.embedding_drift
    }
    # FR's vectors are far from the whole reference's, but not from the reference's French rows
    assert status == {"country=DE": "ok", "country=FR": "ok", "country=IT": "drift", "country:other": "ok"}
    firing = [(e.check, r.scope) for e, r in sent if e.transition == "firing" and r.scope]
    assert firing == [("embedding_drift:text", "country=IT")]
    # judged against the reference vectors of its value: FR's reference rows only
    fr = scoped._reference(Scope("m", segment=scoped.directory.segments("country")[1])).checks
    embedding = next(c for c in fr.checks if c.kind == "embedding_drift")
    assert embedding.reference["text"].mean() > 0.8  # type: ignore[attr-defined]
    # each scope window keeps its own vectors, bounded by the segments' max_rows
    for scope in scoped.scopes():
        window = scoped.windows.window(scope)
        snapshot = window.snapshot(NOW)
        assert snapshot.embeddings["text"].shape == (len(snapshot.frame), DIM)
        assert window.stored_rows() <= 1.1 * SEGMENT_ROWS + 6000  # the bound: 1.1 x max_rows, plus a batch
        assert len(snapshot.frame) <= 1.1 * SEGMENT_ROWS


def test_a_segment_with_too_few_reference_vectors_is_judged_against_the_whole_reference(
    tmp_path: Path,
) -> None:
    daemon = make(tmp_path, SEGMENTS, without=frozenset({"IT"}))  # IT's reference rows have no vector
    daemon.handle(records(6000, 1))
    daemon.run_check("m")
    scoped = daemon.scoped["m"]
    it = next(s for s in scoped.scopes() if s.key == "country=IT")
    reference = scoped._reference(it)
    assert reference.note is not None and "judged against the whole reference's vectors" in reference.note
    result = daemon.latest.get("m", "country=IT")
    assert result is not None and reference.note in result.notes


def test_version_scopes_keep_vectors_and_read_their_own_reference_vectors(tmp_path: Path) -> None:
    reference(tmp_path / "ref8.parquet", seed=8, shift=0.6)  # version 8's texts sit elsewhere
    daemon = make(tmp_path, "    versions:\n      max_live: 2\n      references: {'8': ref8.parquet}\n")
    sent = events(daemon)
    # version 7 as the model's reference, version 8 shifted as its own reference: both quiet
    daemon.handle(records(1500, 1, version=lambda i: "7"))
    daemon.handle(records(3000, 2, shift={c: 0.6 for c in COUNTRIES}, offset=1500, version=lambda i: "8"))
    for _ in range(2):
        daemon.run_check("m")
    results = daemon.latest.scoped("m")
    v7, v8 = results[("v=7", "")], results[("v=8", "")]
    assert v7.embedding_drift is not None and v8.embedding_drift is not None
    assert v7.embedding_drift["text"].status == "ok" and v7.embedding_drift["text"].rows == 1500
    assert v8.embedding_drift["text"].status == "ok" and v8.embedding_drift["text"].rows == 3000
    assert not [e for e, r in sent if e.transition == "firing" and r.scope]
    window = daemon.scoped["m"].windows.window(Scope("m", version="8"))
    assert window.snapshot(NOW).embeddings["text"].shape == (3000, DIM)


def test_scope_vectors_survive_a_restart_bit_for_bit(tmp_path: Path) -> None:
    daemon = make(tmp_path, SEGMENTS)
    daemon.handle(records(3000, 1))
    daemon.run_check("m")
    daemon.handle(records(2000, 2, offset=3000))
    daemon.checkpoint({("predictions", 0): 5000})
    before = scope_vectors(daemon)
    daemon.store.close()
    again = make(tmp_path, SEGMENTS)
    after = scope_vectors(again)
    assert after == before and all(len(v) > 0 for v in after.values())


def test_a_rolling_baseline_compares_the_features_and_keeps_no_vectors(tmp_path: Path) -> None:
    """With embeddings, a rolling baseline compares the features (its window keeps no vectors), and the
    embeddings are compared with the training reference, per scope as for the whole model."""
    daemon = make(
        tmp_path,
        "    baseline: {rolling: 2h, lag: 0, min_rows: 200, min_coverage: 0.1, scopes: [model, segments]}\n"
        + SEGMENTS,
    )
    daemon.handle(records(4000, 1, at=NOW - 1800))  # in the baseline's period (the current bucket is not)
    daemon.run_check("m")
    daemon.handle(records(4000, 2, offset=4000))
    daemon.run_check("m")
    scoped = daemon.scoped["m"]
    baselines = [scoped.baseline] + [scoped.windows.baseline(s) for s in scoped.scopes()]
    kept = [b for b in baselines if b is not None]
    assert len(kept) == 1 + len(scoped.scopes())
    for baseline in kept:
        assert all(not spec.dim for spec in baseline.window.columns)
        assert baseline.stored_rows() > 0
        # x, country, time and key: no 32 bytes of vector a row
        assert baseline.window.memory_bytes() <= baseline.stored_rows() * 4 * 8
    rolling = daemon.results()["m"]["rolling"]
    assert rolling[""]["status"] == "ok" and rolling[""]["rows"] > 0
    results = daemon.latest.scoped("m")
    against_reference = [r for (_, baseline), r in results.items() if not baseline]
    assert against_reference and all(r.embedding_drift is not None for r in against_reference)
    assert all(r.embedding_drift is None for (_, baseline), r in results.items() if baseline)
    # the baseline survives a restart (its layout: the plain columns)
    daemon.checkpoint({("predictions", 0): 8000})
    rows = kept[0].stored_rows()
    daemon.store.close()
    again = make(
        tmp_path,
        "    baseline: {rolling: 2h, lag: 0, min_rows: 200, min_coverage: 0.1, scopes: [model, segments]}\n"
        + SEGMENTS,
    )
    assert again.scoped["m"].baseline is not None and again.scoped["m"].baseline.stored_rows() == rows
