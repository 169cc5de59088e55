"""`driftwatch check --segment COLUMN`: each segment of a categorical column, checked as a file of its own.

A segment's result must be the whole-file check of its rows: the test writes each segment's current
rows and the reference's rows of the same value to files of their own and runs the ordinary check on
them (same numbers). The table, the JSON and the HTML must agree on every segment's verdict, and the
Python API must give the command's JSON. Also: the top K (ties by text), missing values, numeric-looking
values ("1" and 1 are one), `other`, a segment below --segment-min-rows, the exit codes and the errors.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import driftwatch
from driftwatch.drift.profile import category_keys
from driftwatch.offline import SegmentKey, segment_keys
from tests.clirun import CliResult, driftwatch_cli

SEGMENT_MIN_ROWS = "250"
# the current file: DE and FR tie (DE first, by its text), ES third; IT and PT are `other`; 100 missing
CURRENT_COUNTS = {"DE": 800, "FR": 800, "ES": 400, "IT": 200, "PT": 100, None: 100}
# the reference: the same countries in about the same shares (no drift of the country column itself)
REFERENCE_COUNTS = {"DE": 1000, "FR": 1000, "ES": 500, "IT": 250, "PT": 100, None: 50}


def _countries(counts: dict[str | None, int], rng: np.random.Generator) -> np.ndarray[Any, Any]:
    values = np.array([v for v, n in counts.items() for _ in range(n)], dtype=object)
    rng.shuffle(values)
    return values


def frames(shift: bool = True, seed: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame of the same population, but (``shift``) the ages and incomes of
    ES, a sixth of the current rows: enough for ES's rows to drift, too little for the whole file's."""
    rng = np.random.default_rng(seed)

    def make(counts: dict[str | None, int]) -> pd.DataFrame:
        country = _countries(counts, rng)
        n = len(country)
        return pd.DataFrame(
            {
                "age": rng.normal(40, 10, n),
                "income": rng.lognormal(8, 0.4, n),
                "plan": rng.choice(["basic", "plus", "pro"], n, p=[0.6, 0.3, 0.1]),
                "country": country,
            }
        )

    reference, current = make(REFERENCE_COUNTS), make(CURRENT_COUNTS)
    if shift:
        current.loc[current["country"] == "ES", "age"] += 4.0
        current.loc[current["country"] == "ES", "income"] *= 1.15
    return reference, current


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    directory = tmp_path_factory.mktemp("segments")
    reference, current = frames()
    same = frames(shift=False, seed=6)[1]
    out = {name: directory / f"{name}.parquet" for name in ("ref", "cur", "same", "ref_without")}
    reference.to_parquet(out["ref"], index=False)
    current.to_parquet(out["cur"], index=False)
    same.to_parquet(out["same"], index=False)
    reference.drop(columns="country").to_parquet(out["ref_without"], index=False)
    out["cur_csv"] = directory / "cur.csv"
    current.to_csv(out["cur_csv"], index=False)
    return out


def check(*args: str) -> CliResult:
    return driftwatch_cli("check", *args)


def segmented(files: dict[str, Path], *extra: str, current: str = "cur") -> CliResult:
    return check(
        "-r",
        str(files["ref"]),
        "-u",
        str(files[current]),
        "--segment",
        "country",
        "--top-k",
        "3",
        "--segment-min-rows",
        SEGMENT_MIN_ROWS,
        *extra,
    )


@pytest.fixture(scope="module")
def as_json(files: dict[str, Path]) -> dict[str, Any]:
    result = segmented(files, "-f", "json")
    assert result.returncode == 1, result.stderr  # ES drifts
    out: dict[str, Any] = json.loads(result.stdout)
    return out


