"""Commands that only read the config, the outbox and the check history stay cheap: no scipy, no pandas.

``driftwatch webhooks list`` is what an on-call engineer runs next to a stuck delivery,
``driftwatch history`` what they run to see when a model began drifting, ``driftwatch --help`` what
anyone runs first, ``driftwatch health`` what the image's HEALTHCHECK runs every 30 s; none needs the
statistics stack, whose import costs more than a second. Each runs in a fresh interpreter (the test
process has long imported both) with the command called in-process there, and ``sys.modules`` is
checked afterwards.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from driftwatch.cli.localbroker import free_port
from driftwatch.state.history import HistoryStore
from driftwatch.state.store import Store

HEAVY = ("scipy", "pandas", "sklearn")


def run_in_fresh_interpreter(argv: list[str]) -> subprocess.CompletedProcess[str]:
    code = textwrap.dedent(
        f"""
        import sys
        from driftwatch.cli.main import main
        code = main({argv!r})
        sys.stdout.flush()
        loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
        assert not loaded, f"imported {{loaded}}"
        sys.exit(code)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60
    )


def write_config(directory: Path) -> Path:
    (directory / "ref.csv").write_text("x\n1.0\n2.0\n3.0\n", encoding="utf-8")
    raw = {
        "kafka": {"bootstrap_servers": "127.0.0.1:9", "topic": "predictions"},
        "models": {"churn": {"reference": "ref.csv", "features": ["x"], "webhooks": ["retrain"]}},
        "webhooks": {"retrain": {"url": "http://127.0.0.1:9/hook"}},
        "state": {"path": "state.sqlite"},
    }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def test_webhooks_list_on_an_outbox_imports_neither_scipy_nor_pandas(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = Store(tmp_path / "state.sqlite")
    store.outbox_add("retrain", "key-dead", b"{}", 1_700_000_000.0, "churn", "data_drift", "firing")
    store.outbox_update("retrain", "key-dead", "dead", 5, 1_700_000_030.0, "HTTP 500")
    store.close()
    result = run_in_fresh_interpreter(["webhooks", "list", "-c", str(config)])
    assert result.returncode == 0, result.stderr
    (row,) = [line.split() for line in result.stdout.splitlines()[1:]]
    assert row[1:6] == ["dead", "retrain", "churn", "data_drift", "firing"] and row[-2:] == ["HTTP", "500"]


def test_webhooks_list_without_an_outbox_yet(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    result = run_in_fresh_interpreter(["webhooks", "list", "-c", str(config), "--all", "--json"])
    assert result.returncode == 0, result.stderr
    assert "does not exist yet" in result.stdout


def test_history_imports_neither_scipy_nor_pandas(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    store = HistoryStore(tmp_path / "state.history.sqlite")
    store.record_check(
        ran_at=1_700_000_000.0,
        result={"model": "churn", "dataset_drift": True, "drift_share": 1.0, "n_drifted": 1, "n_columns": 1},
        model="churn",
        status="ok",
        answered=True,
        reason=None,
        window_start=1_699_996_400.0,
        window_end=1_700_000_000.0,
        rows=600,
        config_hash="",
        reference_hash="",
        driftwatch_version="",
        breaches={"data_drift": True},
    )
    store.close()
    result = run_in_fresh_interpreter(["history", "churn", "-c", str(config), "-f", "csv"])
    assert result.returncode == 0, result.stderr
    (row,) = result.stdout.splitlines()[1:]
    assert row.startswith("1,2023-11-14T22:13:20Z,churn,") and ",data_drift," in row


def test_health_imports_neither_scipy_nor_pandas(tmp_path: Path) -> None:
    """The image's HEALTHCHECK runs it every 30 s."""
    config = write_config(tmp_path)
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    raw["http"] = {"port": free_port()}  # nothing listens there: unhealthy, and still light
    config.write_text(yaml.safe_dump(raw), encoding="utf-8")
    result = run_in_fresh_interpreter(["health", "-c", str(config), "--timeout", "5"])
    assert "imported" not in result.stderr, result.stderr
    assert result.returncode == 1 and result.stderr.startswith(
        f"unhealthy: http://127.0.0.1:{raw['http']['port']}/"
    )


def test_help_imports_neither_scipy_nor_pandas() -> None:
    result = run_in_fresh_interpreter(["--help"])
    assert result.returncode == 0, result.stderr
    assert "usage: driftwatch" in result.stdout


def test_import_driftwatch_is_light() -> None:
    result = subprocess.run(
        [sys.executable, "-c", f"import sys, driftwatch; assert not {{*{HEAVY!r}}} & set(sys.modules)"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
