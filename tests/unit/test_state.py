"""SystemState reducers, canonical document and hash."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from claire.events import BaseEvent, EventFactory, LogicalClock
from claire.state.model import SystemState

DAY = datetime(2025, 2, 14, 12, 0, tzinfo=UTC)
TRADE = uuid.UUID("11111111-2222-3333-4444-555555555555")


def make() -> EventFactory:
    return EventFactory("test", "1", clock=LogicalClock())


def started(f: EventFactory, equity: str = "1000") -> BaseEvent:
    return f.create_alert(
        level="INFO",
        code="session_started",
        message="s",
        context={"starting_equity": equity},
        correlation_id=uuid.uuid4(),
        timestamp_utc=DAY,
    )


def md(f: EventFactory, price: str, when: datetime = DAY, symbol: str = "BTC") -> BaseEvent:
    return f.create_market_data(
        symbol=symbol, price=price, volume="2", correlation_id=uuid.uuid4(), timestamp_utc=when
    )


def update(f: EventFactory, status: str, size: str, realized: str, **extra: Any) -> BaseEvent:
    return f.create_position_update(
        symbol="BTC",
        side="BUY",
        status=status,
        size=size,
        entry_price="100",
        stop_loss_price="95",
        realized_pnl=realized,
        correlation_id=TRADE,
        timestamp_utc=DAY,
        **extra,
    )


def test_session_start_sets_equity_once() -> None:
    f, state = make(), SystemState()
    state.apply(started(f, "1000"))
    state.apply(started(f, "5"))  # a second session continues the account
    assert state.starting_equity == Decimal(1000)
    assert state.equity == Decimal(1000)


def test_positions_pnl_fees_and_exposure() -> None:
    f, state = make(), SystemState()
    state.apply(started(f))
    state.apply(md(f, "100"))
    state.apply(update(f, "OPENED", "2", "0"))
    state.apply(md(f, "110"))
    position = state.positions["BTC"]
    assert position.correlation_id == str(TRADE)
    assert position.unrealized_pnl == Decimal(20)
    assert state.exposure == Decimal(220)
    assert state.total_exposure_pct == Decimal("0.220000")
    state.apply(
        f.create_order_result(
            order_id="o1",
            symbol="BTC",
            side="SELL",
            status="PARTIAL",
            filled_size="1",
            average_price="110",
            fee="0.5",
            correlation_id=TRADE,
            timestamp_utc=DAY,
        )
    )
    state.apply(update(f, "OPENED", "1", "10"))  # half closed: realised 10
    state.apply(update(f, "CLOSED", "0", "25"))  # the rest: 15 more
    assert state.positions == {}
    assert state.equity == Decimal("1024.5")
    assert state.daily_pnl == Decimal("24.5")
    assert state.fees_paid == Decimal("0.5")
    assert state.risk_state()["open_positions"] == 0


def test_new_day_resets_daily_pnl_and_counts_bars() -> None:
    f, state = make(), SystemState()
    state.apply(started(f))
    state.apply(md(f, "100"))
    state.apply(update(f, "CLOSED", "0", "-30"))
    assert state.daily_pnl == Decimal(-30)
    state.apply(md(f, "100", DAY + timedelta(days=1)))
    assert state.day == "2025-02-15"
    assert state.daily_pnl == 0
    assert state.day_start_equity == Decimal(970)
    assert state.bars_seen == {"BTC": 2}


def test_signals_and_limit_alerts_are_remembered() -> None:
    f, state = make(), SystemState()
    state.apply(md(f, "100"))
    state.apply(
        f.create_signal(
            symbol="BTC",
            side="BUY",
            confidence="0.7",
            reason="r",
            price="100",
            correlation_id=TRADE,
            timestamp_utc=DAY,
        )
    )
    state.apply(
        f.create_alert(
            level="WARNING",
            code="risk_limit_hit",
            message="m",
            context={"limit": "max_exposure"},
            correlation_id=TRADE,
            timestamp_utc=DAY,
        )
    )
    assert state.last_signal_bar == {"BTC": 1}
    assert state.limit_alerts == {"max_exposure": "2025-02-14"}


def test_document_round_trip_hash_and_copy() -> None:
    f, state = make(), SystemState()
    state.apply(started(f))
    for price in ("100", "101.5", "99.25"):
        state.apply(md(f, price))
    state.apply(update(f, "OPENED", "2", "0"))
    document = state.to_document()
    again = SystemState.from_document(document)
    assert again.to_document() == document
    assert again.hash() == state.hash()
    clone = state.copy()
    clone.apply(md(f, "150"))
    assert clone.hash() != state.hash()
    assert state.last_prices["BTC"] == Decimal("99.25")
    # Documents written before the newer fields existed still load.
    for key in ("bars_seen", "last_signal_bar", "limit_alerts"):
        document.pop(key)
    assert SystemState.from_document(document).bars_seen == {}


def test_last_sequence_follows_stored_events_only() -> None:
    f, state = make(), SystemState()
    event = md(f, "100")
    state.apply(event)
    assert state.last_sequence == 0
    state.apply(md(f, "101").with_sequence(7))
    assert state.last_sequence == 7
    assert state.counters == {"market_data": 2}
