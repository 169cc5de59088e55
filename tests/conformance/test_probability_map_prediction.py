"""A multiclass model that logs a map class -> probability per prediction: its prediction drift and
quality are those of the predicted class (the most probable), a categorical column, in every path: the
daemon's window, the offline `driftwatch check` (JSON and HTML), the Python API, a saved profile."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch import api
from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon
from tests.conformance.test_multiclass_estimate_paths import CONFIG, NOW, Msg, draw, messages


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("maps")
    rng = np.random.default_rng(11)
    frames = {
        "reference": draw(rng, 4000),
        # the inputs move towards class "a": the mix of predicted classes shifts
        "shifted": draw(rng, 1500, shift=-1.2),
        "undrifted": draw(rng, 1500),
    }
    for name, frame in frames.items():
        frame.to_parquet(directory / f"{name}.parquet")
    code = main(
        [
            *("profile", "-r", str(directory / "reference.parquet"), "-o", str(directory / "profile")),
            *("--prediction-column", "probs", "--label-column", "label"),
        ]
    )
    assert code == 0
    return {"dir": directory, **frames}


def daemon_drift(tmp_path: Path, reference: Path, current: pd.DataFrame) -> dict[str, Any]:
    """The daemon's prediction drift (and data quality) of ``current``'s rows."""
    tmp_path.mkdir(exist_ok=True)
    target = tmp_path / "reference"
    if reference.is_dir():
        shutil.copytree(reference, target)
    else:
        shutil.copy(reference, target.with_suffix(".parquet"))
        target = target.with_suffix(".parquet")
    config = CONFIG.format(performance="{task: multiclass_classification, label: label}").replace(
        "reference: ref.parquet", f"reference: {target}\n    quality: {{missing_share: 0.1}}"
    )
    (tmp_path / "c.yaml").write_text(config, encoding="utf-8")
    d = Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)
    try:
        d.handle(messages(current))
        result = d.run_check("m").as_dict()
    finally:
        d.store.close()
        if d.labels is not None:
            d.labels.close()
    return dict(result)


def command(reference: Path, current: Path, capsys: pytest.CaptureFixture[str], form: str) -> str:
    code = main(
        [
            *("check", "-r", str(reference), "-u", str(current), "--prediction-column", "probs"),
            *("--task", "multiclass_classification", "--label-column", "label", "-f", form),
        ]
    )
    out, _ = capsys.readouterr()
    assert code in (0, 1)
    return out


def classes_of(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with each map replaced by its most probable class, read independently of driftwatch."""
    return frame.assign(probs=[max(m, key=m.get) for m in frame["probs"]])


@pytest.mark.parametrize("window", ["shifted", "undrifted"])
def test_every_path_checks_the_predicted_class(
    files: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], window: str
) -> None:
    directory = files["dir"]
    daemon = daemon_drift(tmp_path, directory / "reference.parquet", files[window])
    offline = json.loads(
        command(directory / "reference.parquet", directory / f"{window}.parquet", capsys, "json")
    )
    library = api.check(files["reference"], files[window], prediction="probs").to_dict()["prediction_drift"]
    # the drift of the predicted class, a categorical column
    oracle = api.check(classes_of(files["reference"]), classes_of(files[window]), prediction="probs")
    expected = oracle.to_dict()["prediction_drift"]
    assert expected["type"] == "categorical"
    for where, drift in (
        ("daemon", daemon["prediction_drift"]),
        ("offline", offline["prediction_drift"]),
        ("api", library),
    ):
        assert drift["type"] == "categorical", where
        assert drift["method"] == expected["method"], where
        assert drift["score"] == pytest.approx(expected["score"], rel=1e-12), where
        assert drift["drift_detected"] is expected["drift_detected"], where
        # every row has a predicted class, and it is one the reference predicted: nothing is missing
        quality = drift["quality"]
        assert quality["missing_share"] == 0 and quality["missing_share_reference"] == 0, where
        assert quality["unseen_share"] == 0 and quality["type_violations"] == 0, where
    # a shift of the mix of predicted classes is detected, an undrifted window is not
    assert expected["drift_detected"] is (window == "shifted")
    # the data-quality limits watch the features, not the prediction: no missing-data breach for it
    assert daemon["data_quality"]["status"] == "ok"
    assert "probs" not in daemon["data_quality"]["limits"]