def key(value: object) -> str | None:
    """The canonical key, spelled out independently of `category_keys`."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


# -- which segments ----------------------------------------------------------------------------------


def test_top_k_ties_by_text_then_missing_then_other(as_json: dict[str, Any]) -> None:
    segments = {s["segment"]: s for s in as_json["segments"]}
    assert list(segments) == [
        "country=DE",
        "country=FR",
        "country=ES",
        "country:missing",
        "country:other",
    ]
    assert [segments[s]["rows"] for s in segments] == [800, 800, 400, 100, 300]
    assert segments["country:other"]["reference_rows"] == 350  # IT and PT: not among the top 3
    assert segments["country:missing"]["reference_rows"] == 50
    assert segments["country=DE"]["share_of_rows"] == pytest.approx(800 / 2400)
    assert sum(s["rows"] for s in segments.values()) == as_json["rows"]


def test_a_tie_at_the_cut_goes_to_the_value_first_by_its_text() -> None:
    values = pd.Series(["FR"] * 5 + ["DE"] * 5 + ["ES"] * 7 + [None] * 9)
    top, keys = segment_keys(values, 2)
    assert top == ["ES", "DE"]  # missing is its own segment, never among the top K
    assert segment_keys(values.iloc[::-1].reset_index(drop=True), 2)[0] == top  # not the order of rows
    assert list(keys[:1]) == ["FR"] and keys[-1] is None


def test_numeric_looking_values_are_one_value_whatever_their_type() -> None:
    top, keys = segment_keys(pd.Series([1, 1.0, "1", 2.0, None, np.nan, "2", "x"], dtype=object), 5)
    assert top == ["1", "2", "x"]
    assert list(keys) == list(category_keys([1, 1.0, "1", 2.0, None, np.nan, "2", "x"]))
    labels = [SegmentKey("store", "1").label, SegmentKey("store", None, "missing").label]
    assert (
        labels == ["store=1", "store:missing"] and SegmentKey("store", None, "other").label == "store:other"
    )


def test_numbers_in_the_current_file_meet_text_in_the_reference(tmp_path: Path) -> None:
    """A store number written as 1.0 (a float column with gaps) is the reference's "1"."""
    rng = np.random.default_rng(8)
    reference = pd.DataFrame({"x": rng.normal(size=900), "store": rng.choice(["1", "2", "3"], 900)})
    current = pd.DataFrame({"x": rng.normal(size=600), "store": rng.choice([1.0, 2.0, np.nan], 600)})
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    current.to_parquet(tmp_path / "cur.parquet", index=False)
    result = check(
        "-r", str(tmp_path / "ref.parquet"), "-u", str(tmp_path / "cur.parquet"), "--segment", "store",
        "--segment-min-rows", "1", "--min-rows", "1", "-f", "json",
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr
    segments = {s["segment"]: s for s in json.loads(result.stdout)["segments"]}
    assert set(segments) == {"store=1", "store=2", "store:missing"}
    for value in ("1", "2"):
        assert segments[f"store={value}"]["rows"] == int((current["store"] == float(value)).sum())
        assert segments[f"store={value}"]["reference_rows"] == int((reference["store"] == value).sum())
    # the reference has no missing store: that segment is compared with the whole reference, and says so
    assert segments["store:missing"]["reference_rows"] == len(reference)
    assert any("no rows of store:missing" in note for note in json.loads(result.stdout)["segment_notes"])


# -- a segment is the whole-file check of its rows -----------------------------------------------------


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_each_segment_equals_the_ordinary_check_of_its_rows_written_to_files(
    kind: str, files: dict[str, Path], as_json: dict[str, Any], tmp_path: Path
) -> None:
    reference, current = pd.read_parquet(files["ref"]), pd.read_parquet(files["cur"])
    top = ["DE", "FR", "ES"]
    ref_keys, cur_keys = reference["country"].map(key), current["country"].map(key)

    def rows(keys: pd.Series, segment: str) -> pd.Series:
        if segment == "country:missing":
            return keys.isna()
        if segment == "country:other":
            return keys.notna() & ~keys.isin(top)
        return keys == segment.split("=", 1)[1]

    compared = 0
    for segment in as_json["segments"]:
        label = segment["segment"]
        ref_rows = reference[rows(ref_keys, label)]
        cur_rows = current[rows(cur_keys, label)]
        ref_path, cur_path = tmp_path / f"{label}-ref.{kind}", tmp_path / f"{label}-cur.{kind}"
        for frame, path in ((ref_rows, ref_path), (cur_rows, cur_path)):
            if kind == "csv":
                frame.to_csv(path, index=False)
            else:
                frame.to_parquet(path, index=False)
        plain = check(
            "-r", str(ref_path), "-u", str(cur_path), "--columns", "age,income,plan",
            "--min-rows", SEGMENT_MIN_ROWS, "-f", "json",
        )  # fmt: skip
        expected = json.loads(plain.stdout)
        got = {k: v for k, v in segment.items() if k not in ("segment", "share_of_rows")}
        if got["status"] == "ok":
            assert got == expected, label
        else:  # the reason names the segment and the flag; every other field is the same
            assert {k: v for k, v in got.items() if k != "reason"} == {
                k: v for k, v in expected.items() if k != "reason"
            }
            assert f"current file's segment {label} has {got['rows']} rows" in got["reason"]
            assert f"--segment-min-rows {SEGMENT_MIN_ROWS}" in got["reason"]
        compared += 1
    assert compared == 5


def test_the_segment_column_is_not_checked_within_its_segments(as_json: dict[str, Any]) -> None:
    whole = [c["column"] for c in as_json["columns"]]
    assert "country" in whole
    for segment in as_json["segments"]:
        assert "country" not in [c["column"] for c in segment["columns"]]
    assert (
        "country is not drift-checked within its own segments (it is constant there)"
        in as_json["segment_notes"]
    )


def test_a_reference_without_the_column_gives_the_whole_reference_noted_once(
    files: dict[str, Path],
) -> None:
    args = ["-r", str(files["ref_without"]), "-u", str(files["cur"]), "--segment", "country"]
    result = check(*args, "--top-k", "3", "--segment-min-rows", SEGMENT_MIN_ROWS)
    note = "--reference has no column 'country': each country segment is checked against the whole reference"
    assert result.stdout.count(note) == 1
    segments = json.loads(check(*args, "-f", "json").stdout)["segments"]
    assert {s["reference_rows"] for s in segments} == {sum(REFERENCE_COUNTS.values())}


# -- every format, the API -----------------------------------------------------------------------------


def table_verdicts(text: str) -> dict[str, tuple[str, str]]:
    """segment -> (status, verdict) from the table's Segments part."""
    part = text.split("\nSegments\n", 1)[1].splitlines()
    out = {}
    for line in part[2:]:
        if line.startswith(("note: ", "! ", "quality ")):
            continue
        cells = re.split(r"\s{2,}", line.strip())
        out[cells[0]] = (cells[2], cells[5])
    return out


def json_verdict(segment: dict[str, Any]) -> str:
    if segment["status"] != "ok":
        return "no verdict"
    return "DRIFT" if segment["dataset_drift"] else "no drift"


def test_table_json_and_html_agree_on_every_segment(
    files: dict[str, Path], as_json: dict[str, Any], tmp_path: Path
) -> None:
    expected = {s["segment"]: (s["status"], json_verdict(s)) for s in as_json["segments"]}
    assert expected["country=ES"] == ("ok", "DRIFT")
    assert expected["country:missing"] == ("not_enough_rows", "no verdict")

    table = segmented(files)
    assert table.returncode == 1
    assert table_verdicts(table.stdout) == expected

    page_path = tmp_path / "report.html"
    page = segmented(files, "-f", "html", "-o", str(page_path))
    assert page.returncode == 1
    text = page_path.read_text(encoding="utf-8")
    overview = re.findall(
        r'<tr data-segment="([^"]+)"><td>[^<]*</td><td>\d+</td><td>([a-z_]+)</td><td>[^<]*</td>'
        r"<td>[^<]*</td><td>([^<]+)</td></tr>",
        text,
    )
    assert {label: (status, verdict) for label, status, verdict in overview} == expected
    sections = re.findall(
        r'<section id="driftwatch-segment-\d+" class="driftwatch-segment" data-segment="([^"]+)">'
        r'.*?<tr data-key="dataset-drift"><th align="left">dataset drift</th><td>([^<]*)</td>',
        text,
        flags=re.DOTALL,
    )
    assert [label for label, _ in sections] == list(expected)
    for label, dataset in sections:
        segment = next(s for s in as_json["segments"] if s["segment"] == label)
        if segment["status"] != "ok":
            assert dataset.startswith(f"no verdict ({segment['status']})")
        else:
            verdict = "drift detected" if segment["dataset_drift"] else "no drift"
            assert dataset.startswith(f"{verdict}: {segment['n_drifted']} of {segment['n_columns']}")


def test_the_python_api_gives_the_commands_segments(files: dict[str, Path], as_json: dict[str, Any]) -> None:
    report = driftwatch.check(
        pd.read_parquet(files["ref"]),
        pd.read_parquet(files["cur"]),
        segment="country",
        top_k=3,
        segment_min_rows=int(SEGMENT_MIN_ROWS),
    )
    ours = report.to_dict()
    assert {k: v for k, v in ours.items() if k != "segments"} == {
        k: v for k, v in as_json.items() if k != "segments"
    }
    assert len(ours["segments"]) == len(as_json["segments"])
    for mine, theirs in zip(ours["segments"], as_json["segments"], strict=True):
        if theirs["reason"] is not None:  # the same reason, in the words of each
            assert mine["reason"] == theirs["reason"].replace("current file", "current data").replace(
                "--segment-min-rows", "segment_min_rows"
            )
        assert {k: v for k, v in mine.items() if k != "reason"} == {
            k: v for k, v in theirs.items() if k != "reason"
        }
    assert list(report.segments) == [s["segment"] for s in as_json["segments"]]
    assert report.segments["country=ES"].dataset_drift is True
    assert report.segments["country:missing"].status == "not_enough_rows"
    assert report.segment_notes == as_json["segment_notes"]


# -- exit codes and errors ---------------------------------------------------------------------------


def test_drift_in_a_segment_alone_exits_1(files: dict[str, Path], as_json: dict[str, Any]) -> None:
    assert as_json["dataset_drift"] is False  # the whole file: no dataset drift ...
    assert check("-r", str(files["ref"]), "-u", str(files["cur"])).returncode == 0
    assert segmented(files).returncode == 1  # ... but ES's rows drift


def test_no_drift_anywhere_exits_0_with_a_segment_below_min_rows(files: dict[str, Path]) -> None:
    result = segmented(files, "-f", "json", current="same")
    assert result.returncode == 0, result.stdout
    segments = {s["segment"]: s for s in json.loads(result.stdout)["segments"]}
    assert segments["country:missing"]["status"] == "not_enough_rows"  # listed, never exit 2
    assert {s["status"] for label, s in segments.items() if label != "country:missing"} == {"ok"}
    assert result.stderr == ""


def test_a_whole_file_without_a_verdict_exits_2_segments_listed(files: dict[str, Path]) -> None:
    result = segmented(files, "--min-rows", "5000", "-f", "json")
    assert result.returncode == 2
    out = json.loads(result.stdout)
    assert out["status"] == "not_enough_rows" and len(out["segments"]) == 5
    assert result.stderr.startswith("driftwatch: no verdict (not_enough_rows) on --current")


def test_without_segment_the_output_is_the_same(files: dict[str, Path]) -> None:
    args = ("-r", str(files["ref"]), "-u", str(files["cur"]))
    plain, segments = check(*args), segmented(files)
    assert segments.stdout.startswith(plain.stdout.rstrip("\n") + "\n\nSegments\n")
    assert "segments" not in json.loads(check(*args, "-f", "json").stdout)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--segment", "contry"],
            "--segment 'contry': the current file has no such column (it has age, income, plan, country); "
            "fix the name",
        ),
        (["--segment", "age"], "--segment 'age' is a numeric feature; segments need a categorical column"),
        (["--segment", "country", "--columns", "country"], "--segment 'country' is the only column checked"),
        (["--top-k", "3"], "--top-k 3 applies to segments: name their column with --segment COLUMN"),
        (["--segment", "country", "--top-k", "0"], "--top-k '0' must be a whole number of segments"),
        (["--segment", "country", "--segment-min-rows", "x"], "--segment-min-rows 'x' must be a whole"),
        (["--segment", "plan", "--segment", "plan"], "--segment plan is given twice"),
        (
            ["--segment", "a", "--segment", "b", "--segment", "c", "--segment", "d"],
            "at most 3 segment columns",
        ),
    ],
)
def test_bad_segment_flags_are_one_line_and_exit_2(
    extra: list[str], message: str, files: dict[str, Path]
) -> None:
    result = check("-r", str(files["ref"]), "-u", str(files["cur_csv"]), *extra)
    assert result.returncode == 2 and result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("driftwatch: ") and message in line


