"""The Grafana dashboards in grafana/dashboards/: structure, metric names, links and schema types.

Fast checks that need no server. That every query is valid and returns series from a running
daemon is tests/integration/test_dashboards_live.py. `test_dashboards_type_check` runs ``tsc --strict``
over them with Grafana's own schema types: the one type check of ``make test`` (``make dashboards``
runs the same on its own).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from driftwatch.cli.demo import DEMO_MODELS
from driftwatch.service.metrics import RESULT_METRICS, Metrics
from tests.conftest import require

ROOT = Path(__file__).resolve().parents[2]
DASHBOARDS = ROOT / "grafana" / "dashboards"
SCHEMA_CHECK = ROOT / "grafana" / "schema-check"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
ALERTS = ROOT / "configs" / "prometheus" / "alerts.yml"
NAMES = ("driftwatch-overview.json", "driftwatch-model.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
METRIC_NAME = re.compile(r"\bdriftwatch_[a-z_]+\b")
MODEL_MATCHER = re.compile(r'\bmodel\s*(=~|!~|!=|=)\s*"([^"]*)"')


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DASHBOARDS / name).read_text(encoding="utf-8"))
    return document


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows and the panels inside collapsed rows included."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel, target


def variables(dashboard: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["name"]: var for var in dashboard["templating"]["list"]}


def exported_metrics() -> set[str]:
    """Every sample name the daemon can export (counters with _total, histograms with _bucket...)."""
    names: set[str] = {spec.name for spec in RESULT_METRICS}  # built at scrape time from the results
    for family in Metrics().registry.collect():
        names.add(family.name)
        kind = family.type
        if kind == "counter":
            names |= {f"{family.name}_total", f"{family.name}_created"}
        elif kind == "histogram":
            names |= {f"{family.name}_{s}" for s in ("bucket", "sum", "count", "created")}
        elif kind == "info":
            names.add(f"{family.name}_info")
    return names


def referenced(text: str) -> set[str]:
    return set(METRIC_NAME.findall(text))


@pytest.fixture(params=NAMES)
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return load(request.param)


def test_uids_titles_and_tags() -> None:
    documents = [load(name) for name in NAMES]
    assert [d["uid"] for d in documents] == ["driftwatch-overview", "driftwatch-model"]
    assert len({d["title"] for d in documents}) == 2
    for document in documents:
        assert "driftwatch" in document["tags"]
        assert document["id"] is None, "an exported dashboard carries no database id"
        ids = [p["id"] for p in panels(document)]
        assert len(ids) == len(set(ids)), "panel ids must be unique"


def test_datasource_is_a_variable(dashboard: dict[str, Any]) -> None:
    """Import works on any Grafana: every query goes to the ${datasource} variable, a Prometheus one."""
    source = variables(dashboard)["datasource"]
    assert source["type"] == "datasource"
    assert source["query"] == "prometheus"
    for panel in panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel.get("datasource") == DATASOURCE, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource") == DATASOURCE, (panel["title"], target["refId"])
    for var in variables(dashboard).values():
        if var["type"] == "query":
            assert var["datasource"] == DATASOURCE, var["name"]
    text = json.dumps(dashboard)
    assert '"uid": "prometheus"' not in text and "DS_PROMETHEUS" not in text


def test_no_hard_coded_models(dashboard: dict[str, Any]) -> None:
    text = json.dumps(dashboard)
    for model in DEMO_MODELS:
        assert model not in text, f"{model} is hard-coded"
    for panel, target in queries(dashboard):
        for _, value in MODEL_MATCHER.findall(target["expr"]):
            assert value == "$model", (panel["title"], target["expr"])
        assert "$model" in target["expr"] or "model" not in target["expr"].split("by (")[0], (
            panel["title"],
            target["expr"],
        )


def test_metric_names_exist_in_metrics_py(dashboard: dict[str, Any]) -> None:
    known = exported_metrics()
    for panel, target in queries(dashboard):
        unknown = referenced(target["expr"]) - known
        assert not unknown, f"{dashboard['uid']}/{panel['title']}: {sorted(unknown)} not in metrics.py"
    for var in variables(dashboard).values():
        if var["type"] == "query":
            assert not referenced(var["query"]) - known, var["query"]


def test_every_metric_is_on_a_dashboard() -> None:
    used = set().union(*(referenced(json.dumps(load(name))) for name in NAMES))
    families = {family.name for family in Metrics().registry.collect()} | {
        spec.name for spec in RESULT_METRICS
    }
    missing = sorted(
        name
        for name in families
        if not any(u == name or (u.startswith(f"{name}_") and u not in families) for u in used)
    )
    assert not missing, f"metrics defined in metrics.py but on no dashboard: {missing}"


def test_units_thresholds_and_layout(dashboard: dict[str, Any]) -> None:
    occupied: set[tuple[int, int]] = set()
    for panel in dashboard["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        defaults = panel["fieldConfig"]["defaults"]
        assert panel.get("description"), panel["title"]
        assert defaults["thresholds"]["steps"], panel["title"]
        assert defaults["color"]["mode"], panel["title"]
        if panel["type"] != "state-timeline":
            assert defaults.get("unit"), f"{panel['title']} has no unit"
        legends = [t["legendFormat"] for t in panel["targets"]]
        assert len(set(legends)) == len(legends) or panel["type"] == "stat", panel["title"]


def test_variables_of_the_model_dashboard() -> None:
    found = variables(load("driftwatch-model.json"))
    assert found["model"]["type"] == "query" and not found["model"]["multi"]
    assert (
        found["feature"]["type"] == "query" and found["feature"]["multi"] and found["feature"]["includeAll"]
    )
    assert '"$model"' in found["feature"]["query"]
    repeated = {p.get("repeat") for p in panels(load("driftwatch-model.json"))}
    assert {"feature", "metric"} <= repeated
    overview = variables(load("driftwatch-overview.json"))
    assert overview["model"]["multi"] and overview["model"]["includeAll"]


SELECTOR = re.compile(r"\b(driftwatch_[a-z_]+)\{((?:[^{}]|\$\{[^{}]*\})*)\}")  # ${var:fmt} inside
SCOPED = {spec.name for spec in RESULT_METRICS} | {
    "driftwatch_window_rows",
    "driftwatch_alert_active",
    "driftwatch_alert_transitions_total",
}
BASELINE = {spec.name for spec in RESULT_METRICS if "baseline" in spec.labels}


def test_scope_variables_of_the_model_dashboard() -> None:
    """version and segment list the model's scopes; "All" (the default) is the whole model: its custom
    all value ^$ matches the empty label, which is how Prometheus sees the whole model's series."""
    found = variables(load("driftwatch-model.json"))
    for name, label in (("version", "model_version"), ("segment", "segment")):
        var = found[name]
        assert var["type"] == "query" and var["includeAll"] and not var["multi"], name
        assert var["allValue"] == "^$", name
        assert var["current"] == {"text": "All", "value": "$__all"}, name
        assert var["query"] == f'label_values(driftwatch_window_rows{{model="$model"}}, {label})', name


