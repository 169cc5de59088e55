"""kafka.client: confluent takes the settings kafka-python takes: each passthrough option, TLS and SASL
translated to librdkafka's properties (which librdkafka itself accepts), secrets kept out of logs and
errors, and the config refusing, in one message, what librdkafka has no equivalent for.

librdkafka is real here (confluent-kafka's Consumer, built and closed without polling, pointed at a dead
port), no broker: it checks its properties when the consumer is built."""

from __future__ import annotations

import datetime
import logging
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import Consumer as LibConsumer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pydantic import ValidationError

from driftwatch.config import (
    _KAFKA_PASSTHROUGH,
    _NO_LIBRDKAFKA_EQUIVALENT,
    ConfigError,
    KafkaSettings,
    load_settings,
)
from driftwatch.source.confluent import LOCAL_OPTIONS, OPTION_NAMES, ConfluentConsumer, confluent_config
from driftwatch.source.kafka import connection_config
from driftwatch.source.problems import ConsumerProblemError, classify
from tests.waiting import wait_for

SASL_SECRET = "sasl-Pw-5b9e1c"  # distinctive, so a leak anywhere is easy to spot
KEY_SECRET = "key-Pw-77d0a4"
WRONG_SECRET = "wrong-Pw-31a8c2"
DEAD = "127.0.0.1:1"  # nothing listens: librdkafka is built and closed, never reaches a broker

# every kafka-python option with a librdkafka equivalent: a value of its kind, and the property it sets
MAPPED: dict[str, tuple[Any, str]] = {
    "client_id": ("dw-7", "client.id"),
    "fetch_min_bytes": (2, "fetch.min.bytes"),
    "fetch_max_wait_ms": (250, "fetch.wait.max.ms"),
    "fetch_max_bytes": (32 * 1024 * 1024, "fetch.max.bytes"),
    "max_partition_fetch_bytes": (4 * 1024 * 1024, "max.partition.fetch.bytes"),
    "request_timeout_ms": (25_000, "socket.timeout.ms"),
    "retry_backoff_ms": (150, "retry.backoff.ms"),
    "reconnect_backoff_ms": (60, "reconnect.backoff.ms"),
    "reconnect_backoff_max_ms": (9_000, "reconnect.backoff.max.ms"),
    "max_in_flight_requests_per_connection": (4, "max.in.flight.requests.per.connection"),
    "auto_offset_reset": ("latest", "auto.offset.reset"),
    "session_timeout_ms": (9_000, "session.timeout.ms"),
    "heartbeat_interval_ms": (2_000, "heartbeat.interval.ms"),
    "max_poll_interval_ms": (120_000, "max.poll.interval.ms"),
    "receive_buffer_bytes": (262_144, "socket.receive.buffer.bytes"),
    "send_buffer_bytes": (131_072, "socket.send.buffer.bytes"),
    "connections_max_idle_ms": (500_000, "connections.max.idle.ms"),
    "metadata_max_age_ms": (120_000, "metadata.max.age.ms"),
    "isolation_level": ("read_committed", "isolation.level"),
    "ssl_crlfile": ("/etc/ssl/crl.pem", "ssl.crl.location"),
    "ssl_ciphers": ("ECDHE-ECDSA-AES256-GCM-SHA384", "ssl.cipher.suites"),
    "sasl_kerberos_service_name": ("kafka-svc", "sasl.kerberos.service.name"),
}
# handled by driftwatch itself, not passed as properties
LOCAL = {"max_poll_records": 700, "api_version_auto_timeout_ms": 3000, "ssl_check_hostname": True}


def settings(**kafka: Any) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=[DEAD], topic="predictions", client="confluent", **kafka)


def properties(kafka: KafkaSettings) -> dict[str, Any]:
    return confluent_config(kafka, connection_config(kafka))


