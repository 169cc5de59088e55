"""http.web_config_file (exporter-toolkit's web config) and http.api/reports/probes: parsing, every
error line, who gets which path, basic auth over TLS on a real in-process server, secrets never shown."""

from __future__ import annotations

import base64
import json
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pandas as pd
import pytest
import yaml

from driftwatch.config import ConfigError, load_settings
from driftwatch.service import http as http_module
from driftwatch.service.http import HttpServer
from driftwatch.service.metrics import Metrics
from driftwatch.webconfig import BasicAuth, WebAccess, WebConfigError, load_web_config
from tests.tlscerts import Certs, make_certs
from tests.waiting import wait_for

PASSWORD = "correct horse"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests
GO_HASH = HASH.replace("$2b$", "$2y$", 1)  # htpasswd and Go write $2y$


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def write_web(directory: Path, document: object, name: str = "web.yml") -> Path:
    path = directory / name
    text = document if isinstance(document, str) else yaml.safe_dump(document)
    path.write_text(text, encoding="utf-8")
    return path


def problems(path: Path) -> list[str]:
    with pytest.raises(WebConfigError) as info:
        load_web_config(path)
    assert str(info.value) == "\n".join(info.value.problems)
    return info.value.problems


def only_problem(path: Path) -> str:
    found = problems(path)
    assert len(found) == 1, found
    assert HASH not in found[0] and GO_HASH not in found[0]
    return found[0]


# parsing ----------------------------------------------------------------------------------------


def test_full_file_with_relative_paths(certs: Certs) -> None:
    directory = certs.ca.parent
    path = write_web(
        directory,
        {
            "tls_server_config": {
                "cert_file": "server.crt",
                "key_file": "server.key",
                "client_ca_file": "ca.crt",
                "client_auth_type": "RequireAndVerifyClientCert",
                "min_version": "TLS13",
            },
            "http_server_config": {"http2": False, "headers": {"X-Content-Type-Options": "nosniff"}},
            "basic_auth_users": {"prometheus": GO_HASH},
        },
    )
    web = load_web_config(path)
    assert web.tls is not None
    assert web.tls.cert_file == directory / "server.crt" and web.tls.client_ca_file == directory / "ca.crt"
    context = web.tls.context()
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.minimum_version == ssl.TLSVersion.TLSv1_3
    assert web.headers == {"X-Content-Type-Options": "nosniff"}
    assert web.users == {"prometheus": GO_HASH.encode()}
    assert GO_HASH not in repr(web) and "prometheus" in repr(web)


@pytest.mark.parametrize("text", ["", "{}\n", "tls_server_config: {}\nbasic_auth_users: {}\n"])
def test_empty_file_is_plain_http_without_auth(tmp_path: Path, text: str) -> None:
    web = load_web_config(write_web(tmp_path, text))
    assert web.tls is None and web.users == {} and web.headers == {}


def test_verify_if_given_maps_to_optional(certs: Certs) -> None:
    path = write_web(
        certs.ca.parent,
        {
            "tls_server_config": {
                "cert_file": str(certs.server_cert),
                "key_file": str(certs.server_key),
                "client_ca_file": str(certs.ca),
                "client_auth_type": "VerifyClientCertIfGiven",
            }
        },
        "optional.yml",
    )
    tls = load_web_config(path).tls
    assert tls is not None and tls.context().verify_mode == ssl.CERT_OPTIONAL