def test_a_segment_breaching_quality_limits_exits_1(files: dict[str, Path], tmp_path: Path) -> None:
    """The model's quality: limits apply to each segment as to the whole file: missing income only in
    ES (a sixth of the rows) breaches a 10% limit there, not in the whole file."""
    reference, current = frames(shift=False, seed=6)
    current.loc[current["country"] == "ES", "income"] = np.nan
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    current.to_parquet(tmp_path / "cur.parquet", index=False)
    config = tmp_path / "c.yaml"
    config.write_text(
        'kafka: {bootstrap_servers: "127.0.0.1:9", topic: t}\n'
        "models:\n  m:\n"
        f"    reference: {tmp_path / 'ref.parquet'}\n"
        "    features: [age, income, plan, {name: country, type: categorical}]\n"
        "    window: {min_rows: 250}\n"
        "    quality: {missing_share: 0.2}\n",
        encoding="utf-8",
    )
    args = ["-r", str(tmp_path / "ref.parquet"), "-u", str(tmp_path / "cur.parquet"), "-c", str(config)]
    args += ["-m", "m", "--segment", "country", "--top-k", "3"]
    result = check(*args, "-f", "json")
    out = json.loads(result.stdout)
    assert out["data_quality"]["status"] == "ok", out["data_quality"]
    segments = {s["segment"]: s for s in out["segments"]}
    assert segments["country=ES"]["data_quality"]["status"] == "breach"
    assert result.returncode == 1
    assert "quality country=ES: income: missing_share 1 above its limit 0.2" in check(*args).stdout


