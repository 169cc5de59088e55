"""Loading the YAML config: defaults, durations, secrets, interpolation and the error messages."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from driftwatch.config import ConfigError, Settings, load_settings, parse_duration, resolve_secret
from driftwatch.source.kafka import consumer_config

SECRET = "s3cr3t-Hook-Value-7f2a"  # distinctive, so a leak anywhere is easy to spot


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [4, 5, 6], "c": ["x", "y", "x"]}).to_csv(
        tmp_path / "ref.csv", index=False
    )
    pd.DataFrame({"a": [1.0, 2.0]}).to_parquet(tmp_path / "ref.parquet", index=False)
    return tmp_path


def minimal() -> dict[str, Any]:
    return {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"},
        "models": {"m": {"reference": "ref.csv", "features": ["a"]}},
    }


def with_webhook(secret: object = None) -> dict[str, Any]:
    raw = minimal()
    raw["models"]["m"]["webhooks"] = ["retrain"]
    raw["webhooks"] = {
        "retrain": {
            "url": "https://ci.example.com/hooks/retrain",
            "secret": {"env": "RETRAIN_SECRET"} if secret is None else secret,
        }
    }
    return raw


def write(directory: Path, raw: dict[str, Any] | str, name: str = "driftwatch.yaml") -> Path:
    path = directory / name
    path.write_text(raw if isinstance(raw, str) else yaml.safe_dump(raw), encoding="utf-8")
    return path


def load_error(path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    message = str(info.value)
    assert "Traceback" not in message
    return message


# valid files and defaults -----------------------------------------------------------------------


def test_minimal_config_loads_with_documented_defaults(workdir: Path) -> None:
    settings = load_settings(write(workdir, minimal()), {})
    assert isinstance(settings, Settings)
    model = settings.models["m"]
    assert model.window.length == 3600.0
    assert model.window.max_rows == 50_000
    assert model.schedule.every == 300.0
    assert model.schedule.cron is None
    assert model.drift.share == 0.5
    assert model.webhooks == []
    assert settings.kafka.bootstrap_servers == ["127.0.0.1:9092"]
    assert settings.kafka.group_id == "driftwatch"
    assert settings.kafka.security_protocol == "PLAINTEXT"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 9308)


def test_relative_reference_is_resolved_against_the_config_directory(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    path = write(workdir, minimal())
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    settings = load_settings(path, {})
    assert settings.models["m"].reference == workdir.resolve() / "ref.csv"


def test_parquet_reference_is_accepted_and_other_suffixes_refused(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["reference"] = "ref.parquet"
    assert load_settings(write(workdir, raw), {}).models["m"].reference.name == "ref.parquet"
    (workdir / "ref.pkl").write_bytes(b"not a pickle")
    raw["models"]["m"]["reference"] = "ref.pkl"
    message = load_error(write(workdir, raw))
    assert "models.m.reference" in message and "ref.pkl" in message


def test_bootstrap_servers_as_comma_separated_string_or_list(workdir: Path) -> None:
    raw = minimal()
    raw["kafka"]["bootstrap_servers"] = "a:9092, b:9092,,c:9092"
    assert load_settings(write(workdir, raw), {}).kafka.bootstrap_servers == ["a:9092", "b:9092", "c:9092"]
    raw["kafka"]["bootstrap_servers"] = ["x:1", "y:2"]
    assert load_settings(write(workdir, raw), {}).kafka.bootstrap_servers == ["x:1", "y:2"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("500ms", 0.5), ("30s", 30.0), ("5m", 300.0), ("1h", 3600.0), ("7d", 7 * 86400.0), ("2w", 14 * 86400.0)],
)
def test_durations_in_config(workdir: Path, text: str, seconds: float) -> None:
    raw = minimal()
    raw["models"]["m"]["window"] = {"length": text}
    raw["models"]["m"]["schedule"] = {"every": text}
    model = load_settings(write(workdir, raw), {}).models["m"]
    assert model.window.length == pytest.approx(seconds)
    assert model.schedule.every == pytest.approx(seconds)


@pytest.mark.parametrize(("value", "seconds"), [(45, 45.0), (2.5, 2.5), ("1.5h", 5400.0), (" 10 s ", 10.0)])
def test_parse_duration_numbers_and_decimals(value: object, seconds: float) -> None:
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["5 minutes", "10", "-1s", "0s", 0, -3, True, None, "", "1y"])
def test_parse_duration_refuses_nonsense(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


def test_parse_duration_refuses_nan() -> None:
    with pytest.raises(ValueError):
        parse_duration(float("nan"))


def test_bad_duration_in_file_names_the_key_and_value(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["window"] = {"length": "an hour"}
    message = load_error(write(workdir, raw))
    assert "models.m.window.length" in message
    assert "an hour" in message


def test_features_as_names_or_mappings(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["features"] = [
        "a",
        {"name": "b", "type": "numeric", "method": "ks", "threshold": 0.01},
        {"name": "c", "type": "categorical"},
    ]
    features = load_settings(write(workdir, raw), {}).models["m"].features
    assert [f.name for f in features] == ["a", "b", "c"]
    assert (features[0].type, features[0].method, features[0].threshold) == (None, "auto", None)
    assert (features[1].type, features[1].method, features[1].threshold) == ("numeric", "ks", 0.01)
    assert features[2].type == "categorical"


def test_cron_schedule_is_accepted(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["schedule"] = {"cron": "*/5 * * * *"}
    schedule = load_settings(write(workdir, raw), {}).models["m"].schedule
    assert (schedule.cron, schedule.every) == ("*/5 * * * *", None)


# mistakes and their messages ----------------------------------------------------------------------


def test_unknown_top_level_key(workdir: Path) -> None:
    raw = minimal()
    raw["kafak"] = {"topic": "x"}
    message = load_error(write(workdir, raw))
    assert "kafak: unknown key" in message


def test_unknown_nested_key_names_the_dotted_path(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["windw"] = {"length": "1h"}
    message = load_error(write(workdir, raw))
    assert "models.m.windw" in message
    assert "unknown key" in message


def test_wrong_type_names_path_and_value(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["window"] = {"max_rows": "lots"}
    message = load_error(write(workdir, raw))
    assert "models.m.window.max_rows" in message
    assert "lots" in message


def test_every_problem_is_reported_at_once(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["windw"] = 1
    raw["http"] = {"port": 70000}
    message = load_error(write(workdir, raw))
    assert "models.m.windw" in message
    assert "http.port" in message
    assert "2 problem(s)" in message


def test_missing_required_key(workdir: Path) -> None:
    raw = minimal()
    del raw["kafka"]["topic"]
    message = load_error(write(workdir, raw))
    assert "kafka.topic" in message


def test_missing_reference_file_names_key_and_file(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["reference"] = "nowhere/gone.parquet"
    message = load_error(write(workdir, raw))
    assert "models.m.reference" in message
    assert "gone.parquet" in message


def test_missing_config_file_and_invalid_yaml(workdir: Path) -> None:
    assert "not found" in load_error(workdir / "absent.yaml")
    message = load_error(write(workdir, "kafka: [unclosed\nmodels: {}\n"))
    assert "not valid YAML" in message and "line" in message
    assert "top level must be a mapping" in load_error(write(workdir, "- a\n- b\n"))


def test_unset_secret_variable_names_key_and_variable(workdir: Path) -> None:
    message = load_error(write(workdir, with_webhook()), {})
    assert "webhooks.retrain.secret" in message
    assert "RETRAIN_SECRET" in message
    assert "export RETRAIN_SECRET" in message


def test_empty_secret_variable_counts_as_unset(workdir: Path) -> None:
    message = load_error(write(workdir, with_webhook()), {"RETRAIN_SECRET": ""})
    assert "webhooks.retrain.secret" in message and "RETRAIN_SECRET" in message


def test_literal_secret_is_refused(workdir: Path) -> None:
    message = load_error(write(workdir, with_webhook(secret=SECRET)))
    assert "webhooks.retrain.secret" in message
    assert "secrets are never read from the config text" in message


def test_literal_secret_is_not_echoed_in_the_error(workdir: Path) -> None:
    message = load_error(write(workdir, with_webhook(secret=SECRET)))
    assert SECRET not in message


def test_secret_needs_exactly_one_source(workdir: Path) -> None:
    message = load_error(write(workdir, with_webhook(secret={"env": "A", "file": "/b"})))
    assert "webhooks.retrain.secret" in message and "exactly one" in message


def test_secret_from_env_is_resolved_and_never_printed(workdir: Path) -> None:
    settings = load_settings(write(workdir, with_webhook()), {"RETRAIN_SECRET": SECRET})
    ref = settings.webhooks["retrain"].secret
    resolved = resolve_secret(ref, "webhooks.retrain.secret", {"RETRAIN_SECRET": SECRET})
    assert resolved.get_secret_value() == SECRET
    for text in (repr(settings), str(settings), repr(resolved), str(resolved), settings.model_dump_json()):
        assert SECRET not in text


def test_secret_from_file_works(workdir: Path) -> None:
    secret_file = workdir / "hook.secret"
    secret_file.write_text(SECRET + "\n", encoding="utf-8")
    settings = load_settings(write(workdir, with_webhook(secret={"file": str(secret_file)})), {})
    resolved = resolve_secret(settings.webhooks["retrain"].secret, "webhooks.retrain.secret", {})
    assert resolved.get_secret_value() == SECRET  # trailing newline stripped
    assert SECRET not in repr(settings) and SECRET not in str(settings)


def test_relative_secret_file_is_resolved_against_the_config_directory(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (workdir / "hook.secret").write_text(SECRET, encoding="utf-8")
    path = write(workdir, with_webhook(secret={"file": "hook.secret"}))
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    load_settings(path, {})


def test_unreadable_or_empty_secret_file(workdir: Path) -> None:
    message = load_error(write(workdir, with_webhook(secret={"file": str(workdir / "missing.secret")})))
    assert "webhooks.retrain.secret" in message and "missing.secret" in message
    (workdir / "empty.secret").write_text("\n", encoding="utf-8")
    message = load_error(write(workdir, with_webhook(secret={"file": str(workdir / "empty.secret")})))
    assert "webhooks.retrain.secret" in message and "empty" in message


def test_secret_value_never_appears_in_error_messages(workdir: Path) -> None:
    environ = {"RETRAIN_SECRET": SECRET, "KAFKA_PASSWORD": SECRET}
    raw = with_webhook()
    raw["kafka"].update(
        security_protocol="SASL_SSL",
        sasl_mechanism="PLAIN",
        sasl_plain_username="dw",
        sasl_plain_password={"env": "KAFKA_PASSWORD"},
        options={"bogus_option": 1},
    )
    raw["models"]["m"]["windw"] = 1
    message = load_error(write(workdir, raw), environ)
    assert "unknown key" in message
    assert SECRET not in message
    # a later-stage error (missing reference) with secrets set
    raw = with_webhook()
    raw["models"]["m"]["reference"] = "gone.csv"
    message = load_error(write(workdir, raw), environ)
    assert "gone.csv" in message and SECRET not in message


def test_env_interpolation(workdir: Path) -> None:
    raw = minimal()
    raw["kafka"]["bootstrap_servers"] = "${BROKER}"
    raw["kafka"]["topic"] = "${TOPIC:-predictions-default}"
    raw["kafka"]["group_id"] = "dw-${ENV_NAME}-group"
    settings = load_settings(write(workdir, raw), {"BROKER": "kafka-0:9092,kafka-1:9092", "ENV_NAME": "prod"})
    assert settings.kafka.bootstrap_servers == ["kafka-0:9092", "kafka-1:9092"]
    assert settings.kafka.topic == "predictions-default"
    assert settings.kafka.group_id == "dw-prod-group"
    # a set variable wins over the default
    assert (
        load_settings(write(workdir, raw), {"BROKER": "b:1", "TOPIC": "t2", "ENV_NAME": "x"}).kafka.topic
        == "t2"
    )


def test_unset_interpolated_variable_is_an_error(workdir: Path) -> None:
    raw = minimal()
    raw["kafka"]["bootstrap_servers"] = "${BROKER_ADDRESS}"
    message = load_error(write(workdir, raw), {})
    assert "kafka.bootstrap_servers" in message
    assert "BROKER_ADDRESS" in message
    assert "not set" in message


def test_unknown_kafka_option_lists_the_allowed_ones(workdir: Path) -> None:
    raw = minimal()
    raw["kafka"]["options"] = {"max_poll_records": 10, "enable_auto_commit": True}
    message = load_error(write(workdir, raw))
    assert "kafka.options" in message
    assert "enable_auto_commit" in message
    assert "allowed:" in message
    assert "max_poll_records" in message.split("allowed:", 1)[1]
    assert "session_timeout_ms" in message.split("allowed:", 1)[1]


def test_sasl_without_mechanism_is_refused(workdir: Path) -> None:
    raw = minimal()
    raw["kafka"]["security_protocol"] = "SASL_SSL"
    message = load_error(write(workdir, raw))
    assert "kafka" in message and "sasl_mechanism" in message


def test_unknown_security_protocol_is_refused(workdir: Path) -> None:
    raw = minimal()
    raw["kafka"]["security_protocol"] = "TLS"
    message = load_error(write(workdir, raw))
    assert "kafka.security_protocol" in message and "TLS" in message


def test_undefined_webhook_target_is_refused(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["webhooks"] = ["retrain"]
    message = load_error(write(workdir, raw))
    assert "models.m.webhooks" in message
    assert "retrain" in message


def test_bad_cron_is_refused(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["schedule"] = {"cron": "61 * * * *"}
    message = load_error(write(workdir, raw))
    assert "models.m.schedule" in message and "61 * * * *" in message


def test_schedule_needs_exactly_one_kind(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["schedule"] = {"every": "5m", "cron": "*/5 * * * *"}
    assert "exactly one" in load_error(write(workdir, raw))
    raw["models"]["m"]["schedule"] = {}
    assert "exactly one" in load_error(write(workdir, raw))


def test_unknown_drift_method_is_refused(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["features"] = [{"name": "a", "method": "telepathy"}]
    message = load_error(write(workdir, raw))
    assert "models.m.features[0]" in message
    assert "telepathy" in message and "unknown drift method" in message


def test_duplicate_feature_is_refused(workdir: Path) -> None:
    raw = minimal()
    raw["models"]["m"]["features"] = ["a", {"name": "a", "type": "numeric"}]
    message = load_error(write(workdir, raw))
    assert "models.m.features" in message and "'a'" in message and "twice" in message


@pytest.mark.parametrize(
    ("section", "where"),
    [
        ({"drift": {"share": 0}}, "models.m.drift.share"),
        ({"drift": {"share": 1.5}}, "models.m.drift.share"),
        ({"window": {"max_rows": 5}}, "models.m.window.max_rows"),
        ({"features": []}, "models.m.features"),
    ],
)
def test_out_of_range_values(workdir: Path, section: dict[str, Any], where: str) -> None:
    raw = minimal()
    raw["models"]["m"].update(copy.deepcopy(section))
    assert where in load_error(write(workdir, raw))


def test_webhook_url_must_be_http(workdir: Path) -> None:
    raw = with_webhook()
    raw["webhooks"]["retrain"]["url"] = "ftp://example.com/x"
    message = load_error(write(workdir, raw), {"RETRAIN_SECRET": SECRET})
    assert "webhooks.retrain.url" in message and "ftp://example.com/x" in message


def test_missing_tls_file_is_refused(workdir: Path) -> None:
    raw = minimal()
    raw["kafka"].update(security_protocol="SSL", ssl_cafile="certs/ca.pem")
    message = load_error(write(workdir, raw))
    assert "kafka.ssl_cafile" in message and "ca.pem" in message


# kafka consumer settings ------------------------------------------------------------------------------


def test_consumer_config_passes_security_settings_through(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ca.pem", "cert.pem", "key.pem"):
        (workdir / name).write_text("-----BEGIN CERTIFICATE-----\n", encoding="utf-8")
    raw = minimal()
    raw["kafka"].update(
        bootstrap_servers="k1:9093,k2:9093",
        group_id="dw-test",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="driftwatch",
        sasl_plain_password={"env": "KAFKA_PASSWORD"},
        ssl_cafile="ca.pem",
        ssl_certfile="cert.pem",
        ssl_keyfile="key.pem",
        ssl_password={"env": "KEY_PASSWORD"},
        options={"client_id": "dw-1", "max_poll_records": 17, "session_timeout_ms": 6000},
    )
    environ = {"KAFKA_PASSWORD": "kafka-pw", "KEY_PASSWORD": "key-pw"}
    settings = load_settings(write(workdir, raw), environ)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    config = consumer_config(settings.kafka)
    assert config["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert config["group_id"] == "dw-test"
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_mechanism"] == "SCRAM-SHA-512"
    assert config["sasl_plain_username"] == "driftwatch"
    assert config["sasl_plain_password"] == "kafka-pw"
    assert config["ssl_password"] == "key-pw"
    for name, file in (("ssl_cafile", "ca.pem"), ("ssl_certfile", "cert.pem"), ("ssl_keyfile", "key.pem")):
        assert isinstance(config[name], str)
        assert Path(config[name]) == workdir.resolve() / file
    assert config["client_id"] == "dw-1"
    assert config["max_poll_records"] == 17  # the user's option beats the throughput default
    assert config["session_timeout_ms"] == 6000
    assert config["enable_auto_commit"] is False


def test_consumer_config_plaintext_has_no_security_extras(workdir: Path) -> None:
    config = consumer_config(load_settings(write(workdir, minimal()), {}).kafka)
    assert config["enable_auto_commit"] is False
    assert config["security_protocol"] == "PLAINTEXT"
    for name in (
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "ssl_cafile",
        "ssl_password",
    ):
        assert name not in config


def test_consumer_config_reports_an_unset_password_by_key(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = minimal()
    raw["kafka"].update(
        security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN", sasl_plain_password={"env": "KAFKA_PW_X"}
    )
    settings = load_settings(write(workdir, raw), {"KAFKA_PW_X": "pw"})
    monkeypatch.delenv("KAFKA_PW_X", raising=False)
    with pytest.raises(ConfigError, match=r"kafka\.sasl_plain_password.*KAFKA_PW_X"):
        consumer_config(settings.kafka)


# webhook targets: method, template, headers, max_age ------------------------------------------------------


def load_webhook(workdir: Path, environ: dict[str, str] | None = None, **target: Any) -> Any:
    raw = with_webhook()
    raw["webhooks"]["retrain"].update(target)
    return load_settings(write(workdir, raw), {"RETRAIN_SECRET": SECRET, **(environ or {})}).webhooks[
        "retrain"
    ]


def webhook_error(workdir: Path, environ: dict[str, str] | None = None, **target: Any) -> str:
    raw = with_webhook()
    raw["webhooks"]["retrain"].update(target)
    return load_error(write(workdir, raw), {"RETRAIN_SECRET": SECRET, **(environ or {})})


def test_webhook_defaults(workdir: Path) -> None:
    hook = load_webhook(workdir)
    assert (hook.method, hook.template, hook.max_age, hook.headers) == ("POST", "generic", 86400.0, {})


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_webhook_methods_allowed(workdir: Path, method: str) -> None:
    assert load_webhook(workdir, method=method).method == method


@pytest.mark.parametrize("method", ["GET", "DELETE", "HEAD", "FETCH"])
def test_webhook_method_must_send_a_body(workdir: Path, method: str) -> None:
    message = webhook_error(workdir, method=method)
    assert "webhooks.retrain.method" in message
    assert method in message
    assert "POST" in message and "PUT" in message and "PATCH" in message


@pytest.mark.parametrize("template", ["generic", "airflow", "github", "slack"])
def test_builtin_webhook_templates(workdir: Path, template: str) -> None:
    assert load_webhook(workdir, template=template).template == template


def test_unknown_webhook_template_is_refused(workdir: Path) -> None:
    message = webhook_error(workdir, template="jenkins")
    assert "webhooks.retrain.template" in message
    assert "'jenkins'" in message
    assert "generic" in message and "airflow" in message


def test_missing_webhook_template_file_is_refused(workdir: Path) -> None:
    message = webhook_error(workdir, template="hooks/retrain.json")
    assert "webhooks.retrain.template" in message
    assert "not found" in message and str(workdir / "hooks" / "retrain.json") in message


def test_invalid_webhook_template_file_is_refused(workdir: Path) -> None:
    (workdir / "bad.json").write_text('{"m": "{{ model | upper }}"}', encoding="utf-8")
    message = webhook_error(workdir, template="bad.json")
    assert "webhooks.retrain.template" in message and "not a field name" in message


def test_relative_webhook_template_is_resolved_against_the_config_directory(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from driftwatch.alerting.templates import load_template

    (workdir / "hooks").mkdir()
    (workdir / "hooks" / "retrain.json").write_text('{"model": "{{ model }}"}', encoding="utf-8")
    raw = with_webhook()
    raw["webhooks"]["retrain"]["template"] = "hooks/retrain.json"
    path = write(workdir, raw)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    template = load_settings(path, {"RETRAIN_SECRET": SECRET}).webhooks["retrain"].template
    assert Path(template) == (workdir / "hooks" / "retrain.json").resolve()
    assert load_template(template).document == {"model": "{{ model }}"}  # usable from any cwd


def test_webhook_headers_plain_and_secret(workdir: Path) -> None:
    from driftwatch.config import SecretHeader

    hook = load_webhook(
        workdir,
        {"HOOK_TOKEN": "tok-123"},
        headers={"X-Team": "ml", "Authorization": {"env": "HOOK_TOKEN", "prefix": "token="}},
    )
    assert hook.headers["X-Team"] == "ml"
    credential = hook.headers["Authorization"]
    assert isinstance(credential, SecretHeader)
    assert credential.value({"HOOK_TOKEN": "tok-123"}).get_secret_value() == "token=tok-123"
    assert "tok-123" not in repr(hook)


def test_secret_header_prefix_is_kept_verbatim(workdir: Path) -> None:
    """``prefix: "Bearer "`` (as in the README) must keep its space: ``Bearer <token>``."""
    hook = load_webhook(
        workdir,
        {"HOOK_TOKEN": "tok-123"},
        headers={"Authorization": {"env": "HOOK_TOKEN", "prefix": "Bearer "}},
    )
    assert (
        hook.headers["Authorization"].value({"HOOK_TOKEN": "tok-123"}).get_secret_value() == "Bearer tok-123"
    )


def test_secret_header_with_unset_variable_names_the_header(workdir: Path) -> None:
    message = webhook_error(
        workdir,
        {"OTHER_TOKEN": "tok-other-55e1"},
        headers={
            "Authorization": {"env": "HOOK_TOKEN", "prefix": "Bearer "},
            "X-Other": {"env": "OTHER_TOKEN"},
        },
    )
    assert "webhooks.retrain.headers.Authorization" in message
    assert "HOOK_TOKEN" in message
    assert "X-Other" not in message  # the header whose secret is set is fine
    assert SECRET not in message and "tok-other-55e1" not in message


def test_relative_secret_header_file_is_resolved_against_the_config_directory(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (workdir / "token").write_text("tok-file-9\n", encoding="utf-8")
    raw = with_webhook()
    raw["webhooks"]["retrain"]["headers"] = {"X-Api-Key": {"file": "token"}}
    path = write(workdir, raw)
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    header = load_settings(path, {"RETRAIN_SECRET": SECRET}).webhooks["retrain"].headers["X-Api-Key"]
    assert not isinstance(header, str)
    assert header.value({}).get_secret_value() == "tok-file-9"


def test_missing_secret_header_file_names_the_header(workdir: Path) -> None:
    message = webhook_error(workdir, headers={"X-Api-Key": {"file": "no-such-token"}})
    assert "webhooks.retrain.headers.X-Api-Key" in message and "no-such-token" in message


@pytest.mark.parametrize(
    "header", ["Idempotency-Key", "Driftwatch-Signature", "Host", "host", "IDEMPOTENCY-KEY", "Content-Length"]
)
def test_reserved_headers_are_refused(workdir: Path, header: str) -> None:
    message = webhook_error(workdir, headers={header: "mine"})
    assert "webhooks.retrain.headers" in message
    assert repr(header) in message and "set by driftwatch itself" in message


@pytest.mark.parametrize("header", ["Bad Header", "X-Ünicode", "", "X:Y"])
def test_invalid_header_names_are_refused(workdir: Path, header: str) -> None:
    message = webhook_error(workdir, headers={header: "v"})
    assert "webhooks.retrain.headers" in message and "not a valid HTTP header name" in message


def test_webhook_without_a_secret_is_valid(workdir: Path) -> None:
    raw = with_webhook()
    del raw["webhooks"]["retrain"]["secret"]
    raw["webhooks"]["retrain"]["template"] = "slack"
    hook = load_settings(write(workdir, raw), {}).webhooks["retrain"]
    assert hook.secret is None
    assert hook.secret_refs("retrain") == []


@pytest.mark.parametrize(("text", "seconds"), [("2h", 7200.0), ("30m", 1800.0), ("1d", 86400.0), (90, 90.0)])
def test_webhook_max_age_durations(workdir: Path, text: object, seconds: float) -> None:
    assert load_webhook(workdir, max_age=text).max_age == seconds


def test_webhook_max_age_must_be_a_duration(workdir: Path) -> None:
    message = webhook_error(workdir, max_age="forever")
    assert "webhooks.retrain.max_age" in message and "forever" in message


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, Path("driftwatch-state.sqlite")),  # unset: the default, in the working directory
        ({"STATE": ""}, Path("driftwatch-state.sqlite")),
        ({"STATE": "/var/lib/driftwatch/s.sqlite"}, Path("/var/lib/driftwatch/s.sqlite")),
        ({"STATE": "s.sqlite"}, None),  # relative: to the config file, as written in it
    ],
)
def test_an_empty_state_path_is_the_default(
    workdir: Path, environ: dict[str, str], expected: Path | None
) -> None:
    """`state.path: ${STATE:-}` (configs/demo.yaml, the image's config): the image sets it, a local run
    keeps the default file in the working directory."""
    raw = minimal()
    raw["state"] = {"path": "${STATE:-}"}
    settings = load_settings(write(workdir, raw), environ)
    assert settings.state.file == (expected or workdir / "s.sqlite")
