"""A service integrated with Claire: one trade recorded through EventFactory and EventWriter.

Run: python docs/example_service.py  (writes to DATABASE_URL or ./claire_events.db)
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from claire import EventFactory, EventWriter, Side, open_store

market = EventFactory(service_name="cdb_screener", version="1.0.0")
signals = EventFactory(service_name="cdb_core", version="1.0.0")
risk = EventFactory(service_name="cdb_risk", version="1.0.0")
execution = EventFactory(service_name="cdb_execution", version="1.0.0")

trade_id = uuid.uuid4()  # one correlation id for the whole trade

md = market.create_market_data(
    symbol="BTCUSDT", price=Decimal("50000"), volume=Decimal("1500"), correlation_id=trade_id
)
signal = signals.create_signal(
    symbol="BTCUSDT",
    side=Side.BUY,
    confidence=Decimal("0.85"),
    reason="Strong momentum + high volume",
    price=Decimal("50000"),
    strategy_params={"momentum_threshold": Decimal("3.0")},
    correlation_id=trade_id,
    causation_id=md.event_id,  # the signal was caused by this market data
)
decision = risk.create_risk_decision(
    approved=True,
    reason="All risk checks passed",
    symbol="BTCUSDT",
    side=Side.BUY,
    position_size=Decimal("0.2"),
    stop_loss_price=Decimal("49000"),
    risk_state={
        "equity": Decimal("100000"),
        "daily_pnl": Decimal("-1000"),
        "total_exposure_pct": Decimal("0.15"),
        "open_positions": 2,
    },
    risk_checks={
        "daily_drawdown": {
            "checked": True,
            "passed": True,
            "current_value": Decimal("-0.01"),
            "limit": Decimal("-0.05"),
        },
        "max_exposure": {
            "checked": True,
            "passed": True,
            "current_value": Decimal("0.15"),
            "limit": Decimal("0.50"),
        },
    },
    correlation_id=trade_id,
    causation_id=signal.event_id,
)
order = execution.create_order_request(
    order_id="o-1", symbol="BTCUSDT", side=Side.BUY, size=Decimal("0.2"),
    correlation_id=trade_id, causation_id=decision.event_id,
)  # fmt: skip
fill = execution.create_order_result(
    order_id="o-1", symbol="BTCUSDT", side=Side.BUY, status="FILLED",
    filled_size=Decimal("0.2"), average_price=Decimal("50010"), fee=Decimal("5"),
    correlation_id=trade_id, causation_id=order.event_id,
)  # fmt: skip
position = execution.create_position_update(
    symbol="BTCUSDT", side=Side.BUY, status="OPENED", size=Decimal("0.2"),
    entry_price=Decimal("50010"), stop_loss_price=Decimal("49000"),
    correlation_id=trade_id, causation_id=fill.event_id,
)  # fmt: skip

with open_store(create=True) as store:  # creates ./claire_events.db if there is none
    sequences = EventWriter(store).write([md, signal, decision, order, fill, position])

print(f"stored sequences {sequences}")
print(f"decision event id: {decision.event_id}")
print(f"trade (correlation) id: {trade_id}")
