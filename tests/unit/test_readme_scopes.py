"""The README's "Segments, versions and rolling baselines" section says what the code does: its example
config is valid (loader, validate-config), its error lines are the ones validate-config prints, and
its budget table follows its own formulas."""

from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from driftwatch.config import load_settings
from tests.clirun import driftwatch_cli

ROOT = Path(__file__).resolve().parents[2]


def section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Segments, versions and rolling baselines\n", 1)[1].split("\n## ", 1)[0]


def example() -> dict[str, Any]:
    blocks = re.findall(r"^```yaml\n(.*?)^```$", section(), re.S | re.M)
    (block,) = [b for b in blocks if b.startswith("models:")]
    raw = yaml.safe_load(block)
    return {"kafka": {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"}, **raw}


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    rows = 2000
    frame = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.lognormal(8, 0.5, rows),
            "country": rng.choice(["DE", "FR", "ES", "IT"], rows),
            "score": rng.uniform(size=rows),
            "label": rng.integers(0, 2, rows),
        }
    )
    frame.to_parquet(tmp_path / "ref.parquet", index=False)
    frame.to_parquet(tmp_path / "ref-v8.parquet", index=False)
    return tmp_path


def write(directory: Path, raw: dict[str, Any]) -> Path:
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_the_example_config_is_valid(workdir: Path) -> None:
    path = write(workdir, example())
    model = load_settings(path, {}).models["credit-risk"]
    assert model.segments is not None and model.versions is not None and model.baseline is not None
    assert [c.column for c in model.segments.columns] == ["country", "app_version"]
    assert (model.baseline.rolling, model.baseline.lag) == (7 * 86400.0, 86400.0)
    result = driftwatch_cli("validate-config", str(path))
    assert (result.returncode, result.stderr) == (0, ""), result.stderr


def _mutated(raw: dict[str, Any], line: str) -> dict[str, Any]:
    raw = copy.deepcopy(raw)
    model = raw["models"]["credit-risk"]
    if ".segments.columns[0].column: 'age'" in line:
        model["segments"]["columns"][0] = "age"
    elif ".versions.max_live: 1 " in line:
        model["versions"]["max_live"] = 1
    elif ".baseline.rolling: 30m " in line:
        model["baseline"]["rolling"] = "30m"
    else:
        raise AssertionError(f"no case for the README line {line!r}")
    return raw


def documented_problems() -> list[str]:
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section(), re.S | re.M)
    return [
        line for kind, block in blocks if not kind for line in block.splitlines() if line.startswith("  - ")
    ]


@pytest.mark.parametrize("line", documented_problems())
def test_the_documented_problems_are_what_validate_config_prints(workdir: Path, line: str) -> None:
    result = driftwatch_cli("validate-config", str(write(workdir, _mutated(example(), line))))
    assert result.returncode == 2
    assert line in result.stderr.splitlines(), result.stderr


def test_the_budget_table_follows_the_formulas() -> None:
    # the table's assumptions, as the text states them
    features, prediction, alerts, realized, estimated, quality = 25, 1, 5, 6, 5, 0
    whole, versions, version_rows, segment_rows, baseline_rows, compared = 50_000, 2, 20_000, 5_000, 20_000, 1
    per_scope = 1 + 2 + 2 * prediction + 3 + alerts + 3 * alerts + realized + 3 * estimated + 1
    assert per_scope == 50
    per_baseline = 3 * features + 2 + 2 * prediction + 3 + 4 * (1 + prediction) + 2
    table = {
        match.group(1): [int(cell.replace(",", "")) for cell in match.group(2, 3, 4, 5)]
        for match in re.finditer(
            r"^\| K = (\d+) \| (\d+) \| ([\d,]+) \| ~\d+ MiB \| ([\d,]+) \| ([\d,]+) \|$", section(), re.M
        )
    }
    assert set(table) == {"20", "50"}
    for k, (scopes, rows, series, series_all) in table.items():
        top_k = int(k)
        assert scopes == top_k + 1 + math.ceil(top_k / 4)
        assert rows == whole + versions * version_rows + scopes * segment_rows + baseline_rows
        common = (
            (1 + versions) * (per_scope + 5 * features + quality) + per_baseline + 3 * compared + 2 + versions
        )
        assert series == common + scopes * per_scope
        assert series_all == common + scopes * (per_scope + 5 * features)


def test_the_section_documents_problems() -> None:
    assert len(documented_problems()) == 3
