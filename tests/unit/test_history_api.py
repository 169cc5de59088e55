"""GET /api/models/<name>/history: its parameters (unix seconds or RFC 3339, check, scope, limit), one
message naming a bad parameter, 404 for an unknown model, and the http.api access rules (open, auth,
off) on a real in-process server."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from driftwatch.service.history_query import api_history, parse_time
from driftwatch.service.http import HttpServer
from driftwatch.service.metrics import Metrics
from driftwatch.state.history import HistoryStore
from driftwatch.webconfig import WebAccess, load_web_config
from tests.unit.test_history_store import T0, record
from tests.unit.test_web_config import HASH, PASSWORD, basic, write_web

# 2027-01-15T08:00:00Z
ISO_T0 = "2027-01-15T08:00:00Z"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[HistoryStore]:
    history = HistoryStore(tmp_path / "h.sqlite")
    for i in range(5):
        row = record(history, T0 + i * 60, scope="" if i % 2 == 0 else "country=DE")
        if i == 2:
            history.record_transition(
                check_id=row,
                model="m",
                scope="",
                check="data_drift",
                transition="firing",
                at=T0 + 120,
                idempotency_key="k2",
                window_end=T0 + 120,
            )
            history.record_delivery(
                target="hook",
                idempotency_key="k2",
                status="delivered",
                attempts=1,
                at=T0 + 121,
                last_status=200,
            )
    yield history
    history.close()


def answer(store: HistoryStore | None, name: str = "m", **params: str) -> tuple[int, Any]:
    return api_history(store, ["m", "other"], name, {k: [v] for k, v in params.items()})


def test_parse_time_reads_unix_seconds_and_rfc3339() -> None:
    assert T0 == 1_800_000_000.0
    assert parse_time("from", "1800000000") == T0
    assert parse_time("from", "1800000000.5") == T0 + 0.5
    assert parse_time("from", ISO_T0) == T0
    assert parse_time("from", "2027-01-15T09:00:00+01:00") == T0
    assert parse_time("from", "2027-01-15T08:00:00") == T0  # no offset: UTC


def test_the_rows_in_ran_at_order_with_transitions_and_deliveries(store: HistoryStore) -> None:
    status, body = answer(store)
    assert status == 200
    assert [row["ran_at"] for row in body] == [T0 + i * 60 for i in range(5)]
    third = body[2]
    assert [(t["transition"], t["idempotency_key"]) for t in third["transitions"]] == [("firing", "k2")]
    assert [(d["target"], d["status"], d["last_status"]) for d in third["deliveries"]] == [
        ("hook", "delivered", 200)
    ]
    assert third["result"]["model"] == "m" and third["positions"] == {"predictions:0": 120}


def test_filters(store: HistoryStore) -> None:
    status, body = answer(store, **{"from": "1800000060", "to": "2027-01-15T08:03:00Z"})
    assert status == 200 and [row["ran_at"] for row in body] == [T0 + 60, T0 + 120, T0 + 180]
    assert [row["scope"] for row in answer(store, scope="country=DE")[1]] == ["country=DE"] * 2
    assert [row["scope"] for row in answer(store, scope="")[1]] == [""] * 3
    assert [row["ran_at"] for row in answer(store, limit="2")[1]] == [T0 + 180, T0 + 240]
    assert len(answer(store, check="data_drift")[1]) == 5
    assert answer(store, check="performance:accuracy")[1] == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from": "yesterday"}, "from: 'yesterday' is not a time; give unix seconds or RFC 3339"),
        ({"to": "2027-13-01"}, "to: '2027-13-01' is not a time"),
        ({"from": "-5"}, "from: '-5' is not a time"),
        (
            {"from": "1800000100", "to": "1800000000"},
            "to: '1800000000' is before from '1800000100'; swap them",
        ),
        ({"limit": "0"}, "limit: '0' is not a row count; give a whole number from 1 to 100000"),
        ({"limit": "ten"}, "limit: 'ten' is not a row count"),
        ({"since": "7d"}, "since: unknown parameter; use from, to, check, scope, limit"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    store: HistoryStore, params: dict[str, str], message: str
) -> None:
    status, body = answer(store, **params)
    assert status == 400 and body["error"].startswith(message) and "\n" not in body["error"]


def test_a_parameter_given_twice_is_a_400(store: HistoryStore) -> None:
    assert api_history(store, ["m"], "m", {"limit": ["1", "2"]}) == (
        400,
        {"error": "limit: given 2 times; give it once"},
    )


def test_an_unknown_model_is_a_404_and_a_known_one_without_rows_an_empty_list(store: HistoryStore) -> None:
    status, body = answer(store, "nobody")
    assert status == 404 and body == {"error": "no model named 'nobody'", "models": ["m", "other"]}
    assert answer(store, "other") == (200, [])
    status, body = answer(None)
    assert status == 404 and "history.enabled: false" in body["error"]


def get(server: HttpServer, path: str, authorization: str | None = None) -> tuple[int, Any]:
    host, port = server.address
    request = urllib.request.Request(f"http://{host}:{port}{path}")
    if authorization:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def serve(store: HistoryStore, access: WebAccess) -> HttpServer:
    server = HttpServer(
        "127.0.0.1",
        0,
        Metrics(),
        list,
        lambda: {"m": {}},
        access=access,
        history=lambda name, params: api_history(store, ["m"], name, params),
    )
    server.start()
    return server


def test_the_endpoint_over_http_open(store: HistoryStore) -> None:
    server = serve(store, WebAccess())
    try:
        status, body = get(server, "/api/models/m/history?scope=&limit=2")
        assert status == 200 and [row["ran_at"] for row in body] == [T0 + 120, T0 + 240]
        assert get(server, "/api/models/m/history?from=soon") == (
            400,
            {"error": "from: 'soon' is not a time; give unix seconds or RFC 3339, e.g. 2026-12-06T10:00:00Z"},
        )
        assert get(server, "/api/models/nobody/history")[0] == 404
        assert get(server, "/api/models/m")[0] == 200  # the latest result, as before
        assert "/api/models/<model>/history" in get(server, "/nowhere")[1]["endpoints"]
    finally:
        server.stop()


@pytest.mark.parametrize("api", ["open", "auth"])
def test_the_endpoint_needs_credentials_when_the_web_config_has_users(
    store: HistoryStore, tmp_path: Path, api: Any
) -> None:
    web = load_web_config(write_web(tmp_path, {"basic_auth_users": {"prometheus": HASH}}))
    server = serve(store, WebAccess(web=web, api=api))
    try:
        status, body = get(server, "/api/models/m/history")
        assert status == 401 and "authentication required" in body["error"]
        assert get(server, "/api/models/m/history", basic("prometheus", "wrong"))[0] == 401
        status, body = get(server, "/api/models/m/history", basic("prometheus", PASSWORD))
        assert status == 200 and len(body) == 5
    finally:
        server.stop()


def test_the_endpoint_is_gone_with_the_api_off(store: HistoryStore) -> None:
    server = serve(store, WebAccess(api="off"))
    try:
        status, body = get(server, "/api/models/m/history")
        assert status == 404 and body["error"] == "not found"
        assert all(not endpoint.startswith("/api") for endpoint in body["endpoints"])
    finally:
        server.stop()