def test_a_saved_profile_gives_the_whole_reference_noted_once_in_every_format(
    files: dict[str, Path], tmp_path: Path
) -> None:
    profile = tmp_path / "profile"
    assert driftwatch_cli("profile", "-r", str(files["ref"]), "-o", str(profile)).returncode == 0
    args = ["-r", str(profile), "-u", str(files["cur"]), "--segment", "country", "--top-k", "3"]
    note = "--reference is a saved profile, which keeps no rows to split by country"
    assert check(*args).stdout.count(note) == 1
    out = json.loads(check(*args, "-f", "json").stdout)
    assert [n for n in out["segment_notes"] if n.startswith(note)] and json.dumps(out).count(note) == 1
    assert {s["reference_rows"] for s in out["segments"]} == {sum(REFERENCE_COUNTS.values())}
    page = tmp_path / "report.html"
    check(*args, "-f", "html", "-o", str(page))
    assert page.read_text(encoding="utf-8").count(note) == 1


def test_a_segments_performance_is_the_ordinary_checks_of_its_rows(tmp_path: Path) -> None:
    """With --task, each segment has the whole file's performance fields, of its rows and of the
    reference's rows of its value: the same as the ordinary check of those rows written to files."""
    rng = np.random.default_rng(12)

    def make(n: int) -> pd.DataFrame:
        frame = pd.DataFrame(
            {"x": rng.normal(size=n), "tier": rng.choice(["a", "b", "c"], n, p=[0.5, 0.3, 0.2])}
        )
        frame["score"] = rng.uniform(size=n)
        frame["label"] = (rng.uniform(size=n) < frame["score"]).astype(int)
        return frame

    reference, current = make(3000), make(2000)
    reference.to_parquet(tmp_path / "ref.parquet", index=False)
    current.to_parquet(tmp_path / "cur.parquet", index=False)
    task = ["--task", "binary_classification", "--prediction-column", "score", "--label-column", "label"]
    task += ["--min-rows", "100", "-f", "json"]
    result = check(
        "-r", str(tmp_path / "ref.parquet"), "-u", str(tmp_path / "cur.parquet"), "--segment", "tier", *task
    )
    segments = json.loads(result.stdout)["segments"]
    assert [s["segment"] for s in segments] == ["tier=a", "tier=b", "tier=c"]
    for segment in segments:
        value = segment["segment"].split("=", 1)[1]
        for name, frame in (("ref", reference), ("cur", current)):
            frame[frame["tier"] == value].to_parquet(tmp_path / f"{value}-{name}.parquet", index=False)
        plain = check(
            "-r", str(tmp_path / f"{value}-ref.parquet"), "-u", str(tmp_path / f"{value}-cur.parquet"),
            "--columns", "x", *task,
        )  # fmt: skip
        expected = json.loads(plain.stdout)
        assert {"performance", "estimated_performance", "reference_performance"} <= set(expected)
        assert {k: v for k, v in segment.items() if k not in ("segment", "share_of_rows")} == expected


