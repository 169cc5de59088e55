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
    (bounds,) = [line for line in documented_lines() if line.startswith("model credit-risk: at most")]
    assert bounds in result.stdout.splitlines(), result.stdout


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


def documented_lines() -> list[str]:
    """The lines of the section's untyped code blocks (command output)."""
    blocks = re.findall(r"^```(\w*)\n(.*?)^```$", section(), re.S | re.M)
    return [line for kind, block in blocks if not kind for line in block.splitlines()]


def documented_problems() -> list[str]:
    return [line for line in documented_lines() if line.startswith("  - ")]


@pytest.mark.parametrize("line", documented_problems())
def test_the_documented_problems_are_what_validate_config_prints(workdir: Path, line: str) -> None:
    result = driftwatch_cli("validate-config", str(write(workdir, _mutated(example(), line))))
    assert result.returncode == 2
    assert line in result.stderr.splitlines(), result.stderr


def test_the_budget_table_is_what_the_budget_functions_say() -> None:
    from driftwatch.service.metrics import row_budget, segment_scopes, series_budget

    # the table's assumptions, as the text states them
    model = {"features": 25, "prediction": True, "alert_ids": 6, "realized": 6, "estimated": 5}
    scoped = {"versions": 2, "baseline_scopes": 1, "challenger_metrics": 1, "challenger_alerts": 1}
    rows = {"window_max_rows": 50_000, "versions": 2, "version_max_rows": 20_000}
    cells = r"([\d,]+|-)"
    table = {
        match.group(1): [None if c == "-" else int(c.replace(",", "")) for c in match.group(2, 3, 4, 5)]
        for match in re.finditer(
            rf"^\| (K = \d+|none \(the model today\)) \| {cells} \| {cells} \| {cells} \| {cells} \|$",
            section(),
            re.M,
        )
    }
    scopes, window_rows, series, series_all = table["none (the model today)"]
    assert scopes is None and series_all is None
    assert window_rows is not None and abs(window_rows - row_budget(window_max_rows=50_000)) <= 1
    assert series == series_budget(**model)
    assert {key for key in table if key.startswith("K = ")} == {"K = 20", "K = 50"}
    for key in ("K = 20", "K = 50"):
        k = int(key.removeprefix("K = "))
        scopes, window_rows, series, series_all = table[key]
        assert scopes == segment_scopes([k]) == k + 1 + math.ceil(k / 4)
        expected_rows = row_budget(**rows, segments=[(k, 5000)], baseline_scopes=1, baseline_max_rows=20_000)
        assert window_rows is not None and abs(window_rows - expected_rows) <= 1  # 1.1 x in floating point
        assert series == series_budget(**model, **scoped, segment_top_k=[k])
        assert series_all == series_budget(**model, **scoped, segment_top_k=[k], feature_series_all=True)


def test_the_section_documents_problems() -> None:
    assert len(documented_problems()) == 3