def test_every_scoped_series_is_selected_by_scope() -> None:
    """A family with scope labels is never aggregated across scopes by accident: on the model dashboard
    every selector of one names the segment and the version (the variables, or a pinned value) and the
    drift families their baseline; on the overview the result families are the whole model's."""
    for panel, target in queries(load("driftwatch-model.json")):
        for name, inner in SELECTOR.findall(target["expr"]):
            if name not in SCOPED or name in {"driftwatch_segment_share"}:
                continue
            if name != "driftwatch_check_status" or "check=~" not in inner:  # the status table: every scope
                assert "segment" in inner and "model_version" in inner, (panel["title"], target["expr"])
            if name in BASELINE:
                assert "baseline=" in inner, (panel["title"], target["expr"])
    for panel, target in queries(load("driftwatch-overview.json")):
        for name, inner in SELECTOR.findall(target["expr"]):
            if name in SCOPED and name not in {
                "driftwatch_alert_active",
                "driftwatch_alert_transitions_total",
            }:
                assert 'segment=""' in inner and 'model_version=""' in inner, (panel["title"], target["expr"])
                assert name not in BASELINE or 'baseline=""' in inner, (panel["title"], target["expr"])


def test_links_to_report_and_runbooks() -> None:
    document = load("driftwatch-model.json")
    found = variables(document)
    urls = [link["url"] for link in document["links"] if link["type"] == "link"]
    assert "${driftwatch_url}/reports/${model}/latest.html" in urls
    assert "${runbooks}" in urls
    # the runbook base is the one the alert rules link to, and every anchor used exists
    rules = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    bases = {
        rule["annotations"]["runbook_url"].split("#")[0]
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }
    assert bases == {found["runbooks"]["query"]}
    assert found["runbooks"]["query"].endswith("/docs/runbooks.md")
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in RUNBOOKS.read_text(encoding="utf-8").splitlines()
        if line.startswith("## ")
    }
    text = json.dumps([load(name) for name in NAMES])
    used = set(re.findall(r"runbooks(?:\}|\.md)#([a-z0-9-]+)", text))
    assert used and used <= anchors, used - anchors
    overview_links = [
        link["url"] for link in load("driftwatch-overview.json")["links"] if link["type"] == "link"
    ]
    assert any(url.endswith("/docs/runbooks.md") for url in overview_links)
    for panel in panels(load("driftwatch-overview.json")):
        for data_link in panel.get("fieldConfig", {}).get("defaults", {}).get("links", []):
            assert data_link["url"].startswith("/d/driftwatch-model/"), panel["title"]
            assert "var-model=${__field.labels.model}" in data_link["url"]


