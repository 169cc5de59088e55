"""Class-probability maps in a reference or check file: a Parquet struct, a Parquet (Arrow) map and CSV
cells of JSON objects are the same data, and every reader gives the same results for them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from driftwatch.cli.main import main
from driftwatch.reference import ReferenceDataError, load_frame, load_reference, probability_maps

CLASSES = ["a", "b", "c"]
FORMS = ("struct", "map", "csv")


def rows(seed: int, n: int, shift: float) -> pd.DataFrame:
    """A feature, a label and one map class -> probability per row (class c left out of some rows, given
    as null in others); ``shift`` moves probability towards c (prediction drift)."""
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1.0, 1.0, 1.0 + shift], size=n).round(4)
    p[rng.uniform(size=n) < 0.15, 2] = 0.0
    p /= p.sum(axis=1, keepdims=True)
    labels = [CLASSES[k] for k in (rng.uniform(size=(n, 1)) > p.cumsum(axis=1)).sum(axis=1)]
    maps: list[dict[str, float | None] | None] = []
    for i, row in enumerate(p):
        m: dict[str, float | None] = {c: float(v) for c, v in zip(CLASSES, row, strict=True)}
        if row[2] == 0.0:
            if i % 2:
                del m["c"]
            else:
                m["c"] = None
        maps.append(m)
    maps[5] = None  # a row without a prediction
    return pd.DataFrame({"x": rng.normal(shift, 1.0, n), "probs": maps, "label": labels})


def write(frame: pd.DataFrame, form: str, path: Path) -> Path:
    """``frame`` written with its maps as a Parquet struct, an Arrow map, or CSV cells of JSON text."""
    if form == "struct":
        out = path.with_suffix(".parquet")
        frame.to_parquet(out)  # pandas writes dicts as a struct (a left-out class: null)
        assert pq.read_schema(out).field("probs").type.num_fields == len(CLASSES)
    elif form == "map":
        out = path.with_suffix(".parquet")
        probs = pa.array(
            [None if m is None else list(m.items()) for m in frame["probs"]],
            type=pa.map_(pa.string(), pa.float64()),
        )
        table = pa.table({"x": frame["x"].to_numpy(), "probs": probs, "label": frame["label"].tolist()})
        pq.write_table(table, out)
        assert isinstance(pq.read_schema(out).field("probs").type, pa.MapType)
    else:
        out = path.with_suffix(".csv")
        text = frame.assign(probs=[None if m is None else json.dumps(m) for m in frame["probs"]])
        text.to_csv(out, index=False)
    return out


def run_check(reference: Path, current: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    code = main(
        [
            "check",
            "-r",
            str(reference),
            "-u",
            str(current),
            "--task",
            "multiclass_classification",
            "--prediction-column",
            "probs",
            "--label-column",
            "label",
            "--classes",
            ",".join(CLASSES),
            "-f",
            "json",
        ]
    )
    assert code in (0, 1)
    out: dict[str, object] = json.loads(capsys.readouterr().out)
    return out


def test_struct_map_and_csv_json_give_the_same_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference, current = rows(1, 900, 0.0), rows(2, 700, 1.5)
    results = {}
    for form in FORMS:
        ref = write(reference, form, tmp_path / f"ref_{form}")
        cur = write(current, form, tmp_path / f"cur_{form}")
        results[form] = run_check(ref, cur, capsys)
    struct = results["struct"]
    for key in ("prediction_drift", "performance", "estimated_performance", "reference_performance"):
        assert struct.get(key) is not None, key  # the struct reading is the one that worked already
        for form in ("map", "csv"):
            assert results[form][key] == struct[key], (form, key)
    drift = struct["prediction_drift"]
    assert isinstance(drift, dict) and drift["drift_detected"]  # the shift towards c is seen in every form


def test_struct_map_and_csv_json_give_the_same_reference_profile(tmp_path: Path) -> None:
    reference = rows(3, 500, 0.0)
    profiles = {}
    for form in FORMS:
        path = write(reference, form, tmp_path / f"ref_{form}")
        profiles[form], types = load_reference(path, {"x": None}, "probs", classes=CLASSES)
        assert types["probs"] == "categorical"
    expected = profiles["struct"].columns["probs"]
    assert expected.uniques.tolist() == CLASSES
    for form in ("map", "csv"):
        found = profiles[form].columns["probs"]
        assert found.uniques.tolist() == expected.uniques.tolist()
        assert found.counts.tolist() == expected.counts.tolist()
        assert found.missing_share == expected.missing_share
        assert profiles[form].rows == profiles["struct"].rows


def test_the_profile_command_saves_the_same_profile_from_every_form(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reference = rows(4, 300, 0.0)
    saved = {}
    for form in FORMS:
        path = write(reference, form, tmp_path / f"ref_{form}")
        out = tmp_path / f"profile_{form}"
        code = main(
            [
                "profile",
                "-r",
                str(path),
                "-o",
                str(out),
                "--prediction-column",
                "probs",
                "--label-column",
                "label",
            ]
        )
        assert code == 0, capsys.readouterr().err
        saved[form] = load_reference(out, {"x": None}, "probs")[0].columns["probs"]
    for form in ("map", "csv"):
        assert saved[form].counts.tolist() == saved["struct"].counts.tolist()
        assert saved[form].uniques.tolist() == saved["struct"].uniques.tolist()


@pytest.mark.parametrize(
    "cell", ['{"a": 0.2, "b": NaN}', '{"a": "high"}', "[0.2, 0.8]", '{"a": 0.2', "b", '{"a": true}']
)
def test_a_malformed_csv_cell_is_one_error_naming_the_column_and_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cell: str
) -> None:
    frame = rows(5, 40, 0.0)
    text = [None if m is None else json.dumps(m) for m in frame["probs"]]
    text[7] = cell
    path = tmp_path / "ref.csv"
    frame.assign(probs=text).to_csv(path, index=False)  # pandas quotes the cell as CSV needs
    with pytest.raises(ReferenceDataError) as error:
        load_reference(path, {"x": None}, "probs")
    message = str(error.value)
    assert "'probs'" in message and "row 8 (line 9)" in message and "JSON object" in message
    assert "\n" not in message
    code = main(["check", "-r", str(path), "-u", str(path), "--prediction-column", "probs", "-f", "json"])
    err = capsys.readouterr().err
    assert code != 0 and "row 8 (line 9)" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_only_the_prediction_column_is_parsed(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    frame = pd.DataFrame({"meta": ['{"a": 1}', '{"b": 2}'], "probs": ['{"a": 0.4, "b": 0.6}', '{"a": 1}']})
    frame.to_csv(path, index=False)
    loaded = load_frame(path, maps=["probs"])
    assert loaded["meta"].tolist() == frame["meta"].tolist()  # a feature of JSON text stays text
    assert loaded["probs"].tolist() == [{"a": 0.4, "b": 0.6}, {"a": 1.0}]


def test_labels_and_scores_are_left_as_they_are() -> None:
    for values in (pd.Series(["a", None, "b"]), pd.Series([0.1, 0.9]), pd.Series([{"a": 0.1}, None])):
        assert probability_maps(values, "probs") is values
    pairs = pd.Series([[("a", 0.3), ("b", 0.7)], None, []], name="probs")
    assert probability_maps(pairs, "probs").tolist() == [{"a": 0.3, "b": 0.7}, None, {}]
    text = pd.Series(['{"a": 0.3, "b": null}', "{}"])  # an empty map: no predicted class, not an error
    assert probability_maps(text, "probs").tolist() == [{"a": 0.3, "b": None}, {}]


def test_the_python_api_reads_pairs_and_json_text_as_maps() -> None:
    import driftwatch

    reference, current = rows(6, 900, 0.0), rows(7, 700, 1.5)

    def pairs(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(probs=[None if m is None else list(m.items()) for m in frame["probs"]])

    def text(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(probs=[None if m is None else json.dumps(m) for m in frame["probs"]])

    task = "multiclass_classification"
    expected = driftwatch.check(reference, current, prediction="probs", features=["x"])
    estimated = driftwatch.estimate_performance(
        reference, current, prediction="probs", label="label", task=task
    )
    realized = driftwatch.realized_performance(
        reference, current, task=task, prediction="probs", label="label"
    )
    for convert in (pairs, text):
        ref, cur = convert(reference), convert(current)
        found = driftwatch.check(ref, cur, prediction="probs", features=["x"])
        assert found.prediction == expected.prediction
        assert (
            driftwatch.estimate_performance(ref, cur, prediction="probs", label="label", task=task)
            == estimated
        )
        assert (
            driftwatch.realized_performance(ref, cur, task=task, prediction="probs", label="label")
            == realized
        )
    assert expected.prediction is not None and expected.prediction.drifted


def test_the_daemon_grades_and_estimates_from_every_form(tmp_path: Path) -> None:
    from driftwatch.config import ModelSettings
    from driftwatch.performance.multiclass_cbpe import MulticlassCBPE
    from driftwatch.service.model_checks import performance_monitor

    reference = rows(8, 800, 0.0)
    current = [m for m in rows(9, 300, 1.5)["probs"] if m is not None]
    monitors = {}
    for form in FORMS:
        settings = ModelSettings(
            reference=write(reference, form, tmp_path / f"ref_{form}"),
            features=["x"],
            prediction="probs",
            performance={"task": "multiclass_classification", "label": "label", "classes": CLASSES},
        )
        monitors[form] = performance_monitor("m", settings)
        assert isinstance(monitors[form].cbpe, MulticlassCBPE), monitors[form].cbpe_problem
    expected = monitors["struct"]
    for form in ("map", "csv"):
        assert monitors[form].reference == expected.reference
        assert monitors[form].estimate_rows(current) == expected.estimate_rows(current)
