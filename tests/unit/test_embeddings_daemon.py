"""Embeddings in the daemon: vectors read from records (bad ones rejected), kept in the window within its
row bound, checkpointed and restored, compared with the reference's vectors by the embedding_drift check,
and the config errors that name the key, the value and the fix."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftwatch.alerting.events import summary
from driftwatch.checks.base import CheckInput
from driftwatch.checks.embedding import EmbeddingDriftCheck, EmbeddingSpec
from driftwatch.checks.ids import CheckId
from driftwatch.config import ConfigError, load_settings
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.reference import (
    EMBEDDING_SAMPLE_ROWS,
    ReferenceDataError,
    load_embeddings,
    load_profile,
    save_profile,
)
from driftwatch.service.daemon import Daemon
from driftwatch.state.changelog import WindowDelta
from driftwatch.state.store import Store
from driftwatch.stream.vectors import VectorField, VectorReader
from driftwatch.stream.windows import ColumnSpec, Window

NOW = 1_800_000_000.0
DIM = 8


@dataclass
class FakeMessage:
    value: bytes | None
    timestamp: int = int(NOW * 1000) - 1000
    topic: str = "predictions"
    partition: int = 0
    offset: int = 0


def record(vector: Any, x: float = 0.0, model: str = "m", **more: Any) -> bytes:
    return json.dumps(
        {"model": model, "timestamp": NOW - 1, "features": {"x": x}, "vec": vector, **more}
    ).encode()


# reading vectors -------------------------------------------------------------------------------------


READER = VectorReader({"m": [VectorField("text", "vec", 3)]})


def test_good_vectors_are_read_as_float32_rows_of_the_batch() -> None:
    payloads = [record([1, 2.5, -3]), record([0.0, 0.0, 1e-3]), record([1, 1, 1], model="other")]
    vectors, rejected = READER.read(payloads)
    assert rejected == {}
    text = vectors["m"]["text"]
    assert text.dtype == np.float32 and text.shape == (3, 3)
    np.testing.assert_array_equal(text[0], [1, 2.5, -3])
    assert np.isnan(text[2]).all()  # another model's record: no vector of this model


@pytest.mark.parametrize(
    ("vector", "reason", "words"),
    [
        ([1, 2], "wrong_type", "2 numbers, not 3"),
        ([1, 2, 3, 4], "wrong_type", "4 numbers, not 3"),
        ([1, "2", 3], "wrong_type", "text"),
        ([1, True, 3], "wrong_type", "a boolean"),
        ([1, None, 3], "wrong_type", "null"),
        ([1, [2], 3], "wrong_type", "an array"),
        ("1,2,3", "wrong_type", "text, not an array"),
        ({"a": 1}, "wrong_type", "an object"),
        ([1, 1e39, 3], "non_finite", "float32"),
    ],
)
def test_a_bad_vector_rejects_its_record_with_a_reason(vector: Any, reason: str, words: str) -> None:
    payloads = [record([1, 2, 3]), record(vector), record([4, 5, 6])]
    vectors, rejected = READER.read(payloads)
    assert list(rejected) == [1]
    assert rejected[1].reason == reason and words in rejected[1].detail
    assert "field 'vec'" in rejected[1].detail and "embedding 'text' of model 'm'" in rejected[1].detail
    text = vectors["m"]["text"]
    assert np.isnan(text[1]).all() and np.isfinite(text[[0, 2]]).all()  # the good ones stand


def test_nan_and_infinity_tokens_reject_the_record() -> None:
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        payload = b'{"model": "m", "features": {}, "vec": [1, ' + token + b", 2]}"
        _, rejected = READER.read([payload])
        assert rejected[0].reason == "non_finite"


def test_a_record_without_a_vector_is_kept_with_a_missing_row() -> None:
    payloads = [record(None), b'{"model": "m", "features": {}}', b"not json", None, record([1, 2, 3])]
    vectors, rejected = READER.read(payloads)
    assert rejected == {}  # not JSON, a tombstone: the record decoder rejects those, with its reasons
    assert np.isnan(vectors["m"]["text"][:4]).all()
    assert np.isfinite(vectors["m"]["text"][4]).all()


# the window ------------------------------------------------------------------------------------------

COLUMNS = [ColumnSpec("x", "numeric"), ColumnSpec("text", "numeric", "embedding", dim=DIM)]


def add(window: Window, n: int, seed: int, shift: float = 0.0) -> npt_array:
    rng = np.random.default_rng(seed)
    vectors = (rng.normal(size=(n, DIM)) + shift).astype(np.float32)
    xs = np.arange(n, dtype=np.float64) + 1000 * seed
    window.add_columns(np.full(n, NOW - 1), [xs, vectors], NOW)
    return vectors


npt_array = np.ndarray


def test_the_window_keeps_each_sampled_rows_vector_within_max_rows() -> None:
    window = Window(COLUMNS, 3600, max_rows=100)
    vectors = add(window, 500, seed=0)
    snapshot = window.snapshot(NOW)
    text = snapshot.embeddings["text"]
    assert len(snapshot.frame) == 100 and text.shape == (100, DIM) and text.dtype == np.float32
    assert "text" not in snapshot.frame.columns
    # row for row: each kept x (its record's index) carries that record's vector
    np.testing.assert_array_equal(text, vectors[snapshot.frame["x"].to_numpy().astype(int)])
    # memory: at most 1.1 x max_rows rows, each its vector (4 x dim bytes), x, its key and event time
    assert window.memory_bytes() <= 110 * (4 * DIM + 3 * 8)
    assert window.memory_bytes() >= 100 * (4 * DIM + 3 * 8)


def test_the_window_signature_names_the_dim() -> None:
    other = [ColumnSpec("x", "numeric"), ColumnSpec("text", "numeric", "embedding", dim=DIM + 1)]
    assert Window(COLUMNS, 3600, 100).signature() != Window(other, 3600, 100).signature()
    with pytest.raises(ValueError, match="dim"):
        ColumnSpec("text", "numeric", "embedding")


def test_checkpoints_and_the_changelog_restore_the_vectors(tmp_path: Path) -> None:
    window = Window(COLUMNS, 3600, max_rows=200)
    add(window, 150, seed=1)
    store = Store(tmp_path / "state.sqlite")
    changes = window.changes()
    store.checkpoint({"m": (window.signature(), changes)}, "g", {("t", 0): 150})
    add(window, 300, seed=2)  # past the cap: a trim, then a second checkpoint of the new rows
    more = window.changes()
    store.checkpoint({"m": (window.signature(), more)}, "g", {("t", 0): 450})
    expected = window.snapshot(NOW)
    stored = store.load_window("m", window.signature())
    assert stored is not None
    back = Window(COLUMNS, 3600, max_rows=200)
    back.restore(*stored, now=NOW)
    got = back.snapshot(NOW)
    order, back_order = np.argsort(expected.frame["x"].to_numpy()), np.argsort(got.frame["x"].to_numpy())
    np.testing.assert_array_equal(got.embeddings["text"][back_order], expected.embeddings["text"][order])
    # the changelog's form of the same changes decodes to the same segments
    delta = WindowDelta.of(changes).changes()
    for (slot, segment), (slot2, original) in zip(delta.segments, changes.segments, strict=True):
        assert slot == slot2
        np.testing.assert_array_equal(segment.columns[1], original.columns[1])
    store.close()


# the check -------------------------------------------------------------------------------------------


def snapshot_of(vectors: np.ndarray) -> CheckInput:
    window = Window(COLUMNS, 3600, max_rows=10_000)
    if len(vectors):
        window.add_columns(np.full(len(vectors), NOW - 1), [np.zeros(len(vectors)), vectors], NOW)
    return CheckInput(window.snapshot(NOW))


def prepared(min_rows: int = 50, **parameters: object) -> EmbeddingDriftCheck:
    reference = np.random.default_rng(9).normal(size=(1500, DIM)).astype(np.float32)
    check = EmbeddingDriftCheck("m", [EmbeddingSpec("text", "model", parameters)], min_rows)
    check.prepare(ReferenceProfile({}, 1500, {"text": reference}))
    return check


def test_the_check_statuses_in_the_one_vocabulary() -> None:
    check = prepared()
    assert check.alert_ids == [CheckId("embedding_drift", "text")]
    assert str(check.alert_ids[0]) == "embedding_drift:text"
    empty = check.run(snapshot_of(np.empty((0, DIM), dtype=np.float32)))
    assert empty.status == "no_data" and empty.breaches == {}
    few = check.run(snapshot_of(np.ones((20, DIM), dtype=np.float32)))
    assert few.status == "not_enough_data" and few.breaches == {} and "window.min_rows 50" in (few.note or "")
    rng = np.random.default_rng(3)
    same = check.run(snapshot_of(rng.normal(size=(800, DIM)).astype(np.float32)))
    assert same.status == "ok" and same.breaches == {CheckId("embedding_drift", "text"): False}
    moved = check.run(snapshot_of((rng.normal(size=(800, DIM)) + 0.5).astype(np.float32)))
    assert moved.status == "drift" and moved.breaches == {CheckId("embedding_drift", "text"): True}
    assert moved.value is not None and moved.value["text"].drift is not None
    assert moved.value["text"].drift.score > 0.55


def test_rows_without_a_vector_are_missing_not_compared() -> None:
    vectors = np.full((100, DIM), np.nan, dtype=np.float32)
    result = prepared().run(snapshot_of(vectors))
    assert result.status == "no_data" and "none of the window's 100 rows" in (result.note or "")
    vectors[:60] = np.random.default_rng(4).normal(size=(60, DIM))
    result = prepared().run(snapshot_of(vectors))
    assert result.value is not None and result.value["text"].rows == 60 and result.status in ("ok", "drift")


def test_a_check_that_fails_is_an_error_of_its_embedding_only() -> None:
    check = prepared(pca_components=DIM + 5)  # more components than the vectors have: PCA raises
    result = check.run(snapshot_of(np.random.default_rng(5).normal(size=(300, DIM)).astype(np.float32)))
    assert result.status == "error" and result.breaches == {} and "text" in (result.failure or "")


# reference vectors -----------------------------------------------------------------------------------


def reference_frame(rows: int, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(rows, DIM)).astype(np.float32)
    return pd.DataFrame({"x": rng.normal(size=rows), "vec": list(vectors)}), vectors


def test_parquet_csv_and_a_saved_profile_give_the_same_reference_vectors(tmp_path: Path) -> None:
    frame, vectors = reference_frame(EMBEDDING_SAMPLE_ROWS + 700)
    frame.to_parquet(tmp_path / "ref.parquet")
    as_text = frame.assign(vec=[json.dumps(v.tolist()) for v in vectors])
    as_text.to_csv(tmp_path / "ref.csv", index=False)
    columns = {"text": ("vec", DIM)}
    raw = load_embeddings(tmp_path / "ref.parquet", columns)["text"]
    assert raw.shape == (EMBEDDING_SAMPLE_ROWS, DIM)  # a bounded sample
    np.testing.assert_array_equal(load_embeddings(tmp_path / "ref.csv", columns)["text"], raw)
    save_profile(ReferenceProfile({}, len(frame), {"text": raw}), tmp_path / "profile")
    assert load_profile(tmp_path / "profile").embeddings["text"].dtype == np.float32
    np.testing.assert_array_equal(load_embeddings(tmp_path / "profile", columns)["text"], raw)
    # and the check says the same on either
    current = snapshot_of((np.random.default_rng(6).normal(size=(400, DIM)) + 0.1).astype(np.float32))
    results = []
    for source in ("ref.parquet", "profile"):
        check = EmbeddingDriftCheck("m", [EmbeddingSpec("text")], 10)
        check.prepare(ReferenceProfile({}, 1, load_embeddings(tmp_path / source, columns)))
        part = check.run(current)
        assert part.value is not None
        results.append(part.value["text"].drift)
    assert results[0] == results[1]


def test_bad_reference_vectors_are_errors_naming_the_key_and_row(tmp_path: Path) -> None:
    frame, _ = reference_frame(10)
    frame["vec"] = [np.ones(DIM + 1, dtype=np.float32) if i == 3 else v for i, v in enumerate(frame["vec"])]
    frame.to_parquet(tmp_path / "ref.parquet")
    with pytest.raises(
        ReferenceDataError, match=r"models\.m\.embeddings\.text: row 3 .* has 9 numbers, not dim 8"
    ):
        load_embeddings(tmp_path / "ref.parquet", {"text": ("vec", DIM)}, "models.m")
    with pytest.raises(ReferenceDataError, match=r"models\.m\.embeddings\.text\.field: .* no column 'nope'"):
        load_embeddings(tmp_path / "ref.parquet", {"text": ("nope", DIM)}, "models.m")


# config ----------------------------------------------------------------------------------------------


def config(tmp_path: Path, **model: Any) -> dict[str, Any]:
    frame, _ = reference_frame(1200)
    frame.to_parquet(tmp_path / "ref.parquet")
    return {
        "kafka": {"bootstrap_servers": "127.0.0.1:9", "topic": "predictions"},
        "http": {"port": 0},
        "state": {"path": "state.sqlite"},
        "models": {
            "m": {
                "reference": "ref.parquet",
                "features": ["x"],
                "window": {"length": "1h", "max_rows": 1000, "min_rows": 50},
                "embeddings": {"text": {"field": "vec", "dim": DIM}},
                **model,
            }
        },
    }


def load(tmp_path: Path, raw: dict[str, Any]) -> Any:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_settings(path, {})


def config_error(tmp_path: Path, raw: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, raw)
    return str(info.value)


@pytest.mark.parametrize(
    ("embeddings", "words"),
    [
        ({"text:v": {"field": "vec", "dim": 8}}, "embeddings.text:v: 'text:v' is not a valid embedding name"),
        ({"x": {"field": "vec", "dim": 8}}, "embeddings.x: 'x' is also a feature"),
        ({"t": {"field": "features", "dim": 8}}, "embeddings.t.field: 'features' is a field of the record"),
        (
            {"t": {"field": "vec", "dim": 8, "pca_components": 8}},
            "embeddings.t.pca_components: 8 is not below dim 8",
        ),
        ({"t": {"field": "vec", "dim": 8, "threshold": 1.5}}, "embeddings.t.threshold: 1.5"),
        (
            {"t": {"field": "vec", "dim": 8, "method": "ratio", "bootstrap": True}},
            "method ratio has no bootstrap",
        ),
        ({"t": {"field": "vec", "dim": 1}}, "embeddings.t.dim"),
        ({"t": {"field": "vec", "dim": 8, "method": "cosine"}}, "embeddings.t.method"),
    ],
)
def test_config_errors_name_the_key_the_value_and_the_fix(
    tmp_path: Path, embeddings: dict[str, Any], words: str
) -> None:
    message = config_error(tmp_path, config(tmp_path, embeddings=embeddings))
    assert words in message and "Traceback" not in message


def test_embeddings_are_taken_scaled_out_and_with_segments(tmp_path: Path) -> None:
    raw = config(tmp_path)
    raw["kafka"]["scale_out"] = {"enabled": True, "max_message_bytes": 100_000}
    settings = load(tmp_path, raw)
    assert settings.models["m"].embeddings and settings.kafka.scale_out.max_message_bytes == 100_000
    raw["kafka"]["scale_out"]["max_message_bytes"] = 1000  # below one row of any real vector
    assert "max_message_bytes" in config_error(tmp_path, raw)
    scoped = config(tmp_path, segments={"columns": [{"column": "region", "source": "metadata"}]})
    assert load(tmp_path, scoped).models["m"].segments is not None  # tests/unit/test_embeddings_scopes.py


# the daemon ------------------------------------------------------------------------------------------


def daemon(tmp_path: Path, decode: str = "all", **model: Any) -> Daemon:
    raw = config(tmp_path, **model)
    raw["kafka"]["decode"] = decode
    return Daemon(load(tmp_path, raw), clock=lambda: NOW)


def messages(n: int, shift: float, seed: int, start: int = 0) -> list[FakeMessage]:
    rng = np.random.default_rng(seed)
    return [
        FakeMessage(record((rng.normal(size=DIM) + shift).tolist(), float(rng.normal())), offset=start + i)
        for i in range(n)
    ]


def sample(d: Daemon, name: str, **labels: str) -> float | None:
    for family in d.metrics.registry.collect():
        for s in family.samples:
            if s.name == name and {k: v for k, v in s.labels.items() if v} == labels:
                return float(s.value)
    return None


@pytest.mark.parametrize("decode", ["all", "sampled"])
def test_the_daemon_windows_vectors_rejects_bad_ones_and_alerts_on_drift(tmp_path: Path, decode: str) -> None:
    d = daemon(tmp_path, decode)
    bad = [
        FakeMessage(record([1.0] * (DIM - 1)), offset=5000),
        FakeMessage(
            b'{"model": "m", "features": {"x": 1}, "vec": [' + b"NaN," * (DIM - 1) + b"1]}", offset=5001
        ),
    ]
    d.handle(messages(1500, 0.5, seed=1) + bad)  # past max_rows 1000: sampled decode samples
    assert sample(d, "driftwatch_records_rejected_total", reason="wrong_type") == 1
    assert sample(d, "driftwatch_records_rejected_total", reason="non_finite") == 1
    assert sample(d, "driftwatch_records_consumed_total", model="m") == 1500
    result = d.run_check("m")
    assert result.embedding_drift is not None
    text = result.embedding_drift["text"]
    assert text.status == "drift" and text.rows == 1000
    assert result.as_dict()["embedding_drift"]["text"]["drift_detected"] is True
    assert not result.drift.dataset_drift  # the features did not move
    score = sample(d, "driftwatch_embedding_drift_score", model="m", embedding="text", method="model")
    assert score is not None and score > 0.55
    assert (
        sample(d, "driftwatch_embedding_drift_threshold", model="m", embedding="text", method="model") == 0.55
    )
    assert sample(d, "driftwatch_embedding_drift_detected", model="m", embedding="text") == 1
    assert sample(d, "driftwatch_alert_active", model="m", check="embedding_drift:text") == 1
    assert sample(d, "driftwatch_alert_active", model="m", check="data_drift") == 0
    said = summary("firing", "embedding_drift:text", "m", result)
    assert said.startswith("Embedding drift text on model m: model score 0.") and "1000 vectors" in said


def test_a_restarted_daemon_restores_the_vectors(tmp_path: Path) -> None:
    d = daemon(tmp_path)
    d.handle(messages(300, 0.0, seed=2))
    d.ingest.checkpoint({("predictions", 0): 300})
    before = d.windows["m"].snapshot(NOW)
    d.store.close()
    again = daemon(tmp_path)
    after = again.windows["m"].snapshot(NOW)
    order, again_order = np.argsort(before.frame["x"].to_numpy()), np.argsort(after.frame["x"].to_numpy())
    np.testing.assert_array_equal(after.embeddings["text"][again_order], before.embeddings["text"][order])
    result = again.run_check("m")
    assert result.embedding_drift is not None and result.embedding_drift["text"].status == "ok"


# driftwatch check, driftwatch profile and the Python API ----------------------------------------------


def test_driftwatch_check_and_profile_check_the_models_embeddings(tmp_path: Path) -> None:
    from tests.clirun import driftwatch_cli

    raw = config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    rng = np.random.default_rng(8)
    moved = (rng.normal(size=(600, DIM)) + 0.5).tolist()
    pd.DataFrame({"x": rng.normal(size=600), "vec": moved}).to_parquet(tmp_path / "current.parquet")
    common = ["--config", str(tmp_path / "c.yaml"), "--model", "m", "--reference"]
    found = driftwatch_cli(
        "check", *common, str(tmp_path / "ref.parquet"), "--current", str(tmp_path / "current.parquet")
    )
    assert found.returncode == 1, found.stderr  # the embedding drifted, the feature did not
    assert "embedding text: model score" in found.stdout and "-> DRIFT" in found.stdout
    assert "no dataset drift" in found.stdout
    made = driftwatch_cli(
        "profile", *common, str(tmp_path / "ref.parquet"), "--output", str(tmp_path / "profile")
    )
    assert made.returncode == 0 and "1200 vectors of embedding 'text'" in made.stdout, made.stderr
    as_json = driftwatch_cli(
        "check",
        *common,
        str(tmp_path / "profile"),
        "--current",
        str(tmp_path / "current.parquet"),
        "--format",
        "json",
    )
    text = json.loads(as_json.stdout)["embedding_drift"]["text"]
    assert text["drift_detected"] is True and text["rows"] == 600 and text["reference_rows"] == 1200
    page = tmp_path / "check.html"
    as_html = driftwatch_cli(
        "check",
        *common,
        str(tmp_path / "profile"),
        "--current",
        str(tmp_path / "current.parquet"),
        "--format",
        "html",
        "--output",
        str(page),
    )
    assert as_html.returncode == 1
    assert "<td><b>text</b></td><td>model</td><td>600</td><td>1200</td>" in page.read_text(encoding="utf-8")


def test_the_python_api_checks_embeddings_from_frames_and_profiles() -> None:
    import driftwatch

    reference, _ = reference_frame(1500, seed=3)
    rng = np.random.default_rng(11)
    current = pd.DataFrame({"x": rng.normal(size=500), "vec": list(rng.normal(size=(500, DIM)) + 0.5)})
    report = driftwatch.check(reference, current, embeddings={"text": "vec"})
    assert report.dataset_drift is False and [c.name for c in report.columns] == ["x"]
    assert report.embeddings["text"]["drift_detected"] is True
    kept = driftwatch.profile(reference, embeddings={"text": "vec"})
    again = driftwatch.check(kept, current, embeddings={"text": "vec"})
    assert again.embeddings["text"] == report.embeddings["text"]
    few = driftwatch.check(reference, current.head(10), embeddings={"text": "vec"}, min_rows=50)
    assert few.embeddings["text"]["status"] == "not_enough_data"


@pytest.mark.parametrize("method", ["model", "mmd"])
def test_one_set_of_vectors_gives_one_result_whatever_the_order_of_its_rows(method: str) -> None:
    """The methods split or subsample rows by position; the check takes them in an order of their own,
    so a scaled-out owner (rows in the order the readers' pieces arrived), a restored window and
    ``driftwatch check`` on a file agree on the same rows."""
    import driftwatch

    reference, _ = reference_frame(1500, seed=3)
    rng = np.random.default_rng(12)
    current = pd.DataFrame({"x": rng.normal(size=1200), "vec": list(rng.normal(size=(1200, DIM)) + 0.05)})
    shuffled = current.sample(frac=1.0, random_state=1).reset_index(drop=True)

    def check(frame: pd.DataFrame) -> dict[str, Any]:
        report = driftwatch.check(reference, frame, embeddings={"text": "vec"}, embedding_method=method)  # type: ignore[arg-type]
        found: dict[str, Any] = report.embeddings["text"]
        return found

    first, again = check(current), check(shuffled)
    assert first["score"] == again["score"] and first == again


def test_the_readme_example_is_a_valid_model_config(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Embedding drift\n", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    models = yaml.safe_load(block)["models"]
    (tmp_path / "data").mkdir()
    pd.DataFrame({"length": [1.0], "language": ["en"]}).to_parquet(tmp_path / "data" / "support-bot.parquet")
    raw = {"kafka": {"bootstrap_servers": "127.0.0.1:9", "topic": "predictions"}, "models": models}
    embedding = load(tmp_path, raw).models["support-bot"].embeddings["text_vec"]
    assert (embedding.field, embedding.dim, embedding.method) == ("text_vec", 384, "model")


def test_validate_config_reports_each_embeddings_reference_vectors_and_window_memory(tmp_path: Path) -> None:
    from tests.clirun import driftwatch_cli

    raw = config(tmp_path)
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    found = driftwatch_cli("validate-config", str(tmp_path / "c.yaml"))
    assert found.returncode == 0, found.stderr
    assert "model m: embedding text: 1200 reference vectors of 8 numbers; 0.0 MB" in found.stdout
    raw["models"]["m"]["embeddings"]["text"]["dim"] = DIM + 1
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    wrong = driftwatch_cli("validate-config", str(tmp_path / "c.yaml"))
    assert (
        wrong.returncode == 2
        and "models.m.embeddings.text: row 0 of column 'vec' has 8 numbers, not dim 9" in wrong.stderr
    )
