"""The ``segments:``, ``versions:`` and ``baseline:`` sections of a model: what a valid file becomes, and
every problem the loader (`load_settings`) and `driftwatch validate-config` (which also reads the
reference) report, each on one line naming the key, the value and the fix.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import pandas as pd
import pytest
import yaml

from driftwatch.cli.main import main
from driftwatch.config import ChallengerAlertSettings, ConfigError, json_schema, load_settings
from tests.clirun import driftwatch_cli

MODEL = "models.credit-risk"


def reference_frame(rows: int = 300) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": [20 + i % 50 for i in range(rows)],
            "income": [1000.0 + 7.5 * i for i in range(rows)],
            "country": [["DE", "FR", "ES", "IT"][i % 4] for i in range(rows)],
            "channel": [["web", "app"][i % 2] for i in range(rows)],
            "score": [(i % 10) / 10 for i in range(rows)],
            "label": [int(i % 10 >= 5) for i in range(rows)],
        }
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    reference_frame().to_csv(tmp_path / "ref.csv", index=False)
    reference_frame().to_parquet(tmp_path / "ref-v8.parquet", index=False)
    return tmp_path


def base() -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"},
        "models": {
            "credit-risk": {
                "reference": "ref.csv",
                "features": ["age", "income", {"name": "country", "type": "categorical"}],
                "prediction": "score",
                "window": {"length": "1h", "max_rows": 50000, "min_rows": 500},
            }
        },
    }


def with_model(**sections: Any) -> dict[str, Any]:
    raw = base()
    raw["models"]["credit-risk"].update(copy.deepcopy(sections))
    return raw


def write(directory: Path, raw: dict[str, Any] | str, name: str = "driftwatch.yaml") -> Path:
    path = directory / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def load_problems(path: Path) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    return problem_lines(str(info.value))


def cli_problems(path: Path) -> list[str]:
    result = driftwatch_cli("validate-config", str(path))
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    return problem_lines(result.stderr)


def problem_lines(text: str) -> list[str]:
    assert "Traceback" not in text
    head, *lines = text.strip().splitlines()
    assert "invalid configuration" in head and f"({len(lines)} problem(s))" in head, text
    assert lines and all(line.startswith("  - ") for line in lines), text
    return lines


def assert_one_line(lines: list[str], key: str, value: str, fix: str) -> None:
    """Exactly one problem, under ``key``, naming ``value`` and ``fix`` on the same line."""
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith(f"  - {key}: "), line
    message = line.removeprefix(f"  - {key}: ")
    assert value in message, (value, line)
    assert fix in message, (fix, line)


# Problems of the file itself: the loader and validate-config both refuse, with the same line.
# (case, sections of the model, key, the value as shown, the fix)
LOADER_CASES: list[tuple[str, dict[str, Any], str, str, str]] = [
    (
        "metadata segment column named like a feature",
        {"segments": {"columns": [{"column": "country", "source": "metadata"}]}},
        f"{MODEL}.segments.columns[0].column",
        "'country'",
        "segment by the feature (source: feature), or rename the metadata key",
    ),
    (
        "numeric feature as segment column",
        {
            "features": [{"name": "age", "type": "numeric"}, "income", "country"],
            "segments": {"columns": ["age"]},
        },
        f"{MODEL}.segments.columns[0].column",
        "'age' is a numeric feature",
        "set the feature's type: categorical, or segment by a binned column the producer logs",
    ),
    (
        "more than three columns",
        {"segments": {"columns": ["country", "channel", {"column": "app", "source": "metadata"}, "region"]}},
        f"{MODEL}.segments.columns",
        "at most 3 segment columns (got 4)",
        "segment by the columns that matter most",
    ),
    (
        "a column listed twice",
        {"segments": {"columns": ["country", {"column": "country", "top_k": 5}]}},
        f"{MODEL}.segments.columns",
        "segment column 'country' is listed twice",
        "list each column once",
    ),
    (
        "a column name with a colon",
        {"segments": {"columns": ["country:code"]}},
        f"{MODEL}.segments.columns[0].column",
        "'country:code' holds ':', '='",
        "rename the column the producer logs, or log a copy under a plain name",
    ),
    (
        "a metadata column name with an equals sign",
        {"segments": {"columns": ["country", {"column": "app=version", "source": "metadata"}]}},
        f"{MODEL}.segments.columns[1].column",
        "'app=version' holds ':', '='",
        "rename the column the producer logs, or log a copy under a plain name",
    ),
    (
        "more pinned values than top_k",
        {
            "segments": {
                "top_k": 20,
                "columns": [{"column": "country", "top_k": 2, "pinned": ["DE", "FR", "ES"]}],
            }
        },
        f"{MODEL}.segments.columns[0].pinned",
        "3 pinned values for top_k 2",
        "raise top_k or pin fewer",
    ),
    (
        "a value pinned twice",
        {"segments": {"columns": [{"column": "country", "pinned": ["DE", "FR", "DE"]}]}},
        f"{MODEL}.segments.columns[0].pinned",
        "'DE' is pinned twice",
        "pin each value once",
    ),
    (
        "min_rows above max_rows",
        {"segments": {"min_rows": 8000, "max_rows": 5000, "columns": ["country"]}},
        f"{MODEL}.segments.min_rows",
        "8000 is above segments.max_rows 5000",
        "raise max_rows or lower min_rows",
    ),
    (
        "a column's min_rows above the section's max_rows",
        {"segments": {"max_rows": 5000, "columns": [{"column": "country", "min_rows": 6000}]}},
        f"{MODEL}.segments.columns[0].min_rows",
        "6000 is above segments.max_rows 5000",
        "raise max_rows or lower min_rows",
    ),
    (
        "missing version reference file",
        {"versions": {"references": {"8": "ref-v9.parquet"}}},
        f"{MODEL}.versions.references.8",
        "file 'ref-v9.parquet' not found (looked at ",
        "give a Parquet or CSV file of version 8's reference data",
    ),
    (
        "champion is the challenger",
        {"versions": {"champion_challenger": {"champion": "7", "challenger": "7", "metrics": []}}},
        f"{MODEL}.versions.champion_challenger",
        "champion and challenger are both '7'",
        "name two versions",
    ),
    (
        "champion/challenger metrics without performance",
        {"versions": {"champion_challenger": {"champion": "7", "challenger": "8", "metrics": ["accuracy"]}}},
        f"{MODEL}.versions.champion_challenger.metrics",
        "needs a performance: section (labels) for accuracy",
        "add one, or set metrics: []",
    ),
    (
        "a metric not of the task",
        {
            "performance": {"task": "binary_classification", "label": "label"},
            "versions": {
                "champion_challenger": {"champion": "7", "challenger": "8", "metrics": ["accuracy", "mae"]}
            },
        },
        f"{MODEL}.versions.champion_challenger.metrics",
        "mae is not a metric of binary_classification",
        "use accuracy, precision, recall, f1, roc_auc, log_loss",
    ),
    (
        "max_live below the named versions",
        {
            "versions": {
                "max_live": 1,
                "references": {"6": "ref-v8.parquet"},
                "champion_challenger": {"champion": "7", "challenger": "8", "metrics": []},
            }
        },
        f"{MODEL}.versions.max_live",
        "1 is below the 3 versions the config names (6, 7, 8)",
        "raise max_live to at least 3",
    ),
    (
        "rolling shorter than the window",
        {"baseline": {"rolling": "30m"}},
        f"{MODEL}.baseline.rolling",
        "30m is shorter than window.length 1h",
        "make rolling at least 1h",
    ),
    (
        "baseline feature unknown",
        {"baseline": {"rolling": "7d", "features": {"incme": {"method": "psi", "threshold": 0.2}}}},
        f"{MODEL}.baseline.features.incme",
        "not a feature of the model",
        "use one of age, income, country",
    ),
    (
        "baseline on segments without segments",
        {"baseline": {"rolling": "7d", "scopes": ["model", "segments"]}},
        f"{MODEL}.baseline.scopes",
        "segments needs a segments: section",
        "add one or remove segments from scopes",
    ),
    (
        "baseline on versions without versions",
        {"baseline": {"rolling": "7d", "scopes": ["versions"]}},
        f"{MODEL}.baseline.scopes",
        "versions needs a versions: section",
        "add one or remove versions from scopes",
    ),
    (
        "baseline min_rows above its max_rows",
        {"baseline": {"rolling": "7d", "max_rows": 400}},
        f"{MODEL}.baseline.min_rows",
        "500 is above baseline.max_rows 400",
        "raise max_rows or lower min_rows",
    ),
]


@pytest.mark.parametrize(
    ("sections", "key", "value", "fix"),
    [case[1:] for case in LOADER_CASES],
    ids=[case[0] for case in LOADER_CASES],
)
def test_the_loader_names_key_value_and_fix(
    workdir: Path, sections: dict[str, Any], key: str, value: str, fix: str
) -> None:
    assert_one_line(load_problems(write(workdir, with_model(**sections))), key, value, fix)


@pytest.mark.parametrize(
    ("sections", "key", "value", "fix"),
    [case[1:] for case in LOADER_CASES],
    ids=[case[0] for case in LOADER_CASES],
)
def test_validate_config_says_the_same(
    workdir: Path, sections: dict[str, Any], key: str, value: str, fix: str
) -> None:
    assert_one_line(cli_problems(write(workdir, with_model(**sections))), key, value, fix)


def test_scale_out_refuses_a_scoped_model(workdir: Path) -> None:
    raw = with_model(segments={"columns": ["country"]})
    raw["models"]["plain"] = {"reference": "ref.csv", "features": ["age"]}
    raw["kafka"]["scale_out"] = {"enabled": True}
    path = write(workdir, raw)
    for lines in (load_problems(path), cli_problems(path)):
        assert_one_line(
            lines,
            MODEL,
            "segments, versions and baseline are not supported with kafka.scale_out",
            "run the scoped models in a daemon without scale_out, or remove those sections",
        )


def test_scale_out_names_every_scoped_model(workdir: Path) -> None:
    raw = with_model(baseline={"rolling": "1d"})
    raw["models"]["churn"] = {"reference": "ref.csv", "features": ["age"], "versions": {}}
    raw["kafka"]["scale_out"] = {"enabled": True}
    lines = load_problems(write(workdir, raw))
    assert [line.split(": ")[0] for line in lines] == ["  - models.churn", f"  - {MODEL}"]


def test_scale_out_takes_unscoped_models(workdir: Path) -> None:
    raw = base()
    raw["kafka"]["scale_out"] = {"enabled": True}
    assert not load_settings(write(workdir, raw), {}).models["credit-risk"].scoped


def test_problems_of_several_sections_are_one_line_each(workdir: Path) -> None:
    raw = with_model(
        segments={"columns": [{"column": "country", "top_k": 1, "pinned": ["DE", "FR"]}]},
        versions={"max_live": 1, "champion_challenger": {"champion": "7", "challenger": "8", "metrics": []}},
        baseline={"rolling": "30m", "features": {"incme": {}}},
    )
    lines = load_problems(write(workdir, raw))
    assert [line.split(": ")[0] for line in lines] == [
        f"  - {MODEL}.segments.columns[0].pinned",
        f"  - {MODEL}.versions.max_live",
        f"  - {MODEL}.baseline.rolling",
        f"  - {MODEL}.baseline.features.incme",
    ]


# Problems only the reference shows: the loader accepts the file, validate-config (and the daemon's
# start-up) refuse it.


def test_an_unknown_segment_column_is_refused_against_the_reference(workdir: Path) -> None:
    path = write(workdir, with_model(segments={"columns": ["contry"]}))
    load_settings(path, {})
    assert_one_line(
        cli_problems(path),
        f"{MODEL}.segments.columns[0].column",
        "'contry' is not a feature of the model (features: age, income, country) nor a column of its reference",
        'fix the name, or add source: metadata if records carry it under "metadata"',
    )


def test_a_segment_column_of_the_reference_only_is_valid(workdir: Path) -> None:
    path = write(workdir, with_model(segments={"columns": ["channel"]}))
    result = driftwatch_cli("validate-config", str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_a_feature_inferred_numeric_is_refused_as_a_segment_column(workdir: Path) -> None:
    path = write(workdir, with_model(segments={"columns": ["country", "age"]}))
    load_settings(path, {})  # age has no configured type: only the reference says it is numeric
    assert_one_line(
        cli_problems(path),
        f"{MODEL}.segments.columns[1].column",
        "'age' is a numeric feature",
        "set the feature's type: categorical, or segment by a binned column the producer logs",
    )


def test_a_segment_reference_needs_rows_not_a_saved_profile(workdir: Path) -> None:
    assert main(["profile", "-r", str(workdir / "ref.csv"), "-o", str(workdir / "prof")]) == 0
    raw = with_model(segments={"columns": ["country"]})
    raw["models"]["credit-risk"]["reference"] = "prof"
    path = write(workdir, raw)
    load_settings(path, {})
    assert_one_line(
        cli_problems(path),
        f"{MODEL}.segments.columns[0].reference",
        "segment needs the reference's rows, but models.credit-risk.reference is a saved profile",
        "set reference: model, or point reference at the Parquet or CSV file",
    )
    raw["models"]["credit-risk"]["segments"]["columns"] = [{"column": "country", "reference": "model"}]
    result = driftwatch_cli("validate-config", str(write(workdir, raw)))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def test_a_version_reference_without_the_model_columns_is_refused(workdir: Path) -> None:
    reference_frame().drop(columns=["income", "score"]).to_parquet(workdir / "ref-v9.parquet", index=False)
    path = write(workdir, with_model(versions={"references": {"9": "ref-v9.parquet"}}))
    load_settings(path, {})
    assert_one_line(
        cli_problems(path),
        f"{MODEL}.versions.references.9",
        "has no column 'income', 'score'",
        "give version 9's reference with the model's features and prediction column",
    )


def test_the_daemon_refuses_what_validate_config_refuses(workdir: Path) -> None:
    from driftwatch.reference import ReferenceDataError
    from driftwatch.service.daemon import Daemon

    raw = with_model(segments={"columns": ["contry"]})
    raw["state"] = {"path": str(workdir / "state.sqlite")}
    with pytest.raises(ReferenceDataError) as info:
        Daemon(load_settings(write(workdir, raw), {}))
    assert f"{MODEL}.segments.columns[0].column: 'contry' is not a feature" in str(info.value)


# A valid file, and what it becomes.

FULL = """
kafka:
  bootstrap_servers: 127.0.0.1:9092
  topic: predictions
