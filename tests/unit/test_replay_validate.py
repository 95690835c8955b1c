"""The replay-twice check fails on a non-deterministic reducer, with the seed's diff shape."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest

from claire.events import BaseEvent, EventType
from claire.replay.validate import Validator
from claire.state import model as state_module
from claire.state.model import SystemState
from claire.store.memory import MemoryEventStore
from tests.integration.test_replay_sessions import record_session


@pytest.fixture(scope="module")
def store() -> MemoryEventStore:
    memory = MemoryEventStore()
    record_session(memory, bars_per_symbol=120)
    return memory


def test_a_recorded_session_is_deterministic(store: MemoryEventStore) -> None:
    report = Validator(store).validate(1, None)
    assert report.deterministic
    assert [c.key for c in report.checks] == ["replay_twice", "snapshots", "decisions"]
    assert report.check("snapshots").summary.endswith("snapshots match the replayed state")


def test_a_reducer_using_randomness_fails_replay_twice_with_a_state_diff(
    store: MemoryEventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = state_module.REDUCERS[EventType.ORDER_RESULT]

    def slippery_fee(state: SystemState, event: BaseEvent) -> None:
        original(state, event)
        slip = Decimal(random.randint(1, 10**6)) / Decimal(10**8)  # unseeded on purpose
        state.equity -= slip
        state.daily_pnl -= slip

    monkeypatch.setitem(state_module.REDUCERS, EventType.ORDER_RESULT, slippery_fee)
    report = Validator(store).validate(1, None)
    check = report.check("replay_twice")
    assert not check.passed and not report.deterministic
    differences = check.details["differences"]
    assert set(differences["risk_state"]) == {"replay1", "replay2"}
    assert set(differences["risk_state"]["replay1"]) == {"equity", "daily_pnl"}
    assert differences["risk_state"]["replay1"] != differences["risk_state"]["replay2"]
    assert check.details["replay1_hash"] != check.details["replay2_hash"]
    # The recorded snapshots were made with the honest reducer: they no longer match either.
    assert not report.check("snapshots").passed
