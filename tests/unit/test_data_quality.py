"""Data-quality limits: a model's (or a feature's) missing, unseen and out-of-range shares become the
``data_quality`` check, alerting through the breach policy, the webhooks and the metrics like drift."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from jsonschema import Draft202012Validator

from driftwatch.config import ConfigError, load_settings
from driftwatch.drift.quality import ColumnQuality, data_quality
from driftwatch.service.daemon import Daemon
from driftwatch.service.webhooks import SIGNATURE_HEADER, verify
from tests.receivers import Receiver, tamper

NOW = 1_800_000_000.0
SECRET = "quality-secret"
SCHEMA = json.loads((Path(__file__).parents[2] / "schemas" / "webhook-event.schema.json").read_text())


@dataclass
class Msg:
    value: bytes | None
    timestamp: int = int(NOW * 1000)
    topic: str = "predictions"
    partition: int = 0
    offset: int = 0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


CONFIG = """
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
http: {{port: 0}}
models:
  m:
    reference: ref.csv
    features: [x, {{name: c, type: categorical, quality: {{unseen_share: 0.05, missing_share: null}}}}]
    window: {{length: 1h, max_rows: 5000, min_rows: 50}}
    quality: {{missing_share: 0.1}}
    alert: {{consecutive: 2, resolve_after: 1}}
    webhooks: [retrain]
webhooks:
  retrain: {{url: "{url}", secret: {{env: DW_QUALITY_SECRET}}}}
state: {{path: state.sqlite}}
"""


def reference(path: Path) -> None:
    rng = np.random.default_rng(3)
    pd.DataFrame({"x": rng.normal(size=2000), "c": rng.choice(["a", "b", "c"], 2000)}).to_csv(
        path, index=False
    )


def traffic(clock: Clock, rows: int, seed: int, missing_x: float = 0.0, unseen_c: float = 0.0) -> list[Msg]:
    """Unshifted records; ``missing_x`` of them without x, ``unseen_c`` with a category never seen."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(rows):
        features: dict[str, Any] = {"c": str(rng.choice(["a", "b", "c"]))}
        if rng.uniform() >= missing_x:
            features["x"] = float(rng.normal())
        if rng.uniform() < unseen_c:
            features["c"] = "zz"
        record = {"model": "m", "timestamp": clock.now - 1, "features": features}
        out.append(Msg(json.dumps(record).encode(), offset=i))
    return out


def quality(receiver: Receiver, count: int) -> list[dict[str, Any]]:
    """The first ``count`` data_quality events the receiver got, each correctly signed (other checks'
    events may arrive in between)."""
    arrived = count
    while True:
        events = [r for r in receiver.wait_for(arrived) if r.json["check"] == "data_quality"]
        if len(events) >= count:
            for r in events:  # signed at the daemon's clock, which the test moves ahead of the real one
                sent = datetime.fromisoformat(r.json["occurred_at"]).timestamp()
                signature = r.headers[SIGNATURE_HEADER.lower()]
                assert verify(SECRET.encode(), r.body, signature, sent)
                assert not verify(SECRET.encode(), tamper(r.body), signature, sent)
            return [r.json for r in events[:count]]
        arrived += count - len(events)


def sample(daemon: Daemon, name: str, **labels: str) -> float | None:
    """A sample of the daemon's registry; a label left unnamed must be empty (a scope's label of the
    whole model: Prometheus treats an empty label as absent)."""
    for family in daemon.metrics.registry.collect():
        for s in family.samples:
            if s.name == name and {k: v for k, v in s.labels.items() if v} == labels:
                return float(s.value)
    return None


