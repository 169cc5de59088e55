"""Shared pieces of the ingest and memory benchmarks: synthetic models, their records and configs.

A synthetic model has ``numeric`` numeric and ``categorical`` categorical
features with realistic names, a float prediction, and JSON records shaped
like production prediction logs (model, model_version, a UUID prediction_id,
an ISO 8601 timestamp, the features, the prediction, a null label).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

NUMERIC_NAMES = [
    "account_age_days",
    "avg_txn_amount",
    "txn_count_7d",
    "txn_count_30d",
    "max_txn_amount",
    "days_since_login",
    "session_minutes",
    "pages_per_visit",
    "cart_value_eur",
    "refund_rate_90d",
    "credit_limit",
    "utilisation_pct",
    "income_monthly",
    "debt_to_income",
    "open_accounts",
    "late_payments",
    "ip_risk_score",
    "device_age_days",
    "email_age_days",
    "distance_km",
    "merchant_score",
    "basket_items",
    "discount_pct",
    "support_tickets",
    "churn_score_prev",
]
CATEGORICAL_NAMES = ["country_code", "device_type", "payment_method", "plan_tier", "sales_channel"]
CATEGORIES = {
    "country_code": ["DE", "FR", "ES", "IT", "NL", "PL", "SE", "AT", "BE", "PT"],
    "device_type": ["ios", "android", "desktop_web", "mobile_web", "tablet"],
    "payment_method": ["card", "paypal", "sepa_debit", "klarna", "apple_pay", "google_pay"],
    "plan_tier": ["free", "basic", "plus", "premium", "business"],
    "sales_channel": ["organic", "paid_search", "affiliate", "email", "social", "referral"],
}
TIMESTAMP_PLACEHOLDER = "0000-00-00T00:00:00.000Z"  # as wide as every stamp `iso_stamp` writes


@dataclass(frozen=True)
class SyntheticModel:
    name: str
    numeric: list[str]
    categorical: list[str]

    @property
    def features(self) -> list[str]:
        return self.numeric + self.categorical


def synthetic_model(name: str, numeric: int, categorical: int) -> SyntheticModel:
    if numeric > len(NUMERIC_NAMES) or categorical > len(CATEGORICAL_NAMES):
        raise ValueError(f"at most {len(NUMERIC_NAMES)} numeric and {len(CATEGORICAL_NAMES)} categorical")
    return SyntheticModel(name, NUMERIC_NAMES[:numeric], CATEGORICAL_NAMES[:categorical])


def feature_columns(model: SyntheticModel, rows: int, rng: np.random.Generator) -> dict[str, Any]:
    """Column arrays: numeric features with a spread of scales and decimals, categoricals, prediction."""
    data: dict[str, Any] = {}
    for i, name in enumerate(model.numeric):
        scale = 10.0 ** (i % 6)
        if i % 3 == 0:  # counts
            data[name] = rng.poisson(1 + scale / 10, rows).astype(np.int64)
        else:
            data[name] = (rng.lognormal(0.0, 0.75, rows) * scale).round(4)
    for name in model.categorical:
        data[name] = rng.choice(CATEGORIES[name], rows)
    data["prediction"] = 1 / (1 + np.exp(-rng.normal(0, 1.5, rows)))
    return data


def reference_frame(model: SyntheticModel, rows: int = 5000, seed: int = 7) -> pd.DataFrame:
    return pd.DataFrame(feature_columns(model, rows, np.random.default_rng(seed)))


def iso_stamp(seconds: float) -> str:
    """``2026-11-27T03:00:00.123Z``: always 24 characters."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{int(seconds % 1 * 1000):03d}Z"


def encode_records(
    model: SyntheticModel, rows: int, rng: np.random.Generator, stamp: str = TIMESTAMP_PLACEHOLDER
) -> list[bytes]:
    """``rows`` JSON records of ``model``, as ``json.dumps`` writes them."""
    columns = {name: values.tolist() for name, values in feature_columns(model, rows, rng).items()}
    ids = rng.bytes(16 * rows)
    encoder = json.JSONEncoder()  # Python's default separators, as json.dumps writes
    out = []
    for i in range(rows):
        out.append(
            encoder.encode(
                {
                    "model": model.name,
                    "model_version": "2026.11.3",
                    "prediction_id": str(uuid.UUID(bytes=ids[16 * i : 16 * i + 16], version=4)),
                    "timestamp": stamp,
                    "features": {name: columns[name][i] for name in model.features},
                    "prediction": columns["prediction"][i],
                    "label": None,
                }
            ).encode()
        )
    return out


def write_config(
    directory: Path,
    models: list[SyntheticModel],
    *,
    bootstrap: str = "127.0.0.1:9",
    topic: str = "predictions",
    group_id: str = "driftwatch-bench",
    window: str = "1h",
    max_rows: int = 100_000,
    every: str = "1h",
    http_port: int = 0,
    reference_rows: int = 5000,
    decode: str | None = None,
) -> Path:
    """Reference Parquet files and a driftwatch config for ``models`` in ``directory``; the config's path
    (``decode``: the config's kafka.decode, left out when None)."""
    directory.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "kafka": {
            "bootstrap_servers": [bootstrap],
            "topic": topic,
            "group_id": group_id,
            "options": {"session_timeout_ms": 6000, "heartbeat_interval_ms": 1000},
        },
        "http": {"host": "127.0.0.1", "port": http_port},
        "models": {},
        "state": {"path": str(directory / "state.sqlite")},
        "log_level": "WARNING",
    }
    if decode is not None:
        config["kafka"]["decode"] = decode
    for seed, model in enumerate(models):
        reference_frame(model, reference_rows, seed=seed).to_parquet(
            directory / f"{model.name}.parquet", index=False
        )
        config["models"][model.name] = {
            "reference": f"{model.name}.parquet",
            "features": model.features,
            "prediction": "prediction",
            "window": {"length": window, "max_rows": max_rows},
            "schedule": {"every": every},
        }
    path = directory / "driftwatch.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class FakeMessage:
    """What the pipeline reads of a kafka-python ``ConsumerRecord``."""

    value: bytes
    timestamp: int  # milliseconds
    topic: str
    partition: int
    offset: int


def rss_bytes(field: str = "VmRSS:") -> int:
    """This process's resident set size (``VmRSS:``) or its peak (``VmHWM:``), from /proc."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1]) * 1024
    return 0


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def kafka_uses_crc32c() -> tuple[bool, bool]:
    """(crc32c importable, kafka-python verifies record batches with it rather than in pure Python)."""
    try:
        import crc32c
    except ImportError:
        return False, False
    from kafka.record import util

    return True, util.calc_crc32c.__defaults__[0] is crc32c.crc32c
