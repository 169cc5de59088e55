"""The HTML report, from the daemon (/reports/<model>/latest.html) and from `driftwatch check -f html`.

Both pages say which model and which data they are about (the window's start, end and rows, or the
current file), show prediction drift, and list drifted columns first, also with p-value tests (where
Evidently's own order, by score, puts the undrifted columns first). A model with nothing to report on
gets a JSON 409 with the reason, an unknown model a 404.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from driftwatch.cli.main import main
from driftwatch.config import load_settings
from driftwatch.service.daemon import Daemon

NOW = 1_800_000_000.0
FEATURES = ["a", "b", "c", "d"]
SHIFTED = ["c", "d"]  # drifted in the window; a and b are not


@dataclass
class Msg:
    value: bytes | None
    topic: str = "predictions"
    timestamp: int = int(NOW * 1000) - 1000
    partition: int = 0
    offset: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def frame(rows: int, seed: int, shift: float) -> pd.DataFrame:
    """Four numeric features and a score; ``shift`` moves c, d and the score."""
    rng = np.random.default_rng(seed)
    data = {name: rng.normal(size=rows) + (shift if name in SHIFTED else 0.0) for name in FEATURES}
    data["score"] = np.clip(rng.uniform(size=rows) + shift / 4, 0, 1)
    return pd.DataFrame(data)


CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{host: 127.0.0.1, port: 0}}
models:
  credit-risk:
    reference: ref.csv
    features: [{features}]
    prediction: score
    window: {{length: 1h, max_rows: 5000, min_rows: 50}}
state: {{path: state.sqlite}}
"""


def make_daemon(tmp_path: Path, method: str = "ks", threshold: float = 0.05) -> Daemon:
    frame(600, seed=1, shift=0.0).to_csv(tmp_path / "ref.csv", index=False)
    features = ", ".join(f"{{name: {name}, method: {method}, threshold: {threshold}}}" for name in FEATURES)
    (tmp_path / "c.yaml").write_text(CONFIG.format(features=features), encoding="utf-8")
    return Daemon(load_settings(tmp_path / "c.yaml"), clock=Clock())


def feed(daemon: Daemon, rows: pd.DataFrame) -> None:
    messages = []
    for i, row in enumerate(rows.itertuples(index=False)):
        record = {
            "model": "credit-risk",
            "prediction_id": f"p{i}",
            "timestamp": NOW - 600 + i,
            "features": {name: float(getattr(row, name)) for name in FEATURES},
            "prediction": float(row.score),
        }
        messages.append(Msg(json.dumps(record).encode(), offset=i))
    daemon.handle(messages)


class Summary(HTMLParser):
    """driftwatch's summary section: the ``data-key`` rows as key -> text, the ``data-column`` rows in order."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, str] = {}
        self.columns: list[list[str]] = []
        self._key: str | None = None
        self._cell = False
        self._column: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("data-key"):
            self._key = attributes["data-key"]
        if tag == "tr" and attributes.get("data-column"):
            self._column = []
            self.columns.append(self._column)
        if tag == "td":
            self._cell = True
            if self._column is not None:
                self._column.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "td":
            self._cell = False
        if tag == "tr":
            self._key, self._column = None, None

    def handle_data(self, data: str) -> None:
        if self._cell and self._key is not None:
            self.rows[self._key] = self.rows.get(self._key, "") + data
        elif self._cell and self._column is not None:
            self._column[-1] += data


def summary(page: str) -> Summary:
    start = page.index('<section id="driftwatch-summary"')
    parser = Summary()
    parser.feed(page[start : page.index("</section>", start) + len("</section>")])
    return parser


def evidently_table(page: str) -> list[tuple[str, str]]:
    """(column, "Detected" | "Not Detected") of Evidently's drift table, in the order it shows them."""
    start = page.index('{"type": "big_table"')
    widget, _ = json.JSONDecoder().raw_decode(page, start)
    return [(row["column_name"], row["data_drift"]) for row in widget["params"]["data"]]