@pytest.fixture
def tls_files(tmp_path: Path) -> dict[str, Path]:
    """A CA, a client certificate it signed, and the client's key encrypted with KEY_SECRET."""
    now = datetime.datetime.now(datetime.UTC)

    def certificate(subject: str, key: Any, issuer: str, signer: Any, ca: bool) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256())
        )

    ca_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = certificate("driftwatch-test-ca", ca_key, "driftwatch-test-ca", ca_key, True)
    client = certificate("driftwatch", client_key, "driftwatch-test-ca", ca_key, False)
    files = {"ssl_cafile": tmp_path / "ca.pem", "ssl_certfile": tmp_path / "client.pem"}
    files["ssl_cafile"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["ssl_certfile"].write_bytes(client.public_bytes(serialization.Encoding.PEM))
    files["ssl_keyfile"] = tmp_path / "client.key"
    files["ssl_keyfile"].write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(KEY_SECRET.encode()),
        )
    )
    return files


@pytest.fixture
def secure(tls_files: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> KafkaSettings:
    """SASL_SSL with SCRAM, its password and the key's from the environment, every option set."""
    monkeypatch.setenv("DW_SASL_PASSWORD", SASL_SECRET)
    monkeypatch.setenv("DW_KEY_PASSWORD", KEY_SECRET)
    options = {name: value for name, (value, _) in MAPPED.items() if name != "ssl_crlfile"}
    return settings(
        group_id="dw-secure",
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_plain_username="driftwatch",
        sasl_plain_password={"env": "DW_SASL_PASSWORD"},
        ssl_password={"env": "DW_KEY_PASSWORD"},
        options={**options, **LOCAL},
        **tls_files,
    )


def librdkafka_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "driftwatch.source.confluent"]


def build(config: dict[str, Any]) -> None:
    """librdkafka's verdict: building its consumer raises KafkaException on a property it refuses."""
    consumer = LibConsumer({**config, "logger": logging.getLogger("tests.librdkafka")})  # not on stderr
    consumer.close()


# the mapping --------------------------------------------------------------------------------------


def test_every_passthrough_option_is_translated_handled_or_refused() -> None:
    assert set(MAPPED) == set(OPTION_NAMES)
    assert set(LOCAL) == set(LOCAL_OPTIONS)
    groups = (set(OPTION_NAMES), set(LOCAL_OPTIONS), set(_NO_LIBRDKAFKA_EQUIVALENT))
    assert set().union(*groups) == _KAFKA_PASSTHROUGH
    assert sum(map(len, groups)) == len(_KAFKA_PASSTHROUGH)  # each in one group only


@pytest.mark.parametrize("name", sorted(MAPPED))
def test_each_option_sets_its_librdkafka_property(name: str) -> None:
    value, prop = MAPPED[name]
    assert properties(settings(options={name: value}))[prop] == value
    assert properties(settings()).get(prop) != value  # not what it is anyway


def test_driftwatch_handles_its_own_options_and_passes_none_of_them() -> None:
    with_local = properties(settings(options=LOCAL))
    assert with_local == properties(settings())
    assert "ssl.endpoint.identification.algorithm" not in with_local  # librdkafka checks names by default
    unchecked = properties(settings(options={"ssl_check_hostname": False}))
    assert unchecked["ssl.endpoint.identification.algorithm"] == "none"


def test_the_consumer_fetches_max_poll_records_at_most(monkeypatch: pytest.MonkeyPatch) -> None:
    from driftwatch.source import confluent
    from driftwatch.source.kafka import KafkaSource

    built: list[ConfluentConsumer] = []

    class Recording(ConfluentConsumer):
        def __init__(self, config: Any, max_records: int = 5000, factory: Any = None) -> None:
            super().__init__(config, max_records, factory)
            built.append(self)

    monkeypatch.setattr(confluent, "ConfluentConsumer", Recording)
    source = KafkaSource(settings(options={"max_poll_records": 700}), lambda *a: None, _Observer())
    consumer = source._connect()
    try:
        assert [c._max_records for c in built] == [700]
    finally:
        consumer.close()


