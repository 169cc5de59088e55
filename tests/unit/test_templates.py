"""Webhook templates: each built-in renders what its receiver expects, user JSON templates fill
placeholders without evaluating anything, and every event driftwatch builds matches the JSON schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from driftwatch import __version__
from driftwatch.alerting.events import alert_event, probe_event
from driftwatch.alerting.templates import (
    BUILTIN,
    EVENT_FIELDS,
    SCOPE_FIELDS,
    Template,
    TemplateError,
    load_template,
)
from driftwatch.checks.ids import CheckId
from driftwatch.checks.window import CheckResult
from driftwatch.config import ModelSettings, WindowSettings
from driftwatch.drift.dataset import ColumnOptions, dataset_drift
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.service.model_checks import ModelCheck
from driftwatch.service.webhooks import idempotency_key
from driftwatch.stream.windows import WindowSnapshot

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "webhook-event.schema.json"
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def validator() -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def schema_errors(validator: Draft202012Validator, document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(document)]


@pytest.fixture(scope="module")
def result() -> CheckResult:
    """A real data drift check: ``x`` shifts, ``c`` gains an unseen category, the prediction shifts."""
    rng = np.random.default_rng(11)
    reference = pd.DataFrame(
        {
            "x": rng.normal(0, 1, 400),
            "c": rng.choice(["a", "b", "c"], 400),
            "score": rng.uniform(0, 1, 400),
        }
    )
    model = ModelSettings(
        reference=Path("ref.csv"),
        features=["x", {"name": "c", "type": "categorical"}],
        prediction="score",
        window=WindowSettings(min_rows=100),  # 300 rows get a verdict
    )
    profile = ReferenceProfile.build(reference, ["x", "c", "score"], {"c": "categorical"})
    current = pd.DataFrame(
        {
            "x": rng.normal(3, 1, 300),
            "c": rng.choice(["a", "z"], 300),
            "score": rng.beta(5, 1, 300),
        }
    )
    snapshot = WindowSnapshot(current, NOW - 3600, NOW, 350, {})
    return ModelCheck("credit-risk", model, profile).run(snapshot)


@pytest.fixture(scope="module")
def event(result: CheckResult) -> dict[str, Any]:
    key = idempotency_key(result.model, "data_drift", result.window_end, "firing")
    return alert_event(key, "firing", CheckId("data_drift"), result, "7", NOW + 1)


def test_the_check_result_drifted(result: CheckResult) -> None:
    """The fixture is what the other tests assume: drift on both features, a prediction result."""
    assert result.drift.dataset_drift
    assert sorted(c.column for c in result.drift.columns if c.drift_detected) == ["c", "x"]
    assert result.prediction_drift is not None and result.prediction_drift.error is None


# built-in templates -----------------------------------------------------------------------------------


def test_builtin_names() -> None:
    assert set(BUILTIN) == {"generic", "airflow", "github", "slack"}
    for name in BUILTIN:
        assert load_template(name).name == name


def test_generic_is_the_event(event: dict[str, Any]) -> None:
    template = load_template("generic")
    assert json.loads(template.render(event)) == event
    assert template.headers == {}
    assert template.delivered_statuses == frozenset()


def test_rendering_is_canonical_json(event: dict[str, Any]) -> None:
    template = load_template("generic")
    reordered = dict(reversed(list(event.items())))
    assert template.render(event) == template.render(reordered)
    assert b" " not in template.render({"a": [1, 2], "b": {"c": 1}})


def test_airflow_triggers_a_dag_run(event: dict[str, Any]) -> None:
    template = load_template("airflow")
    body = json.loads(template.render(event))
    assert set(body) == {"dag_run_id", "conf", "note"}
    assert body["dag_run_id"] == f"driftwatch-{event['id']}"
    assert body["conf"] == event
    assert body["note"] == event["summary"]
    assert 409 in template.delivered_statuses  # a retried run Airflow already has is delivered


def test_airflow_run_id_is_stable_for_a_retried_event(event: dict[str, Any]) -> None:
    template = load_template("airflow")
    later = {**event, "occurred_at": "2030-01-01T00:00:00.000Z"}
    assert (
        json.loads(template.render(later))["dag_run_id"] == json.loads(template.render(event))["dag_run_id"]
    )


def test_github_repository_dispatch(event: dict[str, Any]) -> None:
    template = load_template("github")
    body = json.loads(template.render(event))
    assert set(body) == {"event_type", "client_payload"}
    assert body["event_type"] == "driftwatch-firing"
    payload = body["client_payload"]
    assert len(payload) <= 10  # GitHub refuses more top-level properties
    for name in ("id", "model", "model_version", "check", "transition", "summary", "window_end"):
        assert payload[name] == event[name], name
    assert payload["drift_share"] == event["drift_share"]
    assert sorted(payload["drifted_features"]) == sorted(event["drifted_features"]) == ["c", "x"]
    assert "result" not in payload  # too big for a dispatch
    assert template.headers["Accept"] == "application/vnd.github+json"
    assert template.headers["X-GitHub-Api-Version"] == "2022-11-28"


@pytest.mark.parametrize("transition", ["firing", "resolved", "test"])
def test_github_event_type_follows_the_transition(event: dict[str, Any], transition: str) -> None:
    body = json.loads(load_template("github").render({**event, "transition": transition}))
    assert body["event_type"] == f"driftwatch-{transition}"
    assert body["client_payload"]["transition"] == transition


def test_github_payload_of_a_test_event_has_every_field_even_when_null() -> None:
    event = probe_event("test-1", "churn", NOW)
    payload = json.loads(load_template("github").render(event))["client_payload"]
    assert len(payload) == 10
    assert payload["model_version"] is None and payload["drift_share"] is None
    assert payload["model"] == "churn"


@pytest.mark.parametrize("transition", ["firing", "resolved", "test", "something-new"])
def test_slack_message_holds_the_summary(event: dict[str, Any], transition: str) -> None:
    template = load_template("slack")
    body = json.loads(template.render({**event, "transition": transition}))
    assert list(body) == ["text"]
    assert event["summary"] in body["text"]
    assert body["text"] != event["summary"]  # an icon in front, for humans


# user JSON templates ------------------------------------------------------------------------------------


def user_template(tmp_path: Path, document: Any, name: str = "template.json") -> Template:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return load_template(str(path))


def render(template: Template, event: dict[str, Any]) -> Any:
    return json.loads(template.render(event))


def test_whole_string_placeholder_keeps_the_json_type(tmp_path: Path, event: dict[str, Any]) -> None:
    template = user_template(
        tmp_path,
        {
            "rows": "{{ rows }}",
            "share": "{{drift_share}}",
            "features": "{{ drifted_features }}",
            "version": "{{ model_version }}",
            "nothing": "{{ result.prediction_drift.error }}",
            "model": "{{ model }}",
            "list": ["{{ rows }}", "{{ model }}"],
        },
    )
    body = render(template, event)
    assert body["rows"] == event["rows"] == 300 and isinstance(body["rows"], int)
    assert body["share"] == event["drift_share"] and isinstance(body["share"], float)
    assert body["features"] == event["drifted_features"]
    assert body["version"] == "7"
    assert body["nothing"] is None
    assert body["model"] == "credit-risk"
    assert body["list"] == [300, "credit-risk"]


def test_null_field_as_a_whole_string_is_json_null(tmp_path: Path) -> None:
    template = user_template(tmp_path, {"version": "{{ model_version }}", "result": "{{ result }}"})
    assert render(template, probe_event("t", "m", NOW)) == {"version": None, "result": None}


def test_embedded_placeholders_become_text(tmp_path: Path, event: dict[str, Any]) -> None:
    template = user_template(
        tmp_path,
        {
            "title": "Retrain {{ model }} (v{{ model_version }}): {{ rows }} rows",
            "features": "drifted: {{ drifted_features }}",
            "version": "v{{ model_version }}",
        },
    )
    body = render(template, event)
    assert body["title"] == "Retrain credit-risk (v7): 300 rows"
    assert json.loads(body["features"].removeprefix("drifted: ")) == event["drifted_features"]
    assert render(template, {**event, "model_version": None})["version"] == "v"  # null is empty text


def test_dotted_paths_into_the_result(tmp_path: Path, event: dict[str, Any]) -> None:
    template = user_template(
        tmp_path,
        {
            "rows": "{{ result.rows }}",
            "first": "{{ result.columns.0.column }}",
            "first_score": "{{ result.columns.0.score }}",
            "quality": "{{ result.columns.1.quality }}",
            "prediction": "{{ result.prediction_drift.method }}",
            "text": "first column {{ result.columns.0.column }} of {{ result.n_columns }}",
        },
    )
    body = render(template, event)
    columns = event["result"]["columns"]
    assert body["rows"] == event["result"]["rows"] == 300
    assert body["first"] == columns[0]["column"]
    assert body["first_score"] == columns[0]["score"]
    assert body["quality"] == columns[1]["quality"] and isinstance(body["quality"], dict)
    assert body["prediction"] == event["result"]["prediction_drift"]["method"]
    assert body["text"] == f"first column {columns[0]['column']} of {event['result']['n_columns']}"


@pytest.mark.parametrize(
    "path",
    [
        "result.nope",
        "result.nope.deeper",
        "result.columns.99.column",
        "result.columns.first",
        "result.rows.value",
        "drifted_features.7",
    ],
)
def test_missing_nested_path_is_null_or_empty_text(tmp_path: Path, event: dict[str, Any], path: str) -> None:
    template = user_template(tmp_path, {"whole": f"{{{{ {path} }}}}", "text": f"<{{{{ {path} }}}}>"})
    assert render(template, event) == {"whole": None, "text": "<>"}


def test_paths_into_a_null_result(tmp_path: Path) -> None:
    template = user_template(tmp_path, {"rows": "{{ result.rows }}", "text": "rows={{ result.rows }}"})
    assert render(template, probe_event("t", "m", NOW)) == {"rows": None, "text": "rows="}


def test_placeholders_in_keys(tmp_path: Path, event: dict[str, Any]) -> None:
    template = user_template(
        tmp_path, {"{{ model }}": {"{{ check }}-{{ transition }}": "{{ rows }}"}, "{{ rows }}": 1}
    )
    assert render(template, event) == {"credit-risk": {"data_drift-firing": 300}, "300": 1}


def test_constants_pass_through(tmp_path: Path, event: dict[str, Any]) -> None:
    document = {
        "n": 1,
        "f": 2.5,
        "t": True,
        "z": None,
        "s": "plain {text}",
        "l": [1, "{ not a placeholder }"],
    }
    assert render(user_template(tmp_path, document), event) == document


def test_a_placeholder_is_never_evaluated_again(tmp_path: Path, event: dict[str, Any]) -> None:
    """A value that looks like a placeholder is data, not a template (no second pass)."""
    template = user_template(tmp_path, {"summary": "{{ summary }}", "text": "said: {{ summary }}"})
    sneaky = {**event, "summary": "{{ result }}"}
    assert render(template, sneaky) == {"summary": "{{ result }}", "text": "said: {{ result }}"}


def test_every_event_field_is_a_valid_placeholder(tmp_path: Path, event: dict[str, Any]) -> None:
    assert set(event) == EVENT_FIELDS - SCOPE_FIELDS  # the whole model's event has no scope fields
    template = user_template(tmp_path, {name: f"{{{{ {name} }}}}" for name in EVENT_FIELDS})
    assert render(template, event) == {**event, **dict.fromkeys(SCOPE_FIELDS)}


def test_relative_template_path_uses_the_base(tmp_path: Path) -> None:
    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "t.json").write_text('{"m": "{{ model }}"}', encoding="utf-8")
    template = load_template("hooks/t.json", base=tmp_path)
    assert Path(template.name) == tmp_path / "hooks" / "t.json"
    assert template.document == {"m": "{{ model }}"}


# template load errors -----------------------------------------------------------------------------------


def load_error(tmp_path: Path, text: str, name: str = "bad.json") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TemplateError) as info:
        load_template(str(path))
    message = str(info.value)
    assert str(path) in message  # every error names the file
    return message


def test_unknown_field_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, '{"m": "{{ modle }}"}')
    assert "unknown field 'modle'" in message
    assert "model" in message  # the known fields are listed


def test_unknown_field_inside_a_longer_string_and_a_key(tmp_path: Path) -> None:
    assert "unknown field 'who'" in load_error(tmp_path, '{"m": "model {{ who }} drifted"}')
    assert "unknown field 'where'" in load_error(tmp_path, '{"{{ where }}": 1}')
    assert "unknown field 'deep'" in load_error(tmp_path, '{"a": [{"b": ["{{ deep }}"]}]}')


@pytest.mark.parametrize(
    "expression",
    [
        "{{ model | upper }}",
        "{{ a + b }}",
        "{{ rows * 2 }}",
        "{{ model() }}",
        "{{ result['rows'] }}",
        "{{ __import__('os') }}",
        "{{ result..rows }}",
        "{{ }}",
    ],
)
def test_expressions_are_refused(tmp_path: Path, expression: str) -> None:
    message = load_error(tmp_path, json.dumps({"m": expression}))
    assert "not a field name" in message
    assert "no expressions or filters" in message


def test_scalar_with_a_subfield_is_refused(tmp_path: Path) -> None:
    message = load_error(tmp_path, '{"m": "{{ model.name }}"}')
    assert "'model' is a plain value with no fields" in message


def test_every_problem_is_reported(tmp_path: Path) -> None:
    message = load_error(tmp_path, '{"a": "{{ nope }}", "b": "{{ rows.x }}", "c": "{{ a - b }}"}')
    assert "unknown field 'nope'" in message
    assert "'rows' is a plain value" in message
    assert "not a field name" in message


def test_invalid_json_is_named(tmp_path: Path) -> None:
    message = load_error(tmp_path, '{"m": "{{ model }}",}')
    assert "not valid JSON" in message


def test_non_utf8_file_is_invalid_json(tmp_path: Path) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes('{"m": "caf\u00e9"}'.encode("latin-1"))
    with pytest.raises(TemplateError, match="not valid JSON"):
        load_template(str(path))


def test_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "missing.json"
    with pytest.raises(TemplateError) as info:
        load_template(str(path))
    assert "not found" in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("spec", ["jenkins", "template.yaml", "hooks/t.txt", "Generic"])
def test_unknown_name_or_non_json_path(tmp_path: Path, spec: str) -> None:
    with pytest.raises(TemplateError) as info:
        load_template(spec, base=tmp_path)
    message = str(info.value)
    assert repr(spec) in message
    assert "built-in" in message and ".json" in message
    for name in BUILTIN:
        assert name in message


# the event JSON schema ----------------------------------------------------------------------------------


def test_alert_event_validates(validator: Draft202012Validator, event: dict[str, Any]) -> None:
    assert schema_errors(validator, event) == []
    wire = json.loads(load_template("generic").render(event))
    assert schema_errors(validator, wire) == []
    assert wire["type"] == "driftwatch.alert" and wire["schema_version"] == 1
    assert wire["sent_by"] == f"driftwatch/{__version__}"
    assert wire["result"]["prediction_drift"] is not None


@pytest.mark.parametrize(
    ("transition", "check"),
    [("firing", "prediction_drift"), ("resolved", "data_drift"), ("resolved", "prediction_drift")],
)
def test_other_alert_events_validate(
    validator: Draft202012Validator, result: CheckResult, transition: str, check: str
) -> None:
    event = alert_event("key-1", transition, CheckId.parse(check), result, None, NOW)
    assert schema_errors(validator, json.loads(load_template("generic").render(event))) == []
    assert event["transition"] == transition and event["check"] == check


def test_probe_event_validates(validator: Draft202012Validator) -> None:
    event = probe_event("test-0123", "churn", NOW)
    assert schema_errors(validator, event) == []
    assert event["transition"] == "test" and event["type"] == "driftwatch.test"
    assert event["result"] is None


def test_schema_rejects_a_broken_event(validator: Draft202012Validator, event: dict[str, Any]) -> None:
    """The schema is strict enough to catch mistakes, so the validations above mean something."""
    assert schema_errors(validator, {**event, "transition": "fired"})
    assert schema_errors(validator, {**event, "rows": -1})
    assert schema_errors(validator, {**event, "drift_share": 1.5})
    assert schema_errors(validator, {k: v for k, v in event.items() if k != "id"})
    broken_result = {**event["result"], "columns": [{"column": "x"}]}
    assert schema_errors(validator, {**event, "result": broken_result})


def test_event_of_a_check_with_every_column_failing_validates(validator: Draft202012Validator) -> None:
    reference = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    profile = ReferenceProfile.build(reference, ["x"])
    drift = dataset_drift(profile, {"x": np.array([np.nan, np.inf])})
    result = CheckResult("m", "data_drift", NOW - 60, NOW, 2, 2, drift, None, 0.001)
    event = alert_event("k", "resolved", CheckId("data_drift"), result, None, NOW)
    assert event["drift_share"] is None  # no column could be tested
    assert schema_errors(validator, json.loads(load_template("generic").render(event))) == []


@st.composite
def datasets(draw: st.DrawFn) -> tuple[pd.DataFrame, dict[str, Any], str]:
    seed = draw(st.integers(0, 2**32 - 1))
    n_ref = draw(st.integers(1, 80))
    n_cur = draw(st.integers(1, 80))
    shift = draw(st.floats(-3, 3))
    method = draw(st.sampled_from(["auto", "ks", "wasserstein", "psi", "jensenshannon", "z"]))
    rng = np.random.default_rng(seed)
    reference = pd.DataFrame(
        {
            "num": rng.normal(0, 1, n_ref),
            "small": rng.integers(0, 4, n_ref).astype(float),
            "cat": rng.choice(["a", "b", "c"], n_ref),
        }
    )
    current = {
        "num": rng.normal(shift, 1, n_cur),
        "small": rng.integers(0, 5, n_cur).astype(float),
        "cat": rng.choice(["a", "b", "d"], n_cur),
    }
    return reference, current, method


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(), transition=st.sampled_from(["firing", "resolved"]))
def test_events_of_random_nan_free_results_validate(
    validator: Draft202012Validator, data: tuple[pd.DataFrame, dict[str, Any], str], transition: str
) -> None:
    reference, current, method = data
    profile = ReferenceProfile.build(reference, list(reference.columns), {"cat": "categorical"})
    drift = dataset_drift(profile, current, {"num": ColumnOptions(method)}, 0.5)
    rows = len(current["num"])
    result = CheckResult("m", "data_drift", NOW - 3600, NOW, rows, rows, drift, None, 0.01)
    event = alert_event("k", transition, CheckId("data_drift"), result, "1", NOW)
    body = json.loads(load_template("generic").render(event))  # allow_nan=False: no NaN slips through
    assert schema_errors(validator, body) == []
    assert body["result"]["n_columns"] + len(drift.errors) == 3
