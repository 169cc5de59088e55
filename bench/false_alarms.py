"""False alarms of the default drift rule on null data, as a function of the window's rows.

Null data: every window is drawn (rows with replacement, so the features keep
their joint distribution) from the reference itself, so every "drift" found is
a false alarm. Each window is checked the way the daemon checks it: the
reference profile prepared once, ``method: auto`` on every feature (Evidently's
default method selection: ks / chisquare / z up to 1000 reference rows,
wasserstein / jensenshannon above), dataset drift when at least half of the
features drifted (``drift.share: 0.5``).

Feature mixes, each with a reference above 1000 rows (distance tests) and one
below (p-value tests):

- continuous: amounts, scores, ages, ratios (lognormal, normal, gamma, beta...)
- lowcard: counts, flags and ratings (Poisson, Bernoulli, 1..5): numeric
  columns with few distinct values
- categorical: country, device, payment method... with skewed frequencies
- mixed: 6 continuous, 3 low-cardinality numeric and 3 categorical features
- scikit-learn's bundled real datasets (offline, no download): digits (1797
  rows, 64 pixel columns of 0..16: low-cardinality numeric), breast_cancer
  (569), diabetes (442) and wine (178).

Prints, per mix and window size, the dataset-level false-alarm rate (the share
of null windows with dataset drift: what fires webhooks) and the per-feature
rate (the share of feature tests that said drift: what the per-feature gauges
show), and the smallest window size from which the dataset-level rate stays
below the target for every mix. That is how `window.min_rows`' default was
chosen (see the README).

    python bench/false_alarms.py                      # ~3 minutes of CPU on one core
    python bench/false_alarms.py --reps 1000 --rows 200 300 500 1000   # the deciding sizes, tighter
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable

import numpy as np
import pandas as pd

from driftwatch.drift import ReferenceProfile
from driftwatch.drift.dataset import ColumnOptions, DatasetDrift, column_drift

ROWS = (10, 20, 30, 50, 75, 100, 150, 200, 300, 500, 1000)
SHARE = 0.5  # drift.share's default

_CATEGORIES = {
    "country_code": (["DE", "FR", "ES", "IT", "NL", "PL", "SE", "AT", "BE", "PT"], 1.1),
    "device_type": (["ios", "android", "desktop_web", "mobile_web", "tablet"], 0.8),
    "payment_method": (["card", "paypal", "sepa_debit", "klarna", "apple_pay", "google_pay"], 1.0),
    "plan_tier": (["free", "basic", "plus", "premium", "business"], 1.5),
    "sales_channel": (["organic", "paid_search", "affiliate", "email", "social", "referral"], 0.9),
}


def _continuous(rows: int, rng: np.random.Generator, n: int = 8) -> dict[str, np.ndarray]:
    columns = {
        "txn_amount": np.round(rng.lognormal(3.5, 1.0, rows), 2),
        "risk_score": rng.normal(0.0, 1.0, rows),
        "session_minutes": rng.gamma(2.0, 6.0, rows),
        "account_age_days": rng.integers(0, 3650, rows).astype(float),
        "utilisation_pct": 100 * rng.beta(2.0, 5.0, rows),
        "days_since_login": rng.exponential(9.0, rows),
        "income_monthly": np.round(rng.lognormal(8.0, 0.5, rows), -1),
        "distance_km": np.abs(rng.standard_t(3, rows)) * 12,
    }
    return dict(list(columns.items())[:n])


def _lowcard(rows: int, rng: np.random.Generator, n: int = 6) -> dict[str, np.ndarray]:
    columns = {
        "late_payments": np.minimum(rng.poisson(0.4, rows), 6).astype(float),
        "support_tickets": rng.poisson(1.5, rows).astype(float),
        "is_new_device": (rng.random(rows) < 0.1).astype(float),
        "has_promo": (rng.random(rows) < 0.5).astype(float),
        "rating": rng.choice([1, 2, 3, 4, 5], rows, p=[0.05, 0.1, 0.2, 0.35, 0.3]).astype(float),
        "basket_items": np.minimum(rng.geometric(0.4, rows), 8).astype(float),
    }
    return dict(list(columns.items())[:n])


def _categorical(rows: int, rng: np.random.Generator, n: int = 5) -> dict[str, np.ndarray]:
    out = {}
    for name, (values, skew) in list(_CATEGORIES.items())[:n]:
        weights = 1.0 / np.arange(1, len(values) + 1) ** skew
        out[name] = rng.choice(np.array(values, dtype=object), rows, p=weights / weights.sum())
    return out


def synthetic(kind: str, rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    if kind == "continuous":
        return pd.DataFrame(_continuous(rows, rng))
    if kind == "lowcard":
        return pd.DataFrame(_lowcard(rows, rng))
    if kind == "categorical":
        return pd.DataFrame(_categorical(rows, rng))
    return pd.DataFrame({**_continuous(rows, rng, 6), **_lowcard(rows, rng, 3), **_categorical(rows, rng, 3)})


def bundled(name: str) -> pd.DataFrame:
    """A scikit-learn dataset shipped inside the wheel (load_*: read from the package, never downloaded)."""
    from sklearn import datasets

    loader: Callable[..., object] = getattr(datasets, f"load_{name}")
    frame = loader(as_frame=True).frame  # type: ignore[attr-defined]
    return frame.drop(columns=["target"])


def wilson_low(alarms: int, windows: int, z: float = 1.96) -> float:
    """Lower end of the 95% Wilson interval of a rate of ``alarms`` in ``windows``."""
    p = alarms / windows
    centre = p + z * z / (2 * windows)
    spread = z * math.sqrt(p * (1 - p) / windows + z * z / (4 * windows * windows))
    return (centre - spread) / (1 + z * z / windows)


def null_rates(
    reference: pd.DataFrame, rows: list[int], reps: int, seed: int, target: float
) -> dict[int, tuple[float, float, int]]:
    """{window rows: (dataset-level false-alarm rate, per-feature false-alarm rate, windows drawn)}.

    A cell stops early, after a multiple of 50 windows, once its dataset-level rate is clearly above
    ``target`` (the Wilson 95% lower bound is above it); cells near or below the target get all ``reps``.
    """
    columns = list(reference.columns)
    profile = ReferenceProfile.build(reference, columns)
    arrays = {name: reference[name].to_numpy() for name in columns}
    options = ColumnOptions()
    rng = np.random.default_rng(seed)
    out: dict[int, tuple[float, float, int]] = {}
    for n in rows:
        dataset_alarms = feature_alarms = feature_tests = windows = 0
        while windows < reps:
            index = rng.integers(0, len(reference), n)
            drifts = [column_drift(profile.columns[c], arrays[c][index], options) for c in columns]
            result = DatasetDrift([d for d in drifts if not d.error], SHARE, [d for d in drifts if d.error])
            dataset_alarms += result.dataset_drift
            feature_alarms += result.n_drifted
            feature_tests += result.n_columns
            windows += 1
            if windows % 50 == 0 and wilson_low(dataset_alarms, windows) > target:
                break
        out[n] = (dataset_alarms / windows, feature_alarms / max(feature_tests, 1), windows)
    return out


def smallest_quiet(rates: dict[int, tuple[float, float, int]], target: float) -> int | None:
    """The smallest window size from which every larger measured size stays below ``target``."""
    quiet = None
    for n in sorted(rates, reverse=True):
        if rates[n][0] >= target:
            break
        quiet = n
    return quiet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=list(ROWS), help="window sizes")
    parser.add_argument("--reps", type=int, default=200, help="null windows per mix and size")
    parser.add_argument("--above", type=int, default=5000, help="synthetic reference rows above 1000")
    parser.add_argument("--below", type=int, default=800, help="synthetic reference rows up to 1000")
    parser.add_argument("--target", type=float, default=0.01, help="dataset-level false-alarm target")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--mixes", nargs="+", help="only these mixes (e.g. continuous mixed digits)")
    args = parser.parse_args(argv)

    mixes: list[tuple[str, pd.DataFrame]] = []
    for kind in ("continuous", "lowcard", "categorical", "mixed"):
        mixes.append((f"{kind}", synthetic(kind, args.above, args.seed)))
        mixes.append((f"{kind}", synthetic(kind, args.below, args.seed + 1)))
    for name in ("digits", "breast_cancer", "diabetes", "wine"):
        if not args.mixes or name in args.mixes:
            mixes.append((name, bundled(name)))
    mixes = [(name, frame) for name, frame in mixes if not args.mixes or name in args.mixes]

    started = time.perf_counter()
    results = []
    for i, (name, frame) in enumerate(mixes):
        results.append((name, frame, null_rates(frame, args.rows, args.reps, args.seed + i, args.target)))
        print(f"  {name} ({len(frame)} rows) done", file=sys.stderr)

    def table(title: str, pick: int) -> None:
        print(f"\n{title}")
        head = f"{'mix':<14}{'ref rows':>9}{'feats':>6} " + "".join(f"{n:>7}" for n in args.rows)
        print(head)
        print("-" * len(head))
        for name, frame, rates in results:
            cells = "".join(f"{100 * rates[n][pick]:>6.1f}%" for n in args.rows)
            print(f"{name:<14}{len(frame):>9}{frame.shape[1]:>6} {cells}")

    print(
        f"False alarms of the default rule (method auto, drift.share {SHARE}) on null windows resampled "
        f"from the reference; {args.reps} windows per cell (fewer, at least 50, where the rate is clearly "
        f"above {100 * args.target:g}%); columns: window rows."
    )
    table("Dataset drift (what fires a webhook): share of null windows flagged", 0)
    table("Per-feature drift: share of feature tests that said drift", 1)
    print(f"\nSmallest window from which the dataset-level rate stays below {100 * args.target:g}%:")
    worst: int | None = 0
    for name, frame, rates in results:
        quiet = smallest_quiet(rates, args.target)
        regime = "distance tests" if len(frame) > 1000 else "p-value tests"
        print(f"  {name:<14}{len(frame):>6} rows ({regime}): {quiet if quiet is not None else 'never'}")
        worst = None if quiet is None or worst is None else max(worst, quiet)
    print(f"  all mixes: {worst if worst is not None else 'not reached'}")
    print(f"({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