def test_group_commits_and_defaults() -> None:
    config = properties(settings(group_id="dw-g"))
    assert config["bootstrap.servers"] == DEAD
    assert config["group.id"] == "dw-g"
    assert config["enable.auto.commit"] is False and config["enable.auto.offset.store"] is False
    assert config["security.protocol"] == "PLAINTEXT"
    assert config["auto.offset.reset"] == "earliest"  # driftwatch's default, as with kafka-python
    assert not any(k.startswith(("ssl.", "sasl.")) for k in config)


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        # kafka-python's "none" is librdkafka's "error": no committed offset is an error either way
        ({"auto_offset_reset": "none"}, {"auto.offset.reset": "error"}),
        # librdkafka refuses max.poll.interval.ms below session.timeout.ms; kafka-python takes it
        ({"session_timeout_ms": 400_000}, {"max.poll.interval.ms": 400_000}),
        # and reconnect.backoff.max.ms below reconnect.backoff.ms (driftwatch's default max is 10 s)
        ({"reconnect_backoff_ms": 20_000}, {"reconnect.backoff.max.ms": 20_000}),
        # and fetch.max.bytes below message.max.bytes (1 MB unless lowered)
        ({"fetch_max_bytes": 500_000}, {"fetch.max.bytes": 500_000, "message.max.bytes": 500_000}),
    ],
)
def test_librdkafka_bounds_follow_the_options(options: dict[str, Any], expected: dict[str, Any]) -> None:
    config = properties(settings(options=options))
    assert {name: config[name] for name in expected} == expected
    build(config)