def test_the_daemon_report_names_the_model_window_rows_and_prediction_drift(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path)
    try:
        feed(daemon, frame(300, seed=2, shift=1.5))
        result = daemon.run_check("credit-risk")
        page = daemon.report_html("credit-risk")
        assert page is not None
        rows = summary(page).rows
        assert rows["model"] == "credit-risk"
        api = result.as_dict()
        assert rows["window"] == f"{api['window_start']} to {api['window_end']}"
        assert rows["rows"] == "300" == str(result.rows)
        assert rows["reference-rows"] == "600"
        assert result.prediction_drift is not None and result.prediction_drift.drift_detected
        assert rows["prediction-drift"].startswith("score: drift detected (")
        assert rows["dataset-drift"].startswith("drift detected: 2 of 4 columns drifted")
        assert "Drift check of credit-risk" in page
        # Evidently's own part shows the prediction drift too (a metric of its own, out of the share)
        assert "Drift is detected for 50.0% of columns (2 out of 4)." in page
        assert "score" in page[page.index('{"type": "big_table"') + 10 :]
    finally:
        daemon.store.close()


@pytest.mark.parametrize(("method", "threshold"), [("ks", 0.05), ("wasserstein", 0.5)])  # p-value, distance
def test_drifted_columns_come_first(tmp_path: Path, method: str, threshold: float) -> None:
    daemon = make_daemon(tmp_path, method, threshold)
    try:
        feed(daemon, frame(300, seed=3, shift=1.5))
        result = daemon.run_check("credit-risk")
        assert {c.column for c in result.drift.columns if c.drift_detected} == set(SHIFTED)
        page = daemon.report_html("credit-risk")
        assert page is not None
        table = evidently_table(page)
        assert [drift for _, drift in table] == ["Detected"] * 2 + ["Not Detected"] * 2, table
        assert {column for column, _ in table[:2]} == set(SHIFTED)
        ours = summary(page).columns
        assert [row[0] for row in ours[:2]] == SHIFTED and [row[5] for row in ours] == [
            "yes",
            "yes",
            "no",
            "no",
        ]
    finally:
        daemon.store.close()


def test_check_html_has_the_same_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame(600, seed=1, shift=0.0).to_csv(tmp_path / "ref.csv", index=False)
    frame(300, seed=3, shift=1.5).to_csv(tmp_path / "cur.csv", index=False)
    config = tmp_path / "c.yaml"
    features = ", ".join(f"{{name: {name}, method: ks}}" for name in FEATURES)
    config.write_text(CONFIG.format(features=features), encoding="utf-8")
    out = tmp_path / "report.html"
    args = ["check", "-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"), "-f"]
    code = main([*args, "html", "-o", str(out), "--config", str(config), "--model", "credit-risk"])
    assert code == 1  # drift
    page = out.read_text(encoding="utf-8")
    assert main([*args, "json", "--config", str(config), "--model", "credit-risk"]) == 1
    as_json = json.loads(capsys.readouterr().out)
    rows = summary(page).rows
    assert rows["model"] == "credit-risk"
    assert rows["current"] == str(tmp_path / "cur.csv")
    assert rows["rows"] == "300" and rows["reference-rows"] == "600"
    prediction = as_json["prediction_drift"]
    assert prediction["drift_detected"] and rows["prediction-drift"].startswith("score: drift detected (")
    table = evidently_table(page)
    assert [drift for _, drift in table] == ["Detected"] * 2 + ["Not Detected"] * 2, table
    detected = [c["column"] for c in as_json["columns"] if c["drift_detected"]]
    assert [row[0] for row in summary(page).columns[:2]] == detected == SHIFTED


# /reports/<model>/latest.html when there is nothing to report on


def fetch(daemon: Daemon, path: str) -> tuple[int, str, Any]:
    host, port = daemon.http.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=60) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], json.loads(exc.read())


