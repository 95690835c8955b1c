"""Event builders shared by the tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from claire.events import BaseEvent, EventFactory, LogicalClock, Side

START = datetime(2025, 2, 14, 13, 0, tzinfo=UTC)


def factory(service: str = "test", start: datetime = START) -> EventFactory:
    moments = iter(start + timedelta(seconds=i) for i in range(10**9))
    return EventFactory(
        service_name=service, version="1.0.0", clock=LogicalClock(), now=lambda: next(moments)
    )


def trade(f: EventFactory | None = None, symbol: str = "BTCUSDT") -> list[BaseEvent]:
    """market data -> signal -> risk decision -> order -> result, one correlation id."""
    f = f or factory()
    trade_id = uuid.uuid4()
    md = f.create_market_data(
        symbol=symbol, price=50000.0, volume=1500, source="test", correlation_id=trade_id
    )
    sig = f.create_signal(
        symbol=symbol,
        side=Side.BUY,
        confidence=0.85,
        reason="Strong momentum + high volume",
        price=50000.0,
        strategy_params={"momentum_threshold": 3.0},
        correlation_id=trade_id,
        causation_id=md.event_id,
    )
    risk = f.create_risk_decision(
        approved=True,
        reason="All risk checks passed",
        symbol=symbol,
        side=Side.BUY,
        position_size=Decimal("0.2"),
        stop_loss_price=Decimal("49000"),
        risk_state={
            "equity": 100000,
            "daily_pnl": "-1000.0",
            "total_exposure_pct": "0.15",
            "open_positions": 2,
        },
        risk_checks={
            "daily_drawdown": {
                "checked": True,
                "passed": True,
                "current_value": "-0.01",
                "limit": "-0.05",
            }
        },
        correlation_id=trade_id,
        causation_id=sig.event_id,
    )
    order = f.create_order_request(
        order_id=f"o-{trade_id.hex[:8]}",
        symbol=symbol,
        side=Side.BUY,
        size=Decimal("0.2"),
        correlation_id=trade_id,
        causation_id=risk.event_id,
    )
    result = f.create_order_result(
        order_id=f"o-{trade_id.hex[:8]}",
        symbol=symbol,
        side=Side.BUY,
        status="FILLED",
        filled_size="0.2",
        average_price="50010",
        fee="5.0",
        correlation_id=trade_id,
        causation_id=order.event_id,
    )
    return [md, sig, risk, order, result]