def test_tls_and_sasl_settings_are_passed_through(secure: KafkaSettings, tls_files: dict[str, Path]) -> None:
    config = properties(secure)
    assert config["security.protocol"] == "SASL_SSL"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert config["sasl.username"] == "driftwatch"
    assert config["sasl.password"] == SASL_SECRET  # resolved from the environment
    assert config["ssl.ca.location"] == str(tls_files["ssl_cafile"])
    assert config["ssl.certificate.location"] == str(tls_files["ssl_certfile"])
    assert config["ssl.key.location"] == str(tls_files["ssl_keyfile"])
    assert config["ssl.key.password"] == KEY_SECRET
    assert config["group.id"] == "dw-secure"
    for name, (value, prop) in MAPPED.items():
        if name in secure.options:
            assert config[prop] == value, name


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
def test_security_protocol(protocol: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DW_SASL_PASSWORD", SASL_SECRET)
    sasl: dict[str, Any] = {
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "dw",
        "sasl_plain_password": {"env": "DW_SASL_PASSWORD"},
    }
    sasl = sasl if protocol.startswith("SASL") else {}
    config = properties(settings(security_protocol=protocol, **sasl))
    assert config["security.protocol"] == protocol
    build(config)


# librdkafka's verdict -----------------------------------------------------------------------------


def test_librdkafka_accepts_the_secure_config_with_every_option(secure: KafkaSettings) -> None:
    # the key is decrypted with ssl.key.password and the files loaded when the consumer is built: a
    # wrong password or an unreadable file would raise here
    build(properties(secure))
    ConfluentConsumer(properties(secure)).close()  # with driftwatch's callbacks and logger


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"])
def test_librdkafka_accepts_each_sasl_mechanism(mechanism: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DW_SASL_PASSWORD", SASL_SECRET)
    config = properties(
        settings(
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=mechanism,
            sasl_plain_username="driftwatch",
            sasl_plain_password={"env": "DW_SASL_PASSWORD"},
        )
    )
    assert (config["sasl.mechanism"], config["sasl.username"]) == (mechanism, "driftwatch")
    assert config["sasl.password"] == SASL_SECRET
    build(config)


def _secure_config_file(tmp_path: Path, tls_files: dict[str, Path], key_secret: str) -> Path:
    """A config file as an operator writes one: SASL_SSL with PLAIN, both passwords in secret files,
    the TLS files and the secret files given relative to the config's directory."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "sasl").write_text(SASL_SECRET + "\n", encoding="utf-8")
    (tmp_path / "secrets" / "key").write_text(key_secret + "\n", encoding="utf-8")
    (tmp_path / "ref.csv").write_text("a\n1.0\n2.0\n", encoding="utf-8")
    kafka = {
        "bootstrap_servers": DEAD,
        "topic": "predictions",
        "client": "confluent",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "PLAIN",
        "sasl_plain_username": "driftwatch",
        "sasl_plain_password": {"file": "secrets/sasl"},
        "ssl_password": {"file": "secrets/key"},
        **{name: path.relative_to(tmp_path).as_posix() for name, path in tls_files.items()},
    }
    raw = {"kafka": kafka, "models": {"m": {"reference": "ref.csv", "features": ["a"]}}}
    path = tmp_path / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_passwords_from_secret_files_and_relative_tls_files_reach_librdkafka(
    tmp_path: Path, tls_files: dict[str, Path]
) -> None:
    loaded = load_settings(_secure_config_file(tmp_path, tls_files, KEY_SECRET), {})
    config = properties(loaded.kafka)
    assert config["security.protocol"] == "SASL_SSL"
    assert (config["sasl.mechanism"], config["sasl.username"]) == ("PLAIN", "driftwatch")
    assert config["sasl.password"] == SASL_SECRET  # read from the file, without its newline
    assert config["ssl.key.password"] == KEY_SECRET
    assert config["ssl.ca.location"] == str(tls_files["ssl_cafile"].resolve())
    assert config["ssl.certificate.location"] == str(tls_files["ssl_certfile"].resolve())
    assert config["ssl.key.location"] == str(tls_files["ssl_keyfile"].resolve())
    # librdkafka loads the files and decrypts the key with the password from its file
    build(config)
    ConfluentConsumer(config).close()


# secrets ------------------------------------------------------------------------------------------


def test_secrets_appear_in_no_log_and_no_error(
    secure: KafkaSettings, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    assert SASL_SECRET not in repr(secure) and KEY_SECRET not in repr(secure)
    consumer = ConfluentConsumer(properties(secure))
    try:
        # librdkafka's log lines reach Python's logging inside polls: its failing connection says things
        wait_for(
            lambda: consumer.poll(timeout_ms=100) == {} and bool(librdkafka_lines(caplog)),
            10,
            "librdkafka to log its failing connection",
        )
    finally:
        consumer.close()
    # a key librdkafka cannot decrypt with the password given: the error names the key, not a password
    monkeypatch.setenv("DW_KEY_PASSWORD", WRONG_SECRET)
    with pytest.raises(ConsumerProblemError) as refused:
        ConfluentConsumer(properties(secure))
    problem = classify(refused.value)
    assert problem is not None and problem.reason == "configuration" and not problem.broker_answered
    assert "ssl.key" in problem.error, problem.error
    said = [str(refused.value), problem.describe(), *(r.getMessage() for r in caplog.records)]
    for text in said:
        for secret in (SASL_SECRET, KEY_SECRET, WRONG_SECRET):
            assert secret not in text, text


def test_a_wrong_key_password_from_a_file_is_named_without_a_secret(
    tmp_path: Path, tls_files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    loaded = load_settings(_secure_config_file(tmp_path, tls_files, WRONG_SECRET), {})
    with pytest.raises(ConsumerProblemError) as refused:
        ConfluentConsumer(properties(loaded.kafka))
    problem = classify(refused.value)
    assert problem is not None and problem.reason == "configuration" and "ssl.key" in problem.error
    said = [str(refused.value), problem.describe(), repr(loaded), *(r.getMessage() for r in caplog.records)]
    for text in said:
        for secret in (SASL_SECRET, KEY_SECRET, WRONG_SECRET):
            assert secret not in text, text


def test_a_refused_property_beside_the_secrets_is_named_without_them(
    secure: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    """librdkafka refuses one property of a config holding both passwords: neither its error, nor the
    problem the source names and logs, shows them."""
    from driftwatch.source.kafka import KafkaSource

    caplog.set_level(logging.DEBUG)
    refusing = secure.model_copy(update={"options": {**secure.options, "metadata_max_age_ms": 0}})
    with pytest.raises(ConsumerProblemError) as refused:
        ConfluentConsumer(properties(refusing))
    source = KafkaSource(refusing, lambda *a: None, _Observer())
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: source.problem is not None, 10, "the source to name the problem")
    finally:
        stop.set()
        thread.join(10)
    assert source.problem is not None and "metadata.max.age.ms" in source.problem.error
    said = [str(refused.value), source.problem.describe(), *(r.getMessage() for r in caplog.records)]
    assert any("metadata.max.age.ms" in text for text in said[2:]), said
    for text in said:
        for secret in (SASL_SECRET, KEY_SECRET):
            assert secret not in text, text


def test_a_property_librdkafka_refuses_is_a_configuration_problem_not_an_outage() -> None:
    config = properties(settings(options={"metadata_max_age_ms": 0}))  # librdkafka's range starts at 1
    with pytest.raises(ConsumerProblemError) as refused:
        ConfluentConsumer(config)
    problem = classify(refused.value)
    assert problem is not None and problem.reason == "configuration"
    assert "metadata.max.age.ms" in problem.error and "kafka.options" in problem.fix


def test_the_source_names_a_refused_config_and_does_not_call_it_an_outage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from driftwatch.source.kafka import KafkaSource

    observer = _Observer()
    source = KafkaSource(settings(options={"metadata_max_age_ms": 0}), lambda *a: None, observer)
    stop = threading.Event()
    thread = threading.Thread(target=source.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: source.problem is not None, 10, "the source to name the problem")
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive()
    assert source.problem is not None and source.problem.reason == "configuration"
    assert source.down_since is None and observer.up is not True  # no outage, and no broker answered
    assert [r for r in caplog.records if "metadata.max.age.ms" in r.getMessage()]


# what the config refuses --------------------------------------------------------------------------


def _config(tmp_path: Path, kafka: dict[str, Any]) -> Path:
    (tmp_path / "ref.csv").write_text("a\n1.0\n2.0\n", encoding="utf-8")
    raw = {
        "kafka": {"bootstrap_servers": DEAD, "topic": "predictions", "client": "confluent", **kafka},
        "models": {"m": {"reference": "ref.csv", "features": ["a"]}},
    }
    path = tmp_path / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _refusal(tmp_path: Path, kafka: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(_config(tmp_path, kafka), {"DW_SASL_PASSWORD": SASL_SECRET})
    problems = [line for line in str(info.value).splitlines() if line.startswith("  - ")]
    assert len(problems) == 1, str(info.value)
    assert SASL_SECRET not in str(info.value)
    return problems[0]


@pytest.mark.parametrize(
    ("kafka", "said"),
    [
        ({"reader": "process"}, ("kafka.reader: process", "remove kafka.reader")),
        (
            {"options": {"sasl_kerberos_domain_name": "corp.example"}},
            ("kafka.options.sasl_kerberos_domain_name", "'corp.example'", "remove it"),
        ),
        (
            {
                "security_protocol": "SASL_PLAINTEXT",
                "sasl_mechanism": "GSSAPI",
                "sasl_plain_password": {"env": "DW_SASL_PASSWORD"},
            },
            ("kafka.sasl_mechanism 'GSSAPI'", "use kafka.client: kafka-python"),
        ),
        (
            {"options": {"session_timeout_ms": 60_000, "max_poll_interval_ms": 30_000}},
            ("kafka.options.max_poll_interval_ms (30000)", "session_timeout_ms (60000)", "raise"),
        ),
        (
            {"options": {"reconnect_backoff_ms": 5_000, "reconnect_backoff_max_ms": 1_000}},
            ("kafka.options.reconnect_backoff_max_ms (1000)", "reconnect_backoff_ms (5000)", "raise"),
        ),
    ],
)
def test_the_config_refuses_what_librdkafka_cannot_do_in_one_message(
    tmp_path: Path, kafka: dict[str, Any], said: tuple[str, ...]
) -> None:
    message = _refusal(tmp_path, kafka)
    for part in said:
        assert part in message, message


def test_kafka_python_takes_what_confluent_refuses(tmp_path: Path) -> None:
    for kafka in (
        {"reader": "process"},
        {"options": {"sasl_kerberos_domain_name": "corp.example"}},
        {"options": {"session_timeout_ms": 60_000, "max_poll_interval_ms": 30_000}},
        {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "GSSAPI"},
    ):
        path = _config(tmp_path, {**kafka, "client": "kafka-python"})
        assert load_settings(path, {}).kafka.client == "kafka-python"


def test_settings_refuse_without_a_config_file() -> None:
    with pytest.raises(ValidationError, match=r"kafka\.reader: process"):
        settings(reader="process")


class _Observer:
    up: bool | None = None

    def set_kafka_up(self, up: bool) -> None:
        self.up = up

    def set_consumer_lag(self, topic: str, partition: int, lag: int) -> None:
        pass

    def drop_consumer_lag(self, topic: str, partition: int) -> None:
        pass

    def count_undecodable_batches(self, reason: str, count: int = 1) -> None:
        pass

    def count_offset_commit(self, outcome: str) -> None:
        pass

    def count_dead_letters(self, outcome: str, count: int = 1) -> None:
        pass