def test_report_without_data_is_a_409_with_the_reason(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    daemon = make_daemon(tmp_path)
    daemon.http.start()
    try:
        status, kind, body = fetch(daemon, "/reports/credit-risk/latest.html")
        assert (status, kind) == (409, "application/json")
        assert body["error"].startswith("no check yet: model 'credit-risk'")

        daemon.run_check("credit-risk")  # an empty window: traffic stopped
        status, kind, body = fetch(daemon, "/reports/credit-risk/latest.html")
        assert (status, kind) == (409, "application/json")
        assert body["error"].startswith("no_data: model 'credit-risk', window ")
        assert "the window is empty" in body["error"]

        feed(daemon, frame(20, seed=3, shift=0.0))  # too few rows for a verdict: no report either
        daemon.run_check("credit-risk")
        status, kind, body = fetch(daemon, "/reports/credit-risk/latest.html")
        assert (status, kind) == (409, "application/json")
        assert body["error"].startswith("not_enough_rows: model 'credit-risk', window ")
        assert "fewer than window.min_rows 50" in body["error"]

        status, kind, body = fetch(daemon, "/reports/nope/latest.html")
        assert (status, kind) == (404, "application/json")
        assert body["models"] == ["credit-risk"]

        feed(daemon, frame(100, seed=4, shift=0.0))  # traffic again: the report is back
        daemon.run_check("credit-risk")
        status, kind, page = fetch(daemon, "/reports/credit-risk/latest.html")
        assert (status, kind) == (200, "text/html; charset=utf-8")
        assert summary(page).rows["rows"] == "120"  # the 20 rows before and these 100
    finally:
        daemon.http.stop()
        daemon.store.close()
    assert not [r for r in caplog.records if r.levelname in {"ERROR", "CRITICAL"}]


def records(features: list[str], rows: int = 50) -> list[Msg]:
    return [
        Msg(
            json.dumps(
                {
                    "model": "credit-risk",
                    "prediction_id": f"p{i}",
                    "timestamp": NOW - 60,
                    "features": {name: float(i % 7) for name in features},
                    "prediction": 0.3,
                }
            ).encode(),
            offset=i,
        )
        for i in range(rows)
    ]


def test_a_feature_without_values_in_the_window_is_listed_not_fatal(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path)
    try:
        daemon.handle(records(["a", "b", "c"]))  # d never logged
        result = daemon.run_check("credit-risk")
        assert [c.column for c in result.drift.errors] == ["d"]
        page = daemon.report_html("credit-risk")
        assert page is not None
        columns = {row[0]: row[5] for row in summary(page).columns}
        assert columns["d"].startswith("not tested: ") and set(columns) == set(FEATURES)
        assert {column for column, _ in evidently_table(page)} == {"a", "b", "c"}
    finally:
        daemon.store.close()


def test_a_window_without_any_testable_feature_is_a_409(tmp_path: Path) -> None:
    daemon = make_daemon(tmp_path)
    daemon.http.start()
    try:
        daemon.handle(records([]))  # rows, but no feature values at all
        result = daemon.run_check("credit-risk")
        assert result.rows == 50 and result.drift.n_columns == 0
        status, kind, body = fetch(daemon, "/reports/credit-risk/latest.html")
        assert (status, kind) == (409, "application/json")
        assert body["error"].startswith("no_data: model 'credit-risk', window ")
        assert "none of the window's 50 rows has a usable value of any feature" in body["error"]
    finally:
        daemon.http.stop()
        daemon.store.close()


def _display_name(method: str) -> str:
    """Evidently's display name of a method (registered per feature type: try both)."""
    from evidently.legacy.calculations.stattests.registry import get_registered_stattest
    from evidently.legacy.core import ColumnType as EvidentlyType

    for kind in (EvidentlyType.Numerical, EvidentlyType.Categorical):
        try:
            return str(get_registered_stattest(method, kind).display_name)
        except ValueError:  # not registered for this feature type
            continue
    raise AssertionError(f"Evidently has no method {method}")


def test_the_p_value_tests_of_the_report_order_are_those_of_the_catalogue() -> None:
    """`_drifted_first` knows p-value tests by Evidently's display names; each driftwatch method whose score
    is a p-value (high on identical samples) must be among them, and no distance."""
    from driftwatch.drift.dataset import ColumnOptions, column_drift
    from driftwatch.drift.profile import ReferenceProfile
    from driftwatch.drift.stattests import CATALOGUE
    from driftwatch.report import _P_VALUE_TESTS

    rng = np.random.default_rng(6)
    sample = pd.DataFrame({"numeric": rng.normal(size=200), "categorical": rng.choice(["x", "y"], size=200)})
    profile = ReferenceProfile.build(
        sample, ["numeric", "categorical"], {"numeric": "numeric", "categorical": "categorical"}
    )
    checked = 0
    for name, method in CATALOGUE.items():
        kind = method.column_types[0]
        same = column_drift(profile.columns[kind], sample[kind], ColumnOptions(name))
        if not np.isfinite(same.score):
            continue
        p_value = same.score > same.threshold  # identical samples: a p-value is high, a distance is 0
        display = _display_name(name)
        assert (display in _P_VALUE_TESTS) == p_value, (name, display, same.score)
        checked += 1
    assert checked >= len(CATALOGUE) - 2
