"""`driftwatch check` on small files: "not enough rows" and "no data" mean what they mean in the daemon.

A current file of fewer rows than ``--min-rows`` (default: the model's ``window.min_rows``, else the
daemon's default) gets no verdict: the same status, reason, rows and min_rows as the daemon's result
for a window of that size, null verdict fields, and exit 2 in every format. Also: the HTML summary
lists the quality breaches the table and the JSON list.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from driftwatch.checks.window import no_verdict_reason
from driftwatch.cli.main import main
from driftwatch.config import MIN_ROWS_DEFAULT, load_settings
from driftwatch.drift.quality import QualityBreach
from driftwatch.service.daemon import Daemon
from tests.conformance.test_report_page import NOW, Msg, summary
from tests.conformance.test_report_page import Clock as ReportClock
from tests.conformance.test_report_page import frame as report_frame
from tests.unit.test_no_data import Clock, get, shifted, write_config

VERDICT_FIELDS = ("dataset_drift", "drift_share", "n_drifted", "n_columns")


def frame(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    """Continuous amounts and a categorical: the mix whose distance tests flag small null samples."""
    return pd.DataFrame(
        {
            "amount": rng.lognormal(3.0, 1.0, rows),
            "score": rng.normal(0.0, 1.0, rows),
            "tenure": rng.gamma(2.0, 3.0, rows),
            "plan": rng.choice(["basic", "plus", "pro"], rows, p=[0.6, 0.3, 0.1]),
        }
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 5000-row reference and current files drawn from the same population (no drift at all)."""
    directory = tmp_path_factory.mktemp("small")
    rng = np.random.default_rng(11)
    out = {"ref": directory / "ref.csv"}
    frame(rng, 5000).to_csv(out["ref"], index=False)
    for rows in (50, MIN_ROWS_DEFAULT - 1, MIN_ROWS_DEFAULT):
        out[str(rows)] = directory / f"cur{rows}.csv"
        frame(rng, rows).to_csv(out[str(rows)], index=False)
    return out


