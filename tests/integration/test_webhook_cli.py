"""``driftwatch webhooks test | list | retry`` as a user runs them: output, exit codes, the outbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from jsonschema import Draft202012Validator

from driftwatch.cli.localbroker import free_port
from driftwatch.cli.main import main
from driftwatch.state.store import Store
from tests.receivers import Receiver

SECRET = "whsec-cli-5e0c"
SCHEMA = json.loads(
    (Path(__file__).resolve().parents[2] / "schemas" / "webhook-event.schema.json").read_text("utf-8")
)


def write_config(directory: Path, targets: dict[str, dict[str, Any]], state: str = "state.sqlite") -> Path:
    pd.DataFrame({"x": [1.0, 2.0, 3.0]}).to_csv(directory / "ref.csv", index=False)
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9", "topic": "predictions"},
        "models": {
            "credit-risk": {"reference": "ref.csv", "features": ["x"]},
            "churn": {"reference": "ref.csv", "features": ["x"], "webhooks": sorted(targets)},
        },
        "webhooks": targets,
        "state": {"path": state},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def signed(url: str, **extra: Any) -> dict[str, Any]:
    return {"url": url, "secret": {"env": "CLI_HOOK_SECRET"}, "timeout": "2s", **extra}


@pytest.fixture(autouse=True)
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLI_HOOK_SECRET", SECRET)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


# webhooks test ----------------------------------------------------------------------------------------


def test_test_event_to_a_healthy_receiver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(SECRET.encode(), reply=lambda attempt: 200) as receiver:
        config = write_config(tmp_path, {"retrain": signed(receiver.url)})
        code, out, err = run(capsys, "webhooks", "test", "retrain", "-c", str(config))
        (request,) = receiver.received
    assert code == 0, err
    assert "HTTP 200" in out
    assert "signed" in out and "not signed" not in out
    assert request.valid and not request.tampered_valid
    event = request.json
    assert Draft202012Validator(SCHEMA).is_valid(event)
    assert (event["transition"], event["type"]) == ("test", "driftwatch.test")
    assert event["model"] == "churn"  # the first model that uses the target
    assert request.key == event["id"] and request.key is not None and request.key in out
    assert SECRET not in out + err


def test_test_event_for_a_chosen_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(SECRET.encode()) as receiver:
        config = write_config(tmp_path, {"retrain": signed(receiver.url)})
        code, _, err = run(capsys, "webhooks", "test", "retrain", "-c", str(config), "--model", "credit-risk")
        (request,) = receiver.received
    assert code == 0, err
    assert request.json["model"] == "credit-risk"
    code, _, err = run(capsys, "webhooks", "test", "retrain", "-c", str(config), "--model", "nope")
    assert code == 2
    assert "'nope'" in err and "credit-risk" in err


def test_each_test_event_has_its_own_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(SECRET.encode()) as receiver:
        config = write_config(tmp_path, {"retrain": signed(receiver.url)})
        for _ in range(2):
            assert run(capsys, "webhooks", "test", "retrain", "-c", str(config))[0] == 0
        first, second = receiver.received
    assert first.key != second.key


def test_test_event_refused_by_the_receiver(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver(SECRET.encode(), reply=lambda attempt: 500) as receiver:
        config = write_config(tmp_path, {"retrain": signed(receiver.url)})
        code, out, _ = run(capsys, "webhooks", "test", "retrain", "-c", str(config))
        assert len(receiver.received) == 1  # a test is one attempt, no retries
    assert code == 1
    assert "HTTP 500" in out
    assert "refused" in out


def test_test_event_answered_409_by_airflow_counts_as_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Receiver(SECRET.encode(), reply=lambda attempt: 409) as receiver:
        config = write_config(
            tmp_path,
            {"airflow": signed(receiver.url, template="airflow"), "plain": signed(receiver.url)},
        )
        code, out, _ = run(capsys, "webhooks", "test", "airflow", "-c", str(config))
        assert code == 0
        assert "HTTP 409" in out and "refused" not in out
        code, out, _ = run(capsys, "webhooks", "test", "plain", "-c", str(config))
        assert code == 1  # for the generic template a 409 is a refusal
        airflow, _ = receiver.received
    assert airflow.json["dag_run_id"] == f"driftwatch-{airflow.key}"
    assert airflow.json["conf"]["transition"] == "test"


def test_test_event_to_a_closed_port(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, {"retrain": signed(f"http://127.0.0.1:{free_port()}/hooks")})
    code, out, _ = run(capsys, "webhooks", "test", "retrain", "-c", str(config))
    assert code == 1
    assert "no answer" in out
    assert not (tmp_path / "state.sqlite").exists()  # a test event does not touch the outbox


def test_test_event_to_an_unknown_target(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(
        tmp_path,
        {"retrain": signed("http://127.0.0.1:9/a"), "notify": signed("http://127.0.0.1:9/b")},
    )
    code, out, err = run(capsys, "webhooks", "test", "retrian", "-c", str(config))
    assert code == 2
    assert "'retrian'" in err
    assert "notify" in err and "retrain" in err
    assert "Traceback" not in err and out == ""


def test_test_event_with_the_slack_template(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with Receiver() as receiver:
        config = write_config(tmp_path, {"chat": {"url": receiver.url, "template": "slack"}})
        code, out, err = run(capsys, "webhooks", "test", "chat", "-c", str(config))
        (request,) = receiver.received
    assert code == 0, err
    assert "slack template" in out
    assert "not signed" in out and "webhooks.chat.secret" in out
    body = request.json
    assert list(body) == ["text"]
    assert "churn" in body["text"] and "Test event" in body["text"]
    assert "driftwatch-signature" not in request.headers


def test_test_event_with_the_configured_method_and_headers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLI_TOKEN", "tok-cli-8c1f")
    with Receiver(SECRET.encode()) as receiver:
        target = signed(receiver.url, method="PUT", headers={"X-Api-Key": {"env": "CLI_TOKEN"}})
        config = write_config(tmp_path, {"retrain": target})
        code, out, err = run(capsys, "webhooks", "test", "retrain", "-c", str(config))
        (request,) = receiver.received
    assert code == 0, err
    assert out.startswith("PUT ")
    assert request.method == "PUT"
    assert request.headers["x-api-key"] == "tok-cli-8c1f"
    assert "X-Api-Key" in out  # the header is listed by name ...
    assert "tok-cli-8c1f" not in out + err  # ... never by value


def test_test_command_in_a_subprocess(tmp_path: Path) -> None:
    with Receiver(SECRET.encode()) as receiver:
        config = write_config(tmp_path, {"retrain": signed(receiver.url)})
        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTWATCH_")}
        result = subprocess.run(
            [sys.executable, "-m", "driftwatch", "webhooks", "test", "retrain", "-c", str(config)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
            env={**env, "CLI_HOOK_SECRET": SECRET},
        )
        (request,) = receiver.received
    assert result.returncode == 0, result.stderr
    assert "HTTP 200" in result.stdout
    assert request.valid and request.json["transition"] == "test"
    assert "Traceback" not in result.stderr


# webhooks list ------------------------------------------------------------------------------------------


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[tuple[Path, dict[str, int]]]:
    """A config and its state file holding one pending, one dead and one delivered delivery."""
    config = write_config(tmp_path, {"retrain": signed("http://127.0.0.1:9/a")})
    store = Store(tmp_path / "state.sqlite")
    now = time.time()
    ids = {}
    for key, status, error in (
        ("key-pending", "pending", "HTTP 503 Service Unavailable"),
        ("key-dead", "dead", "HTTP 400 Bad Request"),
        ("key-delivered", "delivered", None),
    ):
        store.outbox_add("retrain", key, b"{}", now, "churn", "data_drift", "firing")
        store.outbox_update("retrain", key, status, 2, now + 30, error)
        row = store.outbox_get("retrain", key)
        assert row is not None
        ids[status] = row.id
    store.close()
    yield config, ids


def test_list_shows_pending_and_dead(
    outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = outbox
    code, out, err = run(capsys, "webhooks", "list", "-c", str(config))
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split()[:3] == ["ID", "STATUS", "TARGET"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == {str(ids["pending"]), str(ids["dead"])}
    assert "pending" in rows[str(ids["pending"])] and "HTTP 503" in rows[str(ids["pending"])]
    assert "dead" in rows[str(ids["dead"])] and "HTTP 400 Bad Request" in rows[str(ids["dead"])]
    for line in rows.values():
        assert "retrain" in line and "churn" in line and "data_drift" in line and "firing" in line


def test_list_as_json(outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]) -> None:
    config, ids = outbox
    code, out, _ = run(capsys, "webhooks", "list", "-c", str(config), "--json")
    assert code == 0
    rows = json.loads(out)
    assert {row["id"]: row["status"] for row in rows} == {ids["pending"]: "pending", ids["dead"]: "dead"}
    pending = next(row for row in rows if row["status"] == "pending")
    assert pending["idempotency_key"] == "key-pending"
    assert pending["attempts"] == 2 and pending["next_at"] is not None
    assert pending["model"] == "churn" and pending["transition"] == "firing"


def test_list_all_includes_delivered(
    outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = outbox
    code, out, _ = run(capsys, "webhooks", "list", "-c", str(config), "--all", "--json")
    assert code == 0
    assert sorted(row["id"] for row in json.loads(out)) == sorted(ids.values())
    code, out, _ = run(capsys, "webhooks", "list", "-c", str(config), "--all")
    assert code == 0
    assert any(line.split()[:2] == [str(ids["delivered"]), "delivered"] for line in out.splitlines())


def test_list_without_a_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, {"retrain": signed("http://127.0.0.1:9/a")})
    code, out, err = run(capsys, "webhooks", "list", "-c", str(config))
    assert code == 0, err
    assert "no webhook deliveries" in out and "state.sqlite" in out
    assert not (tmp_path / "state.sqlite").exists()  # listing creates nothing


def test_list_of_an_empty_outbox(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, {"retrain": signed("http://127.0.0.1:9/a")})
    Store(tmp_path / "state.sqlite").close()
    code, out, _ = run(capsys, "webhooks", "list", "-c", str(config))
    assert code == 0
    assert "no pending or dead webhook deliveries" in out
    code, out, _ = run(capsys, "webhooks", "list", "-c", str(config), "--json")
    assert code == 0 and json.loads(out) == []


# webhooks retry -----------------------------------------------------------------------------------------


def statuses(tmp_path: Path) -> dict[str, tuple[str, int]]:
    store = Store(tmp_path / "state.sqlite")
    try:
        return {row.key: (row.status, row.attempts) for row in store.outbox()}
    finally:
        store.close()


def test_retry_dead(
    tmp_path: Path, outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = outbox
    code, out, err = run(capsys, "webhooks", "retry", "-c", str(config), "--dead")
    assert code == 0, err
    assert "re-queued 1 webhook delivery" in out
    assert statuses(tmp_path) == {
        "key-pending": ("pending", 2),  # untouched
        "key-dead": ("pending", 0),  # a fresh start
        "key-delivered": ("delivered", 2),
    }
    code, out, _ = run(capsys, "webhooks", "retry", "-c", str(config), "--dead")
    assert code == 0 and "re-queued 0 webhook deliveries" in out


def test_retry_by_id(
    tmp_path: Path, outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = outbox
    code, out, err = run(capsys, "webhooks", "retry", "-c", str(config), str(ids["dead"]))
    assert code == 0, err
    assert "re-queued 1 webhook delivery" in out
    assert statuses(tmp_path)["key-dead"] == ("pending", 0)


def test_retry_dead_of_another_target_only(
    tmp_path: Path, outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = outbox
    code, out, _ = run(capsys, "webhooks", "retry", "-c", str(config), "--dead", "--target", "retrain")
    assert code == 0 and "re-queued 1" in out
    code, _, err = run(capsys, "webhooks", "retry", "-c", str(config), "--dead", "--target", "nope")
    assert code == 2 and "'nope'" in err and "retrain" in err


def test_retry_unknown_id(
    tmp_path: Path, outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = outbox
    before = statuses(tmp_path)
    code, _, err = run(capsys, "webhooks", "retry", "-c", str(config), str(ids["dead"]), "4242")
    assert code == 2
    assert "4242" in err and "webhooks list" in err
    assert statuses(tmp_path) == before  # nothing re-queued, not even the known id


def test_retry_a_delivered_one(
    tmp_path: Path, outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str]
) -> None:
    config, ids = outbox
    code, _, err = run(capsys, "webhooks", "retry", "-c", str(config), str(ids["delivered"]))
    assert code == 2
    assert str(ids["delivered"]) in err and "already delivered" in err
    assert statuses(tmp_path)["key-delivered"] == ("delivered", 2)


@pytest.mark.parametrize("args", [["--dead", "ID"], []])
def test_retry_needs_ids_or_dead(
    outbox: tuple[Path, dict[str, int]], capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    config, ids = outbox
    args = [str(ids["dead"]) if arg == "ID" else arg for arg in args]
    code, out, err = run(capsys, "webhooks", "retry", "-c", str(config), *args)
    assert code == 2
    assert "IDs or --dead" in err
    assert out == ""


def test_retry_without_a_state_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path, {"retrain": signed("http://127.0.0.1:9/a")})
    code, _, err = run(capsys, "webhooks", "retry", "-c", str(config), "--dead")
    assert code == 2
    assert "does not exist" in err and "state.sqlite" in err
    assert not (tmp_path / "state.sqlite").exists()


def test_commands_report_a_bad_config_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLI_HOOK_SECRET")
    config = write_config(tmp_path, {"retrain": signed("http://127.0.0.1:9/a")})
    for command in (["test", "retrain"], ["list"], ["retry", "--dead"]):
        code, _, err = run(capsys, "webhooks", *command, "-c", str(config))
        assert code == 2, command
        assert "webhooks.retrain.secret" in err and "CLI_HOOK_SECRET" in err
        assert "Traceback" not in err
