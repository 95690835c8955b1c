"""Paper execution: deterministic fills from the recorded bar, and the one exchange-facing call.

A market order fills at its reference price moved against the trader by `slippage_bps`, pays
`fee_rate` of the filled notional, and fills at most `max_volume_share` of the bar's volume
(the rest is cancelled: orders are immediate-or-cancel). Everything is computed from the
recorded bar, so replay reproduces fills as decisions. Only `place_live_order` would reach an
exchange; it is `@no_replay`, so inside ReplayMode it never runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Protocol

from claire.events.payloads import OrderRequestPayload, OrderStatus, Side
from claire.pipeline.bars import Bar
from claire.pipeline.config import PipelineConfig
from claire.pipeline.risk import price_quantum, size_quantum
from claire.state.mode import no_replay
from claire.state.model import Position

BPS = Decimal(10000)


class ExchangeGateway(Protocol):
    """What a live deployment plugs in to send orders out."""

    def place_order(self, order: OrderRequestPayload) -> None: ...


@dataclass(slots=True)
class PaperGateway:
    """Stands in for the exchange in paper trading: remembers how many orders it was sent."""

    orders_sent: int = 0
    last_order: OrderRequestPayload | None = field(default=None)

    def place_order(self, order: OrderRequestPayload) -> None:
        self.orders_sent += 1
        self.last_order = order


@no_replay
def place_live_order(gateway: ExchangeGateway, order: OrderRequestPayload) -> None:
    """The pipeline's only outgoing call. Blocked (returns None, counted) during replay."""
    gateway.place_order(order)


@dataclass(frozen=True, slots=True)
class Fill:
    status: OrderStatus
    filled_size: Decimal
    average_price: Decimal | None
    fee: Decimal
    reason: str


def reference_price(bar: Bar, side: Side) -> Decimal:
    """Buyers pay the ask, sellers get the bid; the last price when there is no quote."""
    quote = bar.ask if side is Side.BUY else bar.bid
    return quote if quote is not None else bar.price


def paper_fill(
    side: Side, size: Decimal, reference: Decimal, bar: Bar, config: PipelineConfig
) -> Fill:
    execution = config.execution
    step = size_quantum(config)
    capacity = (bar.volume * execution.max_volume_share).quantize(step, rounding=ROUND_DOWN)
    filled = min(size, capacity)
    if filled <= 0:
        reason = (
            f"no fill: bar volume {bar.volume} x max share {execution.max_volume_share} "
            f"allows less than {step}"
        )
        return Fill(OrderStatus.CANCELLED, Decimal(0), None, Decimal(0), reason)
    slip = reference * execution.slippage_bps / BPS
    price = (reference + slip if side is Side.BUY else reference - slip).quantize(
        price_quantum(bar.price)
    )
    price = max(price, price_quantum(bar.price))
    fee = money(filled * price * execution.fee_rate, config)
    if filled < size:
        reason = (
            f"partial fill {filled} of {size}: capped at {execution.max_volume_share} of bar "
            f"volume {bar.volume}; the rest is cancelled"
        )
        return Fill(OrderStatus.PARTIAL, filled, price, fee, reason)
    return Fill(OrderStatus.FILLED, filled, price, fee, "filled")


def money(amount: Decimal, config: PipelineConfig) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-config.execution.money_decimals))


def direction(side: Side) -> int:
    return 1 if side is Side.BUY else -1


def unrealized(
    side: Side, entry: Decimal, mark: Decimal, size: Decimal, config: PipelineConfig
) -> Decimal:
    return money((mark - entry) * size * direction(side), config)


def realized_on_close(
    position: Position, exit_price: Decimal, closed: Decimal, config: PipelineConfig
) -> Decimal:
    """The position's cumulative realised PnL after closing `closed` of it at `exit_price`."""
    gain = (exit_price - position.entry_price) * closed * direction(position.side)
    return position.realized_pnl + money(gain, config)
