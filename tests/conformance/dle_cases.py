"""The data of the DLE (regression performance estimation) conformance cases.

Shared by tests/conformance/test_dle_nannyml.py (driftwatch's side), tests/conformance/
regenerate_dle_fixture.py (NannyML's side, run once to write the expected numbers) and bench/dle.py.

* ``car_price``: NannyML's own regression example, ``nannyml.load_synthetic_car_price_dataset()``,
  every third row (20,000 reference and 20,000 analysis rows, with the analysis targets), stored in
  data/car_price_nannyml.parquet by the regenerate script: NannyML ships the rows, not their
  generator. Its analysis half has a covariate shift after which the model errs less.
* ``heteroscedastic``: generated here from a fixed seed. The model's error grows with ``x0`` and
  differs by ``region``; the analysis half moves ``x0`` up (the error grows), and brings missing
  values and a region the reference never had.

Each frame's digest is stored with NannyML's numbers, so a change in the data fails loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tests.conformance.oracle_cases import Pair, digest, split_periods

__all__ = ["CAR_PRICE_FILE", "CASES", "DLECase", "digest", "heteroscedastic"]

CAR_PRICE_FILE = Path(__file__).parent / "data" / "car_price_nannyml.parquet"
CAR_FEATURES = ["car_age", "km_driven", "price_new", "accident_count", "door_count", "fuel", "transmission"]


def _car_price() -> Pair:
    frame = pd.read_parquet(CAR_PRICE_FILE)
    for column in ("fuel", "transmission"):
        frame[column] = frame[column].astype(object)
    return split_periods(frame)


def heteroscedastic(
    rng: np.random.Generator, n: int, shift: float = 0.0, unseen: bool = False
) -> pd.DataFrame:
    """Rows of a regression model whose error grows with ``x0`` and differs by region; ``shift`` moves
    ``x0`` (a covariate shift: the model's error grows, the relation of target to inputs does not)."""
    x0 = rng.normal(loc=shift, size=n)
    x1 = rng.normal(size=n)
    x2 = rng.uniform(0, 10, size=n)
    regions = np.array(["north", "south", "east", "west"], dtype=object)
    region = regions[rng.choice(4, size=n, p=[0.4, 0.3, 0.2, 0.1])]
    if unseen:
        region[rng.random(n) < 0.1] = "island"
    noise_scale = (1.0 + np.abs(x0)) * np.where(region == "west", 3.0, 1.0)
    y_true = np.maximum(0.5, 30.0 + 3.0 * x0 + 2.0 * x1 + 0.5 * x2 + rng.normal(size=n) * noise_scale)
    y_pred = 30.0 + 3.0 * x0 + 1.8 * x1 + 0.5 * x2
    frame = pd.DataFrame({"x0": x0, "x1": x1, "x2": x2, "region": region, "y_pred": y_pred, "y_true": y_true})
    frame["x2"] = frame["x2"].where(rng.random(n) > 0.05)  # missing numbers: LightGBM's missing
    frame["region"] = frame["region"].where(rng.random(n) > 0.03)  # missing categories: one of their own
    return frame


def _heteroscedastic() -> Pair:
    rng = np.random.default_rng(18)
    reference = heteroscedastic(rng, 6000)
    analysis = pd.concat(
        [heteroscedastic(rng, 3000), heteroscedastic(rng, 3000, shift=1.0, unseen=True)], ignore_index=True
    )
    return reference, analysis


@dataclass(frozen=True)
class DLECase:
    name: str
    build: Callable[[], Pair]  # (reference, analysis with targets)
    features: list[str]
    chunk_size: int
    metrics: tuple[str, ...] = ("mae", "mape", "mse", "rmse", "msle", "rmsle")
    prediction: str = "y_pred"
    label: str = "y_true"


CASES = [
    DLECase("car_price", _car_price, CAR_FEATURES, 2000),
    DLECase("heteroscedastic", _heteroscedastic, ["x0", "x1", "x2", "region"], 1000),
]
