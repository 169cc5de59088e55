"""Regression performance estimated without labels (DLE) in the daemon and in ``driftwatch check``.

A regression model with ``performance: {task: regression, estimate: true}`` gets
``estimated_performance:mae`` and ``:rmse`` checks: the loss models are fitted once when the daemon
starts, on the reference's features, predictions and labels (or a saved profile's, which must give
the same numbers), and every check estimates from the window's features and predictions alone. A
covariate shift toward inputs where the model errs more raises the estimate and fires the alert
before any label arrives; the offline check of the same rows gives the same estimate.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pandas as pd
import pytest

from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.performance.dle import DLE
from driftwatch.reference import ReferenceDataError
from driftwatch.report import performance_section
from driftwatch.service.daemon import Daemon
from driftwatch.service.metrics import series_budget_of
from tests.conformance.dle_cases import heteroscedastic
from tests.conformance.test_daemon_performance import SCHEMA, Clock, Msg, sample

FEATURES = ["x0", "x1", "x2", "region"]

CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  reg:
    reference: {reference}
    features: [x0, x1, x2, {{name: region, type: categorical}}]
    prediction: y_pred
    window: {{length: 1h, max_rows: 5000, min_rows: 50}}
    performance:
      task: regression
      label: y_true
      estimate: true
      estimate_thresholds: {{mae: {{max_drop: 0.15}}, rmse: {{max_drop: 0.15}}}}
state: {{path: state.sqlite}}
"""


@pytest.fixture(scope="module")
def frames() -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(31)
    return {
        "reference": heteroscedastic(rng, 4000),
        "calm": heteroscedastic(rng, 800),
        "shifted": heteroscedastic(rng, 800, shift=1.5),
    }


def _daemon(directory: Path, reference: str, clock: Clock) -> Daemon:
    (directory / "c.yaml").write_text(CONFIG.format(reference=reference), encoding="utf-8")
    return Daemon(load_settings(directory / "c.yaml"), clock=clock)


def _messages(frame: pd.DataFrame, at: float) -> list[Msg]:
    out = []
    for i, row in enumerate(frame.to_dict("records")):
        features: dict[str, Any] = {f: row[f] for f in FEATURES}
        features = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in features.items()}
        record = {"model": "reg", "timestamp": at - 60, "features": features, "prediction": row["y_pred"]}
        out.append(Msg(json.dumps(record).encode(), timestamp=int((at - 60) * 1000), offset=i))
    return out


def test_the_estimate_rises_with_a_covariate_shift_and_fires_before_labels(
    tmp_path: Path, frames: dict[str, pd.DataFrame]
) -> None:
    frames["reference"].to_csv(tmp_path / "ref.csv", index=False)
    clock = Clock()
    daemon = _daemon(tmp_path, "ref.csv", clock)
    try:
        monitor = daemon.joins["reg"]
        model = daemon.settings.models["reg"]
        assert model.performance is not None
        without = model.model_copy(
            update={"performance": model.performance.model_copy(update={"estimate": None})}
        )
        # the series budget counts the estimates (value, lower, upper per metric) and their two alerts
        assert series_budget_of(model) > series_budget_of(without) + 6
        assert monitor.dle is not None and monitor.dle.categorical == ("region",)
        assert (
            "estimated_performance:mae" in monitor.checks and "estimated_performance:rmse" in monitor.checks
        )

        daemon.handle(_messages(frames["calm"], clock.now))
        calm = daemon.run_check("reg")
        assert calm is not None and calm.performance is not None
        estimated = calm.performance.estimated
        assert estimated is not None and not estimated.breached
        assert estimated.rows == 800
        # the daemon's estimate is the library's on the same rows (sampled in another order)
        expected = DLE.fit(
            frames["reference"], FEATURES, "y_pred", "y_true", categorical=["region"]
        ).estimate(frames["calm"])
        assert estimated.estimates["mae"].value == pytest.approx(expected["mae"].value, rel=1e-9)
        assert sample(daemon, "driftwatch_estimated_performance", model="reg", metric="mae") == pytest.approx(
            expected["mae"].value, rel=1e-9
        )
        assert sample(daemon, "driftwatch_alert_active", model="reg", check="estimated_performance:mae") == 0

        clock.now += 7200  # the calm rows leave the window
        daemon.handle(_messages(frames["shifted"], clock.now))
        shifted = daemon.run_check("reg")
        assert shifted is not None and shifted.performance is not None
        breached = shifted.performance.estimated
        assert breached is not None and breached.breaches == {"mae": True, "rmse": True}
        assert breached.estimates["mae"].lower > estimated.estimates["mae"].upper
        assert sample(daemon, "driftwatch_alert_active", model="reg", check="estimated_performance:mae") == 1
        assert (
            sample(daemon, "driftwatch_estimated_performance_upper", model="reg", metric="rmse") is not None
        )

        latest = daemon.results()["reg"]["latest"]["performance"]["estimated"]
        assert latest["status"] == "breach" and latest["breaches"] == {"mae": True, "rmse": True}
        assert latest["calibration"] is None
        jsonschema.validate(
            {"result": shifted.as_dict()},
            {**SCHEMA, "required": [], "properties": {"result": SCHEMA["properties"]["result"]}},
        )
        status, rows = daemon.history_api("reg", {})
        assert status == 200
        assert isinstance(rows, list) and len(rows) == 2
        assert any("estimated_performance:mae" in json.dumps(row) for row in rows)
    finally:
        daemon.store.close()


