"""The HTTP face: /metrics, /healthz, /readyz and the JSON API, on a real socket."""

from __future__ import annotations

import json
import logging
import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from driftwatch import __version__
from driftwatch.drift.dataset import dataset_drift
from driftwatch.drift.profile import ReferenceProfile
from driftwatch.service.http import HttpServer, LoggingHTTPServer
from driftwatch.service.metrics import Metrics

RESULTS: dict[str, dict[str, Any]] = {
    "credit-risk": {"model": "credit-risk", "window_rows": 120, "latest": {"dataset_drift": True}},
    "churn": {"model": "churn", "window_rows": 0, "latest": None},
}


class State:
    """What the stub readiness and results callables answer; tests change it."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.results: dict[str, dict[str, Any]] = RESULTS

    def reset(self) -> None:
        self.problems, self.results = [], RESULTS


SHARED = State()


@pytest.fixture(autouse=True)
def state() -> Iterator[State]:
    SHARED.reset()
    yield SHARED
    SHARED.reset()


@pytest.fixture(scope="module")
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture(scope="module")
def server(metrics: Metrics) -> Iterator[HttpServer]:
    """One server for the module: stopping one takes up to its 0.5 s poll interval."""
    server = HttpServer("127.0.0.1", 0, metrics, lambda: list(SHARED.problems), lambda: SHARED.results)
    server.start()
    yield server
    server.stop()


def get(server: HttpServer, path: str) -> tuple[int, str, bytes]:
    host, port = server.address
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path}", timeout=5) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read()


def get_json(server: HttpServer, path: str) -> tuple[int, Any]:
    status, content_type, body = get(server, path)
    assert content_type == "application/json"
    return status, json.loads(body)


def test_binds_an_ephemeral_port(server: HttpServer) -> None:
    host, port = server.address
    assert host == "127.0.0.1" and port > 0


def test_metrics_is_prometheus_text(server: HttpServer, metrics: Metrics) -> None:
    metrics.records_consumed.labels("credit-risk").inc(3)
    metrics.records_rejected.labels("undecodable").inc()
    status, content_type, body = get(server, "/metrics")
    assert status == 200
    assert content_type.startswith("text/plain")
    samples = [s for family in text_string_to_metric_families(body.decode()) for s in family.samples]
    assert ("driftwatch_build_info", {"version": __version__}, 1.0) in [
        (s.name, s.labels, s.value) for s in samples
    ]
    assert ("driftwatch_records_consumed_total", {"model": "credit-risk"}, 3.0) in [
        (s.name, s.labels, s.value) for s in samples
    ]
    assert ("driftwatch_records_rejected_total", {"reason": "undecodable"}, 1.0) in [
        (s.name, s.labels, s.value) for s in samples
    ]


def test_healthz(server: HttpServer) -> None:
    assert get_json(server, "/healthz") == (200, {"status": "ok"})


def test_readyz_follows_the_readiness_callable(server: HttpServer, state: State) -> None:
    assert get_json(server, "/readyz") == (200, {"ready": True, "problems": []})
    state.problems = ["kafka not reachable: connection refused", "shutting down"]
    status, body = get_json(server, "/readyz")
    assert status == 503
    assert body == {"ready": False, "problems": state.problems}
    state.problems = []
    assert get_json(server, "/readyz")[0] == 200


def test_api_models(server: HttpServer) -> None:
    assert get_json(server, "/api/models") == (200, RESULTS)
    assert get_json(server, "/api/models/") == (200, RESULTS)  # trailing slash tolerated


def test_api_model_by_name(server: HttpServer) -> None:
    assert get_json(server, "/api/models/credit-risk") == (200, RESULTS["credit-risk"])
    assert get_json(server, "/api/models/churn?pretty=1") == (200, RESULTS["churn"])


def test_api_model_name_is_url_decoded(server: HttpServer, state: State) -> None:
    state.results = {"fraud v2": {"model": "fraud v2"}}
    assert get_json(server, "/api/models/fraud%20v2") == (200, {"model": "fraud v2"})


def test_unknown_model_is_404_listing_the_known_ones(server: HttpServer) -> None:
    status, body = get_json(server, "/api/models/fraud")
    assert status == 404
    assert "fraud" in body["error"]
    assert body["models"] == ["churn", "credit-risk"]


def test_unknown_path_is_404(server: HttpServer) -> None:
    status, body = get_json(server, "/nope")
    assert status == 404
    assert "/metrics" in body["endpoints"]


def test_api_models_survives_a_check_with_an_empty_column(server: HttpServer, state: State) -> None:
    reference = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0)})
    profile = ReferenceProfile.build(reference, ["a", "b"], {"a": "numeric", "b": "numeric"})
    drift = dataset_drift(profile, {"a": np.arange(50.0), "b": np.full(50, np.nan)})
    state.results = {"m": {"model": "m", "latest": drift.as_dict()}}
    status, body = get_json(server, "/api/models")
    assert status == 200
    assert body["m"]["latest"]["n_columns"] == 1


def test_stop_frees_the_port(state: State, metrics: Metrics) -> None:
    server = HttpServer("127.0.0.1", 0, metrics, lambda: [], lambda: {})
    server.start()
    host, port = server.address
    assert get(server, "/healthz")[0] == 200
    server.stop()
    with pytest.raises(OSError), socket.create_connection((host, port), timeout=1):
        pass
    again = HttpServer(host, port, metrics, lambda: [], lambda: {})  # the port can be bound again
    again.start()
    try:
        assert get(again, "/healthz")[0] == 200
    finally:
        again.stop()


def test_busy_port_is_a_clear_error(server: HttpServer, metrics: Metrics) -> None:
    host, port = server.address
    with pytest.raises(OSError, match=rf"cannot listen on 127\.0\.0\.1:{port}.*http\.port"):
        HttpServer(host, port, metrics, lambda: [], lambda: {})


@pytest.mark.parametrize(
    "gone",
    [
        BrokenPipeError(32, "Broken pipe"),
        ConnectionResetError(104, "reset"),
        ssl.SSLEOFError(8, "EOF occurred"),
    ],
)
def test_a_client_that_hung_up_is_a_debug_line_not_an_error(
    gone: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    """A scraper or browser that gave up mid-answer (over TLS: an SSL EOF) is routine; a real failure is
    logged as an error with its traceback."""
    server = LoggingHTTPServer.__new__(LoggingHTTPServer)  # handle_error uses no server state
    caplog.set_level(logging.DEBUG, logger="driftwatch.service.http")
    try:
        raise gone
    except BaseException:
        server.handle_error(None, ("127.0.0.1", 1234))
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "went away" in caplog.records[0].getMessage()
    caplog.clear()
    try:
        raise ValueError("a bug")
    except ValueError:
        server.handle_error(None, ("127.0.0.1", 1234))
    assert [r.levelno for r in caplog.records] == [logging.ERROR]
    assert caplog.records[0].exc_info is not None
