"""explain_event and trace_correlation on real stores populated with factory trades."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from claire.audit import explain_event, trace_correlation
from claire.errors import NotFoundError
from claire.events import BaseEvent, EventType, Side
from claire.store import EventStore, open_store
from rigs.factories import factory, trade


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EventStore]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'audit.db'}"
    with open_store(url, create=True) as opened:
        yield opened


def _two_trades_and_a_position(store: EventStore) -> tuple[list[BaseEvent], list[BaseEvent]]:
    f = factory()
    first, second = trade(f), trade(f, symbol="ETHUSDT")
    position = f.create_position_update(
        symbol="BTCUSDT",
        side=Side.BUY,
        status="OPENED",
        size="0.2",
        entry_price="50010",
        correlation_id=first[0].correlation_id,
        causation_id=first[4].event_id,
    )
    store.append([*first, position])
    store.append(second)
    return [*first, position], second


def test_explain_decision_names_signal_market_data_checks_chain_and_effects(
    store: EventStore,
) -> None:
    first, _ = _two_trades_and_a_position(store)
    md, sig, risk, order, result, position = first

    explanation = explain_event(store, risk.event_id)

    assert explanation.event.sequence_number == 3
    assert explanation.approved is True
    assert explanation.reason == "All risk checks passed"
    assert explanation.signal is not None and explanation.signal.event.event_id == sig.event_id
    assert explanation.market_data is not None
    assert explanation.market_data.event.event_id == md.event_id
    assert [c.name for c in explanation.risk_checks] == ["daily_drawdown"]
    assert explanation.risk_checks[0].current_value == "-0.01"
    assert explanation.risk_checks[0].limit == "-0.05"
    assert [link.event_id for link in explanation.causation_chain] == [
        md.event_id,
        sig.event_id,
        risk.event_id,
    ]
    assert [link.event_id for link in explanation.effects] == [
        order.event_id,
        result.event_id,
        position.event_id,
    ]


def test_explain_order_result_walks_back_to_market_data(store: EventStore) -> None:
    first, _ = _two_trades_and_a_position(store)
    _md, sig, risk, order, result, _position = first

    explanation = explain_event(store, result.event_id)

    assert explanation.decision is not None
    assert (explanation.decision.relation, explanation.decision.event.event_id) == (
        "cause",
        risk.event_id,
    )
    assert explanation.order is not None and explanation.order.event.event_id == order.event_id
    assert explanation.signal is not None and explanation.signal.event.event_id == sig.event_id
    assert [link.sequence_number for link in explanation.causation_chain] == [1, 2, 3, 4, 5]
    assert [link.event_type for link in explanation.effects] == [EventType.POSITION_UPDATE]


def test_explain_market_data_finds_the_decision_it_led_to(store: EventStore) -> None:
    first, _ = _two_trades_and_a_position(store)

    explanation = explain_event(store, first[0].event_id)

    assert explanation.decision is not None
    assert explanation.decision.relation == "effect"
    assert explanation.decision.event.event_id == first[2].event_id
    assert len(explanation.causation_chain) == 1
    assert len(explanation.effects) == 5


def test_explanation_document_is_json_native(store: EventStore) -> None:
    first, _ = _two_trades_and_a_position(store)

    document = explain_event(store, first[2].event_id).to_document()

    decoded = orjson.loads(orjson.dumps(document))  # raises on anything not JSON-native
    assert decoded["event"]["approved"] is True
    assert decoded["event"]["timestamp_utc"] == "2025-02-14T13:00:02.000000Z"
    assert decoded["market_data"]["payload"]["price"] == "50000.0"
    assert decoded["risk_state"]["equity"] == "100000"
    assert Decimal(decoded["risk_checks"][0]["limit"]) == Decimal("-0.05")
    assert [link["event_type"] for link in decoded["causation_chain"]] == [
        "market_data",
        "signal_generated",
        "risk_decision",
    ]


def test_explain_unknown_id_raises_not_found(store: EventStore) -> None:
    _two_trades_and_a_position(store)
    with pytest.raises(NotFoundError, match="no event with id"):
        explain_event(store, uuid.uuid4())


def test_trace_lists_one_trade_in_order_with_summaries(store: EventStore) -> None:
    first, second = _two_trades_and_a_position(store)

    trace = trace_correlation(store, second[0].correlation_id)

    assert trace.total == 5
    assert [e.event.sequence_number for e in trace.entries] == [7, 8, 9, 10, 11]
    assert [e.summary for e in trace.entries] == [
        "Symbol: ETHUSDT, Price: 50000.0",
        "BUY ETHUSDT @ 0.85 confidence",
        "Approved: True, Reason: All risk checks passed",
        "BUY ETHUSDT size=0.2",
        "Status: FILLED, Filled: 0.2 @ 50010",
    ]
    document = orjson.loads(
        orjson.dumps(trace_correlation(store, first[0].correlation_id).to_document())
    )
    assert document["total_events"] == 6
    assert document["counts_by_type"]["position_update"] == 1
    assert document["events"][5]["summary"].startswith("OPENED BUY BTCUSDT size=0.2 @ 50010")


def test_trace_unknown_correlation_raises_not_found(store: EventStore) -> None:
    _two_trades_and_a_position(store)
    with pytest.raises(NotFoundError, match="no events with correlation id"):
        trace_correlation(store, uuid.uuid4())
