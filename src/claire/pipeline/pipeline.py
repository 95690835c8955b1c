"""The Pipeline: Signal Engine -> Risk Manager -> Execution, as one pure step per input event.

`process(state, event)` folds the input into `state`, then makes its decisions one by one,
folding each into `state` as it is produced, and returns them in order. Its result depends on
(state, event, config) only: time is the input's `timestamp_utc`, logical times are the
input's `timestamp_logical` + 1, + 2, ..., ids of orders and trades derive from the input, and
all arithmetic is Decimal. Replay re-runs exactly this function on recorded inputs.

Trades: a trade's correlation id is the correlation id of the market data event that started
it, so its market data, signal, risk decision, orders, fills and position updates share one
id. A stop-loss or take-profit close belongs to the trade of the position it closes (the
position keeps that id) and is caused by the market data event that triggered it.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

from claire import __version__
from claire.events.clock import LogicalClock
from claire.events.factory import EventFactory
from claire.events.model import BaseEvent
from claire.events.payloads import (
    AlertLevel,
    AlertPayload,
    EventType,
    OrderRequestPayload,
    OrderResultPayload,
    Payload,
    PositionStatus,
    PositionUpdatePayload,
    RiskDecisionPayload,
    RiskState,
    Side,
    SignalPayload,
)
from claire.pipeline import execution, risk, strategy
from claire.pipeline.bars import Bar
from claire.pipeline.config import PipelineConfig
from claire.pipeline.execution import ExchangeGateway, PaperGateway, place_live_order
from claire.state.mode import ReplayMode, now, set_live_time
from claire.state.model import RISK_LIMIT_HIT, Position, SystemState

DEFAULT_SERVICE = "claire-reference-pipeline"
PIPELINE_VERSION = "1.0.0"
CODE_VERSION = f"claire-{__version__}/reference-pipeline-{PIPELINE_VERSION}"
STOP_LOSS_TRIGGERED = "stop_loss_triggered"


class Pipeline:
    """The reference decision pipeline. Replaceable: any object with the same `process`."""

    def __init__(
        self,
        config: PipelineConfig,
        *,
        service_name: str = DEFAULT_SERVICE,
        version: str = PIPELINE_VERSION,
        code_version: str = CODE_VERSION,
        clock: LogicalClock | None = None,
        gateway: ExchangeGateway | None = None,
    ) -> None:
        self.config = config
        self.gateway: ExchangeGateway = gateway or PaperGateway()
        self._shared_clock = clock
        self.factory = EventFactory(
            service_name,
            version,
            # Every decision names the code that made it: validation picks that code again.
            code_version=code_version,
            config_hash=config.config_hash(),
            clock=clock or LogicalClock(),
            now=now,
        )

    @staticmethod
    def is_input(event: BaseEvent) -> bool:
        """Inputs come from outside the pipeline: market data, and events nothing caused
        (session alerts, snapshots). Everything else is a decision `process` makes."""
        return event.event_type is EventType.MARKET_DATA or event.causation_id is None

    def process(self, state: SystemState, event: BaseEvent) -> list[BaseEvent]:
        state.apply(event)
        if event.event_type is not EventType.MARKET_DATA:
            return []
        if not ReplayMode.active():
            set_live_time(event.timestamp_utc)
        if self._shared_clock is None:
            # A fresh clock per input: decisions are input+1, +2, ... whatever ran before.
            self.factory.clock = LogicalClock(event.timestamp_logical)
        else:
            self.factory.clock.observe(event.timestamp_logical)
        step = _Step(self, state, event)
        if not step.manage_position():
            step.consider_entry()
        return step.produced


class _Step:
    """The decisions made for one market data event."""

    def __init__(self, pipeline: Pipeline, state: SystemState, event: BaseEvent) -> None:
        self.config = pipeline.config
        self.factory = pipeline.factory
        self.gateway = pipeline.gateway
        self.state = state
        self.input = event
        self.bar = Bar.from_event(event)
        self.produced: list[BaseEvent] = []

    def emit(
        self, kind: EventType, payload: Payload, correlation_id: UUID, cause: BaseEvent
    ) -> BaseEvent:
        event = self.factory.create(
            kind,
            payload,
            correlation_id=correlation_id,
            causation_id=cause.event_id,
            timestamp_utc=self.input.timestamp_utc,
        )
        self.state.apply(event)
        self.produced.append(event)
        return event

    def risk_state(self) -> RiskState:
        return RiskState.model_validate(self.state.risk_state())

    # --- exits -------------------------------------------------------------------------------
    def manage_position(self) -> bool:
        """Close the symbol's position if this bar hit its stop or target; True if it did."""
        position = self.state.positions.get(self.bar.symbol)
        if position is None:
            return False
        plan = risk.plan_exit(position, self.bar, self.config)
        if plan is None:
            return False
        trade = UUID(position.correlation_id)
        closing_side = position.side.opposite
        decision = self.emit(
            EventType.RISK_DECISION,
            RiskDecisionPayload(
                approved=True,
                reason=plan.reason,
                symbol=position.symbol,
                side=closing_side,
                position_size=position.size,
                stop_loss_price=position.stop_loss_price,
                risk_state=self.risk_state(),
                risk_checks=plan.checks,
            ),
            trade,
            self.input,
        )
        self.execute(
            decision,
            trade=trade,
            side=closing_side,
            size=position.size,
            reference=plan.reference_price,
            closing=position,
        )
        if plan.kind == "stop_loss":
            self.alert(
                AlertLevel.WARNING,
                STOP_LOSS_TRIGGERED,
                message=plan.reason,
                context={"symbol": position.symbol, "stop_loss_price": position.stop_loss_price},
                trade=trade,
                cause=decision,
            )
        return True

    # --- entries -----------------------------------------------------------------------------
    def consider_entry(self) -> None:
        idea = strategy.evaluate(self.state, self.bar, self.config.strategy)
        if idea is None:
            return
        trade = self.input.correlation_id
        signal = self.emit(
            EventType.SIGNAL_GENERATED,
            SignalPayload(
                symbol=self.bar.symbol,
                side=idea.side,
                confidence=idea.confidence,
                reason=idea.reason,
                price=self.bar.price,
                strategy_params=idea.strategy_params(self.config.strategy),
            ),
            trade,
            self.input,
        )
        verdict = risk.assess_entry(self.state, self.bar, idea.side, idea.confidence, self.config)
        decision = self.emit(
            EventType.RISK_DECISION,
            RiskDecisionPayload(
                approved=verdict.approved,
                reason=verdict.reason,
                symbol=self.bar.symbol,
                side=idea.side,
                position_size=verdict.size,
                stop_loss_price=verdict.stop_loss_price,
                risk_state=self.risk_state(),
                risk_checks=verdict.checks,
            ),
            trade,
            signal,
        )
        if not verdict.approved:
            self.alert_account_limits(verdict, trade, decision)
            return
        self.execute(
            decision,
            trade=trade,
            side=idea.side,
            size=verdict.size,
            reference=execution.reference_price(self.bar, idea.side),
            verdict=verdict,
        )

    def alert_account_limits(
        self, verdict: risk.EntryAssessment, trade: UUID, decision: BaseEvent
    ) -> None:
        """One alert per account limit per day, the first time a decision hits it."""
        for name in verdict.failed:
            if (
                name not in risk.ACCOUNT_LIMITS
                or self.state.limit_alerts.get(name) == self.state.day
            ):
                continue
            check = verdict.checks[name]
            self.alert(
                AlertLevel.WARNING,
                RISK_LIMIT_HIT,
                message=f"Risk limit {name} hit: current {check.current_value}, "
                f"limit {check.limit}",
                context={
                    "limit": name,
                    "current_value": check.current_value,
                    "limit_value": check.limit,
                },
                trade=trade,
                cause=decision,
            )

    # --- execution ---------------------------------------------------------------------------
    def execute(
        self,
        decision: BaseEvent,
        *,
        trade: UUID,
        side: Side,
        size: Decimal,
        reference: Decimal,
        closing: Position | None = None,
        verdict: risk.EntryAssessment | None = None,
    ) -> None:
        """order_request -> (the exchange call) -> order_result -> position_update."""
        order = OrderRequestPayload(
            order_id=f"{self.bar.symbol}-{self.input.timestamp_logical}",
            symbol=self.bar.symbol,
            side=side,
            size=size,
            reduce_only=closing is not None,
        )
        request = self.emit(EventType.ORDER_REQUEST, order, trade, decision)
        place_live_order(self.gateway, order)
        fill = execution.paper_fill(side, size, reference, self.bar, self.config)
        result = self.emit(
            EventType.ORDER_RESULT,
            OrderResultPayload(
                order_id=order.order_id,
                symbol=order.symbol,
                side=side,
                status=fill.status,
                filled_size=fill.filled_size,
                average_price=fill.average_price,
                fee=fill.fee,
                reason=fill.reason,
            ),
            trade,
            request,
        )
        if fill.average_price is None or fill.filled_size <= 0:
            return
        if closing is None:
            assert verdict is not None
            update = self.opened(side, fill.filled_size, fill.average_price, verdict)
        else:
            update = self.closed(closing, fill.filled_size, fill.average_price)
        self.emit(EventType.POSITION_UPDATE, update, trade, result)

    def opened(
        self, side: Side, size: Decimal, price: Decimal, verdict: risk.EntryAssessment
    ) -> PositionUpdatePayload:
        return PositionUpdatePayload(
            symbol=self.bar.symbol,
            side=side,
            status=PositionStatus.OPENED,
            size=size,
            entry_price=price,
            stop_loss_price=verdict.stop_loss_price,
            realized_pnl=Decimal(0),
            unrealized_pnl=execution.unrealized(side, price, self.bar.price, size, self.config),
        )

    def closed(self, position: Position, size: Decimal, price: Decimal) -> PositionUpdatePayload:
        realized = execution.realized_on_close(position, price, size, self.config)
        remaining = position.size - size
        still_open = remaining > 0
        return PositionUpdatePayload(
            symbol=position.symbol,
            side=position.side,
            status=PositionStatus.OPENED if still_open else PositionStatus.CLOSED,
            size=remaining,
            entry_price=position.entry_price,
            stop_loss_price=position.stop_loss_price,
            realized_pnl=realized,
            unrealized_pnl=execution.unrealized(
                position.side, position.entry_price, self.bar.price, remaining, self.config
            )
            if still_open
            else Decimal(0),
        )

    def alert(
        self,
        level: AlertLevel,
        code: str,
        *,
        message: str,
        context: dict[str, Any],
        trade: UUID,
        cause: BaseEvent,
    ) -> None:
        payload = AlertPayload(level=level, code=code, message=message, context=context)
        self.emit(EventType.ALERT, payload, trade, cause)


def reference_pipeline(config: PipelineConfig | None = None) -> Pipeline:
    """The factory `claire validate --pipeline module:factory` expects (this is the default)."""
    return Pipeline(config or PipelineConfig())
