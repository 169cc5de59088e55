"""HTTP semantics on a real socket: HEAD, other methods, the Server header, errors and clients that go away.

HEAD answers like GET without a body; any other method gets a JSON 405 with ``Allow``; the ``Server``
header names driftwatch and its version only; a client that disconnects mid-response is a debug log
line, and nothing reaches stderr outside the log format.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from driftwatch import __version__
from driftwatch.service.http import HttpServer, ReportUnavailableError
from driftwatch.service.metrics import Metrics
from tests.waiting import wait_for

BIG_REPORT = "<html><body>" + "x" * (16 * 1024 * 1024) + "</body></html>"  # larger than socket buffers
RESULTS = {"m": {"model": "m"}, "idle": {"model": "idle"}}


def report(name: str) -> str | None:
    if name == "idle":
        raise ReportUnavailableError("no data: the window of model 'idle' holds no rows")
    return BIG_REPORT


@pytest.fixture(scope="module")
def server() -> Iterator[HttpServer]:
    server = HttpServer("127.0.0.1", 0, Metrics(), lambda: [], lambda: RESULTS, report)
    server.start()
    yield server
    server.stop()


def request(server: HttpServer, method: str, path: str) -> tuple[http.client.HTTPResponse, bytes]:
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(method, path)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    "path", ["/metrics", "/healthz", "/readyz", "/api/models", "/api/models/nope", "/nope"]
)
def test_head_answers_like_get_without_a_body(server: HttpServer, path: str) -> None:
    got, body = request(server, "GET", path)
    head, nothing = request(server, "HEAD", path)
    assert head.status == got.status and nothing == b""
    assert head.getheader("Content-Type") == got.getheader("Content-Type")
    if path != "/metrics":  # metrics move between the two requests; their length may too
        assert head.getheader("Content-Length") == got.getheader("Content-Length") == str(len(body))


def test_head_of_a_report_sends_its_length_only(server: HttpServer) -> None:
    head, nothing = request(server, "HEAD", "/reports/m/latest.html")
    assert (head.status, nothing) == (200, b"")
    assert head.getheader("Content-Length") == str(len(BIG_REPORT))


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "PURGE"])
def test_other_methods_are_a_json_405_naming_the_allowed_ones(server: HttpServer, method: str) -> None:
    response, body = request(server, method, "/metrics")
    assert response.status == 405
    assert response.getheader("Allow") == "GET, HEAD"
    assert response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"error": f"method {method} is not allowed", "allow": ["GET", "HEAD"]}


def test_a_malformed_request_is_a_json_error(server: HttpServer) -> None:
    with socket.create_connection(server.address, timeout=10) as client:
        client.sendall(b"GET /metrics HTTP/1.0\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 431 ")
    assert b"Content-Type: application/json" in head
    assert "error" in json.loads(body)


def test_server_header_names_driftwatch_only(server: HttpServer) -> None:
    for method, path in (("GET", "/healthz"), ("HEAD", "/metrics"), ("POST", "/"), ("GET", "/nope")):
        response, _ = request(server, method, path)
        assert response.getheader("Server") == f"driftwatch/{__version__}"


def test_report_unavailable_is_a_409_with_the_reason(server: HttpServer) -> None:
    response, body = request(server, "GET", "/reports/idle/latest.html")
    assert response.status == 409 and response.getheader("Content-Type") == "application/json"
    assert json.loads(body) == {"error": "no data: the window of model 'idle' holds no rows", "model": "idle"}


def _abort(address: tuple[str, int], payload: bytes, read: int = 0) -> None:
    """Send ``payload``, read ``read`` bytes, then reset the connection (SO_LINGER 0: an RST, no FIN)."""
    client = socket.create_connection(address, timeout=10)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    client.sendall(payload)
    if read:
        client.recv(read)
    client.close()


def test_a_client_that_disconnects_mid_response_is_a_debug_line(
    server: HttpServer, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="driftwatch.service.http")

    def went_away() -> list[logging.LogRecord]:
        return [r for r in caplog.records if "went away" in r.getMessage()]

    for _ in range(3):  # mid-response: the report is far larger than what the socket buffers hold
        _abort(server.address, b"GET /reports/m/latest.html HTTP/1.1\r\nHost: x\r\n\r\n", read=1024)
    wait_for(lambda: len(went_away()) >= 3, 20, "three 'went away' records", interval=0.02)
    records = went_away()
    assert {r.levelno for r in records} == {logging.DEBUG}
    assert all(r.exc_info is None for r in records)  # no traceback
    assert request(server, "GET", "/healthz")[0].status == 200  # the server still serves
    out, err = capfd.readouterr()
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
    assert err == "" and out == ""


@pytest.mark.slow
def test_the_daemon_logs_client_disconnects_in_its_log_format_only(tmp_path: Path) -> None:
    """`driftwatch run` end to end: every stderr line is a log line, however clients behave."""
    pd.DataFrame({"age": [30, 41, 52, 38, 27] * 20}).to_csv(tmp_path / "ref.csv", index=False)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9", "topic": "predictions"},
        "http": {"host": "127.0.0.1", "port": port},
        "models": {"m": {"reference": "ref.csv", "features": ["age"]}},
        "state": {"path": str(tmp_path / "state.sqlite")},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTWATCH_")}
    stderr = tmp_path / "stderr.txt"
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "driftwatch",
                "run",
                "-c",
                str(tmp_path / "c.yaml"),
                "--log-level",
                "DEBUG",
            ],
            stdout=subprocess.DEVNULL,
            stderr=sink,
            env=env,
        )
    try:
        address = ("127.0.0.1", port)

        def serving() -> bool:
            try:
                with socket.create_connection(address, timeout=1):
                    return True
            except OSError:
                return False

        wait_for(
            serving, 60, lambda: f"the daemon to serve; its stderr:\n{stderr.read_text()}", interval=0.02
        )
        for _ in range(10):
            _abort(address, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")  # reset before or while it answers
            _abort(address, b"GET /api/mod")  # reset mid-request
        with socket.create_connection(address, timeout=10) as client:
            client.sendall(b"HEAD /healthz HTTP/1.0\r\n\r\n")
            assert client.recv(4096).startswith(b"HTTP/1.0 200 ")
        wait_for(lambda: "went away" in stderr.read_text(), 20, "'went away' in the log", interval=0.02)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    lines = stderr.read_text(encoding="utf-8").splitlines()
    log_line = re.compile(
        r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) [\w.]+: "
    )
    stray = [line for line in lines if not log_line.match(line)]
    assert stray == [], "\n".join(lines)
    assert not [line for line in lines if " ERROR " in line and "http" in line]


def test_the_demo_webhook_receiver_logs_disconnects_too(capfd: pytest.CaptureFixture[str]) -> None:
    from urllib.parse import urlsplit

    from driftwatch.cli.demo import WebhookReceiver

    with WebhookReceiver(b"secret") as receiver:
        url = urlsplit(receiver.url)
        address = (str(url.hostname), int(url.port or 80))
        for _ in range(3):  # a sender that gives up mid-body (a delivery timing out)
            _abort(address, b"POST /hooks/retrain HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
        with socket.create_connection(address, timeout=10) as client:  # the receiver still answers
            client.sendall(b"POST /hooks/retrain HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}")
            assert client.recv(4096).startswith(b"HTTP/1.0 200 ")
    _, err = capfd.readouterr()
    assert "Traceback" not in err and "ConnectionReset" not in err
