"""What the benches that time driftwatch against NannyML in the same run share: a median timer, and
NannyML itself when the interpreter has it (each bench's docstring says how to make one that does)."""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable
from typing import Any

import pandas as pd


def median_seconds(action: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of ``runs`` calls of ``action``, and the last call's result."""
    times = []
    result = None
    for _ in range(runs):
        start = time.perf_counter()
        result = action()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def nannyml_module(object_strings: bool = False) -> Any:
    """NannyML, quietened, or None (saying so) when it is not importable. ``object_strings``: pandas
    keeps text in object arrays, through which NannyML 0.13.1 codes categories."""
    try:
        import nannyml
    except ImportError as error:
        print(f"NannyML is not importable ({error}): timing driftwatch only (see the docstring to add it).")
        return None
    logging.getLogger("nannyml").setLevel(logging.ERROR)
    if object_strings:
        pd.set_option("future.infer_string", False)
    return nannyml
