"""`driftwatch schema`: the JSON Schema accepts every config the loader accepts, as the files are written.

Every driftwatch config in the repository (configs/, deploy/, examples/, the Kubernetes ConfigMap, the
README's YAML blocks and the demo's generated config) is validated against the schema, and the forms
the loader reads (durations as text, features as names, a comma-separated `bootstrap_servers`,
`${NAME}` references) are checked against both the loader and the schema, so the two cannot disagree.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from driftwatch.cli.demo import write_demo_config
from driftwatch.config import ConfigError, json_schema, load_settings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "reference"


def validator(schema: dict[str, Any] | None = None) -> jsonschema.Draft202012Validator:
    schema = json_schema() if schema is None else schema
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(document: object, schema: dict[str, Any] | None = None) -> list[str]:
    return [
        f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(document)
    ]


def _is_driftwatch_config(document: object) -> bool:
    return isinstance(document, dict) and "models" in document and "kafka" in document


def repository_configs() -> dict[str, Any]:
    """Every full driftwatch config in the repository's YAML files (ConfigMaps opened), by file."""
    found: dict[str, Any] = {}
    for folder in ("configs", "deploy", "examples"):
        for path in sorted((ROOT / folder).rglob("*.y*ml")):
            for index, document in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
                where = f"{path.relative_to(ROOT)}[{index}]"
                if _is_driftwatch_config(document):
                    found[where] = document
                elif isinstance(document, dict) and document.get("kind") == "ConfigMap":
                    for key, text in (document.get("data") or {}).items():
                        embedded = yaml.safe_load(text) if key.endswith((".yaml", ".yml")) else None
                        if _is_driftwatch_config(embedded):
                            found[f"{where}.data.{key}"] = embedded
    return found


def documentation_blocks() -> dict[str, Any]:
    """The YAML code blocks of the README and docs/ that hold (parts of) a driftwatch config."""
    schema_keys = set(json_schema()["properties"])
    found: dict[str, Any] = {}
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for index, match in enumerate(re.finditer(r"```ya?ml\n(.*?)```", text, re.DOTALL)):
            document = yaml.safe_load(match.group(1))
            if isinstance(document, dict) and set(document) <= schema_keys:
                found[f"{path.relative_to(ROOT)} yaml block {index}"] = document
    return found


def _without_required(node: Any) -> Any:
    """A schema for fragments: the same keys and types, nothing required."""
    if isinstance(node, dict):
        return {k: _without_required(v) for k, v in node.items() if k != "required"}
    if isinstance(node, list):
        return [_without_required(v) for v in node]
    return node


def test_the_repository_configs_are_found() -> None:
    found = repository_configs()
    assert {"configs/demo.yaml[0]", "deploy/driftwatch/config.yaml[0]"} <= set(found)
    assert any(name.startswith("deploy/k8s/configmap.yaml") for name in found)
    assert len(documentation_blocks()) >= 2  # the performance and webhooks examples of the README


@pytest.mark.parametrize("name", sorted(repository_configs()))
def test_every_repository_config_is_valid_under_the_schema(name: str) -> None:
    assert schema_errors(repository_configs()[name]) == []


@pytest.mark.parametrize("name", sorted(documentation_blocks()))
def test_every_documented_config_fragment_is_valid_under_the_schema(name: str) -> None:
    assert schema_errors(documentation_blocks()[name], _without_required(json_schema())) == []


def test_the_demo_config_is_valid_under_the_schema(tmp_path: Path) -> None:
    path = write_demo_config(
        tmp_path, "127.0.0.1:9092", "predictions", 0, "http://127.0.0.1:1/hook", labels_topic="labels"
    )
    assert schema_errors(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


def test_schema_command_output_accepts_configs_demo_yaml() -> None:
    """The regression: `driftwatch schema` refused the project's own demo config."""
    from tests.unit.test_cli import driftwatch

    result = driftwatch("schema")
    assert result.returncode == 0, result.stderr
    import json

    schema = json.loads(result.stdout)
    demo = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    assert schema_errors(demo, schema) == []


# The loader and the schema must agree: each case is loaded and validated.


def demo_config() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "configs" / "demo.yaml").read_text(encoding="utf-8"))
    for model in raw["models"].values():  # the test's copy lives elsewhere
        model["reference"] = str(EXAMPLES / Path(model["reference"]).name)
    return raw


ENVIRON = {"DRIFTWATCH_DEMO_WEBHOOK_SECRET": "x" * 16, "PORT": "9400"}


def _set(raw: dict[str, Any], dotted: str, value: object) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    *parents, last = dotted.split(".")
    node = raw
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return raw


class _Deleted:
    """The key is left out; its repr names it the same in every process (pytest-xdist compares test ids)."""

    def __repr__(self) -> str:
        return "<deleted>"


_DELETE = _Deleted()

ACCEPTED = [
    ("models.churn.window.length", 3600),
    ("models.churn.window.length", "90m"),
    ("models.churn.window.length", "1.5h"),
    ("models.churn.schedule", {"every": 30}),
    ("models.churn.features", ["plan", {"name": "monthly_spend", "method": "psi", "threshold": 0.2}]),
    ("kafka.bootstrap_servers", ["a:9092", "b:9092"]),
    ("kafka.bootstrap_servers", "a:9092, b:9092"),
    ("http.port", "${PORT:-9308}"),
    ("labels", {"grace": 0, "ttl": "7d"}),
    ("labels", {"grace": "0s"}),
    ("webhooks.retrain.timeout", 2.5),
    ("webhooks.retrain.method", "${METHOD:-PUT}"),
    ("models.churn.quality", {"missing_share": 0.1, "unseen_share": None}),  # a limit may be null
    ("models.churn.quality", {"missing_share": "${MISSING_LIMIT:-0.1}"}),
]

REFUSED = [
    ("models.churn.window.length", "5 minutes"),
    ("models.churn.window.length", -5),
    ("models.churn.window.windw", 3),
    ("models.churn.features", [3]),
    ("models.churn.features", []),
    ("kafka.bootstrap_servers", 9092),
    ("kafka.bootstrap_servers", ""),
    ("kafka.topic", _DELETE),
    ("http.port", 70000),
    ("webhooks.retrain.secret", "plain-text-secret"),
    ("webhooks.retrain.method", "GET"),
    ("log_level", "chatty"),
    ("models.churn.quality", {"missing_share": 1.5}),
]


@pytest.mark.parametrize(("key", "value"), ACCEPTED, ids=[f"{k}={v!r}" for k, v in ACCEPTED])
def test_loader_and_schema_both_accept(tmp_path: Path, key: str, value: object) -> None:
    raw = _set(demo_config(), key, value)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    load_settings(path, ENVIRON)
    assert schema_errors(raw) == []


@pytest.mark.parametrize(("key", "value"), REFUSED, ids=[f"{k}={v!r}" for k, v in REFUSED])
def test_loader_and_schema_both_refuse(tmp_path: Path, key: str, value: object) -> None:
    raw = _set(demo_config(), key, value)
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError):
        load_settings(path, ENVIRON)
    assert schema_errors(raw) != []