def test_a_missing_share_above_its_limit_fires_once_through_the_policy_and_resolves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DW_QUALITY_SECRET", SECRET)
    reference(tmp_path / "ref.csv")
    clock = Clock()
    with Receiver(SECRET.encode()) as receiver:
        (tmp_path / "c.yaml").write_text(CONFIG.format(url=receiver.url), encoding="utf-8")
        daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)
        daemon.dispatcher.start()
        try:
            assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 0
            limit = "driftwatch_feature_quality_limit"
            assert sample(daemon, limit, model="m", feature="x", measure="missing_share") == 0.1
            assert sample(daemon, limit, model="m", feature="c", measure="unseen_share") == 0.05
            assert sample(daemon, limit, model="m", feature="c", measure="missing_share") is None  # lifted

            daemon.handle(traffic(clock, 1000, seed=1, missing_x=0.3))
            first = daemon.run_check("m")
            assert first.data_quality is not None
            (breach,) = first.data_quality.breaches
            assert (breach.feature, breach.measure, breach.limit) == ("x", "missing_share", 0.1)
            assert breach.value == pytest.approx(0.3, abs=0.05)
            breach_gauge = "driftwatch_feature_quality_breach"
            assert sample(daemon, breach_gauge, model="m", feature="x", measure="missing_share") == 1
            assert sample(daemon, breach_gauge, model="m", feature="c", measure="unseen_share") == 0
            assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 0  # 1 of 2
            assert (
                sample(
                    daemon, "driftwatch_check_last_success_timestamp_seconds", model="m", check="data_quality"
                )
                == NOW
            )

            for _ in range(3):  # the second breach in a row fires; the ones after stay quiet
                clock.now += 60
                daemon.run_check("m")
            assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 1
            (event,) = quality(receiver, 1)
            Draft202012Validator(SCHEMA).validate(event)
            assert event["transition"] == "firing"
            assert [(b["feature"], b["measure"], b["limit"]) for b in event["quality_breaches"]] == [
                ("x", "missing_share", 0.1)
            ]
            assert event["summary"].startswith(
                "Data quality on model m: 1 feature(s) exceed their limits: x "
            )
            assert event["result"]["data_quality"]["status"] == "breach"

            clock.now += 3600 + 60  # the bad records leave the window; clean ones come
            daemon.handle(traffic(clock, 1000, seed=2))
            clean = daemon.run_check("m")
            assert clean.data_quality is not None and not clean.data_quality.breached
            assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 0
            assert sample(daemon, breach_gauge, model="m", feature="x", measure="missing_share") == 0
            quality_events = quality(receiver, 2)
            assert [e["transition"] for e in quality_events] == ["firing", "resolved"]
            assert quality_events[1]["quality_breaches"] == []
            transitions = "driftwatch_alert_transitions_total"
            assert sample(daemon, transitions, model="m", check="data_quality", state="firing") == 1
            assert sample(daemon, transitions, model="m", check="data_quality", state="resolved") == 1
        finally:
            daemon.dispatcher.stop(5)
            daemon.store.close()


def test_unseen_and_out_of_range_shares_breach_their_limits(tmp_path: Path) -> None:
    """Per-feature overrides win over the model's limits; a limit of a measure that does not apply to the
    feature's type never breaches."""
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m:
    reference: ref.csv
    features: [{name: x, quality: {out_of_range_share: 0.01}}, {name: c, type: categorical}]
    quality: {unseen_share: 0.05, out_of_range_share: 0.5}
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )
    clock = Clock()
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)
    messages = traffic(clock, 500, seed=4, unseen_c=0.2)
    far = [
        Msg(json.dumps({"model": "m", "timestamp": NOW - 1, "features": {"x": 50.0, "c": "a"}}).encode())
        for _ in range(30)
    ]
    daemon.handle(messages + far)
    result = daemon.run_check("m")
    assert result.data_quality is not None
    found = {(b.feature, b.measure) for b in result.data_quality.breaches}
    assert found == {("x", "out_of_range_share"), ("c", "unseen_share")}
    assert result.data_quality.limits == {
        "x": {"unseen_share": 0.05, "out_of_range_share": 0.01},
        "c": {"unseen_share": 0.05, "out_of_range_share": 0.5},
    }
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 1
    daemon.store.close()


def test_a_model_without_limits_has_no_data_quality_check(tmp_path: Path) -> None:
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m: {reference: ref.csv, features: [x, c]}
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )
    clock = Clock()
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)
    daemon.handle(traffic(clock, 100, seed=5, missing_x=0.9))
    result = daemon.run_check("m")
    assert result.data_quality is None and result.as_dict()["data_quality"] is None
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") is None
    daemon.store.close()


