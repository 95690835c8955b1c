"""The decision logic: signal engine, risk manager, paper execution, and `process` purity."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from claire.events import BaseEvent, EventFactory, EventType, LogicalClock
from claire.events.codec import canonical_document
from claire.pipeline import PaperGateway, Pipeline, PipelineConfig
from claire.state.mode import ReplayMode
from claire.state.model import SystemState

START = datetime(2025, 2, 14, 9, 0, tzinfo=UTC)
FLAT_VOLUME = Decimal(10000)


class Feed:
    """Builds market data events the way the recorder does, and runs them through a pipeline."""

    def __init__(self, pipeline: Pipeline, state: SystemState | None = None) -> None:
        self.pipeline = pipeline
        self.state = state or started_state()
        self.clock = LogicalClock(self.state.last_timestamp_logical)
        self.factory = EventFactory("test-market", "1", clock=self.clock)
        self.bars = 0

    def event(
        self, symbol: str, price: str, volume: Decimal = FLAT_VOLUME, **extra: str
    ) -> BaseEvent:
        self.bars += 1
        return self.factory.create_market_data(
            symbol=symbol,
            price=price,
            volume=volume,
            source="test",
            correlation_id=uuid.uuid5(uuid.NAMESPACE_OID, f"{symbol}:{self.bars}"),
            timestamp_utc=START + timedelta(seconds=10 * self.bars),
            **extra,
        )

    def send(self, event: BaseEvent) -> list[BaseEvent]:
        out = self.pipeline.process(self.state, event)
        if out:
            self.clock.observe(out[-1].timestamp_logical)
        return out

    def bar(
        self, symbol: str, price: str, volume: Decimal = FLAT_VOLUME, **extra: str
    ) -> list[BaseEvent]:
        return self.send(self.event(symbol, price, volume, **extra))

    def flat(self, symbol: str, price: str, count: int = 21) -> None:
        for _ in range(count):
            assert self.bar(symbol, price) == []


def started_state(equity: str = "100000") -> SystemState:
    state = SystemState()
    alert = EventFactory("test", "1", clock=LogicalClock()).create_alert(
        level="INFO",
        code="session_started",
        message="start",
        context={"starting_equity": equity},
        correlation_id=uuid.uuid4(),
        timestamp_utc=START,
    )
    state.apply(alert)
    return state


def pipeline(**overrides: str) -> Pipeline:
    return Pipeline(PipelineConfig().with_overrides(overrides))


def kinds(events: list[BaseEvent]) -> list[str]:
    return [e.event_type.value for e in events]


def test_momentum_and_volume_open_a_position_through_the_whole_chain() -> None:
    feed = Feed(pipeline())
    feed.flat("BTCUSDT", "100.00")
    trigger = feed.event("BTCUSDT", "101.00", Decimal(30000), bid="100.99", ask="101.01")
    out = feed.send(trigger)
    assert kinds(out) == [
        "signal_generated",
        "risk_decision",
        "order_request",
        "order_result",
        "position_update",
    ]
    signal, decision, order, result, update = out
    # Strength 1% / 0.5% and volume 3x / 1.5x each add 0.1 to the base 0.5.
    assert signal.payload["side"] == "BUY" and signal.payload["confidence"] == "0.70"
    assert signal.payload["strategy_params"]["momentum"] == "0.010000"
    assert decision.payload["approved"] is True
    assert decision.payload["reason"] == "All risk checks passed"
    # Stop 0.6% below 101.00; size = 100000 x 0.0015 / 0.606.
    assert decision.payload["stop_loss_price"] == "100.39"
    assert decision.payload["position_size"] == "247.5247"
    assert set(decision.payload["risk_checks"]) == {
        "min_confidence",
        "daily_drawdown",
        "max_open_positions",
        "max_exposure",
        "max_position_size",
        "min_order_size",
    }
    assert all(c["checked"] and c["passed"] for c in decision.payload["risk_checks"].values())
    assert decision.payload["risk_state"]["equity"] == "100000"
    # The buyer pays the ask plus 2 bps of slippage, and 0.1% of the notional as fee.
    assert result.payload["status"] == "FILLED"
    assert result.payload["average_price"] == "101.03"
    assert result.payload["fee"] == str(
        (Decimal("247.5247") * Decimal("101.03") / 1000).quantize(Decimal("0.0001"))
    )
    assert update.payload["status"] == "OPENED" and update.payload["size"] == "247.5247"
    # One trade: one correlation id (the market data's), each step caused by the one before.
    assert {e.correlation_id for e in out} == {trigger.correlation_id}
    causes = [e.causation_id for e in out]
    assert causes == [
        trigger.event_id,
        signal.event_id,
        decision.event_id,
        order.event_id,
        result.event_id,
    ]
    # Time comes from the input; logical times follow the input's.
    assert [e.timestamp_logical for e in out] == [
        trigger.timestamp_logical + i for i in range(1, 6)
    ]
    assert {e.timestamp_utc for e in out} == {trigger.timestamp_utc}
    assert feed.state.positions["BTCUSDT"].size == Decimal("247.5247")
    assert feed.state.open_orders == {}
    assert feed.state.equity == Decimal(100000) - Decimal(result.payload["fee"])
    assert (
        isinstance(feed.pipeline.gateway, PaperGateway) and feed.pipeline.gateway.orders_sent == 1
    )
    assert decision.metadata.config_hash == feed.pipeline.config.config_hash()


def test_rejection_names_each_failed_limit_and_its_value() -> None:
    feed = Feed(pipeline(**{"risk.min_confidence": "0.95", "risk.max_position_pct": "0.1"}))
    feed.flat("ETHUSDT", "100.00")
    out = feed.bar("ETHUSDT", "99.00", Decimal(30000))
    assert kinds(out) == ["signal_generated", "risk_decision"]
    decision = out[1].payload
    assert decision["approved"] is False and decision["side"] == "SELL"
    assert "min_confidence: confidence 0.70 is below the minimum 0.95" in decision["reason"]
    assert (
        "max_position_size: position" in decision["reason"] and "exceeds 0.1" in decision["reason"]
    )
    checks = decision["risk_checks"]
    assert checks["min_confidence"] == {
        "checked": True,
        "passed": False,
        "current_value": "0.70",
        "limit": "0.95",
    }
    assert checks["daily_drawdown"]["passed"] is True
    assert feed.state.positions == {}


def test_account_limit_alerts_once_per_day() -> None:
    feed = Feed(pipeline(**{"risk.max_open_positions": "1", "strategy.cooldown_bars": "0"}))
    for symbol in ("AAA", "BBB"):
        feed.flat(symbol, "100.00")
    assert kinds(feed.bar("AAA", "101.00", Decimal(30000)))[-1] == "position_update"
    first = feed.bar("BBB", "101.00", Decimal(30000))
    assert kinds(first) == ["signal_generated", "risk_decision", "alert"]
    assert first[2].payload["code"] == "risk_limit_hit"
    assert first[2].payload["context"]["limit"] == "max_open_positions"
    assert first[2].causation_id == first[1].event_id
    again = feed.bar("BBB", "102.50", Decimal(60000))
    assert kinds(again) == ["signal_generated", "risk_decision"]
    assert again[1].payload["approved"] is False


def test_stop_loss_closes_the_trade_under_its_own_correlation_id() -> None:
    feed = Feed(pipeline())
    feed.flat("BTCUSDT", "100.00")
    opened = feed.bar("BTCUSDT", "101.00", Decimal(30000))
    trade = opened[0].correlation_id
    assert feed.bar("BTCUSDT", "100.80", low="100.70", high="101.00", open="101.00") == []
    trigger = feed.event("BTCUSDT", "100.20", low="100.10", high="100.80", open="100.80")
    out = feed.send(trigger)
    assert kinds(out) == [
        "risk_decision",
        "order_request",
        "order_result",
        "position_update",
        "alert",
    ]
    decision, order, result, update, alert = out
    assert decision.causation_id == trigger.event_id
    assert decision.payload["approved"] is True and decision.payload["side"] == "SELL"
    assert decision.payload["risk_checks"]["stop_loss"] == {
        "checked": True,
        "passed": False,
        "current_value": "100.10",
        "limit": "100.39",
    }
    assert order.payload["reduce_only"] is True and order.payload["size"] == "247.5247"
    # Fills at the stop (the bar opened above it) minus slippage.
    assert result.payload["average_price"] == "100.37"
    assert update.payload["status"] == "CLOSED"
    assert Decimal(update.payload["realized_pnl"]) < 0
    assert alert.payload["code"] == "stop_loss_triggered"
    assert {e.correlation_id for e in out} == {trade}
    assert feed.state.positions == {}


def test_partial_fill_when_the_order_exceeds_the_share_of_bar_volume() -> None:
    feed = Feed(pipeline(**{"strategy.volume_factor": "1.2"}))
    for _ in range(21):
        feed.bar("SOLUSDT", "100.00", Decimal(100))
    out = feed.bar("SOLUSDT", "101.00", Decimal(150))
    result, update = out[3], out[4]
    assert result.payload["status"] == "PARTIAL"
    assert result.payload["filled_size"] == "15.0000"
    assert "partial fill 15.0000 of 247.5247" in result.payload["reason"]
    assert update.payload["size"] == "15.0000"


def comparable(events: list[BaseEvent]) -> list[dict[str, Any]]:
    """Everything but event ids; causation as the position of the cause in the list."""
    ids = {e.event_id: i for i, e in enumerate(events)}
    docs = []
    for event in events:
        doc = canonical_document(event)
        doc.pop("event_id")
        doc["causation_id"] = ids.get(event.causation_id, str(event.causation_id))  # type: ignore[arg-type]
        docs.append(doc)
    return docs


def test_process_is_a_pure_function_of_state_event_and_config() -> None:
    feed = Feed(pipeline())
    feed.flat("BTCUSDT", "100.00")
    trigger = feed.event("BTCUSDT", "101.00", Decimal(30000))
    before = feed.state.copy()
    first_state, second_state = before.copy(), before.copy()
    first = Pipeline(PipelineConfig()).process(first_state, trigger)
    reused = feed.pipeline  # a pipeline that already ran still gives the same answer
    second = reused.process(second_state, trigger)
    assert len(first) == 5
    assert comparable(first) == comparable(second)
    assert first_state.hash() == second_state.hash()
    assert before.hash() != first_state.hash()


def test_replay_mode_blocks_the_exchange_call_and_changes_no_decision() -> None:
    feed = Feed(pipeline())
    feed.flat("BTCUSDT", "100.00")
    trigger = feed.event("BTCUSDT", "101.00", Decimal(30000))
    live_gateway, replay_gateway = PaperGateway(), PaperGateway()
    live_state, replay_state = feed.state.copy(), feed.state.copy()
    live = Pipeline(PipelineConfig(), gateway=live_gateway).process(live_state, trigger)
    with ReplayMode() as mode:
        mode.advance(trigger.timestamp_utc)
        replayed = Pipeline(PipelineConfig(), gateway=replay_gateway).process(replay_state, trigger)
    assert comparable(live) == comparable(replayed)
    assert live_gateway.orders_sent == 1
    assert replay_gateway.orders_sent == 0
    assert sum(mode.blocked.values()) == 1


def test_inputs_other_than_market_data_are_folded_without_decisions() -> None:
    state = SystemState()
    alert = EventFactory("test", "1", clock=LogicalClock()).create_alert(
        level="INFO",
        code="session_started",
        message="start",
        context={"starting_equity": "5000"},
        correlation_id=uuid.uuid4(),
        timestamp_utc=START,
    )
    assert Pipeline(PipelineConfig()).process(state, alert) == []
    assert state.equity == Decimal(5000)
    assert Pipeline.is_input(alert)
    assert state.counters == {"alert": 1}


def test_cooldown_suppresses_repeated_signals() -> None:
    feed = Feed(pipeline(**{"risk.min_confidence": "0.99"}))
    feed.flat("BTCUSDT", "100.00")
    assert kinds(feed.bar("BTCUSDT", "101.00", Decimal(30000))) == [
        "signal_generated",
        "risk_decision",
    ]
    assert feed.bar("BTCUSDT", "102.00", Decimal(60000)) == []
    assert feed.state.last_signal_bar["BTCUSDT"] == 22
    assert EventType.SIGNAL_GENERATED.value in feed.state.counters