def test_two_segment_columns_each_leave_out_only_their_own(files: dict[str, Path]) -> None:
    result = segmented(files, "--segment", "plan", "-f", "json")
    segments = json.loads(result.stdout)["segments"]
    labels = [s["segment"] for s in segments]
    assert labels[:5] == ["country=DE", "country=FR", "country=ES", "country:missing", "country:other"]
    assert labels[5:] == ["plan=basic", "plan=plus", "plan=pro"]  # three values: no `other`, no `missing`
    assert sum(s["status"] == "ok" for s in segments) == 7  # all but country:missing
    for segment in (s for s in segments if s["status"] == "ok"):  # no verdict: no column tested
        checked = {c["column"] for c in segment["columns"]}
        assert checked == {"age", "income", "plan", "country"} - {
            segment["segment"].split("=")[0].split(":")[0]
        }


def test_the_python_apis_segment_errors_name_its_arguments(files: dict[str, Path]) -> None:
    reference, current = pd.read_parquet(files["ref"]), pd.read_parquet(files["cur"])
    with pytest.raises(
        driftwatch.CheckError, match=r"^segment= 'contry': the current data has no such column"
    ):
        driftwatch.check(reference, current, segment="contry")
    with pytest.raises(driftwatch.CheckError, match=r"^segment= 'age' is a numeric feature.*\(features=\)"):
        driftwatch.check(reference, current, segment="age")
    with pytest.raises(driftwatch.CheckError, match="top_k 0 must be from 1 to 200"):
        driftwatch.check(reference, current, segment="country", top_k=0)
    with pytest.raises(driftwatch.CheckError, match="1 to 3 distinct columns"):
        driftwatch.check(reference, current, segment=["country", "country"])
    # a numeric column that is not a checked feature may segment: each number a value
    report = driftwatch.check(
        reference.assign(n=1), current.assign(n=1.0), features=["age"], segment="n", min_rows=1
    )
    assert list(report.segments) == ["n=1"] and report.segments["n=1"].rows == len(current)
