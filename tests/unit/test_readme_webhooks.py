"""The webhook examples in the README are a valid configuration and render as documented."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

from driftwatch.alerting.templates import load_template
from driftwatch.config import load_settings

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "RETRAIN_WEBHOOK_SECRET": "s",
    "AIRFLOW_BASIC_AUTH": "dXNlcjpwYXNz",
    "GITHUB_TOKEN": "ghp_x",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.example/services/T/B/X",
}


def readme_block(start: str) -> str:
    text = (ROOT / "README.md").read_text()
    for block in re.findall(r"```(?:yaml|json)\n(.*?)```", text, re.S):
        if block.startswith(start):
            return str(block)
    raise AssertionError(f"no README code block starts with {start!r}")


def test_readme_webhook_targets_are_a_valid_config(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    shutil.copy(ROOT / "examples/templates/pagerduty.json", tmp_path / "templates/pagerduty.json")
    shutil.copy(ROOT / "examples/reference/credit-risk.parquet", tmp_path / "ref.parquet")
    config = {
        "kafka": {"bootstrap_servers": ["127.0.0.1:9092"], "topic": "predictions", "group_id": "g"},
        "models": {"m": {"reference": "ref.parquet", "features": ["age"], "webhooks": ["retrain"]}},
        **yaml.safe_load(readme_block("webhooks:")),
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = load_settings(path, ENV)
    hooks = settings.webhooks
    assert [hooks[name].template for name in ("retrain", "airflow", "github", "oncall-slack")] == [
        "generic",
        "airflow",
        "github",
        "slack",
    ]
    assert hooks["oncall-slack"].url == ENV["SLACK_WEBHOOK_URL"]
    assert hooks["pagerduty"].max_age == 7200
    assert Path(hooks["pagerduty"].template) == tmp_path / "templates/pagerduty.json"


def test_readme_template_example_is_the_shipped_file() -> None:
    shown = json.loads(readme_block('{"routing_key"'))
    shipped = json.loads((ROOT / "examples/templates/pagerduty.json").read_text())
    assert shown == shipped
    body = json.loads(
        load_template(str(ROOT / "examples/templates/pagerduty.json")).render(
            {
                "id": "abc",
                "model": "credit-risk",
                "summary": "Dataset drift on model credit-risk",
                "drifted_features": ["age", "income"],
                "result": {"rows": 5120},
            }
        )
    )
    assert body["routing_key"] == "credit-risk-drift"
    assert body["dedup_key"] == "abc"
    assert body["payload"]["custom_details"] == {"features": ["age", "income"], "rows": 5120}
