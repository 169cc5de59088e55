"""``driftwatch health`` (the image's HEALTHCHECK) against the daemon's own HTTP server: plain HTTP, TLS
verified against the configured certificate, client certificates, basic auth for ``http.probes: auth``;
exit 0 healthy, 1 anything else (never 2, which Docker's HEALTHCHECK reserves)."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import bcrypt
import pytest
import yaml

from driftwatch.cli.health import PASSWORD_ENV, read_probe
from driftwatch.service.http import HttpServer
from driftwatch.service.metrics import Metrics
from driftwatch.webconfig import WebAccess, load_web_config
from tests.clirun import driftwatch_cli as driftwatch
from tests.tlscerts import Certs, make_certs

PASSWORD = "probe password"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()  # cost 4: fast tests


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """Another CA's certificates, for 127.0.0.1 too: not the ones the config names."""
    return make_certs(tmp_path_factory.mktemp("other-certs"))


def web_config(directory: Path, certs: Certs | None, **extra: Any) -> Path:
    document: dict[str, Any] = dict(extra)
    if certs is not None:
        tls = {"cert_file": str(certs.server_cert), "key_file": str(certs.server_key)}
        document["tls_server_config"] = {**tls, **document.get("tls_server_config", {})}
    path = directory / "web.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def daemon_config(directory: Path, port: int, **http: Any) -> Path:
    """A daemon's config listening on every address at ``port``: its other sections name a reference that
    does not exist and a secret that is not set, which the probe does not need."""
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"},
        "http": {"host": "0.0.0.0", "port": port, **http},
        "models": {"m": {"reference": "missing.parquet", "features": ["a"], "webhooks": ["hook"]}},
        "webhooks": {"hook": {"url": "http://127.0.0.1:9/", "secret": {"env": "HEALTH_TEST_UNSET_SECRET"}}},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture
def serve() -> Iterator[Any]:
    """``serve(web config or None, probes)`` starts the daemon's HTTP server on 127.0.0.1, stopped at the end."""
    servers: list[HttpServer] = []

    def start(web: Path | None = None, probes: Literal["open", "auth"] = "open") -> HttpServer:
        access = WebAccess(load_web_config(web) if web else None, probes=probes)
        server = HttpServer("127.0.0.1", 0, Metrics(), lambda: [], lambda: {}, access=access)
        server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def test_plain_http_from_the_config(tmp_path: Path, serve: Any) -> None:
    server = serve()
    port = server.address[1]
    config = daemon_config(tmp_path, port)
    result = driftwatch("health", "--config", str(config))
    assert result.returncode == 0, result.stderr
    # 0.0.0.0 is probed on the loopback address
    assert result.stdout.strip() == f"healthy: http://127.0.0.1:{port}/healthz answered 200"
    server.stop()
    result = driftwatch("health", "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}/healthz: ")
    assert "refused" in result.stderr


def test_url_without_a_config(serve: Any) -> None:
    host, port = serve().address
    result = driftwatch("health", "--url", f"http://{host}:{port}/healthz")
    assert result.returncode == 0, result.stderr
    result = driftwatch("health", "--url", f"http://{host}:{port}/nothing-here")
    assert result.returncode == 1 and "answered 404" in result.stderr


def test_tls_verified_against_the_configured_certificate(tmp_path: Path, certs: Certs, serve: Any) -> None:
    web = web_config(tmp_path, certs)
    port = serve(web).address[1]
    config = daemon_config(tmp_path, port, web_config_file="web.yml")
    result = driftwatch("health", "--config", str(config))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"healthy: https://127.0.0.1:{port}/healthz answered 200"
    # what the plain-HTTP HEALTHCHECK did: no answer from a TLS server
    plain = driftwatch("health", "--url", f"http://127.0.0.1:{port}/healthz")
    assert plain.returncode == 1
    # the configured CA verifies it too, by the name the certificate carries
    by_ca = driftwatch(
        "health",
        "--config",
        str(config),
        "--cafile",
        str(certs.ca),
        "--url",
        f"https://localhost:{port}/healthz",
    )
    assert by_ca.returncode == 0, by_ca.stderr