models:
  credit-risk:
    reference: ref.csv
    features: [age, income, {name: country, type: categorical}]
    prediction: score
    window: {length: 1h, max_rows: 50000, min_rows: 500}
    performance: {task: binary_classification, label: label}
    segments:
      top_k: 20
      max_rows: 5000
      min_share: 0.001
      stability: {promote_after: 2, demote_after: 3, margin: 0.25, retire_after: 24h}
      feature_series: whole
      columns:
        - country
        - column: app_version
          source: metadata
          top_k: 10
          pinned: ["5.2", 6, 7.0]
          reference: model
    versions:
      max_live: 3
      window: {max_rows: 20000}
      references: {8: ref-v8.parquet}
      announce: true
      expire_after: 2h
      champion_challenger:
        champion: 7
        challenger: 8
        metrics: [accuracy, roc_auc]
        confidence: 0.95
        bootstrap: 1000
        alert: {worse_by: 0.02, better_by: null, prediction_drift: false}
    baseline:
      rolling: 7d
      lag: 1d
      max_rows: 20000
      min_coverage: 0.5
      scopes: [model, versions, segments]
      drift: {share: 0.5}
      features: {income: {method: psi, threshold: 0.2}}
      prediction: true
      alert: {consecutive: 2, resolve_after: 2}