def test_the_html_report_compares_the_predicted_classes_as_the_json_does(
    files: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    directory = files["dir"]
    reference, current = directory / "reference.parquet", directory / "shifted.parquet"
    drift = json.loads(command(reference, current, capsys, "json"))["prediction_drift"]
    page = command(reference, current, capsys, "html")
    # Evidently's own test of the prediction column, on the predicted classes: the check's method and score
    counter = re.search(r"Drift in column 'probs'\", \"label\": \"([^\"]*)\"", page)
    assert counter is not None, "no Evidently drift counter for the prediction column"
    label = counter.group(1)
    assert "Jensen-Shannon distance" in label and drift["method"] == "jensenshannon"
    assert f"Drift score: {drift['score']:.3f}" in label
    assert label.startswith("Data drift detected") is drift["drift_detected"]
    assert "'a': 0." not in page and '"a": 0.' not in page  # no map shown as a category
    assert f"probs: drift detected (jensenshannon score {drift['score']:.4f}" in page
    table = command(reference, current, capsys, "table")
    assert f"prediction probs: jensenshannon score {drift['score']:.4f}" in table


def test_a_saved_profile_gives_what_the_raw_reference_gives(
    files: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    directory = files["dir"]
    profile, raw = directory / "profile", directory / "reference.parquet"
    for window in ("shifted", "undrifted"):
        current = directory / f"{window}.parquet"
        from_raw = json.loads(command(raw, current, capsys, "json"))["prediction_drift"]
        from_profile = json.loads(command(profile, current, capsys, "json"))["prediction_drift"]
        assert from_profile == from_raw, window
        daemon_raw = daemon_drift(tmp_path / f"raw-{window}", raw, files[window])["prediction_drift"]
        daemon_profile = daemon_drift(tmp_path / f"profile-{window}", profile, files[window])[
            "prediction_drift"
        ]
        assert daemon_profile == daemon_raw, window
        assert daemon_raw["method"] == from_raw["method"], window
        assert daemon_raw["score"] == pytest.approx(from_raw["score"], rel=1e-12), window
        assert daemon_raw["drift_detected"] is from_raw["drift_detected"], window


def test_segment_scopes_check_the_predicted_class_as_the_command_does(tmp_path: Path) -> None:
    """A model segmented by a feature: each scope's prediction drift is its predicted classes', as
    `driftwatch.check(segment=...)` gives for the same segment."""
    rng = np.random.default_rng(12)
    reference, current = draw(rng, 2000), draw(rng, 600, shift=-1.2)
    reference["g"] = rng.choice(["u", "v"], len(reference))
    current["g"] = rng.choice(["u", "v"], len(current))
    reference.to_parquet(tmp_path / "ref.parquet")
    config = CONFIG.format(performance="null").replace(
        "features: [x, z]",
        "features: [x, z, {name: g, type: categorical}]\n"
        "    segments: {columns: [g], top_k: 3, min_rows: 50, stability: {promote_after: 1}}",
    )
    (tmp_path / "c.yaml").write_text(config, encoding="utf-8")
    d = Daemon(load_settings(tmp_path / "c.yaml"), clock=lambda: NOW)
    records = [
        {
            "model": "m",
            "timestamp": NOW - 60,
            "features": {"x": r.x, "z": r.z, "g": r.g},
            "prediction": r.probs,
        }
        for r in current.itertuples()
    ]
    try:
        d.handle([Msg(json.dumps(record).encode(), offset=i) for i, record in enumerate(records)])
        d.run_check("m")
        scopes = d.results()["m"]["scopes"]
    finally:
        d.store.close()
    library = api.check(reference, current, prediction="probs", segment="g", segment_min_rows=50).segments
    assert set(library) == {"g=u", "g=v"}
    for segment, report in library.items():
        expected = report.to_dict()["prediction_drift"]
        drift = scopes[segment]["prediction_drift"]
        assert drift["type"] == "categorical" and drift["quality"]["missing_share"] == 0, segment
        assert drift["method"] == expected["method"], segment
        assert drift["score"] == pytest.approx(expected["score"], rel=1e-9), segment
        assert drift["drift_detected"] is expected["drift_detected"], segment


def test_a_tie_goes_to_the_first_class_of_the_models_order(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rounded probabilities tie: with the classes configured [b, a, c], a 50/50 map of a and b
    predicted b, as performance grades it. The reference's ties are then the current data's sure b's
    (no drift); read in sorted order they would be a's, and b would be a class never seen."""
    # every map names every class: a Parquet struct column fills a class a row leaves out with null
    tie = {"a": 0.5, "b": 0.5, "c": 0.0}
    sure_a, sure_b, sure_c = (
        {"a": 0.9, "b": 0.1, "c": 0.0},
        {"a": 0.1, "b": 0.9, "c": 0.0},
        {"a": 0.2, "b": 0.0, "c": 0.8},
    )
    rng = np.random.default_rng(13)

    def frame(first: dict[str, float], rows: int) -> pd.DataFrame:
        maps = [first] * (4 * rows // 10) + [sure_a] * (3 * rows // 10) + [sure_c] * (3 * rows // 10)
        return pd.DataFrame(
            {
                "x": rng.normal(size=len(maps)),
                "z": rng.normal(size=len(maps)),
                "probs": maps,
                "label": [max(m, key=m.get) for m in maps],
            }
        )

    reference, current = frame(tie, 1000), frame(sure_b, 500)
    reference.to_parquet(tmp_path / "ref.parquet")
    current.to_parquet(tmp_path / "cur.parquet")
    order = ["b", "a", "c"]
    library = api.check(reference, current, prediction="probs", classes=order).to_dict()["prediction_drift"]
    sorted_order = api.check(reference, current, prediction="probs").to_dict()["prediction_drift"]
    assert library["drift_detected"] is False and library["quality"]["unseen_share"] == 0
    assert sorted_order["drift_detected"] is True and sorted_order["quality"]["unseen_share"] > 0
    saved = api.profile(reference, prediction="probs", label="label", classes=order)
    assert (
        api.check(saved, current, prediction="probs", classes=order).to_dict()["prediction_drift"] == library
    )
    config = CONFIG.format(
        performance="{task: multiclass_classification, label: label, classes: [b, a, c], estimate: false}"
    )
    (tmp_path / "c.yaml").write_text(config, encoding="utf-8")
    # the profile the command saves with the model's config breaks ties alike
    profile = ["profile", "-r", str(tmp_path / "ref.parquet"), "-o", str(tmp_path / "prof")]
    assert main([*profile, "--config", str(tmp_path / "c.yaml"), "--model", "m"]) == 0
    (tmp_path / "p.yaml").write_text(
        config.replace("reference: ref.parquet", "reference: prof"), encoding="utf-8"
    )
    results = {}
    for where, file in (("daemon", "c.yaml"), ("daemon on the profile", "p.yaml")):
        d = Daemon(load_settings(tmp_path / file), clock=lambda: NOW)
        try:
            d.handle(messages(current))
            results[where] = d.run_check("m").as_dict()["prediction_drift"]
        finally:
            d.store.close()
            if d.labels is not None:
                d.labels.close()
        (tmp_path / "state.sqlite").unlink()
    for where, drift in results.items():
        assert drift["method"] == library["method"], where
        assert drift["score"] == pytest.approx(library["score"], abs=1e-12), where
        assert drift["drift_detected"] is False, where


def test_decoding_only_the_sample_reads_the_same_predicted_classes(
    files: dict[str, Any], tmp_path: Path
) -> None:
    directory = files["dir"]
    whole = daemon_drift(tmp_path / "all", directory / "reference.parquet", files["shifted"])
    config = CONFIG.replace("topic: predictions}}", "topic: predictions, decode: sampled}}")
    assert config != CONFIG
    (tmp_path / "sampled").mkdir()
    shutil.copy(directory / "reference.parquet", tmp_path / "sampled" / "ref.parquet")
    (tmp_path / "sampled" / "c.yaml").write_text(config.format(performance="null"), encoding="utf-8")
    d = Daemon(load_settings(tmp_path / "sampled" / "c.yaml"), clock=lambda: NOW)
    try:
        d.handle(messages(files["shifted"]))
        sampled = d.run_check("m").as_dict()["prediction_drift"]
    finally:
        d.store.close()
    assert sampled == whole["prediction_drift"]