def test_a_measure_at_its_limit_does_not_breach() -> None:
    quality = ColumnQuality("x", 0.05, 1 - 90 / 100, None, 0.0, 0)  # 0.09999999999999998
    at = data_quality([quality], {"x": {"missing_share": 0.1, "missing_share_increase": 0.05}})
    assert not at.breached
    over = data_quality([quality], {"x": {"missing_share": 0.09, "missing_share_increase": 0.04}})
    assert [b.measure for b in over.breaches] == ["missing_share", "missing_share_increase"]
    assert over.breaches[1].value == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("quality", "key", "value"),
    [
        ("{missing_share: 1.5}", "models.m.quality.missing_share", "1.5"),
        ("{unseen_share: -0.1}", "models.m.quality.unseen_share", "-0.1"),
        ("{out_of_range_share: true}", "models.m.quality.out_of_range_share", "True"),
        ("{missing_share: '10%'}", "models.m.quality.missing_share", "'10%'"),
        ("{missing_share: .nan}", "models.m.quality.missing_share", "nan"),
        ("{missing_share_increase: 2}", "models.m.quality.missing_share_increase", "2"),
    ],
)
def test_quality_limits_must_be_shares(tmp_path: Path, quality: str, key: str, value: str) -> None:
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        f"""
kafka: {{bootstrap_servers: "127.0.0.1:9", topic: predictions}}
models:
  m: {{reference: ref.csv, features: [x], quality: {quality}}}
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "c.yaml")
    message = str(caught.value)
    assert f"{key}: must be a share: a fraction in [0, 1], e.g. 0.1 for 10% (got {value})" in message


def test_quality_config_errors_name_the_key(tmp_path: Path) -> None:
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m: {reference: ref.csv, features: [{name: x, quality: {missing: 0.1, unseen_share: 3}}]}
""",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path / "c.yaml")
    message = str(caught.value)
    assert "models.m.features[0].quality.missing: unknown key" in message
    assert "models.m.features[0].quality.unseen_share: must be a share" in message


def test_the_readme_quality_example_is_a_valid_configuration() -> None:
    import yaml

    from driftwatch.config import Settings

    text = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = text.index("```yaml\nmodels:\n  credit-risk:\n    quality:")
    block = text[start + len("```yaml\n") : text.index("```", start + 7)]
    raw = yaml.safe_load(block)
    raw["kafka"] = {"bootstrap_servers": "127.0.0.1:9092", "topic": "predictions"}
    raw["models"]["credit-risk"]["reference"] = "ref.csv"
    settings = Settings.model_validate(raw)
    assert settings.models["credit-risk"].quality_limits() == {
        "age": {
            "missing_share": 0.1,
            "unseen_share": 0.05,
            "out_of_range_share": 0.05,
            "missing_share_increase": 0.05,
        },
        "referrer": {"unseen_share": 0.2, "out_of_range_share": 0.05, "missing_share_increase": 0.05},
    }


def test_an_empty_window_measures_nothing_and_leaves_the_alert(tmp_path: Path) -> None:
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m: {reference: ref.csv, features: [x, c], quality: {missing_share: 0.1}, window: {length: 1h, min_rows: 50}}
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )
    clock = Clock()
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)
    daemon.handle(traffic(clock, 200, seed=6, missing_x=1.0))  # x never sent: all missing
    result = daemon.run_check("m")
    assert result.data_quality is not None
    assert [(b.feature, b.measure, b.value) for b in result.data_quality.breaches] == [
        ("x", "missing_share", 1.0)
    ]
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 1
    clock.now += 2 * 3600  # the window empties
    empty = daemon.run_check("m")
    assert empty.rows == 0 and empty.data_quality is None
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 1  # no evidence
    daemon.store.close()


def test_data_quality_is_measured_when_the_drift_part_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference(tmp_path / "ref.csv")
    (tmp_path / "c.yaml").write_text(
        """
kafka: {bootstrap_servers: "127.0.0.1:9", topic: predictions}
http: {port: 0}
models:
  m: {reference: ref.csv, features: [x, c], quality: {missing_share: 0.1}, window: {length: 1h, min_rows: 50}}
state: {path: state.sqlite}
""",
        encoding="utf-8",
    )

    def boom(*_: Any, **__: Any) -> Any:
        raise RuntimeError("injected failure")

    monkeypatch.setattr("driftwatch.checks.window.dataset_drift", boom)
    clock = Clock()
    daemon = Daemon(load_settings(tmp_path / "c.yaml"), clock=clock)
    daemon.handle(traffic(clock, 300, seed=7, missing_x=0.5))
    result = daemon.run_check("m")
    assert set(result.errors) == {"data_drift"}
    assert result.data_quality is not None
    assert [(b.feature, b.measure) for b in result.data_quality.breaches] == [("x", "missing_share")]
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_quality") == 1
    assert sample(daemon, "driftwatch_alert_active", model="m", check="data_drift") == 0
    success = "driftwatch_check_last_success_timestamp_seconds"
    assert sample(daemon, success, model="m", check="data_quality") == NOW
    assert sample(daemon, success, model="m", check="data_drift") is None
    daemon.store.close()
