"""The README's "Python API" examples run as written (each block on its own, as a reader would paste it)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def api_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def test_the_section_has_examples() -> None:
    assert len(api_blocks()) >= 2


@pytest.mark.parametrize("index", range(len(api_blocks())))
def test_example_runs(index: int) -> None:
    block = api_blocks()[index]
    # each example asserts the result it shows, so running it checks what the README says
    assert re.search(r"^assert ", block, re.M), "an example should assert its result"
    exec(compile(block, f"README.md Python API example {index + 1}", "exec"), {"__name__": "__readme__"})