"""


def test_a_full_example_parses(workdir: Path) -> None:
    path = write(workdir, FULL)
    model = load_settings(path, {}).models["credit-risk"]
    assert model.scoped
    segments, versions, baseline = model.segments, model.versions, model.baseline
    assert segments is not None and versions is not None and baseline is not None
    assert [c.column for c in segments.columns] == ["country", "app_version"]
    assert segments.columns[0].source == "feature" and segments.columns[0].reference == "segment"
    country, app = segments.column_rule(0, model.window), segments.column_rule(1, model.window)
    assert (country.top_k, country.max_rows, country.min_rows, country.pinned) == (20, 5000, 1000, ())
    assert (app.top_k, app.source, app.pinned) == (10, "metadata", ("5.2", "6", "7"))
    assert segments.stability.retire_after == 86400.0
    assert versions.references == {"8": workdir.resolve() / "ref-v8.parquet"}
    assert versions.expire_after == 7200.0 and versions.window.max_rows == 20000
    contest = versions.champion_challenger
    assert contest is not None and (contest.champion, contest.challenger) == ("7", "8")
    assert contest.alert.worse_by == 0.02 and contest.alert.better_by is None
    assert (baseline.rolling, baseline.lag) == (7 * 86400.0, 86400.0)
    assert baseline.scopes == ["model", "versions", "segments"]
    assert baseline.features["income"].method == "psi" and baseline.alert is not None
    result = driftwatch_cli("validate-config", str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout.rstrip().endswith(": valid")
    assert json_schema_errors(yaml.safe_load(FULL)) == []


def test_defaults_of_the_sections(workdir: Path) -> None:
    path = write(
        workdir, with_model(segments={"columns": ["country"]}, versions={}, baseline={"rolling": "1d"})
    )
    model = load_settings(path, {}).models["credit-risk"]
    assert model.segments is not None and model.versions is not None and model.baseline is not None
    rule = model.segments.column_rule(0, model.window)
    # min_rows: max(window.min_rows, 1000) (measured: bench/scope_false_alarms.py; it was window.min_rows,
    # 500); max_rows: min(window.max_rows, 10 x window.min_rows), as before
    assert (rule.top_k, rule.min_rows, rule.max_rows, rule.min_share) == (20, 1000, 5000, 0.001)
    window = model.window
    given = model.segments.model_copy(update={"min_rows": 800})
    assert (given.column_rule(0, window).min_rows, given.column_rule(0, window).max_rows) == (800, 8000)
    small = model.segments.model_copy(update={"max_rows": 700})  # the window holds 700: its verdict floor
    assert (small.column_rule(0, window).min_rows, small.column_rule(0, window).max_rows) == (700, 700)
    wide = window.model_copy(update={"min_rows": 1500})  # never below the window's own floor
    assert (model.segments.column_rule(0, wide).min_rows, model.segments.column_rule(0, wide).max_rows) == (
        1500,
        15000,
    )
    assert (model.versions.max_live, model.versions.announce, model.versions.references) == (3, True, {})
    assert model.versions.champion_challenger is None
    # worse_by: 0.01 (measured: bench/scope_false_alarms.py; at 0, two equal versions fired weekly)
    assert (ChallengerAlertSettings().worse_by, ChallengerAlertSettings().better_by) == (0.01, None)
    assert (model.baseline.lag, model.baseline.max_rows, model.baseline.scopes) == (0.0, 20000, ["model"])
    assert not load_settings(write(workdir, base()), {}).models["credit-risk"].scoped


def test_integer_version_keys_and_values_become_text(workdir: Path) -> None:
    text = FULL.replace("references: {8: ref-v8.parquet}", "references: {8: ref-v8.parquet, 9.0: ref.csv}")
    text = text.replace("max_live: 3", "max_live: 4")
    versions = load_settings(write(workdir, text), {}).models["credit-risk"].versions
    assert versions is not None and versions.champion_challenger is not None
    assert list(versions.references) == ["8", "9"]
    assert all(isinstance(key, str) for key in versions.references)
    assert (versions.champion_challenger.champion, versions.champion_challenger.challenger) == ("7", "8")
    assert versions.named() == ["8", "9", "7"]


def test_an_integer_champion_equal_to_a_text_challenger_is_one_version(workdir: Path) -> None:
    raw = with_model(versions={"champion_challenger": {"champion": 7, "challenger": "7", "metrics": []}})
    assert_one_line(
        load_problems(write(workdir, raw)),
        f"{MODEL}.versions.champion_challenger",
        "champion and challenger are both '7'",
        "name two versions",
    )


# The JSON Schema (`driftwatch schema`) describes the new sections, and agrees with the loader.


def json_schema_errors(document: object) -> list[str]:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft202012Validator(schema).iter_errors(document)
    ]


def test_the_json_schema_has_the_new_sections() -> None:
    schema = json_schema()
    model = schema["$defs"]["ModelSettings"]["properties"]
    assert {"segments", "versions", "baseline"} <= set(model)
    definitions = schema["$defs"]
    assert {"columns", "top_k", "max_rows", "min_rows", "min_share", "stability", "feature_series"} <= set(
        definitions["SegmentSettings"]["properties"]
    )
    assert {"column", "source", "top_k", "pinned", "reference"} <= set(
        definitions["SegmentColumnSettings"]["properties"]
    )
    assert {"max_live", "window", "references", "announce", "expire_after", "champion_challenger"} <= set(
        definitions["VersionSettings"]["properties"]
    )
    assert {"rolling", "lag", "max_rows", "min_rows", "min_coverage", "scopes", "drift", "features"} <= set(
        definitions["BaselineSettings"]["properties"]
    )
    result = driftwatch_cli("schema")
    assert result.returncode == 0 and '"BaselineSettings"' in result.stdout


SCHEMA_ACCEPTED: list[dict[str, Any]] = [
    {"segments": {"columns": ["country", {"column": "app", "source": "metadata", "pinned": [5, "5.2"]}]}},
    {"segments": {"columns": ["country"], "stability": {"retire_after": 0}}},
    {"versions": {"references": {"8": "ref-v8.parquet"}, "expire_after": "90m"}},
    {"versions": {"champion_challenger": {"champion": 7, "challenger": "8", "metrics": []}}},
    {"baseline": {"rolling": "7d", "lag": 0, "scopes": ["model"]}},
    {"baseline": {"rolling": "${ROLLING:-2d}", "lag": "1h"}},
]

SCHEMA_REFUSED: list[dict[str, Any]] = [
    {"segments": {"columns": []}},
    {"segments": {"columns": ["country"], "top_k": 0}},
    {"segments": {"columns": ["country"], "top_k": 201}},
    {"segments": {"columns": [{"column": "country", "source": "header"}]}},
    {"segments": {"columns": ["country"], "feature_series": "some"}},
    {"versions": {"max_live": 0}},
    {"versions": {"champion_challenger": {"champion": "7", "challenger": "8", "confidence": 0.3}}},
    {"versions": {"champion_challenger": {"champion": "7", "challenger": "8", "bootstrap": 50}}},
    {"baseline": {"lag": "1d"}},
    {"baseline": {"rolling": "7d", "scopes": ["everything"]}},
    {"baseline": {"rolling": "7d", "min_coverage": 0}},
    {"baseline": {"rolling": "7d", "unknown": 1}},
]


@pytest.mark.parametrize("sections", SCHEMA_ACCEPTED, ids=[str(s) for s in SCHEMA_ACCEPTED])
def test_loader_and_schema_both_accept(workdir: Path, sections: dict[str, Any]) -> None:
    raw = with_model(**sections)
    load_settings(write(workdir, raw), {})
    assert json_schema_errors(raw) == []


@pytest.mark.parametrize("sections", SCHEMA_REFUSED, ids=[str(s) for s in SCHEMA_REFUSED])
def test_loader_and_schema_both_refuse(workdir: Path, sections: dict[str, Any]) -> None:
    raw = with_model(**sections)
    with pytest.raises(ConfigError):
        load_settings(write(workdir, raw), {})
    assert json_schema_errors(raw) != []


def test_validate_config_prints_the_bounds_of_a_scoped_model_only(workdir: Path) -> None:
    from driftwatch.service.metrics import row_budget_of, series_budget_of

    raw = yaml.safe_load(FULL)
    raw["models"]["plain"] = {"reference": "ref.csv", "features": ["age"]}
    path = write(workdir, raw)
    model = load_settings(path, {}).models["credit-risk"]
    result = driftwatch_cli("validate-config", str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    # country: 20 + other + 5 retiring; app_version: 10 + other + 3 retiring
    assert (
        f"model credit-risk: at most 40 segment scopes; 3 versions; at most {series_budget_of(model):,} series; "
        f"at most {row_budget_of(model):,} window rows"
    ) in result.stdout.splitlines()
    assert not any(line.startswith("model plain: at most") for line in result.stdout.splitlines())