def check(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["check", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fmt", ["table", "json", "html"])
def test_a_small_file_gets_no_verdict_and_exit_2_in_every_format(
    fmt: str, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("-r", str(files["ref"]), "-u", str(files["50"]))
    code, out, err = check(capsys, *args, "-f", "json")
    as_json = json.loads(out)
    assert code == 2 and as_json["status"] == "not_enough_rows"
    reason = as_json["reason"]
    assert reason == no_verdict_reason(
        "not_enough_rows", 50, MIN_ROWS_DEFAULT, "the current file", "the default min_rows"
    )

    output = tmp_path / f"out.{fmt}"
    code, _, err = check(capsys, *args, "-f", fmt, "-o", str(output))
    assert code == 2
    (line,) = err.strip().splitlines()  # one line, naming the rows, min_rows and the fix
    assert line.startswith("driftwatch: no verdict (not_enough_rows)")
    assert "50 rows" in line and f"min_rows {MIN_ROWS_DEFAULT}" in line and "--min-rows" in line
    text = output.read_text(encoding="utf-8")
    if fmt == "table":
        assert text.strip() == f"no verdict (not_enough_rows): {reason}"  # one line, no empty table
    elif fmt == "json":
        assert json.loads(text) == as_json
        for field in VERDICT_FIELDS:
            assert as_json[field] is None, field
        assert as_json["rows"] == 50 and as_json["min_rows"] == MIN_ROWS_DEFAULT
        assert as_json["columns"] == [] and as_json["prediction_drift"] is None
    else:
        rows = summary(text).rows
        assert rows["dataset-drift"] == f"no verdict (not_enough_rows): {reason}"
        assert rows["rows"] == "50"
        assert "Dataset Drift" not in text, "no Evidently verdict on a file too small for one"


def test_min_rows_1_gives_a_verdict_on_any_size_and_the_default_one_above(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    ref = ("-r", str(files["ref"]))
    code, out, err = check(capsys, *ref, "-u", str(files["50"]), "--min-rows", "1", "-f", "json")
    result = json.loads(out)
    assert code in (0, 1) and result["status"] == "ok" and result["reason"] is None, err
    assert result["min_rows"] == 1 and result["n_columns"] == 4
    # the boundary: min_rows rows have a verdict, one fewer none
    code, out, _ = check(capsys, *ref, "-u", str(files[str(MIN_ROWS_DEFAULT)]), "-f", "json")
    assert json.loads(out)["status"] == "ok" and code in (0, 1)
    code, out, _ = check(capsys, *ref, "-u", str(files[str(MIN_ROWS_DEFAULT - 1)]), "-f", "json")
    assert json.loads(out)["status"] == "not_enough_rows" and code == 2


def test_the_false_alarm_that_min_rows_prevents(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """50 unshifted rows against 5000: the distance tests' fixed thresholds flag them (Evidently's answer
    with --min-rows 1); the default answers no verdict instead."""
    ref = ("-r", str(files["ref"]), "-u", str(files["50"]))
    code, out, _ = check(capsys, *ref, "--min-rows", "1")
    assert code == 1 and "DATASET DRIFT" in out
    code, out, _ = check(capsys, *ref)
    assert code == 2 and out.startswith("no verdict (not_enough_rows)")


def model_config(tmp_path: Path, reference: Path, window: str, quality: str = "") -> Path:
    config = tmp_path / "c.yaml"
    config.write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: t}}
models:
  m:
    reference: {reference}
    features: [amount, score, tenure, {{name: plan, type: categorical}}]
    window: {window}
{quality}
""",
        encoding="utf-8",
    )
    return config


def test_the_default_is_the_models_window_min_rows_and_the_flag_overrides_it(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = model_config(tmp_path, files["ref"], "{length: 1h, max_rows: 5000, min_rows: 40}")
    model = ("-r", str(files["ref"]), "-u", str(files["50"]), "-c", str(config), "-m", "m", "-f", "json")
    code, out, err = check(capsys, *model)
    assert json.loads(out)["status"] == "ok" and json.loads(out)["min_rows"] == 40 and code in (0, 1), err
    code, out, err = check(capsys, *model, "--min-rows", "60")
    result = json.loads(out)
    assert (code, result["status"], result["min_rows"]) == (2, "not_enough_rows", 60)
    assert "fewer than --min-rows 60" in result["reason"] and "--min-rows" in err
    config = model_config(tmp_path, files["ref"], "{length: 1h, max_rows: 5000, min_rows: 80}")
    code, out, err = check(capsys, *model[:4], "-c", str(config), "-m", "m", "-f", "json")
    result = json.loads(out)
    assert (code, result["status"], result["min_rows"]) == (2, "not_enough_rows", 80)
    assert "fewer than model m's window.min_rows 80" in result["reason"]


@pytest.mark.parametrize("value", ["0", "-1", "abc", "2.5", "", "1e3"])
def test_a_bad_min_rows_is_one_line_and_exit_2(
    value: str, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = check(capsys, "-r", str(files["ref"]), "-u", str(files["50"]), f"--min-rows={value}")
    assert code == 2 and out == ""
    (line,) = err.strip().splitlines()
    assert line.startswith(f"driftwatch: --min-rows {value!r} must be a whole number of rows, at least 1")


def test_the_offline_answer_has_the_daemons_keys_and_words_for_a_window_of_the_same_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """20 rows, min_rows 50 (the model's): the daemon's /api/models and `check -f json` agree on the status,
    rows, min_rows, the null verdict and the reason (which differ only in naming a window or a file)."""
    config = write_config(tmp_path)  # test_no_data's model m, window.min_rows 50
    clock = Clock()
    daemon = Daemon(load_settings(config), clock=clock)
    daemon.http.start()
    try:
        messages = shifted(clock, 20)
        daemon.handle(messages)
        assert daemon.run_check("m").status == "not_enough_rows"
        online = json.loads(get(daemon, "/api/models/m"))["latest"]
    finally:
        daemon.http.stop()
        daemon.store.close()
    rows = [{**json.loads(m.value or b"{}")["features"], "score": 0.95} for m in messages]
    pd.DataFrame(rows).to_csv(tmp_path / "cur.csv", index=False)
    code, out, err = check(
        capsys, "-r", str(tmp_path / "ref.csv"), "-u", str(tmp_path / "cur.csv"), "-c", str(config), "-m", "m",
        "-f", "json",
    )  # fmt: skip
    offline = json.loads(out)
    assert code == 2 and "--min-rows" in err
    keys = ("status", "rows", "min_rows", *VERDICT_FIELDS, "columns", "prediction_drift")
    assert {k: offline[k] for k in keys} == {k: online[k] for k in keys}
    assert offline["status"] == "not_enough_rows" and offline["rows"] == 20 and offline["min_rows"] == 50
    assert online["reason"] == no_verdict_reason("not_enough_rows", 20, 50)
    assert offline["reason"] == no_verdict_reason(
        "not_enough_rows", 20, 50, "the current file", "model m's window.min_rows"
    )
    assert online["reason"].split(": ", 1)[1] == offline["reason"].split(": ", 1)[1]


def test_rows_without_a_usable_value_are_no_data_as_in_the_daemon(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every feature of every row missing: not "no drift, 0 of 0 columns" but no_data with the daemon's
    reason, the columns with their errors, and exit 2 in every format."""
    empty = pd.DataFrame({c: [np.nan] * 600 for c in ("amount", "score", "tenure", "plan")})
    empty.to_csv(tmp_path / "empty.csv", index=False)
    args = ("-r", str(files["ref"]), "-u", str(tmp_path / "empty.csv"))
    code, out, _ = check(capsys, *args, "-f", "json")
    result = json.loads(out)
    assert code == 2 and result["status"] == "no_data"
    assert result["reason"] == no_verdict_reason("no_data", 600, MIN_ROWS_DEFAULT, "the current file")
    assert [field for field in VERDICT_FIELDS if result[field] is not None] == []
    assert {c["column"] for c in result["columns"] if c.get("error")} == {"amount", "score", "tenure", "plan"}
    code, out, _ = check(capsys, *args)
    assert code == 2 and out.strip().splitlines()[-1] == f"no verdict (no_data): {result['reason']}"
    code, _, _ = check(capsys, *args, "-f", "html", "-o", str(tmp_path / "r.html"))
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert code == 2 and summary(page).rows["dataset-drift"] == f"no verdict (no_data): {result['reason']}"


@pytest.mark.parametrize("breached", [True, False])
def test_every_format_shows_the_same_quality_breaches(
    breached: bool, files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(4)
    current = frame(rng, 600)
    if breached:
        current.loc[:59, "amount"] = np.nan  # 10% missing
        current.loc[:89, "plan"] = "enterprise"  # 15% unseen
    current.to_csv(tmp_path / "cur.csv", index=False)
    quality = "    quality: {missing_share: 0.05, unseen_share: 0.1}"
    config = model_config(tmp_path, files["ref"], "{length: 1h, max_rows: 5000}", quality)
    args = ("-r", str(files["ref"]), "-u", str(tmp_path / "cur.csv"), "-c", str(config), "-m", "m")
    code, out, err = check(capsys, *args, "-f", "json")
    result = json.loads(out)
    assert result["status"] == "ok" and not result["dataset_drift"], err
    breaches = [QualityBreach(**b).text for b in result["data_quality"]["breaches"]]
    if breached:
        assert breaches == [
            "amount: missing_share 0.1 above its limit 0.05",
            "plan: unseen_share 0.15 above its limit 0.1",
        ]
    else:
        assert breaches == []
    assert code == int(breached)
    code, table, _ = check(capsys, *args)
    assert code == int(breached)
    assert [
        line.removeprefix("quality ") for line in table.splitlines() if line.startswith("quality ")
    ] == breaches
    code, _, _ = check(capsys, *args, "-f", "html", "-o", str(tmp_path / "r.html"))
    assert code == int(breached)
    row = summary((tmp_path / "r.html").read_text(encoding="utf-8")).rows["data-quality"]
    if breached:
        assert row == f"{len(breaches)} limit(s) breached: " + "; ".join(breaches)
    else:
        assert row == "within the limits"


def test_without_quality_limits_the_summary_has_no_quality_row(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = check(
        capsys, "-r", str(files["ref"]), "-u", str(files[str(MIN_ROWS_DEFAULT)]), "-f", "html", "-o",
        str(tmp_path / "r.html"),
    )  # fmt: skip
    assert code in (0, 1), err
    assert "data-quality" not in summary((tmp_path / "r.html").read_text(encoding="utf-8")).rows


def test_the_daemons_report_shows_the_quality_breaches_of_its_result(tmp_path: Path) -> None:
    """The same summary row in /reports/<model>/latest.html as in `check -f html`."""
    report_frame(600, seed=1, shift=0.0).to_csv(tmp_path / "ref.csv", index=False)
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {host: 127.0.0.1, port: 0}
models:
  credit-risk:
    reference: ref.csv
    features: [a, b, c, d]
    window: {length: 1h, max_rows: 5000, min_rows: 50}
    quality: {missing_share: 0.05}
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=ReportClock())
    try:
        window = report_frame(300, seed=2, shift=0.0)
        records = [
            {
                "model": "credit-risk",
                "timestamp": NOW - 600 + i,
                "features": {n: None if n == "a" and i < 30 else float(row[n]) for n in "abcd"},
            }
            for i, row in window.iterrows()
        ]
        daemon.handle([Msg(json.dumps(r).encode(), offset=i) for i, r in enumerate(records)])
        result = daemon.run_check("credit-risk")
        assert result.data_quality is not None
        breaches = [QualityBreach(**b).text for b in result.as_dict()["data_quality"]["breaches"]]
        assert breaches == ["a: missing_share 0.1 above its limit 0.05"]
        page = daemon.report_html("credit-risk")
        assert page is not None
        assert summary(page).rows["data-quality"] == "1 limit(s) breached: " + breaches[0]
    finally:
        daemon.store.close()