def tls_with(certs: Certs, **changes: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)}
    section.update(changes)
    return {"tls_server_config": {k: v for k, v in section.items() if v is not None}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"tls_server_confg": {}}, ["unknown key 'tls_server_confg'", "known: tls_server_config"]),
        ({"rate_limit": {"interval": "1s", "burst": 2}}, ["rate_limit:", "not supported", "remove it"]),
        ("[1, 2]", ["holds a list, not a mapping"]),
        ("tls_server_config: [\n", ["not valid YAML at line", "fix the syntax"]),
        ({"basic_auth_users": ["alice"]}, ["basic_auth_users is a list, not a mapping"]),
        ({"basic_auth_users": {"al:ice": HASH}}, ["user name 'al:ice'", "without ':'"]),
        (
            {"http_server_config": {"headers": {"Set-Cookie": "x"}}},
            ["header 'Set-Cookie' cannot be set", "X-Frame-Options"],
        ),
        ({"http_server_config": {"http2": "yes"}}, ["http_server_config.http2 is 'yes'", "true or false"]),
        ({"http_server_config": {"http3": True}}, ["unknown key 'http_server_config.http3'"]),
    ],
)
def test_each_problem_is_one_line_naming_key_value_and_fix(
    tmp_path: Path, document: object, expected: list[str]
) -> None:
    line = only_problem(write_web(tmp_path, document))
    assert line.startswith(f"http.web_config_file '{tmp_path / 'web.yml'}': ")
    assert "\n" not in line
    for part in expected:
        assert part in line, line


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"cert_file": None}, ["tls_server_config.cert_file is missing", "certificate"]),
        ({"key_file": None}, ["tls_server_config.key_file is missing", "private key"]),
        ({"cert_file": "nope.crt"}, ["cert_file: file 'nope.crt' not found", "relative to the web config"]),
        ({"client_ca_file": "nope.crt"}, ["client_ca_file: file 'nope.crt' not found"]),
        ({"client_auth_type": "RequireAnyClientCert"}, ["'RequireAnyClientCert' cannot be expressed", "ssl"]),
        ({"client_auth_type": "RequestClientCert"}, ["'RequestClientCert' cannot be expressed"]),
        ({"client_auth_type": "Always"}, ["'Always' is not a client auth type", "NoClientCert"]),
        (
            {"client_auth_type": "RequireAndVerifyClientCert"},
            ["needs client_ca_file", "set client_auth_type: NoClientCert"],
        ),
        ({"min_version": "TLS11"}, ["min_version 'TLS11' is below TLS 1.2", "TLS12 or TLS13"]),
        ({"max_version": "SSL3"}, ["max_version 'SSL3' is not a TLS version"]),
        ({"min_version": "TLS13", "max_version": "TLS12"}, ["min_version 'TLS13' is above max_version"]),
        ({"cipher_suites": ["TLS_AES_128_GCM_SHA256"]}, ["tls_server_config.cipher_suites:", "remove it"]),
        ({"client_allowed_sans": ["a"]}, ["tls_server_config.client_allowed_sans:", "not supported"]),
        ({"cert": "-----BEGIN"}, ["tls_server_config.cert:", "give cert_file"]),
        ({"key": "-----BEGIN PRIVATE KEY"}, ["tls_server_config.key:", "give key_file"]),
        ({"certfile": "x"}, ["unknown key 'tls_server_config.certfile'"]),
    ],
)
def test_tls_problems(certs: Certs, tmp_path: Path, changes: dict[str, Any], expected: list[str]) -> None:
    line = only_problem(write_web(tmp_path, tls_with(certs, **changes)))
    for part in expected:
        assert part in line, line
    assert "BEGIN" not in line  # an inline key is a secret too


def test_key_not_matching_the_certificate(certs: Certs, tmp_path: Path) -> None:
    line = only_problem(write_web(tmp_path, tls_with(certs, key_file=str(certs.client_key))))
    assert "cannot load cert_file" in line and "unencrypted PEM private key" in line


def test_a_bad_hash_is_never_shown(tmp_path: Path) -> None:
    secret = "plaintext-password-by-mistake"
    line = only_problem(write_web(tmp_path, {"basic_auth_users": {"alice": secret}}))
    assert "basic_auth_users.alice" in line and "not a bcrypt hash" in line and "htpasswd" in line
    assert secret not in line


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(
        write_web(
            tmp_path,
            {"bogus": 1, "basic_auth_users": {"a": "x", "b": "y"}, "tls_server_config": {"min_version": "X"}},
        )
    )
    assert len(found) == 6, found  # bogus, a, b, cert_file, key_file, min_version
    assert not any("'x'" in line or "'y'" in line for line in found)


# the daemon's config ----------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    pd.DataFrame({"a": [1.0, 2.0, 3.0]}).to_csv(tmp_path / "ref.csv", index=False)
    return tmp_path


def write_config(directory: Path, http: dict[str, Any]) -> Path:
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"},
        "models": {"m": {"reference": "ref.csv", "features": ["a"]}},
        "http": http,
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, {})
    message = str(info.value)
    assert "Traceback" not in message and HASH not in message
    return message


