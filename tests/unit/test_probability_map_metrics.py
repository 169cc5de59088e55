"""Realized multiclass metrics of class-probability maps: a class a map leaves out (or names with no
value, as a Parquet struct column stores it) has probability 0, and classes configured out of sorted
order give the same numbers as sorted ones (scikit-learn's roc_auc refuses unsorted labels and its
log_loss reads matrix columns as sorted classes)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from driftwatch.cli.main import main
from driftwatch.performance.metrics import realized

CLASSES = ["a", "b", "c"]


def draw(seed: int, rows: int) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(seed)
    p = rng.dirichlet([1.0, 1.0, 1.0], size=rows)
    p[rng.uniform(size=rows) < 0.2, 2] = 0.0  # some rows give class c no probability
    p /= p.sum(axis=1, keepdims=True)
    labels = [CLASSES[k] for k in (rng.uniform(size=(rows, 1)) > p.cumsum(axis=1)).sum(axis=1)]
    return p, labels


def maps(p: np.ndarray, missing: str) -> list[dict[str, float | None]]:
    """One map per row; a zero probability of c left out (``missing="omit"``) or given as None."""
    out: list[dict[str, float | None]] = []
    for row in p:
        m: dict[str, float | None] = {c: float(v) for c, v in zip(CLASSES, row, strict=True)}
        if row[2] == 0.0:
            if missing == "omit":
                del m["c"]
            else:
                m["c"] = None
        out.append(m)
    return out


def test_a_class_named_without_a_value_counts_as_zero_like_one_left_out() -> None:
    p, labels = draw(1, 600)
    omitted = realized("multiclass_classification", labels, maps(p, "omit"))
    nulls = realized("multiclass_classification", labels, maps(p, "none"))
    assert nulls == pytest.approx(omitted, rel=1e-12)
    expected = skm.roc_auc_score(labels, p, multi_class="ovr", average="macro", labels=CLASSES)
    assert nulls["roc_auc"] == pytest.approx(expected, rel=1e-12)
    assert nulls["log_loss"] == pytest.approx(skm.log_loss(labels, p, labels=CLASSES), rel=1e-12)


def test_classes_out_of_sorted_order_give_the_sorted_numbers() -> None:
    p, labels = draw(2, 600)
    rows = maps(p, "omit")
    in_order = realized("multiclass_classification", labels, rows, classes=CLASSES)
    shuffled = realized("multiclass_classification", labels, rows, classes=["b", "c", "a"])
    assert shuffled == pytest.approx(in_order, rel=1e-12)
    # a matrix whose columns follow the configured order reads the same
    matrix = p[:, [1, 2, 0]]
    by_matrix = realized("multiclass_classification", labels, matrix, classes=["b", "c", "a"])
    assert by_matrix["log_loss"] == pytest.approx(skm.log_loss(labels, p, labels=CLASSES), rel=1e-12)
    assert by_matrix["roc_auc"] == pytest.approx(in_order["roc_auc"], rel=1e-12)


def test_the_command_grades_a_parquet_struct_column_with_nulls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, seed in (("ref", 3), ("cur", 4)):
        p, labels = draw(seed, 800)
        frame = pd.DataFrame(
            {"x": np.arange(len(labels), dtype=float), "probs": maps(p, "omit"), "label": labels}
        )
        frame.to_parquet(tmp_path / f"{name}.parquet")  # the struct column stores the left-out c as null
    assert pd.read_parquet(tmp_path / "cur.parquet")["probs"].map(lambda m: m["c"] is None).any()
    code = main(
        [
            "check",
            "-r",
            str(tmp_path / "ref.parquet"),
            "-u",
            str(tmp_path / "cur.parquet"),
            "--task",
            "multiclass_classification",
            "--prediction-column",
            "probs",
            "--label-column",
            "label",
            "--classes",
            "b,c,a",
            "-f",
            "json",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert code in (0, 1)
    p, labels = draw(4, 800)
    assert out["performance"]["roc_auc"] == pytest.approx(
        skm.roc_auc_score(labels, p, multi_class="ovr", average="macro", labels=CLASSES), rel=1e-9
    )
    assert out["performance"]["log_loss"] == pytest.approx(skm.log_loss(labels, p, labels=CLASSES), rel=1e-9)
