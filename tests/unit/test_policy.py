"""Breach policy: table-driven sequences of check outcomes -> events, with an injected clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftwatch.alerting.policy import BreachPolicy, PolicyRule
from driftwatch.state.store import Store

B, C = True, False  # breaching / clean check

CASES = [
    # (rule, outcomes as (minute, breaching), expected events per check)
    pytest.param(
        PolicyRule(), [(0, B), (1, B), (2, C), (3, B)], ["firing", None, "resolved", "firing"], id="edge"
    ),
    pytest.param(
        PolicyRule(consecutive=3),
        [(0, B), (1, B), (2, C), (3, B), (4, B), (5, B), (6, B)],
        [None, None, None, None, None, "firing", None],
        id="consecutive resets on a clean check",
    ),
    pytest.param(
        PolicyRule(cooldown=3600),
        [(0, B), (30, B), (59, B), (60, B), (61, B), (121, B)],
        ["firing", None, None, "firing", None, "firing"],
        id="cooldown reminds once an hour while breaching",
    ),
    pytest.param(
        PolicyRule(resolve_after=2),
        [(0, B), (1, C), (2, B), (3, C), (4, C), (5, C)],
        ["firing", None, None, None, "resolved", None],
        id="resolve after two clean checks in a row",
    ),
    pytest.param(
        PolicyRule(consecutive=2, cooldown=600, resolve_after=2),
        [(0, B), (5, B), (10, B), (16, B), (20, C), (25, C), (30, B), (35, B)],
        [None, "firing", None, "firing", None, "resolved", None, "firing"],
        id="all together",
    ),
]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def run(
    policy: BreachPolicy, clock: Clock, rule: PolicyRule, outcomes: list[tuple[int, bool]]
) -> list[str | None]:
    events = []
    start = 1_800_000_000.0
    for minute, breaching in outcomes:
        clock.now = start + minute * 60
        event = policy.observe("m", "data_drift", breaching, clock.now, rule)
        events.append(None if event is None else event.transition)
    return events


@pytest.mark.parametrize(("rule", "outcomes", "expected"), CASES)
def test_sequences(rule: PolicyRule, outcomes: list[tuple[int, bool]], expected: list[str | None]) -> None:
    clock = Clock()
    assert run(BreachPolicy(clock=clock), clock, rule, outcomes) == expected


@pytest.mark.parametrize(("rule", "outcomes", "expected"), CASES)
def test_restart_in_the_middle_changes_nothing(
    rule: PolicyRule, outcomes: list[tuple[int, bool]], expected: list[str | None], tmp_path: Path
) -> None:
    clock = Clock()
    half = len(outcomes) // 2
    store = Store(tmp_path / "state.sqlite")
    first = run(BreachPolicy(store, clock), clock, rule, outcomes[:half])
    store.close()
    store = Store(tmp_path / "state.sqlite")  # a new process: state comes back from the file
    second = run(BreachPolicy(store, clock), clock, rule, outcomes[half:])
    store.close()
    assert first + second == expected


def test_state_changes_are_reported() -> None:
    seen: list[tuple[str, str]] = []
    clock = Clock()
    policy = BreachPolicy(clock=clock, on_state=lambda m, c, before, after: seen.append((before, after)))
    run(policy, clock, PolicyRule(consecutive=2), [(0, B), (1, B), (2, C)])
    assert seen == [("ok", "pending"), ("pending", "firing"), ("firing", "ok")]
    assert not policy.firing("m", "data_drift")