def test_offline_check_gives_the_daemons_estimate(
    tmp_path: Path, frames: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    frames["reference"].to_csv(tmp_path / "ref.csv", index=False)
    frames["shifted"].drop(columns="y_true").to_csv(tmp_path / "current.csv", index=False)
    clock = Clock()
    daemon = _daemon(tmp_path, "ref.csv", clock)
    try:
        daemon.handle(_messages(frames["shifted"], clock.now))
        result = daemon.run_check("reg")
    finally:
        daemon.store.close()
    assert result is not None and result.performance is not None and result.performance.estimated is not None
    code = main(
        [
            *("check", "-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "current.csv")),
            *("-c", str(tmp_path / "c.yaml"), "-m", "reg", "-f", "json"),
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    offline = out["estimated_performance"]
    for metric in ("mae", "rmse"):
        ours = result.performance.estimated.estimates[metric]
        assert offline[metric]["value"] == pytest.approx(ours.value, rel=1e-9)
        assert offline[metric]["lower"] == pytest.approx(ours.lower, rel=1e-9)
        assert offline[metric]["upper"] == pytest.approx(ours.upper, rel=1e-9)
    assert "<th>estimated (DLE) [lower, upper]</th>" in performance_section(
        out["reference_performance"], {}, offline
    )


def test_a_saved_profile_gives_the_raw_references_answer(
    tmp_path: Path, frames: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    frames["reference"].to_csv(tmp_path / "ref.csv", index=False)
    _daemon(tmp_path, "ref.csv", Clock()).store.close()  # writes c.yaml
    assert (
        main(
            [
                *("profile", "-r", str(tmp_path / "ref.csv"), "-o", str(tmp_path / "prof")),
                *("-c", str(tmp_path / "c.yaml"), "-m", "reg"),
            ]
        )
        == 0
    )
    assert "and the features kept for performance" in capsys.readouterr().out
    answers = []
    for reference, directory in (
        ("ref.csv", tmp_path / "raw"),
        (str(tmp_path / "prof"), tmp_path / "profiled"),
    ):
        directory.mkdir()
        clock = Clock()
        daemon = _daemon(directory, reference if reference != "ref.csv" else str(tmp_path / "ref.csv"), clock)
        try:
            daemon.handle(_messages(frames["shifted"], clock.now))
            result = daemon.run_check("reg")
        finally:
            daemon.store.close()
        assert (
            result is not None and result.performance is not None and result.performance.estimated is not None
        )
        answers.append({m: e.as_dict() for m, e in result.performance.estimated.estimates.items()})
    assert answers[0] == answers[1]
    # and so does driftwatch check with the profile as its reference
    frames["shifted"].drop(columns="y_true").to_csv(tmp_path / "current.csv", index=False)
    capsys.readouterr()
    main(
        [
            *("check", "-r", str(tmp_path / "prof"), "-u", str(tmp_path / "current.csv")),
            *("-c", str(tmp_path / "c.yaml"), "-m", "reg", "-f", "json"),
        ]
    )
    offline = json.loads(capsys.readouterr().out)["estimated_performance"]
    assert {m: offline[m]["value"] for m in offline} == pytest.approx(
        {m: a["value"] for m, a in answers[0].items()}
    )

    # a profile kept for classification (prediction and label only) cannot refit the loss models
    assert (
        main(
            [
                *("profile", "-r", str(tmp_path / "ref.csv"), "-o", str(tmp_path / "bare")),
                *("--prediction-column", "y_pred", "--label-column", "y_true"),
            ]
        )
        == 0
    )
    (tmp_path / "bare-run").mkdir()
    with pytest.raises(
        ReferenceDataError, match=r"no feature column\(s\) x0, x1, x2, region.*driftwatch profile --config"
    ):
        _daemon(tmp_path / "bare-run", str(tmp_path / "bare"), Clock())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.head(60),
            r"models\.reg\.performance\.estimate: the reference has 60 rows with both a prediction in 'y_pred' and a label in 'y_true'.*at least 100",
        ),
        (
            lambda f: f.assign(y_true=np.nan),
            r"models\.reg\.performance: no reference row has both 'y_pred' and 'y_true'",
        ),
        (lambda f: f.assign(y_pred="high"), r"models\.reg\.performance.*'high'"),
    ],
)
def test_a_reference_dle_cannot_fit_is_refused_at_start(
    tmp_path: Path, frames: dict[str, pd.DataFrame], change: Any, message: str
) -> None:
    change(frames["reference"]).to_csv(tmp_path / "ref.csv", index=False)
    with pytest.raises(ReferenceDataError, match=message):
        _daemon(tmp_path, "ref.csv", Clock())


def test_the_daemon_scores_the_estimate_on_the_labelled_rows_as_the_command_does(
    tmp_path: Path, frames: dict[str, pd.DataFrame], capsys: pytest.CaptureFixture[str]
) -> None:
    """Labels come inline for two rows in three: the label join keeps each row's features beside its
    prediction, so the daemon estimates exactly the labelled rows with DLE and scores the estimate
    against their realized mae and rmse; `driftwatch check` and `driftwatch.estimate_error` on the
    same rows give the same evaluation, with missing values and an unseen region among them."""
    import driftwatch

    frames["reference"].to_csv(tmp_path / "ref.csv", index=False)
    current = frames["shifted"].copy()
    current.loc[current.index[::3], "y_true"] = np.nan
    clock = Clock()
    config = CONFIG.format(reference="ref.csv").replace(
        "estimate: true", "estimate: true\n      min_labels: 30"
    )
    (tmp_path / "c.yaml").write_text(config, encoding="utf-8")
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)
    try:
        messages = _messages(current, clock.now)
        for i, (message, label) in enumerate(zip(messages, current["y_true"], strict=True)):
            record = json.loads(message.value or b"{}")
            record["prediction_id"] = f"p{i}"
            record["label"] = None if np.isnan(label) else float(label)
            message.value = json.dumps(record).encode()
        daemon.handle(messages)
        result = daemon.run_check("reg")
        assert daemon.labels is not None
        _, kept = daemon.labels.joined_features("reg", 0.0, np.inf)
        assert kept is not None and list(kept) == FEATURES
    finally:
        daemon.store.close()
    assert result is not None and result.performance is not None
    scored = result.performance.estimate_error
    labelled = int(current["y_true"].notna().sum())
    assert scored is not None and scored.rows == labelled
    assert set(scored.metrics) == {"mae", "rmse"}
    for metric in ("mae", "rmse"):
        assert sample(
            daemon, "driftwatch_estimated_performance_error", model="reg", metric=metric
        ) == pytest.approx(scored.metrics[metric].error, rel=1e-12)
    current.to_csv(tmp_path / "current.csv", index=False)
    main(
        [
            *("check", "-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "current.csv")),
            *("-c", str(tmp_path / "c.yaml"), "-m", "reg", "-f", "json"),
        ]
    )
    offline = json.loads(capsys.readouterr().out)["estimate_error"]
    assert offline["rows"] == labelled
    main(
        [
            *("check", "-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "current.csv")),
            *("-c", str(tmp_path / "c.yaml"), "-m", "reg", "-f", "html"),
        ]
    )
    page = capsys.readouterr().out
    assert f"<h3>Estimate error on the {labelled} labelled rows</h3>" in page
    assert f"<td>{scored.metrics['mae'].error:+.4f}</td>" in page
    for metric in ("mae", "rmse"):
        ours = scored.metrics[metric].as_dict()
        for key, value in offline["metrics"][metric].items():
            assert value == pytest.approx(ours[key], rel=1e-9), (metric, key)
    library = driftwatch.estimate_error(
        pd.read_csv(tmp_path / "ref.csv"),
        pd.read_csv(tmp_path / "current.csv"),
        prediction="y_pred",
        label="y_true",
        task="regression",
        features=FEATURES,
        categorical=["region"],
        min_labels=30,
    )
    assert library.errors == pytest.approx(scored.errors, rel=1e-9)