def test_tls_with_another_certificate_than_the_configured_one_is_unhealthy(
    tmp_path: Path, certs: Certs, other_certs: Certs, serve: Any
) -> None:
    served = tmp_path / "served"
    served.mkdir()
    port = serve(web_config(served, other_certs)).address[1]
    web_config(tmp_path, certs)
    config = daemon_config(tmp_path, port, web_config_file="web.yml")
    result = driftwatch("health", "--config", str(config))
    assert result.returncode == 1
    assert "does not verify against the configured certificate" in result.stderr
    assert str(certs.server_cert) in result.stderr


def test_client_certificate(tmp_path: Path, certs: Certs, serve: Any) -> None:
    tls = {"client_ca_file": str(certs.ca), "client_auth_type": "RequireAndVerifyClientCert"}
    web = web_config(tmp_path, certs, tls_server_config=tls)
    port = serve(web).address[1]
    config = daemon_config(tmp_path, port, web_config_file="web.yml")
    without = driftwatch("health", "--config", str(config))
    assert without.returncode == 1
    assert "requires a client certificate" in without.stderr and "--cert" in without.stderr
    key_only = driftwatch("health", "--config", str(config), "--key", str(certs.client_key))
    assert key_only.returncode == 1 and "--key needs --cert" in key_only.stderr
    result = driftwatch(
        "health", "--config", str(config), "--cert", str(certs.client_cert), "--key", str(certs.client_key)
    )
    assert result.returncode == 0, result.stderr


def test_basic_auth_when_the_probes_need_it(tmp_path: Path, certs: Certs, serve: Any) -> None:
    web = web_config(tmp_path, certs, basic_auth_users={"prober": HASH})
    port = serve(web, probes="auth").address[1]
    config = daemon_config(tmp_path, port, web_config_file="web.yml", probes="auth")
    without = driftwatch("health", "--config", str(config))
    assert without.returncode == 1
    assert "http.probes: auth" in without.stderr and "--user" in without.stderr
    password = tmp_path / "password"
    password.write_text(PASSWORD + "\n", encoding="utf-8")
    result = driftwatch(
        "health", "--config", str(config), "--user", "prober", "--password-file", str(password)
    )
    assert result.returncode == 0, result.stderr
    password.write_text("wrong\n", encoding="utf-8")
    wrong = driftwatch(
        "health", "--config", str(config), "--user", "prober", "--password-file", str(password)
    )
    assert wrong.returncode == 1 and "answered 401" in wrong.stderr
    assert PASSWORD not in wrong.stderr + wrong.stdout


def test_password_from_the_environment() -> None:
    probe = read_probe(None, None, user="prober", environ={PASSWORD_ENV: PASSWORD})
    assert probe.authorization == "Basic " + base64.b64encode(f"prober:{PASSWORD}".encode()).decode()
    assert probe.url == "http://127.0.0.1:9308/healthz"


@pytest.mark.parametrize(
    ("host", "url_host"),
    [
        ("0.0.0.0", "127.0.0.1"),
        ("::", "[::1]"),
        ("10.1.2.3", "10.1.2.3"),
        ("fd00::5", "[fd00::5]"),
        ("box", "box"),
    ],
)
def test_the_address_probed(tmp_path: Path, host: str, url_host: str) -> None:
    config = daemon_config(tmp_path, 9400, host=host)
    assert read_probe(str(config), None, environ={}).url == f"http://{url_host}:9400/healthz"


def test_a_config_that_cannot_be_read_is_unhealthy_not_a_usage_error(tmp_path: Path) -> None:
    missing = driftwatch("health", "--config", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "config file not found" in missing.stderr
    config = daemon_config(tmp_path, 9400, web_config_file="absent.yml")
    result = driftwatch("health", "--config", str(config))
    assert result.returncode == 1 and "http.web_config_file" in result.stderr
    assert "Traceback" not in result.stderr
