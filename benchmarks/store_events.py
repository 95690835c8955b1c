"""The events the benchmarks write and read: realistic decision chains, built before any timing
(benchmarks never import tests), and the figures' formatting shared by bench_store and
store_appends."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from benchmarks.common import verdict
from claire.events import BaseEvent, EventFactory, LogicalClock, Side

BATCH = 1000
START = datetime(2025, 2, 14, 9, 30, tzinfo=UTC)


def producer(seed: int, service: str = "signal-engine") -> tuple[EventFactory, random.Random]:
    rng = random.Random(seed)
    moments = (START + timedelta(milliseconds=i) for i in range(10**12))
    factory = EventFactory(
        service_name=service,
        version="1.4.2",
        environment="production",
        code_version="3f2a9c1",
        config_hash="9b1e0c7d55aa41f2",
        clock=LogicalClock(),
        now=lambda: next(moments),
        new_id=lambda: uuid.UUID(int=rng.getrandbits(128), version=4),
    )
    return factory, rng


def decision_chains(count: int, seed: int, service: str = "signal-engine") -> Iterator[BaseEvent]:
    """market data -> signal -> risk decision, repeated: ~300-byte payloads on average."""
    factory, rng = producer(seed, service)
    made = 0
    while made < count:
        trade_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        price = Decimal(50_000 + rng.randrange(0, 100_000)) / 100
        md = factory.create_market_data(
            symbol="BTCUSDT",
            price=price,
            volume=Decimal(rng.randrange(1, 10**7)) / 1000,
            bid=price - Decimal("0.05"),
            ask=price + Decimal("0.05"),
            source="binance-ws",
            correlation_id=trade_id,
        )
        sig = factory.create_signal(
            symbol="BTCUSDT",
            side=Side.BUY,
            confidence=Decimal(rng.randrange(5000, 9999)) / 10000,
            reason="Momentum 3.2% over 5m with volume 2.1x the 1h average",
            price=price,
            strategy_params={"momentum_threshold": "3.0", "volume_factor": "2.0", "window": 5},
            correlation_id=trade_id,
            causation_id=md.event_id,
        )
        risk = factory.create_risk_decision(
            approved=True,
            reason="All risk checks passed",
            symbol="BTCUSDT",
            side=Side.BUY,
            position_size=Decimal("0.2"),
            stop_loss_price=price * Decimal("0.98"),
            risk_state={
                "equity": "100000",
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
                },
                "max_exposure": {
                    "checked": True,
                    "passed": True,
                    "current_value": "0.15",
                    "limit": "0.50",
                },
            },
            correlation_id=trade_id,
            causation_id=sig.event_id,
        )
        for event in (md, sig, risk)[: count - made]:
            made += 1
            yield event


def batches(events: list[BaseEvent], size: int) -> list[list[BaseEvent]]:
    return [events[i : i + size] for i in range(0, len(events), size)]


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f} ev/s"


def against(value: float, baseline: float, target: float, what: str) -> str:
    ratio = value / baseline
    return f"{ratio:.2f}x {what}, target >= {target}x: {verdict(ratio >= target)}"