def npm() -> str:
    found = shutil.which("npm")
    if found is None:
        require("npm (Node.js)", "apt-get install nodejs npm, or run `make dashboards` as root")
    assert found is not None
    return found


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def schema_check() -> Path:
    """grafana/schema-check with its pinned node_modules (``npm ci`` unless ``make dashboards-deps`` did it)."""
    command = npm()
    if not (SCHEMA_CHECK / "node_modules" / ".bin" / "tsc").exists():
        done = run([command, "ci", "--no-audit", "--no-fund", "--loglevel=error"], SCHEMA_CHECK)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout}\n{done.stderr}"
    return SCHEMA_CHECK


def test_dashboards_type_check(schema_check: Path) -> None:
    done = run([npm(), "run", "-s", "check"], schema_check)
    assert done.returncode == 0, f"tsc rejected a dashboard:\n{done.stdout}\n{done.stderr}"
    assert sorted(p.name for p in (schema_check / "generated").glob("*.ts")) == sorted(
        name.replace(".json", ".ts") for name in NAMES
    )


MISTAKES = {
    "wrong-type": ('"schemaVersion": 39', '"schemaVersion": "39"'),  # a field of the wrong type
    "not-in-enum": ('"mode": "absolute"', '"mode": "absolutely"'),  # a value outside an enum
    "unknown-option": (
        '"wideLayout": true',
        '"wideLayout": true, "wideLayuot": true',
    ),  # an unknown panel option
    "unknown-query-field": ('"legendFormat"', '"legendFromat"'),  # an unknown field of a query
    "missing-option": ('"textMode": "value_and_name",', ""),  # a required panel option left out
}


def test_type_check_rejects_broken_dashboards(schema_check: Path, tmp_path: Path) -> None:
    """The check is real: the overview with any one of these mistakes fails tsc."""
    text = (DASHBOARDS / "driftwatch-overview.json").read_text(encoding="utf-8")
    broken = tmp_path / "dashboards"
    broken.mkdir()
    for name, (where, wrong) in MISTAKES.items():
        assert where in text, where
        (broken / f"{name}.json").write_text(text.replace(where, wrong, 1), encoding="utf-8")
    out = schema_check / f".negative-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        generated = run(["node", "generate.mjs", str(broken), str(out)], schema_check)
        assert generated.returncode == 0, generated.stderr
        (out / "tsconfig.json").write_text(
            json.dumps({"extends": "../tsconfig.json", "include": ["*.ts"]}), encoding="utf-8"
        )
        done = run([str(schema_check / "node_modules" / ".bin" / "tsc"), "-p", str(out)], schema_check)
    finally:
        shutil.rmtree(out, ignore_errors=True)
    assert done.returncode != 0, "tsc accepted every broken dashboard"
    accepted = [name for name in MISTAKES if f"{name}.ts(" not in done.stdout]
    assert not accepted, f"tsc accepted {accepted}:\n{done.stdout}"
