"""The Prometheus alert rules and Alertmanager example: valid, unit-tested, and consistent with
the runbooks and with the metrics driftwatch actually exports.

promtool and amtool come from Debian's prometheus and prometheus-alertmanager packages
(`make system-deps` installs them when run as root).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "configs" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "configs" / "prometheus" / "alerts_test.yml"
ALERTMANAGER = ROOT / "configs" / "alertmanager" / "alertmanager.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
METRICS = ROOT / "src" / "driftwatch" / "service" / "metrics.py"

INSTALL_HINT = "apt-get install prometheus prometheus-alertmanager (or make system-deps as root)"
RUNBOOK_BASE = "https://github.com/driftwatch/driftwatch/blob/main/docs/runbooks.md#"

# The alerts on-call relies on, with their severity: page = act now, ticket = working hours.
EXPECTED_ALERTS = {
    "DriftwatchDataDrift": "ticket",
    "DriftwatchPredictionDrift": "ticket",
    "DriftwatchDataQuality": "ticket",
    "DriftwatchPerformanceDegraded": "page",
    "DriftwatchEstimatedPerformanceDegraded": "ticket",
    "DriftwatchMultivariateDrift": "ticket",
    "DriftwatchRecentDrift": "ticket",
    "DriftwatchChallengerWorse": "ticket",
    "DriftwatchEmbeddingDrift": "ticket",
    "DriftwatchDown": "page",
    "DriftwatchChecksStale": "ticket",
    "DriftwatchChecksNeverSucceeded": "ticket",
    "DriftwatchWebhookFailing": "page",
    "DriftwatchWebhookOutboxBacklog": "ticket",
    "DriftwatchHistoryWriteFailing": "ticket",
    "DriftwatchInvalidRecordRateHigh": "ticket",
    "DriftwatchKafkaDown": "page",
    "DriftwatchConsumerLagHigh": "ticket",
    "DriftwatchKafkaUndecodableBatches": "page",
    "DriftwatchLabelsNotJoining": "ticket",
    "DriftwatchModelTrafficStopped": "ticket",
    "DriftwatchModelUnowned": "page",
    "DriftwatchModelOwnedTwice": "ticket",
}
RECEIVERS = {"page": "pager", "ticket": "tickets"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        require(name, INSTALL_HINT)
        raise AssertionError("unreachable")
    return path


def _run(*args: str) -> None:
    proc = subprocess.run(args, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False)
    assert proc.returncode == 0, f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"


def _rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(ALERTS.read_text())
    return [rule for group in doc["groups"] for rule in group["rules"] if "alert" in rule]


def _runbook_sections() -> dict[str, str]:
    """The runbook's second-level sections: heading -> body."""
    parts = re.split(r"^## +(.+?) *$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _github_slug(heading: str) -> str:
    """GitHub's heading anchor: lowercase, punctuation dropped, spaces to hyphens."""
    slug = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return slug.replace(" ", "-")


def test_promtool_check_rules() -> None:
    _run(_tool("promtool"), "check", "rules", str(ALERTS))


def test_promtool_rule_unit_tests() -> None:
    _run(_tool("promtool"), "test", "rules", str(ALERTS_TEST))


def test_amtool_check_alertmanager_config() -> None:
    _run(_tool("amtool"), "check-config", str(ALERTMANAGER))


def test_every_alert_has_severity_annotations_and_a_unit_test() -> None:
    tested = {
        case["alertname"]
        for group in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in group.get("alert_rule_test", [])
    }
    rules = _rules()
    assert rules
    for rule in rules:
        name = rule["alert"]
        labels = rule.get("labels") or {}
        annotations = rule.get("annotations") or {}
        assert isinstance(labels, dict) and isinstance(annotations, dict)
        assert labels.get("severity") in {"page", "ticket"}, name
        assert {"summary", "description", "runbook_url"} <= annotations.keys(), name
        assert name in tested, f"{name} has no promtool unit test in {ALERTS_TEST.name}"


def test_the_expected_alerts_exist_with_their_severity() -> None:
    found = {rule["alert"]: rule["labels"]["severity"] for rule in _rules()}
    assert found == EXPECTED_ALERTS


def test_descriptions_show_label_values_and_the_value() -> None:
    for rule in _rules():
        description = rule["annotations"]["description"]
        assert "$value" in description, rule["alert"]
        assert "$labels." in description, rule["alert"]


def test_alertmanager_routes_each_alert_by_severity() -> None:
    amtool = _tool("amtool")
    for rule in _rules():
        severity = rule["labels"]["severity"]
        _run(
            amtool,
            "config",
            "routes",
            "test",
            "--config.file",
            str(ALERTMANAGER),
            f"--verify.receivers={RECEIVERS[severity]}",
            f"alertname={rule['alert']}",
            f"severity={severity}",
        )


def test_runbook_has_a_section_per_alert_saying_what_to_look_at_and_do() -> None:
    sections = _runbook_sections()
    assert set(sections) == {rule["alert"] for rule in _rules()}
    for name, body in sections.items():
        for part in ("**Means:**", "**Look at:**", "**Do:**"):
            assert part in body, f"runbook section {name} has no {part}"


def test_runbook_urls_point_at_runbook_headings() -> None:
    headings = re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", RUNBOOKS.read_text(), flags=re.MULTILINE)
    anchors = {_github_slug(h) for h in headings}
    for rule in _rules():
        url = rule["annotations"]["runbook_url"]
        assert url == RUNBOOK_BASE + _github_slug(rule["alert"]), url
        page, _, anchor = url.partition("#")
        assert page.endswith("docs/runbooks.md"), url
        assert anchor in anchors, f"{rule['alert']}: #{anchor} is not a heading of {RUNBOOKS.name}"


def test_alert_expressions_only_use_exported_metrics() -> None:
    # Counters are declared with their _total suffix in metrics.py, so names compare as-is;
    # histograms expose _bucket/_count/_sum on top of their declared name.
    declared = set(re.findall(r'"(driftwatch_[a-z_]+)"', METRICS.read_text()))
    assert "driftwatch_kafka_up" in declared
    used = {m for rule in _rules() for m in re.findall(r"driftwatch_[a-z_]+", str(rule["expr"]))}
    assert used
    missing = {
        name
        for name in used
        if name not in declared and re.sub(r"_(bucket|count|sum)$", "", name) not in declared
    }
    assert not missing, f"alerts.yml uses metrics metrics.py does not define: {sorted(missing)}"


@pytest.mark.parametrize("slug", [("Driftwatch Down!", "driftwatch-down"), ("A_b c", "a_b-c")])
def test_github_slug(slug: tuple[str, str]) -> None:
    assert _github_slug(slug[0]) == slug[1]