def test_defaults_keep_plain_open_http(workdir: Path) -> None:
    http = load_settings(write_config(workdir, {}), {}).http
    assert (http.web_config_file, http.api, http.reports, http.probes) == (None, "open", "open", "open")


def test_web_config_file_is_relative_to_the_config_file(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    (workdir / "web").mkdir()
    write_web(workdir / "web", {"basic_auth_users": {"prometheus": HASH}})
    monkeypatch.chdir(tmp_path_factory.mktemp("elsewhere"))
    http = load_settings(write_config(workdir, {"web_config_file": "web/web.yml", "api": "auth"}), {}).http
    assert http.web_config_file == workdir / "web" / "web.yml"


def test_missing_web_config_file_is_one_line(workdir: Path) -> None:
    message = config_error(write_config(workdir, {"web_config_file": "web.yml"}))
    lines = [line for line in message.splitlines() if "http." in line]
    assert lines == [
        f"  - http.web_config_file: file 'web.yml' not found (looked at {workdir / 'web.yml'}); give the path "
        "of a web config file (exporter-toolkit's format), relative to this config file, or remove the key "
        "to serve plain HTTP"
    ]


def test_web_config_problems_become_config_problems(workdir: Path) -> None:
    write_web(workdir, {"basic_auth_users": {"alice": "not-a-hash"}, "tls_server_config": {"cert_file": "x"}})
    message = config_error(write_config(workdir, {"web_config_file": "web.yml", "reports": "auth"}))
    assert "3 problem(s)" in message, message  # the hash, cert_file not found, key_file missing
    assert "basic_auth_users.alice" in message and "not-a-hash" not in message


@pytest.mark.parametrize("key", ["api", "reports", "probes"])
def test_auth_needs_users(workdir: Path, key: str) -> None:
    message = config_error(write_config(workdir, {key: "auth"}))
    assert f"http.{key}: 'auth' but no http.web_config_file is set" in message
    assert f"set http.{key} to open or off" in message
    write_web(workdir, {})
    message = config_error(write_config(workdir, {key: "auth", "web_config_file": "web.yml"}))
    assert "the web config has no basic_auth_users" in message


def test_unknown_access_value(workdir: Path) -> None:
    message = config_error(write_config(workdir, {"api": "closed"}))
    assert "http.api" in message and "'open', 'auth' or 'off'" in message


# who gets which path ----------------------------------------------------------------------------

PATHS = ("/metrics", "/healthz", "/readyz", "/api/models", "/api/models/m", "/reports/m/latest.html", "/x")


def rules(access: WebAccess) -> dict[str, str]:
    return {path: access.rule(path) for path in PATHS}


def test_rules_without_users() -> None:
    assert set(rules(WebAccess()).values()) == {"open"}
    off = rules(WebAccess(api="off", reports="off"))
    assert off["/api/models"] == off["/api/models/m"] == off["/reports/m/latest.html"] == "off"
    assert off["/metrics"] == off["/healthz"] == "open"


def test_rules_with_users(tmp_path: Path) -> None:
    web = load_web_config(write_web(tmp_path, {"basic_auth_users": {"prometheus": HASH}}))
    default = rules(WebAccess(web=web))
    assert default == {path: "open" if path in ("/healthz", "/readyz") else "auth" for path in PATHS}
    assert rules(WebAccess(web=web, api="auth", reports="auth")) == default
    assert set(rules(WebAccess(web=web, probes="auth")).values()) == {"auth"}
    off = rules(WebAccess(web=web, api="off", reports="open"))
    assert (
        off["/api/models"] == "off" and off["/reports/m/latest.html"] == "auth" and off["/metrics"] == "auth"
    )


# basic auth -------------------------------------------------------------------------------------


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_checks() -> None:
    auth = BasicAuth({"prometheus": GO_HASH.encode()})
    assert auth.check(basic("prometheus", PASSWORD))
    assert auth.check(basic("prometheus", PASSWORD))  # cached
    assert not auth.check(basic("prometheus", "wrong"))
    assert not auth.check(basic("nobody", PASSWORD))
    assert not auth.check(basic("prometheus", "x" * 100))  # over bcrypt's 72 bytes: refused, no error
    for header in (None, "", "Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode()):
        assert not auth.check(header)


def test_cache_is_per_password() -> None:
    auth = BasicAuth({"prometheus": HASH.encode()})
    assert auth.check(basic("prometheus", PASSWORD))
    assert not auth.check(basic("prometheus", PASSWORD + "!"))
    assert all(len(entry) == 32 for entry in auth._verified)  # SHA-256 digests, not passwords


# a real server over TLS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_server(certs: Certs) -> Iterator[HttpServer]:
    path = write_web(
        certs.ca.parent,
        {
            "tls_server_config": {"cert_file": "server.crt", "key_file": "server.key"},
            "http_server_config": {"headers": {"X-Frame-Options": "deny"}},
            "basic_auth_users": {"prometheus": HASH},
        },
        "server.yml",
    )
    access = WebAccess(web=load_web_config(path), api="off")
    results = {"m": {"model": "m", "latest": None}}
    server = HttpServer("127.0.0.1", 0, Metrics(), lambda: [], lambda: results, lambda name: "<html>", access)
    server.start()
    yield server
    server.stop()


def request(
    server: HttpServer, path: str, ca: Path, authorization: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    host, port = server.address
    context = ssl.create_default_context(cafile=str(ca))
    req = urllib.request.Request(f"https://{host}:{port}{path}")
    if authorization:
        req.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(req, timeout=5, context=context) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def test_tls_server_asks_for_credentials(tls_server: HttpServer, certs: Certs) -> None:
    assert tls_server.scheme == "https"
    status, headers, body = request(tls_server, "/metrics", certs.ca)
    assert status == 401 and headers["WWW-Authenticate"] == 'Basic realm="driftwatch"'
    assert b"driftwatch_" not in body and json.loads(body)["error"].startswith("authentication required")
    assert headers["X-Frame-Options"] == "deny"
    status, _, body = request(tls_server, "/metrics", certs.ca, basic("prometheus", "wrong"))
    assert status == 401 and b"driftwatch_" not in body
    status, _, body = request(tls_server, "/metrics", certs.ca, basic("prometheus", PASSWORD))
    assert status == 200 and b"driftwatch_" in body
    status, _, body = request(tls_server, "/reports/m/latest.html", certs.ca)
    assert status == 401 and b"html" not in body
    status, _, body = request(tls_server, "/reports/m/latest.html", certs.ca, basic("prometheus", PASSWORD))
    assert status == 200 and body == b"<html>"
    status, _, body = request(tls_server, "/api/models", certs.ca, basic("prometheus", PASSWORD))
    assert status == 404 and "/api/models" not in json.loads(body)["endpoints"]
    status, _, _ = request(tls_server, "/healthz", certs.ca)
    assert status == 200  # probes stay open


def test_other_methods_ask_for_credentials_first(tls_server: HttpServer, certs: Certs) -> None:
    host, port = tls_server.address
    context = ssl.create_default_context(cafile=str(certs.ca))
    for authorization, expected in ((None, 401), (basic("prometheus", PASSWORD), 405)):
        req = urllib.request.Request(f"https://{host}:{port}/metrics", data=b"x", method="POST")
        if authorization:
            req.add_header("Authorization", authorization)
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(req, timeout=5, context=context).close()
        with info.value:
            assert info.value.code == expected


def test_plain_http_to_the_tls_port_gets_nothing(tls_server: HttpServer, certs: Certs) -> None:
    host, port = tls_server.address
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5).close()
    # and the server still serves the next client
    assert request(tls_server, "/healthz", certs.ca)[0] == 200


def test_client_certificate_required(certs: Certs, tmp_path: Path) -> None:
    path = write_web(
        tmp_path,
        {
            "tls_server_config": {
                "cert_file": str(certs.server_cert),
                "key_file": str(certs.server_key),
                "client_ca_file": str(certs.ca),
                "client_auth_type": "RequireAndVerifyClientCert",
            }
        },
    )
    server = HttpServer(
        "127.0.0.1", 0, Metrics(), lambda: [], lambda: {}, access=WebAccess(load_web_config(path))
    )
    server.start()
    try:
        host, port = server.address
        without = ssl.create_default_context(cafile=str(certs.ca))
        with pytest.raises((urllib.error.URLError, ConnectionError, ssl.SSLError)):
            urllib.request.urlopen(f"https://{host}:{port}/metrics", timeout=5, context=without).close()
        with_cert = ssl.create_default_context(cafile=str(certs.ca))
        with_cert.load_cert_chain(certs.client_cert, certs.client_key)
        with urllib.request.urlopen(
            f"https://{host}:{port}/metrics", timeout=5, context=with_cert
        ) as response:
            assert response.status == 200
    finally:
        server.stop()


def test_bare_off_in_yaml_is_off(workdir: Path) -> None:
    """YAML 1.1 reads `off` as false: `api: off` written bare still means off."""
    raw = (
        "kafka: {bootstrap_servers: '127.0.0.1:9092', topic: predictions}\n"
        "models: {m: {reference: ref.csv, features: [a]}}\n"
        "http: {api: off, reports: off}\n"
    )
    path = workdir / "driftwatch.yaml"
    path.write_text(raw, encoding="utf-8")
    http = load_settings(path, {}).http
    assert (http.api, http.reports) == ("off", "off")
    path.write_text(raw.replace("api: off", "api: on"), encoding="utf-8")
    assert "http.api" in config_error(path)


def test_the_readme_example_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("`web.yml`:\n\n```\n", 1)[1].split("```", 1)[0]
    make_certs(tmp_path / "tls")
    web = load_web_config(write_web(tmp_path, block))
    assert web.tls is not None and web.tls.cert_file == tmp_path / "tls" / "server.crt"
    assert set(web.users) == {"prometheus"} and web.headers == {"X-Content-Type-Options": "nosniff"}
    assert BasicAuth(web.users).check(basic("prometheus", "change-me"))


def test_a_changed_web_config_is_read_again(
    certs: Certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(http_module, "RELOAD_CHECK", 0.0)
    document: dict[str, Any] = {
        "tls_server_config": {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)},
        "basic_auth_users": {"prometheus": HASH},
    }
    path = write_web(tmp_path, document)
    server = HttpServer(
        "127.0.0.1", 0, Metrics(), lambda: [], lambda: {}, access=WebAccess(load_web_config(path))
    )
    server.start()
    try:
        new_password = "rotated password"
        assert request(server, "/metrics", certs.ca, basic("prometheus", PASSWORD))[0] == 200
        document["basic_auth_users"] = {
            "prometheus": bcrypt.hashpw(new_password.encode(), bcrypt.gensalt(4)).decode()
        }
        write_web(tmp_path, document)
        wait_for(
            lambda: request(server, "/metrics", certs.ca, basic("prometheus", new_password))[0] == 200,
            10,
            "the new password to be accepted",
        )
        assert request(server, "/metrics", certs.ca, basic("prometheus", PASSWORD))[0] == 401
        with caplog.at_level(logging.ERROR, logger="driftwatch.service.http"):
            path.write_text("basic_auth_users: {prometheus: not-a-hash}\n", encoding="utf-8")

            def logged() -> bool:
                request(server, "/healthz", certs.ca)  # a request makes the server look at the file
                return "stays in force" in caplog.text

            wait_for(logged, 10, "the invalid file to be logged")
        assert "not-a-hash" not in caplog.text and "basic_auth_users.prometheus" in caplog.text
        assert request(server, "/metrics", certs.ca, basic("prometheus", new_password))[0] == 200
    finally:
        server.stop()


def test_an_encrypted_key_is_refused_without_a_prompt(certs: Certs, tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(certs.server_key.read_bytes(), None)
    encrypted = tmp_path / "encrypted.key"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    line = only_problem(write_web(tmp_path, tls_with(certs, key_file=str(encrypted))))
    assert "cannot load" in line and "unencrypted PEM private key" in line


def test_users_added_by_a_reload_close_the_server(
    certs: Certs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(http_module, "RELOAD_CHECK", 0.0)
    tls = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)}
    path = write_web(tmp_path, {"tls_server_config": tls})
    server = HttpServer(
        "127.0.0.1", 0, Metrics(), lambda: [], lambda: {}, access=WebAccess(load_web_config(path))
    )
    server.start()
    try:
        assert request(server, "/metrics", certs.ca)[0] == 200
        write_web(tmp_path, {"tls_server_config": tls, "basic_auth_users": {"prometheus": HASH}})
        wait_for(
            lambda: request(server, "/metrics", certs.ca)[0] == 401, 10, "/metrics to ask for credentials"
        )
        assert request(server, "/healthz", certs.ca)[0] == 200
    finally:
        server.stop()
