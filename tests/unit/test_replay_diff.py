"""Structured diffs: states in the seed's shape, events field by field."""

from __future__ import annotations

from decimal import Decimal

from claire.replay.diff import ABSENT, event_diff, flatten, state_diff
from claire.state.model import SystemState
from rigs.factories import trade


def test_state_diff_has_the_seeds_shape_with_only_differing_fields() -> None:
    one, two = SystemState(), SystemState()
    for state in (one, two):
        state.equity = Decimal("100000.0")
        state.daily_pnl = Decimal("-1234.56")
        state.last_prices["BTCUSDT"] = Decimal(50000)
    two.daily_pnl = Decimal("-1234.57")
    two.last_prices["ETHUSDT"] = Decimal(2700)
    diff = state_diff(one.to_document(), two.to_document())
    assert diff == {
        "risk_state": {"replay1": {"daily_pnl": "-1234.56"}, "replay2": {"daily_pnl": "-1234.57"}},
        "last_prices": {"replay1": {"ETHUSDT": ABSENT}, "replay2": {"ETHUSDT": "2700"}},
    }
    assert state_diff(one.to_document(), one.copy().to_document()) == {}


def test_flatten_gives_dotted_paths() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {
        "a.b": 1,
        "a.c.d": [1, 2],
        "e": {},
    }


def test_event_diff_ignores_ids_sequence_and_wall_time_but_not_the_rest() -> None:
    md, sig, risk, *_ = trade()
    again = risk.model_copy(
        update={
            "event_id": md.event_id,  # ignored
            "timestamp_utc": md.timestamp_utc,  # ignored
            "sequence_number": 99,  # ignored
            "payload": {**risk.payload, "approved": False, "position_size": "0.3"},
        }
    )
    diffs = event_diff(risk, again, replayed_causation=str(sig.event_id))
    assert [(d.field, d.recorded, d.replayed) for d in diffs] == [
        ("payload.approved", True, False),
        ("payload.position_size", "0.2", "0.3"),
    ]
    wrong_cause = event_diff(risk, risk, replayed_causation=str(md.event_id))
    assert [d.field for d in wrong_cause] == ["causation_id"]
    assert (
        event_diff(
            risk,
            again,
            replayed_causation=str(sig.event_id),
            ignore=["payload.approved", "payload.position_size"],
        )
        == []
    )
